//! Desired vs observed → plan → apply.
//!
//! This module owns the *observed* model of a deployment: what exists in the cloud for one
//! stack and stage, found by name and by the `chatstack:stack` / `chatstack:stage` tags. `info`
//! renders it; `plan` and `deploy` diff the desired [`crate::config::Stack`] against it. The
//! model speaks of the stack's parts (bucket, functions, the WebSocket entry point), not of one
//! backend's resource list: the entry point is a [`backend::ObservedEntry`], which each backend
//! ([`backend::Backend`]: API Gateway today, a WebSocket gateway as an SCF web function next)
//! fills.
//!
//! Layout: [`functions`] plans and applies the bucket and the functions, [`backend`] the entry
//! point, [`deploy`] puts them in one graph, [`remove`] tears them down; [`graph`] runs steps
//! concurrently, [`journal`] records what exists as it appears.

pub mod backend;
pub mod context;
pub mod deploy;
pub mod error;
pub mod functions;
pub mod graph;
pub mod journal;
pub mod observe;
pub mod plan;
pub mod remove;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod plan_tests;

pub use observe::observe;

use serde::Serialize;

use crate::config::FunctionRole;

/// Tag keys chatstack puts on what it creates.
pub mod tags {
    /// The stack name.
    pub const STACK: &str = "chatstack:stack";
    /// The stage name.
    pub const STAGE: &str = "chatstack:stage";
    /// SHA-256 of the deterministic code zip, on functions.
    pub const CODE_SHA256: &str = "chatstack:code-sha256";
}

/// What exists in the cloud for one stack and stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// The bucket (its full name is known even when it does not exist).
    pub bucket: ObservedBucket,
    /// The WebSocket entry point, if any part exists.
    pub entry: Option<backend::ObservedEntry>,
    /// Each function of the stack file, existing or not, in file order.
    pub functions: Vec<ObservedFunction>,
}

impl Observed {
    /// Whether nothing of the stack exists.
    pub fn is_empty(&self) -> bool {
        !self.bucket.exists
            && self.entry.is_none()
            && self.functions.iter().all(|f| f.status.is_none())
    }
}

/// The COS bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBucket {
    /// Full bucket id, `name-appid`.
    pub name: String,
    /// Region (as the bucket reports it when it exists).
    pub region: String,
    /// Whether it exists.
    pub exists: bool,
}

/// One function of the stack file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFunction {
    /// `FunctionName`.
    pub name: String,
    /// Its role for the WebSocket endpoint, if bound.
    pub role: Option<FunctionRole>,
    /// SCF `Status`, `None` when the function does not exist.
    pub status: Option<String>,
    /// Our code hash tag, if present.
    pub code_sha256: Option<String>,
    /// What GetFunction said (configuration, environment — values may be secrets: never print
    /// them —, tags, status reasons), when it exists.
    #[serde(skip)]
    pub detail: Option<crate::providers::tencent::scf::FunctionInfo>,
}

impl Serialize for FunctionRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
