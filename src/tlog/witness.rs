//! A C2SP `tlog-witness`: cosigns a log's checkpoint only when it extends the last one the
//! witness cosigned for that log, and remembers that one across crashes.
//!
//! The witness is what makes a cut, rolled-back or forked trail visible: it runs on another
//! host, and once it has cosigned a tree of size N for an origin it never cosigns a tree that
//! does not contain that one (RFC 6962 consistency proof), so a verifier holding its
//! cosignature can tell a trail that lost its tail or was rebuilt from an older state.
//!
//! What it does, per c2sp.org/tlog-witness:
//! - `POST /add-checkpoint` with `old <size>`, consistency proof lines (base64), an empty line
//!   and the signed checkpoint note. 404 when the origin is not configured; 403 when no
//!   trusted log key signed it (or a trusted key's line fails); 400 when malformed or `old`
//!   exceeds the size; 409 with `<latest size>\n` (`text/x.tlog.size`) when `old` is not the
//!   size it last cosigned; 422 when the proof does not verify (or a size-0 checkpoint has a
//!   root other than the empty tree's); 200 with its cosignature line otherwise.
//! - `GET /<hex SHA-256 of origin>/checkpoint`: the latest cosigned checkpoint for that origin
//!   (the log's signatures it verified and its own cosignature), 404 if none. The spec's
//!   optional monitoring API; `verify --witness-url` reads it.
//!
//! Durability and atomicity: the check against the stored size and the update are done under
//! the origin's lock, and the new checkpoint is written to `<state>/<hex origin hash>.checkpoint`
//! (temporary file 0600, fsync, rename, fsync of the directory) *before* the answer is sent. A
//! witness killed at any point restarts with either the old or the new checkpoint, and never
//! has answered with a cosignature it did not persist. It keeps checkpoints only, never records.
//!
//! Bounds: request bodies at most [`MAX_REQUEST_BODY`], each connection at most
//! [`REQUEST_DEADLINE`] from accept to answer, at most [`MAX_CONNECTIONS`] at once (more are
//! answered 503 at once).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::checkpoint::Checkpoint;
use super::cosignature::Cosigner;
use super::http1;
use super::merkle::{empty_root, verify_consistency, Hash};
use super::note::{decode_canonical, Note, Verifier};

/// The largest `add-checkpoint` body: a note of [`super::note::MAX_NOTE_BYTES`] and 63 proof
/// lines.
pub const MAX_REQUEST_BODY: usize = super::note::MAX_NOTE_BYTES + 64 * 48 + 32;
/// From accept to the last byte of the answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Connections served at once; more are answered 503.
pub const MAX_CONNECTIONS: usize = 64;
/// The most proof lines the spec lets a client send.
const MAX_PROOF_LINES: usize = 63;
/// The content type of a 409's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why a witness could not start.
#[derive(Debug)]
pub struct WitnessError(String);

impl fmt::Display for WitnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "witness: {}", self.0)
    }
}

impl std::error::Error for WitnessError {}

/// A log the witness accepts: its origin line and the keys that sign its checkpoints.
#[derive(Debug, Clone)]
pub struct LogConfig {
    origin: String,
    keys: Vec<Verifier>,
}

impl LogConfig {
    /// A log named `origin` whose checkpoints `keys` sign.
    pub fn new(origin: impl Into<String>, keys: Vec<Verifier>) -> Self {
        LogConfig {
            origin: origin.into(),
            keys,
        }
    }

    /// Parses `ORIGIN=VKEY`, or a bare `VKEY` whose key name is the origin.
    ///
    /// # Errors
    /// The vkey does not parse.
    pub fn parse(text: &str) -> Result<Self, WitnessError> {
        let (origin, vkey) = match text.split_once('=') {
            Some((origin, vkey)) if !origin.contains('+') => (Some(origin), vkey),
            _ => (None, text),
        };
        let key = Verifier::parse(vkey.trim())
            .map_err(|e| WitnessError(format!("log key {vkey:?}: {e}")))?;
        let origin = origin.map_or_else(|| key.name().to_owned(), str::to_owned);
        Ok(LogConfig::new(origin, vec![key]))
    }

    /// The origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// An answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }
}

