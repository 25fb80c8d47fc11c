//! `chatstack info`: what is deployed for this stack and stage, and the URL clients connect to.

use crate::cli::GlobalArgs;
use crate::engine;
use crate::error::Error;
use crate::ui::{self, report::Report};

/// `info` takes only the global flags.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Finds the stack's resources in the cloud and prints them.
pub async fn run(_args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let stack = super::common::load_stack(global)?;
    let cloud = super::common::connect(global, &stack)?;
    // As remove observes: a role another stage still uses does not count as deployed here.
    let observed = engine::remove::observe(&stack, &cloud).await?;
    let report = Report::new(&stack, &observed);
    if global.json {
        ui::print_json(&serde_json::to_value(&report).expect("report serializes"));
    } else {
        ui::print_result(&report.to_table());
    }
    Ok(())
}
