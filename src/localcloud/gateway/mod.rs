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
mod table;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use invoke::{FailureKind, FunctionTarget, InvokeFailure, InvokeResult, Invoker, from_fn};
pub use table::{
    CLOSE_IDLE, CLOSE_INVALID_DATA, CLOSE_NORMAL, CLOSE_OVERFLOW, CLOSE_PROTOCOL, CLOSE_TOO_BIG,
};

use table::ApiConnections;

#[cfg(doc)]
use crate::localcloud::model::api as apigateway;

/// errNo: no such connection (never was, or closed).
pub const ERR_CONNECTION_NOT_FOUND: i64 = 1;
/// errNo: the connection's outbound queue overflowed; it is being closed.
pub const ERR_QUEUE_FULL: i64 = 2;
/// errNo: malformed request.
pub const ERR_BAD_REQUEST: i64 = 3;
/// errNo: no such API / no released WebSocket API at that URL.
pub const ERR_NO_API: i64 = 4;
/// errNo: the register function failed or answered nonsense.
pub const ERR_BACKEND: i64 = 5;
/// errNo: too many connections on the API.
pub const ERR_LIMIT: i64 = 6;
/// errNo: the local cloud itself failed.
pub const ERR_INTERNAL: i64 = 7;

/// The gateway's limits. Defaults and their basis:
///
/// - `idle_timeout: None` — a connection with no frame in either direction for the API's
///   `ServiceTimeout` seconds is closed (1001). Basis \[INF\]: for WebSocket APIs the console's
///   "backend timeout" is the connection's idle budget (the seed stack sets
///   `serviceTimeout: 800` on its WebSocket endpoint for that reason); Tencent's web-function
///   WebSockets document an idle timeout of 10–7200 s. `Some(d)` overrides it for every API.
/// - `max_frame_bytes: 256 KiB` — Tencent documents 256 KB as the largest WebSocket request or
///   response for web-function WebSockets (the only WebSocket message limit it publishes);
///   larger client messages are closed with 1009.
/// - `outbound_queue: 1024` frames per connection (see the overflow policy in the module
///   docs). A tokio bounded channel allocates its slots in blocks of 32 as they fill, so an
///   idle connection costs one block, not 1024 slots.
/// - `inbound_queue: 64` client frames waiting for the transport function; when full the
///   gateway stops reading that socket (TCP back-pressure) instead of buffering more.
/// - `max_connections_per_api: 50_000` — the cloud publishes no per-API figure; the local
///   process is bounded by file descriptors first, and this leaves room for the 10,000-idle-
///   connection benchmark.
/// - `close_grace: 2 s` — how long a server-initiated close waits for the client's close frame
///   before dropping the socket.
/// - `shutdown_budget: 60 s` — how long a stopping local cloud waits for the cleanup functions
///   of the connections it closes; those still owed after it run at the next start (the open
///   connections are persisted, see [`open`]).
/// - `cleanup_concurrency: 32` — cleanup functions running at once, on stop and at start (a
///   thousand at once would only queue in the function's worker pool and time out).
/// - `read_buffer_bytes: 4 KiB` per connection. tungstenite's default, 128 KiB, is allocated
///   and touched up front: measured with 5,000 idle connections (client and server in one
///   process, `gateway_idle_connections_memory`), RSS per connection was 20.7 KiB with 4 KiB,
///   24.7 KiB with 8 KiB and 80.7 KiB with 64 KiB buffers. Larger frames are simply read in
///   more pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayLimits {
    /// Idle timeout; `None` = the API's `ServiceTimeout`.
    pub idle_timeout: Option<Duration>,
    /// Largest client message (and frame), bytes.
    pub max_frame_bytes: usize,
    /// Outbound (push) queue length per connection, frames.
    pub outbound_queue: usize,
    /// Client frames buffered ahead of the transport function, per connection.
    pub inbound_queue: usize,
    /// Open (and opening) connections per API.
    pub max_connections_per_api: usize,
    /// Wait for the client's close frame after ours.
    pub close_grace: Duration,
    /// Socket read buffer per connection, bytes.
    pub read_buffer_bytes: usize,
    /// How long [`Gateway::shutdown`] waits for cleanups, as [`crate::localcloud::run`] calls it.
    pub shutdown_budget: Duration,
    /// Cleanup functions running at once.
    pub cleanup_concurrency: usize,
}

