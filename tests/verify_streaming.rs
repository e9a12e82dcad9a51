//! The streaming `verify`: memory that does not grow with the trail, and a damaged compressed
//! file in the middle of a trail reported as a finding while the rest is still checked. Trails
//! are written through the real layer and file sink.

mod chain_support;

use chain_support::*;
use std::fs;
use std::io::Write;
use std::path::Path;
use tracing_audit::sink::FileSink;
use tracing_audit::verify::{Keys, ProblemKind, Verifier};

fn trail(dir: &Path, records: usize) {
    write_trail(dir, keyed(), 0..records, 32 * 1024);
}

#[test]
fn verify_memory_does_not_grow_with_the_trail() {
    let small = tempfile::tempdir().unwrap();
    let large = tempfile::tempdir().unwrap();
    trail(small.path(), 1_000);
    trail(large.path(), 10_000);
    let keys = Keys::from(key());
    let run = |dir: &Path, streaming: bool| {
        let r = Verifier::new(dir)
            .keys(keys.clone())
            .threads(2)
            .streaming(streaming)
            .verify()
            .unwrap();
        assert!(r.intact(), "{r}");
        r
    };
    let (s1, s10) = (run(small.path(), true), run(large.path(), true));
    assert!(s10.records() >= 10_000 && s1.records() >= 1_000);
    assert!(
        s10.files().len() >= 8 * s1.files().len(),
        "{} / {}",
        s10.files().len(),
        s1.files().len()
    );
    assert!(s1.stats().streamed() && s10.stats().streamed());
    let (p1, p10) = (
        s1.stats().peak_buffered_bytes(),
        s10.stats().peak_buffered_bytes(),
    );
    // Two read buffers (512 KiB each) and a few digests, whatever the trail's length.
    assert!(p10 <= p1 + p1 / 4, "1x: {p1} bytes, 10x: {p10} bytes");
    assert!(p10 < 2 << 20, "10x: {p10} bytes");
    // The reference check's model grows with the trail: the accounting measures something.
    let (r1, r10) = (run(small.path(), false), run(large.path(), false));
    let (q1, q10) = (
        r1.stats().peak_buffered_bytes(),
        r10.stats().peak_buffered_bytes(),
    );
    assert!(!r10.stats().streamed());
    assert!(q10 > 5 * q1, "reference 1x: {q1} bytes, 10x: {q10} bytes");
    assert_eq!(findings(&s10), findings(&r10));
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(raw).unwrap();
    gz.finish().unwrap()
}

/// Replaces the trail's `n`th file with a gzip of it, damaged by `damage`.
fn damage_gz(dir: &Path, n: usize, damage: impl Fn(&mut Vec<u8>)) -> String {
    let files = trail_files(dir);
    let plain = &files[n];
    let mut gz = gzip(&fs::read(plain).unwrap());
    damage(&mut gz);
    let name = format!("{}.gz", plain.file_name().unwrap().to_string_lossy());
    fs::write(dir.join(&name), gz).unwrap();
    fs::remove_file(plain).unwrap();
    name
}

#[test]
fn a_damaged_gz_in_the_middle_is_a_finding_and_the_rest_is_checked() {
    for (what, damage) in [
        (
            "truncated",
            (|gz: &mut Vec<u8>| gz.truncate(gz.len() / 2)) as fn(&mut Vec<u8>),
        ),
        ("corrupt", |gz: &mut Vec<u8>| {
            let mid = gz.len() / 2;
            for b in &mut gz[mid..mid + 16] {
                *b ^= 0x5a;
            }
        }),
    ] {
        let d = tempfile::tempdir().unwrap();
        trail(d.path(), 600);
        let before = trail_files(d.path()).len();
        assert!(before >= 5, "{before}");
        let name = damage_gz(d.path(), 2, damage);
        let r = verify(d.path(), &Keys::from(key())).unwrap();
        // The first finding is in the damaged file. A truncated stream ends early: that is the
        // finding. Corrupt bytes may still inflate (to lines that are not records) before the
        // stream's check fails: those lines are findings too.
        let first = &r.problems()[0];
        assert_eq!(first.file(), Some(name.as_str()), "{what}: {r}");
        let damaged = r.problems().iter().find(|p| p.detail().contains("damaged"));
        if what == "truncated" {
            assert_eq!(first.kind(), ProblemKind::Modified, "{what}: {r}");
            assert!(first.detail().contains("damaged"), "{what}: {r}");
        }
        if let Some(p) = damaged {
            assert_eq!(p.file(), Some(name.as_str()), "{what}: {r}");
        }
        // Every file was still read, the ones after the damage to their end.
        assert_eq!(r.files().len(), before, "{what}: {r}");
        for f in &r.files()[3..] {
            assert!(f.lines() > 0, "{what}: {} not checked\n{r}", f.name());
        }
        assert!(!r.stats().streamed());
    }
}

#[test]
fn rotated_compressed_and_restarted_trails_stream() {
    let d = tempfile::tempdir().unwrap();
    // Two runs of the writer (a restart), size rotation, closed files gzipped by the sink.
    for range in [0..300, 300..600] {
        let (layer, guard) = tracing_audit::layer::AuditLayer::builder()
            .audit_to_files(
                FileSink::new(d.path())
                    .max_file_size(16 * 1024)
                    .compress(true),
            )
            .debug_to(std::io::sink)
            .chain(keyed())
            .build()
            .unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || emit(range));
        drop(guard);
    }
    let gz = fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".gz")
        })
        .count();
    assert!(gz >= 3, "{gz}");
    let r = verify(d.path(), &Keys::from(key())).unwrap();
    assert!(r.intact(), "{r}");
    let fast = Verifier::new(d.path())
        .keys(Keys::from(key()))
        .verify()
        .unwrap();
    assert!(fast.stats().streamed(), "{fast}");
    assert!(fast.stats().threads() >= 1);
}

use tracing_subscriber::prelude::*;
