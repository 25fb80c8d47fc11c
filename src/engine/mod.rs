//! Desired vs observed → plan → apply.
//!
//! This module owns the *observed* model of a deployment: what exists in the cloud for one
//! stack and stage, found by name and by the `chatstack:stack` / `chatstack:stage` tags. `info`
//! renders it; `plan` and `deploy` diff the desired [`crate::config::Stack`] against it. The
//! model speaks of the stack's parts (bucket, functions, the WebSocket entry point), not of one
//! backend's resource list, so a second backend (a WebSocket gateway as an SCF web function)
//! fills the same shape.

pub mod classic;
pub mod deploy;
pub mod error;
pub mod graph;
pub mod journal;
pub mod observe;
pub mod plan;
pub mod remove;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod plan_tests;

pub use observe::observe;

use serde::Serialize;

use crate::config::FunctionRole;

/// Tag keys chatstack puts on what it creates.
pub mod tags {
    /// The stack name.
    pub const STACK: &str = "chatstack:stack";
    /// The stage name.
    pub const STAGE: &str = "chatstack:stage";
    /// SHA-256 of the deterministic code zip, on functions.
    pub const CODE_SHA256: &str = "chatstack:code-sha256";
}

/// What exists in the cloud for one stack and stage.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// The bucket (its full name is known even when it does not exist).
    pub bucket: ObservedBucket,
    /// The WebSocket entry point (API Gateway service and API), if any part exists.
    pub gateway: Option<ObservedGateway>,
    /// Each function of the stack file, existing or not, in file order.
    pub functions: Vec<ObservedFunction>,
}

impl Observed {
    /// Whether nothing of the stack exists.
    pub fn is_empty(&self) -> bool {
        !self.bucket.exists
            && self.gateway.is_none()
            && self.functions.iter().all(|f| f.status.is_none())
    }
}

/// The COS bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedBucket {
    /// Full bucket id, `name-appid`.
    pub name: String,
    /// Region (as the bucket reports it when it exists).
    pub region: String,
    /// Whether it exists.
    pub exists: bool,
}

/// The API Gateway service and its WebSocket API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedGateway {
    /// `ServiceId`.
    pub service_id: String,
    /// `OuterSubDomain`, the host clients connect to.
    pub outer_sub_domain: String,
    /// The service's `Protocol` (`http`, `https`, `http&https`).
    pub protocol: String,
    /// Whether the service carries our stack/stage tags (else it was found by name).
    pub tagged: bool,
    /// Whether clients connect with TLS (`wss://`): the service has `https` and the endpoint
    /// serves it (the local cloud speaks plain HTTP, so its URLs are `ws://`).
    pub secure: bool,
    /// The WebSocket API, if it exists.
    pub api: Option<ObservedApi>,
    /// Environments the service is released to.
    pub released: Vec<String>,
}

/// The WebSocket API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedApi {
    /// `ApiId`.
    pub api_id: String,
    /// Request path.
    pub path: String,
    /// `ServiceTimeout`, seconds.
    pub timeout: u32,
    /// `InternalDomain`, the push-back URL.
    pub internal_domain: Option<String>,
    /// Bound register, transport and cleanup function names.
    pub register: Option<String>,
    /// Transport function.
    pub transport: Option<String>,
    /// Cleanup function.
    pub cleanup: Option<String>,
}

/// One function of the stack file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedFunction {
    /// `FunctionName`.
    pub name: String,
    /// Its role for the WebSocket endpoint, if bound.
    pub role: Option<FunctionRole>,
    /// SCF `Status`, `None` when the function does not exist.
    pub status: Option<String>,
    /// Our code hash tag, if present.
    pub code_sha256: Option<String>,
    /// What GetFunction said (configuration, environment — values may be secrets: never print
    /// them —, tags, status reasons), when it exists.
    #[serde(skip)]
    pub detail: Option<crate::providers::tencent::scf::FunctionInfo>,
}

impl Serialize for FunctionRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The URL clients connect to: `ws(s)://{OuterSubDomain}/{environment}{path}` (API-FACTS §3.6).
pub fn websocket_url(
    outer_sub_domain: &str,
    secure: bool,
    environment: &str,
    path: &str,
) -> String {
    let scheme = if secure { "wss" } else { "ws" };
    format!("{scheme}://{outer_sub_domain}/{environment}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_url_follows_the_gateway_convention() {
        assert_eq!(
            websocket_url(
                "service-abc-125.gz.apigw.tencentcs.com",
                true,
                "release",
                "/ws"
            ),
            "wss://service-abc-125.gz.apigw.tencentcs.com/release/ws"
        );
        assert_eq!(
            websocket_url("127.0.0.1:9000/service-abc", false, "release", "/"),
            "ws://127.0.0.1:9000/service-abc/release/"
        );
    }
}
