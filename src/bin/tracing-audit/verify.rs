//! `tracing-audit verify DIR`.

use super::output::Out;
use super::progress::Progress;
use super::CliError;
use clap::Args;
use std::path::PathBuf;
use tracing_audit::chain::{ChainKey, PublicKey};
use tracing_audit::tlog::cosignature::CosignerVerifier;
use tracing_audit::tlog::submit::read_notes;
use tracing_audit::trail::printable_json;
use tracing_audit::verify::witnessed::{WitnessCheck, WitnessTrust};
use tracing_audit::verify::{Keys, ReceivedVerifier, Verifier};

#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// The trail directory.
    #[arg(required_unless_present = "received")]
    dir: Option<PathBuf>,
    /// Instead of a trail directory, check the file a central receiver wrote (one record per
    /// line, as received): from the chain's start (or an authenticated prune record), gap-free,
    /// exact duplicates counted; with --checkpoint and --cursor, not cut at its tail.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["dir", "public_key"])]
    received: Option<PathBuf>,
    /// With --received: the shipper's cursor file; the last record it saw acknowledged must be
    /// in the copy, unchanged.
    #[arg(long, value_name = "FILE", requires = "received")]
    cursor: Option<PathBuf>,
    /// The chain key file (its bytes, one trailing newline removed).
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
    /// The key id the key file belongs to (default: used for every key id).
    #[arg(long, value_name = "ID", requires = "key_file")]
    key_id: Option<String>,
    /// A copy of the checkpoint side file kept off-host (may be repeated).
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    /// The trail's first public key (`pk0`, as `keygen` printed it): require signed epoch
    /// seals that chain from it. Records after the last seal are reported, never verified.
    #[arg(long, value_name = "F")]
    public_key: Option<PathBuf>,
    /// With --public-key: a newest seal older than two epochs is an error (the trail was cut
    /// back, or the writer stopped).
    #[arg(long, requires = "public_key")]
    expect_current: bool,
    /// A trusted witness's key (a file holding its vkey, as `witness-keygen` printed it; may
    /// be repeated): the trail must extend the newest checkpoint the witnesses cosigned
    /// (finding `witness_mismatch`, exit 24).
    #[arg(long, value_name = "F", conflicts_with = "received")]
    witness_key: Vec<PathBuf>,
    /// With --witness-key: how many of the keys must have cosigned a checkpoint for it to count
    /// (default 1).
    #[arg(long, value_name = "K", requires = "witness_key", default_value_t = 1)]
    witnesses: usize,
    /// With --witness-key: ask this witness for its latest cosigned checkpoint (may be
    /// repeated; plain http://HOST:PORT[/PREFIX]).
    #[arg(long, value_name = "URL", requires = "witness_key")]
    witness_url: Vec<String>,
    /// With --witness-key: a file of cosigned checkpoints kept off the host (may be repeated).
    /// Without --witness-url or --cosigned, the `<prefix>.cosigned` file beside the trail is
    /// read (which an attacker on the host can roll back).
    #[arg(long, value_name = "FILE", requires = "witness_key")]
    cosigned: Vec<PathBuf>,
    /// With --witness-key: the log the trail must be (default: the origin its
    /// `<prefix>.tlog-checkpoint` names). Give it to catch another log's trail swapped in.
    #[arg(long, value_name = "ORIGIN", requires = "witness_key")]
    origin: Option<String>,
    /// The log's verifier key (a file holding it, or the key, `<origin>+<id>+<key>`): every
    /// `tree_checkpoint` record must be signed by it (they are checked against the recomputed
    /// Merkle tree with or without it; finding `checkpoint_mismatch`, exit 25).
    #[arg(long, value_name = "K", conflicts_with = "received")]
    log_key: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The witness check `--witness-key` asks for.
fn witness_check(args: &VerifyArgs) -> Result<Option<WitnessCheck>, CliError> {
    if args.witness_key.is_empty() {
        return Ok(None);
    }
    let keys = args
        .witness_key
        .iter()
        .map(CosignerVerifier::from_file)
        .collect::<Result<Vec<_>, _>>()?;
    let trust = WitnessTrust::new(keys, args.witnesses).map_err(CliError)?;
    let mut check = WitnessCheck::new(trust);
    for file in &args.cosigned {
        check = check.notes(read_notes(file).map_err(CliError)?);
    }
    for url in &args.witness_url {
        check = check.url(url);
    }
    if let Some(origin) = &args.origin {
        check = check.origin(origin);
    }
    Ok(Some(check))
}

pub(super) fn run(args: VerifyArgs) -> Result<u8, CliError> {
    let keys = match (&args.key_file, &args.key_id) {
        (Some(f), Some(id)) => Keys::from(ChainKey::from_file(id, f)?),
        (Some(f), None) => Keys::none().any_key_id(ChainKey::from_file("_", f)?),
        (None, _) => Keys::none(),
    };
    if let Some(file) = &args.received {
        let mut v = ReceivedVerifier::new(file).keys(keys);
        for c in &args.checkpoint {
            v = v.checkpoint(c);
        }
        if let Some(c) = &args.cursor {
            v = v.cursor(c);
        }
        if let Some(p) = &args.prefix {
            v = v.prefix(p);
        }
        return super::verify_received::run(file, v, args.json);
    }
    let Some(dir) = &args.dir else {
        return Err(CliError(
            "give a trail directory or --received FILE".to_owned(),
        ));
    };
    let mut progress = Progress::new("verifying");
    let mut v = Verifier::new(dir)
        .keys(keys)
        .on_progress(|p| progress.update(p.files_done, p.files_total, p.bytes_done));
    if let Some(p) = &args.prefix {
        v = v.prefix(p);
    }
    for c in &args.checkpoint {
        v = v.checkpoint(c);
    }
    if let Some(f) = &args.public_key {
        v = v
            .public_key(PublicKey::from_file(f)?)
            .expect_current(args.expect_current);
    }
    if let Some(check) = witness_check(&args)? {
        v = v.witnessed(check);
    }
    if let Some(k) = &args.log_key {
        v = v.log_key(super::proof::log_verifier(k)?);
    }
    let report = v.verify()?;
    drop(progress);
    let code = report
        .problems()
        .first()
        .map_or(0, |p| p.kind().exit_code());
    // The finding's code whether or not anyone still reads (`verify DIR | head -1`). The text
    // form escapes file names and details; the JSON form leaves the way the writer escapes.
    let mut out = Out::new();
    if args.json {
        out.line(&printable_json(report.to_json().to_string().as_bytes()))?;
    } else {
        out.line(report.to_string().as_bytes())?;
    }
    out.flush()?;
    Ok(code)
}
