//! The WebSocket gateway of the local cloud: API Gateway's data plane for WebSocket APIs backed
//! by SCF (API-FACTS §3.6, §4), and the push-back endpoint functions call.
//!
//! Routes (chosen by `localcloud::dispatch`):
//! - `GET /service-xxxxxxxx/{environment}{path}` with a WebSocket upgrade — the client URL
//!   `ws://{OuterSubDomain}/{environment}{path}` — is matched against the API *as released* in
//!   that environment ([`apigateway::released_api`]), handled by [`connection`];
//! - `POST /api-xxxxxxxx` — the API's `InternalDomain` — is the push-back endpoint, [`push`].
//!
//! What this module owns: the connection lifecycle (register → transport per frame →
//! cleanup exactly once), the live connection table (`table`), limits. What it must not do:
//! run functions (it calls an [`Invoker`]), or touch the control plane's tables except to read
//! released APIs.
//!
//! Every answer the gateway itself makes (refused handshakes, push replies) is JSON
//! `{"errNo":N,"errMsg":"…"}` with `Content-Type: application/json`:
//!
//! | situation | HTTP | errNo |
//! |---|---|---|
//! | push delivered to the queue / close accepted | 200 | 0 `ok` |
//! | push to an unknown or closed connection (API-FACTS §4.4 \[INF\]) | 200 | [`ERR_CONNECTION_NOT_FOUND`] (1) |
//! | push to a connection whose outbound queue is full (it gets closed, 1008) | 200 | [`ERR_QUEUE_FULL`] (2) |
//! | push body malformed (not JSON, missing fields, bad base64, unknown action/dataType) | 400 | [`ERR_BAD_REQUEST`] (3) |
//! | push body over [`GatewayLimits::max_push_body`], or its data over [`GatewayLimits::max_frame_bytes`] (the client message limit) | 413 | 3 |
//! | push endpoint hit with another method | 405 | 3 |
//! | no such API (`/api-…`) or no released WebSocket API at the URL (`/service-…`) | 404 | [`ERR_NO_API`] (4) |
//! | handshake URL right but not a WebSocket upgrade | 426 (`Upgrade: websocket`) | 3 |
//! | upgrade request malformed (no `Sec-WebSocket-Key`, or one that is not 16 bytes in base64), or not GET | 400 / 405 | 3 |
//! | register function failed (crash, handler error, not found / not active), or its reply is not a JSON object with an integer `errNo` | 502 | [`ERR_BACKEND`] (5) |
//! | register function timed out (its own timeout or the API's `ServiceTimeout`) | 504 | 5 |
//! | register function refused (`errNo != 0`) | 403 | the function's `errNo`, `errMsg` |
//! | [`GatewayLimits::max_connections_per_api`] reached | 503 | [`ERR_LIMIT`] (6) |
//! | the local cloud is stopping ([`Gateway::shutdown`]) | 503 | [`ERR_INTERNAL`] (7) |
//! | the local cloud's store failed | 500 | [`ERR_INTERNAL`] (7) |
//!
//! Closing, by cause (cleanup runs once in every case, after the id left the table):
//! client close frame → close handshake completed; TCP drop/EOF → nothing to send; `closing`
//! push → close frame 1000 after the frames queued before it; idle → 1001; outbound queue
//! overflow → 1008 at once; oversize client frame → 1009; a text message that is not UTF-8 →
//! 1007; a protocol violation (reserved opcode or bits, a stray continuation) → 1002;
//! transport failure or timeout → the
//! socket is dropped without a close frame, as the cloud "sends FIN" (API-FACTS §4.2); the
//! local cloud stopping → 1001 "server shutting down" (and [`Gateway::shutdown`] waits for the
//! cleanups, while the local cloud still serves the COS and push-back calls they make). A
//! handshake that register accepted but whose upgrade never completed is cleaned
//! up too; a refused one never is.
//!
//! A connection keeps the function bindings and `ServiceTimeout` of the release it connected
//! through: a later ReleaseService, UnReleaseService or DeleteApi affects new handshakes only.
//! Every invocation (register, transport, cleanup) is also bounded by `ServiceTimeout`, in
//! case the invoker itself never answers.
//!
//! **Overflow policy: close the slow connection**, not drop frames. When a push finds the
//! connection's outbound queue ([`GatewayLimits::outbound_queue`] frames) full, that
//! connection is removed from the table, closed with 1008 "outbound queue full", and the push
//! answers errNo 2; later pushes to it answer errNo 1. Why: silently dropping (oldest or
//! newest) loses chat messages where nobody can see it, while a closed connection is visible
//! to both sides (the client reconnects, the functions' cleanup runs and drops the id), and
//! memory stays bounded. A client that falls 1024 frames behind is effectively gone anyway.
//!
//! Not emulated: the per-connection rate limits documented for web-function WebSockets
//! (10 QPS, 128 KB/s), `permessage-deflate` (a chosen `secWebSocketExtensions` is ignored),
//! authentication (push-back has none, as in the cloud).

