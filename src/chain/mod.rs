//! The audit chain: sequence numbers, MACs, seals and checkpoints.
//!
//! Every audit record gets a gap-free sequence number and a MAC that chains it to the record
//! before it, computed on the audit sink's writer thread in file order. The line format is
//! described in `docs/verification.md`; [`crate::verify`] checks a trail offline.
//!
//! ```
//! use std::time::Duration;
//! use tracing_audit::chain::{ChainConfig, ChainKey};
//!
//! let chain = ChainConfig::new()
//!     .key(ChainKey::new("k1", b"a long random secret"))
//!     .checkpoint_every(500)
//!     .checkpoint_interval(Duration::from_secs(30));
//! # let _ = chain;
//! ```

mod framer;
pub(crate) mod framing;
pub(crate) mod index;
mod key;
#[cfg(feature = "tlog")]
mod log_key;
#[cfg(feature = "signed-seals")]
mod signing;
#[cfg(feature = "tlog")]
mod tree;

#[cfg(feature = "signed-seals")]
pub(crate) use crate::trail::hex::decode_hex32;
pub(crate) use crate::trail::trailer::{
    compute, parse as parse_trailer, parse_raw as parse_trailer_raw, parse_seq, plausibly_torn,
    Alg, GENESIS_PREV,
};
#[cfg(feature = "signed-seals")]
pub(crate) use crate::trail::trailer::{rfind, Trailer, SIG_SEP};
pub(crate) use framer::control_kind;
pub use key::ChainKey;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub use log_key::{default_origin, pub_path as log_key_pub_path, LogKey, SignedDefaults};
#[cfg(all(test, feature = "signed-seals"))]
pub(crate) use signing::sign as sign_seal;
#[cfg(feature = "signed-seals")]
pub(crate) use signing::{key_ok, seal_message, verify as verify_signature, SigCheck, PK_LABEL};
#[cfg(feature = "signed-seals")]
#[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
pub use signing::{PublicKey, SigningError, SigningErrorKind, SigningState};

use std::time::Duration;

/// How the audit stream is chained.
///
/// | setting | default |
/// |---|---|
/// | [`key`](ChainConfig::key) | none: a plain SHA-256 chain, marked `sha256:` in every record |
/// | [`checkpoint_every`](ChainConfig::checkpoint_every) | 1000 records |
/// | [`checkpoint_interval`](ChainConfig::checkpoint_interval) | 60 s |
/// | [`signing`](ChainConfig::signing) (feature `signed-seals`) | none: no epoch seals |
/// | [`epoch`](ChainConfig::epoch) (feature `signed-seals`) | 60 s |
/// | [`log_key`](ChainConfig::log_key) (feature `tlog`) | none: no Merkle tree, no checkpoints |
///
/// Without a key the chain detects accidental damage and careless edits, but anybody who can
/// write the files can recompute it. Configure a key kept away from the log host to make the
/// trail tamper-evident.
#[derive(Clone, Debug)]
#[must_use]
pub struct ChainConfig {
    key: Option<ChainKey>,
    every: u64,
    interval: Duration,
    #[cfg(feature = "signed-seals")]
    signing: Option<SigningState>,
    #[cfg(feature = "signed-seals")]
    epoch: Duration,
    #[cfg(feature = "tlog")]
    log: Option<LogKey>,
}

/// The shortest epoch [`ChainConfig::epoch`] accepts.
#[cfg(feature = "signed-seals")]
pub const MIN_EPOCH: Duration = Duration::from_secs(1);

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig::new()
    }
}

impl ChainConfig {
    /// An unkeyed SHA-256 chain with the default checkpoint policy.
    pub fn new() -> Self {
        ChainConfig {
            key: None,
            every: 1000,
            interval: Duration::from_secs(60),
            #[cfg(feature = "signed-seals")]
            signing: None,
            #[cfg(feature = "signed-seals")]
            epoch: Duration::from_secs(60),
            #[cfg(feature = "tlog")]
            log: None,
        }
    }

    /// Keeps a Merkle tree over the audit stream and signs a C2SP checkpoint of it with `key`
    /// at every epoch seal (or, without [`signing`](ChainConfig::signing), with every checkpoint
    /// record): a `tree_checkpoint` control record in the trail, and the newest one in
    /// `<dir>/<prefix>.tlog-checkpoint` for witnesses. Every record can then be proven to an
    /// outsider (`tracing-audit prove`) without the rest of the trail.
    #[cfg(feature = "tlog")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
    pub fn log_key(mut self, key: LogKey) -> Self {
        self.log = Some(key);
        self
    }

    /// Chains with HMAC-SHA256 under `key`; its key id is written into every record.
    pub fn key(mut self, key: ChainKey) -> Self {
        self.key = Some(key);
        self
    }

