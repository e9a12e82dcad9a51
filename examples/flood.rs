//! Floods both streams from several threads through the real layer and file sinks, then counts
//! the records that actually reached the disk.
//!
//! ```text
//! cargo run --release --example flood -- --dir DIR --events N --threads T [--max-file-size BYTES] [--compress]
//! cargo run --release --example flood -- --dir DIR --events N --threads T --no-fsync
//! cargo run --release --example flood -- --dir DIR --events N --threads T --peer lossy|lossless
//! ```
//!
//! Emits N audit events (each inside a `request` span carrying `request_id` and `user`) and N/2
//! debug events, split over T threads, drops the guard (which drains both queues), counts the
//! lines in DIR/audit and DIR/debug (gzipped files included, with `--compress`, which gzips
//! closed files in the background and makes the drain at the end wait for that) and prints as
//! its last line:
//!
//! ```text
//! audit_written=A debug_written=D debug_dropped=X secs=S events_per_sec=E cpu_secs=C peak_rss_kb=K
//! ```
//!
//! `audit_written` must equal N (AUDIT is lossless); `debug_written + debug_dropped` must equal
//! N/2 (DEBUG drops under overload, and counts every drop).
//!
//! `--no-fsync` sets the audit sink's durability to `Durability::Never` (default: fsync every
//! batch), which is all the peer below offers.
//!
//! `--no-index` turns off the search index the sinks write for each file they close
//! (`FileSink::index(false)`), to measure what indexing at rotation costs the writing host.
//! Indexes are authenticated under a key derived from the chain key, so they are written only
//! with `--keyed`.
//!
//! `--keyed` chains the audit stream with HMAC-SHA256 (default: the unkeyed SHA-256 chain).
//! `--signed` (build with `--features signed-seals`) also seals 1-second epochs with
//! forward-secure Ed25519 keys (a fresh signing state in DIR, its first public key in
//! DIR/flood.pk0 for `tracing-audit verify --public-key`), so the signing cost is part of
//! the measured time.
//!
//! `--tree` (build with `--features tlog`) keeps the Merkle tree over the audit stream, with its
//! tiles, and signs a checkpoint with a fresh log key (DIR/flood.logkey, its verifier key in
//! DIR/flood.logkey.pub for `tracing-audit check-proof --log-key`) at every epoch seal, or, without
//! `--signed`, with every checkpoint record.
//!
//! `--floor write|null` runs the same flood through one of the two floors of
//! `benches/support/floors.rs` instead: a layer appending a fixed 330-byte line per event
//! through a per-thread 64 KiB buffer to DIR/floor.jsonl (no JSON, no chain, no redaction), or a
//! layer that does nothing. Their `audit_written`/`debug_written` are the lines in that file
//! (both 0 for the null floor).
//!
//! Every run also reports `cpu_secs` (user + system, `getrusage(RUSAGE_SELF)` taken when the
//! queues are drained, before the lines are counted) and `peak_rss_kb` (`ru_maxrss`).
//!
//! `--table [--rounds R]` runs ours, the lossless peer, the write floor and the null floor
//! (`--no-fsync`, `--keyed` apply to ours), each in a fresh child process of this same binary
//! with the same `--events`/`--threads`, alternating R rounds (default 3), in fresh
//! directories under DIR that are removed after each run, and prints one Markdown table:
//! events/s, CPU s and peak RSS per round, and the ratios of ours to the others within each
//! round (docs/benchmarks.md).
//!
//! `--count-allocs` counts the heap allocations of the whole process (every thread, the
//! writers' included) while the events are emitted and drained, and reports them as
//! `allocs_per_event`: a figure that, unlike time on a shared host, does not move with the
//! load. Off by default (the count is a shared atomic, which costs time of its own).
//!
//! `--shred` (build with `--features shred`) encrypts the audit records' personal fields
//! (`actor`, and the span's) under per-subject keys, with the key store in DIR/flood.keys.
//!
//! `--peer lossy|lossless` runs the same flood through the setup this crate replaces: two
//! `fmt::layer().json()` layers with per-layer filters, each into a daily
//! `tracing_appender::rolling` file behind `tracing_appender::non_blocking` (its default, which
//! drops lines when its channel is full, or `lossy(false)`, which blocks). Its lines are counted
//! on disk the same way, so the audit lines a lossy peer silently loses show as
//! `audit_written` < N; `debug_dropped` is what its debug writer's error counter reports.

