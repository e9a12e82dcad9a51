//! The `tracing-audit` command line.
