//! `chatstack plan`: what deploy would change, without changing anything.

use serde_json::json;

use crate::cli::GlobalArgs;
use crate::engine;
use crate::error::Error;
use crate::ui;

/// `plan` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Exit 0 when there is nothing to change, 2 when there is, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// What `plan` found, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to change.
    UpToDate,
    /// Deploy would change something.
    Changes,
}

/// Observes and diffs; the caller turns the outcome into `--detailed-exitcode`.
pub async fn run(global: &GlobalArgs) -> Result<Outcome, Error> {
    let stack = super::common::load_stack(global)?;
    super::common::print_warnings(global, &stack);
    let packages = super::common::package_all(global, &stack)?;
    super::common::warn_credentials(global, &stack, &packages);
    let cloud = super::common::connect(global, &stack)?;
    let journal = super::common::StateDir::of(&stack).journal(&stack);
    let plan = engine::deploy::prepare(&stack, &cloud, &journal, packages)
        .await?
        .plan;
    if global.json {
        ui::print_json(&json!({
            "stack": stack.name,
            "stage": stack.stage,
            "region": stack.region,
            "changes": plan.changes,
            "hasChanges": plan.has_changes(),
        }));
    } else if plan.has_changes() {
        ui::print_plan(&plan.changes, true);
    } else {
        ui::print_result(&format!(
            "No changes: stack {} (stage {}) is up to date.\n",
            stack.name, stack.stage
        ));
    }
    Ok(if plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::UpToDate
    })
}
