//! Offline verification of an audit trail.
//!
//! [`verify`] walks every file of a trail directory (gzipped ones too) in order, recomputes the
//! MAC chain from the raw bytes and checks seals and checkpoints. It works on copies: nothing
//! but the files (and the key, for a keyed chain) is needed.
//!
//! ```no_run
//! use std::path::Path;
//! use tracing_audit::chain::ChainKey;
//! use tracing_audit::verify::{verify, Keys};
//!
//! let key = ChainKey::from_file("k1", "/etc/myapp/audit.key")?;
//! let report = verify(Path::new("/var/log/myapp/audit"), &Keys::from(key))?;
//! if !report.intact() {
//!     for p in report.problems() {
//!         eprintln!("{p}");
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod proof;
mod received;
mod report;
#[cfg(feature = "signed-seals")]
mod seals;
mod streaming;
#[cfg(feature = "tlog")]
mod tree_check;
mod trust;
#[cfg(feature = "tlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "tlog")))]
pub mod witnessed;

pub use received::{
    verify_received, DeliberateStart, ReceivedReport, ReceivedVerifier, DUPLICATE_WINDOW,
};
pub use report::{FileSummary, Problem, ProblemKind, Report, SealSummary, VerifyStats, Warning};

use crate::chain::ChainKey;
use crate::trail::{files, open, FileProblemKind, LineReader, TrailFile};
use std::error::Error;
use std::fmt;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The keys a verifier may use, by key id.
///
/// An empty set verifies unkeyed (`sha256:`) trails only; keyed records are then reported as
/// [`ProblemKind::Unverifiable`]. When any key is given, unkeyed records are reported too: an
/// attacker without the key could have rewritten the trail as an unkeyed chain.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct Keys {
    by_id: Vec<ChainKey>,
    any: Option<ChainKey>,
}

impl Keys {
    /// No keys: for unkeyed trails.
    pub fn none() -> Self {
        Keys::default()
    }

    /// Adds a key, used for records whose key id equals its key id.
    pub fn key(mut self, key: ChainKey) -> Self {
        self.by_id.push(key);
        self
    }

    /// Adds a key used for records whose key id matches no other key (a key file given
    /// without a key id).
    pub fn any_key_id(mut self, key: ChainKey) -> Self {
        self.any = Some(key);
        self
    }

    fn is_empty(&self) -> bool {
        self.by_id.is_empty() && self.any.is_none()
    }

    fn lookup(&self, kid: &str) -> Option<&ChainKey> {
        self.by_id
            .iter()
            .find(|k| k.key_id() == kid)
            .or(self.any.as_ref())
    }
}

impl crate::chain::index::KeyLookup for Keys {
    fn key_for(&self, key_id: &str) -> Option<&ChainKey> {
        self.lookup(key_id)
    }
}

impl From<ChainKey> for Keys {
    fn from(key: ChainKey) -> Self {
        Keys::none().key(key)
    }
}

/// How far a verification got (for progress display).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Progress {
    /// Files read so far.
    pub files_done: usize,
    /// Files in the trail.
    pub files_total: usize,
    /// Bytes (on disk) read so far.
    pub bytes_done: u64,
    /// Bytes (on disk) in the trail.
    pub bytes_total: u64,
}

/// Verifies a trail with options beyond [`verify`]'s.
///
/// | setting | default |
/// |---|---|
/// | [`keys`](Verifier::keys) | none (unkeyed trails) |
/// | [`prefix`](Verifier::prefix) | the only prefix in the directory |
/// | [`checkpoint`](Verifier::checkpoint) | `<dir>/<prefix>.checkpoint` when present |
/// | [`on_progress`](Verifier::on_progress) | none |
/// | [`threads`](Verifier::threads) | [`std::thread::available_parallelism`] |
/// | [`streaming`](Verifier::streaming) | on: bounded memory for an intact trail |
/// | [`public_key`](Verifier::public_key) (feature `signed-seals`) | none: seals are not required |
/// | [`expect_current`](Verifier::expect_current) (feature `signed-seals`) | off |
/// | [`at`](Verifier::at) (feature `signed-seals`) | the system clock |
#[must_use]
pub struct Verifier<'a> {
    dir: PathBuf,
    keys: Keys,
    prefix: Option<String>,
    checkpoints: Vec<PathBuf>,
    progress: Option<Box<dyn FnMut(Progress) + 'a>>,
    threads: Option<usize>,
    streaming: bool,
    /// Tests: when the streaming check hands over, return an empty report instead.
    #[cfg(test)]
    skip_fallback: bool,
    #[cfg(feature = "signed-seals")]
    public_key: Option<crate::chain::PublicKey>,
    #[cfg(feature = "signed-seals")]
    expect_current: bool,
    #[cfg(feature = "signed-seals")]
    now: Option<std::time::SystemTime>,
    #[cfg(feature = "tlog")]
    witnessed: Option<witnessed::WitnessCheck>,
    #[cfg(feature = "tlog")]
    log_key: Option<crate::tlog::note::Verifier>,
}

