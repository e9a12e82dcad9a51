//! What the HTTP audit middleware costs, against the same service without it and against the
//! peer a user would pick instead, in one run.
//!
//! The service is the example's trivial endpoint: `GET /reports/{id}` behind the example's
//! authentication middleware, a handler that logs a debug event (filtered out at `info`) and
//! formats a small JSON answer. Three sides:
//!
//! | side | middleware | subscriber |
//! |---|---|---|
//! | `plain` | none | the crate's `AuditLayer`, both streams to files, keyed chain (HMAC) |
//! | `ours` | `HttpAuditLayer::new()` (default policy: `Metadata`, both stages, fail-open) | the same |
//! | `peer` | tower-http `TraceLayer` at `info` (a span per request, one event per response) | `fmt().json()` through `tracing-appender`'s non-blocking writer to a file |
//!
//! Each side is served by axum on 127.0.0.1 from a runtime of its own (two workers, the issue's
//! machine) whose threads carry that side's subscriber. A load generator in this process (hyper's
//! HTTP/1 client on keep-alive connections, on a runtime of its own) keeps N connections busy
//! for a fixed time per round and records every request's latency; rounds alternate between the
//! sides so drift on a shared machine hits all three.
//!
//! `cargo bench --features http,axum --bench http`; `HTTP_BENCH_SECONDS` sets the seconds per
//! round (default 2), `HTTP_BENCH_ROUNDS` the rounds (default 3). `HTTP_BENCH_DIRECT_ONLY=1`
//! skips the network and calls the routers directly (for profiling the middleware's own work).

use axum::extract::{Path, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::http::{Actor, HttpAuditLayer, Policy, Stage};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

const CONCURRENCY: [usize; 2] = [8, 32];

/// The sides compared, in the order of the table above, and `ours-1`: the middleware with a
/// policy that records only `response_complete` (one record per request, still one for every
/// request, cancelled ones included).
const SIDES: [&str; 4] = ["plain", "ours", "peer", "ours-1"];

async fn authenticate(mut request: Request, next: Next) -> Response {
    if request
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == b"Bearer alice-token")
    {
        request
            .extensions_mut()
            .insert(Actor::new("alice").groups(["analyst"]));
    }
    next.run(request).await
}

async fn report(actor: Option<Extension<Actor>>, Path(id): Path<u32>) -> String {
    tracing::debug!(report = id, "loading report");
    let owner = actor
        .map(|Extension(a)| a.name().to_owned())
        .unwrap_or_default();
    format!("{{\"id\":{id},\"owner\":\"{owner}\",\"rows\":42}}")
}

fn app(side: usize) -> Router {
    use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
    let router = Router::new().route("/reports/{id}", get(report));
    let router = match side {
        0 => router,
        1 => router.layer(HttpAuditLayer::new()),
        3 => router.layer(
            HttpAuditLayer::new().policy(Policy::default().omit_stages([Stage::RequestReceived])),
        ),
        // What the tower-http documentation suggests for request logs, at `info` so that the
        // span and the response line are not filtered out.
        _ => router.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        ),
    };
    router.layer(middleware::from_fn(authenticate))
}

/// A server for `side` on a runtime of its own whose threads use `dispatch`.
struct Server {
    addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(side: usize, dispatch: tracing::Dispatch) -> Server {
        let for_threads = dispatch.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                std::mem::forget(tracing::dispatcher::set_default(&for_threads));
            })
            .build()
            .unwrap();
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = tracing::dispatcher::with_default(&dispatch, || app(side));
            tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await;
            });
            addr
        });
        Server { addr, runtime }
    }
}

/// One keep-alive connection sending requests back to back until `stop`; each latency.
async fn connection(addr: SocketAddr, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(1 << 14);
    let mut i = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let request = http::Request::get(format!("/reports/{}", i % 100))
            .header("host", "bench")
            .header("authorization", "Bearer alice-token")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let start = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let _ = response.into_body().collect().await.unwrap();
        latencies.push(start.elapsed());
        i = i.wrapping_add(1);
    }
    latencies
}

/// CPU time (user and system) this process has used, all threads: the server's, its
/// subscriber's writer threads, and the load generator's (the same work for every side).
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// What one round measured.
#[derive(Clone, Default)]
struct Round {
    latencies: Vec<Duration>,
    rps: f64,
    /// Process CPU time per request.
    cpu: Duration,
}

/// `concurrency` connections for `length`: every latency, the requests per second and the CPU
/// time per request.
async fn round(addr: SocketAddr, concurrency: usize, length: Duration) -> Round {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu = cpu_time();
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(connection(addr, stop.clone())))
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let rps = all.len() as f64 / start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu) / all.len().max(1) as u32;
    Round {
        latencies: all,
        rps,
        cpu,
    }
}

