//! `tracing-audit scrub`: redact lines from stdin with the layer's detectors.

use super::CliError;
use clap::{Args, ValueEnum};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use tracing_audit::redact::detect::DetectorSet;
use tracing_audit::redact::Pseudonymizer;
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
    /// The hash key file, for detectors whose action is to hash (without it they mask).
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
}

/// Scrubs one line: every string value when it is a JSON document (keys, numbers and layout
/// are kept byte for byte), else the whole line as text.
fn scrub_line(line: &str, set: &DetectorSet, hasher: Option<&Pseudonymizer>, out: &mut String) {
    if serde_json::from_str::<serde_json::Value>(line).is_err() {
        out.push_str(&set.scrub(line, hasher));
        return;
    }
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(bytes.len());
        i = end;
        let is_key = bytes[end..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b':');
        if is_key {
            continue;
        }
        let token = &line[start..end];
        let Ok(value) = serde_json::from_str::<String>(token) else {
            continue;
        };
        let scrubbed = set.scrub(&value, hasher);
        if scrubbed != value {
            out.push_str(&line[copied..start]);
            // Serializing a string cannot fail.
            out.push_str(&serde_json::to_string(&*scrubbed).unwrap_or_default());
            copied = end;
        }
    }
    out.push_str(&line[copied..]);
}

pub(super) fn run(args: ScrubArgs) -> Result<u8, CliError> {
    let stream = match args.stream {
        StreamArg::Audit => Stream::Audit,
        StreamArg::Debug => Stream::Debug,
    };
    let set = DetectorSet::for_stream(stream);
    let hasher = match &args.key_file {
        Some(f) => Some(Pseudonymizer::new(
            &tracing_audit::KeySource::file(f).load()?,
        )),
        None => None,
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut output = std::io::BufWriter::new(stdout.lock());
    let mut raw = Vec::new();
    let mut out = String::new();
    loop {
        raw.clear();
        let n = input
            .read_until(b'\n', &mut raw)
            .map_err(|e| CliError(format!("cannot read stdin: {e}")))?;
        if n == 0 {
            break;
        }
        let newline = raw.ends_with(b"\n");
        let body = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        out.clear();
        scrub_line(
            &String::from_utf8_lossy(body),
            &set,
            hasher.as_ref(),
            &mut out,
        );
        if newline {
            out.push('\n');
        }
        match output.write_all(out.as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(CliError(format!("cannot write to stdout: {e}"))),
        }
    }
    match output.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(line: &str) -> String {
        let mut out = String::new();
        scrub_line(
            line,
            &DetectorSet::for_stream(Stream::Debug),
            None,
            &mut out,
        );
        out
    }

    #[test]
    fn json_lines_keep_keys_numbers_and_layout_and_lose_secrets_in_values() {
        let line = r#"{"b":1, "url":"https://bob:hunter22@db.example.com/x","password_hint":"none","n":[1,"Bearer abcdefghijklmnopqrstuvwxyz012345"]}"#;
        let out = scrub(line);
        assert!(
            !out.contains("hunter22") && !out.contains("abcdefghijklmnopqrstuvwxyz012345"),
            "{out}"
        );
        assert!(out.starts_with(r#"{"b":1, "url":"#), "{out}");
        assert!(out.contains(r#""password_hint":"none""#), "{out}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap();
    }

    #[test]
    fn other_lines_are_scrubbed_as_text() {
        let out = scrub("GET https://bob:hunter22@db.example.com/x {not json");
        assert!(!out.contains("hunter22"), "{out}");
        assert!(out.starts_with("GET https://bob:"), "{out}");
    }
}
