//! API Gateway (`apigateway`, 2018-08-08): services, WebSocket APIs bound to SCF functions,
//! and releases (API-FACTS §3).
//!
//! Tables: [`SERVICES`] keyed `{region}/{serviceId}` and [`APIS`] keyed
//! `{region}/{serviceId}/{apiId}`. A release stores a snapshot of the service's APIs in the
//! service record (ModifyApi takes effect on the gateway only after the next ReleaseService,
//! as in the cloud), which is what the WebSocket gateway serves.
//!
//! Decisions the real cloud does not dictate:
//! - **`OuterSubDomain` is `127.0.0.1:PORT/service-xxxxxxxx`.** Tools build the client URL as
//!   `ws(s)://{OuterSubDomain}/{environment}{path}` (API-FACTS §3.6), so the URL becomes
//!   `ws://127.0.0.1:PORT/service-xxxxxxxx/release/ws`, served by the local cloud itself; a
//!   real-looking `service-xxxxxxxx-APPID.{region}.apigw…` host would not resolve locally.
//!   The host part is computed from the listener's address when answering (not stored), so
//!   it stays right when the local cloud restarts on another port.
//! - **`InternalDomain` (push-back URL) is `http://127.0.0.1:PORT/{ApiId}`**, i.e.
//!   `http://127.0.0.1:PORT/api-xxxxxxxx` (DESIGN §7), computed the same way.
//! - **Retired platform** (`--apigw retired`): CreateService and CreateApi answer
//!   [`RETIRED_CODE`] = `UnsupportedOperation.ServiceRetired`; everything else keeps working on
//!   existing services (describe, release, delete), so a stack can still be removed.
//! - **Binding functions**: CreateApi/ModifyApi check that each bound function exists (in the
//!   region and namespace given, default `default`, qualifier `$LATEST` or `$DEFAULT`); the
//!   cloud registers an SCF trigger there, and its documented failure for that is
//!   `FailedOperation.ScfError`, which we answer for a missing function.
//! - A second API with the same path and method in one service is
//!   `InvalidParameterValue.InvalidApiRequestConfig`; unreleasing an environment that is not
//!   released is `InvalidParameterValue.InvalidEnvStatus`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::context::{Ctx, Filter, Plane, iso_time, obj, random_id, required};
use super::error::ApiError;
use crate::localcloud::model::api::{
    APIS, ApiRecord, FunctionBinding, Release, SERVICES, ServiceRecord,
};
use crate::localcloud::model::function::{self, KeyValue};
use crate::localcloud::options::ApigwMode;

/// The code CreateService/CreateApi answer when API Gateway is retired for the account.
pub const RETIRED_CODE: &str = "UnsupportedOperation.ServiceRetired";
/// The environments a service can be released to.
pub const ENVIRONMENTS: [&str; 3] = ["test", "prepub", "release"];

/// Serialises CreateApi/ModifyApi between their path-conflict check (a scan, outside the write
/// transaction) and their write. A std mutex: handlers run on the blocking pool and never hold
/// it across an `.await`.
static API_WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The actions we answer.
pub(super) const ACTIONS: &[&str] = &[
    "CreateService",
    "DescribeService",
    "DescribeServicesStatus",
    "DescribeServiceEnvironmentList",
    "CreateApi",
    "DescribeApi",
    "DescribeApisStatus",
    "ModifyApi",
    "DeleteApi",
    "ReleaseService",
    "UnReleaseService",
    "DeleteService",
];
/// `OuterSubDomain` of a service: `127.0.0.1:PORT/service-xxxxxxxx`.
pub fn outer_sub_domain(plane: &Plane, service_id: &str) -> String {
    format!("{}/{service_id}", plane.public_host())
}

/// `InternalDomain` (push-back URL) of an API: `http://127.0.0.1:PORT/api-xxxxxxxx`.
pub fn internal_domain(plane: &Plane, api_id: &str) -> String {
    format!("http://{}/{api_id}", plane.public_host())
}
pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.action.as_str() {
        "CreateService" => create_service(ctx),
        "DescribeService" => describe_service(ctx),
        "DescribeServicesStatus" => describe_services_status(ctx),
        "DescribeServiceEnvironmentList" => describe_environments(ctx),
        "CreateApi" => create_api(ctx),
        "DescribeApi" => describe_api(ctx),
        "DescribeApisStatus" => describe_apis_status(ctx),
        "ModifyApi" => modify_api(ctx),
        "DeleteApi" => delete_api(ctx),
        "ReleaseService" => release_service(ctx),
        "UnReleaseService" => unrelease_service(ctx),
        "DeleteService" => delete_service(ctx),
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}

