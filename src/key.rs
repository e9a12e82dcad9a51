//! Where secret keys come from: bytes in the program, an environment variable, or a file.
//!
//! One [`KeySource`] type serves every key the crate uses (the audit chain's MAC key, the
//! pseudonymization key), so they are all loaded by the same rules: a file's bytes with one
//! trailing newline removed, a variable's raw bytes, and an empty key is an error.
//!
//! ```
//! use tracing_audit::KeySource;
//!
//! let source = KeySource::bytes(b"a long random secret".to_vec());
//! assert_eq!(source.load()?, b"a long random secret");
//! assert!(!format!("{source:?}").contains("secret"));
//! assert!(KeySource::env("TRACING_AUDIT_SURELY_UNSET").load().is_err());
//! # Ok::<(), tracing_audit::KeyError>(())
//! ```

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where a secret key is read from. `Debug` never shows key bytes.
#[derive(Clone)]
pub struct KeySource(Source);

#[derive(Clone)]
enum Source {
    Bytes(Vec<u8>),
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::Bytes(_) => f.write_str("KeySource::Bytes(<hidden>)"),
            Source::Env(var) => write!(f, "KeySource::Env({var:?})"),
            Source::File(path) => write!(f, "KeySource::File({path:?})"),
        }
    }
}

impl KeySource {
    /// A key given by the program.
    pub fn bytes(key: impl Into<Vec<u8>>) -> Self {
        KeySource(Source::Bytes(key.into()))
    }

    /// The raw bytes of the environment variable `var`, read by [`load`](Self::load).
    pub fn env(var: impl Into<String>) -> Self {
        KeySource(Source::Env(var.into()))
    }

    /// The bytes of a file, one trailing `"\n"` or `"\r\n"` removed, read by
    /// [`load`](Self::load).
    pub fn file(path: impl AsRef<Path>) -> Self {
        KeySource(Source::File(path.as_ref().to_path_buf()))
    }

    /// Reads the key.
    ///
    /// # Errors
    /// The variable is unset, the file cannot be read, or the key is empty.
    pub fn load(&self) -> Result<Vec<u8>, KeyError> {
        let bytes = match &self.0 {
            Source::Bytes(b) => b.clone(),
            Source::Env(var) => std::env::var_os(var)
                .map(|v| os_bytes(&v))
                .ok_or_else(|| KeyError::new(KeyErrorKind::Missing, self.describe(), None))?,
            Source::File(path) => {
                let mut bytes =
                    crate::trail::open::read_capped(path, crate::trail::open::SMALL_FILE_MAX)
                        .map_err(|e| {
                            KeyError::new(KeyErrorKind::Unreadable, self.describe(), Some(e))
                        })?;
                if bytes.ends_with(b"\r\n") {
                    bytes.truncate(bytes.len() - 2);
                } else if bytes.ends_with(b"\n") {
                    bytes.truncate(bytes.len() - 1);
                }
                bytes
            }
        };
        if bytes.is_empty() {
            return Err(KeyError::new(KeyErrorKind::Empty, self.describe(), None));
        }
        Ok(bytes)
    }

    fn describe(&self) -> String {
        match &self.0 {
            Source::Bytes(_) => "the key given in the program".to_owned(),
            Source::Env(var) => format!("environment variable {var}"),
            Source::File(path) => format!("key file {}", path.display()),
        }
    }
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

/// A key could not be loaded from its [`KeySource`].
#[derive(Debug)]
pub struct KeyError {
    kind: KeyErrorKind,
    what: String,
    source: Option<io::Error>,
}

/// What kind of [`KeyError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyErrorKind {
    /// The environment variable is not set.
    Missing,
    /// The key is empty.
    Empty,
    /// The key file cannot be read.
    Unreadable,
}

impl KeyError {
    fn new(kind: KeyErrorKind, what: String, source: Option<io::Error>) -> Self {
        KeyError { kind, what, source }
    }

    /// What went wrong.
    pub fn kind(&self) -> KeyErrorKind {
        self.kind
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            KeyErrorKind::Missing => write!(f, "{} is not set", self.what),
            KeyErrorKind::Empty => write!(f, "{} holds an empty key", self.what),
            KeyErrorKind::Unreadable => write!(f, "cannot read {}", self.what),
        }
    }
}

impl Error for KeyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_loses_one_trailing_newline_and_an_empty_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, b"secret\r\n").unwrap();
        assert_eq!(KeySource::file(&p).load().unwrap(), b"secret");
        std::fs::write(&p, b"\n").unwrap();
        assert_eq!(
            KeySource::file(&p).load().unwrap_err().kind(),
            KeyErrorKind::Empty
        );
        let missing = KeySource::file(dir.path().join("nope")).load().unwrap_err();
        assert_eq!(missing.kind(), KeyErrorKind::Unreadable);
        // The OS error is the source, not part of the message: reporters print it once.
        assert!(!missing.to_string().contains("os error"), "{missing}");
        assert!(missing.source().is_some());
        assert_eq!(
            KeySource::bytes(Vec::new()).load().unwrap_err().kind(),
            KeyErrorKind::Empty
        );
    }
}