impl Default for GatewayLimits {
    fn default() -> Self {
        GatewayLimits {
            idle_timeout: None,
            max_frame_bytes: 256 * 1024,
            outbound_queue: 1024,
            inbound_queue: 64,
            max_connections_per_api: 50_000,
            close_grace: Duration::from_secs(2),
            read_buffer_bytes: 4 * 1024,
            shutdown_budget: Duration::from_secs(60),
            cleanup_concurrency: 32,
        }
    }
}

impl GatewayLimits {
    /// Largest push-back body: a binary frame of `max_frame_bytes` in base64 plus the JSON
    /// around it, with room to spare.
    pub fn max_push_body(&self) -> usize {
        self.max_frame_bytes / 3 * 4 + 64 * 1024
    }
}

/// What the embedder plugs into the gateway: the function invoker and the limits.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Runs register/transport/cleanup functions.
    pub invoker: Arc<dyn Invoker>,
    /// Limits.
    pub limits: GatewayLimits,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            invoker: Arc::new(invoke::Unavailable),
            limits: GatewayLimits::default(),
        }
    }
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The gateway's state inside [`LocalCloud`](super::LocalCloud): invoker, limits, and the live
/// connection tables by API id.
pub struct Gateway {
    invoker: Arc<dyn Invoker>,
    limits: GatewayLimits,
    /// API id → its connections. Entries are created on first use and kept (a few bytes per
    /// API ever connected to). Same locking argument as [`table`]: no `.await` under the lock.
    apis: Mutex<HashMap<String, Arc<ApiConnections>>>,
    /// Set by [`Gateway::shutdown`].
    shutting_down: AtomicBool,
    /// Bounds the cleanup functions running at once.
    cleanup_slots: Arc<tokio::sync::Semaphore>,
    /// Cleanup functions run (finished, well or not) since start.
    cleanups_run: AtomicUsize,
    /// Connections the last run left open, loaded at start, cleaned up by [`recover`].
    lost: Mutex<Vec<(String, open::OpenRecord)>>,
    /// What the last [`Gateway::shutdown`] did.
    report: Mutex<Option<ShutdownReport>>,
}

