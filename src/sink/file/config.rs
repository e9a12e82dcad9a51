//! How a stream's files are named, rotated, kept and protected: the `FileSink` builder.

use crate::chain::index::IndexKey;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where "now" comes from for rotation, retention and torn-tail names.
///
/// The system clock, except in this crate's tests, which inject a manual clock so that they
/// cross rotation boundaries without sleeping (the `_test-hooks` feature exposes it to the
/// integration tests; it is not part of the API).
#[allow(unreachable_pub)]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// When a new file is started because time has passed. Boundaries are in UTC.
///
/// Size rotation ([`FileSink::max_file_size`]) works in addition to any of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Rotation {
    /// A new file every minute (`audit.2026-11-26T05-56.0001.jsonl`).
    Minutely,
    /// A new file every hour (`audit.2026-11-26T05.0001.jsonl`).
    Hourly,
    /// A new file every day at 00:00 UTC (`audit.2026-11-26.0001.jsonl`).
    #[default]
    Daily,
    /// A new file every Monday at 00:00 UTC, named after that Monday.
    Weekly,
    /// Never by time; the name carries the date the file was created.
    Never,
}

/// Which closed files are deleted. Whichever limit is reached first applies.
///
/// Retention only ever deletes closed files whose names match this sink's pattern exactly
/// (`<prefix>.<stamp>.<NNNN>.jsonl` or `.jsonl.gz`), never the active file, never a symlink,
/// never another sink's files sharing the directory, and deletes a file's search index
/// (`<name>.idx`) with it.
///
/// On a chained (audit) stream retention can be proven: it only deletes a run of the oldest
/// files, after the writer has written and fsynced a chained `prune` record naming them and the
/// last record in them (`through_seq`, `through_mac`); a signed trail's epoch seals in them are
/// first appended to `<prefix>.seals.jsonl`, which must be kept with the trail. While the writer
/// cannot do that (stopped, failing), nothing is deleted.
///
/// | setting             | default            |
/// |---------------------|--------------------|
/// | `max_files`         | unlimited          |
/// | `max_age`           | unlimited          |
/// | `max_total_bytes`   | unlimited          |
/// | `min_age`           | none (0)           |
/// | `keep_unshipped`    | off                |
///
/// ```
/// use std::time::Duration;
/// use tracing_audit::sink::Retention;
///
/// let debug = Retention::keep_all()
///     .max_files(50)
///     .max_age(Duration::from_secs(7 * 86_400))
///     .max_total_bytes(2 << 30);
/// let audit = Retention::keep_all()
///     .max_total_bytes(100 << 30)
///     .min_age(Duration::from_secs(400 * 86_400));
/// # let _ = (debug, audit);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Retention {
    pub(super) max_files: Option<usize>,
    pub(super) max_age: Option<Duration>,
    pub(super) max_total_bytes: Option<u64>,
    pub(super) min_age: Duration,
    /// Behind an `Arc` to keep `FileSink` (and the enums holding one) small.
    pub(super) unshipped: Option<Arc<PathBuf>>,
}

impl Retention {
    /// Keeps every file (the default).
    pub fn keep_all() -> Self {
        Retention::default()
    }

    /// Keeps at most `n` files, the active one included (at least the active file is kept).
    pub fn max_files(mut self, n: usize) -> Self {
        self.max_files = Some(n);
        self
    }

    /// Deletes closed files last modified more than `age` ago.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Deletes the oldest closed files while all files together (compressed size for compressed
    /// ones, the active file included) take more than `bytes`.
    pub fn max_total_bytes(mut self, bytes: u64) -> Self {
        self.max_total_bytes = Some(bytes);
        self
    }

    /// Never deletes a file last modified less than `age` ago, whatever the other limits say
    /// (an audit trail's legal minimum).
    pub fn min_age(mut self, age: Duration) -> Self {
        self.min_age = age;
        self
    }

