//! Rotating, retained, crash-safe files for one stream.
//!
//! [`FileSink`] is the public configuration. The stream's writer thread drives a `FileSet`: it
//! asks whether a rotation is due before each write (so a record is never split across files),
//! writes whole lines, fsyncs per its durability policy, and wakes at `next_deadline` so that a
//! quiet sink still rotates on time.
//!
//! What an operator can rely on:
//! - names `<prefix>.<stamp>.<NNNN>.jsonl` sort in time order; `<prefix>.current.jsonl` is a
//!   symlink to the active file, swapped atomically;
//! - a restart appends to the newest file; a torn last line is moved to
//!   `<prefix>.torn-<unix_nanos>.partial`, never deleted; a boundary that passed while the
//!   process was down still rotates;
//! - files are created exclusively (`O_EXCL`), without following symlinks (`O_NOFOLLOW`),
//!   close-on-exec, with the configured mode; a deleted or replaced active file is noticed and
//!   a new one started; `.<prefix>.lock` keeps a second writer off the same trail;
//! - retention and compression only touch this prefix's exact names, never the active file;
//!   compression writes `.gz.tmp`, fsyncs, renames, fsyncs the directory, and only then removes
//!   the original, and the next start finishes whatever a crash interrupted;
//! - a closed file of a keyed trail gets its authenticated search index (`<name>.idx`, mode
//!   0600, for its final form) on the background thread, and retention deletes it with the file;
//! - on a chained trail retention deletes nothing the chain has not recorded first: a `prune`
//!   record naming the files and the last record in them is written and fsynced (and, on a
//!   signed trail, their epoch seals appended to `<prefix>.seals.jsonl`) before any deletion.

mod compress;
mod config;
mod period;
mod recover;
mod retention;
#[cfg(test)]
mod tests;

#[cfg(feature = "_test-hooks")]
pub use config::Clock;
#[cfg(not(feature = "_test-hooks"))]
pub(crate) use config::Clock;
pub use config::{Durability, FileSink, Retention, Rotation};
pub(crate) use retention::PruneIntent;

use crate::chain::framing::TornTail;
use crate::trail::naming::{self, DataName, Form};
use crate::trail::write;
use compress::{Background, Job, Settings, Shared};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

/// How many writes may pass between two checks that the active file is still in place, when
/// the clock's second has not changed either.
const WRITES_PER_IDENTITY_CHECK: u32 = 1024;

/// How many names past a taken one are tried before giving up on creating a file.
const NAME_ATTEMPTS: u64 = 1000;

/// What `FileSet::open` found when it continued an existing trail.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    /// Last complete line of the newest non-empty file (no `\n`).
    pub(crate) last_line: Option<Vec<u8>>,
    /// The torn tail set aside, if the newest file ended mid-line.
    pub(crate) torn: Option<TornTail>,
    /// The checkpoint this sink last published to its side file (no `\n`).
    pub(crate) published: Option<Vec<u8>>,
}

/// What happened in the background since the last `take_stats`.
#[derive(Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) rotations: u64,
    pub(crate) pruned: u64,
    /// Compression, retention, link and reopen problems (the writes themselves return errors).
    pub(crate) errors: Vec<io::Error>,
}

/// A handle on one data file for fsyncing it on another thread ([`FileSet::sync_handle`]).
#[derive(Debug)]
pub(crate) struct SyncHandle {
    file: File,
    path: PathBuf,
    #[cfg(test)]
    faults: Option<Arc<FsyncFaults>>,
}

/// Test-only control over a file set's background fsyncs: hold them until released, or make
/// the next ones fail with EIO.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct FsyncFaults {
    pub(crate) held: std::sync::Mutex<bool>,
    pub(crate) released: std::sync::Condvar,
    /// Fsyncs started so far.
    pub(crate) started: std::sync::atomic::AtomicU64,
    /// How many of the next fsyncs fail.
    pub(crate) fail: std::sync::atomic::AtomicU64,
}

#[cfg(test)]
impl FsyncFaults {
    fn apply(&self, path: &Path) -> io::Result<()> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut held = self.held.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        let fail = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match fail {
            Ok(_) => Err(write::context(
                "cannot fsync",
                path,
                io::Error::from_raw_os_error(libc::EIO),
            )),
            Err(_) => Ok(()),
        }
    }

    pub(crate) fn hold(&self, hold: bool) {
        *self.held.lock().unwrap() = hold;
        self.released.notify_all();
    }
}

