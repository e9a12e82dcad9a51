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

mod format;
mod framer;
mod key;

pub(crate) use format::{compute, parse as parse_trailer, parse_seq, Alg, GENESIS_PREV};
pub(crate) use framer::control_kind;
pub use key::ChainKey;

use std::time::Duration;

/// How the audit stream is chained.
///
/// | setting | default |
/// |---|---|
/// | [`key`](ChainConfig::key) | none: a plain SHA-256 chain, marked `sha256:` in every record |
/// | [`checkpoint_every`](ChainConfig::checkpoint_every) | 1000 records |
/// | [`checkpoint_interval`](ChainConfig::checkpoint_interval) | 60 s |
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
}

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
        }
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

    /// Whether the chain is keyed: without a key anyone who can write the files can recompute it.
    pub(crate) fn is_keyed(&self) -> bool {
        self.key.is_some()
    }

    /// The framer the audit sink's writer thread drives.
    pub(crate) fn framer(&self) -> Box<dyn crate::sink::Framer> {
        Box::new(framer::ChainFramer::new(self))
    }
}

#[cfg(test)]
mod tests;