pub mod connection;
pub mod invoke;
pub mod open;
pub mod push;
mod reply;
mod state;
mod table;

use std::sync::Arc;
use std::time::Duration;

pub use invoke::{
    FailureKind, FunctionTarget, InvokeFailure, InvokeResult, Invoker, Unavailable, from_fn,
};
pub use reply::{
    ERR_BACKEND, ERR_BAD_REQUEST, ERR_CONNECTION_NOT_FOUND, ERR_INTERNAL, ERR_LIMIT, ERR_NO_API,
    ERR_QUEUE_FULL,
};
pub use state::{Gateway, GatewayConfig, GatewayLimits, ShutdownReport};
pub use table::{
    CLOSE_IDLE, CLOSE_INVALID_DATA, CLOSE_NORMAL, CLOSE_OVERFLOW, CLOSE_PROTOCOL, CLOSE_TOO_BIG,
};

#[cfg(doc)]
use crate::localcloud::model::api as apigateway;

/// Runs the cleanup function of every connection the last run left open (see [`open`]), with
/// the cloud's `closing` event, at most [`GatewayLimits::cleanup_concurrency`] at once, and
/// forgets each once it ran; returns how many ran. [`crate::localcloud::run`] starts it once
/// it serves (cleanups call COS and the push-back endpoint).
pub async fn recover(gateway: &Arc<Gateway>) -> usize {
    let lost = gateway.take_lost();
    if lost.is_empty() {
        return 0;
    }
    let count = lost.len();
    tracing::warn!("running the cleanup function of {count} connection(s) the last run left open");
    let mut calls = tokio::task::JoinSet::new();
    for (id, record) in lost {
        let gateway = gateway.clone();
        calls.spawn(async move {
            let event = connection::closing_event(&id);
            let call = gateway.invoker().invoke(record.target(), event);
            let limit = Duration::from_secs(record.timeout_secs.max(1));
            gateway
                .bounded_cleanup(async {
                    match tokio::time::timeout(limit, call).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(f)) => tracing::warn!(conn = id, "cleanup function failed: {f}"),
                        Err(_) => tracing::warn!(conn = id, "cleanup function timed out"),
                    }
                })
                .await;
            let store = gateway.store().clone();
            let forget = tokio::task::spawn_blocking(move || open::done(&store, &id)).await;
            if let Ok(Err(e)) = forget {
                tracing::warn!("local cloud store: {e}");
            }
        });
    }
    while calls.join_next().await.is_some() {}
    tracing::warn!("ran the cleanup function of {count} connection(s) left open by the last run");
    count
}

/// `Some("api-xxxxxxxx")` when `path` is a push-back URL path (`/api-xxxxxxxx`).
pub fn push_path(path: &str) -> Option<&str> {
    let id = path.strip_prefix('/')?;
    (id.starts_with("api-") && id.len() > 4 && !id.contains('/')).then_some(id)
}

/// Whether `path` belongs to the WebSocket data plane (`/service-…`).
pub fn is_service_path(path: &str) -> bool {
    path.starts_with("/service-")
}
