//! Crypto-shredding: personal fields of audit records encrypted under a per-subject key, so that
//! one person can be erased from a year of trail by destroying one key, without touching a file,
//! a seal or a checkpoint (they all commit to the ciphertext).
//!
//! - **Subject.** Each audit record belongs to the subject named by one of its lifted keys
//!   (default `actor`; [`ShredConfig::subject`]). A record without one belongs to the empty
//!   subject `""`.
//! - **Key store.** One random 256-bit data key per subject, in one file wrapped by a master key
//!   ([`KeySource`]); see `store.rs` for the format. Subjects are named there and in the trail
//!   only by their *keyed hash*: the first 16 bytes of HMAC-SHA256 under a key derived from the
//!   master key, over the subject's JSON string as the record holds it.
//! - **Encrypted fields.** The personal fields (default `actor`, `src_ip`, `session`, at the top
//!   of the record and in span fields) are written as a JSON string
//!   `"enc:v1:<keyed subject hash, 32 hex>:<base64 (no padding) of nonce ‖ ciphertext>"`:
//!   XChaCha20-Poly1305 of the field's JSON value under the subject's key, with a 192-bit nonce
//!   (a random 128-bit prefix per thread and a 64-bit counter), and additional data
//!   `"tracing-audit shred v1\0" ‖ field name ‖ "\0" ‖ the record's ts`, so a ciphertext cannot
//!   be moved to another field or another record and still decrypt.
//! - **Erasure** ([`AuditHandle::erase`](crate::layer::AuditHandle::erase),
//!   `tracing-audit erase`): a chained `erasure` control record naming the keyed hash,
//!   who asked, why, and the store generation that destroys the key, written and fsynced; then
//!   the store rewritten without the key (its hash kept in the authenticated erased list),
//!   fsynced. Before both, the store records the erasure as begun, so a crash anywhere is
//!   resolved from the store at the writer's next start: completed when the record is in the
//!   trail, withdrawn when it is not. Readers never decrypt a
//!   subject that an erasure record in the trail names, whatever the store holds, so restoring
//!   an older store does not undo an erasure in any reader of this crate.

mod reveal;
pub(crate) mod store;

pub use reveal::Revealer;

use crate::trail::{hex, json, time};
use crate::KeySource;
use chacha20poly1305::aead::{AeadInPlace, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

pub(crate) const HASH_LEN: usize = 16;
pub(crate) const DATA_KEY_LEN: usize = 32;
/// What every encrypted value starts with (inside its JSON quotes).
pub const ENC_PREFIX: &str = "enc:v1:";
const FIELD_AD: &[u8] = b"tracing-audit shred v1\0";
const TAG_LEN: usize = 16;
const NONCE_LEN: usize = 24;

/// The lifted keys that can be personal fields or the subject, in the layer's lifted order.
const LIFTED: [&str; 7] = [
    "actor", "action", "resource", "outcome", "reason", "src_ip", "session",
];

/// A subject's keyed hash: what the store, the trail and the erasure record name it by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SubjectHash(pub(crate) [u8; HASH_LEN]);

impl SubjectHash {
    /// The hash as 32 lowercase hex digits, as records write it.
    pub fn to_hex(&self) -> String {
        hex::to_hex(&self.0)
    }

    fn parse(s: &str) -> Option<SubjectHash> {
        if s.len() != 2 * HASH_LEN {
            return None;
        }
        let mut out = [0u8; HASH_LEN];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let digit = |b: u8| (b as char).to_digit(16);
            out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
        }
        Some(SubjectHash(out))
    }
}

/// Keys derived from the master key: one wraps the store, one hashes subjects.
#[derive(Clone)]
pub(crate) struct MasterKey {
    wrap: [u8; 32],
    index: Hmac<Sha256>,
}

impl MasterKey {
    pub(crate) fn derive(master: &[u8]) -> MasterKey {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        let index = derive(b"tracing-audit shred subject key v1");
        MasterKey {
            wrap: derive(b"tracing-audit shred store key v1"),
            index: <Hmac<Sha256> as Mac>::new_from_slice(&index)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        }
    }

