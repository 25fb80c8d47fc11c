//! Latency profiles. SKELETON: the api3 helper fills this in.

/// Per-action delays.
#[derive(Debug, Clone, Default)]
pub struct Profile;
