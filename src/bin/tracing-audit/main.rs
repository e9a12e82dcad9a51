//! The `tracing-audit` command line: verify, keygen, tail, query, correlate, timeline, report,
//! export, hash, scrub, ship.
//!
//! A client of the library's public API (`trail`, `verify`, `redact`): everything it does, an
//! application can do too.
//!
//! Exit codes: 0 success (for `verify`: the trail is intact); 1 nothing matched (`correlate`);
//! 2 bad arguments; 3 the command could not run (unreadable directory, key file, ...);
//! 4 (`query`, `correlate`, `tail`, `timeline`, `report`, `export`) the command ran, but did
//! not read everything: a file could not be read or not to its end (a truncated `.gz`), or
//! lines were skipped (longer than the line limit, or not records); a warning on stderr names
//! each file, the output holds everything else; for `ship --until-idle`: records were refused
//! or skipped (everything else acknowledged);
//! 10-23 `verify` found a problem (the class of the first one, see
//! [`ProblemKind::exit_code`](tracing_audit::verify::ProblemKind::exit_code)).
//!
//! Output nobody can paint: every string from a trail or a file name reaches the terminal
//! through `trail::Visible` (human output, stderr) or `trail::printable_json` (JSON lines), and
//! a closed stdout ends a command quietly with the code of what it found (`output`).
//!
//! Read commands (`query`, `correlate`, `timeline`, `report`, `export`, `tail`, `verify`)
//! write nothing into a trail directory. Given the chain key (`--key-file`), searches skip a
//! closed file whose side index `<file>.idx` authenticates under that key, matches the file's
//! bytes and rules the query out; `index` writes those indexes when asked.

mod correlate;
mod export;
mod index;
mod output;
mod progress;
mod records;
mod render;
mod report;
mod scrub;
mod ship;
mod shred;
mod tail;
mod timeline;
mod verify;
mod verify_received;

use tracing_audit::chain::SigningState;

use clap::{Args, Parser, Subcommand};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when a command could not run.
const EXIT_ERROR: u8 = 3;
/// Exit code when `correlate` found nothing.
const EXIT_NOTHING: u8 = 1;
/// Exit code when a read command ran but did not read everything (a damaged or unreadable
/// file, skipped lines).
const EXIT_PARTIAL: u8 = 4;

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
    /// Write the authenticated side index (`<file>.idx`, mode 0600) of every closed, compressed
    /// file of a keyed trail that has none (or one that does not hold), so searches given the
    /// key can skip files; the only command that writes into a trail directory.
    Index(index::IndexArgs),
    /// Everything the audit and debug streams recorded for one request, in time order.
    Correlate(correlate::CorrelateArgs),
    /// Write one request's (or one actor's) records of both streams as a self-contained HTML
    /// timeline.
    Timeline(timeline::TimelineArgs),
    /// Activity by actor and outcome over a time window, and flags for suspicious access
    /// (outside working hours, first-seen address or resource class, denial bursts).
    Report(report::ReportArgs),
    /// The audit records as OCSF or ECS events for a SIEM, one JSON object per line.
    Export(export::ExportArgs),
    /// Print the keyed pseudonym the redactor writes for VALUE.
    Hash(HashArgs),
    /// Redact secrets and personal data from lines on stdin (JSON records or free text).
    Scrub(scrub::ScrubArgs),
    /// Ship the trails in a directory to a central syslog receiver (RELP, or RFC 5424 over
    /// TCP/TLS), resuming from a cursor; runs until stopped, or with --until-idle until
    /// everything is acknowledged.
    Ship(ship::ShipArgs),
    /// Erase a subject from a trail with encrypted fields: destroy its key in the key store
    /// and record the erasure (chained, fsynced) in the trail. Refused while the application
    /// writes the trail: erase through its AuditHandle then.
    Erase(shred::EraseArgs),
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
    /// Also show the chain's own records (genesis, seal, epoch_seal, checkpoint, repair, prune).
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
    #[command(flatten)]
    key: records::KeyArgs,
    #[command(flatten)]
    shred: shred::ShredArgs,
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
        Command::Query(a) => records::query(a.dir, a.filters, &a.key, &a.shred),
        Command::Index(a) => index::run(a),
        Command::Correlate(a) => correlate::run(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Report(a) => report::run(a),
        Command::Keygen(a) => keygen(a),
        Command::Export(a) => export::run(a),
        Command::Hash(a) => hash(a),
        Command::Scrub(a) => scrub::run(a),
        Command::Ship(a) => ship::run(a),
        Command::Erase(a) => shred::erase(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(CliError(msg)) => {
            output::warn(msg);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn keygen(args: KeygenArgs) -> Result<u8, CliError> {
    let pk0 = SigningState::generate(&args.state)?;
    output::Out::new().line(pk0.to_string().as_bytes())?;
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
    let pseudonym = tracing_audit::redact::Pseudonymizer::new(&key).pseudonym(&args.value);
    output::Out::new().line(pseudonym.as_bytes())?;
    Ok(0)
}
