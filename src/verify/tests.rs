//! Trails built by driving the chain framer directly, in the file layout the sink writes.

use super::every_way::verify;
use super::*;
use crate::chain::{ChainConfig, ChainKey};
use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn name(i: usize) -> String {
    format!("audit.2026-11-26.{i:04}.jsonl")
}

/// Writes `records` records, `per_file` per file, checkpoints every 7 records.
fn build(dir: &Path, key: Option<&ChainKey>, records: usize, per_file: usize) {
    build_pruning(dir, key, records, per_file, None);
}

/// A chained prune record as retention writes it, naming the files before `name(keep)`
/// (already on disk) as deleted; `mac` overrides the chain value it names.
fn prune_body(dir: &Path, keep: usize, mac: Option<&str>) -> String {
    let first = fs::read(dir.join(name(keep))).unwrap();
    let first: serde_json::Value =
        serde_json::from_slice(first.split(|&b| b == b'\n').next().unwrap()).unwrap();
    let through = first["seq"].as_u64().unwrap() - 1;
    let prev = first["prev"].as_str().unwrap();
    let files: Vec<String> = (0..keep).map(name).collect();
    format!(
        r#"{{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","record":"prune","files":{},"through_seq":{through},"through_mac":"{}","message":"retention deleted {keep} files"}}"#,
        serde_json::to_string(&files).unwrap(),
        mac.unwrap_or(prev)
    )
}

/// [`build`], and once file `prune.0` is closed and the next one started, a prune record (see [`prune_body`]).
fn build_pruning(
    dir: &Path,
    key: Option<&ChainKey>,
    records: usize,
    per_file: usize,
    prune: Option<(usize, Option<&str>)>,
) {
    let mut cfg = ChainConfig::new().checkpoint_every(7);
    if let Some(k) = key {
        cfg = cfg.key(k.clone());
    }
    let mut f = cfg.framer();
    let mut file = 0;
    let mut out = Vec::new();
    f.resume(None, None, t(0), &mut out);
    let mut in_file = 0;
    for r in 0..records {
        if in_file == per_file {
            f.seal(&name(file), &name(file + 1), t(r as u64), &mut out);
            fs::write(dir.join(name(file)), &out).unwrap();
            out.clear();
            file += 1;
            in_file = 0;
        }
        let body = format!(
            r#"{{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","level":"INFO","target":"app","actor":"user{r}","action":"read","outcome":"success","message":"record {r}","fields":{{"n":{r}}}}}"#
        );
        f.frame(body.as_bytes(), &mut out);
        in_file += 1;
        if let Some((keep, mac)) = prune.filter(|&(keep, _)| keep + 1 == file && in_file == 1) {
            f.frame(prune_body(dir, keep, mac).as_bytes(), &mut out);
        }
        if r % 3 == 2 {
            if let Some(range) = f.checkpoint(t(r as u64), false, &mut out) {
                fs::write(dir.join("audit.checkpoint"), &out[range]).unwrap();
            }
        }
    }
    if let Some(range) = f.checkpoint(t(1000), true, &mut out) {
        fs::write(dir.join("audit.checkpoint"), &out[range]).unwrap();
    }
    fs::write(dir.join(name(file)), &out).unwrap();
}

fn key() -> ChainKey {
    ChainKey::new("k1", b"verify test key")
}

fn keys() -> Keys {
    Keys::from(key())
}

fn files_of(dir: &Path) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".jsonl") && !n.contains(".current."))
        .map(|n| {
            let c = fs::read(dir.join(&n)).unwrap();
            let lines = c
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            (n, lines)
        })
        .collect();
    v.sort();
    v
}

fn write_lines(dir: &Path, file: &str, lines: &[Vec<u8>]) {
    let mut c = Vec::new();
    for l in lines {
        c.extend_from_slice(l);
        c.push(b'\n');
    }
    fs::write(dir.join(file), c).unwrap();
}

