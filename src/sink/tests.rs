//! Writer-thread behaviour through `MakeWriter` targets that capture, block or fail on demand.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::chain::framing::{Framer, TornTail};
use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// Programmable target: captures bytes, can be paused, and can fail the next writes.
#[derive(Clone, Default)]
struct Target2 {
    inner: Arc<(Mutex<Ctl>, Condvar)>,
}

#[derive(Default)]
struct Ctl {
    bytes: Vec<u8>,
    paused: bool,
    /// Writes currently blocked by `paused`.
    blocked: usize,
    /// Fail this many write calls with ENOSPC, each after accepting `accept_before_error` bytes.
    fail_writes: usize,
    accept_before_error: usize,
    error_next: bool,
    write_calls: usize,
    /// Fail this many flushes (the writer's "sync" of a `MakeWriter`) with EIO.
    fail_flushes: usize,
}

impl Target2 {
    fn make(&self) -> BoxMakeWriter {
        BoxMakeWriter::new(self.clone())
    }
    fn ctl<R>(&self, f: impl FnOnce(&mut Ctl) -> R) -> R {
        let r = f(&mut self.inner.0.lock().unwrap());
        self.inner.1.notify_all();
        r
    }
    fn pause(&self) {
        self.ctl(|c| c.paused = true);
    }
    fn resume(&self) {
        self.ctl(|c| c.paused = false);
    }
    /// Waits until a write is blocked by `pause`.
    fn wait_blocked(&self) {
        let (lock, cv) = &*self.inner;
        let mut c = lock.lock().unwrap();
        while c.blocked == 0 {
            c = cv.wait(c).unwrap();
        }
    }
    fn text(&self) -> String {
        self.ctl(|c| String::from_utf8(c.bytes.clone()).unwrap())
    }
    fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

struct Target2Writer(Target2);

impl Write for Target2Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (lock, cv) = &*self.0.inner;
        let mut c = lock.lock().unwrap();
        while c.paused {
            c.blocked += 1;
            cv.notify_all();
            c = cv.wait(c).unwrap();
            c.blocked -= 1;
        }
        c.write_calls += 1;
        if c.error_next {
            c.error_next = false;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        if c.fail_writes > 0 {
            c.fail_writes -= 1;
            let n = c.accept_before_error.min(buf.len());
            if n > 0 {
                // A short write, then the error on the next call: how write(2) reports ENOSPC.
                c.bytes.extend_from_slice(&buf[..n]);
                c.error_next = true;
                return Ok(n);
            }
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        c.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let mut c = self.0.inner.0.lock().unwrap();
        if c.fail_flushes > 0 {
            c.fail_flushes -= 1;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Target2 {
    type Writer = Target2Writer;
    fn make_writer(&'a self) -> Target2Writer {
        Target2Writer(self.clone())
    }
}

fn start(
    stream: Stream,
    target: &Target2,
    capacity: usize,
    drain: Duration,
    framer: Option<Box<dyn Framer>>,
) -> (SinkHandle, SinkGuard) {
    spawn_tuned(
        SinkSpec {
            stream,
            target: Target::Writer(target.make()),
            framer,
        },
        Tuning {
            queue_capacity: Some(capacity),
            drain_timeout: Some(drain),
            overflow: crate::sink::Overflow::Block,
        },
    )
    .unwrap()
}

fn record(i: usize) -> Vec<u8> {
    format!("{{\"i\":{i}}}").into_bytes()
}

#[test]
fn records_reach_a_make_writer_in_order_one_per_line() {
    let target = Target2::default();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    for i in 0..1000 {
        handle.submit(&record(i));
    }
    handle.sync().unwrap();
    let lines = target.lines();
    assert_eq!(lines.len(), 1000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line.as_bytes(), record(i));
    }
    assert_eq!(handle.health().written, 1000);
    drop(guard);
}

#[test]
fn many_records_share_one_write_call() {
    let target = Target2::default();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    target.pause();
    handle.submit(&record(0));
    target.wait_blocked();
    for i in 1..500 {
        handle.submit(&record(i));
    }
    target.resume();
    handle.sync().unwrap();
    let calls = target.ctl(|c| c.write_calls);
    assert!(calls <= 3, "{calls} write calls for 500 records");
    drop(guard);
}

#[test]
fn audit_caller_blocks_when_the_queue_is_full_instead_of_dropping() {
    let target = Target2::default();
    let (handle, guard) = start(Stream::Audit, &target, 64, Duration::from_secs(5), None);
    target.pause();
    handle.submit(&record(0));
    target.wait_blocked();
    let done = Arc::new(Mutex::new(0usize));
    let producer = {
        let (handle, done) = (handle.clone(), Arc::clone(&done));
        thread::spawn(move || {
            for i in 1..100 {
                handle.submit(&record(i));
                *done.lock().unwrap() = i;
            }
        })
    };
    // While the writer is stuck, the producer can only fill the 64-byte queue and must then wait.
    thread::sleep(Duration::from_millis(200));
    let progressed = *done.lock().unwrap();
    assert!(
        progressed < 10,
        "producer got {progressed} records past a full queue"
    );
    assert!(handle.health().queued <= 64 / 8);
    target.resume();
    producer.join().unwrap();
    handle.sync().unwrap();
    let health = handle.health();
    assert_eq!((health.written, health.dropped, health.failed), (100, 0, 0));
    assert_eq!(target.lines().len(), 100);
    drop(guard);
}

#[test]
fn debug_drops_when_full_are_counted_and_reported_in_the_stream() {
    let target = Target2::default();
    let (handle, guard) = start(Stream::Debug, &target, 64, Duration::from_secs(5), None);
    target.pause();
    handle.submit(&record(0));
    target.wait_blocked();
    for i in 1..100 {
        handle.submit(&record(i));
    }
    let dropped = handle.health().dropped;
    assert!(dropped > 80, "only {dropped} dropped");
    target.resume();
    drop(guard);
    let health = handle.health();
    let lines = target.lines();
    let reports: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["target"] == "tracing_audit::sink")
        .collect();
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report["stream"], "debug");
    assert_eq!(report["level"], "WARN");
    assert_eq!(report["fields"]["dropped"], dropped);
    assert_eq!(report["message"], format!("{dropped} records dropped"));
    let ts = report["ts"].as_str().unwrap();
    assert_eq!(ts.len(), 30, "{ts}");
    let records = lines.len() as u64 - 1;
    assert_eq!(records, health.written);
    assert_eq!(records + health.dropped, 100);
}

#[test]
fn sync_waits_until_the_records_are_written() {
    let target = Target2::default();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    target.pause();
    handle.submit(&record(1));
    target.wait_blocked();
    let syncer = {
        let handle = handle.clone();
        thread::spawn(move || handle.sync())
    };
    thread::sleep(Duration::from_millis(100));
    assert!(
        !syncer.is_finished(),
        "sync returned before the write finished"
    );
    target.resume();
    syncer.join().unwrap().unwrap();
    assert_eq!(target.lines(), vec!["{\"i\":1}"]);
    drop(guard);
}

#[test]
fn sync_reports_the_write_error_while_records_are_pending() {
    let target = Target2::default();
    target.ctl(|c| c.fail_writes = usize::MAX);
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_millis(50),
        None,
    );
    handle.submit(&record(1));
    let err = handle.sync().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    let health = handle.health();
    assert!(health.failing);
    assert_eq!(health.written, 0);
    assert!(health
        .last_error
        .unwrap()
        .contains("audit sink: writing to"));
    drop(guard);
    let health = handle.health();
    assert_eq!(health.failed, 1);
    assert!(health.retried >= 1);
}