impl fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("dir", &self.dir)
            .field("keys", &self.keys)
            .field("prefix", &self.prefix)
            .field("checkpoints", &self.checkpoints)
            .finish_non_exhaustive()
    }
}

impl<'a> Verifier<'a> {
    /// A verifier for the trail in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Verifier {
            dir: dir.into(),
            keys: Keys::none(),
            prefix: None,
            checkpoints: Vec::new(),
            progress: None,
            threads: None,
            streaming: true,
            #[cfg(test)]
            skip_fallback: false,
            #[cfg(feature = "signed-seals")]
            public_key: None,
            #[cfg(feature = "signed-seals")]
            expect_current: false,
            #[cfg(feature = "signed-seals")]
            now: None,
            #[cfg(feature = "tlog")]
            witnessed: None,
            #[cfg(feature = "tlog")]
            log_key: None,
        }
    }

    /// Requires signed epoch seals that chain from `pk0`, the trail's first public key: the
    /// strict check. Every epoch from the first to the last must have exactly one valid seal, in
    /// order; an unsigned or downgraded trail fails; records after the last seal are reported as
    /// not yet sealed, never as verified (see [`Report::seals`]).
    ///
    /// ```no_run
    /// use tracing_audit::chain::PublicKey;
    /// use tracing_audit::verify::Verifier;
    /// let pk0 = PublicKey::from_file("audit.pk0")?;
    /// let report = Verifier::new("/var/log/myapp/audit").public_key(pk0).verify()?;
    /// println!("{}", report.seals().map(|s| s.to_string()).unwrap_or_default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "signed-seals")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
    pub fn public_key(mut self, pk0: crate::chain::PublicKey) -> Self {
        self.public_key = Some(pk0);
        self
    }

    /// With [`public_key`](Verifier::public_key): a newest seal older than two epochs is a
    /// problem ([`ProblemKind::Stale`]). Idle epochs are sealed too, so the trail of a running
    /// service is never more than one epoch behind; a trail cut back to an older seal shows.
    #[cfg(feature = "signed-seals")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
    pub fn expect_current(mut self, yes: bool) -> Self {
        self.expect_current = yes;
        self
    }

    /// Judges the age of the newest seal as of `now` instead of the system clock (to check a
    /// copy taken at a known time).
    #[cfg(feature = "signed-seals")]
    #[cfg_attr(docsrs, doc(cfg(feature = "signed-seals")))]
    pub fn at(mut self, now: std::time::SystemTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The keys to check MACs with.
    pub fn keys(mut self, keys: Keys) -> Self {
        self.keys = keys;
        self
    }

    /// Only files named `<prefix>.*.jsonl[.gz]` (needed when a directory holds several trails).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Also checks the trail against a checkpoint line kept elsewhere (a copy of the side file
    /// shipped off-host). May be given several times.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoints.push(path.into());
        self
    }

    /// Worker threads for the streaming check (files are checked in parallel, at least 1).
    /// Default: [`std::thread::available_parallelism`].
    ///
    /// ```no_run
    /// use tracing_audit::verify::Verifier;
    /// let report = Verifier::new("/var/log/myapp/audit").threads(1).verify()?;
    /// assert_eq!(report.stats().threads(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Whether to stream (default `true`). Streaming checks each file in chunks, in parallel,
    /// in memory that does not grow with the trail, and hands over to the reference check,
    /// which models every record, when it meets anything an intact trail does not hold. With
    /// `false` the reference check runs directly. Both give the same findings; the reference
    /// check exists to explain damage, and to cross-check the streaming one.
    ///
    /// ```no_run
    /// use tracing_audit::verify::Verifier;
    /// let report = Verifier::new("/var/log/myapp/audit").streaming(false).verify()?;
    /// assert!(!report.stats().streamed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn streaming(mut self, yes: bool) -> Self {
        self.streaming = yes;
        self
    }

    /// Called after each file is read. When the streaming check hands over to the reference
    /// check, the count starts again from the first file.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Reads and checks the trail.
    pub fn verify(mut self) -> Result<Report, VerifyError> {
        let dir = self.dir.clone();
        let listing = files::list(&dir, self.prefix.as_deref())
            .map_err(|e| VerifyError::io(format!("cannot list {}", dir.display()), e))?;
        let prefix = self.choose_prefix(&listing)?;
        let checkpoints = self.checkpoint_files(&prefix)?;
        #[cfg(feature = "signed-seals")]
        let now = self.now.unwrap_or_else(std::time::SystemTime::now);
        let threads = self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let mut bytes_read = 0;
        if self.streaming {
            let plan = streaming::Plan {
                keys: &self.keys,
                checkpoints: &checkpoints,
                threads,
                #[cfg(feature = "signed-seals")]
                seal_walk: self.public_key.as_ref().map(|pk| {
                    seals::SealWalk::new(pk, &self.keys)
                        .archive(seals::seal_archive::path(&dir, &prefix))
                }),
                #[cfg(feature = "signed-seals")]
                now,
                #[cfg(feature = "signed-seals")]
                expect_current: self.expect_current,
            };
            match streaming::verify(&listing.files, plan, &mut self.progress) {
                streaming::Outcome::Report(mut report) => {
                    set_aside_warnings(&listing, &self.keys, &mut report);
                    #[cfg(feature = "tlog")]
                    self.check_tree(&dir, &prefix, &listing.files, &mut report);
                    #[cfg(feature = "tlog")]
                    self.check_witnessed(&dir, &prefix, &mut report);
                    return Ok(*report);
                }
                // The reference check, which follows, is what the tests compare against.
                #[cfg(test)]
                streaming::Outcome::Irregular { .. } if self.skip_fallback => {
                    return Ok(Report::default());
                }
                streaming::Outcome::Irregular { bytes_read: b } => bytes_read = b,
            }
        }
        let mut report = self.reference(
            &listing,
            &checkpoints,
            &prefix,
            bytes_read,
            #[cfg(feature = "signed-seals")]
            now,
        )?;
        set_aside_warnings(&listing, &self.keys, &mut report);
        #[cfg(feature = "tlog")]
        self.check_tree(&dir, &prefix, &listing.files, &mut report);
        #[cfg(feature = "tlog")]
        self.check_witnessed(&dir, &prefix, &mut report);
        Ok(report)
    }

    /// Requires the trail to extend the newest checkpoint that `check`'s threshold of trusted
    /// witnesses cosigned: a cut, rolled-back, forked or swapped trail is a
    /// [`ProblemKind::WitnessMismatch`] (see [`witnessed`]).
    #[cfg(feature = "tlog")]
    pub fn witnessed(mut self, check: witnessed::WitnessCheck) -> Self {
        self.witnessed = Some(check);
        self
    }

    /// Requires every `tree_checkpoint` record to be signed by the log key `log` (its
    /// verifier key, `<origin>+<id>+<key>`) and to name its origin. Without it, checkpoints are
    /// still checked against the tree the verifier recomputes (size, root, one origin), but
    /// their signatures are not.
    #[cfg(feature = "tlog")]
    pub fn log_key(mut self, log: crate::tlog::note::Verifier) -> Self {
        self.log_key = Some(log);
        self
    }

    /// Checks every `tree_checkpoint` record against the recomputed tree (a
    /// [`ProblemKind::CheckpointMismatch`] each that fails).
    #[cfg(feature = "tlog")]
    fn check_tree(&self, dir: &Path, prefix: &str, files: &[TrailFile], report: &mut Report) {
        let (problems, _) = tree_check::check(dir, prefix, files, self.log_key.as_ref());
        report.problems.extend(problems);
    }

    #[cfg(feature = "tlog")]
    fn check_witnessed(&self, dir: &Path, prefix: &str, report: &mut Report) {
        if let Some(check) = &self.witnessed {
            if let Some(problem) = check.run(dir, prefix) {
                report.problems.push(problem);
            }
        }
    }

    /// The trail's prefix: the one asked for, or the only one in the directory.
    fn choose_prefix(&mut self, listing: &files::Listing) -> Result<String, VerifyError> {
        let dir = &self.dir;
        match (self.prefix.take(), files::prefixes(listing).as_slice()) {
            (Some(p), _) => Ok(p),
            (None, [one]) => Ok(one.clone()),
            (None, []) => Err(VerifyError::new(
                VerifyErrorKind::NoTrail,
                format!(
                    "no audit files (<prefix>.<date>.<NNNN>.jsonl[.gz]) in {}",
                    dir.display()
                ),
            )),
            (None, many) => Err(VerifyError::new(
                VerifyErrorKind::SeveralTrails,
                format!(
                    "{} holds several trails ({}); choose one with a prefix",
                    dir.display(),
                    many.join(", ")
                ),
            )),
        }
    }

    /// The side file (`None` content when it is missing) and every `--checkpoint` copy.
    fn checkpoint_files(&self, prefix: &str) -> Result<Vec<check::CheckpointFile>, VerifyError> {
        let side = self.dir.join(format!("{prefix}.checkpoint"));
        let side_content = match open::read_capped(&side, open::CHECKPOINT_FILE_MAX) {
            Ok(c) => Some(c),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(VerifyError::io(
                    format!("cannot read {}", side.display()),
                    e,
                ))
            }
        };
        let mut checkpoints = vec![check::CheckpointFile {
            name: side.display().to_string(),
            content: side_content,
            side: true,
        }];
        for path in &self.checkpoints {
            let c = open::read_capped(path, open::CHECKPOINT_FILE_MAX)
                .map_err(|e| VerifyError::io(format!("cannot read {}", path.display()), e))?;
            checkpoints.push(check::CheckpointFile {
                name: path.display().to_string(),
                content: Some(c),
                side: false,
            });
        }
        Ok(checkpoints)
    }

    /// The reference check: every record modelled, so that the report can say what changed
    /// where. `bytes_read`: what the streaming check read before it handed over.
    fn reference(
        &mut self,
        listing: &files::Listing,
        checkpoints: &[check::CheckpointFile],
        prefix: &str,
        mut bytes_read: u64,
        #[cfg(feature = "signed-seals")] now: std::time::SystemTime,
    ) -> Result<Report, VerifyError> {
        let mut checker = check::Checker::new(&self.keys);
        #[cfg(feature = "signed-seals")]
        let mut seal_walk = self.public_key.as_ref().map(|pk| {
            seals::SealWalk::new(pk, &self.keys)
                .archive(seals::seal_archive::path(&self.dir, prefix))
        });
        #[cfg(not(feature = "signed-seals"))]
        let _ = prefix;
        let total = listing.files.len();
        let bytes_total = listing.files.iter().map(|f| f.len).sum();
        let mut bytes_done = 0;
        let mut largest = 0;
        for (n, file) in listing.files.iter().enumerate() {
            let (content, damage, disk) = read_whole(file)?;
            bytes_done += file.len;
            bytes_read += disk;
            largest = largest.max(content.capacity());
            #[cfg(feature = "signed-seals")]
            if let Some(walk) = seal_walk.as_mut() {
                walk.add_file(&file.name, &content, n + 1 == total);
            }
            checker.add_file(file.clone(), &content, n + 1 == total);
            if let Some(d) = damage {
                checker.damaged(d);
            }
            if let Some(p) = self.progress.as_mut() {
                p(Progress {
                    files_done: n + 1,
                    files_total: total,
                    bytes_done,
                    bytes_total,
                });
            }
        }
        let held = checker.held_bytes() + largest as u64;
        // The seals decide what is authenticated on a signed trail, so they are judged first.
        #[cfg(feature = "signed-seals")]
        let sealed = seal_walk.map(|walk| walk.finish(now, self.expect_current));
        #[cfg(feature = "signed-seals")]
        let sealed_through = sealed.as_ref().map(|(s, _)| s.verified().map(|v| v.1));
        #[cfg(not(feature = "signed-seals"))]
        let sealed_through = None;
        let root = trust::Root::of(!self.keys.is_empty(), sealed_through);
        let mut report = checker.finish(checkpoints, root);
        report.stats = VerifyStats {
            streamed: false,
            threads: 1,
            peak_buffered_bytes: held,
            bytes_read,
        };
        #[cfg(feature = "signed-seals")]
        if let Some((summary, problems)) = sealed {
            report.problems.extend(problems);
            report.seals = Some(summary);
        }
        Ok(report)
    }
}

