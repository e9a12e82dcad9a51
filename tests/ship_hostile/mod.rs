//! Hostile receivers on loopback, in process: a server that never answers, one that drips a TLS
//! handshake one byte at a time, a RELP server that acknowledges some messages and then goes
//! silent or breaks the protocol. Each counts what it saw, for the test to assert on.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A listening server; every connection is served on a thread of its own.
pub struct Server {
    pub port: u16,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// `syslog` commands received (RELP servers).
    pub messages: Arc<AtomicUsize>,
    /// `syslog` commands acknowledged (RELP servers).
    pub acked: Arc<AtomicUsize>,
}

impl Server {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub fn messages(&self) -> usize {
        self.messages.load(Ordering::SeqCst)
    }
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }
}

/// What a RELP server does once it acknowledged its quota.
#[derive(Clone, Copy, Debug)]
pub enum Then {
    /// Reads on, answers nothing.
    Silent,
    /// Answers the next command with a frame outside the protocol.
    Garbage,
}

fn serve(handle: impl Fn(TcpStream, &Counters) + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let counters = Counters {
        accepted: Arc::default(),
        messages: Arc::default(),
        acked: Arc::default(),
    };
    let server = Server {
        port,
        accepted: Arc::clone(&counters.accepted),
        messages: Arc::clone(&counters.messages),
        acked: Arc::clone(&counters.acked),
    };
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            counters.accepted.fetch_add(1, Ordering::SeqCst);
            let (handle, counters) = (Arc::clone(&handle), counters.clone());
            std::thread::spawn(move || handle(conn, &counters));
        }
    });
    server
}

#[derive(Clone)]
pub struct Counters {
    accepted: Arc<AtomicUsize>,
    messages: Arc<AtomicUsize>,
    acked: Arc<AtomicUsize>,
}

/// Accepts connections and never sends a byte (reads until the client goes away).
pub fn silent() -> Server {
    serve(|mut conn, _| {
        let mut buf = [0u8; 4096];
        while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
    })
}

/// Answers a TLS ClientHello with the header of a 16 KiB handshake record, then one byte of it
/// every `every`: the handshake never completes, and no single read waits long.
pub fn dripping_tls(every: Duration) -> Server {
    serve(move |mut conn, _| {
        let _ = conn.set_nodelay(true);
        let header = [0x16u8, 0x03, 0x03, 0x40, 0x00];
        for b in header.iter().chain(std::iter::repeat(&0u8)) {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    })
}

/// A RELP server: answers `open` with its offers, acknowledges the first `quota` `syslog`
/// commands of each connection, then does what `then` says.
pub fn relp(quota: usize, then: Then) -> Server {
    serve(move |conn, counters| {
        let mut out = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let mut acked_here = 0;
        while let Some((txnr, command, _)) = read_frame(&mut r) {
            let answer = match command.as_str() {
                "open" => {
                    let offers = "200 OK\nrelp_version=0\nrelp_software=hostile\ncommands=syslog";
                    format!("{txnr} rsp {} {offers}\n", offers.len())
                }
                "syslog" => {
                    counters.messages.fetch_add(1, Ordering::SeqCst);
                    if acked_here < quota {
                        acked_here += 1;
                        counters.acked.fetch_add(1, Ordering::SeqCst);
                        format!("{txnr} rsp 6 200 OK\n")
                    } else {
                        match then {
                            Then::Silent => continue,
                            Then::Garbage => "this is not relp\n".to_owned(),
                        }
                    }
                }
                "close" => format!("{txnr} rsp 0\n"),
                _ => continue,
            };
            if out.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// One RELP frame: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
fn read_frame(r: &mut BufReader<TcpStream>) -> Option<(u64, String, Vec<u8>)> {
    let mut token = |stop: &[u8]| -> Option<(Vec<u8>, u8)> {
        let mut t = Vec::new();
        loop {
            let mut b = [0u8];
            r.read_exact(&mut b).ok()?;
            if stop.contains(&b[0]) {
                return Some((t, b[0]));
            }
            t.push(b[0]);
        }
    };
    let (txnr, _) = token(b" ")?;
    let (command, _) = token(b" ")?;
    let (len, _) = token(b" \n")?;
    let txnr = String::from_utf8(txnr).ok()?.parse().ok()?;
    let len: usize = String::from_utf8(len).ok()?.parse().ok()?;
    let mut data = vec![0u8; len];
    if len > 0 {
        r.read_exact(&mut data).ok()?;
        let mut lf = Vec::new();
        r.read_until(b'\n', &mut lf).ok()?;
    }
    Some((txnr, String::from_utf8(command).ok()?, data))
}

/// A CA certificate (PEM) for a `--tls-ca` that the dripping server never gets to use.
pub fn ca_pem(path: &std::path::Path) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(path, ca.self_signed(&key).unwrap().pem()).unwrap();
}
