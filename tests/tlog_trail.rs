//! The Merkle tree the writer keeps, through the real layer, file sink and writer thread, and
//! the proofs for outsiders through the real CLI: `prove`, `check-proof`, `disclose`.

mod chain_support;

use chain_support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tracing_audit::chain::{log_key_pub_path, ChainConfig, LogKey, SigningState};
use tracing_audit::tlog::checkpoint::Checkpoint;
use tracing_audit::tlog::merkle::{consistency_proof, tree_root, verify_consistency, MemoryHashes};
use tracing_audit::tlog::note::Note;

const ORIGIN: &str = "test.example/audit";

struct Keys {
    _dir: tempfile::TempDir,
    state: PathBuf,
    log_key: PathBuf,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("audit.signing");
        SigningState::generate(&state).unwrap();
        let log_key = dir.path().join("audit.logkey");
        LogKey::load_or_create(&log_key, ORIGIN).unwrap();
        Keys {
            _dir: dir,
            state,
            log_key,
        }
    }

    fn chain(&self) -> ChainConfig {
        ChainConfig::new()
            .signing(SigningState::load(&self.state).unwrap())
            .epoch(Duration::from_secs(3600))
            .log_key(LogKey::load_or_create(&self.log_key, ORIGIN).unwrap())
    }

    fn vkey_file(&self) -> PathBuf {
        log_key_pub_path(&self.log_key)
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Every line of the trail, in file order (what the tree is over).
fn all_lines(dir: &Path) -> Vec<Vec<u8>> {
    trail_files(dir)
        .iter()
        .flat_map(|f| read_lines(f))
        .collect()
}

/// The tree recomputed from scratch over the lines on disk, checking leaf index == seq.
fn recomputed(dir: &Path) -> MemoryHashes {
    let mut t = MemoryHashes::new();
    for (i, line) in all_lines(dir).iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(v["seq"].as_u64(), Some(i as u64), "leaf index is seq");
        t.push_entry(line);
    }
    t
}

/// The checkpoints of the `tree_checkpoint` records, in order.
fn checkpoints(dir: &Path) -> Vec<(u64, Checkpoint, String)> {
    all_lines(dir)
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            (v["record"] == "tree_checkpoint").then(|| {
                let note = v["note"].as_str().unwrap().to_owned();
                let n = Note::parse(&note).unwrap();
                let cp = Checkpoint::parse_body(n.body()).unwrap();
                (v["seq"].as_u64().unwrap(), cp, note)
            })
        })
        .collect()
}

fn assert_every_checkpoint_matches_the_records(dir: &Path, keys: &Keys) {
    let t = recomputed(dir);
    let cps = checkpoints(dir);
    assert!(!cps.is_empty());
    let v = LogKey::load_or_create(&keys.log_key, ORIGIN)
        .unwrap()
        .verifier();
    for (seq, cp, note) in &cps {
        assert_eq!(cp.size, *seq, "a checkpoint covers every line before it");
        assert_eq!(cp.origin, ORIGIN);
        assert_eq!(cp.root, tree_root(cp.size, &t).unwrap(), "root at {seq}");
        Note::parse(note)
            .unwrap()
            .verify(std::slice::from_ref(&v))
            .unwrap();
    }
    // Each checkpoint extends the one before: the log never signed a fork.
    for w in cps.windows(2) {
        let (a, b) = (&w[0].1, &w[1].1);
        let p = consistency_proof(a.size, b.size, &t).unwrap();
        verify_consistency(a.size, b.size, &a.root, &b.root, &p).unwrap();
    }
}

