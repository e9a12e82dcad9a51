//! The HTTP middleware in front of a real axum server on 127.0.0.1, driven by a real client,
//! with the crate's layer writing real files: what each request leaves in both streams.

mod http_support;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http_support::{for_request, serve, stage, HttpClient, Trail};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tracing_audit::http::{Actor, AuditLevel, HttpAuditLayer, Policy, Rule, Stage, TrustedProxies};

/// Authentication in front of the audit layer: `Bearer alice-token` is alice (analyst),
/// `Bearer root-token` root (admin).
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let actor = match token {
        Some("alice-token") => Some(Actor::new("alice").groups(["analyst"]).session("s-1")),
        Some("root-token") => Some(Actor::new("root").groups(["admin"])),
        _ => None,
    };
    if let Some(actor) = actor {
        request.extensions_mut().insert(actor);
    }
    next.run(request).await
}

/// Authorization behind the audit layer: admins only.
async fn require_admin(actor: Option<Extension<Actor>>, request: Request, next: Next) -> Response {
    match actor {
        Some(Extension(a)) if a.name() == "root" => next.run(request).await,
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

fn app(audit: HttpAuditLayer) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/reports/{id}",
            get(|| async {
                tracing::debug!(rows = 3, "report loaded");
                "report"
            }),
        )
        .route(
            "/login",
            post(|body: String| async move {
                tracing::debug!(len = body.len(), "login body read");
                "welcome"
            }),
        )
        .route(
            "/admin/export",
            post(|| async { "exported" }).route_layer(middleware::from_fn(require_admin)),
        )
        .route(
            "/own/{id}",
            get(|| async { (StatusCode::FORBIDDEN, "not yours") }),
        )
        .route("/panic", get(panicking_handler))
        .route(
            "/error",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "db down") }),
        )
        .route("/other", get(|| async { "other" }))
        .layer(audit)
        .layer(middleware::from_fn(authenticate))
}

async fn panicking_handler() -> &'static str {
    panic!("handler bug")
}

const ALICE: (&str, &str) = ("authorization", "Bearer alice-token");

fn rid(id: &str) -> (&str, &str) {
    ("x-request-id", id)
}