#[test]
fn audit_records_wait_for_the_target_to_recover_and_are_written_once() {
    let target = Target2::default();
    // Five failures, each after accepting 3 bytes: a retry must continue where the last stopped.
    target.ctl(|c| {
        c.fail_writes = 10;
        c.accept_before_error = 3;
    });
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    for i in 0..20 {
        handle.submit(&record(i));
    }
    let mut attempts = 0;
    while handle.sync().is_err() {
        attempts += 1;
        thread::sleep(Duration::from_millis(5));
    }
    assert!(attempts > 0);
    let expect: Vec<String> = (0..20)
        .map(|i| String::from_utf8(record(i)).unwrap())
        .collect();
    assert_eq!(target.lines(), expect);
    let health = handle.health();
    assert_eq!((health.written, health.failed), (20, 0));
    assert!(!health.failing);
    assert!(
        health.last_error.is_some(),
        "the last error is kept after recovery"
    );
    drop(guard);
}

#[test]
fn written_counts_only_records_the_target_accepted() {
    let target = Target2::default();
    // The first write accepts exactly the first record and its newline, then everything fails.
    let first = record(0).len() + 1;
    target.ctl(|c| {
        c.fail_writes = usize::MAX;
        c.accept_before_error = first;
    });
    target.pause();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_millis(50),
        None,
    );
    handle.submit(&record(0));
    handle.submit(&record(1));
    handle.submit(&record(2));
    target.resume();
    assert!(handle.sync().is_err());
    target.ctl(|c| c.accept_before_error = 0);
    drop(guard);
    let health = handle.health();
    let on_disk = target.text().matches('\n').count() as u64;
    assert!(
        health.written <= on_disk,
        "{} written, {on_disk} on disk",
        health.written
    );
    assert_eq!(health.written + health.failed, 3);
}