#[path = "../benches/support/floors.rs"]
mod floors;
#[path = "../benches/support/peer.rs"]
mod hand_built;

use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::{Durability, FileSink, Rotation};
use tracing_audit::Stream;
use tracing_subscriber::prelude::*;

const USAGE: &str = "usage: flood --dir DIR --events N --threads T [--max-file-size BYTES] [--compress] [--no-index] [--no-fsync] [--keyed] [--signed] [--tree] [--shred] [--peer lossy|lossless] [--floor write|null] [--table [--rounds R]] [--count-allocs]";

#[derive(Debug)]
struct Args {
    dir: PathBuf,
    events: u64,
    threads: u64,
    max_file_size: Option<u64>,
    compress: bool,
    index: bool,
    peer: Option<Peer>,
    no_fsync: bool,
    keyed: bool,
    signed: bool,
    tree: bool,
    floor: Option<Floor>,
    table: bool,
    rounds: u64,
    count_allocs: bool,
    shred: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut events = None;
    let mut threads = 1;
    let mut max_file_size = None;
    let mut compress = false;
    let mut index = true;
    let mut peer = None;
    let mut no_fsync = false;
    let (mut keyed, mut signed, mut tree, mut shred) = (false, false, false, false);
    let (mut floor, mut table, mut rounds) = (None, false, 3);
    let mut count_allocs = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|e| format!("{flag}: {v:?} is not a number: {e}"))
        };
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--events" => events = Some(number(value()?)?),
            "--threads" => threads = number(value()?)?.max(1),
            "--max-file-size" => max_file_size = Some(number(value()?)?),
            "--compress" => compress = true,
            "--no-index" => index = false,
            "--no-fsync" => no_fsync = true,
            "--keyed" => keyed = true,
            "--signed" => signed = true,
            "--tree" => tree = true,
            "--shred" => shred = true,
            "--peer" => peer = Some(Peer::parse(&value()?)?),
            "--floor" => floor = Some(Floor::parse(&value()?)?),
            "--table" => table = true,
            "--rounds" => rounds = number(value()?)?.max(1),
            "--count-allocs" => count_allocs = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Args {
        dir: dir.ok_or_else(|| format!("--dir is required\n{USAGE}"))?,
        events: events.ok_or_else(|| format!("--events is required\n{USAGE}"))?,
        threads,
        max_file_size,
        compress,
        index,
        peer,
        no_fsync,
        keyed,
        signed,
        tree,
        floor,
        table,
        rounds,
        count_allocs,
        shred,
    })
}

/// The system allocator, counting allocations while [`COUNTING`] is set (`--count-allocs`).
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("flood: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What one run left behind.
struct Outcome {
    audit_written: u64,
    debug_written: u64,
    debug_dropped: u64,
    secs: f64,
    usage: Usage,
    /// Heap allocations from the start of the setup to the end of the drain (`--count-allocs`).
    allocations: u64,
}

/// The process's resource use so far (`getrusage(RUSAGE_SELF)`).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cpu_secs: f64,
    peak_rss_kb: u64,
}

/// Stops counting allocations and returns the count.
fn allocations() -> u64 {
    COUNTING.store(false, Ordering::Relaxed);
    ALLOCATIONS.load(Ordering::Relaxed)
}

