//! Ships an audit trail to a real rsyslogd over loopback RELP and measures it against what an
//! operator would configure instead: rsyslog's own `imfile` reading the same files and forwarding
//! them with `omrelp` to a second rsyslogd.
//!
//! ```text
//! cargo build --release --features ship --example ship_bench --example flood
//! target/release/examples/ship_bench --records 1000000 [--flood target/release/examples/flood] [--alternative-seconds 120]
//! ```
//!
//! 1. writes N audit records through the real layer (2 threads, files rotated at 64 MiB);
//! 2. `tracing-audit`'s shipper, run until idle: records/s until the last acknowledgement, and
//!    until the central file holds every byte (it is compared byte for byte and verified);
//! 3. imfile + omrelp from the same files to a second rsyslogd: records/s until its file holds
//!    N lines;
//! 4. the shipper running while the flood example (or, without `--flood`, the same writer as in
//!    1) writes N more records into a fresh directory: the lag it reports, sampled every 50 ms.
//!
//! Needs `rsyslogd` with imrelp and imfile (Debian: rsyslog, rsyslog-relp).

#[path = "../tests/ship_support/mod.rs"]
#[allow(unreachable_pub)]
mod ship_support;

use ship_support::{Input, Rsyslog};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing_audit::ship::{Destination, Shipper};
use tracing_audit::sink::FileSink;
use tracing_audit::verify::{verify_received, Keys};

