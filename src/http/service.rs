//! The audited service: what happens to one request, stage by stage.

use super::actor::Actor;
use super::backpressure;
use super::body::AuditBody;
use super::content::{self, RouteShape};
use super::end::{End, Ending};
use super::future::{CatchPanic, ResponseFuture};
use super::health::bump;
use super::layer::Config;
use super::outcome::{self, AuditReason};
use super::policy::{AuditLevel, Stage};
use super::record::RequestFacts;
use super::request_id::RequestId;
use super::{client_addr, policy, sensitive};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tower_service::Service;
use tracing::Instrument;

/// How long a `Request`-level record waits for the body prefix it shows. A client that stalls
/// mid-body gets its `request_received` (the prefix so far, marked truncated) after this long,
/// instead of no record at all for as long as it stalls.
pub(crate) const BODY_PREFIX_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The most user-agent bytes a record carries.
const MAX_USER_AGENT_LEN: usize = 512;

/// A service that audits every request it passes to `S`. Made by
/// [`HttpAuditLayer`](super::HttpAuditLayer).
#[derive(Clone, Debug)]
pub struct HttpAudit<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> HttpAudit<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        HttpAudit { inner, config }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpAudit<S>
where
    S: Service<Request<AuditBody<ReqBody>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Send,
    ResBody: Default + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The instance that was polled ready serves this request; the clone stays for the next.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        ResponseFuture::new(audit(inner, self.config.clone(), request))
    }
}

