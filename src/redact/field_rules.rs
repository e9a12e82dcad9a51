//! Redaction rules that act on field names.

/// A field-name rule.
#[derive(Debug, Clone)]
pub struct FieldRule;
/// The field-name rules of one stream.
#[derive(Debug, Clone)]
pub struct FieldRules;
