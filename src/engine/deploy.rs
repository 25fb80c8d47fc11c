//! One deploy, start to finish: observe (using the ids the journal remembers as hints), plan,
//! apply, read back. `chatstack deploy`, `chatstack dev` and `chatstack plan` all run it; the
//! caller decides, between [`prepare`] and [`apply`], whether to go ahead (a confirmation
//! prompt, say).
//!
//! The graph is the same for every backend:
//!
//! ```text
//! bucket ─┬─ upload code (packages over the inline limit) ─┐
//!         │                                               │
//! role ───┼─→ function ×3 (after their upload and role) ──┼─→ wiring (functions that wait for
//! backend's entry steps ──────────────────────────────────┘   the outputs) ─→ backend's finish
//! ```
//!
//! A function waits for the execution role it names when that role is created (or its policy
//! attached) in this run ([`super::roles`]), and for the upload of its package when that is
//! over the inline limit. After every function that took an uploaded package is done, older
//! packages are deleted from the bucket.
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
use super::roles::{self, RolePlan};
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
    roles: Vec<RolePlan>,
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
        changes.extend(self.roles.iter().map(RolePlan::change));
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
        roles: roles::plan(stack, &observed.roles, &observed.bucket.name),
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
    // What this deploy observed settled stays so under the lock: the steps start from it
    // instead of asking again.
    for o in &observed.functions {
        if let Some(info) = o.detail.as_ref().filter(|i| i.is_active()) {
            cx.remember(&o.name, info);
        }
    }
    let (tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    cx.progress_to(tx);
    let graph = graph(&plan, &cx);
    let run = graph.run(opts.timeout, &opts.cancel, observer);
    tokio::pin!(run);
    let report = loop {
        tokio::select! {
            report = &mut run => break report,
            Some(p) = progress.recv() => observer.progress(&p.step, p.done, p.total),
        }
    };
    let timings = Error::from_report(report, opts.timeout)?;
    let observed = if functions_only(&plan) {
        // Nothing but functions changed, and each changed one was read once it settled: the
        // rest stands as observed (the lock keeps other deploys out).
        let mut observed = observed;
        for (o, f) in observed.functions.iter_mut().zip(&stack.functions) {
            if let Some(info) = cx.settled(&f.name) {
                *o = observe::observed_function(f, Some(info));
            }
        }
        observed
    } else {
        observe::observe_known(stack, cloud, &plan.entry.ids()).await?
    };
    Ok(Deployed {
        observed,
        changes: plan.changes,
        timings,
    })
}

/// Whether applying `plan` changes nothing but functions.
fn functions_only(plan: &Plan) -> bool {
    plan.bucket.step == BucketStep::Keep
        && !plan::has_changes(&plan.entry.changes())
        && !plan::has_changes(&plan.roles.iter().map(RolePlan::change).collect::<Vec<_>>())
}

