//! Sending a log's checkpoints to its witnesses, and keeping what they cosign.
//!
//! One background thread ([`Submitter`]) owns the conversation with every configured witness,
//! so the writer's seal path only hands over the newest checkpoint ([`Submitter::offer`], a
//! mutex held for a pointer swap) and never waits on the network. The newest checkpoint wins:
//! a witness that was down is caught up later with ONE request, the consistency proof from the
//! size it last cosigned to the newest tree.
//!
//! Per witness ([`WitnessLink::submit`]), following c2sp.org/tlog-witness:
//! - send `old <last cosigned size>`, the proof from there, and the checkpoint;
//! - 200: the answer's cosignature lines are checked against the witness's key (a line that
//!   does not verify is a refusal, not a cosignature) and stored;
//! - 409 `m`: the witness cosigned size `m` last. `m` larger than our tree: it has seen more
//!   of this log than we hold — a cut or rolled-back trail, an ALARM. Otherwise retry once
//!   from `m` (this is how a restarted writer or a lost `.cosigned` file resynchronises);
//! - 422 from a size we believe the witness holds: its tree at that size is not ours — it saw
//!   a different history (a fork, a rolled-back and regrown trail), an ALARM;
//! - 400/403/404: refused (configuration: the witness does not know this log or key);
//! - no answer, a timeout, 5xx: pending, retried with backoff and at the next checkpoint.
//!
//! Cosignatures are kept beside the trail in `<prefix>.cosigned` ([`CosignedStore`]): the
//! newest [`KEEP_CHECKPOINTS`] checkpoints, each with the log's signatures and every
//! cosignature received for it, as signed notes separated by empty lines, replaced atomically.
//! `verify --witness-key` and `prove` read it.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::checkpoint::Checkpoint;
use super::cosignature::CosignerVerifier;
use super::http1::{self, Url};
use super::merkle::{consistency_proof, Hash, HashReader, ProofError};
use super::note::{Note, NoteSignature};
use super::witness::{parse_decimal, SIZE_CONTENT_TYPE};

/// How many of the newest checkpoints `<prefix>.cosigned` keeps.
pub const KEEP_CHECKPOINTS: usize = 16;
/// One exchange with a witness, connect to last byte.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a witness.
const MAX_ANSWER: usize = 64 * 1024;
/// Retry delays for a witness that did not answer: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(60));

/// A witness a log submits to: where it listens and the key it cosigns with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessEndpoint {
    url: Url,
    verifier: CosignerVerifier,
}

impl WitnessEndpoint {
    /// A witness at `url` (`http://host:port[/prefix]`) with the cosigner key `vkey`.
    ///
    /// # Errors
    /// The URL is not plain `http://host:port[/prefix]`, or the vkey does not parse.
    pub fn new(url: &str, vkey: &str) -> Result<Self, String> {
        let url = Url::parse(url).ok_or_else(|| {
            format!("witness URL {url:?} is not http://HOST:PORT[/PREFIX] (TLS: put a reverse proxy in front)")
        })?;
        let verifier = CosignerVerifier::parse_vkey(vkey).map_err(|e| e.to_string())?;
        Ok(WitnessEndpoint { url, verifier })
    }

    /// Parses `URL=VKEY`.
    ///
    /// # Errors
    /// No `=`, or [`new`](Self::new) refuses a part.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (url, vkey) = text
            .split_once('=')
            .ok_or_else(|| format!("witness {text:?} is not URL=VKEY"))?;
        WitnessEndpoint::new(url, vkey)
    }

    /// The witness's key.
    pub fn verifier(&self) -> &CosignerVerifier {
        &self.verifier
    }

    /// The witness's URL.
    pub fn url(&self) -> String {
        self.url.to_string()
    }
}

/// What one submission to one witness came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The witness cosigned; its verified signature line.
    Cosigned(NoteSignature),
    /// No answer (down, timeout, 5xx): try again later.
    Pending(String),
    /// The witness refused for a reason that is not about the log's history (unknown log or
    /// key, malformed request, an answer without a valid cosignature).
    Refused(String),
    /// The witness holds a different or longer history of this log than ours.
    Alarm(String),
}

