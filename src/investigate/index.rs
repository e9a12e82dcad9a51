//! Per-file side indexes (`<name>.idx`): a closed file's time range and a membership filter of
//! the values queries ask for, so that a search opens only the files that can match.
//!
//! The file sink writes the index of every file it closes, on its background thread
//! ([`build_for_closed`]), so searches do not pay the first read; a search builds the missing
//! ones (a trail written before, or an index that failed).
//!
//! An index is a hint, never an answer: it is used only when it was built from exactly this
//! file (same length, modification time and first and last 4 KiB) and its own checksum holds;
//! it only ever rules a file *out* (a Bloom filter has no false negatives), and every record a
//! search returns is confirmed on the parsed record. A missing, stale or corrupt index costs
//! speed: the file is scanned, and the index rebuilt when the directory is writable.

use super::query::{record_time, Query};
use crate::trail::TrailFile;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Longest line a closed file is indexed with; a longer one makes the index unusable (it would
/// have to hold its values), so no index is written and searches scan the file.
const MAX_LINE: usize = 16 << 20;

/// Writes the index of the closed trail file at `path` (`.jsonl` or `.jsonl.gz`), read whole in
/// one streaming pass. For a closed file the sink did not index while compressing it (see
/// [`ClosedIndexer`]). Symlinks and other non-regular files are refused.
pub(crate) fn build_for_closed(path: &Path) -> io::Result<()> {
    if !std::fs::symlink_metadata(path)?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let gz = path.extension().is_some_and(|e| e == "gz");
    let raw = crate::trail::open::open_in_trail(path)?;
    let mut reader: Box<dyn Read> = if gz { gz_reader(raw)? } else { Box::new(raw) };
    let mut indexer = ClosedIndexer::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => indexer.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    indexer.write_for(path)
}

/// Builds the index of a closed file from its bytes, fed in chunks as they are read: the sink
/// feeds it the bytes it compresses, so a closed file is read once for both.
#[derive(Debug, Default)]
pub(crate) struct ClosedIndexer {
    builder: IndexBuilder,
    /// The start of a line whose end is in a later chunk.
    partial: Vec<u8>,
    /// A line longer than `MAX_LINE`: no index (it would have to hold that line's values).
    overlong: bool,
}

impl ClosedIndexer {
    /// Takes the next bytes of the file into account.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        if self.overlong {
            return;
        }
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            if self.partial.is_empty() {
                self.line(&chunk[..i]);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..i]);
                self.line(&line);
                line.clear();
                self.partial = line;
            }
            chunk = &chunk[i + 1..];
        }
        self.partial.extend_from_slice(chunk);
        if self.partial.len() > MAX_LINE {
            self.overlong = true;
            self.partial = Vec::new();
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.len() > MAX_LINE {
            self.overlong = true;
        } else if !line.is_empty() {
            self.builder.add_line(line);
        }
    }

    /// Writes the index for the file now at `path` (its final name and bytes: the fingerprint
    /// is taken from it). A torn last line fed in is no record.
    pub(crate) fn write_for(self, path: &Path) -> io::Result<()> {
        if self.overlong {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a line is too long to index",
            ));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a trail file name"))?;
        let gz = name.ends_with(".gz");
        self.builder.write_at(path, name, gz)
    }
}

#[cfg(feature = "gzip")]
fn gz_reader(raw: File) -> io::Result<Box<dyn Read>> {
    Ok(Box::new(flate2::read::MultiGzDecoder::new(
        io::BufReader::new(raw),
    )))
}

#[cfg(not(feature = "gzip"))]
fn gz_reader(_raw: File) -> io::Result<Box<dyn Read>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "gzip support is not compiled in (enable the `gzip` feature)",
    ))
}

/// The fields whose values go into the filter (what `correlate` and `query` ask for).
const KEYS: [&str; 5] = ["correlation_id", "trace_id", "actor", "action", "outcome"];
const VERSION: u64 = 1;
/// Bits per distinct value, and probes: about 1% false positives.
const BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;

