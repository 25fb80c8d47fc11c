//! API Gateway (`apigateway`, 2018-08-08): services, the WebSocket API bound to three SCF
//! functions, releases (API-FACTS §3). Thin typed wrappers over [`ApiClient::call`], plus
//! lookups the deployer needs: services by tag or name (paging DescribeServicesStatus), all APIs
//! of a service, released environments.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::http::{ApiClient, Service};
use super::serde_util::null_default;
use super::shapes::Filter;
use super::shapes::Tag;

/// The API Gateway client; cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiGateway {
    api: ApiClient,
}

/// CreateService.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateServiceRequest {
    /// Name.
    pub service_name: String,
    /// `http`, `https` or `http&https`.
    pub protocol: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_desc: Option<String>,
    /// `["OUTER"]` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub net_types: Option<Vec<String>>,
    /// `IPv4`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_version: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// CreateService's answer (top level, not wrapped in `Result`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedService {
    /// e.g. `service-0c96l2bo`.
    #[serde(default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub service_name: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub service_desc: String,
    /// Public domain, the host of the client URL.
    #[serde(default, deserialize_with = "null_default")]
    pub outer_sub_domain: String,
    /// VPC domain (`""` unless INNER).
    #[serde(default, deserialize_with = "null_default")]
    pub inner_sub_domain: String,
    /// ISO 8601 UTC.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
    /// Net types.
    #[serde(default, deserialize_with = "null_default")]
    pub net_types: Vec<String>,
    /// IP version.
    #[serde(default, deserialize_with = "null_default")]
    pub ip_version: String,
}

/// An API as listed by DescribeService / DescribeApisStatus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiSummary {
    /// Service id.
    #[serde(default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Api id.
    #[serde(default, deserialize_with = "null_default")]
    pub api_id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub api_name: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub api_desc: String,
    /// Front-end path.
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    /// Front-end method.
    #[serde(default, deserialize_with = "null_default")]
    pub method: String,
    /// `HTTP` / `WEBSOCKET`.
    #[serde(default, deserialize_with = "null_default")]
    pub protocol: String,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
    /// Modified.
    #[serde(default, deserialize_with = "null_default")]
    pub modified_time: String,
}

/// DescribeService's answer (top level).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceDetail {
    /// Id.
    #[serde(default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub service_name: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub service_desc: String,
    /// `http`, `https`, `http&https`.
    #[serde(default, deserialize_with = "null_default")]
    pub protocol: String,
    /// Released environments, e.g. `["release"]`.
    #[serde(default, deserialize_with = "null_default")]
    pub available_environments: Vec<String>,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
    /// Modified.
    #[serde(default, deserialize_with = "null_default")]
    pub modified_time: String,
    /// Net types.
    #[serde(default, deserialize_with = "null_default")]
    pub net_types: Vec<String>,
    /// Public domain.
    #[serde(default, deserialize_with = "null_default")]
    pub outer_sub_domain: String,
    /// VPC domain (note: CreateService calls it `InnerSubDomain`).
    #[serde(default, deserialize_with = "null_default")]
    pub internal_sub_domain: String,
    /// Number of APIs.
    #[serde(default, deserialize_with = "null_default")]
    pub api_total_count: u64,
    /// The APIs.
    #[serde(default, deserialize_with = "null_default")]
    pub api_id_status_set: Vec<ApiSummary>,
    /// IP version.
    #[serde(default, deserialize_with = "null_default")]
    pub ip_version: String,
    /// Tags.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
}

/// A service as listed by DescribeServicesStatus.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSummary {
    /// Id.
    #[serde(default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub service_name: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub service_desc: String,
    /// Protocol.
    #[serde(default, deserialize_with = "null_default")]
    pub protocol: String,
    /// Public domain.
    #[serde(default, deserialize_with = "null_default")]
    pub outer_sub_domain: String,
    /// VPC domain.
    #[serde(default, deserialize_with = "null_default")]
    pub inner_sub_domain: String,
    /// Released environments.
    #[serde(default, deserialize_with = "null_default")]
    pub available_environments: Vec<String>,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
    /// Modified.
    #[serde(default, deserialize_with = "null_default")]
    pub modified_time: String,
    /// Tags.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
}