impl SyncHandle {
    /// Fsyncs the file's data; the error names the file.
    pub(crate) fn sync(&self) -> io::Result<()> {
        #[cfg(test)]
        if let Some(faults) = &self.faults {
            faults.apply(&self.path)?;
        }
        self.file
            .sync_data()
            .map_err(|e| write::context("cannot fsync", &self.path, e))
    }
}

/// The file being written.
#[derive(Debug)]
struct Active {
    file: File,
    name: String,
    parsed: DataName,
    len: u64,
    id: (u64, u64),
    /// When time rotation is due (`None`: never by time).
    deadline: Option<SystemTime>,
    /// A failed write could not be cut back off the end.
    torn: bool,
}

/// A stream's files: the active one, its successors' names, and the closed ones' upkeep.
#[derive(Debug)]
pub(crate) struct FileSet {
    settings: Settings,
    rotation: config::Rotation,
    max_size: Option<u64>,
    clock: Arc<dyn Clock>,
    active: Active,
    rotations: u64,
    errors: Vec<io::Error>,
    checked_second: i64,
    writes_since_check: u32,
    /// Highest counter in use per stamp, so that new names sort after every existing one.
    counters: Counters,
    shared: Arc<Shared>,
    // Declared after `active` so that dropping the set closes the active file before waiting
    // for the queued compressions, and the lock is released only after both.
    background: Option<Background>,
    _lock: File,
    #[cfg(test)]
    fsync_faults: Option<Arc<FsyncFaults>>,
    /// See [`FileSink::before_prune_deletes`]; `None` outside tests.
    before_prune_deletes: Option<fn()>,
}

impl FileSet {
    /// Creates the directory if needed, takes the sink's lock (a second writer of the same prefix
    /// and directory is refused), finishes crash leftovers, continues the newest file
    /// (setting aside a torn last line) or starts a new one, and applies retention.
    ///
    /// If the continued file's period ended while the process was down, `needs_rotation` is
    /// true at once, so the boundary is not skipped.
    #[cfg(test)]
    pub(crate) fn open(
        config: &FileSink,
        default_prefix: &str,
    ) -> io::Result<(FileSet, Recovered)> {
        FileSet::open_for(config, default_prefix, None)
    }

