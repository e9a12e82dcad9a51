//! What an audit record's free-text `action` and `outcome` mean, in the terms both schemas share.

/// What kind of activity an action names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    Logon,
    Logoff,
    Create,
    Read,
    Update,
    Delete,
    /// An action none of the verbs below names: kept under its own name.
    Other,
    /// The record has no action.
    Unknown,
}

const LOGON: &[&str] = &[
    "login",
    "logon",
    "signin",
    "authenticate",
    "authentication",
    "auth",
];
const LOGOFF: &[&str] = &["logout", "logoff", "signout"];
const CREATE: &[&str] = &[
    "create", "add", "insert", "new", "post", "upload", "register", "import",
];
const READ: &[&str] = &[
    "read", "get", "view", "list", "fetch", "query", "search", "download", "export", "show",
    "access", "open",
];
const UPDATE: &[&str] = &[
    "update", "modify", "edit", "patch", "put", "set", "change", "rename", "write", "grant",
    "revoke", "assign", "enable", "disable", "reset",
];
const DELETE: &[&str] = &["delete", "remove", "destroy", "purge", "erase", "drop"];

/// Classifies an action by its words: `login`, `user.login`, `sign_in`, `report:read`,
/// `delete-user` and `DeleteUser` all name a verb. A logon or logoff word anywhere wins (a
/// `login_failed` is an authentication); otherwise the first verb in the name decides.
pub(crate) fn activity(action: Option<&str>) -> Activity {
    let Some(action) = action.filter(|a| !a.trim().is_empty()) else {
        return Activity::Unknown;
    };
    let words = words(action);
    // `sign in`/`log out` written as two words.
    let joined: Vec<String> = words.windows(2).map(|w| w.concat()).collect();
    let any = |set: &[&str]| {
        words
            .iter()
            .chain(&joined)
            .any(|w| set.contains(&w.as_str()))
    };
    if any(LOGOFF) {
        return Activity::Logoff;
    }
    if any(LOGON) {
        return Activity::Logon;
    }
    for w in &words {
        for (set, activity) in [
            (CREATE, Activity::Create),
            (READ, Activity::Read),
            (UPDATE, Activity::Update),
            (DELETE, Activity::Delete),
        ] {
            if set.contains(&w.as_str()) {
                return activity;
            }
        }
    }
    Activity::Other
}

/// Lowercase words of an identifier: split at non-alphanumerics and lower-to-upper case steps.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What an outcome says about success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    /// Refused by policy (`denied`, `forbidden`).
    Denied,
    /// Failed otherwise (`failure`, `error`).
    Failure,
    /// An outcome word none of the above lists: kept under its own name.
    Other,
    /// The record has no outcome.
    Unknown,
}

pub(crate) fn status(outcome: Option<&str>) -> Status {
    let Some(outcome) = outcome.filter(|o| !o.trim().is_empty()) else {
        return Status::Unknown;
    };
    match outcome.trim().to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "successful" | "ok" | "allowed" | "allow" | "granted"
        | "permitted" | "pass" | "passed" | "accepted" => Status::Success,
        "denied" | "deny" | "forbidden" | "unauthorized" | "unauthorised" | "rejected"
        | "refused" | "blocked" => Status::Denied,
        "failure" | "failed" | "fail" | "error" | "errored" | "aborted" | "timeout"
        | "timed_out" => Status::Failure,
        _ => Status::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_classified_by_their_words() {
        for (action, want) in [
            ("login", Activity::Logon),
            ("user.login", Activity::Logon),
            ("sign_in", Activity::Logon),
            ("login_failed", Activity::Logon),
            ("logout", Activity::Logoff),
            ("SignOut", Activity::Logoff),
            ("read", Activity::Read),
            ("report:read", Activity::Read),
            ("create", Activity::Create),
            ("DeleteUser", Activity::Delete),
            ("delete-user", Activity::Delete),
            ("role.update", Activity::Update),
            ("approve_invoice", Activity::Other),
            ("", Activity::Unknown),
        ] {
            assert_eq!(activity(Some(action)), want, "{action}");
        }
        assert_eq!(activity(None), Activity::Unknown);
    }

    #[test]
    fn outcomes_are_success_denied_failure_or_kept() {
        assert_eq!(status(Some("success")), Status::Success);
        assert_eq!(status(Some("Denied")), Status::Denied);
        assert_eq!(status(Some("failure")), Status::Failure);
        assert_eq!(status(Some("partial")), Status::Other);
        assert_eq!(status(None), Status::Unknown);
    }
}
