//! Witnessed checkpoints end to end: a real writer (file sink, signed epochs, log key, injected
//! clock) submits its checkpoints to two real `tracing-audit witness` processes, and the real
//! `verify --witness-key` judges the trail: an honest writer that stops, restarts and rotates
//! never fails; a cut tail, a rolled-back writer (whose regrown trail is a fork of what the
//! witness saw) and a swapped trail do.

mod chain_support;
mod witness_support;

use chain_support::{key, trail_files};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing_audit::chain::{log_key_pub_path, ChainConfig, LogKey, SigningState};
use tracing_audit::sink::{testing, Clock, FileSink, Health};
use tracing_audit::Stream;
use witness_support::WitnessProc;

const ORIGIN: &str = "host-a.example/audit";
const EPOCH: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct ManualClock(Mutex<SystemTime>);

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// One host's log: its keys (outside the trail directory), the trail directory and a clock.
struct Host {
    keys: tempfile::TempDir,
    dir: PathBuf,
    origin: String,
    clock: Arc<ManualClock>,
}

impl Host {
    fn new(root: &Path, name: &str, origin: &str) -> Host {
        let keys = tempfile::tempdir().unwrap();
        SigningState::generate(keys.path().join("audit.signing")).unwrap();
        LogKey::load_or_create(keys.path().join("audit.logkey"), origin).unwrap();
        let dir = root.join(name);
        fs::create_dir(&dir).unwrap();
        Host {
            keys,
            dir,
            origin: origin.into(),
            clock: Arc::new(ManualClock(Mutex::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000),
            ))),
        }
    }

    fn log_vkey(&self) -> String {
        fs::read_to_string(log_key_pub_path(&self.keys.path().join("audit.logkey")))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn pk0(&self) -> PathBuf {
        let path = self.keys.path().join("pk0");
        if !path.exists() {
            let state = SigningState::load(self.keys.path().join("audit.signing")).unwrap();
            fs::write(&path, format!("{}\n", state.public_key())).unwrap();
        }
        path
    }

    /// One writer run: records `from..to`, an epoch passing every 20 records (its seal and
    /// checkpoint submitted and settled before going on), then a clean stop.
    fn run(&self, witnesses: &[&WitnessProc], from: u64, to: u64) -> Health {
        let mut files = FileSink::new(&self.dir)
            .max_file_size(6 << 10)
            .clock(Arc::clone(&self.clock) as Arc<dyn Clock>);
        for w in witnesses {
            files = files.witness(w.endpoint());
        }
        let chain = ChainConfig::new()
            .key(key())
            .signing(SigningState::load(self.keys.path().join("audit.signing")).unwrap())
            .epoch(EPOCH)
            .log_key(
                LogKey::load_or_create(self.keys.path().join("audit.logkey"), &self.origin)
                    .unwrap(),
            );
        let (handle, guard) = testing::spawn_files(Stream::Audit, files, Some(&chain)).unwrap();
        for n in from..to {
            let record = format!(
                "{{\"stream\":\"audit\",\"action\":\"read\",\"actor\":\"u{}\",\"n\":{n},\"pad\":\"{}\"}}",
                n % 5,
                "x".repeat((n % 9 * 30) as usize)
            );
            testing::submit(&handle, record.as_bytes());
            if n % 20 == 19 {
                handle.sync().unwrap();
                self.clock.advance(EPOCH + Duration::from_secs(1));
                testing::submit(&handle, b"{\"stream\":\"audit\",\"action\":\"tick\"}");
                handle.sync().unwrap();
                assert!(
                    testing::witness_settle(&handle, WAIT),
                    "{:?}",
                    handle.health()
                );
            }
        }
        handle.sync().unwrap();
        drop(guard);
        handle.health()
    }
}