    /// Never deletes a file a shipper has not had acknowledged yet, whatever the limits: the
    /// shipping cursor at `cursor` (see [`crate::ship`]) names the oldest file not fully
    /// shipped; it and every later file are kept. A missing or unreadable cursor keeps every
    /// file. Watch the shipper's lag counters: a receiver that stays down makes the disk fill.
    pub fn keep_unshipped(mut self, cursor: impl Into<PathBuf>) -> Self {
        self.unshipped = Some(Arc::new(cursor.into()));
        self
    }

    pub(super) fn keeps_everything(&self) -> bool {
        self.max_files.is_none() && self.max_age.is_none() && self.max_total_bytes.is_none()
    }
}

/// When a file sink forces written records to disk (`fsync`).
///
/// Whatever the policy, `sync()` fsyncs what it waits for and a rotation fsyncs the file it
/// closes. Fsyncs run on the sink's own fsync thread, so the writer goes on writing meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Leave it to the operating system, also at shutdown.
    Never,
    /// At most this long after a record was written, and at shutdown.
    Interval(Duration),
    /// After every batch, and at shutdown: records written while one fsync runs are covered by
    /// the next (group commit).
    EveryBatch,
}

/// Rotating, retained files for one stream, configured as a builder.
///
/// | setting          | default                                                     |
/// |------------------|-------------------------------------------------------------|
/// | `prefix`         | the stream name (`audit`, `debug`)                          |
/// | `rotation`       | [`Rotation::Daily`]                                         |
/// | `max_file_size`  | none (time rotation only)                                   |
/// | `retention`      | [`Retention::keep_all`]                                     |
/// | `compress`       | `false` (gzip of closed files needs the `gzip` feature)    |
/// | `file_mode`      | `0o600`                                                     |
/// | `dir_mode`       | `0o700` (only applied to directories the sink creates)      |
/// | `durability`     | audit: [`Durability::EveryBatch`], debug: [`Durability::Never`] |
/// | `queue_capacity` | 8 MiB of queued records                                     |
/// | `drain_timeout`  | 30 s                                                        |
/// | `clock`          | the system clock                                            |
///
/// Files are named `<prefix>.<stamp>.<NNNN>.jsonl`, where the stamp is the UTC date (and hour,
/// and minute) of the rotation period and `NNNN` a counter, so that names sort in time order.
/// `<prefix>.current.jsonl` is a symlink to the file being written.
///
/// ```
/// use std::time::Duration;
/// use tracing_audit::sink::{FileSink, Retention, Rotation};
///
/// let audit = FileSink::new("/var/log/myapp")
///     .rotation(Rotation::Daily)
///     .max_file_size(256 << 20)
///     .retention(Retention::keep_all().min_age(Duration::from_secs(365 * 86_400)));
/// # let _ = audit;
/// ```
#[derive(Clone)]
#[must_use]
pub struct FileSink {
    pub(super) dir: PathBuf,
    pub(super) prefix: Option<String>,
    pub(super) rotation: Rotation,
    pub(super) max_file_size: Option<u64>,
    pub(super) retention: Retention,
    pub(super) compress: bool,
    pub(super) index: bool,
    /// What closed files' indexes are authenticated with; none (an unkeyed trail): no index.
    pub(super) index_key: Option<IndexKey>,
    pub(super) file_mode: u32,
    pub(super) dir_mode: u32,
    durability: Option<Durability>,
    pub(super) clock: Option<Arc<dyn Clock>>,
    #[cfg(test)]
    pub(super) fsync_faults: Option<Arc<super::FsyncFaults>>,
    pub(super) before_prune_deletes: Option<fn()>,
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSink")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("rotation", &self.rotation)
            .field("max_file_size", &self.max_file_size)
            .field("retention", &self.retention)
            .field("compress", &self.compress)
            .field("index", &self.index)
            .field("file_mode", &format_args!("{:#o}", self.file_mode))
            .field("dir_mode", &format_args!("{:#o}", self.dir_mode))
            .field("durability", &self.durability)
            .field("clock", &self.clock)
            .finish()
    }
}

