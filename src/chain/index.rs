//! Per-file side indexes (`<name>.idx`): a closed file's time range and a membership filter of
//! the values queries ask for, so that a search opens only the files that can match.
//!
//! Only closed, compressed files are indexed and skipped: checking that an index describes a
//! file means hashing the file, which for a plain file costs as much as the byte search that
//! scanning is, and for a `.gz` a fraction of inflating it.
//!
//! An index is a claim that lets a search *skip* a file, so it is trusted only as far as the
//! records themselves are (docs/verification.md, "what each reader trusts"): it must carry a
//! MAC under a key derived from the trail's chain key, over its own bytes, which name the data
//! file and hold the length and SHA-256 of that file's bytes on disk. A search given the chain
//! key skips a closed file only when the index authenticates, rules the query out, and the file
//! hashes to exactly the bytes the index was built from; in every other case (no key given, an
//! unkeyed or signed-only trail, an index in an older format, a MAC that does not hold, a file
//! changed or another file's index) the file is scanned. Without the key nobody can write an
//! index that passes, and a file cannot be changed under a valid index without the change
//! showing in its digest.
//!
//! Indexes are written only when asked: by the file sink of a keyed trail when it closes a
//! file ([`ClosedIndexer`], on its background thread), and by [`build_indexes`] (the `index`
//! command). Searching never writes. Every index is created exclusively (`O_CREAT|O_EXCL`,
//! `O_NOFOLLOW`), mode 0600, fsynced, and renamed over its name only when nothing but a regular
//! file is there (a rename replaces a link, it never writes through one).

use super::ChainKey;
use crate::trail::open::{open_in_trail, Inflate};
use crate::trail::time::canonical;
use crate::trail::write::{context, create_new};
use crate::trail::TrailFile;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Longest line a closed file is indexed with; a longer one makes the index unusable (it would
/// have to hold its values), so no index is written and searches scan the file.
const MAX_LINE: usize = 16 << 20;
/// Most distinct values one index holds (16 bytes of memory each while it is built): a file
/// with more is not indexed, so building stays bounded whatever a file holds.
const MAX_KEYS: usize = 8 << 20;
/// Largest index file read: a Bloom filter of `MAX_KEYS` values is 10 MiB, 14 MiB in base64.
const MAX_INDEX_BYTES: u64 = 32 << 20;

/// The fields whose values go into the filter (what `correlate` and `query` ask for).
const KEYS: [&str; 5] = ["correlation_id", "trace_id", "actor", "action", "outcome"];
/// Version 1 indexes were unauthenticated; they are never read.
const VERSION: u64 = 2;
/// Bits per distinct value, and probes: about 1% false positives.
const BITS_PER_KEY: usize = 10;
const PROBES: u32 = 7;
/// What the index key is derived with: shorter than 32 bytes, so it is never the input of a
/// chain MAC (previous MAC, then the record), and the index key is no record MAC.
const KEY_LABEL: &[u8] = b"tracing-audit index key v1";
/// Prefixed to every tagged index body, so a tag is never valid for anything else.
const DOMAIN: &[u8] = b"tracing-audit index v2\n";
/// The tag line, after the body's line: `hmac-sha256 <key id> <64 hex digits>`, no newline.
const TAG_PREFIX: &str = "hmac-sha256 ";

/// Where the chain key for a key id comes from (the verifier's keys, a search's keys).
pub(crate) trait KeyLookup {
    /// The key for records (and indexes) under `key_id`.
    fn key_for(&self, key_id: &str) -> Option<&ChainKey>;
}

/// Chain keys by key id, and one for every other key id: what a search checks indexes with.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyRing {
    by_id: Vec<ChainKey>,
    any: Option<ChainKey>,
}

impl KeyRing {
    /// Adds a key for its own key id.
    pub(crate) fn add(&mut self, key: ChainKey) {
        self.by_id.push(key);
    }

    /// Sets the key used for every key id no other key has.
    pub(crate) fn set_any(&mut self, key: ChainKey) {
        self.any = Some(key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_id.is_empty() && self.any.is_none()
    }
}

impl KeyLookup for KeyRing {
    fn key_for(&self, key_id: &str) -> Option<&ChainKey> {
        self.by_id
            .iter()
            .find(|k| k.key_id() == key_id)
            .or(self.any.as_ref())
    }
}

/// The key indexes are authenticated with, derived from a chain key (so whoever can verify
/// the records can check the indexes, and nobody else can write one), with that key's id.
#[derive(Clone)]
pub(crate) struct IndexKey {
    key_id: String,
    /// Boxed: the key travels inside every `FileSink` configuration.
    mac: Box<Hmac<Sha256>>,
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexKey")
            .field("key_id", &self.key_id)
            .field("key", &"<hidden>")
            .finish()
    }
}

