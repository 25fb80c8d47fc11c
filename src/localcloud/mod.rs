//! The local cloud (DESIGN §7): Tencent Cloud's control plane, COS, the function runtime
//! ([`runtime`], warm Python workers behind Invoke) and (later) the WebSocket gateway, in one
//! process on one port, persisted to a data directory.
//!
//! Requests are routed the way the real endpoints are told apart:
//! - `Host: {bucket}.cos.{region}.myqcloud.com` → [`cos`], the COS XML API;
//! - `POST /` with `X-TC-Action` → [`api3`], the API 3.0 control plane (SCF, API Gateway, CAM).
//!
//! The deployer never shares memory with this module: it speaks to it over HTTP only.

pub mod account;
pub mod api3;
pub mod cos;
pub mod faults;
pub mod latency;
pub mod runtime;
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
    runtime: runtime::Runtime,
}

impl LocalCloud {
    /// Opens the data dir and builds the state for a server listening on `addr`.
    pub fn open(opts: Options, addr: SocketAddr) -> Result<Self, store::StoreError> {
        Self::open_with_runtime(opts, addr, runtime::RuntimeOptions::from_env())
    }

    /// Like [`LocalCloud::open`], with explicit function-runtime options (tests, `dev`).
    pub fn open_with_runtime(
        opts: Options,
        addr: SocketAddr,
        runtime_opts: runtime::RuntimeOptions,
    ) -> Result<Self, store::StoreError> {
        let runtime = runtime::Runtime::new(runtime_opts, &opts.data_dir);
        let store = store::Store::open(&opts.data_dir)?;
        let account = account::Account::new(opts.appid, opts.credentials.clone(), store.clone());
        let faults = faults::Injector::new(&opts.faults);
        Ok(LocalCloud {
            inner: Arc::new(Shared {
                opts,
                addr,
                store,
                account,
                faults,
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
}

/// The whole HTTP surface as one router (handler tests use it with `oneshot`).
pub fn app(cloud: LocalCloud) -> Router {
    Router::new().fallback(dispatch).with_state(cloud)
}

/// Routes a request to the surface the real cloud would serve it from.
async fn dispatch(State(cloud): State<LocalCloud>, req: Request<Body>) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(bucket) = cos::bucket_host(&host) {
        return cos::handle(&cloud, bucket, req).await;
    }
    api3::handle(&cloud, req).await
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    cloud: LocalCloud,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(cloud))
        .with_graceful_shutdown(shutdown)
        .await
}