impl FileSink {
    /// Files in `dir` (created with `dir_mode` if missing), with every other setting at its
    /// default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSink {
            dir: dir.into(),
            prefix: None,
            rotation: Rotation::Daily,
            max_file_size: None,
            retention: Retention::keep_all(),
            compress: false,
            index: true,
            index_key: None,
            file_mode: 0o600,
            dir_mode: 0o700,
            durability: None,
            clock: None,
            #[cfg(test)]
            fsync_faults: None,
            before_prune_deletes: None,
        }
    }

    /// The file name prefix; two sinks may share a directory if their prefixes differ.
    ///
    /// Must be a plain file name part: not empty, no `/`, no NUL, not starting with `.`.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Time rotation.
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Starts a new file before a record would make the current one larger than `bytes`.
    ///
    /// A record is never split: one larger than the limit is written alone into a fresh file.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = Some(bytes);
        self
    }

    /// Which closed files are deleted.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Gzips closed files in a background thread (`<name>.jsonl.gz`).
    #[cfg(feature = "gzip")]
    #[cfg_attr(docsrs, doc(cfg(feature = "gzip")))]
    pub fn compress(mut self, yes: bool) -> Self {
        self.compress = yes;
        self
    }

    /// Writes each compressed closed file's search index (`<name>.jsonl.gz.idx`, mode 0600) on
    /// the background thread as it compresses the file (default: on), so that `query` and
    /// `correlate` given the chain key inflate only the files that can match. Plain files get
    /// none: a search scans them about as fast as it could check an index of one. Indexes are authenticated under a key derived
    /// from the audit chain key, so they are written only when the layer's chain is keyed
    /// (for both streams); without a key there is nothing a search could trust, and none is
    /// written. Turning it off saves that work where the writing host's cores are the
    /// bottleneck (measured in docs/benchmarks.md); `tracing-audit index` builds them later.
    /// An index only ever costs or saves speed: a missing, stale or forged one never changes
    /// an answer.
    ///
    /// ```
    /// use tracing_audit::sink::FileSink;
    /// let files = FileSink::new("logs/audit").index(false);
    /// ```
    pub fn index(mut self, yes: bool) -> Self {
        self.index = yes;
        self
    }

    /// Authenticates closed files' indexes under `key` (none: no index is written).
    pub(crate) fn index_key(mut self, key: Option<IndexKey>) -> Self {
        self.index_key = key;
        self
    }

    /// Permission bits of new files (also of the checkpoint and torn-tail side files).
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode & 0o7777;
        self
    }

    /// Permission bits of directories the sink creates.
    pub fn dir_mode(mut self, mode: u32) -> Self {
        self.dir_mode = mode & 0o7777;
        self
    }

    /// When written records are forced to disk.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = Some(durability);
        self
    }

    /// Holds or fails this sink's fsyncs (tests only).
    #[cfg(test)]
    pub(crate) fn fsync_faults(mut self, faults: Arc<super::FsyncFaults>) -> Self {
        self.fsync_faults = Some(faults);
        self
    }

    /// Called when a retention plan is carried out, after its prune record is durable and
    /// before anything is deleted (crash tests abort the process there).
    #[cfg(any(test, feature = "_test-hooks"))]
    #[doc(hidden)]
    pub fn before_prune_deletes(mut self, hook: fn()) -> Self {
        self.before_prune_deletes = Some(hook);
        self
    }

    /// Where "now" comes from (tests inject a manual clock).
    #[cfg(any(test, feature = "_test-hooks"))]
    #[doc(hidden)]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configured prefix, if one was set.
    #[cfg_attr(not(feature = "shred"), allow(dead_code))]
    pub(crate) fn configured_prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    /// The configured durability, or `default` (the stream's) when unset.
    pub(crate) fn durability_or(&self, default: Durability) -> Durability {
        self.durability.unwrap_or(default)
    }

    pub(super) fn clock_or_system(&self) -> Arc<dyn Clock> {
        match &self.clock {
            Some(clock) => Arc::clone(clock),
            None => Arc::new(SystemClock),
        }
    }
}