    /// [`open`](Self::open) for a stream whose writer records retention in a chain before it
    /// deletes anything (`chained: Some(keep_seals)`; `keep_seals` for a signed trail, whose
    /// pruned epoch seals are archived). Retention plans are then handed to the writer
    /// ([`take_prune_intent`](Self::take_prune_intent)), never carried out in the background.
    pub(crate) fn open_for(
        config: &FileSink,
        default_prefix: &str,
        chained: Option<bool>,
    ) -> io::Result<(FileSet, Recovered)> {
        let prefix = config
            .prefix
            .as_deref()
            .unwrap_or(default_prefix)
            .to_owned();
        naming::validate_prefix(&prefix)?;
        write::ensure_dir(&config.dir, config.dir_mode)?;
        let lock = write::lock(&config.dir, &prefix, config.file_mode)?;
        let settings = Settings {
            dir: config.dir.clone(),
            prefix,
            retention: config.retention.clone(),
            file_mode: config.file_mode,
            dir_mode: config.dir_mode,
            compress: config.compress,
            index: config.index && config.index_key.is_some(),
            index_key: config.index_key.clone(),
            chained: chained.is_some(),
            keep_seals: chained.unwrap_or(false),
        };
        let clock = config.clock_or_system();
        let now = clock.now();
        let mut errors = Vec::new();
        let dir = &settings.dir;
        let prefix = settings.prefix.as_str();

        let mut files = list(dir, prefix)?;
        finish_leftovers(dir, prefix, &mut files, &mut errors);
        let mut recovered = Recovered::default();

        let newest_plain = files
            .iter()
            .filter(|n| n.form != Form::GzTmp)
            .max_by(|a, b| a.cmp_age(b))
            .filter(|n| n.form == Form::Plain)
            .cloned();
        let mut continued = None;
        if let Some(parsed) = newest_plain {
            match continue_file(&settings, config.rotation, parsed, now) {
                Ok((active, torn)) => {
                    recovered.torn = torn;
                    continued = Some(active);
                }
                // A planted symlink or unreadable file is left alone; a new file is started.
                Err(e) => errors.push(e),
            }
        }
        let mut counters = Counters::new();
        for n in &files {
            note_counter(&mut counters, n);
        }
        let active = match continued {
            Some(active) => active,
            None => {
                let name = free_name(dir, prefix, config.rotation, now, None, &counters);
                create_active(&settings, config.rotation, name)?
            }
        };
        note_counter(&mut counters, &active.parsed);
        recovered.last_line = last_line(&settings, &files, &active, &mut errors);
        recovered.published = recover::published_checkpoint(dir, &naming::checkpoint(prefix));
        write::sync_dir(dir)?;
        if let Err(e) = write::swap_link(dir, &naming::current_link(prefix), &active.name) {
            errors.push(e);
        }

        let shared = Arc::new(Shared::default());
        shared.set_active(&active.name);
        // Always: closed files are indexed there (unless turned off), and chained retention is
        // planned there.
        let background = Some(Background::spawn(settings.clone(), Arc::clone(&shared))?);
        let checked_second = period::unix_secs(now);
        let set = FileSet {
            settings,
            rotation: config.rotation,
            max_size: config.max_file_size,
            clock,
            active,
            rotations: 0,
            errors,
            checked_second,
            writes_since_check: 0,
            counters,
            shared,
            background,
            _lock: lock,
            #[cfg(test)]
            fsync_faults: config.fsync_faults.clone(),
            before_prune_deletes: config.before_prune_deletes,
        };
        // Closed files a crash left uncompressed are finished now, and the newest closed one
        // indexed if a crash came between its rotation and its index. Older files without an
        // index (a trail written before indexes) are left to the first search: indexing a
        // whole trail here would hold retention up behind it.
        let mut closed: Vec<&DataName> = files
            .iter()
            .filter(|n| n.form != Form::GzTmp && n.cmp_age(&set.active.parsed).is_lt())
            .collect();
        closed.sort_by(|a, b| a.cmp_age(b));
        let newest = closed.last().map(|n| n.plain(&set.settings.prefix));
        let mut jobs: Vec<String> = Vec::new();
        for n in closed {
            let plain = n.plain(&set.settings.prefix);
            let uncompressed = n.form == Form::Plain && set.settings.compress;
            let unindexed = set.settings.index && newest.as_deref() == Some(plain.as_str()) && {
                let on_disk = match n.form {
                    Form::Gz => format!("{plain}.gz"),
                    _ => plain.clone(),
                };
                fs::symlink_metadata(dir_join(&set.settings.dir, &on_disk, ".idx")).is_err()
            };
            if (uncompressed || unindexed) && !jobs.contains(&plain) {
                jobs.push(plain);
            }
        }
        for name in jobs {
            set.maintain(Job::Close(name));
        }
        set.maintain(Job::Prune(now));
        Ok((set, recovered))
    }

    /// The configured clock's time.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Whether a new file must be started before writing `incoming_bytes`: the period is over,
    /// or the size limit would be exceeded (never for an empty file, so a record larger than
    /// the limit is written alone instead of looping).
    pub(crate) fn needs_rotation(&self, now: SystemTime, incoming_bytes: u64) -> bool {
        let time_due = self.active.deadline.is_some_and(|deadline| now >= deadline);
        let size_due = self.max_size.is_some_and(|max| {
            self.active.len > 0 && self.active.len.saturating_add(incoming_bytes) > max
        });
        time_due || size_due
    }

