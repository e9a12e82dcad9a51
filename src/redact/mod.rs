//! Redaction: what is removed from records before they are serialized.
//!
//! Two mechanisms work together. [`FieldRules`] act on a field's *name* (`password`, `token`,
//! globs the application adds) and are decided per callsite. [`detect`] looks inside free text
//! (messages, string values, `Debug` renderings, error chains) for secrets and personal data that
//! arrive under innocent names.

pub mod detect;
mod field_rules;
mod hash;
pub(crate) mod policy;
pub mod scrubbed;
mod scrubber;

pub(crate) use field_rules::glob_match;
pub use field_rules::{FieldRule, FieldRules, DEFAULT_DENY};
pub use hash::{Pseudonymizer, HASH_PREFIX};
pub use scrubbed::{scrubbed, scrubbed_fields};
pub use scrubber::{ScrubError, ScrubErrorKind, Scrubber};

/// What happens to a value a rule or detector matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Replace the value with a marker (`[REDACTED]`, or `[REDACTED:<kind>]` for a detector).
    Mask,
    /// Remove the field (for a detector: remove the matched text).
    Drop,
    /// Keep the last four characters, mask the rest (`****1234`).
    Partial,
    /// Replace with the keyed pseudonym `hmac-sha256:<hex>` so equal values stay joinable.
    /// Falls back to [`Action::Mask`] when no hash key is configured.
    Hash,
    /// Keep the value as it is.
    Keep,
}

/// The marker a masked field value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Writes the `Partial` form of `value`: every character but the last four replaced by `*`.
/// Values of four characters or fewer are masked entirely, since keeping all of them reveals all.
pub(crate) fn write_partial(value: &str, out: &mut String) {
    let count = value.chars().count();
    if count <= 4 {
        out.push_str(MASK);
        return;
    }
    let keep_from = value
        .char_indices()
        .nth(count - 4)
        .map(|(i, _)| i)
        .unwrap_or(value.len());
    out.extend(std::iter::repeat_n('*', count - 4));
    out.push_str(&value[keep_from..]);
}
