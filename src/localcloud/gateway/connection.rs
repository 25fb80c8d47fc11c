//! The data plane: WebSocket handshakes on released APIs and the life of each connection.
//!
//! A handshake is checked (route, method, upgrade headers, connection limit), then the
//! register function runs *before* we answer: only a JSON object with `errNo == 0` completes
//! the upgrade (its `websocket.secWebSocketProtocol` becomes the negotiated subprotocol);
//! anything else is answered with a plain HTTP error (table in [`super`]) and no upgrade.
//!
//! An accepted connection is published in the API's table before the `101` goes out (so a
//! push right after register succeeds), and then lives in one task running two futures:
//! the socket loop (reads client frames into an ordered queue, writes queued pushes, watches
//! the close control and the idle timer) and the transport loop (drains that queue, one
//! transport invocation at a time, so frames reach the function in order). When the socket
//! loop ends the id leaves the table; when the transport loop has drained, cleanup runs. A
//! `Lifecycle` guard makes "unpublish, then cleanup, exactly once" hold on every path,
//! including a handshake whose upgrade never completes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::invoke::{FailureKind, FunctionTarget, InvokeResult};
use super::open;
use super::reply::{ERR_BACKEND, ERR_BAD_REQUEST, ERR_INTERNAL, ERR_LIMIT, ERR_NO_API, reply};
use super::state::{Gateway, GatewayLimits};
use super::table::{
    ApiConnections, CLOSE_IDLE, CLOSE_INVALID_DATA, CLOSE_PROTOCOL, CLOSE_TOO_BIG, CloseNow,
    ConnHandle, Control, Outbound,
};
use crate::localcloud::model::api::{
    self as apigateway, ApiRecord, FunctionBinding, ServiceRecord,
};

