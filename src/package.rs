//! Deterministic code packages: `codeUri` directory → zip → SHA-256.
//!
//! SKELETON: the config helper replaces this file.

/// Why a function's code could not be packaged.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot package")]
pub struct Error;
