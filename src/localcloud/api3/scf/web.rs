//! Web functions (`Type: HTTP`, API-FACTS §10.2): the parameters CreateFunction and
//! UpdateFunctionConfiguration take for them (`ProtocolType`, `ProtocolParams`,
//! `InstanceConcurrencyConfig`), the rules that tie them to `Type`, `Runtime` and `Timeout`,
//! the `scf_bootstrap` a Web function's code must ship, and the fields GetFunction shows.
//!
//! What the local cloud runs: Web functions on the Python runtimes and `Go1` (a static binary
//! started by `scf_bootstrap`), and Event functions on everything but `Go1` (the function
//! runtime has no Go event loop), so an Event function on `Go1` is refused at creation.

use std::io::Cursor;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::error::ApiError;
use crate::localcloud::model::function::{DEFAULT_WS_IDLE_TIMEOUT, FunctionRecord};
use crate::providers::tencent::limits;

/// `IdleTimeOut` range, seconds. The SDK model says 1–1800 (default 15); Tencent's docs say
/// 10–7200. We accept what the SDK says, the only machine-readable source (API-FACTS §10.2).
pub(super) const IDLE_TIMEOUT_SECS: std::ops::RangeInclusive<u32> = 1..=1800;
/// `InstanceConcurrencyConfig.MaxConcurrency` range (SDK model: `[1,100]`).
pub(super) const MAX_CONCURRENCY: std::ops::RangeInclusive<u32> = 1..=100;
/// The file a Web function's zip must hold at its root.
pub(super) const BOOTSTRAP: &str = "scf_bootstrap";

/// `ProtocolParams`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ProtocolParamsParam {
    #[serde(rename = "WSParams")]
    ws_params: Option<WsParamsParam>,
}

/// `ProtocolParams.WSParams`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct WsParamsParam {
    idle_time_out: Option<i64>,
}

/// `InstanceConcurrencyConfig` (its session-based and GPU fields are not taken).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ConcurrencyParam {
    dynamic_enabled: Option<String>,
    max_concurrency: Option<i64>,
}

/// The Web-function part of a CreateFunction or UpdateFunctionConfiguration request.
/// `ProtocolType` is not in the SDK's UpdateFunctionConfiguration model; a raw client may send
/// it, and a change is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct WebParams {
    protocol_type: Option<String>,
    protocol_params: Option<ProtocolParamsParam>,
    instance_concurrency_config: Option<ConcurrencyParam>,
}

/// The Web-function settings of a record, as checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WebSettings {
    /// `ProtocolType: WS`.
    pub(super) websocket: bool,
    /// `IdleTimeOut` (s) when `websocket`, else 0.
    pub(super) ws_idle_timeout: u32,
    /// `MaxConcurrency`, 0 = not set.
    pub(super) max_concurrency: u32,
}

impl WebSettings {
    /// Writes the settings into `r`.
    pub(super) fn apply(self, r: &mut FunctionRecord) {
        r.protocol_type = if self.websocket { "WS" } else { "" }.to_owned();
        r.ws_idle_timeout = self.ws_idle_timeout;
        r.max_concurrency = self.max_concurrency;
    }

    fn of(r: &FunctionRecord) -> Self {
        WebSettings {
            websocket: r.is_websocket(),
            ws_idle_timeout: r.ws_idle_timeout,
            max_concurrency: r.max_concurrency,
        }
    }
}

/// Whether the local cloud runs a Web function on `runtime`.
pub(super) fn is_web_runtime(runtime: &str) -> bool {
    runtime.starts_with("Python") || runtime == "Go1"
}

