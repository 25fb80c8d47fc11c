//! The local cloud (DESIGN §7): Tencent Cloud's control plane, COS, the WebSocket gateway and
//! the function runtime (warm Python workers), in one process on one port, persisted to a data
//! directory.
//!
//! Requests are routed the way the real endpoints are told apart:
//! - `Host: {bucket}.cos.{region}.myqcloud.com` → [`cos`], the COS XML API;
//! - `/api-xxxxxxxx` (an API's `InternalDomain`) → [`gateway::push`], the push-back endpoint;
//! - `/service-xxxxxxxx/{env}{path}` (a service's `OuterSubDomain` + environment + API path) →
//!   [`gateway::connection`], WebSocket handshakes on released APIs;
//! - `POST /` with `X-TC-Action` → [`api3`], the API 3.0 control plane (SCF, API Gateway, CAM).
//!
//! The deployer never shares memory with this module: it speaks to it over HTTP only.

pub mod account;
pub mod api3;
pub mod cos;
pub mod faults;
pub mod gateway;
pub mod hosts;
pub mod latency;
pub mod model;
pub mod runtime;
pub mod serve;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;

/// How the local cloud runs (`chatstack local` flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// Directory for the database and blobs.
    pub data_dir: PathBuf,
    /// The account's APPID (bucket suffix), default 1250000000.
    pub appid: u64,
    /// The one accepted permanent key pair.
    pub credentials: account::KeyPair,
    /// API round-trip and asynchronous-state durations.
    pub latency: latency::Profile,
    /// Injected control-plane failures.
    pub faults: faults::FaultConfig,
    /// Whether API Gateway can still create services and APIs.
    pub apigw: ApigwMode,
    /// Host names served besides the defaults (loopback names, the cloud's API and bucket
    /// hosts, the address passed to [`LocalCloud::open`]); `*.example.com` allows subdomains.
    /// Any other `Host` is refused with 403 (see [`hosts`]). `--allow-host NAME`.
    pub allow_hosts: Vec<String>,
    /// Timeouts and the connection capacity of the HTTP server.
    pub serve: serve::ServeLimits,
}

impl Options {
    /// The defaults of `chatstack local` (APPID 1250000000, the documented default key pair,
    /// no latency, no faults, API Gateway available, no extra host names) on `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Options {
            data_dir: data_dir.into(),
            appid: account::DEFAULT_APPID,
            credentials: account::KeyPair::default_pair(),
            latency: latency::Profile::none(),
            faults: faults::FaultConfig::default(),
            apigw: ApigwMode::Available,
            allow_hosts: Vec::new(),
            serve: serve::ServeLimits::default(),
        }
    }
}

/// API Gateway availability for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ApigwMode {
    /// Services and APIs can be created.
    #[default]
    Available,
    /// The platform is retired: CreateService/CreateApi are refused.
    Retired,
}

/// A cheap-clone handle on the running local cloud's state.
#[derive(Clone, Debug)]
pub struct LocalCloud {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    opts: Options,
    /// The address clients reach us on (the listener's), used in the URLs we hand out.
    addr: SocketAddr,
    store: store::Store,
    account: account::Account,
    faults: faults::Injector,
    gateway: gateway::Gateway,
    runtime: runtime::Runtime,
    hosts: hosts::HostPolicy,
    /// The address the last run served on and how many function variables were rewritten
    /// from it, when it was another.
    rebased: Option<(String, usize)>,
}

/// Where the store records the address URLs were last handed out for.
const META: &str = "localcloud_meta";

/// Records `addr` as the address handed out in URLs; when the last run handed out another
/// (a restart on a new port), rewrites the function variables that carry it (the push-back URL
/// deploy wired in) to `addr`, so chat keeps working without a redeploy. `InternalDomain` and
/// `OuterSubDomain` are derived from the address on every read, so they follow by themselves.
fn rebase(
    store: &store::Store,
    addr: SocketAddr,
) -> Result<Option<(String, usize)>, store::StoreError> {
    let new = addr.to_string();
    let old: Option<String> = store.get(META, "address")?;
    if old.as_deref() == Some(new.as_str()) {
        return Ok(None);
    }
    let rebased = match old {
        Some(old) => {
            let n = model::function::rebase_environment(store, &old, &new)?;
            tracing::info!("moved from {old} to {new}: rewrote {n} function variable(s)");
            Some((old, n))
        }
        None => None,
    };
    store.write(|t| t.put(META, "address", &new))?;
    Ok(rebased)
}

impl LocalCloud {
    /// Opens the data dir and builds the state for a server listening on `addr`, with no
    /// function runtime plugged into the gateway (handshakes are refused with 502).
    pub fn open(opts: Options, addr: SocketAddr) -> Result<Self, store::StoreError> {
        Self::open_with(
            opts,
            addr,
            runtime::RuntimeOptions::from_env(),
            runtime_gateway(),
        )
    }

