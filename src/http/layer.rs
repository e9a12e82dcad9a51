//! The tower [`Layer`] and its configuration.

use super::action::{ActionFromMethod, ClassifyAction};
use super::actor::{ActorFromExtensions, IdentifyActor};
use super::client_addr::TrustedProxies;
use super::content::RouteShapes;
use super::fail_closed::FailClosed;
use super::health::{Counters, HttpHealthHandle};
use super::policy::{Policy, PolicyError};
use super::service::HttpAudit;
use crate::layer::AuditHandle;
use crate::redact::FieldRules;
use http::HeaderName;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower_layer::Layer;

/// The header a request id is read from and echoed in, unless configured otherwise.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub(crate) struct Config {
    pub(crate) policy: Policy,
    pub(crate) identify: Arc<dyn IdentifyActor>,
    pub(crate) classify: Arc<dyn ClassifyAction>,
    pub(crate) proxies: TrustedProxies,
    pub(crate) field_rules: FieldRules,
    pub(crate) request_id_header: HeaderName,
    pub(crate) fail_closed: Option<FailClosed>,
    pub(crate) counters: Arc<Counters>,
    /// Route templates read once (for the field rules above; reset when they change).
    pub(crate) routes: Arc<RouteShapes>,
    /// `check()` failures are warned about once, when the first service is made.
    pub(crate) warned: Arc<AtomicBool>,
}

impl Clone for Config {
    fn clone(&self) -> Self {
        Config {
            policy: self.policy.clone(),
            identify: self.identify.clone(),
            classify: self.classify.clone(),
            proxies: self.proxies.clone(),
            field_rules: self.field_rules.clone(),
            request_id_header: self.request_id_header.clone(),
            fail_closed: self.fail_closed.clone(),
            counters: self.counters.clone(),
            routes: self.routes.clone(),
            warned: self.warned.clone(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("policy", &self.policy)
            .field("proxies", &self.proxies)
            .field("field_rules", &self.field_rules)
            .field("request_id_header", &self.request_id_header)
            .field("fail_closed", &self.fail_closed)
            .finish_non_exhaustive()
    }
}

/// A tower layer that audits every HTTP request through the crate's [`AuditLayer`](crate::layer::AuditLayer).
///
/// Each request gets a span (`http_request`: request id, method, route, actor), so everything the
/// handler logs shares the audit records' correlation id, and up to two audit records, as its
/// [`Policy`] says: `request_received` before the handler runs, `response_complete` after.
///
/// | setting | default |
/// |---|---|
/// | policy | [`Policy::default`]: health checks not audited, everything else at `Metadata` |
/// | actor | [`ActorFromExtensions`]: an [`Actor`](super::Actor) an authentication middleware inserted; else `anonymous` |
/// | action | [`ActionFromMethod`]: read, create, update, delete |
/// | trusted proxies | none: `src_ip` is the peer address |
/// | field-name rules for headers, bodies, queries | [`FieldRules::default`] |
/// | request id header | [`REQUEST_ID_HEADER`] |
/// | failure mode | open: requests never wait for the disk beyond the audit queue's back-pressure |
///
/// ```no_run
/// use std::time::Duration;
/// use tracing_audit::http::{HttpAuditLayer, Policy};
/// use tracing_audit::{layer::AuditLayer, sink::FileSink};
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (layer, guard) = AuditLayer::builder()
///     .audit_to_files(FileSink::new("logs/audit"))
///     .debug_to_files(FileSink::new("logs/debug"))
///     .build()?;
/// tracing_subscriber::registry().with(layer).init();
///
/// let audit = HttpAuditLayer::new()
///     .policy(Policy::from_file("audit-policy.toml")?)
///     .fail_closed(guard.handle(), Duration::from_millis(250));
/// // axum: Router::new().route(..).layer(audit)
/// # drop(audit); Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct HttpAuditLayer {
    // Shared by every service the layer makes (axum makes one per route).
    config: Arc<Config>,
}

impl Default for HttpAuditLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpAuditLayer {
    /// A layer with the defaults in the table above.
    pub fn new() -> Self {
        HttpAuditLayer {
            config: Arc::new(Config {
                policy: Policy::default(),
                identify: Arc::new(ActorFromExtensions),
                classify: Arc::new(ActionFromMethod),
                proxies: TrustedProxies::none(),
                field_rules: FieldRules::default(),
                request_id_header: HeaderName::from_static(REQUEST_ID_HEADER),
                fail_closed: None,
                counters: Arc::default(),
                routes: Arc::default(),
                warned: Arc::default(),
            }),
        }
    }