async fn audit<S, ReqBody, ResBody>(
    mut inner: S,
    config: Arc<Config>,
    request: Request<ReqBody>,
) -> Result<Response<ResBody>, S::Error>
where
    S: Service<Request<AuditBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body<Data = Bytes>,
    ResBody: Default,
{
    let started = Instant::now();
    let counters = &config.counters;
    bump(&counters.requests);
    let (mut parts, body) = request.into_parts();

    let request_id = match parts
        .headers
        .get(&config.request_id_header)
        .and_then(|v| RequestId::parse(v.as_bytes()))
    {
        Some(id) => id,
        None => {
            let id = RequestId::generate();
            if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                parts
                    .headers
                    .insert(config.request_id_header.clone(), value);
            }
            id
        }
    };
    parts.extensions.insert(request_id.clone());

    let actor = config
        .identify
        .identify(&parts)
        .unwrap_or_else(Actor::anonymous);
    let route =
        matched_route(&parts).map(|template| config.routes.shape(&config.field_rules, template));
    let path = parts.uri.path();
    let decision = config.policy.decide(&policy::RuleInput {
        actor: &actor,
        method: &parts.method,
        route: route.as_deref().map(RouteShape::template),
        path,
    });
    // Without a route template, the path is shown with its token-like segments masked: a
    // request for `/reset/<token>` that no route matched must not write the token.
    let template = match &route {
        Some(route) => route.template().to_owned(),
        None => sensitive::path(&config.field_rules, path),
    };
    let mut body = AuditBody::new(body);

    if decision.level == AuditLevel::None {
        // No record, so no request span either: probes and other unaudited traffic cost little.
        bump(&counters.not_audited);
        let request = Request::from_parts(parts, body);
        return match call(&mut inner, request).await {
            Ok(Ok(response)) => Ok(echo(response, &config, &request_id)),
            Ok(Err(error)) => Err(error),
            Err(_panicked) => {
                bump(&counters.panics);
                Ok(echo(
                    status_only(StatusCode::INTERNAL_SERVER_ERROR),
                    &config,
                    &request_id,
                ))
            }
        };
    }

    // Only what joins the handler's own events to the audit records (`request_id`) and says
    // where they come from (`route`): the records carry method and actor themselves, and every
    // span field is rendered once more into each record's span context.
    let span = tracing::info_span!(
        "http_request",
        request_id = request_id.as_str(),
        route = template.as_str(),
    );

    let resource = match parts.uri.query() {
        Some(query) if decision.include_query => {
            content::path_with_query(&config.field_rules, &template, query)
        }
        _ => template.clone(),
    };
    let shown_path = match &route {
        Some(route) => route.show(&config.field_rules, path),
        None => template.clone(),
    };
    let (headers, shown_body) = if decision.level >= AuditLevel::Request {
        let headers =
            content::headers(&config.field_rules, config.policy.headers(), &parts.headers);
        let prefix = body
            .read_prefix(config.policy.body_cap(), BODY_PREFIX_WAIT)
            .await;
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let shown = content::body(
            &config.field_rules,
            content_type,
            &prefix.bytes,
            prefix.truncated,
        );
        // None of the selected headers present: nothing to say.
        let headers = (headers != "{}").then_some(headers);
        (headers, (!shown.is_empty()).then_some(shown))
    } else {
        (None, None)
    };
    let facts = RequestFacts {
        action: config
            .classify
            .action(&parts.method, &template)
            .into_owned(),
        unmatched_route: route.is_none(),
        resource,
        path: shown_path,
        method: parts.method.clone(),
        src_ip: config
            .proxies
            .client(client_addr::peer_addr(&parts), &parts.headers)
            .map(|ip| ip.to_string()),
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .map(|v| user_agent(v.as_bytes())),
        request_id: request_id.as_str().to_owned(),
        headers,
        body: shown_body,
        actor,
    };

    let received = decision.records(Stage::RequestReceived);
    let mut end = End::new(
        facts,
        span.clone(),
        started,
        config.counters.clone(),
        received,
        decision.records(Stage::ResponseComplete),
    );
    if received {
        // Fail-closed: everything before the handler, room in the queue included, fits in the
        // deadline; otherwise the request waits (as a task) for as long as the sink allows.
        let deadline = config
            .fail_closed
            .as_ref()
            .map(|f| tokio::time::Instant::now() + f.deadline());
        let queued = backpressure::settle(end.received(), deadline).await;
        if let (Some(fail_closed), Some(deadline)) = (&config.fail_closed, deadline) {
            if !queued || !fail_closed.sync(counters, deadline).instrument(span).await {
                if !queued {
                    bump(&counters.sync_timeouts);
                }
                bump(&counters.rejected);
                let pending = end.complete(&Ending {
                    status: Some(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
                    outcome: "failure",
                    reason: Some("audit_unavailable"),
                    actor: None,
                });
                backpressure::settle(pending, Some(deadline)).await;
                return Ok(echo(
                    status_only(StatusCode::SERVICE_UNAVAILABLE),
                    &config,
                    &request_id,
                ));
            }
        }
    }

    let request = Request::from_parts(parts, body);
    let result = call(&mut inner, request).instrument(end.span()).await;
    match result {
        Ok(Ok(response)) => {
            let status = response.status();
            let default_reason = outcome::default_reason(status);
            let pending = end.complete(&Ending {
                status: Some(status.as_u16()),
                outcome: outcome::of_status(status),
                reason: response
                    .extensions()
                    .get::<AuditReason>()
                    .map(AuditReason::as_str)
                    .or(default_reason.as_deref()),
                actor: response.extensions().get::<Actor>(),
            });
            backpressure::settle(pending, None).await;
            Ok(echo(response, &config, &request_id))
        }
        Ok(Err(error)) => {
            bump(&counters.service_errors);
            let pending = end.complete(&Ending {
                status: None,
                outcome: "failure",
                reason: Some("service_error"),
                actor: None,
            });
            backpressure::settle(pending, None).await;
            Err(error)
        }
        Err(_panicked) => {
            bump(&counters.panics);
            let pending = end.complete(&Ending {
                status: Some(StatusCode::INTERNAL_SERVER_ERROR.as_u16()),
                outcome: outcome::of_status(StatusCode::INTERNAL_SERVER_ERROR),
                reason: Some("panic"),
                actor: None,
            });
            backpressure::settle(pending, None).await;
            Ok(echo(
                status_only(StatusCode::INTERNAL_SERVER_ERROR),
                &config,
                &request_id,
            ))
        }
    }
}

/// Calls the inner service, turning a panic in `call` or in its future into `Panicked`.
async fn call<S, B>(
    inner: &mut S,
    request: Request<B>,
) -> Result<Result<S::Response, S::Error>, super::future::Panicked>
where
    S: Service<Request<B>>,
{
    let future = catch_unwind(AssertUnwindSafe(|| inner.call(request)))
        .map_err(|_| super::future::Panicked)?;
    CatchPanic::new(future).await
}

fn echo<B>(mut response: Response<B>, config: &Config, id: &RequestId) -> Response<B> {
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(config.request_id_header.clone(), value);
    }
    response
}

fn status_only<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}

fn user_agent(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_USER_AGENT_LEN {
        return text.into_owned();
    }
    let mut end = MAX_USER_AGENT_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated]", &text[..end])
}

/// The route template the router matched (axum's `MatchedPath`), when known.
fn matched_route(parts: &http::request::Parts) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(matched.as_str());
    }
    let _ = parts;
    None
}