    pub(crate) fn load(source: &KeySource) -> Result<MasterKey, ShredError> {
        let mut bytes = source.load().map_err(ShredError::master)?;
        let key = MasterKey::derive(&bytes);
        store::wipe(&mut bytes);
        Ok(key)
    }

    /// The keyed hash of a subject given as the JSON value a record holds (`"alice"`).
    pub(crate) fn subject_json(&self, json_value: &[u8]) -> SubjectHash {
        let mut mac = self.index.clone();
        mac.update(json_value);
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut h = [0u8; HASH_LEN];
        h.copy_from_slice(&full[..HASH_LEN]);
        SubjectHash(h)
    }

    /// The keyed hash of a subject given by name (as `erase --subject` or `query --actor` do).
    pub(crate) fn subject(&self, name: &str) -> SubjectHash {
        let mut quoted = Vec::with_capacity(name.len() + 2);
        json::write_str(&mut quoted, name);
        self.subject_json(&quoted)
    }
}

/// One subject's data key, ready to encrypt and decrypt.
#[derive(Clone)]
pub(crate) struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub(crate) fn new(key: &[u8; DATA_KEY_LEN]) -> Cipher {
        Cipher(XChaCha20Poly1305::new(key.into()))
    }

    /// Appends `"enc:v1:<hash>:<base64>"` for the JSON value `value` of field `field`.
    fn seal(
        &self,
        subject: SubjectHash,
        field: &str,
        ts: &[u8],
        value: &[u8],
        scratch: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        let Some(nonce) = next_nonce() else {
            return false;
        };
        scratch.clear();
        scratch.extend_from_slice(&nonce);
        scratch.extend_from_slice(value);
        let mut ad_buf = [0u8; 96];
        let Some(ad) = field_ad(field, ts, &mut ad_buf) else {
            return false;
        };
        let (n, body) = scratch.split_at_mut(NONCE_LEN);
        let Ok(tag) = self
            .0
            .encrypt_in_place_detached(XNonce::from_slice(n), ad, body)
        else {
            return false;
        };
        scratch.extend_from_slice(&tag);
        out.push(b'"');
        out.extend_from_slice(ENC_PREFIX.as_bytes());
        hex::push_hex(&subject.0, out);
        out.push(b':');
        base64::engine::general_purpose::STANDARD_NO_PAD.encode_string_bytes(scratch, out);
        out.push(b'"');
        true
    }

    /// Decrypts the ciphertext part of an encrypted value back to the field's JSON value.
    fn open(&self, field: &str, ts: &str, raw: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ct) = raw.split_at_checked(NONCE_LEN)?;
        if ct.len() < TAG_LEN {
            return None;
        }
        let mut ad_buf = [0u8; 96];
        let ad = field_ad(field, ts.as_bytes(), &mut ad_buf)?;
        use chacha20poly1305::aead::Aead;
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: ad })
            .ok()
    }
}

/// The additional data of a field's ciphertext, `FIELD_AD ‖ field ‖ 0 ‖ ts`, assembled on the
/// stack (`None` if it does not fit: personal fields have short names, and `ts` is fixed-size).
fn field_ad<'b>(field: &str, ts: &[u8], buf: &'b mut [u8; 96]) -> Option<&'b [u8]> {
    let len = FIELD_AD.len() + field.len() + 1 + ts.len();
    let out = buf.get_mut(..len)?;
    let (head, rest) = out.split_at_mut(FIELD_AD.len());
    head.copy_from_slice(FIELD_AD);
    let (name, rest) = rest.split_at_mut(field.len());
    name.copy_from_slice(field.as_bytes());
    rest[0] = 0;
    rest[1..].copy_from_slice(ts);
    Some(out)
}

/// Base64 into a `Vec<u8>` without an intermediate `String`.
trait EncodeBytes {
    fn encode_string_bytes(&self, input: &[u8], out: &mut Vec<u8>);
}

