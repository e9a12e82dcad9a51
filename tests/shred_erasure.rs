//! Crypto-shredding end to end, through the real layer, real files and the real CLI: two
//! subjects over rotation and gzip, a copy shipped before the erasure, one subject erased
//! through the running writer; then every proof still holds, no byte of any file, index, copy
//! or the key store gives the erased subject away, the other subject still reads in plain, a
//! restored older key store does not bring the erased subject back, and a SIGKILL between the
//! erasure record and the key's destruction is completed on restart.

mod chain_support;

use base64::Engine;
use chain_support::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tracing_audit::layer::{AuditGuard, AuditLayer};
use tracing_audit::shred::{Revealer, ShredConfig, StoreInfo};
use tracing_audit::sink::FileSink;
use tracing_audit::KeySource;
use tracing_subscriber::prelude::*;

const ALICE: Subject = Subject {
    actor: "alice.erased@example.com",
    ip: "198.51.100.23",
    session: "sess-alice-7781",
};
const BOB: Subject = Subject {
    actor: "bob.kept@example.com",
    ip: "203.0.113.9",
    session: "sess-bob-4242",
};

struct Subject {
    actor: &'static str,
    ip: &'static str,
    session: &'static str,
}

impl Subject {
    fn values(&self) -> [&'static str; 3] {
        [self.actor, self.ip, self.session]
    }
}

/// A trail directory, its key store (beside it, not in it) and the master key file.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: PathBuf,
    master: PathBuf,
    chain_key: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let keys = tmp.path().join("keys");
    fs::create_dir_all(&keys).unwrap();
    let master = keys.join("master.key");
    fs::write(&master, b"integration test master key, 32+ bytes long\n").unwrap();
    let chain_key = keys.join("chain.key");
    fs::write(&chain_key, b"integration test chain key").unwrap();
    Setup {
        dir,
        store: keys.join("subjects.keys"),
        master,
        chain_key,
        _tmp: tmp,
    }
}

impl Setup {
    fn master_source(&self) -> KeySource {
        KeySource::file(&self.master)
    }

    /// A writer on the trail: keyed chain, size rotation, gzip and indexes, encrypted fields.
    fn writer(&self) -> (AuditLayer<tracing_subscriber::Registry>, AuditGuard) {
        AuditLayer::builder()
            .audit_to_files(FileSink::new(&self.dir).max_file_size(3000).compress(true))
            .debug_to(std::io::sink)
            .chain(keyed())
            .shred(ShredConfig::new(&self.store, self.master_source()))
            .build()
            .expect("layer builds")
    }

    fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
            .args(args)
            .output()
            .expect("run tracing-audit");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `query DIR --key-store S --master-key M ARGS`: the records printed.
    fn query_with_store(&self, args: &[&str]) -> (Vec<serde_json::Value>, String) {
        let d = self.dir.to_str().unwrap();
        let s = self.store.to_str().unwrap();
        let m = self.master.to_str().unwrap();
        let (code, out, err) =
            self.cli(&[&["query", d, "--key-store", s, "--master-key", m], args].concat());
        assert_eq!(code, 0, "{err}");
        (
            out.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            err,
        )
    }

    fn verify_ok(&self) {
        let d = self.dir.to_str().unwrap();
        let k = self.chain_key.to_str().unwrap();
        let (code, report) = verify_json(&[d, "--key-file", k]);
        assert_eq!(code, 0, "verify after erasure: {report:#}");
        assert_eq!(report["intact"], true, "{report:#}");
    }
}

/// Emits `n` audit events alternating between the subjects, each in a request span that also
/// names the actor and the session (span fields are personal too).
fn emit(subjects: &[&Subject], n: usize) {
    for i in 0..n {
        let s = subjects[i % subjects.len()];
        let span = tracing::info_span!("request", actor = s.actor, session = s.session, n = i);
        let _g = span.enter();
        tracing::info!(
            target: "audit",
            actor = s.actor,
            action = "read",
            resource = format!("/records/{i}").as_str(),
            outcome = "success",
            src_ip = s.ip,
            session = s.session,
            "request handled"
        );
    }
}