#[test]
fn the_tree_survives_restarts_and_rotation_with_the_right_roots() {
    let d = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    write_trail(d.path(), keys.chain(), 0..60, 4 * 1024);
    write_trail(d.path(), keys.chain(), 60..130, 4 * 1024);
    write_trail(d.path(), keys.chain(), 130..150, 4 * 1024);
    assert!(trail_files(d.path()).len() > 3, "the trail rotated");
    assert!(
        checkpoints(d.path()).len() >= 3,
        "one checkpoint per shutdown seal"
    );
    assert_every_checkpoint_matches_the_records(d.path(), &keys);
    // The tiles hold the whole tree: the newest checkpoint's root comes out of them.
    let tiles = tracing_audit::tlog::tiles::TileReader::open(&d.path().join("audit.tiles"));
    let (_, last, _) = checkpoints(d.path()).pop().unwrap();
    assert_eq!(tree_root(last.size, &tiles).unwrap(), last.root);
    // The newest checkpoint is published beside the trail, verbatim.
    let published = fs::read_to_string(d.path().join("audit.tlog-checkpoint")).unwrap();
    assert_eq!(published, checkpoints(d.path()).pop().unwrap().2);
}

#[test]
fn the_tree_is_rebuilt_from_the_trail_when_the_tiles_are_gone_or_behind() {
    let d = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    write_trail(d.path(), keys.chain(), 0..40, 64 * 1024);
    // Tiles lost entirely, then tiles behind (as a crash between a batch and its tiles leaves
    // them): the restarted writer replays the trail.
    fs::remove_dir_all(d.path().join("audit.tiles")).unwrap();
    write_trail(d.path(), keys.chain(), 40..80, 64 * 1024);
    let level0 = d.path().join("audit.tiles/0");
    let len = fs::metadata(&level0).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&level0)
        .unwrap()
        .set_len(len - 32 * 7)
        .unwrap();
    write_trail(d.path(), keys.chain(), 80..100, 64 * 1024);
    assert_every_checkpoint_matches_the_records(d.path(), &keys);
}

fn trail_with_proofs() -> (tempfile::TempDir, Keys) {
    let d = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    write_trail(d.path(), keys.chain(), 0..30, 4 * 1024);
    write_trail(d.path(), keys.chain(), 30..50, 4 * 1024);
    (d, keys)
}

fn prove(d: &Path, seq: u64, out: &Path) -> Output {
    cli(&["prove", s(d), "--seq", &seq.to_string(), "-o", s(out)])
}

fn check(proof: &Path, keys: &Keys) -> Output {
    cli(&["check-proof", s(proof), "--log-key", s(&keys.vkey_file())])
}

#[test]
fn prove_and_check_proof_round_trip_through_the_cli() {
    let (d, keys) = trail_with_proofs();
    let out = tempfile::tempdir().unwrap();
    let lines = all_lines(d.path());
    let newest = checkpoints(d.path()).pop().unwrap().1.size;
    for seq in [0u64, 1, 17, 33, newest - 1] {
        let file = out.path().join(format!("{seq}.tlog-proof"));
        let p = prove(d.path(), seq, &file);
        assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
        assert!(text.contains(&format!("\nindex {seq}\n")));
        let c = check(&file, &keys);
        assert_eq!(
            c.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&c.stderr)
        );
        let stdout = String::from_utf8_lossy(&c.stdout);
        assert!(stdout.starts_with(&format!("proof holds: record {seq} is in log {ORIGIN}")));
        assert!(stdout.contains(&String::from_utf8_lossy(&lines[seq as usize]).into_owned()));
    }
    // The proof's checkpoint is the one the trail holds, verified by Cloudflare's signed_note.
    let text = fs::read_to_string(out.path().join("0.tlog-proof")).unwrap();
    let note = &text[text.find("\n\n").unwrap() + 2..];
    let v =
        signed_note::StandardVerifier::new(fs::read_to_string(keys.vkey_file()).unwrap().trim())
            .unwrap();
    signed_note::Note::from_bytes(note.as_bytes())
        .unwrap()
        .verify(&signed_note::VerifierList::new(vec![Box::new(v)]))
        .expect("signed_note verifies the trail's checkpoint");
    // A record after the newest checkpoint cannot be proven yet, and says why.
    let p = prove(d.path(), lines.len() as u64 + 5, &out.path().join("late"));
    assert_eq!(p.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&p.stderr).contains("checkpoint covers records"));
}

