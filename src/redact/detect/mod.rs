//! Detectors for secrets and personal data inside free text.
