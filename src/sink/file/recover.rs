//! Picking up after a crash: torn last lines are set aside, and the last complete line is found
//! so the audit chain can continue from it.

use crate::chain::framing::TornTail;
use crate::trail::naming;
use crate::trail::write::{context, create_new, sync_dir};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const CHUNK: usize = 64 * 1024;

/// Position of the last `\n` before `end`, scanning backwards.
fn rfind_newline(file: &File, end: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; CHUNK];
    let mut hi = end;
    while hi > 0 {
        let lo = hi.saturating_sub(CHUNK as u64);
        let part = &mut buf[..(hi - lo) as usize];
        file.read_exact_at(part, lo)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(lo + i as u64));
        }
        hi = lo;
    }
    Ok(None)
}

/// Length of `file` (`len` bytes) up to and including its last `\n`.
pub(super) fn complete_len(file: &File, len: u64) -> io::Result<u64> {
    Ok(rfind_newline(file, len)?.map_or(0, |i| i + 1))
}

/// If `file` (named `name`, `len` bytes) does not end in `\n`, moves the bytes after its last
/// newline into `<prefix>.torn-<unix_nanos>.partial` (durably, before cutting them off) and
/// truncates the file there. Returns what was set aside and the new length.
///
/// The copy is made durable before the truncation, so a crash in between leaves the torn bytes
/// in both places (found again next time), never in neither.
pub(super) fn set_aside_torn_tail(
    file: &mut File,
    len: u64,
    dir: &Path,
    prefix: &str,
    name: &str,
    now: SystemTime,
    mode: u32,
) -> io::Result<(Option<TornTail>, u64)> {
    let path = dir.join(name);
    if len == 0 {
        return Ok((None, 0));
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)
        .map_err(|e| context("cannot read", &path, e))?;
    if last[0] == b'\n' {
        return Ok((None, len));
    }
    let cut = rfind_newline(file, len)
        .map_err(|e| context("cannot read", &path, e))?
        .map_or(0, |i| i + 1);

    let mut nanos = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let (mut partial, partial_path) = loop {
        let candidate = dir.join(naming::torn(prefix, nanos));
        match create_new(&candidate, mode) {
            Ok(f) => break (f, candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => nanos += 1,
            Err(e) => return Err(e),
        }
    };
    file.seek(SeekFrom::Start(cut))
        .map_err(|e| context("cannot read", &path, e))?;
    let bytes = io::copy(&mut Read::by_ref(file).take(len - cut), &mut partial)
        .map_err(|e| context("cannot copy the torn tail of", &path, e))?;
    partial
        .sync_data()
        .map_err(|e| context("cannot fsync", &partial_path, e))?;
    sync_dir(dir)?;
    file.set_len(cut)
        .and_then(|()| file.sync_data())
        .map_err(|e| context("cannot truncate the torn tail of", &path, e))?;
    Ok((
        Some(TornTail {
            file: name.to_owned(),
            set_aside: partial_path,
            bytes,
        }),
        cut,
    ))
}

/// The last line of the checkpoint side file `name` in `dir`: the newest checkpoint this sink
/// published, which the trail must still reach when the writer starts again. A side file that
/// is missing, unreadable or not a regular file publishes nothing.
pub(super) fn published_checkpoint(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let content =
        crate::trail::open::read_capped(&dir.join(name), crate::trail::open::CHECKPOINT_FILE_MAX)
            .ok()?;
    let content = content.strip_suffix(b"\n").unwrap_or(&content);
    let start = content
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    Some(content[start..].to_vec()).filter(|l| !l.is_empty())
}

/// The last complete line of a file that is `len` bytes long and ends in `\n`, without it.
pub(super) fn last_line(file: &File, len: u64) -> io::Result<Option<Vec<u8>>> {
    if len == 0 {
        return Ok(None);
    }
    let end = len - 1;
    let start = rfind_newline(file, end)?.map_or(0, |i| i + 1);
    let mut line = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut line, start)?;
    Ok(Some(line))
}

/// The last complete line of a gzipped file, read through to the end in bounded memory (a line
/// longer than the readers' limit is no record to continue from).
#[cfg(feature = "gzip")]
pub(super) fn last_line_gz(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let Some(file) = crate::trail::TrailFile::at(path) else {
        return Ok(None);
    };
    let (mut last, mut any) = (Vec::new(), false);
    let mut read = crate::trail::LineReader::new().read_lines(&file, |line| {
        last.clear();
        last.extend_from_slice(line);
        any = true;
        std::ops::ControlFlow::Continue(())
    });
    match read.take_problem() {
        None => Ok(any.then_some(last)),
        Some(p) => Err(context("cannot decompress", path, p.into_io_error())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Write;

    fn file_with(dir: &Path, name: &str, content: &[u8]) -> File {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        crate::trail::write::open_existing(&path).unwrap()
    }

    #[test]
    fn last_line_spans_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let long = vec![b'x'; 3 * CHUNK + 17];
        let mut content = b"first\n".to_vec();
        content.extend_from_slice(&long);
        content.push(b'\n');
        let f = file_with(dir.path(), "a", &content);
        let line = last_line(&f, content.len() as u64).unwrap().unwrap();
        assert_eq!(line, long);
    }

    #[test]
    fn a_file_that_is_all_torn_is_set_aside_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = file_with(dir.path(), "a.2026-11-26.0001.jsonl", b"{\"half");
        let (torn, len) = set_aside_torn_tail(
            &mut f,
            6,
            dir.path(),
            "a",
            "a.2026-11-26.0001.jsonl",
            SystemTime::now(),
            0o600,
        )
        .unwrap();
        let torn = torn.unwrap();
        assert_eq!((len, torn.bytes), (0, 6));
        assert_eq!(fs::read(&torn.set_aside).unwrap(), b"{\"half");
        f.write_all(b"{}\n").unwrap();
        assert_eq!(
            fs::read(dir.path().join("a.2026-11-26.0001.jsonl")).unwrap(),
            b"{}\n"
        );
    }
}