    /// File name of the active file.
    /// The trail's file-name prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    pub(crate) fn current_name(&self) -> &str {
        &self.active.name
    }

    /// The name `rotate(now)` will open (unless something else takes it in between).
    pub(crate) fn next_name(&self, now: SystemTime) -> String {
        free_name(
            &self.settings.dir,
            &self.settings.prefix,
            self.rotation,
            now,
            Some(&self.active.parsed),
            &self.counters,
        )
    }

    /// Closes the active file, opens `next_name(now)`, points the current link at it, and
    /// queues compression of the closed file and retention. The caller fsyncs the active file
    /// first ([`sync`](Self::sync)), so that a failure there is handled as the fsync failure it
    /// is, not as a failed rotation.
    ///
    /// On error the active file stays as it was, so the caller can retry.
    pub(crate) fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        let name = self.next_name(now);
        let next = create_active(&self.settings, self.rotation, name)?;
        let closed = std::mem::replace(&mut self.active, next);
        drop(closed.file);
        self.rotations += 1;
        self.after_switch(now);
        self.maintain(Job::Close(closed.name));
        self.maintain(Job::Prune(now));
        Ok(())
    }

    /// Lets the background thread wake the writer when a retention plan is ready.
    pub(crate) fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
        self.shared.set_waker(wake);
    }

    /// A retention plan waiting to be recorded in the chain and carried out (chained streams).
    pub(crate) fn take_prune_intent(&self) -> Option<PruneIntent> {
        self.shared.take_intent()
    }

    /// Waits until the background thread has done everything queued so far, or `until`;
    /// whether it got there. At shutdown, so that retention planned by the last rotations is
    /// recorded and carried out before the final seal (as it was before the writer stops).
    pub(crate) fn settle_until(&self, until: std::time::Instant) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        self.maintain(Job::Settle(tx));
        let wait = until.saturating_duration_since(std::time::Instant::now());
        rx.recv_timeout(wait).is_ok()
    }

    /// Whether a retention plan waits for the writer.
    pub(crate) fn has_prune_intent(&self) -> bool {
        self.shared.has_intent()
    }

    /// Carries out a retention plan whose `prune` record is written and fsynced: archives the
    /// epoch seals (a signed trail; nothing is deleted if that fails), then deletes the files
    /// with their indexes. Deletions and failures show in [`take_stats`](Self::take_stats).
    ///
    /// Only files older than the active one are deleted: the `prune` record that covers them
    /// was just written to the active file, so the newest prune record is never deleted.
    pub(crate) fn apply_prune(&mut self, intent: &PruneIntent) {
        if let Some(hook) = self.before_prune_deletes {
            hook();
        }
        let dir = &self.settings.dir;
        let prefix = &self.settings.prefix;
        if let Err(e) =
            retention::archive_seals(dir, prefix, &intent.seals, self.settings.file_mode)
        {
            self.errors.push(e);
            return;
        }
        let mut deleted = 0;
        for name in &intent.files {
            let older = naming::parse(prefix, name)
                .is_some_and(|n| n.form == Form::Plain && n.cmp_age(&self.active.parsed).is_lt());
            if !older {
                self.errors.push(io::Error::other(format!(
                    "retention kept {name}: it is not older than the active file"
                )));
                continue;
            }
            match retention::delete(dir, name) {
                Ok(removed) => deleted += u64::from(removed),
                Err(e) => self.errors.push(e),
            }
        }
        if deleted > 0 {
            if let Err(e) = write::sync_dir(dir) {
                self.errors.push(e);
            }
        }
        self.shared.pruned.fetch_add(deleted, Ordering::Relaxed);
    }

    /// Appends `bytes` (whole lines) to the active file.
    ///
    /// If the file was deleted or replaced underneath (checked at most once per clock second
    /// or every 1024 writes), a new file is started first and the event reported in the stats.
    ///
    /// On error none of `bytes` counts as written: what was partly written is cut back off the
    /// file, so the caller retries all of `bytes` and a retry never follows half a record. (If
    /// even the cut fails, the next write goes to a new file instead.)
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.check_in_place()?;
        let before = self.active.len;
        match self.active.file.write_all(bytes) {
            Ok(()) => {
                self.active.len = before + bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let path = self.settings.dir.join(&self.active.name);
                if self.active.file.set_len(before).is_err() {
                    // Half a record stays in this file; the next write must not be glued onto
                    // it, so it goes to a new file (and the torn line stays detectable).
                    self.active.torn = true;
                }
                Err(write::context("cannot write to", &path, e))
            }
        }
    }

    /// Fsyncs the active file's data.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        let path = self.settings.dir.join(&self.active.name);
        #[cfg(test)]
        if let Some(faults) = &self.fsync_faults {
            faults.apply(&path)?;
        }
        self.active
            .file
            .sync_data()
            .map_err(|e| write::context("cannot fsync", &path, e))
    }

    /// A second handle on the active file, to fsync it from another thread while this one
    /// goes on writing (and possibly rotating).
    pub(crate) fn sync_handle(&self) -> io::Result<SyncHandle> {
        let path = self.settings.dir.join(&self.active.name);
        let file = self
            .active
            .file
            .try_clone()
            .map_err(|e| write::context("cannot duplicate the handle of", &path, e))?;
        Ok(SyncHandle {
            file,
            path,
            #[cfg(test)]
            faults: self.fsync_faults.clone(),
        })
    }

    /// When the current period ends (`None` if time never rotates), so a quiet writer can
    /// wake up and rotate on time.
    pub(crate) fn next_deadline(&self) -> Option<SystemTime> {
        self.active.deadline
    }

    /// Replaces `<dir>/<prefix>.checkpoint` with `line` (plus a newline), atomically and
    /// durably, for off-host shipping of the chain's latest checkpoint.
    pub(crate) fn publish_checkpoint(&self, line: &[u8]) -> io::Result<()> {
        let mut content = Vec::with_capacity(line.len() + 1);
        content.extend_from_slice(line);
        content.push(b'\n');
        write::replace_file(
            &self.settings.dir,
            &naming::checkpoint(&self.settings.prefix),
            &content,
            self.settings.file_mode,
        )
    }

    /// Rotations, pruned files and upkeep errors since the last call.
    pub(crate) fn take_stats(&mut self) -> FileStats {
        let mut errors = std::mem::take(&mut self.errors);
        {
            let mut shared = self
                .shared
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            errors.append(&mut shared);
        }
        let lost = self.shared.errors_dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            errors.push(io::Error::other(format!(
                "{lost} more file upkeep errors were not kept"
            )));
        }
        FileStats {
            rotations: std::mem::take(&mut self.rotations),
            pruned: self.shared.pruned.swap(0, Ordering::Relaxed),
            errors,
        }
    }

    /// Runs `job` on the background thread (which exists when there is upkeep to do), so that
    /// the writer never waits for a directory scan or a compression, and pruning is ordered with
    /// the compressions.
    fn maintain(&self, job: Job) {
        match &self.background {
            Some(background) => background.queue(job, &self.settings, &self.shared),
            None => compress::run(&self.settings, &self.shared, job),
        }
    }

    /// Publishes a newly opened active file: durable directory entry, current link, retention.
    fn after_switch(&mut self, now: SystemTime) {
        let dir = &self.settings.dir;
        if let Err(e) = write::sync_dir(dir) {
            self.errors.push(e);
        }
        let link = naming::current_link(&self.settings.prefix);
        if let Err(e) = write::swap_link(dir, &link, &self.active.name) {
            self.errors.push(e);
        }
        self.shared.set_active(&self.active.name);
        note_counter(&mut self.counters, &self.active.parsed);
        self.checked_second = period::unix_secs(now);
        self.writes_since_check = 0;
    }

    /// Starts a new file if the active one was deleted or replaced underneath. Cheap: a `lstat`
    /// at most once per clock second or every `WRITES_PER_IDENTITY_CHECK` writes.
    fn check_in_place(&mut self) -> io::Result<()> {
        self.writes_since_check += 1;
        let now = self.clock.now();
        if self.active.torn {
            return self.replace_active(now, "ends in a record that could not be cut back");
        }
        let second = period::unix_secs(now);
        if second == self.checked_second && self.writes_since_check < WRITES_PER_IDENTITY_CHECK {
            return Ok(());
        }
        self.checked_second = second;
        self.writes_since_check = 0;
        let path = self.settings.dir.join(&self.active.name);
        match write::still_named(&path, self.active.id) {
            Ok(true) => Ok(()),
            Ok(false) => self.replace_active(now, "was deleted or replaced"),
            // Cannot tell (for example a permission change on the directory): keep writing.
            Err(_) => Ok(()),
        }
    }

    /// Continues in a new file outside rotation, reporting why in the stats.
    fn replace_active(&mut self, now: SystemTime, why: &str) -> io::Result<()> {
        let name = self.next_name(now);
        let next = create_active(&self.settings, self.rotation, name)?;
        let old = std::mem::replace(&mut self.active, next);
        self.errors.push(io::Error::other(format!(
            "active file {} {why}; continuing in {}",
            self.settings.dir.join(&old.name).display(),
            self.active.name
        )));
        drop(old.file);
        self.after_switch(now);
        Ok(())
    }
}