fn usage() -> Usage {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed value it is given.
    let mut raw: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage`; RUSAGE_SELF is always a valid `who`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut raw) } != 0 {
        return Usage::default();
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage {
        cpu_secs: secs(raw.ru_utime) + secs(raw.ru_stime),
        peak_rss_kb: raw.ru_maxrss.max(0) as u64,
    }
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let (audit_dir, debug_dir) = (args.dir.join("audit"), args.dir.join("debug"));
    for dir in [&audit_dir, &debug_dir] {
        if fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
        {
            return Err(format!("{} is not empty; counts would be wrong", dir.display()).into());
        }
    }
    if args.table {
        return table::run(args);
    }
    COUNTING.store(args.count_allocs, Ordering::Relaxed);
    let outcome = match (args.peer, args.floor) {
        (Some(_), Some(_)) => return Err("--peer and --floor exclude each other".into()),
        (Some(peer), None) => flood_peer(args, peer, &audit_dir, &debug_dir)?,
        (None, Some(floor)) => flood_floor(args, floor)?,
        (None, None) => flood_ours(args, &audit_dir, &debug_dir)?,
    };
    report(args, &outcome);
    if args.count_allocs {
        let emitted = args.events + args.events / 2;
        let allocations = outcome.allocations;
        println!(
            "allocations={allocations} allocs_per_event={:.3}",
            allocations as f64 / emitted.max(1) as f64
        );
    }
    Ok(())
}

fn file_sink(dir: &Path, args: &Args) -> FileSink {
    let sink = FileSink::new(dir)
        .rotation(Rotation::Daily)
        .compress(args.compress)
        .index(args.index);
    match args.max_file_size {
        Some(bytes) => sink.max_file_size(bytes),
        None => sink,
    }
}

fn audit_sink(dir: &Path, args: &Args) -> FileSink {
    let sink = file_sink(dir, args);
    if args.no_fsync {
        sink.durability(Durability::Never)
    } else {
        sink
    }
}

fn chain(args: &Args) -> Result<ChainConfig, Box<dyn Error>> {
    let mut chain = ChainConfig::new();
    if args.keyed {
        chain = chain.key(ChainKey::new("k1", b"flood chain key"));
    }
    if args.signed {
        #[cfg(feature = "signed-seals")]
        {
            use tracing_audit::chain::SigningState;
            let state = args.dir.join("flood.signing");
            let pk0 = SigningState::generate(&state)?;
            // For `tracing-audit verify --public-key DIR/flood.pk0`.
            std::fs::write(args.dir.join("flood.pk0"), format!("{pk0}\n"))?;
            chain = chain
                .signing(SigningState::load(&state)?)
                .epoch(std::time::Duration::from_secs(1));
        }
        #[cfg(not(feature = "signed-seals"))]
        return Err("--signed needs --features signed-seals".into());
    }
    if args.tree {
        #[cfg(feature = "tlog")]
        {
            use tracing_audit::chain::LogKey;
            let key = LogKey::load_or_create(args.dir.join("flood.logkey"), "flood.example/audit")?;
            chain = chain.log_key(key);
        }
        #[cfg(not(feature = "tlog"))]
        return Err("--tree needs --features tlog".into());
    }
    Ok(chain)
}

fn flood_ours(args: &Args, audit_dir: &Path, debug_dir: &Path) -> Result<Outcome, Box<dyn Error>> {
    let builder = AuditLayer::builder()
        .audit_to_files(audit_sink(audit_dir, args))
        .debug_to_files(file_sink(debug_dir, args))
        .debug_filter("info")
        .chain(chain(args)?);
    let builder = if args.shred {
        #[cfg(feature = "shred")]
        {
            use tracing_audit::shred::ShredConfig;
            let master = tracing_audit::KeySource::bytes(b"flood master key".to_vec());
            builder.shred(ShredConfig::new(args.dir.join("flood.keys"), master))
        }
        #[cfg(not(feature = "shred"))]
        return Err("--shred needs --features shred".into());
    } else {
        builder
    };
    let (layer, guard) = builder.build()?;
    tracing_subscriber::registry().with(layer).init();
    let handle = guard.handle();

    let started = Instant::now();
    emit_from_threads(args.events, args.threads)?;
    // Dropping the guard drains both queues and fsyncs: part of the measured time.
    drop(guard);
    let secs = started.elapsed().as_secs_f64();
    let usage = usage();
    let allocations = allocations();

    let audit_health = handle.health(Stream::Audit);
    if audit_health.failed > 0 {
        eprintln!("flood: audit failures: {audit_health:?}");
    }
    Ok(Outcome {
        audit_written: count_records(audit_dir, Stream::Audit)?,
        debug_written: count_records(debug_dir, Stream::Debug)?,
        debug_dropped: handle.health(Stream::Debug).dropped,
        secs,
        usage,
        allocations,
    })
}

/// The hand-built alternative's queueing mode.
#[derive(Debug, Clone, Copy)]
enum Peer {
    /// `tracing_appender::non_blocking` as is: drops lines when its channel is full.
    Lossy,
    /// `NonBlockingBuilder::default().lossy(false)`: blocks the caller instead.
    Lossless,
}

impl Peer {
    fn parse(value: &str) -> Result<Peer, String> {
        match value {
            "lossy" => Ok(Peer::Lossy),
            "lossless" => Ok(Peer::Lossless),
            other => Err(format!("--peer: {other:?} is neither lossy nor lossless")),
        }
    }
}

/// The same flood through two `fmt` JSON layers into `non_blocking` rolling files, named so
/// [`count_records`] finds them (`audit.<date>.jsonl`).
fn flood_peer(
    args: &Args,
    peer: Peer,
    audit_dir: &Path,
    debug_dir: &Path,
) -> Result<Outcome, Box<dyn Error>> {
    use tracing_appender::non_blocking::NonBlockingBuilder;
    use tracing_appender::rolling::{RollingFileAppender, Rotation as PeerRotation};

    let appender = |dir: &Path, prefix: &str| {
        RollingFileAppender::builder()
            .rotation(PeerRotation::DAILY)
            .filename_prefix(prefix)
            .filename_suffix("jsonl")
            .build(dir)
    };
    let lossy = matches!(peer, Peer::Lossy);
    let (audit_writer, audit_guard) = NonBlockingBuilder::default()
        .lossy(lossy)
        .finish(appender(audit_dir, "audit")?);
    let (debug_writer, debug_guard) = NonBlockingBuilder::default()
        .lossy(lossy)
        .finish(appender(debug_dir, "debug")?);
    let debug_errors = debug_writer.error_counter();
    hand_built::subscriber(audit_writer, debug_writer).init();

    let started = Instant::now();
    emit_from_threads(args.events, args.threads)?;
    // Dropping the guards flushes what is still queued: part of the measured time, as for ours.
    drop(audit_guard);
    drop(debug_guard);
    let secs = started.elapsed().as_secs_f64();
    let usage = usage();
    let allocations = allocations();

    Ok(Outcome {
        audit_written: count_records(audit_dir, Stream::Audit)?,
        debug_written: count_records(debug_dir, Stream::Debug)?,
        debug_dropped: debug_errors.dropped_lines() as u64,
        secs,
        usage,
        allocations,
    })
}

/// Which floor of `benches/support/floors.rs` to run.
#[derive(Debug, Clone, Copy)]
enum Floor {
    Write,
    Null,
}

impl Floor {
    fn parse(value: &str) -> Result<Floor, String> {
        match value {
            "write" => Ok(Floor::Write),
            "null" => Ok(Floor::Null),
            other => Err(format!("--floor: {other:?} is neither write nor null")),
        }
    }
}

/// The same flood through a floor layer; the write floor's lines are counted in its one file.
fn flood_floor(args: &Args, floor: Floor) -> Result<Outcome, Box<dyn Error>> {
    let path = args.dir.join("floor.jsonl");
    match floor {
        Floor::Write => {
            let file = fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            tracing_subscriber::registry()
                .with(floors::WriteFloor::new(file))
                .init()
        }
        Floor::Null => tracing_subscriber::registry()
            .with(floors::NullFloor)
            .init(),
    }
    let started = Instant::now();
    // Each emitting thread writes its buffer out when it exits, before `join` returns.
    emit_from_threads(args.events, args.threads)?;
    let secs = started.elapsed().as_secs_f64();
    let usage = usage();
    let allocations = allocations();
    let (mut audit_written, mut debug_written) = (0, 0);
    if let Floor::Write = floor {
        for line in BufReader::new(fs::File::open(&path)?).split(b'\n') {
            if line?.starts_with(floors::AUDIT_MARK) {
                audit_written += 1;
            } else {
                debug_written += 1;
            }
        }
    }
    Ok(Outcome {
        audit_written,
        debug_written,
        debug_dropped: 0,
        secs,
        usage,
        allocations,
    })
}

/// One thread's share of the events numbered `0..events`: every audit event in its own request
/// span, and a debug event after every odd-numbered one (N/2 in total).
/// Runs [`emit`] on `threads` threads and waits for all of them.
fn emit_from_threads(events: u64, threads: u64) -> Result<(), Box<dyn Error>> {
    let workers: Vec<_> = (0..threads)
        .map(|t| std::thread::spawn(move || emit(t, threads, events)))
        .collect();
    for worker in workers {
        worker.join().map_err(|_| "an emitting thread panicked")?;
    }
    Ok(())
}

fn emit(thread: u64, threads: u64, events: u64) {
    for request_id in (thread..events).step_by(threads as usize) {
        let span = tracing::info_span!("request", request_id, user = "alice");
        let _entered = span.enter();
        tracing::info!(
            target: "audit",
            actor = "alice",
            action = "document.read",
            resource = "doc-42",
            outcome = "success",
            "document read"
        );
        if request_id % 2 == 1 {
            tracing::info!(target: "flood", bytes = 4096u64, cache = "miss", "served from disk");
        }
    }
}

/// Counts the application's records in a sink directory: plain and gzipped data files, minus
/// the lines the sink adds itself (chain control records, drop reports).
fn count_records(dir: &Path, stream: Stream) -> Result<u64, Box<dyn Error>> {
    let prefix = format!("{}.", stream.as_str());
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&prefix) || name.contains(".current.") {
            continue;
        }
        let file = fs::File::open(entry.path())?;
        let reader: Box<dyn Read> = if name.ends_with(".jsonl.gz") {
            gunzip(file)?
        } else if name.ends_with(".jsonl") {
            Box::new(file)
        } else {
            continue;
        };
        for line in BufReader::new(reader).lines() {
            let line = line?;
            let own = line.contains("\"stream\":\"audit\",\"record\":\"")
                || line.contains("\"target\":\"tracing_audit::sink\"");
            if !own {
                total += 1;
            }
        }
    }
    Ok(total)
}

#[cfg(feature = "gzip")]
fn gunzip(file: fs::File) -> Result<Box<dyn Read>, Box<dyn Error>> {
    Ok(Box::new(flate2::read::GzDecoder::new(file)))
}

#[cfg(not(feature = "gzip"))]
fn gunzip(_file: fs::File) -> Result<Box<dyn Read>, Box<dyn Error>> {
    Err("found a .gz file but the gzip feature is off".into())
}

fn report(args: &Args, outcome: &Outcome) {
    let emitted = args.events + args.events / 2;
    let per_sec = emitted as f64 / outcome.secs.max(1e-9);
    println!(
        "audit_written={} debug_written={} debug_dropped={} secs={:.3} events_per_sec={:.0} cpu_secs={:.3} peak_rss_kb={}",
        outcome.audit_written,
        outcome.debug_written,
        outcome.debug_dropped,
        outcome.secs,
        per_sec,
        outcome.usage.cpu_secs,
        outcome.usage.peak_rss_kb
    );
}

/// `--table`: every setup in its own child process, alternating, and one table of the results.
mod table {
    use std::error::Error;
    use std::process::Command;

    use super::Args;

    /// A setup of the table: its name and the flags that select it.
    const SETUPS: [(&str, &[&str]); 4] = [
        ("ours", &[]),
        ("peer `lossy(false)`", &["--peer", "lossless"]),
        ("write floor", &["--floor", "write"]),
        ("null floor", &["--floor", "null"]),
    ];

    /// One child's last line, parsed.
    #[derive(Debug, Clone, Copy, Default)]
    struct Run {
        audit_written: u64,
        events_per_sec: f64,
        cpu_secs: f64,
        peak_rss_kb: u64,
    }

    pub(super) fn run(args: &Args) -> Result<(), Box<dyn Error>> {
        let exe = std::env::current_exe()?;
        let mut ours_flags = Vec::new();
        if args.no_fsync {
            ours_flags.push("--no-fsync");
        }
        if args.keyed {
            ours_flags.push("--keyed");
        }
        // runs[setup][round]
        let mut runs = vec![Vec::new(); SETUPS.len()];
        for round in 1..=args.rounds {
            for (index, (name, flags)) in SETUPS.iter().enumerate() {
                let dir = args.dir.join(format!("round{round}-{index}"));
                std::fs::create_dir_all(&dir)?;
                let mut command = Command::new(&exe);
                command
                    .arg("--dir")
                    .arg(&dir)
                    .args(["--events", &args.events.to_string()])
                    .args(["--threads", &args.threads.to_string()])
                    .args(*flags);
                if index == 0 {
                    command.args(&ours_flags);
                }
                let output = command.output()?;
                std::fs::remove_dir_all(&dir)?;
                let stdout = String::from_utf8_lossy(&output.stdout);
                let last = stdout.lines().last().unwrap_or_default();
                eprintln!("round {round} {name}: {last}");
                if !output.status.success() {
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    return Err(format!("{name} failed: {stderr}").into());
                }
                runs[index].push(parse(last)?);
            }
        }
        print_table(args, &runs);
        Ok(())
    }

    fn parse(line: &str) -> Result<Run, Box<dyn Error>> {
        let mut run = Run::default();
        for pair in line.split_whitespace() {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            match key {
                "audit_written" => run.audit_written = value.parse()?,
                "events_per_sec" => run.events_per_sec = value.parse()?,
                "cpu_secs" => run.cpu_secs = value.parse()?,
                "peak_rss_kb" => run.peak_rss_kb = value.parse()?,
                _ => {}
            }
        }
        Ok(run)
    }

    fn print_table(args: &Args, runs: &[Vec<Run>]) {
        let emitted = args.events + args.events / 2;
        println!(
            "{} audit + {} debug events, {} threads, {} rounds{}",
            args.events,
            args.events / 2,
            args.threads,
            args.rounds,
            if args.no_fsync {
                ", ours --no-fsync"
            } else {
                ""
            }
        );
        println!();
        println!("| setup | events/s (rounds) | CPU s, user+sys (rounds) | CPU µs/event (median) | peak RSS MB (max) | audit lines |");
        println!("|---|---|---|---:|---:|---|");
        for ((name, _), rounds) in SETUPS.iter().zip(runs) {
            let list =
                |f: &dyn Fn(&Run) -> String| rounds.iter().map(f).collect::<Vec<_>>().join(" / ");
            let mut per_event: Vec<f64> = rounds
                .iter()
                .map(|r| r.cpu_secs * 1e6 / emitted as f64)
                .collect();
            per_event.sort_by(f64::total_cmp);
            let rss = rounds.iter().map(|r| r.peak_rss_kb).max().unwrap_or(0);
            println!(
                "| {name} | {} | {} | {:.3} | {:.1} | {} |",
                list(&|r| format!("{:.0}", r.events_per_sec)),
                list(&|r| format!("{:.2}", r.cpu_secs)),
                per_event[per_event.len() / 2],
                rss as f64 / 1024.0,
                list(&|r| r.audit_written.to_string()),
            );
        }
        println!();
        println!("| ratio, per round | values |");
        println!("|---|---|");
        let ratio = |name: &str, other: usize, f: &dyn Fn(&Run, &Run) -> f64| {
            let values: Vec<String> = runs[0]
                .iter()
                .zip(&runs[other])
                .map(|(ours, them)| format!("{:.2}", f(ours, them)))
                .collect();
            println!("| {name} | {} |", values.join(" / "));
        };
        let speed = |ours: &Run, them: &Run| ours.events_per_sec / them.events_per_sec;
        let cpu = |ours: &Run, them: &Run| ours.cpu_secs / them.cpu_secs;
        ratio("ours / peer, events/s", 1, &speed);
        ratio("ours / peer, CPU per event (target <= 0.2)", 1, &cpu);
        ratio("ours / write floor, events/s (target >= 0.5)", 2, &speed);
        ratio("ours / write floor, CPU per event", 2, &cpu);
        ratio("ours / null floor, CPU per event", 3, &cpu);
    }
}
