//! Forward-secure epoch keys: the signing state on disk, key evolution, and the seal signature.
//!
//! Epoch `e` signs with the Ed25519 key whose 32-byte seed is `s_e`; `s_0` comes from the
//! operating system's generator (`keygen`), and `s_{e+1} = SHA-256(DOMAIN_KEY ‖ e ‖ s_e)`. The hash
//! runs one way only: whoever reads the state file at epoch `e` learns `s_e` and every later
//! seed, never an earlier one. Each epoch seal carries the next epoch's public key, signed with the
//! current key, so `pk_0` alone lets anyone follow the keys forward.
//!
//! Deriving the next seed (instead of drawing it fresh) keeps a crash harmless: the state file
//! still holds `s_e` until the seal of epoch `e` is on disk, and a restart that finds that seal
//! derives `s_{e+1}` again.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::error::Error;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const DOMAIN_KEY: &[u8] = b"tracing-audit epoch key v1\0";
const DOMAIN_SEAL: &[u8] = b"tracing-audit epoch seal v1\0";
const STATE_FORMAT: &str = "tracing-audit signing state";
/// The label of a public key (`ed25519:<64 hex>`).
pub(crate) const PK_LABEL: &str = "ed25519:";

/// The first public key of a signed trail (`pk0`): all a verifier needs. It is public.
///
/// Written as one line, `ed25519:<64 hex digits>`, by `tracing-audit keygen`; that is the form
/// [`PublicKey::parse`] and [`PublicKey::from_file`] read.
///
/// ```
/// use tracing_audit::chain::PublicKey;
/// let line = format!("ed25519:{}", "3b".repeat(32));
/// let pk = PublicKey::parse(&line)?;
/// assert_eq!(pk.to_string(), line);
/// # Ok::<(), tracing_audit::chain::SigningError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// Parses `ed25519:<64 lowercase hex>` (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let text = text.trim();
        let hex = text.strip_prefix(PK_LABEL).unwrap_or(text);
        crate::trail::hex::decode_hex32(hex.as_bytes())
            .map(PublicKey)
            .ok_or_else(|| SigningError::new(SigningErrorKind::Malformed, "public key".into()))
    }

    /// Reads a public key file (one line, as `tracing-audit keygen` prints it).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, SigningError> {
        let path = path.as_ref();
        let text =
            crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX)
                .map_err(|e| SigningError::io(format!("public key file {}", path.display()), e))?;
        PublicKey::parse(&text).map_err(|_| {
            SigningError::new(
                SigningErrorKind::Malformed,
                format!("public key file {}", path.display()),
            )
        })
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hex = Vec::with_capacity(64);
        crate::trail::hex::push_hex(&self.0, &mut hex);
        write!(f, "{PK_LABEL}{}", String::from_utf8_lossy(&hex))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// The signing state of a trail: the current epoch and its secret seed, kept in a file that is
/// replaced atomically at every epoch so the seeds of sealed epochs are gone from disk too.
///
/// Create one with [`SigningState::generate`] (what `tracing-audit keygen --state F` does),
/// then load it with [`SigningState::load`] or [`SigningState::from_env`] and hand it to
/// [`ChainConfig::signing`](super::ChainConfig::signing). `Debug` never shows the seed.
///
/// ```
/// use tracing_audit::chain::{ChainConfig, SigningState};
/// let dir = tempfile::tempdir()?;
/// let state = dir.path().join("audit.signing");
/// let pk0 = SigningState::generate(&state)?;
/// let loaded = SigningState::load(&state)?;
/// assert_eq!(loaded.public_key(), pk0);
/// assert!(!format!("{loaded:?}").contains("seed\":"));
/// let _chain = ChainConfig::new().signing(loaded);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SigningState {
    path: Option<PathBuf>,
    epoch: u64,
    seed: Zeroizing<[u8; 32]>,
    pk0: [u8; 32],
    /// The writer's own last durable record (`seq`, MAC) when this state was written: after a
    /// restart, lines past it are ones the writer cannot tell it wrote (see `ChainFramer`).
    tail: Option<(u64, [u8; 32])>,
}