impl<E: base64::Engine> EncodeBytes for E {
    fn encode_string_bytes(&self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let len = base64::encoded_len(input.len(), false).unwrap_or(0);
        out.resize(start + len, 0);
        let written = self.encode_slice(input, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
    }
}

thread_local! {
    /// This thread's nonce prefix (128 random bits) and counter: unique nonces without a system
    /// call per value. Two threads or processes repeat a nonce only if their random prefixes
    /// collide (probability about n²/2¹²⁹).
    static NONCE: Cell<Option<([u8; 16], u64)>> = const { Cell::new(None) };
}

fn next_nonce() -> Option<[u8; NONCE_LEN]> {
    NONCE
        .try_with(|cell| {
            let (prefix, counter) = match cell.get() {
                Some(state) => state,
                None => (random::<16>().ok()?, 0),
            };
            let next = counter.checked_add(1)?;
            cell.set(Some((prefix, next)));
            let mut nonce = [0u8; NONCE_LEN];
            nonce[..16].copy_from_slice(&prefix);
            nonce[16..].copy_from_slice(&counter.to_le_bytes());
            Some(nonce)
        })
        .ok()
        .flatten()
}

pub(crate) fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(io::Error::from)?;
    Ok(b)
}

/// What the layer encrypts, and with which store.
///
/// ```no_run
/// use tracing_audit::{KeySource, shred::ShredConfig, sink::FileSink, layer::AuditLayer};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (layer, guard) = AuditLayer::builder()
///     .audit_to_files(FileSink::new("logs/audit"))
///     .debug_to_files(FileSink::new("logs/debug"))
///     .shred(ShredConfig::new("/var/lib/app/subjects.keys", KeySource::file("/etc/app/master.key")))
///     .build::<tracing_subscriber::Registry>()?;
/// # drop((layer, guard)); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ShredConfig {
    store: PathBuf,
    master: KeySource,
    subject: usize,
    personal: [bool; 7],
}

impl ShredConfig {
    /// Encrypts `actor`, `src_ip` and `session` under the key of the record's `actor`, with the
    /// key store at `store` (created on first use) wrapped by `master`.
    pub fn new(store: impl Into<PathBuf>, master: KeySource) -> Self {
        ShredConfig {
            store: store.into(),
            master,
            subject: 0,
            personal: [true, false, false, false, false, true, true],
        }
    }

    /// The lifted key that names a record's subject (`actor`, `session`, `resource`, ...).
    ///
    /// # Errors
    /// `name` is not one of the lifted audit keys.
    pub fn subject(mut self, name: &str) -> Result<Self, ShredError> {
        self.subject = lifted_index(name)?;
        Ok(self)
    }

    /// The lifted keys written encrypted (at the top of a record and in span fields).
    ///
    /// # Errors
    /// A name is not one of the lifted audit keys.
    pub fn personal(mut self, names: &[&str]) -> Result<Self, ShredError> {
        let mut personal = [false; 7];
        for name in names {
            personal[lifted_index(name)?] = true;
        }
        self.personal = personal;
        Ok(self)
    }
}

fn lifted_index(name: &str) -> Result<usize, ShredError> {
    LIFTED
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| ShredError {
            what: format!(
                "{name:?} is not one of the audit keys a record lifts ({})",
                LIFTED.join(", ")
            ),
            source: None,
        })
}

/// The layer's side of crypto-shredding: the open store and the encryption of records.
pub(crate) struct Shredder {
    subject: usize,
    personal: [bool; 7],
    master: MasterKey,
    store: Mutex<store::OpenStore>,
    /// Bumped by every erasure, so thread caches of a subject's key are dropped.
    epoch: AtomicU64,
    /// Records whose personal fields could not be encrypted (written as `"[unencrypted: ..]"`
    /// markers instead, never in plain).
    pub(crate) failures: AtomicU64,
}

impl fmt::Debug for Shredder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shredder").finish_non_exhaustive()
    }
}

