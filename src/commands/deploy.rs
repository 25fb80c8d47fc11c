//! `chatstack deploy`: create or update the whole stack, push-back URL wired in, in one run.

use std::time::Duration;

use serde_json::json;

use crate::cli::GlobalArgs;
use crate::engine::{self, classic};
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
    let stack = super::load_stack(global)?;
    super::print_warnings(global, &stack);
    // Every function is packaged (and its handler checked) before the first cloud call.
    let packages = super::package_all(&stack)?;
    let cloud = super::connect(global, &stack)?;
    let state = super::StateDir::of(&stack);
    let _lock = state.lock(&stack, "deploy")?;
    let journal = state.journal(&stack);
    let record = journal.load().map_err(engine::error::Error::from)?;

    // The ids the last run recorded are hints: the service and API are read at once instead of
    // searched for, and checked (still there, still tagged ours) before they are believed.
    let hint = record
        .service_id
        .as_deref()
        .map(|s| (s, record.api_id.as_deref()));
    let observed = engine::observe::observe_known(&stack, &cloud, hint).await?;
    let plan = classic::plan(&stack, &observed, &packages)?;
    let progress = Progress::new(ui::progress::Mode::detect(global.quiet, global.json));

    if !plan.has_changes() {
        let report = Report::new(&stack, &observed);
        if global.json {
            let mut doc = serde_json::to_value(&report).expect("report serializes");
            doc["changes"] = serde_json::to_value(&plan.changes).expect("changes serialize");
            doc["timings"] = json!({ "total": started.elapsed().as_secs_f64() });
            ui::print_json(&doc);
        } else {
            ui::status(
                global,
                "Up to date",
                &format!(
                    "stack {} (stage {}): nothing to change",
                    stack.name, stack.stage
                ),
            );
            ui::print_result(&report.to_table());
        }
        return Ok(());
    }

    if !global.json && !global.quiet {
        ui::print_plan(&plan.changes, false);
    }
    let destructive = destructive(&plan.changes);
    super::confirm(
        args.yes,
        destructive,
        "deploy",
        &format!(
            "Deploy these changes to stack {} (stage {})?",
            stack.name, stack.stage
        ),
    )?;

    let cancel = super::cancel_on_ctrl_c();
    let opts = classic::ApplyOptions {
        timeout: args.timeout,
        cancel,
    };
    let applied = classic::apply(
        &stack, &cloud, &observed, &plan, packages, journal, &opts, &progress,
    )
    .await?;

    // Read back what the cloud now holds; the ids are known, so no search is needed.
    let known = applied
        .service_id
        .as_deref()
        .map(|s| (s, applied.api_id.as_deref()));
    let after = engine::observe::observe_known(&stack, &cloud, known).await?;
    let report = Report::new(&stack, &after);
    let total = started.elapsed().as_secs_f64();
    if global.json {
        let mut doc = serde_json::to_value(&report).expect("report serializes");
        doc["changes"] = serde_json::to_value(&plan.changes).expect("changes serialize");
        let mut timings: serde_json::Map<String, serde_json::Value> = applied
            .timings
            .iter()
            .map(|(p, s)| ((*p).to_owned(), json!(s)))
            .collect();
        timings.insert("total".to_owned(), json!(total));
        doc["timings"] = serde_json::Value::Object(timings);
        ui::print_json(&doc);
    } else {
        let phases: Vec<String> = applied
            .timings
            .iter()
            .map(|(p, s)| format!("{p} {s:.1}s"))
            .collect();
        let changed = plan
            .changes
            .iter()
            .filter(|c| c.action != engine::plan::Action::NoChange)
            .count();
        ui::status(
            global,
            "Deployed",
            &format!("{changed} change(s) in {total:.1}s ({})", phases.join(", ")),
        );
        ui::print_result(&report.to_table());
    }
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
