//! What one stream does to one value: the field-name rule first, then the detectors.

use super::detect::{Detector, DetectorSet};
use super::{write_partial, Action, FieldRules, Pseudonymizer, MASK};
use std::borrow::Cow;

/// The complete redaction configuration of one stream.
#[derive(Clone, Debug)]
pub(crate) struct StreamPolicy {
    pub(crate) fields: FieldRules,
    pub(crate) detectors: DetectorSet,
    /// Detectors for the audit record's identity fields (`actor`, `src_ip`): the trail must still
    /// say who and from where, so e-mail and IP detectors keep those unless configured otherwise.
    pub(crate) identity: DetectorSet,
}

impl StreamPolicy {
    pub(crate) fn new(fields: FieldRules, detectors: DetectorSet, identity_keeps: bool) -> Self {
        let identity = if identity_keeps {
            detectors
                .clone()
                .set(Detector::Email, Action::Keep)
                .set(Detector::IpAddress, Action::Keep)
        } else {
            detectors.clone()
        };
        StreamPolicy {
            fields,
            detectors,
            identity,
        }
    }
}

/// Applies a field-name `action` to a string value, writing the result into `scratch` when it
/// differs from the input. Returns `None` when the field is to be dropped.
pub(crate) fn apply_action<'a>(
    action: Action,
    value: &'a str,
    hasher: Option<&Pseudonymizer>,
    scratch: &'a mut String,
) -> Option<Cow<'a, str>> {
    match action {
        Action::Keep => Some(Cow::Borrowed(value)),
        Action::Drop => None,
        Action::Mask => Some(Cow::Borrowed(MASK)),
        Action::Partial => {
            scratch.clear();
            write_partial(value, scratch);
            Some(Cow::Borrowed(scratch.as_str()))
        }
        Action::Hash => match hasher {
            Some(h) => {
                scratch.clear();
                h.write_pseudonym(value.as_bytes(), scratch);
                Some(Cow::Borrowed(scratch.as_str()))
            }
            None => Some(Cow::Borrowed(MASK)),
        },
    }
}