impl ServiceSummary {
    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PageRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<&'a str>,
    limit: u32,
    offset: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    filters: Vec<Filter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServicesStatus {
    #[serde(default, deserialize_with = "null_default")]
    total_count: u64,
    #[serde(default, deserialize_with = "null_default")]
    service_set: Vec<ServiceSummary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApisStatus {
    #[serde(default, deserialize_with = "null_default")]
    total_count: u64,
    #[serde(default, deserialize_with = "null_default")]
    api_id_status_set: Vec<ApiSummary>,
}

/// `RequestConfig{Path, Method}`: the front end of an API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestConfig {
    /// Path, e.g. `/ws`.
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    /// Method; `GET` for WebSocket.
    #[serde(default, deserialize_with = "null_default")]
    pub method: String,
}

/// CreateApi (and, with [`ModifyApiRequest`], ModifyApi). For a WebSocket API backed by SCF use
/// [`ApiSpec::websocket`].
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiSpec {
    /// Service id.
    pub service_id: String,
    /// `SCF` for functions.
    pub service_type: String,
    /// Backend timeout, seconds.
    pub service_timeout: u32,
    /// `HTTP` / `WEBSOCKET`.
    pub protocol: String,
    /// Front end.
    pub request_config: RequestConfig,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_desc: Option<String>,
    /// `NORMAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_type: Option<String>,
    /// `NONE`, `SECRET`, `OAUTH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_type: Option<String>,
    /// CORS.
    #[serde(rename = "EnableCORS", skip_serializing_if = "Option::is_none")]
    pub enable_cors: Option<bool>,
    /// Register (connect) function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_register_function_name: Option<String>,
    /// Its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_register_function_namespace: Option<String>,
    /// Its qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_register_function_qualifier: Option<String>,
    /// Transport (message) function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_transport_function_name: Option<String>,
    /// Its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_transport_function_namespace: Option<String>,
    /// Its qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_transport_function_qualifier: Option<String>,
    /// Cleanup (disconnect) function.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_cleanup_function_name: Option<String>,
    /// Its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_cleanup_function_namespace: Option<String>,
    /// Its qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_websocket_cleanup_function_qualifier: Option<String>,
}

/// The three functions of a WebSocket API.
#[derive(Debug, Clone, Copy)]
pub struct WebsocketFunctions<'a> {
    /// Runs on connect.
    pub register: &'a str,
    /// Runs per message.
    pub transport: &'a str,
    /// Runs on disconnect.
    pub cleanup: &'a str,
    /// Their namespace (`default`).
    pub namespace: &'a str,
    /// Their qualifier (`$LATEST`).
    pub qualifier: &'a str,
}

impl ApiSpec {
    /// The API Tencent's tooling creates for a WebSocket front end on SCF (API-FACTS §3.3):
    /// `Protocol WEBSOCKET`, `ServiceType SCF`, `GET {path}`, `NORMAL`, auth `NONE`.
    pub fn websocket(
        service_id: &str,
        api_name: &str,
        path: &str,
        timeout: u32,
        f: WebsocketFunctions<'_>,
    ) -> Self {
        let s = |v: &str| Some(v.to_owned());
        ApiSpec {
            service_id: service_id.to_owned(),
            service_type: "SCF".into(),
            service_timeout: timeout,
            protocol: "WEBSOCKET".into(),
            request_config: RequestConfig {
                path: path.to_owned(),
                method: "GET".into(),
            },
            api_name: s(api_name),
            api_desc: None,
            api_type: s("NORMAL"),
            auth_type: s("NONE"),
            enable_cors: None,
            service_websocket_register_function_name: s(f.register),
            service_websocket_register_function_namespace: s(f.namespace),
            service_websocket_register_function_qualifier: s(f.qualifier),
            service_websocket_transport_function_name: s(f.transport),
            service_websocket_transport_function_namespace: s(f.namespace),
            service_websocket_transport_function_qualifier: s(f.qualifier),
            service_websocket_cleanup_function_name: s(f.cleanup),
            service_websocket_cleanup_function_namespace: s(f.namespace),
            service_websocket_cleanup_function_qualifier: s(f.qualifier),
        }
    }
}

/// ModifyApi: the full spec plus the `ApiId`. Takes effect after ReleaseService.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModifyApiRequest {
    /// The API.
    pub api_id: String,
    /// Everything else, as for CreateApi.
    #[serde(flatten)]
    pub spec: ApiSpec,
}

