//! A WebSocket connection to a Web function: one invocation for its whole life, holding one
//! slot of an instance. The handshake is passed on to the instance (with `X-Scf-Request-Id`);
//! frames are pumped both ways; the connection ends with SCF's status (API-FACTS §10.2):
//!
//! | how it ends | status |
//! |---|---|
//! | either side closes with 1000, 1010 or 1011 (or with no code) | 200 |
//! | the client closes with another code, or its connection drops | 456 |
//! | the function closes with another code, or its instance ends | 439 |
//! | no text or binary message either way for `IdleTimeOut` s | 455 |
//! | the connection outlives the function's `Timeout` | 433 |
//!
//! Limits: a message over 256 KB ends the connection with close code 1009 (456 when the client
//! sent it, 439 when the function did); with the per-connection caps on (`--webfn-limits cloud`), a client going over 10
//! messages or 128 KB in a second is closed with 1008 (456). Assumed, not seen on a live
//! account: pings do not reset the idle timer; what close code the platform sends on idle
//! (1001 here) or timeout (1001); that going over a cap closes rather than throttles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Up;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as UpFrame, WebSocketConfig};

use super::instances::Lease;
use super::options::ConnectionCaps;
use super::plane::{Invocation, WebFunctions, error, record, refused};

/// Close codes that end a connection with status 200.
fn normal(code: u16) -> bool {
    matches!(code, 1000 | 1010 | 1011)
}

/// Request headers the handshake to the instance makes itself.
fn own_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "upgrade"
            | "sec-websocket-key"
            | "sec-websocket-version"
            | "sec-websocket-extensions"
            | "content-length"
    )
}

pub(super) async fn serve(wf: Arc<WebFunctions>, inv: Invocation, parts: &mut Parts) -> Response {
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(u) => u,
        Err(rejection) => {
            return error(rejection.status(), &rejection.body_text(), &inv.request_id);
        }
    };
    let lease = match wf.instances.acquire(&inv.key, &inv.function) {
        Ok(l) => l,
        Err(r) => return refused(&wf, &inv, &r, "").await,
    };
    if let Err(r) = lease.ready().await {
        let output = lease.take_log();
        drop(lease);
        return refused(&wf, &inv, &r, &output).await;
    }
    let limit = wf.instances.options().max_message_bytes;
    let url = format!("ws://127.0.0.1:{}{}", lease.instance.port, inv.path);
    let mut request = match url.into_client_request() {
        Ok(r) => r,
        Err(e) => {
            drop(lease);
            return error(
                StatusCode::BAD_REQUEST,
                &format!("bad path: {e}"),
                &inv.request_id,
            );
        }
    };
    for (name, value) in &parts.headers {
        if !own_header(name.as_str()) {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    if let Ok(h) = HeaderValue::from_str(&inv.host) {
        request.headers_mut().insert("host", h);
    }
    if let Ok(id) = HeaderValue::from_str(&inv.request_id) {
        request.headers_mut().insert("x-scf-request-id", id);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit * 4))
        .max_frame_size(Some(limit * 4));
    let (upstream, answer) =
        match tokio_tungstenite::connect_async_with_config(request, Some(config), false).await {
            Ok(pair) => pair,
            Err(e) => {
                // A refused handshake reaches the client as 500 "bad handshake" (API-FACTS
                // §10.2, from a deploy script; not seen on a live account).
                let why = format!("bad handshake: the function did not accept the WebSocket: {e}");
                let output = lease.take_log();
                drop(lease);
                record(&wf, &inv, 439, &why, &output).await;
                return error(StatusCode::INTERNAL_SERVER_ERROR, &why, &inv.request_id);
            }
        };
    let mut upgrade = upgrade
        .max_message_size(limit * 4)
        .max_frame_size(limit * 4);
    if let Some(p) = answer
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|p| p.to_str().ok())
    {
        upgrade = upgrade.protocols([p.to_owned()]);
    }
    let request_id = inv.request_id.clone();
    let mut response = upgrade
        .on_failed_upgrade(|e| tracing::debug!("a Function URL upgrade failed: {e}"))
        .on_upgrade(move |client| async move {
            let caps = wf.instances.options().caps;
            let (code, what) = pump(client, upstream, &inv, &lease, limit, caps).await;
            let output = lease.take_log();
            drop(lease);
            record(&wf, &inv, code, &what, &output).await;
        });
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-scf-request-id", id);
    }
    response
}

