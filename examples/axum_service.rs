//! A small axum service whose every request is audited by `tracing_audit::http`.
//!
//! ```text
//! cargo run --features http,axum --example axum_service                 # logs in ./logs
//! cargo run --features http,axum --example axum_service -- DIR --listen 127.0.0.1:8080
//! cargo run --features http,axum --example axum_service -- DIR --policy audit-policy.toml --fail-closed
//! ```
//!
//! Routes: `POST /login` (JSON `{"username": .., "password": ..}`), `GET /reports/{id}`,
//! `POST /admin/export` (admins only), `GET /healthz` (not audited).
//!
//! Tokens it accepts, in `Authorization: Bearer TOKEN`:
//!
//! | token | actor | group |
//! |---|---|---|
//! | `alice-token` | `alice` | `analyst` |
//! | `root-token` | `root` | `admin` |
//!
//! Passwords for `/login`: `alice` / `wonderland`, `root` / `hunter2`.
//!
//! ```text
//! curl -s localhost:3000/reports/7 -H 'Authorization: Bearer alice-token'
//! curl -s localhost:3000/admin/export -X POST -H 'Authorization: Bearer alice-token'   # 403, audited as denied
//! curl -s localhost:3000/login -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}'
//! ```
//!
//! The stack, outermost first, is Kubernetes' order: authentication (finds the actor, never
//! refuses), the audit middleware, a request timeout, authorization (refuses with 401/403), the
//! handler.
//!
//! It is served like a production axum service, so no client can hold it:
//!
//! | limit | value | what it stops |
//! |---|---|---|
//! | header-read timeout | 10 s | slow request heads, and keep-alive connections idle that long (hyper's timer runs whenever a connection waits for a request head) |
//! | request timeout | 30 s | stalled request bodies and stuck handlers: 408, audited as `failure` |
//! | shutdown deadline | 10 s | after Ctrl-C or SIGTERM, connections still open are dropped: each request in flight gets a `cancelled` end record |
//!
//! The audit configuration is checked before it listens (`HttpAuditLayer::check`): an oversized
//! body cap or a fail-closed policy that omits `RequestReceived` stops it with an error. Both
//! streams are flushed before it exits.

use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;
use tracing_audit::http::{
    Actor, AuditLevel, AuditReason, HttpAuditLayer, HttpHealthHandle, Policy, Rule,
};
use tracing_audit::layer::{AuditGuard, AuditLayer};
use tracing_audit::sink::{FileSink, Rotation};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// How long a client may take to send a request head (and a keep-alive connection may idle).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for requests in flight before dropping them.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

const USERS: &[(&str, &str, &str, &str)] = &[
    // name, password, token, group
    ("alice", "wonderland", "alice-token", "analyst"),
    ("root", "hunter2", "root-token", "admin"),
];

struct Args {
    dir: PathBuf,
    listen: String,
    policy: Option<PathBuf>,
    fail_closed: bool,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        dir: PathBuf::from("logs"),
        listen: "127.0.0.1:3000".to_owned(),
        policy: None,
        fail_closed: false,
    };
    let mut it = std::env::args_os().skip(1);
    let mut dir_given = false;
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--listen") => {
                args.listen = it
                    .next()
                    .and_then(|a| a.into_string().ok())
                    .ok_or("--listen needs an address")?
            }
            Some("--policy") => {
                args.policy = Some(it.next().ok_or("--policy needs a file")?.into())
            }
            Some("--fail-closed") => args.fail_closed = true,
            Some(flag) if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}").into())
            }
            _ if !dir_given => {
                args.dir = PathBuf::from(arg);
                dir_given = true;
            }
            _ => {
                return Err(
                    "usage: axum_service [DIR] [--listen ADDR] [--policy FILE] [--fail-closed]"
                        .into(),
                )
            }
        }
    }
    Ok(args)
}

