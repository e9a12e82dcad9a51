//! How a response reads in the trail: its `outcome`, and the `reason` a handler may give.

use http::StatusCode;
use std::borrow::Cow;

/// A reason for the `response_complete` record, set by a handler or middleware in the response
/// extensions (`bad_password`, `not_owner`). Without one, failures and denials get the status
/// text (`forbidden`, `internal_server_error`).
///
/// ```
/// use tracing_audit::http::AuditReason;
/// let mut response = http::Response::new(());
/// *response.status_mut() = http::StatusCode::UNAUTHORIZED;
/// response.extensions_mut().insert(AuditReason::new("bad_password"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReason(Cow<'static, str>);

impl AuditReason {
    /// A reason.
    pub fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        AuditReason(reason.into())
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `success` for 1xx/2xx/3xx, `denied` for 401 and 403, `failure` for everything else.
pub(crate) fn of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "denied",
        100..=399 => "success",
        _ => "failure",
    }
}

/// `forbidden`, `internal_server_error`, ... for a status that is not a success.
pub(crate) fn default_reason(status: StatusCode) -> Option<String> {
    if status.as_u16() < 400 {
        return None;
    }
    Some(match status.canonical_reason() {
        Some(text) => text
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect(),
        None => format!("status_{}", status.as_u16()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes_and_reasons() {
        assert_eq!(of_status(StatusCode::OK), "success");
        assert_eq!(of_status(StatusCode::FOUND), "success");
        assert_eq!(of_status(StatusCode::UNAUTHORIZED), "denied");
        assert_eq!(of_status(StatusCode::FORBIDDEN), "denied");
        assert_eq!(of_status(StatusCode::NOT_FOUND), "failure");
        assert_eq!(of_status(StatusCode::BAD_GATEWAY), "failure");
        assert_eq!(default_reason(StatusCode::OK), None);
        assert_eq!(
            default_reason(StatusCode::INTERNAL_SERVER_ERROR).as_deref(),
            Some("internal_server_error")
        );
        assert_eq!(
            default_reason(StatusCode::from_u16(599).unwrap()).as_deref(),
            Some("status_599")
        );
    }
}
