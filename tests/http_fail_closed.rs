//! Fail-closed mode (Kubernetes' `blocking-strict`) against a real audit destination that
//! cannot be written: `/dev/full`, where every write fails with ENOSPC (the tests run as root,
//! so file permissions would not stop the writer).

mod http_support;

use axum::routing::get;
use axum::Router;
use http_support::{for_request, serve, HttpClient, Trail};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_audit::http::HttpAuditLayer;
use tracing_audit::layer::AuditHandle;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

struct SharedFile(Arc<File>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

fn dev_full() -> BoxMakeWriter {
    let file = Arc::new(
        OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full"),
    );
    BoxMakeWriter::new(move || SharedFile(Arc::clone(&file)))
}

/// A service whose handler counts its runs, behind `audit` made from the trail's handle.
async fn counting_service(
    audit: impl FnOnce(AuditHandle) -> HttpAuditLayer,
    trail: &Trail,
) -> (
    HttpClient,
    Arc<AtomicUsize>,
    tracing_audit::http::HttpHealthHandle,
) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let layer = audit(trail.handle.clone());
    let health = layer.health_handle();
    let app = Router::new()
        .route(
            "/transfer",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { "moved" }
            }),
        )
        .layer(layer);
    (HttpClient::new(serve(app).await), runs, health)
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_refuses_requests_whose_record_cannot_be_made_durable() {
    let trail = Trail::with(|b, _| b.audit_to(dev_full()));
    let (client, runs, health) = counting_service(
        |h| HttpAuditLayer::new().fail_closed(h, Duration::from_millis(500)),
        &trail,
    )
    .await;

    for i in 0..3 {
        let reply = client
            .get("/transfer", &[("x-request-id", &format!("f{i}"))])
            .await;
        assert_eq!(reply.status, 503);
        assert!(reply.body.is_empty(), "no detail for the client");
        assert_eq!(reply.headers["x-request-id"], format!("f{i}").as_str());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler never ran");
    let h = health.health();
    assert_eq!(h.rejected_fail_closed, 3);
    assert_eq!(h.sync_errors + h.sync_timeouts, 3);
    assert!(trail.handle.health(tracing_audit::Stream::Audit).failing);
}

#[tokio::test(flavor = "current_thread")]
async fn default_mode_lets_requests_proceed_when_the_audit_destination_fails() {
    let trail = Trail::with(|b, _| b.audit_to(dev_full()));
    let (client, runs, health) = counting_service(|_| HttpAuditLayer::new(), &trail).await;

    for _ in 0..3 {
        assert_eq!(client.get("/transfer", &[]).await.status, 200);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(health.health().rejected_fail_closed, 0);
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_serves_once_the_record_is_on_disk() {
    let mut trail = Trail::new();
    let (client, runs, health) = counting_service(
        |h| HttpAuditLayer::new().fail_closed(h, Duration::from_secs(5)),
        &trail,
    )
    .await;

    let reply = client.get("/transfer", &[("x-request-id", "ok-1")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(health.health().rejected_fail_closed, 0);
    let records = trail.audit();
    let ok = for_request(&records, "ok-1");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[1]["outcome"], "success");
}
