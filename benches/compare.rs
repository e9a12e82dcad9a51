//! This crate against the setup a team would otherwise hand-build ("the peer"): two
//! `tracing_subscriber::fmt::layer().json()` layers with per-layer filters (the audit layer
//! filtered to the `audit` target, the debug layer by an `EnvFilter`), each writing through
//! `tracing_appender::non_blocking` into a discarding writer or a `tracing_appender::rolling`
//! file.
//!
//! Every group has a `peer` and an `ours` member doing the same thing: same events, same spans,
//! same kind of output. Only the caller's cost is measured; both sides write on a background
//! thread. Ours always redacts and chains (the chain is always on; the `_files` group adds a
//! chain key and a hash key, so its MAC is an HMAC).
//!
//! Run with `cargo bench --bench compare`; the results go into docs/benchmarks.md. With
//! `--features opentelemetry` it also measures what reading OpenTelemetry ids adds
//! (`otel_ids_audit_event_in_span`, ours against ours).

#[path = "support/peer.rs"]
mod hand_built;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use tracing::Dispatch;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::layer::{AuditGuard, AuditLayer};
use tracing_audit::sink::{Durability, FileSink};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Our debug stream's directives; the peer's are the same plus excluding the audit target
/// (`hand_built::DEBUG_DIRECTIVES`).
const DEBUG_DIRECTIVES: &str = "info";

/// A subscriber plus whatever must stay alive (and flushes on drop) while it is in use.
struct Setup {
    dispatch: Dispatch,
    _guards: Guards,
}

#[allow(dead_code)] // Held only for their `Drop`.
enum Guards {
    Peer(WorkerGuard, WorkerGuard),
    Ours(AuditGuard),
}

fn peer<A, D>(audit: A, debug: D) -> Setup
where
    A: std::io::Write + Send + 'static,
    D: std::io::Write + Send + 'static,
{
    let (audit_writer, audit_guard) = tracing_appender::non_blocking(audit);
    let (debug_writer, debug_guard) = tracing_appender::non_blocking(debug);
    let subscriber = hand_built::subscriber(audit_writer, debug_writer);
    Setup {
        dispatch: Dispatch::new(subscriber),
        _guards: Guards::Peer(audit_guard, debug_guard),
    }
}

fn peer_discard() -> Setup {
    peer(std::io::sink(), std::io::sink())
}

fn peer_files(dir: &Path) -> Setup {
    peer(
        tracing_appender::rolling::daily(dir.join("audit"), "audit.log"),
        tracing_appender::rolling::daily(dir.join("debug"), "debug.log"),
    )
}

fn ours<M>(audit: M, debug: M) -> Setup
where
    M: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (layer, guard) = AuditLayer::builder()
        .audit_to(audit)
        .debug_to(debug)
        .debug_filter(DEBUG_DIRECTIVES)
        .build()
        .expect("layer builds");
    Setup {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        _guards: Guards::Ours(guard),
    }
}

fn ours_discard() -> Setup {
    ours(std::io::sink, std::io::sink)
}

/// Real files, a keyed chain (HMAC) and a hash key for pseudonyms; the audit sink fsyncs every
/// batch (its default).
fn ours_files(dir: &Path) -> Setup {
    ours_files_with(dir, Durability::EveryBatch)
}

/// [`ours_files`] without fsync, the peer's (only) durability.
fn ours_files_no_fsync(dir: &Path) -> Setup {
    ours_files_with(dir, Durability::Never)
}

fn ours_files_with(dir: &Path, durability: Durability) -> Setup {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.join("audit")).durability(durability))
        .debug_to_files(FileSink::new(dir.join("debug")))
        .debug_filter(DEBUG_DIRECTIVES)
        .chain(ChainConfig::new().key(ChainKey::new("k1", b"bench chain key, 32 bytes long..")))
        .hash_key(tracing_audit::KeySource::bytes(*b"bench hash key"))
        .build()
        .expect("layer builds");
    Setup {
        dispatch: Dispatch::new(tracing_subscriber::registry().with(layer)),
        _guards: Guards::Ours(guard),
    }
}