/// `/service-xxxxxxxx/{env}{path}` split into its parts; an empty path is `/`.
fn split_url(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix('/')?;
    let (service, rest) = rest.split_once('/')?;
    let (env, api_path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (service.starts_with("service-") && !env.is_empty()).then_some((service, env, api_path))
}

/// A fresh `secConnectionID`: 16 random bytes in base64, 24 characters ending in `==`, like
/// the ids the cloud hands out (API-FACTS §4.1).
pub fn mint_connection_id() -> String {
    BASE64.encode(rand::random::<[u8; 16]>())
}

fn target(api: &ApiRecord, b: &FunctionBinding) -> FunctionTarget {
    FunctionTarget {
        region: api.region.clone(),
        namespace: b.namespace.clone(),
        name: b.name.clone(),
        qualifier: b.qualifier.clone(),
    }
}

/// Comma-joined values of a header the client may repeat.
fn joined(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The register event (API-FACTS §4.1).
fn connecting_event(
    service: &ServiceRecord,
    api: &ApiRecord,
    env: &str,
    id: &str,
    source_ip: &str,
    headers: &HeaderMap,
) -> Value {
    let mut websocket = Map::new();
    websocket.insert("action".into(), json!("connecting"));
    websocket.insert("secConnectionID".into(), json!(id));
    if let Some(p) = joined(headers, header::SEC_WEBSOCKET_PROTOCOL) {
        websocket.insert("secWebSocketProtocol".into(), json!(p));
    }
    if let Some(e) = joined(headers, header::SEC_WEBSOCKET_EXTENSIONS) {
        websocket.insert("secWebSocketExtensions".into(), json!(e));
    }
    json!({
        "requestContext": {
            "serviceName": service.name,
            "path": api.path,
            "httpMethod": "GET",
            "requestId": uuid::Uuid::new_v4().to_string(),
            "identity": {},
            "sourceIp": source_ip,
            "stage": env,
            "websocketEnable": true,
        },
        "websocket": websocket,
    })
}

/// What the register function decided.
#[derive(Debug)]
enum Registered {
    /// Complete the handshake, with this subprotocol if any.
    Accept(Option<HeaderValue>),
    /// Answer this instead of upgrading.
    Refuse(Response),
}

/// Reads the register function's outcome (`Err` = the API's `ServiceTimeout` passed first).
fn registered(outcome: Result<InvokeResult, tokio::time::error::Elapsed>) -> Registered {
    let refuse = |status, msg: String| Registered::Refuse(reply(status, ERR_BACKEND, msg));
    let value = match outcome {
        Err(_) => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                "register function timed out (ServiceTimeout)".into(),
            );
        }
        Ok(Err(f)) if f.kind == FailureKind::Timeout => {
            return refuse(
                StatusCode::GATEWAY_TIMEOUT,
                format!("register function: {f}"),
            );
        }
        Ok(Err(f)) => return refuse(StatusCode::BAD_GATEWAY, format!("register function: {f}")),
        Ok(Ok(v)) => v,
    };
    let Value::Object(reply_obj) = value else {
        return refuse(
            StatusCode::BAD_GATEWAY,
            "register function reply is not a JSON object".into(),
        );
    };
    let Some(err_no) = reply_obj.get("errNo").and_then(Value::as_i64) else {
        return refuse(
            StatusCode::BAD_GATEWAY,
            "register function reply has no integer errNo".into(),
        );
    };
    if err_no != 0 {
        let msg = reply_obj
            .get("errMsg")
            .and_then(Value::as_str)
            .unwrap_or("refused by the register function");
        return Registered::Refuse(reply(StatusCode::FORBIDDEN, err_no, msg));
    }
    let protocol = reply_obj
        .get("websocket")
        .and_then(|w| w.get("secWebSocketProtocol"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty());
    match protocol.map(HeaderValue::from_str) {
        None => Registered::Accept(None),
        Some(Ok(p)) => Registered::Accept(Some(p)),
        Some(Err(_)) => refuse(
            StatusCode::BAD_GATEWAY,
            "register function chose an invalid secWebSocketProtocol".into(),
        ),
    }
}

/// Handles a request on `/service-…`: a WebSocket handshake for a released API.
pub async fn handle(gateway: &Arc<Gateway>, req: Request<Body>) -> Response {
    let (mut parts, _body) = req.into_parts();
    let url_path = parts.uri.path().to_owned();
    let Some((service_id, env, api_path)) = split_url(&url_path) else {
        return reply(
            StatusCode::NOT_FOUND,
            ERR_NO_API,
            format!("no released WebSocket API at {url_path}"),
        );
    };
    let (store, sid, e, p) = (
        gateway.store().clone(),
        service_id.to_owned(),
        env.to_owned(),
        api_path.to_owned(),
    );
    let found =
        tokio::task::spawn_blocking(move || apigateway::released_api(&store, &sid, &e, &p)).await;
    let (service, api) = match found {
        Ok(Ok(Some((s, a)))) if a.protocol == "WEBSOCKET" && a.service_type == "SCF" => (s, a),
        Ok(Ok(_)) => {
            return reply(
                StatusCode::NOT_FOUND,
                ERR_NO_API,
                format!("no released WebSocket API at {url_path}"),
            );
        }
        Ok(Err(err)) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                ERR_INTERNAL,
                err.to_string(),
            );
        }
        Err(err) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                ERR_INTERNAL,
                err.to_string(),
            );
        }
    };
    if parts.method != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            ERR_BAD_REQUEST,
            "a WebSocket API accepts only GET with an upgrade",
        );
    }
    let wants_ws = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_ws {
        let mut resp = reply(
            StatusCode::UPGRADE_REQUIRED,
            ERR_BAD_REQUEST,
            "this is a WebSocket API: connect with a WebSocket client",
        );
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return resp;
    }
    // RFC 6455 §4.2.1: the key is a base64-encoded 16-byte nonce; anything else is refused
    // (axum only checks that the header is there).
    let key_ok = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| BASE64.decode(k.as_bytes()).ok())
        .is_some_and(|k| k.len() == 16);
    if !key_ok {
        return reply(
            StatusCode::BAD_REQUEST,
            ERR_BAD_REQUEST,
            "Sec-WebSocket-Key must be 16 random bytes in base64 (RFC 6455 §4.2.1)",
        );
    }
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return reply(rejection.status(), ERR_BAD_REQUEST, rejection.body_text()),
    };

    if gateway.is_shutting_down() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            ERR_INTERNAL,
            "the local cloud is shutting down",
        );
    }
    let limits = gateway.limits().clone();
    let table = gateway.table(&api.api_id);
    if !table.try_admit(limits.max_connections_per_api) {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            ERR_LIMIT,
            format!(
                "the API has {} connections, the most it accepts",
                limits.max_connections_per_api
            ),
        );
    }
    let id = mint_connection_id();
    let backend_timeout = Duration::from_secs(u64::from(api.service_timeout.max(1)));
    // From here on the admission is the guard's: every early return releases it.
    let mut life = Lifecycle {
        gateway: gateway.clone(),
        table: table.clone(),
        id: id.clone(),
        cleanup: api.cleanup.as_ref().map(|b| target(&api, b)),
        backend_timeout,
        admitted: true,
        registered: false,
        persisted: false,
    };

    let mut chosen = None;
    if let Some(register) = &api.register {
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
        let event = connecting_event(&service, &api, env, &id, &source_ip, &parts.headers);
        let call = gateway.invoker().invoke(target(&api, register), event);
        match registered(timeout(backend_timeout, call).await) {
            Registered::Accept(p) => chosen = p,
            Registered::Refuse(resp) => {
                tracing::debug!(api = api.api_id, "WebSocket handshake refused");
                return resp;
            }
        }
    }

    // Cleanup is owed from here on: record it durably, so that a crash (or a stop that runs
    // out of time) still gets it run at the next start.
    if let Some(cleanup) = &life.cleanup {
        let record = open::OpenRecord::new(&api.api_id, cleanup, backend_timeout.as_secs());
        let (store, key) = (gateway.store().clone(), id.clone());
        match tokio::task::spawn_blocking(move || open::admit(&store, &key, &record)).await {
            Ok(Ok(())) => life.persisted = true,
            Ok(Err(e)) => tracing::warn!("local cloud store: {e}"),
            Err(e) => tracing::warn!("local cloud store: {e}"),
        }
    }
    let (tx, rx) = mpsc::channel(limits.outbound_queue.max(1));
    let control = Arc::new(Control::default());
    table.insert(
        &id,
        ConnHandle {
            tx,
            control: control.clone(),
        },
    );
    life.registered = true;
    tracing::debug!(api = api.api_id, conn = id, "WebSocket connected");

    let idle = limits.idle_timeout.unwrap_or(backend_timeout);
    let session = Session {
        transport: api.transport.as_ref().map(|b| target(&api, b)),
        outbound: rx,
        control,
        life,
        idle,
        limits: limits.clone(),
    };
    let mut ws = ws
        .read_buffer_size(limits.read_buffer_bytes)
        .max_frame_size(limits.max_frame_bytes)
        .max_message_size(limits.max_frame_bytes);
    if let Some(p) = chosen {
        ws.set_selected_protocol(p);
    }
    ws.on_upgrade(move |socket| session.run(socket))
}