fn retired_check(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.plane.apigw == ApigwMode::Retired {
        return Err(ApiError::new(
            RETIRED_CODE,
            "API Gateway has been retired for this account (sales stopped on 2024-07-01, \
             shutdown from 2026-10-30): new services and APIs cannot be created. Existing \
             services can still be described and deleted.",
        ));
    }
    Ok(())
}

fn service_key(region: &str, service_id: &str) -> String {
    format!("{region}/{service_id}")
}

fn api_key(region: &str, service_id: &str, api_id: &str) -> String {
    format!("{region}/{service_id}/{api_id}")
}

fn invalid_service(service_id: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound.InvalidService",
        format!("The service `{service_id}` does not exist or is not visible."),
    )
}

fn invalid_api(api_id: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFound.InvalidApi",
        format!("The API `{api_id}` does not exist in this service."),
    )
}

fn load_service(ctx: &Ctx, service_id: &str) -> Result<ServiceRecord, ApiError> {
    ctx.store()
        .get::<ServiceRecord>(SERVICES, &service_key(&ctx.region, service_id))?
        .ok_or_else(|| invalid_service(service_id))
}

fn service_apis(ctx: &Ctx, service_id: &str) -> Result<Vec<ApiRecord>, ApiError> {
    let prefix = format!("{}/{service_id}/", ctx.region);
    Ok(ctx
        .store()
        .scan::<ApiRecord>(APIS, &prefix, None, usize::MAX)?
        .into_iter()
        .map(|(_, a)| a)
        .collect())
}

fn page<T>(items: Vec<T>, offset: Option<i64>, limit: Option<i64>) -> Result<Vec<T>, ApiError> {
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(20);
    if offset < 0 {
        return Err(ApiError::new(
            "InvalidParameterValue",
            "Offset must be >= 0.",
        ));
    }
    if !(0..=100).contains(&limit) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "Limit must be between 0 and 100.",
        ));
    }
    Ok(items
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect())
}

// ---- services ----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateServiceReq {
    service_name: Option<String>,
    protocol: Option<String>,
    service_desc: Option<String>,
    net_types: Option<Vec<String>>,
    ip_version: Option<String>,
    tags: Option<Vec<KeyValue>>,
}

