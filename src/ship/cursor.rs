//! Where shipping stands: the first byte not yet acknowledged, per stream, kept in one file.
//!
//! The file is replaced atomically (a temporary file in the same directory, created exclusively
//! and never through a symlink, fsynced, renamed over the old one, then the directory fsynced),
//! so after a crash of the shipper or of the machine it holds either the old or the new
//! positions, never a mix. Its format belongs to the trail's format owner
//! (`crate::trail::cursor`), which the file sink's retention and `verify --received` read too.

use super::error::{ShipError, ShipErrorKind};
use crate::trail::cursor::{parse, render, Position};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The cursor file: positions of every stream shipped from one directory.
#[derive(Debug)]
pub(crate) struct CursorFile {
    path: PathBuf,
    streams: Mutex<BTreeMap<String, Position>>,
}

impl CursorFile {
    /// Opens `path`, or starts empty when it does not exist yet.
    pub(crate) fn load(path: &Path) -> Result<Self, ShipError> {
        let streams =
            match crate::trail::open::read_capped(path, crate::trail::open::SMALL_FILE_MAX) {
                Ok(bytes) => parse(&bytes).ok_or_else(|| {
                    ShipError::new(
                        ShipErrorKind::Config,
                        format!(
                        "{} is not a shipping cursor (refusing to start over from the first file)",
                        path.display()
                    ),
                    )
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                Err(e) => {
                    return Err(ShipError::with_source(
                        ShipErrorKind::Io,
                        format!("cannot read the cursor {}", path.display()),
                        e,
                    ))
                }
            };
        Ok(CursorFile {
            path: path.to_owned(),
            streams: Mutex::new(streams),
        })
    }

    /// The stored position of `prefix`'s stream.
    pub(crate) fn get(&self, prefix: &str) -> Option<Position> {
        self.lock().get(prefix).cloned()
    }

    /// Records `pos` for `prefix` and makes the whole file durable before returning.
    pub(crate) fn store(&self, prefix: &str, pos: &Position) -> Result<(), ShipError> {
        // The lock is held across the write so two streams never interleave their renames.
        let mut streams = self.lock();
        streams.insert(prefix.to_owned(), pos.clone());
        write_atomically(&self.path, &render(&streams)).map_err(|e| {
            ShipError::with_source(
                ShipErrorKind::Io,
                format!("cannot write the cursor {}", self.path.display()),
                e,
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Position>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Temporary file (created exclusively, never through a symlink, mode 0600), fsync, rename,
/// fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the cursor's file name is not UTF-8",
        )
    })?;
    crate::trail::write::replace_file(dir, name, bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn positions_survive_a_reload_and_the_file_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ship.cursor");
        let c = CursorFile::load(&path).unwrap();
        assert_eq!(c.get("audit"), None);
        let audit = Position {
            file: "audit.2026-12-01.0003.jsonl".into(),
            offset: 52_311,
            seq: Some(1041),
            mac: Some("sha256:00".into()),
        };
        let debug = Position {
            file: "debug.2026-12-01.0001.jsonl".into(),
            offset: 7,
            seq: None,
            mac: None,
        };
        c.store("audit", &audit).unwrap();
        c.store("debug", &debug).unwrap();
        let again = CursorFile::load(&path).unwrap();
        assert_eq!(again.get("audit"), Some(audit));
        assert_eq!(again.get("debug"), Some(debug));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["ship.cursor"], "no temporary file is left behind");
    }

    #[test]
    fn a_damaged_cursor_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ship.cursor");
        fs::write(
            &path,
            b"{\"version\":1,\"streams\":{\"audit\":{\"file\":\"a",
        )
        .unwrap();
        let e = CursorFile::load(&path).unwrap_err();
        assert_eq!(e.kind(), ShipErrorKind::Config);
    }
}
