//! SCF (`scf`, 2018-04-16): typed requests and responses for the actions the deployer uses
//! (API-FACTS §2). Thin: each method is one [`ApiClient::call`], plus a few conveniences
//! (`get_function_opt`, `list_functions_by_tags`).
//!
//! Request structs derive `Default`, so callers fill what they need with struct-update syntax.
//! Response fields the cloud may send as `null` deserialize to defaults.

use std::fmt;

use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::http::{ApiClient, Service};
use super::serde_util::null_default;
pub use super::shapes::Filter;
use super::shapes::Tag;

/// The SCF client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Scf {
    api: ApiClient,
}

/// An environment variable. `Debug` hides the value: it may be a secret.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub key: String,
    /// Value.
    #[serde(default, deserialize_with = "null_default")]
    pub value: String,
}

impl Variable {
    /// A variable.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Variable {
            key: key.into(),
            value: value.into(),
        }
    }
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Variable")
            .field("key", &self.key)
            .field("value", &format_args!("** {} chars **", self.value.len()))
            .finish()
    }
}

/// `Environment{Variables:[{Key,Value}]}`. A non-empty list replaces the whole set on update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    /// The variables.
    #[serde(default, deserialize_with = "null_default")]
    pub variables: Vec<Variable>,
}

/// The function code: inline zip (base64) or a COS object.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    /// Base64 of the zip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_file: Option<String>,
    /// COS bucket name **without** the `-appid` suffix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos_bucket_name: Option<String>,
    /// COS object path starting with `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos_object_name: Option<String>,
    /// COS bucket region (needed for ap-beijing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos_bucket_region: Option<String>,
}

impl Code {
    /// Inline code from the zip bytes.
    pub fn zip(bytes: &[u8]) -> Self {
        Code {
            zip_file: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ..Code::default()
        }
    }

    /// Code from a COS object (`bucket` without the `-appid` suffix, `object` starting with `/`).
    pub fn cos(bucket: &str, object: &str, region: Option<&str>) -> Self {
        Code {
            cos_bucket_name: Some(bucket.to_owned()),
            cos_object_name: Some(object.to_owned()),
            cos_bucket_region: region.map(str::to_owned),
            ..Code::default()
        }
    }
}

impl fmt::Debug for Code {
    // The base64 zip can be tens of megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field(
                "zip_file",
                &self
                    .zip_file
                    .as_ref()
                    .map(|z| format!("** {} base64 chars **", z.len())),
            )
            .field("cos_bucket_name", &self.cos_bucket_name)
            .field("cos_object_name", &self.cos_object_name)
            .field("cos_bucket_region", &self.cos_bucket_region)
            .finish()
    }
}

/// CreateFunction.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    /// 2–60 chars: letters, digits, `-`, `_`; starts with a letter.
    pub function_name: String,
    /// The code.
    pub code: Code,
    /// `file.function`, e.g. `index.main_handler`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// e.g. `Python3.9`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Namespace (default `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Environment variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Seconds, 1–900.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// MB: 64, or 128–3072 in steps of 128.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    /// Execution role name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `Event` (default) or `HTTP`.
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    pub function_type: Option<String>,
    /// `ZipFile` / `Cos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_source: Option<String>,
    /// `TRUE` / `FALSE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_dependency: Option<String>,
    /// Initialisation timeout, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_timeout: Option<u32>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

/// GetFunction's request.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetFunctionRequest<'a> {
    function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qualifier: Option<&'a str>,
}

/// One entry of `StatusReasons`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusReason {
    /// Error code.
    #[serde(default, deserialize_with = "null_default")]
    pub error_code: String,
    /// Error message.
    #[serde(default, deserialize_with = "null_default")]
    pub error_message: String,
}

/// One trigger of a function (API Gateway bindings appear as type `apigw`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    /// Trigger type, e.g. `apigw`.
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    pub trigger_type: String,
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub trigger_name: String,
    /// Description (JSON text for some types).
    #[serde(default, deserialize_with = "null_default")]
    pub trigger_desc: String,
    /// Resource id, e.g. `…service/<serviceId>/API/<apiId>`.
    #[serde(default, deserialize_with = "null_default")]
    pub resource_id: String,
}

