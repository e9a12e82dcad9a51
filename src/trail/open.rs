//! Opening what a reader is handed: regular files only, never waiting on a FIFO or a device,
//! and never more than a reader can hold.
//!
//! Everything this crate reads may have been written by the attacker its checks are meant to
//! catch, and the investigator reading it often runs as root. So every input goes through here:
//!
//! - it is opened with `O_NONBLOCK` and checked with `fstat` on the open descriptor before one
//!   byte is read, so a FIFO, socket, device or directory put where a file belongs is refused at
//!   once instead of hanging the reader (`open` on a FIFO without a writer would block; `/dev/zero`
//!   would never end);
//! - small inputs (keys, signing states, checkpoints, cursors, policies, PEM files) are read whole
//!   only up to a cap, and refused when larger;
//! - gzip is inflated by one decoder policy ([`Inflate`]): concatenated members are read, and a
//!   member that inflates beyond [`MAX_INFLATE_RATIO`] times the compressed bytes read so far is
//!   refused as a gzip bomb (the writer's own files compress JSON lines 5-20×); without the `gzip`
//!   feature a `.gz` is refused as unsupported.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::Path;

/// Key files, signing states, cursors, policies and PEM bundles: far below this.
pub(crate) const SMALL_FILE_MAX: u64 = 1 << 20;

/// Checkpoint side files and `--checkpoint` copies (a copy kept by appending every checkpoint
/// line for years stays below this).
pub(crate) const CHECKPOINT_FILE_MAX: u64 = 256 << 20;

/// The seals archive of a signed trail: one line per pruned epoch (a year of one-minute epochs is
/// about 220 MB).
#[cfg(feature = "signed-seals")]
pub(crate) const SEALS_ARCHIVE_MAX: u64 = 1 << 30;

/// A `.gz` may inflate to at most this many times the compressed bytes read so far (plus
/// [`INFLATE_SLACK`]). gzip's own limit is about 1032×; JSON lines of audit records compress
/// 5-20×, and even a file of identical records stays far below 200×.
#[cfg(feature = "gzip")]
pub(crate) const MAX_INFLATE_RATIO: u64 = 200;

/// Inflated bytes always allowed before the ratio applies (a tiny file of one long, repetitive
/// record compresses far better than the ratio).
#[cfg(feature = "gzip")]
pub(crate) const INFLATE_SLACK: u64 = 4 << 20;

/// Opens `path`, a file the operator named (a key, a policy, a checkpoint copy), for reading
/// when it is a regular file; a FIFO, socket, device or directory is refused without blocking
/// (`InvalidInput`, "not a regular file"). Symlinks are followed: secrets are often mounted
/// as links.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    open_with(path, libc::O_NONBLOCK)
}

/// Opens `path`, a file found in a trail directory, like [`open_regular`] but never through a
/// symlink (`O_NOFOLLOW`): a link swapped in after the directory was listed is refused.
pub(crate) fn open_in_trail(path: &Path) -> io::Result<File> {
    open_with(path, libc::O_NONBLOCK | libc::O_NOFOLLOW)
}

fn open_with(path: &Path, flags: libc::c_int) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(f)
}

fn not_regular() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a regular file (a FIFO, socket, device or directory is never read)",
    )
}

/// Reads a whole regular file of at most `max` bytes. A larger one is refused
/// (`InvalidData`) after reading at most `max + 1` bytes, whatever its size claims to be (a
/// file in `/proc` says 0 and can be endless).
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let hint = f.metadata().map(|m| m.len()).unwrap_or(0);
    if hint > max {
        return Err(too_large(max));
    }
    let mut out = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    f.take(max.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(out)
}

/// [`read_capped`] for text.
#[cfg(any(feature = "signed-seals", feature = "http"))]
pub(crate) fn read_capped_to_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_capped(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {max} bytes, more than this kind of file ever holds"),
    )
}