#[test]
fn debug_gives_up_on_a_broken_target_and_counts_failed() {
    let target = Target2::default();
    target.ctl(|c| c.fail_writes = usize::MAX);
    let (handle, guard) = start(
        Stream::Debug,
        &target,
        1 << 20,
        Duration::from_secs(30),
        None,
    );
    for i in 0..10 {
        handle.submit(&record(i));
    }
    // The retry budget (about one second of backoff) runs out long before the drain timeout.
    let started = std::time::Instant::now();
    while handle.health().failed < 10 {
        assert!(started.elapsed() < Duration::from_secs(20));
        thread::sleep(Duration::from_millis(20));
    }
    let health = handle.health();
    assert_eq!((health.written, health.failed), (0, 10));
    assert!(health.retried >= 5);
    drop(guard);
}

#[test]
fn submissions_after_shutdown_are_counted_not_lost_silently() {
    let target = Target2::default();
    let (audit, guard) = start(Stream::Audit, &target, 1024, Duration::from_secs(5), None);
    drop(guard);
    audit.submit(&record(1));
    assert_eq!(audit.health().failed, 1);
    assert!(audit.sync().is_ok(), "nothing accepted, nothing pending");
    let (debug, guard) = start(Stream::Debug, &target, 1024, Duration::from_secs(5), None);
    drop(guard);
    debug.submit(&record(1));
    assert_eq!(debug.health().dropped, 1);
}

#[test]
fn guard_drop_drains_everything_queued() {
    let target = Target2::default();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    for i in 0..10_000 {
        handle.submit(&record(i));
    }
    drop(guard);
    assert_eq!(target.lines().len(), 10_000);
    assert_eq!(handle.health().written, 10_000);
}

#[test]
fn guard_gives_up_on_a_stuck_writer_and_counts_the_queue_as_failed() {
    let target = Target2::default();
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_millis(50),
        None,
    );
    target.pause();
    handle.submit(&record(0));
    target.wait_blocked();
    for i in 1..10 {
        handle.submit(&record(i));
    }
    // The writer never comes back from its write call: dropping the guard must still return.
    drop(guard);
    let health = handle.health();
    assert_eq!(health.failed, 9, "the queued records are counted");
    assert!(health.last_error.unwrap().contains("did not finish"));
    assert!(handle.sync().is_err());
    target.resume();
}

#[test]
fn audit_callers_blocked_on_a_failing_target_are_released_at_shutdown() {
    let target = Target2::default();
    target.ctl(|c| c.fail_writes = usize::MAX);
    let (handle, guard) = start(Stream::Audit, &target, 64, Duration::from_millis(100), None);
    let producers: Vec<_> = (0..2)
        .map(|t| {
            let handle = handle.clone();
            thread::spawn(move || {
                for i in 0..20 {
                    handle.submit(&record(t * 100 + i));
                }
            })
        })
        .collect();
    // The queue fills and the producers block; the guard's drain timeout must release them.
    while handle.health().queued == 0 {
        thread::yield_now();
    }
    drop(guard);
    for p in producers {
        p.join().unwrap();
    }
    let health = handle.health();
    assert_eq!(health.written, 0);
    assert_eq!(health.failed, 40, "every record is accounted for");
    assert_eq!(health.dropped, 0, "audit never drops");
}

/// A target that logs into its own audit sink from inside `write`, as a misbehaving
/// `MakeWriter` (one that emits tracing events routed back to this stream) would.
#[derive(Clone, Default)]
struct SelfLogging(Arc<std::sync::OnceLock<SinkHandle>>);

