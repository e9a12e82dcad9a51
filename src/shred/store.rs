//! The key store: one random data key per subject, in one file wrapped by the master key.
//!
//! The file is one line, `tracing-audit-keystore:v1:<base64(nonce ‖ ciphertext)>`, the
//! XChaCha20-Poly1305 encryption under a key derived from the master key of:
//! `generation` (u64 LE, +1 at every rewrite), the erased subjects (their 16-byte keyed hashes),
//! the erasures begun and not finished (same), and the live entries (16-byte keyed hash, 32-byte data key). Everything in it is
//! authenticated, so a store cannot be edited without the master key, and nothing in it names a
//! subject: only keyed hashes, which without the master key cannot be tested against a name.
//!
//! The store is replaced atomically (`trail::write::replace_file`: a fresh 0600 temporary file,
//! fsynced, renamed over the store, directory fsynced) and never copied: after a rewrite without
//! a key, no file the crate wrote holds that key. One process at a time holds the store's lock
//! (`.<name>.lock` beside it) while it may rewrite the store: the writer for its lifetime, or
//! `tracing-audit erase` when no writer runs.

use super::{Cipher, MasterKey, ShredError, SubjectHash, DATA_KEY_LEN, HASH_LEN};
use crate::trail::write;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

const PREFIX: &str = "tracing-audit-keystore:v1:";
/// Additional data of the store's encryption, so no other ciphertext under the wrap key passes.
const STORE_AD: &[u8] = b"tracing-audit keystore v1";
/// Largest store read: 48 bytes a subject, about five million subjects.
const MAX_STORE_BYTES: u64 = 256 << 20;
const NONCE_LEN: usize = 24;

/// The decrypted contents of a key store.
#[derive(Default)]
pub(crate) struct Contents {
    /// Rewrites so far; an erasure record names the generation that destroyed its key.
    pub(crate) generation: u64,
    /// Subjects whose key was destroyed: never given a key again.
    pub(crate) erased: BTreeSet<SubjectHash>,
    /// Erasures begun (their record may be in the trail) but whose key is not destroyed yet.
    pub(crate) pending: BTreeSet<SubjectHash>,
    pub(crate) keys: HashMap<SubjectHash, [u8; DATA_KEY_LEN]>,
}

impl Drop for Contents {
    fn drop(&mut self) {
        for key in self.keys.values_mut() {
            wipe(key);
        }
    }
}

/// Overwrites key bytes in memory before they are freed.
pub(crate) fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference; the volatile write only keeps
        // the compiler from eliding the wipe of memory about to be freed.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

impl Contents {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 16 * self.erased.len() + 48 * self.keys.len());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&(self.erased.len() as u64).to_le_bytes());
        for h in &self.erased {
            out.extend_from_slice(&h.0);
        }
        out.extend_from_slice(&(self.pending.len() as u64).to_le_bytes());
        for h in &self.pending {
            out.extend_from_slice(&h.0);
        }
        out.extend_from_slice(&(self.keys.len() as u64).to_le_bytes());
        for (h, k) in &self.keys {
            out.extend_from_slice(&h.0);
            out.extend_from_slice(k);
        }
        out
    }

    fn decode(mut b: &[u8]) -> Option<Contents> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = b.split_at_checked(n)?;
            *b = rest;
            Some(head)
        }
        fn count(b: &mut &[u8]) -> Option<usize> {
            let v = u64::from_le_bytes(take(b, 8)?.try_into().ok()?);
            usize::try_from(v).ok()
        }
        let mut c = Contents::default();
        c.generation = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
        for _ in 0..count(&mut b)? {
            c.erased
                .insert(SubjectHash(take(&mut b, HASH_LEN)?.try_into().ok()?));
        }
        for _ in 0..count(&mut b)? {
            c.pending
                .insert(SubjectHash(take(&mut b, HASH_LEN)?.try_into().ok()?));
        }
        for _ in 0..count(&mut b)? {
            let h = SubjectHash(take(&mut b, HASH_LEN)?.try_into().ok()?);
            let k: [u8; DATA_KEY_LEN] = take(&mut b, DATA_KEY_LEN)?.try_into().ok()?;
            c.keys.insert(h, k);
        }
        b.is_empty().then_some(c)
    }
}

/// Reads and decrypts the store at `path`; a missing file is an empty store (generation 0).
pub(crate) fn load(path: &Path, master: &MasterKey) -> Result<Contents, ShredError> {
    let bytes = match crate::trail::open::read_capped(path, MAX_STORE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contents::default()),
        Err(e) => return Err(ShredError::io("cannot read the key store", path, e)),
    };
    let text = std::str::from_utf8(&bytes).unwrap_or("");
    let body = text
        .trim_end_matches('\n')
        .strip_prefix(PREFIX)
        .ok_or_else(|| ShredError::store(path, "not a tracing-audit key store"))?;
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(body)
        .map_err(|_| ShredError::store(path, "not a tracing-audit key store"))?;
    let (nonce, ct) = raw
        .split_at_checked(NONCE_LEN)
        .ok_or_else(|| ShredError::store(path, "truncated"))?;
    let aead = XChaCha20Poly1305::new((&master.wrap).into());
    let mut plain = aead
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: STORE_AD,
            },
        )
        .map_err(|_| {
            ShredError::store(
                path,
                "does not decrypt under this master key (wrong key, or the file was changed)",
            )
        })?;
    let contents = Contents::decode(&plain);
    wipe(&mut plain);
    contents.ok_or_else(|| ShredError::store(path, "malformed contents"))
}

