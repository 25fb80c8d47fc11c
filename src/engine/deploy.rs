//! One deploy, start to finish: observe (using the ids the journal remembers as hints), plan,
//! apply, read back. `chatstack deploy` and `chatstack dev` both run it; the caller decides,
//! between [`prepare`] and [`apply`], whether to go ahead (a confirmation prompt, say).

use super::classic::{self, ApplyOptions, Plan};
use super::error::Error;
use super::graph::Observer;
use super::journal::Journal;
use super::plan::Change;
use super::{Observed, observe};
use crate::config::Stack;
use crate::package::Package;
use crate::providers::tencent::TencentCloud;

/// What exists and what deploy would change.
#[derive(Debug)]
pub struct Prepared {
    /// The cloud as observed before the deploy.
    pub observed: Observed,
    /// The changes.
    pub plan: Plan,
    packages: Vec<Package>,
}

/// The cloud after a deploy.
#[derive(Debug)]
pub struct Deployed {
    /// Read back after applying.
    pub observed: Observed,
    /// What was changed.
    pub changes: Vec<Change>,
    /// Seconds per phase, in order.
    pub timings: Vec<(&'static str, f64)>,
}

/// Observes the stack and plans. The ids the last run recorded are hints: the service and API
/// are read at once instead of searched for, and checked (still there, still tagged ours)
/// before they are believed.
pub async fn prepare(
    stack: &Stack,
    cloud: &TencentCloud,
    journal: &Journal,
    packages: Vec<Package>,
) -> Result<Prepared, Error> {
    let record = journal.load()?;
    let hint = record
        .entry
        .get("serviceId")
        .map(|s| (s.as_str(), record.entry.get("apiId").map(String::as_str)));
    let observed = observe::observe_known(stack, cloud, hint).await?;
    let mut plan = classic::plan(stack, &observed, &packages)?;
    name_changed_files(&mut plan.changes, stack, &observed, &packages, &record);
    Ok(Prepared {
        observed,
        plan,
        packages,
    })
}

/// Says, on each function whose code changes, which of its files changed since the deploy
/// this machine recorded (several functions often share one `codeUri`).
fn name_changed_files(
    changes: &mut [Change],
    stack: &Stack,
    observed: &Observed,
    packages: &[Package],
    record: &super::journal::Record,
) {
    for (f, package) in stack.functions.iter().zip(packages) {
        let label = format!("function {}", f.name);
        let Some(change) = changes
            .iter_mut()
            .find(|c| c.resource == label && c.fields.iter().any(|x| x == "code"))
        else {
            continue;
        };
        let deployed = observed
            .functions
            .iter()
            .find(|o| o.name == f.name)
            .and_then(|o| o.code_sha256.as_deref());
        change.files = record.changed_files(&f.name, deployed, package);
    }
}

/// Applies a prepared plan and reads back what the cloud now holds (the ids are known, so no
/// search is needed). With nothing to change, nothing is called and the observed state stands.
pub async fn apply(
    stack: &Stack,
    cloud: &TencentCloud,
    prepared: Prepared,
    journal: Journal,
    opts: &ApplyOptions,
    observer: &dyn Observer,
) -> Result<Deployed, Error> {
    let Prepared {
        observed,
        plan,
        packages,
    } = prepared;
    if !plan.has_changes() {
        return Ok(Deployed {
            observed,
            changes: plan.changes,
            timings: Vec::new(),
        });
    }
    let applied = classic::apply(
        stack, cloud, &observed, &plan, packages, journal, opts, observer,
    )
    .await?;
    let known = applied
        .service_id
        .as_deref()
        .map(|s| (s, applied.api_id.as_deref()));
    let observed = observe::observe_known(stack, cloud, known).await?;
    Ok(Deployed {
        observed,
        changes: plan.changes,
        timings: applied.timings,
    })
}
