//! Encoding records as single JSON lines.

pub(crate) mod time;