impl Clone for SigningState {
    fn clone(&self) -> Self {
        SigningState {
            path: self.path.clone(),
            epoch: self.epoch,
            seed: Zeroizing::new(*self.seed),
            pk0: self.pk0,
            tail: self.tail,
        }
    }
}

impl fmt::Debug for SigningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningState")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .field("pk0", &PublicKey(self.pk0))
            .field("seed", &"<hidden>")
            .finish()
    }
}

impl SigningState {
    /// Creates a new signing state at `path` (mode 0600; an existing file is never overwritten)
    /// and returns its first public key, `pk0`.
    pub fn generate(path: impl AsRef<Path>) -> Result<PublicKey, SigningError> {
        let path = path.as_ref();
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut seed[..]).map_err(|e| {
            SigningError::io(
                "the operating system's random generator".into(),
                io::Error::other(e),
            )
        })?;
        let pk0 = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let state = SigningState {
            path: Some(path.to_path_buf()),
            epoch: 0,
            seed,
            pk0,
            tail: None,
        };
        let text = state.render();
        let mut file = create_private(path, true)
            .map_err(|e| SigningError::io(format!("signing state {}", path.display()), e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| SigningError::io(format!("signing state {}", path.display()), e))?;
        sync_parent(path)
            .map_err(|e| SigningError::io(format!("signing state {}", path.display()), e))?;
        Ok(PublicKey(pk0))
    }

    /// Loads the signing state from `path`; the sink replaces that file at every epoch.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SigningError> {
        let path = path.as_ref();
        let what = || format!("signing state {}", path.display());
        let text = Zeroizing::new(
            crate::trail::open::read_capped(path, crate::trail::open::SMALL_FILE_MAX)
                .map_err(|e| SigningError::io(what(), e))?,
        );
        let mut state = SigningState::parse(&text)
            .ok_or_else(|| SigningError::new(SigningErrorKind::Malformed, what()))?;
        state.path = Some(path.to_path_buf());
        Ok(state)
    }

    /// Loads the signing state from the file named by the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, SigningError> {
        match std::env::var_os(var) {
            Some(p) if !p.is_empty() => SigningState::load(PathBuf::from(p)),
            _ => Err(SigningError::new(
                SigningErrorKind::NotSet,
                format!("environment variable {var}"),
            )),
        }
    }

    /// The trail's first public key, `pk0`: give it to the people who verify.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.pk0)
    }

    /// The epoch whose key this state holds (every earlier key is erased).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn render(&self) -> String {
        let mut seed = Zeroizing::new(Vec::with_capacity(64));
        crate::trail::hex::push_hex(&self.seed[..], &mut seed);
        let mut pk = Vec::with_capacity(64);
        crate::trail::hex::push_hex(&self.pk0, &mut pk);
        let tail = match &self.tail {
            Some((seq, mac)) => {
                let mut hex = Vec::with_capacity(64);
                crate::trail::hex::push_hex(mac, &mut hex);
                format!(
                    ",\"tail_seq\":{seq},\"tail_mac\":\"{}\"",
                    String::from_utf8_lossy(&hex)
                )
            }
            None => String::new(),
        };
        format!(
            "{{\"format\":\"{STATE_FORMAT}\",\"version\":1,\"epoch\":{},\"pk0\":\"{}\",\"seed\":\"{}\"{tail}}}\n",
            self.epoch,
            String::from_utf8_lossy(&pk),
            String::from_utf8_lossy(&seed)
        )
    }

    fn parse(text: &[u8]) -> Option<SigningState> {
        let v: serde_json::Value = serde_json::from_slice(text).ok()?;
        if v.get("format")?.as_str()? != STATE_FORMAT || v.get("version")?.as_u64()? != 1 {
            return None;
        }
        let epoch = v.get("epoch")?.as_u64()?;
        let pk0 = crate::trail::hex::decode_hex32(v.get("pk0")?.as_str()?.as_bytes())?;
        let seed = Zeroizing::new(crate::trail::hex::decode_hex32(
            v.get("seed")?.as_str()?.as_bytes(),
        )?);
        // Absent in states written before the writer recorded its tail.
        let tail = v.get("tail_seq").and_then(serde_json::Value::as_u64).zip(
            v.get("tail_mac")
                .and_then(serde_json::Value::as_str)
                .and_then(|m| crate::trail::hex::decode_hex32(m.as_bytes())),
        );
        Some(SigningState {
            path: None,
            epoch,
            seed,
            pk0,
            tail,
        })
    }

    /// The current epoch's signing key (zeroized when dropped).
    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }

    /// The next epoch's public key.
    pub(crate) fn next_public(&self) -> [u8; 32] {
        let next = derive(self.epoch, &self.seed);
        SigningKey::from_bytes(&next).verifying_key().to_bytes()
    }

    /// The writer's last durable record (`seq`, MAC) as of the last time the state was written.
    pub(crate) fn tail(&self) -> Option<(u64, [u8; 32])> {
        self.tail
    }

    /// Records the writer's last durable record; written with the state by [`persist`](Self::persist).
    pub(crate) fn set_tail(&mut self, seq: u64, mac: [u8; 32]) {
        self.tail = Some((seq, mac));
    }

    /// Moves to epoch `to` (never backwards), erasing every seed before it from memory.
    pub(crate) fn advance_to(&mut self, to: u64) {
        while self.epoch < to {
            // The assignment drops (and so zeroizes) the old seed.
            self.seed = derive(self.epoch, &self.seed);
            self.epoch += 1;
        }
    }

    /// Replaces the state file with the current state: temp file, fsync, rename, directory fsync.
    pub(crate) fn persist(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        let text = Zeroizing::new(self.render());
        let _ = fs::remove_file(&tmp);
        let mut file = create_private(&tmp, true)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_parent(path)
    }
}