/// Reads a whole file for the reference check: its lines (and torn last line), up to any damage;
/// what the damage is, when a `.gz` is truncated or corrupt; the bytes read from disk. A file
/// that cannot be opened is an error: there is nothing to verify in it.
fn read_whole(file: &TrailFile) -> Result<(Vec<u8>, Option<String>, u64), VerifyError> {
    // The size listed is the attacker's to choose (a sparse file): reserve no more than is kept.
    let mut content = Vec::with_capacity(usize::try_from(file.len.min(1 << 26)).unwrap_or(0));
    let mut read = LineReader::new()
        .long_line_is_damage()
        .max_bytes(files::WHOLE_FILE_MAX)
        .read_chunks(file, |chunk| {
            content.extend_from_slice(chunk);
            ControlFlow::Continue(())
        });
    content.extend_from_slice(&read.tail);
    match read.take_problem() {
        None => Ok((content, None, read.disk_bytes)),
        Some(p) if p.kind() == FileProblemKind::Damaged => {
            let cause = p.source().map(|e| format!(" ({e})")).unwrap_or_default();
            let detail = format!(
                "the file is damaged{cause}: {} bytes of records were read, the rest of the file cannot be",
                content.len()
            );
            Ok((content, Some(detail), read.disk_bytes))
        }
        Some(p) => {
            let context = format!("cannot read {}", file.path.display());
            Err(VerifyError::io(context, p.into_io_error()))
        }
    }
}

