//! `chatstack deploy`: create or update the whole stack, push-back URL wired in, in one run.

use std::time::Duration;

use serde_json::json;

use crate::cli::GlobalArgs;
use crate::engine;
use crate::error::Error;
use crate::ui::{self, progress::Progress, report::Report};

/// `deploy` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,

    /// Give up after this long (e.g. 90s, 10m)
    #[arg(long, default_value = "10m", value_parser = crate::cli::parse_duration)]
    pub timeout: Duration,
}

/// Plans and applies.
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let stack = super::common::load_stack(global)?;
    super::common::print_warnings(global, &stack);
    // Every function is packaged (and its handler checked) before the first cloud call.
    let packages = super::common::package_all(global, &stack)?;
    super::common::warn_credentials(global, &stack, &packages);
    let cloud = super::common::connect(global, &stack)?;
    let state = super::common::StateDir::of(&stack);
    let _lock = state.lock(&stack, "deploy")?;
    let journal = state.journal(&stack);
    let prepared = engine::deploy::prepare(&stack, &cloud, &journal, packages).await?;
    let progress = Progress::new(ui::progress::Mode::detect(global.quiet, global.json));

    let has_changes = prepared.plan.has_changes();
    if has_changes {
        if !global.json && !global.quiet {
            ui::print_plan(&prepared.plan.changes, false);
        }
        super::common::confirm(
            args.yes,
            destructive(&prepared.plan.changes),
            "deploy",
            &format!(
                "Deploy these changes to stack {} (stage {})?",
                stack.name, stack.stage
            ),
        )?;
    }
    let opts = engine::deploy::ApplyOptions {
        timeout: args.timeout,
        cancel: super::common::cancel_on_ctrl_c(),
    };
    let deployed =
        engine::deploy::apply(&stack, &cloud, prepared, journal, &opts, &progress).await?;
    let report = Report::new(&stack, &deployed.observed);
    let total = started.elapsed().as_secs_f64();
    if global.json {
        let mut doc = serde_json::to_value(&report).expect("report serializes");
        doc["changes"] = serde_json::to_value(&deployed.changes).expect("changes serialize");
        let mut timings: serde_json::Map<String, serde_json::Value> = deployed
            .timings
            .iter()
            .map(|(p, s)| ((*p).to_owned(), json!(s)))
            .collect();
        timings.insert("total".to_owned(), json!(total));
        doc["timings"] = serde_json::Value::Object(timings);
        ui::print_json(&doc);
        return Ok(());
    }
    if has_changes {
        ui::status(global, "Deployed", &ui::deployed_summary(&deployed, total));
    } else {
        ui::status(
            global,
            "Up to date",
            &format!(
                "stack {} (stage {}): nothing to change",
                stack.name, stack.stage
            ),
        );
    }
    ui::print_result(&report.to_table());
    Ok(())
}

/// Whether a plan replaces or deletes something: then, without a terminal, it needs `--yes`.
fn destructive(changes: &[engine::plan::Change]) -> bool {
    changes.iter().any(|c| {
        matches!(
            c.action,
            engine::plan::Action::Replace | engine::plan::Action::Delete
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::engine::plan::{Action, Change};

    #[test]
    fn only_replacing_or_deleting_needs_confirmation() {
        let change = |action| Change {
            resource: "function ChatReg".to_owned(),
            action,
            fields: Vec::new(),
            files: Vec::new(),
            dependencies: Vec::new(),
        };
        for (action, destructive) in [
            (Action::Create, false),
            (Action::Update, false),
            (Action::NoChange, false),
            (Action::Replace, true),
            (Action::Delete, true),
        ] {
            assert_eq!(
                super::destructive(&[change(Action::Create), change(action)]),
                destructive,
                "{action:?}"
            );
        }
    }
}
