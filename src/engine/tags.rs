//! Tag keys chatstack puts on what it creates.

/// The stack name.
pub const STACK: &str = "chatstack:stack";
/// The stage name.
pub const STAGE: &str = "chatstack:stage";
/// SHA-256 of the deterministic code zip, on functions.
pub const CODE_SHA256: &str = "chatstack:code-sha256";
/// SHA-256 of what a function's `requirements.txt` installed
/// ([`crate::package::Dependencies::sha256`]), on functions that have one: written at creation
/// and on every code update, so a fresh runner can tell a dependency change from a code change.
/// No tag means no dependencies: a code update that drops them unbinds it (the tag service
/// refuses an empty value); an empty value from elsewhere is read the same way.
pub const DEPS_SHA256: &str = "chatstack:deps-sha256";
