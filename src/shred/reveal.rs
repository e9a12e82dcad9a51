//! Readers' side: encrypted values shown in plain when the key store allows it, as encrypted
//! without it, and as erased (with the erasure record's `seq`) after an erasure.

use super::{store, Cipher, MasterKey, ShredError, SubjectHash, ENC_PREFIX};
use crate::trail::{LineReader, Trail};
use crate::KeySource;
use base64::Engine;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::ops::ControlFlow;
use std::path::Path;

/// Shows the encrypted fields of audit records as a reader may see them.
///
/// Built from the trail (its `erasure` records) and, optionally, the key store and master key.
/// A subject named by an erasure record in the trail is shown as erased even if the store
/// still holds its key: restoring an older store does not undo an erasure here.
#[derive(Default)]
pub struct Revealer {
    master: Option<MasterKey>,
    pub(super) keys: HashMap<SubjectHash, Cipher>,
    /// Erased subjects: the `seq` of their erasure record (`None`: erased in the store only).
    pub(super) erased: HashMap<SubjectHash, Option<u64>>,
    /// The store generation is older than an erasure record in the trail says it was.
    rolled_back: bool,
}

impl std::fmt::Debug for Revealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealer")
            .field("keys", &self.keys.len())
            .field("erased", &self.erased.len())
            .finish_non_exhaustive()
    }
}

/// The erasure records of a trail: subject → (seq, store generation).
pub(crate) fn erasures(
    dir: &Path,
    prefix: Option<&str>,
) -> io::Result<HashMap<SubjectHash, (u64, u64)>> {
    let trail = Trail::open(dir, prefix).map_err(io::Error::other)?;
    let mut found = HashMap::new();
    let reader = LineReader::new();
    for file in trail.files() {
        let read = reader.read_lines(file, |line| {
            if crate::chain::control_kind(line) == Some(b"erasure".as_slice()) {
                if let Ok(v) = serde_json::from_slice::<Value>(line) {
                    let subject = v["subject"].as_str().and_then(SubjectHash::parse);
                    if let (Some(h), Some(seq)) = (subject, v["seq"].as_u64()) {
                        let generation = v["store_generation"].as_u64().unwrap_or(0);
                        found.entry(h).or_insert((seq, generation));
                    }
                }
            }
            ControlFlow::Continue(())
        });
        if let Some(problem) = read.problem() {
            return Err(io::Error::other(problem.to_string()));
        }
    }
    Ok(found)
}

/// The subjects named by the erasure records of a keyed trail whose MAC holds under `key`
/// (each checked against the line before it, or its own `prev` when it opens a file): what an
/// attacker who can write the trail directory cannot forge.
pub(crate) fn authenticated_erasures(
    dir: &Path,
    prefix: Option<&str>,
    key: &hmac::Hmac<sha2::Sha256>,
) -> io::Result<Vec<SubjectHash>> {
    use crate::trail::trailer;
    let trail = Trail::open(dir, prefix).map_err(io::Error::other)?;
    let mut found = Vec::new();
    let reader = LineReader::new();
    let mut prev: Option<[u8; 32]> = None;
    for file in trail.files() {
        let read = reader.read_lines(file, |line| {
            let t = trailer::parse(line);
            if crate::chain::control_kind(line) == Some(b"erasure".as_slice()) {
                if let (Some(t), Some(p)) = (&t, t.as_ref().and_then(|t| t.prev).or(prev)) {
                    let mac = trailer::compute(Some(key), &p, &line[..t.signed_len]);
                    let subject = serde_json::from_slice::<Value>(line)
                        .ok()
                        .and_then(|v| v["subject"].as_str().and_then(SubjectHash::parse));
                    if let (true, Some(h)) = (mac == t.mac, subject) {
                        found.push(h);
                    }
                }
            }
            prev = t.map(|t| t.mac);
            ControlFlow::Continue(())
        });
        if let Some(problem) = read.problem() {
            return Err(io::Error::other(problem.to_string()));
        }
    }
    Ok(found)
}

