//! ListFunctions: filters, ordering and paging over the function records.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, Filter, obj};
use super::super::error::ApiError;
use super::common::{descending, namespace, page};
use crate::localcloud::model::function::{FunctionRecord, TABLE};
use crate::providers::tencent::time;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ListReq {
    order: Option<String>,
    orderby: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    search_key: Option<String>,
    namespace: Option<String>,
    description: Option<String>,
    filters: Option<Vec<Filter>>,
}

pub(super) fn list_functions(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListReq = ctx.parse()?;
    let namespace = namespace(req.namespace)?;
    let (skip, take) = page(req.offset, req.limit)?;
    let descending = descending(req.order.as_deref())?;
    let orderby = req.orderby.unwrap_or_else(|| "AddTime".to_owned());
    if !["AddTime", "ModTime", "FunctionName"].contains(&orderby.as_str()) {
        return Err(ApiError::new(
            "InvalidParameterValue.OrderBy",
            format!("Orderby `{orderby}` must be AddTime, ModTime or FunctionName."),
        ));
    }
    let filters = req.filters.unwrap_or_default();
    if filters.len() > 10 {
        return Err(ApiError::new(
            "InvalidParameterValue.Filters",
            "At most 10 filters.",
        ));
    }
    for f in &filters {
        let known = f.name.starts_with("tag-")
            || ["Status", "Runtime", "FunctionType"].contains(&f.name.as_str());
        if !known || f.values.is_empty() {
            return Err(ApiError::new(
                "InvalidParameterValue.Filters",
                format!("Filter `{}` is not supported or has no values.", f.name),
            ));
        }
    }
    let search = req.search_key.map(|s| s.to_lowercase());
    let prefix = format!("{}/{namespace}/", ctx.region);
    let mut found: Vec<FunctionRecord> = ctx
        .store()
        .scan::<FunctionRecord>(TABLE, &prefix, None, usize::MAX)?
        .into_iter()
        .filter_map(|(_, r)| r.at(ctx.now_ms))
        .filter(|r| {
            search
                .as_ref()
                .is_none_or(|s| r.name.to_lowercase().contains(s))
        })
        .filter(|r| {
            req.description
                .as_ref()
                .is_none_or(|d| r.description.contains(d.as_str()))
        })
        .filter(|r| {
            filters.iter().all(|f| {
                let v = |s: &str| f.values.iter().any(|x| x == s);
                match f.name.as_str() {
                    "Status" => v(r.status.as_str()),
                    "Runtime" => v(&r.runtime),
                    "FunctionType" => v(&r.function_type),
                    tag => {
                        let k = &tag["tag-".len()..];
                        r.tags.iter().any(|t| t.key == k && v(&t.value))
                    }
                }
            })
        })
        .collect();
    found.sort_by(|a, b| {
        let ord = match orderby.as_str() {
            "ModTime" => a.mod_time.cmp(&b.mod_time),
            "FunctionName" => a.name.cmp(&b.name),
            _ => a.add_time.cmp(&b.add_time),
        }
        .then_with(|| a.name.cmp(&b.name));
        if descending { ord.reverse() } else { ord }
    });
    let total = found.len();
    let page: Vec<Value> = found
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|r| {
            json!({
                "FunctionName": r.name,
                "FunctionId": r.function_id,
                "Namespace": r.namespace,
                "Runtime": r.runtime,
                "Status": r.status.as_str(),
                "StatusDesc": "",
                "StatusReasons": [],
                "Description": r.description,
                "Tags": r.tags,
                "Type": r.function_type,
                "AddTime": time::format(r.add_time),
                "ModTime": time::format(r.mod_time),
                "AsyncRunEnable": "FALSE",
                "TraceEnable": "FALSE",
            })
        })
        .collect();
    Ok(obj(json!({ "Functions": page, "TotalCount": total })))
}
