//! The plan's `Change` list, pinned for fixed inputs: resource labels, actions and fields are
//! what `plan --json` and `deploy --json` print, so a refactor must not move them.

use super::error::Error;
use super::fixtures::{self, row, summary};
use super::observed::Observed;
use super::plan::Change;
use crate::config::Stack;
use crate::package::Package;

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
