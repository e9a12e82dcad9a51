//! `Search` and `last_matching` return exactly what parsing every line returns, on trails with
//! rotated, gzipped and active files, values that recur in other fields, messages and other
//! records, and damaged files.

mod chain_support;

use proptest::prelude::*;
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use tracing_audit::chain::ChainKey;
use tracing_audit::investigate::{build_indexes, last_matching, Query, Search};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_audit::trail::{FileProblemKind, Trail};
use tracing_subscriber::prelude::*;

/// What a plain scan returns: every line of every file, decompressed whole, parsed, tested.
fn parse_everything(trails: &[&Trail], q: &Query) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in trails {
        for f in t.files() {
            let raw = fs::read(f.path()).unwrap();
            let content = if f.is_compressed() {
                let mut d = Vec::new();
                // A damaged file yields what decompresses before the damage.
                let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut d);
                d
            } else {
                raw
            };
            let end = content
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            for line in content[..end].split(|&b| b == b'\n') {
                if let Ok(v) = serde_json::from_slice::<Value>(line) {
                    if q.matches(&v) {
                        out.push(line.to_vec());
                    }
                }
            }
        }
    }
    out
}

fn search(trails: &[&Trail], q: &Query, threads: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let summary = Search::new().threads(threads).run(trails, q, |hit| {
        out.push(hit.into_line());
        ControlFlow::Continue(())
    });
    assert!(summary.problems().is_empty(), "{:?}", summary.problems());
    out
}