fn derive(epoch: u64, seed: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(DOMAIN_KEY);
    h.update(epoch.to_be_bytes());
    h.update(seed);
    Zeroizing::new(h.finalize().into())
}

fn create_private(path: &Path, new: bool) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true);
    if new {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(parent)?.sync_all()
}

/// The bytes an epoch seal's signature covers: a domain tag, the epoch, and the seal line up to
/// `,"sig":"` (its seq, time, reason, last seq, chain head and next public key).
pub(crate) fn seal_message(epoch: u64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_SEAL.len() + 8 + body.len());
    m.extend_from_slice(DOMAIN_SEAL);
    m.extend_from_slice(&epoch.to_be_bytes());
    m.extend_from_slice(body);
    m
}

pub(crate) fn sign(state: &SigningState, message: &[u8]) -> [u8; 64] {
    state.signing_key().sign(message).to_bytes()
}

/// Why a seal's signature or certified key is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigCheck {
    Ok,
    /// The key is not a valid point, or has small order.
    WeakKey,
    /// Not a valid, canonical signature by that key over that message.
    Invalid,
}

/// Checks a seal signature with `verify_strict` (canonical `s`, no small-order `R` or key).
pub(crate) fn verify(pk: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> SigCheck {
    let Ok(key) = VerifyingKey::from_bytes(pk) else {
        return SigCheck::WeakKey;
    };
    if key.is_weak() {
        return SigCheck::WeakKey;
    }
    let sig = Signature::from_bytes(sig);
    match key.verify_strict(message, &sig) {
        Ok(()) => SigCheck::Ok,
        Err(_) => SigCheck::Invalid,
    }
}

/// Whether a certified next key is usable (a valid point, not of small order).
pub(crate) fn key_ok(pk: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(pk).is_ok_and(|k| !k.is_weak())
}

/// A signing state or public key could not be created, read or parsed.
///
/// `Display` names what could not be used; [`source`](Error::source) carries the I/O cause.
/// Neither ever contains secret material.
#[derive(Debug)]
pub struct SigningError {
    kind: SigningErrorKind,
    what: String,
    source: Option<io::Error>,
}

/// What went wrong with a signing state or public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningErrorKind {
    /// The file could not be read or written (see the error's source), or it already exists.
    Io,
    /// The content is not a signing state (or public key) of this crate.
    Malformed,
    /// The environment variable that should name the state file is unset or empty.
    NotSet,
}

