//! `chatstack local`: the local cloud in the foreground (DESIGN §7) until Ctrl-C or SIGTERM.
//!
//! The endpoint URL is the first line of stdout, printed once the port is bound, so scripts and
//! tests can start it with `--listen 127.0.0.1:0` and read where it is.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::localcloud::account::{self, KeyPair};
use crate::localcloud::{self, ApigwMode, LocalCloud, Options, faults, latency};
use crate::providers::tencent::credentials::LOCAL_SECRET_ID;
use crate::ui;

/// How long in-flight requests get to finish after Ctrl-C, once the WebSocket connections'
/// cleanups ran (those get the gateway's `shutdown_budget`, 60 s), before the process exits
/// anyway.
const DRAIN: Duration = Duration::from_secs(5);

/// `local` flags (DESIGN §5).
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Credentials: the key pair in TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY when both are \
     set, else the default pair SecretId ",
    "AKIDchatstackLOCAL00000000000000000",
    ", SecretKey ",
    "chatstackLocalSecretKey000000000",
    ".\nPoint clients at the printed URL: API 3.0 with it as the endpoint, COS with it as the \
     address and the real bucket host as Host."
))]
pub struct Args {
    /// Address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR", value_parser = listen_addr)]
    pub listen: SocketAddr,

    /// Directory the local cloud persists to
    #[arg(long, default_value = ".chatstack/local", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// The account's APPID, the suffix of its bucket names
    #[arg(long, default_value_t = account::DEFAULT_APPID, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub appid: u64,

    /// Control-plane delays: none, realistic, or a profile FILE
    #[arg(long, default_value = "none", value_name = "none|realistic|FILE",
          value_parser = latency_arg)]
    pub latency: String,

    /// Fraction of control-plane calls that fail with retryable errors, 0.0 to 1.0
    #[arg(long = "faults", default_value_t = 0.0, value_name = "RATE", value_parser = fault_rate)]
    pub fault_rate: f64,

    /// Seed for --faults, to reproduce a run
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fault_seed: u64,

    /// Whether API Gateway can still create services (`retired` tests the clear-error path)
    #[arg(long, value_enum, default_value_t = ApigwMode::Available)]
    pub apigw: ApigwMode,

    /// Per-connection caps on Web functions' WebSockets: `cloud` applies Tencent's documented
    /// 10 messages/s and 128 KB/s (default: off locally, or CHATSTACK_WEBFN_LIMITS)
    #[arg(long, value_enum, value_name = "off|cloud")]
    pub webfn_limits: Option<localcloud::webfn::options::Limits>,

    /// Also answer for this Host name (repeatable; `*.example.com` for subdomains). Others get
    /// 403: loopback names, the listen address and the cloud's own host names are always served
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,

    /// Allow listening off loopback (the network can then run code as this user through the
    /// control plane); also needs your own TENCENTCLOUD_SECRET_ID/KEY, never the default pair
    #[arg(long)]
    pub allow_remote: bool,
}

/// `IP:PORT`, or `HOST:PORT` resolved (first IPv4 address preferred).
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("expected IP:PORT or HOST:PORT ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{s} resolves to no address"))
}

/// Checks `--latency` at parse time (so a bad profile is a usage error, exit 2).
fn latency_arg(s: &str) -> Result<String, String> {
    latency::Profile::from_arg(s).map(|_| s.to_owned())
}

fn fault_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("expected a fraction between 0.0 and 1.0".to_owned()),
    }
}

/// Off loopback the control plane is code execution for the network: refused unless asked for
/// with `--allow-remote` and keys of the user's own (the default pair is published).
fn check_exposure(listen: SocketAddr, allow_remote: bool, default_pair: bool) -> Result<(), Error> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        return Err(Error::Usage {
            message: format!(
                "refusing to listen on {listen}: off loopback, anyone who can reach the port can \
                 run code as this user through the control plane"
            ),
            help: "listen on 127.0.0.1 (the default), or pass --allow-remote with your own \
                   TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY"
                .to_owned(),
        });
    }
    if default_pair {
        return Err(Error::Usage {
            message: format!(
                "refusing to listen on {listen} with the documented default key pair: it is \
                 public, so anyone on the network could sign requests"
            ),
            help: "set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY to a pair of your own \
                   (and give it to the clients), then start again with --allow-remote"
                .to_owned(),
        });
    }
    Ok(())
}

