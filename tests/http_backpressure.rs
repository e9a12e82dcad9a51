//! A full audit disk under 32 concurrent clients, against a real axum server on two Tokio
//! workers: the audit queue's back-pressure must reach requests as an await, never as a blocked
//! worker. The disk is a writer that fails with ENOSPC while `full` is set (what `/dev/full`
//! does), so the tests can give the space back.

mod http_support;

use axum::routing::get;
use axum::Router;
use http_support::{HttpClient, Server, Trail};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};
use tracing_audit::http::HttpAuditLayer;
use tracing_audit::sink::Overflow;
use tracing_audit::Stream;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

const CLIENTS: usize = 32;
/// A probe or a refusal slower than this means a worker was blocked (they take microseconds).
const ANSWER_BOUND: Duration = Duration::from_secs(3);
const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// A disk that can be filled and emptied.
#[derive(Clone)]
struct Disk {
    full: Arc<AtomicBool>,
    file: Arc<File>,
}

struct DiskWriter(Disk);

impl Write for DiskWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.full.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        (&*self.0.file).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0.file).flush()
    }
}

impl Disk {
    fn full(path: &std::path::Path) -> Disk {
        Disk {
            full: Arc::new(AtomicBool::new(true)),
            file: Arc::new(File::create(path).expect("audit file")),
        }
    }
    fn make_writer(&self) -> BoxMakeWriter {
        let disk = self.clone();
        BoxMakeWriter::new(move || DiskWriter(disk.clone()))
    }
}

/// A trail whose audit stream goes to a full disk through a small queue (it fills in a few
/// dozen records).
fn trail_on_full_disk(overflow: Overflow) -> (Trail, Disk) {
    let mut disk = None;
    let trail = Trail::with(|b, dir| {
        let d = Disk::full(&dir.join("audit.jsonl"));
        let b = b
            .audit_to(d.make_writer())
            .audit(|a| a.queue_capacity(16 << 10).overflow(overflow));
        disk = Some(d);
        b
    });
    (trail, disk.expect("disk"))
}

fn app(audit: HttpAuditLayer) -> Router {
    Router::new()
        .route("/transfer", get(|| async { "moved" }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(audit)
}

/// 32 clients hammer `/transfer` while a probe asks `/healthz`; returns the statuses of
/// `/transfer` and panics if any answer (probe or refusal) takes longer than `ANSWER_BOUND`.
async fn load(client: &Arc<HttpClient>, rounds: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut slowest = Duration::ZERO;
            for r in 0..rounds {
                let id = format!("c{c}-r{r}");
                let asked = Instant::now();
                let reply = timeout(
                    ANSWER_BOUND,
                    client.get("/transfer", &[("x-request-id", &id)]),
                )
                .await
                .unwrap_or_else(|_| panic!("/transfer {id}: no answer within {ANSWER_BOUND:?}"));
                slowest = slowest.max(asked.elapsed());
                statuses.push(reply.status);
            }
            (statuses, slowest)
        }));
    }
    let probe = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..rounds {
                let asked = Instant::now();
                let reply = timeout(ANSWER_BOUND, client.get("/healthz", &[]))
                    .await
                    .unwrap_or_else(|_| {
                        panic!("/healthz probe {i}: no answer within {ANSWER_BOUND:?}")
                    });
                assert_eq!(reply.status, 200, "/healthz is not audited");
                slowest = slowest.max(asked.elapsed());
            }
            slowest
        })
    };
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for task in tasks {
        let (s, slow) = task.await.expect("client task");
        statuses.extend(s);
        slowest = slowest.max(slow);
    }
    let probe_slowest = probe.await.expect("probe task");
    eprintln!("slowest /transfer answer {slowest:?}, slowest /healthz {probe_slowest:?}");
    statuses
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_on_a_full_disk_keeps_probes_and_refusals_answering_and_stops_on_signal() {
    let (trail, _disk) = trail_on_full_disk(Overflow::Block);
    let audit = HttpAuditLayer::new().fail_closed(trail.handle.clone(), Duration::from_millis(250));
    let health = audit.health_handle();
    let mut server = Server::start(&trail.dispatch, app(audit), Duration::from_secs(2));
    let client = Arc::new(HttpClient::new(server.addr));

    let statuses = load(&client, 12).await;
    assert_eq!(statuses.len(), CLIENTS * 12);
    assert!(
        statuses.iter().all(|&s| s == 503),
        "nothing can be made durable: every audited request is refused, got {:?}",
        statuses.iter().filter(|&&s| s != 503).collect::<Vec<_>>()
    );
    let h = health.health();
    assert_eq!(h.rejected_fail_closed, (CLIENTS * 12) as u64);
    let sink = trail.handle.health(Stream::Audit);
    assert!(sink.failing, "the disk is full");
    assert!(
        sink.overflowed > 0,
        "the 16 KiB queue filled, and the records given up on are counted: {sink:?}"
    );
    let started = std::time::Instant::now();
    assert!(
        server.stop(SHUTDOWN_BOUND),
        "the server did not stop within {SHUTDOWN_BOUND:?} of the shutdown signal"
    );
    eprintln!("stopped in {:?}", started.elapsed());
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_serves_again_without_a_restart_once_space_returns() {
    let (trail, disk) = trail_on_full_disk(Overflow::Block);
    let audit = HttpAuditLayer::new().fail_closed(trail.handle.clone(), Duration::from_millis(250));
    let mut server = Server::start(&trail.dispatch, app(audit), Duration::from_secs(2));
    let client = Arc::new(HttpClient::new(server.addr));

    let statuses = load(&client, 6).await;
    assert!(statuses.iter().all(|&s| s == 503));

    disk.full.store(false, Ordering::SeqCst);
    // The writer retries with a backoff of at most 1 s; generous bound for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut served = false;
    while Instant::now() < deadline {
        let reply = timeout(ANSWER_BOUND, client.get("/transfer", &[]))
            .await
            .expect("an answer within the bound");
        if reply.status == 200 {
            served = true;
            break;
        }
        assert_eq!(reply.status, 503);
        // Not crossing a time boundary: waiting for the writer's retry, polled.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "no 200 within 30 s of the disk recovering");
    let statuses = load(&client, 3).await;
    assert!(
        statuses.iter().all(|&s| s == 200),
        "once recovered, every request is served: {statuses:?}"
    );
    assert!(server.stop(SHUTDOWN_BOUND));
}

#[tokio::test(flavor = "current_thread")]
async fn lossless_mode_on_a_full_disk_holds_audited_requests_but_not_the_service() {
    let (trail, _disk) = trail_on_full_disk(Overflow::Block);
    let audit = HttpAuditLayer::new();
    let health = audit.health_handle();
    let mut server = Server::start(&trail.dispatch, app(audit), Duration::from_millis(500));
    let client = Arc::new(HttpClient::new(server.addr));

    // Enough audited requests to fill the queue; they wait (as tasks) for room.
    let mut held = Vec::new();
    for c in 0..CLIENTS * 2 {
        let client = client.clone();
        held.push(tokio::spawn(async move {
            client
                .get("/transfer", &[("x-request-id", &format!("held{c}"))])
                .await
        }));
    }
    // Probes keep answering while they wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = timeout(ANSWER_BOUND, client.get("/healthz", &[]))
            .await
            .expect("/healthz answers while audited requests wait for room");
        assert_eq!(reply.status, 200);
        if trail.handle.health(Stream::Audit).failing
            && health.health().requests as usize >= CLIENTS * 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "the held requests never arrived");
        tokio::task::yield_now().await;
    }
    for _ in 0..20 {
        let reply = timeout(ANSWER_BOUND, client.get("/healthz", &[]))
            .await
            .expect("/healthz answers while audited requests wait for room");
        assert_eq!(reply.status, 200);
    }
    assert!(
        server.stop(SHUTDOWN_BOUND),
        "shutdown completes with requests waiting for room"
    );
    for task in held {
        task.abort();
    }
    let sink = trail.handle.health(Stream::Audit);
    assert!(
        sink.overflowed > 0,
        "records of requests dropped at shutdown are counted, never silently lost: {sink:?}"
    );
}

