//! The manual: how the records look, what is redacted, how a trail is verified and operated,
//! the HTTP middleware, and what everything costs.
//!
//! These pages are the files under `docs/` in the repository, included here so that they are
//! on docs.rs beside the API and their Rust examples are compiled as doctests. Links between
//! pages are reference links: each page defines its targets as files (for GitHub), and this
//! module defines the same labels first, as paths in these docs (the first definition wins).
//!
//! | page | read it for |
//! |---|---|
//! | [`schema`] | every key of a record, both streams, and the mapping to OCSF and ECS |
//! | [`redaction`] | field-name rules, the free-text detectors, what each catches and costs |
//! | [`verification`] | the chain, seals, checkpoints, the threat model: what each reader trusts and why |
//! | [`operations`] | files, rotation, retention, crashes, full disks, shipping, health |
//! | `http` | the tower/axum middleware and its audit policy (feature `http`) |
//! | [`benchmarks`] | measured costs against the hand-built alternative and the floors |

/// Record schema.
#[doc = ""]
#[doc = "[verification.md]: crate::manual::verification"]
#[doc = "[redaction.md]: crate::manual::redaction"]
#[doc = "[verification.md#control-records]: crate::manual::verification#control-records"]
#[doc = "[../tests/ocsf_schema.json]: https://github.com/tracing-audit/tracing-audit/blob/main/tests/ocsf_schema.json"]
#[doc = "[schema.json]: https://github.com/tracing-audit/tracing-audit/blob/main/docs/schema.json"]
#[doc = ""]
#[doc = include_str!("../docs/schema.md")]
pub mod schema {}

/// Redaction.
#[doc = include_str!("../docs/redaction.md")]
pub mod redaction {}

/// Verifying an audit trail.
#[doc = ""]
#[doc = "[benchmarks.md#verifying-a-trail-benchesverifyrs-and-the-cli-issues-12-and-14]: crate::manual::benchmarks#verifying-a-trail-benchesverifyrs-and-the-cli-issues-12-and-14"]
#[doc = "[benchmarks.md]: crate::manual::benchmarks"]
#[doc = "[../src/trail/visible.rs]: crate::trail"]
#[doc = "[../src/trail/json.rs]: crate::trail::printable_json"]
#[doc = "[schema.md#mapping-to-ocsf-and-ecs]: crate::manual::schema#mapping-to-ocsf-and-ecs"]
#[doc = ""]
#[doc = include_str!("../docs/verification.md")]
pub mod verification {}

/// Operating the sinks.
#[doc = ""]
#[doc = "[verification.md#what-the-verifier-does]: crate::manual::verification#what-the-verifier-does"]
#[doc = "[schema.md#mapping-to-ocsf-and-ecs]: crate::manual::schema#mapping-to-ocsf-and-ecs"]
#[doc = ""]
#[doc = include_str!("../docs/operations.md")]
pub mod operations {}

/// Auditing an HTTP service.
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[doc = include_str!("../docs/http.md")]
pub mod http {}

/// Benchmarks.
#[doc = ""]
#[doc = "[verification.md#how-it-runs-and-what-it-costs]: crate::manual::verification#how-it-runs-and-what-it-costs"]
#[doc = ""]
#[doc = include_str!("../docs/benchmarks.md")]
pub mod benchmarks {}
