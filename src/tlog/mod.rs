//! Witnessed checkpoints: C2SP transparency-log formats over the audit trail.

pub mod cosignature;
pub(crate) mod http1;
