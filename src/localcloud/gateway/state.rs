//! The gateway's state: its limits and configuration, the live connection tables by API id,
//! the cleanup bound, and the store it reads released APIs from and records open connections
//! in. Built once by the local cloud ([`Gateway::new`]); the connection and push handlers and
//! the recovery at start share it through an `Arc`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::invoke::Invoker;
use super::open;
use super::table::{self, ApiConnections, CLOSE_IDLE};
use crate::localcloud::store::Store;

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

/// What the embedder chooses for the gateway: what runs its functions, and the limits.
#[derive(Clone, Default)]
pub struct GatewayConfig {
    /// Runs register/transport/cleanup functions; `None` (the default): the local cloud's
    /// own function runtime. Tests plug fakes in ([`super::from_fn`]), or
    /// [`super::Unavailable`] for a gateway that runs nothing.
    pub invoker: Option<Arc<dyn Invoker>>,
    /// Limits.
    pub limits: GatewayLimits,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The gateway's state: invoker, limits, store, and the live connection tables by API id.
pub struct Gateway {
    invoker: Arc<dyn Invoker>,
    /// Released APIs are read from it, open connections recorded in it.
    store: Store,
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
    /// Connections the last run left open, loaded at start, cleaned up by [`super::recover`].
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
    /// A gateway with no connections, reading its APIs from `store`, running functions
    /// through `invoker` (the configuration's, when it names one).
    pub fn new(config: GatewayConfig, invoker: Arc<dyn Invoker>, store: Store) -> Self {
        Gateway {
            invoker: config.invoker.unwrap_or(invoker),
            store,
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

    /// Takes the connections the last run left open (once: later calls get none).
    pub(super) fn take_lost(&self) -> Vec<(String, open::OpenRecord)> {
        std::mem::take(&mut *self.lost.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The store it reads APIs from and records open connections in.
    pub(super) fn store(&self) -> &Store {
        &self.store
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

    pub(super) fn existing(&self, api_id: &str) -> Option<Arc<ApiConnections>> {
        self.apis().get(api_id).cloned()
    }

    pub(super) fn table(&self, api_id: &str) -> Arc<ApiConnections> {
        self.apis().entry(api_id.to_owned()).or_default().clone()
    }
}
