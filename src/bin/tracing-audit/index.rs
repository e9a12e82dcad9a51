//! `tracing-audit index DIR --key-file F [--key-id ID] [--prefix P]`: writes the authenticated
//! side indexes of a trail's closed files, the only command that writes into a trail directory.

use super::records::open_trail;
use super::{CliError, EXIT_PARTIAL};
use clap::Args;
use serde_json::Value;
use std::ops::ControlFlow;
use std::path::PathBuf;
use tracing_audit::chain::ChainKey;
use tracing_audit::investigate::build_indexes;
use tracing_audit::trail::Trail;

#[derive(Args, Debug)]
pub(super) struct IndexArgs {
    /// The trail directory: an audit trail, or the debug log of the same application (its
    /// indexes are authenticated under the audit chain key too).
    dir: PathBuf,
    /// The chain key file (its bytes, one trailing newline removed). Required: an index no
    /// key authenticates is never used.
    #[arg(long, value_name = "F")]
    key_file: PathBuf,
    /// The key id written into the indexes (default: that of the trail's records, `_` for a
    /// debug log; searches given the key file without --key-id accept any).
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// File name prefix, when the directory holds several trails.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
}

pub(super) fn run(args: IndexArgs) -> Result<u8, CliError> {
    let trail = open_trail(&args.dir, args.prefix.as_deref())?;
    let key_id = match &args.key_id {
        Some(id) => id.clone(),
        None => records_key_id(&trail).unwrap_or_else(|| "_".to_owned()),
    };
    let key = ChainKey::from_file(&key_id, &args.key_file)?;
    let built = build_indexes(&trail, &key);
    for f in built.failures() {
        // File names and errors come from the directory: shown escaped.
        eprintln!("tracing-audit: warning: {}", f.to_string().escape_debug());
    }
    println!(
        "{} indexes written, {} already valid, {} files not indexed (searches read them)",
        built.built,
        built.kept,
        built.failures().len()
    );
    Ok(if built.failures().is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}

/// The key id of one of the first records of `trail`, if they have one (a debug log's do not:
/// it is not read further).
fn records_key_id(trail: &Trail) -> Option<String> {
    let mut found = None;
    let mut lines = 0;
    let _ = trail.for_each_line(|_, line| {
        lines += 1;
        let kid = serde_json::from_slice::<Value>(line)
            .ok()
            .and_then(|v| v.get("kid")?.as_str().map(str::to_owned));
        match kid {
            Some(k) => {
                found = Some(k);
                ControlFlow::Break(())
            }
            None if lines < 16 => ControlFlow::Continue(()),
            None => ControlFlow::Break(()),
        }
    });
    found
}
