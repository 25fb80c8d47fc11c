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

fn service(id: &str, name: &str, created: &str, tags: &[(&str, &str)]) -> ServiceSummary {
    ServiceSummary {
        service_id: id.to_owned(),
        service_name: name.to_owned(),
        created_time: created.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| tencent::Tag::new(*k, *v))
            .collect(),
        ..ServiceSummary::default()
    }
}

const OURS: &[(&str, &str)] = &[(tags::STACK, "ChatDemo"), (tags::STAGE, "dev")];

#[test]
fn observation_picks_the_oldest_tagged_service_else_an_untagged_namesake() {
    /// `(case, services listed, (service id, tagged) picked)`.
    type Case = (
        &'static str,
        Vec<ServiceSummary>,
        Option<(&'static str, bool)>,
    );
    let other_stage: &[(&str, &str)] = &[(tags::STACK, "ChatDemo"), (tags::STAGE, "prod")];
    let other_stack: &[(&str, &str)] = &[(tags::STACK, "Other"), (tags::STAGE, "dev")];
    let t1 = "2026-01-01 10:00:00";
    let t2 = "2026-01-01 10:00:01";
    let cases: Vec<Case> = vec![
        ("nothing listed", vec![], None),
        (
            "ours",
            vec![service("service-a", "Anything", t1, OURS)],
            Some(("service-a", true)),
        ),
        (
            "two of ours: the oldest",
            vec![
                service("service-a", "ChatDemo", t2, OURS),
                service("service-b", "ChatDemo", t1, OURS),
            ],
            Some(("service-b", true)),
        ),
        (
            "two of ours created in the same second: the smaller id",
            vec![
                service("service-b", "ChatDemo", t1, OURS),
                service("service-a", "ChatDemo", t1, OURS),
            ],
            Some(("service-a", true)),
        ),
        (
            "ours before an untagged namesake listed first",
            vec![
                service("service-n", "ChatDemo", t1, &[]),
                service("service-a", "ChatDemo", t2, OURS),
            ],
            Some(("service-a", true)),
        ),
        (
            "an untagged namesake: found by name, not ours",
            vec![
                service("service-x", "Unrelated", t1, &[]),
                service("service-n", "ChatDemo", t1, &[]),
            ],
            Some(("service-n", false)),
        ),
        (
            "another stage's namesake is neither",
            vec![service("service-p", "ChatDemo", t1, other_stage)],
            None,
        ),
        (
            "another stack's service of our stage is neither",
            vec![service("service-o", "Other", t1, other_stack)],
            None,
        ),
        (
            "a namesake with only a stack tag counts as untagged",
            vec![service(
                "service-s",
                "ChatDemo",
                t1,
                &[(tags::STACK, "Other")],
            )],
            Some(("service-s", false)),
        ),
    ];
    let stack = fixtures::stack();
    for (case, services, want) in cases {
        let got = pick_service(&stack, &services).map(|(s, t)| (s.service_id.as_str(), t));
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn a_service_read_by_id_is_ours_only_with_our_tags_unless_the_search_said() {
    let stack = fixtures::stack();
    let detail = |tags: &[(&str, &str)]| ServiceDetail {
        tags: tags
            .iter()
            .map(|(k, v)| tencent::Tag::new(*k, *v))
            .collect(),
        ..ServiceDetail::default()
    };
    let other_stage: &[(&str, &str)] = &[(tags::STACK, "ChatDemo"), (tags::STAGE, "prod")];
    /// `(case, what the search said, tags DescribeService reports, taken as)`.
    type Case<'a> = (
        &'a str,
        Option<bool>,
        &'a [(&'a str, &'a str)],
        Option<bool>,
    );
    let cases: &[Case] = &[
        ("a journal hint with our tags", None, OURS, Some(true)),
        ("a journal hint, untagged: not ours", None, &[], None),
        (
            "a journal hint, another stage's: not ours",
            None,
            other_stage,
            None,
        ),
        ("the search found it tagged", Some(true), &[], Some(true)),
        (
            "the search found it by name",
            Some(false),
            OURS,
            Some(false),
        ),
    ];
    for (case, tagged, tags, want) in cases {
        assert_eq!(owned(&stack, &detail(tags), *tagged), *want, "{case}");
    }
}

#[test]
fn the_websocket_api_is_the_one_on_the_files_path_else_the_first() {
    let api = |id: &str, path: &str, protocol: &str| ApiSummary {
        api_id: id.to_owned(),
        path: path.to_owned(),
        protocol: protocol.to_owned(),
        ..ApiSummary::default()
    };
    // `(case, APIs DescribeService lists, the one read)`; the file's path is `/`.
    let cases: Vec<(&str, Vec<ApiSummary>, Option<&str>)> = vec![
        ("none", vec![], None),
        ("an HTTP API only", vec![api("api-h", "/", "HTTP")], None),
        (
            "the one on the path",
            vec![
                api("api-o", "/old", "WEBSOCKET"),
                api("api-1", "/", "WEBSOCKET"),
            ],
            Some("api-1"),
        ),
        (
            "an HTTP API on the path does not count",
            vec![api("api-h", "/", "HTTP"), api("api-o", "/old", "WEBSOCKET")],
            Some("api-o"),
        ),
        (
            "none on the path: the first WebSocket one",
            vec![
                api("api-h", "/x", "HTTP"),
                api("api-o", "/old", "WEBSOCKET"),
                api("api-p", "/other", "WEBSOCKET"),
            ],
            Some("api-o"),
        ),
        (
            "the protocol in any case",
            vec![api("api-1", "/", "websocket")],
            Some("api-1"),
        ),
    ];
    let stack = fixtures::stack();
    for (case, apis, want) in cases {
        let detail = ServiceDetail {
            api_id_status_set: apis,
            ..ServiceDetail::default()
        };
        let got = websocket_api(&stack, &detail).map(|a| a.api_id.as_str());
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn describe_apis_answer_becomes_the_api_with_empty_values_absent() {
    let listed = ApiSummary {
        api_id: "api-1".to_owned(),
        path: "/".to_owned(),
        protocol: "WEBSOCKET".to_owned(),
        ..ApiSummary::default()
    };
    let info = ApiInfo {
        service_timeout: 800,
        internal_domain: fixtures::PUSHBACK.to_owned(),
        service_websocket_register_function_name: "ChatReg".to_owned(),
        service_websocket_transport_function_name: "ChatTrans".to_owned(),
        service_websocket_cleanup_function_name: "ChatClean".to_owned(),
        ..ApiInfo::default()
    };
    assert_eq!(
        Some(api_of(&listed, &info)),
        fixtures::gateway(&fixtures::stack()).api
    );
    // Just created: no push-back URL yet, nothing bound.
    let bare = api_of(
        &listed,
        &ApiInfo {
            service_timeout: 15,
            ..ApiInfo::default()
        },
    );
    assert_eq!(
        bare,
        Api {
            api_id: "api-1".to_owned(),
            path: "/".to_owned(),
            timeout: 15,
            internal_domain: None,
            register: None,
            transport: None,
            cleanup: None,
        }
    );
}
