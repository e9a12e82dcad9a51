//! Redaction rules that act on field names.
//!
//! Field names are known per callsite, so these rules are evaluated once per callsite and field,
//! never per event.

use super::Action;

/// The words that mark a field as a credential (ASCII case-insensitive, the name read as words:
/// `db_password`, `clientSecret`, `X-Api-Key`, `session_token`, `HTTP_AUTHORIZATION`,
/// `password_hash`, `secret_path`). A last word that only describes the secret
/// (`password_changed_at`, `password_length`, `token_count`, `secret_name`, `api_key_id`) and a
/// word that merely starts like one (`tokenizer`, `passport`) do not mark the field. `key`
/// counts after a word that makes it a secret (`api_key`, `access_key`, `private_key`,
/// `signing_key`), not after `cache`, `idempotency`, `public` or `partition`. A matching field is
/// masked unless a rule says otherwise.
pub const DEFAULT_DENY: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "pw",
    "pin",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "cookie",
    "set-cookie",
    "credential",
    "credentials",
    "jwt",
    "signature",
];

/// One rule: fields whose name matches `pattern` get `action`.
///
/// Patterns are ASCII case-insensitive globs: `*` matches any run of characters, `?` one
/// character, everything else itself (`*_ssn`, `user.email`, `x-api-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRule {
    pattern: String,
    action: Action,
}

impl FieldRule {
    /// A rule applying `action` to field names matching the glob `pattern`.
    pub fn new(pattern: &str, action: Action) -> Self {
        FieldRule {
            pattern: pattern.to_ascii_lowercase(),
            action,
        }
    }

    /// Whether the rule applies to the field `name`.
    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.pattern.as_bytes(), name.as_bytes())
    }

    /// What the rule does.
    pub fn action(&self) -> Action {
        self.action
    }
}

/// The field-name rules of one stream.
///
/// Rules added later take precedence over earlier ones, and every added rule over the default
/// deny list, so a rule can also exempt a field (`Action::Keep` for `token_count`).
///
/// ```
/// use tracing_audit::redact::{Action, FieldRules};
/// let rules = FieldRules::default().rule("*_ssn", Action::Hash).rule("token_count", Action::Keep);
/// assert_eq!(rules.action_for("user_password"), Action::Mask);
/// assert_eq!(rules.action_for("patient_SSN"), Action::Hash);
/// assert_eq!(rules.action_for("token_count"), Action::Keep);
/// assert_eq!(rules.action_for("resource"), Action::Keep);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRules {
    rules: Vec<FieldRule>,
    deny_list: bool,
}

impl Default for FieldRules {
    /// The default deny list ([`DEFAULT_DENY`]), masking.
    fn default() -> Self {
        FieldRules {
            rules: Vec::new(),
            deny_list: true,
        }
    }
}

impl FieldRules {
    /// No rules at all, not even the default deny list.
    #[must_use]
    pub fn none() -> Self {
        FieldRules {
            rules: Vec::new(),
            deny_list: false,
        }
    }

    /// Adds a rule; it takes precedence over every rule added before and over the deny list.
    #[must_use]
    pub fn rule(mut self, pattern: &str, action: Action) -> Self {
        self.rules.push(FieldRule::new(pattern, action));
        self
    }

    /// What happens to a field called `name`.
    pub fn action_for(&self, name: &str) -> Action {
        if let Some(action) = self.added_rule_for(name) {
            return action;
        }
        if self.deny_list && is_denied(name) {
            return Action::Mask;
        }
        Action::Keep
    }
}

impl FieldRules {
    /// The action of the latest added rule matching `name`, if any: what the application said
    /// explicitly, which a caller with its own defaults (the HTTP middleware's names) lets win.
    pub(crate) fn added_rule_for(&self, name: &str) -> Option<Action> {
        self.rules
            .iter()
            .rev()
            .find(|r| r.matches(name))
            .map(|r| r.action)
    }
}

fn is_denied(name: &str) -> bool {
    super::detect::keyword::names_secret(name.as_bytes())
}

/// Iterative glob matching with single-star backtracking: linear in practice, never exponential.
pub(crate) fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n].to_ascii_lowercase() => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_list_matches_names_containing_fragments_in_any_case() {
        let r = FieldRules::default();
        for name in [
            "password",
            "DB_PASSWORD",
            "x_api_key",
            "Set-Cookie",
            "refresh_token",
            "aws_secret",
            "passphrase",
            "pwd_hash",
            "pass",
            "pin",
            "privateKey",
            "private-key",
            "api-key",
            "x-api-key",
            "access_key",
            "client_secret",
            "jwt",
            "session_token",
            "HTTP_AUTHORIZATION",
            "secret_path",
            "api_key_file",
        ] {
            assert_eq!(r.action_for(name), Action::Mask, "{name}");
        }
        for name in [
            "user",
            "resource",
            "path",
            "status",
            "password_changed_at",
            "password_length",
            "tokenizer",
            "token_count",
            "idempotency_key",
            "cache_key",
            "bypass",
            "secret_name",
            "api_key_id",
            "token_url",
        ] {
            assert_eq!(r.action_for(name), Action::Keep, "{name}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"*_ssn", b"patient_ssn"));
        assert!(glob_match(b"user.*", b"user.email"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"a?c", b"abbc"));
        assert!(glob_match(b"*a*b*c*", b"xxaxxbxxcxx"));
        assert!(!glob_match(b"*a*b*c*d", b"xxaxxbxxcxx"));
        assert!(glob_match(b"*", b""));
    }

    #[test]
    fn later_rules_win() {
        let r = FieldRules::none()
            .rule("actor", Action::Hash)
            .rule("act*", Action::Keep);
        assert_eq!(r.action_for("actor"), Action::Keep);
        assert_eq!(FieldRules::none().action_for("password"), Action::Keep);
    }
}