/// Unpublishes the connection and runs cleanup, exactly once, whichever way it ends.
struct Lifecycle {
    gateway: Arc<Gateway>,
    table: Arc<ApiConnections>,
    id: String,
    cleanup: Option<FunctionTarget>,
    backend_timeout: Duration,
    /// Holds an admission slot not yet given back.
    admitted: bool,
    /// Register accepted: cleanup is owed.
    registered: bool,
    /// The connection is recorded in the store as open (see [`super::open`]).
    persisted: bool,
}

/// The cleanup function's event (API-FACTS §4.3).
pub(super) fn closing_event(id: &str) -> Value {
    json!({ "websocket": { "action": "closing", "secConnectionID": id } })
}

impl Lifecycle {
    /// Takes the id out of the table: pushes now answer "connection not found".
    fn unpublish(&self) {
        self.table.remove(&self.id);
    }

    /// The cleanup invocation (bounded by the gateway's cleanup concurrency and the API's
    /// `ServiceTimeout`), then forgetting the persisted record.
    fn cleanup_call(&mut self) -> Option<impl Future<Output = ()> + Send + 'static> {
        let target = self.cleanup.clone()?;
        let call = self
            .gateway
            .invoker()
            .invoke(target, closing_event(&self.id));
        let (limit, id, gateway) = (self.backend_timeout, self.id.clone(), self.gateway.clone());
        let persisted = std::mem::take(&mut self.persisted);
        Some(async move {
            gateway
                .bounded_cleanup(async {
                    match timeout(limit, call).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(f)) => tracing::warn!(conn = id, "cleanup function failed: {f}"),
                        Err(_) => tracing::warn!(conn = id, "cleanup function timed out"),
                    }
                })
                .await;
            if persisted {
                let store = gateway.store().clone();
                let done = tokio::task::spawn_blocking(move || open::done(&store, &id));
                if let Ok(Err(e)) = done.await {
                    tracing::warn!("local cloud store: {e}");
                }
            }
        })
    }

    /// The normal end: unpublish, run cleanup and wait for it, give back the slot (so
    /// [`super::Gateway::shutdown`] can wait for cleanups).
    async fn finish(mut self) {
        self.unpublish();
        if std::mem::take(&mut self.registered)
            && let Some(call) = self.cleanup_call()
        {
            call.await;
        }
        self.release();
        tracing::debug!(conn = self.id, "WebSocket closed");
    }

    fn release(&mut self) {
        if std::mem::take(&mut self.admitted) {
            self.table.release();
        }
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        // Only reached without `finish`: a refused handshake (nothing owed), an upgrade that
        // never completed, or a connection task dropped mid-way.
        self.release();
        if std::mem::take(&mut self.registered) {
            self.unpublish();
            if let (Some(call), Ok(rt)) =
                (self.cleanup_call(), tokio::runtime::Handle::try_current())
            {
                rt.spawn(call);
            }
        }
    }
}

