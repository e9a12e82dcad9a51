//! Real `tracing-audit witness` processes on loopback, fed by the submission thread: two
//! witnesses, one SIGKILLed and restarted, one down for a while and caught up with one proof,
//! a rolled-back log refused with 409 and a forked one with 422, both raised as alarms.

mod witness_support;

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use witness_support::WitnessProc;

use tracing_audit::tlog::checkpoint::Checkpoint;
use tracing_audit::tlog::merkle::{Hash, HashReader, MemoryHashes, ProofError};
use tracing_audit::tlog::note::{Note, Signer};
use tracing_audit::tlog::submit::{CosignedStore, Submitter};

const ORIGIN: &str = "host.example/audit";
const WAIT: Duration = Duration::from_secs(60);

/// The log side: a signer and its tree, shared with the submission thread.
#[derive(Clone)]
struct Log {
    signer: Arc<Signer>,
    tree: Arc<SharedTree>,
}

struct SharedTree(RwLock<MemoryHashes>);

impl HashReader for SharedTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        self.0.read().unwrap().node(level, index)
    }
}

impl Log {
    fn new() -> Log {
        Log {
            signer: Arc::new(Signer::generate(ORIGIN).unwrap()),
            tree: Arc::new(SharedTree(RwLock::new(MemoryHashes::new()))),
        }
    }

    /// The same key with a fresh tree (a rolled-back or forked writer).
    fn restored(&self) -> Log {
        Log {
            signer: Arc::clone(&self.signer),
            tree: Arc::new(SharedTree(RwLock::new(MemoryHashes::new()))),
        }
    }

    fn vkey(&self) -> String {
        self.signer.verifier().render()
    }

    fn append(&self, tag: &str, n: usize) {
        let mut tree = self.tree.0.write().unwrap();
        for i in 0..n {
            tree.push_entry(format!("{{\"seq\":{i},\"msg\":\"{tag}\"}}").as_bytes());
        }
    }

    fn checkpoint(&self) -> (Note, Checkpoint) {
        let tree = self.tree.0.read().unwrap();
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: tree.size(),
            root: tree.root(),
            extensions: vec![],
        };
        let mut note = Note::new(&cp.body()).unwrap();
        note.add_signature(self.signer.sign(note.body()));
        (note, cp)
    }

    fn submitter(
        &self,
        dir: &Path,
        witnesses: &[&WitnessProc],
        alarms: Arc<Mutex<Vec<String>>>,
    ) -> Submitter {
        Submitter::spawn(
            witnesses.iter().map(|w| w.endpoint()).collect(),
            CosignedStore::open(dir, "audit"),
            Arc::clone(&self.tree) as Arc<dyn HashReader + Send + Sync>,
            Box::new(move |why: &str| alarms.lock().unwrap().push(why.to_owned())),
        )
        .unwrap()
    }

    fn offer(&self, submitter: &Submitter) {
        let (note, cp) = self.checkpoint();
        submitter.offer(note, cp);
    }
}

/// Every cosignature in `<dir>/audit.cosigned` on the checkpoint of `size`, checked with the
/// witnesses' keys: the names of the witnesses whose cosignature verifies.
fn cosigned_by(dir: &Path, size: u64, witnesses: &[&WitnessProc]) -> Vec<String> {
    let store = CosignedStore::open(dir, "audit");
    let mut names = Vec::new();
    for note in store.notes() {
        if Checkpoint::parse_body(note.body()).unwrap().size != size {
            continue;
        }
        for w in witnesses {
            let v =
                tracing_audit::tlog::cosignature::CosignerVerifier::parse_vkey(&w.vkey).unwrap();
            for s in note.signatures() {
                if s.key_name == v.name()
                    && s.key_id == v.key_id()
                    && v.verify(note.body().as_bytes(), &s.signature).is_ok()
                {
                    names.push(v.name().to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn two_witnesses_cosign_and_one_survives_sigkill_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    let log = Log::new();
    let mut w1 = WitnessProc::start(dir.path(), "w1", ORIGIN, &log.vkey());
    let w2 = WitnessProc::start(dir.path(), "w2", ORIGIN, &log.vkey());
    let alarms = Arc::new(Mutex::new(Vec::new()));
    let submitter = log.submitter(&trail, &[&w1, &w2], Arc::clone(&alarms));

    log.append("a", 3);
    log.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));
    log.append("b", 2);
    log.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));
    assert_eq!(submitter.health().cosigned, 4);
    assert_eq!(cosigned_by(&trail, 5, &[&w1, &w2]).len(), 2);

    // SIGKILL, restart on the same port with the same state: it still holds size 5, so the next
    // checkpoint goes through with one request from old 5 (no 409).
    w1.sigkill();
    w1.spawn();
    assert_eq!(w1.latest_size(), Some(5));
    let before = w1.requests().len();
    log.append("c", 3);
    log.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));
    let after = w1.requests();
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert!(after[before].contains("old 5 size 8: 200"), "{after:?}");
    assert_eq!(cosigned_by(&trail, 8, &[&w1, &w2]).len(), 2);
    let health = submitter.health();
    assert_eq!((health.cosigned, health.alarms, health.refused), (6, 0, 0));
    assert!(alarms.lock().unwrap().is_empty());
}

