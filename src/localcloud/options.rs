//! How the local cloud runs: [`Options`] (the `chatstack local` flags) and [`ApigwMode`].
//! A leaf: every part of the local cloud may import it.

use std::path::PathBuf;

use super::webfn::options as webfn;
use super::{account, faults, latency, serve};

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
    /// The Web-function data plane's limits and keep-warm (`--webfn-limits`).
    pub webfn: webfn::WebOptions,
}

impl Options {
    /// The defaults of `chatstack local` (APPID 1250000000, the documented default key pair,
    /// no latency, no faults, API Gateway available, no extra host names, Web functions as
    /// `CHATSTACK_WEBFN_*` say) on `data_dir`.
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
            webfn: webfn::WebOptions::from_env(),
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
