//! Which requests are audited, and how much of each: an ordered list of rules, first match wins.
//!
//! The model is Kubernetes' audit policy. Each [`Rule`] matches on the actor (names or groups),
//! the method and the route template or path (globs), and chooses an [`AuditLevel`] and the
//! [`Stage`]s to leave out. A request no rule matches is not audited ([`AuditLevel::None`]), so
//! a policy usually ends with a catch-all rule.

mod file;

pub use file::{PolicyError, PolicyErrorKind};

use super::actor::Actor;
use crate::redact::glob_match;
use http::{HeaderName, Method};
use std::fmt;

/// How much of a request its audit records carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AuditLevel {
    /// No record at all.
    None,
    /// Who, what, which resource, from where, outcome, status, latency, user agent, request id.
    Metadata,
    /// `Metadata` plus the policy's selected request headers and the request body up to the
    /// policy's size cap, both redacted.
    Request,
}

/// A point in a request's life that yields one audit record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// `request_received`: written before the handler runs. In fail-closed mode the handler
    /// only runs once this record is durable.
    RequestReceived,
    /// `response_complete`: written when the service has produced the response head (status,
    /// latency), or has failed or panicked.
    ResponseComplete,
}

impl Stage {
    /// The name of the stage in records (`request_received`, `response_complete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "request_received",
            Stage::ResponseComplete => "response_complete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Stage::RequestReceived => 1,
            Stage::ResponseComplete => 2,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule of a [`Policy`]. Every criterion given must match (an empty criterion matches
/// anything); within one criterion, any entry may match.
///
/// Globs are ASCII case-insensitive; `*` matches any run of characters including `/`, `?` one
/// character.
///
/// ```
/// use tracing_audit::http::{AuditLevel, Rule, Stage};
/// let rule = Rule::new(AuditLevel::Request)
///     .named("admin writes")
///     .groups(["admin"])
///     .methods(["POST", "PUT", "PATCH", "DELETE"])
///     .routes(["/admin/*"])
///     .omit_stages([Stage::ResponseComplete]);
/// assert_eq!(rule.level(), AuditLevel::Request);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Rule {
    name: Option<String>,
    level: AuditLevel,
    actors: Vec<String>,
    groups: Vec<String>,
    methods: Vec<Method>,
    routes: Vec<String>,
    paths: Vec<String>,
    omit: u8,
    include_query: bool,
}

impl Rule {
    /// A rule matching every request, at `level`.
    pub fn new(level: AuditLevel) -> Self {
        Rule {
            name: None,
            level,
            actors: Vec::new(),
            groups: Vec::new(),
            methods: Vec::new(),
            routes: Vec::new(),
            paths: Vec::new(),
            omit: 0,
            include_query: false,
        }
    }

    /// A name for error messages and documentation.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Matches actors whose name matches one of these globs (`anonymous` for unauthenticated
    /// requests).
    pub fn actors<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, globs: I) -> Self {
        self.actors = lower(globs);
        self
    }

    /// Matches actors belonging to a group that matches one of these globs.
    pub fn groups<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, globs: I) -> Self {
        self.groups = lower(globs);
        self
    }

    /// Matches these methods. Names that are not valid methods are ignored; policy files
    /// report them as errors instead.
    pub fn methods<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, methods: I) -> Self {
        self.methods = methods
            .into_iter()
            .filter_map(|m| Method::from_bytes(m.as_ref().to_ascii_uppercase().as_bytes()).ok())
            .collect();
        self
    }

    /// Matches the route template (`/reports/{id}`, known with the `axum` feature) against
    /// these globs. A request whose route is unknown matches when its path does.
    pub fn routes<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, globs: I) -> Self {
        self.routes = lower(globs);
        self
    }

    /// Matches the request path (without the query string) against these globs.
    pub fn paths<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, globs: I) -> Self {
        self.paths = lower(globs);
        self
    }

    /// Leaves these stages out of the records of matching requests.
    pub fn omit_stages<I: IntoIterator<Item = Stage>>(mut self, stages: I) -> Self {
        self.omit = stages.into_iter().fold(0, |acc, s| acc | s.bit());
        self
    }

    /// Writes the query string into `resource`, each parameter redacted by the field-name
    /// rules and the layer's detectors. Off by default: query strings carry tokens.
    pub fn include_query(mut self, include: bool) -> Self {
        self.include_query = include;
        self
    }

    /// The level this rule chooses.
    pub fn level(&self) -> AuditLevel {
        self.level
    }

    /// The rule's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn matches(&self, req: &RuleInput<'_>) -> bool {
        (self.actors.is_empty() || self.actors.iter().any(|g| glob(g, &req.actor.name)))
            && (self.groups.is_empty()
                || self
                    .groups
                    .iter()
                    .any(|g| req.actor.groups.iter().any(|have| glob(g, have))))
            && (self.methods.is_empty() || self.methods.contains(req.method))
            && self.matches_location(req)
    }

    fn matches_location(&self, req: &RuleInput<'_>) -> bool {
        if self.routes.is_empty() && self.paths.is_empty() {
            return true;
        }
        let route = req.route.unwrap_or(req.path);
        self.routes.iter().any(|g| glob(g, route)) || self.paths.iter().any(|g| glob(g, req.path))
    }
}

