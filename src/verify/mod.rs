//! Offline verification of an audit trail.
