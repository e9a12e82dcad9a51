//! Where each stream's records go: a bounded queue, a writer thread, and files or a `MakeWriter`.

pub mod file;
mod framing;
#[allow(unused_imports)]
pub(crate) use framing::{Framer, TornTail};