/// Where the index of the file at `path` lives (`<name>.idx`: a `.gz` has its own, since the
/// fingerprint is of the bytes on disk).
fn index_path(path: &Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".idx");
    p.into()
}

/// Length, modification time and a hash of the first and last 4 KiB: what ties an index to
/// the exact file it was built from.
fn fingerprint(path: &Path) -> io::Result<(u64, i64, String)> {
    let mut f = crate::trail::open::open_in_trail(path)?;
    let meta = f.metadata()?;
    let len = meta.len();
    let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 4096];
    let n = read_up_to(&mut f, &mut buf)?;
    h.update(&buf[..n]);
    if len > 4096 {
        f.seek(SeekFrom::Start(len.saturating_sub(4096).max(4096)))?;
        let n = read_up_to(&mut f, &mut buf)?;
        h.update(&buf[..n]);
    }
    Ok((len, mtime, hex(&h.finalize())))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn hex(b: &[u8]) -> String {
    crate::trail::hex::to_hex(b)
}

/// FNV-1a, 64 bits: stable across builds and platforms (the filter is stored on disk).
fn fnv(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn key_hash(field: &str, value: &str) -> (u64, u64) {
    let parts: [&[u8]; 2] = [field.as_bytes(), value.as_bytes()];
    (fnv(0, &parts), fnv(0x9e37_79b9_7f4a_7c15, &parts) | 1)
}

/// A loaded, validated index.
#[derive(Debug)]
pub(crate) struct FileIndex {
    min_ts: Option<String>,
    max_ts: Option<String>,
    bits: Vec<u8>,
}

impl FileIndex {
    /// The index of `file`, if there is one built from exactly this file and intact.
    pub(crate) fn load(file: &TrailFile) -> Option<FileIndex> {
        let raw = std::fs::read(index_path(file.path())).ok()?;
        let nl = memchr::memrchr(b'\n', &raw)?;
        let (body, sum) = (&raw[..nl], &raw[nl + 1..]);
        if hex(&Sha256::digest(body)).as_bytes() != sum {
            return None;
        }
        let v: Value = serde_json::from_slice(body).ok()?;
        if v.get("v")?.as_u64()? != VERSION {
            return None;
        }
        let (len, mtime, edges) = fingerprint(file.path()).ok()?;
        if v.get("len")?.as_u64()? != len
            || v.get("mtime_ns")?.as_i64()? != mtime
            || v.get("edges")?.as_str()? != edges
        {
            return None;
        }
        let bits = base64::engine::general_purpose::STANDARD
            .decode(v.get("bloom")?.as_str()?)
            .ok()?;
        if bits.is_empty() {
            return None;
        }
        let ts = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(FileIndex {
            min_ts: ts("min_ts"),
            max_ts: ts("max_ts"),
            bits,
        })
    }

    fn contains(&self, field: &str, value: &str) -> bool {
        let m = self.bits.len() as u64 * 8;
        let (h1, h2) = key_hash(field, value);
        (0..u64::from(PROBES)).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0
        })
    }

    /// Whether a record of this file can match `q` (false only when none can).
    pub(crate) fn may_match(&self, q: &Query) -> bool {
        if let Some(id) = &q.id {
            if !self.contains("correlation_id", id) && !self.contains("trace_id", id) {
                return false;
            }
        }
        for (field, want) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("outcome", &q.outcome),
        ] {
            if let Some(w) = want {
                if !self.contains(field, w) {
                    return false;
                }
            }
        }
        if q.since.is_some() || q.until.is_some() {
            // No record with a time: none can be in a window.
            let (Some(lo), Some(hi)) = (&self.min_ts, &self.max_ts) else {
                return false;
            };
            if q.since.as_deref().is_some_and(|s| hi.as_str() < s)
                || q.until.as_deref().is_some_and(|u| lo.as_str() >= u)
            {
                return false;
            }
        }
        true
    }
}

