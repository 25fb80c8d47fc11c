//! Trigger records: what `CreateTrigger`/`UpdateTrigger`/`DeleteTrigger` write (`api3::scf`)
//! and the Web-function data plane ([`crate::localcloud::webfn`]) reads to route a Function URL
//! to its function. Only `http` triggers (Function URLs) exist here (API-FACTS §10.3).
//!
//! Records live in [`TABLE`], keyed `{region}/{namespace}/{function}/{trigger name}`
//! ([`key`]); [`URL_TABLE`] maps a URL id to that key ([`by_url`]), so a request is routed
//! with two point reads.
//!
//! **Local URLs.** In the cloud a Function URL is `https://{appid}-{urlid}.{region}.tencentscf.com`
//! (intranet: `….in.{region}…`), WebSocket on the same host. Locally every URL is served on the
//! local cloud's one port, with the function's own host put in the path:
//! `http://127.0.0.1:PORT/scf/{appid}-{urlid}.{region}.tencentscf.com` (and
//! `…/scf/{appid}-{urlid}.in.{region}.tencentscf.com`), `ws://` for the WebSocket fields; the
//! function sees the rest of the path (`/` at least), as behind its own host. A request whose
//! `Host` *is* the cloud's name (`{appid}-{urlid}.{region}.tencentscf.com[:PORT]`, a client
//! with its own resolver entry) is routed the same way with its path unchanged. No TLS is
//! served: the `https`/`wss` fields hold the same `http`/`ws` URLs as their plain twins.

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

/// The parts of a Function URL host name: `(appid, url id, network)`; `None` for any other
/// name. The port, if any, is ignored.
pub fn parse_host(host: &str) -> Option<(u64, String, Network)> {
    let name = host.rsplit_once(':').map_or(host, |(n, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            n
        } else {
            host
        }
    });
    let rest = name.strip_suffix(DOMAIN)?.strip_suffix('.')?;
    let (first, tail) = rest.split_once('.')?;
    let network = match tail.split_once('.') {
        Some(("in", region)) if is_label(region) => Network::Intranet,
        None if is_label(tail) => Network::Extranet,
        _ => return None,
    };
    let (appid, url_id) = first.split_once('-')?;
    let appid = appid.parse().ok()?;
    if url_id.is_empty() || !url_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((appid, url_id.to_ascii_lowercase(), network))
}

fn is_label(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A request path under [`PATH_PREFIX`] split into the function's host name and the path the
/// function sees (`/` at least, query kept): `/scf/H/a/b?q` → `("H", "/a/b?q")`.
pub fn split_path(path_and_query: &str) -> Option<(&str, String)> {
    let rest = path_and_query.strip_prefix(PATH_PREFIX)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    if host.is_empty() {
        return None;
    }
    let inner = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    Some((host, inner))
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
    fn host_names_parse_back_and_other_names_do_not() {
        type Case<'a> = (&'a str, Option<(u64, &'a str, Network)>);
        let cases: &[Case] = &[
            (
                "1250000000-hulrzrbh9f.ap-guangzhou.tencentscf.com",
                Some((1250000000, "hulrzrbh9f", Network::Extranet)),
            ),
            (
                "1250000000-hulrzrbh9f.in.ap-chongqing.tencentscf.com:9000",
                Some((1250000000, "hulrzrbh9f", Network::Intranet)),
            ),
            (
                "1250000000-ABC.ap-guangzhou.tencentscf.com",
                Some((1250000000, "abc", Network::Extranet)),
            ),
            ("hulrzrbh9f.ap-guangzhou.tencentscf.com", None),
            ("x-hulrzrbh9f.ap-guangzhou.tencentscf.com", None),
            ("1250000000-.ap-guangzhou.tencentscf.com", None),
            ("1250000000-a.b.c.ap-guangzhou.tencentscf.com", None),
            ("1250000000-a.ap-guangzhou.tencentscf.com.evil", None),
            ("scf.tencentcloudapi.com", None),
            ("127.0.0.1:9000", None),
        ];
        for (host, want) in cases {
            let got = parse_host(host);
            let want = want.map(|(a, u, n)| (a, u.to_owned(), n));
            assert_eq!(got, want, "{host}");
        }
        let h = host_name(1250000000, "abc", "ap-guangzhou", Network::Intranet);
        assert_eq!(
            parse_host(&h),
            Some((1250000000, "abc".into(), Network::Intranet))
        );
    }

    #[test]
    fn paths_split_into_the_function_host_and_its_own_path() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/scf/H", Some(("H", "/"))),
            ("/scf/H/", Some(("H", "/"))),
            ("/scf/H/a/b", Some(("H", "/a/b"))),
            ("/scf/H?x=1", Some(("H", "/?x=1"))),
            ("/scf/H/a?x=1", Some(("H", "/a?x=1"))),
            ("/scf/", None),
            ("/scf", None),
            ("/service-x/release/ws", None),
        ];
        for (path, want) in cases {
            let got = split_path(path);
            let want = want.map(|(h, p)| (h, p.to_owned()));
            assert_eq!(got, want, "{path}");
        }
    }
}