fn create_service(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    retired_check(ctx)?;
    let req: CreateServiceReq = ctx.parse()?;
    let name = required(req.service_name, "ServiceName")?;
    let protocol = required(req.protocol, "Protocol")?;
    if name.is_empty() || name.chars().count() > 50 {
        return Err(ApiError::new(
            "InvalidParameterValue",
            "ServiceName must be 1 to 50 characters.",
        ));
    }
    if !["http", "https", "http&https"].contains(&protocol.as_str()) {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidProcotol",
            format!("Protocol `{protocol}` must be http, https or http&https."),
        ));
    }
    let net_types = req.net_types.unwrap_or_else(|| vec!["OUTER".to_owned()]);
    if net_types.is_empty() || net_types.iter().any(|n| n != "OUTER" && n != "INNER") {
        return Err(ApiError::new(
            "UnsupportedOperation.UnsupportedNetType",
            "NetTypes must be OUTER and/or INNER.",
        ));
    }
    let ip_version = req.ip_version.unwrap_or_else(|| "IPv4".to_owned());
    if ip_version != "IPv4" {
        return Err(ApiError::new(
            "InvalidParameterValue",
            "IpVersion must be IPv4.",
        ));
    }
    let tags = req.tags.unwrap_or_default();
    if tags.iter().any(|t| t.key.is_empty()) {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidTagValues",
            "Tag keys must not be empty.",
        ));
    }
    let now = ctx.now_secs();
    let record = ctx.store().write(|tx| -> Result<ServiceRecord, ApiError> {
        let mut id = random_id("service");
        while tx
            .get::<ServiceRecord>(SERVICES, &service_key(&ctx.region, &id))?
            .is_some()
        {
            id = random_id("service");
        }
        let record = ServiceRecord {
            region: ctx.region.clone(),
            service_id: id,
            name,
            desc: req.service_desc.unwrap_or_default(),
            protocol,
            net_types,
            ip_version,
            tags,
            created: now,
            modified: now,
            releases: BTreeMap::new(),
            release_seq: 0,
        };
        tx.put(
            SERVICES,
            &service_key(&ctx.region, &record.service_id),
            &record,
        )?;
        Ok(record)
    })?;
    Ok(obj(json!({
        "ServiceId": record.service_id,
        "ServiceName": record.name,
        "ServiceDesc": record.desc,
        "OuterSubDomain": outer_sub_domain(&ctx.plane, &record.service_id),
        "InnerSubDomain": "",
        "CreatedTime": iso_time(record.created),
        "NetTypes": record.net_types,
        "IpVersion": record.ip_version,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ServiceIdReq {
    service_id: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
}

fn api_status(a: &ApiRecord) -> Value {
    json!({
        "ServiceId": a.service_id,
        "ApiId": a.api_id,
        "ApiDesc": a.desc,
        "Path": a.path,
        "Method": a.method,
        "CreatedTime": iso_time(a.created),
        "ModifiedTime": iso_time(a.modified),
        "ApiName": a.name,
        "ApiType": a.api_type,
        "Protocol": a.protocol,
        "AuthType": a.auth_type,
        "ApiBusinessType": "NORMAL",
        "AuthRelationApiId": "",
        "IsDebugAfterCharge": false,
        "UniqVpcId": "",
        "Tags": a.tags,
    })
}

fn describe_service(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ServiceIdReq = ctx.parse()?;
    let id = required(req.service_id, "ServiceId")?;
    let s = load_service(ctx, &id)?;
    let apis = service_apis(ctx, &id)?;
    Ok(obj(json!({
        "ServiceId": s.service_id,
        "AvailableEnvironments": s.releases.keys().collect::<Vec<_>>(),
        "ServiceName": s.name,
        "ServiceDesc": s.desc,
        "Protocol": s.protocol,
        "CreatedTime": iso_time(s.created),
        "ModifiedTime": iso_time(s.modified),
        "NetTypes": s.net_types,
        "InternalSubDomain": "",
        "OuterSubDomain": outer_sub_domain(&ctx.plane, &s.service_id),
        "InnerHttpPort": 0,
        "InnerHttpsPort": 0,
        "ApiTotalCount": apis.len(),
        "ApiIdStatusSet": apis.iter().map(api_status).collect::<Vec<_>>(),
        "UsagePlanTotalCount": 0,
        "UsagePlanList": [],
        "IpVersion": s.ip_version,
        "UserType": "",
        "SetId": 0,
        "Tags": s.tags,
        "InstanceId": "",
        "InstanceName": "",
        "SetType": "",
        "DeploymentType": "SHARED",
        "SpecialUse": "",
        "UniqVpcId": "",
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ListReq {
    service_id: Option<String>,
    offset: Option<i64>,
    limit: Option<i64>,
    filters: Option<Vec<Filter>>,
}

fn describe_services_status(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListReq = ctx.parse()?;
    let filters = req.filters.unwrap_or_default();
    for f in &filters {
        if !["ServiceId", "ServiceName", "Environment", "IpVersion"].contains(&f.name.as_str()) {
            return Err(ApiError::new(
                "InvalidParameterValue.InvalidFilterNotSupportedName",
                format!("Filter `{}` is not supported.", f.name),
            ));
        }
    }
    let prefix = format!("{}/", ctx.region);
    let mut services: Vec<ServiceRecord> = ctx
        .store()
        .scan::<ServiceRecord>(SERVICES, &prefix, None, usize::MAX)?
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| {
            filters.iter().all(|f| {
                f.values.is_empty()
                    || f.values.iter().any(|v| match f.name.as_str() {
                        "ServiceId" => s.service_id == *v,
                        "ServiceName" => s.name.contains(v.as_str()),
                        "Environment" => s.releases.contains_key(v),
                        _ => s.ip_version == *v,
                    })
            })
        })
        .collect();
    services.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.service_id.cmp(&b.service_id))
    });
    let total = services.len();
    let set: Vec<Value> = page(services, req.offset, req.limit)?
        .iter()
        .map(|s| {
            json!({
                "ServiceId": s.service_id,
                "ServiceName": s.name,
                "ServiceDesc": s.desc,
                "Protocol": s.protocol,
                "OuterSubDomain": outer_sub_domain(&ctx.plane, &s.service_id),
                "InnerSubDomain": "",
                "AvailableEnvironments": s.releases.keys().collect::<Vec<_>>(),
                "CreatedTime": iso_time(s.created),
                "ModifiedTime": iso_time(s.modified),
                "NetTypes": s.net_types,
                "IpVersion": s.ip_version,
                "InnerHttpPort": 0,
                "InnerHttpsPort": 0,
                "ExclusiveSetName": "",
                "TradeIsolateStatus": 0,
                "Tags": s.tags,
                "InstanceId": "",
                "SetType": "",
                "DeploymentType": "SHARED",
            })
        })
        .collect();
    Ok(obj(
        json!({ "Result": { "TotalCount": total, "ServiceSet": set } }),
    ))
}

fn describe_environments(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ServiceIdReq = ctx.parse()?;
    let id = required(req.service_id, "ServiceId")?;
    let s = load_service(ctx, &id)?;
    let scheme = if s.protocol == "https" {
        "https"
    } else {
        "http"
    };
    let outer = outer_sub_domain(&ctx.plane, &s.service_id);
    let envs: Vec<Value> = ENVIRONMENTS
        .iter()
        .map(|env| {
            let release = s.releases.get(*env);
            json!({
                "EnvironmentName": env,
                "Url": format!("{scheme}://{outer}/{env}"),
                "Status": if release.is_some() { 1 } else { 0 },
                "VersionName": release.map(|r| r.version.as_str()).unwrap_or(""),
            })
        })
        .collect();
    let total = envs.len();
    let envs = page(envs, req.offset, req.limit)?;
    Ok(obj(
        json!({ "Result": { "TotalCount": total, "EnvironmentList": envs } }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ReleaseReq {
    service_id: Option<String>,
    environment_name: Option<String>,
    release_desc: Option<String>,
}

fn check_env(env: &str) -> Result<(), ApiError> {
    if ENVIRONMENTS.contains(&env) {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.InvalidEnv",
            format!("EnvironmentName `{env}` must be one of release, prepub, test."),
        ))
    }
}

fn release_service(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ReleaseReq = ctx.parse()?;
    let id = required(req.service_id, "ServiceId")?;
    let env = required(req.environment_name, "EnvironmentName")?;
    let desc = required(req.release_desc, "ReleaseDesc")?;
    check_env(&env)?;
    let apis = service_apis(ctx, &id)?;
    let now = ctx.now_secs();
    let k = service_key(&ctx.region, &id);
    let release = ctx.store().write(|tx| -> Result<Release, ApiError> {
        let mut s = tx
            .get::<ServiceRecord>(SERVICES, &k)?
            .ok_or_else(|| invalid_service(&id))?;
        s.release_seq += 1;
        let stamp = jiff::Timestamp::from_second(now)
            .map(|t| t.strftime("%Y%m%d%H%M%S").to_string())
            .unwrap_or_default();
        let release = Release {
            version: format!("{stamp}{:04}", s.release_seq % 10_000),
            desc: desc.clone(),
            released_at: now,
            apis,
        };
        s.releases.insert(env.clone(), release.clone());
        s.modified = now;
        tx.put(SERVICES, &k, &s)?;
        Ok(release)
    })?;
    Ok(obj(json!({ "Result": {
        "ReleaseDesc": release.desc,
        "ReleaseVersion": release.version,
    }})))
}

fn unrelease_service(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ReleaseReq = ctx.parse()?;
    let id = required(req.service_id, "ServiceId")?;
    let env = required(req.environment_name, "EnvironmentName")?;
    check_env(&env)?;
    let k = service_key(&ctx.region, &id);
    ctx.store().write(|tx| -> Result<(), ApiError> {
        let mut s = tx
            .get::<ServiceRecord>(SERVICES, &k)?
            .ok_or_else(|| invalid_service(&id))?;
        if s.releases.remove(&env).is_none() {
            return Err(ApiError::new(
                "InvalidParameterValue.InvalidEnvStatus",
                format!("The environment `{env}` of service `{id}` is not released."),
            ));
        }
        s.modified = ctx.now_secs();
        tx.put(SERVICES, &k, &s)?;
        Ok(())
    })?;
    Ok(obj(json!({ "Result": true })))
}

fn delete_service(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ServiceIdReq = ctx.parse()?;
    let id = required(req.service_id, "ServiceId")?;
    let k = service_key(&ctx.region, &id);
    let api_prefix = format!("{}/{id}/", ctx.region);
    ctx.store().write(|tx| -> Result<(), ApiError> {
        let s = tx
            .get::<ServiceRecord>(SERVICES, &k)?
            .ok_or_else(|| invalid_service(&id))?;
        if tx.any_with_prefix(APIS, &api_prefix)? {
            return Err(ApiError::new(
                "UnsupportedOperation.ApiListNotEmpty",
                format!("The service `{id}` still has APIs; delete them first."),
            ));
        }
        if !s.releases.is_empty() {
            let envs: Vec<&str> = s.releases.keys().map(String::as_str).collect();
            return Err(ApiError::new(
                "UnsupportedOperation.ExistingOnlineEnvironment",
                format!(
                    "The service `{id}` is released in {}; unrelease it first.",
                    envs.join(", ")
                ),
            ));
        }
        tx.delete(SERVICES, &k)?;
        Ok(())
    })?;
    Ok(obj(json!({ "Result": true })))
}

// ---- APIs --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RequestConfig {
    path: Option<String>,
    method: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiReq {
    service_id: Option<String>,
    api_id: Option<String>,
    service_type: Option<String>,
    service_timeout: Option<i64>,
    protocol: Option<String>,
    request_config: Option<RequestConfig>,
    api_name: Option<String>,
    api_desc: Option<String>,
    api_type: Option<String>,
    auth_type: Option<String>,
    #[serde(rename = "EnableCORS")]
    enable_cors: Option<bool>,
    service_scf_function_name: Option<String>,
    service_scf_function_namespace: Option<String>,
    service_scf_function_qualifier: Option<String>,
    service_websocket_register_function_name: Option<String>,
    service_websocket_register_function_namespace: Option<String>,
    service_websocket_register_function_qualifier: Option<String>,
    service_websocket_transport_function_name: Option<String>,
    service_websocket_transport_function_namespace: Option<String>,
    service_websocket_transport_function_qualifier: Option<String>,
    service_websocket_cleanup_function_name: Option<String>,
    service_websocket_cleanup_function_namespace: Option<String>,
    service_websocket_cleanup_function_qualifier: Option<String>,
    tags: Option<Vec<KeyValue>>,
}

fn binding(
    ctx: &Ctx,
    role: &str,
    name: Option<&String>,
    namespace: Option<&String>,
    qualifier: Option<&String>,
) -> Result<Option<FunctionBinding>, ApiError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let namespace = namespace
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| function::DEFAULT_NAMESPACE.to_owned());
    let qualifier = qualifier
        .filter(|q| !q.is_empty())
        .cloned()
        .unwrap_or_else(|| "$LATEST".to_owned());
    let scf_error = |why: String| {
        ApiError::new(
            "FailedOperation.ScfError",
            format!("Binding the SCF trigger of the {role} function failed: {why}"),
        )
    };
    if qualifier != "$LATEST" && qualifier != "$DEFAULT" {
        return Err(scf_error(format!(
            "version `{qualifier}` of function `{name}` does not exist"
        )));
    }
    if function::lookup(ctx.store(), &ctx.region, &namespace, name, ctx.now_ms)?.is_none() {
        return Err(scf_error(format!(
            "function `{name}` does not exist in namespace `{namespace}` of {}",
            ctx.region
        )));
    }
    Ok(Some(FunctionBinding {
        name: name.clone(),
        namespace,
        qualifier,
    }))
}

/// Validates a CreateApi/ModifyApi request into the API it describes (ids and times are the
/// caller's).
fn build_api(
    ctx: &Ctx,
    req: &ApiReq,
    service_id: &str,
    existing: Option<&ApiRecord>,
) -> Result<ApiRecord, ApiError> {
    let service_type = required(req.service_type.clone(), "ServiceType")?;
    let rc = required(req.request_config.as_ref(), "RequestConfig")?;
    let protocol = match (&req.protocol, existing) {
        (Some(p), _) => p.clone(),
        (None, Some(e)) => e.protocol.clone(),
        (None, None) => return Err(ApiError::missing("Protocol")),
    };
    if protocol != "HTTP" && protocol != "WEBSOCKET" {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidProcotol",
            format!("Protocol `{protocol}` must be HTTP or WEBSOCKET."),
        ));
    }
    if let Some(e) = existing
        && e.protocol != protocol
    {
        return Err(ApiError::new(
            "UnsupportedOperation.ModifyProtocol",
            "The front-end protocol of an API cannot be changed.",
        ));
    }
    if !["SCF", "HTTP", "MOCK", "WEBSOCKET"].contains(&service_type.as_str()) {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidServiceType",
            format!("ServiceType `{service_type}` is not supported."),
        ));
    }
    if service_type == "WEBSOCKET" && protocol != "WEBSOCKET" {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidServiceType",
            "A WEBSOCKET backend needs a WEBSOCKET front end.",
        ));
    }
    let path = required(rc.path.clone(), "RequestConfig.Path")?;
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) || path.len() > 500 {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidApiRequestConfig",
            format!("RequestConfig.Path `{path}` must start with `/` and contain no spaces."),
        ));
    }
    let method = required(rc.method.clone(), "RequestConfig.Method")?.to_ascii_uppercase();
    if ![
        "GET", "POST", "PUT", "DELETE", "HEAD", "ANY", "PATCH", "OPTIONS",
    ]
    .contains(&method.as_str())
    {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidMethod",
            format!("RequestConfig.Method `{method}` is not supported."),
        ));
    }
    if protocol == "WEBSOCKET" && method != "GET" {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidWSMethod",
            "The front-end method of a WEBSOCKET API must be GET.",
        ));
    }
    let service_timeout = required(req.service_timeout, "ServiceTimeout")?;
    if !(1..=1800).contains(&service_timeout) {
        return Err(ApiError::new(
            "InvalidParameterValue.RangeExceeded",
            format!("ServiceTimeout {service_timeout} must be between 1 and 1800 seconds."),
        ));
    }
    let (mut register, mut transport, mut cleanup, mut scf_fn) = (None, None, None, None);
    if service_type == "SCF" {
        if protocol == "WEBSOCKET" {
            if req
                .service_websocket_transport_function_name
                .as_deref()
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::new(
                    "InvalidParameterValue.InvalidScfConfig",
                    "A WEBSOCKET API backed by SCF needs ServiceWebsocketTransportFunctionName.",
                ));
            }
            register = binding(
                ctx,
                "register",
                req.service_websocket_register_function_name.as_ref(),
                req.service_websocket_register_function_namespace.as_ref(),
                req.service_websocket_register_function_qualifier.as_ref(),
            )?;
            transport = binding(
                ctx,
                "transport",
                req.service_websocket_transport_function_name.as_ref(),
                req.service_websocket_transport_function_namespace.as_ref(),
                req.service_websocket_transport_function_qualifier.as_ref(),
            )?;
            cleanup = binding(
                ctx,
                "cleanup",
                req.service_websocket_cleanup_function_name.as_ref(),
                req.service_websocket_cleanup_function_namespace.as_ref(),
                req.service_websocket_cleanup_function_qualifier.as_ref(),
            )?;
        } else {
            if req
                .service_scf_function_name
                .as_deref()
                .is_none_or(str::is_empty)
            {
                return Err(ApiError::new(
                    "InvalidParameterValue.InvalidScfConfig",
                    "An API backed by SCF needs ServiceScfFunctionName.",
                ));
            }
            scf_fn = binding(
                ctx,
                "backend",
                req.service_scf_function_name.as_ref(),
                req.service_scf_function_namespace.as_ref(),
                req.service_scf_function_qualifier.as_ref(),
            )?;
        }
    }
    let now = ctx.now_secs();
    Ok(ApiRecord {
        region: ctx.region.clone(),
        service_id: service_id.to_owned(),
        api_id: existing.map(|e| e.api_id.clone()).unwrap_or_default(),
        name: req
            .api_name
            .clone()
            .or_else(|| existing.map(|e| e.name.clone()))
            .unwrap_or_default(),
        desc: req
            .api_desc
            .clone()
            .or_else(|| existing.map(|e| e.desc.clone()))
            .unwrap_or_default(),
        api_type: req.api_type.clone().unwrap_or_else(|| "NORMAL".to_owned()),
        auth_type: req.auth_type.clone().unwrap_or_else(|| "NONE".to_owned()),
        protocol,
        service_type,
        service_timeout: service_timeout as u32,
        path,
        method,
        register,
        transport,
        cleanup,
        scf: scf_fn,
        enable_cors: req.enable_cors.unwrap_or(false),
        tags: req
            .tags
            .clone()
            .or_else(|| existing.map(|e| e.tags.clone()))
            .unwrap_or_default(),
        created: existing.map_or(now, |e| e.created),
        modified: now,
    })
}

