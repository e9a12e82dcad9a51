//! Chain keys: where the MAC key comes from, and its key id.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
    /// Fails when the variable is unset or empty.
    pub fn from_env(key_id: &str, var: &str) -> Result<Self, KeyError> {
        let value = std::env::var_os(var).ok_or_else(|| KeyError {
            source_desc: format!("environment variable {var}"),
            kind: KeyErrorKind::Missing,
        })?;
        let bytes = os_bytes(&value);
        if bytes.is_empty() {
            return Err(KeyError {
                source_desc: format!("environment variable {var}"),
                kind: KeyErrorKind::Empty,
            });
        }
        Ok(ChainKey::new(key_id, &bytes))
    }

    /// A key from a file: the file's bytes with one trailing `"\n"` or `"\r\n"` removed.
    ///
    /// Fails when the file cannot be read or the key is empty.
    pub fn from_file(key_id: &str, path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let bytes = read_key_file(path)?;
        Ok(ChainKey::new(key_id, &bytes))
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

/// Reads a key file (chain key or hash key): its bytes with one trailing newline removed.
pub(crate) fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyError> {
    let mut bytes = std::fs::read(path).map_err(|e| KeyError {
        source_desc: format!("key file {}", path.display()),
        kind: KeyErrorKind::Io(e, path.to_path_buf()),
    })?;
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    if bytes.is_empty() {
        return Err(KeyError {
            source_desc: format!("key file {}", path.display()),
            kind: KeyErrorKind::Empty,
        });
    }
    Ok(bytes)
}

#[cfg(unix)]
fn os_bytes(value: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    value.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(value: &std::ffi::OsStr) -> Vec<u8> {
    value.to_string_lossy().into_owned().into_bytes()
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

/// A chain key could not be loaded.
#[derive(Debug)]
pub struct KeyError {
    source_desc: String,
    kind: KeyErrorKind,
}

#[derive(Debug)]
enum KeyErrorKind {
    Missing,
    Empty,
    Io(io::Error, PathBuf),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            KeyErrorKind::Missing => write!(f, "{} is not set", self.source_desc),
            KeyErrorKind::Empty => write!(f, "{} holds an empty key", self.source_desc),
            KeyErrorKind::Io(_, path) => write!(f, "cannot read key file {}", path.display()),
        }
    }
}

impl Error for KeyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            KeyErrorKind::Io(e, _) => Some(e),
            _ => None,
        }
    }
}