/// Serves the local cloud until interrupted.
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let credentials = KeyPair::from_env(|k| std::env::var(k).ok());
    let secret_id = credentials.secret_id.clone();
    check_exposure(args.listen, args.allow_remote, secret_id == LOCAL_SECRET_ID)?;
    let opts = Options {
        data_dir: args.data_dir.clone(),
        appid: args.appid,
        credentials,
        latency: latency::Profile::from_arg(&args.latency).map_err(|e| Error::Io {
            path: PathBuf::from(&args.latency),
            source: std::io::Error::other(e),
        })?,
        faults: faults::FaultConfig {
            rate: args.fault_rate,
            seed: args.fault_seed,
        },
        apigw: args.apigw,
        allow_hosts: args.allow_hosts.clone(),
        serve: Default::default(),
        webfn: match args.webfn_limits {
            Some(limits) => localcloud::webfn::WebOptions::from_env().with_limits(limits),
            None => localcloud::webfn::WebOptions::from_env(),
        },
    };
    let address_error = |source| Error::Io {
        path: PathBuf::from(args.listen.to_string()),
        source,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(address_error)?;
    let bound = listener.local_addr().map_err(address_error)?;
    // Before anything is served (and before the endpoint line), so every connection counts
    // against the raised limit.
    localcloud::serve::raise_open_file_limit();
    let reachable = reachable(bound);
    let mut opts = opts;
    // Listening on every interface, each interface's address is this server's address.
    opts.allow_hosts
        .extend(reachable.iter().map(|a| a.ip().to_string()));
    let cloud = LocalCloud::open(opts, advertised(bound)).map_err(|e| Error::Io {
        path: args.data_dir.clone(),
        source: std::io::Error::other(e),
    })?;

    // Python for the functions is found (and its packages installed) now, visibly, rather than
    // at the first invocation. Without it the control plane and COS still serve.
    if let Err(reason) = super::common::prepare_python(&cloud, global).await {
        ui::warn(
            global,
            &format!(
                "functions cannot run: {reason} (install Python 3 with venv and pip, or set CHATSTACK_PYTHON)"
            ),
        );
    }

    // The endpoint URL is the whole of stdout's first line, flushed before anything else.
    ui::print_result(&format!("{}\n", cloud.endpoint_url()));
    let _ = std::io::stdout().flush();
    if !bound.ip().is_loopback() {
        // Loud, and never silenced by -q: this is the one thing the user must know.
        let urls: Vec<String> = reachable.iter().map(|a| format!("http://{a}")).collect();
        eprintln!(
            "WARNING: the chatstack local cloud is reachable from the network at {}.\n\
             WARNING: its control plane runs code as this user ({}) for anyone holding the key \
             pair {secret_id}; its COS buckets and push-back endpoint are open to the same \
             network. Stop it with Ctrl-C when you are done.",
            urls.join(", "),
            std::env::var("USER").unwrap_or_else(|_| "the current user".to_owned()),
        );
    }
    if !global.quiet {
        let capacity = cloud.options().serve.capacity();
        print_summary(
            &args,
            &cloud.endpoint_url(),
            &reachable,
            &secret_id,
            capacity,
            cloud.options().webfn.caps.is_some(),
        );
        if let Some((old, n)) = cloud.rebased() {
            eprintln!(
                "  moved     from {old}: rewrote {n} function variable(s) that carried the old \
                 address (push-back URLs keep working, no redeploy needed)"
            );
        }
    }
    serve_until_interrupted(listener, cloud)
        .await
        .map_err(address_error)
}

/// The address handed out in URLs: loopback when listening on every interface.
fn advertised(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, bound.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, bound.port()).into(),
        _ => bound,
    }
}

