//! `chatstack dev`: the stack in this directory on a local cloud in this process, its page in
//! the browser, every function's logs, and a redeploy on every save, until Ctrl-C.
//!
//! The order at start: the stack file is checked (a bad one ends `dev` at once, exit 2), Python
//! for the functions is prepared (seen, with the time it took), the local cloud and the page
//! server listen on loopback (the ports of the last run when they are free, so open tabs and
//! the functions' push-back URL stay valid), the stack is deployed, and the URLs are printed.
//! Then a save of the stack file or of a function's code redeploys what changed (open WebSocket
//! connections stay up: the gateway keeps them and the next invocation runs the new code); a
//! broken edit prints its error and the last good deployment keeps serving; a save under `web/`
//! reloads open pages. Ctrl-C closes every connection (their cleanup functions run) and keeps
//! the local cloud's state in `.chatstack/dev/` for the next run.
//!
//! With `--json`, stdout carries one JSON object per line: `ready`, `deployed`, `deployFailed`,
//! `log`, `stopped` events (`event` says which).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::common::StateDir;
use crate::cli::GlobalArgs;
use crate::config::Stack;
use crate::dev::page::{self, Page, PageConfig};
use crate::dev::watch::{Layout, Watcher};
use crate::dev::{self, Ports, tail};
use crate::engine;
use crate::error::Error;
use crate::localcloud::{self, LocalCloud, account};
use crate::providers::tencent::{Credentials, TencentCloud};
use crate::ui::{self, progress::Progress, report::Report};

/// How long a deploy may take before `dev` gives up on it.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(600);

/// `dev` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the local cloud listens [default: 127.0.0.1, the port of the last run if free]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Open the page in the desktop's browser
    #[arg(long)]
    pub open: bool,

    /// Run one of chatstack's examples (written to .chatstack/examples/NAME) instead of the
    /// stack here: `chat`
    #[arg(long, value_name = "NAME")]
    pub example: Option<String>,
}

/// Runs until Ctrl-C.
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let mut global = global.clone();
    if let Some(name) = &args.example {
        global.config = Some(example(name, &global)?);
    }
    let global = &global;
    let mut stack = super::common::load_stack(global)?;
    super::common::print_warnings(global, &stack);
    check_runtimes(&stack)?;
    let state = StateDir(StateDir::of(&stack).0.join("dev"));
    let ports = Ports::load(&state.0);

    if let Some(addr) = args.listen.filter(|a| !a.ip().is_loopback()) {
        return Err(Error::Usage {
            message: format!(
                "`dev --listen {addr}` would let other machines run code on this one: dev's \
                 local cloud accepts the documented default key pair"
            ),
            help: "dev listens on loopback only (e.g. `--listen 127.0.0.1:9000`); to share a \
                   local cloud on a network, run `chatstack local --listen ADDR --allow-remote` \
                   with keys of your own in TENCENTCLOUD_SECRET_ID/KEY"
                .to_owned(),
        });
    }
    let (listener, addr) = listen(args.listen, ports.cloud).await?;
    let cloud = open_cloud(&stack, &state, addr)?;
    super::common::prepare_python(&cloud, global)
        .await
        .map_err(Error::PythonUnavailable)?;

    let interrupted = interrupt_token();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(localcloud::run(listener, cloud.clone(), async move {
        let _ = stop_rx.await;
    }));
    let client = TencentCloud::new(
        Credentials::local_default(),
        &stack.region,
        Some(
            cloud
                .endpoint_url()
                .parse()
                .expect("the local cloud's URL parses"),
        ),
    )?;

    let page = Page::new(PageConfig {
        stack: stack.name.clone(),
        stage: stack.stage.clone(),
        reload: page::EVENTS,
        ..PageConfig::default()
    });
    let page_url = serve_page(&page, &stack, ports.page).await?;
    Ports {
        cloud: addr.port(),
        page: page_url.port().unwrap_or_default(),
    }
    .save(&state.0);

    let first = deploy(&stack, &client, &state, global, &interrupted).await;
    let ws = match &first {
        Ok(ws) => ws.clone(),
        Err(e) => {
            report_failure(global, e);
            None
        }
    };
    if let Some(ws) = &ws {
        page.set_websocket_url(ws);
    }
    print_ready(
        global,
        &cloud.endpoint_url(),
        page_url.as_str(),
        ws.as_deref(),
    );
    if args.open
        && let Err(why) = dev::open_browser(page_url.as_str())
    {
        ui::warn(global, &format!("--open: {why}; open {page_url} yourself"));
    }

    let mut logs = follow_logs(&client, &stack, global);
    let mut layout = layout_of(&stack);
    let (mut watcher, mut changes) = Watcher::start(&layout).map_err(Error::Watch)?;
    loop {
        let batch = tokio::select! {
            batch = changes.recv() => batch,
            () = interrupted.cancelled() => None,
        };
        let Some(batch) = batch else { break };
        let what = layout.classify(batch.iter().map(PathBuf::as_path));
        if what.web {
            page.web_changed();
            event(
                global,
                json!({"event": "pageReloaded"}),
                "Reloaded",
                "the page",
            );
        }
        if !what.redeploy() {
            continue;
        }
        let why: Vec<String> = what
            .code
            .iter()
            .map(|p| p.display().to_string())
            .chain(what.stack.then(|| {
                let shown = stack.path.file_name().unwrap_or(stack.path.as_os_str());
                shown.to_string_lossy().into_owned()
            }))
            .collect();
        ui::status(global, "Changed", &why.join(", "));
        let reloaded = super::common::load_stack(global).and_then(|s| {
            check_runtimes(&s)?;
            Ok(s)
        });
        let next = match reloaded {
            Ok(next) => next,
            Err(e) => {
                report_failure(global, &e);
                continue;
            }
        };
        match deploy(&next, &client, &state, global, &interrupted).await {
            Ok(ws) => {
                if let Some(ws) = &ws {
                    page.set_websocket_url(ws);
                }
                if functions_differ(&stack, &next) {
                    logs.abort();
                    logs = follow_logs(&client, &next, global);
                }
                stack = next;
                layout = layout_of(&stack);
                watcher.follow(&layout).map_err(Error::Watch)?;
            }
            Err(e) => report_failure(global, &e),
        }
    }

    logs.abort();
    ui::status(
        global,
        "Stopping",
        "closing WebSocket connections (their cleanup functions run)",
    );
    let open = cloud.gateway().total_connections();
    let _ = stop_tx.send(());
    let _ = server.await;
    event(
        global,
        json!({"event": "stopped", "connectionsClosed": open}),
        "Stopped",
        &format!(
            "{open} connection(s) closed; state kept in {}",
            state.0.display()
        ),
    );
    Ok(())
}