/// Encrypts `contents` and replaces the store at `path` with it, durably.
pub(crate) fn save(path: &Path, master: &MasterKey, contents: &Contents) -> Result<(), ShredError> {
    let (dir, name) = split(path)?;
    let mut plain = contents.encode();
    let nonce =
        super::random::<NONCE_LEN>().map_err(|e| ShredError::io("no randomness", path, e))?;
    let aead = XChaCha20Poly1305::new((&master.wrap).into());
    let ct = aead.encrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: &plain,
            aad: STORE_AD,
        },
    );
    wipe(&mut plain);
    let ct = ct.map_err(|_| ShredError::store(path, "encryption failed"))?;
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&ct);
    let mut line = PREFIX.as_bytes().to_vec();
    line.extend_from_slice(
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(&raw)
            .as_bytes(),
    );
    line.push(b'\n');
    write::replace_file(dir, name, &line, 0o600)
        .map_err(|e| ShredError::io("cannot replace the key store", path, e))
}

/// The directory and file name of the store.
fn split(path: &Path) -> Result<(&Path, &str), ShredError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ShredError::store(path, "the key store path has no file name"))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir, name))
}

/// The store's lock: whoever holds it is the one process that may rewrite the store.
pub(crate) fn lock(path: &Path) -> Result<File, ShredError> {
    let (dir, name) = split(path)?;
    write::lock(dir, name, 0o600).map_err(|e| {
        ShredError::io(
            "the key store is in use by a running writer (erase through its AuditHandle)",
            path,
            e,
        )
    })
}

/// A key store opened for writing: its contents, its lock and where it lives.
pub(crate) struct OpenStore {
    pub(crate) path: PathBuf,
    pub(crate) master: MasterKey,
    pub(crate) contents: Contents,
    /// Data keys ready for use, by subject.
    pub(crate) ciphers: HashMap<SubjectHash, Cipher>,
    _lock: File,
}

impl OpenStore {
    pub(crate) fn open(path: &Path, master: MasterKey) -> Result<OpenStore, ShredError> {
        let lock = lock(path)?;
        let contents = load(path, &master)?;
        let ciphers = contents
            .keys
            .iter()
            .map(|(h, k)| (*h, Cipher::new(k)))
            .collect();
        Ok(OpenStore {
            path: path.to_owned(),
            master,
            contents,
            ciphers,
            _lock: lock,
        })
    }

    /// The cipher of `subject`, creating (and durably storing) a fresh key for a new subject.
    /// `None` when the subject was erased (its fields are then written as erased) or the store
    /// cannot be written.
    pub(crate) fn cipher_for(
        &mut self,
        subject: SubjectHash,
    ) -> Result<Option<&Cipher>, ShredError> {
        if self.contents.erased.contains(&subject) {
            return Ok(None);
        }
        if !self.ciphers.contains_key(&subject) {
            let key = super::random::<DATA_KEY_LEN>()
                .map_err(|e| ShredError::io("no randomness", &self.path, e))?;
            self.contents.keys.insert(subject, key);
            self.contents.generation += 1;
            if let Err(e) = save(&self.path, &self.master, &self.contents) {
                self.contents.keys.remove(&subject);
                return Err(e);
            }
            self.ciphers.insert(subject, Cipher::new(&key));
        }
        Ok(self.ciphers.get(&subject))
    }

    /// Records that the erasure of `subject` begins (the key stays until [`destroy`]), so a
    /// crash before the key is destroyed is resolved from the store alone on restart, never
    /// from a line in the trail directory. Returns the generation `destroy` will write.
    pub(crate) fn begin(&mut self, subject: SubjectHash) -> Result<u64, ShredError> {
        if self.contents.pending.insert(subject) {
            self.contents.generation += 1;
            if let Err(e) = save(&self.path, &self.master, &self.contents) {
                self.contents.pending.remove(&subject);
                return Err(e);
            }
        }
        Ok(self.contents.generation + 1)
    }

    /// Withdraws a begun erasure whose record never reached the trail: the key stays.
    pub(crate) fn cancel(&mut self, subject: SubjectHash) -> Result<(), ShredError> {
        if self.contents.pending.remove(&subject) {
            self.contents.generation += 1;
            save(&self.path, &self.master, &self.contents)?;
        }
        Ok(())
    }

    /// Destroys the key of `subject` and records it as erased: the store is rewritten without
    /// the key (fsynced) before this returns. Returns the new generation.
    pub(crate) fn destroy(&mut self, subject: SubjectHash) -> Result<u64, ShredError> {
        let mut removed = self.contents.keys.remove(&subject);
        self.ciphers.remove(&subject);
        let newly = self.contents.erased.insert(subject);
        let was_pending = self.contents.pending.remove(&subject);
        if removed.is_some() || newly || was_pending {
            self.contents.generation += 1;
            save(&self.path, &self.master, &self.contents)?;
        }
        if let Some(k) = removed.as_mut() {
            wipe(k);
        }
        Ok(self.contents.generation)
    }
}
