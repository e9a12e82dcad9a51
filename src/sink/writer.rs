//! The writer thread: takes batches from the queue, frames, rotates, writes, syncs, retries.
//!
//! Every step that can fail leaves the thread's state so that the same call can simply be
//! repeated: framed bytes stay in `out` until the target accepts them, a seal that was written
//! leaves its rotation pending, and the cursor into the batch only moves past a record once the
//! record is framed. That is what makes retrying after ENOSPC neither lose nor duplicate records.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::destination::Destination;
use super::error::SinkError;
use super::file::{Durability, PruneIntent};
use super::health::Counters;
use super::queue::{Shared, WriterWait, PREALLOCATE_LIMIT};
use super::syncer::{Request, Syncer};
use crate::chain::framing::{Framer, TailMark, TornTail};
use crate::trail::time::write_rfc3339;
use crate::Stream;

/// The first retry waits this long; every further failure doubles it up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(1);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// DEBUG is lossy: after this many failed attempts in a row the records in hand are given up
/// (counted as failed) so a broken debug target cannot stall the application.
const DEBUG_ATTEMPTS: u32 = 11;
/// A quiet sink with a time-rotated target re-reads the clock at least this often, so a clock
/// step (NTP, or an injected test clock) cannot postpone a rotation for long.
const MAX_IDLE_WAIT: Duration = Duration::from_secs(1);
/// After a batch, the writer waits this long for more records before writing again (unless the
/// queue fills to half, or `sync()` or shutdown asks): under a steady stream of records this
/// turns a wake-up per record into a batch per millisecond, at the cost of up to this much delay
/// before a record is written.
const LINGER: Duration = Duration::from_millis(1);
/// The checkpoint side file is replaced at most this often (by the sink's clock); the newest
/// checkpoint waiting for its turn is published when the interval is up, and the final one at
/// shutdown at once. Each replacement costs two fsyncs (file and directory); publishing every
/// checkpoint of a flood (one per 1000 records) took more of the writer's time than the records.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// Framed bytes are written out once this much has gathered, so a large batch is not framed
/// into a second buffer of its own size first.
const OUT_LIMIT: usize = 1 << 20;
/// Largest single write call (unless one line is longer).
const WRITE_CHUNK: usize = 64 << 10;
/// Framing overhead assumed before the first framed record shows the real one.
const INITIAL_FRAME_OVERHEAD: usize = 160;

/// What the target was doing when it failed, for the error message.
#[derive(Debug)]
enum Step {
    Write,
    Rotate(String),
    /// An fsync (or flush) meant to cover every record before this queue position.
    Sync {
        covering: u64,
    },
}

#[derive(Debug)]
struct Failure {
    step: Step,
    error: io::Error,
}

fn failed(step: Step) -> impl FnOnce(io::Error) -> Failure {
    move |error| Failure { step, error }
}

