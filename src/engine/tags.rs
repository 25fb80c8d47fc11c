//! Tag keys chatstack puts on what it creates.

/// The stack name.
pub const STACK: &str = "chatstack:stack";
/// The stage name.
pub const STAGE: &str = "chatstack:stage";
/// SHA-256 of the deterministic code zip, on functions.
pub const CODE_SHA256: &str = "chatstack:code-sha256";
