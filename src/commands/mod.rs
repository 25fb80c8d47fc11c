//! One file per subcommand; this is the one dispatch `match`.

pub mod info;
pub mod logs;

use crate::cli::{Cli, Command};
use crate::error::Error;

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Info(args) => info::run(args, &cli.global).await,
        Command::Logs(args) => logs::run(args, &cli.global).await,
    }
}
