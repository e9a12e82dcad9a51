//! `tracing-audit verify DIR`.

use super::progress::Progress;
use super::CliError;
use clap::Args;
use std::path::PathBuf;
use tracing_audit::chain::{ChainKey, PublicKey};
use tracing_audit::verify::{Keys, Verifier};

#[derive(Args, Debug)]
pub(super) struct VerifyArgs {
    /// The trail directory.
    dir: PathBuf,
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
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(args: VerifyArgs) -> Result<u8, CliError> {
    let keys = match (&args.key_file, &args.key_id) {
        (Some(f), Some(id)) => Keys::from(ChainKey::from_file(id, f)?),
        (Some(f), None) => Keys::none().any_key_id(ChainKey::from_file("_", f)?),
        (None, _) => Keys::none(),
    };
    let mut progress = Progress::new("verifying");
    let mut v = Verifier::new(&args.dir)
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
    let report = v.verify()?;
    drop(progress);
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(report
        .problems()
        .first()
        .map_or(0, |p| p.kind().exit_code()))
}
