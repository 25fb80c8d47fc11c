//! The stack file → [`Stack`]: parsing, interpolation and validation (DESIGN §3, §6).
//!
//! SKELETON: the config helper replaces this file (keeping `load`, `LoadOptions`, `Error`).

mod model;

pub use model::*;

use std::collections::BTreeMap;
use std::path::Path;

/// What a stack file is resolved against.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Stage name for `${stage}`.
    pub stage: String,
    /// Environment for `${env:NAME}`.
    pub env: BTreeMap<String, String>,
}

/// Why a stack file was rejected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("stack file {path}: not loaded")]
pub struct Error {
    path: String,
}

/// Reads, parses, interpolates and validates a stack file.
pub fn load(path: &Path, _opts: &LoadOptions) -> Result<Stack, Error> {
    Err(Error {
        path: path.display().to_string(),
    })
}