/// One witness and what is known of its view of the log.
#[derive(Debug)]
pub struct WitnessLink {
    endpoint: WitnessEndpoint,
    /// The size it last cosigned, as far as we know (`None`: ask it, starting from 0).
    last: Option<u64>,
}

/// A [`HashReader`] behind a reference to a trait object.
struct DynReader<'a>(&'a (dyn HashReader + Send + Sync));

impl HashReader for DynReader<'_> {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        self.0.node(level, index)
    }
}

impl WitnessLink {
    /// A link to `endpoint`, which last cosigned `last` (if known).
    pub fn new(endpoint: WitnessEndpoint, last: Option<u64>) -> Self {
        WitnessLink { endpoint, last }
    }

    /// The size it last cosigned, if known.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// Submits `note` (a signed checkpoint of `checkpoint`) with the consistency proof from
    /// the size the witness last cosigned, read from `tree`; follows one 409 (see the module
    /// documentation).
    pub fn submit(
        &mut self,
        note: &Note,
        checkpoint: &Checkpoint,
        tree: &(dyn HashReader + Send + Sync),
        timeout: Duration,
    ) -> Outcome {
        let mut old = self.last.unwrap_or(0);
        let mut learned = false;
        if old > checkpoint.size {
            // What we remember says so, but only the witness's own answer raises an alarm: ask
            // it (a 409 tells the size it holds).
            old = 0;
        }
        loop {
            if old > checkpoint.size {
                return Outcome::Alarm(format!(
                    "witness {} cosigned size {old} of this log, larger than our tree of {}: the trail was cut or rolled back",
                    self.endpoint.verifier.name(),
                    checkpoint.size
                ));
            }
            let proof = match consistency_proof(old, checkpoint.size, &DynReader(tree)) {
                Ok(p) => p,
                Err(e) => return Outcome::Pending(format!("no consistency proof from {old}: {e}")),
            };
            let body = request_body(old, &proof, note);
            let answer = http1::exchange(
                &self.endpoint.url,
                "POST",
                "/add-checkpoint",
                &body,
                timeout,
                MAX_ANSWER,
            );
            let answer = match answer {
                Ok(a) => a,
                Err(e) => return Outcome::Pending(format!("{}: {e}", self.endpoint.url)),
            };
            match answer.status {
                200 => return self.accept(note, checkpoint, &answer.body),
                409 => {
                    let size = conflict_size(&answer);
                    match size {
                        Some(m) if !learned && m != old => {
                            old = m;
                            learned = true;
                            self.last = Some(m);
                        }
                        Some(m) => {
                            return Outcome::Alarm(format!(
                                "witness {} keeps answering 409 (size {m})",
                                self.endpoint.verifier.name()
                            ))
                        }
                        None => return Outcome::Refused("409 without a tree size".into()),
                    }
                }
                422 if old > 0 => {
                    return Outcome::Alarm(format!(
                        "witness {} holds a tree of size {old} that our tree does not extend: it saw a different history of this log",
                        self.endpoint.verifier.name()
                    ))
                }
                s @ (400..=499) => {
                    let why = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                        .trim()
                        .to_owned();
                    return Outcome::Refused(format!("HTTP {s}: {why}"));
                }
                s => return Outcome::Pending(format!("HTTP {s}")),
            }
        }
    }

    fn accept(&mut self, note: &Note, checkpoint: &Checkpoint, body: &[u8]) -> Outcome {
        let Ok(text) = std::str::from_utf8(body) else {
            return Outcome::Refused("answer is not UTF-8".into());
        };
        let verifier = &self.endpoint.verifier;
        for line in text.lines() {
            let parsed = Note::parse(&format!("{}\n{line}\n", note.body()));
            let Some(sig) = parsed.ok().and_then(|n| n.signatures().first().cloned()) else {
                continue;
            };
            if sig.key_name != verifier.name() || sig.key_id != verifier.key_id() {
                continue;
            }
            if verifier
                .verify(note.body().as_bytes(), &sig.signature)
                .is_err()
            {
                return Outcome::Refused(format!(
                    "witness {} answered with a cosignature that does not verify",
                    verifier.name()
                ));
            }
            self.last = Some(checkpoint.size);
            return Outcome::Cosigned(sig);
        }
        Outcome::Refused(format!(
            "witness {} answered 200 without its cosignature",
            verifier.name()
        ))
    }
}

