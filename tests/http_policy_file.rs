//! Audit policies read from TOML and JSON files: the same policy either way, and a malformed
//! file refused with an error that names the rule.

use std::error::Error;
use tracing_audit::http::{AuditLevel, Policy, PolicyErrorKind, Rule, Stage};

const TOML: &str = r#"
# Kubernetes-style: first match wins, no match = not audited.
request_headers = ["content-type", "user-agent"]
max_body_bytes = 2048

[[rules]]
name = "health"
level = "None"
paths = ["/healthz", "/readyz"]

[[rules]]
name = "logins"
level = "Request"
methods = ["POST"]
routes = ["/login"]

[[rules]]
name = "admin"
level = "Request"
groups = ["admin"]
routes = ["/admin/*"]
omit_stages = ["ResponseComplete"]

[[rules]]
name = "everything else"
level = "Metadata"
"#;

fn expected() -> Policy {
    Policy::new()
        .rule(
            Rule::new(AuditLevel::None)
                .named("health")
                .paths(["/healthz", "/readyz"]),
        )
        .rule(
            Rule::new(AuditLevel::Request)
                .named("logins")
                .methods(["POST"])
                .routes(["/login"]),
        )
        .rule(
            Rule::new(AuditLevel::Request)
                .named("admin")
                .groups(["admin"])
                .routes(["/admin/*"])
                .omit_stages([Stage::ResponseComplete]),
        )
        .rule(Rule::new(AuditLevel::Metadata).named("everything else"))
        .request_headers(["content-type", "user-agent"])
        .max_body_bytes(2048)
}

#[test]
fn toml_and_json_policy_files_load_to_the_policy_built_in_code() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("policy.toml");
    std::fs::write(&toml, TOML).unwrap();
    assert_eq!(Policy::from_file(&toml).unwrap(), expected());

    let json = dir.path().join("policy.json");
    std::fs::write(
        &json,
        r#"{"requestHeaders": ["content-type", "user-agent"], "maxBodyBytes": 2048, "rules": [
            {"name": "health", "level": "None", "paths": ["/healthz", "/readyz"]},
            {"name": "logins", "level": "Request", "verbs": ["post"], "routes": ["/login"]},
            {"name": "admin", "level": "Request", "userGroups": ["admin"], "routes": ["/admin/*"],
             "omitStages": ["ResponseComplete"]},
            {"name": "everything else", "level": "Metadata"}]}"#,
    )
    .unwrap();
    assert_eq!(Policy::from_file(&json).unwrap(), expected());
}

#[test]
fn malformed_policy_file_is_refused_with_an_error_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(
        &file,
        TOML.replace("level = \"Request\"\ngroups", "level = \"Requets\"\ngroups"),
    )
    .unwrap();
    let err = Policy::from_file(&file).unwrap_err();
    assert_eq!(err.kind(), PolicyErrorKind::InvalidRule);
    assert_eq!(err.rule_index(), Some(3));
    assert_eq!(err.rule_name(), Some("admin"));
    let text = err.to_string();
    assert!(text.contains("policy.toml"), "{text}");
    assert!(text.contains("rule 3 (\"admin\")"), "{text}");
    assert!(text.contains("unknown level \"Requets\""), "{text}");
}

#[test]
fn unreadable_and_unparsable_files_say_which_file_and_keep_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Policy::from_file(dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(missing.kind(), PolicyErrorKind::Io);
    assert!(missing.to_string().contains("missing.toml"));
    assert!(missing.source().is_some());

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"rules\": [}").unwrap();
    let err = Policy::from_file(&broken).unwrap_err();
    assert_eq!(err.kind(), PolicyErrorKind::Syntax);
    assert!(
        !err.to_string().contains("expected"),
        "the parser's words are the source's"
    );
    assert!(err.source().is_some());

    let yaml = dir.path().join("policy.yaml");
    std::fs::write(&yaml, "rules: []").unwrap();
    assert_eq!(
        Policy::from_file(&yaml).unwrap_err().kind(),
        PolicyErrorKind::UnknownFormat
    );
}

#[test]
fn size_knobs_over_their_bounds_are_refused_at_load_and_by_check() {
    use tracing_audit::http::{HttpAuditLayer, MAX_BODY_BYTES_LIMIT, MAX_REQUEST_HEADERS};
    let err = Policy::from_toml_str("max_body_bytes = 200000000\n[[rules]]\nlevel = \"Request\"\n")
        .unwrap_err();
    assert_eq!(err.kind(), PolicyErrorKind::OverLimit);
    assert!(
        err.to_string()
            .contains("max_body_bytes = 200000000 is over the limit of 1048576"),
        "{err}"
    );
    let at_limit =
        format!("max_body_bytes = {MAX_BODY_BYTES_LIMIT}\n[[rules]]\nlevel = \"Request\"\n");
    assert!(
        Policy::from_toml_str(&at_limit).is_ok(),
        "the bound itself is allowed"
    );

    let headers: Vec<String> = (0..=MAX_REQUEST_HEADERS)
        .map(|i| format!("x-h{i}"))
        .collect();
    let json = serde_json::json!({"request_headers": headers, "rules": [{"level": "Request"}]});
    let err = Policy::from_json_str(&json.to_string()).unwrap_err();
    assert_eq!(err.kind(), PolicyErrorKind::OverLimit);
    assert!(err.to_string().contains("request_headers"), "{err}");

    // Built in code: `check()` refuses what loading would.
    let layer = HttpAuditLayer::new().policy(Policy::default().max_body_bytes(200_000_000));
    assert_eq!(
        layer.check().unwrap_err().kind(),
        PolicyErrorKind::OverLimit
    );
    assert!(HttpAuditLayer::new().check().is_ok());
}

#[tokio::test(flavor = "current_thread")]
async fn fail_closed_refuses_a_policy_that_omits_request_received() {
    use std::time::Duration;
    use tracing_audit::http::HttpAuditLayer;
    use tracing_audit::layer::AuditLayer;
    let (_layer, guard): (AuditLayer<tracing_subscriber::Registry>, _) = AuditLayer::builder()
        .audit_to(std::io::sink)
        .debug_to(std::io::sink)
        .build()
        .unwrap();
    let cheap = Policy::new().rule(
        Rule::new(AuditLevel::Metadata)
            .named("cheap")
            .omit_stages([Stage::RequestReceived]),
    );
    let layer = HttpAuditLayer::new()
        .policy(cheap.clone())
        .fail_closed(guard.handle(), Duration::from_millis(250));
    let err = layer.check().unwrap_err();
    assert_eq!(err.kind(), PolicyErrorKind::UnsafeWithFailClosed);
    assert_eq!(err.rule_name(), Some("cheap"));
    // The same policy without fail-closed is a legitimate cost choice.
    assert!(HttpAuditLayer::new().policy(cheap).check().is_ok());
    // Whole-policy omission counts too; a `None` rule records nothing and is fine.
    let omitted = Policy::default().omit_stages([Stage::RequestReceived]);
    let layer = HttpAuditLayer::new()
        .policy(omitted)
        .fail_closed(guard.handle(), Duration::from_millis(250));
    assert_eq!(layer.check().unwrap_err().rule_index(), Some(2));
}
