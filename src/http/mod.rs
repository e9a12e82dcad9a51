//! Auditing every request of a tower or axum HTTP service.
//!
//! [`HttpAuditLayer`] is a tower layer. For each request it opens a span (`http_request`, with
//! the request id and route) and emits up to two ordinary `tracing` events with target `audit`, which the
//! crate's [`AuditLayer`](crate::layer::AuditLayer) routes into the audit trail, redacts, chains and
//! writes; the middleware writes nothing itself. Which requests are recorded, and with how much
//! detail, is an ordered Kubernetes-style [`Policy`].
//!
//! | record key | value |
//! |---|---|
//! | `actor`, `session` | the [`Actor`] found by [`IdentifyActor`]; `anonymous` when none |
//! | `action` | [`ActionFromMethod`] (GET/HEAD read, POST create, PUT/PATCH update, DELETE delete) or your [`ClassifyAction`] |
//! | `resource` | the route template (`/reports/{id}`, with the `axum` feature), else the path with its token-like segments masked (`unmatched_route: true`); the query only when the rule asks, redacted |
//! | `outcome` | `pending` in `request_received`; `success` (1xx-3xx), `denied` (401, 403), `failure` (other statuses, service errors, panics); `unknown` with reason `cancelled` when the request was dropped before it ended (client gone, shutdown) |
//! | `reason` | an [`AuditReason`] from the response extensions, else the status text of a failure |
//! | `src_ip` | the peer, or the client named by [`TrustedProxies`] |
//! | `fields` | `stage`, `method`, `path`, `status`, `latency_us`, `user_agent`, `request_id`; at `Request` level `request_headers` and `request_body`; after a `request_received`, `response_complete` does not repeat `path`, `user_agent`, the headers and the body |
//!
//! Secrets are masked before the records reach the layer, by the field-name rules and names that
//! are only secret in HTTP (OAuth `code`, `id_token`, SAML, one-time codes, session ids), headers
//! by name pattern, URLs in `Referer`/`Location` like the request's own query (see
//! `docs/http.md`, "Redaction"). A handler's own audit events go through [`emit_async`], which
//! awaits room in the audit queue instead of blocking the worker.
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # fn router() -> axum::Router {
//! use axum::{routing::get, Router};
//! use tracing_audit::http::HttpAuditLayer;
//!
//! Router::new()
//!     .route("/reports/{id}", get(|| async { "report" }))
//!     // `Router::layer` wraps each route, so the middleware sees the matched template.
//!     .layer(HttpAuditLayer::new())
//! # }
//! ```
//!
//! A full audit queue never blocks a runtime worker: requests await room as tasks (see
//! `backpressure`). See `docs/http.md` for stacking it with authentication, fail-closed mode,
//! policy files, bounds and shutdown.

mod action;
mod actor;
mod backpressure;
mod body;
mod client_addr;
mod content;
mod end;
mod fail_closed;
mod future;
mod health;
mod layer;
mod outcome;
mod policy;
mod record;
mod request_id;
mod sensitive;
mod service;

pub use action::{ActionFromMethod, ClassifyAction};
pub use actor::{Actor, ActorFromExtensions, IdentifyActor, ANONYMOUS};
pub use backpressure::emit_async;
pub use body::AuditBody;
pub use client_addr::{InvalidNetwork, TrustedProxies};
pub use future::ResponseFuture;
pub use health::{HttpHealth, HttpHealthHandle};
pub use layer::{HttpAuditLayer, REQUEST_ID_HEADER};
pub use outcome::AuditReason;
pub use policy::{
    AuditLevel, Policy, PolicyError, PolicyErrorKind, Rule, Stage, DEFAULT_HEALTH_PATHS,
    DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_LIMIT, MAX_REQUEST_HEADERS, MAX_RULES,
};
pub use request_id::{RequestId, MAX_REQUEST_ID_LEN};
pub use service::HttpAudit;
