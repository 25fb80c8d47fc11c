//! `chatstack remove`: delete everything of the stack and stage, leaving nothing behind.

use std::time::Duration;

use serde_json::json;

use crate::cli::GlobalArgs;
use crate::engine::plan::{Action, Change};
use crate::engine::{self, remove};
use crate::error::Error;
use crate::ui::{self, progress::Progress};

/// `remove` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub yes: bool,

    /// Keep the bucket and its objects
    #[arg(long)]
    pub keep_bucket: bool,

    /// Give up after this long (e.g. 90s, 10m)
    #[arg(long, default_value = "10m", value_parser = crate::cli::parse_duration)]
    pub timeout: Duration,
}

/// Observes and deletes.
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let stack = super::common::load_stack(global)?;
    let cloud = super::common::connect(global, &stack)?;
    let state = super::common::StateDir::of(&stack);
    let _lock = state.lock(&stack, "remove")?;
    let journal = state.journal(&stack);

    let observed = remove::observe(&stack, &cloud).await?;
    let changes = remove::changes(&stack, &observed, args.keep_bucket);
    if let Some(entry) = observed.entry.as_ref().filter(|e| !e.tagged) {
        let notice = engine::backend::of(&stack).left_alone(&stack, entry);
        ui::warn(global, &notice);
    }
    let deleted: Vec<&Change> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .collect();
    // Roles another stage still uses: `{"resource": "role X", "reason": "used by stage dev"}`.
    let kept: Vec<serde_json::Value> = changes
        .iter()
        .filter(|c| c.action == Action::Keep)
        .map(|c| json!({"resource": c.resource, "reason": c.fields.join(", ")}))
        .collect();
    let say_kept = || {
        for c in changes.iter().filter(|c| c.action == Action::Keep) {
            ui::status(
                global,
                "Kept",
                &format!("{}: {}", c.resource, c.fields.join(", ")),
            );
        }
    };
    if deleted.is_empty() {
        journal
            .save(&engine::journal::Record::default())
            .map_err(engine::error::Error::from)?;
        if global.json {
            ui::print_json(&json!({
                "stack": stack.name,
                "stage": stack.stage,
                "removed": [],
                "kept": kept,
                "timings": {},
            }));
        } else {
            ui::status(
                global,
                "Nothing to remove",
                &format!(
                    "stack {} (stage {}) is not deployed",
                    stack.name, stack.stage
                ),
            );
            say_kept();
        }
        return Ok(());
    }
    if !global.json && !global.quiet {
        ui::print_plan(&changes, false);
    }
    super::common::confirm(
        args.yes,
        true,
        "remove",
        &format!(
            "Delete these resources of stack {} (stage {})?",
            stack.name, stack.stage
        ),
    )?;
    let progress = Progress::new(ui::progress::Mode::detect(global.quiet, global.json));
    let opts = remove::RemoveOptions {
        keep_bucket: args.keep_bucket,
        timeout: args.timeout,
        cancel: super::common::cancel_on_ctrl_c(),
    };
    let timings = remove::remove(&stack, &cloud, &observed, journal, &opts, &progress).await?;
    let total = started.elapsed().as_secs_f64();
    if global.json {
        let mut t: serde_json::Map<String, serde_json::Value> = timings
            .iter()
            .map(|(p, s)| ((*p).to_owned(), json!(s)))
            .collect();
        t.insert("total".to_owned(), json!(total));
        ui::print_json(&json!({
            "stack": stack.name,
            "stage": stack.stage,
            "removed": deleted.iter().map(|c| &c.resource).collect::<Vec<_>>(),
            "kept": kept,
            "timings": t,
        }));
    } else {
        ui::status(
            global,
            "Removed",
            &format!(
                "{} resource(s) of stack {} (stage {}) in {total:.1}s",
                deleted.len(),
                stack.name,
                stack.stage
            ),
        );
        say_kept();
    }
    Ok(())
}