#[test]
fn a_changed_record_proof_checkpoint_key_or_tile_fails() {
    let (d, keys) = trail_with_proofs();
    let out = tempfile::tempdir().unwrap();
    let good = out.path().join("good");
    assert!(prove(d.path(), 12, &good).status.success());
    let text = fs::read_to_string(&good).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let attempts: Vec<(&str, String)> = vec![
        ("record", {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD;
            let rec = b64
                .decode(lines[1].strip_prefix("extra ").unwrap())
                .unwrap();
            let changed = String::from_utf8(rec).unwrap().replacen("user", "usex", 1);
            text.replacen(lines[1], &format!("extra {}", b64.encode(changed)), 1)
        }),
        ("index", text.replacen("\nindex 12\n", "\nindex 13\n", 1)),
        ("proof hash", {
            let h = lines[3];
            let flipped = if h.starts_with('A') {
                h.replacen('A', "B", 1)
            } else {
                format!("A{}", &h[1..])
            };
            text.replacen(h, &flipped, 1)
        }),
        ("checkpoint size", {
            let cp = Checkpoint::parse_body(
                Note::parse(&text[text.find("\n\n").unwrap() + 2..])
                    .unwrap()
                    .body(),
            )
            .unwrap();
            text.replacen(
                &format!("\n{}\n", cp.size),
                &format!("\n{}\n", cp.size + 1),
                1,
            )
        }),
        (
            "dropped proof line",
            text.replacen(&format!("{}\n", lines[3]), "", 1),
        ),
    ];
    for (what, forged) in attempts {
        assert_ne!(forged, text, "{what}");
        let f = out.path().join(what.replace(' ', "_"));
        fs::write(&f, forged).unwrap();
        let c = check(&f, &keys);
        assert_eq!(c.status.code(), Some(1), "a changed {what} must fail");
        assert!(
            String::from_utf8_lossy(&c.stderr).contains("does not hold"),
            "{what}"
        );
    }
    // Another log key: the proof does not hold for it.
    let other = out.path().join("other.logkey");
    LogKey::load_or_create(&other, ORIGIN).unwrap();
    let c = cli(&[
        "check-proof",
        s(&good),
        "--log-key",
        s(&log_key_pub_path(&other)),
    ]);
    assert_eq!(c.status.code(), Some(1));

    // A changed tile: `prove` refuses rather than hand out a proof that does not hold.
    let level0 = d.path().join("audit.tiles/0");
    let mut tiles = fs::read(&level0).unwrap();
    tiles[13 * 32] ^= 1;
    fs::write(&level0, &tiles).unwrap();
    let p = prove(d.path(), 12, &out.path().join("from_forged_tiles"));
    assert_eq!(p.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&p.stderr).contains("tiles"));
    assert!(!out.path().join("from_forged_tiles").exists());
    tiles[13 * 32] ^= 1;
    fs::write(&level0, &tiles).unwrap();
    // A changed record in the trail: no proof either.
    let holding = trail_files(d.path())
        .into_iter()
        .find(|f| fs::read_to_string(f).unwrap().contains("{\"seq\":12,"))
        .unwrap();
    let mut lines = read_lines(&holding);
    let line = lines
        .iter_mut()
        .find(|l| l.starts_with(b"{\"seq\":12,"))
        .unwrap();
    let at = line.len() / 2;
    line[at] ^= 0x20;
    write_lines(&holding, &lines);
    let p = prove(d.path(), 12, &out.path().join("from_forged_record"));
    assert_eq!(p.status.code(), Some(3));
    assert!(!out.path().join("from_forged_record").exists());
}