/// The latest cosigned checkpoint of one log.
#[derive(Debug)]
struct Latest {
    checkpoint: Checkpoint,
    /// The note as served by `GET`: body, the log signatures checked, the cosignature.
    note: String,
}

#[derive(Debug)]
struct Log {
    keys: Vec<Verifier>,
    file: String,
    latest: Mutex<Option<Latest>>,
}

/// The witness: its key, the logs it accepts and their latest cosigned checkpoints.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    dir: PathBuf,
    logs: HashMap<String, Log>,
    by_hash: HashMap<String, String>,
    clock: fn() -> u64,
}

/// The lowercase hex SHA-256 of an origin: the state file's stem and the `GET` path segment.
pub fn origin_hash(origin: &str) -> String {
    crate::trail::hex::to_hex(&Sha256::digest(origin.as_bytes()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Witness {
    /// Opens (creating it 0700 if needed) the state directory and loads the latest checkpoint
    /// of every configured log.
    ///
    /// # Errors
    /// The directory cannot be created, or a state file cannot be read or does not hold a
    /// checkpoint its log signed: the witness refuses to start rather than forget a log's
    /// history (which would let a rolled-back log be cosigned).
    pub fn open(
        dir: &Path,
        cosigner: Cosigner,
        logs: Vec<LogConfig>,
    ) -> Result<Self, WitnessError> {
        crate::trail::write::ensure_dir(dir, 0o700)
            .map_err(|e| WitnessError(format!("state directory {}: {e}", dir.display())))?;
        let mut witness = Witness {
            cosigner,
            dir: dir.to_path_buf(),
            logs: HashMap::new(),
            by_hash: HashMap::new(),
            clock: unix_now,
        };
        for log in logs {
            let hash = origin_hash(&log.origin);
            let file = format!("{hash}.checkpoint");
            let latest = witness.load(&file, &log)?;
            witness.by_hash.insert(hash, log.origin.clone());
            let slot = Log {
                keys: log.keys,
                file,
                latest: Mutex::new(latest),
            };
            witness.logs.insert(log.origin, slot);
        }
        Ok(witness)
    }

    fn load(&self, file: &str, log: &LogConfig) -> Result<Option<Latest>, WitnessError> {
        let path = self.dir.join(file);
        let text = match crate::trail::open::read_capped_to_string(&path, MAX_REQUEST_BODY as u64) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(WitnessError(format!("{}: {e}", path.display()))),
        };
        let bad = |what: String| WitnessError(format!("{}: {what}", path.display()));
        let note = Note::parse(&text).map_err(|e| bad(e.to_string()))?;
        note.verify(&log.keys).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse_body(note.body()).map_err(|e| bad(e.to_string()))?;
        if checkpoint.origin != log.origin {
            return Err(bad("holds another origin's checkpoint".into()));
        }
        Ok(Some(Latest {
            checkpoint,
            note: text,
        }))
    }

    /// Uses `clock` (POSIX seconds) for cosignature times instead of the system clock.
    #[doc(hidden)]
    pub fn with_clock(mut self, clock: fn() -> u64) -> Self {
        self.clock = clock;
        self
    }

    /// The witness's public key.
    pub fn verifier(&self) -> &super::cosignature::CosignerVerifier {
        self.cosigner.verifier()
    }

    /// Serves one parsed request.
    pub fn handle(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        match (method, path) {
            ("POST", "/add-checkpoint") => self.add_checkpoint(body),
            ("GET", _) => self.get_checkpoint(path),
            _ => Reply::text(404, "not found\n"),
        }
    }

    fn get_checkpoint(&self, path: &str) -> Reply {
        let hash = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix("/checkpoint"));
        let log = hash
            .and_then(|h| self.by_hash.get(h))
            .and_then(|origin| self.logs.get(origin));
        let Some(log) = log else {
            return Reply::text(404, "unknown log\n");
        };
        let latest = log.latest.lock().unwrap_or_else(|p| p.into_inner());
        match &*latest {
            Some(l) => Reply::text(200, l.note.clone()),
            None => Reply::text(404, "no checkpoint cosigned yet\n"),
        }
    }

    /// `add-checkpoint`: every check of the spec, then persist, then cosign.
    pub fn add_checkpoint(&self, body: &[u8]) -> Reply {
        let request = match AddCheckpoint::parse(body) {
            Ok(r) => r,
            Err(why) => return Reply::text(400, format!("{why}\n")),
        };
        let Some(log) = self.logs.get(&request.checkpoint.origin) else {
            return Reply::text(404, "unknown log origin\n");
        };
        let verified = match request.note.verify(&log.keys) {
            Ok(v) => v,
            Err(e) => return Reply::text(403, format!("{e}\n")),
        };
        if request.old > request.checkpoint.size {
            return Reply::text(400, "old size beyond the checkpoint size\n");
        }
        let mut latest = log.latest.lock().unwrap_or_else(|p| p.into_inner());
        let (current_size, current_root) = match &*latest {
            Some(l) => (l.checkpoint.size, l.checkpoint.root),
            None => (0, empty_root()),
        };
        if request.old != current_size {
            return Reply {
                status: 409,
                content_type: SIZE_CONTENT_TYPE,
                body: format!("{current_size}\n").into_bytes(),
            };
        }
        if let Err(why) = request.consistent_with(&current_root) {
            return Reply::text(422, format!("{why}\n"));
        }
        self.cosign_and_store(log, &mut latest, request, &verified)
    }

    fn cosign_and_store(
        &self,
        log: &Log,
        latest: &mut Option<Latest>,
        request: AddCheckpoint,
        verified: &[&Verifier],
    ) -> Reply {
        let body = request.note.body();
        let cosig = match self.cosigner.cosign(body.as_bytes(), (self.clock)()) {
            Ok(c) => c,
            Err(e) => return Reply::text(500, format!("{e}\n")),
        };
        let mut stored = Note::new(body).unwrap_or_else(|_| request.note.clone());
        for s in request.note.signatures() {
            let trusted = verified
                .iter()
                .any(|v| v.name() == s.key_name && v.key_id() == s.key_id);
            if trusted && !stored.signatures().contains(s) {
                stored.add_signature(s.clone());
            }
        }
        let line = cosig.line();
        let mut text = stored.render();
        text.push_str(&line);
        if let Err(e) =
            crate::trail::write::replace_file(&self.dir, &log.file, text.as_bytes(), 0o600)
        {
            return Reply::text(500, format!("cannot persist the checkpoint: {e}\n"));
        }
        *latest = Some(Latest {
            checkpoint: request.checkpoint,
            note: text,
        });
        Reply::text(200, line)
    }

    /// Serves `listener` until it fails: one thread per connection, at most
    /// [`MAX_CONNECTIONS`] at once.
    ///
    /// # Errors
    /// Accepting fails in a way that is not about one connection.
    pub fn serve(self: Arc<Self>, listener: TcpListener) -> io::Result<()> {
        let active = Arc::new(AtomicUsize::new(0));
        loop {
            let (stream, _) = match listener.accept() {
                Ok(s) => s,
                Err(e) if is_exhaustion(&e) => {
                    // Out of descriptors or memory: let connections finish instead of spinning.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => return Err(e),
            };
            let deadline = Instant::now() + REQUEST_DEADLINE;
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = http1::write_response(&stream, deadline, 503, "text/plain", b"busy\n");
                continue;
            }
            let witness = Arc::clone(&self);
            let guard = ActiveGuard(Arc::clone(&active));
            let spawned = std::thread::Builder::new()
                .name("tracing-audit-witness".into())
                .spawn(move || {
                    let _guard = guard;
                    witness.serve_one(&stream, deadline);
                });
            if spawned.is_err() {
                continue;
            }
        }
    }

    fn serve_one(&self, stream: &TcpStream, deadline: Instant) {
        let reply = match http1::read_request(stream, deadline, MAX_REQUEST_BODY) {
            Ok(req) => {
                let path = req.path.split('?').next().unwrap_or_default();
                let reply = self.handle(&req.method, path, &req.body);
                log_request(&req, path, &reply);
                reply
            }
            Err(http1::HttpError::TooLarge) => Reply::text(413, "request too large\n"),
            Err(http1::HttpError::Malformed(what)) => Reply::text(400, format!("{what}\n")),
            Err(http1::HttpError::Io(_)) => return,
        };
        let _ = http1::write_response(
            stream,
            deadline,
            reply.status,
            reply.content_type,
            &reply.body,
        );
    }
}

/// One line on stderr per request: method, path, the `old` line of an `add-checkpoint`, the
/// checkpoint's size, and the status (untrusted text escaped).
fn log_request(req: &http1::Request, path: &str, reply: &Reply) {
    use std::io::Write as _;
    let mut what = String::new();
    if req.method == "POST" {
        // Protocol text, not a trail: only the `old` line and the checkpoint's size line.
        let text = String::from_utf8_lossy(&req.body[..req.body.len().min(MAX_REQUEST_BODY)]);
        let old = text.split('\n').next().unwrap_or_default();
        let size = text
            .split_once("\n\n")
            .and_then(|(_, note)| note.split('\n').nth(1))
            .unwrap_or_default();
        what = format!(
            " {} size {}",
            crate::trail::Visible::str(head(old, 40)),
            crate::trail::Visible::str(head(size, 24))
        );
    }
    let _ = writeln!(
        io::stderr().lock(),
        "witness: {} {}{what}: {}",
        crate::trail::Visible::str(&req.method),
        crate::trail::Visible::str(path),
        reply.status
    );
}

/// At most the first `n` bytes of `s`, cut at a character boundary.
fn head(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Releases a connection slot when its thread ends, however it ends.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accept errors that concern one connection, not the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Accept errors of a passing shortage of descriptors or memory.
fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// A parsed `add-checkpoint` body.
#[derive(Debug)]
struct AddCheckpoint {
    old: u64,
    proof: Vec<Hash>,
    note: Note,
    checkpoint: Checkpoint,
}

impl AddCheckpoint {
    fn parse(body: &[u8]) -> Result<Self, &'static str> {
        let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8")?;
        let (old_line, mut rest) = text.split_once('\n').ok_or("no old size line")?;
        let old = parse_decimal(old_line.strip_prefix("old ").ok_or("no old size line")?)
            .ok_or("old size is not a canonical decimal")?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or("no empty line before the checkpoint")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err("more than 63 proof lines");
            }
            let hash = decode_canonical(line)
                .and_then(|raw| <Hash>::try_from(raw.as_slice()).ok())
                .ok_or("a proof line is not a base64 hash")?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(|_| "the checkpoint is not a signed note")?;
        let checkpoint =
            Checkpoint::parse_body(note.body()).map_err(|_| "the note is not a checkpoint")?;
        Ok(AddCheckpoint {
            old,
            proof,
            note,
            checkpoint,
        })
    }

    /// The spec's 422 checks: the empty tree's root at size 0, no proof from size 0, and the
    /// consistency proof from the stored tree.
    fn consistent_with(&self, old_root: &Hash) -> Result<(), &'static str> {
        if self.checkpoint.size == 0 && self.checkpoint.root != empty_root() {
            return Err("a size-0 checkpoint must have the empty tree's root");
        }
        if self.old == 0 && !self.proof.is_empty() {
            return Err("no proof is sent from size 0");
        }
        verify_consistency(
            self.old,
            self.checkpoint.size,
            old_root,
            &self.checkpoint.root,
            &self.proof,
        )
        .map_err(|_| "the consistency proof does not verify")
    }
}