/// GetFunction's answer (the fields the deployer uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionInfo {
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub function_name: String,
    /// Id.
    #[serde(default, deserialize_with = "null_default")]
    pub function_id: String,
    /// Namespace.
    #[serde(default, deserialize_with = "null_default")]
    pub namespace: String,
    /// Runtime.
    #[serde(default, deserialize_with = "null_default")]
    pub runtime: String,
    /// Handler.
    #[serde(default, deserialize_with = "null_default")]
    pub handler: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// Timeout, seconds.
    #[serde(default, deserialize_with = "null_default")]
    pub timeout: u32,
    /// Memory, MB.
    #[serde(default, deserialize_with = "null_default")]
    pub memory_size: u32,
    /// Execution role.
    #[serde(default, deserialize_with = "null_default")]
    pub role: String,
    /// Environment variables.
    #[serde(default, deserialize_with = "null_default")]
    pub environment: Environment,
    /// `Creating`, `Active`, `Updating`, `CreateFailed`, …
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// Status description.
    #[serde(default, deserialize_with = "null_default")]
    pub status_desc: String,
    /// Why the status is what it is (on `*Failed`).
    #[serde(default, deserialize_with = "null_default")]
    pub status_reasons: Vec<StatusReason>,
    /// `"2024-12-17 17:52:48"`.
    #[serde(default, deserialize_with = "null_default")]
    pub mod_time: String,
    /// `"2024-12-17 17:52:48"`.
    #[serde(default, deserialize_with = "null_default")]
    pub add_time: String,
    /// Code size, bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub code_size: u64,
    /// Qualifier, e.g. `$LATEST`.
    #[serde(default, deserialize_with = "null_default")]
    pub qualifier: String,
    /// `Event` or `HTTP`.
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    pub function_type: String,
    /// Tags.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
    /// Triggers.
    #[serde(default, deserialize_with = "null_default")]
    pub triggers: Vec<Trigger>,
    /// `Available` / `InsufficientBalance`.
    #[serde(default, deserialize_with = "null_default")]
    pub available_status: String,
    /// Initialisation timeout, seconds.
    #[serde(default, deserialize_with = "null_default")]
    pub init_timeout: u32,
}

impl FunctionInfo {
    /// `Status == "Active"`.
    pub fn is_active(&self) -> bool {
        self.status == "Active"
    }

    /// A state that will change by itself: `Creating`, `Updating`, `Publishing`, `Deleting`.
    pub fn is_transitional(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Creating" | "Updating" | "Publishing" | "Deleting"
        )
    }

    /// A `*Failed` state.
    pub fn is_failed(&self) -> bool {
        self.status.ends_with("Failed")
    }

    /// The first `StatusReasons` message, for `*Failed` states.
    pub fn failure_reason(&self) -> Option<&str> {
        self.status_reasons
            .first()
            .map(|r| r.error_message.as_str())
            .filter(|m| !m.is_empty())
    }

    /// The value of a tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

/// UpdateFunctionCode.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    /// Name.
    pub function_name: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Handler.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// The new code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// `ZipFile` / `Cos`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_source: Option<String>,
    /// `TRUE` / `FALSE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_dependency: Option<String>,
    /// `TRUE` / `FALSE`: publish a version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<String>,
}

/// UpdateFunctionConfiguration. `Environment`, if given, replaces the whole variable set.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    /// Name.
    pub function_name: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Memory, MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u32>,
    /// Timeout, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Environment (full list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// Execution role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Initialisation timeout, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_timeout: Option<u32>,
    /// `TRUE` / `FALSE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install_dependency: Option<String>,
    /// `TRUE` / `FALSE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteFunctionRequest<'a> {
    function_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