#[test]
fn disclose_writes_one_actor_s_records_with_proofs_and_nobody_else_s() {
    let (d, keys) = trail_with_proofs();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("user3");
    let r = cli(&[
        "disclose",
        s(d.path()),
        "--actor",
        "user3",
        "-o",
        s(&target),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let expected: Vec<Vec<u8>> = all_lines(d.path())
        .into_iter()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["actor"] == "user3"
        })
        .collect();
    assert!(expected.len() >= 5);
    let records = read_lines(&target.join("records.jsonl"));
    assert_eq!(records, expected);
    let mut proofs = 0;
    for e in fs::read_dir(&target).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        for other in ["user0", "user1", "user2", "user4", "user5", "user6"] {
            assert!(!text.contains(other), "{} mentions {other}", p.display());
        }
        if p.extension().is_some_and(|x| x == "tlog-proof") {
            proofs += 1;
            let c = check(&p, &keys);
            assert_eq!(
                c.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&c.stderr)
            );
            assert!(String::from_utf8_lossy(&c.stdout).contains("\"actor\":\"user3\""));
        }
    }
    assert_eq!(proofs, expected.len());
    // The output directory is new: disclose never writes into an existing one.
    let again = cli(&[
        "disclose",
        s(d.path()),
        "--actor",
        "user3",
        "-o",
        s(&target),
    ]);
    assert_eq!(again.status.code(), Some(3));
}

#[test]
fn a_cosigned_checkpoint_is_used_and_the_witness_rule_is_enforced() {
    use tracing_audit::tlog::cosignature::Cosigner;
    let (d, keys) = trail_with_proofs();
    let out = tempfile::tempdir().unwrap();
    // What the submission thread keeps: the newest checkpoint with a witness's cosignature.
    let (_, _, note) = checkpoints(d.path()).pop().unwrap();
    let mut note = Note::parse(&note).unwrap();
    let w1 = Cosigner::generate("witness1.example").unwrap();
    let w2 = Cosigner::generate("witness2.example").unwrap();
    let cosig = w1.cosign(note.body().as_bytes(), 1_700_000_000).unwrap();
    note.add_signature(cosig.note_signature());
    fs::write(d.path().join("audit.cosigned"), note.render()).unwrap();
    let (w1_key, w2_key) = (out.path().join("w1.vkey"), out.path().join("w2.vkey"));
    fs::write(&w1_key, w1.verifier().vkey()).unwrap();
    fs::write(&w2_key, w2.verifier().vkey()).unwrap();

    let proof = out.path().join("p");
    assert!(prove(d.path(), 7, &proof).status.success());
    assert!(fs::read_to_string(&proof)
        .unwrap()
        .contains("— witness1.example "));
    let vkey = keys.vkey_file();
    let with = |extra: &[&str]| {
        let mut args = vec!["check-proof", s(&proof), "--log-key", s(&vkey)];
        args.extend_from_slice(extra);
        cli(&args)
    };
    let ok = with(&["--witness-key", s(&w1_key)]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("cosigned by witness1.example"));
    // One of two witnesses is enough when the operator says so, not by default.
    let both = with(&["--witness-key", s(&w1_key), "--witness-key", s(&w2_key)]);
    assert_eq!(both.status.code(), Some(1));
    let one_of_two = with(&[
        "--witness-key",
        s(&w1_key),
        "--witness-key",
        s(&w2_key),
        "--witnesses",
        "1",
    ]);
    assert_eq!(one_of_two.status.code(), Some(0));
    // A cosignature that does not verify fails the proof.
    let text = fs::read_to_string(&proof).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("— witness1.example "))
        .unwrap();
    let mut sig = line.to_owned();
    let last = sig.pop().unwrap();
    let pos = sig.len() - 3;
    let flipped = if &sig[pos..pos + 1] == "A" { "B" } else { "A" };
    sig.replace_range(pos..pos + 1, flipped);
    sig.push(last);
    fs::write(&proof, text.replace(line, &sig)).unwrap();
    assert_eq!(with(&["--witness-key", s(&w1_key)]).status.code(), Some(1));
}

const CHILD_ENV: &str = "TRACING_AUDIT_TLOG_CHILD";

/// In the child: writes records with the tree on through the real layer, printing `ACK n`
/// after every sync, until it is killed.
fn write_until_killed(dir: &Path, keys_dir: &Path) {
    use std::io::Write;
    use tracing_audit::layer::AuditLayer;
    use tracing_audit::sink::FileSink;
    use tracing_subscriber::prelude::*;
    let keys = Keys {
        _dir: tempfile::tempdir().unwrap(),
        state: keys_dir.join("audit.signing"),
        log_key: keys_dir.join("audit.logkey"),
    };
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir).max_file_size(16 * 1024))
        .debug_to(std::io::sink)
        .chain(keys.chain())
        .build()
        .unwrap();
    let handle = guard.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        for i in 0usize.. {
            emit(i..i + 1);
            if i % 20 == 19 {
                handle.sync().unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {i}").unwrap();
                out.flush().unwrap();
            }
        }
    });
}

