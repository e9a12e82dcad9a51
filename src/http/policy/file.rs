//! Reading a [`Policy`] from a TOML or JSON document, with errors that name the bad rule.

use super::{AuditLevel, Policy, Rule, Stage};
use http::{HeaderName, Method};
use serde_json::{Map, Value};
use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};

/// What kind of problem a [`PolicyError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// The file could not be read.
    Io,
    /// The file name ends in neither `.toml` nor `.json`.
    UnknownFormat,
    /// The document is not valid TOML or JSON.
    Syntax,
    /// A top-level setting is wrong (unknown key, wrong type).
    InvalidSetting,
    /// One rule is wrong; [`PolicyError::rule_index`] says which.
    InvalidRule,
    /// A size knob is over its documented bound ([`MAX_BODY_BYTES_LIMIT`](super::MAX_BODY_BYTES_LIMIT),
    /// [`MAX_REQUEST_HEADERS`](super::MAX_REQUEST_HEADERS), [`MAX_RULES`](super::MAX_RULES)).
    OverLimit,
    /// The policy contradicts fail-closed mode: a rule audits requests without a
    /// `request_received` record, so their handlers would run with no durable record.
    UnsafeWithFailClosed,
}

/// Why a policy could not be loaded.
///
/// ```
/// use tracing_audit::http::{Policy, PolicyErrorKind};
/// let err = Policy::from_toml_str(r#"
///     [[rules]]
///     name = "logins"
///     level = "Requets"
/// "#).unwrap_err();
/// assert_eq!(err.kind(), PolicyErrorKind::InvalidRule);
/// assert_eq!(err.rule_name(), Some("logins"));
/// assert!(err.to_string().contains("rule 1 (\"logins\")"));
/// ```
#[derive(Debug)]
pub struct PolicyError {
    kind: PolicyErrorKind,
    path: Option<PathBuf>,
    rule: Option<(usize, Option<String>)>,
    detail: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl PolicyError {
    fn new(kind: PolicyErrorKind, detail: impl Into<String>) -> Self {
        PolicyError {
            kind,
            path: None,
            rule: None,
            detail: detail.into(),
            source: None,
        }
    }

    fn with_source(mut self, source: impl Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    fn in_file(mut self, path: &Path) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> PolicyErrorKind {
        self.kind
    }

    /// The 1-based position of the bad rule, for [`PolicyErrorKind::InvalidRule`].
    pub fn rule_index(&self) -> Option<usize> {
        self.rule.as_ref().map(|(i, _)| *i)
    }

    /// The `name` of the bad rule, when it has one.
    pub fn rule_name(&self) -> Option<&str> {
        self.rule.as_ref().and_then(|(_, n)| n.as_deref())
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("audit policy")?;
        if let Some(path) = &self.path {
            write!(f, " {}", path.display())?;
        }
        if let Some((index, name)) = &self.rule {
            write!(f, ": rule {index}")?;
            if let Some(name) = name {
                write!(f, " ({name:?})")?;
            }
        }
        write!(f, ": {}", self.detail)
    }
}

impl Error for PolicyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl Policy {
    /// Checks the size knobs against their bounds: `max_body_bytes` ≤
    /// [`MAX_BODY_BYTES_LIMIT`](super::MAX_BODY_BYTES_LIMIT), request headers ≤
    /// [`MAX_REQUEST_HEADERS`](super::MAX_REQUEST_HEADERS), rules ≤
    /// [`MAX_RULES`](super::MAX_RULES). Policy files are checked when loaded; a policy built in
    /// code is checked by [`HttpAuditLayer::check`](crate::http::HttpAuditLayer::check).
    ///
    /// ```
    /// use tracing_audit::http::{Policy, PolicyErrorKind};
    /// let err = Policy::default().max_body_bytes(200_000_000).validate().unwrap_err();
    /// assert_eq!(err.kind(), PolicyErrorKind::OverLimit);
    /// ```
    ///
    /// # Errors
    /// [`PolicyErrorKind::OverLimit`], naming the knob, its value and its bound.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let over = |knob: &str, value: usize, limit: usize, constant: &str| {
            Err(PolicyError::new(
                PolicyErrorKind::OverLimit,
                format!("{knob} = {value} is over the limit of {limit} ({constant})"),
            ))
        };
        if self.max_body_bytes > super::MAX_BODY_BYTES_LIMIT {
            return over(
                "max_body_bytes",
                self.max_body_bytes,
                super::MAX_BODY_BYTES_LIMIT,
                "MAX_BODY_BYTES_LIMIT",
            );
        }
        if self.headers.len() > super::MAX_REQUEST_HEADERS {
            return over(
                "request_headers (count)",
                self.headers.len(),
                super::MAX_REQUEST_HEADERS,
                "MAX_REQUEST_HEADERS",
            );
        }
        if self.rules.len() > super::MAX_RULES {
            return over(
                "rules (count)",
                self.rules.len(),
                super::MAX_RULES,
                "MAX_RULES",
            );
        }
        Ok(())
    }

