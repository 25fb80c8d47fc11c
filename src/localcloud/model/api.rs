//! API Gateway records: services, their WebSocket APIs and releases, as the control plane
//! (`api3::apigateway`) writes them and the WebSocket gateway reads them. Tables: [`SERVICES`]
//! keyed `{region}/{serviceId}` and [`APIS`] keyed `{region}/{serviceId}/{apiId}`. A release
//! keeps a snapshot of the service's APIs in the service record: what the gateway serves.
//!
//! Owns the records' shape and the gateway's lookups; must not know about actions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::function::KeyValue;
use crate::localcloud::store::{Store, StoreError};

/// The services table.
pub const SERVICES: &str = "apigw_services";
/// The APIs table.
pub const APIS: &str = "apigw_apis";

/// A stored service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Region.
    pub region: String,
    /// `service-xxxxxxxx`.
    pub service_id: String,
    /// ServiceName.
    pub name: String,
    /// ServiceDesc.
    pub desc: String,
    /// `http`, `https` or `http&https`.
    pub protocol: String,
    /// NetTypes.
    pub net_types: Vec<String>,
    /// IpVersion.
    pub ip_version: String,
    /// Tags.
    pub tags: Vec<KeyValue>,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Last change, Unix seconds.
    pub modified: i64,
    /// Released environments by name.
    pub releases: BTreeMap<String, Release>,
    /// Releases so far (for version names).
    pub release_seq: u64,
}

/// A released environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// ReleaseVersion.
    pub version: String,
    /// ReleaseDesc.
    pub desc: String,
    /// Unix seconds.
    pub released_at: i64,
    /// The service's APIs as they were at release: what the gateway serves.
    pub apis: Vec<ApiRecord>,
}

/// A function bound to an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionBinding {
    /// Function name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Qualifier (`$LATEST`, `$DEFAULT`).
    pub qualifier: String,
}

/// A stored API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRecord {
    /// Region.
    pub region: String,
    /// Owning service.
    pub service_id: String,
    /// `api-xxxxxxxx`.
    pub api_id: String,
    /// ApiName.
    pub name: String,
    /// ApiDesc.
    pub desc: String,
    /// ApiType (`NORMAL`).
    pub api_type: String,
    /// AuthType (`NONE`).
    pub auth_type: String,
    /// `HTTP` or `WEBSOCKET`.
    pub protocol: String,
    /// ServiceType (`SCF`, …).
    pub service_type: String,
    /// ServiceTimeout, seconds.
    pub service_timeout: u32,
    /// RequestConfig.Path.
    pub path: String,
    /// RequestConfig.Method.
    pub method: String,
    /// WebSocket register function.
    pub register: Option<FunctionBinding>,
    /// WebSocket transport function.
    pub transport: Option<FunctionBinding>,
    /// WebSocket cleanup function.
    pub cleanup: Option<FunctionBinding>,
    /// HTTP+SCF function.
    pub scf: Option<FunctionBinding>,
    /// EnableCORS.
    pub enable_cors: bool,
    /// Tags.
    pub tags: Vec<KeyValue>,
    /// Creation, Unix seconds.
    pub created: i64,
    /// Last change, Unix seconds.
    pub modified: i64,
}

/// A service by id, in any region (for the gateway).
pub fn find_service(store: &Store, service_id: &str) -> Result<Option<ServiceRecord>, StoreError> {
    Ok(store
        .scan::<ServiceRecord>(SERVICES, "", None, usize::MAX)?
        .into_iter()
        .map(|(_, s)| s)
        .find(|s| s.service_id == service_id))
}

/// An API by id, in any region and service (for the push-back endpoint).
pub fn find_api(store: &Store, api_id: &str) -> Result<Option<ApiRecord>, StoreError> {
    Ok(store
        .scan::<ApiRecord>(APIS, "", None, usize::MAX)?
        .into_iter()
        .map(|(_, a)| a)
        .find(|a| a.api_id == api_id))
}

/// The API that environment `env` of service `service_id` serves at `path`, as released (for
/// the gateway: clients connect to `ws://{OuterSubDomain}/{env}{path}`, i.e.
/// `/{serviceId}/{env}{path}` on the local cloud).
pub fn released_api(
    store: &Store,
    service_id: &str,
    env: &str,
    path: &str,
) -> Result<Option<(ServiceRecord, ApiRecord)>, StoreError> {
    let Some(service) = find_service(store, service_id)? else {
        return Ok(None);
    };
    let api = service
        .releases
        .get(env)
        .and_then(|r| r.apis.iter().find(|a| a.path == path).cloned());
    Ok(api.map(|a| (service, a)))
}