#[test]
fn intact_keyed_trail_verifies() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 40, 10);
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    assert!(r.keyed());
    assert_eq!(r.files().len(), 4);
    assert_eq!(r.first_seq(), Some(0));
    assert_eq!(r.begins_at(), None);
    assert!(r.to_string().starts_with("OK: "), "{r}");
}

#[test]
fn intact_unkeyed_trail_verifies_with_a_warning() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), None, 25, 10);
    let r = verify(d.path(), &Keys::none()).unwrap();
    assert!(r.intact(), "{r}");
    assert!(r.warnings().iter().any(|w| w.message().contains("unkeyed")));
}

#[test]
fn keyed_trail_with_wrong_key_is_modified_everywhere() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 12, 10);
    let r = verify(d.path(), &Keys::from(ChainKey::new("k1", b"other"))).unwrap();
    assert!(!r.intact());
    assert!(
        r.problems()
            .iter()
            .all(|p| p.kind() == ProblemKind::Modified),
        "{r}"
    );
}

#[test]
fn keyed_trail_without_key_is_unverifiable() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 12, 10);
    let r = verify(d.path(), &Keys::none()).unwrap();
    assert_eq!(r.problems().len(), 1, "{r}");
    assert_eq!(r.problems()[0].kind(), ProblemKind::Unverifiable);
}

#[test]
fn unkeyed_trail_is_unverifiable_when_a_key_is_given() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), None, 12, 10);
    let r = verify(d.path(), &keys()).unwrap();
    assert!(
        r.problems()
            .iter()
            .any(|p| p.kind() == ProblemKind::Unverifiable),
        "{r}"
    );
}

#[test]
fn a_head_pruned_by_retention_verifies_and_says_where_the_trail_begins() {
    let d = tempfile::tempdir().unwrap();
    build_pruning(d.path(), Some(&key()), 40, 10, Some((2, None)));
    fs::remove_file(d.path().join(name(0))).unwrap();
    fs::remove_file(d.path().join(name(1))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    let first = r.first_seq().unwrap();
    assert_eq!(r.begins_at(), Some(first));
    assert!(
        r.to_string()
            .contains(&format!("trail begins at sequence {first}")),
        "{r}"
    );
    // A crash between the record and the deletion: the files it names are still there.
    let d = tempfile::tempdir().unwrap();
    build_pruning(d.path(), Some(&key()), 40, 10, Some((2, None)));
    fs::remove_file(d.path().join(name(0))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
}

#[test]
fn a_head_lost_without_a_prune_record_is_deletion() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 40, 10);
    fs::remove_file(d.path().join(name(0))).unwrap();
    fs::remove_file(d.path().join(name(1))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Deleted], "{r}");
    assert!(r.to_string().contains("no prune record"), "{r}");
    assert_eq!(r.begins_at(), None);
}

/// An unkeyed record at seq 0 that chains to something before it (a `prev`, not a genesis):
/// whoever wrote it replaced the chain's start. Found, not a crash.
#[test]
fn a_first_record_at_seq_0_that_is_not_the_chain_start_is_deletion() {
    let d = tempfile::tempdir().unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let prev = [7u8; 32];
    let signed = format!(
        r#"{{"seq":0,"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","level":"INFO","target":"app","actor":"a","action":"read","outcome":"success","message":"m","fields":{{}},"prev":"{}""#,
        hex(&prev)
    );
    let mac = crate::chain::compute(None, &prev, signed.as_bytes());
    fs::write(
        d.path().join(name(0)),
        format!("{signed},\"mac\":\"sha256:{}\"}}\n", hex(&mac)),
    )
    .unwrap();
    for streaming in [true, false] {
        let r = Verifier::new(d.path())
            .streaming(streaming)
            .verify()
            .unwrap();
        assert!(kinds(&r).contains(&ProblemKind::Deleted), "{r}");
        assert!(r.to_string().contains("not its chain start"), "{r}");
    }
}