    /// Refuses a policy that audits some requests without `request_received`, for a layer in
    /// fail-closed mode.
    pub(crate) fn check_fail_closed(&self) -> Result<(), PolicyError> {
        match self.rule_without_request_received() {
            None => Ok(()),
            Some((index, name)) => {
                let mut e = PolicyError::new(
                    PolicyErrorKind::UnsafeWithFailClosed,
                    "omits RequestReceived under fail-closed: its handlers would run with no \
                     durable record (fail-closed holds a request until its request_received \
                     record is on disk)",
                );
                e.rule = Some((index, name.map(str::to_owned)));
                Err(e)
            }
        }
    }

    /// Reads a policy file: TOML when its name ends in `.toml`, JSON when in `.json`.
    ///
    /// ```toml
    /// request_headers = ["content-type", "user-agent"]
    /// max_body_bytes = 2048
    ///
    /// [[rules]]
    /// name = "health"
    /// level = "None"
    /// paths = ["/healthz"]
    ///
    /// [[rules]]
    /// name = "logins"
    /// level = "Request"
    /// methods = ["POST"]
    /// routes = ["/login"]
    ///
    /// [[rules]]
    /// level = "Metadata"
    /// omit_stages = ["RequestReceived"]
    /// ```
    ///
    /// Rule keys: `name`, `level` (`None`, `Metadata`, `Request`), `actors`, `groups`,
    /// `methods`, `routes`, `paths`, `omit_stages` (`RequestReceived`, `ResponseComplete`),
    /// `include_query`. Top-level keys: `rules`, `request_headers`, `max_body_bytes`,
    /// `omit_stages`. Unknown keys are errors, so a misspelt criterion cannot silently widen a
    /// rule.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML/JSON, or a setting or rule is invalid; the
    /// error names the rule by position and name.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let parse: fn(&str) -> Result<Policy, PolicyError> = match ext.as_deref() {
            Some("toml") => Policy::from_toml_str,
            Some("json") => Policy::from_json_str,
            _ => {
                return Err(PolicyError::new(
                    PolicyErrorKind::UnknownFormat,
                    "the file name must end in .toml or .json",
                )
                .in_file(path))
            }
        };
        let text =
            crate::trail::open::read_capped_to_string(path, crate::trail::open::SMALL_FILE_MAX)
                .map_err(|e| {
                    PolicyError::new(PolicyErrorKind::Io, "cannot be read")
                        .with_source(e)
                        .in_file(path)
                })?;
        parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses a policy from TOML text; see [`from_file`](Self::from_file) for the keys.
    ///
    /// # Errors
    /// As [`from_file`](Self::from_file), without the I/O.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            PolicyError::new(PolicyErrorKind::Syntax, "is not valid TOML").with_source(e)
        })?;
        from_document(toml_to_json(toml::Value::Table(table)))
    }

    /// Parses a policy from JSON text; see [`from_file`](Self::from_file) for the keys.
    ///
    /// # Errors
    /// As [`from_file`](Self::from_file), without the I/O.
    pub fn from_json_str(text: &str) -> Result<Policy, PolicyError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            PolicyError::new(PolicyErrorKind::Syntax, "is not valid JSON").with_source(e)
        })?;
        from_document(doc)
    }
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => Value::from(f),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

