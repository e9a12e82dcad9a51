//! The request id: taken from the request when well-formed, generated otherwise, echoed back.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

/// The id of one request, as its span, its records and the echoed response header carry it.
/// Handlers find it in the request extensions.
///
/// ```
/// # async fn handler(req: http::Request<()>) {
/// use tracing_audit::http::RequestId;
/// let id = req.extensions().get::<RequestId>().map(RequestId::as_str);
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

/// The longest request id taken from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The client's id, if it is 1 to [`MAX_REQUEST_ID_LEN`] characters of `A-Z a-z 0-9 - _ . :`.
    pub(crate) fn parse(bytes: &[u8]) -> Option<RequestId> {
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        // Checked ASCII above, so this cannot fail.
        ok.then(|| RequestId(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// 32 hex digits, unique within the process and unpredictable across processes.
    pub(crate) fn generate() -> RequestId {
        static KEYS: LazyLock<std::collections::hash_map::RandomState> =
            LazyLock::new(Default::default);
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let hi = KEYS.hash_one((n, 0u8));
        let lo = KEYS.hash_one((n, 1u8));
        RequestId(format!("{hi:016x}{lo:016x}"))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_are_kept_others_refused() {
        assert_eq!(
            RequestId::parse(b"req-1.a_b:c").unwrap().as_str(),
            "req-1.a_b:c"
        );
        for bad in [&b""[..], b"a b", b"a\nb", b"\xff", b"x\"y", &[b'a'; 129]] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_differ_and_are_hex() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(RequestId::parse(a.as_str().as_bytes()).is_some());
    }
}
