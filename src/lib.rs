//! An audit trail and a debug log from one `tracing` instrumentation.
//! (Crate documentation is completed with the layer.)

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod chain;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
#[doc(hidden)]
pub mod cli;
pub mod layer;
mod record;
pub mod redact;
pub mod sink;
mod stream;
pub mod verify;

pub use stream::Stream;