fn conflict_size(answer: &http1::Response) -> Option<u64> {
    let typed = answer
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with(SIZE_CONTENT_TYPE));
    let text = std::str::from_utf8(&answer.body).ok()?;
    typed
        .then(|| parse_decimal(text.strip_suffix('\n')?))
        .flatten()
}

/// The `add-checkpoint` body: old size line, proof lines, empty line, the note.
pub fn request_body(old: u64, proof: &[Hash], note: &Note) -> Vec<u8> {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&BASE64.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(&note.render());
    body.into_bytes()
}

/// `<prefix>.cosigned`: the newest checkpoints with the cosignatures received for them.
#[derive(Debug)]
pub struct CosignedStore {
    dir: PathBuf,
    name: String,
    notes: VecDeque<Note>,
}

impl CosignedStore {
    /// The store of trail `prefix` in `dir` (read if it exists; a damaged file is started over,
    /// since every cosignature in it can be fetched again from the witnesses).
    pub fn open(dir: &Path, prefix: &str) -> Self {
        let name = crate::trail::naming::cosigned(prefix);
        let notes = read_notes(&dir.join(&name)).unwrap_or_default();
        CosignedStore {
            dir: dir.to_path_buf(),
            name,
            notes: notes.into(),
        }
    }

    /// The stored notes, oldest first.
    pub fn notes(&self) -> impl Iterator<Item = &Note> {
        self.notes.iter()
    }

    /// The largest size `verifier` cosigned among the stored notes (cosignatures checked: the
    /// file lies beside the trail, where an attacker can write).
    pub fn last_cosigned(&self, verifier: &CosignerVerifier) -> Option<u64> {
        self.notes
            .iter()
            .filter(|n| {
                n.signatures().iter().any(|s| {
                    s.key_name == verifier.name()
                        && s.key_id == verifier.key_id()
                        && verifier.verify(n.body().as_bytes(), &s.signature).is_ok()
                })
            })
            .filter_map(|n| Checkpoint::parse_body(n.body()).ok())
            .map(|c| c.size)
            .max()
    }

    /// Adds `cosignature` to the stored note of `note`'s checkpoint (adding that note, with the
    /// log's signatures, if new), and writes the file.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn add(&mut self, note: &Note, cosignature: NoteSignature) -> std::io::Result<()> {
        let index = match self.notes.iter().position(|n| n.body() == note.body()) {
            Some(i) => i,
            None => {
                self.notes.push_back(note.clone());
                while self.notes.len() > KEEP_CHECKPOINTS {
                    self.notes.pop_front();
                }
                self.notes.len() - 1
            }
        };
        let stored = &mut self.notes[index];
        if !stored.signatures().contains(&cosignature) {
            stored.add_signature(cosignature);
        }
        let mut text = String::new();
        for n in &self.notes {
            text.push_str(&n.render());
            text.push('\n');
        }
        crate::trail::write::replace_file(&self.dir, &self.name, text.as_bytes(), 0o600)
    }
}

/// Reads a file of signed notes separated by empty lines.
///
/// # Errors
/// The file cannot be read, or a note in it does not parse.
pub fn read_notes(path: &Path) -> Result<Vec<Note>, String> {
    let text = crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    parse_notes(&text)
}