/// The audit event every audit benchmark emits.
fn audit_event() {
    tracing::info!(
        target: "audit",
        actor = "alice",
        action = "document.read",
        resource = "doc-42",
        outcome = "success",
        "document read"
    );
}

/// Builds one side's subscriber when its turn comes.
type MakeSetup<'a> = Box<dyn FnOnce() -> Setup + 'a>;

/// Lets the previous measurement's aftermath die down before the next one starts: the kernel
/// writing back the megabytes a `_files` group left in the page cache would otherwise compete
/// with whichever side is measured next (on a 2-core machine, enough to swing a median by 2x).
fn settle() {
    // SAFETY: `sync` takes no arguments and has no memory-safety preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(200));
}

/// Measures both sides of `group`, running `measure` under each side's subscriber. Each side
/// is set up only when its turn comes, so only one subscriber (and its writer threads) exists
/// during a measurement.
fn each_side(
    c: &mut Criterion,
    group: &str,
    peer: impl FnOnce() -> Setup,
    ours: impl FnOnce() -> Setup,
    mut measure: impl FnMut(&mut BenchmarkGroup<'_, WallTime>, &str),
) {
    let mut g = c.benchmark_group(group);
    let sides: [(&str, MakeSetup<'_>); 2] = [("peer", Box::new(peer)), ("ours", Box::new(ours))];
    for (name, setup) in sides {
        settle();
        let setup = setup();
        tracing::dispatcher::with_default(&setup.dispatch, || measure(&mut g, name));
        drop(setup);
    }
    g.finish();
}

/// [`audit_event`] inside an entered request span (created once, outside the loop), back to
/// back, or with a pause of `gap` after each event that is not timed.
fn bench_audit_in_span(
    c: &mut Criterion,
    group: &str,
    peer: impl FnOnce() -> Setup,
    ours: impl FnOnce() -> Setup,
    gap: Option<Duration>,
) {
    each_side(c, group, peer, ours, |g, name| {
        let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
        let _entered = span.enter();
        match gap {
            None => g.bench_function(name, |b| b.iter(audit_event)),
            Some(gap) => g.bench_function(name, |b| b.iter_custom(|iters| paced(iters, gap))),
        };
    });
}

/// Emits `iters` audit events, one every `gap`, and returns the time spent in the events.
fn paced(iters: u64, gap: Duration) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        audit_event();
        let end = Instant::now();
        spent += end - start;
        while end.elapsed() < gap {
            std::hint::spin_loop();
        }
    }
    spent
}

fn audit_event_in_span(c: &mut Criterion) {
    bench_audit_in_span(c, "audit_event_in_span", peer_discard, ours_discard, None);
}

fn audit_event_redaction_chain_files(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    bench_audit_in_span(
        c,
        "audit_event_redaction_chain_files",
        || peer_files(&dir.path().join("peer")),
        || ours_files(&dir.path().join("ours")),
        None,
    );
}

/// Under a sustained flood the audit sink's per-batch fsync, not the caller, sets the pace: this
/// pair shows the caller's own cost when the disk is not waited for.
fn audit_event_redaction_chain_files_no_fsync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    bench_audit_in_span(
        c,
        "audit_event_redaction_chain_files_no_fsync",
        || peer_files(&dir.path().join("peer")),
        || ours_files_no_fsync(&dir.path().join("ours")),
        None,
    );
}

/// The `_files` pair at a rate both sides' writers sustain (one event every 10 µs, 100,000 per
/// second): what the calling thread pays per event when neither side's queue is full, so it
/// measures neither ours waiting for room nor the lossy peer dropping lines. Only the event
/// itself is timed; the pause between events is not.
fn audit_event_redaction_chain_files_paced(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    bench_audit_in_span(
        c,
        "audit_event_redaction_chain_files_paced",
        || peer_files(&dir.path().join("peer")),
        || ours_files(&dir.path().join("ours")),
        Some(Duration::from_micros(10)),
    );
}

