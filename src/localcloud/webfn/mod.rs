//! The Web-function data plane: Function URLs routed to instances of their function, HTTP
//! requests and WebSocket connections alike (API-FACTS §10.2, §10.3).
//!
//! It only reads what the control plane wrote ([`crate::localcloud::model::trigger`], the
//! function records) and writes nothing but invocation logs:
//! - [`route`]: which Function URL a request is for (`Host: {appid}-{urlid}.{region}.tencentscf.com`,
//!   or the local path form `/scf/{that host}/{path}`);
//! - [`auth`]: `AuthType: CAM` URLs take only TC3-signed requests;
//! - [`instances`]: `scf_bootstrap` processes, one slot per request (`MaxConcurrency` each);
//! - [`http`] and [`ws`]: the proxy to the instance, with the platform's statuses and limits.
//!
//! Every refusal is an HTTP answer with the SCF status code as its status where SCF has one
//! (432 concurrency, 433 timeout, 405 an instance that cannot start, 439 an instance that
//! ended, 406 a request over 6 MB), and a JSON body `{"errorCode", "errorMessage",
//! "statusCode", "requestId"}`; 404 for a URL nothing answers at, 403 for a bad signature.
//! The body's shape is assumed (no live account was asked).

pub mod auth;
mod http;
pub mod instances;
pub mod options;
pub mod route;
mod ws;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;

pub use instances::{BOOTSTRAP, Instances, Refusal};
pub use options::{ConnectionCaps, WebOptions};

use crate::localcloud::account::Account;
use crate::localcloud::model::clock::now_millis;
use crate::localcloud::model::function::{self, FunctionRecord, Status};
use crate::localcloud::model::trigger::{self, AuthType, Network, TriggerRecord};
use crate::localcloud::runtime::Runtime;
use crate::localcloud::runtime::logs::LogRecord;
use crate::localcloud::store::Store;

/// The largest request or response body of an HTTP invocation (SCF's synchronous limit).
pub const MAX_HTTP_BODY: usize = 6 * 1024 * 1024;

/// The data plane's state: the records it reads, the instances it runs.
#[derive(Debug)]
pub struct WebFunctions {
    store: Store,
    account: Arc<Account>,
    runtime: Runtime,
    instances: Arc<Instances>,
    client: reqwest::Client,
}

impl WebFunctions {
    /// Nothing runs until the first request.
    pub fn new(store: Store, account: Arc<Account>, runtime: Runtime, opts: WebOptions) -> Self {
        // Plain HTTP to loopback only, but reqwest wants a TLS provider to build at all; an
        // Err means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        WebFunctions {
            instances: Instances::new(runtime.clone(), store.clone(), opts),
            store,
            account,
            runtime,
            client,
        }
    }

    /// The instances (tests look at their ids).
    pub fn instances(&self) -> &Arc<Instances> {
        &self.instances
    }

    /// Stops every instance (the local cloud is stopping).
    pub fn shutdown(&self) {
        self.instances.stop_all();
    }
}

/// The Function URL host a request is for and the path (with query) its function sees, or
/// `None` when it is not for a Function URL.
pub fn target(host: &str, path_and_query: &str) -> Option<(String, String)> {
    if let Some((h, inner)) = route::split_path(path_and_query) {
        return Some((h.to_ascii_lowercase(), inner));
    }
    route::parse_host(host)?;
    let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
    Some((name.to_ascii_lowercase(), path_and_query.to_owned()))
}

/// What one request is served with.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub trigger: TriggerRecord,
    pub function: FunctionRecord,
    /// The function's store key (its instance pool).
    pub key: String,
    /// The Function URL host name (what the instance sees as `Host`).
    pub host: String,
    /// The path and query the function sees.
    pub path: String,
    pub request_id: String,
    pub start_ms: i64,
}

/// Serves one request for Function URL host `host` (`path` = what the function sees).
pub async fn handle(
    wf: &Arc<WebFunctions>,
    host: String,
    path: String,
    req: Request<Body>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let start_ms = now_millis();
    let (trigger, function) = match resolve(wf, &host, start_ms) {
        Ok(found) => found,
        Err((status, why)) => return error(status, &why, &request_id),
    };
    let key = function::key(&function.region, &function.namespace, &function.name);
    let inv = Invocation {
        trigger,
        function,
        key,
        host,
        path,
        request_id,
        start_ms,
    };
    let (mut parts, body) = req.into_parts();
    if is_upgrade(&parts.headers) {
        if !inv.function.is_websocket() {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "function {} does not have WebSocket on (ProtocolType WS): its URL takes \
                     plain HTTP requests only",
                    inv.function.name
                ),
                &inv.request_id,
            );
        }
        if let Err(why) = check_cam(wf, &inv, &parts, b"") {
            return error(StatusCode::FORBIDDEN, &why, &inv.request_id);
        }
        return ws::serve(wf.clone(), inv, &mut parts).await;
    }
    let declared_over = crate::localcloud::serve::declared_length(&parts.headers)
        .is_some_and(|n| n > MAX_HTTP_BODY as u64);
    let body = if declared_over {
        Err(())
    } else {
        axum::body::to_bytes(body, MAX_HTTP_BODY)
            .await
            .map_err(drop)
    };
    let Ok(body) = body else {
        return error(
            StatusCode::from_u16(406).expect("valid"),
            &format!("RequestTooLarge: the request body is over {MAX_HTTP_BODY} bytes"),
            &inv.request_id,
        );
    };
    if let Err(why) = check_cam(wf, &inv, &parts, &body) {
        return error(StatusCode::FORBIDDEN, &why, &inv.request_id);
    }
    http::serve(wf, inv, parts, body).await
}

