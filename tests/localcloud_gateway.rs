//! The local cloud's WebSocket gateway (DESIGN §7, API-FACTS §4): handshakes through the
//! register function, frames to transport, push-back, closes and cleanup, limits. The stack
//! is created through the official Python SDK (`tests/python/gateway_setup.py`); functions
//! run in a fake invoker that records every event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chatstack::localcloud::gateway::{
    FailureKind, GatewayConfig, GatewayLimits, InvokeFailure, InvokeResult, from_fn,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{Cloud, run_python};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One recorded invocation: the function's name and its event.
#[derive(Debug, Clone)]
struct Call {
    function: String,
    event: Value,
}

impl Call {
    fn action(&self) -> &str {
        self.event["websocket"]["action"]
            .as_str()
            .unwrap_or_default()
    }
    fn conn(&self) -> &str {
        self.event["websocket"]["secConnectionID"]
            .as_str()
            .unwrap_or_default()
    }
}

/// A running local cloud with the stack set up, and the fake invoker's call log.
struct Stack {
    cloud: Cloud,
    ws_url: String,
    push_url: String,
    api_id: String,
    calls: mpsc::UnboundedReceiver<Call>,
    http: reqwest::Client,
}

/// Starts a local cloud whose functions answer with `behave(function, event)`, and creates
/// the stack in it.
fn stack_with(
    limits: GatewayLimits,
    service_timeout: u32,
    behave: impl Fn(&str, &Value) -> InvokeResult + Send + Sync + 'static,
) -> Stack {
    let (tx, calls) = mpsc::unbounded_channel();
    let invoker = from_fn(move |target, event| {
        let result = behave(&target.name, &event);
        let _ = tx.send(Call {
            function: target.name,
            event,
        });
        async move { result }
    });
    let cloud = Cloud::start_with_gateway(GatewayConfig {
        invoker: Some(invoker),
        limits,
    });
    let out = run_python(&cloud, "gateway_setup.py", &[&service_timeout.to_string()]);
    let ids: Value = serde_json::from_slice(&out.stdout).expect("setup prints JSON");
    let outer = ids["outer"].as_str().unwrap();
    Stack {
        ws_url: format!("ws://{outer}/release/ws"),
        push_url: ids["internal"].as_str().unwrap().to_owned(),
        api_id: ids["aid"].as_str().unwrap().to_owned(),
        cloud,
        calls,
        http: chatstack::providers::tencent::http::client().unwrap(),
    }
}

/// Register accepts, transport and cleanup succeed.
fn accepting(function: &str, _event: &Value) -> InvokeResult {
    Ok(if function == "gw-register" {
        json!({"errNo": 0, "errMsg": "ok"})
    } else {
        json!("ok")
    })
}

fn stack() -> Stack {
    stack_with(GatewayLimits::default(), 15, accepting)
}

impl Stack {
    async fn connect(&mut self) -> (Client, String) {
        let (client, _) = tokio_tungstenite::connect_async(self.ws_url.as_str())
            .await
            .expect("handshake accepted");
        (client, self.expect("gw-register").await.conn().to_owned())
    }

    /// The next call, which must be to `function`.
    async fn expect(&mut self, function: &str) -> Call {
        let call = tokio::time::timeout(Duration::from_secs(10), self.calls.recv())
            .await
            .unwrap_or_else(|_| panic!("no call to {function} within 10 s"))
            .expect("invoker alive");
        assert_eq!(call.function, function, "{call:?}");
        call
    }

    /// No call arrives within `d`.
    async fn expect_quiet(&mut self, d: Duration) {
        if let Ok(Some(call)) = tokio::time::timeout(d, self.calls.recv()).await {
            panic!("unexpected call {call:?}");
        }
    }