impl Write for SelfLogging {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(handle) = self.0.get() {
            for i in 0..20 {
                handle.submit(&record(1000 + i));
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn audit_writer_thread_logging_into_its_own_full_queue_does_not_deadlock() {
    let target = SelfLogging::default();
    let (handle, guard) = spawn_tuned(
        SinkSpec {
            stream: Stream::Audit,
            target: Target::Writer(BoxMakeWriter::new({
                let target = target.clone();
                move || target.clone()
            })),
            framer: None,
        },
        Tuning {
            queue_capacity: Some(64),
            drain_timeout: Some(Duration::from_millis(200)),
            overflow: crate::sink::Overflow::Block,
        },
    )
    .unwrap();
    let _ = target.0.set(handle.clone());
    handle.submit(&record(1));
    handle.sync().unwrap();
    drop(guard);
    let health = handle.health();
    assert!(health.written >= 1);
    assert!(
        health.failed > 0,
        "records the writer could not queue are counted"
    );
    assert_eq!(health.dropped, 0);
}

#[test]
fn an_audit_record_larger_than_the_queue_waits_for_room_and_is_written_in_order() {
    let target = Target2::default();
    let (handle, guard) = start(Stream::Audit, &target, 64, Duration::from_secs(5), None);
    let big = |i: usize| format!("{{\"big\":{i},\"pad\":\"{}\"}}", "x".repeat(300));
    for i in 0..20 {
        handle.submit(&record(i));
        handle.submit(big(i).as_bytes());
    }
    handle.sync().unwrap();
    let want: Vec<String> = (0..20)
        .flat_map(|i| [String::from_utf8(record(i)).unwrap(), big(i)])
        .collect();
    assert_eq!(target.lines(), want);
    drop(guard);
}

#[test]
fn guard_drop_returns_promptly_every_time() {
    // A shutdown request that races the writer going to sleep must not be lost: each drop
    // would then wait out the whole 30 s drain timeout.
    let started = std::time::Instant::now();
    for i in 0..200u64 {
        let target = Target2::default();
        let (handle, guard) = start(
            Stream::Audit,
            &target,
            1 << 20,
            Duration::from_secs(30),
            None,
        );
        handle.submit(&record(i as usize));
        handle.sync().unwrap();
        // Land the request around the end of the writer's linger, when it goes to sleep.
        thread::sleep(Duration::from_micros(800 + (i % 8) * 50));
        drop(guard);
        assert_eq!(handle.health().written, 1);
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "200 guard drops took {:?}",
        started.elapsed()
    );
}

#[test]
fn records_under_a_failed_sync_are_never_confirmed_even_after_a_later_sync_succeeds() {
    let target = Target2::default();
    target.ctl(|c| c.fail_flushes = 1);
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        None,
    );
    handle.submit(&record(1));
    let err = handle.sync().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    // The retried flush succeeds, but record 1 may have been lost with the failed one.
    let started = std::time::Instant::now();
    while handle.health().failing {
        assert!(started.elapsed() < Duration::from_secs(10));
        thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        handle.sync().unwrap_err().raw_os_error(),
        Some(libc::EIO),
        "still unconfirmed"
    );
    handle.submit(&record(2));
    handle.sync().unwrap();
    assert_eq!(handle.health().syncs, 2);
    drop(guard);
}

/// Numbers records like the chain's framer would, and remembers what `resume` was given.
#[derive(Default)]
struct CountingFramer {
    seq: u64,
    resumed_with: Arc<Mutex<Option<Option<Vec<u8>>>>>,
}

impl Framer for CountingFramer {
    fn resume(
        &mut self,
        last_line: Option<&[u8]>,
        _torn: Option<&TornTail>,
        _now: SystemTime,
        out: &mut Vec<u8>,
    ) {
        *self.resumed_with.lock().unwrap() = Some(last_line.map(<[u8]>::to_vec));
        self.seq += 1;
        out.extend_from_slice(format!("{{\"seq\":{},\"resume\":true}}\n", self.seq).as_bytes());
    }
    fn frame(&mut self, body: &[u8], out: &mut Vec<u8>) {
        self.seq += 1;
        out.extend_from_slice(format!("{{\"seq\":{},\"body\":", self.seq).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"}\n");
    }
    fn seal(&mut self, closing: &str, next: &str, _now: SystemTime, out: &mut Vec<u8>) {
        self.seq += 1;
        out.extend_from_slice(
            format!(
                "{{\"seq\":{},\"seal\":\"{closing}\",\"next\":\"{next}\"}}\n",
                self.seq
            )
            .as_bytes(),
        );
    }
    fn checkpoint(
        &mut self,
        _now: SystemTime,
        force: bool,
        out: &mut Vec<u8>,
    ) -> Option<std::ops::Range<usize>> {
        self.seq += 1;
        let start = out.len();
        out.extend_from_slice(
            format!("{{\"seq\":{},\"checkpoint\":{force}}}\n", self.seq).as_bytes(),
        );
        Some(start..out.len())
    }
}

#[test]
fn audit_bodies_pass_through_the_framer_with_resume_checkpoints_and_final_checkpoint() {
    let target = Target2::default();
    let framer = Box::<CountingFramer>::default();
    let resumed_with = Arc::clone(&framer.resumed_with);
    let (handle, guard) = start(
        Stream::Audit,
        &target,
        1 << 20,
        Duration::from_secs(5),
        Some(framer),
    );
    handle.submit(b"{\"a\":1}");
    handle.sync().unwrap();
    handle.submit(b"{\"a\":2}");
    drop(guard);
    let lines: Vec<serde_json::Value> = target
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["resume"], true);
    assert_eq!(lines[1]["body"]["a"], 1);
    assert_eq!(lines[2]["checkpoint"], false);
    assert_eq!(lines[3]["body"]["a"], 2);
    assert_eq!(lines[4]["checkpoint"], false);
    assert_eq!(lines[5]["checkpoint"], true);
    assert_eq!(lines.len(), 6);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["seq"], i as u64 + 1, "file order is sequence order");
    }
    assert_eq!(handle.health().written, 2, "framing lines are not records");
    assert_eq!(
        *resumed_with.lock().unwrap(),
        Some(None),
        "a MakeWriter cannot be read back"
    );
}

