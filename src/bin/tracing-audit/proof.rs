//! `prove`, `check-proof` and `disclose`: one record (or every record about one person) proven
//! to an outsider with the log's verifier key, in the C2SP `tlog-proof` form.

use super::output::{self, Out};
use super::CliError;
use clap::Args;
use std::path::{Path, PathBuf};
use tracing_audit::tlog::cosignature::CosignerVerifier;
use tracing_audit::tlog::note::{Note, Verifier};
use tracing_audit::trail::{printable_json, Visible};
use tracing_audit::verify::proof::{ProofFileError, Prover, RecordProof};

/// Exit code of `check-proof` when the proof does not hold.
pub(super) const EXIT_BAD_PROOF: u8 = 1;

#[derive(Args, Debug)]
pub(super) struct ProveArgs {
    /// The trail directory.
    dir: PathBuf,
    /// The record's sequence number.
    #[arg(long, value_name = "N")]
    seq: u64,
    /// Write the proof here (mode 0600) instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The log's verifier key (a file holding it, or the key itself): only a checkpoint it
    /// signed is used.
    #[arg(long, value_name = "K")]
    log_key: Option<String>,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

#[derive(Args, Debug)]
pub(super) struct CheckProofArgs {
    /// The proof file (`.tlog-proof`).
    file: PathBuf,
    /// The log's verifier key (a file holding it, or the key itself, `<name>+<id>+<key>`).
    #[arg(long, value_name = "K")]
    log_key: String,
    /// A witness's verifier key (file or key); repeat for each witness trusted.
    #[arg(long, value_name = "W")]
    witness_key: Vec<String>,
    /// How many of the --witness-key witnesses must have cosigned (default: all given).
    #[arg(long, value_name = "K")]
    witnesses: Option<usize>,
}

#[derive(Args, Debug)]
pub(super) struct DiscloseArgs {
    /// The trail directory.
    dir: PathBuf,
    /// Disclose the records whose `actor` is NAME.
    #[arg(long, value_name = "NAME")]
    actor: String,
    /// A new directory to write the proofs into (`<seq>.tlog-proof`, and `records.jsonl`).
    #[arg(short = 'o', long, value_name = "DIR")]
    output: PathBuf,
    /// The log's verifier key (as for `prove`).
    #[arg(long, value_name = "K")]
    log_key: Option<String>,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

/// A verifier key given as a file holding it, or as the key text itself.
fn load_vkey(given: &str) -> Result<String, CliError> {
    let path = Path::new(given);
    if path.exists() {
        let text = tracing_audit::tlog::note::read_key_file(path).map_err(|e| {
            CliError(format!(
                "cannot read the key file {}: {e}",
                Visible::path(path)
            ))
        })?;
        return Ok(text.trim().to_owned());
    }
    Ok(given.trim().to_owned())
}

pub(super) fn log_verifier(given: &str) -> Result<Verifier, CliError> {
    Verifier::parse(&load_vkey(given)?).map_err(|e| CliError(format!("--log-key: {e}")))
}

pub(super) fn prove(args: ProveArgs) -> Result<u8, CliError> {
    let log = args.log_key.as_deref().map(log_verifier).transpose()?;
    let prover = Prover::open(&args.dir, args.prefix.as_deref(), log.as_ref())?;
    let proof = prover.prove(args.seq)?;
    let text = proof.render();
    match &args.output {
        Some(path) => output::write_private(path, text.as_bytes())
            .map_err(|e| CliError(format!("cannot write {}: {e}", Visible::path(path))))?,
        None => {
            let mut out = Out::new();
            out.line(text.trim_end_matches('\n').as_bytes())?;
        }
    }
    Ok(0)
}

pub(super) fn check(args: CheckProofArgs) -> Result<u8, CliError> {
    let log = log_verifier(&args.log_key)?;
    let witness_keys = args
        .witness_key
        .iter()
        .map(|w| load_vkey(w))
        .collect::<Result<Vec<_>, _>>()?;
    let need = args.witnesses.unwrap_or(witness_keys.len());
    if need > witness_keys.len() {
        return Err(CliError(format!(
            "--witnesses {need} asks for more witnesses than the {} --witness-key given",
            witness_keys.len()
        )));
    }
    let bytes = tracing_audit::verify::proof::read_proof_file(&args.file)
        .map_err(|e| CliError(format!("cannot read {}: {e}", Visible::path(&args.file))))?;
    let verdict = std::str::from_utf8(&bytes)
        .map_err(|_| ProofFileError::new("the proof is not UTF-8 text"))
        .and_then(RecordProof::parse)
        .and_then(|p| {
            p.check(&log, |note| cosigners(note, &witness_keys, need))
                .map(|c| (p, c))
        });
    match verdict {
        Ok((proof, checked)) => {
            let mut out = Out::new();
            let mut msg = format!(
                "proof holds: record {} is in log {} (tree size {}), signed by the log key",
                proof.index, checked.checkpoint.origin, checked.checkpoint.size
            );
            if !checked.witnesses.is_empty() {
                msg.push_str(&format!(", cosigned by {}", checked.witnesses.join(", ")));
            }
            out.line(Visible::str(&msg).to_string().as_bytes())?;
            out.line(&printable_json(&proof.record))?;
            Ok(0)
        }
        Err(e) => {
            output::warn(format!("the proof does not hold: {e}"));
            Ok(EXIT_BAD_PROOF)
        }
    }
}

/// The names of the witnesses among `keys` whose cosignatures on `note` verify
/// (c2sp.org/tlog-cosignature); an error when fewer than `need` do, or when a cosignature of a
/// known witness does not verify.
fn cosigners(note: &Note, keys: &[String], need: usize) -> Result<Vec<String>, ProofFileError> {
    let mut ok = Vec::new();
    for key in keys {
        let w = CosignerVerifier::parse_vkey(key)
            .map_err(|e| ProofFileError::new(format!("--witness-key: {e}")))?;
        let mut signed = false;
        for s in note.signatures() {
            if s.key_name == w.name() && s.key_id == w.key_id() {
                w.verify(note.body().as_bytes(), &s.signature)
                    .map_err(|e| {
                        ProofFileError::new(format!(
                            "the cosignature of {} does not verify: {e}",
                            w.name()
                        ))
                    })?;
                signed = true;
            }
        }
        if signed {
            ok.push(w.name().to_owned());
        }
    }
    if ok.len() < need {
        return Err(ProofFileError::new(format!(
            "cosigned by {} of the witnesses given ({}), {need} required",
            ok.len(),
            if ok.is_empty() {
                "none".to_owned()
            } else {
                ok.join(", ")
            }
        )));
    }
    Ok(ok)
}

pub(super) fn disclose(args: DiscloseArgs) -> Result<u8, CliError> {
    let log = args.log_key.as_deref().map(log_verifier).transpose()?;
    let prover = Prover::open(&args.dir, args.prefix.as_deref(), log.as_ref())?;
    let records = prover.records_of(&args.actor)?;
    // A new directory only: never write into one that exists (or is a planted link).
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&args.output)
        .map_err(|e| {
            CliError(format!(
                "cannot create {}: {e}",
                Visible::path(&args.output)
            ))
        })?;
    let mut all = Vec::new();
    for (seq, line) in records.iter().cloned() {
        let proof = prover.prove_line(seq, line.clone())?;
        let path = args.output.join(format!("{seq}.tlog-proof"));
        output::write_private(&path, proof.render().as_bytes())
            .map_err(|e| CliError(format!("cannot write {}: {e}", Visible::path(&path))))?;
        all.extend_from_slice(&line);
        all.push(b'\n');
    }
    let path = args.output.join("records.jsonl");
    output::write_private(&path, &all)
        .map_err(|e| CliError(format!("cannot write {}: {e}", Visible::path(&path))))?;
    let mut out = Out::new();
    out.line(
        Visible::str(&format!(
            "{} records about {} with their proofs in {} (checkpoint of tree size {})",
            records.len(),
            args.actor,
            args.output.display(),
            prover.checkpoint().size
        ))
        .to_string()
        .as_bytes(),
    )?;
    Ok(0)
}

use std::os::unix::fs::DirBuilderExt;