/// CreateApi's `Result`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatedApi {
    /// Api id.
    #[serde(default, deserialize_with = "null_default")]
    pub api_id: String,
    /// Path.
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    /// Method.
    #[serde(default, deserialize_with = "null_default")]
    pub method: String,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
}

/// DescribeApi's `Result`, which alone carries the push-back URL (`InternalDomain`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiInfo {
    /// Api id.
    #[serde(default, deserialize_with = "null_default")]
    pub api_id: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub api_name: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub api_desc: String,
    /// Service id.
    #[serde(default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Service name.
    #[serde(default, deserialize_with = "null_default")]
    pub service_name: String,
    /// `WEBSOCKET`.
    #[serde(default, deserialize_with = "null_default")]
    pub protocol: String,
    /// `SCF`.
    #[serde(default, deserialize_with = "null_default")]
    pub service_type: String,
    /// Backend timeout.
    #[serde(default, deserialize_with = "null_default")]
    pub service_timeout: u32,
    /// Front end.
    #[serde(default, deserialize_with = "null_default")]
    pub request_config: RequestConfig,
    /// Auth type.
    #[serde(default, deserialize_with = "null_default")]
    pub auth_type: String,
    /// The WebSocket push-back URL (opaque; `http://…/api-<id>`).
    #[serde(default, deserialize_with = "null_default")]
    pub internal_domain: String,
    /// Register function.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_register_function_name: String,
    /// Its namespace.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_register_function_namespace: String,
    /// Its qualifier.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_register_function_qualifier: String,
    /// Transport function.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_transport_function_name: String,
    /// Its namespace.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_transport_function_namespace: String,
    /// Its qualifier.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_transport_function_qualifier: String,
    /// Cleanup function.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_cleanup_function_name: String,
    /// Its namespace.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_cleanup_function_namespace: String,
    /// Its qualifier.
    #[serde(default, deserialize_with = "null_default")]
    pub service_websocket_cleanup_function_qualifier: String,
    /// Environments where released.
    #[serde(default, deserialize_with = "null_default")]
    pub environments: Vec<String>,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub created_time: String,
    /// Modified.
    #[serde(default, deserialize_with = "null_default")]
    pub modified_time: String,
}

/// ReleaseService's `Result`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Release {
    /// The description sent.
    #[serde(default, deserialize_with = "null_default")]
    pub release_desc: String,
    /// The version created.
    #[serde(default, deserialize_with = "null_default")]
    pub release_version: String,
}

/// One entry of DescribeServiceEnvironmentList.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceEnvironment {
    /// `test`, `prepub`, `release`.
    #[serde(default, deserialize_with = "null_default")]
    pub environment_name: String,
    /// Its URL.
    #[serde(default, deserialize_with = "null_default")]
    pub url: String,
    /// 1 released, 0 not.
    #[serde(default, deserialize_with = "null_default")]
    pub status: i64,
    /// Released version.
    #[serde(default, deserialize_with = "null_default")]
    pub version_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentList {
    #[serde(default, deserialize_with = "null_default")]
    total_count: u64,
    #[serde(default, deserialize_with = "null_default")]
    environment_list: Vec<ServiceEnvironment>,
}

/// `{"Result": T}`.
#[derive(Deserialize)]
#[serde(
    rename_all = "PascalCase",
    bound(deserialize = "T: Default + Deserialize<'de>")
)]
struct Wrapped<T> {
    #[serde(default, deserialize_with = "null_default")]
    result: T,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceRef<'a> {
    service_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ApiRef<'a> {
    service_id: &'a str,
    api_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnvRef<'a> {
    service_id: &'a str,
    environment_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    release_desc: Option<&'a str>,
}

const PAGE: u32 = 100;

impl ApiGateway {
    /// Wraps an API client.
    pub fn new(api: ApiClient) -> Self {
        ApiGateway { api }
    }

