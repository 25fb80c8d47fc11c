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
//! Layout: [`functions`] plans and applies the bucket and the functions, [`roles`] the
//! functions' execution roles, [`backend`] the entry
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
pub mod observed;
pub mod plan;
pub mod remove;
pub mod roles;
pub mod tags;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod plan_tests;

pub use observe::observe;
pub use observed::{Observed, ObservedBucket, ObservedFunction};
