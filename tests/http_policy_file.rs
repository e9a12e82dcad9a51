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