/// Writes the example `name` into `.chatstack/examples/NAME` (once: later runs keep the user's
/// edits) and returns its stack file.
fn example(name: &str, global: &GlobalArgs) -> Result<PathBuf, Error> {
    let template = crate::template::find(name).ok_or_else(|| Error::UnknownExample {
        name: name.to_owned(),
        known: crate::template::TEMPLATES
            .iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let dir = Path::new(".chatstack").join("examples").join(name);
    let stack = dir.join("chatstack.yml");
    if !stack.is_file() {
        crate::template::write(&template.render(name), &dir)?;
        ui::status(
            global,
            "Created",
            &format!("the {name} example in {}", dir.display()),
        );
    }
    Ok(stack)
}

/// The local cloud runs Python functions only: say so before deploying, not on the first
/// connection.
fn check_runtimes(stack: &Stack) -> Result<(), Error> {
    match super::common::not_runnable_locally(stack).next() {
        Some(f) => Err(Error::LocalRuntime {
            function: f.name.clone(),
            runtime: f.runtime.clone(),
        }),
        None => Ok(()),
    }
}

/// The local cloud, persisting beside the stack; its account takes the APPID the stack's
/// bucket name carries, so a bucket written as `name-APPID` is the account's own.
fn open_cloud(stack: &Stack, state: &StateDir, addr: SocketAddr) -> Result<LocalCloud, Error> {
    let data_dir = state.0.join("local");
    let opts = localcloud::Options {
        appid: stack.bucket.appid.unwrap_or(account::DEFAULT_APPID),
        ..localcloud::Options::new(&data_dir)
    };
    LocalCloud::open(opts, addr).map_err(|e| Error::Io {
        path: data_dir,
        source: std::io::Error::other(e),
    })
}

/// Binds `addr`, else loopback on `port` (a free port when it is taken); returns the address
/// bound.
async fn listen(
    addr: Option<SocketAddr>,
    port: u16,
) -> Result<(tokio::net::TcpListener, SocketAddr), Error> {
    let io = |source| Error::Io {
        path: PathBuf::from(addr.map_or_else(|| format!("127.0.0.1:{port}"), |a| a.to_string())),
        source,
    };
    let listener = match addr {
        Some(addr) => tokio::net::TcpListener::bind(addr).await,
        None => dev::bind_loopback(port).await,
    }
    .map_err(io)?;
    let bound = listener.local_addr().map_err(io)?;
    Ok((listener, bound))
}

/// Serves the project's `web/` (or the chat template's page) on loopback; returns its URL.
async fn serve_page(page: &Page, stack: &Stack, port: u16) -> Result<url::Url, Error> {
    let web = project_dir(stack).join("web");
    let source = if web.is_dir() {
        page::Source::Dir(web)
    } else {
        page::Source::Builtin(crate::template::builtin_page())
    };
    let (listener, addr) = listen(None, port).await?;
    let app = page.router(source);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the page server stopped: {e}");
        }
    });
    Ok(format!("http://{addr}/")
        .parse()
        .expect("a page URL parses"))
}

