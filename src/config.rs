//! The stack file → [`Stack`]: parsing, interpolation and validation (DESIGN §3, §6).
//!
//! - `raw.rs` reads the YAML (serde-saphyr) into a node tree with a location on every node;
//! - `resolve.rs` interpolates `${…}`, applies defaults and checks everything, building the
//!   typed [`Stack`] in `model.rs`;
//! - `diagnostic.rs` is the [`Error`]: kind, file, line, column, YAML path, help, and the
//!   source snippet miette renders.
//!
//! Everything is checked here, before any cloud call; nothing downstream re-validates. No
//! `serde_saphyr::` path leaves this module.

mod diagnostic;
mod model;
mod raw;
mod resolve;

pub use diagnostic::{Error, ErrorKind};
pub use model::*;
pub use resolve::{DEFERRED_RESERVE, suggest};

use std::collections::BTreeMap;
use std::path::Path;

use diagnostic::Source;

/// What a stack file is resolved against.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Stage name for `${stage}` (1–20 of `a-z`, `0-9`, `-`; the CLI's default is `dev`).
    pub stage: String,
    /// Environment for `${env:NAME}` (pass `std::env::vars().collect()`).
    pub env: BTreeMap<String, String>,
}

impl Default for LoadOptions {
    /// Stage `dev` (DESIGN §5's default), empty environment.
    fn default() -> Self {
        LoadOptions {
            stage: "dev".to_owned(),
            env: BTreeMap::new(),
        }
    }
}

/// Reads, parses, interpolates and validates a stack file.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Stack, Error> {
    let source =
        std::fs::read_to_string(path).map_err(|e| Error::io(&path.display().to_string(), e))?;
    parse(&source, path, opts)
}

/// Parses, interpolates and validates the text of the stack file at `path`. `codeUri`
/// directories are checked relative to `path`'s directory; nothing else touches the disk.
pub fn parse(source: &str, path: &Path, opts: &LoadOptions) -> Result<Stack, Error> {
    let name = path.display().to_string();
    let src = Source {
        name: &name,
        text: source,
    };
    let root = raw::parse(source).map_err(|e| diagnostic::syntax(&src, &e))?;
    resolve::resolve(&src, &root, path, opts)
}

#[cfg(test)]
mod tests;
