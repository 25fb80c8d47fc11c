//! One deploy, start to finish: observe (using the ids the journal remembers as hints), plan,
//! apply, read back. `chatstack deploy`, `chatstack dev` and `chatstack plan` all run it; the
//! caller decides, between [`prepare`] and [`apply`], whether to go ahead (a confirmation
//! prompt, say).
//!
//! The graph is the same for every backend:
//!
//! ```text
//! bucket ─────────────────────┐
//! function ×3 ────────────────┼─→ wiring (functions that wait for the outputs) ─→ backend's finish
//! backend's entry steps ──────┘        (after the entry step that yields the outputs)
//! ```
//!
//! The backend's entry steps may wait for the functions (API Gateway's API binds them). A warm
//! redeploy already knows the outputs, so the functions get them in one step and the wiring
//! phase is empty. Nothing unchanged is touched.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::backend::{self, EntryPlan};
use super::context::ApplyCx;
use super::error::Error;
use super::functions::{self, BucketPlan, BucketStep, FunctionPlan, FunctionStep};
use super::graph::{Graph, Observer, StepId};
use super::journal::{Journal, Record};
use super::observe;
use super::observed::Observed;
use super::plan::{self, Change};
use crate::config::Stack;
use crate::package::Package;
use crate::providers::tencent::TencentCloud;

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Overall deadline.
    pub timeout: Duration,
    /// Ctrl-C.
    pub cancel: CancellationToken,
}

/// What deploy will do to each resource.
#[derive(Debug)]
pub struct Plan {
    /// The user-facing list of changes, rendered from the steps below.
    pub changes: Vec<Change>,
    bucket: BucketPlan,
    functions: Vec<FunctionPlan>,
    entry: Box<dyn EntryPlan>,
}

impl Plan {
    /// Whether applying changes anything.
    pub fn has_changes(&self) -> bool {
        plan::has_changes(&self.changes)
    }

    fn render(&mut self) {
        let mut changes = vec![self.bucket.change()];
        changes.extend(self.functions.iter().map(FunctionPlan::change));
        changes.extend(self.entry.changes());
        self.changes = changes;
    }
}

/// Diffs the desired stack against what exists: typed steps for the bucket, each function and
/// the backend's entry point, and the plan lines rendered from them.
pub fn plan(stack: &Stack, observed: &Observed, packages: Vec<Package>) -> Result<Plan, Error> {
    let entry = backend::of(stack).plan(stack, observed.entry.as_ref())?;
    let functions =
        functions::plan_functions(stack, &observed.functions, packages, &entry.outputs())?;
    let mut plan = Plan {
        changes: Vec::new(),
        bucket: BucketPlan::new(&observed.bucket),
        functions,
        entry,
    };
    plan.render();
    Ok(plan)
}

