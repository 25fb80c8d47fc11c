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

use std::io::Cursor;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ApiError, Ctx, obj, required};
use crate::localcloud::model::function::{
    DEFAULT_INIT_TIMEOUT, DEFAULT_NAMESPACE, FunctionRecord, KeyValue, Status, TABLE, key, lookup,
};
use crate::localcloud::store::StoreError;
use crate::providers::tencent::{limits, time};

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
];

pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    reap(ctx)?;
    match ctx.action.as_str() {
        "CreateFunction" => create_function(ctx),
        "GetFunction" => get_function(ctx),
        "UpdateFunctionCode" => update_function_code(ctx),
        "UpdateFunctionConfiguration" => update_function_configuration(ctx),
        "DeleteFunction" => delete_function(ctx),
        "ListFunctions" => list_functions(ctx),
        "GetFunctionLogs" => get_function_logs(ctx),
        "Invoke" => invoke(ctx),
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}

/// Removes records whose `Deleting` is over, and their code blobs.
fn reap(ctx: &Ctx) -> Result<(), ApiError> {
    let store = ctx.cloud.store();
    let done: Vec<String> = store
        .scan::<FunctionRecord>(TABLE, "", None, usize::MAX)?
        .into_iter()
        .filter(|(_, r)| r.clone().at(ctx.now_ms).is_none())
        .map(|(k, _)| k)
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    let blobs = store.write(|tx| -> Result<Vec<String>, StoreError> {
        let mut blobs = Vec::new();
        for k in &done {
            // Re-read inside the transaction: the name may have been reused meanwhile.
            if let Some(r) = tx.get::<FunctionRecord>(TABLE, k)?
                && r.clone().at(ctx.now_ms).is_none()
            {
                tx.delete(TABLE, k)?;
                blobs.push(r.code_blob);
            }
        }
        Ok(blobs)
    })?;
    for b in blobs {
        store.delete_blob(&b);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CodeParam {
    zip_file: Option<String>,
    cos_bucket_name: Option<String>,
    cos_object_name: Option<String>,
    image_config: Option<Value>,
    demo_id: Option<String>,
    temp_cos_object_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EnvironmentParam {
    variables: Option<Vec<KeyValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateFunctionReq {
    function_name: Option<String>,
    code: Option<CodeParam>,
    handler: Option<String>,
    description: Option<String>,
    memory_size: Option<i64>,
    timeout: Option<i64>,
    init_timeout: Option<i64>,
    environment: Option<EnvironmentParam>,
    runtime: Option<String>,
    namespace: Option<String>,
    role: Option<String>,
    #[serde(rename = "Type")]
    function_type: Option<String>,
    tags: Option<Vec<KeyValue>>,
}

fn create_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: CreateFunctionReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    check_name(&name)?;
    let namespace = namespace(req.namespace)?;
    let code = req.code.ok_or_else(|| {
        ApiError::new("MissingParameter.Code", "The parameter `Code` is missing.")
    })?;
    let runtime = req
        .runtime
        .unwrap_or_else(|| limits::DEFAULT_RUNTIME.to_owned());
    // The cloud keeps retired runtimes for old functions but creates none on them.
    if limits::runtime(&runtime).is_none_or(|r| r.retired) {
        return Err(ApiError::new(
            "InvalidParameterValue.Runtime",
            format!(
                "Runtime `{runtime}` is not supported; use one of {}.",
                limits::creatable_runtimes().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let handler = req
        .handler
        .unwrap_or_else(|| "index.main_handler".to_owned());
    check_handler(&runtime, &handler)?;
    let memory_size = check_memory(req.memory_size.unwrap_or(128))?;
    let timeout = check_timeout(req.timeout.unwrap_or(3))?;
    let init_timeout = check_init_timeout(req.init_timeout.unwrap_or(DEFAULT_INIT_TIMEOUT.into()))?;
    let description = check_description(req.description.unwrap_or_default())?;
    let function_type = check_type(req.function_type.unwrap_or_else(|| "Event".to_owned()))?;
    let environment = match req.environment.and_then(|e| e.variables) {
        Some(vars) => check_environment(vars)?,
        None => Vec::new(),
    };
    let tags = check_tags(req.tags.unwrap_or_default())?;
    let zip = decode_code(&code)?;

    let store = ctx.cloud.store();
    let function_id = super::random_id("lam");
    let blob = format!("scf-{function_id}-{}.zip", uuid::Uuid::new_v4().simple());
    store.put_blob(&blob, &zip)?;
    let now = ctx.now_secs();
    let record = FunctionRecord {
        region: ctx.region.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
        function_id,
        runtime,
        handler,
        description,
        memory_size,
        timeout,
        init_timeout,
        role: req.role.unwrap_or_default(),
        function_type,
        environment,
        tags,
        code_blob: blob.clone(),
        code_size: zip.len() as u64,
        code_sha256: crate::providers::tencent::tc3::sha256_hex(&zip),
        add_time: now,
        mod_time: now,
        status: Status::Creating,
        settles_at_ms: ctx.now_ms + millis(ctx.cloud.options().latency.creating()),
    };
    let k = key(&ctx.region, &namespace, &name);
    let result = store.write(|tx| -> Result<Option<String>, ApiError> {
        let old = tx.get::<FunctionRecord>(TABLE, &k)?;
        let replaced = match old {
            Some(o) if o.clone().at(ctx.now_ms).is_some() => {
                return Err(ApiError::new(
                    "ResourceInUse.Function",
                    format!("The function `{name}` already exists in namespace `{namespace}`."),
                ));
            }
            // A finished delete not reaped yet: its blob goes after the commit.
            Some(o) => Some(o.code_blob),
            None => None,
        };
        tx.put(TABLE, &k, &record)?;
        Ok(replaced)
    });
    match result {
        Ok(replaced) => {
            if let Some(old_blob) = replaced {
                store.delete_blob(&old_blob);
            }
            Ok(Map::new())
        }
        Err(e) => {
            store.delete_blob(&blob);
            Err(e)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct FunctionRef {
    function_name: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
}

impl FunctionRef {
    fn resolve(self, ctx: &Ctx) -> Result<(String, String, FunctionRecord), ApiError> {
        let name = required(self.function_name, "FunctionName")?;
        let namespace = namespace(self.namespace)?;
        if let Some(q) = self.qualifier.as_deref()
            && q != "$LATEST"
            && q != "$DEFAULT"
        {
            return Err(ApiError::new(
                "ResourceNotFound.Version",
                format!("The version `{q}` of function `{name}` does not exist."),
            ));
        }
        let record = lookup(
            ctx.cloud.store(),
            &ctx.region,
            &namespace,
            &name,
            ctx.now_ms,
        )?
        .ok_or_else(|| not_found(&name, &namespace))?;
        Ok((name, namespace, record))
    }
}

fn not_found(name: &str, namespace: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound.Function",
        format!("The function `{name}` does not exist in namespace `{namespace}`."),
    )
}

fn get_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let (_, _, r) = ctx.parse::<FunctionRef>()?.resolve(ctx)?;
    let vars: Vec<Value> = r
        .environment
        .iter()
        .map(|kv| json!({"Key": kv.key, "Value": kv.value}))
        .collect();
    Ok(obj(json!({
        "FunctionName": r.name,
        "FunctionId": r.function_id,
        "Namespace": r.namespace,
        "Runtime": r.runtime,
        "Handler": r.handler,
        "Description": r.description,
        "Timeout": r.timeout,
        "MemorySize": r.memory_size,
        "Role": r.role,
        "Type": r.function_type,
        "Environment": { "Variables": vars },
        "Status": r.status.as_str(),
        "StatusDesc": "",
        "StatusReasons": [],
        "ModTime": time::format(r.mod_time),
        "AddTime": time::format(r.add_time),
        "CodeSize": r.code_size,
        "CodeInfo": "",
        "CodeResult": "success",
        "CodeError": "",
        "ErrNo": 0,
        "Qualifier": "$LATEST",
        "FunctionVersion": "$LATEST",
        "Tags": r.tags,
        "Triggers": [],
        "VpcConfig": { "VpcId": "", "SubnetId": "" },
        "InstallDependency": "FALSE",
        "ClsLogsetId": "",
        "ClsTopicId": "",
        "L5Enable": "FALSE",
        "Layers": [],
        "AvailableStatus": "Available",
        "InitTimeout": r.init_timeout,
        "AsyncRunEnable": "FALSE",
        "TraceEnable": "FALSE",
        "PublicNetConfig": { "PublicNetStatus": "ENABLE", "EipConfig": { "EipStatus": "DISABLE", "EipAddress": [] } },
        "DnsCache": "FALSE",
        "UseGpu": "FALSE",
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateCodeReq {
    function_name: Option<String>,
    namespace: Option<String>,
    handler: Option<String>,
    code: Option<CodeParam>,
    // Legacy top-level code fields (API-FACTS §2.5).
    zip_file: Option<String>,
    cos_bucket_name: Option<String>,
    cos_object_name: Option<String>,
}

fn update_function_code(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: UpdateCodeReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let namespace = namespace(req.namespace)?;
    let code = match req.code {
        Some(c) => c,
        None => CodeParam {
            zip_file: req.zip_file,
            cos_bucket_name: req.cos_bucket_name,
            cos_object_name: req.cos_object_name,
            ..CodeParam::default()
        },
    };
    let current = lookup(
        ctx.cloud.store(),
        &ctx.region,
        &namespace,
        &name,
        ctx.now_ms,
    )?
    .ok_or_else(|| not_found(&name, &namespace))?;
    if let Some(h) = &req.handler {
        check_handler(&current.runtime, h)?;
    }
    let zip = decode_code(&code)?;
    let store = ctx.cloud.store();
    let blob = format!(
        "scf-{}-{}.zip",
        current.function_id,
        uuid::Uuid::new_v4().simple()
    );
    store.put_blob(&blob, &zip)?;
    let result = modify(
        ctx,
        &namespace,
        &name,
        "FailedOperation.UpdateFunctionCode",
        |r| {
            r.code_blob = blob.clone();
            r.code_size = zip.len() as u64;
            r.code_sha256 = crate::providers::tencent::tc3::sha256_hex(&zip);
            if let Some(h) = &req.handler {
                r.handler = h.clone();
            }
        },
    );
    match result {
        Ok(old) => {
            store.delete_blob(&old.code_blob);
            Ok(Map::new())
        }
        Err(e) => {
            store.delete_blob(&blob);
            Err(e)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateConfigReq {
    function_name: Option<String>,
    namespace: Option<String>,
    description: Option<String>,
    memory_size: Option<i64>,
    timeout: Option<i64>,
    init_timeout: Option<i64>,
    environment: Option<EnvironmentParam>,
    role: Option<String>,
}

fn update_function_configuration(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: UpdateConfigReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let namespace = namespace(req.namespace)?;
    let memory_size = req.memory_size.map(check_memory).transpose()?;
    let timeout = req.timeout.map(check_timeout).transpose()?;
    let init_timeout = req.init_timeout.map(check_init_timeout).transpose()?;
    let description = req.description.map(check_description).transpose()?;
    // Non-empty Variables replace the whole set; `[{Key:"",Value:""}]` clears it; an empty or
    // absent Environment keeps it (API-FACTS §2.5).
    let environment = match req.environment.and_then(|e| e.variables) {
        Some(vars) if vars.is_empty() => None,
        Some(vars) if vars.iter().all(|v| v.key.is_empty() && v.value.is_empty()) => {
            Some(Vec::new())
        }
        Some(vars) => Some(check_environment(vars)?),
        None => None,
    };
    lookup(
        ctx.cloud.store(),
        &ctx.region,
        &namespace,
        &name,
        ctx.now_ms,
    )?
    .ok_or_else(|| not_found(&name, &namespace))?;
    modify(
        ctx,
        &namespace,
        &name,
        "FailedOperation.UpdateFunctionConfiguration",
        |r| {
            if let Some(m) = memory_size {
                r.memory_size = m;
            }
            if let Some(t) = timeout {
                r.timeout = t;
            }
            if let Some(t) = init_timeout {
                r.init_timeout = t;
            }
            if let Some(d) = &description {
                r.description = d.clone();
            }
            if let Some(env) = &environment {
                r.environment = env.clone();
            }
            if let Some(role) = &req.role {
                r.role = role.clone();
            }
        },
    )?;
    Ok(Map::new())
}

/// Applies `change` to an `Active` function and moves it to `Updating`; returns the record as
/// it was. Not active → `busy_code`.
fn modify(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    busy_code: &'static str,
    change: impl FnOnce(&mut FunctionRecord),
) -> Result<FunctionRecord, ApiError> {
    let k = key(&ctx.region, namespace, name);
    let updating = millis(ctx.cloud.options().latency.updating());
    ctx.cloud.store().write(|tx| {
        let old = tx
            .get::<FunctionRecord>(TABLE, &k)?
            .and_then(|r| r.at(ctx.now_ms))
            .ok_or_else(|| not_found(name, namespace))?;
        if old.status != Status::Active {
            return Err(not_active(busy_code, name, old.status));
        }
        let mut new = old.clone();
        change(&mut new);
        new.status = Status::Updating;
        new.settles_at_ms = ctx.now_ms + updating;
        new.mod_time = ctx.now_secs();
        tx.put(TABLE, &k, &new)?;
        Ok(old)
    })
}

fn not_active(code: &'static str, name: &str, status: Status) -> ApiError {
    ApiError::new(
        code,
        format!(
            "The function `{name}` is {}; retry when its status is Active.",
            status.as_str()
        ),
    )
}

fn delete_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: FunctionRef = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let namespace = namespace(req.namespace)?;
    let k = key(&ctx.region, &namespace, &name);
    let deleting = millis(ctx.cloud.options().latency.deleting());
    ctx.cloud.store().write(|tx| {
        let mut r = tx
            .get::<FunctionRecord>(TABLE, &k)?
            .and_then(|r| r.at(ctx.now_ms))
            .ok_or_else(|| not_found(&name, &namespace))?;
        if r.status != Status::Active {
            return Err(not_active(
                "FailedOperation.DeleteFunction",
                &name,
                r.status,
            ));
        }
        r.status = Status::Deleting;
        r.settles_at_ms = ctx.now_ms + deleting;
        tx.put(TABLE, &k, &r)?;
        Ok(())
    })?;
    Ok(Map::new())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Filter {
    name: String,
    values: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListReq {
    order: Option<String>,
    orderby: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    search_key: Option<String>,
    namespace: Option<String>,
    description: Option<String>,
    filters: Option<Vec<Filter>>,
}

fn list_functions(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListReq = ctx.parse()?;
    let namespace = namespace(req.namespace)?;
    let offset = req.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::new(
            "InvalidParameterValue.Offset",
            "Offset must be >= 0.",
        ));
    }
    let limit = req.limit.unwrap_or(20);
    if !(0..=100).contains(&limit) {
        return Err(ApiError::new(
            "InvalidParameterValue.Limit",
            "Limit must be between 0 and 100.",
        ));
    }
    let descending = match req.order.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("DESC") => true,
        Some("ASC") => false,
        Some(o) => {
            return Err(ApiError::new(
                "InvalidParameterValue.Order",
                format!("Order `{o}` must be ASC or DESC."),
            ));
        }
    };
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
        .cloud
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
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
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

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogFilterParam {
    ret_code: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct LogsReq {
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
fn get_function_logs(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
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
    lookup(
        ctx.cloud.store(),
        &ctx.region,
        &namespace,
        &name,
        ctx.now_ms,
    )?
    .ok_or_else(|| not_found(&name, &namespace))?;
    let mut found: Vec<logs::LogRecord> =
        logs::list(ctx.cloud.store(), &ctx.region, &namespace, &name)?
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
fn parse_scf_time(t: &str, field: &'static str) -> Result<i64, ApiError> {
    time::parse(t).map_err(|_| {
        ApiError::new(
            format!("InvalidParameterValue.{field}"),
            format!("{field} `{t}` must look like 2017-05-16 20:00:00."),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct InvokeReq {
    function_name: Option<String>,
    namespace: Option<String>,
    qualifier: Option<String>,
    invocation_type: Option<String>,
    client_context: Option<String>,
}

/// Invoke through the function runtime. Runs on the blocking pool (like every action), so the
/// asynchronous runtime is entered with `Handle::block_on`.
fn invoke(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    use crate::localcloud::runtime::{self, InvocationType, InvokeError};
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
    let event = match req.client_context.as_deref() {
        None | Some("") => json!({}),
        Some(c) => serde_json::from_str::<Value>(c).map_err(|_| {
            ApiError::new(
                "InvalidParameterValue.ClientContext",
                "ClientContext must be a JSON document in a string.",
            )
        })?,
    };
    let limit = if invocation == InvocationType::Event {
        128 * 1024
    } else {
        6 * 1024 * 1024
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
    let (name, namespace, r) = FunctionRef {
        function_name: req.function_name,
        namespace: req.namespace,
        qualifier: req.qualifier,
    }
    .resolve(ctx)?;
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
    let handle = tokio::runtime::Handle::current();
    let out = handle
        .block_on(
            ctx.cloud
                .runtime()
                .invoke(&ctx.cloud, &target, event, invocation),
        )
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

fn namespace(ns: Option<String>) -> Result<String, ApiError> {
    match ns.as_deref() {
        None | Some("") | Some(DEFAULT_NAMESPACE) => Ok(DEFAULT_NAMESPACE.to_owned()),
        Some(other) => Err(ApiError::new(
            "ResourceNotFound.Namespace",
            format!("The namespace `{other}` does not exist."),
        )),
    }
}

/// 2–60 characters, letters, digits, `-`, `_`, starting with a letter, not ending in `-`/`_`.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let b = name.as_bytes();
    let ok = (2..=60).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        && !matches!(b[b.len() - 1], b'-' | b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.FunctionName",
            format!(
                "FunctionName `{name}` is invalid: 2-60 letters, digits, `-` and `_`, starting with a letter and not ending with `-` or `_`."
            ),
        ))
    }
}

fn check_handler(runtime: &str, handler: &str) -> Result<(), ApiError> {
    let chars_ok = !handler.is_empty()
        && handler.len() <= 60
        && handler
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_-./:".contains(&c));
    // Script runtimes need `file.function`; Go/Java/custom runtimes name a binary or class.
    let needs_dot = runtime.starts_with("Python")
        || runtime.starts_with("Nodejs")
        || runtime.starts_with("Php");
    let shape_ok = !needs_dot
        || handler.rsplit_once('.').is_some_and(|(file, func)| {
            !file.is_empty() && !func.is_empty() && !func.contains('/')
        });
    if chars_ok && shape_ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.Handler",
            format!(
                "Handler `{handler}` is invalid: expected `file.function`, e.g. `index.main_handler`."
            ),
        ))
    }
}

fn check_memory(m: i64) -> Result<u32, ApiError> {
    if m == 64 || ((128..=3072).contains(&m) && m % 128 == 0) {
        Ok(m as u32)
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.MemorySize",
            format!("MemorySize {m} is invalid: 64, or 128 to 3072 in steps of 128."),
        ))
    }
}

fn check_timeout(t: i64) -> Result<u32, ApiError> {
    check_seconds(t, 900, "Timeout", "LimitExceeded.Timeout")
}

fn check_init_timeout(t: i64) -> Result<u32, ApiError> {
    check_seconds(t, 300, "InitTimeout", "InvalidParameterValue.InitTimeout")
}

/// `t` seconds within 1..=`max`, or error `code` naming `field`.
fn check_seconds(t: i64, max: u32, field: &str, code: &'static str) -> Result<u32, ApiError> {
    match u32::try_from(t) {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::new(
            code,
            format!("{field} {t} is out of range: 1 to {max} seconds."),
        )),
    }
}

fn check_description(d: String) -> Result<String, ApiError> {
    if d.chars().count() > 1000 {
        return Err(ApiError::new(
            "InvalidParameterValue.Description",
            "Description is longer than 1000 characters.",
        ));
    }
    Ok(d)
}

fn check_type(t: String) -> Result<String, ApiError> {
    if t == "Event" || t == "HTTP" {
        Ok(t)
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.Type",
            format!("Type `{t}` must be Event or HTTP."),
        ))
    }
}

fn check_tags(tags: Vec<KeyValue>) -> Result<Vec<KeyValue>, ApiError> {
    if let Some(t) = tags.iter().find(|t| t.key.is_empty()) {
        return Err(ApiError::new(
            "InvalidParameterValue.Tags",
            format!("A tag key is empty (value `{}`).", t.value),
        ));
    }
    Ok(tags)
}

/// Keys start with a letter and use `[A-Za-z0-9_]`, none reserved, total ≤ 4 KB (keys + values).
fn check_environment(vars: Vec<KeyValue>) -> Result<Vec<KeyValue>, ApiError> {
    let mut total = 0;
    for v in &vars {
        if let Some(p) = limits::reserved_env_prefix(&v.key) {
            return Err(ApiError::new(
                "InvalidParameterValue.EnvironmentSystemProtect",
                format!(
                    "Environment variable `{}` uses the reserved prefix `{p}`.",
                    v.key
                ),
            ));
        }
        if !limits::is_env_key(&v.key) {
            return Err(ApiError::new(
                "InvalidParameterValue.Environment",
                format!(
                    "Environment variable name `{}` is invalid: a letter, then letters, digits and `_`.",
                    v.key
                ),
            ));
        }
        total += v.key.len() + v.value.len();
    }
    if total > limits::ENV_LIMIT_BYTES {
        return Err(ApiError::new(
            "InvalidParameterValue.EnvironmentExceededLimit",
            format!("The environment is {total} bytes, over the 4KB limit."),
        ));
    }
    Ok(vars)
}

/// The zip bytes of `Code.ZipFile`, checked to be a readable zip.
fn decode_code(code: &CodeParam) -> Result<Vec<u8>, ApiError> {
    if let Some(b64) = &code.zip_file {
        let cleaned: Vec<u8> = b64.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&cleaned)
            .map_err(|e| {
                ApiError::new(
                    "InvalidParameterValue.ZipFileBase64BinasciiError",
                    format!("Failed to decode the base64 of Code.ZipFile: {e}."),
                )
            })?;
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).map_err(|e| {
            ApiError::new(
                "InvalidParameterValue.ZipFile",
                format!("Code.ZipFile is not a standard zip file ({e}); compress it again."),
            )
        })?;
        for i in 0..archive.len() {
            archive.by_index_raw(i).map_err(|e| {
                ApiError::new(
                    "InvalidParameterValue.ZipFile",
                    format!("Code.ZipFile has a damaged entry ({e}); compress it again."),
                )
            })?;
        }
        return Ok(bytes);
    }
    if code.cos_bucket_name.is_some()
        || code.cos_object_name.is_some()
        || code.temp_cos_object_name.is_some()
    {
        return Err(ApiError::new(
            "UnsupportedOperation.Cos",
            "The local cloud takes function code inline as Code.ZipFile only, not from COS.",
        ));
    }
    if code.image_config.is_some() || code.demo_id.is_some() {
        return Err(ApiError::new(
            "InvalidParameterValue.Code",
            "The local cloud takes function code inline as Code.ZipFile only.",
        ));
    }
    Err(ApiError::new(
        "InvalidParameterValue.Code",
        "Code holds no source: set Code.ZipFile to the base64 of a zip.",
    ))
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::model::function::rebase_environment;
    use crate::localcloud::store::Store;

    fn record(status: Status, settles_at_ms: i64) -> FunctionRecord {
        FunctionRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            name: "f".into(),
            function_id: "lam-1".into(),
            runtime: "Python3.9".into(),
            handler: "index.main".into(),
            description: String::new(),
            memory_size: 128,
            timeout: 3,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            role: String::new(),
            function_type: "Event".into(),
            environment: vec![],
            tags: vec![],
            code_blob: "b".into(),
            code_size: 1,
            code_sha256: String::new(),
            add_time: 0,
            mod_time: 0,
            status,
            settles_at_ms,
        }
    }

    #[test]
    fn rebasing_rewrites_only_values_that_start_with_the_old_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut f = record(Status::Active, 0);
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        f.environment = vec![
            kv("url", "http://127.0.0.1:4000/api-abc"),
            kv("ws", "ws://127.0.0.1:4000/service-x/release/"),
            kv("base", "http://127.0.0.1:4000"),
            kv("other_port", "http://127.0.0.1:40001/api-abc"),
            kv("inside", "see http://127.0.0.1:4000/"),
        ];
        let k = key(&f.region, &f.namespace, &f.name);
        store.write(|t| t.put(TABLE, &k, &f)).unwrap();
        assert_eq!(
            rebase_environment(&store, "127.0.0.1:4000", "127.0.0.1:5000").unwrap(),
            3
        );
        let got: FunctionRecord = store.get(TABLE, &k).unwrap().unwrap();
        let values: Vec<&str> = got.environment.iter().map(|v| v.value.as_str()).collect();
        assert_eq!(
            values,
            [
                "http://127.0.0.1:5000/api-abc",
                "ws://127.0.0.1:5000/service-x/release/",
                "http://127.0.0.1:5000",
                "http://127.0.0.1:40001/api-abc",
                "see http://127.0.0.1:4000/",
            ]
        );
    }

    #[test]
    fn states_resolve_at_their_deadline() {
        let c = record(Status::Creating, 1000);
        assert_eq!(c.clone().at(999).unwrap().status, Status::Creating);
        assert_eq!(c.at(1000).unwrap().status, Status::Active);
        assert_eq!(
            record(Status::Updating, 5).at(6).unwrap().status,
            Status::Active
        );
        assert!(record(Status::Deleting, 5).at(4).is_some());
        assert!(record(Status::Deleting, 5).at(5).is_none());
    }

    #[test]
    fn names_follow_the_scf_rules() {
        for ok in ["ab", "chat-register", "a_1", &"a".repeat(60)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "1abc",
            "ab-",
            "ab_",
            "a b",
            "ab.c",
            &"a".repeat(61),
            "中文",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_timeout_and_handlers() {
        assert!(check_memory(64).is_ok() && check_memory(3072).is_ok());
        assert!(
            check_memory(100).is_err() && check_memory(3200).is_err() && check_memory(0).is_err()
        );
        assert!(check_timeout(1).is_ok() && check_timeout(900).is_ok());
        assert!(check_timeout(0).is_err() && check_timeout(901).is_err());
        assert!(check_init_timeout(1).is_ok() && check_init_timeout(300).is_ok());
        assert!(check_init_timeout(0).is_err() && check_init_timeout(301).is_err());
        assert!(check_handler("Python3.9", "index.main_handler").is_ok());
        assert!(check_handler("Python3.9", "src/app.handler").is_ok());
        assert!(check_handler("Python3.9", "index").is_err());
        assert!(check_handler("Python3.9", ".main").is_err());
        assert!(check_handler("Go1", "main").is_ok());
    }

    #[test]
    fn environment_rules() {
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        assert!(check_environment(vec![kv("A", "1"), kv("B_2", "x")]).is_ok());
        for reserved in ["SCF_X", "QCLOUD_X", "TENCENTCLOUD_SECRETID"] {
            let e = check_environment(vec![kv(reserved, "1")]).unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue.EnvironmentSystemProtect");
        }
        let e = check_environment(vec![kv("1A", "1")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue.Environment");
        let e = check_environment(vec![kv("BIG", &"x".repeat(4094))]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue.EnvironmentExceededLimit");
        assert!(check_environment(vec![kv("BIG", &"x".repeat(4093))]).is_ok());
    }
}
