//! SCF (`scf`, 2018-04-16): functions, their code and their asynchronous states
//! (API-FACTS §2).
//!
//! Records live in the table [`TABLE`], keyed `{region}/{namespace}/{name}`; the code zip of a
//! function is a store blob named in [`FunctionRecord::code_blob`] (the function runtime unpacks
//! it from there). Only the `default` namespace exists; any other is
//! `ResourceNotFound.Namespace`.
//!
//! **State transitions are lazy and deterministic.** A write that starts an asynchronous state
//! (`Creating`, `Updating`, `Deleting`) stores it with the deadline at which it ends
//! (now + the latency profile's duration). Every read resolves the record against the clock:
//! past the deadline, `Creating`/`Updating` read as `Active` and `Deleting` reads as gone. No
//! background task is involved, so a restart mid-transition keeps working; records that have
//! finished `Deleting` are physically removed (with their blob) at the start of the next SCF
//! call. With the `none` profile every state settles at once.
//!
//! Updates and deletes of a function that is not `Active` are refused with
//! `FailedOperation.UpdateFunctionCode`, `FailedOperation.UpdateFunctionConfiguration` and
//! `FailedOperation.DeleteFunction` (API-FACTS §2.4). Invoke answers
//! `FailedOperation.FunctionStatusError` for a function that is not `Active`; an active one runs
//! in the function runtime ([`crate::localcloud::runtime`]), whose invocation records back
//! GetFunctionLogs.
//!
//! Web functions (`Type: HTTP`, WebSocket, per-instance concurrency) are checked in [`web`];
//! their Function URLs (`http` triggers) live in [`triggers`], reserved concurrency in
//! [`concurrency`]. DeleteFunction removes a function's triggers at once, so the data plane
//! stops routing to it while it is `Deleting`.
//!
//! Files: [`crud`] (create, get, update, delete), [`list`], [`logs`], [`invoke`], [`web`],
//! [`triggers`], [`concurrency`], the shared [`common`] resolution and errors, the parameter
//! [`checks`].

mod checks;
mod common;
mod concurrency;
mod crud;
mod invoke;
mod list;
mod logs;
#[cfg(test)]
mod tests;
mod triggers;
mod web;

use serde_json::{Map, Value};

use super::context::Ctx;
use super::error::ApiError;

/// The actions we answer.
pub(super) const ACTIONS: &[&str] = &[
    "CreateFunction",
    "GetFunction",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "DeleteFunction",
    "ListFunctions",
    "GetFunctionLogs",
    "Invoke",
    "InvokeFunction",
    "CreateTrigger",
    "ListTriggers",
    "UpdateTrigger",
    "DeleteTrigger",
    "PutReservedConcurrencyConfig",
    "GetReservedConcurrencyConfig",
    "DeleteReservedConcurrencyConfig",
];

/// Runs a synchronous action (on the blocking pool: the store commits with fsync).
pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    common::reap(ctx)?;
    match ctx.action.as_str() {
        "CreateFunction" => crud::create_function(ctx),
        "GetFunction" => crud::get_function(ctx),
        "UpdateFunctionCode" => crud::update_function_code(ctx),
        "UpdateFunctionConfiguration" => crud::update_function_configuration(ctx),
        "DeleteFunction" => crud::delete_function(ctx),
        "ListFunctions" => list::list_functions(ctx),
        "GetFunctionLogs" => logs::get_function_logs(ctx),
        "CreateTrigger" => triggers::create_trigger(ctx),
        "ListTriggers" => triggers::list_triggers(ctx),
        "UpdateTrigger" => triggers::update_trigger(ctx),
        "DeleteTrigger" => triggers::delete_trigger(ctx),
        "PutReservedConcurrencyConfig" => concurrency::put_reserved(ctx),
        "GetReservedConcurrencyConfig" => concurrency::get_reserved(ctx),
        "DeleteReservedConcurrencyConfig" => concurrency::delete_reserved(ctx),
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}

/// Whether `action` is asynchronous (awaits the function runtime): [`call_async`] runs it.
pub(super) fn is_async(action: &str) -> bool {
    matches!(action, "Invoke" | "InvokeFunction")
}

/// Runs an asynchronous action ([`is_async`]).
pub(super) async fn call_async(ctx: Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.action.as_str() {
        "Invoke" => invoke::invoke(ctx).await,
        "InvokeFunction" => invoke::invoke_function(ctx).await,
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}