/// `dir/<name><suffix>`.
fn dir_join(dir: &Path, name: &str, suffix: &str) -> PathBuf {
    dir.join(format!("{name}{suffix}"))
}

/// This prefix's data files in `dir`, any form.
fn list(dir: &Path, prefix: &str) -> io::Result<Vec<DataName>> {
    let entries = fs::read_dir(dir).map_err(|e| write::context("cannot list", dir, e))?;
    Ok(entries
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| naming::parse(prefix, n))
        })
        .collect())
}

/// Finishes what a crash interrupted: a `.gz.tmp` is removed (the compression is redone), an
/// original whose `.gz` is complete (renamed into place only after fsync) is removed.
fn finish_leftovers(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<DataName>,
    errors: &mut Vec<io::Error>,
) {
    let present: HashSet<(&str, u64, Form)> = files
        .iter()
        .map(|f| (f.stamp.as_str(), f.counter, f.form))
        .collect();
    let has = |n: &DataName, form: Form| present.contains(&(n.stamp.as_str(), n.counter, form));
    let mut removed = HashSet::new();
    for n in files.iter() {
        let plain = n.plain(prefix);
        let leftover = match n.form {
            Form::GzTmp if has(n, Form::Plain) || has(n, Form::Gz) => format!("{plain}.gz.tmp"),
            Form::Plain if has(n, Form::Gz) => plain,
            _ => continue,
        };
        let path = dir.join(&leftover);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_file() => {}
            _ => continue,
        }
        match write::remove_if_exists(&path) {
            Ok(()) => {
                removed.insert((n.stamp.clone(), n.counter, n.form));
            }
            Err(e) => errors.push(e),
        }
    }
    files.retain(|f| !removed.contains(&(f.stamp.clone(), f.counter, f.form)));
}

