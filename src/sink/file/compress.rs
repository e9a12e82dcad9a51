//! The background thread that gzips closed files and prunes expired ones.
//!
//! Both run on one thread, off the writer's path, so that a file is never deleted while it is
//! being compressed (which would resurrect it as a `.gz`).

use super::config::Retention;
use super::retention;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

/// Errors beyond this many, not yet collected by `take_stats`, are only counted.
const MAX_PENDING_ERRORS: usize = 64;

/// Work for the background thread, done in the order queued.
#[derive(Debug)]
pub(super) enum Job {
    /// Gzip this closed `.jsonl` file (a name in the directory).
    Compress(String),
    /// Apply retention as of this time.
    Prune(SystemTime),
    /// Answer once every job queued before is done.
    #[cfg(test)]
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
        Job::Compress(name) => {
            if settings.compress {
                if let Err(e) = gzip::compress(settings, &name) {
                    shared.push_error(e);
                }
            }
        }
        Job::Prune(now) => {
            let active = shared
                .active
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
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
        #[cfg(test)]
        Job::Settle(done) => {
            let _ = done.send(());
        }
    }
}

#[cfg(feature = "gzip")]
pub(super) mod gzip {
    use super::super::open::{context, create_new, open_read, remove_if_exists, sync_dir};
    use super::Settings;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::fs::{self, File};
    use std::io;
    use std::path::Path;

    /// Compresses `dir/name` to `name.gz` crash-safely: write `name.gz.tmp`, fsync, rename,
    /// fsync the directory, and only then remove the original.
    pub(in super::super) fn compress(settings: &Settings, name: &str) -> io::Result<()> {
        let dir = &settings.dir;
        let src_path = dir.join(name);
        let mut src = match open_read(&src_path) {
            Ok(f) => f,
            // Pruned or compressed meanwhile: nothing to do.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = src
            .metadata()
            .map_err(|e| context("cannot inspect", &src_path, e))?;
        if !meta.is_file() {
            return Ok(());
        }
        let tmp_path = dir.join(format!("{name}.gz.tmp"));
        remove_if_exists(&tmp_path)?;
        if let Err(e) = write_gz(&mut src, &meta, &src_path, &tmp_path, settings.file_mode) {
            // Do not leave a half-written copy taking space (a full disk is a likely cause).
            let _ = remove_if_exists(&tmp_path);
            return Err(e);
        }
        let gz_path = dir.join(format!("{name}.gz"));
        fs::rename(&tmp_path, &gz_path).map_err(|e| context("cannot rename onto", &gz_path, e))?;
        sync_dir(dir)?;
        remove_if_exists(&src_path)?;
        sync_dir(dir)
    }

    /// Writes the gzipped copy of `src` to `tmp_path`, with the original's modification time
    /// (retention judges age by it), and fsyncs it.
    fn write_gz(
        src: &mut File,
        meta: &fs::Metadata,
        src_path: &Path,
        tmp_path: &Path,
        mode: u32,
    ) -> io::Result<()> {
        let tmp = create_new(tmp_path, mode)?;
        let mut encoder = GzEncoder::new(tmp, Compression::default());
        io::copy(src, &mut encoder).map_err(|e| context("cannot compress", src_path, e))?;
        let tmp = encoder
            .finish()
            .map_err(|e| context("cannot write", tmp_path, e))?;
        if let Ok(modified) = meta.modified() {
            tmp.set_modified(modified)
                .map_err(|e| context("cannot set the time of", tmp_path, e))?;
        }
        tmp.sync_all()
            .map_err(|e| context("cannot fsync", tmp_path, e))
    }
}

#[cfg(not(feature = "gzip"))]
mod gzip {
    use super::Settings;
    use std::io;

    pub(in super::super) fn compress(_: &Settings, _: &str) -> io::Result<()> {
        // `FileSet::open` refuses `compress(true)` without the feature, so this is never asked.
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "gzip compression needs the `gzip` feature",
        ))
    }
}
