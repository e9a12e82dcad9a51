//! What the HTTP audit middleware adds to a request: the example service's `GET /reports/{id}`
//! (authentication, a handler that logs a debug event) served by axum on 127.0.0.1, with and
//! without `HttpAuditLayer`, driven by a load generator in this process over keep-alive HTTP/1
//! connections.
//!
//! Both sides run under the same subscriber: the crate's `AuditLayer` writing both streams to
//! files with a keyed chain (HMAC), so the difference is the middleware and the two audit
//! records it writes per request (default policy, `Metadata` level, default fail-open mode).
//! Rounds alternate between the two services so drift on the shared machine hits both.
//!
//! `cargo bench --features http,axum --bench http` (HTTP_BENCH_REQUESTS sets the requests per
//! round and connection, default 2000).

use axum::extract::{Path, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing_audit::chain::{ChainConfig, ChainKey};
use tracing_audit::http::{Actor, AuditLevel, HttpAuditLayer, Policy, Rule, Stage};
use tracing_audit::layer::AuditLayer;
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

const ROUNDS: usize = 5;
const CONCURRENCY: [usize; 2] = [1, 8];

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

/// The services compared: without the middleware, then with it under policies that record
/// nothing, one stage, and both stages (the default policy), so the cost splits into the
/// middleware's own work and the records the crate's layer writes.
const SIDES: [&str; 4] = ["plain", "none", "1 record", "default"];

fn app(side: usize) -> Router {
    let router = Router::new().route("/reports/{id}", get(report));
    let router = match side {
        0 => router,
        1 => router
            .layer(HttpAuditLayer::new().policy(Policy::new().rule(Rule::new(AuditLevel::None)))),
        2 => router.layer(
            HttpAuditLayer::new().policy(
                Policy::new()
                    .rule(Rule::new(AuditLevel::Metadata).omit_stages([Stage::RequestReceived])),
            ),
        ),
        _ => router.layer(HttpAuditLayer::new()),
    };
    router.layer(middleware::from_fn(authenticate))
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// One keep-alive connection sending `n` requests back to back; returns each latency.
async fn connection(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
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
    }
    latencies
}

/// `concurrency` connections, `n` requests each; all latencies and the requests per second.
async fn round(addr: SocketAddr, concurrency: usize, n: usize) -> (Vec<Duration>, f64) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(connection(addr, n)))
        .collect();
    let mut all = Vec::with_capacity(concurrency * n);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let rps = all.len() as f64 / start.elapsed().as_secs_f64();
    (all, rps)
}

/// The middleware's cost without the network: `n` requests through `app(side)` called directly
/// on this thread (a current-thread runtime), median nanoseconds per request over `rounds`
/// interleaved rounds. Far less noisy than loopback on a shared machine, and the same CPU work.
fn direct(n: usize, rounds: usize) -> Vec<f64> {
    use tower_service::Service;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    let mut per_side: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
    runtime.block_on(async {
        let mut services: Vec<_> = (0..SIDES.len())
            .map(|side| app(side).into_service())
            .collect();
        for _ in 0..rounds {
            for (side, service) in services.iter_mut().enumerate() {
                let start = Instant::now();
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
                per_side[side].push(start.elapsed().as_nanos() as f64 / n as f64);
            }
        }
    });
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

fn main() {
    // `cargo test --benches` runs benches with `--test`: a smoke run is enough there.
    let smoke = std::env::args().any(|a| a == "--test");
    let n: usize = std::env::var("HTTP_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 20 } else { 2000 });
    let rounds = if smoke { 1 } else { ROUNDS };

    let dir = tempfile::tempdir().unwrap();
    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(dir.path().join("audit")))
        .debug_to_files(FileSink::new(dir.path().join("debug")))
        .debug_filter("info")
        .chain(ChainConfig::new().key(ChainKey::new("k1", b"bench chain key, not a secret")))
        .build()
        .unwrap();
    tracing_subscriber::registry().with(layer).init();
    let handle = guard.handle();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // HTTP_BENCH_DIRECT_ONLY=1: only the direct measurement (for profiling).
    let loopback = std::env::var_os("HTTP_BENCH_DIRECT_ONLY").is_none();
    runtime.block_on(async {
        if !loopback {
            return;
        }
        let mut addrs = Vec::new();
        for side in 0..SIDES.len() {
            let addr = serve(app(side)).await;
            // Warm-up: connections, allocator, page cache of the new files.
            round(addr, 2, n / 4 + 1).await;
            addrs.push(addr);
        }

        println!(
            "{:>5} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "conns", "service", "req/s", "p50 µs", "p90 µs", "p99 µs", "p50 added"
        );
        for concurrency in CONCURRENCY {
            let mut sides: Vec<(Vec<Duration>, Vec<f64>)> = vec![Default::default(); SIDES.len()];
            for _ in 0..rounds {
                for (side, addr) in addrs.iter().enumerate() {
                    let (lat, rps) = round(*addr, concurrency, n).await;
                    sides[side].0.extend(lat);
                    sides[side].1.push(rps);
                }
            }
            let mut base = Duration::ZERO;
            for (side, (lat, rps)) in sides.iter_mut().enumerate() {
                lat.sort();
                rps.sort_by(f64::total_cmp);
                let p50 = percentile(lat, 0.5);
                if side == 0 {
                    base = p50;
                }
                let added = p50.as_secs_f64() - base.as_secs_f64();
                println!(
                    "{:>5} {:>9} {:>10.0} {:>10.1} {:>10.1} {:>10.1} {:>+6.1} µs {:>+5.1}%",
                    concurrency,
                    SIDES[side],
                    rps[rps.len() / 2],
                    p50.as_secs_f64() * 1e6,
                    percentile(lat, 0.9).as_secs_f64() * 1e6,
                    percentile(lat, 0.99).as_secs_f64() * 1e6,
                    added * 1e6,
                    added / base.as_secs_f64() * 100.0,
                );
            }
        }
    });
    let costs = direct(n, rounds * 2);
    println!("\nwithout the network (router called directly, median of rounds):");
    for (side, ns) in costs.iter().enumerate() {
        println!(
            "{:>9} {:>8.2} µs/request  {:>+6.2} µs",
            SIDES[side],
            ns / 1e3,
            (ns - costs[0]) / 1e3
        );
    }
    let health = handle.health(tracing_audit::Stream::Audit);
    println!(
        "audit records written: {}, failed: {}",
        health.written, health.failed
    );
    drop(runtime);
    drop(guard);
}