fn main() {
    let mut records = 1_000_000usize;
    let mut flood: Option<PathBuf> = None;
    let mut alt_secs = 120u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--records" => {
                records = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--records N")
            }
            "--flood" => flood = args.next().map(PathBuf::from),
            "--alternative-seconds" => {
                alt_secs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--alternative-seconds S")
            }
            // cargo bench / test harness flags
            _ => {}
        }
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();
    let trail = root.join("trail");

    let t = Instant::now();
    write(&trail, 0..records);
    let written = ship_support::local_records(&trail);
    let lines = ship_support::lines(&written);
    println!(
        "trail: {lines} lines ({records} records + chain records), {:.1} MiB, written in {:.1} s",
        written.len() as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );

    // Ours.
    let central = Rsyslog::start(&root.join("central"), Input::Relp, 64 * 1024);
    let to: Destination = format!("relp://127.0.0.1:{}", central.port)
        .parse()
        .unwrap();
    let t = Instant::now();
    let h = Shipper::new(&trail, to.clone())
        .cursor(root.join("bench.cursor"))
        .run_until_idle()
        .expect("shipper starts");
    let acked = t.elapsed();
    let received = central.wait_for_bytes(
        &central.audit_log(),
        written.len(),
        Duration::from_secs(600),
    );
    let landed = t.elapsed();
    let identical = received == written;
    let report =
        verify_received(&central.audit_log(), &Keys::from(ship_support::key())).expect("readable");
    println!(
        "tracing-audit ship (RELP): {:.0} records/s acknowledged ({:.2} s), all in rsyslog's file after {:.2} s; byte-identical: {identical}; verify --received intact: {} ({} records, {} duplicates); resent {}",
        lines as f64 / acked.as_secs_f64(),
        acked.as_secs_f64(),
        landed.as_secs_f64(),
        report.intact(),
        report.records(),
        report.duplicates(),
        h.resent
    );

    // The alternative: imfile + omrelp into a second central rsyslogd.
    let central2 = Rsyslog::start(&root.join("central2"), Input::Relp, 64 * 1024);
    let mut fwd = Rsyslog::forwarder(
        &root.join("forwarder"),
        &trail.join("audit.2*.jsonl"),
        central2.port,
    );
    let t = Instant::now();
    fwd.spawn();
    let log = central2.debug_log();
    // Measured for at most `alt_secs` (it is much slower): the rate is what arrived by then.
    let deadline = Instant::now() + Duration::from_secs(alt_secs);
    let mut got = 0;
    while Instant::now() < deadline {
        got = std::fs::read(&log)
            .map(|b| ship_support::lines(&b))
            .unwrap_or(0);
        if got >= lines {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let alt = t.elapsed();
    let alt_bytes = std::fs::read(&log).unwrap_or_default();
    println!(
        "rsyslog imfile + omrelp: {:.0} records/s ({got} of {lines} lines after {:.2} s); what arrived is byte-identical to the trail's first lines: {}",
        got as f64 / alt.as_secs_f64(),
        alt.as_secs_f64(),
        written.starts_with(&alt_bytes)
    );
    fwd.stop();
    drop(central2);

    // Lag while records are being written.
    let live = root.join("live");
    std::fs::create_dir_all(&live).unwrap();
    let central3 = Rsyslog::start(&root.join("central3"), Input::Relp, 64 * 1024);
    let to3: Destination = format!("relp://127.0.0.1:{}", central3.port)
        .parse()
        .unwrap();
    let (audit_dir, writer): (PathBuf, Box<dyn FnOnce() + Send>) = match &flood {
        Some(bin) => {
            let bin = bin.clone();
            let dir = live.clone();
            (
                live.join("audit"),
                Box::new(move || {
                    let out = std::process::Command::new(bin)
                        .args(["--dir"])
                        .arg(&dir)
                        .args(["--events", &records.to_string(), "--threads", "2"])
                        .output()
                        .expect("flood example runs");
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }),
            )
        }
        None => {
            let dir = live.clone();
            (live.clone(), Box::new(move || write(&dir, 0..records)))
        }
    };
    std::fs::create_dir_all(&audit_dir).unwrap();
    let shipper = Shipper::new(&audit_dir, to3)
        .poll_interval(Duration::from_millis(20))
        .spawn()
        .expect("shipper starts");
    let t = Instant::now();
    let writing = std::thread::spawn(writer);
    let (mut max_lag, mut max_bytes, mut samples, mut sum) = (0u64, 0u64, 0u64, 0u64);
    while !writing.is_finished() {
        let h = shipper.health();
        max_lag = max_lag.max(h.lag_records);
        max_bytes = max_bytes.max(h.lag_bytes);
        sum += h.lag_records;
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    writing.join().expect("writer");
    let wrote = t.elapsed();
    let total = ship_support::lines(&ship_support::local_records(&audit_dir)) as u64;
    while shipper.health().acknowledged < total {
        std::thread::sleep(Duration::from_millis(10));
    }
    let drained = t.elapsed();
    let h = shipper.shutdown(Duration::from_secs(5));
    println!(
        "while {} wrote {total} lines in {:.2} s ({:.0}/s): lag mean {:.0} / max {max_lag} records (max {:.1} MiB); everything acknowledged {:.2} s after the start, {:.2} s after the writer finished; resent {}",
        if flood.is_some() { "the flood example" } else { "the layer" },
        wrote.as_secs_f64(),
        total as f64 / wrote.as_secs_f64(),
        sum as f64 / samples.max(1) as f64,
        max_bytes as f64 / (1 << 20) as f64,
        drained.as_secs_f64(),
        (drained - wrote).as_secs_f64(),
        h.resent
    );
}

/// `range` audit records through the real layer, two threads, each in a request span.
fn write(dir: &Path, range: std::ops::Range<usize>) {
    let sink = FileSink::new(dir).max_file_size(64 << 20);
    ship_support::write_events(sink, || {
        let mid = range.start + range.len() / 2;
        let (a, b) = (range.start..mid, mid..range.end);
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        std::thread::scope(|s| {
            for part in [a, b] {
                let dispatch = dispatch.clone();
                s.spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in part {
                            let span = tracing::info_span!("request", request_id = i, user = "svc");
                            let _e = span.enter();
                            tracing::info!(target: "audit", actor = "alice", action = "read", resource = i, outcome = "success");
                        }
                    })
                });
            }
        });
    });
}
