//! What the control plane's actions get: the [`Plane`] (the parts of the local cloud they
//! use, handed over once when the local cloud is built) and the [`Ctx`] of one request, with
//! the helpers every service's actions share ([`obj`], [`required`], [`iso_time`],
//! [`random_id`]). A leaf of `api3`: the services import it, it imports none of them.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::localcloud::account::Account;
use crate::localcloud::faults::Injector;
use crate::localcloud::latency::Profile;
use crate::localcloud::options::ApigwMode;
use crate::localcloud::runtime::Runtime;
use crate::localcloud::store::Store;

/// The control plane's share of the local cloud: the store it writes, the account that
/// authenticates requests, the runtime Invoke calls, and the settings actions read.
#[derive(Debug)]
pub struct Plane {
    /// Where the records live (the control plane writes them; the data plane reads them).
    pub store: Store,
    /// APPID, keys and temporary credentials.
    pub account: Arc<Account>,
    /// Runs functions for Invoke: the one call from the control plane into the data plane.
    pub runtime: Runtime,
    /// Injected failures.
    pub faults: Injector,
    /// Round trips and asynchronous-state durations.
    pub latency: Profile,
    /// Whether API Gateway can still create services and APIs.
    pub apigw: ApigwMode,
    /// The address clients reach the local cloud on, for the URLs handed out.
    pub addr: SocketAddr,
}

impl Plane {
    /// The host (and port) clients reach the local cloud on, for the URLs we hand out
    /// (`127.0.0.1:PORT` when it listens on every address).
    pub fn public_host(&self) -> String {
        if self.addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", self.addr.port())
        } else {
            self.addr.to_string()
        }
    }
}

/// What an action handler gets.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) plane: Arc<Plane>,
    /// `X-TC-Region` (empty for CAM).
    pub(crate) region: String,
    pub(crate) action: String,
    /// The body, a JSON object.
    pub(crate) params: Value,
    /// When the request was accepted, Unix milliseconds.
    pub(crate) now_ms: i64,
}

impl Ctx {
    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.plane.store
    }

    /// The parameters as `T`; type mismatches are `InvalidParameter`.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        T::deserialize(&self.params)
            .map_err(|e| ApiError::invalid(format!("invalid parameters for {}: {e}", self.action)))
    }

    /// Unix seconds.
    pub(crate) fn now_secs(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }
}

/// A JSON object literal as a map (`obj(json!({...}))`).
pub(crate) fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("Result".into(), other);
            m
        }
    }
}

/// `Some(v)` or `MissingParameter` naming `name`.
pub(crate) fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing(name))
}

/// ISO 8601 UTC (`2024-12-17T09:52:48Z`), the form API Gateway uses for `CreatedTime`.
pub(crate) fn iso_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A `Filters` entry of a list action: `{"Name": …, "Values": […]}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Filter {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
}

/// `{prefix}-` and eight random lowercase letters and digits (`service-0c96l2bo`).
pub(crate) fn random_id(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_use_the_clouds_formats() {
        assert_eq!(
            crate::providers::tencent::time::format(1_700_000_000),
            "2023-11-15 06:13:20"
        );
        assert_eq!(iso_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ids_have_the_clouds_shape() {
        let id = random_id("service");
        assert_eq!(id.len(), "service-".len() + 8);
        assert!(
            id[8..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
}
