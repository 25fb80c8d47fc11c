//! The WebSocket entry point, one backend per way of hosting it, behind one trait.
//!
//! Everything else of a stack (the bucket, the three functions) is the same whatever serves
//! the WebSocket: [`super::functions`] plans and applies it, [`super::deploy`] lays out the
//! graph. A backend only describes its own part:
//!
//! - [`Backend::observe`]: find its resources (ids the journal remembers are hints, checked
//!   before they are believed) and describe them neutrally as an [`ObservedEntry`]: ids, whether
//!   they carry our tags, the outputs clients and functions need ([`EntryOutputs`]);
//! - [`Backend::plan`]: diff them into typed steps, an [`EntryPlan`], which renders its plan
//!   lines and adds its steps to the deploy graph: the entry steps (which may wait for the
//!   functions) and, after the functions are wired with the outputs, the finishing ones;
//! - [`Backend::add_remove`] / [`Backend::remove_changes`]: tear its part down, before the
//!   functions and the bucket go;
//! - [`Backend::info`]: its part of `info` (table rows and `info --json`'s `entry`).
//!
//! [`of`] picks the backend of a stack: the list of backends.

pub mod apigw;
pub mod seam;

pub use seam::{Backend, Detail, EntryInfo, EntryOutputs, EntryPlan, Fields, ObservedEntry};

use crate::config::Stack;

/// The backend that hosts `stack`'s entry point (the list of backends).
pub fn of(_stack: &Stack) -> &'static dyn Backend {
    &apigw::ApiGateway
}
