//! The log key: one stable Ed25519 note key per trail that signs its Merkle checkpoints.
//!
//! Why not the forward-secure epoch keys: a witness (and anyone checking a proof) needs ONE
//! verifier key per origin, fixed for the life of the log, while the epoch keys change every
//! epoch and are erased. The log key signs only checkpoints; what it cannot do is rewrite the
//! past unseen, because every checkpoint it signed is held by witnesses and in the trail. A
//! stolen log key lets a thief sign a *fork*, which witnesses refuse (they cosign only
//! extensions of what they saw).

use super::{SigningError, SigningErrorKind};
use crate::tlog::note::{valid_key_name, Signer, Verifier};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The key that signs the trail's checkpoints, with the log's origin (its key name).
///
/// ```
/// use tracing_audit::chain::{ChainConfig, LogKey};
/// # let dir = tempfile::tempdir()?;
/// let key = LogKey::load_or_create(dir.path().join("audit.logkey"), "host.example/audit")?;
/// assert_eq!(key.origin(), "host.example/audit");
/// // The verifier key (`<name>+<id>+<key>`) goes to witnesses and to whoever checks proofs.
/// assert!(key.verifier_key().starts_with("host.example/audit+"));
/// let _chain = ChainConfig::new().log_key(key);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LogKey {
    signer: Arc<Signer>,
}

impl fmt::Debug for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogKey")
            .field("origin", &self.origin())
            .field("key", &"<hidden>")
            .finish()
    }
}

impl LogKey {
    /// A log key from a note signer; its key name is the origin.
    pub fn new(signer: Signer) -> Self {
        LogKey {
            signer: Arc::new(signer),
        }
    }

    /// Loads the key at `path` (Go's `PRIVATE+KEY+...` form), or creates it there (mode 0600,
    /// never over an existing file) with the key name `origin`, and writes its verifier key to
    /// `<path>.pub`. An existing key keeps its own name.
    ///
    /// # Errors
    /// The file cannot be read or created, is malformed, or `origin` is not a valid key name
    /// (empty, or with a space or `+`).
    pub fn load_or_create(path: impl AsRef<Path>, origin: &str) -> Result<LogKey, SigningError> {
        let path = path.as_ref();
        let what = || format!("log key {}", path.display());
        match crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX) {
            Ok(text) => {
                let text = zeroize::Zeroizing::new(text);
                let signer = Signer::parse(&text)
                    .map_err(|_| SigningError::new(SigningErrorKind::Malformed, what()))?;
                Ok(LogKey::new(signer))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !valid_key_name(origin) {
                    return Err(SigningError::new(SigningErrorKind::Malformed, what()));
                }
                let signer = Signer::generate(origin)
                    .map_err(|e| SigningError::io(what(), io::Error::other(e.to_string())))?;
                let secret = signer.render_secret();
                write_new(path, secret.as_bytes(), 0o600)
                    .map_err(|e| SigningError::io(what(), e))?;
                let key = LogKey::new(signer);
                let public = pub_path(path);
                let _ = std::fs::remove_file(&public);
                write_new(
                    &public,
                    format!("{}\n", key.verifier_key()).as_bytes(),
                    0o644,
                )
                .map_err(|e| {
                    SigningError::io(format!("log verifier key {}", public.display()), e)
                })?;
                Ok(key)
            }
            Err(e) => Err(SigningError::io(what(), e)),
        }
    }

    /// The log's origin: the first line of its checkpoints, and its key name.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// The verifier key text (`<origin>+<hex id>+<base64 key>`) for witnesses and auditors.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().render()
    }

    /// The verifier.
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }
}

/// `<path>.pub`: where the verifier key of the log key at `path` is written.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// A default origin: `<host name>/<prefix>`, with anything a key name cannot hold replaced.
pub fn default_origin(prefix: &str) -> String {
    // The kernel's name for the host (what `hostname` prints), without a libc call.
    let host = crate::trail::open::read_capped(Path::new("/proc/sys/kernel/hostname"), 256)
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() {
        "localhost".to_owned()
    } else {
        host
    };
    format!("{host}/{prefix}")
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '+' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut f = crate::trail::write::create_new(path, mode)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The keys a trail is signed with by default, kept in one directory beside the trail:
/// `<prefix>.signing` (the forward-secure epoch keys, 0600), `<prefix>.pk0` (their first public
/// key), `<prefix>.logkey` (the log key, 0600) and `<prefix>.logkey.pub` (its verifier key).
/// Created on first start, loaded on every later one.
///
/// ```
/// use tracing_audit::chain::SignedDefaults;
/// # let dir = tempfile::tempdir()?;
/// let keys = SignedDefaults::load_or_create(dir.path(), "audit")?;
/// assert!(keys.created());
/// let chain = keys.chain(); // signed epoch seals + Merkle checkpoints
/// # let _ = chain;
/// assert!(!SignedDefaults::load_or_create(dir.path(), "audit")?.created());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SignedDefaults {
    state: super::SigningState,
    log: LogKey,
    pk0_path: PathBuf,
    vkey_path: PathBuf,
    created: bool,
}

impl SignedDefaults {
    /// Loads the keys of trail `prefix` from `dir`, creating what is missing (the directory
    /// 0700, secrets 0600, never over an existing file). The log's origin is
    /// [`default_origin`]`(prefix)`.
    ///
    /// # Errors
    /// A file cannot be read or created, or is malformed.
    pub fn load_or_create(dir: &Path, prefix: &str) -> Result<SignedDefaults, SigningError> {
        crate::trail::write::ensure_dir(dir, 0o700)
            .map_err(|e| SigningError::io(format!("key directory {}", dir.display()), e))?;
        let state_path = dir.join(format!("{prefix}.signing"));
        let pk0_path = dir.join(format!("{prefix}.pk0"));
        let mut created = false;
        if !state_path.exists() {
            let pk0 = super::SigningState::generate(&state_path)?;
            let _ = std::fs::remove_file(&pk0_path);
            write_new(&pk0_path, format!("{pk0}\n").as_bytes(), 0o644).map_err(|e| {
                SigningError::io(format!("first public key {}", pk0_path.display()), e)
            })?;
            created = true;
        }
        let state = super::SigningState::load(&state_path)?;
        let key_path = dir.join(format!("{prefix}.logkey"));
        created |= !key_path.exists();
        let log = LogKey::load_or_create(&key_path, &default_origin(prefix))?;
        Ok(SignedDefaults {
            state,
            log,
            pk0_path,
            vkey_path: pub_path(&key_path),
            created,
        })
    }

    /// Whether this start created the keys (the moment to tell the operator where they are).
    pub fn created(&self) -> bool {
        self.created
    }

    /// A chain configuration that seals epochs with the signing state and signs Merkle
    /// checkpoints with the log key.
    pub fn chain(&self) -> super::ChainConfig {
        super::ChainConfig::new()
            .signing(self.state.clone())
            .log_key(self.log.clone())
    }

    /// What to tell the operator: where pk0 and the log's verifier key are, and what to do
    /// with them.
    pub fn advice(&self) -> Vec<String> {
        vec![
            format!(
                "first public key (pk0) {} in {}: copy it off this host; `tracing-audit verify --public-key` checks the epoch seals with it",
                self.state.public_key(),
                self.pk0_path.display()
            ),
            format!(
                "log verifier key {} in {}: register it with witnesses (`tracing-audit witness`) and give it to whoever checks proofs (`check-proof --log-key`)",
                self.log.verifier_key(),
                self.vkey_path.display()
            ),
        ]
    }
}
