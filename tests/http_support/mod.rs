//! A real audit trail in a temporary directory, a real axum server on 127.0.0.1 and a real
//! HTTP client, for the HTTP middleware tests.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing_audit::layer::{AuditGuard, AuditHandle, AuditLayer, AuditLayerBuilder};
use tracing_audit::sink::FileSink;
use tracing_subscriber::prelude::*;

/// The crate's layer writing both streams into files under a temporary directory, installed as
/// the default subscriber of the current thread (tests run on a current-thread runtime, so the
/// server's tasks see it too).
pub struct Trail {
    pub dir: tempfile::TempDir,
    pub handle: AuditHandle,
    /// The subscriber, for threads other than the test's (a server on its own runtime).
    pub dispatch: tracing::Dispatch,
    guard: Option<AuditGuard>,
    _default: tracing::dispatcher::DefaultGuard,
}

impl Trail {
    pub fn new() -> Trail {
        Trail::with(|b, _| b)
    }

    /// A trail whose builder `configure` may change (the audit destination, for example).
    pub fn with(configure: impl FnOnce(AuditLayerBuilder, &Path) -> AuditLayerBuilder) -> Trail {
        let dir = tempfile::tempdir().expect("temp dir");
        let builder = AuditLayer::builder()
            .audit_to_files(FileSink::new(dir.path().join("audit")))
            .debug_to_files(FileSink::new(dir.path().join("debug")))
            .debug_filter("debug")
            .audit(|audit| audit.drain_timeout(Duration::from_millis(500)));
        let (layer, guard) = configure(builder, dir.path())
            .build()
            .expect("layer builds");
        let handle = guard.handle();
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        let default = tracing::dispatcher::set_default(&dispatch);
        Trail {
            dir,
            handle,
            dispatch,
            guard: Some(guard),
            _default: default,
        }
    }

    /// Flushes both streams; the files are complete afterwards.
    pub fn finish(&mut self) {
        drop(self.guard.take());
    }

    /// The audit stream's event records (no chain control records).
    pub fn audit(&mut self) -> Vec<Value> {
        self.finish();
        read_records(&self.dir.path().join("audit"))
            .into_iter()
            .filter(|r| r.get("record").is_none())
            .collect()
    }

    pub fn debug(&mut self) -> Vec<Value> {
        self.finish();
        read_records(&self.dir.path().join("debug"))
    }

    /// Every byte of both streams' files, as text.
    pub fn all_text(&mut self) -> String {
        self.finish();
        let mut text = String::new();
        for sub in ["audit", "debug"] {
            for file in jsonl_files(&self.dir.path().join(sub)) {
                text.push_str(&std::fs::read_to_string(file).expect("readable"));
            }
        }
        text
    }
}

fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            // `<prefix>.current.jsonl` is a symlink to the active file.
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && !p.is_symlink())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

pub fn read_records(dir: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    for file in jsonl_files(dir) {
        let text = std::fs::read_to_string(&file).expect("readable");
        for line in text.lines() {
            records.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")));
        }
    }
    records
}

/// Records whose `fields.request_id` is `id`.
pub fn for_request<'a>(records: &'a [Value], id: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["fields"]["request_id"] == id)
        .collect()
}

pub fn stage(record: &Value) -> &str {
    record["fields"]["stage"].as_str().unwrap_or("")
}

/// Serves `app` on 127.0.0.1 (port 0) with the peer address available to handlers.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

/// A real HTTP/1 client (hyper-util's).
pub struct HttpClient {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> HttpClient {
        HttpClient {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, Vec::new()).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send_request(req.body(Full::new(body.into())).expect("request"))
            .await
    }

    pub async fn send_request(&self, req: http::Request<Full<Bytes>>) -> Reply {
        let response = tokio::time::timeout(Duration::from_secs(20), self.client.request(req))
            .await
            .expect("no reply within 20 s")
            .expect("request sent");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

/// A server on a runtime of its own (two workers, like the machine), so that a blocked
/// worker shows as a server that stops answering while the test's own runtime keeps its timers.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: std::sync::mpsc::Receiver<()>,
}

impl Server {
    /// Serves `app` with graceful shutdown on [`Server::stop`]; connections still open `grace`
    /// after the signal are dropped with the runtime (like the example's shutdown deadline).
    pub fn start(dispatch: &tracing::Dispatch, app: axum::Router, grace: Duration) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        let dispatch = dispatch.clone();
        std::thread::spawn(move || {
            let _default = tracing::dispatcher::set_default(&dispatch);
            let for_workers = dispatch.clone();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .on_thread_start(move || {
                    // Each runtime thread keeps the subscriber for its lifetime.
                    std::mem::forget(tracing::dispatcher::set_default(&for_workers));
                })
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind loopback");
                addr_tx
                    .send(listener.local_addr().expect("addr"))
                    .expect("send addr");
                let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
                let serve = axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                    let _ = signalled_tx.send(());
                });
                let serving = tokio::spawn(async move { serve.await });
                let _ = signalled_rx.await;
                let _ = tokio::time::timeout(grace, serving).await;
            });
            // Drops every task still in flight (their requests end as cancelled).
            runtime.shutdown_timeout(Duration::from_secs(1));
            let _ = stopped_tx.send(());
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server started");
        Server {
            addr,
            stop: Some(stop_tx),
            stopped,
        }
    }

    /// Signals shutdown; true if the server thread finished within `bound`.
    pub fn stop(&mut self, bound: Duration) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.stopped.recv_timeout(bound).is_ok()
    }
}
