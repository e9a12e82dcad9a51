//! A crash between writing a file's seal and opening the next file leaves the newest file
//! sealed. The next run must not append records after the seal: it opens the file the seal
//! names, and the trail verifies.

use std::fs;
use std::path::Path;

use tracing_audit::chain::ChainConfig;
use tracing_audit::sink::{testing, FileSink, Rotation};
use tracing_audit::verify::{verify, Keys};
use tracing_audit::Stream;

fn data_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit.") && n.ends_with(".jsonl") && !n.contains("current"))
        .collect();
    names.sort();
    names
}

fn run(dir: &Path, records: std::ops::Range<u32>) {
    let config = FileSink::new(dir)
        .rotation(Rotation::Never)
        .max_file_size(700);
    let (handle, guard) =
        testing::spawn_files(Stream::Audit, config, Some(&ChainConfig::new())).unwrap();
    for i in records {
        let record = format!(
            r#"{{"ts":"2026-11-26T06:00:00.000000000Z","stream":"audit","level":"INFO","target":"audit","message":"r{i}"}}"#
        );
        testing::submit(&handle, record.as_bytes());
        handle.sync().unwrap();
    }
    drop(guard);
}

#[test]
fn restart_after_a_crash_between_seal_and_rotation_opens_the_sealed_files_successor() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 0..12);
    let files = data_files(dir.path());
    assert!(files.len() >= 2, "{files:?}");
    // The crash: the first file is sealed, its successor was never created.
    let sealed = &files[0];
    let seal: serde_json::Value = serde_json::from_str(
        fs::read_to_string(dir.path().join(sealed))
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(seal["record"], "seal");
    for name in &files[1..] {
        fs::remove_file(dir.path().join(name)).unwrap();
    }
    let _ = fs::remove_file(dir.path().join("audit.current.jsonl"));
    let _ = fs::remove_file(dir.path().join("audit.checkpoint"));
    let sealed_before = fs::read(dir.path().join(sealed)).unwrap();

    run(dir.path(), 100..103);

    assert_eq!(
        fs::read(dir.path().join(sealed)).unwrap(),
        sealed_before,
        "nothing is appended to a sealed file"
    );
    let files = data_files(dir.path());
    assert_eq!(
        files[1],
        seal["next"].as_str().unwrap(),
        "the seal's successor"
    );
    let report = verify(dir.path(), &Keys::none()).unwrap();
    assert!(report.intact(), "{:?}", report.problems());
}
