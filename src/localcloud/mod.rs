//! The local cloud (DESIGN §7): Tencent Cloud's control plane, COS, the WebSocket gateway and
//! the function runtime (warm Python workers), in one process on one port, persisted to a data
//! directory.
//!
//! Requests are routed the way the real endpoints are told apart:
//! - `Host: {bucket}.cos.{region}.myqcloud.com` → [`cos`], the COS XML API;
//! - `/api-xxxxxxxx` (an API's `InternalDomain`) → [`gateway::push`], the push-back endpoint;
//! - `/service-xxxxxxxx/{env}{path}` (a service's `OuterSubDomain` + environment + API path) →
//!   [`gateway::connection`], WebSocket handshakes on released APIs;
//! - `/scf/{appid}-{urlid}.{region}.tencentscf.com/…` (or that `Host`) → [`webfn`], a Web
//!   function's Function URL (HTTP requests and WebSocket upgrades);
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
mod options;
pub mod runtime;
pub mod serve;
pub mod store;
pub mod webfn;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;

pub use options::{ApigwMode, Options};

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
    account: Arc<account::Account>,
    /// The control plane's parts (it owns the fault injector).
    api3: Arc<api3::Plane>,
    gateway: Arc<gateway::Gateway>,
    /// The Web-function data plane (Function URLs).
    webfn: Arc<webfn::WebFunctions>,
    runtime: runtime::Runtime,
    cos: cos::Cos,
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
    /// Opens the data dir and builds the state for a server listening on `addr`: the
    /// gateway's functions run on the local runtime, with the runtime options from the
    /// environment ([`runtime::RuntimeOptions::from_env`]).
    pub fn open(opts: Options, addr: SocketAddr) -> Result<Self, store::StoreError> {
        Self::open_with(
            opts,
            addr,
            runtime::RuntimeOptions::from_env(),
            gateway::GatewayConfig::default(),
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
        Self::open_with(opts, addr, runtime_opts, gateway::GatewayConfig::default())
    }

    /// [`LocalCloud::open`] with explicit function-runtime options and gateway configuration
    /// (what runs the WebSocket functions, and the limits): tests and `dev`.
    ///
    /// The composition root: each part is built here with what it needs (the store, the
    /// account, the address), and none of them holds the whole local cloud.
    pub fn open_with(
        opts: Options,
        addr: SocketAddr,
        runtime_opts: runtime::RuntimeOptions,
        gateway: gateway::GatewayConfig,
    ) -> Result<Self, store::StoreError> {
        let store = store::Store::open(&opts.data_dir)?;
        let swept = cos::sweep_orphan_blobs(&store)?;
        if swept > 0 {
            tracing::info!("removed {swept} object file(s) left by an interrupted upload");
        }
        let account = Arc::new(account::Account::new(
            opts.appid,
            opts.credentials.clone(),
            store.clone(),
        ));
        let runtime = runtime::Runtime::new(
            runtime_opts,
            &opts.data_dir,
            store.clone(),
            account.clone(),
            format!("127.0.0.1:{}", addr.port()),
        );
        let cos = cos::Cos::new(store.clone(), account.clone());
        let api3 = Arc::new(api3::Plane {
            store: store.clone(),
            account: account.clone(),
            runtime: runtime.clone(),
            faults: faults::Injector::new(&opts.faults),
            latency: opts.latency.clone(),
            apigw: opts.apigw,
            addr,
        });
        let hosts = hosts::HostPolicy::new(addr, &opts.allow_hosts);
        let rebased = rebase(&store, addr)?;
        let gateway = Arc::new(gateway::Gateway::new(
            gateway,
            Arc::new(RuntimeInvoker(runtime.clone())),
            store.clone(),
        ));
        gateway.set_lost(gateway::open::all(&store)?);
        let webfn = Arc::new(webfn::WebFunctions::new(
            store.clone(),
            account.clone(),
            runtime.clone(),
            opts.webfn.clone(),
        ));
        Ok(LocalCloud {
            inner: Arc::new(Shared {
                webfn,
                hosts,
                rebased,
                opts,
                addr,
                store,
                account,
                api3,
                gateway,
                runtime,
                cos,
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
        &self.inner.api3.faults
    }

    /// The API 3.0 control plane's parts.
    pub fn api3(&self) -> &Arc<api3::Plane> {
        &self.inner.api3
    }

    /// The WebSocket gateway: invoker, limits, live connections.
    pub fn gateway(&self) -> &Arc<gateway::Gateway> {
        &self.inner.gateway
    }

    /// The Web-function data plane: Function URLs and the instances behind them.
    pub fn web_functions(&self) -> &Arc<webfn::WebFunctions> {
        &self.inner.webfn
    }

    /// COS, the XML API on the bucket hosts.
    pub fn cos(&self) -> &cos::Cos {
        &self.inner.cos
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

/// Runs the gateway's register/transport/cleanup functions on [`runtime`]: the seam between
/// the WebSocket data plane and the warm Python workers (the gateway's invoker unless
/// [`gateway::GatewayConfig::invoker`] names another).
#[derive(Debug)]
struct RuntimeInvoker(runtime::Runtime);

impl gateway::Invoker for RuntimeInvoker {
    fn invoke(
        &self,
        target: gateway::FunctionTarget,
        event: serde_json::Value,
    ) -> futures_util::future::BoxFuture<'static, gateway::InvokeResult> {
        use gateway::{FailureKind, InvokeFailure};
        use runtime::{FunctionErrorKind, InvokeError};
        let runtime = self.0.clone();
        Box::pin(async move {
            let f = runtime::FunctionRef {
                region: target.region,
                namespace: target.namespace,
                name: target.name,
            };
            let out = runtime
                .invoke(&f, event, runtime::InvocationType::RequestResponse)
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
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or(path, |p| p.as_str())
        .to_owned();
    let function_url = webfn::target(&host, &path_and_query);
    // A chat page served from anywhere may open the gateway's WebSockets and call Function
    // URLs, as in the cloud; only pages from allowed hosts may call the control plane, COS or
    // the push-back endpoint.
    if !gateway::is_service_path(path)
        && function_url.is_none()
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
    if let Some((fn_host, fn_path)) = function_url {
        return webfn::handle(cloud.web_functions(), fn_host, fn_path, req).await;
    }
    if let Some(bucket) = cos::bucket_host(&host) {
        return cloud.cos().handle(bucket, req).await;
    }
    let path = req.uri().path();
    if let Some(api_id) = gateway::push_path(path) {
        let api_id = api_id.to_owned();
        return gateway::push::handle(cloud.gateway(), &api_id, req).await;
    }
    if gateway::is_service_path(path) {
        return gateway::connection::handle(cloud.gateway(), req).await;
    }
    api3::handle(cloud.api3(), req).await
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
        let gateway = cloud.gateway().clone();
        async move { gateway::recover(&gateway).await }
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
        cloud.web_functions().shutdown();
        stop.cancel();
    };
    let (served, ()) = tokio::join!(server, stopping);
    served
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    /// What the whole surface answers for `method path` on the loopback host.
    async fn send(
        cloud: &LocalCloud,
        method: Method,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:9000")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app(cloud.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn routes_push_urls_handshake_urls_and_the_rest_to_their_surface() {
        let dir = tempfile::tempdir().unwrap();
        let cloud =
            LocalCloud::open(Options::new(dir.path()), "127.0.0.1:9000".parse().unwrap()).unwrap();
        // A push-back URL: the gateway's envelope (no such API).
        let push = serde_json::json!({"websocket": {"action": "data send",
            "secConnectionID": "a", "dataType": "text", "data": "x"}});
        let (st, v) = send(&cloud, Method::POST, "/api-nothere", push).await;
        assert_eq!((st, &v["errNo"]), (StatusCode::NOT_FOUND, &4.into()));
        // A handshake URL: the gateway's envelope (nothing released there).
        let (st, v) = send(
            &cloud,
            Method::GET,
            "/service-nothere/release/ws",
            Value::Null,
        )
        .await;
        assert_eq!((st, &v["errNo"]), (StatusCode::NOT_FOUND, &4.into()));
        // `/api-x/more` is not a push URL: API 3.0 answers it with its own 404 envelope.
        let (st, v) = send(&cloud, Method::POST, "/api-t/more", Value::Null).await;
        assert_eq!(
            (st, &v["Response"]["Error"]["Code"]),
            (StatusCode::NOT_FOUND, &"ResourceNotFound".into())
        );
    }
}