impl IndexKey {
    /// The index key of `chain`: HMAC(chain key, [`KEY_LABEL`]).
    pub(crate) fn derive(chain: &ChainKey) -> IndexKey {
        let mut m = chain.mac();
        m.update(KEY_LABEL);
        let derived = m.finalize().into_bytes();
        // HMAC accepts keys of every length, so this cannot fail.
        let mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&derived).unwrap_or_else(|_| unreachable!());
        IndexKey {
            key_id: chain.key_id().to_owned(),
            mac: Box::new(mac),
        }
    }

    /// The MAC state over an index body tagged under `key_id`: the key id is part of what is
    /// tagged, so a tag cannot be moved to another key id.
    fn tagger(&self, key_id: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut m = (*self.mac).clone();
        m.update(DOMAIN);
        m.update(key_id.as_bytes());
        m.update(b"\n");
        m.update(body);
        m
    }
}

/// The length and SHA-256 of a file's bytes on disk: what ties an index to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileDigest {
    len: u64,
    sha256: [u8; 32],
}

/// Hashes every byte that passes through it, read or written, so that what is indexed and
/// what is hashed are the same bytes (a file changed between two reads cannot get an index
/// that describes the other version).
#[derive(Debug)]
pub(crate) struct Hashing<T> {
    inner: T,
    hash: Sha256,
    len: u64,
}

impl<T> Hashing<T> {
    pub(crate) fn new(inner: T) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }

    /// The digest of everything that passed, and the inner reader or writer.
    pub(crate) fn finish(self) -> (FileDigest, T) {
        let digest = FileDigest {
            len: self.len,
            sha256: self.hash.finalize().into(),
        };
        (digest, self.inner)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The length and SHA-256 of the regular file at `path`, read whole.
fn digest_file(path: &Path) -> io::Result<FileDigest> {
    let mut h = Hashing::new(open_in_trail(path)?);
    io::copy(&mut h, &mut io::sink())?;
    Ok(h.finish().0)
}

/// Where the index of the file at `path` lives (`<name>.idx`: a `.gz` has its own, since the
/// digest is of the bytes on disk).
fn index_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".idx");
    p.into()
}

/// Writes the index of the closed trail file at `path` (`.jsonl` or `.jsonl.gz`), read whole in
/// one streaming pass that hashes the bytes on disk and indexes the records they hold (through
/// the crate's one gzip decoder, with its inflate cap).
pub(crate) fn build_for_closed(path: &Path, key: &IndexKey) -> io::Result<()> {
    let gz = path.extension().is_some_and(|e| e == "gz");
    let mut raw = Hashing::new(open_in_trail(path)?);
    let mut indexer = ClosedIndexer::default();
    {
        let mut reader: Box<dyn Read + '_> = if gz {
            Box::new(Inflate::new(io::BufReader::with_capacity(
                64 << 10,
                &mut raw,
            ))?)
        } else {
            Box::new(&mut raw)
        };
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => indexer.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    // Whatever the decoder left unread is part of the file, and of its digest.
    io::copy(&mut raw, &mut io::sink())?;
    let (digest, _) = raw.finish();
    indexer.write_for(path, digest, key)
}

/// Builds the index of a closed file from its bytes, fed in chunks as they are read: the sink
/// feeds it the bytes it compresses, so a closed file is read once for both.
#[derive(Debug, Default)]
pub(crate) struct ClosedIndexer {
    builder: IndexBuilder,
    /// The start of a line whose end is in a later chunk.
    partial: Vec<u8>,
    /// A line longer than `MAX_LINE`, or more than `MAX_KEYS` distinct values: no index.
    unindexable: bool,
}

