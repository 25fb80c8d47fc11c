//! The command line (DESIGN §5): global flags and one subcommand per file in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Deploy serverless WebSocket apps to Tencent Cloud, or run them locally.
#[derive(Debug, Parser)]
#[command(name = "chatstack", version, about, propagate_version = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Stack file [default: chatstack.yml, then serverless.yml]
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Stage name, used in `${stage}` and in resource tags
    #[arg(long, global = true, default_value = "dev", value_name = "NAME")]
    pub stage: String,

    /// Send every API 3.0 and COS request to this base URL (the local cloud)
    #[arg(long, global = true, env = "CHATSTACK_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<url::Url>,

    /// Print one JSON document on stdout and nothing else there
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more (repeat for debug logs)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the deployed stack: client URL, push-back URL, resource status
    Info(crate::commands::info::Args),
    /// Show a function's invocations and output (GetFunctionLogs)
    Logs(crate::commands::logs::Args),
}