/// The middleware's work without the network: `n` requests through `app(side)` called directly
/// on this thread, median nanoseconds per request over `rounds` interleaved rounds.
fn direct(dispatches: &[tracing::Dispatch], n: usize, rounds: usize) -> Vec<f64> {
    use tower_service::Service;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let mut per_side: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
    let mut services: Vec<_> = (0..SIDES.len())
        .map(|side| app(side).into_service())
        .collect();
    // HTTP_BENCH_SIDE=ours: only that side (for a profile of one).
    let only = std::env::var("HTTP_BENCH_SIDE").ok();
    for _ in 0..rounds {
        for (side, service) in services.iter_mut().enumerate() {
            if only.as_deref().is_some_and(|o| o != SIDES[side]) {
                per_side[side].push(0.0);
                continue;
            }
            let _default = tracing::dispatcher::set_default(&dispatches[side]);
            let start = Instant::now();
            runtime.block_on(async {
                for i in 0..n {
                    let mut request = http::Request::get(format!("/reports/{}", i % 100))
                        .header("authorization", "Bearer alice-token")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    let response = service.call(request).await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            });
            per_side[side].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    per_side
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Total bytes of the regular files under `dir`.
fn bytes_under(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            total += bytes_under(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// The crate's layer writing both streams under `dir` with a keyed chain, as a subscriber.
fn audit_subscriber(
    dir: &std::path::Path,
) -> (tracing::Dispatch, tracing_audit::layer::AuditGuard) {
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.join("audit")))
        .debug_to_files(FileSink::new(dir.join("debug")))
        .debug_filter("info")
        .chain(ChainConfig::new().key(ChainKey::new("k1", b"bench chain key, not a secret")))
        .build()
        .unwrap();
    (
        tracing::Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    )
}

fn main() {
    // `cargo test --benches` runs benches with `--test`: a smoke run is enough there.
    let smoke = std::env::args().any(|a| a == "--test");
    let seconds = if smoke {
        0.2
    } else {
        env_number("HTTP_BENCH_SECONDS", 2) as f64
    };
    let rounds = if smoke {
        1
    } else {
        env_number("HTTP_BENCH_ROUNDS", 3) as usize
    };
    let length = Duration::from_secs_f64(seconds);

    let dir = tempfile::tempdir().unwrap();
    let (ours, guard) = audit_subscriber(&dir.path().join("ours"));
    let (ours_one, guard_one) = audit_subscriber(&dir.path().join("ours-1"));
    let handle = guard.handle();
    let (writer, appender_guard) =
        tracing_appender::non_blocking(tracing_appender::rolling::never(dir.path(), "peer.log"));
    let peer = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::INFO)
            .with_writer(writer)
            .finish(),
    );
    let dispatches = [ours.clone(), ours, peer, ours_one];

    let mut requests = [0usize; 4];
    if std::env::var_os("HTTP_BENCH_DIRECT_ONLY").is_none() {
        let servers: Vec<Server> = (0..SIDES.len())
            .map(|side| Server::start(side, dispatches[side].clone()))
            .collect();
        let client = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        client.block_on(async {
            for server in &servers {
                // Warm-up: connections, allocator, page cache of the new files.
                round(server.addr, 8, length / 4).await;
            }
            println!(
                "{:>5} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12} {:>9}",
                "conns",
                "side",
                "req/s",
                "p50 µs",
                "p99 µs",
                "× plain",
                "p50 ×",
                "CPU µs/req",
                "CPU ×"
            );
            for concurrency in CONCURRENCY {
                let mut sides: Vec<(Vec<Duration>, Vec<f64>, Vec<Duration>)> =
                    vec![Default::default(); SIDES.len()];
                for r in 0..rounds {
                    // The order turns each round: no side always follows the same one.
                    for k in 0..SIDES.len() {
                        let side = (r + k) % SIDES.len();
                        let got = round(servers[side].addr, concurrency, length).await;
                        requests[side] += got.latencies.len();
                        sides[side].0.extend(got.latencies);
                        sides[side].1.push(got.rps);
                        sides[side].2.push(got.cpu);
                    }
                }
                let mut base = (0.0, Duration::ZERO, Duration::ZERO);
                for (side, (lat, rps, cpu)) in sides.iter_mut().enumerate() {
                    lat.sort();
                    rps.sort_by(f64::total_cmp);
                    cpu.sort();
                    let (rps, p50, cpu) =
                        (rps[rps.len() / 2], percentile(lat, 0.5), cpu[cpu.len() / 2]);
                    if side == 0 {
                        base = (rps, p50, cpu);
                    }
                    println!(
                        "{:>5} {:>6} {:>9.0} {:>9.1} {:>9.1} {:>8.2}× {:>8.2}× {:>12.1} {:>8.2}×",
                        concurrency,
                        SIDES[side],
                        rps,
                        p50.as_secs_f64() * 1e6,
                        percentile(lat, 0.99).as_secs_f64() * 1e6,
                        rps / base.0,
                        p50.as_secs_f64() / base.1.as_secs_f64(),
                        cpu.as_secs_f64() * 1e6,
                        cpu.as_secs_f64() / base.2.as_secs_f64(),
                    );
                }
            }
        });
        drop(client);
        for server in servers {
            server.runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
    let n = if smoke { 20 } else { 20_000 };
    let costs = direct(&dispatches, n, rounds * 2);
    println!("\nwithout the network (router called directly, median of rounds):");
    for (side, ns) in costs.iter().enumerate() {
        println!(
            "{:>6} {:>8.2} µs/request  {:>+6.2} µs",
            SIDES[side],
            ns / 1e3,
            (ns - costs[0]) / 1e3
        );
        requests[side] += n * rounds * 2;
    }
    let health = handle.health(tracing_audit::Stream::Audit);
    drop(guard);
    drop(guard_one);
    drop(appender_guard);
    let ours_bytes = bytes_under(&dir.path().join("ours"));
    let one_bytes = bytes_under(&dir.path().join("ours-1"));
    let peer_bytes = bytes_under(dir.path()) - ours_bytes - one_bytes;
    println!(
        "\nbytes per request (both streams' files): ours {:.0}, ours-1 {:.0}, peer {:.0}; ours: audit records written {}, failed {}",
        ours_bytes as f64 / requests[1].max(1) as f64,
        one_bytes as f64 / requests[3].max(1) as f64,
        peer_bytes as f64 / requests[2].max(1) as f64,
        health.written,
        health.failed
    );
}
