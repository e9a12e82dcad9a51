//! Where records go (`relp://`, `syslog+tcp://`, `syslog+tls://`) and the byte stream to it.

use super::error::{ShipError, ShipErrorKind};
use super::tls::Tls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The protocol spoken to the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// RELP: every message acknowledged by the receiver (rsyslog `imrelp`). TLS when configured.
    Relp,
    /// RFC 5424 messages over TCP, octet-counted (RFC 6587). Delivery is known only as far as
    /// the local kernel's send buffer.
    SyslogTcp,
    /// The same over TLS (RFC 5425).
    SyslogTls,
}

/// A receiver: protocol, host and port, parsed from `relp://host:port`,
/// `syslog+tcp://host:port` or `syslog+tls://host:port`.
///
/// ```
/// use tracing_audit::ship::{Destination, Protocol};
///
/// let to: Destination = "relp://central.example:2514".parse()?;
/// assert_eq!(to.protocol(), Protocol::Relp);
/// assert_eq!(to.port(), 2514);
/// # Ok::<(), tracing_audit::ship::ShipError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    protocol: Protocol,
    host: String,
    port: u16,
}

impl Destination {
    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
    /// The host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.protocol {
            Protocol::Relp => "relp",
            Protocol::SyslogTcp => "syslog+tcp",
            Protocol::SyslogTls => "syslog+tls",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for Destination {
    type Err = ShipError;

    fn from_str(s: &str) -> Result<Self, ShipError> {
        let bad = |why: &str| {
            ShipError::new(
                ShipErrorKind::Config,
                format!("destination {s:?}: {why} (expected relp://, syslog+tcp:// or syslog+tls://HOST:PORT)"),
            )
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let protocol = match scheme {
            "relp" => Protocol::Relp,
            "syslog+tcp" => Protocol::SyslogTcp,
            "syslog+tls" => Protocol::SyslogTls,
            _ => return Err(bad("unknown scheme")),
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, port) = v6.split_once("]:").ok_or_else(|| bad("no port"))?;
            (host, port)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("no port"))?
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad("no host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
        if port == 0 {
            return Err(bad("port 0"));
        }
        Ok(Destination {
            protocol,
            host: host.to_owned(),
            port,
        })
    }
}

/// A connected byte stream, plain or TLS.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

/// The longest a single blocking call waits before the shipper looks at its stop flag and its
/// deadlines again: a stop is honoured within this much, whatever the receiver does.
pub(crate) const SLICE: Duration = Duration::from_millis(100);

/// The deadlines of the waits before a connection is usable, and what ends them early.
pub(crate) struct Waits<'a> {
    /// Resolving the name and the TCP connection, together.
    pub(crate) connect: Duration,
    /// The TLS handshake as a whole (not per read: a server dripping one byte at a time
    /// cannot hold it longer).
    pub(crate) handshake: Duration,
    /// True once the shipper must stop waiting (stopped, and its drain time is over).
    pub(crate) abandon: &'a (dyn Fn() -> bool + Sync),
}

impl Waits<'_> {
    pub(crate) fn stopped(what: &str) -> ShipError {
        ShipError::new(
            ShipErrorKind::Stopped,
            format!("stopped while waiting for {what}"),
        )
    }
}

impl Conn {
    /// Connects (and completes the TLS handshake, so a wrong certificate fails here, clearly),
    /// each step within its deadline in `waits`.
    pub(crate) fn open(
        to: &Destination,
        tls: Option<(&Tls, &Arc<ClientConfig>)>,
        waits: &Waits<'_>,
    ) -> Result<Conn, ShipError> {
        let sock = connect(to, waits)?;
        let _ = sock.set_nodelay(true);
        // Writes keep the connect deadline per call (a receiver that stops reading fails the
        // write); reads are sliced by their callers.
        sock.set_write_timeout(Some(waits.connect.max(SLICE)))
            .and_then(|()| sock.set_read_timeout(Some(SLICE)))
            .map_err(|e| ShipError::net(format!("cannot configure the socket to {to}"), e))?;
        let Some((tls, config)) = tls else {
            return Ok(Conn::Plain(sock));
        };
        let name = tls.name_override().unwrap_or(&to.host).to_owned();
        let server_name = ServerName::try_from(name.clone()).map_err(|e| {
            ShipError::with_source(
                ShipErrorKind::Config,
                format!("{name:?} is not a valid TLS server name"),
                e,
            )
        })?;
        let mut conn = ClientConnection::new(Arc::clone(config), server_name).map_err(|e| {
            ShipError::with_source(ShipErrorKind::Tls, "cannot start a TLS session", e)
        })?;
        let mut sock = sock;
        handshake(&mut conn, &mut sock, to, &name, waits)?;
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, sock))))
    }

    fn sock(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
        }
    }

    /// Whether the peer closed the connection, from the socket without waiting: a peek in
    /// non-blocking mode (pending bytes, a TLS alert among them, are left for the next read).
    pub(crate) fn peer_closed(&self) -> io::Result<bool> {
        let sock = self.sock();
        sock.set_nonblocking(true)?;
        let r = sock.peek(&mut [0u8; 1]);
        sock.set_nonblocking(false)?;
        match r {
            Ok(0) => Ok(true),
            Ok(_) => Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.sock()
            .set_read_timeout(Some(t.max(Duration::from_millis(1))))
    }

    /// Closes both directions (TLS: after a close_notify).
    pub(crate) fn shutdown(&mut self) {
        if let Conn::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.conn.complete_io(&mut t.sock);
        }
        let _ = self.sock().shutdown(std::net::Shutdown::Both);
    }
}

