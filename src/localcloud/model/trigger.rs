//! Trigger records: what `CreateTrigger`/`UpdateTrigger`/`DeleteTrigger` write (`api3::scf`),
//! for the Web-function data plane (`localcloud::webfn`) to read when it routes a Function URL
//! to its function. Only `http` triggers (Function URLs) exist here
//! (API-FACTS §10.3).
//!
//! Records live in [`TABLE`], keyed `{region}/{namespace}/{function}/{trigger name}`
//! ([`key`]); [`URL_TABLE`] maps a URL id to that key, which keeps URL ids unique.
//!
//! **Local URLs** ([`net_config_urls`]). In the cloud a Function URL is
//! `https://{appid}-{urlid}.{region}.tencentscf.com` (intranet: `….in.{region}…`), WebSocket on
//! the same host. The local cloud hands out URLs on its one port with that host name in the
//! path: `http://127.0.0.1:PORT/scf/{appid}-{urlid}.{region}.tencentscf.com`, `ws://` in the
//! WebSocket fields. No TLS is served: the `https`/`wss` fields hold the same `http`/`ws` URLs
//! as their plain twins.

use serde::{Deserialize, Serialize};

use crate::localcloud::store::{Store, StoreError};

/// The triggers table.
pub const TABLE: &str = "scf_triggers";
/// URL id → trigger key.
pub const URL_TABLE: &str = "scf_trigger_urls";
/// The path prefix under which Function URLs are served locally.
pub const PATH_PREFIX: &str = "/scf/";
/// The cloud's Function URL domain.
pub const DOMAIN: &str = "tencentscf.com";

/// `AuthType` of a Function URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthType {
    /// Anyone may call it.
    None,
    /// Requests must be TC3-signed by a key of the account.
    Cam,
}

impl AuthType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "NONE",
            AuthType::Cam => "CAM",
        }
    }
}

/// A stored trigger (a Function URL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    /// Region.
    pub region: String,
    /// Namespace.
    pub namespace: String,
    /// The function it belongs to.
    pub function: String,
    /// `TriggerName` (server-assigned for `http`).
    pub name: String,
    /// `Type`: `http`.
    pub kind: String,
    /// `Qualifier`: `$DEFAULT` unless given.
    pub qualifier: String,
    /// `AuthType`.
    pub auth: AuthType,
    /// `NetConfig.EnableIntranet`.
    pub enable_intranet: bool,
    /// `NetConfig.EnableExtranet`.
    pub enable_extranet: bool,
    /// `CorsConfig` as given (JSON), echoed back in `TriggerDesc`; not enforced locally.
    #[serde(default)]
    pub cors: Option<serde_json::Value>,
    /// The URL id, `[a-z0-9]{10}`: the variable part of the URL's host.
    pub url_id: String,
    /// `Enable`: OPEN (true) or CLOSE.
    pub enabled: bool,
    /// `Description`.
    #[serde(default)]
    pub description: String,
    /// Creation, Unix seconds.
    pub add_time: i64,
    /// Last change, Unix seconds.
    pub mod_time: i64,
}

/// The store key of a trigger.
pub fn key(region: &str, namespace: &str, function: &str, name: &str) -> String {
    format!("{region}/{namespace}/{function}/{name}")
}

/// The key prefix of a function's triggers.
pub fn prefix(region: &str, namespace: &str, function: &str) -> String {
    format!("{region}/{namespace}/{function}/")
}

/// A function's triggers, by name.
pub fn of_function(
    store: &Store,
    region: &str,
    namespace: &str,
    function: &str,
) -> Result<Vec<TriggerRecord>, StoreError> {
    Ok(store
        .scan::<TriggerRecord>(
            TABLE,
            &prefix(region, namespace, function),
            None,
            usize::MAX,
        )?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// The trigger a URL id belongs to.
pub fn by_url(store: &Store, url_id: &str) -> Result<Option<TriggerRecord>, StoreError> {
    let Some(key) = store.get::<String>(URL_TABLE, url_id)? else {
        return Ok(None);
    };
    store.get::<TriggerRecord>(TABLE, &key)
}

/// Which of a Function URL's networks a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The public URL.
    Extranet,
    /// The VPC URL (`.in.`).
    Intranet,
}

/// The cloud's host name of a Function URL.
pub fn host_name(appid: u64, url_id: &str, region: &str, network: Network) -> String {
    match network {
        Network::Extranet => format!("{appid}-{url_id}.{region}.{DOMAIN}"),
        Network::Intranet => format!("{appid}-{url_id}.in.{region}.{DOMAIN}"),
    }
}

/// The eight `NetConfig` URL fields of a trigger as served by a local cloud on `addr`
/// (`IP:PORT`): enabled networks get their URLs, the others empty strings.
pub fn net_config_urls(
    addr: &str,
    appid: u64,
    t: &TriggerRecord,
) -> serde_json::Map<String, serde_json::Value> {
    let url = |network: Network, scheme: &str, on: bool| {
        if on {
            format!(
                "{scheme}://{addr}{PATH_PREFIX}{}",
                host_name(appid, &t.url_id, &t.region, network)
            )
        } else {
            String::new()
        }
    };
    let (ex, int) = (t.enable_extranet, t.enable_intranet);
    let fields = [
        ("ExtranetUrl", url(Network::Extranet, "http", ex)),
        ("ExtranetHTTPUrl", url(Network::Extranet, "http", ex)),
        ("WssExtranetUrl", url(Network::Extranet, "ws", ex)),
        ("WsExtranetUrl", url(Network::Extranet, "ws", ex)),
        ("IntranetUrl", url(Network::Intranet, "http", int)),
        ("IntranetHTTPUrl", url(Network::Intranet, "http", int)),
        ("WssIntranetUrl", url(Network::Intranet, "ws", int)),
        ("WsIntranetUrl", url(Network::Intranet, "ws", int)),
    ];
    fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_cloud_host_in_the_local_path_for_the_enabled_networks_only() {
        let t = TriggerRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            function: "f".into(),
            name: "url-abc".into(),
            kind: "http".into(),
            qualifier: "$DEFAULT".into(),
            auth: AuthType::None,
            enable_intranet: false,
            enable_extranet: true,
            cors: None,
            url_id: "hulrzrbh9f".into(),
            enabled: true,
            description: String::new(),
            add_time: 0,
            mod_time: 0,
        };
        let urls = net_config_urls("127.0.0.1:9000", 1250000000, &t);
        let host = "1250000000-hulrzrbh9f.ap-guangzhou.tencentscf.com";
        assert_eq!(
            urls["ExtranetUrl"],
            format!("http://127.0.0.1:9000/scf/{host}")
        );
        assert_eq!(
            urls["WssExtranetUrl"],
            format!("ws://127.0.0.1:9000/scf/{host}")
        );
        assert_eq!(urls["IntranetUrl"], "");
        let inner = TriggerRecord {
            enable_intranet: true,
            ..t
        };
        let urls = net_config_urls("127.0.0.1:9000", 1250000000, &inner);
        assert!(
            urls["WsIntranetUrl"]
                .as_str()
                .unwrap()
                .ends_with("/scf/1250000000-hulrzrbh9f.in.ap-guangzhou.tencentscf.com")
        );
    }
}