    /// [`LocalCloud::open`] with the gateway's configuration (tests plug in fake invokers).
    pub fn open_with_gateway(
        opts: Options,
        addr: SocketAddr,
        gateway: gateway::GatewayConfig,
    ) -> Result<Self, store::StoreError> {
        Self::open_with(opts, addr, runtime::RuntimeOptions::from_env(), gateway)
    }

    /// [`LocalCloud::open`] with explicit function-runtime options.
    pub fn open_with_runtime(
        opts: Options,
        addr: SocketAddr,
        runtime_opts: runtime::RuntimeOptions,
    ) -> Result<Self, store::StoreError> {
        Self::open_with(opts, addr, runtime_opts, runtime_gateway())
    }

    /// [`LocalCloud::open`] with explicit function-runtime options and gateway configuration
    /// (what runs the WebSocket functions, and the limits): tests and `dev`.
    pub fn open_with(
        opts: Options,
        addr: SocketAddr,
        runtime_opts: runtime::RuntimeOptions,
        gateway: gateway::GatewayConfig,
    ) -> Result<Self, store::StoreError> {
        let runtime = runtime::Runtime::new(runtime_opts, &opts.data_dir);
        let store = store::Store::open(&opts.data_dir)?;
        let swept = cos::sweep_orphan_blobs(&store)?;
        if swept > 0 {
            tracing::info!("removed {swept} object file(s) left by an interrupted upload");
        }
        let account = account::Account::new(opts.appid, opts.credentials.clone(), store.clone());
        let faults = faults::Injector::new(&opts.faults);
        let hosts = hosts::HostPolicy::new(addr, &opts.allow_hosts);
        let rebased = rebase(&store, addr)?;
        let gateway = gateway::Gateway::new(gateway);
        gateway.set_lost(gateway::open::all(&store)?);
        Ok(LocalCloud {
            inner: Arc::new(Shared {
                hosts,
                rebased,
                opts,
                addr,
                store,
                account,
                faults,
                gateway,
                runtime,
            }),
        })
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The socket address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://ADDR`, the endpoint URL printed at start.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The persistent store.
    pub fn store(&self) -> &store::Store {
        &self.inner.store
    }

    /// The one account: APPID, keys, temporary credentials.
    pub fn account(&self) -> &account::Account {
        &self.inner.account
    }

    /// The function runtime (warm Python workers): what Invoke and the gateway call.
    pub fn runtime(&self) -> &runtime::Runtime {
        &self.inner.runtime
    }

    /// The fault injector.
    pub fn faults(&self) -> &faults::Injector {
        &self.inner.faults
    }

    /// The WebSocket gateway: invoker, limits, live connections.
    pub fn gateway(&self) -> &gateway::Gateway {
        &self.inner.gateway
    }

    /// When the data dir was last served on another address: that address and how many
    /// function variables were rewritten from it to this one.
    pub fn rebased(&self) -> Option<(&str, usize)> {
        self.inner.rebased.as_ref().map(|(a, n)| (a.as_str(), *n))
    }

    /// The `Host` names (and browser origins) it answers for.
    pub fn hosts(&self) -> &hosts::HostPolicy {
        &self.inner.hosts
    }
}

/// A gateway whose functions run on the local runtime, with the default limits.
pub fn runtime_gateway() -> gateway::GatewayConfig {
    gateway::GatewayConfig {
        invoker: Arc::new(RuntimeInvoker),
        ..gateway::GatewayConfig::default()
    }
}

/// Runs the gateway's register/transport/cleanup functions on [`runtime`]: the seam between
/// the WebSocket data plane and the warm Python workers.
#[derive(Debug)]
struct RuntimeInvoker;

impl gateway::Invoker for RuntimeInvoker {
    fn invoke(
        &self,
        cloud: &LocalCloud,
        target: gateway::FunctionTarget,
        event: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'static, gateway::InvokeResult> {
        use gateway::{FailureKind, InvokeFailure};
        use runtime::{FunctionErrorKind, InvokeError};
        let cloud = cloud.clone();
        Box::pin(async move {
            let f = runtime::FunctionRef {
                region: target.region,
                namespace: target.namespace,
                name: target.name,
            };
            let out = cloud
                .runtime()
                .invoke(&cloud, &f, event, runtime::InvocationType::RequestResponse)
                .await
                .map_err(|e| {
                    let kind = match e {
                        InvokeError::FunctionNotFound(_) => FailureKind::NotFound,
                        InvokeError::NotActive { .. } => FailureKind::NotActive,
                        _ => FailureKind::Error,
                    };
                    InvokeFailure::new(kind, e.to_string())
                })?;
            out.outcome.map_err(|e| {
                let kind = match e.kind {
                    FunctionErrorKind::Timeout | FunctionErrorKind::InitTimeout => {
                        FailureKind::Timeout
                    }
                    FunctionErrorKind::Crash | FunctionErrorKind::Oom => FailureKind::Crash,
                    FunctionErrorKind::UserException => FailureKind::Error,
                };
                InvokeFailure::new(kind, e.message)
            })
        })
    }
}

/// The whole HTTP surface as one router (handler tests use it with `oneshot`).
pub fn app(cloud: LocalCloud) -> Router {
    Router::new().fallback(dispatch).with_state(cloud)
}

/// Routes a request to the surface the real cloud would serve it from, once its `Host` (and,
/// except for WebSocket handshakes, its browser `Origin`) passed [`hosts`]' check.
async fn dispatch(State(cloud): State<LocalCloud>, req: Request<Body>) -> Response {
    use axum::http::header;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !cloud.hosts().allows_host(&host) {
        return refuse(&format!(
            "the chatstack local cloud does not answer for Host `{}`: it serves only loopback \
             names (localhost, 127.0.0.1, [::1]), its listen address, the cloud's API and COS \
             bucket host names, and names added with `--allow-host NAME`. This refusal \
             protects it from DNS rebinding: whoever reaches its control plane can run code \
             as the user running it.",
            shown(&host)
        ));
    }
    let path = req.uri().path();
    // A chat page served from anywhere may open the gateway's WebSockets, as in the cloud;
    // only pages from allowed hosts may call the control plane, COS or the push-back endpoint.
    if !gateway::is_service_path(path)
        && let Some(origin) = req.headers().get(header::ORIGIN)
        && !origin
            .to_str()
            .is_ok_and(|o| cloud.hosts().allows_origin(o))
    {
        return refuse(&format!(
            "the chatstack local cloud refuses browser requests from origin `{}`: only pages \
             served from its allowed hosts may call its control plane, COS or push-back \
             endpoint (WebSocket connections to the gateway are open to every page)",
            shown(&String::from_utf8_lossy(origin.as_bytes()))
        ));
    }
    // A body that stops arriving fails its read after `body_read_timeout` (each surface then
    // answers its own error) instead of holding the request open forever.
    let req = req.map(|b| {
        Body::new(tower_http::timeout::TimeoutBody::new(
            cloud.options().serve.body_read_timeout,
            b,
        ))
    });
    if let Some(bucket) = cos::bucket_host(&host) {
        return cos::handle(&cloud, bucket, req).await;
    }
    let path = req.uri().path();
    if let Some(api_id) = gateway::push_path(path) {
        let api_id = api_id.to_owned();
        return gateway::push::handle(&cloud, &api_id, req).await;
    }
    if gateway::is_service_path(path) {
        return gateway::connection::handle(&cloud, req).await;
    }
    api3::handle(&cloud, req).await
}

/// 403 with `why`, as plain text.
fn refuse(why: &str) -> Response {
    tracing::warn!("refused: {why}");
    Response::builder()
        .status(axum::http::StatusCode::FORBIDDEN)
        .header(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )
        .body(Body::from(format!("{why}\n")))
        .expect("static headers are valid")
}

/// A client-sent value cut to 100 characters, for messages.
fn shown(value: &str) -> String {
    if value.chars().count() <= 100 {
        return value.to_owned();
    }
    let cut: String = value.chars().take(100).collect();
    format!("{cut}…")
}

/// Serves `app` on `listener` (with each client's address, which the gateway reports as
/// `sourceIp`), bounded as [`serve`] describes, until `shutdown` completes; then closes the
/// open WebSocket connections and waits for their cleanup functions, *still serving* (a
/// cleanup function typically deletes a COS object or pushes to the push-back endpoint, both
/// on this server), and only then stops accepting and drains the requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    cloud: LocalCloud,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let limits = cloud.options().serve.clone();
    let server = serve::serve(listener, app(cloud.clone()), &limits, stop.clone());
    // Connections the last run left open get their cleanups once this one serves.
    let recovering = tokio::spawn({
        let cloud = cloud.clone();
        async move { gateway::recover(&cloud).await }
    });
    let stopping = async move {
        shutdown.await;
        let gateway = cloud.gateway();
        let report = gateway.shutdown(gateway.limits().shutdown_budget).await;
        if report.closed > 0 {
            tracing::info!(
                "closed {} connection(s), ran {} cleanup function(s); {} left for the next start",
                report.closed,
                report.cleanups_run,
                report.left
            );
        }
        recovering.abort();
        stop.cancel();
    };
    let (served, ()) = tokio::join!(server, stopping);
    served
}
