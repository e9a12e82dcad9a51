//! Chain keys: where the MAC key comes from, and its key id.

use crate::key::{KeyError, KeySource};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::Path;

/// A secret key for the HMAC-SHA256 chain, with the key id written into every record.
///
/// The key id lets a verifier pick the right key after a key rotation. Key ids may contain ASCII
/// letters, digits and `. _ - : / @ + =`; any other character is replaced by `_` (the same
/// replacement is applied everywhere a key id is given, so verification still matches).
///
/// `Debug` never shows the key.
///
/// ```
/// use tracing_audit::chain::ChainKey;
/// let key = ChainKey::new("2026-11", b"a long random secret");
/// assert_eq!(key.key_id(), "2026-11");
/// assert!(!format!("{key:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ChainKey {
    key_id: String,
    mac: Hmac<Sha256>,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKey")
            .field("key_id", &self.key_id)
            .field("key", &"<hidden>")
            .finish()
    }
}

impl ChainKey {
    /// A key from its bytes (any length; HMAC hashes keys longer than 64 bytes).
    pub fn new(key_id: &str, key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        ChainKey {
            key_id: sanitize_key_id(key_id),
            mac,
        }
    }

    /// A key from the bytes of the environment variable `var`.
    ///
    /// # Errors
    /// The variable is unset or empty.
    pub fn from_env(key_id: &str, var: &str) -> Result<Self, KeyError> {
        Self::from_source(key_id, &KeySource::env(var))
    }

    /// A key from a file: the file's bytes with one trailing `"\n"` or `"\r\n"` removed.
    ///
    /// # Errors
    /// The file cannot be read or the key is empty.
    pub fn from_file(key_id: &str, path: impl AsRef<Path>) -> Result<Self, KeyError> {
        Self::from_source(key_id, &KeySource::file(path))
    }

    /// A key from any [`KeySource`].
    ///
    /// # Errors
    /// The key cannot be loaded.
    pub fn from_source(key_id: &str, source: &KeySource) -> Result<Self, KeyError> {
        Ok(ChainKey::new(key_id, &source.load()?))
    }

    /// The key id written into records as `"kid"`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A fresh HMAC state keyed with this key.
    pub(crate) fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

/// Replaces every character a key id may not contain with `_`, so a key id never needs JSON
/// escaping and can be found in a line without parsing it.
pub(crate) fn sanitize_key_id(key_id: &str) -> String {
    let id: String = key_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_:/@+=".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "_".to_owned()
    } else {
        id
    }
}
