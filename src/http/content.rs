//! What a `Request`-level record shows of a request, and of its query string: rendered with
//! secrets masked by the field-name rules before the values reach the layer (whose detectors
//! then scan them as free text).

use super::sensitive;
use crate::redact::{write_partial, Action, FieldRules, MASK};
use http::{HeaderMap, HeaderName};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The rule for a parameter or body key called `name` (see [`sensitive`]).
fn action_for(rules: &FieldRules, name: &str) -> Action {
    sensitive::param_action(rules, name)
}

/// The selected headers as a JSON object, values masked by name pattern (any header naming a
/// session, token, key, cookie, … ) and URL values (`Referer`, `Location`) with their secrets
/// masked as the request's own query and path are.
pub(crate) fn headers(rules: &FieldRules, selected: &[HeaderName], map: &HeaderMap) -> String {
    let mut out = Map::new();
    for name in selected {
        let mut values = map.get_all(name).iter().peekable();
        if values.peek().is_none() {
            continue;
        }
        let joined = values
            .map(|v| match v.to_str() {
                Ok(s) => s.to_owned(),
                Err(_) => format!("[non-text {} bytes]", v.len()),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let name = name.as_str();
        let action = sensitive::header_action(rules, name);
        let shown = if action == Action::Keep && sensitive::is_url_header(name) {
            Some(Value::String(sensitive::url(rules, &joined)))
        } else {
            apply(action, joined)
        };
        if let Some(v) = shown {
            out.insert(name.to_owned(), v);
        }
    }
    Value::Object(out).to_string()
}

/// The captured body prefix, as text the layer may show. JSON is re-encoded with sensitive keys
/// masked; form data is re-encoded likewise; other text is shown as it is (the layer's detectors
/// still scan it); anything else is described, not shown.
pub(crate) fn body(
    rules: &FieldRules,
    content_type: Option<&str>,
    bytes: &[u8],
    truncated: bool,
) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let is_json = mime == "application/json" || mime.ends_with("+json");
    if is_json {
        if truncated {
            // A cut document cannot be parsed, so its keys cannot be checked: not shown.
            return format!(
                "[json body over the cap, {} bytes shown: none]",
                bytes.len()
            );
        }
        return match serde_json::from_slice::<Value>(bytes) {
            Ok(mut doc) => {
                redact_json(rules, &mut doc);
                doc.to_string()
            }
            Err(_) => format!("[malformed json body, {} bytes]", bytes.len()),
        };
    }
    let Ok(text) = std::str::from_utf8(bytes).or_else(|e| {
        // A cut may split a character; show what is complete.
        if truncated && e.error_len().is_none() {
            std::str::from_utf8(&bytes[..e.valid_up_to()])
        } else {
            Err(e)
        }
    }) else {
        return format!("[binary body, {} bytes]", bytes.len());
    };
    let suffix = if truncated { "…[truncated]" } else { "" };
    if mime == "application/x-www-form-urlencoded" {
        return format!("{}{suffix}", pairs(rules, text, truncated));
    }
    if mime.starts_with("text/") || mime.is_empty() || mime == "application/xml" {
        return format!("{text}{suffix}");
    }
    format!("[{mime} body, {} bytes]", bytes.len())
}

/// `path?query` with each query parameter masked by name.
pub(crate) fn path_with_query(rules: &FieldRules, path: &str, query: &str) -> String {
    format!("{path}?{}", pairs(rules, query, false))
}

/// `k=v&k2=v2`, values masked (or the pair dropped) by the decoded key's rule. When the text was
/// cut, its last pair is not shown: its key may be cut too.
pub(crate) fn pairs(rules: &FieldRules, text: &str, truncated: bool) -> String {
    let mut items: Vec<&str> = text.split('&').collect();
    if truncated {
        items.pop();
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        let name = percent_decode(key);
        match action_for(rules, &name) {
            Action::Keep => out.push(item.to_owned()),
            Action::Drop => {}
            Action::Partial => {
                let mut masked = String::new();
                write_partial(&percent_decode(value), &mut masked);
                out.push(format!("{key}={masked}"));
            }
            _ => out.push(format!("{key}={MASK}")),
        }
    }
    out.join("&")
}

/// One segment of a route template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Literal,
    /// `{name}` or `:name`; masked when a rule masks `name`.
    Param {
        masked: bool,
    },
    /// `{*name}` or `*name`: the rest of the path.
    Rest {
        masked: bool,
    },
}