fn gzip_file(path: &Path) {
    let raw = fs::read(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    fs::write(format!("{}.gz", path.display()), gz.finish().unwrap()).unwrap();
    fs::remove_file(path).unwrap();
}

/// Words that recur as values, inside messages, inside other fields and as keys.
const WORDS: &[&str] = &[
    "alice",
    "alic",
    "alice2",
    "bob",
    "c1",
    "c10",
    "read",
    "denied",
    "success",
    "actor",
    "2026-11-26",
    "a\"b",
    "é",
];

fn record() -> impl Strategy<Value = Value> {
    let w = || prop::sample::select(WORDS);
    (
        (0u32..86_400, w(), w(), w(), w()),
        (w(), w(), w(), any::<bool>(), 0u8..4),
    )
        .prop_map(|((secs, actor, action, outcome, id), (msg, other, trace, control, shape))| {
            let ts = format!(
                "2026-11-26T{:02}:{:02}:{:02}.000000000Z",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            if control {
                return json!({"seq": secs, "ts": ts, "record": "seal", "actor": actor});
            }
            let mut v = json!({
                "ts": ts,
                "message": format!("{msg} saw \"{other}\" and {id}"),
                "fields": {"note": other, actor: id},
                "spans": [{"name": "request", "fields": {"correlation_id": trace, "actor": outcome}}],
            });
            let m = v.as_object_mut().unwrap();
            // Not every record carries every key; some carry them in another form.
            if shape != 1 {
                m.insert("actor".into(), json!(actor));
            }
            if shape != 2 {
                m.insert("action".into(), json!(action));
                m.insert("outcome".into(), json!(outcome));
            } else {
                m.insert("outcome".into(), json!([outcome]));
            }
            if shape != 3 {
                m.insert("correlation_id".into(), json!(id));
            }
            m.insert("trace_id".into(), json!(trace));
            v
        })
}

fn query() -> impl Strategy<Value = Query> {
    let w = || prop::option::of(prop::sample::select(WORDS));
    (
        w(),
        w(),
        w(),
        w(),
        prop::option::of((0u32..24, 0u32..24)),
        any::<bool>(),
    )
        .prop_map(|(actor, action, outcome, id, window, control)| {
            let mut q = Query::new().include_control(control);
            if let Some(a) = actor {
                q = q.actor(a);
            }
            if let Some(a) = action {
                q = q.action(a);
            }
            if let Some(o) = outcome {
                q = q.outcome(o);
            }
            if let Some(i) = id {
                q = q.id(i);
            }
            if let Some((a, b)) = window {
                q = q
                    .since(&format!("2026-11-26T{:02}:00", a.min(b)))
                    .unwrap()
                    .until(&format!("2026-11-26T{:02}:30", a.max(b)))
                    .unwrap();
            }
            q
        })
}

/// Writes `files` as trail files; every other closed file gzipped, the last one active with a
/// torn last line.
fn write_fixture(dir: &Path, files: &[Vec<Value>]) {
    for (i, recs) in files.iter().enumerate() {
        let name = dir.join(format!("audit.2026-11-26.{:04}.jsonl", i + 1));
        let mut body = Vec::new();
        for r in recs {
            body.extend_from_slice(serde_json::to_string(r).unwrap().as_bytes());
            body.push(b'\n');
        }
        if i + 1 == files.len() {
            body.extend_from_slice(br#"{"ts":"2026-11-26T23:59:59.000000000Z","actor":"alice""#);
        }
        fs::write(&name, body).unwrap();
        if i % 2 == 1 && i + 1 != files.len() {
            gzip_file(&name);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn search_returns_exactly_what_parsing_every_line_returns(
        files in prop::collection::vec(prop::collection::vec(record(), 0..40), 1..5),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_fixture(dir.path(), &files);
        let trail = Trail::open(dir.path(), None).unwrap();
        for q in &queries {
            let want = parse_everything(&[&trail], q);
            prop_assert_eq!(&search(&[&trail], q, 1), &want, "{:?}", q);
            prop_assert_eq!(&search(&[&trail], q, 3), &want, "{:?}", q);
            let last = last_matching(&trail, q, 3, None);
            prop_assert_eq!(&last.lines[..], &want[want.len().saturating_sub(3)..], "{:?}", q);
        }
    }
}

/// A real trail through the layer: rotated (small files), compressed in the background, with
/// an active file; the second run's records carry the first run's correlation ids in their
/// messages and fields, and actors that are prefixes of one another.
#[test]
fn search_matches_a_plain_scan_on_a_real_rotated_gzipped_trail() {
    let root = tempfile::tempdir().unwrap();
    let (audit, debug) = (root.path().join("audit"), root.path().join("debug"));
    let run = |phase: usize, ids: &[String]| {
        let (layer, guard) = AuditLayer::builder()
            .audit_to_files(FileSink::new(&audit).max_file_size(4096).compress(true))
            .debug_to_files(FileSink::new(&debug).max_file_size(4096).compress(true))
            .debug_filter("debug")
            .build()
            .unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..60 {
                let other = ids.get(i % ids.len().max(1)).cloned().unwrap_or_default();
                let span = tracing::info_span!("request", request_id = i, user = "svc");
                let _g = span.enter();
                let actor = ["alice", "alice2", "alic"][i % 3];
                tracing::debug!(echo = %other, "looking up {actor} for {other}");
                tracing::info!(
                    target: "audit",
                    actor,
                    action = "read",
                    resource = %format!("/doc/{phase}/{i}"),
                    outcome = if i % 4 == 0 { "denied" } else { "success" },
                    note = %other,
                    "request by {actor} like {other}"
                );
            }
        });
        drop(guard);
    };
    run(0, &[]);
    let first = Trail::open(&audit, None).unwrap();
    let first_lines = search(&[&first], &Query::new(), 2);
    let mid_ts = serde_json::from_slice::<Value>(&first_lines[30]).unwrap()["ts"]
        .as_str()
        .unwrap()
        .to_owned();
    let ids: Vec<String> = first_lines
        .iter()
        .filter_map(|l| {
            serde_json::from_slice::<Value>(l).ok()?["correlation_id"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(ids.len(), 60);
    run(1, &ids);
    let a = Trail::open(&audit, None).unwrap();
    let d = Trail::open(&debug, None).unwrap();
    assert!(
        a.files().iter().any(|f| f.is_compressed()),
        "compressed files"
    );
    assert!(a.files().iter().any(|f| !f.is_compressed()), "plain files");
    let mut queries = vec![
        Query::new().actor("alice"),
        Query::new().actor("alic").outcome("denied"),
        Query::new().action("read").outcome("success"),
        Query::new().include_control(true),
        Query::new().since(&mid_ts).unwrap(),
        Query::new().actor("alice").until(&mid_ts).unwrap(),
    ];
    for id in ids.iter().step_by(7) {
        queries.push(Query::new().id(id.clone()));
    }
    for q in &queries {
        let want = parse_everything(&[&a, &d], q);
        assert_eq!(search(&[&a, &d], q, 2), want, "{q:?}");
    }
    // An id appears in other requests' messages and fields, and is matched only where it is
    // the record's own: one audit and one debug record for it.
    let hits = search(&[&a, &d], &Query::new().id(ids[5].clone()), 2);
    assert_eq!(hits.len(), 2, "{hits:?}");
}

#[test]
fn a_truncated_gzip_in_the_middle_is_named_and_everything_else_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<Value>> = (0..3)
        .map(|f| {
            (0..200)
                .map(|i| json!({"ts": format!("2026-11-26T0{f}:00:00.000000000Z"), "actor": "carol", "n": f * 1000 + i, "pad": "x".repeat(200)}))
                .collect()
        })
        .collect();
    write_fixture(dir.path(), &files);
    let middle = dir.path().join("audit.2026-11-26.0002.jsonl.gz");
    let gz = fs::read(&middle).unwrap();
    fs::write(&middle, &gz[..gz.len() / 2]).unwrap();
    let trail = Trail::open(dir.path(), None).unwrap();
    let q = Query::new().actor("carol");
    let mut got = Vec::new();
    let summary = Search::new().run(&[&trail], &q, |h| {
        got.push(h.record()["n"].as_u64().unwrap());
        ControlFlow::Continue(())
    });
    assert_eq!(summary.problems().len(), 1);
    let p = &summary.problems()[0];
    assert_eq!(p.kind(), FileProblemKind::Damaged);
    assert_eq!(p.file(), "audit.2026-11-26.0002.jsonl.gz");
    let want: Vec<u64> = parse_everything(&[&trail], &q)
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(got, want);
    assert!(got.contains(&0) && got.contains(&2199));
    assert!(
        got.iter().any(|&n| (1000..1200).contains(&n)),
        "lines before the damage"
    );
}

#[test]
fn tail_reads_from_the_end_not_the_whole_trail() {
    let dir = tempfile::tempdir().unwrap();
    // Two files of about 8 MB each.
    let files: Vec<Vec<Value>> = (0..2)
        .map(|f| {
            (0..20_000)
                .map(|i| json!({"ts": "2026-11-26T00:00:00.000000000Z", "actor": if i % 100 == 0 { "carol" } else { "alice" }, "n": f * 100_000 + i, "pad": "x".repeat(300)}))
                .collect()
        })
        .collect();
    write_fixture(dir.path(), &files);
    let trail = Trail::open(dir.path(), None).unwrap();
    let total: u64 = trail.files().iter().map(|f| f.len_on_disk()).sum();
    let last = last_matching(&trail, &Query::new(), 10, None);
    let n: Vec<u64> = last
        .lines
        .iter()
        .map(|l| {
            serde_json::from_slice::<Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(n, (119_990..120_000).collect::<Vec<_>>());
    assert!(
        last.disk_bytes <= 256 * 1024,
        "read {} of {total} bytes",
        last.disk_bytes
    );
    // A filter that matches one line in a hundred reads a few chunks, still not the trail.
    let last = last_matching(&trail, &Query::new().actor("carol"), 10, None);
    assert_eq!(last.lines.len(), 10);
    assert!(
        last.disk_bytes < total / 10,
        "read {} of {total} bytes",
        last.disk_bytes
    );
}

fn chain_key() -> ChainKey {
    ChainKey::new("k1", b"search test key")
}

/// A search that uses the side indexes authenticated under [`chain_key`].
fn keyed() -> Search {
    Search::new().key(chain_key())
}

fn ids_found(trail: &Trail, id: &str) -> (Vec<u64>, tracing_audit::investigate::SearchSummary) {
    let mut got = Vec::new();
    let summary = keyed().run(&[trail], &Query::new().id(id), |h| {
        got.push(h.record()["n"].as_u64().unwrap());
        ControlFlow::Continue(())
    });
    (got, summary)
}

#[test]
fn indexes_skip_files_only_when_authentic_and_valid_for_that_exact_file() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<Value>> = (0..4u64)
        .map(|f| {
            (0..50u64)
                .map(|i| json!({"ts": format!("2026-11-26T0{f}:00:00.000000000Z"), "correlation_id": format!("id-{f}-{i}"), "n": f * 100 + i}))
                .collect()
        })
        .collect();
    write_fixture(dir.path(), &files);
    // Every closed file compressed: only those are indexed (a plain one is always scanned).
    gzip_file(&dir.path().join("audit.2026-11-26.0001.jsonl"));
    let third = dir.path().join("audit.2026-11-26.0003.jsonl");
    fs::write(dir.path().join("plain-copy"), fs::read(&third).unwrap()).unwrap();
    gzip_file(&third);
    let trail = Trail::open(dir.path(), None).unwrap();
    // No index yet: nothing skipped, and a search writes none.
    let (got, s) = ids_found(&trail, "id-2-7");
    assert_eq!((got, s.files_skipped), (vec![207], 0));
    assert!(!dir
        .path()
        .join("audit.2026-11-26.0001.jsonl.gz.idx")
        .exists());
    // Built when asked: the three closed files.
    let built = build_indexes(&trail, &chain_key());
    assert_eq!((built.built, built.kept, built.failures().len()), (3, 0, 0));
    let again = build_indexes(&trail, &chain_key());
    assert_eq!((again.built, again.kept), (0, 3));
    // The indexes rule out the other closed files, for a search given the key only.
    let (got, s) = ids_found(&trail, "id-2-7");
    assert_eq!(got, vec![207]);
    assert!(s.files_skipped >= 2, "{s:?}");
    let unkeyed = Search::new().run(&[&trail], &Query::new().id("id-2-7"), |_| {
        ControlFlow::Continue(())
    });
    assert_eq!(unkeyed.files_skipped, 0);
    let other_key = Search::new().key(ChainKey::new("k1", b"another key")).run(
        &[&trail],
        &Query::new().id("id-2-7"),
        |_| ControlFlow::Continue(()),
    );
    assert_eq!(other_key.files_skipped, 0);
    // A time window outside a file's range skips it too.
    let q = Query::new().since("2026-11-26T03:00").unwrap();
    let mut n = 0;
    let s = keyed().run(&[&trail], &q, |_| {
        n += 1;
        ControlFlow::Continue(())
    });
    assert_eq!((n, s.files_skipped), (50, 3));

    // Stale: a closed file that changed after its index was built (a gzip member appended)
    // is scanned.
    let first = dir.path().join("audit.2026-11-26.0001.jsonl.gz");
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    member
        .write_all(
            b"{\"ts\":\"2026-11-26T00:30:00.000000000Z\",\"correlation_id\":\"late\",\"n\":999}\n",
        )
        .unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&first).unwrap();
    f.write_all(&member.finish().unwrap()).unwrap();
    drop(f);
    let trail = Trail::open(dir.path(), None).unwrap();
    assert_eq!(ids_found(&trail, "late").0, [999]);
    // Another file's authentic index copied over it: not this file's, not trusted.
    fs::copy(
        dir.path().join("audit.2026-11-26.0003.jsonl.gz.idx"),
        dir.path().join("audit.2026-11-26.0001.jsonl.gz.idx"),
    )
    .unwrap();
    assert_eq!(ids_found(&trail, "late").0, [999]);
    // An authentic index beside a plain file is never used: the file is scanned.
    fs::rename(dir.path().join("plain-copy"), &third).unwrap();
    fs::rename(
        dir.path().join("audit.2026-11-26.0003.jsonl.gz.idx"),
        dir.path().join("audit.2026-11-26.0003.jsonl.idx"),
    )
    .unwrap();
    fs::remove_file(dir.path().join("audit.2026-11-26.0003.jsonl.gz")).unwrap();
    let trail = Trail::open(dir.path(), None).unwrap();
    // (0001 is stale, 0002 holds the id, 0003 is plain: none skipped.)
    let (got, s) = ids_found(&trail, "id-1-3");
    assert_eq!((got, s.files_skipped), (vec![103], 0));
    // Corrupt: a flipped byte, a truncated file, garbage.
    let idx = dir.path().join("audit.2026-11-26.0002.jsonl.gz.idx");
    let mut raw = fs::read(&idx).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x20;
    for bad in [
        raw.clone(),
        raw[..raw.len() / 3].to_vec(),
        b"\x00garbage\n".to_vec(),
    ] {
        fs::write(&idx, &bad).unwrap();
        assert_eq!(ids_found(&trail, "id-1-3").0, [103]);
        let q = Query::new().id("id-1-3");
        assert_eq!(search(&[&trail], &q, 2), parse_everything(&[&trail], &q));
    }
    // Missing: scanned; rebuilt only when asked.
    fs::remove_file(&idx).unwrap();
    let (got, _) = ids_found(&trail, "id-1-4");
    assert_eq!(got, [104]);
    assert!(!idx.exists());
    assert!(build_indexes(&trail, &chain_key()).built >= 1 && idx.exists());
}

/// A query every record matches holds a bounded amount of hits, however large the files: hits
/// are handed to the caller in batches as a file is scanned, not gathered per file first.
#[test]
fn hits_held_stay_flat_when_every_record_of_large_files_matches() {
    let held = |records_per_file: usize| {
        let dir = tempfile::tempdir().unwrap();
        let pad = "x".repeat(300);
        for f in 1..=3 {
            let mut body = Vec::with_capacity(records_per_file * 360);
            for i in 0..records_per_file {
                writeln!(
                    body,
                    r#"{{"ts":"2026-11-26T05:00:00.000000000Z","actor":"alice","n":{i},"msg":"{pad}"}}"#
                )
                .unwrap();
            }
            fs::write(
                dir.path().join(format!("audit.2026-11-26.{f:04}.jsonl")),
                body,
            )
            .unwrap();
        }
        let trail = Trail::open(dir.path(), None).unwrap();
        let mut seen = 0usize;
        let summary = Search::new()
            .threads(2)
            .run(&[&trail], &Query::new().actor("alice"), |_| {
                seen += 1;
                ControlFlow::Continue(())
            });
        assert_eq!(seen, 3 * records_per_file);
        summary.peak_held_bytes
    };
    let small = held(20_000); // 7 MB per file
    let large = held(120_000); // 43 MB per file
    assert!(
        large < 20 << 20,
        "held {} MiB of hits for 43 MB files",
        large >> 20
    );
    assert!(
        large < small * 3,
        "hits held grew with the files: {small} then {large} bytes"
    );
}