fn setting(detail: String) -> PolicyError {
    PolicyError::new(PolicyErrorKind::InvalidSetting, detail)
}

fn from_document(doc: Value) -> Result<Policy, PolicyError> {
    let Value::Object(top) = doc else {
        return Err(setting("the document must be a table/object".into()));
    };
    let mut policy = Policy::new();
    let mut rules = None;
    for (key, value) in top {
        match key.as_str() {
            "rules" => match value {
                Value::Array(items) => rules = Some(items),
                _ => return Err(setting("`rules` must be an array of rules".into())),
            },
            "request_headers" | "requestHeaders" => {
                let names = strings(&value).map_err(|d| setting(format!("`{key}` {d}")))?;
                let mut headers = Vec::with_capacity(names.len());
                for name in names {
                    let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        setting(format!("`{key}`: {name:?} is not a header name"))
                    })?;
                    headers.push(header);
                }
                policy.headers = headers;
            }
            "max_body_bytes" | "maxBodyBytes" => {
                policy.max_body_bytes = value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| setting(format!("`{key}` must be a non-negative integer")))?;
            }
            "omit_stages" | "omitStages" => {
                policy.omit = stages(&value).map_err(|d| setting(format!("`{key}` {d}")))?;
            }
            other => {
                return Err(setting(format!(
                    "unknown key `{other}` (expected rules, request_headers, max_body_bytes, omit_stages)"
                )))
            }
        }
    }
    let rules = rules.ok_or_else(|| setting("has no `rules`".into()))?;
    for (i, raw) in rules.into_iter().enumerate() {
        let name = raw.get("name").and_then(Value::as_str).map(str::to_owned);
        let rule = parse_rule(raw).map_err(|detail| {
            let mut e = PolicyError::new(PolicyErrorKind::InvalidRule, detail);
            e.rule = Some((i + 1, name));
            e
        })?;
        policy.rules.push(rule);
    }
    policy.validate()?;
    Ok(policy)
}

fn parse_rule(raw: Value) -> Result<Rule, String> {
    let Value::Object(fields) = raw else {
        return Err("must be a table/object".into());
    };
    let level = match fields.get("level") {
        Some(Value::String(level)) => parse_level(level)?,
        Some(_) => return Err("`level` must be a string".into()),
        None => return Err("has no `level` (None, Metadata or Request)".into()),
    };
    let mut rule = Rule::new(level);
    for (key, value) in &fields {
        match key.as_str() {
            "level" => {}
            "name" => {
                rule.name = Some(
                    value
                        .as_str()
                        .ok_or("`name` must be a string")?
                        .to_owned(),
                )
            }
            "actors" | "users" => rule = rule.actors(field_strings(&fields, key)?),
            "groups" | "userGroups" => rule = rule.groups(field_strings(&fields, key)?),
            "methods" | "verbs" => {
                let mut methods = Vec::new();
                for m in field_strings(&fields, key)? {
                    methods.push(
                        Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                            .map_err(|_| format!("`{key}`: {m:?} is not an HTTP method"))?,
                    );
                }
                rule.methods = methods;
            }
            "routes" => rule = rule.routes(field_strings(&fields, key)?),
            "paths" | "nonResourceURLs" => rule = rule.paths(field_strings(&fields, key)?),
            "omit_stages" | "omitStages" => {
                rule.omit = stages(value).map_err(|d| format!("`{key}` {d}"))?
            }
            "include_query" | "includeQuery" => {
                rule.include_query = value
                    .as_bool()
                    .ok_or_else(|| format!("`{key}` must be true or false"))?
            }
            other => {
                return Err(format!(
                    "unknown key `{other}` (expected name, level, actors, groups, methods, routes, paths, omit_stages, include_query)"
                ))
            }
        }
    }
    Ok(rule)
}

