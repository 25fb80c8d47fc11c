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

use super::reply::{
    ERR_BAD_REQUEST, ERR_CONNECTION_NOT_FOUND, ERR_INTERNAL, ERR_NO_API, ERR_QUEUE_FULL, reply,
};
use super::state::Gateway;
use super::table::PushOutcome;
use crate::localcloud::model::api as apigateway;

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
pub async fn handle(gateway: &Gateway, api_id: &str, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            ERR_BAD_REQUEST,
            "the push-back endpoint accepts POST only",
        );
    }
    let limit = gateway.limits().max_push_body();
    // A declared length over the limit is refused before waiting for a byte of it.
    let declared_over =
        crate::localcloud::serve::declared_length(req.headers()).is_some_and(|n| n > limit as u64);
    let read = if declared_over {
        Err(())
    } else {
        axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(drop)
    };
    let Ok(body) = read else {
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
    // A client could not send a message this big (it is closed with 1009), so none is
    // delivered to one either.
    let max = gateway.limits().max_frame_bytes;
    let size = match &push {
        Push::Send(_, Message::Text(t)) => t.len(),
        Push::Send(_, Message::Binary(b)) => b.len(),
        _ => 0,
    };
    if size > max {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            ERR_BAD_REQUEST,
            format!("the message is {size} bytes, over the {max}-byte WebSocket message limit"),
        );
    }
    let Some(table) = gateway.existing(api_id) else {
        // Nobody ever connected to this API in this process: tell a wrong URL (404) from a
        // vanished connection (errNo 1). Only this cold path reads the store.
        let store = gateway.store().clone();
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
    use std::sync::Arc;

    use axum::http::header;
    use tokio::sync::mpsc;

    use super::*;
    use crate::localcloud::gateway::invoke::Unavailable;
    use crate::localcloud::gateway::state::{GatewayConfig, GatewayLimits};
    use crate::localcloud::gateway::table::{
        CLOSE_OVERFLOW, CloseNow, ConnHandle, Control, Outbound,
    };
    use crate::localcloud::store::Store;

    /// A gateway over a store in `dir`, running no functions.
    fn cloud(dir: &std::path::Path, outbound_queue: usize) -> Gateway {
        let config = GatewayConfig {
            limits: GatewayLimits {
                outbound_queue,
                ..GatewayLimits::default()
            },
            ..GatewayConfig::default()
        };
        Gateway::new(config, Arc::new(Unavailable), Store::open(dir).unwrap())
    }

    /// A connection published in `api`'s table without a socket: the test holds its queue.
    fn fake_conn(cloud: &Gateway, api: &str, id: &str) -> (mpsc::Receiver<Outbound>, Arc<Control>) {
        let queue = cloud.limits().outbound_queue;
        let (tx, rx) = mpsc::channel(queue);
        let control = Arc::new(Control::default());
        cloud.table(api).insert(
            id,
            ConnHandle {
                tx,
                control: control.clone(),
            },
        );
        (rx, control)
    }

    /// What the push-back endpoint at `path` (`/api-…`) answers.
    async fn send(cloud: &Gateway, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:9000")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let api_id = path.strip_prefix('/').expect("a push-back path");
        let resp = handle(cloud, api_id, req).await;
        let status = resp.status();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn text(id: &str, data: &str) -> Value {
        serde_json::json!({"websocket": {"action": "data send", "secConnectionID": id,
                                         "dataType": "text", "data": data}})
    }

    #[tokio::test]
    async fn pushes_enqueue_and_a_full_queue_closes_only_that_connection() {
        let dir = tempfile::tempdir().unwrap();
        let c = cloud(dir.path(), 2);
        let (mut slow, slow_ctl) = fake_conn(&c, "api-t", "slow");
        let (mut other, _) = fake_conn(&c, "api-t", "other");
        let ok = serde_json::json!({"errNo": 0, "errMsg": "ok"});
        for n in ["1", "2"] {
            assert_eq!(
                send(&c, Method::POST, "/api-t", text("slow", n)).await,
                (StatusCode::OK, ok.clone())
            );
        }
        let (st, v) = send(&c, Method::POST, "/api-t", text("slow", "3")).await;
        assert_eq!((st, &v["errNo"]), (StatusCode::OK, &serde_json::json!(2)));
        assert_eq!(
            slow_ctl.closed().await,
            CloseNow::Frame(CLOSE_OVERFLOW, "outbound queue full")
        );
        let (st, v) = send(&c, Method::POST, "/api-t", text("slow", "4")).await;
        assert_eq!((st, &v["errNo"]), (StatusCode::OK, &serde_json::json!(1)));
        // What was queued before the overflow is still there, in order.
        for n in ["1", "2"] {
            let Some(Outbound::Frame(Message::Text(t))) = slow.recv().await else {
                panic!()
            };
            assert_eq!(t.as_str(), n);
        }
        assert!(slow.recv().await.is_none(), "the table dropped its sender");
        // The other connection never noticed.
        assert_eq!(
            send(&c, Method::POST, "/api-t", text("other", "hi")).await,
            (StatusCode::OK, ok)
        );
        assert!(matches!(other.recv().await, Some(Outbound::Frame(_))));
        assert_eq!(c.connection_ids("api-t"), vec!["other".to_owned()]);
    }

    #[tokio::test]
    async fn closing_unpublishes_and_queues_the_close_after_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let c = cloud(dir.path(), 8);
        let (mut rx, ctl) = fake_conn(&c, "api-t", "a");
        send(&c, Method::POST, "/api-t", text("a", "bye")).await;
        let closing =
            serde_json::json!({"websocket": {"action": "closing", "secConnectionID": "a"}});
        let (st, v) = send(&c, Method::POST, "/api-t", closing.clone()).await;
        assert_eq!((st, &v["errNo"]), (StatusCode::OK, &serde_json::json!(0)));
        assert_eq!(c.connection_count("api-t"), 0);
        assert!(matches!(rx.recv().await, Some(Outbound::Frame(_))));
        assert!(matches!(rx.recv().await, Some(Outbound::Close)));
        let (st, v) = send(&c, Method::POST, "/api-t", closing).await;
        assert_eq!(
            (st, v),
            (
                StatusCode::OK,
                serde_json::json!({"errNo": 1, "errMsg": "connection not found"})
            )
        );
        // Nothing asked for an immediate close.
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), ctl.closed())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn answers_unknown_apis_bad_methods_and_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let c = cloud(dir.path(), 8);
        let (st, v) = send(&c, Method::POST, "/api-nothere", text("a", "x")).await;
        assert_eq!(
            (st, &v["errNo"]),
            (StatusCode::NOT_FOUND, &serde_json::json!(4))
        );
        let (st, v) = send(&c, Method::GET, "/api-nothere", Value::Null).await;
        assert_eq!(
            (st, &v["errNo"]),
            (StatusCode::METHOD_NOT_ALLOWED, &serde_json::json!(3))
        );
        let (st, v) = send(&c, Method::POST, "/api-t", serde_json::json!([1])).await;
        assert_eq!(
            (st, &v["errNo"]),
            (StatusCode::BAD_REQUEST, &serde_json::json!(3))
        );
    }

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