/// Splits text into signed notes: each is body lines, an empty line, signature lines (`— `),
/// and notes are separated by one empty line.
///
/// # Errors
/// A note does not parse.
pub fn parse_notes(text: &str) -> Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.split_inclusive('\n') {
        let is_sig = line.starts_with('\u{2014}');
        if in_signatures && !is_sig {
            notes.push(Note::parse(&current).map_err(|e| e.to_string())?);
            current.clear();
            in_signatures = false;
            if line == "\n" {
                continue;
            }
        }
        in_signatures |= is_sig;
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        notes.push(Note::parse(&current).map_err(|e| e.to_string())?);
    }
    Ok(notes)
}

/// Asks the witness at `url` for its latest cosigned checkpoint of `origin` (`GET
/// <url>/<hex SHA-256 of origin>/checkpoint`). Nothing in it is trusted until its cosignatures
/// are checked.
///
/// # Errors
/// The URL is not plain http, the witness does not answer 200, or the answer is not a note.
pub fn fetch_latest(url: &str, origin: &str) -> Result<Note, String> {
    let parsed = Url::parse(url)
        .ok_or_else(|| format!("witness URL {url:?} is not http://HOST:PORT[/PREFIX]"))?;
    let path = format!("/{}/checkpoint", super::witness::origin_hash(origin));
    let answer = http1::exchange(&parsed, "GET", &path, b"", EXCHANGE_TIMEOUT, MAX_ANSWER)
        .map_err(|e| format!("witness {url}: {e}"))?;
    if answer.status != 200 {
        return Err(format!("witness {url}: HTTP {}", answer.status));
    }
    let text = String::from_utf8(answer.body).map_err(|_| format!("witness {url}: not text"))?;
    Note::parse(&text).map_err(|e| format!("witness {url}: {e}"))
}

/// Submission counters, shared by the submission thread and whoever reads health.
#[derive(Debug, Default)]
pub struct WitnessCounters {
    cosigned: AtomicU64,
    pending: AtomicU64,
    refused: AtomicU64,
    alarms: AtomicU64,
    last_alarm: Mutex<Option<String>>,
}

/// A snapshot of [`WitnessCounters`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessHealth {
    /// Cosignatures received and stored (one per witness per checkpoint).
    pub cosigned: u64,
    /// Witnesses that have not answered for the newest checkpoint yet (down, timing out, 5xx):
    /// retried with backoff and at every new checkpoint.
    pub pending: u64,
    /// Answers that refused a checkpoint for a reason other than its history.
    pub refused: u64,
    /// Witnesses that showed a different or longer history of this log (409 beyond our tree,
    /// 422): the trail was cut, rolled back or forked. Never expected from an honest writer.
    pub alarms: u64,
    /// The most recent alarm, in words.
    pub last_alarm: Option<String>,
}