/// Runs `f` as a benchmark of each side in `group`.
fn pair(c: &mut Criterion, group: &str, f: fn()) {
    each_side(c, group, peer_discard, ours_discard, |g, name| {
        g.bench_function(name, |b| b.iter(f));
    });
}

fn debug_event(c: &mut Criterion) {
    pair(c, "debug_event", || {
        tracing::info!(target: "app", bytes = black_box(4096u64), cache = "miss", "served from disk");
    });
}

fn disabled_trace(c: &mut Criterion) {
    pair(c, "disabled_trace", || {
        tracing::trace!(target: "app", attempt = black_box(3u64), "retrying");
    });
}

fn span_lifecycle(c: &mut Criterion) {
    pair(c, "span_lifecycle", || {
        let span = tracing::info_span!("request", request_id = black_box(7u64), user = "alice");
        let _entered = span.enter();
    });
}

fn span_late_record(c: &mut Criterion) {
    pair(c, "span_late_record", || {
        let span = tracing::info_span!(
            "request",
            request_id = black_box(7u64),
            user = tracing::field::Empty
        );
        span.record("user", "alice");
        let _entered = span.enter();
    });
}

/// What the `opentelemetry` feature adds to the caller of an audit event when a
/// tracing-opentelemetry layer (the real SDK, spans exported to a discarding exporter) is in the
/// registry: both sides run the same two layers and emit the same event in the same span;
/// `otel_hidden` hides the OpenTelemetry layer from our id lookup (a wrapper that forwards every
/// callback but not the type lookup), so only `otel_ids` reads and writes `trace_id`/`span_id`.
/// The difference between the two is the feature's cost per event: in a long-lived span (ids
/// cached), and with a new span per event (`_new_span`: each event is its span's first record).
#[cfg(feature = "opentelemetry")]
fn otel_ids_audit_event_in_span(c: &mut Criterion) {
    use opentelemetry::trace::TracerProvider as _;
    let mut g = c.benchmark_group("otel_ids_audit_event_in_span");
    for name in ["otel_hidden", "otel_ids"] {
        settle();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(otel_bench::Discard)
            .build();
        let otel = tracing_audit::otel::layer(provider.tracer("bench"));
        let (layer, guard) = AuditLayer::builder()
            .audit_to(std::io::sink)
            .debug_to(std::io::sink)
            .debug_filter(DEBUG_DIRECTIVES)
            .build()
            .expect("layer builds");
        let dispatch = if name == "otel_ids" {
            Dispatch::new(tracing_subscriber::registry().with(layer).with(otel))
        } else {
            Dispatch::new(
                tracing_subscriber::registry()
                    .with(layer)
                    .with(otel_bench::Hidden(otel)),
            )
        };
        tracing::dispatcher::with_default(&dispatch, || {
            {
                let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
                let _entered = span.enter();
                g.bench_function(name, |b| b.iter(audit_event));
            }
            // A new request span per event: the first record in a span looks its ids up.
            g.bench_function(format!("{name}_new_span"), |b| {
                b.iter(|| {
                    let span = tracing::info_span!("request", request_id = 7u64, user = "alice");
                    let _entered = span.enter();
                    audit_event();
                })
            });
        });
        drop(dispatch);
        drop(guard);
    }
    g.finish();
}

#[cfg(feature = "opentelemetry")]
#[path = "support/otel.rs"]
mod otel_bench;

#[cfg(not(feature = "opentelemetry"))]
fn otel_ids_audit_event_in_span(_: &mut Criterion) {}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = audit_event_in_span, audit_event_redaction_chain_files,
        audit_event_redaction_chain_files_no_fsync, audit_event_redaction_chain_files_paced,
        debug_event,
        disabled_trace, span_lifecycle, span_late_record, otel_ids_audit_event_in_span
}
criterion_main!(benches);
