//! What a request does: the record's `action`, from the method by default.

use http::Method;
use std::borrow::Cow;

/// Names the action of a request for its records.
///
/// The default, [`ActionFromMethod`], maps GET/HEAD to `read`, POST to `create`, PUT/PATCH to
/// `update`, DELETE to `delete` and any other method to its lower-case name. Closures override
/// it, per route for example:
///
/// ```
/// use std::borrow::Cow;
/// use tracing_audit::http::{ActionFromMethod, ClassifyAction, HttpAuditLayer};
/// let layer = HttpAuditLayer::new().classify_action(|method: &http::Method, route: &str| {
///     if route == "/login" {
///         Cow::Borrowed("login")
///     } else {
///         ActionFromMethod.action(method, route)
///     }
/// });
/// # drop(layer);
/// ```
pub trait ClassifyAction: Send + Sync + 'static {
    /// The action of a request with this method on this route template (or path).
    fn action(&self, method: &Method, route: &str) -> Cow<'static, str>;
}

impl<F> ClassifyAction for F
where
    F: Fn(&Method, &str) -> Cow<'static, str> + Send + Sync + 'static,
{
    fn action(&self, method: &Method, route: &str) -> Cow<'static, str> {
        self(method, route)
    }
}

/// The default [`ClassifyAction`]: CRUD verbs from the HTTP method.
#[derive(Clone, Copy, Debug, Default)]
pub struct ActionFromMethod;

impl ClassifyAction for ActionFromMethod {
    fn action(&self, method: &Method, _route: &str) -> Cow<'static, str> {
        Cow::Borrowed(match *method {
            Method::GET | Method::HEAD => "read",
            Method::POST => "create",
            Method::PUT | Method::PATCH => "update",
            Method::DELETE => "delete",
            Method::OPTIONS => "options",
            Method::CONNECT => "connect",
            Method::TRACE => "trace",
            ref other => return Cow::Owned(other.as_str().to_ascii_lowercase()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_map_to_crud_verbs() {
        for (m, a) in [
            (Method::GET, "read"),
            (Method::HEAD, "read"),
            (Method::POST, "create"),
            (Method::PUT, "update"),
            (Method::PATCH, "update"),
            (Method::DELETE, "delete"),
        ] {
            assert_eq!(ActionFromMethod.action(&m, "/"), a);
        }
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(ActionFromMethod.action(&purge, "/"), "purge");
    }
}
