//! OpenTelemetry trace ids in every record.
//!
//! With the `opentelemetry` feature, when a tracing-opentelemetry layer is registered in the same
//! registry as the [`AuditLayer`](crate::layer::AuditLayer), every record of both streams carries the
//! W3C `trace_id` (32 lowercase hex digits) and `span_id` (16) of its innermost span: the ids
//! the OpenTelemetry exporter sends for that span, including a parent taken from a remote
//! context with `set_parent`. An audit record can then be joined with the distributed trace of
//! the same request, in any service. Records outside every span carry neither key.
//!
//! # One release line
//!
//! This build is pinned to **tracing-opentelemetry 0.34 with opentelemetry 0.33** (and so
//! opentelemetry_sdk 0.33). Both are re-exported here. tracing-opentelemetry keeps its span data
//! private and answers only a caller of its own version: an application whose OpenTelemetry
//! layer comes from another release would get records *silently* without ids (the failure
//! json-subscriber#43 describes). Build the layer with [`layer`] instead of
//! `tracing_opentelemetry::layer()`: it accepts only a tracer of the pinned `opentelemetry`, so
//! a mismatched SDK fails to compile, with rustc's note that two versions of `opentelemetry`
//! are in the build; and since the layer it returns is this crate's, there is no second
//! tracing-opentelemetry to disagree with.
//!
//! ```
//! use opentelemetry::trace::TracerProvider as _;
//! use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
//! use tracing_audit::{layer::AuditLayer, otel};
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = SdkTracerProvider::builder()
//!     .with_simple_exporter(InMemorySpanExporter::default())
//!     .build();
//! let (audit, _guard) = AuditLayer::builder()
//!     .audit_to(std::io::sink)
//!     .debug_to(std::io::sink)
//!     .build()?;
//! let subscriber = tracing_subscriber::registry()
//!     .with(otel::layer(provider.tracer("my-service")))
//!     .with(audit);
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = tracing::info_span!("request").entered();
//!     // Written with "trace_id":"…","span_id":"…" of the `request` span.
//!     tracing::info!(target: "audit", actor = "alice", action = "read", outcome = "success");
//! });
//! # Ok(()) }
//! ```
//!
//! # Cost
//!
//! A span's ids are looked up once, on the first record inside it (tracing-opentelemetry starts
//! the OpenTelemetry span then if it was not entered yet; a later `set_parent` on it fails, as
//! it does after entering). Every further record pays one atomic load and 48 hex digits. Without
//! an OpenTelemetry layer the first record of each span finds none and nothing else is paid;
//! without the feature nothing at all is compiled in. `benches/compare.rs` measures it
//! (`otel_ids_*`).

#[doc(no_inline)]
pub use opentelemetry;
#[doc(no_inline)]
pub use tracing_opentelemetry;

use tracing_core::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// The tracing-opentelemetry layer for `tracer`, of the release line this crate reads ids from.
///
/// The same as `tracing_opentelemetry::layer().with_tracer(tracer)`, but only for a tracer of
/// this crate's `opentelemetry` (0.33): an SDK of another release line is a compile error here
/// instead of records without ids at run time. Configure it further with the methods of
/// [`OpenTelemetryLayer`].
///
/// ```
/// use opentelemetry::trace::TracerProvider as _;
/// use tracing_subscriber::prelude::*;
///
/// let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
/// let otel = tracing_audit::otel::layer(provider.tracer("svc")).with_level(true);
/// let _subscriber = tracing_subscriber::registry().with(otel);
/// ```
///
/// A tracer of another opentelemetry release implements *that* release's `Tracer` trait, not
/// this one's, so the call does not compile, as with this stand-in:
///
/// ```compile_fail
/// struct OtherReleaseTracer;
/// let _ = tracing_audit::otel::layer::<tracing_subscriber::Registry, _>(OtherReleaseTracer);
/// ```
pub fn layer<S, T>(tracer: T) -> OpenTelemetryLayer<S, T>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    T: opentelemetry::trace::Tracer + 'static,
    T::Span: Send + Sync,
{
    tracing_opentelemetry::layer().with_tracer(tracer)
}
