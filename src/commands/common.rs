//! The steps every stack command shares: find and load the stack file, print its warnings,
//! resolve credentials and connect, package the functions, the state directory, confirmation,
//! what a local cloud cannot run, the Python check, Ctrl-C. A leaf: the commands import it.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::{self, Stack};
use crate::engine::journal::{Journal, Lock};
use crate::error::Error;
use crate::package::{self, Package};
use crate::providers::tencent::{self, TencentCloud};
use crate::ui;

/// `-c FILE`, else `chatstack.yml`, else `serverless.yml` in the current directory.
pub(super) fn stack_path(global: &GlobalArgs) -> Result<PathBuf, Error> {
    if let Some(path) = &global.config {
        return Ok(path.clone());
    }
    let dir = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    [
        "chatstack.yml",
        "chatstack.yaml",
        "serverless.yml",
        "serverless.yaml",
    ]
    .iter()
    .map(|name| dir.join(name))
    .find(|p| p.is_file())
    .ok_or(Error::StackFileNotFound { dir })
}

/// Loads and validates the stack file: everything is checked before the first cloud call.
pub(super) fn load_stack(global: &GlobalArgs) -> Result<Stack, Error> {
    let path = stack_path(global)?;
    let opts = config::LoadOptions {
        stage: global.stage.clone(),
        env: std::env::vars().collect(),
    };
    Ok(config::load(&path, &opts)?)
}

/// Warns, before `plan` and `deploy` change anything, about Python functions that use the COS
/// SDK with neither an execution role nor keys (see `engine::roles::credential_warnings`).
pub(super) fn warn_credentials(
    global: &GlobalArgs,
    stack: &Stack,
    packages: &[crate::package::Package],
) {
    for w in crate::engine::roles::credential_warnings(stack, packages) {
        ui::warn(global, &w);
    }
}

/// Prints the stack file's warnings, once, where they matter: before `plan` and `deploy` change
/// or show a change (not on every `info`, `logs` or `remove`).
pub(super) fn print_warnings(global: &GlobalArgs, stack: &Stack) {
    for w in &stack.warnings {
        ui::warn(global, &format!("{}: {}", w.location, w.message));
    }
    // A local cloud runs Python functions only: say so now, not on the first connection.
    if global
        .endpoint
        .as_ref()
        .is_some_and(tencent::http::is_loopback)
    {
        for f in not_runnable_locally(stack) {
            ui::warn(
                global,
                &format!(
                    "{}: function `{}` uses {}; a local cloud runs Python functions only, so \
                     invoking it there will fail",
                    f.handler_location, f.name, f.runtime
                ),
            );
        }
    }
}

/// Resolves credentials (environment, tccli profile, stack file) and builds the cloud client.
pub(super) fn connect(global: &GlobalArgs, stack: &Stack) -> Result<TencentCloud, Error> {
    let home = std::env::home_dir();
    let file = stack
        .file_credentials
        .as_ref()
        .map(|c| (c.secret_id.as_str(), &c.secret_key, stack.path.as_path()));
    let resolved =
        match tencent::credentials::resolve(|name| std::env::var(name).ok(), home.as_deref(), file)
        {
            // With `--endpoint` and no credentials anywhere, use the local cloud's documented
            // default pair (DESIGN §7), so `chatstack --endpoint … deploy` just works locally.
            Err(e) if e.is_missing() && global.endpoint.is_some() => tencent::Resolved {
                credentials: tencent::Credentials::local_default(),
                region: None,
            },
            other => other?,
        };
    tracing::info!(source = %resolved.credentials.source, "using credentials");
    Ok(TencentCloud::new(
        resolved.credentials,
        &stack.region,
        global.endpoint.clone(),
    )?)
}

/// Packages every function's code (checking its handler is in the zip), before any cloud call.
/// A Python function's `requirements.txt` is installed first (`.chatstack/deps/` caches it: an
/// unchanged file starts no pip); built-ins left out get a note.
pub(super) fn package_all(global: &GlobalArgs, stack: &Stack) -> Result<Vec<Package>, Error> {
    let cache = StateDir::of(stack).0.join("deps");
    let python = package::requirements::default_python();
    let mut out = Vec::new();
    // Functions sharing a codeUri share the notes: each is said once.
    let mut noted = std::collections::BTreeSet::new();
    for f in &stack.functions {
        let plan = package::requirements::plan(f, &cache).map_err(package_err)?;
        let Some(plan) = plan else {
            out.push(package::package(f)?);
            continue;
        };
        let first = noted.insert(plan.path.clone());
        for s in plan.skipped.iter().filter(|_| first) {
            ui::note(
                global,
                &format!(
                    "function `{}`: {}: `{s}` is not installed: SCF's {} image provides it (pin a \
                     version to install your own)",
                    f.name,
                    plan.path.display(),
                    f.runtime
                ),
            );
        }
        if !plan.needs_pip() {
            tracing::info!(function = %f.name, key = %plan.key, "dependencies cached or nothing for pip");
        } else {
            ui::status(
                global,
                "Installing",
                &format!(
                    "{} for function {} (pip, {})",
                    package::requirements::FILE,
                    f.name,
                    f.runtime
                ),
            );
        }
        let deps = plan.install(&python).map_err(package_err)?;
        out.push(package::package_with(f, Some((&plan.site(), &deps)))?);
    }
    Ok(out)
}

