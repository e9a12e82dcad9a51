//! The two audit records of a request, emitted as ordinary `tracing` events with target
//! `audit`: the crate's layer routes, redacts, chains and writes them like any other.

use super::actor::Actor;
use super::health::{bump, Counters};
use super::policy::Stage;
use std::time::Duration;

/// What both records of one request say.
#[derive(Debug)]
pub(crate) struct RequestFacts {
    pub(crate) actor: Actor,
    pub(crate) action: String,
    pub(crate) resource: String,
    pub(crate) path: String,
    pub(crate) method: http::Method,
    pub(crate) src_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) request_id: String,
    /// No route template matched: `resource` and `path` are the path with its tokens masked.
    pub(crate) unmatched_route: bool,
    /// `Request` level: the selected headers and the body, rendered and masked.
    pub(crate) headers: Option<String>,
    pub(crate) body: Option<String>,
}

pub(crate) fn request_received(facts: &RequestFacts, counters: &Counters) {
    bump(&counters.records);
    tracing::info!(
        target: "audit",
        stage = Stage::RequestReceived.as_str(),
        actor = facts.actor.name.as_str(),
        action = facts.action.as_str(),
        resource = facts.resource.as_str(),
        outcome = "pending",
        src_ip = facts.src_ip.as_deref(),
        session = facts.actor.session.as_deref(),
        method = facts.method.as_str(),
        path = facts.path.as_str(),
        unmatched_route = facts.unmatched_route.then_some(true),
        user_agent = facts.user_agent.as_deref(),
        request_id = facts.request_id.as_str(),
        request_headers = facts.headers.as_deref(),
        request_body = facts.body.as_deref(),
    );
}

/// How the request ended.
#[derive(Debug)]
pub(crate) struct Completion<'a> {
    pub(crate) status: Option<u16>,
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'a str>,
    /// The actor the response names (a login handler's user), else the request's.
    pub(crate) actor: Option<&'a Actor>,
    pub(crate) latency: Duration,
    /// Whether `request_received` was written: it carries the request's path, user agent and
    /// content, so this record does not repeat them.
    pub(crate) content_shown: bool,
}

pub(crate) fn response_complete(facts: &RequestFacts, done: &Completion<'_>, counters: &Counters) {
    bump(&counters.records);
    let actor = done.actor.unwrap_or(&facts.actor);
    // After a `request_received`, the end says only what is new (status, latency, outcome, an
    // actor the response named) and what every audit record needs to be read alone (who, what,
    // which resource, from where, the request id): the request's path, user agent, headers and
    // body are in the first record, joined by `request_id` and `correlation_id`.
    let first = !done.content_shown;
    let (headers, body) = if first {
        (facts.headers.as_deref(), facts.body.as_deref())
    } else {
        (None, None)
    };
    let session = if first || done.actor.is_some() {
        actor.session.as_deref()
    } else {
        None
    };
    tracing::info!(
        target: "audit",
        stage = Stage::ResponseComplete.as_str(),
        actor = actor.name.as_str(),
        action = facts.action.as_str(),
        resource = facts.resource.as_str(),
        outcome = done.outcome,
        reason = done.reason,
        src_ip = facts.src_ip.as_deref(),
        session = session,
        method = facts.method.as_str(),
        path = first.then_some(facts.path.as_str()),
        unmatched_route = facts.unmatched_route.then_some(true),
        status = done.status,
        latency_us = u64::try_from(done.latency.as_micros()).unwrap_or(u64::MAX),
        user_agent = facts.user_agent.as_deref().filter(|_| first),
        request_id = facts.request_id.as_str(),
        request_headers = headers,
        request_body = body,
    );
}