fn parse_level(level: &str) -> Result<AuditLevel, String> {
    match level.to_ascii_lowercase().as_str() {
        "none" => Ok(AuditLevel::None),
        "metadata" => Ok(AuditLevel::Metadata),
        "request" => Ok(AuditLevel::Request),
        "requestresponse" => Err(format!(
            "level {level:?} is not supported: response bodies are not recorded (use Request)"
        )),
        _ => Err(format!(
            "unknown level {level:?} (expected None, Metadata or Request)"
        )),
    }
}

fn field_strings(fields: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    fields
        .get(key)
        .map(strings)
        .unwrap_or(Ok(Vec::new()))
        .map_err(|d| format!("`{key}` {d}"))
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    let Value::Array(items) = value else {
        return Err("must be an array of strings".into());
    };
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| "must be an array of strings".to_owned())
        })
        .collect()
}

fn stages(value: &Value) -> Result<u8, String> {
    let mut bits = 0;
    for name in strings(value)? {
        let stage = match name.to_ascii_lowercase().replace('_', "").as_str() {
            "requestreceived" => Stage::RequestReceived,
            "responsecomplete" => Stage::ResponseComplete,
            _ => {
                return Err(format!(
                    "has unknown stage {name:?} (expected RequestReceived or ResponseComplete)"
                ))
            }
        };
        bits |= stage.bit();
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_give_the_same_policy() {
        let toml = r#"
            request_headers = ["content-type"]
            max_body_bytes = 10
            [[rules]]
            name = "health"
            level = "None"
            paths = ["/healthz"]
            [[rules]]
            level = "Request"
            methods = ["post"]
            routes = ["/login"]
            omit_stages = ["ResponseComplete"]
            include_query = true
        "#;
        let json = r#"{"request_headers":["content-type"],"max_body_bytes":10,"rules":[
            {"name":"health","level":"None","paths":["/healthz"]},
            {"level":"Request","methods":["POST"],"routes":["/login"],
             "omitStages":["ResponseComplete"],"includeQuery":true}]}"#;
        let a = Policy::from_toml_str(toml).unwrap();
        let b = Policy::from_json_str(json).unwrap();
        assert_eq!(a, b);
        let expected = Policy::new()
            .rule(
                Rule::new(AuditLevel::None)
                    .named("health")
                    .paths(["/healthz"]),
            )
            .rule(
                Rule::new(AuditLevel::Request)
                    .methods(["POST"])
                    .routes(["/login"])
                    .omit_stages([Stage::ResponseComplete])
                    .include_query(true),
            )
            .request_headers(["content-type"])
            .max_body_bytes(10);
        assert_eq!(a, expected);
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let cases = [
            (
                r#"[[rules]]
level = "Metadata"
[[rules]]
name = "exports"
level = "Metadata"
methds = ["POST"]"#,
                2,
                Some("exports"),
                "unknown key `methds`",
            ),
            (
                r#"[[rules]]
level = "Request"
methods = ["GE T"]"#,
                1,
                None,
                "not an HTTP method",
            ),
            (
                r#"[[rules]]
name = "x"
paths = ["/"]"#,
                1,
                Some("x"),
                "has no `level`",
            ),
            (
                r#"[[rules]]
level = "Metadata"
omit_stages = ["Panic"]"#,
                1,
                None,
                "unknown stage",
            ),
        ];
        for (text, index, name, detail) in cases {
            let err = Policy::from_toml_str(text).unwrap_err();
            assert_eq!(err.kind(), PolicyErrorKind::InvalidRule, "{text}");
            assert_eq!(err.rule_index(), Some(index), "{text}");
            assert_eq!(err.rule_name(), name, "{text}");
            assert!(err.to_string().contains(detail), "{err}");
        }
    }

    #[test]
    fn syntax_errors_keep_the_parser_error_as_source() {
        let err = Policy::from_json_str("{\"rules\": [").unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::Syntax);
        assert_eq!(err.to_string(), "audit policy: is not valid JSON");
        assert!(err.source().is_some());
        let err = Policy::from_toml_str("rules = [").unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::Syntax);
        let err = Policy::from_toml_str("rule = []").unwrap_err();
        assert_eq!(err.kind(), PolicyErrorKind::InvalidSetting);
    }
}