/// A client's messages and bytes in the current second.
struct Window {
    caps: Option<ConnectionCaps>,
    start: Instant,
    messages: u32,
    bytes: u64,
}

impl Window {
    /// Counts one message of `len` bytes; `Err` names the cap it went over.
    fn count(&mut self, len: usize) -> Result<(), String> {
        let Some(caps) = self.caps else { return Ok(()) };
        if self.start.elapsed() >= Duration::from_secs(1) {
            self.start = Instant::now();
            self.messages = 0;
            self.bytes = 0;
        }
        self.messages += 1;
        self.bytes += len as u64;
        if self.messages > caps.messages_per_sec {
            return Err(format!("{} messages per second", caps.messages_per_sec));
        }
        if self.bytes > caps.bytes_per_sec {
            return Err(format!("{} bytes per second", caps.bytes_per_sec));
        }
        Ok(())
    }
}

/// Pumps frames until the connection ends; returns its SCF status and how it ended.
async fn pump(
    client: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    inv: &Invocation,
    lease: &Lease,
    limit: usize,
    caps: Option<ConnectionCaps>,
) -> (u16, String) {
    let (mut c_tx, mut c_rx) = client.split();
    let (mut u_tx, mut u_rx) = upstream.split();
    let idle = Duration::from_secs(u64::from(inv.function.ws_idle_timeout.max(1)));
    let timeout = Duration::from_secs(u64::from(inv.function.timeout.max(1)));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = tokio::time::Instant::now();
    let mut window = Window {
        caps,
        start: Instant::now(),
        messages: 0,
        bytes: 0,
    };
    let close_client = |code: u16, reason: &str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        }))
    };
    let close_up = |code: u16, reason: &str| {
        Up::Close(Some(UpFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        }))
    };
    // Ends both sides: `to_client`/`to_up` are the close frames each gets.
    macro_rules! end {
        ($to_client:expr, $to_up:expr, $status:expr, $what:expr) => {{
            if let Some(m) = $to_client {
                let _ = c_tx.send(m).await;
            }
            let _ = c_tx.close().await;
            if let Some(m) = $to_up {
                let _ = u_tx.send(m).await;
            }
            let _ = u_tx.close().await;
            return ($status, $what);
        }};
    }
    loop {
        tokio::select! {
            m = c_rx.next() => match m {
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| f.code);
                    let to_up = match &frame {
                        Some(f) if !reserved(f.code) => close_up(f.code, f.reason.as_str()),
                        _ => Up::Close(None),
                    };
                    let st = if code.is_none_or(normal) { 200 } else { 456 };
                    let what = match code {
                        Some(c) => format!("the client closed the connection with code {c}"),
                        None => "the client closed the connection (no code)".to_owned(),
                    };
                    end!(None::<Message>, Some(to_up), st, what)
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    let len = m_len(&m);
                    if len > limit {
                        end!(Some(close_client(1009, "message too big")), Some(close_up(1001, "client message too big")), 456,
                            format!("the client sent a message of {len} bytes, over the {limit}-byte limit"))
                    }
                    if let Err(cap) = window.count(len) {
                        end!(Some(close_client(1008, "over the connection's rate limit")), Some(close_up(1001, "client over the rate limit")), 456,
                            format!("the client went over the per-connection cap of {cap}"))
                    }
                    last = tokio::time::Instant::now();
                    let up = match m {
                        Message::Text(t) => Up::Text(t.as_str().into()),
                        Message::Binary(b) => Up::Binary(b),
                        _ => unreachable!("matched above"),
                    };
                    if u_tx.send(up).await.is_err() {
                        end!(Some(close_client(1011, "the function's connection ended")), None::<Up>, 439,
                            "the function's side of the connection ended".to_owned())
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    end!(None::<Message>, Some(close_up(1001, "the client went away")), 456,
                        "the client's connection dropped without a close (1006)".to_owned())
                }
            },
            m = u_rx.next() => match m {
                Some(Ok(Up::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    let to_client = match &frame {
                        Some(f) if !reserved(u16::from(f.code)) => close_client(u16::from(f.code), f.reason.as_str()),
                        _ => Message::Close(None),
                    };
                    let st = if code.is_none_or(normal) { 200 } else { 439 };
                    let what = match code {
                        Some(c) => format!("the function closed the connection with code {c}"),
                        None => "the function closed the connection (no code)".to_owned(),
                    };
                    end!(Some(to_client), None::<Up>, st, what)
                }
                Some(Ok(m @ (Up::Text(_) | Up::Binary(_)))) => {
                    let len = m.len();
                    if len > limit {
                        end!(Some(close_client(1009, "message too big")), Some(close_up(1009, "message too big")), 439,
                            format!("the function sent a message of {len} bytes, over the {limit}-byte limit"))
                    }
                    last = tokio::time::Instant::now();
                    let down = match m {
                        Up::Text(t) => Message::Text(t.as_str().into()),
                        Up::Binary(b) => Message::Binary(b),
                        _ => unreachable!("matched above"),
                    };
                    if c_tx.send(down).await.is_err() {
                        end!(None::<Message>, Some(close_up(1001, "the client went away")), 456,
                            "the client's connection dropped without a close (1006)".to_owned())
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    end!(Some(close_client(1011, "the function's connection ended")), None::<Up>, 439,
                        "the function's side of the connection ended without a close".to_owned())
                }
            },
            () = tokio::time::sleep_until(last + idle) => {
                end!(Some(close_client(1001, "idle timeout")), Some(close_up(1001, "idle timeout")), 455,
                    format!("no message either way for the function's IdleTimeOut of {} s", idle.as_secs()))
            }
            () = tokio::time::sleep_until(deadline) => {
                end!(Some(close_client(1001, "execution timeout")), Some(close_up(1001, "execution timeout")), 433,
                    format!("the connection outlived the function's Timeout of {} s", timeout.as_secs()))
            }
            () = lease.instance.stopped().cancelled() => {
                end!(Some(close_client(1011, "the instance ended")), None::<Up>, 439,
                    "the instance ended while holding the connection".to_owned())
            }
        }
    }
}

