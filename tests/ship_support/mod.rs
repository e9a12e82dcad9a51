//! A real rsyslogd for the shipping tests: its own configuration, working directory and
//! loopback port, started, waited for, killed and restarted by the test.
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

/// How rsyslog listens.
#[derive(Clone, Debug)]
pub enum Input {
    /// imrelp, plain.
    Relp,
    /// imtcp with TLS (gtls driver, anonymous clients): RFC 5425.
    TcpTls(TlsFiles),
    /// imrelp with TLS; clients must present a certificate signed by the CA.
    RelpTls(TlsFiles),
}

impl Rsyslog {
    /// What an operator would configure instead of this crate's shipper: rsyslog's own imfile
    /// reading the trail files (`glob`) and forwarding each line with omrelp to `central_port`.
    /// Listens on nothing; started without waiting.
    pub fn forwarder(dir: &Path, glob: &Path, central_port: u16) -> Rsyslog {
        fs::create_dir_all(dir.join("work")).unwrap();
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="65536")
module(load="imfile")
module(load="omrelp")
ruleset(name="forward") {{
  action(type="omrelp" target="127.0.0.1" port="{central_port}" template="RSYSLOG_SyslogProtocol23Format")
}}
input(type="imfile" file="{}" tag="app" ruleset="forward" addMetadata="off" freshStartTail="off")
"#,
            glob.display()
        );
        let path = dir.join("rsyslog.conf");
        fs::write(&path, conf).unwrap();
        Rsyslog {
            dir: dir.to_owned(),
            conf: path,
            pid_file: dir.join("rsyslogd.pid"),
            stderr: dir.join("rsyslogd.stderr"),
            port: 0,
            child: None,
        }
    }
}

/// PEM files for the server side.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client certificate signed by the same CA, and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

pub struct Rsyslog {
    dir: PathBuf,
    conf: PathBuf,
    pid_file: PathBuf,
    stderr: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

/// A free loopback port (bound, then released for rsyslog to take).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Rsyslog {
    /// Writes the configuration into `dir` and starts rsyslogd.
    pub fn start(dir: &Path, input: Input, max_message_size: usize) -> Rsyslog {
        let mut r = Rsyslog::configure(dir, input, max_message_size, free_port());
        r.spawn();
        r
    }

