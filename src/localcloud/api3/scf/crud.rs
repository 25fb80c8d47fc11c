//! CreateFunction, GetFunction, UpdateFunctionCode, UpdateFunctionConfiguration and
//! DeleteFunction: the writes of function records (and their code blobs) and the one read.

use std::io::Cursor;

use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::context::{Ctx, obj, random_id, required};
use super::super::error::ApiError;
use super::checks::{
    check_description, check_environment, check_handler, check_init_timeout, check_memory,
    check_name, check_tags, check_timeout, check_type,
};
use super::common::{FunctionRef, millis, namespace, not_active, not_found};
use super::triggers;
use super::web::{self, WebParams};
use crate::localcloud::model::function::{
    DEFAULT_INIT_TIMEOUT, FunctionRecord, KeyValue, Status, TABLE, key, lookup,
};
use crate::providers::tencent::{limits, time};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct CodeParam {
    zip_file: Option<String>,
    cos_bucket_name: Option<String>,
    cos_object_name: Option<String>,
    cos_bucket_region: Option<String>,
    image_config: Option<Value>,
    demo_id: Option<String>,
    temp_cos_object_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct EnvironmentParam {
    variables: Option<Vec<KeyValue>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct CreateFunctionReq {
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
    #[serde(flatten)]
    web: WebParams,
}

pub(super) fn create_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
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
    let function_type = check_type(req.function_type.unwrap_or_else(|| "Event".to_owned()))?;
    // A Web function runs its `scf_bootstrap`: Handler is not needed (kept if given).
    let handler = if function_type == "HTTP" {
        req.handler.unwrap_or_default()
    } else {
        let handler = req
            .handler
            .unwrap_or_else(|| "index.main_handler".to_owned());
        check_handler(&runtime, &handler)?;
        handler
    };
    let memory_size = check_memory(req.memory_size.unwrap_or(128))?;
    let timeout = check_timeout(req.timeout.unwrap_or(3))?;
    let web = web::create_settings(&function_type, &runtime, timeout, req.web)?;
    let init_timeout = check_init_timeout(req.init_timeout.unwrap_or(DEFAULT_INIT_TIMEOUT.into()))?;
    let description = check_description(req.description.unwrap_or_default())?;
    let environment = match req.environment.and_then(|e| e.variables) {
        Some(vars) => check_environment(vars)?,
        None => Vec::new(),
    };
    let tags = check_tags(req.tags.unwrap_or_default())?;
    check_role(ctx, req.role.as_deref())?;
    let zip = code_bytes(ctx, &code)?;
    if function_type == "HTTP" {
        web::check_bootstrap(&zip)?;
    }

    let store = ctx.store();
    let function_id = random_id("lam");
    let blob = format!("scf-{function_id}-{}.zip", uuid::Uuid::new_v4().simple());
    store.put_blob(&blob, &zip)?;
    let now = ctx.now_secs();
    let mut record = FunctionRecord {
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
        protocol_type: String::new(),
        ws_idle_timeout: 0,
        max_concurrency: 0,
        reserved_concurrency: None,
        environment,
        tags,
        code_blob: blob.clone(),
        code_size: zip.len() as u64,
        code_sha256: crate::providers::tencent::tc3::sha256_hex(&zip),
        add_time: now,
        mod_time: now,
        status: Status::Creating,
        settles_at_ms: ctx.now_ms + millis(ctx.plane.latency.creating()),
    };
    web.apply(&mut record);
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

pub(super) fn get_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let (_, _, r) = ctx.parse::<FunctionRef>()?.resolve(ctx)?;
    let vars: Vec<Value> = r
        .environment
        .iter()
        .map(|kv| json!({"Key": kv.key, "Value": kv.value}))
        .collect();
    let triggers = triggers::function_triggers(ctx, &r)?;
    let mut out = obj(json!({
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
        "Triggers": triggers,
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
    }));
    out.extend(web::get_fields(&r));
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct UpdateCodeReq {
    function_name: Option<String>,
    namespace: Option<String>,
    handler: Option<String>,
    code: Option<CodeParam>,
    // Legacy top-level code fields (API-FACTS §2.5).
    zip_file: Option<String>,
    cos_bucket_name: Option<String>,
    cos_object_name: Option<String>,
    cos_bucket_region: Option<String>,
}

pub(super) fn update_function_code(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: UpdateCodeReq = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let namespace = namespace(req.namespace)?;
    let code = match req.code {
        Some(c) => c,
        None => CodeParam {
            zip_file: req.zip_file,
            cos_bucket_name: req.cos_bucket_name,
            cos_object_name: req.cos_object_name,
            cos_bucket_region: req.cos_bucket_region,
            ..CodeParam::default()
        },
    };
    let current = lookup(ctx.store(), &ctx.region, &namespace, &name, ctx.now_ms)?
        .ok_or_else(|| not_found(&name, &namespace))?;
    if let Some(h) = &req.handler {
        check_handler(&current.runtime, h)?;
    }
    let zip = code_bytes(ctx, &code)?;
    if current.is_web() {
        web::check_bootstrap(&zip)?;
    }
    let store = ctx.store();
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
pub(super) struct UpdateConfigReq {
    function_name: Option<String>,
    namespace: Option<String>,
    description: Option<String>,
    memory_size: Option<i64>,
    timeout: Option<i64>,
    init_timeout: Option<i64>,
    environment: Option<EnvironmentParam>,
    role: Option<String>,
    /// Not in the SDK's model: sent only to be refused when it differs.
    #[serde(rename = "Type")]
    function_type: Option<String>,
    #[serde(flatten)]
    web: WebParams,
}

/// A `Role` must name a CAM role that exists (`ResourceNotFound.Role`, API-FACTS §2.6); an
/// empty one means none.
fn check_role(ctx: &Ctx, role: Option<&str>) -> Result<(), ApiError> {
    match role {
        Some(name) if !name.is_empty() => {
            if crate::localcloud::model::cam::role(ctx.store(), name)?.is_none() {
                return Err(ApiError::new(
                    "ResourceNotFound.Role",
                    format!("The role `{name}` does not exist."),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub(super) fn update_function_configuration(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
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
    check_role(ctx, req.role.as_deref())?;
    let current = lookup(ctx.store(), &ctx.region, &namespace, &name, ctx.now_ms)?
        .ok_or_else(|| not_found(&name, &namespace))?;
    // Checked against the record as read; `modify` refuses a function that changed meanwhile
    // (it is then not Active).
    let web = web::update_settings(&current, req.function_type.as_deref(), timeout, req.web)?;
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
            web.apply(r);
        },
    )?;
    Ok(Map::new())
}

/// Applies `change` to an `Active` function and moves it to `Updating`; returns the record as
/// it was. Not active → `busy_code`.
pub(super) fn modify(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    busy_code: &'static str,
    change: impl FnOnce(&mut FunctionRecord),
) -> Result<FunctionRecord, ApiError> {
    let k = key(&ctx.region, namespace, name);
    let updating = millis(ctx.plane.latency.updating());
    ctx.store().write(|tx| {
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

pub(super) fn delete_function(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: FunctionRef = ctx.parse()?;
    let name = required(req.function_name, "FunctionName")?;
    let namespace = namespace(req.namespace)?;
    let k = key(&ctx.region, &namespace, &name);
    let deleting = millis(ctx.plane.latency.deleting());
    ctx.store().write(|tx| {
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
        // Its Function URLs go at once, so the data plane stops routing to it.
        triggers::delete_all(tx, &ctx.region, &namespace, &name)?;
        Ok(())
    })?;
    Ok(Map::new())
}

/// The zip bytes a `Code` names: `ZipFile` (base64) or a COS object (`CosBucketName` without
/// the `-appid` suffix, `CosObjectName`, `CosBucketRegion` defaulting to the request's region),
/// checked to be a readable zip. SCF reads the object with its own service role; the local
/// cloud reads its own COS store (no permission check: the caller owns both).
pub(super) fn code_bytes(ctx: &Ctx, code: &CodeParam) -> Result<Vec<u8>, ApiError> {
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
        return checked_zip(bytes, "Code.ZipFile");
    }
    if code.cos_bucket_name.is_some() || code.cos_object_name.is_some() {
        let bytes = cos_code(ctx, code)?;
        return checked_zip(bytes, "the COS object");
    }
    if code.temp_cos_object_name.is_some() {
        return Err(ApiError::new(
            "UnsupportedOperation.Cos",
            "The local cloud takes code from Code.ZipFile or Code.CosBucketName/CosObjectName, \
             not from TempCosObjectName.",
        ));
    }
    if code.image_config.is_some() || code.demo_id.is_some() {
        return Err(ApiError::new(
            "InvalidParameterValue.Code",
            "The local cloud takes function code as a zip (Code.ZipFile or a COS object) only.",
        ));
    }
    Err(ApiError::new(
        "InvalidParameterValue.Code",
        "Code holds no source: set Code.ZipFile to the base64 of a zip, or \
         Code.CosBucketName and Code.CosObjectName to a zip in COS.",
    ))
}

/// The body of the COS object `Code` names.
fn cos_code(ctx: &Ctx, code: &CodeParam) -> Result<Vec<u8>, ApiError> {
    let (Some(bucket), Some(object)) = (&code.cos_bucket_name, &code.cos_object_name) else {
        return Err(ApiError::new(
            "InvalidParameterValue.Code",
            "Code from COS needs both CosBucketName and CosObjectName.",
        ));
    };
    let appid = ctx.plane.account.appid;
    if bucket.is_empty() || bucket.ends_with(&format!("-{appid}")) {
        return Err(ApiError::new(
            "InvalidParameterValue.CosBucketName",
            format!(
                "CosBucketName {bucket:?} must be the bucket's name without the `-{appid}` suffix."
            ),
        ));
    }
    let region = code
        .cos_bucket_region
        .as_deref()
        .filter(|r| !r.is_empty())
        .unwrap_or(&ctx.region);
    let full = format!("{bucket}-{appid}");
    let key = object.strip_prefix('/').unwrap_or(object);
    crate::localcloud::cos::object_body(ctx.store(), &full, region, key)?.ok_or_else(|| {
        ApiError::new(
            "ResourceNotFound.CosObject",
            format!("The code package {object} is not in COS bucket {full} ({region})."),
        )
    })
}

/// `bytes` if they are a readable zip.
fn checked_zip(bytes: Vec<u8>, what: &str) -> Result<Vec<u8>, ApiError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.as_slice())).map_err(|e| {
        ApiError::new(
            "InvalidParameterValue.ZipFile",
            format!("{what} is not a standard zip file ({e}); compress it again."),
        )
    })?;
    for i in 0..archive.len() {
        archive.by_index_raw(i).map_err(|e| {
            ApiError::new(
                "InvalidParameterValue.ZipFile",
                format!("{what} has a damaged entry ({e}); compress it again."),
            )
        })?;
    }
    Ok(bytes)
}