/// `tracing-audit verify DIR --key-file <chain key> ARGS`.
fn verify(dir: &Path, args: &[&str]) -> (i32, String) {
    let key = dir.parent().unwrap().join("chain.key");
    fs::write(&key, b"integration test chain key").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .arg("verify")
        .arg(dir)
        .arg("--key-file")
        .arg(&key)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `--public-key pk0 --witness-key w1 --witness-key w2 --witnesses K --witness-url ...`.
fn witness_args<'a>(
    host: &Host,
    files: &'a [PathBuf],
    urls: &'a [String],
    k: &'a str,
) -> Vec<String> {
    let mut args = vec!["--public-key".to_owned(), s(&host.pk0()).to_owned()];
    for f in files {
        args.extend(["--witness-key".to_owned(), s(f).to_owned()]);
    }
    for u in urls {
        args.extend(["--witness-url".to_owned(), u.clone()]);
    }
    args.extend(["--witnesses".to_owned(), k.to_owned()]);
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn an_honest_writer_that_stops_restarts_and_rotates_never_fails() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path(), "trail", ORIGIN);
    let mut w1 = WitnessProc::start(root.path(), "w1", ORIGIN, &host.log_vkey());
    let w2 = WitnessProc::start(root.path(), "w2", ORIGIN, &host.log_vkey());
    let keys = [w1.vkey_file(root.path()), w2.vkey_file(root.path())];
    let urls = [w1.url(), w2.url()];

    let health = host.run(&[&w1, &w2], 0, 50);
    assert!(health.witness.cosigned >= 6, "{health:?}");
    assert_eq!(
        (health.witness.alarms, health.witness.refused),
        (0, 0),
        "{health:?}"
    );
    // A witness SIGKILLed between runs comes back with its state.
    let cosigned = w1.latest_size().unwrap();
    w1.sigkill();
    w1.spawn();
    assert_eq!(w1.latest_size(), Some(cosigned));
    let health = host.run(&[&w1, &w2], 50, 110);
    assert_eq!(
        (health.witness.alarms, health.witness.pending),
        (0, 0),
        "{health:?}"
    );
    assert!(trail_files(&host.dir).len() > 3, "the trail rotated");

    for k in ["1", "2"] {
        let args = witness_args(&host, &keys, &urls, k);
        let (code, out) = verify(&host.dir, &strs(&args));
        assert_eq!(code, 0, "{out}");
    }
    // The cosignatures the writer kept beside the trail say the same.
    let mut args = witness_args(&host, &keys, &[], "2");
    args.extend([
        "--cosigned".into(),
        s(&host.dir.join("audit.cosigned")).into(),
    ]);
    let (code, out) = verify(&host.dir, &strs(&args));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_tail_cut_after_the_last_cosigned_checkpoint_fails_verify() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path(), "trail", ORIGIN);
    let w1 = WitnessProc::start(root.path(), "w1", ORIGIN, &host.log_vkey());
    let w2 = WitnessProc::start(root.path(), "w2", ORIGIN, &host.log_vkey());
    let keys = [w1.vkey_file(root.path()), w2.vkey_file(root.path())];
    let urls = [w1.url(), w2.url()];
    host.run(&[&w1, &w2], 0, 40);
    let earlier = root.path().join("earlier");
    copy_tree(&host.dir, &earlier);
    host.run(&[&w1, &w2], 40, 80);

    // The attacker puts the trail back as it was: every epoch after that gone, seals included.
    fs::remove_dir_all(&host.dir).unwrap();
    copy_tree(&earlier, &host.dir);
    let (code, out) = verify(&host.dir, &["--public-key", s(&host.pk0())]);
    assert_eq!(code, 0, "the seals alone cannot tell: {out}");
    let args = witness_args(&host, &keys, &urls, "2");
    let (code, out) = verify(&host.dir, &strs(&args));
    assert_eq!(code, 24, "{out}");
    assert!(
        out.contains("witness_mismatch") && out.contains("cut"),
        "{out}"
    );
}

