//! The command line (DESIGN §5): global flags ([`args`]) and one subcommand per file in
//! `commands/`.

pub mod args;

use clap::{Parser, Subcommand};

pub use args::{GlobalArgs, parse_duration, parse_endpoint};

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

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a chat project (stack file, functions, web page, README, CI workflow) into DIR
    Init(crate::commands::init::Args),
    /// Run the stack here on a local cloud, with its page, its logs and a redeploy on save
    Dev(crate::commands::dev::Args),
    /// Show what deploy would change, without changing anything
    Plan(crate::commands::plan::Args),
    /// Create or update the stack, push-back URL wired in
    Deploy(crate::commands::deploy::Args),
    /// Show the deployed stack: client URL, push-back URL, resource status
    Info(crate::commands::info::Args),
    /// Delete everything of the stack and stage
    Remove(crate::commands::remove::Args),
    /// Run a function once (SCF Invoke) and print what it returned
    Invoke(crate::commands::invoke::Args),
    /// Show a function's invocations and output (GetFunctionLogs)
    Logs(crate::commands::logs::Args),
    /// Run the local cloud (control plane, COS, gateway) until Ctrl-C; prints its URL first
    Local(crate::commands::local::Args),
}
