//! The background thread that indexes and gzips closed files and prunes expired ones.
//!
//! All of it runs on one thread, off the writer's path, in the order queued. For a chained
//! stream this thread only plans retention; the writer thread deletes, after the chain records
//! it. A file is still never deleted while it is being compressed (which would resurrect it as a
//! `.gz`): a plan only names files closed before it was made, and their `Close` jobs, queued
//! at the rotation that closed them, ran on this thread before the plan.

use super::config::Retention;
use super::retention::{self, PruneIntent};
use crate::chain::index::{ClosedIndexer, IndexKey};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

/// Errors beyond this many, not yet collected by `take_stats`, are only counted.
const MAX_PENDING_ERRORS: usize = 64;

/// Work for the background thread, done in the order queued.
#[derive(Debug)]
pub(super) enum Job {
    /// This `.jsonl` file was closed (a name in the directory): gzip it if configured, and write
    /// the index of its final form.
    Close(String),
    /// Apply retention as of this time.
    Prune(SystemTime),
    /// Answer once every job queued before is done.
    Settle(mpsc::Sender<()>),
}

/// What the background thread reports back to the file set.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Name of the active file; retention never deletes it or anything newer.
    pub(super) active: Mutex<String>,
    pub(super) pruned: AtomicU64,
    pub(super) errors: Mutex<Vec<io::Error>>,
    pub(super) errors_dropped: AtomicU64,
    /// Prune jobs queued and not yet started; only the last of a run of them does the work.
    prunes_queued: AtomicU64,
    /// Chained streams: the newest retention plan the writer has not taken yet.
    intent: Mutex<Option<PruneIntent>>,
    /// Wakes the writer thread when a plan is ready (set once the writer exists).
    waker: OnceLock<Waker>,
}