/// The last subject a thread encrypted for: layer id, erasure epoch, subject JSON, hash, key.
type LastSubject = (u64, u64, Vec<u8>, SubjectHash, Cipher);

thread_local! {
    /// Saves the keyed hash and the store lookup when a thread's records keep one subject.
    static LAST: std::cell::RefCell<Option<LastSubject>> = const { std::cell::RefCell::new(None) };
}

/// A value the layer writes instead of a personal field it could not encrypt.
const UNENCRYPTED: &[u8] = b"\"[not written: no key for this subject]\"";

impl Shredder {
    pub(crate) fn open(config: &ShredConfig) -> Result<Shredder, ShredError> {
        let master = MasterKey::load(&config.master)?;
        let store = store::OpenStore::open(&config.store, master.clone())?;
        Ok(Shredder {
            subject: config.subject,
            personal: config.personal,
            master,
            store: Mutex::new(store),
            epoch: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Whether span fields called `name` are personal.
    pub(crate) fn is_personal(&self, name: &str) -> bool {
        lifted_index(name).is_ok_and(|k| self.personal[k])
    }

    /// Runs `f` with the subject's hash and cipher (`None`: erased or unavailable).
    fn with_cipher<R>(
        &self,
        layer: u64,
        subject: &[u8],
        f: impl FnOnce(SubjectHash, Option<&Cipher>) -> R,
    ) -> R {
        let epoch = self.epoch.load(Ordering::Acquire);
        let cached = LAST.try_with(|last| {
            let last = last.borrow();
            match &*last {
                Some((l, e, s, h, c)) if *l == layer && *e == epoch && s == subject => {
                    Some((*h, c.clone()))
                }
                _ => None,
            }
        });
        if let Ok(Some((h, c))) = cached {
            return f(h, Some(&c));
        }
        let hash = self.master.subject_json(subject);
        let cipher = match self.store.lock() {
            Ok(mut store) => store.cipher_for(hash).ok().flatten().cloned(),
            Err(_) => None,
        };
        if let Some(c) = &cipher {
            let _ = LAST.try_with(|last| {
                *last.borrow_mut() = Some((layer, epoch, subject.to_vec(), hash, c.clone()));
            });
        }
        f(hash, cipher.as_ref())
    }

    /// Replaces the personal lifted values and the personal span values (at `marks` in
    /// `spans`) of one audit record with their ciphertext. `ts` is the record's timestamp.
    pub(crate) fn seal_record(
        &self,
        layer: u64,
        ts: SystemTime,
        lifted: &mut [Vec<u8>; 7],
        spans: &mut Vec<u8>,
        marks: &[(usize, usize, &'static str)],
        scratch: &mut Vec<u8>,
    ) {
        if marks.is_empty() && !(0..7).any(|k| self.personal[k] && !lifted[k].is_empty()) {
            return;
        }
        let mut ts_buf = Vec::with_capacity(time::RFC3339_LEN);
        time::write_rfc3339(ts, &mut ts_buf);
        let subject = std::mem::take(&mut lifted[self.subject]);
        let subject_json: &[u8] = if subject.is_empty() {
            b"\"\""
        } else {
            &subject
        };
        let mut failed = false;
        self.with_cipher(layer, subject_json, |hash, cipher| {
            let mut out = Vec::new();
            let mut seal = |field: &str, value: &[u8], out: &mut Vec<u8>| match cipher {
                Some(c) if c.seal(hash, field, &ts_buf, value, scratch, out) => {}
                _ => {
                    failed = true;
                    out.extend_from_slice(UNENCRYPTED);
                }
            };
            for k in 0..7 {
                let value: &[u8] = if k == self.subject {
                    &subject
                } else {
                    &lifted[k]
                };
                if !self.personal[k] || value.is_empty() {
                    continue;
                }
                out.clear();
                seal(LIFTED[k], value, &mut out);
                lifted[k].clear();
                lifted[k].extend_from_slice(&out);
            }
            if !marks.is_empty() {
                // Rebuilt once, back to front would shift nothing, but the marks are in order.
                let old = std::mem::take(spans);
                let mut at = 0;
                for &(start, end, field) in marks {
                    spans.extend_from_slice(&old[at..start]);
                    out.clear();
                    seal(field, &old[start..end], &mut out);
                    spans.extend_from_slice(&out);
                    at = end;
                }
                spans.extend_from_slice(&old[at..]);
            }
        });
        if !self.personal[self.subject] {
            lifted[self.subject] = subject;
        }
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn locked(&self) -> Result<std::sync::MutexGuard<'_, store::OpenStore>, ShredError> {
        self.store
            .lock()
            .map_err(|_| ShredError::other("the key store lock is poisoned".to_owned()))
    }

    /// The first step of an erasure: the store records it as begun (fsynced). Returns the
    /// store generation that will destroy the key.
    pub(crate) fn begin(&self, subject: SubjectHash) -> Result<u64, ShredError> {
        self.locked()?.begin(subject)
    }

    /// Withdraws a begun erasure whose record did not become durable.
    pub(crate) fn cancel(&self, subject: SubjectHash) -> Result<(), ShredError> {
        self.locked()?.cancel(subject)
    }

    /// Destroys the key of `subject` after the erasure record is durable: the last step of
    /// an erasure. Returns the store generation after it.
    pub(crate) fn destroy(&self, subject: SubjectHash) -> Result<u64, ShredError> {
        let generation = self.locked()?.destroy(subject)?;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(generation)
    }
}

/// Destroys, in the key store at `store`, the key of every subject that an authenticated
/// `erasure` record of the keyed trail in `dir` names: what restores an erasure after an older
/// copy of the store was put back. Only records whose MAC holds under `chain_key` count, so a
/// line planted in the trail directory cannot destroy a key. Takes the store's lock (refused
/// while a writer holds it). Returns how many keys it destroyed.
///
/// # Errors
/// The store is locked, cannot be read or written, or the trail cannot be read.
pub fn reapply_erasures(
    dir: &Path,
    prefix: Option<&str>,
    chain_key: &crate::chain::ChainKey,
    store_path: &Path,
    master: &KeySource,
) -> Result<usize, ShredError> {
    let master = MasterKey::load(master)?;
    let mut store = store::OpenStore::open(store_path, master)?;
    let erased = reveal::authenticated_erasures(dir, prefix, &chain_key.mac())
        .map_err(|e| ShredError::io("cannot read the trail", dir, e))?;
    let mut destroyed = 0;
    for h in erased {
        if store.contents.keys.contains_key(&h) || !store.contents.erased.contains(&h) {
            store.destroy(h)?;
            destroyed += 1;
        }
    }
    Ok(destroyed)
}

/// What a key store holds, read without taking its lock (for operators and tests).
pub struct StoreInfo {
    master: MasterKey,
    contents: store::Contents,
}

impl fmt::Debug for StoreInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreInfo")
            .field("generation", &self.contents.generation)
            .field("subjects", &self.contents.keys.len())
            .field("erased", &self.contents.erased.len())
            .finish()
    }
}

impl StoreInfo {
    /// Reads and decrypts the store at `path` (a missing store is empty, generation 0).
    ///
    /// # Errors
    /// The master key cannot be loaded, or the store cannot be read or does not decrypt.
    pub fn read(path: &Path, master: &KeySource) -> Result<StoreInfo, ShredError> {
        let master = MasterKey::load(master)?;
        let contents = store::load(path, &master)?;
        Ok(StoreInfo { master, contents })
    }

    /// How many times the store was rewritten.
    pub fn generation(&self) -> u64 {
        self.contents.generation
    }

    /// How many subjects have a key.
    pub fn subjects(&self) -> usize {
        self.contents.keys.len()
    }

    /// Whether the store holds a key for the subject `name`.
    pub fn holds_key(&self, name: &str) -> bool {
        self.contents.keys.contains_key(&self.master.subject(name))
    }

    /// Whether the store lists the subject `name` as erased.
    pub fn is_erased(&self, name: &str) -> bool {
        self.contents.erased.contains(&self.master.subject(name))
    }
}

/// Pause points for this crate's crash tests. Not part of the API.
#[cfg(feature = "_test-hooks")]
#[doc(hidden)]
pub mod test_hooks {
    use std::sync::OnceLock;

    static BEFORE_DESTROY: OnceLock<fn()> = OnceLock::new();

    /// Calls `pause` in [`erase`](crate::layer::AuditHandle::erase) after the erasure record
    /// is durable and before the key is destroyed (a crash test kills the process there).
    pub fn set_before_destroy(pause: fn()) {
        let _ = BEFORE_DESTROY.set(pause);
    }

    pub(crate) fn before_destroy() -> Option<fn()> {
        BEFORE_DESTROY.get().copied()
    }
}

/// An erasure as the trail records it.
#[derive(Clone, Debug)]
pub struct Erasure {
    /// The erased subject's keyed hash.
    pub subject: SubjectHash,
    /// Who asked for it.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// The key store generation written without the subject's key.
    pub generation: u64,
}

impl Erasure {
    /// The record body the sink frames into the chained `erasure` control record.
    pub(crate) fn body(&self, now: SystemTime) -> Vec<u8> {
        let mut b = b"{\"ts\":\"".to_vec();
        time::write_rfc3339(now, &mut b);
        b.extend_from_slice(b"\",\"stream\":\"audit\",\"record\":\"erasure\",\"subject\":\"");
        hex::push_hex(&self.subject.0, &mut b);
        b.extend_from_slice(b"\",\"requested_by\":");
        json::write_str(&mut b, &self.requested_by);
        b.extend_from_slice(b",\"reason\":");
        json::write_str(&mut b, &self.reason);
        b.extend_from_slice(b",\"store_generation\":");
        json::write_u64(&mut b, self.generation);
        b.extend_from_slice(
            b",\"message\":\"the key of this subject was destroyed: its encrypted fields can no longer be read\"}",
        );
        b
    }
}

/// Resolves the erasures a crash left begun (the store lists them as pending, so nothing here
/// is taken from the trail directory on trust): one whose `erasure` record reached the trail
/// is completed (the key destroyed), one whose record did not is withdrawn (the key stays, as
/// if the erasure had not been asked for; the caller saw it fail). The trail is read only when
/// an erasure is pending. Returns (completed, withdrawn).
pub(crate) fn complete_erasures(
    shredder: &Shredder,
    trail_dir: &Path,
    prefix: &str,
) -> Result<(usize, usize), ShredError> {
    let pending: Vec<SubjectHash> = shredder
        .locked()?
        .contents
        .pending
        .iter()
        .copied()
        .collect();
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let recorded = if trail_dir.exists() {
        reveal::erasures(trail_dir, Some(prefix))
            .map_err(|e| ShredError::io("cannot read the trail", trail_dir, e))?
    } else {
        Default::default()
    };
    let (mut completed, mut withdrawn) = (0, 0);
    for h in pending {
        if recorded.contains_key(&h) {
            shredder.destroy(h)?;
            completed += 1;
        } else {
            shredder.cancel(h)?;
            withdrawn += 1;
        }
    }
    Ok((completed, withdrawn))
}

/// A key store or erasure could not be used.
#[derive(Debug)]
pub struct ShredError {
    what: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl ShredError {
    pub(crate) fn io(what: &str, path: &Path, e: io::Error) -> Self {
        ShredError {
            what: format!("{what} ({})", path.display()),
            source: Some(Box::new(e)),
        }
    }

    pub(crate) fn store(path: &Path, what: &str) -> Self {
        ShredError {
            what: format!("key store {}: {what}", path.display()),
            source: None,
        }
    }

    pub(crate) fn master(e: crate::KeyError) -> Self {
        ShredError {
            what: "cannot load the master key".to_owned(),
            source: Some(Box::new(e)),
        }
    }

    pub(crate) fn other(what: String) -> Self {
        ShredError { what, source: None }
    }
}

impl fmt::Display for ShredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl Error for ShredError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn master() -> MasterKey {
        MasterKey::derive(b"unit test master key")
    }

    fn sealed(c: &Cipher, h: SubjectHash, field: &str, ts: &str, value: &[u8]) -> String {
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        assert!(c.seal(h, field, ts.as_bytes(), value, &mut scratch, &mut out));
        serde_json::from_slice::<String>(&out).unwrap()
    }

    #[test]
    fn a_ciphertext_opens_only_for_its_field_and_record() {
        let m = master();
        let h = m.subject("alice");
        let c = Cipher::new(&[7; 32]);
        let ts = "2026-12-06T06:00:00.000000001Z";
        let enc = sealed(&c, h, "actor", ts, br#""alice""#);
        assert!(enc.starts_with(&format!("enc:v1:{}:", h.to_hex())), "{enc}");
        assert!(!enc.contains("alice"));
        let ct = enc.rsplit(':').next().unwrap();
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD_NO_PAD, ct).unwrap();
        assert_eq!(
            c.open("actor", ts, &raw).as_deref(),
            Some(&br#""alice""#[..])
        );
        assert!(
            c.open("src_ip", ts, &raw).is_none(),
            "moved to another field"
        );
        assert!(
            c.open("actor", "2026-12-06T06:00:00.000000002Z", &raw)
                .is_none(),
            "moved to another record"
        );
        assert!(
            Cipher::new(&[8; 32]).open("actor", ts, &raw).is_none(),
            "another key"
        );
        // Two encryptions of one value never look alike (fresh nonces).
        assert_ne!(enc, sealed(&c, h, "actor", ts, br#""alice""#));
    }

    #[test]
    fn subject_hashes_are_keyed_and_match_the_records_json() {
        let (a, b) = (master(), MasterKey::derive(b"another master key"));
        assert_eq!(a.subject("alice"), a.subject_json(br#""alice""#));
        assert_ne!(a.subject("alice"), b.subject("alice"));
        assert_ne!(a.subject("alice"), a.subject("bob"));
    }

    #[test]
    fn the_store_round_trips_and_refuses_another_master_key_or_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.keys");
        let m = master();
        let mut c = store::Contents::default();
        c.generation = 3;
        c.keys.insert(m.subject("bob"), [9; 32]);
        c.erased.insert(m.subject("alice"));
        store::save(&path, &m, &c).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let back = store::load(&path, &m).unwrap();
        assert_eq!(back.generation, 3);
        assert_eq!(back.keys.get(&m.subject("bob")), Some(&[9; 32]));
        assert!(back.erased.contains(&m.subject("alice")));
        assert!(store::load(&path, &MasterKey::derive(b"wrong")).is_err());
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        std::fs::write(&path, bytes).unwrap();
        assert!(
            store::load(&path, &m).is_err(),
            "an edited store is refused"
        );
    }

    #[test]
    fn readers_show_plain_encrypted_or_erased() {
        let m = master();
        let c = Cipher::new(&[5; 32]);
        let ts = "2026-12-06T06:00:00.000000001Z";
        let (ha, hb) = (m.subject("alice"), m.subject("bob"));
        let record = json!({
            "ts": ts,
            "actor": sealed(&c, ha, "actor", ts, br#""alice""#),
            "spans": [{"name": "r", "fields": {"session": sealed(&c, hb, "session", ts, br#""s-1""#)}}],
        });
        let mut r = Revealer::default();
        r.keys.insert(hb, c.clone());
        r.erased.insert(ha, Some(41));
        let mut shown = record.clone();
        r.reveal(&mut shown);
        assert_eq!(shown["actor"], "[erased: erasure record seq 41]");
        assert_eq!(shown["spans"][0]["fields"]["session"], "s-1");
        let mut hidden = record;
        Revealer::without_keys().reveal(&mut hidden);
        assert_eq!(hidden["spans"][0]["fields"]["session"], "[encrypted]");
    }
}