    async fn call<Req: Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        action: &str,
        req: &Req,
    ) -> Result<Resp, Error> {
        self.api.call(Service::ApiGateway, action, req).await
    }

    /// CreateService. A refusal for a retired platform has
    /// [`Error::is_platform_unavailable`].
    pub async fn create_service(
        &self,
        req: &CreateServiceRequest,
    ) -> Result<CreatedService, Error> {
        self.call("CreateService", req).await
    }

    /// DescribeService.
    pub async fn describe_service(&self, service_id: &str) -> Result<ServiceDetail, Error> {
        self.call("DescribeService", &ServiceRef { service_id })
            .await
    }

    /// DescribeService, `None` when the service does not exist.
    pub async fn describe_service_opt(
        &self,
        service_id: &str,
    ) -> Result<Option<ServiceDetail>, Error> {
        match self.describe_service(service_id).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DescribeServicesStatus, one page: `(total, services)`.
    pub async fn describe_services_status(
        &self,
        filters: Vec<Filter>,
        offset: u32,
        limit: u32,
    ) -> Result<(u64, Vec<ServiceSummary>), Error> {
        let req = PageRequest {
            service_id: None,
            limit,
            offset,
            filters,
        };
        let page: Wrapped<ServicesStatus> = self.call("DescribeServicesStatus", &req).await?;
        Ok((page.result.total_count, page.result.service_set))
    }

    /// Every service matching `filters` (all pages).
    pub async fn list_services(&self, filters: Vec<Filter>) -> Result<Vec<ServiceSummary>, Error> {
        let mut all = Vec::new();
        loop {
            let (total, page) = self
                .describe_services_status(filters.clone(), all.len() as u32, PAGE)
                .await?;
            let got = page.len();
            all.extend(page);
            if got == 0 || all.len() as u64 >= total {
                return Ok(all);
            }
        }
    }

    /// Every service carrying all the tags `(key, value)`. Filters client-side on `Tags` (the
    /// documented filter names do not include tags).
    pub async fn find_services_by_tags(
        &self,
        tags: &[(&str, &str)],
    ) -> Result<Vec<ServiceSummary>, Error> {
        let mut all = self.list_services(Vec::new()).await?;
        all.retain(|s| tags.iter().all(|(k, v)| s.tag(k) == Some(v)));
        Ok(all)
    }

    /// Services named exactly `name` (server-side `ServiceName` filter, checked again here since
    /// the server may match fuzzily).
    pub async fn find_services_by_name(&self, name: &str) -> Result<Vec<ServiceSummary>, Error> {
        let mut all = self
            .list_services(vec![Filter::new("ServiceName", [name])])
            .await?;
        all.retain(|s| s.service_name == name);
        Ok(all)
    }

    /// CreateApi.
    pub async fn create_api(&self, spec: &ApiSpec) -> Result<CreatedApi, Error> {
        let out: Wrapped<CreatedApi> = self.call("CreateApi", spec).await?;
        Ok(out.result)
    }

    /// DescribeApi (carries `InternalDomain`, the push-back URL).
    pub async fn describe_api(&self, service_id: &str, api_id: &str) -> Result<ApiInfo, Error> {
        let out: Wrapped<ApiInfo> = self
            .call("DescribeApi", &ApiRef { service_id, api_id })
            .await?;
        Ok(out.result)
    }

    /// DescribeApisStatus, all pages.
    pub async fn list_apis(&self, service_id: &str) -> Result<Vec<ApiSummary>, Error> {
        let mut all = Vec::new();
        loop {
            let req = PageRequest {
                service_id: Some(service_id),
                limit: PAGE,
                offset: all.len() as u32,
                filters: Vec::new(),
            };
            let page: Wrapped<ApisStatus> = self.call("DescribeApisStatus", &req).await?;
            let got = page.result.api_id_status_set.len();
            all.extend(page.result.api_id_status_set);
            if got == 0 || all.len() as u64 >= page.result.total_count {
                return Ok(all);
            }
        }
    }

    /// ModifyApi. Takes effect after ReleaseService.
    pub async fn modify_api(&self, req: &ModifyApiRequest) -> Result<(), Error> {
        let _: IgnoredAny = self.call("ModifyApi", req).await?;
        Ok(())
    }

    /// DeleteApi. `Ok(false)` when the API (or its service) was already gone.
    pub async fn delete_api(&self, service_id: &str, api_id: &str) -> Result<bool, Error> {
        match self
            .call::<_, IgnoredAny>("DeleteApi", &ApiRef { service_id, api_id })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// ReleaseService to `environment` (`release`); `desc` is required by the API.
    pub async fn release_service(
        &self,
        service_id: &str,
        environment: &str,
        desc: &str,
    ) -> Result<Release, Error> {
        let req = EnvRef {
            service_id,
            environment_name: environment,
            release_desc: Some(desc),
        };
        let out: Wrapped<Release> = self.call("ReleaseService", &req).await?;
        Ok(out.result)
    }

    /// UnReleaseService.
    pub async fn unrelease_service(
        &self,
        service_id: &str,
        environment: &str,
    ) -> Result<(), Error> {
        let req = EnvRef {
            service_id,
            environment_name: environment,
            release_desc: None,
        };
        let _: IgnoredAny = self.call("UnReleaseService", &req).await?;
        Ok(())
    }

    /// DescribeServiceEnvironmentList, all pages.
    pub async fn environments(&self, service_id: &str) -> Result<Vec<ServiceEnvironment>, Error> {
        let mut all = Vec::new();
        loop {
            let req = PageRequest {
                service_id: Some(service_id),
                limit: PAGE,
                offset: all.len() as u32,
                filters: Vec::new(),
            };
            let page: Wrapped<EnvironmentList> =
                self.call("DescribeServiceEnvironmentList", &req).await?;
            let got = page.result.environment_list.len();
            all.extend(page.result.environment_list);
            if got == 0 || all.len() as u64 >= page.result.total_count {
                return Ok(all);
            }
        }
    }

    /// The names of the environments currently released (`Status == 1`).
    pub async fn released_environments(&self, service_id: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .environments(service_id)
            .await?
            .into_iter()
            .filter(|e| e.status == 1)
            .map(|e| e.environment_name)
            .collect())
    }

    /// DeleteService. `Ok(false)` when the service was already gone.
    pub async fn delete_service(&self, service_id: &str) -> Result<bool, Error> {
        match self
            .call::<_, IgnoredAny>("DeleteService", &ServiceRef { service_id })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::http::tests::{api_err, api_ok, client_for, verify_tc3};
    use serde_json::json;
    use wiremock::matchers::{body_json, body_partial_json, header};
    use wiremock::{Mock, MockServer};

    fn functions() -> WebsocketFunctions<'static> {
        WebsocketFunctions {
            register: "chat-register",
            transport: "chat-transport",
            cleanup: "chat-cleanup",
            namespace: "default",
            qualifier: "$LATEST",
        }
    }

    #[tokio::test]
    async fn websocket_api_is_created_with_the_toolkit_fields_and_described() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-action", "CreateApi"))
            .and(body_json(json!({
                "ServiceId": "service-1", "ApiName": "chat_ws", "ApiType": "NORMAL",
                "AuthType": "NONE", "Protocol": "WEBSOCKET", "ServiceType": "SCF",
                "RequestConfig": {"Path": "/ws", "Method": "GET"}, "ServiceTimeout": 15,
                "ServiceWebsocketRegisterFunctionName": "chat-register",
                "ServiceWebsocketRegisterFunctionNamespace": "default",
                "ServiceWebsocketRegisterFunctionQualifier": "$LATEST",
                "ServiceWebsocketTransportFunctionName": "chat-transport",
                "ServiceWebsocketTransportFunctionNamespace": "default",
                "ServiceWebsocketTransportFunctionQualifier": "$LATEST",
                "ServiceWebsocketCleanupFunctionName": "chat-cleanup",
                "ServiceWebsocketCleanupFunctionNamespace": "default",
                "ServiceWebsocketCleanupFunctionQualifier": "$LATEST"
            })))
            .respond_with(api_ok(json!({"Result": {"ApiId": "api-1", "Path": "/ws",
                "Method": "GET", "CreatedTime": "2024-01-01T00:00:00Z"}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeApi"))
            .and(body_json(
                json!({"ServiceId": "service-1", "ApiId": "api-1"}),
            ))
            .respond_with(api_ok(json!({"Result": {"ApiId": "api-1",
                "InternalDomain": "http://127.0.0.1:9000/api-1", "Environments": null,
                "RequestConfig": {"Path": "/ws", "Method": "GET"}, "ApiDesc": null}})))
            .expect(1)
            .mount(&server)
            .await;
        let gw = ApiGateway::new(client_for(&server, false).await);
        let spec = ApiSpec::websocket("service-1", "chat_ws", "/ws", 15, functions());
        let created = gw.create_api(&spec).await.unwrap();
        assert_eq!(created.api_id, "api-1");
        let info = gw.describe_api("service-1", "api-1").await.unwrap();
        assert_eq!(info.internal_domain, "http://127.0.0.1:9000/api-1");
        assert_eq!(info.request_config.method, "GET");
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
        let modify = serde_json::to_value(ModifyApiRequest {
            api_id: "api-1".into(),
            spec,
        })
        .unwrap();
        assert_eq!(modify["ApiId"], "api-1");
        assert_eq!(modify["ServiceType"], "SCF");
    }

    #[tokio::test]
    async fn retired_platform_is_classified() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-action", "CreateService"))
            .respond_with(api_err("UnsupportedOperation.ServiceRetired"))
            .expect(1)
            .mount(&server)
            .await;
        let gw = ApiGateway::new(client_for(&server, false).await);
        let err = gw
            .create_service(&CreateServiceRequest {
                service_name: "chat".into(),
                protocol: "http&https".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(err.is_platform_unavailable(), "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn services_are_found_by_tag_across_pages_and_by_name() {
        let server = MockServer::start().await;
        let svc = |i: usize, stage: &str| {
            json!({"ServiceId": format!("service-{i}"), "ServiceName": format!("s{i}"),
                "Tags": [{"Key": "chatstack:stack", "Value": "chat"},
                         {"Key": "chatstack:stage", "Value": stage}]})
        };
        Mock::given(header("x-tc-action", "DescribeServicesStatus"))
            .and(body_json(json!({"Limit": 100, "Offset": 0})))
            .respond_with(api_ok(json!({"Result": {"TotalCount": 101,
                "ServiceSet": (0..100).map(|i| svc(i, "prod")).collect::<Vec<_>>()}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeServicesStatus"))
            .and(body_json(json!({"Limit": 100, "Offset": 100})))
            .respond_with(api_ok(json!({"Result": {"TotalCount": 101,
                "ServiceSet": [svc(100, "dev")]}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeServicesStatus"))
            .and(body_partial_json(
                json!({"Filters": [{"Name": "ServiceName", "Values": ["s7"]}]}),
            ))
            .respond_with(api_ok(json!({"Result": {"TotalCount": 2,
                "ServiceSet": [svc(7, "prod"), svc(77, "prod")]}})))
            .expect(1)
            .mount(&server)
            .await;
        let gw = ApiGateway::new(client_for(&server, false).await);
        let found = gw
            .find_services_by_tags(&[("chatstack:stack", "chat"), ("chatstack:stage", "dev")])
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].service_id, "service-100");
        let by_name = gw.find_services_by_name("s7").await.unwrap();
        assert_eq!(by_name.len(), 1);
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
    }

    #[tokio::test]
    async fn teardown_actions() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-action", "DescribeServiceEnvironmentList"))
            .respond_with(api_ok(
                json!({"Result": {"TotalCount": 2, "EnvironmentList": [
                {"EnvironmentName": "release", "Url": "u", "Status": 1, "VersionName": "v"},
                {"EnvironmentName": "test", "Url": "u", "Status": 0, "VersionName": null}]}}),
            ))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "UnReleaseService"))
            .and(body_json(
                json!({"ServiceId": "s", "EnvironmentName": "release"}),
            ))
            .respond_with(api_ok(json!({"Result": true})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "ReleaseService"))
            .and(body_json(
                json!({"ServiceId": "s", "EnvironmentName": "release",
                "ReleaseDesc": "chatstack deploy"}),
            ))
            .respond_with(api_ok(json!({"Result": {"ReleaseDesc": "chatstack deploy",
                "ReleaseVersion": "20240101"}})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DeleteApi"))
            .respond_with(api_err("ResourceNotFound.InvalidApi"))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DeleteService"))
            .respond_with(api_ok(json!({"Result": true})))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeService"))
            .respond_with(api_err("ResourceNotFound.InvalidService"))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeApisStatus"))
            .respond_with(api_ok(
                json!({"Result": {"TotalCount": 1, "ApiIdStatusSet": [
                {"ApiId": "api-1", "ServiceId": "s", "Protocol": "WEBSOCKET"}]}}),
            ))
            .mount(&server)
            .await;
        let gw = ApiGateway::new(client_for(&server, false).await);
        assert_eq!(
            gw.released_environments("s").await.unwrap(),
            vec!["release"]
        );
        gw.unrelease_service("s", "release").await.unwrap();
        let r = gw
            .release_service("s", "release", "chatstack deploy")
            .await
            .unwrap();
        assert_eq!(r.release_version, "20240101");
        assert!(!gw.delete_api("s", "api-1").await.unwrap());
        assert!(gw.delete_service("s").await.unwrap());
        assert!(gw.describe_service_opt("s").await.unwrap().is_none());
        assert_eq!(gw.list_apis("s").await.unwrap()[0].api_id, "api-1");
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
    }
}