#[test]
fn the_tree_survives_sigkill_of_the_writer_with_the_right_root() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    if let Ok(arg) = std::env::var(CHILD_ENV) {
        let (dir, keys) = arg.split_once('|').unwrap();
        write_until_killed(Path::new(dir), Path::new(keys));
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    // One clean run first, so the trail holds checkpoints the restarted tree must extend.
    write_trail(d.path(), keys.chain(), 0..30, 16 * 1024);
    let keys_dir = keys.state.parent().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_tree_survives_sigkill_of_the_writer_with_the_right_root",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}|{}", s(d.path()), s(keys_dir)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if line
            .strip_prefix("ACK ")
            .is_some_and(|n| n.parse::<u64>().unwrap() >= 400)
        {
            // SAFETY: a plain syscall on the child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            break;
        }
    }
    assert!(!child.wait().unwrap().success(), "the child was killed");
    // The killed writer's last epoch was never sealed: the restart seals it with a checkpoint
    // of the tree it restored, which must be the tree of the records on disk.
    write_trail(d.path(), keys.chain(), 1000..1040, 16 * 1024);
    assert_every_checkpoint_matches_the_records(d.path(), &keys);
    let cps = checkpoints(d.path());
    assert!(
        cps.last().unwrap().1.size > 400,
        "the checkpoints cover the killed run"
    );
}

#[test]
fn verify_checks_every_checkpoint_against_the_tree_it_recomputes() {
    use tracing_audit::verify::{ProblemKind, Verifier};
    let (d, keys) = trail_with_proofs();
    let log = LogKey::load_or_create(&keys.log_key, ORIGIN)
        .unwrap()
        .verifier();
    let r = Verifier::new(d.path())
        .log_key(log.clone())
        .verify()
        .unwrap();
    assert!(r.intact(), "{r}");
    let ok = cli(&["verify", s(d.path()), "--log-key", s(&keys.vkey_file())]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    // Checkpoints signed by a key that is not the log's.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("k");
    LogKey::load_or_create(&other_key, ORIGIN).unwrap();
    let wrong = cli(&[
        "verify",
        s(d.path()),
        "--log-key",
        s(&log_key_pub_path(&other_key)),
    ]);
    assert_eq!(
        wrong.status.code(),
        Some(25),
        "{}",
        String::from_utf8_lossy(&wrong.stdout)
    );
    assert!(String::from_utf8_lossy(&wrong.stdout).contains("checkpoint_mismatch"));

    // A checkpoint whose root is not the records' (re-signed with the real key, as a thief of
    // the log key would): found, whatever else the edit broke.
    let (seq, mut cp, old_note) = checkpoints(d.path()).remove(0);
    cp.root[0] ^= 1;
    let signer =
        tracing_audit::tlog::note::Signer::parse(&fs::read_to_string(&keys.log_key).unwrap())
            .unwrap();
    let mut note = Note::new(&cp.body()).unwrap();
    note.add_signature(signer.sign(note.body()));
    let holding = trail_files(d.path())
        .into_iter()
        .find(|f| {
            fs::read_to_string(f)
                .unwrap()
                .contains(&format!("{{\"seq\":{seq},"))
        })
        .unwrap();
    let (from, to) = (
        serde_json::to_string(&old_note).unwrap(),
        serde_json::to_string(&note.render()).unwrap(),
    );
    let text = fs::read_to_string(&holding).unwrap();
    assert!(text.contains(&from));
    fs::write(&holding, text.replacen(&from, &to, 1)).unwrap();
    let r = Verifier::new(d.path()).log_key(log).verify().unwrap();
    assert!(
        r.problems()
            .iter()
            .any(|p| p.kind() == ProblemKind::CheckpointMismatch && p.seq() == Some(seq)),
        "{r}"
    );
}