#[tokio::test(flavor = "current_thread")]
async fn each_request_yields_exactly_the_records_its_policy_calls_for() {
    let mut trail = Trail::new();
    let policy = Policy::new()
        .rule(Rule::new(AuditLevel::None).paths(["/healthz"]))
        // Shadowed by the rule above: first match wins.
        .rule(Rule::new(AuditLevel::Request).paths(["/healthz"]))
        .rule(
            Rule::new(AuditLevel::Metadata)
                .routes(["/reports/*"])
                .omit_stages([Stage::RequestReceived]),
        )
        .rule(
            Rule::new(AuditLevel::Request)
                .methods(["POST"])
                .routes(["/login"]),
        )
        .rule(Rule::new(AuditLevel::None).actors(["root"]))
        .rule(Rule::new(AuditLevel::Metadata));
    let audit = HttpAuditLayer::new().policy(policy);
    let health = audit.health_handle();
    let client = HttpClient::new(serve(app(audit)).await);

    assert_eq!(client.get("/healthz", &[rid("h1")]).await.status, 200);
    assert_eq!(
        client.get("/reports/7", &[ALICE, rid("r1")]).await.status,
        200
    );
    let login = client
        .send(
            "POST",
            "/login",
            &[rid("l1"), ("content-type", "text/plain")],
            "hi",
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(client.get("/other", &[ALICE, rid("o1")]).await.status, 200);
    assert_eq!(
        client
            .get(
                "/other",
                &[("authorization", "Bearer root-token"), rid("o2")]
            )
            .await
            .status,
        200
    );

    let records = trail.audit();
    assert!(
        for_request(&records, "h1").is_empty(),
        "None rule: no record"
    );
    assert!(for_request(&records, "o2").is_empty(), "None rule by actor");
    let r1 = for_request(&records, "r1");
    assert_eq!(r1.len(), 1, "{r1:?}");
    assert_eq!(stage(r1[0]), "response_complete");
    assert_eq!(r1[0]["resource"], "/reports/{id}", "the route template");
    assert_eq!(r1[0]["fields"]["path"], "/reports/7");
    assert_eq!(r1[0]["action"], "read");
    assert_eq!(r1[0]["actor"], "alice");
    assert_eq!(r1[0]["session"], "s-1");
    assert_eq!(r1[0]["outcome"], "success");
    assert_eq!(r1[0]["fields"]["status"], 200);
    assert!(r1[0]["fields"]["latency_us"].is_u64());
    let l1 = for_request(&records, "l1");
    assert_eq!(
        l1.iter().map(|r| stage(r)).collect::<Vec<_>>(),
        ["request_received", "response_complete"]
    );
    assert_eq!(l1[0]["actor"], "anonymous");
    assert_eq!(l1[0]["action"], "create");
    assert_eq!(l1[0]["outcome"], "pending");
    assert_eq!(
        l1[0]["fields"]["request_body"], "hi",
        "Request level carries the body"
    );
    assert!(l1[1]["fields"].get("request_body").is_none(), "shown once");
    let o1 = for_request(&records, "o1");
    assert_eq!(o1.len(), 2);
    assert!(
        o1[0]["fields"].get("request_body").is_none(),
        "Metadata level: no body"
    );
    assert!(o1[0]["fields"].get("request_headers").is_none());

    let h = health.health();
    assert_eq!(h.requests, 5);
    assert_eq!(h.not_audited, 2);
    assert_eq!(h.records, 5);
}

#[tokio::test(flavor = "current_thread")]
async fn denied_requests_are_audited_as_denied_with_the_actor() {
    let mut trail = Trail::new();
    let client = HttpClient::new(serve(app(HttpAuditLayer::new())).await);

    // 403 from the authorization layer between the audit layer and the handler.
    let r = client
        .send("POST", "/admin/export", &[ALICE, rid("d1")], "")
        .await;
    assert_eq!(r.status, 403);
    // 403 from the handler itself.
    assert_eq!(client.get("/own/9", &[ALICE, rid("d2")]).await.status, 403);
    let ok = client
        .send(
            "POST",
            "/admin/export",
            &[("authorization", "Bearer root-token"), rid("d3")],
            "",
        )
        .await;
    assert_eq!(ok.status, 200);

    let records = trail.audit();
    for id in ["d1", "d2"] {
        let done = for_request(&records, id)
            .into_iter()
            .find(|r| stage(r) == "response_complete")
            .unwrap_or_else(|| panic!("{id} audited"));
        assert_eq!(done["outcome"], "denied", "{done}");
        assert_eq!(done["actor"], "alice");
        assert_eq!(done["reason"], "forbidden");
        assert_eq!(done["fields"]["status"], 403);
    }
    let d3 = for_request(&records, "d3");
    assert_eq!(d3[1]["outcome"], "success");
    assert_eq!(d3[1]["actor"], "root");
}

#[tokio::test(flavor = "current_thread")]
async fn handler_panics_and_error_responses_are_failures_and_the_service_keeps_serving() {
    let mut trail = Trail::new();
    let audit = HttpAuditLayer::new();
    let health = audit.health_handle();
    let client = HttpClient::new(serve(app(audit)).await);

    assert_eq!(client.get("/panic", &[ALICE, rid("p1")]).await.status, 500);
    assert_eq!(client.get("/error", &[rid("e1")]).await.status, 500);
    // The same connection pool, the same server: still serving.
    let after = client.get("/other", &[rid("ok1")]).await;
    assert_eq!(after.status, 200);
    assert_eq!(&after.body[..], b"other");

    let records = trail.audit();
    let p1 = for_request(&records, "p1");
    assert_eq!(p1.len(), 2, "{p1:?}");
    assert_eq!(p1[1]["outcome"], "failure");
    assert_eq!(p1[1]["reason"], "panic");
    assert_eq!(p1[1]["actor"], "alice");
    let e1 = for_request(&records, "e1");
    assert_eq!(e1[1]["outcome"], "failure");
    assert_eq!(e1[1]["reason"], "internal_server_error");
    assert_eq!(for_request(&records, "ok1")[1]["outcome"], "success");
    assert_eq!(health.health().panics, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn handler_debug_events_share_the_audit_correlation_id_and_the_request_id_is_echoed() {
    let mut trail = Trail::new();
    let client = HttpClient::new(serve(app(HttpAuditLayer::new())).await);

    let given = client.get("/reports/1", &[rid("req-42.a")]).await;
    assert_eq!(given.headers["x-request-id"], "req-42.a");
    let malformed = client
        .get(
            "/reports/2",
            &[("x-request-id", "two words; and \"quotes\"")],
        )
        .await;
    let generated = malformed.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        generated.len(),
        32,
        "a malformed id is replaced: {generated}"
    );
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    let missing = client.get("/reports/3", &[]).await;
    assert_ne!(missing.headers["x-request-id"], generated.as_str());

    let audit = trail.audit();
    let debug = trail.debug();
    for id in ["req-42.a", generated.as_str()] {
        let records = for_request(&audit, id);
        assert_eq!(records.len(), 2, "{id}");
        let correlation = &records[0]["correlation_id"];
        assert!(correlation.is_string());
        assert_eq!(&records[1]["correlation_id"], correlation);
        let handler_events: Vec<_> = debug
            .iter()
            .filter(|r| r["message"] == "report loaded" && &r["correlation_id"] == correlation)
            .collect();
        assert_eq!(
            handler_events.len(),
            1,
            "{id}: the handler's debug event joins the audit records"
        );
        assert_eq!(handler_events[0]["spans"][0]["fields"]["request_id"], id);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let mut trail = Trail::new();
    let untrusted = HttpClient::new(serve(app(HttpAuditLayer::new())).await);
    let trusted = HttpClient::new(
        serve(app(HttpAuditLayer::new().trusted_proxies(
            TrustedProxies::none().trust("127.0.0.1").unwrap(),
        )))
        .await,
    );
    let spoof = ("x-forwarded-for", "203.0.113.9");
    untrusted.get("/other", &[spoof, rid("u1")]).await;
    trusted.get("/other", &[spoof, rid("t1")]).await;
    trusted
        .get(
            "/other",
            &[("forwarded", "for=\"[2001:db8::7]:4711\""), rid("t2")],
        )
        .await;

    let records = trail.audit();
    for r in for_request(&records, "u1") {
        assert_eq!(
            r["src_ip"], "127.0.0.1",
            "spoofed header from an untrusted peer"
        );
    }
    for r in for_request(&records, "t1") {
        assert_eq!(r["src_ip"], "203.0.113.9");
    }
    assert_eq!(for_request(&records, "t2")[0]["src_ip"], "2001:db8::7");
}

#[tokio::test(flavor = "current_thread")]
async fn secrets_in_query_strings_and_bodies_reach_neither_stream() {
    let mut trail = Trail::new();
    let policy = Policy::new()
        .rule(Rule::new(AuditLevel::Request).routes(["/login"]))
        .rule(
            Rule::new(AuditLevel::Metadata)
                .routes(["/reports/*"])
                .include_query(true),
        )
        .rule(Rule::new(AuditLevel::Metadata))
        .request_headers(["content-type", "authorization", "x-api-key"]);
    let client = HttpClient::new(serve(app(HttpAuditLayer::new().policy(policy))).await);

    client
        .get("/reports/1?format=csv&token=QUERYSECRET1", &[rid("q1")])
        .await;
    client
        .get("/other?api_key=QUERYSECRET2", &[rid("q2")])
        .await;
    let body =
        r#"{"username":"alice","password":"BODYSECRET3","profile":{"api_token":"BODYSECRET4"}}"#;
    client
        .send(
            "POST",
            "/login",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer HEADERSECRET5"),
                ("x-api-key", "HEADERSECRET6"),
                rid("b1"),
            ],
            body,
        )
        .await;
    client
        .send(
            "POST",
            "/login",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                rid("b2"),
            ],
            "user=alice&password=BODYSECRET7",
        )
        .await;

    let text = trail.all_text();
    for secret in 1..=7 {
        let marker = format!("SECRET{secret}");
        assert!(!text.contains(&marker), "{marker} leaked into a stream");
    }
    let records = trail.audit();
    let q1 = for_request(&records, "q1");
    assert_eq!(
        q1[0]["resource"],
        "/reports/{id}?format=csv&token=[REDACTED]"
    );
    assert_eq!(
        for_request(&records, "q2")[0]["resource"],
        "/other",
        "no query unless asked"
    );
    let b1 = for_request(&records, "b1");
    let shown: serde_json::Value =
        serde_json::from_str(b1[0]["fields"]["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(shown["username"], "alice");
    assert_eq!(shown["password"], "[REDACTED]");
    let headers: serde_json::Value =
        serde_json::from_str(b1[0]["fields"]["request_headers"].as_str().unwrap()).unwrap();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["authorization"], "[REDACTED]");
}

#[tokio::test(flavor = "current_thread")]
async fn huge_bodies_and_malformed_headers_neither_break_requests_nor_reach_the_trail() {
    let mut trail = Trail::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_in_handler = seen.clone();
    let app = Router::new()
        .route(
            "/upload",
            post(move |body: axum::body::Bytes| {
                let seen = seen_in_handler.clone();
                async move {
                    seen.store(body.len(), Ordering::SeqCst);
                    "stored"
                }
            }),
        )
        .layer(
            HttpAuditLayer::new().policy(
                Policy::new()
                    .rule(Rule::new(AuditLevel::Request))
                    .max_body_bytes(1024),
            ),
        );
    let client = HttpClient::new(serve(app).await);

    let big = vec![b'a'; 1 << 20];
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/upload")
        .header("content-type", "text/plain")
        .header("x-request-id", "big-1")
        .header(
            "user-agent",
            http::HeaderValue::from_bytes(b"bot/\xff\xfe").unwrap(),
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(big)))
        .unwrap();
    *req.uri_mut() = format!("http://{}/upload", client_addr(&client))
        .parse()
        .unwrap();
    let reply = client.send_request(req).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1 << 20,
        "the handler got the whole body"
    );

    let records = trail.audit();
    let big = for_request(&records, "big-1");
    assert_eq!(big.len(), 2);
    let shown = big[0]["fields"]["request_body"].as_str().unwrap();
    assert!(
        shown.len() < 1100 && shown.ends_with("…[truncated]"),
        "{shown}"
    );
    assert_eq!(big[0]["fields"]["user_agent"], "bot/\u{fffd}\u{fffd}");
}

