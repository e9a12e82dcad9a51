//! Where a writer thread puts its bytes: the operations it needs from a target, whatever it is.

use std::io::{self, Write};
use std::time::SystemTime;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;

use super::file::FileSet;

/// The writer thread's view of its target.
///
/// Files rotate, fsync and publish checkpoints. A `MakeWriter` cannot be read back, rotated or
/// fsynced: each write call makes one writer, writes and flushes it, and "synced" means that
/// writer accepted and flushed the bytes.
#[derive(Debug)]
pub(crate) enum Destination {
    Writer(MadeWriter),
    Files(Box<FileSet>),
}

/// A `MakeWriter` target, with the outcome of the last flush until a sync reports it.
#[derive(Debug)]
pub(crate) struct MadeWriter {
    make: BoxMakeWriter,
    /// A flush failed after its writer accepted the bytes: the next sync fails with it, so the
    /// records it covered are never confirmed (the writer that could retry it is gone).
    flush_failed: Option<io::Error>,
}

impl MadeWriter {
    pub(crate) fn new(make: BoxMakeWriter) -> Self {
        MadeWriter {
            make,
            flush_failed: None,
        }
    }
}

impl Destination {
    pub(crate) fn now(&self) -> SystemTime {
        match self {
            Destination::Writer(_) => SystemTime::now(),
            Destination::Files(files) => files.now(),
        }
    }

    /// Whether the active file must be closed before `incoming` more bytes are written.
    pub(crate) fn needs_rotation(&self, now: SystemTime, incoming: u64) -> bool {
        match self {
            Destination::Writer(_) => false,
            Destination::Files(files) => files.needs_rotation(now, incoming),
        }
    }

    /// The next time boundary at which a quiet sink must wake up to rotate.
    pub(crate) fn next_deadline(&self) -> Option<SystemTime> {
        match self {
            Destination::Writer(_) => None,
            Destination::Files(files) => files.next_deadline(),
        }
    }

    pub(crate) fn current_name(&self) -> &str {
        match self {
            Destination::Writer(_) => "",
            Destination::Files(files) => files.current_name(),
        }
    }

    pub(crate) fn next_name(&self, now: SystemTime) -> String {
        match self {
            Destination::Writer(_) => String::new(),
            Destination::Files(files) => files.next_name(now),
        }
    }

    /// Closes the active file and opens the next one; [`sync`](Self::sync) it first.
    pub(crate) fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        match self {
            Destination::Writer(_) => Ok(()),
            Destination::Files(files) => files.rotate(now),
        }
    }

    /// Writes all of `bytes`. On failure, also says how many leading bytes the target accepted
    /// before it failed, so a retry neither repeats nor loses them.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), (usize, io::Error)> {
        match self {
            Destination::Writer(target) => {
                let mut writer = target.make.make_writer();
                let mut done = 0;
                while done < bytes.len() {
                    match writer.write(&bytes[done..]) {
                        Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
                        Ok(n) => done += n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => return Err((done, err)),
                    }
                }
                // Flushed here, by the writer that wrote: a writer made later for `sync` would
                // be a different one (a fresh `BufWriter`, a fresh lock guard) with nothing of
                // these bytes to flush. A failure is the sync's to report.
                if let Err(err) = writer.flush() {
                    target.flush_failed = Some(err);
                }
                Ok(())
            }
            // The file set cuts a failed write back off the file, so nothing of it was kept.
            Destination::Files(files) => files.write(bytes).map_err(|err| (0, err)),
        }
    }

    /// Makes written bytes durable: fsync for files. A `MakeWriter`'s writer was flushed by
    /// [`write`](Self::write) already; this reports how that went.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self {
            Destination::Writer(target) => match target.flush_failed.take() {
                Some(err) => Err(err),
                None => Ok(()),
            },
            Destination::Files(files) => files.sync(),
        }
    }

    /// For files, a handle to fsync the active file from another thread; `None` for a
    /// `MakeWriter`, which is flushed on the writer thread.
    pub(crate) fn sync_handle(&self) -> Option<io::Result<super::file::SyncHandle>> {
        match self {
            Destination::Writer(_) => None,
            Destination::Files(files) => Some(files.sync_handle()),
        }
    }

    pub(crate) fn publish_checkpoint(&self, line: &[u8]) -> io::Result<()> {
        match self {
            Destination::Writer(_) => Ok(()),
            Destination::Files(files) => files.publish_checkpoint(line),
        }
    }

    /// Rotations, pruned files and background (compression/retention) errors since last call.
    pub(crate) fn take_stats(&mut self) -> (u64, u64, Vec<io::Error>) {
        match self {
            Destination::Writer(_) => (0, 0, Vec::new()),
            Destination::Files(files) => {
                let stats = files.take_stats();
                (stats.rotations, stats.pruned, stats.errors)
            }
        }
    }

    /// A retention plan the chain must record before it is carried out (chained file sinks).
    pub(crate) fn take_prune_intent(&self) -> Option<super::file::PruneIntent> {
        match self {
            Destination::Writer(_) => None,
            Destination::Files(files) => files.take_prune_intent(),
        }
    }

    /// Lets the file set's background work queued so far finish, until `until` at the latest.
    pub(crate) fn settle_upkeep(&self, until: std::time::Instant) {
        if let Destination::Files(files) = self {
            files.settle_until(until);
        }
    }

    pub(crate) fn has_prune_intent(&self) -> bool {
        match self {
            Destination::Writer(_) => false,
            Destination::Files(files) => files.has_prune_intent(),
        }
    }

    /// Carries out a retention plan whose `prune` record is durable.
    pub(crate) fn apply_prune(&mut self, intent: &super::file::PruneIntent) {
        if let Destination::Files(files) = self {
            files.apply_prune(intent);
        }
    }

    /// Names the active target in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Destination::Writer(target) => format!("{:?}", target.make),
            Destination::Files(files) => files.current_name().to_owned(),
        }
    }
}