#[test]
fn a_rolled_back_writer_is_refused_with_409_reported_in_health_and_the_trail() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path(), "trail", ORIGIN);
    let w1 = WitnessProc::start(root.path(), "w1", ORIGIN, &host.log_vkey());
    let keys = [w1.vkey_file(root.path())];
    host.run(&[&w1], 0, 40);
    // A copy of the trail directory and the signing state, restored after more was written.
    let earlier = root.path().join("earlier");
    copy_tree(&host.dir, &earlier);
    let state = host.keys.path().join("audit.signing");
    let saved_state = fs::read(&state).unwrap();
    host.run(&[&w1], 40, 80);
    fs::remove_dir_all(&host.dir).unwrap();
    copy_tree(&earlier, &host.dir);
    fs::write(&state, saved_state).unwrap();

    let health = host.run(&[&w1], 40, 75);
    assert!(health.witness.alarms >= 1, "{health:?}");
    assert_eq!(health.witness.cosigned, 0, "{health:?}");
    assert!(
        w1.requests().iter().any(|r| r.contains(": 409")),
        "{:?}",
        w1.requests()
    );
    let alarms: Vec<String> = trail_files(&host.dir)
        .iter()
        .flat_map(|f| {
            fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains("\"record\":\"witness_alarm\""))
        .collect();
    assert!(!alarms.is_empty(), "the alarm is a record in the trail");
    // The regrown trail verifies on its own, but not against the witness.
    let (code, out) = verify(&host.dir, &["--public-key", s(&host.pk0())]);
    assert_eq!(code, 0, "{out}");
    let args = witness_args(&host, &keys, &[w1.url()], "1");
    let (code, out) = verify(&host.dir, &strs(&args));
    assert_eq!(code, 24, "{out}");
}

#[test]
fn a_swapped_trail_fails_verify() {
    let root = tempfile::tempdir().unwrap();
    let a = Host::new(root.path(), "a", ORIGIN);
    let b = Host::new(root.path(), "b", "host-b.example/audit");
    let wa = WitnessProc::start(root.path(), "wa", ORIGIN, &a.log_vkey());
    let wb = WitnessProc::start(root.path(), "wb", "host-b.example/audit", &b.log_vkey());
    a.run(&[&wa], 0, 45);
    b.run(&[&wb], 0, 45);
    let keys = [wa.vkey_file(root.path()), wb.vkey_file(root.path())];

    // B's trail in A's place (same chain key, both verify on their own): the operator names
    // the log it expects, and the witnesses hold only B's checkpoints for B's origin.
    let swapped = root.path().join("swapped");
    copy_tree(&b.dir, &swapped);
    let (code, out) = verify(&swapped, &["--public-key", s(&b.pk0())]);
    assert_eq!(code, 0, "{out}");
    let mut args = vec!["--witness-key", s(&keys[0]), "--witness-key", s(&keys[1])];
    let (ua, ub) = (wa.url(), wb.url());
    args.extend([
        "--witness-url",
        &ua,
        "--witness-url",
        &ub,
        "--origin",
        ORIGIN,
    ]);
    let (code, out) = verify(&swapped, &args);
    assert_eq!(code, 24, "{out}");
}

/// Copies a directory with its subdirectories (the tiles), symlinks as symlinks.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        let kind = fs::symlink_metadata(&p).unwrap().file_type();
        if kind.is_dir() {
            copy_tree(&p, &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&p).unwrap(), &target).unwrap();
        } else {
            fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn the_ship_sidecar_submits_what_the_writer_published() {
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path(), "trail", ORIGIN);
    let w1 = WitnessProc::start(root.path(), "w1", ORIGIN, &host.log_vkey());
    host.run(&[], 0, 30);
    assert_eq!(w1.latest_size(), None);
    // A receiver that takes everything (RFC 5424 over plain TCP has no acknowledgements).
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = format!("syslog+tcp://{}", receiver.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in receiver.incoming() {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || std::io::copy(&mut stream, &mut std::io::sink()));
        }
    });
    let witness = format!("{}={}", w1.url(), w1.vkey);
    let out = Command::new(env!("CARGO_BIN_EXE_tracing-audit"))
        .args(["ship", "--until-idle", "--prefix", "audit", "--dir"])
        .arg(&host.dir)
        .args(["--to", &to, "--witness", &witness])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("witnesses: 1 cosigned"), "{stderr}");
    let published = fs::read_to_string(host.dir.join("audit.tlog-checkpoint")).unwrap();
    let size: u64 = published.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(w1.latest_size(), Some(size));
    let keys = [w1.vkey_file(root.path())];
    let args = witness_args(&host, &keys, &[w1.url()], "1");
    let (code, out) = verify(&host.dir, &strs(&args));
    assert_eq!(code, 0, "{out}");
}
