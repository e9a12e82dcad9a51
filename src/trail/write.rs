//! Creating and opening files without following planted symlinks, with the configured modes,
//! and making directory changes durable.

use std::error::Error;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// An I/O error with the operation and path it happened on.
#[derive(Debug)]
struct PathError {
    what: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.what, self.path.display(), self.source)
    }
}

impl Error for PathError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `source` with what was being done to which path, keeping its kind.
pub(crate) fn context(what: &'static str, path: &Path, source: io::Error) -> io::Error {
    io::Error::new(
        source.kind(),
        PathError {
            what,
            path: path.to_owned(),
            source,
        },
    )
}

/// Ensures `dir` exists; directories created here get exactly `mode` (whatever the umask).
pub(crate) fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {
            return Err(context(
                "log directory is not a directory:",
                dir,
                io::Error::new(io::ErrorKind::AlreadyExists, "not a directory"),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context("cannot inspect log directory", dir, e)),
    }
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| context("cannot create log directory", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(|e| context("cannot set the mode of log directory", dir, e))
}

fn secure_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    // A symlink planted where a log file is expected must never redirect the trail, and the
    // descriptor must not leak into child processes.
    options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    options
}

/// Creates a new file for appending; fails with `AlreadyExists` if anything (even a dangling
/// symlink) is at `path`, so nothing planted there is followed or clobbered.
pub(crate) fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let file = secure_options()
        .append(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| context("cannot create", path, e))?;
    // The configured mode is what the operator asked for, whatever the process umask says.
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| context("cannot set the mode of", path, e))?;
    Ok(file)
}

/// Opens an existing regular file for reading and appending; a symlink is refused.
pub(crate) fn open_existing(path: &Path) -> io::Result<File> {
    let file = secure_options()
        .read(true)
        .append(true)
        .open(path)
        .map_err(|e| context("cannot open", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| context("cannot inspect", path, e))?;
    if !meta.is_file() {
        return Err(context(
            "refusing to append to",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    Ok(file)
}

/// Opens an existing regular file for reading only, refusing symlinks.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    secure_options()
        .read(true)
        .open(path)
        .map_err(|e| context("cannot open", path, e))
}

/// `(device, inode)` of an open file.
pub(crate) fn identity(file: &File) -> io::Result<(u64, u64)> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// Whether `path` still names the file with `id` (false if it is gone or was replaced).
pub(crate) fn still_named(path: &Path, id: (u64, u64)) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok((meta.dev(), meta.ino()) == id),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes the sink's exclusive lock (`.<prefix>.lock` in `dir`), so that two writers (processes
/// or sinks) never interleave lines in the same trail. Held until the returned file is closed.
pub(crate) fn lock(dir: &Path, prefix: &str, mode: u32) -> io::Result<File> {
    use std::os::fd::AsRawFd;
    let path = dir.join(format!(".{prefix}.lock"));
    let file = secure_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .open(&path)
        .map_err(|e| context("cannot open lock file", &path, e))?;
    // SAFETY: flock only reads the descriptor number, which `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(context(
            "another writer holds the lock",
            &path,
            io::Error::last_os_error(),
        ));
    }
    Ok(file)
}

/// Makes creations, renames and removals in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context("cannot fsync directory", dir, e))
}

/// Removes `path`; a file that is already gone is fine.
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(context("cannot remove", path, e)),
        _ => Ok(()),
    }
}

/// Points the symlink `dir/link` at `target` (a name in `dir`) atomically: readers see either
/// the old or the new target, never no link.
pub(crate) fn swap_link(dir: &Path, link: &str, target: &str) -> io::Result<()> {
    let tmp = dir.join(format!(".{link}.tmp"));
    remove_if_exists(&tmp)?;
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| context("cannot create", &tmp, e))?;
    let path = dir.join(link);
    fs::rename(&tmp, &path).map_err(|e| context("cannot rename onto", &path, e))
}

/// Replaces `dir/name` with `bytes` atomically and durably.
pub(crate) fn replace_file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    remove_if_exists(&tmp)?;
    let mut file = create_new(&tmp, mode)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_data())
        .map_err(|e| context("cannot write", &tmp, e))?;
    let path = dir.join(name);
    fs::rename(&tmp, &path).map_err(|e| context("cannot rename onto", &path, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_does_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious\n").unwrap();
        let planted = dir.path().join("audit.2026-11-26.0002.jsonl");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let err = create_new(&planted, 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&victim).unwrap(), b"precious\n");
        assert!(err.to_string().contains("audit.2026-11-26.0002.jsonl"));
    }

    #[test]
    fn open_existing_refuses_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(open_existing(&link).is_err());
    }

    #[test]
    fn files_get_the_configured_mode_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create_new(&path, 0o640).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn link_swap_replaces_the_target() {
        let dir = tempfile::tempdir().unwrap();
        swap_link(dir.path(), "a.current.jsonl", "one").unwrap();
        swap_link(dir.path(), "a.current.jsonl", "two").unwrap();
        let target = fs::read_link(dir.path().join("a.current.jsonl")).unwrap();
        assert_eq!(target, Path::new("two"));
        assert!(!dir.path().join(".a.current.jsonl.tmp").exists());
    }
}