/// Resolves and connects within `waits.connect`, on a helper thread so that neither a slow
/// resolver nor a SYN that goes unanswered keeps the shipper from its stop flag: when the
/// shipper gives up first, the helper ends on its own at the deadline and drops the socket.
/// A read or handshake step that found nothing to do yet (would block, its slice of time ran
/// out, or a signal interrupted it): the caller checks its deadlines and stop flag and tries
/// again; any other error ends the session.
pub(super) fn nothing_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn connect(to: &Destination, waits: &Waits<'_>) -> Result<TcpStream, ShipError> {
    let deadline = Instant::now() + waits.connect;
    let (tx, rx) = mpsc::channel();
    let (host, port, limit) = (to.host.clone(), to.port, waits.connect);
    std::thread::Builder::new()
        .name("tracing-audit-connect".to_owned())
        .spawn(move || {
            let _ = tx.send(connect_any(&host, port, deadline, limit));
        })
        .map_err(|e| ShipError::with_source(ShipErrorKind::Io, "cannot start a thread", e))?;
    loop {
        match rx.recv_timeout(SLICE) {
            Ok(Ok(sock)) => return Ok(sock),
            Ok(Err(e)) => return Err(ShipError::net(format!("cannot connect to {to}"), e)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ShipError::new(
                    ShipErrorKind::Connect,
                    format!("cannot connect to {to}"),
                ))
            }
        }
        if (waits.abandon)() {
            return Err(Waits::stopped(&format!("the connection to {to}")));
        }
        if Instant::now() >= deadline + SLICE {
            return Err(ShipError::new(
                ShipErrorKind::TimedOut,
                format!(
                    "connect deadline ({:?}) expired: no connection to {to}",
                    waits.connect
                ),
            ));
        }
    }
}

/// Tries every address of `host` until `deadline`.
fn connect_any(host: &str, port: u16, deadline: Instant, limit: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{host} resolves to no address reachable within {limit:?}"),
        )
    }))
}

/// The TLS handshake, as a whole within `waits.handshake`: each read waits at most [`SLICE`],
/// then the deadline and the stop flag are looked at (rustls resumes where the read stopped).
fn handshake(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    to: &Destination,
    name: &str,
    waits: &Waits<'_>,
) -> Result<(), ShipError> {
    let deadline = Instant::now() + waits.handshake;
    while conn.is_handshaking() {
        if (waits.abandon)() {
            return Err(Waits::stopped(&format!("the TLS handshake with {to}")));
        }
        if Instant::now() >= deadline {
            return Err(ShipError::new(
                ShipErrorKind::TimedOut,
                format!(
                    "TLS handshake deadline ({:?}) expired: {to} did not complete the handshake",
                    waits.handshake
                ),
            ));
        }
        match conn.complete_io(sock) {
            Ok(_) => {}
            Err(e) if nothing_yet(&e) => {}
            Err(e) => {
                let kind = if e.kind() == io::ErrorKind::InvalidData {
                    ShipErrorKind::Tls
                } else {
                    ShipErrorKind::Connect
                };
                return Err(ShipError::with_source(
                    kind,
                    format!(
                        "TLS handshake with {to} failed (is its certificate signed by the configured CA and issued for {name:?}?)"
                    ),
                    e,
                ));
            }
        }
    }
    Ok(())
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(t) => t.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(t) => t.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_with_their_protocol() {
        let d: Destination = "syslog+tls://[::1]:6514".parse().unwrap();
        assert_eq!(
            (d.protocol(), d.host(), d.port()),
            (Protocol::SyslogTls, "::1", 6514)
        );
        assert_eq!(d.to_string(), "syslog+tls://[::1]:6514");
        let d: Destination = "syslog+tcp://127.0.0.1:514".parse().unwrap();
        assert_eq!(d.protocol(), Protocol::SyslogTcp);
        for bad in [
            "relp://host",
            "http://h:1",
            "relp://:1",
            "relp://h:0",
            "relp://h:99999",
            "h:1",
        ] {
            assert_eq!(
                bad.parse::<Destination>().unwrap_err().kind(),
                ShipErrorKind::Config,
                "{bad}"
            );
        }
    }
}