/// A route template read once (its parameters' names matched against the rules once, not per
/// request): how the concrete path of a request it matched is shown. A service made for one
/// route keeps it for every request (see `HttpAudit`).
#[derive(Debug)]
pub(crate) struct RouteShape {
    template: String,
    parts: Vec<Part>,
    /// No parameter is masked: a path of the template's shape without `;` is shown as it is.
    plain: bool,
}

impl RouteShape {
    pub(crate) fn new(rules: &FieldRules, template: &str) -> RouteShape {
        let mut parts = Vec::new();
        for part in template.split('/') {
            let param = part
                .strip_prefix('{')
                .and_then(|p| p.strip_suffix('}'))
                .or_else(|| part.strip_prefix(':'));
            let wildcard = param
                .and_then(|p| p.strip_prefix('*'))
                .or_else(|| part.strip_prefix('*').filter(|p| !p.is_empty()));
            if let Some(name) = wildcard {
                parts.push(Part::Rest {
                    masked: action_for(rules, name) != Action::Keep,
                });
                break;
            }
            parts.push(match param {
                Some(name) => Part::Param {
                    masked: action_for(rules, name) != Action::Keep,
                },
                None => Part::Literal,
            });
        }
        let plain = parts.iter().all(|p| {
            !matches!(
                p,
                Part::Param { masked: true } | Part::Rest { masked: true }
            )
        });
        RouteShape {
            template: template.to_owned(),
            parts,
            plain,
        }
    }

    pub(crate) fn template(&self) -> &str {
        &self.template
    }

    /// The concrete path, with the segments that fill a parameter whose name a rule masks
    /// (`/reset/{token}`) replaced by the mask, and secret matrix parameters masked. A path
    /// that does not have the template's shape is shown as an unmatched one.
    pub(crate) fn show(&self, rules: &FieldRules, path: &str) -> String {
        let rest = matches!(self.parts.last(), Some(Part::Rest { .. }));
        let same_shape = || path.split('/').count() == self.parts.len();
        if self.plain && !path.contains(';') && (rest || same_shape()) {
            return path.to_owned();
        }
        let mut out = String::with_capacity(path.len());
        let mut segments = path.split('/');
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            if let Part::Rest { masked } = part {
                if *masked {
                    out.push_str(MASK);
                } else {
                    for (j, segment) in segments.by_ref().enumerate() {
                        if j > 0 {
                            out.push('/');
                        }
                        sensitive::matched_segment(rules, segment, &mut out);
                    }
                }
                return out;
            }
            let Some(segment) = segments.next() else {
                return sensitive::path(rules, path);
            };
            match part {
                Part::Param { masked: true } => out.push_str(MASK),
                _ => sensitive::matched_segment(rules, segment, &mut out),
            }
        }
        if segments.next().is_some() {
            return sensitive::path(rules, path);
        }
        out
    }
}

/// The most route templates [`RouteShapes`] keeps; a service with more (or a layer in front
/// of something that invents templates) reads the others per request.
const MAX_ROUTE_SHAPES: usize = 1024;

/// The route templates read so far, shared by every service a layer makes: a template's
/// parameters are matched against the rules once, not per request (axum may even make the
/// service anew per request).
#[derive(Debug, Default)]
pub(crate) struct RouteShapes {
    known: std::sync::RwLock<std::collections::HashMap<Box<str>, Arc<RouteShape>>>,
}

impl RouteShapes {
    pub(crate) fn shape(&self, rules: &FieldRules, template: &str) -> Arc<RouteShape> {
        // A poisoned lock only means another request panicked while holding it; the map
        // itself is always whole (one insert), so it is used as it is.
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        if let Some(shape) = known.get(template) {
            return shape.clone();
        }
        drop(known);
        let shape = Arc::new(RouteShape::new(rules, template));
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if known.len() < MAX_ROUTE_SHAPES {
            known.insert(template.into(), shape.clone());
        }
        shape
    }
}

/// [`RouteShape::show`] for a template read just for this path.
#[cfg(test)]
fn path_masked_by_template(rules: &FieldRules, template: &str, path: &str) -> String {
    RouteShape::new(rules, template).show(rules, path)
}