/// Collects what an index holds while a file is read whole.
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    min_ts: Option<String>,
    max_ts: Option<String>,
    keys: HashSet<(u64, u64)>,
    records: u64,
}

impl IndexBuilder {
    /// Takes one line into account: its top-level fields read by a small scanner, or, for a
    /// line the scanner does not read (escapes in a wanted value, odd syntax), parsed. Whatever
    /// the scanner takes from a line that does not parse only adds to the filter (a superset
    /// never hides a match).
    pub(crate) fn add_line(&mut self, line: &[u8]) {
        let mut found: Vec<(&[u8], &[u8])> = Vec::with_capacity(6);
        if top_level_strings(line, |k, v| {
            if k == b"ts" || KEYS.iter().any(|w| w.as_bytes() == k) {
                found.push((k, v));
            }
        }) {
            self.records += 1;
            for (k, v) in found {
                let (Ok(k), Ok(v)) = (std::str::from_utf8(k), std::str::from_utf8(v)) else {
                    continue;
                };
                if k == "ts" {
                    let ts = if super::query::is_canonical(v.as_bytes()) {
                        Some(v.to_owned())
                    } else {
                        super::canonical_time(v).ok()
                    };
                    if let Some(ts) = ts {
                        self.time(ts);
                    }
                } else {
                    self.keys.insert(key_hash(k, v));
                }
            }
        } else if let Ok(v) = serde_json::from_slice::<Value>(line) {
            self.add(&v);
        }
    }

    fn time(&mut self, ts: String) {
        if self.min_ts.as_ref().is_none_or(|m| ts < *m) {
            self.min_ts = Some(ts.clone());
        }
        if self.max_ts.as_ref().is_none_or(|m| ts > *m) {
            self.max_ts = Some(ts);
        }
    }

    /// Takes one parsed line into account.
    pub(crate) fn add(&mut self, v: &Value) {
        self.records += 1;
        for k in KEYS {
            if let Some(s) = v.get(k).and_then(Value::as_str) {
                self.keys.insert(key_hash(k, s));
            }
        }
        if let Some(ts) = record_time(v) {
            self.time(ts);
        }
    }

    /// Writes the index next to `file` (temporary file, then rename). Failing to write it
    /// (read-only directory, ...) only means the next search scans the file again.
    pub(crate) fn write(self, file: &TrailFile) {
        let _ = self.write_at(file.path(), file.name(), file.is_compressed());
    }

    /// Writes the index of the file at `path`, named `name` on disk.
    fn write_at(self, path: &Path, name: &str, gz: bool) -> io::Result<()> {
        let (len, mtime, edges) = fingerprint(path)?;
        let m_bytes = (self.keys.len() * BITS_PER_KEY).div_ceil(8).max(8);
        let m = m_bytes as u64 * 8;
        let mut bits = vec![0u8; m_bytes];
        for (h1, h2) in &self.keys {
            for i in 0..u64::from(PROBES) {
                let bit = h1.wrapping_add(i.wrapping_mul(*h2)) % m;
                bits[(bit / 8) as usize] |= 1 << (bit % 8);
            }
        }
        let body = json!({
            "v": VERSION,
            "file": name,
            "len": len,
            "mtime_ns": mtime,
            "edges": edges,
            "records": self.records,
            "min_ts": self.min_ts,
            "max_ts": self.max_ts,
            "keys": KEYS,
            "probes": PROBES,
            "bloom": base64::engine::general_purpose::STANDARD.encode(&bits),
        })
        .to_string();
        let mut out = body.clone().into_bytes();
        out.push(b'\n');
        out.extend_from_slice(hex(&Sha256::digest(body.as_bytes())).as_bytes());
        let index = index_path(path);
        let mut tmp = index.as_os_str().to_owned();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let written = std::fs::write(&tmp, &out).and_then(|()| std::fs::rename(&tmp, &index));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        // The index of the plain file this one was compressed from is of no use any more.
        if gz {
            let _ = std::fs::remove_file(path.with_extension("idx"));
        }
        written
    }
}

