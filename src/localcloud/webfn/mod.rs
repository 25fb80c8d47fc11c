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
mod plane;
pub mod route;
mod ws;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::Response;

pub use instances::{BOOTSTRAP, Instances, Refusal};
pub use options::{ConnectionCaps, WebOptions};
pub use plane::{MAX_HTTP_BODY, WebFunctions};

use plane::{Invocation, error};

use crate::localcloud::model::clock::now_millis;
use crate::localcloud::model::function::{self, FunctionRecord, Status};
use crate::localcloud::model::trigger::{self, AuthType, Network, TriggerRecord};

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
