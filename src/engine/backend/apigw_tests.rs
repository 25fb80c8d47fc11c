//! Tests of the API Gateway backend, in their own file: they use the shared fixtures, which
//! build this backend's [`Gateway`]; were they inline, the production file would import the
//! fixtures and close a cycle.

use super::*;
use crate::engine::fixtures::{self, row, summary};

#[test]
fn websocket_url_follows_the_gateway_convention() {
    assert_eq!(
        websocket_url(
            "service-abc-125.gz.apigw.tencentcs.com",
            true,
            "release",
            "/ws"
        ),
        "wss://service-abc-125.gz.apigw.tencentcs.com/release/ws"
    );
    assert_eq!(
        websocket_url("127.0.0.1:9000/service-abc", false, "release", "/"),
        "ws://127.0.0.1:9000/service-abc/release/"
    );
}

#[test]
fn the_observed_entry_names_its_ids_and_gives_the_client_url_once_released() {
    let stack = fixtures::stack();
    let entry = fixtures::gateway(&stack).entry(&stack);
    assert_eq!(entry.backend, "apigw");
    assert!(entry.tagged);
    // Its details come back as the backend's own type, and only as that.
    assert_eq!(entry.detail::<Gateway>(), Some(&fixtures::gateway(&stack)));
    assert!(entry.detail::<String>().is_none());
    let ids: Vec<(&str, &str)> = entry
        .ids
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(ids, [("apiId", "api-1"), ("serviceId", "service-abc")]);
    assert_eq!(
        entry.outputs,
        EntryOutputs {
            client_url: Some("wss://service-abc-125.gz.apigw.tencentcs.com/release/".into()),
            pushback_url: Some(fixtures::PUSHBACK.into()),
        }
    );
    let mut g = fixtures::gateway(&stack);
    g.released.clear();
    g.secure = false;
    let entry = g.entry(&stack);
    assert_eq!(entry.outputs.client_url, None);
    assert_eq!(
        entry.outputs.pushback_url.as_deref(),
        Some(fixtures::PUSHBACK)
    );
}

/// `(case, change to the deployed gateway or None for none at all, plan lines, push-back
/// URL known before applying)`.
type Case = (
    &'static str,
    Option<fn(&mut Gateway)>,
    [(&'static str, &'static str, &'static [&'static str]); 3],
    bool,
);

#[test]
fn planning_the_gateway() {
    let cases: &[Case] = &[
        (
            "nothing exists",
            None,
            [
                ("gateway-service ChatDemo", "create", &[]),
                ("websocket-api /", "create", &[]),
                ("release release", "create", &[]),
            ],
            false,
        ),
        (
            "in step",
            Some(|_| {}),
            [
                ("gateway-service ChatDemo", "no change", &[]),
                ("websocket-api /", "no change", &[]),
                ("release release", "no change", &[]),
            ],
            true,
        ),
        (
            "the API's binding and timeout changed: released again",
            Some(|g| {
                let api = g.api.as_mut().unwrap();
                api.timeout = 15;
                api.transport = Some("Other".into());
            }),
            [
                ("gateway-service ChatDemo", "no change", &[]),
                ("websocket-api /", "update", &["timeout", "transport"]),
                ("release release", "update", &["api"]),
            ],
            true,
        ),
        (
            "not released",
            Some(|g| g.released = vec!["test".into()]),
            [
                ("gateway-service ChatDemo", "no change", &[]),
                ("websocket-api /", "no change", &[]),
                ("release release", "create", &[]),
            ],
            true,
        ),
        (
            "only an API on another path: a new one",
            Some(|g| g.api.as_mut().unwrap().path = "/old".into()),
            [
                ("gateway-service ChatDemo", "no change", &[]),
                ("websocket-api /", "create", &[]),
                ("release release", "update", &["api"]),
            ],
            true,
        ),
        (
            "a service without its API",
            Some(|g| g.api = None),
            [
                ("gateway-service ChatDemo", "no change", &[]),
                ("websocket-api /", "create", &[]),
                ("release release", "update", &["api"]),
            ],
            false,
        ),
    ];
    let stack = fixtures::stack();
    for (case, change, want, pushback_known) in cases {
        let observed = change.map(|f| {
            let mut g = fixtures::gateway(&stack);
            f(&mut g);
            g.entry(&stack)
        });
        let plan = ApiGateway.plan(&stack, observed.as_ref()).unwrap();
        let want: Vec<_> = want.iter().map(|(r, a, f)| row(r, a, f)).collect();
        assert_eq!(summary(&plan.changes()), want, "{case}");
        let outputs = plan.outputs();
        assert_eq!(outputs.pushback_url.is_some(), *pushback_known, "{case}");
        assert_eq!(outputs.service_id.is_some(), observed.is_some(), "{case}");
    }
}

#[test]
fn known_outputs_use_the_files_environment_and_path() {
    let stack = fixtures::stack();
    let entry = fixtures::gateway(&stack).entry(&stack);
    assert_eq!(
        ApiGateway.plan(&stack, Some(&entry)).unwrap().outputs(),
        fixtures::outputs()
    );
}

#[test]
fn removal_deletes_the_api_then_each_release_then_the_service() {
    let stack = fixtures::stack();
    let mut g = fixtures::gateway(&stack);
    g.released = vec!["release".into(), "test".into()];
    let changes = ApiGateway.remove_changes(&g.entry(&stack));
    assert_eq!(
        summary(&changes),
        [
            row("websocket-api /", "delete", &[]),
            row("release release", "delete", &[]),
            row("release test", "delete", &[]),
            row("gateway-service service-abc", "delete", &[]),
        ]
    );
}

#[test]
fn info_keeps_the_gateway_shape_ci_scripts_read() {
    let stack = fixtures::stack();
    let entry = fixtures::gateway(&stack).entry(&stack);
    let info = ApiGateway.info(&stack, Some(&entry));
    assert!(info.legacy_gateway);
    assert_eq!(
        serde_json::to_string(&info.resources).unwrap(),
        r#"{"serviceId":"service-abc","apiId":"api-1","environment":"release","released":true}"#
    );
    let none = ApiGateway.info(&stack, None);
    assert_eq!(
        serde_json::to_string(&none).unwrap(),
        r#"{"backend":"apigw","clientUrl":null,"pushbackUrl":null,"resources":{"serviceId":null,"apiId":null,"environment":"release","released":false}}"#
    );
    assert_eq!(
        none.rows[0],
        ("gateway service".into(), "-".into(), "missing".into())
    );
}
