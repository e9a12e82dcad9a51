//! Rotating, retained, durable files for one stream.