/// Close codes that must not be sent in a frame (RFC 6455 §7.4.1).
fn reserved(code: u16) -> bool {
    matches!(code, 1005 | 1006 | 1015) || code < 1000
}

fn m_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_scf_statuses() {
        for (code, ok) in [
            (1000, true),
            (1010, true),
            (1011, true),
            (1001, false),
            (4000, false),
        ] {
            assert_eq!(normal(code), ok, "{code}");
        }
        assert!(reserved(1005) && reserved(1006) && reserved(999) && !reserved(1000));
    }

    #[test]
    fn the_window_counts_a_second_of_client_messages_only_when_caps_are_on() {
        let mut off = Window {
            caps: None,
            start: Instant::now(),
            messages: 0,
            bytes: 0,
        };
        for _ in 0..1000 {
            off.count(1 << 20).unwrap();
        }
        let mut on = Window {
            caps: Some(ConnectionCaps::cloud()),
            start: Instant::now(),
            messages: 0,
            bytes: 0,
        };
        for _ in 0..10 {
            on.count(10).unwrap();
        }
        assert!(on.count(10).unwrap_err().contains("10 messages"));
        let mut bytes = Window {
            caps: Some(ConnectionCaps::cloud()),
            start: Instant::now(),
            messages: 0,
            bytes: 0,
        };
        bytes.count(128 * 1024).unwrap();
        assert!(bytes.count(1).unwrap_err().contains("bytes per second"));
        // A new second starts a new count.
        on.start = Instant::now() - Duration::from_secs(1);
        on.count(10).unwrap();
    }
}