/// The trigger and function behind a Function URL host, or the answer for a URL that nothing
/// serves.
fn resolve(
    wf: &WebFunctions,
    host: &str,
    now_ms: i64,
) -> Result<(TriggerRecord, FunctionRecord), (StatusCode, String)> {
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            format!("no Function URL of this account is {host}"),
        )
    };
    let store_error = |e: crate::localcloud::store::StoreError| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the local cloud's store: {e}"),
        )
    };
    let (appid, url_id, network) = route::parse_host(host).ok_or_else(not_found)?;
    if appid != wf.account.appid {
        return Err(not_found());
    }
    let t = trigger::by_url(&wf.store, &url_id)
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    if trigger::host_name(appid, &t.url_id, &t.region, network) != host {
        return Err(not_found());
    }
    let on = match network {
        Network::Extranet => t.enable_extranet,
        Network::Intranet => t.enable_intranet,
    };
    if !on {
        return Err(not_found());
    }
    if !t.enabled {
        return Err((
            StatusCode::FORBIDDEN,
            format!("the Function URL {host} is disabled (its trigger's Enable is CLOSE)"),
        ));
    }
    let f = function::lookup(&wf.store, &t.region, &t.namespace, &t.function, now_ms)
        .map_err(store_error)?
        .filter(|f| f.status != Status::Deleting)
        .ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("FunctionNotFound: function {} is gone", t.function),
            )
        })?;
    Ok((t, f))
}

fn check_cam(
    wf: &WebFunctions,
    inv: &Invocation,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<(), String> {
    if inv.trigger.auth != AuthType::Cam {
        return Ok(());
    }
    let signed = auth::Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body,
    };
    auth::verify(&wf.account, &signed, now_millis() / 1000).map_err(|e| e.to_string())
}

/// Whether the request asks for a WebSocket.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// An error answer: `status`, and the JSON body every refusal of the data plane has.
pub(crate) fn error(status: StatusCode, why: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "errorCode": status.as_u16(),
        "errorMessage": why,
        "statusCode": status.as_u16(),
        "requestId": request_id,
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-scf-request-id", request_id)
        .body(Body::from(body.to_string()))
        .expect("static headers are valid")
}

/// SCF's status of an invocation as a `StatusCode` (433, 439, … are not IANA codes).
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Records one invocation for `GetFunctionLogs`: `status` is SCF's (200 = success, recorded as
/// `RetCode` 0), `what` a line saying how it ended, `output` what the instance printed.
pub(crate) async fn record(
    wf: &WebFunctions,
    inv: &Invocation,
    status: u16,
    what: &str,
    output: &str,
) {
    let end = now_millis();
    let duration_ms = (end - inv.start_ms).max(0) as f64;
    let id = &inv.request_id;
    let mut log = format!("START RequestId: {id}\n");
    if !output.is_empty() {
        log.push_str(output);
        if !output.ends_with('\n') {
            log.push('\n');
        }
    }
    log.push_str(what);
    log.push('\n');
    log.push_str(&format!(
        "\nEND RequestId: {id}\nReport RequestId: {id} Duration:{duration_ms:.2}ms Memory:{}MB \
         MemUsage:0.000000MB",
        inv.function.memory_size
    ));
    let rec = LogRecord {
        region: inv.function.region.clone(),
        namespace: inv.function.namespace.clone(),
        function_name: inv.function.name.clone(),
        request_id: id.clone(),
        start_ms: inv.start_ms,
        duration_ms,
        billed_ms: duration_ms.ceil() as u64,
        mem_usage: 0,
        ret_code: if status == 200 { 0 } else { i64::from(status) },
        ret_msg: serde_json::json!({"statusCode": status, "message": what}).to_string(),
        log,
        invocation_type: "RequestResponse".into(),
    };
    wf.runtime.record_log(rec).await;
}

/// The refusal of a lease as an answer (and its SCF status).
pub(crate) fn refusal_status(r: &Refusal) -> (u16, String) {
    match r {
        Refusal::Concurrency(why) => (432, format!("ResourceLimitReached: {why}")),
        Refusal::StartFailed(why) => (405, format!("ContainerStateExited: {why}")),
    }
}