fn run_writer(setup: &Setup, subjects: &[&Subject], n: usize) {
    let (layer, guard) = setup.writer();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || emit(subjects, n));
    drop(guard);
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A shipped copy: every record line of the trail in order, as a receiver would hold it.
fn shipped_copy(dir: &Path, to: &Path) {
    let mut content = Vec::new();
    let files = trail_files(dir);
    for f in &files {
        let name = f.to_string_lossy().into_owned();
        if let Some(plain) = name.strip_suffix(".gz") {
            if files.iter().any(|g| g.to_string_lossy() == plain) {
                continue;
            }
            content.extend_from_slice(&gunzip(&fs::read(f).unwrap()));
        } else {
            content.extend_from_slice(&fs::read(f).unwrap());
        }
    }
    fs::write(to, content).unwrap();
}

/// Every way the erased subject's values could show up in bytes: the values, and their
/// unkeyed hashes (SHA-256 as hex and base64) and base64.
fn needles(s: &Subject) -> Vec<(String, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut v = Vec::new();
    for value in s.values() {
        let digest = Sha256::digest(value.as_bytes());
        let quoted = Sha256::digest(format!("{value:?}").as_bytes());
        v.push((value.to_string(), value.as_bytes().to_vec()));
        v.push((format!("sha256 hex of {value}"), hex(&digest).into_bytes()));
        v.push((
            format!("sha256 hex of {value:?}"),
            hex(&quoted).into_bytes(),
        ));
        v.push((
            format!("sha256 base64 of {value}"),
            b64.encode(digest).into_bytes(),
        ));
        v.push((format!("base64 of {value}"), b64.encode(value).into_bytes()));
    }
    v
}

fn schema() -> jsonschema::JSONSchema {
    let text =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::JSONSchema::compile(&value).expect("docs/schema.json compiles")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asserts that no file under `root` (recursively; gzip files also inflated) holds a needle.
fn assert_nothing_found(root: &Path, needles: &[(String, Vec<u8>)]) -> usize {
    let mut searched = 0;
    for entry in fs::read_dir(root).unwrap() {
        let p = entry.unwrap().path();
        let meta = fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            searched += assert_nothing_found(&p, needles);
            continue;
        }
        if !meta.is_file() {
            continue;
        }
        let raw = fs::read(&p).unwrap();
        let mut contents = vec![raw.clone()];
        if p.to_string_lossy().ends_with(".gz") {
            contents.push(gunzip(&raw));
        }
        for bytes in &contents {
            for (what, needle) in needles {
                assert!(
                    memchr::memmem::find(bytes, needle).is_none(),
                    "{what} found in {}",
                    p.display()
                );
            }
        }
        searched += 1;
    }
    searched
}

