//! Invoke and InvokeFunction: the calls from the control plane into the function runtime.
//! Asynchronous: the record is read on the blocking pool (the store), then the runtime is
//! awaited on the async one (no `block_on`).
//!
//! InvokeFunction (API-FACTS §10.4) is synchronous only and takes the event as `Event`; its
//! `Qualifier` defaults to `$DEFAULT`, the alias every function has, which the local cloud
//! (no versions or aliases) resolves to `$LATEST`. `LogType: Tail` returns the last 4 KB of the
//! log, `None` (the default) none. A function error fills `RetMsg` with the cloud's
//! `{"errorCode":1,"errorMessage":…,"stackTrace":…,"statusCode":430}`, `ErrMsg` with the
//! message, and the deprecated `InvokeResult` with the status code: any of the three tells.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, obj};
use super::super::error::ApiError;
use super::common::{FunctionRef, not_active, not_found, reap};
use crate::localcloud::model::function::{FunctionRecord, Status};
use crate::localcloud::runtime::{self, InvocationType, InvokeError};
use crate::providers::tencent::limits;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct InvokeReq {
    function_name: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
    invocation_type: Option<String>,
    client_context: Option<String>,
}

/// Invoke through the function runtime: the parameters are checked here, the record read (and
/// finished deletions reaped, as before every SCF action) on the blocking pool, then the
/// runtime awaited.
pub(super) async fn invoke(ctx: Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: InvokeReq = ctx.parse()?;
    let invocation = match req.invocation_type.as_deref() {
        None | Some("") | Some("RequestResponse") => InvocationType::RequestResponse,
        Some("Event") => InvocationType::Event,
        Some(t) => {
            return Err(ApiError::new(
                "InvalidParameterValue.InvokeType",
                format!("InvocationType `{t}` must be RequestResponse or Event."),
            ));
        }
    };
    // Checked before the event is parsed: an oversized one is refused without reading it.
    let limit = if invocation == InvocationType::Event {
        limits::EVENT_ASYNC_MAX_BYTES
    } else {
        limits::EVENT_SYNC_MAX_BYTES
    };
    if req.client_context.as_deref().map_or(0, str::len) > limit {
        return Err(ApiError::new(
            "InvalidParameterValue.ClientContext",
            format!(
                "ClientContext is over the {} KB limit of this invocation type.",
                limit / 1024
            ),
        ));
    }
    let event = match req.client_context.as_deref() {
        None | Some("") => json!({}),
        Some(c) => serde_json::from_str::<Value>(c).map_err(|_| {
            ApiError::new(
                "InvalidParameterValue.ClientContext",
                "ClientContext must be a JSON document in a string.",
            )
        })?,
    };
    let function = FunctionRef {
        function_name: req.function_name,
        namespace: req.namespace,
        qualifier: req.qualifier,
    };
    let (r, out) = run(ctx, function, event, invocation).await?;
    if invocation == InvocationType::Event {
        return Ok(obj(json!({ "Result": {
            "RetMsg": "", "ErrMsg": "", "Log": "", "MemUsage": 0, "Duration": 0,
            "BillDuration": 0, "FunctionRequestId": out.request_id, "InvokeResult": 0,
        }})));
    }
    let (ret_msg, err_msg, code) = match &out.outcome {
        Ok(_) => (runtime::ret_msg(&out), String::new(), 0),
        Err(e) => (
            String::new(),
            e.err_msg(&out.request_id),
            e.kind.status_code(),
        ),
    };
    Ok(obj(json!({ "Result": {
        "RetMsg": ret_msg,
        "ErrMsg": err_msg,
        "Log": runtime::scf_log(&out, r.memory_size),
        "MemUsage": out.mem_usage_bytes,
        "Duration": out.duration_ms,
        "BillDuration": out.billed_ms,
        "FunctionRequestId": out.request_id,
        "InvokeResult": code,
    }})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct InvokeFunctionReq {
    function_name: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
    event: Option<String>,
    log_type: Option<String>,
    routing_key: Option<String>,
}

/// How much of the log `LogType: Tail` returns (the SDK's model: "4KB").
const LOG_TAIL_BYTES: usize = 4 * 1024;

/// InvokeFunction (see the module docs).
pub(super) async fn invoke_function(ctx: Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: InvokeFunctionReq = ctx.parse()?;
    let tail = match req.log_type.as_deref() {
        None | Some("") | Some("None") => false,
        Some("Tail") => true,
        Some(t) => {
            return Err(ApiError::new(
                "InvalidParameterValue.LogType",
                format!("LogType `{t}` must be None or Tail."),
            ));
        }
    };
    let event = req.event.unwrap_or_default();
    // Checked before the event is parsed: an oversized one is refused without reading it.
    if event.len() > limits::EVENT_SYNC_MAX_BYTES {
        return Err(ApiError::new(
            "InvalidParameter.RequestTooLarge",
            format!(
                "Event is {} bytes, over the {} MB limit of InvokeFunction.",
                event.len(),
                limits::EVENT_SYNC_MAX_BYTES / (1024 * 1024)
            ),
        ));
    }
    let event = match event.as_str() {
        "" => json!({}),
        e => serde_json::from_str::<Value>(e).map_err(|_| {
            ApiError::new(
                "InvalidParameter.Payload",
                "Event must be a JSON document in a string.",
            )
        })?,
    };
    if let Some(key) = req.routing_key.as_deref().filter(|k| !k.is_empty())
        && serde_json::from_str::<Map<String, Value>>(key).is_err()
    {
        return Err(ApiError::new(
            "InvalidParameterValue.RoutingKey",
            "RoutingKey must be a JSON object of strings, such as {\"k\":\"v\"}.",
        ));
    }
    let qualifier = match req.qualifier.as_deref() {
        None | Some("") | Some("$DEFAULT") => None,
        Some(q) => Some(q.to_owned()),
    };
    let function = FunctionRef {
        function_name: req.function_name,
        namespace: req.namespace,
        qualifier,
    };
    let (r, out) = run(ctx, function, event, InvocationType::RequestResponse).await?;
    let (ret_msg, err_msg, code) = match &out.outcome {
        Ok(_) => (runtime::ret_msg(&out), String::new(), 0),
        Err(e) => (
            json!({
                "errorCode": 1,
                "errorMessage": e.message,
                "stackTrace": e.traceback,
                "statusCode": e.kind.status_code(),
            })
            .to_string(),
            e.message.clone(),
            e.kind.status_code(),
        ),
    };
    let log = if tail {
        let log = runtime::scf_log(&out, r.memory_size);
        let mut start = log.len().saturating_sub(LOG_TAIL_BYTES);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        log[start..].to_owned()
    } else {
        String::new()
    };
    Ok(obj(json!({ "Result": {
        "RetMsg": ret_msg,
        "ErrMsg": err_msg,
        "Log": log,
        "MemUsage": out.mem_usage_bytes,
        "Duration": out.duration_ms,
        "BillDuration": out.billed_ms,
        "FunctionRequestId": out.request_id,
        "InvokeResult": code,
    }})))
}

/// Runs `function` with `event`: the record read (and finished deletions reaped, as before
/// every SCF action) on the blocking pool, checked `Active`, then the runtime awaited.
async fn run(
    ctx: Ctx,
    function: FunctionRef,
    event: Value,
    invocation: InvocationType,
) -> Result<(FunctionRecord, runtime::InvokeOutput), ApiError> {
    let (ctx, resolved) = tokio::task::spawn_blocking(move || {
        let r = reap(&ctx).and_then(|()| function.resolve(&ctx));
        (ctx, r)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the local cloud failed: {e}")))?;
    let (name, namespace, r) = resolved?;
    if r.status != Status::Active {
        return Err(not_active(
            "FailedOperation.FunctionStatusError",
            &name,
            r.status,
        ));
    }
    let target = runtime::FunctionRef {
        region: ctx.region.clone(),
        namespace,
        name: name.clone(),
    };
    let out = ctx
        .plane
        .runtime
        .invoke(&target, event, invocation)
        .await
        .map_err(|e| match e {
            InvokeError::FunctionNotFound(_) => not_found(&name, &target.namespace),
            InvokeError::NotActive { .. } => {
                ApiError::new("FailedOperation.FunctionStatusError", e.to_string())
            }
            InvokeError::PythonUnavailable(_)
            | InvokeError::CodeUnreadable { .. }
            | InvokeError::UnsupportedRuntime { .. } => {
                ApiError::new("FailedOperation.InvokeFunction", e.to_string())
            }
            InvokeError::Internal(_) => ApiError::internal(e.to_string()),
        })?;
    Ok((r, out))
}