fn lower<I: IntoIterator<Item = T>, T: AsRef<str>>(globs: I) -> Vec<String> {
    globs
        .into_iter()
        .map(|g| g.as_ref().to_ascii_lowercase())
        .collect()
}

fn glob(pattern: &str, value: &str) -> bool {
    glob_match(pattern.as_bytes(), value.as_bytes())
}

/// What the policy decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) level: AuditLevel,
    omit: u8,
    pub(crate) include_query: bool,
}

impl Decision {
    pub(crate) const NONE: Decision = Decision {
        level: AuditLevel::None,
        omit: 0,
        include_query: false,
    };

    pub(crate) fn records(&self, stage: Stage) -> bool {
        self.level != AuditLevel::None && self.omit & stage.bit() == 0
    }
}

/// What a rule can match on: the facts of one request.
#[derive(Debug)]
pub(crate) struct RuleInput<'a> {
    pub(crate) actor: &'a Actor,
    pub(crate) method: &'a Method,
    pub(crate) route: Option<&'a str>,
    pub(crate) path: &'a str,
}

/// Default cap on the request body bytes a `Request`-level record carries.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4096;

/// The largest body cap a policy may set: a `Request`-level record holds this much of each
/// body in memory (per request in flight) and in the trail. Larger caps are refused.
pub const MAX_BODY_BYTES_LIMIT: usize = 1 << 20;

/// The most request headers a policy may select for `Request`-level records.
pub const MAX_REQUEST_HEADERS: usize = 64;

/// The most rules a policy may have (each request tries them in order).
pub const MAX_RULES: usize = 256;

/// Paths the default policy does not audit.
pub const DEFAULT_HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/health"];

/// An audit policy: ordered [`Rule`]s (first match wins, no match means no record), the request
/// headers `Request`-level records carry, and the body size cap.
///
/// | setting | default |
/// |---|---|
/// | rules | [`DEFAULT_HEALTH_PATHS`] at `None`, everything else at `Metadata` |
/// | request headers (`Request` level) | `content-type`, `content-length` |
/// | body cap (`Request` level) | [`DEFAULT_MAX_BODY_BYTES`] |
/// | stages omitted for every rule | none |
///
/// ```
/// use tracing_audit::http::{AuditLevel, Policy, Rule};
/// let policy = Policy::new()
///     .rule(Rule::new(AuditLevel::None).paths(["/healthz"]))
///     .rule(Rule::new(AuditLevel::Request).methods(["POST"]).routes(["/login"]))
///     .rule(Rule::new(AuditLevel::Metadata))
///     .request_headers(["content-type", "authorization"])
///     .max_body_bytes(1024);
/// assert_eq!(policy.rules().len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Policy {
    rules: Vec<Rule>,
    headers: Vec<HeaderName>,
    max_body_bytes: usize,
    omit: u8,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new()
            .rule(
                Rule::new(AuditLevel::None)
                    .named("health checks")
                    .paths(DEFAULT_HEALTH_PATHS),
            )
            .rule(Rule::new(AuditLevel::Metadata).named("everything else"))
    }
}

impl Policy {
    /// A policy without rules (audits nothing until rules are added), with the default headers
    /// and body cap.
    pub fn new() -> Self {
        Policy {
            rules: Vec::new(),
            headers: vec![http::header::CONTENT_TYPE, http::header::CONTENT_LENGTH],
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            omit: 0,
        }
    }