fn client_addr(client: &HttpClient) -> std::net::SocketAddr {
    client.addr()
}

/// A tower service that fails: no response at all.
#[derive(Clone)]
struct Unavailable;

impl<B> tower_service::Service<http::Request<B>> for Unavailable {
    type Response = http::Response<axum::body::Body>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        std::future::ready(Err(std::io::Error::other("backend down")))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_service_error_is_audited_as_failure_and_returned_unchanged() {
    use tower_layer::Layer;
    use tower_service::Service;
    let mut trail = Trail::new();
    let audit = HttpAuditLayer::new();
    let health = audit.health_handle();
    let mut service = audit.layer(Unavailable);
    let request = http::Request::get("/orders/1")
        .header("x-request-id", "err-1")
        .body(axum::body::Body::empty())
        .unwrap();
    let error = service.call(request).await.unwrap_err();
    assert_eq!(error.to_string(), "backend down");
    assert_eq!(health.health().service_errors, 1);

    let records = trail.audit();
    let err = for_request(&records, "err-1");
    assert_eq!(err.len(), 2);
    assert_eq!(err[1]["outcome"], "failure");
    assert_eq!(err[1]["reason"], "service_error");
    assert!(err[1]["fields"].get("status").is_none());
    assert_eq!(
        err[1]["resource"], "/orders/1",
        "no router: the path is the resource"
    );
}

/// Issue 22's planted secrets (an OAuth `code` in the query and in a `Referer`, an `X-Session`
/// header, JSON `mfa_code` and `pwd`, an unmatched `/reset/<token>`) and variants of each: none
/// reaches either stream, at `Request` level or at the default `Metadata` level, while what an
/// on-call engineer reads (method, route, status, the non-secret parameters) stays.
#[tokio::test(flavor = "current_thread")]
async fn planted_http_secrets_reach_neither_stream_and_the_request_stays_readable() {
    let mut trail = Trail::new();
    let policy = Policy::new()
        .rule(Rule::new(AuditLevel::Metadata).paths(["/meta/*"]))
        .rule(Rule::new(AuditLevel::Request).include_query(true))
        .request_headers(["content-type", "referer", "x-session", "x-csrf-token"]);
    // The fallback answering unmatched paths is wrapped by `Router::layer` too.
    let app = Router::new()
        .route("/callback", get(|| async { "signed in" }))
        .route("/mfa", post(|| async { "verified" }))
        .route("/saml/acs", post(|| async { "saml ok" }))
        .route("/reports/{id}", get(|| async { "report" }))
        .layer(HttpAuditLayer::new().policy(policy));
    let client = HttpClient::new(serve(app).await);

    let oauth_query = client
        .get(
            "/callback?code=Pq1CodeQueryAA&state=st-visible-42&scope=openid",
            &[
                rid("s1"),
                (
                    "referer",
                    "https://idp.example/authorize/cb?code=Pq2CodeRefererBB&state=st-ref-7&client_secret=Pq3ClientSecretCC#access_token=Pq4FragmentTokenDD&token_type=bearer",
                ),
                ("x-session", "Pq5SessionHeaderEE"),
                ("x-csrf-token", "Pq6CsrfHeaderFF"),
            ],
        )
        .await;
    assert_eq!(oauth_query.status, 200);
    let mfa = client
        .send(
            "POST",
            "/mfa",
            &[("content-type", "application/json"), rid("s2")],
            r#"{"user":"alice","pwd":"Pq7PwdGG","mfa_code":"Pq8MfaHH","otp":"Pq9OtpII","remember":true}"#,
        )
        .await;
    assert_eq!(mfa.status, 200);
    let saml = client
        .send(
            "POST",
            "/saml/acs",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                rid("s3"),
            ],
            "SAMLResponse=Pq10SamlJJ&RelayState=%2Fhome&id_token=Pq11IdTokenKK",
        )
        .await;
    assert_eq!(saml.status, 200);
    let session_in_path = client
        .get("/reports/7;jsessionid=Pq12JsessionLL", &[ALICE, rid("s4")])
        .await;
    assert_eq!(session_in_path.status, 200);
    // Unmatched paths, at Request level (first layer's fallback) and at Metadata level.
    let reset = client
        .get("/reset/Zk3J9qLx0aPz7mW2Rt5vPq13", &[rid("s5")])
        .await;
    assert_eq!(reset.status, 404);
    let meta_reset = client
        .get("/meta/reset/8f14e45fceea167a5a36dedd4bea2543", &[rid("s6")])
        .await;
    assert_eq!(meta_reset.status, 404);
    let meta_code = client
        .get("/meta/verify/xQ7pLm2R?otp=Pq14OtpQueryMM", &[rid("s7")])
        .await;
    assert_eq!(meta_code.status, 404);