/// The checks CreateFunction applies for `function_type` (already `Event` or `HTTP`) on
/// `runtime`, with `timeout` (s): the settings to store.
pub(super) fn create_settings(
    function_type: &str,
    runtime: &str,
    timeout: u32,
    p: WebParams,
) -> Result<WebSettings, ApiError> {
    if function_type != "HTTP" {
        refuse_on_event(&p)?;
        if runtime == "Go1" {
            return Err(ApiError::new(
                "UnsupportedOperation",
                "The local cloud runs Go1 only as a Web function (Type HTTP, with an \
                 scf_bootstrap that starts the binary); it cannot run Go1 Event functions.",
            ));
        }
        return Ok(WebSettings::default());
    }
    if !is_web_runtime(runtime) {
        return Err(ApiError::new(
            "InvalidParameterValue.Runtime",
            format!(
                "Runtime `{runtime}` is not supported for Web functions by the local cloud; use \
                 a Python runtime (e.g. Python3.9) or Go1."
            ),
        ));
    }
    let websocket = match p.protocol_type.as_deref() {
        None | Some("") => false,
        Some("WS") => true,
        Some(other) => return Err(bad_protocol_type(other)),
    };
    let ws_idle_timeout = if websocket {
        idle_timeout(p.protocol_params.as_ref())?.unwrap_or(DEFAULT_WS_IDLE_TIMEOUT)
    } else {
        if p.protocol_params.is_some() {
            return Err(params_need_ws());
        }
        0
    };
    let max_concurrency = match &p.instance_concurrency_config {
        Some(c) => check_concurrency(c)?,
        None => 0,
    };
    let s = WebSettings {
        websocket,
        ws_idle_timeout,
        max_concurrency,
    };
    check_web_timeout(timeout, s)?;
    Ok(s)
}

/// The checks UpdateFunctionConfiguration applies to `current` (`function_type` is the `Type`
/// sent, if any; `timeout` the new one, if any): the settings to store.
pub(super) fn update_settings(
    current: &FunctionRecord,
    function_type: Option<&str>,
    timeout: Option<u32>,
    p: WebParams,
) -> Result<WebSettings, ApiError> {
    if let Some(t) = function_type
        && t != current.function_type
    {
        return Err(ApiError::new(
            "InvalidParameterValue.Type",
            format!(
                "The function `{}` is of Type {}; Type cannot be changed by an update (create a \
                 new function).",
                current.name, current.function_type
            ),
        ));
    }
    if !current.is_web() {
        refuse_on_event(&p)?;
        return Ok(WebSettings::default());
    }
    let mut s = WebSettings::of(current);
    if let Some(pt) = p.protocol_type.as_deref() {
        match (pt, s.websocket) {
            ("WS", true) | ("", false) => {}
            ("WS", false) => {
                return Err(ApiError::new(
                    "InvalidParameterValue.ProtocolType",
                    "An HTTP Web function cannot become a WebSocket (WS) function; create a new \
                     function with ProtocolType WS.",
                ));
            }
            ("", true) => {
                return Err(ApiError::new(
                    "InvalidParameterValue.ProtocolType",
                    "WebSocket (ProtocolType WS) cannot be switched off once on.",
                ));
            }
            (other, _) => return Err(bad_protocol_type(other)),
        }
    }
    if p.protocol_params.is_some() {
        if !s.websocket {
            return Err(params_need_ws());
        }
        if let Some(idle) = idle_timeout(p.protocol_params.as_ref())? {
            s.ws_idle_timeout = idle;
        }
    }
    if let Some(c) = &p.instance_concurrency_config {
        s.max_concurrency = check_concurrency(c)?;
    }
    check_web_timeout(timeout.unwrap_or(current.timeout), s)?;
    Ok(s)
}

/// An Event function takes none of the Web-function parameters.
fn refuse_on_event(p: &WebParams) -> Result<(), ApiError> {
    if p.protocol_type.as_deref().is_some_and(|t| !t.is_empty()) || p.protocol_params.is_some() {
        return Err(ApiError::new(
            "InvalidParameterValue.ProtocolType",
            "ProtocolType and ProtocolParams apply only to Web functions: set Type to HTTP.",
        ));
    }
    if p.instance_concurrency_config.is_some() {
        return Err(ApiError::new(
            "InvalidParameterValue.InstanceConcurrencyConfig",
            "InstanceConcurrencyConfig applies only to Web functions (Type HTTP).",
        ));
    }
    Ok(())
}

fn bad_protocol_type(t: &str) -> ApiError {
    ApiError::new(
        "InvalidParameterValue.ProtocolType",
        format!("ProtocolType `{t}` is invalid: the only protocol is WS (WebSocket)."),
    )
}

fn params_need_ws() -> ApiError {
    ApiError::new(
        "InvalidParameterValue.ProtocolType",
        "ProtocolParams applies only to functions with ProtocolType WS.",
    )
}

