//! The `tracing-audit` command line: verify, tail, query, correlate, export, hash, scrub.
//!
//! A client of the library's public API (`trail`, `verify`, `redact`): everything it does, an
//! application can do too.
//!
//! Exit codes: 0 success (for `verify`: the trail is intact); 1 nothing matched (`correlate`);
//! 2 bad arguments; 3 the command could not run (unreadable directory, key file, ...);
//! 10-23 `verify` found a problem (the class of the first one, see
//! [`ProblemKind::exit_code`](tracing_audit::verify::ProblemKind::exit_code)).

mod correlate;
mod export;
mod progress;
mod records;
mod render;
mod scrub;
mod tail;
mod verify;

use tracing_audit::chain::SigningState;

use clap::{Args, Parser, Subcommand};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when a command could not run.
const EXIT_ERROR: u8 = 3;
/// Exit code when `correlate` found nothing.
const EXIT_NOTHING: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "tracing-audit",
    version,
    about = "Verify, search and correlate tracing-audit trails"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check that an audit trail is intact (exit 0) or report each problem (exit 10-23).
    Verify(verify::VerifyArgs),
    /// Create the signing state for a trail's epoch seals (mode 0600) and print its first
    /// public key (pk0) on stdout: hand that line to the people who verify.
    Keygen(KeygenArgs),
    /// Show the last records of a trail, human readable; --follow waits for new ones.
    Tail(tail::TailArgs),
    /// Print the records that match the filters as JSON lines, over rotated and gzipped files.
    Query(QueryArgs),
    /// Everything the audit and debug streams recorded for one request, in time order.
    Correlate(correlate::CorrelateArgs),
    /// The audit records as OCSF or ECS events for a SIEM, one JSON object per line.
    Export(export::ExportArgs),
    /// Print the keyed pseudonym the redactor writes for VALUE.
    Hash(HashArgs),
    /// Redact secrets and personal data from lines on stdin (JSON records or free text).
    Scrub(scrub::ScrubArgs),
}

/// Filters shared by `tail`, `query` and `export`.
#[derive(Args, Debug, Clone, Default)]
struct Filters {
    /// Only records whose actor is A.
    #[arg(long, value_name = "A")]
    actor: Option<String>,
    /// Only records whose action is X.
    #[arg(long, value_name = "X")]
    action: Option<String>,
    /// Only records whose outcome is O.
    #[arg(long, value_name = "O")]
    outcome: Option<String>,
    /// Only records at or after T (RFC 3339, or YYYY-MM-DD[THH:MM[:SS]] in UTC).
    #[arg(long, value_name = "T", value_parser = records::parse_time)]
    since: Option<String>,
    /// Only records before T (same forms as --since).
    #[arg(long, value_name = "T", value_parser = records::parse_time)]
    until: Option<String>,
    /// Also show the chain's own records (genesis, seal, checkpoint, repair).
    #[arg(long)]
    all: bool,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// The trail directory.
    dir: PathBuf,
    #[command(flatten)]
    filters: Filters,
}

#[derive(Args, Debug)]
struct KeygenArgs {
    /// Where to write the signing state (never overwritten; keep it outside the log directory).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
}

#[derive(Args, Debug)]
struct HashArgs {
    /// The value to pseudonymize.
    value: String,
    /// The hash key file (its bytes, one trailing newline removed); default: the value of
    /// $TRACING_AUDIT_HASH_KEY.
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
}

/// Where `hash` and `scrub` find the hash key when no key file is given.
const HASH_KEY_ENV: &str = "TRACING_AUDIT_HASH_KEY";

/// A command failed to run.
#[derive(Debug)]
struct CliError(String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        let mut msg = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        CliError(msg)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::Tail(a) => tail::run(a),
        Command::Query(a) => records::query(a.dir, a.filters),
        Command::Correlate(a) => correlate::run(a),
        Command::Keygen(a) => keygen(a),
        Command::Export(a) => export::run(a),
        Command::Hash(a) => hash(a),
        Command::Scrub(a) => scrub::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(CliError(msg)) => {
            eprintln!("tracing-audit: {msg}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn keygen(args: KeygenArgs) -> Result<u8, CliError> {
    let pk0 = SigningState::generate(&args.state)?;
    println!("{pk0}");
    Ok(0)
}

fn hash(args: HashArgs) -> Result<u8, CliError> {
    let key = match &args.key_file {
        Some(f) => tracing_audit::KeySource::file(f).load()?,
        None => match std::env::var_os(HASH_KEY_ENV) {
            Some(v) if !v.is_empty() => v.into_encoded_bytes(),
            _ => {
                return Err(CliError(format!(
                    "no hash key: give --key-file F or set {HASH_KEY_ENV}"
                )))
            }
        },
    };
    println!(
        "{}",
        tracing_audit::redact::Pseudonymizer::new(&key).pseudonym(&args.value)
    );
    Ok(0)
}

/// Writes to stdout; a closed pipe (`| head`) ends the command quietly.
fn out_line(out: &mut impl std::io::Write, line: &[u8]) -> Result<bool, CliError> {
    match out.write_all(line).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(CliError(format!("cannot write to stdout: {e}"))),
    }
}
