//! Tearing a stack down, in the reverse order of DESIGN §4: DeleteApi → UnReleaseService (each
//! released environment) → DeleteService → DeleteFunction ×3 (until gone) → empty the bucket
//! (paged) → DeleteBucket; the execution roles chatstack created (tagged for this stack) after
//! the functions: DetachRolePolicy → DeletePolicy (ours) → DeleteRole, unless a function of
//! another stage of the stack still names the role (found by [`observe`], so the plan shows it
//! as kept and the graph leaves it). A role chatstack did not create is left alone. What is
//! already gone counts as removed; any other error fails the command and keeps the record of
//! what is left.
//!
//! The entry point's part comes from its backend ([`super::backend::Backend::add_remove`]);
//! the order above is API Gateway's. Only what belongs to this stack and stage is touched: the
//! entry point must carry our tags (an untagged API Gateway service of the same name is left
//! alone and reported), and a function tagged for another stage is refused.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::graph::{Graph, Observer};
use super::journal::Journal;
use super::observed::Observed;
use super::{backend, functions, roles};
use crate::config::Stack;
use crate::engine::plan::{Action, Change};
use crate::providers::tencent::TencentCloud;

/// How a removal runs.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// Keep the bucket and its objects.
    pub keep_bucket: bool,
    /// Overall deadline.
    pub timeout: Duration,
    /// Ctrl-C.
    pub cancel: CancellationToken,
}

/// What removal acts on: [`super::observe()`], plus which of our roles other stages of the stack
/// still use ([`roles::observe_users`]).
pub async fn observe(stack: &Stack, cloud: &TencentCloud) -> Result<Observed, Error> {
    let mut observed = super::observe::observe(stack, cloud).await?;
    roles::observe_users(stack, cloud, &mut observed.roles).await?;
    Ok(observed)
}

/// What removal will delete (and the roles it keeps), as plan lines, in order: the entry point's resources (if they
/// carry our tags), the functions, the bucket.
pub fn changes(stack: &Stack, observed: &Observed, keep_bucket: bool) -> Vec<Change> {
    let delete = |resource: String| Change {
        resource,
        action: Action::Delete,
        fields: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
    };
    let mut out = Vec::new();
    if let Some(entry) = observed.entry.as_ref().filter(|e| e.tagged) {
        out.extend(backend::of(stack).remove_changes(entry));
    }
    for f in observed.functions.iter().filter(|f| f.status.is_some()) {
        out.push(delete(format!("function {}", f.name)));
    }
    out.extend(roles::remove_changes(&observed.roles));
    if observed.bucket.exists && !keep_bucket {
        out.push(delete(format!("bucket {}", observed.bucket.name)));
    }
    out
}

/// Deletes everything of the stack that `observed` found.
pub async fn remove(
    stack: &Stack,
    cloud: &TencentCloud,
    observed: &Observed,
    journal: Journal,
    opts: &RemoveOptions,
    observer: &dyn Observer,
) -> Result<Vec<(&'static str, f64)>, Error> {
    let graph = graph(stack, cloud, observed, journal, opts)?;
    let report = graph.run(opts.timeout, &opts.cancel, observer).await;
    Error::from_report(report, opts.timeout)
}

