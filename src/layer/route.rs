//! Which stream a callsite belongs to, decided from its metadata alone.

use crate::redact::glob_match;
use crate::Stream;
use std::fmt;
use std::sync::Arc;
use tracing_core::Metadata;

/// A routing predicate supplied by the application.
pub(crate) type RoutePredicate = Arc<dyn Fn(&Metadata<'_>) -> Option<Stream> + Send + Sync>;

/// The routing rules: a custom predicate first, then target patterns, then marker field names.
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) targets: Vec<String>,
    pub(crate) markers: Vec<&'static str>,
    pub(crate) predicate: Option<RoutePredicate>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("targets", &self.targets)
            .field("markers", &self.markers)
            .field("predicate", &self.predicate.as_ref().map(|_| "fn"))
            .finish()
    }
}

/// Targets routed to the audit stream unless configured otherwise.
pub(crate) const DEFAULT_TARGETS: &[&str] = &["audit", "audit::*", "*::audit"];
/// An event carrying a field with this name is an audit event.
pub(crate) const DEFAULT_MARKER: &str = "audit";

impl Default for Router {
    fn default() -> Self {
        Router {
            targets: DEFAULT_TARGETS.iter().map(|s| s.to_string()).collect(),
            markers: vec![DEFAULT_MARKER],
            predicate: None,
        }
    }
}

impl Router {
    /// The stream of an event with this metadata. Spans are not routed: they are context for
    /// both streams.
    pub(crate) fn classify(&self, meta: &Metadata<'_>) -> Stream {
        if let Some(predicate) = &self.predicate {
            if let Some(stream) = predicate(meta) {
                return stream;
            }
        }
        let target = meta.target();
        if self
            .targets
            .iter()
            .any(|t| glob_match(t.as_bytes(), target.as_bytes()))
        {
            return Stream::Audit;
        }
        if meta
            .fields()
            .iter()
            .any(|f| self.markers.contains(&f.name()))
        {
            return Stream::Audit;
        }
        Stream::Debug
    }

    /// Whether `name` is a marker field (routing information, not written as a field).
    pub(crate) fn is_marker(&self, name: &str) -> bool {
        self.markers.contains(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_core::{callsite::Callsite, field::FieldSet, Kind, Level};

    struct Cs;
    impl Callsite for Cs {
        fn set_interest(&self, _: tracing_core::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unimplemented!()
        }
    }
    static CS: Cs = Cs;

    fn meta(target: &'static str, fields: &'static [&'static str]) -> Metadata<'static> {
        Metadata::new(
            "e",
            target,
            Level::INFO,
            None,
            None,
            None,
            FieldSet::new(fields, tracing_core::identify_callsite!(&CS)),
            Kind::EVENT,
        )
    }

    #[test]
    fn default_targets_and_marker() {
        let r = Router::default();
        assert_eq!(r.classify(&meta("audit", &[])), Stream::Audit);
        assert_eq!(r.classify(&meta("audit::login", &[])), Stream::Audit);
        assert_eq!(r.classify(&meta("my_app::audit", &[])), Stream::Audit);
        assert_eq!(r.classify(&meta("my_app::auditor", &[])), Stream::Debug);
        assert_eq!(r.classify(&meta("auditing", &[])), Stream::Debug);
        assert_eq!(r.classify(&meta("my_app", &["audit", "x"])), Stream::Audit);
        assert_eq!(r.classify(&meta("my_app", &["x"])), Stream::Debug);
    }

    #[test]
    fn predicate_takes_precedence() {
        let r = Router {
            predicate: Some(Arc::new(|m: &Metadata<'_>| {
                (m.target() == "audit").then_some(Stream::Debug)
            })),
            ..Router::default()
        };
        assert_eq!(r.classify(&meta("audit", &[])), Stream::Debug);
        assert_eq!(r.classify(&meta("audit::x", &[])), Stream::Audit);
    }
}
