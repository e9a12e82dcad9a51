//! Every request that got a `request_received` record gets an end, also when it never finishes:
//! a client that goes away mid-handler, a client that stalls mid-body, a server shut down
//! under load. Real axum server, real TCP clients on loopback.

mod http_support;

use axum::routing::{get, post};
use axum::Router;
use http_support::{for_request, serve, stage, Server, Trail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tracing_audit::http::HttpAuditLayer;

/// Sends its message when dropped: the handler's future is gone.
struct OnDrop(Option<mpsc::UnboundedSender<()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// `GET /slow` never answers: it tells `started`, then waits forever holding `OnDrop(dropped)`.
fn slow_app(started: mpsc::UnboundedSender<()>, dropped: mpsc::UnboundedSender<()>) -> Router {
    Router::new()
        .route(
            "/slow",
            get(move || {
                let started = started.clone();
                let guard = OnDrop(Some(dropped.clone()));
                async move {
                    let _guard = guard;
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                    "never"
                }
            }),
        )
        .route(
            "/upload",
            post(|body: bytes::Bytes| async move { body.len().to_string() }),
        )
}

/// request id → stages, in order.
fn stages_by_request(records: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut by = BTreeMap::<String, Vec<&Value>>::new();
    for r in records {
        if let Some(id) = r["fields"]["request_id"].as_str() {
            by.entry(id.to_owned()).or_default().push(r);
        }
    }
    by
}

fn assert_cancelled_end(records: &[&Value], id: &str) {
    let stages: Vec<&str> = records.iter().map(|r| stage(r)).collect();
    assert_eq!(
        stages,
        ["request_received", "response_complete"],
        "{id}: every request_received gets an end"
    );
    let end = records[1];
    assert_eq!(end["outcome"], "unknown", "{id}: {end}");
    assert_eq!(end["reason"], "cancelled", "{id}: {end}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_goes_away_mid_handler_leaves_a_cancelled_end() {
    let mut trail = Trail::new();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let audit = HttpAuditLayer::new();
    let health = audit.health_handle();
    let addr = serve(slow_app(started_tx, dropped_tx).layer(audit)).await;

    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\nx-request-id: gone-1\r\n\r\n")
        .expect("send");
    timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the handler started");
    drop(stream);
    timeout(Duration::from_secs(10), dropped.recv())
        .await
        .expect("hyper drops the request when its client goes away");

    assert_eq!(health.health().cancelled, 1);
    let records = trail.audit();
    assert_cancelled_end(&for_request(&records, "gone-1"), "gone-1");
}

#[tokio::test(flavor = "current_thread")]
async fn stalled_bodies_and_stuck_handlers_end_in_the_trail_when_the_server_shuts_down() {
    const EACH: usize = 16;
    let mut trail = Trail::new();
    let (started_tx, _started) = mpsc::unbounded_channel();
    let (dropped_tx, _dropped) = mpsc::unbounded_channel();
    let audit = HttpAuditLayer::new();
    let health = audit.health_handle();
    let mut server = Server::start(
        &trail.dispatch,
        slow_app(started_tx, dropped_tx).layer(audit),
        Duration::from_millis(500),
    );

    // 16 clients stall mid-body, 16 wait on a handler that never answers; the sockets stay open.
    let mut open = Vec::new();
    for i in 0..EACH {
        let mut s = TcpStream::connect(server.addr).expect("connect");
        let head = format!(
            "POST /upload HTTP/1.1\r\nhost: test\r\nx-request-id: stalled-{i}\r\ncontent-length: 1000\r\n\r\n0123456789"
        );
        s.write_all(head.as_bytes()).expect("send");
        open.push(s);
        let mut s = TcpStream::connect(server.addr).expect("connect");
        let head = format!("GET /slow HTTP/1.1\r\nhost: test\r\nx-request-id: stuck-{i}\r\n\r\n");
        s.write_all(head.as_bytes()).expect("send");
        open.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while health.health().requests < (2 * EACH) as u64 {
        assert!(
            Instant::now() < deadline,
            "the server never saw every request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    assert!(
        server.stop(Duration::from_secs(10)),
        "shutdown completes within its grace period with stalled clients"
    );
    assert_eq!(health.health().cancelled, (2 * EACH) as u64);
    let records = trail.audit();
    let by = stages_by_request(&records);
    for i in 0..EACH {
        for id in [format!("stalled-{i}"), format!("stuck-{i}")] {
            let recs = by.get(&id).unwrap_or_else(|| panic!("{id}: no records"));
            assert_cancelled_end(recs, &id);
        }
    }
    drop(open);
}
