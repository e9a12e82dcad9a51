//! `tracing-audit scrub`: redact lines from stdin with the layer's rules, a thin wrapper around
//! [`Scrubber::scrub_lines`].

use super::{CliError, HASH_KEY_ENV};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use tracing_audit::redact::{Pseudonymizer, Scrubber};
use tracing_audit::Stream;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum StreamArg {
    Audit,
    Debug,
}

#[derive(Args, Debug)]
pub(super) struct ScrubArgs {
    /// Whose defaults to apply.
    #[arg(long, value_enum, default_value = "debug")]
    stream: StreamArg,
    /// The hash key file, for detectors whose action is to hash (without it, and without
    /// $TRACING_AUDIT_HASH_KEY, they mask).
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
}

pub(super) fn run(args: ScrubArgs) -> Result<u8, CliError> {
    let stream = match args.stream {
        StreamArg::Audit => Stream::Audit,
        StreamArg::Debug => Stream::Debug,
    };
    let key = match &args.key_file {
        Some(f) => Some(tracing_audit::KeySource::file(f).load()?),
        None => std::env::var_os(HASH_KEY_ENV)
            .filter(|v| !v.is_empty())
            .map(|v| v.into_encoded_bytes()),
    };
    let mut scrubber = Scrubber::for_stream(stream);
    if let Some(key) = key {
        scrubber = scrubber.hasher(Pseudonymizer::new(&key));
    }
    scrubber.scrub_lines(std::io::stdin().lock(), std::io::stdout().lock())?;
    Ok(0)
}