#[test]
fn a_witness_down_for_a_while_is_caught_up_with_one_proof() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    let log = Log::new();
    let w1 = WitnessProc::start(dir.path(), "w1", ORIGIN, &log.vkey());
    let mut w2 = WitnessProc::start(dir.path(), "w2", ORIGIN, &log.vkey());
    let alarms = Arc::new(Mutex::new(Vec::new()));
    let submitter = log.submitter(&trail, &[&w1, &w2], Arc::clone(&alarms));
    log.append("a", 3);
    log.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));

    w2.sigkill();
    for (tag, n) in [("b", 2), ("c", 4), ("d", 1)] {
        log.append(tag, n);
        log.offer(&submitter);
        assert!(submitter.wait_attempted(WAIT));
        assert_eq!(submitter.health().pending, 1);
    }
    assert!(!submitter.wait_settled(Duration::from_millis(10)));
    let seen_before = w2.requests().len();

    w2.spawn();
    assert!(submitter.wait_settled(WAIT), "{:?}", submitter.health());
    let requests = w2.requests();
    assert_eq!(requests.len(), seen_before + 1, "{requests:?}");
    assert!(
        requests[seen_before].contains("old 3 size 10: 200"),
        "{requests:?}"
    );
    assert_eq!(cosigned_by(&trail, 10, &[&w1, &w2]).len(), 2);
    assert_eq!(submitter.health().pending, 0);
    assert!(alarms.lock().unwrap().is_empty());
}

#[test]
fn a_rolled_back_log_gets_409_and_a_forked_one_422_both_alarms() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    std::fs::create_dir(&trail).unwrap();
    let log = Log::new();
    let w1 = WitnessProc::start(dir.path(), "w1", ORIGIN, &log.vkey());
    let alarms = Arc::new(Mutex::new(Vec::new()));
    {
        let submitter = log.submitter(&trail, &[&w1], Arc::clone(&alarms));
        log.append("a", 8);
        log.offer(&submitter);
        assert!(submitter.wait_settled(WAIT));
    }

    // The writer's tree and `.cosigned` restored from an earlier copy: 5 records, the same key.
    let restored = log.restored();
    restored.append("a", 5);
    std::fs::remove_file(trail.join("audit.cosigned")).unwrap();
    let submitter = restored.submitter(&trail, &[&w1], Arc::clone(&alarms));
    restored.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));
    let health = submitter.health();
    assert_eq!((health.cosigned, health.alarms), (0, 1), "{health:?}");
    assert!(health.last_alarm.unwrap().contains("cut or rolled back"));
    assert!(w1.requests().last().unwrap().contains(": 409"));

    // It grows again past the witness's size, with other records: 409, then 422 from size 8.
    restored.append("forked", 6);
    restored.offer(&submitter);
    assert!(submitter.wait_settled(WAIT));
    let health = submitter.health();
    assert_eq!((health.cosigned, health.alarms), (0, 2), "{health:?}");
    assert!(health.last_alarm.unwrap().contains("different history"));
    assert!(w1.requests().last().unwrap().contains("old 8 size 11: 422"));
    assert_eq!(alarms.lock().unwrap().len(), 2);
    assert_eq!(w1.latest_size(), Some(8));
}