/// ASCII decimal without leading zeroes (`0` itself is fine).
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::super::merkle::{consistency_proof, MemoryHashes};
    use super::super::note::Signer;
    use super::super::submit::request_body;
    use super::*;

    struct Log {
        signer: Signer,
        tree: MemoryHashes,
    }

    impl Log {
        fn new(name: &str) -> Log {
            Log {
                signer: Signer::generate(name).unwrap(),
                tree: MemoryHashes::new(),
            }
        }

        fn grow(&mut self, n: usize, tag: &str) {
            for i in 0..n {
                self.tree.push_entry(format!("{tag}{i}").as_bytes());
            }
        }

        fn note(&self) -> Note {
            let cp = Checkpoint {
                origin: self.signer.name().to_owned(),
                size: self.tree.size(),
                root: self.tree.root(),
                extensions: vec![],
            };
            let mut note = Note::new(&cp.body()).unwrap();
            note.add_signature(self.signer.sign(note.body()));
            note
        }

        fn add(&self, witness: &Witness, old: u64) -> Reply {
            let proof = consistency_proof(old, self.tree.size(), &self.tree).unwrap();
            witness.add_checkpoint(&request_body(old, &proof, &self.note()))
        }
    }

    fn witness(dir: &Path, log: &Log) -> Witness {
        let config = LogConfig::new(log.signer.name(), vec![log.signer.verifier()]);
        Witness::open(
            dir,
            Cosigner::generate("w.example/1").unwrap(),
            vec![config],
        )
        .unwrap()
        .with_clock(|| 1_700_000_000)
    }

    #[test]
    fn every_status_of_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::new("host.example/audit");
        log.grow(5, "a");
        let w = witness(dir.path(), &log);
        let ok = log.add(&w, 0);
        assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
        let cosig = Note::parse(&format!(
            "{}\n{}",
            log.note().body(),
            String::from_utf8_lossy(&ok.body)
        ))
        .unwrap();
        let sig = &cosig.signatures()[0];
        assert_eq!(
            w.verifier()
                .verify(cosig.body().as_bytes(), &sig.signature)
                .unwrap(),
            1_700_000_000
        );
        // 409: old is not the stored size; the body is that size, typed.
        let conflict = log.add(&w, 0);
        assert_eq!(
            (conflict.status, conflict.content_type),
            (409, SIZE_CONTENT_TYPE)
        );
        assert_eq!(conflict.body, b"5\n");
        // 422: a forked tree of the same size and a longer fork from the stored size.
        let mut fork = Log {
            signer: Signer::parse(&log.signer.render_secret()).unwrap(),
            tree: MemoryHashes::new(),
        };
        fork.grow(5, "b");
        assert_eq!(fork.add(&w, 5).status, 422);
        fork.grow(3, "c");
        let forged = request_body(
            5,
            &consistency_proof(5, 8, &fork.tree).unwrap(),
            &fork.note(),
        );
        assert_eq!(w.add_checkpoint(&forged).status, 422);
        // 403: signed by another key of the same name; 404: an unknown origin.
        let other = Log {
            signer: Signer::generate("host.example/audit").unwrap(),
            tree: fork.tree.clone(),
        };
        assert_eq!(other.add(&w, 5).status, 403);
        let stranger = Log {
            signer: Signer::generate("elsewhere/audit").unwrap(),
            tree: fork.tree.clone(),
        };
        assert_eq!(stranger.add(&w, 0).status, 404);
        // 400: old beyond the size, and garbage.
        assert_eq!(
            w.add_checkpoint(&request_body(99, &[], &log.note())).status,
            400
        );
        assert_eq!(w.add_checkpoint(b"old 01\n\nx\n").status, 400);
        assert_eq!(w.add_checkpoint(b"hello").status, 400);
        // The honest extension is cosigned, and the state survives a reopen.
        log.grow(4, "d");
        assert_eq!(log.add(&w, 5).status, 200);
        drop(w);
        let again = witness(dir.path(), &log);
        let got = again.handle(
            "GET",
            &format!("/{}/checkpoint", origin_hash("host.example/audit")),
            b"",
        );
        assert_eq!(got.status, 200);
        assert!(String::from_utf8_lossy(&got.body).starts_with("host.example/audit\n9\n"));
        assert_eq!(log.add(&again, 5).status, 409);
    }

    #[test]
    fn a_size_zero_checkpoint_must_have_the_empty_root_and_no_proof() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new("host.example/audit");
        let w = witness(dir.path(), &log);
        assert_eq!(log.add(&w, 0).status, 200);
        let mut body = b"old 0\n".to_vec();
        body.extend_from_slice(format!("{}\n", BASE64_HASH).as_bytes());
        body.push(b'\n');
        body.extend_from_slice(log.note().render().as_bytes());
        assert_eq!(w.add_checkpoint(&body).status, 422);
    }

    const BASE64_HASH: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn a_damaged_state_file_stops_the_witness_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::new("host.example/audit");
        log.grow(2, "a");
        let w = witness(dir.path(), &log);
        assert_eq!(log.add(&w, 0).status, 200);
        drop(w);
        let file = dir
            .path()
            .join(format!("{}.checkpoint", origin_hash("host.example/audit")));
        std::fs::write(&file, "host.example/audit\n2\nforged\n\n— x AAAA\n").unwrap();
        let config = LogConfig::new(log.signer.name(), vec![log.signer.verifier()]);
        let err = Witness::open(dir.path(), Cosigner::generate("w/1").unwrap(), vec![config]);
        assert!(err.is_err());
    }
}
