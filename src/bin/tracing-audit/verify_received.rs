//! `tracing-audit verify --received FILE`: the copy a central receiver wrote.

use super::CliError;
use serde_json::json;
use std::path::Path;
use tracing_audit::verify::ReceivedVerifier;

pub(super) fn run(file: &Path, verifier: ReceivedVerifier, as_json: bool) -> Result<u8, CliError> {
    let r = verifier.verify()?;
    if as_json {
        let problems: Vec<_> = r
            .problems()
            .iter()
            .map(|p| {
                json!({"kind": p.kind().as_str(), "file": p.file(), "line": p.line(), "seq": p.seq(), "detail": p.detail()})
            })
            .collect();
        let warnings: Vec<_> = r
            .warnings()
            .iter()
            .map(|w| json!({"line": w.line(), "message": w.message()}))
            .collect();
        println!(
            "{}",
            json!({
                "file": file.display().to_string(),
                "intact": r.intact(),
                "records": r.records(),
                "duplicates": r.duplicates(),
                "first_seq": r.first_seq(),
                "last_seq": r.last_seq(),
                "problems": problems,
                "warnings": warnings,
            })
        );
    } else {
        let range = match (r.first_seq(), r.last_seq()) {
            (Some(a), Some(b)) => format!(" (seq {a} to {b})"),
            _ => String::new(),
        };
        println!(
            "{}: {} records{range}, {} exact duplicates skipped",
            file.display(),
            r.records(),
            r.duplicates()
        );
        for p in r.problems() {
            println!("problem: {p}");
        }
        for w in r.warnings() {
            println!("warning: {w}");
        }
        println!(
            "{}",
            if r.intact() {
                "intact"
            } else {
                "NOT INTACT: records were changed, forged or lost on the way"
            }
        );
    }
    Ok(r.problems().first().map_or(0, |p| p.kind().exit_code()))
}