impl SigningError {
    pub(crate) fn new(kind: SigningErrorKind, what: String) -> Self {
        SigningError {
            kind,
            what,
            source: None,
        }
    }
    pub(crate) fn io(what: String, source: io::Error) -> Self {
        SigningError {
            kind: SigningErrorKind::Io,
            what,
            source: Some(source),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> SigningErrorKind {
        self.kind
    }
}

impl fmt::Display for SigningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SigningErrorKind::Io => write!(f, "cannot use {}", self.what),
            SigningErrorKind::Malformed => write!(f, "{} is malformed", self.what),
            SigningErrorKind::NotSet => write!(f, "{} is not set", self.what),
        }
    }
}

impl Error for SigningError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_evolve_one_way_and_the_state_file_forgets_old_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let pk0 = SigningState::generate(&path).unwrap();
        let before = fs::read(&path).unwrap();
        let mut st = SigningState::load(&path).unwrap();
        assert_eq!(st.signing_key().verifying_key().to_bytes(), *pk0.bytes());
        let next = st.next_public();
        st.advance_to(1);
        assert_eq!(st.signing_key().verifying_key().to_bytes(), next);
        st.persist().unwrap();
        let after = fs::read(&path).unwrap();
        assert_ne!(before, after);
        let reloaded = SigningState::load(&path).unwrap();
        assert_eq!((reloaded.epoch(), reloaded.public_key()), (1, pk0));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SigningState::generate(&path).is_err(), "never overwrites");
    }

    #[test]
    fn errors_and_debug_never_show_the_seed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        SigningState::generate(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let seed = v["seed"].as_str().unwrap().to_owned();
        let st = SigningState::load(&path).unwrap();
        assert!(!format!("{st:?}").contains(&seed));
        fs::write(&path, text.replace("\"version\":1", "\"version\":2")).unwrap();
        let err = SigningState::load(&path).unwrap_err();
        assert_eq!(err.kind(), SigningErrorKind::Malformed);
        assert!(!format!("{err:?} {err}").contains(&seed));
    }

    #[test]
    fn strict_verification_rejects_non_canonical_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let pk0 = SigningState::generate(&path).unwrap();
        let st = SigningState::load(&path).unwrap();
        let msg = seal_message(0, b"body");
        let sig = sign(&st, &msg);
        assert_eq!(verify(pk0.bytes(), &msg, &sig), SigCheck::Ok);
        // s + L is the same signature to a lax verifier, but not canonical.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut bad = sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(bad[32 + i]) + u16::from(L[i]) + carry;
            bad[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(verify(pk0.bytes(), &msg, &bad), SigCheck::Invalid);
        assert_eq!(verify(&[0; 32], &msg, &sig), SigCheck::WeakKey);
    }
}

#[cfg(test)]
mod cost {
    use super::*;

    /// Prints what one epoch seal costs the writer thread besides its fsyncs: the signature,
    /// the next public key, and replacing the state file. `cargo test --all-features --lib
    /// seal_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn seal_cost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        SigningState::generate(&path).unwrap();
        let mut st = SigningState::load(&path).unwrap();
        let body = vec![b'x'; 300];
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let next = st.next_public();
            let sig = sign(&st, &seal_message(st.epoch(), &body));
            std::hint::black_box((next, sig));
            st.advance_to(st.epoch() + 1);
        }
        let crypto = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..20 {
            st.persist().unwrap();
        }
        let persist = t.elapsed() / 20;
        let t = std::time::Instant::now();
        for _ in 0..n {
            let sig = sign(&st, &seal_message(0, &body));
            std::hint::black_box(verify(&st.next_public(), &body, &sig));
        }
        let check = t.elapsed() / n;
        println!("seal crypto {crypto:?}, state file replace {persist:?}, sign+verify {check:?}");
    }
}
