//! Where records go (`relp://`, `syslog+tcp://`, `syslog+tls://`) and the byte stream to it.

use super::error::{ShipError, ShipErrorKind};
use super::tls::Tls;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

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

impl Conn {
    /// Connects (and completes the TLS handshake, so a wrong certificate fails here, clearly).
    pub(crate) fn open(
        to: &Destination,
        tls: Option<(&Tls, &Arc<ClientConfig>)>,
        timeout: Duration,
    ) -> Result<Conn, ShipError> {
        let addrs = (to.host.as_str(), to.port)
            .to_socket_addrs()
            .map_err(|e| ShipError::net(format!("cannot resolve {}", to.host), e))?;
        let mut last = None;
        let mut sock = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    sock = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let sock = match (sock, last) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(ShipError::net(format!("cannot connect to {to}"), e)),
            (None, None) => {
                return Err(ShipError::new(
                    ShipErrorKind::Connect,
                    format!("{} resolves to no address", to.host),
                ))
            }
        };
        let _ = sock.set_nodelay(true);
        sock.set_write_timeout(Some(timeout))
            .and_then(|()| sock.set_read_timeout(Some(timeout)))
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
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
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
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, sock))))
    }

    fn sock(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(t) => &t.sock,
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
