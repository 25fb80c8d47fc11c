//! `chatstack info`: what is deployed, and the URL clients connect to.

use crate::cli::GlobalArgs;
use crate::error::Error;

/// `info` takes only the global flags.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the deployed stack.
pub async fn run(_args: Args, _global: &GlobalArgs) -> Result<(), Error> {
    Ok(())
}
