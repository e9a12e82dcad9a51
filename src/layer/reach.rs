//! Whether audit events can reach this layer at all.
//!
//! A filter in front of every layer (`registry().with(EnvFilter::from_default_env())`, a
//! `LevelFilter`, a `with_filter` wrapped around a stack that contains this layer) decides
//! before this layer is asked: under `RUST_LOG=warn` an INFO audit event is then never emitted,
//! and nothing downstream could notice. The layer cannot prevent that, but it can find out,
//! off the logging path, by asking the subscriber it is registered in the same question
//! tracing-core asks when it builds a callsite's interest: a callsite the whole subscriber
//! answers `never` for is dead, whatever this layer wants.
//!
//! Two kinds of callsites are asked about: every audit callsite this layer has seen registered
//! (it sees them when it sits outside the filter), and a probe event with target `audit` at the
//! audit floor (which also catches a filter outside this layer, where the layer never sees the
//! callsites it kills).

use super::Shared;
use crate::Stream;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tracing_core::callsite::Callsite;
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::field::FieldSet;
use tracing_core::{Dispatch, Interest, Kind, Level, LevelFilter, Metadata};

/// How long a clean answer is reused by `sync()` before the subscriber is asked again (a
/// `reload` layer can change filters at any time; asking costs a pass through every filter).
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// One audit callsite that another filter disables.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FilteredCallsite {
    /// The event's target.
    pub target: String,
    /// Its level.
    pub level: Level,
    /// `file:line` of the macro call, when known; `None` for the layer's own probe.
    pub location: Option<String>,
}

impl fmt::Display for FilteredCallsite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "target {:?} at {}", self.target, self.level)?;
        match &self.location {
            Some(at) => write!(f, " ({at})"),
            None => f.write_str(" (any such event)"),
        }
    }
}

/// What the layer knows about reachability: the subscriber it is registered in, the audit
/// callsites it has seen, and the last answer.
#[derive(Default)]
pub(crate) struct Reach {
    dispatch: OnceLock<WeakDispatch>,
    seen: Mutex<Vec<&'static Metadata<'static>>>,
    last: Mutex<Option<Checked>>,
}

struct Checked {
    at: Instant,
    seen: usize,
    filtered: Vec<FilteredCallsite>,
}

impl fmt::Debug for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reach").finish_non_exhaustive()
    }
}

impl Reach {
    pub(crate) fn registered_in(&self, dispatch: &Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    /// Remembers an audit callsite (called once per callsite registration, not per event).
    pub(crate) fn saw_audit_callsite(&self, meta: &'static Metadata<'static>) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if !seen.iter().any(|m| std::ptr::eq(*m, meta)) {
            seen.push(meta);
        }
    }

    /// The audit callsites another filter disables. `fresh` asks the subscriber now; otherwise
    /// an answer younger than [`RECHECK_AFTER`] is reused unless new callsites were seen.
    pub(crate) fn filtered(&self, shared: &Shared, fresh: bool) -> Vec<FilteredCallsite> {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = last.as_ref() {
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            if !fresh && c.seen == seen && c.at.elapsed() < RECHECK_AFTER {
                // The common case on a fail-closed request path: no copy, no subscriber pass.
                return c.filtered.clone();
            }
        }
        // Copied out: asking the subscriber re-registers callsites, which may add to `seen`.
        let seen: Vec<_> = self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let filtered = self.ask(shared, &seen);
        *last = Some(Checked {
            at: Instant::now(),
            seen: seen.len(),
            filtered: filtered.clone(),
        });
        filtered
    }

    fn ask(&self, shared: &Shared, seen: &[&'static Metadata<'static>]) -> Vec<FilteredCallsite> {
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            // Not registered in a subscriber (yet): nothing can be said.
            return Vec::new();
        };
        let mut out = Vec::new();
        let global_max = LevelFilter::current();
        let probe = probe(shared.audit_floor);
        let probes = probe
            .filter(|p| shared.router.classify(p) == Stream::Audit)
            .into_iter();
        for meta in probes.chain(seen.iter().copied()) {
            let dead = *meta.level() > global_max || dispatch.register_callsite(meta).is_never();
            if dead {
                out.push(FilteredCallsite {
                    target: meta.target().to_owned(),
                    level: *meta.level(),
                    location: match (meta.file(), meta.line()) {
                        (Some(file), Some(line)) if !is_probe(meta) => {
                            Some(format!("{file}:{line}"))
                        }
                        _ => None,
                    },
                });
            }
        }
        out
    }
}

/// The probe: an event with target `audit` at `level`, never emitted, only asked about.
struct Probe(Level);

macro_rules! probes {
    ($($name:ident, $meta:ident, $level:expr;)*) => {
        $(
            static $name: Probe = Probe($level);
            static $meta: Metadata<'static> = Metadata::new(
                "tracing-audit reachability probe",
                "audit",
                $level,
                None,
                None,
                None,
                FieldSet::new(&["message"], tracing_core::identify_callsite!(&$name)),
                Kind::EVENT,
            );
        )*
        fn probe(floor: LevelFilter) -> Option<&'static Metadata<'static>> {
            let level = floor.into_level()?;
            $( if level == $level { return Some(&$meta); } )*
            None
        }
        fn is_probe(meta: &Metadata<'_>) -> bool {
            false $( || std::ptr::eq(meta, &$meta) )*
        }
        impl Callsite for Probe {
            fn set_interest(&self, _: Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                match self.0 {
                    $( l if l == $level => &$meta, )*
                    _ => &PROBE_INFO,
                }
            }
        }
    };
}

probes! {
    PROBE_ERROR_CS, PROBE_ERROR, Level::ERROR;
    PROBE_WARN_CS, PROBE_WARN, Level::WARN;
    PROBE_INFO_CS, PROBE_INFO, Level::INFO;
    PROBE_DEBUG_CS, PROBE_DEBUG, Level::DEBUG;
    PROBE_TRACE_CS, PROBE_TRACE, Level::TRACE;
}
