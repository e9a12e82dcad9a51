//! Transparency-log primitives: the RFC 6962 Merkle tree over the audit stream, C2SP signed
//! notes and checkpoints.
//!
//! These sit at the bottom of the crate beside [`crate::trail`] (they import nothing else) so
//! the writer, the verifier, the proof tools and the witness share one definition of every hash
//! and every text form. The specifications followed are c2sp.org/signed-note,
//! c2sp.org/tlog-checkpoint and RFC 9162 §2.1; the interop tests check them against Cloudflare's
//! `signed_note` and `tlog_tiles` crates.

pub mod merkle;
pub mod tiles;

#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod checkpoint;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod cosignature;
#[cfg(feature = "tlog")]
pub(crate) mod http1;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod note;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod submit;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod witness;
