//! chatstack deploys serverless WebSocket applications to Tencent Cloud (SCF functions, an API
//! Gateway WebSocket endpoint and a COS bucket), from one stack file, and runs them on a
//! faithful local cloud.
//!
//! Data flows one way: [`config`] turns the stack file into a typed [`config::Stack`];
//! [`engine`] observes the cloud through a provider, diffs and applies; [`providers::tencent`]
//! speaks Tencent's wire protocols; [`commands`] wire these together and [`ui`] renders results.
//! [`localcloud`] is the emulator, reached only over the same wire protocols.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dev;
pub mod engine;
pub mod error;
pub mod localcloud;
pub mod logs;
pub mod package;
pub mod providers;
pub mod secret;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod ui;

use std::process::ExitCode;

pub use error::Error;

/// Runs a parsed command line to completion and returns the process exit code (DESIGN §5).
pub fn run(cli: cli::Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui::report_error(&Error::Runtime(e));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            ui::report_error(&err);
            ExitCode::from(err.exit_code())
        }
    }
}