    /// Writes a checkpoint record after at most this many records (minimum 1).
    ///
    /// Checkpoints bound how much a cut at the end of the trail can hide: the sink also
    /// publishes each one to `<dir>/<prefix>.checkpoint` for shipping off-host.
    pub fn checkpoint_every(mut self, records: u64) -> Self {
        self.every = records.max(1);
        self
    }

    /// Writes a checkpoint record when this much time passed since the last one and records
    /// were written since.
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Seals every epoch with forward-secure Ed25519 keys from `state` (see
    /// [`SigningState`]): every record names its epoch; when an epoch ends (with or without
    /// records, and at a clean shutdown) the writer appends an `epoch_seal` signed with the
    /// epoch's key, then erases that key from memory and from the state file. Anyone holding
    /// the first public key can verify the trail (`tracing-audit verify --public-key`).
    ///
    /// Combines with [`key`](ChainConfig::key): records are then chained with HMAC, and a
    /// verifier needs that key as well as the public key.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracing_audit::chain::{ChainConfig, SigningState};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("audit.signing");
    /// # SigningState::generate(&path)?;
    /// let chain = ChainConfig::new()
    ///     .signing(SigningState::load(&path)?)
    ///     .epoch(Duration::from_secs(30));
    /// # let _ = chain;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "signed-seals")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
    pub fn signing(mut self, state: SigningState) -> Self {
        self.signing = Some(state);
        self
    }

    /// How long an epoch lasts (default 60 s, at least [`MIN_EPOCH`]; whole seconds).
    ///
    /// A shorter epoch shrinks what a key stolen now can still rewrite (the current epoch)
    /// and how far back a cut at the end can go unnoticed, at the cost of one seal line (about
    /// 400 bytes), one signature and two fsyncs per epoch.
    #[cfg(feature = "signed-seals")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
    pub fn epoch(mut self, length: Duration) -> Self {
        self.epoch = Duration::from_secs(length.as_secs()).max(MIN_EPOCH);
        self
    }

    /// Whether the chain is tamper-evident: keyed with a MAC, or sealed with signed epochs.
    /// Without either, anyone who can write the files can recompute it.
    pub(crate) fn is_keyed(&self) -> bool {
        #[cfg(feature = "signed-seals")]
        if self.signing.is_some() {
            return true;
        }
        self.key.is_some()
    }

    /// Whether epochs are sealed with signatures (what the start-up note tells).
    pub(crate) fn is_signed(&self) -> bool {
        #[cfg(feature = "signed-seals")]
        return self.signing.is_some();
        #[cfg(not(feature = "signed-seals"))]
        false
    }

    /// Whether a Merkle tree is kept and its checkpoints signed.
    pub(crate) fn keeps_tree(&self) -> bool {
        #[cfg(feature = "tlog")]
        return self.log.is_some();
        #[cfg(not(feature = "tlog"))]
        false
    }

    /// The chain key, if the chain is keyed (side indexes are authenticated under a key derived
    /// from it).
    pub(crate) fn chain_key(&self) -> Option<&ChainKey> {
        self.key.as_ref()
    }

    /// The framer the audit sink's writer thread drives.
    pub(crate) fn framer(&self) -> Box<dyn framing::Framer> {
        Box::new(framer::ChainFramer::new(self))
    }
}

#[cfg(test)]
mod tests;

/// The chain framer as the audit writer thread drives it, for this crate's benchmarks (behind
/// the private `_test-hooks` feature; not part of the API).
#[cfg(feature = "_test-hooks")]
#[doc(hidden)]
pub mod testing {
    use std::time::SystemTime;

    /// A framer for `config`, started on an empty trail at `now`.
    pub struct Framer(Box<dyn super::framing::Framer>);

    impl std::fmt::Debug for Framer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Framer").finish_non_exhaustive()
        }
    }

    impl Framer {
        /// A framer for `config`, resumed on an empty trail at `now` (appends its genesis
        /// record to `out`).
        pub fn new(config: &super::ChainConfig, now: SystemTime, out: &mut Vec<u8>) -> Self {
            let mut f = config.framer();
            f.resume(None, None, now, out);
            Framer(f)
        }

        /// Frames one record body (a JSON object) into `out`.
        pub fn frame(&mut self, body: &[u8], out: &mut Vec<u8>) {
            self.0.frame(body, out);
        }

        /// Seals the current epoch now: signature and key evolution, in memory.
        #[cfg(feature = "signed-seals")]
        pub fn seal_epoch(&mut self, now: SystemTime, out: &mut Vec<u8>) -> bool {
            self.0.seal_epoch(now, true, out)
        }

        /// Replaces the signing state file after a seal (temporary file, fsync, rename).
        #[cfg(feature = "signed-seals")]
        pub fn commit_epoch(&mut self) -> std::io::Result<()> {
            self.0.commit_epoch()
        }
    }
}
