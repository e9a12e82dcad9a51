//! Investigating trails: finding one request's or one actor's records fast, over rotated and
//! gzipped files of any size, in bounded memory, with damaged files reported rather than fatal.
//!
//! - [`Search`] runs a [`Query`] over one or more trails on all cores: a byte search for the
//!   filter value rules out lines before they are parsed, and every hit is confirmed on the
//!   parsed record, so the answer is exactly that of parsing every line.
//! - [`last_matching`] finds the last N matching records reading from the end.
//! - [`Timeline`] renders records of both streams as one self-contained HTML page.
//! - [`ReportOptions`] builds a [`Report`]: activity by actor and outcome in a window, and
//!   flags (outside working hours, first use of an address or resource class, denial bursts)
//!   that link to correlation ids.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use tracing_audit::investigate::{Query, Search};
//! use tracing_audit::trail::Trail;
//!
//! let audit = Trail::open("logs/audit", None)?;
//! let night = Query::new().actor("carol").since("2026-11-26T00:00")?.until("2026-11-26T06:00")?;
//! let summary = Search::new().run(&[&audit], &night, |hit| {
//!     println!("{}", String::from_utf8_lossy(hit.line()));
//!     ControlFlow::Continue(())
//! });
//! assert!(summary.problems().is_empty(), "a damaged file was skipped");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod index;
mod probe;
mod query;
mod report;
mod search;
mod tail;
mod timeline;

pub use index::{build_indexes, IndexBuild, IndexFailure};
pub use query::{canonical_time, is_control, record_time, Query, TimeError};
pub use report::{
    ActorSummary, Flag, FlagKind, Report, ReportBuilder, ReportOptionError, ReportOptions,
};
pub use search::{Hit, IndexUse, Search, SearchSummary};
pub use tail::{last_matching, trail_end, End, Last};
pub use timeline::Timeline;