/// A handler's own audit events on a full disk: emitted with `emit_async`, each waits for room
/// as a task, so the two workers keep answering probes while 32 handlers wait; once space
/// returns every handler finishes and nothing was given up on (lossless `Overflow::Block`).
#[tokio::test(flavor = "current_thread")]
async fn handler_audit_events_on_a_full_disk_wait_as_tasks_and_probes_keep_answering() {
    let (trail, disk) = trail_on_full_disk(Overflow::Block);
    let app = Router::new()
        .route(
            "/transfer",
            get(|| async {
                for n in 0..40u32 {
                    tracing_audit::http::emit_async(|| {
                        tracing::info!(
                            target: "audit",
                            actor = "alice",
                            action = "transfer",
                            resource = "/accounts/7",
                            outcome = "success",
                            n,
                        );
                    })
                    .await;
                }
                "moved"
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    let mut server = Server::start(&trail.dispatch, app, Duration::from_secs(2));
    let client = Arc::new(HttpClient::new(server.addr));

    let transfers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.get("/transfer", &[]).await.status })
        })
        .collect();
    // The queue holds a few dozen records, the handlers want 1280: they are all waiting now,
    // or will be. Probes must still be answered promptly, again and again.
    for i in 0..20 {
        let reply = timeout(ANSWER_BOUND, client.get("/healthz", &[]))
            .await
            .unwrap_or_else(|_| panic!("/healthz probe {i}: no answer within {ANSWER_BOUND:?}"));
        assert_eq!(reply.status, 200);
    }
    assert!(
        transfers.iter().any(|t| !t.is_finished()),
        "handlers are waiting for the full disk"
    );

    disk.full.store(false, Ordering::SeqCst);
    for transfer in transfers {
        let status = timeout(Duration::from_secs(60), transfer)
            .await
            .expect("every handler finishes once space returns")
            .expect("client task");
        assert_eq!(status, 200);
    }
    let sink = trail.handle.health(Stream::Audit);
    assert_eq!(
        sink.overflowed, 0,
        "lossless: nothing given up on: {sink:?}"
    );
    assert!(server.stop(SHUTDOWN_BOUND));
}