/// Files the writer or the compressor set aside are worth a warning, not a problem; so are
/// search indexes a search would not use (see `investigate::index`).
fn set_aside_warnings(listing: &files::Listing, keys: &Keys, report: &mut Report) {
    let keys = (!keys.is_empty()).then_some(keys as &dyn crate::chain::index::KeyLookup);
    let indexes = crate::chain::index::findings(&listing.files, keys);
    report.warnings.extend(indexes.into_iter().map(|f| Warning {
        file: f.file,
        line: None,
        message: f.message,
    }));
    for p in &listing.partials {
        report.warnings.push(Warning {
            file: p.file_name().map(|n| n.to_string_lossy().into_owned()),
            line: None,
            message: "torn tail set aside by the writer after a crash (not part of the chain)"
                .to_owned(),
        });
    }
    for s in &listing.shadowed {
        report.warnings.push(Warning {
            file: Some(s.clone()),
            line: None,
            message: "compressed copy of a file that also exists uncompressed; the uncompressed file was verified".to_owned(),
        });
    }
}

/// Verifies the trail in `dir` with `keys` (use [`Keys::none`] for an unkeyed trail).
///
/// Returns `Err` only when the trail cannot be read; everything found in it is in the
/// [`Report`].
pub fn verify(dir: &Path, keys: &Keys) -> Result<Report, VerifyError> {
    Verifier::new(dir).keys(keys.clone()).verify()
}

/// A trail could not be read. What was found *in* a readable trail is in the [`Report`].
#[derive(Debug)]
pub struct VerifyError {
    kind: VerifyErrorKind,
    context: String,
    source: Option<io::Error>,
}

/// What kind of [`VerifyError`] happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The directory, a file or a checkpoint file could not be read; the I/O error is the source.
    Io,
    /// The directory holds no trail files.
    NoTrail,
    /// The directory holds several trails and no prefix chose one.
    SeveralTrails,
}

impl VerifyError {
    fn new(kind: VerifyErrorKind, context: String) -> Self {
        VerifyError {
            kind,
            context,
            source: None,
        }
    }
    fn io(context: String, source: io::Error) -> Self {
        VerifyError {
            kind: VerifyErrorKind::Io,
            context,
            source: Some(source),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> VerifyErrorKind {
        self.kind
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for VerifyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

#[cfg(test)]
mod every_way;
#[cfg(all(test, feature = "signed-seals"))]
mod seal_tests;
#[cfg(test)]
mod tests;
