//! Invoke: the one call from the control plane into the function runtime. Asynchronous: the
//! record is read on the blocking pool (the store), then the runtime is awaited on the async
//! one (no `block_on`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, obj};
use super::super::error::ApiError;
use super::common::{FunctionRef, not_active, not_found, reap};
use crate::localcloud::model::function::Status;
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