#[test]
fn an_erased_subject_is_gone_from_every_file_and_every_proof_still_holds() {
    let s = setup();
    // Before the erasure: both subjects over several files (rotated, gzipped, indexed).
    run_writer(&s, &[&ALICE, &BOB], 60);
    let shipped = s._tmp.path().join("shipped.jsonl");
    shipped_copy(&s.dir, &shipped);
    let before_erasure_store = fs::read(&s.store).unwrap();

    // Bob reads in plain with the store, and neither subject is in plain on disk.
    let (bob, _) = s.query_with_store(&["--actor", BOB.actor]);
    assert_eq!(bob.len(), 30);
    assert!(bob
        .iter()
        .all(|r| r["actor"] == BOB.actor && r["src_ip"] == BOB.ip));

    // Erase Alice through the running writer, which goes on writing both subjects.
    let (layer, guard) = s.writer();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    let erasure = tracing::subscriber::with_default(subscriber, || {
        emit(&[&ALICE, &BOB], 10);
        let erasure = handle
            .erase(
                ALICE.actor,
                "data subject request 2026-118 (GDPR Art. 17)",
                "dpo@example.com",
            )
            .expect("erasure");
        emit(&[&ALICE, &BOB], 40);
        erasure
    });
    drop(guard);
    // The handle keeps the layer, and with it the key store's lock.
    drop(handle);
    assert!(trail_files(&s.dir).len() >= 4, "rotated into several files");
    assert!(
        trail_files(&s.dir)
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".gz")),
        "some files are gzipped"
    );

    // Every proof holds: chain, key, seals, checkpoints, and the copy shipped before.
    s.verify_ok();
    let k = s.chain_key.to_str().unwrap();
    let (code, report) = verify_json(&["--received", shipped.to_str().unwrap(), "--key-file", k]);
    assert_eq!(code, 0, "shipped copy: {report:#}");

    // Every line, encrypted values and the erasure record included, follows docs/schema.json.
    let schema = schema();
    let mut lines = 0;
    for f in trail_files(&s.dir) {
        let mut bytes = fs::read(&f).unwrap();
        if f.to_string_lossy().ends_with(".gz") {
            bytes = gunzip(&bytes);
        }
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let record: serde_json::Value = serde_json::from_slice(line).unwrap();
            if let Err(errors) = schema.validate(&record) {
                let msgs: Vec<String> = errors.map(|e| e.to_string()).collect();
                panic!("record violates docs/schema.json: {msgs:?}\n{record:#}");
            }
            lines += 1;
        }
    }
    assert!(lines > 50, "{lines} lines validated");

    // The erasure record is chained in the trail and names only the keyed hash.
    let (records, _) = s.query_with_store(&["--all"]);
    let erasures: Vec<_> = records
        .iter()
        .filter(|r| r["record"] == "erasure")
        .collect();
    assert_eq!(erasures.len(), 1, "{erasures:?}");
    assert_eq!(erasures[0]["subject"], erasure.subject.to_hex());
    assert_eq!(erasures[0]["requested_by"], "dpo@example.com");
    let seq = erasures[0]["seq"].as_u64().unwrap();

    // The store no longer holds Alice's key, and lists her as erased.
    let info = StoreInfo::read(&s.store, &s.master_source()).unwrap();
    assert!(!info.holds_key(ALICE.actor) && info.is_erased(ALICE.actor));
    assert!(info.holds_key(BOB.actor));

    // No byte of any file, index, checkpoint, copy or the key store names Alice.
    let searched = assert_nothing_found(s._tmp.path(), &needles(&ALICE));
    assert!(searched >= 8, "searched {searched} files");

    // Bob still reads in plain; Alice's fields read as erased, with the erasure record's seq.
    let (bob, _) = s.query_with_store(&["--actor", BOB.actor]);
    assert_eq!(bob.len(), 55);
    assert!(bob
        .iter()
        .all(|r| r["actor"] == BOB.actor && r["session"] == BOB.session));
    let erased_marker = format!("[erased: erasure record seq {seq}]");
    let alice_fields = records
        .iter()
        .filter(|r| r["actor"] == erased_marker.as_str())
        .count();
    assert_eq!(
        alice_fields, 35,
        "Alice's records before the erasure show it"
    );
    let spans_erased = records
        .iter()
        .filter(|r| r["spans"][0]["fields"]["session"] == erased_marker.as_str())
        .count();
    assert_eq!(spans_erased, 35, "span fields are encrypted too");

    // Searching for Alice finds nothing and says why.
    let (found, err) = s.query_with_store(&["--actor", ALICE.actor]);
    assert!(found.is_empty());
    assert!(err.contains(&format!("erasure record seq {seq}")), "{err}");

    // Without the store: encrypted, and nobody's value in plain.
    let (code, out, _) = s.cli(&["query", s.dir.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        out.contains("[encrypted]") && !out.contains(BOB.actor),
        "{out}"
    );

    // A store restored from before the erasure does not bring Alice back.
    fs::write(&s.store, &before_erasure_store).unwrap();
    let (records, err) = s.query_with_store(&["--actor", ALICE.actor]);
    assert!(records.is_empty(), "{records:?}");
    assert!(err.contains("erased"), "{err}");
    let (all, err) = s.query_with_store(&[]);
    assert!(err.contains("older than an erasure"), "{err}");
    assert!(
        !all.iter().any(|r| r["actor"] == ALICE.actor),
        "restored store revealed Alice"
    );
    // `erase --reapply` destroys the key again, from the authenticated erasure records.
    let (d, st, m) = (
        s.dir.to_str().unwrap(),
        s.store.to_str().unwrap(),
        s.master.to_str().unwrap(),
    );
    let reapply = [
        "erase",
        d,
        "--reapply",
        "--key-store",
        st,
        "--master-key",
        m,
        "--key-file",
        k,
        "--key-id",
        "k1",
    ];
    let (code, out, err) = s.cli(&reapply);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 keys destroyed"), "{out}");
    let info = StoreInfo::read(&s.store, &s.master_source()).unwrap();
    assert!(!info.holds_key(ALICE.actor) && info.is_erased(ALICE.actor));
    assert!(info.holds_key(BOB.actor));
    s.verify_ok();
    assert_nothing_found(s._tmp.path(), &needles(&ALICE));

    // A forged erasure record (the forger holds no chain key) never destroys a key.
    let bob = Revealer::open(&s.dir, None, Some((&s.store, &s.master_source())))
        .unwrap()
        .subject_hash(BOB.actor)
        .unwrap();
    let newest = trail_files(&s.dir).pop().unwrap();
    let mut lines = read_lines(&newest);
    let last: serde_json::Value = serde_json::from_slice(lines.last().unwrap()).unwrap();
    let forged = format!(
        r#"{{"seq":{},"ts":"2026-12-06T06:00:00.000000000Z","stream":"audit","record":"erasure","subject":"{}","requested_by":"x","reason":"x","store_generation":99,"message":"x","kid":"k1","mac":"hmac-sha256:{}"}}"#,
        last["seq"].as_u64().unwrap() + 1,
        bob.to_hex(),
        "0".repeat(64)
    );
    lines.push(forged.into_bytes());
    write_lines(&newest, &lines);
    let (code, out, err) = s.cli(&reapply);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 keys destroyed"), "{out}");
    let info = StoreInfo::read(&s.store, &s.master_source()).unwrap();
    assert!(info.holds_key(BOB.actor));
}