    let text = trail.all_text();
    for marker in [
        "Pq1CodeQueryAA",
        "Pq2CodeRefererBB",
        "Pq3ClientSecretCC",
        "Pq4FragmentTokenDD",
        "Pq5SessionHeaderEE",
        "Pq6CsrfHeaderFF",
        "Pq7PwdGG",
        "Pq8MfaHH",
        "Pq9OtpII",
        "Pq10SamlJJ",
        "Pq11IdTokenKK",
        "Pq12JsessionLL",
        "Zk3J9qLx0aPz7mW2Rt5vPq13",
        "8f14e45fceea167a5a36dedd4bea2543",
        "xQ7pLm2R",
        "Pq14OtpQueryMM",
    ] {
        assert!(!text.contains(marker), "{marker} leaked into a stream");
    }

    let records = trail.audit();
    let s1 = for_request(&records, "s1");
    assert_eq!(s1.len(), 2, "{s1:?}");
    assert_eq!(
        s1[0]["resource"],
        "/callback?code=[REDACTED]&state=st-visible-42&scope=openid"
    );
    assert_eq!(s1[1]["fields"]["status"], 200);
    assert_eq!(s1[1]["fields"]["method"], "GET");
    let headers: serde_json::Value =
        serde_json::from_str(s1[0]["fields"]["request_headers"].as_str().unwrap()).unwrap();
    assert_eq!(
        headers["referer"],
        "https://idp.example/authorize/cb?code=[REDACTED]&state=st-ref-7&client_secret=[REDACTED]#access_token=[REDACTED]&token_type=bearer"
    );
    assert_eq!(headers["x-session"], "[REDACTED]");
    let body: serde_json::Value = serde_json::from_str(
        for_request(&records, "s2")[0]["fields"]["request_body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["user"], "alice");
    assert_eq!(body["remember"], true);
    let form = for_request(&records, "s3")[0]["fields"]["request_body"].clone();
    assert!(
        form.as_str().unwrap().contains("RelayState=%2Fhome"),
        "{form}"
    );
    let s4 = for_request(&records, "s4");
    assert_eq!(s4[0]["resource"], "/reports/{id}");
    assert_eq!(s4[0]["fields"]["path"], "/reports/7;jsessionid=[REDACTED]");
    for (id, shown) in [
        ("s5", "/reset/[REDACTED]"),
        ("s6", "/meta/reset/[REDACTED]"),
        ("s7", "/meta/verify/[REDACTED]"),
    ] {
        let rs = for_request(&records, id);
        assert_eq!(rs.len(), 2, "{id}: {rs:?}");
        for r in &rs {
            assert_eq!(r["resource"], shown, "{id}");
            assert_eq!(r["fields"]["unmatched_route"], true, "{id}");
        }
        assert_eq!(rs[0]["fields"]["path"], shown, "{id}");
        // The end does not repeat what `request_received` said (fewer bytes per request).
        assert!(rs[1]["fields"].get("path").is_none(), "{id}: {}", rs[1]);
        assert_eq!(rs[1]["fields"]["status"], 404, "{id}");
    }
}