fn path_conflict(apis: &[ApiRecord], api: &ApiRecord) -> Result<(), ApiError> {
    if apis
        .iter()
        .any(|a| a.api_id != api.api_id && a.path == api.path && a.method == api.method)
    {
        return Err(ApiError::new(
            "InvalidParameterValue.InvalidApiRequestConfig",
            format!(
                "The service already has an API for {} {}.",
                api.method, api.path
            ),
        ));
    }
    Ok(())
}

fn create_api(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    retired_check(ctx)?;
    let req: ApiReq = ctx.parse()?;
    let service_id = required(req.service_id.clone(), "ServiceId")?;
    load_service(ctx, &service_id)?;
    let mut api = build_api(ctx, &req, &service_id, None)?;
    let _guard = API_WRITES.lock().unwrap_or_else(|e| e.into_inner());
    path_conflict(&service_apis(ctx, &service_id)?, &api)?;
    let skey = service_key(&ctx.region, &service_id);
    let api = ctx.store().write(|tx| -> Result<ApiRecord, ApiError> {
        if tx.get::<ServiceRecord>(SERVICES, &skey)?.is_none() {
            return Err(invalid_service(&service_id));
        }
        let mut id = random_id("api");
        while tx
            .get::<ApiRecord>(APIS, &api_key(&ctx.region, &service_id, &id))?
            .is_some()
        {
            id = random_id("api");
        }
        api.api_id = id;
        tx.put(APIS, &api_key(&ctx.region, &service_id, &api.api_id), &api)?;
        Ok(api)
    })?;
    Ok(obj(json!({ "Result": {
        "ApiId": api.api_id,
        "Path": api.path,
        "Method": api.method,
        "CreatedTime": iso_time(api.created),
        "ApiName": api.name,
        "Status": "",
        "ErrMsg": "",
    }})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ApiIdReq {
    service_id: Option<String>,
    api_id: Option<String>,
}

fn load_api(ctx: &Ctx, service_id: &str, api_id: &str) -> Result<ApiRecord, ApiError> {
    ctx.store()
        .get::<ApiRecord>(APIS, &api_key(&ctx.region, service_id, api_id))?
        .ok_or_else(|| invalid_api(api_id))
}

fn fn_fields(map: &mut Map<String, Value>, prefix: &str, b: Option<&FunctionBinding>) {
    let (n, ns, q) = b.map_or((Value::Null, Value::Null, Value::Null), |b| {
        (json!(b.name), json!(b.namespace), json!(b.qualifier))
    });
    map.insert(format!("{prefix}Name"), n);
    map.insert(format!("{prefix}Namespace"), ns);
    map.insert(format!("{prefix}Qualifier"), q);
}

fn describe_api(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ApiIdReq = ctx.parse()?;
    let service_id = required(req.service_id, "ServiceId")?;
    let api_id = required(req.api_id, "ApiId")?;
    let s = load_service(ctx, &service_id)?;
    let a = load_api(ctx, &service_id, &api_id)?;
    let environments: Vec<&String> = s
        .releases
        .iter()
        .filter(|(_, r)| r.apis.iter().any(|x| x.api_id == a.api_id))
        .map(|(env, _)| env)
        .collect();
    let mut result = obj(json!({
        "ServiceId": a.service_id,
        "ServiceName": s.name,
        "ServiceDesc": s.desc,
        "ApiId": a.api_id,
        "ApiDesc": a.desc,
        "CreatedTime": iso_time(a.created),
        "ModifiedTime": iso_time(a.modified),
        "ApiName": a.name,
        "ApiType": a.api_type,
        "Protocol": a.protocol,
        "AuthType": a.auth_type,
        "ApiBusinessType": "NORMAL",
        "AuthRelationApiId": "",
        "IsDebugAfterCharge": false,
        "RequestConfig": { "Path": a.path, "Method": a.method },
        "ResponseType": "",
        "ResponseSuccessExample": "",
        "ResponseFailExample": "",
        "ResponseErrorCodes": [],
        "RequestParameters": [],
        "ServiceTimeout": a.service_timeout,
        "ServiceType": a.service_type,
        "ServiceParameters": [],
        "ConstantParameters": [],
        "ServiceMockReturnMessage": "",
        "ServiceScfIsIntegratedResponse": false,
        "ServiceScfEventIsAsyncCall": false,
        "InternalDomain": if a.protocol == "WEBSOCKET" { internal_domain(&ctx.plane, &a.api_id) } else { String::new() },
        "EnableCORS": a.enable_cors,
        "Tags": a.tags,
        "Environments": environments,
        "IsBase64Encoded": false,
        "IsBase64Trigger": false,
        "Base64EncodedTriggerRules": [],
    }));
    fn_fields(&mut result, "ServiceScfFunction", a.scf.as_ref());
    fn_fields(
        &mut result,
        "ServiceWebsocketRegisterFunction",
        a.register.as_ref(),
    );
    fn_fields(
        &mut result,
        "ServiceWebsocketTransportFunction",
        a.transport.as_ref(),
    );
    fn_fields(
        &mut result,
        "ServiceWebsocketCleanupFunction",
        a.cleanup.as_ref(),
    );
    let mut out = Map::new();
    out.insert("Result".into(), Value::Object(result));
    Ok(out)
}

fn describe_apis_status(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ListReq = ctx.parse()?;
    let service_id = required(req.service_id, "ServiceId")?;
    load_service(ctx, &service_id)?;
    let filters = req.filters.unwrap_or_default();
    for f in &filters {
        if !["ApiId", "ApiName", "ApiPath", "ApiType", "AuthType"].contains(&f.name.as_str()) {
            return Err(ApiError::new(
                "InvalidParameterValue.InvalidFilterNotSupportedName",
                format!("Filter `{}` is not supported.", f.name),
            ));
        }
    }
    let mut apis: Vec<ApiRecord> = service_apis(ctx, &service_id)?
        .into_iter()
        .filter(|a| {
            filters.iter().all(|f| {
                f.values.is_empty()
                    || f.values.iter().any(|v| match f.name.as_str() {
                        "ApiId" => a.api_id == *v,
                        "ApiName" => a.name.contains(v.as_str()),
                        "ApiPath" => a.path == *v,
                        "ApiType" => a.api_type == *v,
                        _ => a.auth_type == *v,
                    })
            })
        })
        .collect();
    apis.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.api_id.cmp(&b.api_id))
    });
    let total = apis.len();
    let set: Vec<Value> = page(apis, req.offset, req.limit)?
        .iter()
        .map(api_status)
        .collect();
    Ok(obj(
        json!({ "Result": { "TotalCount": total, "ApiIdStatusSet": set } }),
    ))
}