#[test]
fn a_head_lost_beyond_what_retention_recorded_is_deletion() {
    let d = tempfile::tempdir().unwrap();
    // Retention recorded deleting file 0; files 0 and 1 are gone.
    build_pruning(d.path(), Some(&key()), 40, 10, Some((1, None)));
    fs::remove_file(d.path().join(name(0))).unwrap();
    fs::remove_file(d.path().join(name(1))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Deleted], "{r}");
    assert!(r.to_string().contains("cover only records up to"), "{r}");
}

#[test]
fn a_head_that_does_not_continue_where_the_prune_record_ended_is_spliced() {
    let d = tempfile::tempdir().unwrap();
    let wrong = "ab".repeat(32);
    build_pruning(d.path(), Some(&key()), 40, 10, Some((2, Some(&wrong))));
    fs::remove_file(d.path().join(name(0))).unwrap();
    fs::remove_file(d.path().join(name(1))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Spliced], "{r}");
}

#[cfg(feature = "gzip")]
#[test]
fn gzipped_files_are_verified() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 30, 10);
    for i in 0..2 {
        let p = d.path().join(name(i));
        let raw = fs::read(&p).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        fs::write(
            d.path().join(format!("{}.gz", name(i))),
            gz.finish().unwrap(),
        )
        .unwrap();
        fs::remove_file(p).unwrap();
    }
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    assert_eq!(r.files()[0].name(), format!("{}.gz", name(0)));
    // A flipped byte inside the compressed file is found too.
    let p = d.path().join(format!("{}.gz", name(1)));
    let raw = fs::read(&p).unwrap();
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut plain).unwrap();
    let at = plain.windows(8).position(|w| w == b"record 1").unwrap() + 7;
    plain[at] = b'9';
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    fs::write(&p, gz.finish().unwrap()).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(r.problems()[0].kind(), ProblemKind::Modified, "{r}");
    assert_eq!(
        r.problems()[0].file(),
        Some(format!("{}.gz", name(1)).as_str())
    );
}

#[test]
fn torn_last_line_of_newest_file_is_a_warning() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 15, 10);
    let p = d.path().join(name(1));
    let mut c = fs::read(&p).unwrap();
    c.extend_from_slice(b"{\"seq\":99,\"ts\":\"2026");
    fs::write(&p, c).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    assert!(
        r.warnings().iter().any(|w| w.message().contains("torn")),
        "{r}"
    );
    // The same in an older file is damage.
    let p = d.path().join(name(0));
    let mut c = fs::read(&p).unwrap();
    c.extend_from_slice(b"{\"seq\":99");
    fs::write(&p, c).unwrap();
    assert!(!verify(d.path(), &keys()).unwrap().intact());
}

/// Classifies one mutation; panics when it goes undetected.
fn detect(d: &Path, what: &str) -> Report {
    let r = verify(d, &keys()).unwrap();
    assert!(!r.intact(), "undetected: {what}\n{r}");
    r
}

fn kinds(r: &Report) -> Vec<ProblemKind> {
    r.problems().iter().map(Problem::kind).collect()
}

