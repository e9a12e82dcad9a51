//! Who made a request: the [`Actor`] and the [`IdentifyActor`] hook that finds it.

use http::request::Parts;
use std::fmt;

/// The authenticated principal of a request, as the audit records name it.
///
/// Authentication middleware usually inserts one into the request extensions; the default
/// [`IdentifyActor`] reads it from there.
///
/// ```
/// use tracing_audit::http::Actor;
/// let actor = Actor::new("alice").groups(["analyst"]).session("s-42");
/// assert_eq!(actor.name(), "alice");
/// assert!(Actor::anonymous().is_anonymous());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Actor {
    pub(crate) name: String,
    pub(crate) groups: Vec<String>,
    pub(crate) session: Option<String>,
}

/// The actor name of requests no [`IdentifyActor`] recognised.
pub const ANONYMOUS: &str = "anonymous";

impl Actor {
    /// An actor called `name`, in no group, without a session.
    pub fn new(name: impl Into<String>) -> Self {
        Actor {
            name: name.into(),
            groups: Vec::new(),
            session: None,
        }
    }

    /// The actor of unauthenticated requests: [`ANONYMOUS`].
    pub fn anonymous() -> Self {
        Actor::new(ANONYMOUS)
    }

    /// The groups (roles) policy rules can match on. Matching is case-insensitive.
    pub fn groups<I: IntoIterator<Item = T>, T: Into<String>>(mut self, groups: I) -> Self {
        self.groups = groups
            .into_iter()
            .map(|g| g.into().to_ascii_lowercase())
            .collect();
        self
    }

    /// The session id, written as the record's `session`.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// The actor's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is the [`anonymous`](Self::anonymous) actor.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Finds the actor of a request from its head (headers and extensions), before the handler
/// runs. Put the audit layer *after* authentication so extensions are already filled in.
///
/// Implemented for closures:
///
/// ```
/// use tracing_audit::http::{Actor, HttpAuditLayer};
/// let layer = HttpAuditLayer::new().identify_actor(|req: &http::request::Parts| {
///     req.headers
///         .get("x-user")
///         .and_then(|v| v.to_str().ok())
///         .map(Actor::new)
/// });
/// # drop(layer);
/// ```
pub trait IdentifyActor: Send + Sync + 'static {
    /// The actor, or `None` for an anonymous request.
    fn identify(&self, request: &Parts) -> Option<Actor>;
}

impl<F> IdentifyActor for F
where
    F: Fn(&Parts) -> Option<Actor> + Send + Sync + 'static,
{
    fn identify(&self, request: &Parts) -> Option<Actor> {
        self(request)
    }
}

/// The default [`IdentifyActor`]: the [`Actor`] an earlier middleware inserted into the
/// request extensions.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActorFromExtensions;

impl IdentifyActor for ActorFromExtensions {
    fn identify(&self, request: &Parts) -> Option<Actor> {
        request.extensions.get::<Actor>().cloned()
    }
}