/// The example's policy when no file is given: health checks not audited, logins and admin
/// actions with their (redacted) request body, everything else as metadata.
fn default_policy() -> Policy {
    Policy::new()
        .rule(
            Rule::new(AuditLevel::None)
                .named("health")
                .paths(["/healthz"]),
        )
        .rule(
            Rule::new(AuditLevel::Request)
                .named("logins")
                .methods(["POST"])
                .routes(["/login"]),
        )
        .rule(
            Rule::new(AuditLevel::Request)
                .named("admin")
                .routes(["/admin/*"]),
        )
        .rule(Rule::new(AuditLevel::Metadata).named("everything else"))
        .request_headers(["content-type", "user-agent"])
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run());
    // Connections still open past the shutdown deadline are dropped with the runtime, before
    // the audit guard flushes: their requests' `cancelled` end records are written too.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(stopped) => {
            let audit_health = stopped.guard.handle().health(tracing_audit::Stream::Audit);
            let http = stopped.health.health();
            drop(stopped.guard); // flushes both streams
            println!(
                "stopped: {} requests, {} cancelled, {} audit records written, {} refused fail-closed",
                http.requests, http.cancelled, audit_health.written, http.rejected_fail_closed
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// What `run` leaves for `main` to flush once the runtime is gone.
struct Stopped {
    guard: AuditGuard,
    health: HttpHealthHandle,
}

async fn run() -> Result<Stopped, Box<dyn Error>> {
    let args = args()?;
    let policy = match &args.policy {
        // A bad policy file stops the service before it listens.
        Some(file) => Policy::from_file(file)?,
        None => default_policy(),
    };

    let (layer, guard) = AuditLayer::builder()
        .audit_to_files(FileSink::new(args.dir.join("audit")).rotation(Rotation::Daily))
        .debug_to_files(FileSink::new(args.dir.join("debug")).rotation(Rotation::Hourly))
        .debug_filter("info,axum_service=debug")
        .build()?;
    // The console shows the example's own messages, through the crate's scrubbing writer so it
    // cannot print what the files redact; the files hold the full, redacted streams.
    let console = tracing_subscriber::fmt::layer()
        .with_writer(tracing_audit::redact::scrubbed(std::io::stderr))
        .with_filter(Targets::new().with_target("axum_service", tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(layer)
        .with(console)
        .init();

    let mut audit = HttpAuditLayer::new().policy(policy);
    if args.fail_closed {
        audit = audit.fail_closed(guard.handle(), Duration::from_millis(500));
    }
    // An unbounded or unsafe audit configuration stops the service before it listens.
    audit.check()?;
    let health = audit.health_handle();

    let app = Router::new()
        .route("/login", post(login))
        .route("/reports/{id}", get(report))
        .route(
            "/admin/export",
            post(export).route_layer(middleware::from_fn(require_admin)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(middleware::from_fn(request_timeout))
        .layer(audit)
        .layer(middleware::from_fn(authenticate));

    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, app).await;
    tracing::info!(target: "axum_service", "stopped");
    Ok(Stopped { guard, health })
}

/// Accepts connections until Ctrl-C or SIGTERM, then lets requests in flight finish for at most
/// [`SHUTDOWN_DEADLINE`]. Each connection has hyper's header-read timeout.
async fn serve(listener: tokio::net::TcpListener, app: Router) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: keep serving the connections we have.
                Err(e) => {
                    tracing::warn!(target: "axum_service", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower_service::Service::call(&mut app.clone(), request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_DEADLINE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(target: "axum_service", "shutdown deadline passed: dropping the requests still in flight");
    }
}

/// Answers 408 to a request that takes longer than [`REQUEST_TIMEOUT`] (a stalled body, a stuck
/// handler); the audit middleware, outside it, records the 408.
async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => (
            StatusCode::REQUEST_TIMEOUT,
            AuditReasonExt("request_timeout"),
        )
            .into_response(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Authentication: the bearer token names the actor. Never refuses; authorization does.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(&(name, _, _, group)) = USERS.iter().find(|u| Some(u.2) == token) {
        request
            .extensions_mut()
            .insert(Actor::new(name).groups([group]));
    }
    next.run(request).await
}

/// Authorization for admin routes: 401 without an identity, 403 without the admin group.
async fn require_admin(actor: Option<Extension<Actor>>, request: Request, next: Next) -> Response {
    match actor {
        None => (StatusCode::UNAUTHORIZED, AuditReasonExt("no_credentials")).into_response(),
        Some(Extension(actor)) if !is_admin(&actor) => {
            tracing::debug!(target: "axum_service", actor = actor.name(), "export refused: not an admin");
            (StatusCode::FORBIDDEN, AuditReasonExt("not_admin")).into_response()
        }
        Some(_) => next.run(request).await,
    }
}

fn is_admin(actor: &Actor) -> bool {
    USERS.iter().any(|u| u.0 == actor.name() && u.3 == "admin")
}

/// Puts an [`AuditReason`] into the response extensions.
struct AuditReasonExt(&'static str);

impl IntoResponse for AuditReasonExt {
    fn into_response(self) -> Response {
        let mut response = ().into_response();
        response.extensions_mut().insert(AuditReason::new(self.0));
        response
    }
}

async fn login(Json(body): Json<Value>) -> Response {
    let username = body.get("username").and_then(Value::as_str).unwrap_or("");
    let password = body.get("password").and_then(Value::as_str).unwrap_or("");
    tracing::debug!(target: "axum_service", username, "checking credentials");
    match USERS.iter().find(|u| u.0 == username && u.1 == password) {
        Some(&(name, _, token, group)) => {
            let mut response = Json(json!({ "token": token })).into_response();
            // The login's record names who logged in, not the anonymous caller.
            response
                .extensions_mut()
                .insert(Actor::new(name).groups([group]));
            response
        }
        None => (StatusCode::UNAUTHORIZED, AuditReasonExt("bad_password")).into_response(),
    }
}

async fn report(actor: Option<Extension<Actor>>, Path(id): Path<u32>) -> Response {
    let Some(Extension(actor)) = actor else {
        return (StatusCode::UNAUTHORIZED, AuditReasonExt("no_credentials")).into_response();
    };
    tracing::debug!(target: "axum_service", report = id, "loading report");
    Json(json!({ "id": id, "owner": actor.name(), "rows": 42 })).into_response()
}

async fn export(Extension(actor): Extension<Actor>) -> Response {
    tracing::info!(target: "axum_service", actor = actor.name(), "export started");
    Json(json!({ "export": "queued" })).into_response()
}