fn redact_json(rules: &FieldRules, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                match action_for(rules, &key) {
                    Action::Keep => {
                        if let Some(v) = map.get_mut(&key) {
                            redact_json(rules, v);
                        }
                    }
                    _ => {
                        if let Some(v) = map.remove(&key) {
                            let text = match v {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            if let Some(masked) = redact_scalar(rules, &key, text) {
                                map.insert(key, masked);
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_json(rules, v)),
        _ => {}
    }
}

/// The value of a field called `name` after its rule; `None` when the rule drops it.
fn redact_scalar(rules: &FieldRules, name: &str, value: String) -> Option<Value> {
    apply(action_for(rules, name), value)
}

/// `value` after `action`; `None` when the action drops it.
fn apply(action: Action, value: String) -> Option<Value> {
    Some(Value::String(match action {
        Action::Keep => value,
        Action::Drop => return None,
        Action::Partial => {
            let mut masked = String::new();
            write_partial(&value, &mut masked);
            masked
        }
        // Mask, and Hash: the layer's hash key is not available here, so it masks.
        _ => MASK.to_owned(),
    }))
}

pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn json_bodies_have_sensitive_keys_masked_at_any_depth() {
        let rules = FieldRules::default();
        let body = br#"{"username":"alice","password":"hunter2","nested":[{"api_key":"k","n":1}]}"#;
        let out = super::body(&rules, Some("application/json; charset=utf-8"), body, false);
        assert!(!out.contains("hunter2") && !out.contains("\"k\""), "{out}");
        assert!(out.contains("\"username\":\"alice\""), "{out}");
        assert!(out.contains("\"password\":\"[REDACTED]\""), "{out}");
        let cut = super::body(&rules, Some("application/json"), &body[..20], true);
        assert!(!cut.contains("alice"), "{cut}");
        let bad = super::body(&rules, Some("application/json"), b"{\"password\":", false);
        assert!(!bad.contains("password"), "{bad}");
    }

    #[test]
    fn forms_and_queries_are_masked_by_decoded_key() {
        let rules = FieldRules::default();
        let q = path_with_query(&rules, "/r", "a=1&pass%77ord=x&token=abc&b");
        assert_eq!(q, "/r?a=1&pass%77ord=[REDACTED]&token=[REDACTED]&b");
        let f = body(
            &rules,
            Some("application/x-www-form-urlencoded"),
            b"user=al&secret=s&passw",
            true,
        );
        assert_eq!(f, "user=al&secret=[REDACTED]…[truncated]");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn template_parameters_with_sensitive_names_are_masked_in_the_path() {
        let rules = FieldRules::default();
        assert_eq!(
            path_masked_by_template(&rules, "/reset/{token}/x/{id}", "/reset/abc/x/7"),
            "/reset/[REDACTED]/x/7"
        );
        assert_eq!(
            path_masked_by_template(&rules, "/files/{*secret_path}", "/files/a/b"),
            "/files/[REDACTED]"
        );
        assert_eq!(
            path_masked_by_template(&rules, "/files/{*rest}", "/files/a/b"),
            "/files/a/b"
        );
        assert_eq!(
            path_masked_by_template(&rules, "/a/{id}", "/a/1/2"),
            "/a/1/2"
        );
    }

    #[test]
    fn binary_and_unknown_bodies_are_described() {
        let rules = FieldRules::default();
        assert_eq!(
            body(&rules, None, b"\xff\xfe", false),
            "[binary body, 2 bytes]"
        );
        assert_eq!(
            body(&rules, Some("application/pdf"), b"%PDF", false),
            "[application/pdf body, 4 bytes]"
        );
        assert_eq!(body(&rules, Some("text/plain"), b"hi", false), "hi");
    }

    #[test]
    fn headers_are_selected_and_masked() {
        let rules = FieldRules::default();
        let mut map = HeaderMap::new();
        map.insert("authorization", HeaderValue::from_static("Bearer x"));
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        map.insert("x-other", HeaderValue::from_static("no"));
        map.insert("x-api-key", HeaderValue::from_static("k"));
        map.insert("x-bin", HeaderValue::from_bytes(b"\xff").unwrap());
        let sel = [
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("x-bin"),
            HeaderName::from_static("x-missing"),
            HeaderName::from_static("x-api-key"),
        ];
        assert_eq!(
            headers(&rules, &sel, &map),
            r#"{"authorization":"[REDACTED]","content-type":"text/plain","x-api-key":"[REDACTED]","x-bin":"[non-text 1 bytes]"}"#
        );
    }
}