    /// Writes the configuration for `port` without starting rsyslogd.
    pub fn configure(dir: &Path, input: Input, max_message_size: usize, port: u16) -> Rsyslog {
        fs::create_dir_all(dir.join("work")).unwrap();
        let d = dir.display();
        let (global_tls, module, listen) = match &input {
            Input::Relp => (
                String::new(),
                "module(load=\"imrelp\")".to_owned(),
                format!("input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"central\")"),
            ),
            Input::RelpTls(t) => (
                String::new(),
                "module(load=\"imrelp\")".to_owned(),
                format!(
                    "input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"central\" tls=\"on\" tls.authMode=\"certvalid\" tls.caCert=\"{}\" tls.myCert=\"{}\" tls.myPrivKey=\"{}\")",
                    t.ca.display(), t.cert.display(), t.key.display()
                ),
            ),
            Input::TcpTls(t) => (
                format!(
                    " defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" defaultNetstreamDriverKeyFile=\"{}\"",
                    t.ca.display(), t.cert.display(), t.key.display()
                ),
                "module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")".to_owned(),
                format!("input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"central\")"),
            ),
        };
        // maxMessageSize before any input; no escaping of control characters; the message
        // written as received; the main queue direct, so an acknowledged message is in the
        // file (the page cache) before rsyslog answers, and survives a SIGKILL of rsyslogd.
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="{max_message_size}" parser.escapeControlCharactersOnReceive="off"{global_tls})
main_queue(queue.type="Direct")
{module}
template(name="raw" type="string" string="%msg%\n")
ruleset(name="central") {{
  if $msgid == "AUDIT" then {{
    action(type="omfile" file="{d}/audit.log" template="raw")
    stop
  }}
  action(type="omfile" file="{d}/debug.log" template="raw")
}}
{listen}
"#
        );
        let path = dir.join("rsyslog.conf");
        fs::write(&path, conf).unwrap();
        Rsyslog {
            dir: dir.to_owned(),
            conf: path,
            pid_file: dir.join("rsyslogd.pid"),
            stderr: dir.join("rsyslogd.stderr"),
            port,
            child: None,
        }
    }

    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    pub fn debug_log(&self) -> PathBuf {
        self.dir.join("debug.log")
    }

    /// What rsyslogd printed so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Starts rsyslogd and waits until it accepts connections.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "rsyslogd already running");
        let _ = fs::remove_file(&self.pid_file);
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)
            .unwrap();
        let out = err.try_clone().unwrap();
        let mut cmd = Command::new(rsyslogd());
        // SAFETY: prctl is async-signal-safe; a test killed mid-run leaves no rsyslogd behind.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pid_file)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start rsyslogd (install rsyslog rsyslog-relp rsyslog-gnutls; scripts/test does): {e}"));
        self.child = Some(child);
        if self.port == 0 {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "rsyslogd exited ({status}) before listening on {addr}; its output:\n{}\nconfiguration:\n{}",
                    self.stderr(),
                    fs::read_to_string(&self.conf).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                self.stop_with(libc::SIGKILL);
                panic!(
                    "rsyslogd did not listen on {addr} within 20 s; its output:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (orderly) and wait.
    pub fn stop(&mut self) {
        self.stop_with(libc::SIGTERM);
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`): a receiver that stops answering, then resumes.
    pub fn freeze(&self, stopped: bool) {
        if let Some(child) = &self.child {
            let sig = if stopped {
                libc::SIGSTOP
            } else {
                libc::SIGCONT
            };
            // SAFETY: signalling a child this harness started and has not reaped yet.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
    }

    /// SIGKILL: rsyslogd gets no chance to flush or answer anything.
    pub fn crash(&mut self) {
        self.stop_with(libc::SIGKILL);
    }

    fn stop_with(&mut self, sig: i32) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as i32;
            // SAFETY: signalling a child this harness started and has not reaped yet.
            unsafe { libc::kill(pid, sig) };
            let _ = child.wait();
        }
    }

    /// Waits until the file holds at least `len` bytes ending in a newline; returns it.
    pub fn wait_for_bytes(&self, file: &Path, len: usize, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = fs::read(file).unwrap_or_default();
            if got.len() >= len && got.ends_with(b"\n") {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} has {} of {len} bytes after {timeout:?}; rsyslogd output:\n{}",
                    file.display(),
                    got.len(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop_with(libc::SIGKILL);
    }
}

fn rsyslogd() -> PathBuf {
    for p in ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "rsyslogd".into()
}

pub fn key() -> ChainKey {
    ChainKey::new("k1", b"shipping test chain key")
}

/// Writes `n` audit records (keyed chain) through the real layer into `dir`, rotating at
/// `max_file_size`.
pub fn write_trail(dir: &Path, n: usize, max_file_size: u64) {
    write_trail_with(FileSink::new(dir).max_file_size(max_file_size), 0..n);
}

pub fn write_trail_with(sink: FileSink, range: std::ops::Range<usize>) {
    write_events(sink, || {
        for i in range {
            tracing::info!(target: "audit", actor = "alice", action = "read", resource = i, outcome = "success");
        }
    });
}

/// Runs `emit` with the real layer writing the audit stream to `sink` (keyed chain).
pub fn write_events(sink: FileSink, emit: impl FnOnce()) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(sink)
        .debug_to(std::io::sink)
        .chain(ChainConfig::new().key(key()).checkpoint_every(1000))
        .build()
        .expect("layer builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, emit);
    drop(guard);
}

/// The audit records in `dir` (every file, in order, decompressed), as rsyslog should write
/// them.
pub fn local_records(dir: &Path) -> Vec<u8> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.") && (n.ends_with(".jsonl") || n.ends_with(".jsonl.gz")))
        .filter(|n| !n.contains("current"))
        .collect();
    names.sort_by_key(|n| {
        let base = n.trim_end_matches(".gz").trim_end_matches(".jsonl");
        let (stamp, counter) = base.rsplit_once('.').unwrap();
        (stamp.to_owned(), counter.parse::<u64>().unwrap())
    });
    let mut out = Vec::new();
    for n in names {
        let raw = fs::read(dir.join(&n)).unwrap();
        if n.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
        } else {
            out.extend_from_slice(&raw);
        }
    }
    out
}

/// Lines of `bytes`.
pub fn lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Polls `cond` every 10 ms until it holds; panics with `what()` after `timeout`.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?}: {}", what());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `shipper` until idle on a thread; panics (with the receiver's output) after `timeout`.
pub fn until_idle(
    shipper: tracing_audit::ship::Shipper,
    timeout: Duration,
    central: &Rsyslog,
) -> tracing_audit::ship::Health {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(shipper.run_until_idle());
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r.expect("shipper starts"),
        Err(_) => panic!(
            "the shipper did not finish within {timeout:?}; rsyslogd output:\n{}",
            central.stderr()
        ),
    }
}

/// The central copy of the audit stream is byte for byte the trail's records (`written`), and
/// its chain verifies where it arrived.
pub fn assert_arrived_intact(central: &Rsyslog, written: &[u8]) {
    let received =
        central.wait_for_bytes(&central.audit_log(), written.len(), Duration::from_secs(30));
    assert!(received == written, "rsyslog's file differs from the trail");
    let report = tracing_audit::verify::verify_received(
        &central.audit_log(),
        &tracing_audit::verify::Keys::from(key()),
    )
    .unwrap();
    assert!(report.intact(), "{:?}", report.problems());
}
