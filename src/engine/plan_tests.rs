//! The plan's `Change` list, pinned for fixed inputs: resource labels, actions and fields are
//! what `plan --json` and `deploy --json` print, so a refactor must not move them.

use super::error::Error;
use super::fixtures::{self, row, summary};
use super::observed::Observed;
use super::plan::{Action, Change};
use crate::config::Stack;
use crate::package::Package;
use crate::providers::tencent::Tag;
use crate::providers::tencent::scf::Variable;

fn plan(stack: &Stack, observed: &Observed, packages: &[Package]) -> Result<Vec<Change>, Error> {
    Ok(super::deploy::plan(stack, observed, packages.to_vec())?.changes)
}

#[test]
fn a_cold_deploy_creates_everything_in_this_order() {
    let stack = fixtures::stack();
    let changes = plan(
        &stack,
        &fixtures::empty(&stack),
        &fixtures::packages(&stack, "c1"),
    )
    .unwrap();
    assert_eq!(
        summary(&changes),
        [
            row("bucket chat-1250000000", "create", &[]),
            row("function ChatReg", "create", &[]),
            row("function ChatTrans", "create", &[]),
            row("function ChatClean", "create", &[]),
            row("gateway-service ChatDemo", "create", &[]),
            row("websocket-api /", "create", &[]),
            row("release release", "create", &[]),
        ]
    );
}

#[test]
fn a_deployed_stack_in_step_with_its_file_plans_no_change() {
    let stack = fixtures::stack();
    let observed = fixtures::deployed(&stack, "c1");
    let changes = plan(&stack, &observed, &fixtures::packages(&stack, "c1")).unwrap();
    assert!(
        changes
            .iter()
            .all(|c| c.action == super::plan::Action::NoChange),
        "{changes:?}"
    );
    assert_eq!(changes.len(), 7);
}

#[test]
fn new_code_and_a_changed_timeout_update_those_fields_only() {
    let stack = fixtures::stack();
    let mut observed = fixtures::deployed(&stack, "c1");
    fixtures::function(&mut observed, "ChatClean").timeout = 9;
    let mut packages = fixtures::packages(&stack, "c1");
    packages[1].sha256 = "c2".to_owned();
    let changes = plan(&stack, &observed, &packages).unwrap();
    assert_eq!(
        summary(&changes),
        [
            row("bucket chat-1250000000", "no change", &[]),
            row("function ChatReg", "no change", &[]),
            row("function ChatTrans", "update", &["code"]),
            row("function ChatClean", "update", &["timeout"]),
            row("gateway-service ChatDemo", "no change", &[]),
            row("websocket-api /", "no change", &[]),
            row("release release", "no change", &[]),
        ]
    );
}

#[test]
fn a_create_failed_function_is_replaced_and_an_api_change_is_released() {
    let stack = fixtures::stack();
    let mut observed = fixtures::deployed(&stack, "c1");
    fixtures::function(&mut observed, "ChatReg").status = "CreateFailed".to_owned();
    fixtures::function(&mut observed, "ChatReg").handler = "old.handler".to_owned();
    fixtures::with_gateway(&stack, &mut observed, |g| {
        let api = g.api.as_mut().unwrap();
        api.timeout = 15;
        api.cleanup = None;
    });
    let changes = plan(&stack, &observed, &fixtures::packages(&stack, "c1")).unwrap();
    assert_eq!(
        summary(&changes),
        [
            row("bucket chat-1250000000", "no change", &[]),
            row("function ChatReg", "replace", &[]),
            row("function ChatTrans", "no change", &[]),
            row("function ChatClean", "no change", &[]),
            row("gateway-service ChatDemo", "no change", &[]),
            row("websocket-api /", "update", &["cleanup", "timeout"]),
            row("release release", "update", &["api"]),
        ]
    );
}

#[test]
fn a_service_without_its_api_or_release_gets_them() {
    let stack = fixtures::stack();
    let mut observed = fixtures::deployed(&stack, "c1");
    fixtures::with_gateway(&stack, &mut observed, |g| {
        g.api = None;
        g.released.clear();
    });
    observed.functions[2].status = None;
    observed.functions[2].detail = None;
    let changes = plan(&stack, &observed, &fixtures::packages(&stack, "c1")).unwrap();
    assert_eq!(
        summary(&changes),
        [
            row("bucket chat-1250000000", "no change", &[]),
            // The push-back URL is not known yet: the digest of a pending variable never
            // matches, so the bound functions update their environment (wired in phase 2).
            row("function ChatReg", "update", &["environment"]),
            row("function ChatTrans", "update", &["environment"]),
            row("function ChatClean", "create", &[]),
            row("gateway-service ChatDemo", "no change", &[]),
            row("websocket-api /", "create", &[]),
            row("release release", "create", &[]),
        ]
    );
}