const CHILD_ENV: &str = "TRACING_AUDIT_SHRED_CHILD";

/// The child: a writer that erases Alice and stops (for SIGKILL) between the erasure record
/// and the key's destruction.
fn erase_and_pause(dir: &str) {
    let s = Setup {
        dir: Path::new(dir).join("audit"),
        store: Path::new(dir).join("keys/subjects.keys"),
        master: Path::new(dir).join("keys/master.key"),
        chain_key: Path::new(dir).join("keys/chain.key"),
        _tmp: tempfile::tempdir().unwrap(),
    };
    tracing_audit::shred::test_hooks::set_before_destroy(|| {
        println!("PAUSED");
        loop {
            std::thread::park();
        }
    });
    let (layer, _guard) = s.writer();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        emit(&[&ALICE, &BOB], 10);
        let _ = handle.erase(ALICE.actor, "data subject request", "dpo");
    });
}

#[test]
fn a_sigkill_between_the_erasure_record_and_the_key_destruction_is_completed_on_restart() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        erase_and_pause(&dir);
        return;
    }
    let s = setup();
    run_writer(&s, &[&ALICE, &BOB], 20);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_sigkill_between_the_erasure_record_and_the_key_destruction_is_completed_on_restart",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, s._tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let paused = reader
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("PAUSED"));
    // SAFETY: kill(2) on the child's pid, which has not been reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(paused, "the child never reached the pause point");

    // The half state the kill left: the erasure record is durable, the key still exists.
    let info = StoreInfo::read(&s.store, &s.master_source()).unwrap();
    assert!(
        info.holds_key(ALICE.actor),
        "killed before the key was destroyed"
    );
    let (records, _) = s.query_with_store(&["--all"]);
    assert_eq!(
        records.iter().filter(|r| r["record"] == "erasure").count(),
        1
    );
    // Readers already treat the subject as erased.
    assert!(!records.iter().any(|r| r["actor"] == ALICE.actor));

    // The next start completes the destruction before writing anything.
    run_writer(&s, &[&BOB], 2);
    let info = StoreInfo::read(&s.store, &s.master_source()).unwrap();
    assert!(!info.holds_key(ALICE.actor) && info.is_erased(ALICE.actor));
    assert!(info.holds_key(BOB.actor));
    s.verify_ok();
}