/// ListFunctions.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsRequest {
    /// `ASC` / `DESC`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `AddTime` / `ModTime` / `FunctionName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orderby: Option<String>,
    /// Offset (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Page size (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Fuzzy name match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_key: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Filters (at most 10), e.g. [`Filter::tag`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<Filter>>,
}

/// One entry of ListFunctions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionSummary {
    /// Name.
    #[serde(default, deserialize_with = "null_default")]
    pub function_name: String,
    /// Id.
    #[serde(default, deserialize_with = "null_default")]
    pub function_id: String,
    /// Namespace.
    #[serde(default, deserialize_with = "null_default")]
    pub namespace: String,
    /// Runtime.
    #[serde(default, deserialize_with = "null_default")]
    pub runtime: String,
    /// Status.
    #[serde(default, deserialize_with = "null_default")]
    pub status: String,
    /// Status description.
    #[serde(default, deserialize_with = "null_default")]
    pub status_desc: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// Tags.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
    /// Type.
    #[serde(rename = "Type", default, deserialize_with = "null_default")]
    pub function_type: String,
    /// Created.
    #[serde(default, deserialize_with = "null_default")]
    pub add_time: String,
    /// Modified.
    #[serde(default, deserialize_with = "null_default")]
    pub mod_time: String,
}

/// ListFunctions' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    /// This page.
    #[serde(default, deserialize_with = "null_default")]
    pub functions: Vec<FunctionSummary>,
    /// Total matching.
    #[serde(default, deserialize_with = "null_default")]
    pub total_count: u64,
}

/// `Filter{RetCode}` of GetFunctionLogs.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogFilter {
    /// `not0`, `is0`, `TimeLimitExceeded`, `ResourceLimitExceeded`, `UserCodeException`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ret_code: Option<String>,
}

/// GetFunctionLogs (retired upstream, still served by the local cloud).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionLogsRequest {
    /// Name.
    pub function_name: String,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// Offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
    /// Limit (Offset + Limit ≤ 10000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `desc` / `asc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// `function_name` / `duration` / `mem_usage` / `start_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    /// Return-code filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<LogFilter>,
    /// One invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_request_id: Option<String>,
    /// `"2017-05-16 20:00:00"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// `"2017-05-16 20:59:59"` (at most a day after `start_time`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// One log entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionLog {
    /// Function name.
    #[serde(default, deserialize_with = "null_default")]
    pub function_name: String,
    /// Return message.
    #[serde(default, deserialize_with = "null_default")]
    pub ret_msg: String,
    /// Invocation request id.
    #[serde(default, deserialize_with = "null_default")]
    pub request_id: String,
    /// Start time, `"2017-05-16 20:00:00"`.
    #[serde(default, deserialize_with = "null_default")]
    pub start_time: String,
    /// Return code (0 = success).
    #[serde(default, deserialize_with = "null_default")]
    pub ret_code: i64,
    /// 1 when finished.
    #[serde(default, deserialize_with = "null_default")]
    pub invoke_finished: i64,
    /// Duration, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub duration: f64,
    /// Billed duration, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub bill_duration: f64,
    /// Memory, bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub mem_usage: u64,
    /// The log text.
    #[serde(default, deserialize_with = "null_default")]
    pub log: String,
    /// Level.
    #[serde(default, deserialize_with = "null_default")]
    pub level: String,
    /// Source.
    #[serde(default, deserialize_with = "null_default")]
    pub source: String,
    /// Retries.
    #[serde(default, deserialize_with = "null_default")]
    pub retry_num: u64,
}

/// GetFunctionLogs' answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionLogsResponse {
    /// Total.
    #[serde(default, deserialize_with = "null_default")]
    pub total_count: u64,
    /// Entries.
    #[serde(default, deserialize_with = "null_default")]
    pub data: Vec<FunctionLog>,
}