/// What [`Gateway::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections open (or opening) when it began.
    pub closed: usize,
    /// Cleanup functions that ran while it waited.
    pub cleanups_run: usize,
    /// Connections whose cleanup had not finished when the budget ran out: their cleanups run
    /// at the next start.
    pub left: usize,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway with no connections.
    pub fn new(config: GatewayConfig) -> Self {
        Gateway {
            invoker: config.invoker,
            cleanup_slots: Arc::new(tokio::sync::Semaphore::new(
                config.limits.cleanup_concurrency.max(1),
            )),
            limits: config.limits,
            apis: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            cleanups_run: AtomicUsize::new(0),
            lost: Mutex::new(Vec::new()),
            report: Mutex::new(None),
        }
    }

    /// Cleanup functions run since start (finished, successfully or not).
    pub fn cleanups_run(&self) -> usize {
        self.cleanups_run.load(Ordering::Acquire)
    }

    /// What the last [`Gateway::shutdown`] did, once it returned.
    pub fn shutdown_report(&self) -> Option<ShutdownReport> {
        *self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands over the connections the last run left open (read from the store at open).
    pub(crate) fn set_lost(&self, lost: Vec<(String, open::OpenRecord)>) {
        *self.lost.lock().unwrap_or_else(|e| e.into_inner()) = lost;
    }

    /// Runs `call` (a cleanup invocation) under the concurrency bound, then counts it.
    pub(super) async fn bounded_cleanup(&self, call: impl Future<Output = ()>) {
        let _slot = self.cleanup_slots.clone().acquire_owned().await;
        call.await;
        self.cleanups_run.fetch_add(1, Ordering::AcqRel);
    }

    /// The invoker functions run through.
    pub fn invoker(&self) -> &Arc<dyn Invoker> {
        &self.invoker
    }

    /// The limits.
    pub fn limits(&self) -> &GatewayLimits {
        &self.limits
    }

    /// Open connections of API `api_id`.
    pub fn connection_count(&self, api_id: &str) -> usize {
        self.existing(api_id).map_or(0, |t| t.len())
    }

    /// Open connections over every API.
    pub fn total_connections(&self) -> usize {
        self.apis().values().map(|t| t.len()).sum()
    }

    /// The `secConnectionID`s open on API `api_id`.
    pub fn connection_ids(&self, api_id: &str) -> Vec<String> {
        self.existing(api_id).map_or_else(Vec::new, |t| t.ids())
    }

    /// Refuses new handshakes from now on (503), closes every connection (1001, "server
    /// shutting down") and waits until their cleanup functions have run, or `deadline` passes.
    /// For a stopping local cloud: the HTTP server does not track upgraded connections, so
    /// without this their cleanups would never run. Call it while the local cloud still
    /// serves (as [`crate::localcloud::run`] does): cleanup functions usually call COS and the
    /// push-back endpoint on it.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.shutting_down.store(true, Ordering::Release);
        let until = tokio::time::Instant::now() + deadline;
        let ran_before = self.cleanups_run();
        let closed = self.apis().values().map(|t| t.admitted()).sum();
        loop {
            // Again on every round: a handshake whose register was running when the flag was
            // set is published after the first round.
            let tables: Vec<Arc<ApiConnections>> = self.apis().values().cloned().collect();
            for t in &tables {
                t.close_all(table::CloseNow::Frame(CLOSE_IDLE, "server shutting down"));
            }
            let left: usize = tables.iter().map(|t| t.admitted()).sum();
            if left == 0 || tokio::time::Instant::now() >= until {
                let report = ShutdownReport {
                    closed,
                    cleanups_run: self.cleanups_run() - ran_before,
                    left,
                };
                *self.report.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                return report;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether [`Gateway::shutdown`] was called: new handshakes are refused.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    fn apis(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ApiConnections>>> {
        self.apis.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn existing(&self, api_id: &str) -> Option<Arc<ApiConnections>> {
        self.apis().get(api_id).cloned()
    }

    fn table(&self, api_id: &str) -> Arc<ApiConnections> {
        self.apis().entry(api_id.to_owned()).or_default().clone()
    }
}

/// Runs the cleanup function of every connection the last run left open (see [`open`]), with
/// the cloud's `closing` event, at most [`GatewayLimits::cleanup_concurrency`] at once, and
/// forgets each once it ran; returns how many ran. [`crate::localcloud::run`] starts it once
/// it serves (cleanups call COS and the push-back endpoint).
pub async fn recover(cloud: &crate::localcloud::LocalCloud) -> usize {
    let gateway = cloud.gateway();
    let lost = std::mem::take(&mut *gateway.lost.lock().unwrap_or_else(|e| e.into_inner()));
    if lost.is_empty() {
        return 0;
    }
    let count = lost.len();
    tracing::warn!("running the cleanup function of {count} connection(s) the last run left open");
    let mut calls = tokio::task::JoinSet::new();
    for (id, record) in lost {
        let cloud = cloud.clone();
        calls.spawn(async move {
            let gateway = cloud.gateway();
            let event = connection::closing_event(&id);
            let call = gateway.invoker().invoke(&cloud, record.target(), event);
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
            let store = cloud.store().clone();
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

/// `{"errNo":N,"errMsg":"…"}` with `status`.
fn reply(status: StatusCode, err_no: i64, err_msg: impl Into<String>) -> Response {
    let body = json!({ "errNo": err_no, "errMsg": err_msg.into() }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
