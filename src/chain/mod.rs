//! The audit chain: sequence numbers, MACs, seals and checkpoints.