/// Invoke.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeRequest {
    /// Name.
    pub function_name: String,
    /// `RequestResponse` (sync, default) or `Event`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invocation_type: Option<String>,
    /// Qualifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    /// The event, as a JSON **string**.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_context: Option<String>,
    /// `None` / `Tail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_type: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Invoke's `Result`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvokeResult {
    /// The function's return value (JSON text).
    #[serde(default, deserialize_with = "null_default")]
    pub ret_msg: String,
    /// Error message, if the function failed.
    #[serde(default, deserialize_with = "null_default")]
    pub err_msg: String,
    /// Log output.
    #[serde(default, deserialize_with = "null_default")]
    pub log: String,
    /// Memory, bytes.
    #[serde(default, deserialize_with = "null_default")]
    pub mem_usage: u64,
    /// Duration, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub duration: f64,
    /// Billed duration, ms.
    #[serde(default, deserialize_with = "null_default")]
    pub bill_duration: f64,
    /// The invocation's request id.
    #[serde(default, deserialize_with = "null_default")]
    pub function_request_id: String,
    /// Deprecated status code.
    #[serde(default, deserialize_with = "null_default")]
    pub invoke_result: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InvokeResponse {
    #[serde(default, deserialize_with = "null_default")]
    result: InvokeResult,
}

/// The first interval between two GetFunction polls of [`Scf::wait_for_function`].
pub const POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(100);

/// The longest interval between two GetFunction polls of [`Scf::wait_for_function`]: at most
/// 4 calls/s per waited function (12/s while a stack's three functions update), far under
/// SCF's per-action limit, and the end of a state is noticed within a quarter second plus a
/// round trip. A one-function code change is mostly this wait (BENCHMARKS.md, (d)).
pub const POLL_CAP: std::time::Duration = std::time::Duration::from_millis(250);

impl Scf {
    /// Wraps an API client.
    pub fn new(api: ApiClient) -> Self {
        Scf { api }
    }

    /// The region requests are sent for.
    pub fn region(&self) -> &str {
        self.api.region()
    }

    /// CreateFunction. Asynchronous: the function starts in `Creating`.
    pub async fn create_function(&self, req: &CreateFunctionRequest) -> Result<(), Error> {
        let _: IgnoredAny = self.api.call(Service::Scf, "CreateFunction", req).await?;
        Ok(())
    }