    async fn push(&self, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(&self.push_url)
            .json(&body)
            .send()
            .await
            .expect("push sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("push reply is JSON"))
    }

    async fn push_text(&self, conn: &str, data: &str) -> Value {
        let (status, body) = self
            .push(
                json!({"websocket": {"action": "data send", "secConnectionID": conn,
                "dataType": "text", "data": data}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn push_close(&self, conn: &str) -> Value {
        let (status, body) = self
            .push(json!({"websocket": {"action": "closing", "secConnectionID": conn}}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn ok() -> Value {
    json!({"errNo": 0, "errMsg": "ok"})
}

fn not_found() -> Value {
    json!({"errNo": 1, "errMsg": "connection not found"})
}

/// The next data frame (pings/pongs skipped).
async fn next_data(client: &mut Client) -> Message {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return msg;
        }
    }
}

/// Reads until the server ends the connection; the close frame's code, if it sent one.
async fn closed_with(client: &mut Client) -> Option<CloseCode> {
    let mut code = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Message::Close(frame))) => code = frame.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return code,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_register_sees_the_clouds_event_and_chooses_the_subprotocol() {
    let mut s = stack_with(GatewayLimits::default(), 15, |function, event| {
        Ok(if function == "gw-register" {
            let id = event["websocket"]["secConnectionID"].clone();
            json!({"errNo": 0, "errMsg": "ok",
                   "websocket": {"action": "connecting", "secConnectionID": id,
                                 "secWebSocketProtocol": "superchat"}})
        } else {
            json!(null)
        })
    });
    let mut req = s.ws_url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "chat, superchat".parse().unwrap());
    let (mut client, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "superchat",
        "the register function's choice is the negotiated subprotocol"
    );
    let reg = s.expect("gw-register").await;
    let ev = &reg.event;
    let id = ev["websocket"]["secConnectionID"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!((id.len(), id.ends_with("==")), (24, true), "{id}");
    assert_eq!(
        ev["websocket"],
        json!({"action": "connecting", "secConnectionID": id,
               "secWebSocketProtocol": "chat, superchat"})
    );
    let rc = &ev["requestContext"];
    assert_eq!(rc["serviceName"], "gwtest");
    assert_eq!(rc["path"], "/ws");
    assert_eq!(rc["httpMethod"], "GET");
    assert_eq!(rc["stage"], "release");
    assert_eq!(rc["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"], json!({}));
    assert_eq!(rc["websocketEnable"], true);
    assert_eq!(rc["requestId"].as_str().unwrap().len(), 36);

    // Without a subprotocol offered, the event has no secWebSocketProtocol key at all.
    let mut s2 = stack();
    let (_c, _) = tokio_tungstenite::connect_async(s2.ws_url.as_str())
        .await
        .unwrap();
    let reg = s2.expect("gw-register").await;
    assert!(reg.event["websocket"].get("secWebSocketProtocol").is_none());
    assert!(
        reg.event["websocket"]
            .get("secWebSocketExtensions")
            .is_none()
    );

    client.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_the_handshake_unless_register_answers_errno_0() {
    let mut s = stack_with(GatewayLimits::default(), 15, |_, _| {
        Ok(json!({"errNo": 101, "errMsg": "not welcome"}))
    });
    let err = tokio_tungstenite::connect_async(s.ws_url.as_str())
        .await
        .expect_err("refused");
    let tungstenite::Error::Http(resp) = err else {
        panic!("expected an HTTP refusal, got {err}")
    };
    assert_eq!(resp.status().as_u16(), 403);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({"errNo": 101, "errMsg": "not welcome"}));
    let reg = s.expect("gw-register").await;
    // A refused connection is not in the table and is never cleaned up.
    assert_eq!(s.push_text(reg.conn(), "x").await, not_found());
    s.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_when_register_fails_or_answers_nonsense() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let s = stack_with(GatewayLimits::default(), 15, move |_, _| {
        match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Err(InvokeFailure::new(FailureKind::Crash, "worker died")),
            1 => Err(InvokeFailure::new(FailureKind::Timeout, "3 s")),
            2 => Ok(json!("{\"errNo\":0}")),
            3 => Ok(json!({"errMsg": "no errNo"})),
            _ => Err(InvokeFailure::new(FailureKind::NotActive, "Creating")),
        }
    });
    for want in [502, 504, 502, 502, 502] {
        let err = tokio_tungstenite::connect_async(s.ws_url.as_str())
            .await
            .expect_err("refused");
        let tungstenite::Error::Http(resp) = err else {
            panic!("expected an HTTP refusal, got {err}")
        };
        assert_eq!(resp.status().as_u16(), want);
        let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
        assert_eq!(body["errNo"], 5, "{body}");
    }

    // With no runtime plugged in, handshakes are refused, not hung.
    let plain = Cloud::start_with_gateway(chatstack::localcloud::gateway::GatewayConfig {
        invoker: Some(std::sync::Arc::new(
            chatstack::localcloud::gateway::Unavailable,
        )),
        ..Default::default()
    });
    let out = run_python(&plain, "gateway_setup.py", &[]);
    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = format!("ws://{}/release/ws", ids["outer"].as_str().unwrap());
    let err = tokio_tungstenite::connect_async(url)
        .await
        .expect_err("refused");
    let tungstenite::Error::Http(resp) = err else {
        panic!("{err}")
    };
    assert_eq!(resp.status().as_u16(), 502);
    let body = String::from_utf8(resp.body().clone().unwrap()).unwrap();
    assert!(body.contains("function runtime not available"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sends_client_frames_to_transport_in_order() {
    let mut s = stack();
    let (mut client, id) = s.connect().await;
    for i in 0..100u32 {
        let msg = if i % 3 == 0 {
            Message::Binary(i.to_be_bytes().to_vec().into())
        } else {
            Message::Text(format!("m{i}").into())
        };
        client.send(msg).await.unwrap();
    }
    for i in 0..100u32 {
        let call = s.expect("gw-transport").await;
        let ws = &call.event["websocket"];
        assert_eq!(ws["action"], "data send");
        assert_eq!(ws["secConnectionID"], id.as_str());
        if i % 3 == 0 {
            assert_eq!(ws["dataType"], "binary");
            assert_eq!(ws["data"], BASE64.encode(i.to_be_bytes()));
        } else {
            assert_eq!(ws["dataType"], "text");
            assert_eq!(ws["data"], format!("m{i}"));
        }
        assert_eq!(call.event.as_object().unwrap().len(), 1, "only `websocket`");
    }
    client.close(None).await.unwrap();
    let cleanup = s.expect("gw-cleanup").await;
    assert_eq!(
        cleanup.event,
        json!({"websocket": {"action": "closing", "secConnectionID": id}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_pushes_text_and_binary_to_one_or_all_connections() {
    let mut s = stack();
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(s.connect().await);
    }
    // To one.
    assert_eq!(s.push_text(&clients[1].1, "just you").await, ok());
    assert_eq!(
        next_data(&mut clients[1].0).await,
        Message::Text("just you".into())
    );
    // To all, text then binary.
    for (_, id) in &clients {
        assert_eq!(s.push_text(id, "hello all").await, ok());
        let (status, body) = s
            .push(
                json!({"websocket": {"action": "data send", "secConnectionID": id,
                "dataType": "binary", "data": BASE64.encode([0u8, 159, 146, 150])}}),
            )
            .await;
        assert_eq!((status, body), (200, ok()));
    }
    for (client, _) in &mut clients {
        assert_eq!(next_data(client).await, Message::Text("hello all".into()));
        assert_eq!(
            next_data(client).await,
            Message::Binary(vec![0u8, 159, 146, 150].into())
        );
    }
    // A vanished id, and an id that never was.
    let (mut gone, gone_id) = clients.pop().unwrap();
    gone.close(None).await.unwrap();
    s.expect("gw-cleanup").await;
    assert_eq!(s.push_text(&gone_id, "late").await, not_found());
    assert_eq!(
        s.push_text("AAAAAAAAAAAAAAAAAAAAAA==", "x").await,
        not_found()
    );
    assert_eq!(s.push_close(&gone_id).await, not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closing_push_closes_after_queued_frames_and_cleans_up_once() {
    let mut s = stack();
    let (mut client, id) = s.connect().await;
    assert_eq!(s.push_text(&id, "last words").await, ok());
    assert_eq!(s.push_close(&id).await, ok());
    // Gone from the table at once.
    assert_eq!(s.push_text(&id, "too late").await, not_found());
    assert_eq!(
        next_data(&mut client).await,
        Message::Text("last words".into())
    );
    assert_eq!(closed_with(&mut client).await, Some(CloseCode::Normal));
    let cleanup = s.expect("gw-cleanup").await;
    assert_eq!(cleanup.conn(), id);
    assert_eq!(cleanup.action(), "closing");
    s.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_client_close_and_tcp_drop_each_run_cleanup_once() {
    let mut s = stack();
    let (mut polite, polite_id) = s.connect().await;
    let (rude, rude_id) = s.connect().await;

    polite.close(None).await.unwrap();
    assert_eq!(closed_with(&mut polite).await, None);
    assert_eq!(s.expect("gw-cleanup").await.conn(), polite_id);

    drop(rude); // TCP goes without a close frame
    assert_eq!(s.expect("gw-cleanup").await.conn(), rude_id);

    s.expect_quiet(Duration::from_millis(300)).await;
    assert_eq!(s.push_text(&polite_id, "x").await, not_found());
    assert_eq!(s.push_text(&rude_id, "x").await, not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_transport_failure_drops_the_socket() {
    let mut s = stack_with(GatewayLimits::default(), 15, |function, event| {
        if function == "gw-transport" && event["websocket"]["data"] == "boom" {
            return Err(InvokeFailure::new(FailureKind::Error, "raised"));
        }
        accepting(function, event)
    });
    let (mut client, id) = s.connect().await;
    client.send(Message::Text("fine".into())).await.unwrap();
    client.send(Message::Text("boom".into())).await.unwrap();
    assert_eq!(
        s.expect("gw-transport").await.event["websocket"]["data"],
        "fine"
    );
    assert_eq!(
        s.expect("gw-transport").await.event["websocket"]["data"],
        "boom"
    );
    // The cloud "sends FIN": no close frame.
    assert_eq!(closed_with(&mut client).await, None);
    assert_eq!(s.expect("gw-cleanup").await.conn(), id);
    s.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closes_a_slow_consumer_whose_queue_overflows() {
    let limits = GatewayLimits {
        outbound_queue: 8,
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    let (slow, slow_id) = s.connect().await; // never read
    let (mut fast, fast_id) = s.connect().await;
    let big = "x".repeat(200 * 1024);
    let started = Instant::now();
    let mut overflowed = None;
    for i in 0..400 {
        let reply = s.push_text(&slow_id, &big).await;
        if reply != ok() {
            overflowed = Some((i, reply));
            break;
        }
        // Pushes to the other connection keep flowing meanwhile.
        assert_eq!(s.push_text(&fast_id, &format!("f{i}")).await, ok());
        assert_eq!(
            next_data(&mut fast).await,
            Message::Text(format!("f{i}").into())
        );
    }
    let (i, reply) = overflowed.expect("the slow connection's queue overflowed");
    assert_eq!(reply["errNo"], 2, "{reply}");
    eprintln!(
        "overflow after {i} pushes of 200 KiB in {:?}",
        started.elapsed()
    );
    // It is gone: later pushes answer "connection not found"; cleanup runs once.
    assert_eq!(s.push_text(&slow_id, "x").await, not_found());
    let cleanup = s.expect("gw-cleanup").await;
    assert_eq!(cleanup.conn(), slow_id);
    assert_eq!(s.push_text(&fast_id, "still here").await, ok());
    assert_eq!(
        next_data(&mut fast).await,
        Message::Text("still here".into())
    );
    drop(slow);
    s.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_many_concurrent_pushers_are_delivered_in_order_per_pusher() {
    const PUSHERS: usize = 50;
    const EACH: usize = 200;
    let mut s = stack();
    let (mut client, id) = s.connect().await;
    let s = Arc::new(s);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..PUSHERS {
        let (s, id) = (s.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..EACH {
                assert_eq!(s.push_text(&id, &format!("{p}:{n}")).await, ok());
            }
        }));
    }
    let mut next = vec![0usize; PUSHERS];
    for _ in 0..PUSHERS * EACH {
        let Message::Text(t) = next_data(&mut client).await else {
            panic!("text expected")
        };
        let (p, n) = t.split_once(':').unwrap();
        let (p, n): (usize, usize) = (p.parse().unwrap(), n.parse().unwrap());
        assert_eq!(n, next[p], "pusher {p} out of order");
        next[p] += 1;
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!(
        "{} pushes from {PUSHERS} pushers delivered in {:?}",
        PUSHERS * EACH,
        started.elapsed()
    );
    assert!(next.iter().all(|&n| n == EACH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closes_oversize_frames_with_1009() {
    let limits = GatewayLimits {
        max_frame_bytes: 1024,
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    let (mut client, id) = s.connect().await;
    client
        .send(Message::Text("x".repeat(1024).into()))
        .await
        .unwrap();
    assert_eq!(s.expect("gw-transport").await.conn(), id);
    client
        .send(Message::Text("x".repeat(1025).into()))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut client).await, Some(CloseCode::Size));
    assert_eq!(s.expect("gw-cleanup").await.conn(), id);
    s.expect_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closes_idle_connections() {
    let limits = GatewayLimits {
        idle_timeout: Some(Duration::from_millis(600)),
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    let (mut client, id) = s.connect().await;
    // Activity in either direction keeps it open.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client
            .send(Message::Text("still here".into()))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.push_text(&id, "and you").await, ok());
    }
    let quiet_from = Instant::now();
    assert_eq!(closed_with(&mut client).await, Some(CloseCode::Away));
    assert!(quiet_from.elapsed() >= Duration::from_millis(400));
    let mut transports = 0;
    loop {
        let call = tokio::time::timeout(Duration::from_secs(5), s.calls.recv())
            .await
            .unwrap()
            .unwrap();
        match call.function.as_str() {
            "gw-transport" => transports += 1,
            "gw-cleanup" => break,
            other => panic!("{other}"),
        }
    }
    assert_eq!(transports, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_limits_connections_per_api() {
    let limits = GatewayLimits {
        max_connections_per_api: 2,
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    let (mut a, _) = s.connect().await;
    let (_b, _) = s.connect().await;
    let err = tokio_tungstenite::connect_async(s.ws_url.as_str())
        .await
        .expect_err("third refused");
    let tungstenite::Error::Http(resp) = err else {
        panic!("{err}")
    };
    assert_eq!(resp.status().as_u16(), 503);
    s.expect_quiet(Duration::from_millis(200)).await;
    a.close(None).await.unwrap();
    s.expect("gw-cleanup").await;
    // The slot comes back once the cleanup finished and the connection is forgotten (a store
    // write after the call): a moment after the call started.
    let deadline = Instant::now() + Duration::from_secs(5);
    let c = loop {
        match tokio_tungstenite::connect_async(s.ws_url.as_str()).await {
            Ok((c, _)) => break c,
            Err(e) => assert!(Instant::now() < deadline, "slot never came back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    s.expect("gw-register").await;
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_wrong_urls_and_bad_pushes_with_json_errors() {
    let s = stack();
    let base = s.cloud.url();
    let sid = s.ws_url.split('/').nth(3).unwrap().to_owned();
    let get = |url: String| {
        let http = s.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let upgrade = r
                .headers()
                .get("upgrade")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = r.json().await.unwrap();
            (status, upgrade, body)
        }
    };
    // A plain GET on the right URL: 426 with `Upgrade: websocket`.
    let (status, upgrade, body) = get(format!("{base}/{sid}/release/ws")).await;
    assert_eq!((status, upgrade.as_deref()), (426, Some("websocket")));
    assert_eq!(body["errNo"], 3);
    // Unknown service, environment not released, unknown path.
    for url in [
        format!("{base}/service-nothere/release/ws"),
        format!("{base}/{sid}/test/ws"),
        format!("{base}/{sid}/release/other"),
    ] {
        let (status, _, body) = get(url.clone()).await;
        assert_eq!((status, &body["errNo"]), (404, &json!(4)), "{url}");
    }
    // The same for WebSocket clients.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/{sid}/test/ws", s.cloud.addr))
        .await
        .expect_err("404");
    let tungstenite::Error::Http(resp) = err else {
        panic!("{err}")
    };
    assert_eq!(resp.status().as_u16(), 404);

    // Push endpoint: malformed bodies are 400 with errNo 3.
    for body in [
        json!({"nope": 1}),
        json!({"websocket": {"action": "data send", "secConnectionID": "a"}}),
        json!({"websocket": {"action": "data send", "secConnectionID": "a",
                             "dataType": "binary", "data": "***"}}),
        json!({"websocket": {"action": "explode", "secConnectionID": "a"}}),
    ] {
        let (status, reply) = s.push(body.clone()).await;
        assert_eq!(
            (status, &reply["errNo"]),
            (400, &json!(3)),
            "{body}: {reply}"
        );
    }
    let r = s.http.get(&s.push_url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // Unknown API.
    let r = s
        .http
        .post(format!("{base}/api-nothere"))
        .json(&json!({"websocket": {"action": "closing", "secConnectionID": "a"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["errNo"], 4);
    // The API 3.0 control plane still answers at `/`, and other paths are its 404s.
    let r = s
        .http
        .get(format!("{base}/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let _ = &s.api_id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_stopping_the_local_cloud_closes_connections_and_runs_cleanup() {
    let mut s = stack();
    let (mut client, id) = s.connect().await;
    let reader = tokio::spawn(async move { closed_with(&mut client).await });
    let cloud = s.cloud;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(cloud))
        .await
        .unwrap();
    eprintln!("stopped in {:?}", started.elapsed());
    assert_eq!(reader.await.unwrap(), Some(CloseCode::Away));
    let cleanup = tokio::time::timeout(Duration::from_secs(1), s.calls.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (cleanup.function.as_str(), cleanup.conn()),
        ("gw-cleanup", id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_shutdown_refuses_new_handshakes_while_the_cloud_still_serves() {
    let mut s = stack();
    let (mut client, id) = s.connect().await;
    let reader = tokio::spawn(async move { closed_with(&mut client).await });
    s.cloud
        .handle
        .gateway()
        .shutdown(Duration::from_secs(5))
        .await;
    assert_eq!(reader.await.unwrap(), Some(CloseCode::Away));
    let cleanup = s.expect("gw-cleanup").await;
    assert_eq!(cleanup.conn(), id);
    // New handshakes are refused from now on...
    let err = tokio_tungstenite::connect_async(s.ws_url.as_str())
        .await
        .expect_err("refused while shutting down");
    let tungstenite::Error::Http(resp) = err else {
        panic!("{err}")
    };
    assert_eq!(resp.status().as_u16(), 503);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["errNo"], 7, "{body}");
    s.expect_quiet(Duration::from_millis(200)).await;
    // ...but the rest of the local cloud still answers (cleanups call it).
    assert_eq!(
        s.push_text(&id, "late").await,
        json!({"errNo": 1, "errMsg": "connection not found"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_pings_without_invoking_transport() {
    let mut s = stack();
    let (mut client, _) = s.connect().await;
    client
        .send(Message::Ping(b"hb".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hb".to_vec().into()));
    s.expect_quiet(Duration::from_millis(300)).await;
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Memory for idle connections, client and server sides together (both live in this
/// process). `CHATSTACK_IDLE_CONNS` (default 2000) connections; run explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints memory per idle connection"]
async fn gateway_idle_connections_memory() {
    let n: usize = std::env::var("CHATSTACK_IDLE_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let limits = GatewayLimits {
        idle_timeout: Some(Duration::from_secs(600)),
        read_buffer_bytes: std::env::var("CHATSTACK_READ_BUFFER")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(GatewayLimits::default().read_buffer_bytes),
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    // Warm up allocator pools and the invoker path.
    let warm = s.connect().await;
    let before = rss_kib();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        // Small client buffers, so the figure is mostly the server's.
        let config = tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let (client, _) =
            tokio_tungstenite::connect_async_with_config(s.ws_url.as_str(), Some(config), false)
                .await
                .expect("handshake accepted");
        clients.push(client);
    }
    let connect = started.elapsed();
    // Everyone is still reachable.
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        ids.push(s.expect("gw-register").await.conn().to_owned());
    }
    assert_eq!(s.push_text(&ids[n / 2], "ping").await, ok());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    eprintln!(
        "{n} idle connections: connected in {connect:?}; RSS +{} KiB = {:.1} KiB per connection (client + server)",
        after - before,
        (after - before) as f64 / n as f64
    );
    drop(clients);
    drop(warm);
}

/// Sends `request` on a fresh TCP connection and returns the status line's code.
async fn raw_status(addr: std::net::SocketAddr, request: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_a_sec_websocket_key_that_is_not_16_bytes_in_base64() {
    let mut s = stack();
    let addr = s.cloud.addr;
    let path = s.ws_url.splitn(4, '/').nth(3).unwrap().to_owned();
    let handshake = |key: &str| {
        format!(
            "GET /{path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        )
    };
    for garbage in ["garbage", "dGhlIHNhbXBsZQ==", "!!!!!!!!!!!!!!!!!!!!!!!!"] {
        assert_eq!(raw_status(addr, handshake(garbage)).await, 400, "{garbage}");
    }
    // Register never ran for them.
    s.expect_quiet(Duration::from_millis(200)).await;
    assert_eq!(
        raw_status(addr, handshake("dGhlIHNhbXBsZSBub25jZQ==")).await,
        101
    );
    s.expect("gw-register").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closes_invalid_utf8_with_1007_and_reserved_opcodes_with_1002() {
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let mut s = stack();
    for (opcode, payload, code) in [
        (
            OpCode::Data(Data::Text),
            vec![0xff, 0xfe, b'a'],
            CloseCode::Invalid,
        ),
        (
            OpCode::Data(Data::Reserved(3)),
            b"hi".to_vec(),
            CloseCode::Protocol,
        ),
    ] {
        let (mut client, id) = s.connect().await;
        client
            .send(Message::Frame(Frame::message(payload, opcode, true)))
            .await
            .unwrap();
        assert_eq!(closed_with(&mut client).await, Some(code), "{opcode:?}");
        assert_eq!(s.expect("gw-cleanup").await.conn(), id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_a_push_larger_than_a_client_message_may_be() {
    let limits = GatewayLimits {
        max_frame_bytes: 1024,
        ..GatewayLimits::default()
    };
    let mut s = stack_with(limits, 15, accepting);
    let (mut client, id) = s.connect().await;
    for (data_type, data) in [
        ("text", "x".repeat(1025)),
        ("binary", BASE64.encode(vec![7u8; 1025])),
    ] {
        let (status, reply) = s
            .push(
                json!({"websocket": {"action": "data send", "secConnectionID": id,
                                       "dataType": data_type, "data": data}}),
            )
            .await;
        assert_eq!((status, &reply["errNo"]), (413, &json!(3)), "{reply}");
    }
    // The limit itself is delivered; nothing larger was.
    assert_eq!(s.push_text(&id, &"y".repeat(1024)).await, ok());
    assert_eq!(
        next_data(&mut client).await,
        Message::Text("y".repeat(1024).into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_persists_open_connections_until_their_cleanup_ran() {
    let mut s = stack();
    let store = s.cloud.handle.store().clone();
    let open = move || -> Vec<String> {
        chatstack::localcloud::gateway::open::all(&store)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    };
    let (mut client, id) = s.connect().await;
    assert_eq!(open(), vec![id.clone()]);
    client.close(None).await.unwrap();
    s.expect("gw-cleanup").await;
    // Forgotten once cleanup ran (the write follows the call).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !open().is_empty() {
        assert!(Instant::now() < deadline, "still recorded: {:?}", open());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `kill -9` leaves: connections recorded as open, whose cleanup never ran. The next start
/// runs each one's cleanup with the cloud's event, then forgets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_runs_the_cleanups_a_crashed_run_left_behind_at_the_next_start() {
    use chatstack::localcloud::gateway::FunctionTarget;
    use chatstack::localcloud::gateway::open::{self, OpenRecord};
    let dir = tempfile::tempdir().unwrap();
    {
        let store = chatstack::localcloud::store::Store::open(dir.path()).unwrap();
        let target = FunctionTarget {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            name: "gw-cleanup".into(),
            qualifier: "$LATEST".into(),
        };
        for id in ["lost-1==", "lost-2=="] {
            open::admit(&store, id, &OpenRecord::new("api-x", &target, 15)).unwrap();
        }
    }
    let (tx, mut calls) = mpsc::unbounded_channel();
    let invoker = from_fn(move |target, event| {
        let _ = tx.send(Call {
            function: target.name,
            event,
        });
        async move { Ok(json!("ok")) }
    });
    let opts = crate::support::default_options(dir.path());
    let cloud = Cloud::start_with_options_and_gateway(
        opts,
        GatewayConfig {
            invoker: Some(invoker),
            limits: GatewayLimits::default(),
        },
    );
    let mut seen = Vec::new();
    for _ in 0..2 {
        let call = tokio::time::timeout(Duration::from_secs(10), calls.recv())
            .await
            .expect("a cleanup within 10 s")
            .unwrap();
        assert_eq!(call.function, "gw-cleanup");
        assert_eq!(
            call.event,
            json!({"websocket": {"action": "closing", "secConnectionID": call.conn()}})
        );
        seen.push(call.conn().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["lost-1==", "lost-2=="]);
    let store = cloud.handle.store().clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !open::all(&store).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "records left behind");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cloud.handle.gateway().cleanups_run(), 2);
}

/// Stopping with many connections whose cleanups are slow (a backend that runs four at a time,
/// 100 ms each: 7.5 s for 300) runs every one of them, not what fits in a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_stop_runs_every_cleanup_with_bounded_concurrency() {
    const N: usize = 300;
    let backend = Arc::new(tokio::sync::Semaphore::new(4));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let cleaned = Arc::new(AtomicUsize::new(0));
    let (b, r, m, c) = (
        backend.clone(),
        running.clone(),
        most.clone(),
        cleaned.clone(),
    );
    let invoker = from_fn(move |target, _event| {
        let (b, r, m, c) = (b.clone(), r.clone(), m.clone(), c.clone());
        async move {
            if target.name == "gw-register" {
                return Ok(json!({"errNo": 0, "errMsg": "ok"}));
            }
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            {
                let _turn = b.acquire().await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            r.fetch_sub(1, Ordering::SeqCst);
            c.fetch_add(1, Ordering::SeqCst);
            Ok(json!("ok"))
        }
    });
    let cloud = Cloud::start_with_gateway(GatewayConfig {
        invoker: Some(invoker),
        limits: GatewayLimits::default(),
    });
    let out = run_python(&cloud, "gateway_setup.py", &["15"]);
    let ids: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = format!("ws://{}/release/ws", ids["outer"].as_str().unwrap());
    let mut clients = Vec::new();
    for _ in 0..N {
        let (client, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        clients.push(client);
    }
    let handle = cloud.handle.clone();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(cloud))
        .await
        .unwrap();
    eprintln!("stopped with {N} cleanups in {:?}", started.elapsed());
    let report = handle.gateway().shutdown_report().expect("shut down");
    assert_eq!(report.closed, N, "{report:?}");
    assert_eq!(report.cleanups_run, N, "{report:?}");
    assert_eq!(report.left, 0, "{report:?}");
    assert_eq!(cleaned.load(Ordering::SeqCst), N);
    let limit = GatewayLimits::default().cleanup_concurrency;
    assert!(
        most.load(Ordering::SeqCst) <= limit,
        "{} at once",
        most.load(Ordering::SeqCst)
    );
    drop(clients);
}