/// What exists and what deploy would change.
#[derive(Debug)]
pub struct Prepared {
    /// The cloud as observed before the deploy.
    pub observed: Observed,
    /// The changes.
    pub plan: Plan,
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

/// Observes the stack and plans. The ids the last run recorded are hints: the entry point's
/// resources are read at once instead of searched for, and checked (still there, still tagged
/// ours) before they are believed.
pub async fn prepare(
    stack: &Stack,
    cloud: &TencentCloud,
    journal: &Journal,
    packages: Vec<Package>,
) -> Result<Prepared, Error> {
    let record = journal.load()?;
    let observed = observe::observe_known(stack, cloud, &record.entry).await?;
    let mut plan = plan(stack, &observed, packages)?;
    name_changed_files(&mut plan, &observed, &record);
    Ok(Prepared { observed, plan })
}

/// Says, on each function whose code changes, which of its files changed since the deploy
/// this machine recorded (several functions often share one `codeUri`).
fn name_changed_files(plan: &mut Plan, observed: &Observed, record: &Record) {
    for fp in plan.functions.iter_mut().filter(|fp| fp.code_changes()) {
        let deployed = observed
            .functions
            .iter()
            .find(|o| o.name == fp.spec.name)
            .and_then(|o| o.code_sha256.as_deref());
        fp.files = record.changed_files(&fp.spec.name, deployed, &fp.package);
        let deployed_deps = observed
            .functions
            .iter()
            .find(|o| o.name == fp.spec.name)
            .and_then(|o| o.deps_sha256.as_deref());
        fp.dependencies = functions::dependency_changes(
            &fp.package,
            deployed_deps,
            record.deployed_dependencies(&fp.spec.name, deployed),
        );
    }
    plan.render();
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
    let Prepared { observed, plan } = prepared;
    if !plan.has_changes() {
        return Ok(Deployed {
            observed,
            changes: plan.changes,
            timings: Vec::new(),
        });
    }
    let cx = Arc::new(ApplyCx::new(
        stack,
        cloud,
        journal,
        opts.cancel.clone(),
        opts.timeout,
        plan.entry.outputs(),
    ));
    let graph = graph(&plan, &cx);
    let report = graph.run(opts.timeout, &opts.cancel, observer).await;
    let timings = Error::from_report(report, opts.timeout)?;
    let observed = observe::observe_known(stack, cloud, &plan.entry.ids()).await?;
    Ok(Deployed {
        observed,
        changes: plan.changes,
        timings,
    })
}

/// The deploy graph: bucket ∥ functions ∥ the backend's entry steps → wiring → the backend's
/// finishing steps.
fn graph(plan: &Plan, cx: &Arc<ApplyCx>) -> Graph<Error> {
    let mut graph: Graph<Error> = Graph::new();
    if plan.bucket.step == BucketStep::Create {
        graph.add(
            format!("bucket {}", plan.bucket.name),
            "bucket",
            &[],
            functions::ensure_bucket(cx.clone(), plan.bucket.name.clone()),
        );
    }
    let functions: Vec<(Arc<FunctionPlan>, Option<StepId>)> = plan
        .functions
        .iter()
        .map(|fp| {
            let fp = Arc::new(fp.clone());
            let verb = match fp.step {
                FunctionStep::Keep => return (fp, None),
                FunctionStep::Create => "create",
                FunctionStep::Replace => "replace",
                FunctionStep::Update { .. } => "update",
            };
            let step = graph.add(
                format!("{verb} function {}", fp.spec.name),
                "functions",
                &[],
                functions::ensure_function(cx.clone(), fp.clone()),
            );
            (fp, Some(step))
        })
        .collect();
    let function_steps: Vec<StepId> = functions.iter().filter_map(|(_, s)| *s).collect();
    let entry_step = plan.entry.add_entry(&mut graph, cx, &function_steps);
    // Functions whose variables wait for an output not known before applying get them now.
    let mut after: Vec<StepId> = entry_step.into_iter().collect();
    if plan.entry.outputs().pushback_url.is_none() {
        for (fp, step) in functions.iter().filter(|(fp, _)| fp.needs_outputs()) {
            let deps: Vec<StepId> = entry_step.into_iter().chain(*step).collect();
            after.push(graph.add(
                format!("wire push-back URL into {}", fp.spec.name),
                "wiring",
                &deps,
                functions::wire_function(cx.clone(), fp.clone()),
            ));
        }
    }
    plan.entry.add_finish(&mut graph, cx, &after);
    graph
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures;

    fn shape(
        stack: &Stack,
        observed: &Observed,
        packages: Vec<Package>,
    ) -> Vec<(String, &'static str, Vec<usize>)> {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(stack, observed, packages).unwrap();
        let cx = Arc::new(ApplyCx::new(
            stack,
            &fixtures::cloud(),
            Journal::new(dir.path(), &stack.name, &stack.stage),
            CancellationToken::new(),
            Duration::from_secs(1),
            plan.entry.outputs(),
        ));
        graph(&plan, &cx).shape()
    }

    fn step(name: &str, phase: &'static str, deps: &[usize]) -> (String, &'static str, Vec<usize>) {
        (name.to_owned(), phase, deps.to_vec())
    }

    #[test]
    fn a_cold_deploy_creates_the_api_after_the_functions_and_releases_after_the_wiring() {
        let stack = fixtures::stack();
        let packages = fixtures::packages(&stack, "c1");
        assert_eq!(
            shape(&stack, &fixtures::empty(&stack), packages),
            [
                step("bucket chat-1250000000", "bucket", &[]),
                step("create function ChatReg", "functions", &[]),
                step("create function ChatTrans", "functions", &[]),
                step("create function ChatClean", "functions", &[]),
                step("create gateway service ChatDemo", "gateway", &[]),
                step("create websocket api /", "gateway", &[1, 2, 3, 4]),
                step("wire push-back URL into ChatReg", "wiring", &[5, 1]),
                step("wire push-back URL into ChatTrans", "wiring", &[5, 2]),
                step("wire push-back URL into ChatClean", "wiring", &[5, 3]),
                step("release release", "release", &[5, 6, 7, 8]),
            ]
        );
    }

    #[test]
    fn a_warm_redeploy_touches_only_what_changed() {
        let stack = fixtures::stack();
        let observed = fixtures::deployed(&stack, "c1");
        let mut packages = fixtures::packages(&stack, "c1");
        packages[1].sha256 = "c2".to_owned();
        assert_eq!(
            shape(&stack, &observed, packages),
            [step("update function ChatTrans", "functions", &[])]
        );
        assert!(shape(&stack, &observed, fixtures::packages(&stack, "c1")).is_empty());

        // The API changes: updated after the function, then released again; the push-back
        // URL is known, so nothing is wired.
        let mut observed = observed;
        fixtures::with_gateway(&stack, &mut observed, |g| {
            g.api.as_mut().unwrap().timeout = 15
        });
        let mut packages = fixtures::packages(&stack, "c1");
        packages[0].sha256 = "c2".to_owned();
        assert_eq!(
            shape(&stack, &observed, packages),
            [
                step("update function ChatReg", "functions", &[]),
                step("update websocket api /", "gateway", &[0]),
                step("release release", "release", &[1]),
            ]
        );
    }

    #[test]
    fn an_api_observed_without_its_push_back_url_is_asked_for_it_before_the_wiring() {
        // A run cut off between CreateApi and the URL: the API stays, but the functions must
        // not be configured without the URL. It is read, then wired into all three.
        let stack = fixtures::stack();
        let mut observed = fixtures::deployed(&stack, "c1");
        fixtures::with_gateway(&stack, &mut observed, |g| {
            g.api.as_mut().unwrap().internal_domain = None
        });
        let shape = shape(&stack, &observed, fixtures::packages(&stack, "c1"));
        let read = shape
            .iter()
            .position(|(name, _, _)| name == "read the push-back URL of websocket api /")
            .unwrap_or_else(|| panic!("no read step in {shape:?}"));
        for f in ["ChatReg", "ChatTrans", "ChatClean"] {
            let wire = shape
                .iter()
                .find(|(name, _, _)| *name == format!("wire push-back URL into {f}"))
                .unwrap_or_else(|| panic!("{f} is not wired in {shape:?}"));
            assert!(
                wire.2.contains(&read),
                "{f}'s wiring waits for the read: {shape:?}"
            );
        }
        assert!(
            !shape.iter().any(|(name, _, _)| name.starts_with("release")
                || name.starts_with("update websocket api")),
            "the API itself is left alone: {shape:?}"
        );
    }
}
