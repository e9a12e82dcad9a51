//! `tracing-audit verify --received FILE`: the copy a central receiver wrote.

use super::output::Out;
use super::CliError;
use serde_json::json;
use std::path::Path;
use tracing_audit::trail::{printable_json, Visible};
use tracing_audit::verify::ReceivedVerifier;

pub(super) fn run(file: &Path, verifier: ReceivedVerifier, as_json: bool) -> Result<u8, CliError> {
    let r = verifier.verify()?;
    let code = r.problems().first().map_or(0, |p| p.kind().exit_code());
    // Printed escaped (names and details may come from the copy), and ended quietly with the
    // finding's code when the reader of stdout goes away.
    let mut out = Out::new();
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
        let report = json!({
            "file": file.display().to_string(),
            "intact": r.intact(),
            "records": r.records(),
            "duplicates": r.duplicates(),
            "first_seq": r.first_seq(),
            "deliberate_start": r.deliberate_start().map(|d| json!({"seq": d.seq, "host": d.host, "prefix": d.prefix, "ts": d.ts, "line": d.line})),
            "last_seq": r.last_seq(),
            "problems": problems,
            "warnings": warnings,
        });
        out.line(&printable_json(report.to_string().as_bytes()))?;
    } else {
        let range = match (r.first_seq(), r.last_seq()) {
            (Some(a), Some(b)) => format!(" (seq {a} to {b})"),
            _ => String::new(),
        };
        let mut lines = vec![format!(
            "{}: {} records{range}, {} exact duplicates skipped",
            Visible::path(file),
            r.records(),
            r.duplicates()
        )];
        lines.extend(r.problems().iter().map(|p| format!("problem: {p}")));
        lines.extend(r.warnings().iter().map(|w| format!("warning: {w}")));
        lines.push(match (r.intact(), r.deliberate_start()) {
            (true, None) => "intact".to_owned(),
            (true, Some(d)) => format!(
                "intact from seq {} on (a deliberate start: records before {} were not shipped, on purpose; this copy proves nothing about them)",
                d.seq, d.seq
            ),
            (false, _) => "NOT INTACT: records were changed, forged or lost on the way".to_owned(),
        });
        for line in lines {
            if !out.line(line.as_bytes())? {
                break;
            }
        }
    }
    out.flush()?;
    Ok(code)
}