    /// GetFunction (`$LATEST`).
    pub async fn get_function(
        &self,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<FunctionInfo, Error> {
        let req = GetFunctionRequest {
            function_name: name,
            namespace,
            qualifier: None,
        };
        self.api.call(Service::Scf, "GetFunction", &req).await
    }

    /// GetFunction, with `None` when the function does not exist
    /// (`ResourceNotFound.Function` / `ResourceNotFound.FunctionName`).
    pub async fn get_function_opt(
        &self,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<Option<FunctionInfo>, Error> {
        match self.get_function(name, namespace).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if is_function_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Polls GetFunction while the function is in a transitional state (`Creating`,
    /// `Updating`, `Publishing`, `Deleting`), for at most `timeout`. The interval grows
    /// gently, [`POLL_FIRST`] × 1.5 up to [`POLL_CAP`]: a state lasts seconds, and with a
    /// steeper or higher-capped backoff (250 ms doubling to 2 s) the poll that notices the end
    /// comes on average ~1 s late, on every step of a deploy's critical path. Returns the settled function (`Active` or a `*Failed` state: check
    /// [`FunctionInfo::is_failed`]), or `None` once it no longer exists (after a delete).
    pub async fn wait_for_function(
        &self,
        name: &str,
        namespace: Option<&str>,
        timeout: std::time::Duration,
    ) -> Result<Option<FunctionInfo>, Error> {
        let started = tokio::time::Instant::now();
        let mut delay = POLL_FIRST;
        loop {
            let Some(info) = self.get_function_opt(name, namespace).await? else {
                return Ok(None);
            };
            if !info.is_transitional() {
                return Ok(Some(info));
            }
            if started.elapsed() + delay > timeout {
                return Err(Error::wait_timeout(
                    "scf",
                    "GetFunction",
                    &format!("function {name}"),
                    &info.status,
                    started.elapsed(),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.5).min(POLL_CAP);
        }
    }

    /// UpdateFunctionCode. Asynchronous: poll until `Active`.
    pub async fn update_function_code(&self, req: &UpdateFunctionCodeRequest) -> Result<(), Error> {
        let _: IgnoredAny = self
            .api
            .call(Service::Scf, "UpdateFunctionCode", req)
            .await?;
        Ok(())
    }

    /// UpdateFunctionConfiguration. Asynchronous: poll until `Active`.
    pub async fn update_function_configuration(
        &self,
        req: &UpdateFunctionConfigurationRequest,
    ) -> Result<(), Error> {
        let _: IgnoredAny = self
            .api
            .call(Service::Scf, "UpdateFunctionConfiguration", req)
            .await?;
        Ok(())
    }

    /// DeleteFunction (all versions). `Ok(false)` when the function was already gone.
    /// Asynchronous: poll GetFunction until it is not found.
    pub async fn delete_function(
        &self,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<bool, Error> {
        let req = DeleteFunctionRequest {
            function_name: name,
            namespace,
        };
        match self
            .api
            .call::<_, IgnoredAny>(Service::Scf, "DeleteFunction", &req)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_function_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// ListFunctions, one page.
    pub async fn list_functions(
        &self,
        req: &ListFunctionsRequest,
    ) -> Result<ListFunctionsResponse, Error> {
        self.api.call(Service::Scf, "ListFunctions", req).await
    }

    /// Every function (all pages) matching `filters` in `namespace`.
    pub async fn list_all_functions(
        &self,
        namespace: Option<&str>,
        filters: Vec<Filter>,
    ) -> Result<Vec<FunctionSummary>, Error> {
        const PAGE: u32 = 20;
        let mut all = Vec::new();
        loop {
            let req = ListFunctionsRequest {
                offset: Some(all.len() as u32),
                limit: Some(PAGE),
                namespace: namespace.map(str::to_owned),
                filters: (!filters.is_empty()).then(|| filters.clone()),
                ..ListFunctionsRequest::default()
            };
            let page = self.list_functions(&req).await?;
            let got = page.functions.len();
            all.extend(page.functions);
            if got == 0 || all.len() as u64 >= page.total_count {
                return Ok(all);
            }
        }
    }

    /// Every function carrying all the tags `(key, value)`, via `tag-<Key>` filters (and checked
    /// again client-side, in case a server ignores a filter).
    pub async fn list_functions_by_tags(
        &self,
        namespace: Option<&str>,
        tags: &[(&str, &str)],
    ) -> Result<Vec<FunctionSummary>, Error> {
        let filters = tags.iter().map(|(k, v)| Filter::tag(k, v)).collect();
        let mut all = self.list_all_functions(namespace, filters).await?;
        all.retain(|f| {
            tags.iter()
                .all(|(k, v)| f.tags.iter().any(|t| t.key == *k && t.value == *v))
        });
        Ok(all)
    }

    /// GetFunctionLogs.
    pub async fn get_function_logs(
        &self,
        req: &GetFunctionLogsRequest,
    ) -> Result<GetFunctionLogsResponse, Error> {
        self.api.call(Service::Scf, "GetFunctionLogs", req).await
    }

    /// Invoke.
    pub async fn invoke(&self, req: &InvokeRequest) -> Result<InvokeResult, Error> {
        let resp: InvokeResponse = self.api.call(Service::Scf, "Invoke", req).await?;
        Ok(resp.result)
    }
}

/// `ResourceNotFound.Function` or `ResourceNotFound.FunctionName` (or bare `ResourceNotFound`).
fn is_function_not_found(e: &Error) -> bool {
    matches!(
        e.error_code(),
        Some("ResourceNotFound" | "ResourceNotFound.Function" | "ResourceNotFound.FunctionName")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::http::tests::{api_err, api_ok, client_for, verify_tc3};
    use serde_json::json;
    use wiremock::matchers::{body_partial_json, header};
    use wiremock::{Mock, MockServer};

    async fn scf(server: &MockServer) -> Scf {
        Scf::new(client_for(server, false).await)
    }

    #[test]
    fn create_function_serializes_pascal_case_without_nones() {
        let req = CreateFunctionRequest {
            function_name: "chat-register".into(),
            code: Code::zip(b"PK"),
            handler: Some("index.main_handler".into()),
            runtime: Some("Python3.9".into()),
            environment: Some(Environment {
                variables: vec![Variable::new("PUSHBACK_URL", "http://x")],
            }),
            function_type: Some("Event".into()),
            tags: Some(vec![Tag::new("chatstack:stack", "chat")]),
            ..Default::default()
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(
            v,
            json!({
                "FunctionName": "chat-register",
                "Code": {"ZipFile": "UEs="},
                "Handler": "index.main_handler",
                "Runtime": "Python3.9",
                "Environment": {"Variables": [{"Key": "PUSHBACK_URL", "Value": "http://x"}]},
                "Type": "Event",
                "Tags": [{"Key": "chatstack:stack", "Value": "chat"}]
            })
        );
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("http://x") && !shown.contains("UEs="),
            "{shown}"
        );
    }

    #[test]
    fn function_info_tolerates_nulls() {
        let info: FunctionInfo = serde_json::from_value(json!({
            "FunctionName": "f", "Status": "Active", "Environment": null, "Tags": null,
            "StatusReasons": null, "Timeout": null, "MemorySize": 128, "Triggers": [
                {"Type": "apigw", "TriggerName": "t", "TriggerDesc": null, "ResourceId": "r",
                 "Enable": 1}
            ], "Description": null, "Unknown": {"x": 1}
        }))
        .unwrap();
        assert!(info.is_active() && !info.is_transitional() && !info.is_failed());
        assert_eq!(info.memory_size, 128);
        assert!(info.environment.variables.is_empty());
        assert_eq!(info.triggers[0].trigger_type, "apigw");
    }

    #[tokio::test]
    async fn get_function_opt_maps_not_found_to_none() {
        let server = MockServer::start().await;
        Mock::given(body_partial_json(json!({"FunctionName": "gone"})))
            .respond_with(api_err("ResourceNotFound.FunctionName"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "old"})))
            .respond_with(api_err("ResourceNotFound.Function"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "here"})))
            .respond_with(api_ok(json!({
                "FunctionName": "here", "Namespace": "default", "Status": "CreateFailed",
                "StatusReasons": [{"ErrorCode": "X", "ErrorMessage": "bad zip"}],
                "Tags": [{"Key": "chatstack:codeSha256", "Value": "abc"}]
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "denied"})))
            .respond_with(api_err("AuthFailure.SignatureFailure"))
            .mount(&server)
            .await;
        let scf = scf(&server).await;
        assert!(scf.get_function_opt("gone", None).await.unwrap().is_none());
        assert!(scf.get_function_opt("old", None).await.unwrap().is_none());
        let info = scf
            .get_function_opt("here", Some("default"))
            .await
            .unwrap()
            .unwrap();
        assert!(info.is_failed());
        assert_eq!(info.failure_reason(), Some("bad zip"));
        assert_eq!(info.tag("chatstack:codeSha256"), Some("abc"));
        let err = scf.get_function_opt("denied", None).await.unwrap_err();
        assert!(err.is_auth_failure());
        for req in server.received_requests().await.unwrap() {
            assert_eq!(verify_tc3(&req), "GetFunction");
        }
    }

    #[tokio::test]
    async fn wait_for_function_polls_until_settled_or_gone() {
        let server = MockServer::start().await;
        let status = |s: &str| api_ok(json!({"FunctionName": "f", "Status": s}));
        Mock::given(body_partial_json(json!({"FunctionName": "f"})))
            .respond_with(status("Creating"))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "f"})))
            .respond_with(status("Active"))
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "gone"})))
            .respond_with(status("Deleting"))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "gone"})))
            .respond_with(api_err("ResourceNotFound.Function"))
            .mount(&server)
            .await;
        Mock::given(body_partial_json(json!({"FunctionName": "stuck"})))
            .respond_with(status("Updating"))
            .mount(&server)
            .await;
        let scf = scf(&server).await;
        let long = std::time::Duration::from_secs(30);
        let info = scf.wait_for_function("f", None, long).await.unwrap();
        assert!(info.unwrap().is_active());
        assert!(
            scf.wait_for_function("gone", None, long)
                .await
                .unwrap()
                .is_none()
        );
        let err = scf
            .wait_for_function("stuck", None, std::time::Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("still Updating"), "{err}");
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn list_functions_by_tags_pages_and_filters() {
        let server = MockServer::start().await;
        let f = |name: &str, stage: &str| {
            json!({"FunctionName": name, "Tags": [
                {"Key": "chatstack:stack", "Value": "chat"},
                {"Key": "chatstack:stage", "Value": stage}]})
        };
        Mock::given(header("x-tc-action", "ListFunctions"))
            .and(body_partial_json(json!({"Offset": 0, "Filters": [
                {"Name": "tag-chatstack:stack", "Values": ["chat"]},
                {"Name": "tag-chatstack:stage", "Values": ["dev"]}]})))
            .respond_with(api_ok(json!({
                "Functions": (0..20).map(|i| f(&format!("f{i}"), "dev")).collect::<Vec<_>>(),
                "TotalCount": 21
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "ListFunctions"))
            .and(body_partial_json(json!({"Offset": 20})))
            .respond_with(api_ok(json!({
                "Functions": [f("f20", "prod")], "TotalCount": 21
            })))
            .expect(1)
            .mount(&server)
            .await;
        let found = scf(&server)
            .await
            .list_functions_by_tags(
                None,
                &[("chatstack:stack", "chat"), ("chatstack:stage", "dev")],
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 20, "f20 has another stage");
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
    }

    #[tokio::test]
    async fn actions_send_the_documented_fields() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-action", "DeleteFunction"))
            .respond_with(api_err("ResourceNotFound.FunctionName"))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "Invoke"))
            .and(body_partial_json(
                json!({"FunctionName": "f", "ClientContext": "{}"}),
            ))
            .respond_with(api_ok(json!({"Result": {
                "RetMsg": "\"ok\"", "ErrMsg": "", "Log": "", "MemUsage": 1024,
                "Duration": 1.5, "BillDuration": 2, "FunctionRequestId": "fr", "InvokeResult": 0
            }})))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "UpdateFunctionConfiguration"))
            .and(body_partial_json(json!({"FunctionName": "f",
                "Environment": {"Variables": [{"Key": "A", "Value": "1"}]}})))
            .respond_with(api_ok(json!({})))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "UpdateFunctionCode"))
            .and(body_partial_json(
                json!({"FunctionName": "f", "Code": {"ZipFile": "UEs="}}),
            ))
            .respond_with(api_ok(json!({})))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "GetFunctionLogs"))
            .respond_with(api_ok(json!({"TotalCount": 1, "Data": [
                {"FunctionName": "f", "RetCode": 0, "Log": "hi", "Duration": 3.2,
                 "MemUsage": null, "StartTime": "2024-01-01 00:00:00"}]})))
            .mount(&server)
            .await;
        let scf = scf(&server).await;
        assert!(!scf.delete_function("f", None).await.unwrap());
        let r = scf
            .invoke(&InvokeRequest {
                function_name: "f".into(),
                client_context: Some("{}".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(r.ret_msg, "\"ok\"");
        assert_eq!(r.duration, 1.5);
        scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
            function_name: "f".into(),
            environment: Some(Environment {
                variables: vec![Variable::new("A", "1")],
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        scf.update_function_code(&UpdateFunctionCodeRequest {
            function_name: "f".into(),
            code: Some(Code::zip(b"PK")),
            ..Default::default()
        })
        .await
        .unwrap();
        let logs = scf
            .get_function_logs(&GetFunctionLogsRequest {
                function_name: "f".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(logs.data[0].log, "hi");
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
    }
}