/// What is carried over from opening the target into the thread.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    pub(crate) last_line: Option<Vec<u8>>,
    pub(crate) torn: Option<TornTail>,
    /// The checkpoint side file's line: the newest checkpoint published before this start.
    pub(crate) published: Option<Vec<u8>>,
    /// The trail's directory and prefix, when the stream is written to files.
    pub(crate) trail: Option<(std::path::PathBuf, String)>,
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    dest: Destination,
    framer: Option<Box<dyn Framer>>,
    fsync: Durability,
    rotates: bool,
    /// Bytes swapped out of the queue; lines from `cursor` on are not framed yet.
    batch: Vec<u8>,
    cursor: usize,
    /// A batch (or the resume output) was taken and its checkpoint is still due.
    checkpoint_due: bool,
    /// Framed bytes the target has not accepted yet.
    out: Vec<u8>,
    /// End offsets in `out` of the application records (the other lines are the sink's own), so
    /// a partial write counts exactly the records that made it.
    record_ends: Vec<usize>,
    /// A checkpoint line framed into `out`, to be published to the side file once written.
    publish: Option<Vec<u8>>,
    /// The newest written checkpoint not yet published (waiting for `PUBLISH_INTERVAL`), and
    /// when the side file was last replaced.
    unpublished: Option<Vec<u8>>,
    last_publish: Option<SystemTime>,
    /// The seal for this rotation is framed; the rotation itself is still to do.
    pending_rotation: Option<SystemTime>,
    /// Bytes written into the active file by this thread (0 right after opening or rotating).
    wrote_to_current: u64,
    frame_overhead: usize,
    /// Every record before this queue position has been taken into `batch` (see `queue`).
    taken_pos: u64,
    /// Every record before this queue position is written and synced.
    synced_pos: u64,
    /// Fsyncs files in the background; started with the first fsync of a file target.
    syncer: Option<Syncer>,
    unsynced: bool,
    last_sync: Instant,
    /// Failure state: when to try again, the current backoff, and failures in a row.
    retry_at: Option<Instant>,
    backoff: Duration,
    attempts: u32,
    final_checkpoint_done: bool,
    /// The last turn of the loop took a batch from the queue.
    took_batch: bool,
    /// An epoch seal was framed: once it is written and synced, the framer erases the sealed
    /// epoch's key from its state file.
    epoch_commit_pending: bool,
    /// A retention plan whose `prune` record is framed: once it is written and synced, the
    /// files it names are deleted.
    prune: Option<PruneIntent>,
    /// The framer's tail mark for the prune in hand is framed (see [`Framer::mark_tail`]); what
    /// is left to do once it is durable: commit the seal, or publish this checkpoint line.
    tail_mark: Option<(bool, Option<Vec<u8>>)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("stream", &self.shared.stream)
            .field("dest", &self.dest)
            .field("fsync", &self.fsync)
            .field("taken_pos", &self.taken_pos)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        dest: Destination,
        framer: Option<Box<dyn Framer>>,
        fsync: Durability,
        rotates: bool,
    ) -> Self {
        let batch_capacity = shared.capacity().min(PREALLOCATE_LIMIT);
        let has_framer = framer.is_some();
        Worker {
            shared,
            dest,
            framer,
            fsync,
            rotates,
            batch: Vec::with_capacity(batch_capacity),
            cursor: 0,
            checkpoint_due: false,
            out: Vec::new(),
            record_ends: Vec::new(),
            publish: None,
            unpublished: None,
            last_publish: None,
            pending_rotation: None,
            wrote_to_current: 0,
            // Unframed records are written as they are: no overhead to guess.
            frame_overhead: if has_framer {
                INITIAL_FRAME_OVERHEAD
            } else {
                0
            },
            taken_pos: 0,
            synced_pos: 0,
            syncer: None,
            unsynced: false,
            last_sync: Instant::now(),
            retry_at: None,
            backoff: FIRST_BACKOFF,
            attempts: 0,
            final_checkpoint_done: false,
            took_batch: false,
            epoch_commit_pending: false,
            prune: None,
            tail_mark: None,
        }
    }

    /// The thread body. Returns once the sink is closed.
    pub(crate) fn run(mut self, resume: Resume) {
        self.shared.register_writer_thread();
        if let Some(framer) = self.framer.as_mut() {
            let now = self.dest.now();
            if let Some((dir, prefix)) = &resume.trail {
                framer.attach_trail(dir, prefix);
            }
            if let Some(line) = resume.published.as_deref() {
                framer.published(line);
            }
            framer.resume(
                resume.last_line.as_deref(),
                resume.torn.as_ref(),
                now,
                &mut self.out,
            );
            // A restart may have moved the key state of a signed trail forward already.
            self.epoch_commit_pending = framer.epoch_deadline().is_some();
        }
        loop {
            let shutdown = self.take_work();
            let now = Instant::now();
            if self.retry_at.is_none_or(|at| now >= at) {
                if self.retry_at.is_some() {
                    Counters::add(&self.shared.counters.retried, 1);
                }
                match self.step(shutdown.is_some()) {
                    Ok(()) => self.succeeded(),
                    Err(failure) => self.failed(failure),
                }
            }
            if let Some(deadline) = shutdown {
                if self.idle() && self.shared.is_empty() {
                    if !self.final_checkpoint_done {
                        self.final_checkpoint_done = true;
                        self.prune_before_stopping(deadline);
                        self.frame_final_checkpoint();
                        continue;
                    }
                    if !self.final_sync_pending() && self.retry_at.is_none() {
                        self.shared.close(0, None);
                        return;
                    }
                }
                if Instant::now() >= deadline {
                    self.give_up();
                    return;
                }
            }
            self.wait(shutdown);
        }
    }

    /// Nothing of a batch is in hand.
    fn idle(&self) -> bool {
        self.cursor >= self.batch.len()
            && self.out.is_empty()
            && self.pending_rotation.is_none()
            && !self.checkpoint_due
            && !self.epoch_commit_pending
            && self.prune.is_none()
    }

    /// Takes the queued records if the previous batch is done; returns the shutdown deadline.
    fn take_work(&mut self) -> Option<Instant> {
        self.took_batch = false;
        let mut st = self.shared.lock();
        let shutdown = st.shutdown;
        if !self.idle() || self.retry_at.is_some() || self.shared.is_closed() {
            return shutdown;
        }
        let drops = self.shared.take_drops();
        self.batch.clear();
        self.cursor = 0;
        let taken = self.shared.take(&mut st, &mut self.batch);
        drop(st);
        self.taken_pos = taken.up_to;
        if taken.records == 0 && drops == 0 {
            return shutdown;
        }
        self.checkpoint_due = true;
        self.took_batch = true;
        // Records that arrive while draining get their own final checkpoint after them.
        self.final_checkpoint_done = false;
        if drops > 0 {
            self.frame_drop_report(drops);
        }
        shutdown
    }

    /// The in-stream record that tells a reader of the debug stream that records are missing.
    fn frame_drop_report(&mut self, dropped: u64) {
        let out = &mut self.out;
        out.extend_from_slice(b"{\"ts\":\"");
        write_rfc3339(self.dest.now(), out);
        out.extend_from_slice(b"\",\"stream\":\"");
        out.extend_from_slice(self.shared.stream.as_str().as_bytes());
        out.extend_from_slice(
            b"\",\"level\":\"WARN\",\"target\":\"tracing_audit::sink\",\"message\":\"",
        );
        out.extend_from_slice(dropped.to_string().as_bytes());
        out.extend_from_slice(b" records dropped\",\"fields\":{\"dropped\":");
        out.extend_from_slice(dropped.to_string().as_bytes());
        out.extend_from_slice(b"}}\n");
    }

    fn frame_final_checkpoint(&mut self) {
        if let Some(framer) = self.framer.as_mut() {
            let now = self.dest.now();
            if let Some(range) = framer.checkpoint(now, true, &mut self.out) {
                self.publish = checkpoint_line(&self.out, range);
            }
            // A clean shutdown seals the epoch, so nothing written is left unsealed.
            if framer.seal_epoch(now, true, &mut self.out) {
                self.epoch_commit_pending = true;
            }
        }
    }

    /// Seals the epoch when it is over, and once the seal is written and synced lets the
    /// framer erase its key. Runs before a batch is framed, so a batch's records belong to the
    /// epoch that is current when it is taken.
    fn seal_epoch(&mut self, now: SystemTime) -> Result<(), Failure> {
        let Some(framer) = self.framer.as_mut() else {
            return Ok(());
        };
        if framer.seal_epoch(now, false, &mut self.out) {
            self.epoch_commit_pending = true;
        }
        if !self.epoch_commit_pending {
            return Ok(());
        }
        // The seal must be on disk before its key leaves the state file: a restart that finds
        // no seal seals the epoch again with the key the state file still holds.
        self.make_durable()?;
        if let Some(framer) = self.framer.as_mut() {
            if let Err(err) = framer.commit_epoch() {
                // The sealed epoch's key stays in the state file until the next epoch's
                // commit replaces it; the chain itself is unaffected.
                self.note_error(format!(
                    "{} sink: replacing the signing state file: {err}",
                    self.shared.stream
                ));
            }
        }
        // The epoch's checkpoint is published with its seal: the witnesses may have it now.
        #[cfg(feature = "tlog")]
        self.shared.witness.poke();
        self.epoch_commit_pending = false;
        Ok(())
    }

    /// At shutdown, before the final checkpoint and seal: waits (for at most half the time
    /// left) for retention the last rotations planned, and frames its prune record, so that a
    /// stopped sink has applied its retention like before. The next step writes, syncs and
    /// deletes.
    fn prune_before_stopping(&mut self, deadline: Instant) {
        if self.framer.is_none() || self.prune.is_some() {
            return;
        }
        let now = Instant::now();
        self.dest
            .settle_upkeep(now + deadline.saturating_duration_since(now) / 2);
        self.take_prune_intent(self.dest.now());
    }

    /// Takes a retention plan and frames its prune record (`self.prune` then holds the plan).
    fn take_prune_intent(&mut self, now: SystemTime) {
        let (Some(intent), Some(framer)) = (self.dest.take_prune_intent(), self.framer.as_mut())
        else {
            return;
        };
        let PruneIntent {
            files,
            through_seq,
            through_mac,
            ..
        } = &intent;
        if framer.prune(files, *through_seq, through_mac, now, &mut self.out) {
            self.prune = Some(intent);
        } else {
            self.note_error(format!(
                "{} sink: retention kept {} files: the chain cannot record their deletion (records up to {through_seq})",
                self.shared.stream,
                files.len()
            ));
        }
    }

    /// Writes what is framed and fsyncs it, when anything is not yet on disk.
    fn make_durable(&mut self) -> Result<(), Failure> {
        self.flush_out()?;
        if self.unsynced {
            self.dest.sync().map_err(failed(Step::Sync {
                covering: self.taken_pos,
            }))?;
        }
        Ok(())
    }

    /// Records a retention plan in the chain and, once that record is durable, lets the file
    /// set delete what it names. Nothing is deleted before, so whatever the chain lost at its
    /// head is either covered by a prune record or tampering. During shutdown only the plan
    /// taken before the final seal is carried out (a later one would follow that seal).
    fn prune(&mut self, now: SystemTime, shutdown: bool) -> Result<(), Failure> {
        if self.prune.is_none() && !shutdown {
            self.take_prune_intent(now);
        }
        if self.prune.is_none() {
            return Ok(());
        }
        self.make_durable()?;
        self.mark_tail(now)?;
        if let Some(intent) = self.prune.take() {
            self.dest.apply_prune(&intent);
        }
        Ok(())
    }

    /// Before retention deletes anything: the framer's tail mark (an epoch seal, or a
    /// checkpoint) is framed after the durable prune record, made durable, and committed or
    /// published, so that a restart adopts the prune record as the writer's own and a signed
    /// trail's prune record is sealed before the files it names are gone. On error, calling it
    /// again resumes where it stopped.
    fn mark_tail(&mut self, now: SystemTime) -> Result<(), Failure> {
        if self.tail_mark.is_none() {
            let Some(framer) = self.framer.as_mut() else {
                return Ok(());
            };
            self.tail_mark = Some(match framer.mark_tail(now, &mut self.out) {
                Some(TailMark::Sealed) => (true, None),
                Some(TailMark::Checkpoint(range)) => (false, checkpoint_line(&self.out, range)),
                None => (false, None),
            });
        }
        self.make_durable()?;
        match self.tail_mark.take() {
            Some((true, _)) => {
                if let Some(Err(err)) = self.framer.as_mut().map(|f| f.commit_epoch()) {
                    self.note_error(format!(
                        "{} sink: replacing the signing state file: {err}",
                        self.shared.stream
                    ));
                }
            }
            Some((false, Some(line))) => {
                // Newer than anything waiting to be published, which must not overwrite it.
                self.unpublished = None;
                self.last_publish = Some(now);
                if let Err(err) = self.dest.publish_checkpoint(&line) {
                    self.note_error(format!(
                        "{} sink: publishing the checkpoint side file: {err}",
                        self.shared.stream
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Does everything that is due. On error, calling it again resumes where it stopped.
    fn step(&mut self, shutdown: bool) -> Result<(), Failure> {
        let now = self.dest.now();
        self.collect_fsync()?;
        self.flush_out()?;
        self.finish_rotation()?;
        self.seal_epoch(now)?;
        self.prune(now, shutdown)?;
        #[cfg(feature = "tlog")]
        self.record_witness_alarms(now);
        let batch = std::mem::take(&mut self.batch);
        let framed = self.frame_lines(&batch, now);
        self.batch = batch;
        framed?;
        if self.checkpoint_due {
            if let Some(framer) = self.framer.as_mut() {
                if let Some(range) = framer.checkpoint(now, false, &mut self.out) {
                    self.publish = checkpoint_line(&self.out, range);
                }
            }
            self.checkpoint_due = false;
        }
        self.flush_out()?;
        self.publish_checkpoint(now, shutdown);
        if self.rotates && self.idle() {
            if let Some(deadline) = self.dest.next_deadline() {
                if now >= deadline && self.dest.needs_rotation(now, 0) {
                    self.rotate_now(now)?;
                }
            }
        }
        let sync_wanted = {
            let st = self.shared.lock();
            st.sync_wanted > st.durable
        };
        let policy_due = match self.fsync {
            Durability::EveryBatch => true,
            Durability::Interval(every) => self.last_sync.elapsed() >= every,
            Durability::Never => false,
        };
        if self.unsynced && (policy_due || sync_wanted || shutdown && self.syncs_at_shutdown()) {
            self.start_sync()?;
        }
        Ok(())
    }

    /// Frames a `witness_alarm` control record for each alarm the submission thread raised (a
    /// witness holds a different or longer history of this trail).
    #[cfg(feature = "tlog")]
    fn record_witness_alarms(&mut self, now: SystemTime) {
        let Some(framer) = self.framer.as_mut() else {
            return;
        };
        for alarm in self.shared.witness.take_alarms() {
            framer.note_event("witness_alarm", &alarm, now, &mut self.out);
        }
    }

    /// A clean shutdown fsyncs what was written, unless the files' durability is `Never` (then
    /// the kernel writes them back as usual). A `MakeWriter` is always flushed.
    fn syncs_at_shutdown(&self) -> bool {
        self.fsync != Durability::Never || !self.rotates
    }

    /// The sink cannot close yet: an fsync is in flight, or one is still due.
    fn final_sync_pending(&self) -> bool {
        self.syncer.as_ref().is_some_and(Syncer::in_flight)
            || self.unsynced && self.syncs_at_shutdown()
    }

    /// Syncs everything written so far (all records taken are written when this is called):
    /// files in the background, a `MakeWriter` here. With an fsync already in flight, the next
    /// one starts when it ends.
    fn start_sync(&mut self) -> Result<(), Failure> {
        if self.syncer.as_ref().is_some_and(Syncer::in_flight) {
            return Ok(());
        }
        let covering = self.taken_pos;
        match self.dest.sync_handle() {
            None => {
                self.dest.sync().map_err(failed(Step::Sync { covering }))?;
                self.synced(covering);
            }
            Some(handle) => {
                let file = handle.map_err(failed(Step::Sync { covering }))?;
                if self.syncer.is_none() {
                    match Syncer::start(Arc::clone(&self.shared)) {
                        Ok(syncer) => self.syncer = Some(syncer),
                        Err(err) => self.note_error(format!(
                            "{} sink: cannot start the fsync thread, fsyncing on the writer: {err}",
                            self.shared.stream
                        )),
                    }
                }
                match self.syncer.as_mut() {
                    Some(syncer) => syncer.submit(Request {
                        file,
                        up_to: covering,
                    }),
                    None => {
                        file.sync().map_err(failed(Step::Sync { covering }))?;
                        self.synced(covering);
                    }
                }
            }
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn synced(&mut self, covering: u64) {
        Counters::add(&self.shared.counters.syncs, 1);
        self.synced_pos = self.synced_pos.max(covering);
    }

    /// Takes the outcome of a background fsync that has ended.
    fn collect_fsync(&mut self) -> Result<(), Failure> {
        let Some(done) = self.syncer.as_mut().and_then(Syncer::take_done) else {
            return Ok(());
        };
        match done.result {
            Ok(()) => {
                self.synced(done.up_to);
                Ok(())
            }
            Err(error) => {
                // What was written since is not known to be durable either: sync again.
                self.unsynced = true;
                Err(Failure {
                    step: Step::Sync {
                        covering: done.up_to,
                    },
                    error,
                })
            }
        }
    }

    /// Frames the batch's records from the cursor on, rotating first where the target asks.
    fn frame_lines(&mut self, batch: &[u8], now: SystemTime) -> Result<(), Failure> {
        while self.cursor < batch.len() {
            let rest = &batch[self.cursor..];
            let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let body = &rest[..len];
            if self.rotates {
                if !self.out.is_empty() && self.wrote_to_current == 0 {
                    // The file set never size-rotates an empty file; write what we have so it
                    // can judge the next record against real bytes.
                    self.flush_out()?;
                }
                let incoming = (self.out.len() + body.len() + 1 + self.frame_overhead) as u64;
                if self.dest.needs_rotation(now, incoming) {
                    self.rotate_now(now)?;
                }
            }
            match self.framer.as_mut() {
                Some(framer) => {
                    let start = self.out.len();
                    framer.frame(body, &mut self.out);
                    self.frame_overhead = (self.out.len() - start).saturating_sub(body.len() + 1);
                }
                None => {
                    self.out.extend_from_slice(body);
                    self.out.push(b'\n');
                }
            }
            self.record_ends.push(self.out.len());
            self.cursor += len + 1;
            if self.out.len() >= OUT_LIMIT {
                self.flush_out()?;
            }
        }
        Ok(())
    }

    /// Writes what belongs to the closing file, its seal, and opens the next file.
    fn rotate_now(&mut self, now: SystemTime) -> Result<(), Failure> {
        self.flush_out()?;
        if let Some(framer) = self.framer.as_mut() {
            let next = self.dest.next_name(now);
            framer.seal(self.dest.current_name(), &next, now, &mut self.out);
        }
        self.pending_rotation = Some(now);
        self.flush_out()?;
        self.finish_rotation()
    }

    fn finish_rotation(&mut self) -> Result<(), Failure> {
        if let Some(at) = self.pending_rotation {
            // The closing file is fsynced here (the rotation itself does not), so that a failure
            // is what it is: an fsync failure, after which the records it covered are never
            // confirmed (some of the batch may still be unwritten; counting them in errs on the
            // side of refusing a `sync()`), not just a rotation to retry.
            self.dest.sync().map_err(failed(Step::Sync {
                covering: self.taken_pos,
            }))?;
            let next = self.dest.next_name(at);
            self.dest.rotate(at).map_err(failed(Step::Rotate(next)))?;
            self.pending_rotation = None;
            self.wrote_to_current = 0;
        }
        Ok(())
    }

    fn flush_out(&mut self) -> Result<(), Failure> {
        if self.out.is_empty() {
            return Ok(());
        }
        // Whole lines, at most WRITE_CHUNK bytes per call where lines allow: a target that
        // cuts a failed write back (the file set does) then loses at most one chunk of progress,
        // and a nearly full disk still takes what fits.
        let mut accepted = 0;
        let mut result = Ok(());
        while accepted < self.out.len() {
            let rest = &self.out[accepted..];
            let end = if rest.len() <= WRITE_CHUNK {
                rest.len()
            } else {
                match rest[..WRITE_CHUNK].iter().rposition(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    // One line longer than a chunk: it goes whole.
                    None => rest[WRITE_CHUNK..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| WRITE_CHUNK + i + 1),
                }
            };
            match self.dest.write(&rest[..end]) {
                Ok(()) => accepted += end,
                Err((n, err)) => {
                    accepted += n.min(end);
                    result = Err(((), err));
                    break;
                }
            }
        }
        if accepted > 0 {
            self.unsynced = true;
            self.wrote_to_current += accepted as u64;
            let complete = self.record_ends.partition_point(|&end| end <= accepted);
            self.record_ends.drain(..complete);
            for end in &mut self.record_ends {
                *end -= accepted;
            }
            Counters::add(&self.shared.counters.written, complete as u64);
            self.out.drain(..accepted);
        }
        if let Err(((), error)) = result {
            return Err(Failure {
                step: Step::Write,
                error,
            });
        }
        if let Some(line) = self.publish.take() {
            // Written: now it may leave the host (a newer one replaces an older one waiting).
            self.unpublished = Some(line);
        }
        Ok(())
    }

    /// When the next side-file publication may happen, if one waits.
    fn publish_due(&self) -> Option<SystemTime> {
        self.unpublished.as_ref()?;
        Some(
            self.last_publish
                .map_or(SystemTime::UNIX_EPOCH, |at| at + PUBLISH_INTERVAL),
        )
    }

    /// Replaces the checkpoint side file with the newest written checkpoint if its interval is
    /// up (or `now` moved backwards past it), or at once when `force`d (shutdown).
    fn publish_checkpoint(&mut self, now: SystemTime, force: bool) {
        let Some(due) = self.publish_due() else {
            return;
        };
        let stepped_back = self.last_publish.is_some_and(|at| now < at);
        if !(force || now >= due || stepped_back) {
            return;
        }
        let Some(line) = self.unpublished.take() else {
            return;
        };
        self.last_publish = Some(now);
        if let Err(err) = self.dest.publish_checkpoint(&line) {
            self.note_error(format!(
                "{} sink: publishing the checkpoint side file: {err}",
                self.shared.stream
            ));
        }
    }

    fn note_error(&self, message: String) {
        self.shared.counters.set_last_error(message);
    }

    fn collect_stats(&mut self) {
        if !self.rotates {
            return;
        }
        let (rotations, pruned, errors) = self.dest.take_stats();
        Counters::add(&self.shared.counters.rotations, rotations);
        Counters::add(&self.shared.counters.pruned, pruned);
        if let Some(err) = errors.last() {
            self.note_error(format!(
                "{} sink: background file maintenance: {err}",
                self.shared.stream
            ));
        }
    }

    fn succeeded(&mut self) {
        self.collect_stats();
        self.retry_at = None;
        self.backoff = FIRST_BACKOFF;
        self.attempts = 0;
        let mut st = self.shared.lock();
        let was_failing = st.failing.take().is_some();
        let before = st.durable;
        st.durable = st.durable.max(self.synced_pos);
        let waiters = st.sync_wanted > before && st.durable > before;
        drop(st);
        if waiters || was_failing {
            self.shared.notify_progress();
        }
    }

    fn failed(&mut self, failure: Failure) {
        self.collect_stats();
        let stream = self.shared.stream;
        // File errors already name their path; a MakeWriter's do not.
        let what = match (&failure.step, self.rotates) {
            (Step::Write, true) => "write failed".to_owned(),
            (Step::Write, false) => format!("writing to {} failed", self.dest.describe()),
            (Step::Rotate(next), _) => format!("rotating to {next} failed"),
            (Step::Sync { .. }, true) => "fsync failed".to_owned(),
            (Step::Sync { .. }, false) => format!("flushing {} failed", self.dest.describe()),
        };
        let context = format!("{stream} sink: {what}");
        // Health's `last_error` is one string, so it carries the cause; the error keeps it as
        // its source only, so that reporters walking the chain print it once.
        self.note_error(format!("{context}: {}", failure.error));
        let error = SinkError::io(context, Arc::new(failure.error));
        self.attempts = self.attempts.saturating_add(1);
        let now = Instant::now();
        if self.attempts > 1 {
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        }
        self.retry_at = Some(now + self.backoff);
        if stream == Stream::Debug && self.attempts >= DEBUG_ATTEMPTS {
            self.discard_in_hand();
            self.retry_at = None;
            self.attempts = 0;
            self.backoff = FIRST_BACKOFF;
        }
        let mut st = self.shared.lock();
        if let Step::Sync { covering } = failure.step {
            // After a failed fsync the kernel may have dropped the dirty pages and a retried
            // fsync can report success anyway: the records written since the last good fsync can
            // never be confirmed durable.
            let from = st.durable;
            let to = covering;
            if to > from {
                st.unconfirmed = Some((from, to, error.clone()));
            }
        }
        st.failing = Some(error);
        drop(st);
        self.shared.notify_progress();
    }

    /// Gives up the records in hand (framed or not), counting them as failed.
    fn discard_in_hand(&mut self) {
        let unframed = self.batch[self.cursor.min(self.batch.len())..]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let lost = self.record_ends.len() as u64 + unframed;
        Counters::add(&self.shared.counters.failed, lost);
        // A sync then covers the records taken so far, so `sync()` callers are answered.
        self.unsynced = true;
        self.out.clear();
        self.record_ends.clear();
        self.publish = None;
        self.batch.clear();
        self.cursor = 0;
        self.checkpoint_due = false;
    }

    /// The drain timeout ran out with records still unwritten: count them and close.
    fn give_up(&mut self) {
        let unframed = self.batch[self.cursor.min(self.batch.len())..]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let lost = self.record_ends.len() as u64 + unframed;
        if self.unsynced {
            // Best effort: what was written should still reach the disk.
            let _ = self.dest.sync();
        }
        let error = self.shared.lock().failing.clone();
        let error = error.unwrap_or_else(|| SinkError::closed(self.shared.stream));
        self.shared.close(lost, Some(error));
    }

    fn wait(&mut self, shutdown: Option<Instant>) {
        let st = self.shared.lock();
        // Re-read under the lock: a shutdown requested since the caller looked would otherwise
        // be a lost wake-up (its notify came before this wait), stalling the guard's drop.
        let shutdown = shutdown.or(st.shutdown);
        let failing = self.retry_at.is_some();
        let sync_wanted = st.sync_wanted > st.durable;
        // The fsync thread stores its outcome before it wakes the writer under this lock; so
        // does the background thread its retention plans.
        if self.syncer.as_ref().is_some_and(Syncer::has_done) {
            return;
        }
        if !failing && shutdown.is_none() && self.dest.has_prune_intent() {
            return;
        }
        let in_flight = self.syncer.as_ref().is_some_and(Syncer::in_flight);
        if !failing {
            let work = self.idle() && self.shared.has_work();
            // A record claimed but not yet published: its publication wakes a sleeping writer.
            let sync = sync_wanted && self.unsynced && !in_flight;
            let drained = shutdown.is_some() && self.idle() && self.shared.is_empty();
            if work || sync || drained && !in_flight {
                return;
            }
            if !self.idle() {
                return;
            }
        }
        let now = Instant::now();
        let mut timeout: Option<Duration> = None;
        let mut earliest = |d: Duration| {
            timeout = Some(timeout.map_or(d, |t: Duration| t.min(d)));
        };
        if let Some(at) = self.retry_at {
            earliest(at.saturating_duration_since(now));
        }
        if let Some(deadline) = shutdown {
            earliest(deadline.saturating_duration_since(now));
        }
        if let Some(due) = self.publish_due() {
            let until = due
                .duration_since(self.dest.now())
                .unwrap_or(Duration::ZERO);
            earliest(until.min(MAX_IDLE_WAIT));
        }
        if let (Durability::Interval(every), true) = (self.fsync, self.unsynced) {
            earliest((self.last_sync + every).saturating_duration_since(now));
        }
        let epoch_deadline = self.framer.as_ref().and_then(|f| f.epoch_deadline());
        if let (Some(deadline), false) = (epoch_deadline, failing) {
            // Idle epochs are sealed too; re-reading the clock at least once a second also
            // covers a clock that steps.
            let until = deadline
                .duration_since(self.dest.now())
                .unwrap_or(Duration::ZERO);
            earliest(until.min(MAX_IDLE_WAIT));
        }
        if self.rotates {
            if let Some(deadline) = self.dest.next_deadline() {
                // A boundary already passed was handled by the last step (or is being retried);
                // waking for it again right away would spin.
                let until = deadline
                    .duration_since(self.dest.now())
                    .unwrap_or(MAX_IDLE_WAIT);
                earliest(until.min(MAX_IDLE_WAIT));
            }
        }
        let how = if self.took_batch && !failing && shutdown.is_none() && !sync_wanted {
            earliest(LINGER);
            WriterWait::Lingering
        } else {
            WriterWait::Sleeping
        };
        if timeout == Some(Duration::ZERO) {
            return;
        }
        drop(self.shared.wait_for_work(st, timeout, how));
    }
}

/// Copies the checkpoint line (without its newline) out of the framed bytes.
fn checkpoint_line(out: &[u8], range: std::ops::Range<usize>) -> Option<Vec<u8>> {
    let line = out.get(range)?;
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    Some(line.to_vec())
}
