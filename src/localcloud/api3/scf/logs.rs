//! GetFunctionLogs: the runtime's invocation records, filtered and paged as SCF does.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, obj};
use super::super::error::ApiError;
use super::common::{namespace, not_found};
use crate::localcloud::model::function::lookup;
use crate::providers::tencent::time;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct LogFilterParam {
    ret_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct LogsReq {
    function_name: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    order: Option<String>,
    order_by: Option<String>,
    filter: Option<LogFilterParam>,
    function_request_id: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
}

/// GetFunctionLogs over the runtime's invocation records (API-FACTS §2.5). Without a
/// FunctionName there is nothing to list (the cloud requires one in practice). StartTime and
/// EndTime are Beijing time, `YYYY-MM-DD HH:MM:SS`, at most one day apart; defaults: no bound.
pub(super) fn get_function_logs(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    use crate::localcloud::runtime::{FunctionErrorKind, logs};
    let req: LogsReq = ctx.parse()?;
    let namespace = namespace(req.namespace)?;
    let (offset, limit) = (req.offset.unwrap_or(0), req.limit.unwrap_or(10000));
    if offset < 0 || limit < 0 || offset + limit > 10000 {
        return Err(ApiError::new(
            "InvalidParameterValue.Limit",
            "Offset and Limit must be >= 0 and Offset + Limit <= 10000.",
        ));
    }
    let descending = match req.order.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(o) => {
            return Err(ApiError::new(
                "InvalidParameterValue.Order",
                format!("Order `{o}` must be desc or asc."),
            ));
        }
    };
    let order_by = req.order_by.unwrap_or_else(|| "start_time".to_owned());
    if !["function_name", "duration", "mem_usage", "start_time"].contains(&order_by.as_str()) {
        return Err(ApiError::new(
            "InvalidParameterValue.OrderBy",
            format!(
                "OrderBy `{order_by}` must be function_name, duration, mem_usage or start_time."
            ),
        ));
    }
    let ret_filter = req
        .filter
        .and_then(|f| f.ret_code)
        .filter(|r| !r.is_empty());
    if let Some(r) = &ret_filter
        && ![
            "not0",
            "is0",
            "TimeLimitExceeded",
            "ResourceLimitExceeded",
            "UserCodeException",
        ]
        .contains(&r.as_str())
    {
        return Err(ApiError::new(
            "InvalidParameterValue.RetCode",
            format!(
                "Filter.RetCode `{r}` must be not0, is0, TimeLimitExceeded, ResourceLimitExceeded or UserCodeException."
            ),
        ));
    }
    let start = req
        .start_time
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| parse_scf_time(t, "StartTime"))
        .transpose()?;
    let end = req
        .end_time
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| parse_scf_time(t, "EndTime"))
        .transpose()?;
    if let (Some(s), Some(e)) = (start, end) {
        if e < s {
            return Err(ApiError::new(
                "InvalidParameterValue.EndTime",
                "EndTime is before StartTime.",
            ));
        }
        if e - s > 86_400 {
            return Err(ApiError::new(
                "InvalidParameterValue.StartTime",
                "StartTime and EndTime must be at most one day apart.",
            ));
        }
    }
    if let Some(q) = req.qualifier.as_deref()
        && !q.is_empty()
        && q != "$LATEST"
        && q != "$DEFAULT"
    {
        return Ok(obj(json!({ "TotalCount": 0, "Data": [] })));
    }
    let Some(name) = req.function_name.filter(|n| !n.is_empty()) else {
        return Ok(obj(json!({ "TotalCount": 0, "Data": [] })));
    };
    lookup(ctx.store(), &ctx.region, &namespace, &name, ctx.now_ms)?
        .ok_or_else(|| not_found(&name, &namespace))?;
    let mut found: Vec<logs::LogRecord> = logs::list(ctx.store(), &ctx.region, &namespace, &name)?
        .into_iter()
        .filter(|r| start.is_none_or(|s| r.start_ms / 1000 >= s))
        .filter(|r| end.is_none_or(|e| r.start_ms / 1000 <= e))
        .filter(|r| {
            req.function_request_id
                .as_deref()
                .is_none_or(|id| id.is_empty() || r.request_id == id)
        })
        .filter(|r| match ret_filter.as_deref() {
            None => true,
            Some("is0") => r.ret_code == 0,
            Some("not0") => r.ret_code != 0,
            Some(name) => FunctionErrorKind::from_status_code(r.ret_code)
                .is_some_and(|k| k.filter_name() == name),
        })
        .collect();
    found.sort_by(|a, b| {
        match order_by.as_str() {
            "function_name" => a.function_name.cmp(&b.function_name),
            "duration" => a.duration_ms.total_cmp(&b.duration_ms),
            "mem_usage" => a.mem_usage.cmp(&b.mem_usage),
            _ => std::cmp::Ordering::Equal,
        }
        .then_with(|| a.start_ms.cmp(&b.start_ms))
    });
    // Stable sort over records in key (invocation) order, then reversed: ties stay in order.
    if descending {
        found.reverse();
    }
    let total = found.len();
    let data: Vec<Value> = found
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|r| {
            json!({
                "FunctionName": r.function_name,
                "RetMsg": r.ret_msg,
                "RequestId": r.request_id,
                "StartTime": time::format_millis(r.start_ms),
                "RetCode": r.ret_code,
                "InvokeFinished": 1,
                "Duration": r.duration_ms,
                "BillDuration": r.billed_ms,
                "MemUsage": r.mem_usage,
                "Log": r.log,
                "Level": if r.ret_code == 0 { "INFO" } else { "ERROR" },
                "Source": "",
                "RetryNum": 0,
            })
        })
        .collect();
    Ok(obj(json!({ "TotalCount": total, "Data": data })))
}

/// `"YYYY-MM-DD HH:MM:SS"` (Beijing time) → Unix seconds.
pub(super) fn parse_scf_time(t: &str, field: &'static str) -> Result<i64, ApiError> {
    time::parse(t).map_err(|_| {
        ApiError::new(
            format!("InvalidParameterValue.{field}"),
            format!("{field} `{t}` must look like 2017-05-16 20:00:00."),
        )
    })
}