mod files {
    use super::*;
    use crate::sink::file::{Clock, FileSink, FsyncFaults, Rotation};
    use std::path::Path;
    use std::sync::atomic::Ordering;

    #[derive(Debug)]
    struct ManualClock(Mutex<SystemTime>);

    impl ManualClock {
        fn at(rfc3339: &str) -> Arc<ManualClock> {
            let t: SystemTime = chrono::DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .into();
            Arc::new(ManualClock(Mutex::new(t)))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    fn start_files(
        stream: Stream,
        config: FileSink,
        framer: Option<Box<dyn Framer>>,
    ) -> (SinkHandle, SinkGuard) {
        spawn(SinkSpec {
            stream,
            target: Target::Files(Box::new(config)),
            framer,
        })
        .unwrap()
    }

    /// Data files of `prefix` in name order, with their lines.
    fn files(dir: &Path, prefix: &str) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| {
                n.starts_with(&format!("{prefix}."))
                    && n.ends_with(".jsonl")
                    && !n.contains("current")
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(&n)).unwrap();
                let lines = text.lines().map(str::to_owned).collect();
                (n, lines)
            })
            .collect()
    }

    fn json(line: &str) -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn size_rotation_seals_each_file_with_its_last_line_and_never_splits_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at("2026-11-26T06:00:00Z");
        let config = FileSink::new(dir.path())
            .rotation(Rotation::Daily)
            .max_file_size(400)
            .clock(clock as Arc<dyn Clock>);
        let (handle, guard) = start_files(
            Stream::Audit,
            config,
            Some(Box::<CountingFramer>::default()),
        );
        for i in 0..40 {
            handle.submit(&record(i));
            if i % 7 == 0 {
                handle.sync().unwrap();
            }
        }
        drop(guard);
        let files = files(dir.path(), "audit");
        assert!(files.len() >= 3, "{} files", files.len());
        let mut seq = 0;
        let mut bodies = 0;
        for (k, (name, lines)) in files.iter().enumerate() {
            let size: usize = lines.iter().map(|l| l.len() + 1).sum();
            let last = json(lines.last().unwrap());
            if k + 1 < files.len() {
                assert_eq!(last["seal"], name.as_str(), "{name} ends with its seal");
                assert_eq!(last["next"], files[k + 1].0.as_str());
                // The limit holds for records; only the chain's own lines written after the last
                // record (a checkpoint, the seal) may go past it.
                let last_record = lines.iter().rposition(|l| json(l).get("body").is_some());
                let upto: usize = lines[..=last_record.unwrap()]
                    .iter()
                    .map(|l| l.len() + 1)
                    .sum();
                assert!(upto <= 400, "{name}: {upto} bytes of records: {lines:#?}");
                assert!(size < 400 + 200, "{name}: {size} bytes");
            }
            for line in lines {
                let v = json(line);
                seq += 1;
                assert_eq!(v["seq"], seq, "file order is sequence order");
                if v.get("body").is_some() {
                    bodies += 1;
                }
            }
        }
        assert_eq!(bodies, 40);
        let health = handle.health();
        assert_eq!(health.written, 40);
        assert_eq!(health.rotations as usize, files.len() - 1);
    }

    #[test]
    fn quiet_sink_rotates_at_the_time_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at("2026-11-26T06:00:30Z");
        let config = FileSink::new(dir.path())
            .rotation(Rotation::Minutely)
            .clock(Arc::clone(&clock) as Arc<dyn Clock>);
        let (handle, guard) = start_files(
            Stream::Audit,
            config,
            Some(Box::<CountingFramer>::default()),
        );
        handle.submit(&record(1));
        handle.sync().unwrap();
        clock.advance(Duration::from_secs(60));
        // No record arrives: the writer must notice the boundary by itself (it re-reads the
        // clock at least once a second).
        wait_until("a rotation without records", || {
            handle.health().rotations > 0
        });
        drop(guard);
        let files = files(dir.path(), "audit");
        assert_eq!(files.len(), 2);
        assert!(files[0].0.contains("2026-11-26T06-00"), "{}", files[0].0);
        assert!(files[1].0.contains("2026-11-26T06-01"), "{}", files[1].0);
        let seal = json(files[0].1.last().unwrap());
        assert_eq!(seal["next"], files[1].0.as_str());
    }

    #[test]
    fn checkpoints_are_published_to_the_side_file() {
        let dir = tempfile::tempdir().unwrap();
        let (handle, guard) = start_files(
            Stream::Audit,
            FileSink::new(dir.path()),
            Some(Box::<CountingFramer>::default()),
        );
        handle.submit(&record(1));
        handle.sync().unwrap();
        let side = std::fs::read_to_string(dir.path().join("audit.checkpoint")).unwrap();
        assert_eq!(json(side.trim_end())["checkpoint"], false);
        drop(guard);
        let side = std::fs::read_to_string(dir.path().join("audit.checkpoint")).unwrap();
        assert!(side.ends_with('\n'));
        let published = json(side.trim_end());
        assert_eq!(published["checkpoint"], true, "the forced final checkpoint");
        let files = files(dir.path(), "audit");
        assert_eq!(
            files[0].1.last().map(String::as_str),
            Some(side.trim_end()),
            "the side file holds the trail's last checkpoint"
        );
    }

    #[test]
    fn records_keep_reaching_the_file_while_an_fsync_is_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(FsyncFaults::default());
        faults.hold(true);
        let config = FileSink::new(dir.path()).fsync_faults(Arc::clone(&faults));
        let (handle, guard) = start_files(Stream::Audit, config, None);
        handle.submit(&record(0));
        wait_until("the first fsync starts", || {
            faults.started.load(Ordering::SeqCst) == 1
        });
        // The fsync is stuck; the writer must go on taking and writing records regardless.
        for i in 1..50 {
            handle.submit(&record(i));
        }
        wait_until("records written while the fsync is held", || {
            files(dir.path(), "audit")[0].1.len() == 50
        });
        let pending = handle.sync_timeout(Duration::from_millis(50)).unwrap_err();
        assert!(
            pending.kind() == crate::sink::SinkErrorKind::TimedOut,
            "not durable before the fsync returns"
        );
        faults.hold(false);
        handle.sync().unwrap();
        assert!(
            handle.health().syncs >= 2,
            "a second fsync covered records 1..50"
        );
        drop(guard);
    }

    #[test]
    fn a_failed_background_fsync_fails_sync_and_its_records_stay_unconfirmed() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(FsyncFaults::default());
        faults.fail.store(1, Ordering::SeqCst);
        let config = FileSink::new(dir.path()).fsync_faults(Arc::clone(&faults));
        let (handle, guard) = start_files(Stream::Audit, config, None);
        handle.submit(&record(1));
        let err = handle.sync().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert!(err.to_string().contains("fsync"), "{err}");
        wait_until("the retried fsync succeeds", || !handle.health().failing);
        assert_eq!(
            handle.sync().unwrap_err().raw_os_error(),
            Some(libc::EIO),
            "record 1 can never be confirmed"
        );
        handle.submit(&record(2));
        handle.sync().unwrap();
        let health = handle.health();
        assert!(health.retried >= 1, "{health:?}");
        assert!(health.last_error.unwrap().contains("fsync"));
        drop(guard);
    }

    #[test]
    fn a_failed_fsync_of_a_file_closed_by_rotation_leaves_its_records_unconfirmed() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(FsyncFaults::default());
        faults.hold(true);
        faults.fail.store(1, Ordering::SeqCst);
        // No fsync but the rotation's: `{"i":N}` lines are 8 bytes, five fill a file.
        let config = FileSink::new(dir.path())
            .max_file_size(40)
            .durability(crate::sink::Durability::Never)
            .fsync_faults(Arc::clone(&faults));
        let (handle, guard) = start_files(Stream::Audit, config, None);
        for i in 0..6 {
            handle.submit(&record(i));
        }
        wait_until("the closing file's fsync starts", || {
            faults.started.load(Ordering::SeqCst) == 1
        });
        faults.hold(false);
        let err = handle.sync().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
        wait_until("the rotation succeeds on retry", || {
            let health = handle.health();
            health.rotations == 1 && !health.failing
        });
        assert_eq!(
            handle.sync().unwrap_err().raw_os_error(),
            Some(libc::EIO),
            "a retried fsync that succeeds does not confirm what the failed one covered"
        );
        handle.submit(&record(6));
        handle.sync().unwrap();
        drop(guard);
        let lines: usize = files(dir.path(), "audit")
            .iter()
            .map(|(_, l)| l.len())
            .sum();
        assert_eq!(lines, 7, "every record is still written");
    }

    #[test]
    fn the_side_file_is_replaced_at_most_once_a_second_and_the_newest_checkpoint_waits() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::at("2026-11-26T06:00:00Z");
        let config = FileSink::new(dir.path()).clock(Arc::clone(&clock) as Arc<dyn Clock>);
        let (handle, guard) = start_files(
            Stream::Audit,
            config,
            Some(Box::<CountingFramer>::default()),
        );
        let side = || {
            let text = std::fs::read_to_string(dir.path().join("audit.checkpoint")).unwrap();
            json(text.trim_end())["seq"].as_u64().unwrap()
        };
        // CountingFramer checkpoints after every batch; sync() makes each submit its own batch.
        handle.submit(&record(1));
        handle.sync().unwrap();
        let first = side();
        for i in 2..6 {
            handle.submit(&record(i));
            handle.sync().unwrap();
        }
        assert_eq!(side(), first, "replaced again within the same second");
        // The newest checkpoint is published once its second is up, without a new record (the
        // writer looks at least once a second).
        clock.advance(Duration::from_secs(1));
        let newest = files(dir.path(), "audit")[0]
            .1
            .iter()
            .filter_map(|l| json(l)["seq"].as_u64().filter(|_| l.contains("checkpoint")))
            .max()
            .unwrap();
        assert!(newest > first);
        wait_until("the waiting checkpoint is published", || side() == newest);
        // Shutdown publishes the final checkpoint at once, whatever the clock says.
        handle.submit(&record(7));
        handle.sync().unwrap();
        drop(guard);
        let last = files(dir.path(), "audit")[0].1.last().cloned().unwrap();
        assert_eq!(json(&last)["checkpoint"], true);
        assert_eq!(side(), json(&last)["seq"].as_u64().unwrap());
    }

    #[test]
    fn restart_resumes_the_framer_from_the_last_line_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (handle, guard) = start_files(Stream::Audit, FileSink::new(dir.path()), {
            Some(Box::<CountingFramer>::default())
        });
        handle.submit(&record(1));
        drop(guard);
        let last = files(dir.path(), "audit")[0].1.last().unwrap().clone();

        let framer = Box::<CountingFramer>::default();
        let resumed_with = Arc::clone(&framer.resumed_with);
        let (handle, guard) = start_files(Stream::Audit, FileSink::new(dir.path()), Some(framer));
        handle.submit(&record(2));
        drop(guard);
        assert_eq!(*resumed_with.lock().unwrap(), Some(Some(last.into_bytes())));
        let files = files(dir.path(), "audit");
        assert_eq!(files.len(), 1, "the second run appends to the same file");
    }

    #[test]
    fn debug_file_sink_is_not_framed_and_counts_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let config = FileSink::new(dir.path()).max_file_size(100);
        let (handle, guard) = start_files(Stream::Debug, config, None);
        for i in 0..30 {
            handle.submit(&record(i));
        }
        drop(guard);
        let files = files(dir.path(), "debug");
        let lines: Vec<String> = files.iter().flat_map(|(_, l)| l.clone()).collect();
        let expect: Vec<String> = (0..30)
            .map(|i| String::from_utf8(record(i)).unwrap())
            .collect();
        assert_eq!(lines, expect);
        assert_eq!(handle.health().rotations as usize, files.len() - 1);
        assert!(files.len() > 1);
    }

    #[test]
    fn unopenable_directory_is_a_spawn_error_with_context() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let err = spawn(SinkSpec {
            stream: Stream::Audit,
            target: Target::Files(Box::new(FileSink::new(blocker.join("audit")))),
            framer: None,
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("opening the audit sink's files"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let started = std::time::Instant::now();
        while !done() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "timed out: {what}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn retention_deletes_nothing_while_its_prune_record_cannot_be_made_durable() {
        let dir = tempfile::tempdir().unwrap();
        let chain = crate::chain::ChainConfig::new();
        // A trail of several files, written with every file kept.
        let config = || {
            FileSink::new(dir.path())
                .rotation(Rotation::Never)
                .max_file_size(300)
        };
        let (handle, guard) = start_files(Stream::Audit, config(), Some(chain.framer()));
        for i in 0..20 {
            handle.submit(&record(i));
        }
        handle.sync().unwrap();
        drop(guard);
        let before = files(dir.path(), "audit").len();
        assert!(before >= 3, "{before} files");

        // Restarted with a limit while every fsync fails: the plan is recorded, never confirmed.
        let faults = Arc::new(FsyncFaults::default());
        faults.fail.store(u64::MAX, Ordering::SeqCst);
        let keep = crate::sink::Retention::keep_all().max_files(1);
        let (handle, guard) = start_files(
            Stream::Audit,
            config().retention(keep).fsync_faults(Arc::clone(&faults)),
            Some(chain.framer()),
        );
        wait_until("the writer tries to make the prune record durable", || {
            faults.started.load(Ordering::SeqCst) >= 2
        });
        assert_eq!(files(dir.path(), "audit").len(), before);
        let health = handle.health();
        assert_eq!(health.pruned, 0);
        assert!(health.last_error.unwrap_or_default().contains("fsync"));

        // Once the disk recovers, the retried fsync confirms the record and the files go.
        faults.fail.store(0, Ordering::SeqCst);
        wait_until("retention deletes", || handle.health().pruned > 0);
        drop(guard);
        let after = files(dir.path(), "audit");
        assert_eq!(after.len(), 1);
        assert!(
            after[0]
                .1
                .iter()
                .any(|l| l.contains("\"record\":\"prune\"")),
            "{after:?}"
        );
    }

    #[test]
    fn debug_files_are_not_fsynced_until_sync_is_called() {
        let dir = tempfile::tempdir().unwrap();
        let (handle, guard) = start_files(Stream::Debug, FileSink::new(dir.path()), None);
        for i in 0..100 {
            handle.submit(&record(i));
        }
        wait_until("records written", || handle.health().written == 100);
        assert_eq!(
            handle.health().syncs,
            0,
            "debug defaults to Durability::Never"
        );
        handle.sync().unwrap();
        assert_eq!(handle.health().syncs, 1, "an explicit sync() fsyncs anyway");
        handle.sync().unwrap();
        assert_eq!(handle.health().syncs, 1, "nothing new to fsync");
        handle.submit(&record(100));
        wait_until("the last record written", || handle.health().written == 101);
        drop(guard);
        assert_eq!(
            handle.health().syncs,
            1,
            "Durability::Never does not fsync at shutdown either"
        );
    }

    #[test]
    fn audit_files_are_fsynced_after_every_batch_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let (handle, guard) = start_files(Stream::Audit, FileSink::new(dir.path()), None);
        for i in 0..3 {
            handle.submit(&record(i));
            wait_until("record written", || handle.health().written == i as u64 + 1);
            wait_until("batch fsynced", || handle.health().syncs == i as u64 + 1);
        }
        drop(guard);
    }

    #[test]
    fn interval_durability_fsyncs_without_being_asked() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            FileSink::new(dir.path()).durability(Durability::Interval(Duration::from_millis(20)));
        let (handle, guard) = start_files(Stream::Debug, config, None);
        handle.submit(&record(1));
        wait_until("interval fsync", || handle.health().syncs >= 1);
        drop(guard);
    }
}