/// One accepted connection, waiting for its socket.
struct Session {
    transport: Option<FunctionTarget>,
    outbound: mpsc::Receiver<Outbound>,
    control: Arc<Control>,
    life: Lifecycle,
    idle: Duration,
    limits: GatewayLimits,
}

/// Why the socket loop stopped.
#[derive(Debug)]
enum End {
    /// Close as told.
    Now(CloseNow),
    /// The client sent a close frame: finish the handshake.
    ClientClosed,
    /// The socket is gone (EOF, reset, write failure).
    Gone,
}

impl Session {
    async fn run(self, socket: WebSocket) {
        let Session {
            transport,
            outbound,
            control,
            life,
            idle,
            limits,
        } = self;
        let (in_tx, in_rx) = mpsc::channel(limits.inbound_queue.max(1));
        let sockets = async {
            socket_loop(socket, outbound, in_tx, &control, idle, limits.close_grace).await;
            life.unpublish();
        };
        let transports = transport_loop(&life, transport, in_rx, &control);
        tokio::join!(sockets, transports);
        life.finish().await;
    }
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// The close a read error calls for, by tungstenite's (stable) wording, as axum does not
/// re-export its error type: an oversize message → 1009, a text message that is not UTF-8 →
/// 1007, a protocol violation → 1002 (RFC 6455 §7.4.1); `None` when the socket is simply gone.
fn close_for(err: &axum::Error) -> Option<CloseNow> {
    let text = err.to_string();
    if text.contains("Space limit exceeded") || text.contains("too long") {
        Some(CloseNow::Frame(CLOSE_TOO_BIG, "message too big"))
    } else if text.contains("UTF-8") {
        Some(CloseNow::Frame(
            CLOSE_INVALID_DATA,
            "text message is not UTF-8",
        ))
    } else if text.contains("protocol error") && !text.contains("without closing handshake") {
        Some(CloseNow::Frame(CLOSE_PROTOCOL, "protocol error"))
    } else {
        None
    }
}

async fn socket_loop(
    mut socket: WebSocket,
    mut outbound: mpsc::Receiver<Outbound>,
    inbound: mpsc::Sender<Message>,
    control: &Control,
    idle: Duration,
    grace: Duration,
) {
    let idle_timer = tokio::time::sleep(idle);
    tokio::pin!(idle_timer);
    // A reserved place in the inbound queue: we read the socket only when we can queue what
    // we read, so a slow transport function back-pressures the client instead of growing
    // memory.
    let mut permit = None;
    let end = loop {
        // A close request wins over anything else ready; among the rest `select!` picks at
        // random, so a flood of pushes cannot starve reading the client, nor the reverse.
        if let Some(how) = control.requested() {
            break End::Now(how);
        }
        tokio::select! {
            how = control.closed() => break End::Now(how),
            out = outbound.recv() => match out {
                Some(Outbound::Frame(msg)) => {
                    idle_timer.as_mut().reset(Instant::now() + idle);
                    let sent = tokio::select! {
                        biased;
                        how = control.closed() => Err(Some(how)),
                        r = socket.send(msg) => r.map_err(|_| None),
                    };
                    match sent {
                        Ok(()) => {}
                        Err(Some(how)) => break End::Now(how),
                        Err(None) => break End::Gone,
                    }
                }
                Some(Outbound::Close) | None => {
                    break End::Now(CloseNow::Frame(super::table::CLOSE_NORMAL, ""));
                }
            },
            p = inbound.reserve(), if permit.is_none() => match p {
                Ok(p) => permit = Some(p),
                // The transport loop stopped (a failed invocation): it has asked to close.
                Err(_) => break End::Now(CloseNow::Fin),
            },
            frame = socket.recv(), if permit.is_some() => match frame {
                None => break End::Gone,
                Some(Err(e)) => match close_for(&e) {
                    Some(how) => break End::Now(how),
                    None => break End::Gone,
                },
                Some(Ok(msg)) => {
                    idle_timer.as_mut().reset(Instant::now() + idle);
                    match msg {
                        Message::Text(_) | Message::Binary(_) => {
                            if let Some(p) = permit.take() {
                                p.send(msg);
                            }
                        }
                        // tungstenite answers pings itself; both count as activity.
                        Message::Ping(_) | Message::Pong(_) => {}
                        Message::Close(_) => break End::ClientClosed,
                    }
                }
            },
            () = &mut idle_timer => break End::Now(CloseNow::Frame(CLOSE_IDLE, "idle timeout")),
        }
    };
    drop(permit);
    match end {
        End::Now(CloseNow::Frame(code, reason)) => {
            // Send our close, then read until the client's close (or the grace runs out) so
            // the client sees the frame before the TCP connection goes.
            let _ = timeout(grace, async {
                if socket.send(close_frame(code, reason)).await.is_ok() {
                    while let Some(Ok(_)) = socket.recv().await {}
                }
            })
            .await;
        }
        End::ClientClosed => {
            // tungstenite queued the close reply; flush it.
            let _ = timeout(grace, futures_util::SinkExt::close(&mut socket)).await;
        }
        End::Now(CloseNow::Fin) | End::Gone => {}
    }
}

async fn transport_loop(
    life: &Lifecycle,
    transport: Option<FunctionTarget>,
    mut inbound: mpsc::Receiver<Message>,
    control: &Control,
) {
    let invoker = life.gateway.invoker().clone();
    while let Some(msg) = inbound.recv().await {
        let Some(target) = &transport else { continue };
        let (data_type, data) = match msg {
            Message::Text(t) => ("text", Value::String(t.as_str().to_owned())),
            Message::Binary(b) => ("binary", Value::String(BASE64.encode(&b))),
            _ => continue,
        };
        let event = json!({ "websocket": {
            "action": "data send",
            "secConnectionID": life.id,
            "dataType": data_type,
            "data": data,
        }});
        let call = invoker.invoke(target.clone(), event);
        let failure = match timeout(life.backend_timeout, call).await {
            Ok(Ok(_)) => continue,
            Ok(Err(f)) => f.to_string(),
            Err(_) => "timed out (ServiceTimeout)".to_owned(),
        };
        tracing::warn!(
            conn = life.id,
            "transport function failed, closing: {failure}"
        );
        control.close_now(CloseNow::Fin);
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_service_environment_and_path() {
        for (url, want) in [
            (
                "/service-abc/release/ws",
                Some(("service-abc", "release", "/ws")),
            ),
            (
                "/service-abc/test/a/b",
                Some(("service-abc", "test", "/a/b")),
            ),
            (
                "/service-abc/release/",
                Some(("service-abc", "release", "/")),
            ),
            (
                "/service-abc/release",
                Some(("service-abc", "release", "/")),
            ),
            ("/service-abc", None),
            ("/service-abc/", None),
            ("/other/release/ws", None),
        ] {
            assert_eq!(split_url(url), want, "{url}");
        }
    }

    #[test]
    fn connection_ids_look_like_the_clouds() {
        let id = mint_connection_id();
        assert_eq!(id.len(), 24);
        assert!(id.ends_with("=="));
        assert_ne!(id, mint_connection_id());
    }

    fn status(r: Registered) -> (StatusCode, Option<HeaderValue>) {
        match r {
            Registered::Accept(p) => (StatusCode::SWITCHING_PROTOCOLS, p),
            Registered::Refuse(resp) => (resp.status(), None),
        }
    }

    #[tokio::test]
    async fn register_replies_decide_the_handshake() {
        use super::super::invoke::{FailureKind, InvokeFailure};
        let ok = |v: Value| status(registered(Ok(Ok(v))));
        assert_eq!(
            ok(json!({"errNo": 0, "errMsg": "ok"})),
            (StatusCode::SWITCHING_PROTOCOLS, None)
        );
        assert_eq!(
            ok(json!({"errNo": 0, "errMsg": "ok", "websocket": {"secWebSocketProtocol": "chat"}})),
            (
                StatusCode::SWITCHING_PROTOCOLS,
                Some(HeaderValue::from_static("chat"))
            )
        );
        assert_eq!(
            ok(json!({"errNo": 101, "errMsg": "no"})).0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(ok(json!({"errMsg": "ok"})).0, StatusCode::BAD_GATEWAY);
        assert_eq!(ok(json!({"errNo": "0"})).0, StatusCode::BAD_GATEWAY);
        assert_eq!(ok(json!("{\"errNo\":0}")).0, StatusCode::BAD_GATEWAY);
        assert_eq!(ok(Value::Null).0, StatusCode::BAD_GATEWAY);
        let failed = |kind| status(registered(Ok(Err(InvokeFailure::new(kind, "x"))))).0;
        assert_eq!(failed(FailureKind::Crash), StatusCode::BAD_GATEWAY);
        assert_eq!(failed(FailureKind::NotActive), StatusCode::BAD_GATEWAY);
        assert_eq!(failed(FailureKind::Timeout), StatusCode::GATEWAY_TIMEOUT);
        let elapsed = timeout(Duration::ZERO, std::future::pending::<InvokeResult>()).await;
        assert_eq!(status(registered(elapsed)).0, StatusCode::GATEWAY_TIMEOUT);
    }

    #[test]
    fn refusals_carry_the_functions_errno() {
        let Registered::Refuse(resp) = registered(Ok(Ok(json!({"errNo": 101, "errMsg": "bad"}))))
        else {
            panic!("accepted");
        };
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}