impl ClosedIndexer {
    /// Takes the next bytes of the file into account.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) {
        if self.unindexable {
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
            self.unindexable = true;
            self.partial = Vec::new();
        }
    }

    fn line(&mut self, line: &[u8]) {
        if line.len() > MAX_LINE || self.builder.keys.len() > MAX_KEYS {
            self.unindexable = true;
        } else if !line.is_empty() {
            self.builder.add_line(line);
        }
    }

    /// Writes the index of the file now at `path` (its final name), whose bytes on disk have
    /// `digest`. A torn last line fed in is no record.
    pub(crate) fn write_for(
        self,
        path: &Path,
        digest: FileDigest,
        key: &IndexKey,
    ) -> io::Result<()> {
        if self.unindexable || self.builder.keys.len() > MAX_KEYS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too long a line or too many distinct values to index",
            ));
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a trail file name"))?;
        let bytes = self.builder.finish(name, digest, key);
        write_exclusive(&index_path(path), &bytes)?;
        // The index of the plain file this one was compressed from is of no use any more
        // (removing a name never follows a link).
        if name.ends_with(".gz") {
            let _ = fs::remove_file(path.with_extension("idx"));
        }
        Ok(())
    }
}

/// Writes `bytes` as the file `index`: a temporary `<index>.tmp.<pid>` created exclusively
/// without following links, mode 0600 whatever the umask, fsynced, then renamed over `index`
/// unless something other than a regular file is there. A temporary name already taken
/// (planted, or left by a crash) is an error and is left alone: it is not ours to remove.
fn write_exclusive(index: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = index.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    // Exclusive, never through a link, exactly 0600.
    let mut f = create_new(&tmp, 0o600)?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| context("cannot write", &tmp, e))
        .and_then(|()| refuse_non_regular(index))
        .and_then(|()| {
            fs::rename(&tmp, index).map_err(|e| context("cannot rename onto", index, e))
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// An error unless `path` is free or a regular file (never replace a link, a FIFO, a directory).
fn refuse_non_regular(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("refusing to replace {}: not a regular file", path.display()),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(context("cannot inspect", path, e)),
    }
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

/// Why an index is not used (what `verify` says about it).
#[derive(Debug)]
pub(crate) enum Rejected {
    /// There is none.
    Missing,
    /// It cannot be read: not a regular file, too large, unreadable.
    Unreadable(io::Error),
    /// No tag line: an index in the unauthenticated format of older versions, or not an index.
    Unauthenticated,
    /// Tagged under a key id no key was given for.
    NoKey(String),
    /// The tag does not hold: written without the key, or damaged.
    BadTag,
    /// Authentic, but built from other bytes than this file's (the file changed since, or the
    /// index is another file's).
    OtherBytes,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Missing => f.write_str("missing"),
            Rejected::Unreadable(e) => write!(f, "cannot be read ({e})"),
            Rejected::Unauthenticated => f.write_str(
                "carries no MAC (an older version's format, or written by someone without the chain key)",
            ),
            Rejected::NoKey(kid) => write!(f, "is authenticated under key id {kid:?}, for which no key was given"),
            Rejected::BadTag => f.write_str("fails its MAC: forged, or damaged"),
            Rejected::OtherBytes => f.write_str(
                "was built from other bytes than this file's (the file changed since, or the index belongs to another file)",
            ),
        }
    }
}

/// A loaded index whose MAC holds; [`describes`](FileIndex::describes) ties it to the file.
#[derive(Debug)]
pub(crate) struct FileIndex {
    min_ts: Option<String>,
    max_ts: Option<String>,
    bits: Vec<u8>,
    digest: FileDigest,
}

impl FileIndex {
    /// The index of `file`, if its MAC holds under one of `keys` and it names this file. It is
    /// not yet tied to the file's bytes: see [`describes`](FileIndex::describes).
    pub(crate) fn load(file: &TrailFile, keys: &dyn KeyLookup) -> Result<FileIndex, Rejected> {
        let raw = read_index(&index_path(file.path()))?;
        let nl = memchr::memchr(b'\n', &raw).ok_or(Rejected::Unauthenticated)?;
        let (body, tag_line) = (&raw[..nl], &raw[nl + 1..]);
        let tag_line = tag_line.strip_suffix(b"\n").unwrap_or(tag_line);
        let tag_line = std::str::from_utf8(tag_line).map_err(|_| Rejected::Unauthenticated)?;
        let (kid, tag_hex) = tag_line
            .strip_prefix(TAG_PREFIX)
            .and_then(|rest| rest.split_once(' '))
            .ok_or(Rejected::Unauthenticated)?;
        let chain_key = keys
            .key_for(kid)
            .ok_or_else(|| Rejected::NoKey(kid.to_owned()))?;
        let tag = unhex(tag_hex).ok_or(Rejected::BadTag)?;
        IndexKey::derive(chain_key)
            .tagger(kid, body)
            .verify_slice(&tag)
            .map_err(|_| Rejected::BadTag)?;
        Self::parse(body, file).ok_or(Rejected::OtherBytes)
    }

