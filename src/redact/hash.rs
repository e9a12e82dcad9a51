//! Keyed pseudonyms: equal inputs give equal outputs, which can be joined on but not reversed.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// The prefix every keyed pseudonym is written with.
pub const HASH_PREFIX: &str = "hmac-sha256:";

/// Computes `hmac-sha256:<hex>` pseudonyms with a secret key.
///
/// Without a key the redactor cannot hash, so a rule asking for a hash masks instead; pseudonyms
/// made with a key that was never configured would be trivially reversible by a dictionary.
///
/// ```
/// use tracing_audit::redact::Pseudonymizer;
/// let p = Pseudonymizer::new(b"k");
/// let a = p.pseudonym("alice@example.com");
/// assert!(a.starts_with("hmac-sha256:"));
/// assert_eq!(a, p.pseudonym("alice@example.com"));
/// ```
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pseudonymizer { key: <hidden> }")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer keyed with `key` (any length; HMAC hashes long keys).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        Pseudonymizer { mac }
    }

    /// Appends `hmac-sha256:<64 hex digits>` for `value` to `out`.
    pub fn write_pseudonym(&self, value: &[u8], out: &mut String) {
        let mut mac = self.mac.clone();
        mac.update(value);
        let digest = mac.finalize().into_bytes();
        out.push_str(HASH_PREFIX);
        crate::trail::hex::push_hex_str(&digest, out);
    }

    /// The pseudonym of `value` as a new string.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut out = String::with_capacity(HASH_PREFIX.len() + 64);
        self.write_pseudonym(value.as_bytes(), &mut out);
        out
    }
}