/// The removal graph: the entry point's steps → each function → the bucket.
fn graph(
    stack: &Stack,
    cloud: &TencentCloud,
    observed: &Observed,
    journal: Journal,
    opts: &RemoveOptions,
) -> Result<Graph<Error>, Error> {
    functions::check_owners(stack, &observed.functions)?;
    let journal = Arc::new(journal);
    let mut graph: Graph<Error> = Graph::new();

    let gateway_done = observed
        .entry
        .as_ref()
        .filter(|e| e.tagged)
        .and_then(|entry| {
            backend::of(stack).add_remove(
                &mut graph,
                cloud,
                journal.clone(),
                opts.cancel.clone(),
                entry,
            )
        });

    let mut function_steps = Vec::new();
    for f in observed.functions.iter().filter(|f| f.status.is_some()) {
        let scf = cloud.scf();
        let name = f.name.clone();
        let namespace = stack
            .functions
            .iter()
            .find(|s| s.name == f.name)
            .map_or_else(|| "default".to_owned(), |s| s.namespace.clone());
        let journal = journal.clone();
        let deadline = opts.timeout;
        let cancel = opts.cancel.clone();
        function_steps.push(graph.add(
            format!("delete function {name}"),
            "functions",
            &gateway_done.into_iter().collect::<Vec<_>>(),
            async move {
                let mut tries = 0;
                loop {
                    match scf.delete_function(&name, Some(&namespace)).await {
                        Ok(_) => break,
                        Err(e) if e.is_state_conflict() && tries < 8 => {
                            tries += 1;
                            scf.wait_for_function(&name, Some(&namespace), deadline)
                                .await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                let gone = tokio::select! {
                    r = scf.wait_for_function(&name, Some(&namespace), deadline) => r?,
                    () = cancel.cancelled() => return Err(Error::Interrupted),
                };
                if let Some(info) = gone {
                    return Err(Error::FunctionFailed {
                        name: name.clone(),
                        reason: info
                            .failure_reason()
                            .unwrap_or("it was not deleted")
                            .to_owned(),
                        status: info.status,
                    });
                }
                Ok(journal.update(|r| {
                    r.functions.remove(&name);
                })?)
            },
        ));
    }

    // Roles go once no function uses them any more.
    roles::add_remove(&mut graph, cloud, &observed.roles, &function_steps);

    if observed.bucket.exists && !opts.keep_bucket {
        let cos = cloud.cos();
        let name = observed.bucket.name.clone();
        let region = stack.bucket.region.clone();
        let journal = journal.clone();
        graph.add(
            format!("empty and delete bucket {name}"),
            "bucket",
            &function_steps,
            async move {
                // Functions are gone, so nothing writes any more; still, a late write makes
                // DeleteBucket answer BucketNotEmpty: empty again and retry a few times.
                let mut tries = 0;
                loop {
                    cos.delete_all(&name, &region, "").await?;
                    match cos.delete_bucket(&name, &region).await {
                        Ok(_) => break,
                        Err(e) if e.error_code() == Some("BucketNotEmpty") && tries < 3 => {
                            tries += 1
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(journal.update(|r| r.bucket = None)?)
            },
        );
    } else if observed.bucket.exists && !function_steps.is_empty() {
        // The bucket stays with the user's objects; the code packages deploy uploaded there
        // are chatstack's, and go with the functions.
        let cos = cloud.cos();
        let name = observed.bucket.name.clone();
        let region = stack.bucket.region.clone();
        graph.add(
            format!("delete code packages in bucket {name}"),
            "bucket",
            &function_steps,
            async move {
                cos.delete_all(&name, &region, super::functions::CODE_PREFIX)
                    .await?;
                Ok(())
            },
        );
    }

    Ok(graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fixtures::{self, row, summary};

    fn opts(keep_bucket: bool) -> RemoveOptions {
        RemoveOptions {
            keep_bucket,
            timeout: Duration::from_secs(1),
            cancel: CancellationToken::new(),
        }
    }

    fn shape(
        stack: &Stack,
        observed: &Observed,
        keep_bucket: bool,
    ) -> Vec<(String, &'static str, Vec<usize>)> {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), &stack.name, &stack.stage);
        graph(
            stack,
            &fixtures::cloud(),
            observed,
            journal,
            &opts(keep_bucket),
        )
        .unwrap()
        .shape()
    }

    fn step(name: &str, phase: &'static str, deps: &[usize]) -> (String, &'static str, Vec<usize>) {
        (name.to_owned(), phase, deps.to_vec())
    }

    #[test]
    fn removal_goes_api_releases_service_then_functions_then_bucket() {
        let stack = fixtures::stack();
        let observed = fixtures::deployed(&stack, "c1");
        assert_eq!(
            summary(&changes(&stack, &observed, false)),
            [
                row("websocket-api /", "delete", &[]),
                row("release release", "delete", &[]),
                row("gateway-service service-abc", "delete", &[]),
                row("function ChatReg", "delete", &[]),
                row("function ChatTrans", "delete", &[]),
                row("function ChatClean", "delete", &[]),
                row("bucket chat-1250000000", "delete", &[]),
            ]
        );
        assert_eq!(
            shape(&stack, &observed, false),
            [
                step("delete gateway service service-abc", "gateway", &[]),
                step("delete function ChatReg", "functions", &[0]),
                step("delete function ChatTrans", "functions", &[0]),
                step("delete function ChatClean", "functions", &[0]),
                step(
                    "empty and delete bucket chat-1250000000",
                    "bucket",
                    &[1, 2, 3]
                ),
            ]
        );
    }

    #[test]
    fn roles_we_created_go_after_the_functions_and_others_stay() {
        let stack = fixtures::stack();
        let mut observed = fixtures::deployed(&stack, "c1");
        let role = |name: &str, ours, used_by: &[&str]| crate::engine::roles::ObservedRole {
            name: name.to_owned(),
            exists: true,
            ours,
            attached: Vec::new(),
            used_by: used_by.iter().map(|s| (*s).to_owned()).collect(),
        };
        // `shared` is ours too, but a function of stage prod still names it: kept, no step.
        observed.roles = vec![
            role("chat-role", true, &[]),
            role("shared", true, &["stage prod"]),
            role("theirs", false, &[]),
        ];
        assert_eq!(
            summary(&changes(&stack, &observed, false)),
            [
                row("websocket-api /", "delete", &[]),
                row("release release", "delete", &[]),
                row("gateway-service service-abc", "delete", &[]),
                row("function ChatReg", "delete", &[]),
                row("function ChatTrans", "delete", &[]),
                row("function ChatClean", "delete", &[]),
                row("role chat-role", "delete", &[]),
                row("role shared", "keep", &["used by stage prod"]),
                row("bucket chat-1250000000", "delete", &[]),
            ]
        );
        assert_eq!(
            shape(&stack, &observed, false),
            [
                step("delete gateway service service-abc", "gateway", &[]),
                step("delete function ChatReg", "functions", &[0]),
                step("delete function ChatTrans", "functions", &[0]),
                step("delete function ChatClean", "functions", &[0]),
                step("delete role chat-role", "roles", &[1, 2, 3]),
                step(
                    "empty and delete bucket chat-1250000000",
                    "bucket",
                    &[1, 2, 3]
                ),
            ]
        );
    }

    #[test]
    fn an_untagged_service_and_a_kept_bucket_are_left_alone() {
        let stack = fixtures::stack();
        let mut observed = fixtures::deployed(&stack, "c1");
        fixtures::with_gateway(&stack, &mut observed, |g| g.tagged = false);
        observed.functions[1].status = None;
        observed.functions[1].detail = None;
        assert_eq!(
            summary(&changes(&stack, &observed, true)),
            [
                row("function ChatReg", "delete", &[]),
                row("function ChatClean", "delete", &[]),
            ]
        );
        assert_eq!(
            shape(&stack, &observed, true),
            [
                step("delete function ChatReg", "functions", &[]),
                step("delete function ChatClean", "functions", &[]),
                step(
                    "delete code packages in bucket chat-1250000000",
                    "bucket",
                    &[0, 1]
                ),
            ]
        );
        assert!(changes(&stack, &fixtures::empty(&stack), false).is_empty());
    }

    #[test]
    fn another_stages_function_is_refused_before_anything_is_deleted() {
        let stack = fixtures::stack();
        let mut observed = fixtures::deployed(&stack, "c1");
        fixtures::function(&mut observed, "ChatReg").tags[1].value = "prod".to_owned();
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path(), &stack.name, &stack.stage);
        let err = graph(&stack, &fixtures::cloud(), &observed, journal, &opts(false)).unwrap_err();
        assert!(matches!(err, Error::Foreign { .. }), "{err:?}");
    }

    /// One row: what is deployed (an edit of the deployed fixture) and `--keep-bucket` → the
    /// plan lines and the graph's steps, in order.
    struct Row {
        case: &'static str,
        edit: fn(&Stack, &mut Observed),
        keep_bucket: bool,
        changes: &'static [&'static str],
        steps: &'static [(&'static str, &'static str, &'static [usize])],
    }

    fn gone(o: &mut Observed, i: usize) {
        o.functions[i].status = None;
        o.functions[i].detail = None;
    }

    const EVERYTHING: &[&str] = &[
        "websocket-api /",
        "release release",
        "gateway-service service-abc",
        "function ChatReg",
        "function ChatTrans",
        "function ChatClean",
        "bucket chat-1250000000",
    ];

    fn rows() -> Vec<Row> {
        vec![
            Row {
                case: "everything: API, release, service, then the functions, then the bucket",
                edit: |_, _| {},
                keep_bucket: false,
                changes: EVERYTHING,
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("delete function ChatReg", "functions", &[0]),
                    ("delete function ChatTrans", "functions", &[0]),
                    ("delete function ChatClean", "functions", &[0]),
                    (
                        "empty and delete bucket chat-1250000000",
                        "bucket",
                        &[1, 2, 3],
                    ),
                ],
            },
            Row {
                case: "a kept bucket is not deleted, only the code packages in it",
                edit: |_, _| {},
                keep_bucket: true,
                changes: &EVERYTHING[..6],
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("delete function ChatReg", "functions", &[0]),
                    ("delete function ChatTrans", "functions", &[0]),
                    ("delete function ChatClean", "functions", &[0]),
                    (
                        "delete code packages in bucket chat-1250000000",
                        "bucket",
                        &[1, 2, 3],
                    ),
                ],
            },
            Row {
                case: "no bucket: nothing to delete last",
                edit: |_, o| o.bucket.exists = false,
                keep_bucket: false,
                changes: &EVERYTHING[..6],
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("delete function ChatReg", "functions", &[0]),
                    ("delete function ChatTrans", "functions", &[0]),
                    ("delete function ChatClean", "functions", &[0]),
                ],
            },
            Row {
                case: "released to two environments: each unreleased, in order",
                edit: |s, o| {
                    fixtures::with_gateway(s, o, |g| {
                        g.released = vec!["release".into(), "test".into()]
                    })
                },
                keep_bucket: false,
                changes: &[
                    "websocket-api /",
                    "release release",
                    "release test",
                    "gateway-service service-abc",
                    "function ChatReg",
                    "function ChatTrans",
                    "function ChatClean",
                    "bucket chat-1250000000",
                ],
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("delete function ChatReg", "functions", &[0]),
                    ("delete function ChatTrans", "functions", &[0]),
                    ("delete function ChatClean", "functions", &[0]),
                    (
                        "empty and delete bucket chat-1250000000",
                        "bucket",
                        &[1, 2, 3],
                    ),
                ],
            },
            Row {
                case: "a service with neither API nor release: the service alone",
                edit: |s, o| {
                    fixtures::with_gateway(s, o, |g| {
                        g.api = None;
                        g.released.clear();
                    })
                },
                keep_bucket: false,
                changes: &[
                    "gateway-service service-abc",
                    "function ChatReg",
                    "function ChatTrans",
                    "function ChatClean",
                    "bucket chat-1250000000",
                ],
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("delete function ChatReg", "functions", &[0]),
                    ("delete function ChatTrans", "functions", &[0]),
                    ("delete function ChatClean", "functions", &[0]),
                    (
                        "empty and delete bucket chat-1250000000",
                        "bucket",
                        &[1, 2, 3],
                    ),
                ],
            },
            Row {
                case: "an untagged service is left alone: the functions go first",
                edit: |s, o| fixtures::with_gateway(s, o, |g| g.tagged = false),
                keep_bucket: false,
                changes: &EVERYTHING[3..],
                steps: &[
                    ("delete function ChatReg", "functions", &[]),
                    ("delete function ChatTrans", "functions", &[]),
                    ("delete function ChatClean", "functions", &[]),
                    (
                        "empty and delete bucket chat-1250000000",
                        "bucket",
                        &[0, 1, 2],
                    ),
                ],
            },
            Row {
                case: "no gateway, one function left: it, then the bucket",
                edit: |_, o| {
                    o.entry = None;
                    gone(o, 0);
                    gone(o, 2);
                },
                keep_bucket: false,
                changes: &["function ChatTrans", "bucket chat-1250000000"],
                steps: &[
                    ("delete function ChatTrans", "functions", &[]),
                    ("empty and delete bucket chat-1250000000", "bucket", &[0]),
                ],
            },
            Row {
                case: "a gateway and a bucket without functions",
                edit: |_, o| (0..3).for_each(|i| gone(o, i)),
                keep_bucket: false,
                changes: &[
                    "websocket-api /",
                    "release release",
                    "gateway-service service-abc",
                    "bucket chat-1250000000",
                ],
                // No function step to wait for: the bucket does not wait for the gateway.
                steps: &[
                    ("delete gateway service service-abc", "gateway", &[]),
                    ("empty and delete bucket chat-1250000000", "bucket", &[]),
                ],
            },
            Row {
                case: "only the bucket",
                edit: |_, o| {
                    o.entry = None;
                    (0..3).for_each(|i| gone(o, i));
                },
                keep_bucket: false,
                changes: &["bucket chat-1250000000"],
                steps: &[("empty and delete bucket chat-1250000000", "bucket", &[])],
            },
            Row {
                case: "only the bucket, kept: nothing to do",
                edit: |_, o| {
                    o.entry = None;
                    (0..3).for_each(|i| gone(o, i));
                },
                keep_bucket: true,
                changes: &[],
                steps: &[],
            },
            Row {
                case: "nothing",
                edit: |s, o| *o = fixtures::empty(s),
                keep_bucket: false,
                changes: &[],
                steps: &[],
            },
        ]
    }

    /// Where a resource kind comes in removal: what depends on another goes before it (the
    /// API and releases before their service, the service before the functions it invokes,
    /// the functions before the bucket they write to).
    fn rank(resource: &str) -> usize {
        let kind = resource.split(' ').next().unwrap();
        [
            "websocket-api",
            "release",
            "gateway-service",
            "function",
            "bucket",
        ]
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_else(|| panic!("unknown kind in {resource}"))
    }

    #[test]
    fn removal_order_for_each_deployed_state() {
        let stack = fixtures::stack();
        for r in rows() {
            let mut observed = fixtures::deployed(&stack, "c1");
            (r.edit)(&stack, &mut observed);
            let planned = changes(&stack, &observed, r.keep_bucket);
            assert!(
                planned.iter().all(|c| c.action == Action::Delete),
                "{}",
                r.case
            );
            let lines: Vec<&str> = planned.iter().map(|c| c.resource.as_str()).collect();
            assert_eq!(lines, r.changes, "{}", r.case);
            assert!(
                lines.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
                "{}: dependents first: {lines:?}",
                r.case
            );
            let steps = shape(&stack, &observed, r.keep_bucket);
            let want: Vec<_> = r.steps.iter().map(|(n, p, d)| step(n, p, d)).collect();
            assert_eq!(steps, want, "{}", r.case);
            // Every step waits only for steps before it, and every step of a later phase
            // waits for all of the phase before it that exists.
            for (i, (name, phase, deps)) in steps.iter().enumerate() {
                assert!(deps.iter().all(|d| *d < i), "{}: {name}", r.case);
                let before = match *phase {
                    "functions" => "gateway",
                    "bucket" => "functions",
                    _ => continue,
                };
                let needed: Vec<usize> = (0..i).filter(|j| steps[*j].1 == before).collect();
                assert_eq!(
                    *deps, needed,
                    "{}: {name} waits for every {before} step",
                    r.case
                );
            }
        }
    }
}
