//! One file per subcommand; this is the one dispatch `match`, plus the few steps every
//! stack command shares (find and load the stack file, resolve credentials, connect).

pub mod info;

use std::path::PathBuf;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::{self, Stack};
use crate::error::Error;
use crate::providers::tencent::{self, TencentCloud};
use crate::ui;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Info(args) => info::run(args, &cli.global).await,
    }
}

/// `-c FILE`, else `chatstack.yml`, else `serverless.yml` in the current directory.
fn stack_path(global: &GlobalArgs) -> Result<PathBuf, Error> {
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
fn load_stack(global: &GlobalArgs) -> Result<Stack, Error> {
    let path = stack_path(global)?;
    let opts = config::LoadOptions {
        stage: global.stage.clone(),
        env: std::env::vars().collect(),
    };
    Ok(config::load(&path, &opts)?)
}

/// Prints the stack file's warnings once, before any change.
fn print_warnings(global: &GlobalArgs, stack: &Stack) {
    for w in &stack.warnings {
        ui::warn(global, &format!("{}: {}", w.location, w.message));
    }
}

/// Resolves credentials (environment, tccli profile, stack file) and builds the cloud client.
fn connect(global: &GlobalArgs, stack: &Stack) -> Result<TencentCloud, Error> {
    let home = std::env::home_dir();
    let file = stack
        .file_credentials
        .as_ref()
        .map(|c| (c.secret_id.as_str(), &c.secret_key, stack.path.as_path()));
    let resolved =
        tencent::credentials::resolve(|name| std::env::var(name).ok(), home.as_deref(), file)?;
    tracing::info!(source = %resolved.credentials.source, "using credentials");
    Ok(TencentCloud::new(
        resolved.credentials,
        &stack.region,
        global.endpoint.clone(),
    )?)
}