/// Calls `f(key, value)` for every top-level key of the JSON object `line` whose value is a
/// string without escapes (the raw bytes between the quotes). `false` when the line is not an
/// object this scanner can walk, or a key or a string value holds an escape: the caller
/// parses such a line.
fn top_level_strings<'a>(line: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) -> bool {
    let n = line.len();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < n && matches!(line[*i], b' ' | b'\t' | b'\r') {
            *i += 1;
        }
    };
    // A string starting at the quote at `i`: its body, and the index after the closing quote;
    // `None` with an escape inside.
    let string = |i: usize| -> Option<(usize, usize, bool)> {
        let body = i + 1;
        let end = body + memchr::memchr(b'"', &line[body..])?;
        let escaped = memchr::memchr(b'\\', &line[body..end]).is_some();
        Some((body, end, escaped))
    };
    ws(&mut i);
    if line.get(i) != Some(&b'{') {
        return false;
    }
    i += 1;
    loop {
        ws(&mut i);
        match line.get(i) {
            Some(b'}') => return true,
            Some(b'"') => {}
            _ => return false,
        }
        let Some((kb, ke, kesc)) = string(i) else {
            return false;
        };
        if kesc {
            return false;
        }
        i = ke + 1;
        ws(&mut i);
        if line.get(i) != Some(&b':') {
            return false;
        }
        i += 1;
        ws(&mut i);
        match line.get(i) {
            Some(b'"') => {
                let Some((vb, ve, vesc)) = string(i) else {
                    return false;
                };
                if vesc {
                    return false;
                }
                f(&line[kb..ke], &line[vb..ve]);
                i = ve + 1;
            }
            Some(_) => {
                // Skip a nested value or a scalar: track depth and strings (with escapes).
                let mut depth = 0usize;
                while i < n {
                    match line[i] {
                        b'"' => {
                            i += 1;
                            while i < n && line[i] != b'"' {
                                i += if line[i] == b'\\' { 2 } else { 1 };
                            }
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => depth -= 1,
                        b',' | b'}' if depth == 0 => break,
                        _ => {}
                    }
                    i += 1;
                }
            }
            None => return false,
        }
        ws(&mut i);
        match line.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_reads_top_level_strings_and_gives_up_on_escapes() {
        let mut got = Vec::new();
        let line = br#"{"seq":3,"ts":"t1","fields":{"actor":"inner","x":[1,"]}"]},"actor":"al","n":-1.5e3}"#;
        assert!(top_level_strings(line, |k, v| got.push((k.to_vec(), v.to_vec()))));
        assert_eq!(
            got,
            [
                (b"ts".to_vec(), b"t1".to_vec()),
                (b"actor".to_vec(), b"al".to_vec())
            ]
        );
        assert!(!top_level_strings(br#"{"actor":"a\"b"}"#, |_, _| {}));
        assert!(!top_level_strings(b"[1]", |_, _| {}));
        assert!(!top_level_strings(br#"{"a":"#, |_, _| {}));
    }

    #[test]
    fn the_scanner_and_the_parser_fill_the_same_filter() {
        let lines: [&[u8]; 3] = [
            br#"{"ts":"2026-11-26T00:00:00.000000000Z","actor":"a","correlation_id":"c","spans":[{"fields":{"actor":"x"}}]}"#,
            br#"{"ts":"2026-11-26T01:00:00Z","actor":"b\"q","outcome":"ok"}"#,
            r#"{"actor":"é","trace_id":"t"}"#.as_bytes(),
        ];
        let (mut fast, mut slow) = (IndexBuilder::default(), IndexBuilder::default());
        for l in lines {
            fast.add_line(l);
            slow.add(&serde_json::from_slice(l).unwrap());
        }
        assert_eq!(fast.keys, slow.keys);
        assert_eq!((fast.min_ts, fast.max_ts), (slow.min_ts, slow.max_ts));
    }
}