fn package_err(e: Box<package::requirements::Error>) -> Error {
    Error::Package(package::Error::Requirements(e))
}

/// `.chatstack/` beside the stack file: the journal and the lock.
pub(super) struct StateDir(pub(super) PathBuf);

impl StateDir {
    /// `.chatstack/` beside the stack file; in the current directory instead when the stack
    /// file's directory is read-only (a shared checkout, say: its mode bits are honoured even
    /// for root, who could write there anyway).
    pub(super) fn of(stack: &Stack) -> Self {
        let dir = stack
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), PathBuf::from);
        let read_only = std::fs::metadata(&dir).is_ok_and(|m| m.permissions().readonly());
        if read_only {
            tracing::info!(dir = %dir.display(), "stack directory is read-only; state goes to ./.chatstack");
            return StateDir(PathBuf::from(".chatstack"));
        }
        StateDir(dir.join(".chatstack"))
    }

    pub(super) fn lock(&self, stack: &Stack, command: &str) -> Result<Lock, Error> {
        Lock::acquire(&self.0, &stack.name, &stack.stage, command)
            .map_err(|e| Error::Engine(e.into()))
    }

    pub(super) fn journal(&self, stack: &Stack) -> Journal {
        Journal::new(&self.0, &stack.name, &stack.stage)
    }
}

/// Asks `question` on a terminal unless `yes`. Without a terminal there is no one to ask: a
/// `destructive` command (one that would delete or replace something) then refuses, exit 2,
/// saying to pass `--yes` (DESIGN §5); anything else proceeds.
pub(super) fn confirm(
    yes: bool,
    destructive: bool,
    command: &'static str,
    question: &str,
) -> Result<(), Error> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return if destructive {
            Err(Error::ConfirmationRequired { command })
        } else {
            Ok(())
        };
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| Error::Io {
            path: PathBuf::from("<stdin>"),
            source,
        })?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Error::Declined)
    }
}

/// The functions a local cloud cannot run: it runs Python functions only.
pub(super) fn not_runnable_locally(
    stack: &Stack,
) -> impl Iterator<Item = &crate::config::Function> {
    stack
        .functions
        .iter()
        .filter(|f| !f.runtime.starts_with("Python"))
}

/// Finds (and if need be installs) the local cloud's Python for functions now, with a status
/// line before and the time it took after, instead of at the first invocation.
pub(super) async fn prepare_python(
    cloud: &crate::localcloud::LocalCloud,
    global: &GlobalArgs,
) -> Result<(), String> {
    ui::status(global, "Preparing", "Python for the functions");
    let started = std::time::Instant::now();
    let python = cloud.runtime().prepare().await?;
    ui::status(
        global,
        "Ready",
        &format!(
            "Python {} ({}) in {:.1}s",
            python.version,
            python.interpreter.display(),
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub(super) async fn interrupted() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// A token cancelled by the first Ctrl-C (a second one ends the process at once).
pub(super) fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: finishing the calls in flight and recording state (Ctrl-C again to quit at once)"
            );
            t.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    token
}

/// A function a command names: FUNCTION is an instance name or a FunctionName of the stack
/// file (then it is that function, in its region and namespace); a near miss of one of those
/// is a typo (refused, naming the closest); anything else is taken as a FunctionName in the
/// stack's region and the default namespace, which the cloud may or may not have.
pub(super) struct NamedFunction {
    /// FunctionName.
    pub(super) name: String,
    /// Its namespace, when the stack file says.
    pub(super) namespace: Option<String>,
    /// A client for its region.
    pub(super) cloud: TencentCloud,
    /// Whether the stack file has it.
    pub(super) in_stack: bool,
    /// The stack's FunctionNames, for the error when the cloud has no such function either.
    known: Vec<String>,
}

impl NamedFunction {
    /// The error for a function the stack does not have and the cloud answered not found for.
    pub(super) fn unknown(self) -> Error {
        Error::UnknownFunction {
            name: self.name,
            suggestion: None,
            known: self.known,
        }
    }
}

/// Resolves FUNCTION as [`NamedFunction`] describes.
pub(super) fn named_function(
    stack: &Stack,
    cloud: TencentCloud,
    function: &str,
) -> Result<NamedFunction, Error> {
    let known: Vec<String> = stack.functions.iter().map(|f| f.name.clone()).collect();
    if let Some(f) = stack
        .functions
        .iter()
        .find(|f| f.instance == function || f.name == function)
    {
        return Ok(NamedFunction {
            name: f.name.clone(),
            namespace: Some(f.namespace.clone()),
            cloud: cloud.in_region(&f.region)?,
            in_stack: true,
            known,
        });
    }
    let names = stack
        .functions
        .iter()
        .flat_map(|f| [f.instance.as_str(), f.name.as_str()]);
    if let Some(near) = crate::config::suggest(function, names) {
        return Err(Error::UnknownFunction {
            name: function.to_owned(),
            suggestion: Some(near.to_owned()),
            known,
        });
    }
    Ok(NamedFunction {
        name: function.to_owned(),
        namespace: None,
        cloud,
        in_stack: false,
        known,
    })
}