/// Opens the newest file to append to it, setting aside a torn last line.
fn continue_file(
    settings: &Settings,
    rotation: config::Rotation,
    parsed: DataName,
    now: SystemTime,
) -> io::Result<(Active, Option<TornTail>)> {
    let name = parsed.plain(&settings.prefix);
    let path = settings.dir.join(&name);
    let mut file = write::open_existing(&path)?;
    let len = file
        .metadata()
        .map_err(|e| write::context("cannot inspect", &path, e))?
        .len();
    let (torn, len) = recover::set_aside_torn_tail(
        &mut file,
        len,
        &settings.dir,
        &settings.prefix,
        &name,
        now,
        settings.file_mode,
    )?;
    let id = write::identity(&file).map_err(|e| write::context("cannot inspect", &path, e))?;
    let deadline = deadline(rotation, &parsed);
    Ok((
        Active {
            file,
            name,
            parsed,
            len,
            id,
            deadline,
            torn: false,
        },
        torn,
    ))
}

/// The end of the period `parsed` was started in, as the current rotation sees it.
fn deadline(rotation: config::Rotation, parsed: &DataName) -> Option<SystemTime> {
    let start = period::period_start(rotation, parsed.start);
    period::period_end(rotation, start).map(period::from_unix_secs)
}

/// Creates `name` exclusively (never following or clobbering anything planted there); if it is
/// taken, tries the following counters.
fn create_active(
    settings: &Settings,
    rotation: config::Rotation,
    name: String,
) -> io::Result<Active> {
    let Some(mut parsed) = naming::parse(&settings.prefix, &name) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a file name of this sink"),
        ));
    };
    let mut last_err = None;
    let mut recreated_dir = false;
    for _ in 0..NAME_ATTEMPTS {
        let name = parsed.plain(&settings.prefix);
        let path = settings.dir.join(&name);
        match write::create_new(&path, settings.file_mode) {
            Ok(file) => {
                let id = write::identity(&file)
                    .map_err(|e| write::context("cannot inspect", &path, e))?;
                let deadline = deadline(rotation, &parsed);
                return Ok(Active {
                    file,
                    name,
                    parsed,
                    len: 0,
                    id,
                    deadline,
                    torn: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last_err = Some(e);
                parsed.counter += 1;
            }
            // The directory was removed underneath (log cleanup gone wrong): recreate it once
            // rather than stop auditing.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !recreated_dir => {
                recreated_dir = true;
                write::ensure_dir(&settings.dir, settings.dir_mode)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free file name")))
}

/// Highest counter in use per stamp.
type Counters = HashMap<String, u64>;

fn note_counter(counters: &mut Counters, name: &DataName) {
    let max = counters.entry(name.stamp.clone()).or_insert(0);
    *max = (*max).max(name.counter);
}

/// The first free name for a file started at `now`: in a new period, the period's stamp from
/// counter 1; otherwise (or if the clock went backwards) the active file's stamp with the next
/// counter. Counters already used by a file of that stamp (as of `open`, plus the files made
/// since: the lock keeps other writers out), and names where anything at all exists now, are
/// skipped so that names keep sorting in time order.
fn free_name(
    dir: &Path,
    prefix: &str,
    rotation: config::Rotation,
    now: SystemTime,
    active: Option<&DataName>,
    counters: &Counters,
) -> String {
    let now_start = period::period_start(rotation, period::unix_secs(now));
    let (stamp, mut counter) = match active {
        Some(a) if period::period_start(rotation, a.start) >= now_start => {
            (a.stamp.clone(), a.counter + 1)
        }
        _ => (period::stamp(rotation, now_start), 1),
    };
    if let Some(max) = counters.get(&stamp) {
        counter = counter.max(max + 1);
    }
    loop {
        let name = naming::file_name(prefix, &stamp, counter);
        let taken = [name.clone(), format!("{name}.gz")]
            .iter()
            .any(|n| fs::symlink_metadata(dir.join(n)).is_ok());
        if !taken || counter >= u64::MAX / 2 {
            return name;
        }
        counter += 1;
    }
}

/// The last complete line of the trail: the active file's, or if it is empty, the newest
/// earlier file's (the previous file's seal, right after a rotation).
fn last_line(
    settings: &Settings,
    files: &[DataName],
    active: &Active,
    errors: &mut Vec<io::Error>,
) -> Option<Vec<u8>> {
    let path = settings.dir.join(&active.name);
    match recover::last_line(&active.file, active.len) {
        Ok(Some(line)) => return Some(line),
        Ok(None) => {}
        Err(e) => {
            errors.push(write::context("cannot read", &path, e));
            return None;
        }
    }
    let mut older: Vec<&DataName> = files
        .iter()
        .filter(|n| n.form != Form::GzTmp && n.cmp_age(&active.parsed).is_lt())
        .collect();
    older.sort_by(|a, b| b.cmp_age(a));
    for n in older {
        let found = match n.form {
            Form::Plain => {
                let path = settings.dir.join(n.plain(&settings.prefix));
                write::open_read(&path).and_then(|f| {
                    let len = f.metadata()?.len();
                    // A closed file ends in '\n'; one that does not was torn before the
                    // rotation and its last line is the complete one before the tear.
                    let end = recover::complete_len(&f, len)?;
                    recover::last_line(&f, end)
                })
            }
            #[cfg(feature = "gzip")]
            Form::Gz => recover::last_line_gz(
                &settings
                    .dir
                    .join(format!("{}.gz", n.plain(&settings.prefix))),
            ),
            _ => Ok(None),
        };
        match found {
            Ok(Some(line)) => return Some(line),
            Ok(None) => {}
            Err(e) => {
                errors.push(e);
                return None;
            }
        }
    }
    None
}

impl FileSet {
    /// Waits until the background thread has done everything queued so far.
    #[cfg(test)]
    fn settle(&self) {
        if self.background.is_some() {
            let (tx, rx) = std::sync::mpsc::channel();
            self.maintain(Job::Settle(tx));
            rx.recv().unwrap();
        }
    }

    /// Path of the active file (for tests and diagnostics).
    #[cfg(test)]
    fn active_path(&self) -> std::path::PathBuf {
        self.settings.dir.join(&self.active.name)
    }
}
