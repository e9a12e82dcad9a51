//! `tracing-audit witness` (a C2SP tlog-witness server) and `witness-keygen` (its key).

use super::output::Out;
use super::CliError;
use clap::Args;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use tracing_audit::tlog::cosignature::Cosigner;
use tracing_audit::tlog::witness::{LogConfig, Witness};

#[derive(Args, Debug)]
pub(super) struct WitnessArgs {
    /// Address to listen on (`127.0.0.1:7380`; port 0 picks a free one, printed on stdout).
    #[arg(long, value_name = "ADDR")]
    listen: String,
    /// Directory for the latest cosigned checkpoint of each log (created 0700).
    #[arg(long, value_name = "DIR")]
    state: PathBuf,
    /// The witness's secret key file (from `tracing-audit witness-keygen`).
    #[arg(long, value_name = "F")]
    key: PathBuf,
    /// A log to witness: `ORIGIN=VKEY` (the log's note verifier key), or a bare `VKEY` whose
    /// key name is the origin. Repeat for several logs.
    #[arg(long = "log", value_name = "ORIGIN=VKEY", required = true)]
    logs: Vec<String>,
}

#[derive(Args, Debug)]
pub(super) struct WitnessKeygenArgs {
    /// The witness's key name, a schema-less URL such as `witness.example.com/w1`.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Where to write the secret key (mode 0600; never overwritten).
    #[arg(long, value_name = "F")]
    key: PathBuf,
}

/// Creates a witness key and prints its vkey (what logs and verifiers are configured with).
pub(super) fn keygen(args: WitnessKeygenArgs) -> Result<u8, CliError> {
    let cosigner = Cosigner::generate(&args.name)?;
    cosigner.save_new(&args.key)?;
    Out::new().line(cosigner.verifier().vkey().as_bytes())?;
    Ok(0)
}

/// Serves until killed. Prints `listening http://ADDR` and `vkey VKEY` first.
pub(super) fn run(args: WitnessArgs) -> Result<u8, CliError> {
    let cosigner = Cosigner::load(&args.key)?;
    let logs = args
        .logs
        .iter()
        .map(|l| LogConfig::parse(l))
        .collect::<Result<Vec<_>, _>>()?;
    let witness = Arc::new(Witness::open(&args.state, cosigner, logs)?);
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| CliError(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr()?;
    let mut out = Out::new();
    out.line(format!("listening http://{addr}").as_bytes())?;
    out.line(format!("vkey {}", witness.verifier().vkey()).as_bytes())?;
    out.flush()?;
    drop(out);
    witness.serve(listener)?;
    Ok(0)
}
