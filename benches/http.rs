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
use tracing_audit::http::{Actor, HttpAuditLayer};
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

fn app(audited: bool) -> Router {
    let router = Router::new().route("/reports/{id}", get(report));
    let router = if audited {
        router.layer(HttpAuditLayer::new())
    } else {
        router
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
    runtime.block_on(async {
        let plain = serve(app(false)).await;
        let audited = serve(app(true)).await;
        // Warm-up: connections, allocator, page cache of the new files.
        round(plain, 2, n / 4 + 1).await;
        round(audited, 2, n / 4 + 1).await;

        println!(
            "{:>5} {:>9} {:>10} {:>10} {:>10} {:>10}",
            "conns", "service", "req/s", "p50 µs", "p90 µs", "p99 µs"
        );
        for concurrency in CONCURRENCY {
            let mut sides: [(Vec<Duration>, Vec<f64>); 2] = Default::default();
            for _ in 0..rounds {
                for (side, addr) in [plain, audited].into_iter().enumerate() {
                    let (lat, rps) = round(addr, concurrency, n).await;
                    sides[side].0.extend(lat);
                    sides[side].1.push(rps);
                }
            }
            let mut medians = [Duration::ZERO; 2];
            let mut rates = [0.0; 2];
            for (side, (lat, rps)) in sides.iter_mut().enumerate() {
                lat.sort();
                rps.sort_by(f64::total_cmp);
                medians[side] = percentile(lat, 0.5);
                rates[side] = rps[rps.len() / 2];
                println!(
                    "{:>5} {:>9} {:>10.0} {:>10.1} {:>10.1} {:>10.1}",
                    concurrency,
                    ["plain", "audited"][side],
                    rates[side],
                    percentile(lat, 0.5).as_secs_f64() * 1e6,
                    percentile(lat, 0.9).as_secs_f64() * 1e6,
                    percentile(lat, 0.99).as_secs_f64() * 1e6,
                );
            }
            let added = medians[1].as_secs_f64() / medians[0].as_secs_f64() - 1.0;
            println!(
                "{:>5} added median latency {:+.1}% ({:+.1} µs), req/s {:+.1}%",
                concurrency,
                added * 100.0,
                (medians[1].as_secs_f64() - medians[0].as_secs_f64()) * 1e6,
                (rates[1] / rates[0] - 1.0) * 100.0
            );
        }
    });
    let health = handle.health(tracing_audit::Stream::Audit);
    println!(
        "audit records written: {}, failed: {}",
        health.written, health.failed
    );
    drop(runtime);
    drop(guard);
}