fn modify_api(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ApiReq = ctx.parse()?;
    let service_id = required(req.service_id.clone(), "ServiceId")?;
    let api_id = required(req.api_id.clone(), "ApiId")?;
    load_service(ctx, &service_id)?;
    let existing = load_api(ctx, &service_id, &api_id)?;
    let api = build_api(ctx, &req, &service_id, Some(&existing))?;
    let _guard = API_WRITES.lock().unwrap_or_else(|e| e.into_inner());
    path_conflict(&service_apis(ctx, &service_id)?, &api)?;
    let k = api_key(&ctx.region, &service_id, &api_id);
    ctx.store().write(|tx| -> Result<(), ApiError> {
        if tx.get::<ApiRecord>(APIS, &k)?.is_none() {
            return Err(invalid_api(&api_id));
        }
        tx.put(APIS, &k, &api)?;
        Ok(())
    })?;
    Ok(Map::new())
}

fn delete_api(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    let req: ApiIdReq = ctx.parse()?;
    let service_id = required(req.service_id, "ServiceId")?;
    let api_id = required(req.api_id, "ApiId")?;
    load_service(ctx, &service_id)?;
    let k = api_key(&ctx.region, &service_id, &api_id);
    ctx.store().write(|tx| -> Result<(), ApiError> {
        if !tx.delete(APIS, &k)? {
            return Err(invalid_api(&api_id));
        }
        Ok(())
    })?;
    Ok(obj(json!({ "Result": true })))
}
