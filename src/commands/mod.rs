//! One file per subcommand; this is the one dispatch `match`. The steps every stack command
//! shares (find and load the stack file, resolve credentials, connect) are in [`common`].

mod common;
pub mod deploy;
pub mod dev;
pub mod info;
pub mod init;
pub mod invoke;
pub mod local;
pub mod logs;
pub mod plan;
pub mod remove;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs the parsed command; `Ok` carries the exit code (0, or 2 for `plan
/// --detailed-exitcode` with changes).
pub async fn run(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(args, g).map(|()| 0),
        Command::Dev(args) => dev::run(args, g).await.map(|()| 0),
        Command::Info(args) => info::run(args, g).await.map(|()| 0),
        Command::Plan(args) => {
            let outcome = plan::run(g).await?;
            Ok(u8::from(args.detailed_exitcode && outcome == plan::Outcome::Changes) * 2)
        }
        Command::Deploy(args) => deploy::run(args, g).await.map(|()| 0),
        Command::Remove(args) => remove::run(args, g).await.map(|()| 0),
        Command::Local(args) => local::run(args, g).await.map(|()| 0),
        Command::Logs(args) => logs::run(args, g).await.map(|()| 0),
        Command::Invoke(args) => invoke::run(args, g).await.map(|()| 0),
    }
}
