//! The little HTTP/1.1 that the witness protocol needs, over `std::net`, both sides.
//!
//! C2SP `tlog-witness` is one POST and one GET with small text bodies. A full HTTP stack
//! (hyper on tokio, or a client such as reqwest) would put an async runtime into the writer's
//! process and the `cli` build for that; instead both ends here speak the minimal subset, with
//! every read bounded:
//! - one request per connection (`Connection: close`), bodies by `Content-Length` only (a
//!   `Transfer-Encoding` is refused), head at most [`MAX_HEAD`] bytes, body at most the cap the
//!   caller gives;
//! - a deadline for the whole exchange: connect, every read and every write time out, and the
//!   total time is checked after each read, so a peer that trickles one byte a second cannot
//!   hold a connection (or the writer's submission thread) beyond it.
//!
//! Plain `http://` only: TLS to a witness on another host goes through a reverse proxy (or a
//! tunnel) for now.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The largest request or response head (request line or status line plus headers).
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) enum HttpError {
    /// Connecting, reading or writing failed or timed out.
    Io(io::Error),
    /// The peer sent something this subset does not accept.
    Malformed(&'static str),
    /// A head or body beyond its cap.
    TooLarge,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "{e}"),
            HttpError::Malformed(what) => write!(f, "malformed HTTP: {what}"),
            HttpError::TooLarge => f.write_str("HTTP message too large"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// A request as the server read it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
}

/// A response as the client read it.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// A stream with a deadline for everything done on it.
struct Deadlined<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl Deadlined<'_> {
    fn remaining(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    }
}

impl Read for Deadlined<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.remaining()?))?;
        (&mut &*self.stream).read(buf)
    }
}

impl Write for Deadlined<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.remaining()?))?;
        (&mut &*self.stream).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A parsed head: the first line, then the headers that matter here.
struct Head {
    first: String,
    content_length: Option<usize>,
    content_type: Option<String>,
}

/// Reads up to the end of the head; returns it and the body bytes already read past it.
fn read_head(io: &mut impl Read) -> Result<(Head, Vec<u8>), HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let end = loop {
        if let Some(pos) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::TooLarge);
        }
        let n = io.read(&mut chunk)?;
        if n == 0 {
            return Err(HttpError::Malformed("connection closed inside the head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if end > MAX_HEAD {
        return Err(HttpError::TooLarge);
    }
    let rest = buf.split_off(end + 4);
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Malformed("head"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default().to_owned();
    let mut head = Head {
        first,
        content_length: None,
        content_type: None,
    };
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if head.content_length.is_some() {
                return Err(HttpError::Malformed("two Content-Length headers"));
            }
            let n = value
                .parse()
                .map_err(|_| HttpError::Malformed("Content-Length"))?;
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Malformed("Transfer-Encoding is not supported"));
        }
    }
    Ok((head, rest))
}

/// Reads a body of `len` bytes (`already` read with the head), refusing more than `max`.
fn read_body(
    io: &mut impl Read,
    mut already: Vec<u8>,
    len: usize,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    if len > max || already.len() > len {
        return Err(HttpError::TooLarge);
    }
    let have = already.len();
    already.resize(len, 0);
    io.read_exact(&mut already[have..])?;
    Ok(already)
}

/// Reads one request from `stream` within `deadline`, its body at most `max_body` bytes.
pub(crate) fn read_request(
    stream: &TcpStream,
    deadline: Instant,
    max_body: usize,
) -> Result<Request, HttpError> {
    let mut io = Deadlined { stream, deadline };
    let (head, rest) = read_head(&mut io)?;
    let mut parts = head.first.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("HTTP version"));
    }
    let body = read_body(&mut io, rest, head.content_length.unwrap_or(0), max_body)?;
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        body,
    })
}

/// The reason phrase of the statuses the witness sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Entity",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes a whole response and closes the exchange (`Connection: close`).
pub(crate) fn write_response(
    stream: &TcpStream,
    deadline: Instant,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let mut io = Deadlined { stream, deadline };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    io.write_all(&out)
}

/// A plain `http://host:port[/prefix]` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) authority: String,
    pub(crate) prefix: String,
}

impl Url {
    /// Parses `http://host:port[/prefix]`; a trailing `/` is dropped from the prefix.
    pub(crate) fn parse(text: &str) -> Option<Url> {
        let rest = text.strip_prefix("http://")?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._:[]".contains(c);
        if authority.is_empty() || !authority.chars().all(valid) || !authority.contains(':') {
            return None;
        }
        if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        Some(Url {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.prefix)
    }
}

/// One request to `url` + `path`, the whole exchange within `timeout`; the response body is
/// at most `max_body` bytes.
pub(crate) fn exchange(
    url: &Url,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
    max_body: usize,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let addrs = url.authority.to_socket_addrs()?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut connected = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                connected = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let stream = connected.ok_or(HttpError::Io(last))?;
    let _ = stream.set_nodelay(true);
    let mut io = Deadlined {
        stream: &stream,
        deadline,
    };
    let head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.prefix,
        url.authority,
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    io.write_all(&out)?;
    let (head, rest) = read_head(&mut io)?;
    let status = head
        .first
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::Malformed("status line"))?;
    let body = match head.content_length {
        Some(len) => read_body(&mut io, rest, len, max_body)?,
        None => read_to_end_capped(&mut io, rest, max_body)?,
    };
    Ok(Response {
        status,
        content_type: head.content_type,
        body,
    })
}

/// A body delimited by the end of the connection, at most `max` bytes.
fn read_to_end_capped(
    io: &mut impl Read,
    mut body: Vec<u8>,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    let mut chunk = [0u8; 4096];
    loop {
        if body.len() > max {
            return Err(HttpError::TooLarge);
        }
        let n = io.read(&mut chunk)?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_are_plain_http_with_a_port() {
        let url = Url::parse("http://127.0.0.1:8080/w/").unwrap();
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.prefix, "/w");
        assert!(Url::parse("https://x:1").is_none());
        assert!(Url::parse("http://x").is_none());
        assert!(Url::parse("http://a b:1").is_none());
    }

    #[test]
    fn a_request_and_response_round_trip_and_caps_hold() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/p", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            for max in [100, 3] {
                let (stream, _) = listener.accept().unwrap();
                let deadline = Instant::now() + Duration::from_secs(5);
                match read_request(&stream, deadline, max) {
                    Ok(req) => {
                        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/p/x"));
                        write_response(&stream, deadline, 409, "text/x.tlog.size", &req.body)
                            .unwrap();
                    }
                    Err(e) => {
                        assert!(matches!(e, HttpError::TooLarge), "{e}");
                        write_response(&stream, deadline, 413, "text/plain", b"").unwrap();
                    }
                }
            }
        });
        let timeout = Duration::from_secs(5);
        let r = exchange(&url, "POST", "/x", b"12\n", timeout, 100).unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(r.content_type.as_deref(), Some("text/x.tlog.size"));
        assert_eq!(r.body, b"12\n");
        let r = exchange(&url, "POST", "/x", b"too long", timeout, 100).unwrap();
        assert_eq!(r.status, 413);
        server.join().unwrap();
    }

    #[test]
    fn a_silent_peer_is_given_up_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let started = Instant::now();
        let err = exchange(&url, "GET", "/", b"", Duration::from_millis(200), 10).unwrap_err();
        assert!(matches!(err, HttpError::Io(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }
}