/// `ProtocolParams.WSParams.IdleTimeOut`, checked; `None` when not given.
fn idle_timeout(p: Option<&ProtocolParamsParam>) -> Result<Option<u32>, ApiError> {
    let Some(t) = p
        .and_then(|p| p.ws_params.as_ref())
        .and_then(|w| w.idle_time_out)
    else {
        return Ok(None);
    };
    match u32::try_from(t) {
        Ok(v) if IDLE_TIMEOUT_SECS.contains(&v) => Ok(Some(v)),
        _ => Err(ApiError::new(
            "InvalidParameterValue.IdleTimeOut",
            format!(
                "ProtocolParams.WSParams.IdleTimeOut {t} is out of range: {} to {} seconds.",
                IDLE_TIMEOUT_SECS.start(),
                IDLE_TIMEOUT_SECS.end()
            ),
        )),
    }
}

/// `MaxConcurrency` for a static (`DynamicEnabled: FALSE`) config; 0 when `DynamicEnabled` is
/// `""`, which the SDK says cancels the multi-concurrency config.
fn check_concurrency(c: &ConcurrencyParam) -> Result<u32, ApiError> {
    match c.dynamic_enabled.as_deref() {
        Some("FALSE") | None => {}
        Some("") => return Ok(0),
        Some("TRUE") => {
            return Err(ApiError::new(
                "InvalidParameterValue.InstanceConcurrencyConfig",
                "InstanceConcurrencyConfig.DynamicEnabled TRUE (dynamic concurrency) is for \
                 GPU image functions only; use DynamicEnabled FALSE with a MaxConcurrency.",
            ));
        }
        Some(other) => {
            return Err(ApiError::new(
                "InvalidParameterValue.InstanceConcurrencyConfig",
                format!("InstanceConcurrencyConfig.DynamicEnabled `{other}` must be FALSE."),
            ));
        }
    }
    let m = c.max_concurrency.ok_or_else(|| {
        ApiError::new(
            "InvalidParameterValue.MaxConcurrency",
            "InstanceConcurrencyConfig needs MaxConcurrency (1 to 100).",
        )
    })?;
    match u32::try_from(m) {
        Ok(v) if MAX_CONCURRENCY.contains(&v) => Ok(v),
        _ => Err(ApiError::new(
            "InvalidParameterValue.MaxConcurrency",
            format!(
                "InstanceConcurrencyConfig.MaxConcurrency {m} is out of range: {} to {}.",
                MAX_CONCURRENCY.start(),
                MAX_CONCURRENCY.end()
            ),
        )),
    }
}

/// A WebSocket function's `Timeout` (the longest a connection lives) must be at least its
/// `IdleTimeOut`. (`Timeout` ≤ 900 holds for every function: `LimitExceeded.Timeout`.) The SDK
/// has no `InvalidParameterValue.Timeout`, so the idle timeout's code is used.
fn check_web_timeout(timeout: u32, s: WebSettings) -> Result<(), ApiError> {
    debug_assert!(timeout <= *limits::TIMEOUT_SECS.end());
    if s.websocket && timeout < s.ws_idle_timeout {
        return Err(ApiError::new(
            "InvalidParameterValue.IdleTimeOut",
            format!(
                "Timeout {timeout} is shorter than ProtocolParams.WSParams.IdleTimeOut {}: a \
                 WebSocket function's Timeout must be at least its IdleTimeOut (and at most {}).",
                s.ws_idle_timeout,
                limits::TIMEOUT_SECS.end()
            ),
        ));
    }
    Ok(())
}

/// A Web function's zip must hold a file named exactly `scf_bootstrap` at its root. When the
/// zip records Unix permissions, the file must be executable by someone (the cloud runs it as
/// is; `chmod 755` it before zipping); zips without Unix permissions (made on Windows) pass.
pub(super) fn check_bootstrap(zip: &[u8]) -> Result<(), ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            "InvalidParameterValue.Code",
            format!(
                "A Web function's code must hold an executable file named `{BOOTSTRAP}` at the \
                 root of the zip (mode 755, it starts the server on port 9000): {why}."
            ),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(zip))
        .map_err(|e| bad(&format!("the zip cannot be read ({e})")))?;
    let entry = archive
        .by_name(BOOTSTRAP)
        .map_err(|_| bad("there is none"))?;
    if entry.is_dir() {
        return Err(bad("it is a directory"));
    }
    if let Some(mode) = entry.unix_mode()
        && mode & 0o111 == 0
    {
        return Err(bad(&format!(
            "its mode is {:o}, not executable",
            mode & 0o777
        )));
    }
    Ok(())
}