#[test]
fn mutations_of_a_framer_built_trail_are_classified() {
    let src = tempfile::tempdir().unwrap();
    build(src.path(), Some(&key()), 40, 10);
    let base = files_of(src.path());
    let fresh = || {
        let d = tempfile::tempdir().unwrap();
        for (n, lines) in &base {
            write_lines(d.path(), n, lines);
        }
        fs::copy(
            src.path().join("audit.checkpoint"),
            d.path().join("audit.checkpoint"),
        )
        .unwrap();
        d
    };
    let f1 = &base[1].0;
    let lines = &base[1].1;

    let d = fresh();
    let mut l = lines.clone();
    l.remove(4);
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "delete");
    assert_eq!(kinds(&r)[0], ProblemKind::Deleted, "{r}");

    let d = fresh();
    let mut l = lines.clone();
    l.insert(5, l[4].clone());
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "duplicate");
    assert_eq!(kinds(&r), [ProblemKind::Duplicated], "{r}");

    let d = fresh();
    let mut l = lines.clone();
    l.swap(4, 5);
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "swap");
    assert!(
        kinds(&r).iter().all(|k| *k == ProblemKind::Reordered),
        "{r}"
    );

    let d = fresh();
    fs::remove_file(d.path().join(&base[2].0)).unwrap();
    let r = detect(d.path(), "middle file");
    assert_eq!(kinds(&r), [ProblemKind::MissingFile], "{r}");

    let d = fresh();
    let last = &base[base.len() - 1];
    write_lines(d.path(), &last.0, &last.1[..last.1.len() - 2]);
    let r = detect(d.path(), "tail");
    assert_eq!(kinds(&r), [ProblemKind::Truncated], "{r}");

    let d = fresh();
    let mut l = lines.clone();
    l.pop();
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "seal removed");
    assert!(kinds(&r).contains(&ProblemKind::BrokenSeal), "{r}");

    let d = fresh();
    let mut l = lines.clone();
    let s = String::from_utf8(l[3].clone()).unwrap();
    assert!(s.contains(r#""actor":"user"#), "{s}");
    l[3] = s
        .replace(r#""actor":"user"#, r#""actor":"mallory"#)
        .into_bytes();
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "modify");
    assert_eq!(kinds(&r), [ProblemKind::Modified], "{r}");
    assert_eq!(r.problems()[0].line(), Some(4));

    let d = fresh();
    let mut l = lines.clone();
    l.insert(
        2,
        br#"{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","actor":"mallory"}"#.to_vec(),
    );
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "insert plain");
    assert_eq!(kinds(&r), [ProblemKind::Inserted], "{r}");

    let other = tempfile::tempdir().unwrap();
    build(other.path(), Some(&key()), 40, 10);
    let foreign = files_of(other.path());
    let d = fresh();
    let mut l = lines.clone();
    l.insert(3, foreign[1].1[3].clone());
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "splice");
    assert_eq!(kinds(&r), [ProblemKind::Inserted], "{r}");

    let d = fresh();
    let mut l = lines.clone();
    for k in 0..3 {
        l.insert(3 + k, foreign[1].1[2 + k].clone());
    }
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "splice a run");
    assert_eq!(
        kinds(&r),
        [
            ProblemKind::Inserted,
            ProblemKind::Spliced,
            ProblemKind::Spliced
        ],
        "{r}"
    );

    let d = fresh();
    let mut l = lines.clone();
    l.insert(3, foreign[0].1[0].clone());
    write_lines(d.path(), f1, &l);
    let r = detect(d.path(), "splice genesis");
    assert!(kinds(&r).contains(&ProblemKind::Spliced), "{r}");
}

#[test]
fn every_single_byte_flip_is_detected() {
    let src = tempfile::tempdir().unwrap();
    build(src.path(), Some(&key()), 25, 10);
    let base = files_of(src.path());
    let (f1, lines) = (&base[1].0, &base[1].1);
    let d = tempfile::tempdir().unwrap();
    for (n, l) in &base {
        write_lines(d.path(), n, l);
    }
    let mut flips = 0;
    // A body record, the checkpoint after it, the first record of the file and the seal.
    let pick: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            let s = String::from_utf8_lossy(&lines[i]);
            i == 0 || i + 1 == lines.len() || s.contains("\"checkpoint\"") || i == 2
        })
        .collect();
    for i in pick {
        for at in 0..lines[i].len() {
            let mut l = lines.clone();
            l[i][at] ^= 0x20;
            write_lines(d.path(), f1, &l);
            let r = verify(d.path(), &keys()).unwrap();
            assert!(!r.intact(), "flip at line {i} byte {at} undetected");
            flips += 1;
        }
    }
    assert!(flips > 500, "{flips}");
}