/// Packages, plans and applies (without asking: this is the developer's own local cloud);
/// returns the WebSocket URL.
async fn deploy(
    stack: &Stack,
    client: &TencentCloud,
    state: &StateDir,
    global: &GlobalArgs,
    interrupted: &CancellationToken,
) -> Result<Option<String>, Error> {
    let started = Instant::now();
    let packages = super::common::package_all(global, stack)?;
    let _lock = state.lock(stack, "dev")?;
    let journal = state.journal(stack);
    let prepared = engine::deploy::prepare(stack, client, &journal, packages).await?;
    let changed = prepared.plan.has_changes();
    if changed && !global.quiet && !global.json {
        ui::print_plan(&prepared.plan.changes, false);
    }
    let progress = Progress::new(ui::progress::Mode::detect(global.quiet, global.json));
    let opts = engine::deploy::ApplyOptions {
        timeout: DEPLOY_TIMEOUT,
        cancel: interrupted.child_token(),
    };
    let deployed =
        engine::deploy::apply(stack, client, prepared, journal, &opts, &progress).await?;
    let report = Report::new(stack, &deployed.observed);
    let total = started.elapsed().as_secs_f64();
    let (verb, summary) = if changed {
        ("Deployed", ui::deployed_summary(&deployed, total))
    } else {
        ("Up to date", "nothing to change".to_owned())
    };
    event(
        global,
        json!({"event": "deployed", "changes": deployed.changes, "seconds": total,
               "websocketUrl": report.websocket_url()}),
        verb,
        &summary,
    );
    Ok(report.websocket_url().map(str::to_owned))
}

/// The stack file's directory.
fn project_dir(stack: &Stack) -> PathBuf {
    let dir = stack.path.parent().unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// What the watcher must know about the stack, canonical (as the OS reports events).
fn layout_of(stack: &Stack) -> Layout {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    let root = canonical(&project_dir(stack));
    let web = root.join("web");
    let mut code_dirs: Vec<PathBuf> = stack
        .functions
        .iter()
        .map(|f| canonical(&f.code_dir))
        .collect();
    code_dirs.dedup();
    Layout {
        stack_file: canonical(&stack.path),
        code_dirs,
        web_dir: web.is_dir().then_some(web),
        root,
    }
}

fn functions_differ(a: &Stack, b: &Stack) -> bool {
    let names = |s: &Stack| {
        s.functions
            .iter()
            .map(|f| (f.name.clone(), f.namespace.clone()))
            .collect::<Vec<_>>()
    };
    names(a) != names(b)
}

/// Streams the stack's functions' logs to stdout, the function name in front.
fn follow_logs(
    client: &TencentCloud,
    stack: &Stack,
    global: &GlobalArgs,
) -> tokio::task::JoinHandle<()> {
    let followed: Vec<tail::Followed> = stack
        .functions
        .iter()
        .map(|f| tail::Followed {
            name: f.name.clone(),
            namespace: f.namespace.clone(),
        })
        .collect();
    let width = followed.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let json = global.json;
    let colour = ui::stdout_is_terminal();
    tokio::spawn(tail::follow(
        client.scf(),
        followed,
        Instant::now(),
        move |i, line| {
            if json {
                ui::print_json_line(&json!({"event": "log", "function": line.function,
                "requestId": line.request_id, "text": line.text, "error": line.error}));
            } else {
                ui::print_result(&tail::render(&line, i, width, colour));
            }
        },
    ))
}

/// The URLs, once everything listens.
fn print_ready(global: &GlobalArgs, endpoint: &str, page: &str, ws: Option<&str>) {
    if global.json {
        ui::print_json_line(
            &json!({"event": "ready", "endpoint": endpoint, "page": page,
            "websocketUrl": ws}),
        );
        return;
    }
    let ws = ws.unwrap_or("(not deployed: fix the error above and save)");
    ui::print_result(&format!(
        "\n  Chat page    {page}\n  WebSocket    {ws}\n  Local cloud  {endpoint}  (chatstack --endpoint {endpoint} …)\n\n\
         Watching for changes; Ctrl-C stops.\n\n"
    ));
}

/// A failed (re)deploy: the error, and the last good deployment keeps serving.
fn report_failure(global: &GlobalArgs, e: &Error) {
    if global.json {
        ui::print_json_line(&json!({"event": "deployFailed", "error": e.to_string()}));
    }
    ui::report_error(e);
    ui::warn(
        global,
        "not deployed; the last good deployment keeps serving. Save a fix to try again.",
    );
}

/// One event: a JSON line with `--json`, else a status line.
fn event(global: &GlobalArgs, doc: serde_json::Value, verb: &str, message: &str) {
    if global.json {
        ui::print_json_line(&doc);
    } else {
        ui::status(global, verb, message);
    }
}

/// Cancelled by Ctrl-C or SIGTERM (a second Ctrl-C ends the process at once).
fn interrupt_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        super::common::interrupted().await;
        t.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
    token
}