/// GetFunction's Web-function fields: `ProtocolType` (`WS` or empty), `ProtocolParams`
/// (`{"WSParams":{"IdleTimeOut":N}}` for WS, else null, as the SDK model allows) and
/// `InstanceConcurrencyConfig` (null when not set).
pub(super) fn get_fields(r: &FunctionRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ProtocolType".into(), json!(r.protocol_type));
    let params = if r.is_websocket() {
        json!({"WSParams": {"IdleTimeOut": r.ws_idle_timeout}})
    } else {
        Value::Null
    };
    m.insert("ProtocolParams".into(), params);
    let concurrency = if r.is_web() && r.max_concurrency > 0 {
        json!({"DynamicEnabled": "FALSE", "MaxConcurrency": r.max_concurrency})
    } else {
        Value::Null
    };
    m.insert("InstanceConcurrencyConfig".into(), concurrency);
    m
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn params(v: Value) -> WebParams {
        serde_json::from_value(v).unwrap()
    }

    fn code(r: Result<WebSettings, ApiError>) -> String {
        r.map_or_else(|e| e.code.into_owned(), |_| "ok".into())
    }

    #[test]
    fn create_checks_table() {
        let ws = |idle: Value| json!({"ProtocolType": "WS", "ProtocolParams": {"WSParams": {"IdleTimeOut": idle}}});
        let cases: &[(&str, &str, u32, Value, &str)] = &[
            ("HTTP", "Python3.9", 900, ws(json!(900)), "ok"),
            // In range, but no Timeout (≤ 900) can be that long.
            (
                "HTTP",
                "Python3.9",
                900,
                ws(json!(1800)),
                "InvalidParameterValue.IdleTimeOut",
            ),
            ("HTTP", "Go1", 15, ws(json!(15)), "ok"),
            (
                "HTTP",
                "Python3.9",
                900,
                ws(json!(0)),
                "InvalidParameterValue.IdleTimeOut",
            ),
            (
                "HTTP",
                "Python3.9",
                900,
                ws(json!(1801)),
                "InvalidParameterValue.IdleTimeOut",
            ),
            (
                "HTTP",
                "Python3.9",
                10,
                ws(json!(20)),
                "InvalidParameterValue.IdleTimeOut",
            ),
            // Default idle timeout 15 > Timeout 3.
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"ProtocolType": "WS"}),
                "InvalidParameterValue.IdleTimeOut",
            ),
            ("HTTP", "Python3.9", 3, json!({}), "ok"),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"ProtocolType": "HTTP2"}),
                "InvalidParameterValue.ProtocolType",
            ),
            (
                "HTTP",
                "Python3.9",
                30,
                json!({"ProtocolParams": {"WSParams": {"IdleTimeOut": 10}}}),
                "InvalidParameterValue.ProtocolType",
            ),
            (
                "HTTP",
                "Nodejs18.15",
                3,
                json!({}),
                "InvalidParameterValue.Runtime",
            ),
            (
                "Event",
                "Python3.9",
                30,
                ws(json!(10)),
                "InvalidParameterValue.ProtocolType",
            ),
            (
                "Event",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 2}}),
                "InvalidParameterValue.InstanceConcurrencyConfig",
            ),
            ("Event", "Go1", 3, json!({}), "UnsupportedOperation"),
            ("Event", "Nodejs18.15", 3, json!({}), "ok"),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 100}}),
                "ok",
            ),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 0}}),
                "InvalidParameterValue.MaxConcurrency",
            ),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 101}}),
                "InvalidParameterValue.MaxConcurrency",
            ),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE"}}),
                "InvalidParameterValue.MaxConcurrency",
            ),
            (
                "HTTP",
                "Python3.9",
                3,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "TRUE", "MaxConcurrency": 5}}),
                "InvalidParameterValue.InstanceConcurrencyConfig",
            ),
        ];
        for (ty, runtime, timeout, p, want) in cases {
            let got = code(create_settings(ty, runtime, *timeout, params(p.clone())));
            assert_eq!(&got, want, "{ty} {runtime} {timeout} {p}");
        }
        let s = create_settings(
            "HTTP",
            "Python3.9",
            60,
            params(json!({"ProtocolType": "WS"})),
        )
        .unwrap();
        assert_eq!(
            (s.websocket, s.ws_idle_timeout),
            (true, DEFAULT_WS_IDLE_TIMEOUT)
        );
    }

    fn web_record(ws: bool) -> FunctionRecord {
        let mut r: FunctionRecord = serde_json::from_value(json!({
            "region": "ap-guangzhou", "namespace": "default", "name": "f", "function_id": "lam-1",
            "runtime": "Python3.9", "handler": "", "description": "", "memory_size": 128,
            "timeout": 60, "role": "", "function_type": "HTTP", "environment": [], "tags": [],
            "code_blob": "b", "code_size": 1, "code_sha256": "", "add_time": 0, "mod_time": 0,
            "status": "Active", "settles_at_ms": 0
        }))
        .unwrap();
        if ws {
            r.protocol_type = "WS".into();
            r.ws_idle_timeout = 30;
        }
        r
    }

    #[test]
    fn update_checks_table() {
        type Case<'a> = (bool, Option<&'a str>, Option<u32>, Value, &'a str);
        let cases: &[Case] = &[
            (
                true,
                None,
                None,
                json!({"ProtocolParams": {"WSParams": {"IdleTimeOut": 60}}}),
                "ok",
            ),
            (
                true,
                None,
                None,
                json!({"ProtocolParams": {"WSParams": {"IdleTimeOut": 61}}}),
                "InvalidParameterValue.IdleTimeOut",
            ),
            (
                true,
                None,
                Some(20),
                json!({}),
                "InvalidParameterValue.IdleTimeOut",
            ),
            (
                true,
                None,
                None,
                json!({"ProtocolType": ""}),
                "InvalidParameterValue.ProtocolType",
            ),
            (true, None, None, json!({"ProtocolType": "WS"}), "ok"),
            (
                false,
                None,
                None,
                json!({"ProtocolType": "WS"}),
                "InvalidParameterValue.ProtocolType",
            ),
            (
                false,
                None,
                None,
                json!({"ProtocolParams": {"WSParams": {"IdleTimeOut": 10}}}),
                "InvalidParameterValue.ProtocolType",
            ),
            (
                false,
                Some("Event"),
                None,
                json!({}),
                "InvalidParameterValue.Type",
            ),
            (
                false,
                Some("HTTP"),
                None,
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 8}}),
                "ok",
            ),
        ];
        for (ws, ty, timeout, p, want) in cases {
            let got = code(update_settings(
                &web_record(*ws),
                *ty,
                *timeout,
                params(p.clone()),
            ));
            assert_eq!(&got, want, "ws={ws} {ty:?} {timeout:?} {p}");
        }
        let s = update_settings(
            &web_record(true),
            None,
            None,
            params(
                json!({"InstanceConcurrencyConfig": {"DynamicEnabled": "", "MaxConcurrency": 8}}),
            ),
        )
        .unwrap();
        assert_eq!(
            (s.websocket, s.ws_idle_timeout, s.max_concurrency),
            (true, 30, 0)
        );
    }

    fn zip_with(name: &str, mode: Option<u32>) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let mut o = zip::write::SimpleFileOptions::default();
        if let Some(m) = mode {
            o = o.unix_permissions(m);
        }
        w.start_file(name, o).unwrap();
        w.write_all(b"#!/bin/bash\n").unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn bootstrap_must_be_at_the_root_and_executable() {
        assert!(check_bootstrap(&zip_with("scf_bootstrap", Some(0o755))).is_ok());
        assert!(check_bootstrap(&zip_with("scf_bootstrap", Some(0o700))).is_ok());
        for bad in [
            zip_with("scf_bootstrap", Some(0o644)),
            zip_with("app/scf_bootstrap", Some(0o755)),
            zip_with("scf_bootstrap.sh", Some(0o755)),
        ] {
            assert_eq!(
                check_bootstrap(&bad).unwrap_err().code,
                "InvalidParameterValue.Code"
            );
        }
    }
}