    /// The fields of an authentic body, if it is of this version and names `file`.
    fn parse(body: &[u8], file: &TrailFile) -> Option<FileIndex> {
        let v: Value = serde_json::from_slice(body).ok()?;
        if v.get("v")?.as_u64()? != VERSION || v.get("file")?.as_str()? != file.name() {
            return None;
        }
        let sha256: [u8; 32] = unhex(v.get("sha256")?.as_str()?)?.try_into().ok()?;
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
            digest: FileDigest {
                len: v.get("len")?.as_u64()?,
                sha256,
            },
        })
    }

    /// Whether `file`'s bytes on disk are those the index was built from: `Some(bytes read)`
    /// if so. Reads the file whole (its compressed bytes, for a `.gz`): the price of trusting
    /// an index, paid only when it would let a search skip the file.
    pub(crate) fn describes(&self, file: &TrailFile) -> Option<u64> {
        let d = digest_file(file.path()).ok()?;
        (d == self.digest).then_some(d.len)
    }

    /// Whether the file may hold a record whose top-level `field` is `value` (false only when
    /// none does: a Bloom filter has no false negatives).
    pub(crate) fn contains(&self, field: &str, value: &str) -> bool {
        let m = self.bits.len() as u64 * 8;
        let (h1, h2) = key_hash(field, value);
        (0..u64::from(PROBES)).all(|i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0
        })
    }

    /// The earliest and latest record times in the file (canonical form); `None` when no
    /// record has a time.
    pub(crate) fn time_range(&self) -> Option<(&str, &str)> {
        Some((self.min_ts.as_deref()?, self.max_ts.as_deref()?))
    }
}

/// The bytes of the index file at `path`: a regular file (not through a link, never blocking on
/// a FIFO), at most [`MAX_INDEX_BYTES`].
fn read_index(path: &Path) -> Result<Vec<u8>, Rejected> {
    let f = match open_in_trail(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Rejected::Missing),
        Err(e) => return Err(Rejected::Unreadable(e)),
    };
    let meta = f.metadata().map_err(Rejected::Unreadable)?;
    if meta.len() > MAX_INDEX_BYTES {
        let e = io::Error::new(io::ErrorKind::InvalidData, "larger than any index");
        return Err(Rejected::Unreadable(e));
    }
    let mut raw = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_INDEX_BYTES)
        .read_to_end(&mut raw)
        .map_err(Rejected::Unreadable)?;
    Ok(raw)
}

/// Something `verify` reports about an index: which one, and why a search would not use it.
#[derive(Debug)]
pub(crate) struct Finding {
    /// `<data file>.idx`, or none for a summary.
    pub(crate) file: Option<String>,
    pub(crate) message: String,
}