#[test]
fn a_runtime_change_and_another_stages_function_are_refused() {
    let stack = fixtures::stack();
    let packages = fixtures::packages(&stack, "c1");

    let mut observed = fixtures::deployed(&stack, "c1");
    fixtures::function(&mut observed, "ChatTrans").runtime = "Python3.6".to_owned();
    match plan(&stack, &observed, &packages) {
        Err(Error::RuntimeChange { name, have, want }) => {
            assert_eq!(
                (name.as_str(), have.as_str(), want.as_str()),
                ("ChatTrans", "Python3.6", "Python3.9")
            );
        }
        other => panic!("{other:?}"),
    }
    // A broken function of another runtime is replaced, not refused.
    fixtures::function(&mut observed, "ChatTrans").status = "CreateFailed".to_owned();
    assert!(plan(&stack, &observed, &packages).is_ok());

    let mut observed = fixtures::deployed(&stack, "c1");
    let info = fixtures::function(&mut observed, "ChatClean");
    info.tags[1].value = "prod".to_owned();
    match plan(&stack, &observed, &packages) {
        Err(Error::Foreign {
            resource,
            other_stack,
            other_stage,
        }) => {
            assert_eq!(
                (
                    resource.as_str(),
                    other_stack.as_str(),
                    other_stage.as_str()
                ),
                ("function ChatClean", "ChatDemo", "prod")
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A plan line as a table writes it: `(resource, action, fields)`.
type Line = (&'static str, &'static str, &'static [&'static str]);

/// What a row of [`rows`] plans to.
enum Want {
    /// The lines whose action is not `no change`, in plan order (every other line is `no
    /// change`, and the lines are the stack's resources in plan order).
    Changes(&'static [Line]),
    /// The plan is refused, as [`refusal`] words it.
    Refused(&'static str),
}

/// One row: an edit of the stack file, of the deployed fixture's observed state or of the
/// packages (all start in step: `fixtures::deployed(.., "c1")`, code `c1`), and the plan.
struct Row {
    case: &'static str,
    edit: fn(&mut Stack, &mut Observed, &mut Vec<Package>),
    want: Want,
}

/// The three bound functions' environment waits for the push-back URL (see
/// `a_service_without_its_api_or_release_gets_them`).
const PENDING_ENV: [Line; 3] = [
    ("function ChatReg", "update", &["environment"]),
    ("function ChatTrans", "update", &["environment"]),
    ("function ChatClean", "update", &["environment"]),
];

/// Every kind of change the planner makes, one edit at a time.
fn rows() -> Vec<Row> {
    use Want::{Changes, Refused};
    vec![
        // The bucket.
        Row {
            case: "nothing exists: everything is created",
            edit: |s, o, _| *o = fixtures::empty(s),
            want: Changes(&[
                ("bucket chat-1250000000", "create", &[]),
                ("function ChatReg", "create", &[]),
                ("function ChatTrans", "create", &[]),
                ("function ChatClean", "create", &[]),
                ("gateway-service ChatDemo", "create", &[]),
                ("websocket-api /", "create", &[]),
                ("release release", "create", &[]),
            ]),
        },
        Row {
            case: "in step: nothing changes",
            edit: |_, _, _| {},
            want: Changes(&[]),
        },
        Row {
            case: "the bucket is gone: created",
            edit: |_, o, _| o.bucket.exists = false,
            want: Changes(&[("bucket chat-1250000000", "create", &[])]),
        },
        // Each compared property of a function.
        Row {
            case: "new code",
            edit: |_, _, p| p[1].sha256 = "c2".to_owned(),
            want: Changes(&[("function ChatTrans", "update", &["code"])]),
        },
        Row {
            case: "a new handler in the file",
            edit: |s, _, _| s.functions[0].handler = "reg.other".to_owned(),
            want: Changes(&[("function ChatReg", "update", &["handler"])]),
        },
        Row {
            case: "another timeout in the cloud",
            edit: |_, o, _| fixtures::function(o, "ChatClean").timeout = 9,
            want: Changes(&[("function ChatClean", "update", &["timeout"])]),
        },
        Row {
            case: "a new memory size in the file",
            edit: |s, _, _| s.functions[1].memory_size += 64,
            want: Changes(&[("function ChatTrans", "update", &["memorySize"])]),
        },
        Row {
            case: "an execution role in the file: the role is created, the function updated",
            edit: |s, _, _| s.functions[2].exec_role = Some("ChatRole".to_owned()),
            want: Changes(&[
                ("role ChatRole", "create", &[]),
                ("function ChatClean", "update", &["role"]),
            ]),
        },
        Row {
            case: "an execution role that exists and is not ours: kept as it is",
            edit: |s, o, _| {
                s.functions[2].exec_role = Some("TheirRole".to_owned());
                o.roles = vec![crate::engine::roles::ObservedRole {
                    name: "TheirRole".to_owned(),
                    exists: true,
                    ours: false,
                    attached: Vec::new(),
                    used_by: Vec::new(),
                }];
            },
            want: Changes(&[("function ChatClean", "update", &["role"])]),
        },
        Row {
            case: "a description in the file",
            edit: |s, _, _| s.functions[0].description = Some("chat".to_owned()),
            want: Changes(&[("function ChatReg", "update", &["description"])]),
        },
        Row {
            case: "a variable changed in the cloud",
            edit: |_, o, _| {
                let env = &mut fixtures::function(o, "ChatReg").environment.variables;
                env.iter_mut().find(|v| v.key == "bucket").unwrap().value = "other".to_owned();
            },
            want: Changes(&[("function ChatReg", "update", &["environment"])]),
        },
        Row {
            case: "a variable added in the cloud",
            edit: |_, o, _| {
                let env = &mut fixtures::function(o, "ChatTrans").environment.variables;
                env.push(crate::providers::tencent::scf::Variable::new("EXTRA", "1"));
            },
            want: Changes(&[("function ChatTrans", "update", &["environment"])]),
        },
        Row {
            case: "no runtime reported: compared, not refused",
            edit: |_, o, _| fixtures::function(o, "ChatTrans").runtime.clear(),
            want: Changes(&[("function ChatTrans", "update", &["runtime"])]),
        },
        Row {
            case: "several fields at once, in key order",
            edit: |s, o, p| {
                p[2].sha256 = "c2".to_owned();
                s.functions[2].handler = "clean.other".to_owned();
                fixtures::function(o, "ChatClean").timeout = 9;
            },
            want: Changes(&[(
                "function ChatClean",
                "update",
                &["code", "handler", "timeout"],
            )]),
        },
        Row {
            case: "deployed by an earlier version (hash in the legacy variable): the variable \
                   is dropped, the code is not sent again",
            edit: |_, o, _| {
                let f = fixtures::function(o, "ChatReg");
                f.tags.retain(|t| t.key != crate::engine::tags::CODE_SHA256);
                f.tags
                    .push(Tag::new(crate::engine::tags::CODE_SHA256, "c0"));
                f.environment.variables.push(Variable::new(
                    crate::engine::functions::LEGACY_CODE_VAR,
                    "c1",
                ));
            },
            want: Changes(&[("function ChatReg", "update", &["environment"])]),
        },
        Row {
            case: "deployed by an earlier version with other code: code and variable",
            edit: |_, o, p| {
                fixtures::function(o, "ChatReg")
                    .environment
                    .variables
                    .push(Variable::new(
                        crate::engine::functions::LEGACY_CODE_VAR,
                        "c1",
                    ));
                p[0].sha256 = "c2".to_owned();
            },
            want: Changes(&[("function ChatReg", "update", &["code", "environment"])]),
        },
        Row {
            case: "UpdateFailed: the code is sent again although the tag matches",
            edit: |_, o, _| fixtures::function(o, "ChatTrans").status = "UpdateFailed".to_owned(),
            want: Changes(&[("function ChatTrans", "update", &["code"])]),
        },
        Row {
            case: "a function without our tags is taken over, its code sent (nothing says \
                   which code it runs)",
            edit: |_, o, _| fixtures::function(o, "ChatTrans").tags.clear(),
            want: Changes(&[("function ChatTrans", "update", &["code"])]),
        },
        // A function's existence and state.
        Row {
            case: "a function is gone: created",
            edit: |_, o, _| {
                o.functions[2].status = None;
                o.functions[2].detail = None;
            },
            want: Changes(&[("function ChatClean", "create", &[])]),
        },
        Row {
            case: "CreateFailed: replaced (other fields do not matter)",
            edit: |_, o, _| {
                let f = fixtures::function(o, "ChatReg");
                f.status = "CreateFailed".to_owned();
                f.timeout = 1;
            },
            want: Changes(&[("function ChatReg", "replace", &[])]),
        },
        Row {
            case: "CreateFailed on another runtime: replaced, not refused",
            edit: |_, o, _| {
                let f = fixtures::function(o, "ChatTrans");
                f.status = "CreateFailed".to_owned();
                f.runtime = "Python3.6".to_owned();
            },
            want: Changes(&[("function ChatTrans", "replace", &[])]),
        },
        // Refusals.
        Row {
            case: "a runtime change is refused",
            edit: |_, o, _| fixtures::function(o, "ChatTrans").runtime = "Python3.6".to_owned(),
            want: Refused("runtime ChatTrans: Python3.6 -> Python3.9"),
        },
        Row {
            case: "another stage's function is refused",
            edit: |_, o, _| fixtures::function(o, "ChatClean").tags[1].value = "prod".to_owned(),
            want: Refused("foreign function ChatClean: ChatDemo/prod"),
        },
        Row {
            case: "another stack's function is refused",
            edit: |_, o, _| fixtures::function(o, "ChatReg").tags[0].value = "Other".to_owned(),
            want: Refused("foreign function ChatReg: Other/dev"),
        },
        // The gateway service, its API and its release.
        Row {
            case: "no gateway: service, API and release created; the functions wait for the URL",
            edit: |_, o, _| o.entry = None,
            want: Changes(&[
                PENDING_ENV[0],
                PENDING_ENV[1],
                PENDING_ENV[2],
                ("gateway-service ChatDemo", "create", &[]),
                ("websocket-api /", "create", &[]),
                ("release release", "create", &[]),
            ]),
        },
        Row {
            case: "an untagged namesake service is planned like ours",
            edit: |s, o, _| fixtures::with_gateway(s, o, |g| g.tagged = false),
            want: Changes(&[]),
        },
        Row {
            case: "a new service name in the file: only existence is compared",
            edit: |s, _, _| s.gateway.service_name = "Other".to_owned(),
            want: Changes(&[]),
        },
        Row {
            case: "a service without its API: created and released again",
            edit: |s, o, _| fixtures::with_gateway(s, o, |g| g.api = None),
            want: Changes(&[
                PENDING_ENV[0],
                PENDING_ENV[1],
                PENDING_ENV[2],
                ("websocket-api /", "create", &[]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "an API without its push-back URL yet: the functions wait for it",
            edit: |s, o, _| {
                fixtures::with_gateway(s, o, |g| g.api.as_mut().unwrap().internal_domain = None)
            },
            want: Changes(&PENDING_ENV),
        },
        Row {
            case: "a new API timeout in the file",
            edit: |s, _, _| s.gateway.websocket.timeout = 30,
            want: Changes(&[
                ("websocket-api /", "update", &["timeout"]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "another register function bound in the cloud",
            edit: |s, o, _| {
                fixtures::with_gateway(s, o, |g| {
                    g.api.as_mut().unwrap().register = Some("X".into())
                })
            },
            want: Changes(&[
                ("websocket-api /", "update", &["register"]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "another transport function bound in the cloud",
            edit: |s, o, _| {
                fixtures::with_gateway(s, o, |g| {
                    g.api.as_mut().unwrap().transport = Some("X".into())
                })
            },
            want: Changes(&[
                ("websocket-api /", "update", &["transport"]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "no cleanup function bound",
            edit: |s, o, _| {
                fixtures::with_gateway(s, o, |g| g.api.as_mut().unwrap().cleanup = None)
            },
            want: Changes(&[
                ("websocket-api /", "update", &["cleanup"]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "a new path in the file: a new API, and the client URL changes",
            edit: |s, _, _| s.gateway.websocket.path = "/chat".to_owned(),
            want: Changes(&[
                ("function ChatReg", "update", &["environment"]),
                ("websocket-api /chat", "create", &[]),
                ("release release", "update", &["api"]),
            ]),
        },
        Row {
            case: "released to another environment only: released",
            edit: |s, o, _| fixtures::with_gateway(s, o, |g| g.released = vec!["test".into()]),
            want: Changes(&[("release release", "create", &[])]),
        },
        Row {
            case: "a new environment in the file: released there, and the client URL changes",
            edit: |s, _, _| s.gateway.environment = "prod".to_owned(),
            want: Changes(&[
                ("function ChatReg", "update", &["environment"]),
                ("release prod", "create", &[]),
            ]),
        },
    ]
}

/// The resources of `stack` in plan order: bucket, execution roles by name, functions in file
/// order, service, API, release.
fn labels(stack: &Stack) -> Vec<String> {
    let gw = &stack.gateway;
    let mut out = vec![format!("bucket {}", stack.bucket.name)];
    out.extend(
        crate::engine::roles::role_names(stack)
            .iter()
            .map(|r| format!("role {r}")),
    );
    out.extend(
        stack
            .functions
            .iter()
            .map(|f| format!("function {}", f.name)),
    );
    out.push(format!("gateway-service {}", gw.service_name));
    out.push(format!("websocket-api {}", gw.websocket.path));
    out.push(format!("release {}", gw.environment));
    out
}

/// A refusal in a table's words.
fn refusal(e: &Error) -> String {
    match e {
        Error::RuntimeChange { name, have, want } => format!("runtime {name}: {have} -> {want}"),
        Error::Foreign {
            resource,
            other_stack,
            other_stage,
        } => format!("foreign {resource}: {other_stack}/{other_stage}"),
        other => panic!("not a refusal: {other:?}"),
    }
}

/// Runs a row: its stack and its plan (or refusal).
fn run(r: &Row) -> (Stack, Result<Vec<Change>, Error>) {
    let mut stack = fixtures::stack();
    let mut observed = fixtures::deployed(&stack, "c1");
    let mut packages = fixtures::packages(&stack, "c1");
    (r.edit)(&mut stack, &mut observed, &mut packages);
    let planned = plan(&stack, &observed, &packages);
    (stack, planned)
}

#[test]
fn each_edit_plans_its_change_kind() {
    for r in rows() {
        let (stack, planned) = run(&r);
        match (&r.want, planned) {
            (Want::Changes(want), Ok(changes)) => {
                let got: Vec<&str> = changes.iter().map(|c| c.resource.as_str()).collect();
                assert_eq!(got, labels(&stack), "{}: resources in plan order", r.case);
                let changed: Vec<_> = summary(&changes)
                    .into_iter()
                    .filter(|(_, action, _)| action != "no change")
                    .collect();
                let want: Vec<_> = want.iter().map(|(r, a, f)| row(r, a, f)).collect();
                assert_eq!(changed, want, "{}", r.case);
            }
            (Want::Refused(want), Err(e)) => assert_eq!(refusal(&e), *want, "{}", r.case),
            (Want::Changes(_), Err(e)) => panic!("{}: refused: {e:?}", r.case),
            (Want::Refused(_), Ok(changes)) => panic!("{}: planned {changes:?}", r.case),
        }
    }
}

/// Every [`Action`]; a new variant fails to compile in [`index`] until it is listed here (and
/// [`every_action_is_produced_by_some_row`] then wants a row that produces it).
const ACTIONS: [Action; 6] = [
    Action::Create,
    Action::Update,
    Action::Replace,
    Action::Delete,
    Action::NoChange,
    Action::Keep,
];

fn index(a: Action) -> usize {
    match a {
        Action::Create => 0,
        Action::Update => 1,
        Action::Replace => 2,
        Action::Delete => 3,
        Action::NoChange => 4,
        Action::Keep => 5,
    }
}

#[test]
fn every_action_is_produced_by_some_row() {
    for a in ACTIONS {
        assert_eq!(ACTIONS[index(a)], a);
    }
    let mut seen = [false; ACTIONS.len()];
    for r in rows() {
        if let (_, Ok(changes)) = run(&r) {
            for c in changes {
                seen[index(c.action)] = true;
            }
        }
    }
    // Deploy never deletes or keeps; removal is what does (its table is in `remove`'s tests):
    // it keeps a role of ours another stage still uses.
    assert!(!seen[index(Action::Delete)], "deploy planned a delete");
    assert!(!seen[index(Action::Keep)], "deploy planned a keep");
    let stack = fixtures::stack();
    let mut observed = fixtures::deployed(&stack, "c1");
    observed.roles = vec![crate::engine::roles::ObservedRole {
        name: "shared".to_owned(),
        exists: true,
        ours: true,
        attached: Vec::new(),
        used_by: vec!["stage prod".to_owned()],
    }];
    for c in super::remove::changes(&stack, &observed, false) {
        seen[index(c.action)] = true;
    }
    let missing: Vec<Action> = ACTIONS.into_iter().filter(|a| !seen[index(*a)]).collect();
    assert!(missing.is_empty(), "no row produces {missing:?}");
}
