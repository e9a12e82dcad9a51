//! An audit trail and a debug log from one `tracing` instrumentation.
//!
//! [`AuditLayer`](layer::AuditLayer) is a `tracing_subscriber` layer. It routes every event into
//! one of two [`Stream`]s, once per callsite:
//!
//! - **audit**: "who did what, to which resource, when, from where, with what outcome". Events
//!   with target `audit`, `audit::*` or `*::audit`, or carrying a field named `audit`. Written
//!   whatever `RUST_LOG` says, never dropped (a full queue makes the caller wait), sequenced and
//!   chained with a MAC on the writer thread ([`chain`]), verifiable offline ([`verify`]).
//! - **debug**: everything else the debug filter (EnvFilter directives, `RUST_LOG` by default)
//!   lets through. Dropped under overload, every drop counted and reported in the stream.
//!
//! Both streams carry the enclosing span chain (root to leaf, fields rendered and redacted once
//! per span) and a correlation id shared by every record under the same root span, so one
//! request's audit record can be joined with its debug records. Both are redacted before they are
//! serialized ([`redact`]): field-name rules first, then free-text detectors. Each stream goes to
//! its own [`sink`]: rotating, retained, crash-safe files, or any `MakeWriter`.
//!
//! The [`manual`] has the rest: the record schema, redaction, verification and the threat model,
//! operations, the HTTP middleware and the benchmarks.
//!
//! # Example
//!
//! ```no_run
//! use tracing_audit::layer::AuditLayer;
//! use tracing_audit::sink::{FileSink, Retention, Rotation};
//! use tracing_subscriber::prelude::*;
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (layer, guard) = AuditLayer::builder()
//!     .audit_to_files(FileSink::new("logs/audit").rotation(Rotation::Daily))
//!     .debug_to_files(
//!         FileSink::new("logs/debug")
//!             .rotation(Rotation::Hourly)
//!             .retention(Retention::keep_all().max_age(Duration::from_secs(3 * 86_400))),
//!     )
//!     .debug_filter("info,my_app=debug")
//!     .build()?;
//! let audit = guard.handle();
//! tracing_subscriber::registry().with(layer).init();
//!
//! #[tracing::instrument(fields(request_id = %id))]
//! fn handle(id: u64, user: &str) {
//!     tracing::debug!("loading report");
//!     tracing::info!(target: "audit", actor = user, action = "read", resource = "/reports/q3", outcome = "success");
//! }
//! handle(7, "alice");
//! audit.sync()?; // fail closed: the record is on disk, or this is an error
//! # Ok(()) }
//! ```
//!
//! # Feature flags
//!
//! | feature | default | what |
//! |---|---|---|
//! | `gzip` | yes | compress closed files in a background thread |
//! | `cli` | no | the `tracing-audit` command (verify, tail, query, correlate, export, hash, scrub, ship); a client of this crate's public API |
//! | `export` | no | audit records as OCSF or ECS events for a SIEM ([`export`]) |
//! | `opentelemetry` | no | OpenTelemetry `trace_id`/`span_id` in every record ([`otel`]; tracing-opentelemetry 0.34, opentelemetry 0.33) |
//! | `http` | no | [`http`]: a tower middleware auditing every HTTP request, with a policy and fail-closed mode |
//! | `axum` | no | `http` plus axum's matched route template and `ConnectInfo` peer address |
//! | `ship` | no | [`ship`]: both streams to a central syslog receiver over RELP or RFC 5424 (TCP/TLS), acknowledged, resumable |
//!
//! # Known traps this crate avoids
//!
//! A global `registry().with(EnvFilter)` filters *every* layer: put filters on sibling layers
//! (`.with_filter(..)`) or give directives to [`debug_filter`](layer::AuditLayerBuilder::debug_filter),
//! never as a global layer, or `RUST_LOG=warn` removes INFO audit events before this layer sees
//! them. The layer cannot prevent that, but it finds out: [`AuditHandle::check_filters`](layer::AuditHandle::check_filters) (call it
//! after installing the subscriber) and every [`AuditHandle::sync`](layer::AuditHandle::sync) fail with
//! [`SyncErrorKind::Filtered`](layer::SyncErrorKind::Filtered), naming the callsites, and
//! [`Health::filtered_callsites`](sink::Health::filtered_callsites) lists them. A build with
//! `tracing/release_max_level_*` below the audit floor is refused by `build()`.

#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod chain;
#[cfg(feature = "export")]
#[cfg_attr(docsrs, doc(cfg(feature = "export")))]
pub mod export;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod investigate;
mod key;
pub mod layer;
pub mod manual;
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub mod otel;
mod record;
pub mod redact;
#[cfg(feature = "ship")]
#[cfg_attr(docsrs, doc(cfg(feature = "ship")))]
pub mod ship;
#[cfg(feature = "shred")]
#[cfg_attr(docsrs, doc(cfg(feature = "shred")))]
pub mod shred;
pub mod sink;
mod stream;
pub mod trail;
pub mod verify;

pub use key::{KeyError, KeyErrorKind, KeySource};

// The snippets in README.md and docs/ are compiled as doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use stream::Stream;