    /// Appends a rule; rules are tried in the order they were added.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The request headers `Request`-level records carry (names that are not valid header
    /// names are ignored). Values are redacted by the field-name rules, so `authorization` or
    /// `cookie` can be listed to record that they were present.
    pub fn request_headers<I: IntoIterator<Item = T>, T: AsRef<str>>(mut self, names: I) -> Self {
        self.headers = names
            .into_iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_ref().as_bytes()).ok())
            .collect();
        self
    }

    /// The most request body bytes a `Request`-level record carries; at most
    /// [`MAX_BODY_BYTES_LIMIT`] ([`validate`](Self::validate) refuses more, and the middleware
    /// never reads more than that limit whatever is set).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Leaves these stages out for every rule.
    pub fn omit_stages<I: IntoIterator<Item = Stage>>(mut self, stages: I) -> Self {
        self.omit = stages.into_iter().fold(0, |acc, s| acc | s.bit());
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(crate) fn headers(&self) -> &[HeaderName] {
        &self.headers
    }

    pub(crate) fn body_cap(&self) -> usize {
        self.max_body_bytes.min(MAX_BODY_BYTES_LIMIT)
    }

    /// The first rule (1-based position, name) that audits requests without a
    /// `request_received` record, if any.
    pub(crate) fn rule_without_request_received(&self) -> Option<(usize, Option<&str>)> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| {
                r.level != AuditLevel::None
                    && (r.omit | self.omit) & Stage::RequestReceived.bit() != 0
            })
            .map(|(i, r)| (i + 1, r.name.as_deref()))
    }

    pub(crate) fn decide(&self, req: &RuleInput<'_>) -> Decision {
        match self.rules.iter().find(|r| r.matches(req)) {
            Some(rule) => Decision {
                level: rule.level,
                omit: rule.omit | self.omit,
                include_query: rule.include_query,
            },
            None => Decision::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(actor: &'a Actor, method: &'a Method, path: &'a str) -> RuleInput<'a> {
        RuleInput {
            actor,
            method,
            route: None,
            path,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_no_match_is_none() {
        let p = Policy::new()
            .rule(Rule::new(AuditLevel::None).paths(["/healthz"]))
            .rule(Rule::new(AuditLevel::Request).methods(["post"]))
            .rule(Rule::new(AuditLevel::Metadata).paths(["/reports/*"]));
        let alice = Actor::new("alice");
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(
            p.decide(&facts(&alice, &post, "/healthz")).level,
            AuditLevel::None
        );
        assert_eq!(
            p.decide(&facts(&alice, &post, "/reports/1")).level,
            AuditLevel::Request
        );
        assert_eq!(
            p.decide(&facts(&alice, &get, "/reports/1")).level,
            AuditLevel::Metadata
        );
        assert_eq!(p.decide(&facts(&alice, &get, "/other")), Decision::NONE);
    }

    #[test]
    fn groups_actors_and_routes_match_by_glob() {
        let p = Policy::new()
            .rule(
                Rule::new(AuditLevel::Request)
                    .groups(["adm*"])
                    .routes(["/admin/*"]),
            )
            .rule(Rule::new(AuditLevel::None).actors(["system:*"]))
            .rule(Rule::new(AuditLevel::Metadata));
        let root = Actor::new("root").groups(["admin"]);
        let probe = Actor::new("system:probe");
        let post = Method::POST;
        let mut f = facts(&root, &post, "/admin/export");
        f.route = Some("/admin/{what}");
        assert_eq!(p.decide(&f).level, AuditLevel::Request);
        assert_eq!(
            p.decide(&facts(&probe, &post, "/x")).level,
            AuditLevel::None
        );
    }

    #[test]
    fn omitted_stages_are_not_recorded() {
        let p = Policy::new()
            .rule(Rule::new(AuditLevel::Metadata).omit_stages([Stage::RequestReceived]));
        let a = Actor::anonymous();
        let d = p.decide(&facts(&a, &Method::GET, "/"));
        assert!(!d.records(Stage::RequestReceived));
        assert!(d.records(Stage::ResponseComplete));
        assert!(!Decision::NONE.records(Stage::ResponseComplete));
    }
}