impl WitnessCounters {
    /// A snapshot.
    pub fn snapshot(&self) -> WitnessHealth {
        WitnessHealth {
            cosigned: self.cosigned.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            alarms: self.alarms.load(Ordering::Relaxed),
            last_alarm: self
                .last_alarm
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// What the seal path hands over and the submission thread takes.
#[derive(Default)]
struct Inbox {
    newest: Option<Arc<(Note, Checkpoint)>>,
    /// Checkpoints handed over so far (the thread compares to know when it is idle).
    offered: u64,
    /// The newest offer every witness has been tried with once.
    attempted: u64,
    /// Requests to look at the side file now ([`Submitter::poke`]), and those handled.
    pokes: u64,
    pokes_seen: u64,
    /// The newest offer the thread has finished with (every witness cosigned, refused or
    /// alarmed).
    settled: u64,
    stop: bool,
}

struct Shared {
    inbox: Mutex<Inbox>,
    wake: Condvar,
    counters: WitnessCounters,
}

/// Called with each alarm's text, from the submission thread (the writer records it in the
/// trail as a control record).
pub type AlarmHook = Box<dyn Fn(&str) + Send>;

/// The submission thread. Dropping it stops the thread after its current exchange, without
/// waiting for it.
pub struct Submitter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Submitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitter")
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl Submitter {
    /// Starts the thread for `endpoints`, keeping cosignatures in `store` and reading proofs
    /// from `tree` (which must hold every checkpoint offered).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(
        endpoints: Vec<WitnessEndpoint>,
        store: CosignedStore,
        tree: Arc<dyn HashReader + Send + Sync>,
        on_alarm: AlarmHook,
    ) -> std::io::Result<Self> {
        Submitter::start(endpoints, store, TreeSource::Shared(tree), None, on_alarm)
    }

    /// Starts the thread for the trail `prefix` in `dir`: it submits each checkpoint the writer
    /// publishes to `<prefix>.tlog-checkpoint` (looked at every [`POLL`] and at each
    /// [`poke`](Self::poke)), with proofs from the trail's tile files, and keeps the
    /// cosignatures in `<prefix>.cosigned`.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn watch(
        dir: &Path,
        prefix: &str,
        endpoints: Vec<WitnessEndpoint>,
        on_alarm: AlarmHook,
    ) -> std::io::Result<Self> {
        let store = CosignedStore::open(dir, prefix);
        let tiles = TreeSource::Tiles(super::tiles::tile_dir(dir, prefix));
        let side = dir.join(crate::trail::naming::tlog_checkpoint(prefix));
        Submitter::start(endpoints, store, tiles, Some(side), on_alarm)
    }

    fn start(
        endpoints: Vec<WitnessEndpoint>,
        store: CosignedStore,
        tree: TreeSource,
        watch: Option<PathBuf>,
        on_alarm: AlarmHook,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            counters: WitnessCounters::default(),
        });
        let links = endpoints
            .into_iter()
            .map(|e| {
                let last = store.last_cosigned(&e.verifier);
                WitnessLink::new(e, last)
            })
            .collect();
        let mut worker = Worker {
            shared: Arc::clone(&shared),
            links,
            store,
            tree,
            watch,
            on_alarm,
        };
        let thread = std::thread::Builder::new()
            .name("tracing-audit-witness-submit".into())
            .spawn(move || worker.run())?;
        Ok(Submitter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over the newest signed checkpoint; returns at once. An older checkpoint not yet
    /// sent is replaced (the witnesses are caught up with one proof).
    pub fn offer(&self, note: Note, checkpoint: Checkpoint) {
        let mut inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inbox.newest = Some(Arc::new((note, checkpoint)));
        inbox.offered += 1;
        drop(inbox);
        self.shared.wake.notify_all();
    }

    /// Watch mode: look at the side file now (the writer just published a checkpoint).
    pub fn poke(&self) {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pokes += 1;
        self.shared.wake.notify_all();
    }

    /// Watch mode: looks at the side file now and waits up to `timeout` until its checkpoint
    /// is settled with every witness. Returns whether it is.
    pub fn settle_published(&self, timeout: Duration) -> bool {
        let poke = {
            let mut inbox = self
                .shared
                .inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            inbox.pokes += 1;
            inbox.pokes
        };
        self.shared.wake.notify_all();
        self.wait(timeout, |inbox| {
            inbox.pokes_seen >= poke && inbox.settled >= inbox.offered
        })
    }

    /// The counters so far.
    pub fn health(&self) -> WitnessHealth {
        self.shared.counters.snapshot()
    }

    /// Waits up to `timeout` until the newest checkpoint offered is settled with every
    /// witness (cosigned, refused or alarmed; a witness that does not answer keeps it
    /// unsettled). Returns whether it is.
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        self.wait(timeout, |inbox| inbox.settled >= inbox.offered)
    }

    /// Waits up to `timeout` until every witness has been tried once with the newest
    /// checkpoint offered (whatever the outcome). Returns whether it has.
    pub fn wait_attempted(&self, timeout: Duration) -> bool {
        self.wait(timeout, |inbox| inbox.attempted >= inbox.offered)
    }