#[test]
fn verification_time_grows_linearly_with_the_trail() {
    // The best of three runs: other tests share the cores, and a pause is not a curve.
    let time = |records: usize| {
        let d = tempfile::tempdir().unwrap();
        build(d.path(), Some(&key()), records, 1000);
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                let r = verify(d.path(), &keys()).unwrap();
                assert!(r.intact(), "{r}");
                start.elapsed()
            })
            .min()
            .unwrap()
    };
    let small = time(1_000);
    let large = time(8_000);
    println!("verify: 1k records {small:?}, 8k records {large:?}");
    // Linear is 8x; quadratic would be 64x. The margin is for a loaded machine.
    assert!(large < small * 32, "1k: {small:?}, 8k: {large:?}");
}

/// The real writer thread and file set drive the framer: rotation seals, the checkpoint side
/// file and a restart.
#[test]
fn trail_written_by_the_file_sink_verifies_across_rotation_and_restart() {
    use crate::sink::{spawn, FileSink, SinkSpec, Target};
    let d = tempfile::tempdir().unwrap();
    let run = |from: usize, to: usize| {
        let (handle, guard) = spawn(SinkSpec {
            stream: crate::Stream::Audit,
            target: Target::Files(Box::new(FileSink::new(d.path()).max_file_size(2048))),
            framer: Some(ChainConfig::new().key(key()).checkpoint_every(10).framer()),
        })
        .unwrap();
        for i in from..to {
            let body = format!(
                r#"{{"ts":"2026-11-26T05:56:07.123456789Z","stream":"audit","level":"INFO","target":"app","actor":"u{i}","message":"m{i}"}}"#
            );
            handle.submit(body.as_bytes());
        }
        handle.sync().unwrap();
        drop(guard);
    };
    run(0, 60);
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    assert!(r.files().len() >= 3, "{r}");
    assert!(d.path().join("audit.checkpoint").exists());
    run(60, 100);
    let r = verify(d.path(), &keys()).unwrap();
    assert!(r.intact(), "{r}");
    let body_records = files_of(d.path())
        .iter()
        .flat_map(|(_, l)| l.clone())
        .filter(|l| String::from_utf8_lossy(l).contains("\"actor\":\"u"))
        .count();
    assert_eq!(body_records, 100);
    // Cutting the end is shown by the checkpoint side file.
    let (name, lines) = files_of(d.path()).pop().unwrap();
    write_lines(d.path(), &name, &lines[..lines.len() - 1]);
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Truncated], "{r}");
}

#[test]
fn a_side_file_put_back_to_an_older_checkpoint_is_detected() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 40, 10);
    assert!(verify(d.path(), &keys()).unwrap().intact());
    // The writer published newer checkpoints (and lived seconds past them): an older one in the
    // side file was put there by someone else.
    let older = files_of(d.path())
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .find(|l| crate::chain::control_kind(l) == Some(b"checkpoint".as_slice()))
        .unwrap();
    fs::write(d.path().join("audit.checkpoint"), &older).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert_eq!(kinds(&r), [ProblemKind::Modified], "{r}");
    assert!(r.problems()[0].detail().contains("older line"), "{r}");
}

#[test]
fn a_file_moved_out_of_place_is_not_called_missing() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), Some(&key()), 40, 10);
    fs::rename(d.path().join(name(1)), d.path().join(name(7))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert!(!r.intact());
    let text = r.to_string();
    // The records of 0001 are all there, in 0007: out of place, not missing and not cut.
    assert!(!text.contains("missing"), "{text}");
    assert!(
        !kinds(&r).iter().any(|k| matches!(
            k,
            ProblemKind::MissingFile | ProblemKind::Truncated | ProblemKind::Deleted
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} is present as {}", name(1), name(7))),
        "{text}"
    );
    assert!(kinds(&r).contains(&ProblemKind::Reordered), "{text}");
    // Really gone is still missing.
    fs::remove_file(d.path().join(name(7))).unwrap();
    let r = verify(d.path(), &keys()).unwrap();
    assert!(kinds(&r).contains(&ProblemKind::MissingFile), "{r}");
}