    /// The audit policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.config_mut().policy = policy;
        self
    }

    /// How the actor of a request is found.
    pub fn identify_actor(mut self, identify: impl IdentifyActor) -> Self {
        self.config_mut().identify = Arc::new(identify);
        self
    }

    /// How the action of a request is named.
    pub fn classify_action(mut self, classify: impl ClassifyAction) -> Self {
        self.config_mut().classify = Arc::new(classify);
        self
    }

    /// The proxies whose `Forwarded`/`X-Forwarded-For` headers name the client.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.config_mut().proxies = proxies;
        self
    }

    /// The field-name rules that mask header values, JSON and form body keys and query
    /// parameters before they reach the layer. Give the same rules as the
    /// [`AuditLayer`](crate::layer::AuditLayer) when it has extra ones.
    pub fn field_rules(mut self, rules: FieldRules) -> Self {
        let config = self.config_mut();
        config.field_rules = rules;
        config.routes = Arc::default();
        self
    }

    /// The header a client's request id is read from and the response echoes.
    pub fn request_id_header(mut self, name: HeaderName) -> Self {
        self.config_mut().request_id_header = name;
        self
    }

    /// Fail closed (Kubernetes' `blocking-strict`): the handler runs only once the
    /// `request_received` record is durable (`handle.sync_timeout()` returned `Ok` within
    /// `deadline`).
    /// Otherwise the client gets a bare 503 and the failure is counted in
    /// [`HttpHealth`](super::HttpHealth). Requests whose policy records no `request_received`
    /// are not held. Needs a Tokio runtime with timers enabled.
    pub fn fail_closed(mut self, handle: AuditHandle, deadline: Duration) -> Self {
        self.config_mut().fail_closed = Some(FailClosed::new(handle, deadline));
        self
    }

    /// Refuses a configuration that is unsafe or unbounded; call it at start-up (the example
    /// does, and exits on `Err`). Checks the policy's size knobs ([`Policy::validate`]) and, in
    /// fail-closed mode, that every audited rule records `request_received`: fail-closed holds
    /// a request until that record is durable, so a rule without it lets handlers run with no
    /// record at all. A layer put in service without this check says the same once, as a
    /// `warn` event (debug stream), when it wraps its first service; the body cap is never
    /// exceeded either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracing_audit::http::{HttpAuditLayer, Policy, PolicyErrorKind};
    /// let layer = HttpAuditLayer::new().policy(Policy::default().max_body_bytes(200_000_000));
    /// assert_eq!(layer.check().unwrap_err().kind(), PolicyErrorKind::OverLimit);
    /// ```
    ///
    /// # Errors
    /// [`PolicyErrorKind::OverLimit`](super::PolicyErrorKind::OverLimit) or [`PolicyErrorKind::UnsafeWithFailClosed`](super::PolicyErrorKind::UnsafeWithFailClosed).
    pub fn check(&self) -> Result<(), PolicyError> {
        self.config.policy.validate()?;
        if self.config.fail_closed.is_some() {
            self.config.policy.check_fail_closed()?;
        }
        Ok(())
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The middleware's counters, shared by every service this layer makes.
    pub fn health_handle(&self) -> HttpHealthHandle {
        HttpHealthHandle {
            counters: self.config.counters.clone(),
        }
    }
}

impl<S> Layer<S> for HttpAuditLayer {
    type Service = HttpAudit<S>;

    fn layer(&self, inner: S) -> HttpAudit<S> {
        if !self.config.warned.swap(true, Ordering::Relaxed) {
            if let Err(e) = self.check() {
                tracing::warn!(error = %e, "HttpAuditLayer configuration refused by check()");
            }
        }
        HttpAudit::new(inner, self.config.clone())
    }
}