/// What `verify` says about the indexes beside `files`: given `keys`, one finding per index a
/// search would not use (it fails its MAC, is in an unauthenticated format, does not describe
/// its file's bytes, or is beside a plain file); without keys, one finding that indexes were
/// not checked, if there are any. Reads each compressed file that has an index once more (its
/// compressed bytes), never a plain one.
pub(crate) fn findings(files: &[TrailFile], keys: Option<&dyn KeyLookup>) -> Vec<Finding> {
    let present = files
        .iter()
        .filter(|f| fs::symlink_metadata(index_path(f.path())).is_ok());
    let Some(keys) = keys else {
        let n = present.count();
        return (n > 0)
            .then(|| Finding {
                file: None,
                message: format!(
                    "{n} search indexes (.idx) not checked: no chain key was given, and searches without it ignore them"
                ),
            })
            .into_iter()
            .collect();
    };
    present
        .filter_map(|f| {
            let why = if !f.is_compressed() {
                "is beside an uncompressed file, whose indexes searches never use (an older version's, or planted)".to_owned()
            } else {
                match FileIndex::load(f, keys) {
                    Ok(ix) if ix.describes(f).is_some() => return None,
                    Ok(_) => Rejected::OtherBytes.to_string(),
                    Err(why) => why.to_string(),
                }
            };
            Some(Finding {
                file: Some(format!("{}.idx", f.name())),
                message: format!("this search index {why}; searches ignore it"),
            })
        })
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
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
                    if let Some(ts) = canonical(v) {
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
        if let Some(ts) = v.get("ts").and_then(Value::as_str).and_then(canonical) {
            self.time(ts);
        }
    }

    /// The index file's bytes: the body naming `name` and its digest, then the tag line.
    fn finish(self, name: &str, digest: FileDigest, key: &IndexKey) -> Vec<u8> {
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
            "len": digest.len,
            "sha256": hex(&digest.sha256),
            "records": self.records,
            "min_ts": self.min_ts,
            "max_ts": self.max_ts,
            "keys": KEYS,
            "probes": PROBES,
            "bloom": base64::engine::general_purpose::STANDARD.encode(&bits),
        })
        .to_string();
        let tag = key
            .tagger(&key.key_id, body.as_bytes())
            .finalize()
            .into_bytes();
        let mut out = body.into_bytes();
        out.push(b'\n');
        out.extend_from_slice(format!("{TAG_PREFIX}{} {}", key.key_id, hex(&tag)).as_bytes());
        out
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

    /// A one-file-plus-active trail in a temporary directory, its closed file indexed under
    /// key id `k1`.
    fn indexed() -> (tempfile::TempDir, crate::trail::Trail, KeyRing) {
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("audit.2026-11-26.0001.jsonl");
        fs::write(
            &closed,
            b"{\"ts\":\"2026-11-26T00:00:00.000000000Z\",\"actor\":\"alice\"}\n",
        )
        .unwrap();
        fs::write(dir.path().join("audit.2026-11-26.0002.jsonl"), b"").unwrap();
        let key = ChainKey::new("k1", b"unit key");
        build_for_closed(&closed, &IndexKey::derive(&key)).unwrap();
        let trail = crate::trail::Trail::open(dir.path(), None).unwrap();
        (dir, trail, ring(key))
    }

    fn ring(key: ChainKey) -> KeyRing {
        let mut r = KeyRing::default();
        r.add(key);
        r
    }

    #[test]
    fn an_index_holds_only_under_its_key_its_key_id_and_its_file() {
        let (dir, trail, keys) = indexed();
        let file = &trail.files()[0];
        let ix = FileIndex::load(file, &keys).unwrap();
        assert!(ix.describes(file).is_some());
        assert!(!ix.contains("actor", "mallory"));
        assert!(ix.contains("actor", "alice"));
        let path = index_path(file.path());
        let genuine = fs::read_to_string(&path).unwrap();
        let (body, tag) = genuine.split_once('\n').unwrap();

        let other_key = ring(ChainKey::new("k1", b"another key"));
        assert!(matches!(
            FileIndex::load(file, &other_key),
            Err(Rejected::BadTag)
        ));
        let other_id = ring(ChainKey::new("k2", b"unit key"));
        assert!(matches!(
            FileIndex::load(file, &other_id),
            Err(Rejected::NoKey(_))
        ));
        // The same tag under another key id (whose key is the same bytes) does not hold.
        let mut any = KeyRing::default();
        any.set_any(ChainKey::new("_", b"unit key"));
        fs::write(&path, format!("{body}\n{}", tag.replace(" k1 ", " k2 "))).unwrap();
        assert!(matches!(FileIndex::load(file, &any), Err(Rejected::BadTag)));
        // A body changed by one value.
        fs::write(
            &path,
            format!("{}\n{tag}", body.replace("\"records\":1", "\"records\":2")),
        )
        .unwrap();
        assert!(matches!(
            FileIndex::load(file, &keys),
            Err(Rejected::BadTag)
        ));
        // The old format: a bare checksum line.
        let sum = hex(&Sha256::digest(body.as_bytes()));
        fs::write(&path, format!("{body}\n{sum}")).unwrap();
        assert!(matches!(
            FileIndex::load(file, &keys),
            Err(Rejected::Unauthenticated)
        ));
        // Genuine again, then the file changes: authentic, but of other bytes.
        fs::write(&path, &genuine).unwrap();
        let data = dir.path().join("audit.2026-11-26.0001.jsonl");
        let mut bytes = fs::read(&data).unwrap();
        bytes[30] ^= 1;
        fs::write(&data, &bytes).unwrap();
        assert!(FileIndex::load(file, &keys)
            .unwrap()
            .describes(file)
            .is_none());
    }

    #[test]
    fn an_index_that_is_not_a_regular_file_is_not_read() {
        let (dir, trail, keys) = indexed();
        let file = &trail.files()[0];
        let path = index_path(file.path());
        fs::remove_file(&path).unwrap();
        let fifo = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a directory entry.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            FileIndex::load(file, &keys),
            Err(Rejected::Unreadable(_))
        ));
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(matches!(
            FileIndex::load(file, &keys),
            Err(Rejected::Unreadable(_))
        ));
    }

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