impl Revealer {
    /// Reads the erasure records of the trail in `dir` (files of `prefix`, or the one prefix
    /// there) and, when given, the key store with its master key.
    ///
    /// # Errors
    /// The trail cannot be read, the master key cannot be loaded, or the store does not
    /// decrypt under it.
    pub fn open(
        dir: &Path,
        prefix: Option<&str>,
        store: Option<(&Path, &KeySource)>,
    ) -> Result<Revealer, ShredError> {
        let trail_erasures =
            erasures(dir, prefix).map_err(|e| ShredError::io("cannot read the trail", dir, e))?;
        let mut r = Revealer::default();
        let mut newest_generation = 0;
        for (h, (seq, generation)) in &trail_erasures {
            r.erased.insert(*h, Some(*seq));
            newest_generation = newest_generation.max(*generation);
        }
        if let Some((path, source)) = store {
            let master = MasterKey::load(source)?;
            let contents = store::load(path, &master)?;
            r.rolled_back = contents.generation < newest_generation;
            for h in &contents.erased {
                r.erased.entry(*h).or_insert(None);
            }
            for (h, k) in &contents.keys {
                if !r.erased.contains_key(h) {
                    r.keys.insert(*h, Cipher::new(k));
                }
            }
            r.master = Some(master);
        }
        Ok(r)
    }

    /// A reader without the key store: every encrypted value is shown as `"[encrypted]"`,
    /// without reading the trail for erasure records.
    pub fn without_keys() -> Revealer {
        Revealer::default()
    }

    /// Whether the store is older than the newest erasure the trail records (a restored
    /// backup): its keys for erased subjects are ignored.
    pub fn store_rolled_back(&self) -> bool {
        self.rolled_back
    }

    /// The keyed hash of a subject name (`None` without the key store's master key).
    pub fn subject_hash(&self, name: &str) -> Option<SubjectHash> {
        self.master.as_ref().map(|m| m.subject(name))
    }

    /// How subject names are hashed, when this reader has the master key.
    pub fn subject_hash_fn(&self) -> Option<impl Fn(&str) -> SubjectHash + '_> {
        let master = self.master.as_ref()?;
        Some(move |name: &str| master.subject(name))
    }

    /// The `seq` of the erasure record of `subject`, if the trail holds one (`Some(None)`: the
    /// store says it was erased, the trail holds no record).
    pub fn erased(&self, subject: &SubjectHash) -> Option<Option<u64>> {
        self.erased.get(subject).copied()
    }

    /// The subject an encrypted JSON value belongs to.
    pub fn subject_of(value: &Value) -> Option<SubjectHash> {
        let s = value.as_str()?.strip_prefix(ENC_PREFIX)?;
        SubjectHash::parse(s.split(':').next()?)
    }

    /// The line with every encrypted value replaced by what this reader may see; the line
    /// itself when it holds none.
    pub fn reveal_line<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        if memchr::memmem::find(line, b"\"enc:v1:").is_none() {
            return Cow::Borrowed(line);
        }
        let Ok(mut v) = serde_json::from_slice::<Value>(line) else {
            return Cow::Borrowed(line);
        };
        self.reveal(&mut v);
        match serde_json::to_vec(&v) {
            Ok(out) => Cow::Owned(out),
            Err(_) => Cow::Borrowed(line),
        }
    }

    /// Replaces the encrypted values of a record (top-level and span fields) in place.
    pub fn reveal(&self, record: &mut Value) {
        let ts = record["ts"].as_str().unwrap_or("").to_owned();
        let Some(map) = record.as_object_mut() else {
            return;
        };
        for (name, value) in map.iter_mut() {
            self.reveal_field(name, &ts, value);
        }
        if let Some(spans) = map.get_mut("spans").and_then(Value::as_array_mut) {
            for span in spans {
                if let Some(fields) = span.get_mut("fields").and_then(Value::as_object_mut) {
                    for (name, value) in fields.iter_mut() {
                        self.reveal_field(name, &ts, value);
                    }
                }
            }
        }
    }

    fn reveal_field(&self, name: &str, ts: &str, value: &mut Value) {
        let Some(rest) = value.as_str().and_then(|s| s.strip_prefix(ENC_PREFIX)) else {
            return;
        };
        let shown = match rest.split_once(':') {
            Some((h, ct)) => match SubjectHash::parse(h) {
                Some(h) => self.show(&h, name, ts, ct),
                None => Value::from("[encrypted: malformed]"),
            },
            None => Value::from("[encrypted: malformed]"),
        };
        *value = shown;
    }

    fn show(&self, h: &SubjectHash, name: &str, ts: &str, ct: &str) -> Value {
        match self.erased.get(h) {
            Some(Some(seq)) => return Value::from(format!("[erased: erasure record seq {seq}]")),
            Some(None) => return Value::from("[erased]"),
            None => {}
        }
        let Some(cipher) = self.keys.get(h) else {
            return Value::from("[encrypted]");
        };
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(ct)
            .ok()
            .and_then(|raw| cipher.open(name, ts, &raw))
            .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
            .unwrap_or_else(|| Value::from("[encrypted: does not decrypt]"))
    }
}