    fn wait(&self, timeout: Duration, done: impl Fn(&Inbox) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while !done(&inbox) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            inbox = self
                .shared
                .wake
                .wait_timeout(inbox, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

impl Drop for Submitter {
    /// Tells the thread to stop and returns at once: the thread ends after its current
    /// exchange (at most [`EXCHANGE_TIMEOUT`]), so stopping a sink never waits on a witness
    /// that does not answer beyond the drain the caller chose.
    fn drop(&mut self) {
        self.shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Where the consistency proofs come from.
enum TreeSource {
    /// A tree the caller keeps (tests, a log kept elsewhere).
    Shared(Arc<dyn HashReader + Send + Sync>),
    /// The tile files beside a trail, reopened for every round (a restarted writer may have
    /// cut them back and rewritten them).
    Tiles(PathBuf),
}

struct Worker {
    shared: Arc<Shared>,
    links: Vec<WitnessLink>,
    store: CosignedStore,
    tree: TreeSource,
    /// Watch mode: the `<prefix>.tlog-checkpoint` side file the writer publishes.
    watch: Option<PathBuf>,
    on_alarm: AlarmHook,
}

/// How often watch mode looks at the side file when nobody pokes it.
pub const POLL: Duration = Duration::from_secs(1);

impl Worker {
    fn run(&mut self) {
        let mut backoff = BACKOFF.0;
        let mut retry_at: Option<Instant> = None;
        let mut done_with: u64 = 0;
        loop {
            let Some(pokes) = self.wait_for_work(done_with, retry_at) else {
                return;
            };
            if let Some(path) = &self.watch {
                self.read_side_file(path);
            }
            let (job, offered) = {
                let mut inbox = self
                    .shared
                    .inbox
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                inbox.pokes_seen = inbox.pokes_seen.max(pokes);
                (inbox.newest.clone(), inbox.offered)
            };
            let Some(job) = job else {
                done_with = offered;
                self.mark(offered, true);
                continue;
            };
            if offered == done_with && retry_at.is_none_or(|t| Instant::now() < t) {
                self.mark(
                    offered,
                    self.shared.counters.pending.load(Ordering::Relaxed) == 0,
                );
                continue;
            }
            let pending = self.round(&job.0, &job.1);
            self.shared
                .counters
                .pending
                .store(pending, Ordering::Relaxed);
            done_with = offered;
            self.mark(offered, pending == 0);
            if pending == 0 {
                retry_at = None;
                backoff = BACKOFF.0;
            } else {
                retry_at = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
    }

    /// Sleeps until there is something to do: a new offer, a poke, a retry or (watch mode) the
    /// next look at the side file. Returns the pokes seen so far; `None` to stop.
    fn wait_for_work(&self, done_with: u64, retry_at: Option<Instant>) -> Option<u64> {
        let poll_at = self.watch.as_ref().map(|_| Instant::now() + POLL);
        let mut inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if inbox.stop {
                return None;
            }
            let now = Instant::now();
            let due = [retry_at, poll_at].into_iter().flatten().any(|t| now >= t);
            if inbox.offered > done_with || inbox.pokes > inbox.pokes_seen || due {
                return Some(inbox.pokes);
            }
            let wait = [retry_at, poll_at]
                .into_iter()
                .flatten()
                .map(|t| t.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_secs(3600));
            inbox = self
                .shared
                .wake
                .wait_timeout(inbox, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Watch mode: offers the side file's checkpoint when it is newer than the last one.
    fn read_side_file(&self, path: &Path) {
        let Ok(text) =
            crate::trail::open::read_capped_to_string(path, super::note::MAX_NOTE_BYTES as u64)
        else {
            return;
        };
        let Ok(note) = Note::parse(&text) else {
            return;
        };
        let Ok(checkpoint) = Checkpoint::parse_body(note.body()) else {
            return;
        };
        let mut inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let newer = inbox.newest.as_ref().is_none_or(|n| {
            n.1.size < checkpoint.size || (n.1.size == checkpoint.size && n.1 != checkpoint)
        });
        if newer {
            inbox.newest = Some(Arc::new((note, checkpoint)));
            inbox.offered += 1;
        }
    }

    fn mark(&self, offered: u64, settled: bool) {
        let mut inbox = self
            .shared
            .inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inbox.attempted = inbox.attempted.max(offered);
        if settled {
            inbox.settled = inbox.settled.max(offered);
        }
        drop(inbox);
        self.shared.wake.notify_all();
    }

    /// Submits to every witness that has not cosigned this checkpoint; returns how many are
    /// still to be tried again.
    fn round(&mut self, note: &Note, checkpoint: &Checkpoint) -> u64 {
        let mut pending = 0;
        let counters = &self.shared.counters;
        for link in &mut self.links {
            if link.last() == Some(checkpoint.size) {
                continue;
            }
            let tiles;
            let tree: &(dyn HashReader + Send + Sync) = match &self.tree {
                TreeSource::Shared(t) => &**t,
                TreeSource::Tiles(dir) => {
                    tiles = super::tiles::TileReader::open(dir);
                    &tiles
                }
            };
            match link.submit(note, checkpoint, tree, EXCHANGE_TIMEOUT) {
                Outcome::Cosigned(sig) => {
                    counters.cosigned.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = self.store.add(note, sig) {
                        *counters
                            .last_alarm
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner) =
                            Some(format!("cannot store a cosignature: {e}"));
                    }
                }
                Outcome::Pending(_) => pending += 1,
                Outcome::Refused(_) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Alarm(why) => {
                    counters.alarms.fetch_add(1, Ordering::Relaxed);
                    *counters
                        .last_alarm
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
                    (self.on_alarm)(&why);
                }
            }
        }
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::cosignature::Cosigner;
    use crate::tlog::note::Signer;

    fn note(log: &Signer, size: u64) -> (Note, Checkpoint) {
        let cp = Checkpoint {
            origin: log.name().into(),
            size,
            root: [7; 32],
            extensions: vec![],
        };
        let mut note = Note::new(&cp.body()).unwrap();
        note.add_signature(log.sign(note.body()));
        (note, cp)
    }

    #[test]
    fn the_store_keeps_the_newest_and_trusts_only_cosignatures_that_verify() {
        let dir = tempfile::tempdir().unwrap();
        let log = Signer::generate("l.example/audit").unwrap();
        let w = Cosigner::generate("w.example/1").unwrap();
        let mut store = CosignedStore::open(dir.path(), "audit");
        for size in 1..=(KEEP_CHECKPOINTS as u64 + 3) {
            let (n, _) = note(&log, size);
            let sig = w
                .cosign(n.body().as_bytes(), size)
                .unwrap()
                .note_signature();
            store.add(&n, sig).unwrap();
        }
        let again = CosignedStore::open(dir.path(), "audit");
        assert_eq!(again.notes().count(), KEEP_CHECKPOINTS);
        assert_eq!(
            again.last_cosigned(w.verifier()),
            Some(KEEP_CHECKPOINTS as u64 + 3)
        );
        // A line with the witness's name and key ID that does not verify is not its size.
        let (n, _) = note(&log, 1000);
        let mut forged = w.cosign(n.body().as_bytes(), 1).unwrap().note_signature();
        forged.signature[30] ^= 1;
        let mut store = again;
        store.add(&n, forged).unwrap();
        let reopened = CosignedStore::open(dir.path(), "audit");
        assert_eq!(
            reopened.last_cosigned(w.verifier()),
            Some(KEEP_CHECKPOINTS as u64 + 3)
        );
    }

    #[test]
    fn endpoints_are_plain_http_with_a_cosigner_vkey() {
        let w = Cosigner::generate("w.example/1").unwrap();
        let vkey = w.verifier().vkey();
        let e = WitnessEndpoint::parse(&format!("http://127.0.0.1:7380={vkey}")).unwrap();
        assert_eq!(e.url(), "http://127.0.0.1:7380");
        assert!(WitnessEndpoint::parse(&format!("https://w:1={vkey}")).is_err());
        let log = Signer::generate("l.example/audit").unwrap();
        assert!(WitnessEndpoint::new("http://w:1", &log.verifier().render()).is_err());
    }
}
