//! The push-back endpoint, `POST /api-xxxxxxxx` (the API's `InternalDomain`, API-FACTS §4.4).
//!
//! `{"websocket":{"action":"data send","secConnectionID":…,"dataType":"text"|"binary","data":…}}`
//! queues a text frame (or the binary frame `data` decodes to, from base64) for that
//! connection; `{"websocket":{"action":"closing","secConnectionID":…}}` closes it (after the
//! frames already queued). No authentication, as in the cloud. Replies never wait for a socket
//! write: a push only enqueues. Replies and status codes: table in [`super`]. A missing
//! `dataType` is taken as `text`.

use axum::body::Body;
use axum::extract::ws::Message;
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;

use super::table::PushOutcome;
use super::{
    ERR_BAD_REQUEST, ERR_CONNECTION_NOT_FOUND, ERR_INTERNAL, ERR_NO_API, ERR_QUEUE_FULL, reply,
};
use crate::localcloud::LocalCloud;
use crate::localcloud::api3::apigateway;

#[derive(Debug, Deserialize)]
struct PushBody {
    websocket: PushWebsocket,
}

#[derive(Debug, Deserialize)]
struct PushWebsocket {
    action: String,
    #[serde(rename = "secConnectionID")]
    sec_connection_id: String,
    #[serde(rename = "dataType")]
    data_type: Option<String>,
    data: Option<Value>,
}

/// A validated push.
#[derive(Debug)]
enum Push {
    Send(String, Message),
    Close(String),
}

fn parse(body: &[u8]) -> Result<Push, String> {
    let body: PushBody =
        serde_json::from_slice(body).map_err(|e| format!("malformed push body: {e}"))?;
    let ws = body.websocket;
    match ws.action.as_str() {
        "data send" => {
            let data = match ws.data {
                Some(Value::String(s)) => s,
                Some(_) => return Err("websocket.data must be a string".into()),
                None => return Err("websocket.data is missing".into()),
            };
            let msg = match ws.data_type.as_deref().unwrap_or("text") {
                "text" => Message::Text(data.into()),
                "binary" => Message::Binary(
                    BASE64
                        .decode(data.as_bytes())
                        .map_err(|e| format!("websocket.data is not valid base64: {e}"))?
                        .into(),
                ),
                other => {
                    return Err(format!(
                        "websocket.dataType `{other}` must be `text` or `binary`"
                    ));
                }
            };
            Ok(Push::Send(ws.sec_connection_id, msg))
        }
        "closing" => Ok(Push::Close(ws.sec_connection_id)),
        other => Err(format!(
            "websocket.action `{other}` must be `data send` or `closing`"
        )),
    }
}

fn not_found() -> Response {
    reply(
        StatusCode::OK,
        ERR_CONNECTION_NOT_FOUND,
        "connection not found",
    )
}

/// Handles a request on `/api-xxxxxxxx`.
pub async fn handle(cloud: &LocalCloud, api_id: &str, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            ERR_BAD_REQUEST,
            "the push-back endpoint accepts POST only",
        );
    }
    let gateway = cloud.gateway();
    let limit = gateway.limits().max_push_body();
    let Ok(body) = axum::body::to_bytes(req.into_body(), limit).await else {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            ERR_BAD_REQUEST,
            format!("push body unreadable or larger than {limit} bytes"),
        );
    };
    let push = match parse(&body) {
        Ok(p) => p,
        Err(msg) => return reply(StatusCode::BAD_REQUEST, ERR_BAD_REQUEST, msg),
    };
    let Some(table) = gateway.existing(api_id) else {
        // Nobody ever connected to this API in this process: tell a wrong URL (404) from a
        // vanished connection (errNo 1). Only this cold path reads the store.
        let store = cloud.store().clone();
        let id = api_id.to_owned();
        return match tokio::task::spawn_blocking(move || apigateway::find_api(&store, &id)).await {
            Ok(Ok(Some(_))) => not_found(),
            Ok(Ok(None)) => reply(
                StatusCode::NOT_FOUND,
                ERR_NO_API,
                format!("no API {api_id}"),
            ),
            Ok(Err(e)) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                ERR_INTERNAL,
                e.to_string(),
            ),
            Err(e) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                ERR_INTERNAL,
                e.to_string(),
            ),
        };
    };
    let ok = || reply(StatusCode::OK, 0, "ok");
    match push {
        Push::Send(id, msg) => match table.push(&id, msg) {
            PushOutcome::Queued => ok(),
            PushOutcome::NotFound => not_found(),
            PushOutcome::Overflow => reply(
                StatusCode::OK,
                ERR_QUEUE_FULL,
                "connection outbound queue full; the connection was closed",
            ),
        },
        Push::Close(id) => {
            if table.close(&id) {
                ok()
            } else {
                not_found()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_bodies_parse_or_say_why_not() {
        let ok = |s: &str| parse(s.as_bytes()).unwrap();
        assert!(matches!(
            ok(r#"{"websocket":{"action":"data send","secConnectionID":"a","dataType":"text","data":"hi"}}"#),
            Push::Send(id, Message::Text(t)) if id == "a" && t.as_str() == "hi"
        ));
        assert!(matches!(
            ok(r#"{"websocket":{"action":"data send","secConnectionID":"a","data":"hi"}}"#),
            Push::Send(_, Message::Text(_))
        ));
        assert!(matches!(
            ok(r#"{"websocket":{"action":"data send","secConnectionID":"a","dataType":"binary","data":"AAEC"}}"#),
            Push::Send(_, Message::Binary(b)) if b.as_ref() == [0, 1, 2]
        ));
        assert!(matches!(
            ok(r#"{"websocket":{"action":"closing","secConnectionID":"a"}}"#),
            Push::Close(id) if id == "a"
        ));
        for (body, why) in [
            ("not json", "malformed"),
            (
                r#"{"websocket":{"action":"data send","data":"x"}}"#,
                "secConnectionID",
            ),
            (
                r#"{"websocket":{"action":"data send","secConnectionID":"a"}}"#,
                "missing",
            ),
            (
                r#"{"websocket":{"action":"data send","secConnectionID":"a","data":1}}"#,
                "string",
            ),
            (
                r#"{"websocket":{"action":"data send","secConnectionID":"a","dataType":"binary","data":"!!"}}"#,
                "base64",
            ),
            (
                r#"{"websocket":{"action":"data send","secConnectionID":"a","dataType":"xml","data":""}}"#,
                "dataType",
            ),
            (
                r#"{"websocket":{"action":"data recv","secConnectionID":"a"}}"#,
                "action",
            ),
        ] {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
