//! The module graph points one way: down to `trail`, the owner of the on-disk format, which
//! imports nothing else of the crate. A module that reaches up (the sink into `investigate`, the
//! chain into `sink`) fails this test, naming the file and the import.
//!
//! ```text
//!   http   export   investigate   verify   ship          (readers, integrations)
//!     \       \          |          |       |
//!    layer --> record --> redact    |       |
//!      \  \--> shred (and export --> shred) |
//!       \                           |       |
//!       +-------------> sink -------+-------+
//!                         \         |
//!                          chain ---+
//!                            \
//!                            trail   (names, opening and caps, line reading, trailers, MAC,
//!                                     JSON escaping, hex, timestamps, writing beside a trail)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What each top-level module may import from the crate (besides itself).
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("trail", &[][..]),
        ("key", &["trail"][..]),
        ("stream", &[][..]),
        ("chain", &["trail", "key"][..]),
        ("redact", &["trail", "stream"][..]),
        ("record", &["redact", "trail"][..]),
        ("sink", &["chain", "trail", "key", "stream"][..]),
        ("verify", &["chain", "trail", "redact"][..]),
        ("investigate", &["chain", "trail", "key", "stream"][..]),
        ("ship", &["chain", "trail", "key", "stream"][..]),
        ("export", &["investigate", "trail", "shred"][..]),
        // Crypto-shredding: the key store and the readers' view of encrypted fields. The layer
        // reaches it through one hook (`layer/shred_hook.rs`).
        ("shred", &["chain", "trail", "key"][..]),
        // The manual includes the docs; its doc links name `trail` items.
        ("manual", &["trail"][..]),
        (
            "layer",
            &[
                "chain", "key", "record", "redact", "ship", "sink", "stream", "trail", "otel",
                "shred",
            ][..],
        ),
        ("otel", &["layer"][..]),
        ("http", &["layer", "redact", "trail", "stream"][..]),
    ])
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests and comments: what the built library imports.
fn library_code(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if name == "tests.rs"
        || name.ends_with("_tests.rs")
        || name == "every_way.rs"
        || name == "model.rs"
    {
        return None;
    }
    if path.components().any(|c| c.as_os_str() == "tests") {
        return None;
    }
    let text = fs::read_to_string(path).ok()?;
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    let code = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    Some(code)
}

/// The crate's top-level modules that `code` names as `crate::<module>`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        // Names the crate re-exports at its root stand for the module that owns them.
        let name = match &rest[..end] {
            "Stream" => "stream",
            "KeySource" | "KeyError" | "KeyErrorKind" => "key",
            other => other,
        };
        found.insert(name.to_owned());
    }
    found
}

#[test]
fn no_module_imports_anything_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = allowed();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "bin" || top == "lib" {
            continue;
        }
        let Some(code) = library_code(file) else {
            continue;
        };
        let Some(ok) = allowed.get(top.as_str()) else {
            violations.push(format!(
                "{}: module `{top}` has no place in the graph",
                rel.display()
            ));
            continue;
        };
        seen.insert(top.clone());
        for m in imports(&code) {
            if m != top && !ok.contains(&m.as_str()) {
                violations.push(format!("{}: `{top}` imports `crate::{m}`", rel.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports climbing the graph:\n{}",
        violations.join("\n")
    );
    // The test would pass vacuously if it found no code.
    for m in ["trail", "chain", "sink", "verify", "investigate", "layer"] {
        assert!(seen.contains(m), "no code found for `{m}`");
    }
}

#[test]
fn the_format_owner_is_the_only_gzip_opener_name_parser_and_line_splitter() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut outside = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("trail") {
            continue;
        }
        let Some(code) = library_code(file) else {
            continue;
        };
        // RELP frames and `scrub`'s standard input are not trail files.
        let protocol = rel.ends_with("ship/relp.rs") || rel.ends_with("redact/scrubber.rs");
        for needle in [
            "GzDecoder",
            ".jsonl.gz\")",
            "strip_suffix(\".jsonl",
            "split(|&b| b == b'\\n')",
            "read_until(b'\\n'",
        ] {
            if code.contains(needle) && !protocol {
                outside.push(format!("{}: {needle}", rel.display()));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "gzip readers, file-name parsing or line splitting outside src/trail:\n{}",
        outside.join("\n")
    );
}