/// The addresses clients can reach a server bound to `bound` at: every interface's for an
/// unspecified address (IPv4 ones for 0.0.0.0, all for `[::]`), else the address itself.
fn reachable(bound: SocketAddr) -> Vec<SocketAddr> {
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    let mut addrs: Vec<SocketAddr> = localcloud::hosts::interface_addrs()
        .into_iter()
        .filter(|ip| bound.is_ipv6() || ip.is_ipv4())
        .map(|ip| SocketAddr::new(ip, bound.port()))
        .collect();
    // Loopback first: it is the advertised address.
    addrs.sort_by_key(|a| (!a.ip().is_loopback(), a.is_ipv6()));
    if addrs.is_empty() {
        addrs.push(advertised(bound));
    }
    addrs
}

/// What is running, on stderr: never the SecretKey.
fn print_summary(
    args: &Args,
    url: &str,
    reachable: &[SocketAddr],
    secret_id: &str,
    capacity: usize,
    webfn_caps: bool,
) {
    let caps = if webfn_caps {
        "the cloud's (10 messages/s, 128 KB/s)"
    } else {
        "off (--webfn-limits cloud turns them on)"
    };
    let source = if secret_id == LOCAL_SECRET_ID {
        "the documented default pair"
    } else {
        "from TENCENTCLOUD_SECRET_ID/KEY"
    };
    let apigw = match args.apigw {
        ApigwMode::Available => "available",
        ApigwMode::Retired => "retired",
    };
    // A status block for a foreground server; `ui` has no status printer yet.
    let also: Vec<String> = reachable
        .iter()
        .map(|a| format!("http://{a}"))
        .filter(|u| u != url)
        .collect();
    let also = if also.is_empty() {
        String::new()
    } else {
        format!("\n  also at   {}", also.join(", "))
    };
    eprintln!(
        "chatstack local cloud on {url}{also}\n  data dir  {}\n  SecretId  {secret_id} ({source})\n  \
         APPID     {}\n  latency {}, faults {} (seed {}), API Gateway {apigw}\n  \
         capacity  {capacity} connections at once (open-file limit {}); more get 503\n  \
         Web function connection caps {caps}\n\
         Ctrl-C stops it.",
        args.data_dir.display(),
        args.appid,
        args.latency,
        args.fault_rate,
        args.fault_seed,
        localcloud::serve::raise_open_file_limit(),
    );
}

/// Serves until Ctrl-C/SIGTERM, then gives requests in flight [`DRAIN`] to finish.
async fn serve_until_interrupted(
    listener: tokio::net::TcpListener,
    cloud: LocalCloud,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let budget = cloud.gateway().limits().shutdown_budget + DRAIN;
    let mut server = tokio::spawn(localcloud::run(listener, cloud.clone(), async {
        let _ = stop_rx.await;
    }));
    let served = tokio::select! {
        served = &mut server => served,
        () = super::common::interrupted() => {
            tracing::info!("stopping: running cleanups, finishing requests in flight");
            let _ = stop_tx.send(());
            match tokio::time::timeout(budget, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::warn!("connections still open after {budget:?}; stopping anyway");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    if let Some(r) = cloud.gateway().shutdown_report().filter(|r| r.closed > 0) {
        eprintln!(
            "closed {} WebSocket connection(s); ran {} cleanup function(s){}",
            r.closed,
            r.cleanups_run,
            if r.left > 0 {
                format!("; {} left for the next start", r.left)
            } else {
                String::new()
            }
        );
    }
    served.unwrap_or_else(|join| Err(std::io::Error::other(join)))
}

#[cfg(test)]
mod tests {
    use crate::providers::tencent::credentials::{LOCAL_SECRET_ID, LOCAL_SECRET_KEY};

    #[test]
    fn help_names_the_default_pair_the_account_accepts() {
        let help = <super::Args as clap::Args>::augment_args(clap::Command::new("local"))
            .render_help()
            .to_string();
        assert!(help.contains(LOCAL_SECRET_ID), "{help}");
        assert!(help.contains(LOCAL_SECRET_KEY), "{help}");
    }
}