/// Wakes the stream's writer thread.
struct Waker(Box<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

impl Shared {
    pub(super) fn push_error(&self, e: io::Error) {
        let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        if errors.len() < MAX_PENDING_ERRORS {
            errors.push(e);
        } else {
            self.errors_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a retention plan to the writer (replacing one it has not taken: the newer plan
    /// covers at least as much) and wakes it.
    fn offer(&self, intent: PruneIntent) {
        *self.intent.lock().unwrap_or_else(PoisonError::into_inner) = Some(intent);
        if let Some(wake) = self.waker.get() {
            (wake.0)();
        }
    }

    /// Writer side: the plan waiting to be recorded and carried out, if any.
    pub(super) fn take_intent(&self) -> Option<PruneIntent> {
        self.intent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Writer side: whether a plan waits (checked before the writer goes to sleep).
    pub(super) fn has_intent(&self) -> bool {
        self.intent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    pub(super) fn set_waker(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(Waker(wake));
    }

    pub(super) fn set_active(&self, name: &str) {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        name.clone_into(&mut active);
    }
}

/// Where and how the background thread works.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) dir: PathBuf,
    pub(super) prefix: String,
    pub(super) retention: Retention,
    pub(super) file_mode: u32,
    pub(super) dir_mode: u32,
    pub(super) compress: bool,
    /// Closed files get their search index (only with `index_key`).
    pub(super) index: bool,
    /// What those indexes are authenticated with (derived from the chain key).
    pub(super) index_key: Option<IndexKey>,
    /// The stream is chained: retention is planned here and carried out by the writer after it
    /// recorded a `prune` record.
    pub(super) chained: bool,
    /// Epoch seals of pruned files are archived (a signed trail).
    pub(super) keep_seals: bool,
}

/// The background thread; dropping it finishes every queued job first.
#[derive(Debug)]
pub(super) struct Background {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    pub(super) fn spawn(settings: Settings, shared: Arc<Shared>) -> io::Result<Background> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(format!("{}-files", settings.prefix))
            .spawn(move || {
                for job in rx {
                    // A burst of rotations queues many prunes; a later one covers the earlier.
                    if matches!(job, Job::Prune(_))
                        && shared.prunes_queued.fetch_sub(1, Ordering::AcqRel) > 1
                    {
                        continue;
                    }
                    run(&settings, &shared, job);
                }
            })?;
        Ok(Background {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `job`; if the thread is gone, runs it on the caller rather than losing it.
    pub(super) fn queue(&self, job: Job, settings: &Settings, shared: &Shared) {
        let prune = matches!(job, Job::Prune(_));
        if prune {
            shared.prunes_queued.fetch_add(1, Ordering::AcqRel);
        }
        let refused = match &self.tx {
            Some(tx) => tx.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            if prune {
                shared.prunes_queued.fetch_sub(1, Ordering::AcqRel);
            }
            run(settings, shared, job);
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            // The thread only ends once the queue is empty, so no queued work is lost.
            let _ = thread.join();
        }
    }
}

/// Does one job, reporting failures through `shared`.
pub(super) fn run(settings: &Settings, shared: &Shared, job: Job) {
    match job {
        Job::Close(name) => {
            let dir = &settings.dir;
            // Indexed in its final form, so `query` and `correlate` given the key never pay the
            // first read of a closed file; compressing reads it anyway, and indexes it on the
            // way (hashing the compressed bytes as they are written). Failing only costs them
            // speed; a file pruned meanwhile is no error.
            let key = settings.index_key.as_ref().filter(|_| settings.index);
            let mut indexer = key.map(|_| ClosedIndexer::default());
            let mut compressed = None;
            if settings.compress {
                match gzip::compress(settings, &name, indexer.as_mut()) {
                    Ok(done) => compressed = done,
                    Err(e) => shared.push_error(e),
                }
            }
            let (Some(indexer), Some(key)) = (indexer, key) else {
                return;
            };
            // Only the compressed form is indexed: searches scan plain files anyway (checking
            // an index of one would read it whole).
            let gz = dir.join(format!("{name}.gz"));
            let indexed = match compressed {
                Some(digest) => indexer.write_for(&gz, digest, key).map(|()| gz),
                // Compressed before a restart, its index not yet written; a compression that
                // failed leaves the plain file, which is not indexed.
                None if fs::symlink_metadata(&gz).is_ok_and(|m| m.is_file()) => {
                    crate::chain::index::build_for_closed(&gz, key).map(|()| gz)
                }
                None => return,
            };
            if let Err(e) = indexed {
                if e.kind() != io::ErrorKind::NotFound {
                    shared.push_error(crate::trail::write::context(
                        "cannot index",
                        &dir.join(&name),
                        e,
                    ));
                }
            }
        }
        Job::Prune(now) => {
            let active = shared
                .active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if settings.chained {
                match retention::plan_chained(
                    &settings.dir,
                    &settings.prefix,
                    &settings.retention,
                    &active,
                    now,
                    settings.keep_seals,
                ) {
                    Ok(Some(intent)) => shared.offer(intent),
                    Ok(None) => {}
                    Err(e) => shared.push_error(e),
                }
                return;
            }
            let done = retention::prune(
                &settings.dir,
                &settings.prefix,
                &settings.retention,
                &active,
                now,
            );
            shared.pruned.fetch_add(done.files, Ordering::Relaxed);
            for e in done.errors {
                shared.push_error(e);
            }
        }
        Job::Settle(done) => {
            let _ = done.send(());
        }
    }
}

#[cfg(feature = "gzip")]
pub(super) mod gzip {
    use super::{ClosedIndexer, Settings};
    use crate::chain::index::{FileDigest, Hashing};
    use crate::trail::write::{context, create_new, open_read, remove_if_exists, sync_dir};
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::fs::{self, File};
    use std::io::{self, Read, Write};
    use std::path::Path;

    /// Compresses `dir/name` to `name.gz` crash-safely: write `name.gz.tmp`, fsync, rename,
    /// fsync the directory, and only then remove the original. Every byte read is also fed to
    /// `index`, if any. The digest of the compressed bytes written, or `Ok(None)`: there was
    /// nothing to compress (gone, or not a regular file).
    pub(in super::super) fn compress(
        settings: &Settings,
        name: &str,
        index: Option<&mut ClosedIndexer>,
    ) -> io::Result<Option<FileDigest>> {
        let dir = &settings.dir;
        let src_path = dir.join(name);
        let mut src = match open_read(&src_path) {
            Ok(f) => f,
            // Pruned or compressed meanwhile: nothing to do.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let meta = src
            .metadata()
            .map_err(|e| context("cannot inspect", &src_path, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        let tmp_path = dir.join(format!("{name}.gz.tmp"));
        remove_if_exists(&tmp_path)?;
        let digest = match write_gz(
            &mut src,
            &meta,
            &src_path,
            &tmp_path,
            settings.file_mode,
            index,
        ) {
            Ok(digest) => digest,
            Err(e) => {
                // Do not leave a half-written copy taking space (a full disk is a likely cause).
                let _ = remove_if_exists(&tmp_path);
                return Err(e);
            }
        };
        let gz_path = dir.join(format!("{name}.gz"));
        fs::rename(&tmp_path, &gz_path).map_err(|e| context("cannot rename onto", &gz_path, e))?;
        sync_dir(dir)?;
        remove_if_exists(&src_path)?;
        sync_dir(dir)?;
        Ok(Some(digest))
    }

    /// Writes the gzipped copy of `src` to `tmp_path`, with the original's modification time
    /// (retention judges age by it), and fsyncs it. Returns the digest of the bytes written.
    fn write_gz(
        src: &mut File,
        meta: &fs::Metadata,
        src_path: &Path,
        tmp_path: &Path,
        mode: u32,
        mut index: Option<&mut ClosedIndexer>,
    ) -> io::Result<FileDigest> {
        let tmp = create_new(tmp_path, mode)?;
        let mut encoder = GzEncoder::new(Hashing::new(tmp), Compression::default());
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(context("cannot compress", src_path, e)),
            };
            encoder
                .write_all(&buf[..n])
                .map_err(|e| context("cannot compress", src_path, e))?;
            if let Some(index) = index.as_deref_mut() {
                index.feed(&buf[..n]);
            }
        }
        let (digest, tmp) = encoder
            .finish()
            .map_err(|e| context("cannot write", tmp_path, e))?
            .finish();
        if let Ok(modified) = meta.modified() {
            tmp.set_modified(modified)
                .map_err(|e| context("cannot set the time of", tmp_path, e))?;
        }
        tmp.sync_all()
            .map_err(|e| context("cannot fsync", tmp_path, e))?;
        Ok(digest)
    }
}

#[cfg(not(feature = "gzip"))]
mod gzip {
    use super::{ClosedIndexer, Settings};
    use crate::chain::index::FileDigest;
    use std::io;

    pub(in super::super) fn compress(
        _: &Settings,
        _: &str,
        _: Option<&mut ClosedIndexer>,
    ) -> io::Result<Option<FileDigest>> {
        // `FileSet::open` refuses `compress(true)` without the feature, so this is never asked.
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "gzip compression needs the `gzip` feature",
        ))
    }
}