/// Counts the bytes that come off the disk.
#[derive(Debug)]
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: u64,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R) -> Self {
        Counting { inner, count: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.count += amt as u64;
        self.inner.consume(amt);
    }
}

/// The one gzip decoder of the crate: every member of a `.gz` (a file compressed in several
/// runs is several members), inflated no further than 200 times the compressed bytes read.
pub(crate) struct Inflate<R: BufRead> {
    #[cfg(feature = "gzip")]
    decoder: flate2::bufread::MultiGzDecoder<Counting<R>>,
    #[cfg(not(feature = "gzip"))]
    _raw: std::marker::PhantomData<R>,
    out: u64,
}

impl<R: BufRead> std::fmt::Debug for Inflate<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate").field("out", &self.out).finish()
    }
}

impl<R: BufRead> Inflate<R> {
    /// A decoder over `raw`; without the `gzip` feature, an `Unsupported` error.
    pub(crate) fn new(raw: R) -> io::Result<Self> {
        #[cfg(feature = "gzip")]
        {
            Ok(Inflate {
                decoder: flate2::bufread::MultiGzDecoder::new(Counting::new(raw)),
                out: 0,
            })
        }
        #[cfg(not(feature = "gzip"))]
        {
            drop(raw);
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "compressed trail files need the `gzip` feature",
            ))
        }
    }

    /// Compressed bytes consumed so far.
    pub(crate) fn disk_bytes(&self) -> u64 {
        #[cfg(feature = "gzip")]
        {
            self.decoder.get_ref().count
        }
        #[cfg(not(feature = "gzip"))]
        0
    }
}

impl Inflate<io::BufReader<File>> {
    /// Opens the regular file at `path` in a trail directory and inflates it.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        Inflate::new(io::BufReader::with_capacity(64 << 10, open_in_trail(path)?))
    }
}

impl<R: BufRead> Read for Inflate<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "gzip")]
        {
            let n = self.decoder.read(buf)?;
            self.out += n as u64;
            let allowed = self
                .disk_bytes()
                .saturating_mul(MAX_INFLATE_RATIO)
                .saturating_add(INFLATE_SLACK);
            if self.out > allowed {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "inflates to more than {MAX_INFLATE_RATIO} times its compressed size \
                         (a gzip bomb?); not read further"
                    ),
                ));
            }
            Ok(n)
        }
        #[cfg(not(feature = "gzip"))]
        {
            let _ = buf;
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "compressed trail files need the `gzip` feature",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("key");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_capped(&fifo, SMALL_FILE_MAX).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = read_capped(Path::new("/dev/zero"), SMALL_FILE_MAX).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = open_regular(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[test]
    fn a_small_file_is_read_and_a_large_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, vec![b'a'; 100]).unwrap();
        assert_eq!(read_capped(&p, 100).unwrap().len(), 100);
        let e = read_capped(&p, 99).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("larger than 99 bytes"), "{e}");
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn a_gzip_bomb_stops_at_the_ratio_and_honest_gzip_reads_whole() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        // 64 MiB of zeros compress about 1000×.
        let bomb = gz(&vec![0u8; 64 << 20]);
        let mut r = Inflate::new(&bomb[..]).unwrap();
        let e = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("gzip bomb"), "{e}");
        assert!(r.out <= bomb.len() as u64 * MAX_INFLATE_RATIO + INFLATE_SLACK + (64 << 10));
        // Records, repeated, in two members.
        let mut lines = Vec::new();
        for i in 0..20_000 {
            writeln!(lines, r#"{{"seq":{i},"ts":"2026-12-06T00:00:00.000000000Z","stream":"audit","actor":"alice","action":"read","mac":"sha256:{i:064x}"}}"#).unwrap();
        }
        let mut two = gz(&lines);
        two.extend(gz(&lines));
        let mut out = Vec::new();
        Inflate::new(&two[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), lines.len() * 2);
    }
}