/// The deploy graph: bucket ∥ functions ∥ the backend's entry steps → wiring → the backend's
/// finishing steps.
fn graph(plan: &Plan, cx: &Arc<ApplyCx>) -> Graph<Error> {
    let mut graph: Graph<Error> = Graph::new();
    let bucket_step = (plan.bucket.step == BucketStep::Create).then(|| {
        graph.add(
            format!("bucket {}", plan.bucket.name),
            "bucket",
            &[],
            functions::ensure_bucket(cx.clone(), plan.bucket.name.clone()),
        )
    });
    // Packages too large to go inline: each distinct one uploaded once (functions often share
    // one codeUri), after the bucket exists.
    let mut uploads: Vec<(String, StepId)> = Vec::new();
    for fp in plan.functions.iter().filter(|fp| fp.uploads_code()) {
        if uploads.iter().any(|(sha, _)| *sha == fp.package.sha256) {
            continue;
        }
        let name = format!(
            "upload code of {} ({:.1} MiB)",
            fp.spec.name,
            fp.package.zip.len() as f64 / (1024.0 * 1024.0)
        );
        let step = graph.add(
            name.clone(),
            "upload",
            &bucket_step.into_iter().collect::<Vec<_>>(),
            functions::upload_code(
                cx.clone(),
                name,
                plan.bucket.name.clone(),
                Arc::new(fp.package.clone()),
            ),
        );
        uploads.push((fp.package.sha256.clone(), step));
    }
    let role_steps = roles::add_steps(&mut graph, cx, &plan.roles);
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
            // A role created in this run exists before the function that names it, and a
            // package too large to go inline is in the bucket before it.
            let deps: Vec<StepId> = role_steps
                .iter()
                .filter(|(name, _)| fp.spec.exec_role.as_ref() == Some(name))
                .map(|(_, step)| *step)
                .chain(
                    uploads
                        .iter()
                        .filter(|(sha, _)| fp.uploads_code() && *sha == fp.package.sha256)
                        .map(|(_, step)| *step),
                )
                .collect();
            let step = graph.add(
                format!("{verb} function {}", fp.spec.name),
                "functions",
                &deps,
                functions::ensure_function(cx.clone(), fp.clone()),
            );
            (fp, Some(step))
        })
        .collect();
    let function_steps: Vec<StepId> = functions.iter().filter_map(|(_, s)| *s).collect();
    if !uploads.is_empty() {
        let keep = plan
            .functions
            .iter()
            .map(|fp| fp.package.sha256.clone())
            .collect();
        graph.add(
            "delete older code packages".to_owned(),
            "upload",
            &function_steps,
            functions::prune_code(cx.clone(), plan.bucket.name.clone(), keep),
        );
    }
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
    fn a_role_is_created_once_before_the_functions_that_name_it() {
        let mut stack = fixtures::stack();
        stack.functions[0].exec_role = Some("chat-role".to_owned());
        stack.functions[1].exec_role = Some("chat-role".to_owned());
        let mut observed = fixtures::deployed(&stack, "c1");
        observed.functions[0].detail.as_mut().unwrap().role = String::new();
        observed.functions[1].detail.as_mut().unwrap().role = String::new();
        assert_eq!(
            shape(&stack, &observed, fixtures::packages(&stack, "c1")),
            [
                step("create role chat-role", "roles", &[]),
                step("update function ChatReg", "functions", &[0]),
                step("update function ChatTrans", "functions", &[0]),
            ]
        );
        // It exists (ours or not): nothing waits.
        observed.roles = vec![crate::engine::roles::ObservedRole {
            name: "chat-role".to_owned(),
            exists: true,
            ours: false,
            attached: Vec::new(),
            used_by: Vec::new(),
        }];
        assert_eq!(
            shape(&stack, &observed, fixtures::packages(&stack, "c1")),
            [
                step("update function ChatReg", "functions", &[]),
                step("update function ChatTrans", "functions", &[]),
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
    fn a_package_over_the_inline_limit_is_uploaded_once_after_the_bucket_and_before_its_functions()
    {
        let stack = fixtures::stack();
        let big = vec![0u8; crate::package::MAX_INLINE_ZIP + 1];
        let mut packages = fixtures::packages(&stack, "c1");
        // ChatReg and ChatTrans share a large package; ChatClean's is small.
        for p in &mut packages[..2] {
            p.zip = big.clone();
            p.sha256 = "big".to_owned();
        }
        let cold = shape(&stack, &fixtures::empty(&stack), packages.clone());
        assert_eq!(
            &cold[..5],
            [
                step("bucket chat-1250000000", "bucket", &[]),
                step("upload code of ChatReg (7.5 MiB)", "upload", &[0]),
                step("create function ChatReg", "functions", &[1]),
                step("create function ChatTrans", "functions", &[1]),
                step("create function ChatClean", "functions", &[]),
            ]
        );
        assert_eq!(
            cold[5],
            step("delete older code packages", "upload", &[2, 3, 4])
        );

        // A warm redeploy that changes only the small package uploads nothing; changing the
        // large one uploads it (the bucket exists: no step to wait for).
        let mut observed = fixtures::deployed(&stack, "c1");
        for f in &mut observed.functions[..2] {
            f.detail
                .as_mut()
                .unwrap()
                .tags
                .retain(|t| t.key != crate::engine::tags::CODE_SHA256);
            f.detail
                .as_mut()
                .unwrap()
                .tags
                .push(crate::providers::tencent::Tag::new(
                    crate::engine::tags::CODE_SHA256,
                    "big",
                ));
        }
        let mut small_change = packages.clone();
        small_change[2].sha256 = "c2".to_owned();
        assert_eq!(
            shape(&stack, &observed, small_change),
            [step("update function ChatClean", "functions", &[])]
        );
        let mut big_change = packages;
        for p in &mut big_change[..2] {
            p.sha256 = "big2".to_owned();
        }
        assert_eq!(
            shape(&stack, &observed, big_change),
            [
                step("upload code of ChatReg (7.5 MiB)", "upload", &[]),
                step("update function ChatReg", "functions", &[0]),
                step("update function ChatTrans", "functions", &[0]),
                step("delete older code packages", "upload", &[1, 2]),
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
