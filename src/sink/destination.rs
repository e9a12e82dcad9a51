//! Where a writer thread puts its bytes: the operations it needs from a target, whatever it is.

use std::io::{self, Write};
use std::time::SystemTime;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;

use super::file::FileSet;

/// The writer thread's view of its target.
///
/// Files rotate, fsync and publish checkpoints. A `MakeWriter` cannot be read back, rotated or fsynced: it is written and flushed once per
/// write call, and "synced" means the `MakeWriter` accepted and flushed the bytes.
#[derive(Debug)]
pub(crate) enum Destination {
    Writer(BoxMakeWriter),
    Files(Box<FileSet>),
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
            Destination::Writer(make_writer) => {
                let mut writer = make_writer.make_writer();
                let mut done = 0;
                while done < bytes.len() {
                    match writer.write(&bytes[done..]) {
                        Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
                        Ok(n) => done += n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                        Err(err) => return Err((done, err)),
                    }
                }
                Ok(())
            }
            // The file set cuts a failed write back off the file, so nothing of it was kept.
            Destination::Files(files) => files.write(bytes).map_err(|err| (0, err)),
        }
    }

    /// Makes written bytes durable: fsync for files, `flush` for a `MakeWriter`.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        match self {
            Destination::Writer(make_writer) => make_writer.make_writer().flush(),
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

    /// Names the active target in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Destination::Writer(mw) => format!("{mw:?}"),
            Destination::Files(files) => files.current_name().to_owned(),
        }
    }
}
