//! Our own provider client (`chatstack::providers::tencent`) against the local cloud: the same
//! scenarios the official Python SDKs referee in `localcloud_api3.rs` / `localcloud_cos.rs`
//! (every action, success and error codes, signatures and credentials, COS paging past 1000
//! keys with Unicode keys, the function state machine, retired API Gateway, fault injection),
//! plus a `kill -9` of the real `chatstack local` binary.

use std::time::{Duration, Instant};

use bytes::Bytes;
use chatstack::localcloud::account::{DEFAULT_APPID, KeyPair};
use chatstack::localcloud::faults::FaultConfig;
use chatstack::localcloud::latency::Profile;
use chatstack::localcloud::{ApigwMode, Options};
use chatstack::providers::tencent::apigateway::{
    ApiSpec, CreateServiceRequest, ModifyApiRequest, RequestConfig, WebsocketFunctions,
};
use chatstack::providers::tencent::scf::{
    Code, CreateFunctionRequest, Environment, Filter, GetFunctionLogsRequest, InvokeRequest,
    ListFunctionsRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest, Variable,
};
use chatstack::providers::tencent::{
    Credentials, Error, RateLimiter, RetryPolicy, Tag, TencentCloud, cos_sign, tc3,
};
use chatstack::secret::Secret;
use futures_util::StreamExt;

use crate::support::{Cloud, LocalProcess, default_options};

const REGION: &str = "ap-guangzhou";
const BUCKET: &str = "chat-1250000000";
const FUNCTIONS: [&str; 3] = ["chat-register", "chat-transport", "chat-cleanup"];
const STACK_TAGS: [(&str, &str); 2] = [("chatstack:stack", "chat"), ("chatstack:stage", "dev")];

/// Millisecond backoffs, so retried faults cost little wall time.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(20),
    }
}

/// The local cloud has no request quota: no client-side rate limit (the default 50/s would
/// make the 2500 COS calls of the paging test take 50 s).
fn unlimited() -> RateLimiter {
    RateLimiter::new(100_000.0, 10_000)
}

fn client_at(url: &str, credentials: Credentials) -> TencentCloud {
    TencentCloud::with_options(
        credentials,
        REGION,
        Some(url::Url::parse(url).unwrap()),
        fast_retries(),
        unlimited(),
    )
    .unwrap()
}

fn default_credentials() -> Credentials {
    let kp = KeyPair::default_pair();
    Credentials::new(kp.secret_id, kp.secret_key, None)
}

fn client(cloud: &Cloud) -> TencentCloud {
    client_at(&cloud.url(), default_credentials())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A cloud with `tweak` applied to the default options (in a fresh data dir).
fn cloud_with(tweak: impl FnOnce(&mut Options)) -> (tempfile::TempDir, Cloud) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    tweak(&mut opts);
    let cloud = Cloud::start_with(opts);
    (dir, cloud)
}

fn zip_with(source: &str) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    let mut z = zip::ZipWriter::new(&mut buf);
    z.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(source.as_bytes()).unwrap();
    z.finish().unwrap();
    buf.into_inner()
}

fn zip() -> Vec<u8> {
    zip_with("def main_handler(event, context):\n    return {'errNo': 0, 'errMsg': 'ok'}\n")
}

fn function(name: &str) -> CreateFunctionRequest {
    CreateFunctionRequest {
        function_name: name.into(),
        code: Code::zip(&zip()),
        handler: Some("index.main_handler".into()),
        runtime: Some("Python3.9".into()),
        ..Default::default()
    }
}

fn ws_functions() -> WebsocketFunctions<'static> {
    WebsocketFunctions {
        register: FUNCTIONS[0],
        transport: FUNCTIONS[1],
        cleanup: FUNCTIONS[2],
        namespace: "default",
        qualifier: "$LATEST",
    }
}

fn stack_tags() -> Vec<Tag> {
    STACK_TAGS.iter().map(|(k, v)| Tag::new(*k, *v)).collect()
}

/// The error's code, asserting it is exactly `code`.
#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: Result<T, Error>, code: &str) -> Error {
    let err = result.expect_err(&format!("expected {code}"));
    assert_eq!(err.error_code(), Some(code), "{err}");
    assert!(err.request_id().is_some_and(|r| !r.is_empty()), "{err}");
    err
}

async fn wait_active(tc: &TencentCloud, name: &str) {
    let info = tc
        .scf()
        .wait_for_function(name, None, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{name} vanished"));
    assert!(info.is_active(), "{info:?}");
}

#[test]
fn provider_drives_every_scf_and_cam_action_with_the_clouds_codes() {
    let cloud = Cloud::start();
    let tc = client(&cloud);
    rt().block_on(async {
        let ids = tc.cam().get_user_app_id().await.unwrap();
        assert_eq!(ids.app_id, DEFAULT_APPID);

        let scf = tc.scf();
        assert!(
            scf.get_function_opt(FUNCTIONS[0], None)
                .await
                .unwrap()
                .is_none()
        );
        assert_code(
            scf.get_function("ghost", None).await,
            "ResourceNotFound.Function",
        );
        for name in FUNCTIONS {
            scf.create_function(&CreateFunctionRequest {
                environment: Some(Environment {
                    variables: vec![Variable::new("BUCKET", BUCKET), Variable::new("A", "1")],
                }),
                tags: Some(stack_tags()),
                memory_size: Some(256),
                timeout: Some(10),
                description: Some("chat".into()),
                ..function(name)
            })
            .await
            .unwrap();
        }
        let dup = assert_code(
            scf.create_function(&function(FUNCTIONS[0])).await,
            "ResourceInUse.Function",
        );
        assert!(dup.is_already_exists());

        // CreateFunction validation, as the cloud does it.
        let invalid: Vec<(&str, CreateFunctionRequest)> = vec![
            ("InvalidParameterValue.FunctionName", function("1bad")),
            ("InvalidParameterValue.FunctionName", function("bad-")),
            (
                "InvalidParameterValue.Runtime",
                CreateFunctionRequest {
                    runtime: Some("Python9.9".into()),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.Handler",
                CreateFunctionRequest {
                    handler: Some("index".into()),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.MemorySize",
                CreateFunctionRequest {
                    memory_size: Some(100),
                    ..function("chat-bad")
                },
            ),
            (
                "LimitExceeded.Timeout",
                CreateFunctionRequest {
                    timeout: Some(901),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.EnvironmentSystemProtect",
                CreateFunctionRequest {
                    environment: Some(Environment {
                        variables: vec![Variable::new("TENCENTCLOUD_SECRETID", "x")],
                    }),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.EnvironmentExceededLimit",
                CreateFunctionRequest {
                    environment: Some(Environment {
                        variables: vec![Variable::new("BIG", "x".repeat(4200))],
                    }),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.ZipFile",
                CreateFunctionRequest {
                    code: Code::zip(b"definitely not a zip"),
                    ..function("chat-bad")
                },
            ),
            (
                "InvalidParameterValue.Code",
                CreateFunctionRequest {
                    code: Code::default(),
                    ..function("chat-bad")
                },
            ),
            (
                "ResourceNotFound.Namespace",
                CreateFunctionRequest {
                    namespace: Some("other".into()),
                    ..function("chat-bad")
                },
            ),
        ];
        for (code, req) in &invalid {
            let err = assert_code(scf.create_function(req).await, code);
            assert!(!err.is_retryable(), "{err}");
        }
        assert!(
            scf.get_function_opt("chat-bad", None)
                .await
                .unwrap()
                .is_none()
        );

        for name in FUNCTIONS {
            wait_active(&tc, name).await;
        }
        let f = scf.get_function(FUNCTIONS[0], None).await.unwrap();
        assert_eq!(
            (f.function_name.as_str(), f.namespace.as_str()),
            (FUNCTIONS[0], "default")
        );
        assert!(f.function_id.starts_with("lam-"), "{}", f.function_id);
        assert_eq!(
            (f.runtime.as_str(), f.handler.as_str()),
            ("Python3.9", "index.main_handler")
        );
        assert_eq!((f.memory_size, f.timeout), (256, 10));
        assert_eq!(f.code_size, zip().len() as u64);
        assert_eq!(f.tag("chatstack:stack"), Some("chat"));
        assert_eq!(f.qualifier, "$LATEST");
        let env: Vec<_> = f
            .environment
            .variables
            .iter()
            .map(|v| (v.key.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(env, [("BUCKET", BUCKET), ("A", "1")]);
        for t in [&f.add_time, &f.mod_time] {
            assert_eq!(t.len(), "2024-12-17 17:52:48".len(), "{t}");
        }

        // ListFunctions: tags, search, order and paging.
        scf.create_function(&CreateFunctionRequest {
            tags: Some(vec![Tag::new("chatstack:stack", "other")]),
            ..function("other-fn")
        })
        .await
        .unwrap();
        let tagged = scf.list_functions_by_tags(None, &STACK_TAGS).await.unwrap();
        let mut names: Vec<_> = tagged.iter().map(|f| f.function_name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["chat-cleanup", "chat-register", "chat-transport"]);
        assert_eq!(scf.list_all_functions(None, vec![]).await.unwrap().len(), 4);
        let page = scf
            .list_functions(&ListFunctionsRequest {
                search_key: Some("chat-".into()),
                orderby: Some("FunctionName".into()),
                order: Some("DESC".into()),
                offset: Some(1),
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total_count, 3);
        assert_eq!(page.functions[0].function_name, "chat-register");
        let page = scf
            .list_functions(&ListFunctionsRequest {
                filters: Some(vec![Filter::new("Runtime", ["Python3.9"])]),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total_count, 4);
        assert_code(
            scf.list_functions(&ListFunctionsRequest {
                orderby: Some("Size".into()),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.OrderBy",
        );
        assert_code(
            scf.list_functions(&ListFunctionsRequest {
                filters: Some(vec![Filter::new("Colour", ["red"])]),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.Filters",
        );

        // UpdateFunctionCode: new code and handler.
        let v2 = zip_with("def run(event, context):\n    return 'v2'\n");
        scf.update_function_code(&UpdateFunctionCodeRequest {
            function_name: FUNCTIONS[0].into(),
            handler: Some("index.run".into()),
            code: Some(Code::zip(&v2)),
            ..Default::default()
        })
        .await
        .unwrap();
        wait_active(&tc, FUNCTIONS[0]).await;
        let f = scf.get_function(FUNCTIONS[0], None).await.unwrap();
        assert_eq!(
            (f.code_size, f.handler.as_str()),
            (v2.len() as u64, "index.run")
        );
        assert_code(
            scf.update_function_code(&UpdateFunctionCodeRequest {
                function_name: FUNCTIONS[0].into(),
                code: Some(Code::zip(b"PK nope")),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.ZipFile",
        );
        assert_code(
            scf.update_function_code(&UpdateFunctionCodeRequest {
                function_name: "ghost".into(),
                code: Some(Code::zip(&v2)),
                ..Default::default()
            })
            .await,
            "ResourceNotFound.Function",
        );

        // UpdateFunctionConfiguration: a non-empty list replaces the set, absent keeps it.
        scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
            function_name: FUNCTIONS[0].into(),
            environment: Some(Environment {
                variables: vec![Variable::new("PUSHBACK_URL", "http://x/api-1")],
            }),
            memory_size: Some(512),
            ..Default::default()
        })
        .await
        .unwrap();
        wait_active(&tc, FUNCTIONS[0]).await;
        scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
            function_name: FUNCTIONS[0].into(),
            timeout: Some(30),
            ..Default::default()
        })
        .await
        .unwrap();
        wait_active(&tc, FUNCTIONS[0]).await;
        let f = scf.get_function(FUNCTIONS[0], None).await.unwrap();
        assert_eq!((f.memory_size, f.timeout), (512, 30));
        let env: Vec<_> = f
            .environment
            .variables
            .iter()
            .map(|v| v.key.as_str())
            .collect();
        assert_eq!(env, ["PUSHBACK_URL"]);
        assert_code(
            scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
                function_name: FUNCTIONS[0].into(),
                memory_size: Some(130),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.MemorySize",
        );
        assert_code(
            scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
                function_name: "ghost".into(),
                timeout: Some(5),
                ..Default::default()
            })
            .await,
            "ResourceNotFound.Function",
        );

        // GetFunctionLogs and Invoke's refusals (what Invoke runs is the runtime's business).
        let logs = scf
            .get_function_logs(&GetFunctionLogsRequest {
                function_name: FUNCTIONS[1].into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(logs.total_count, logs.data.len() as u64);
        assert_code(
            scf.get_function_logs(&GetFunctionLogsRequest {
                function_name: "ghost".into(),
                ..Default::default()
            })
            .await,
            "ResourceNotFound.Function",
        );
        assert_code(
            scf.invoke(&InvokeRequest {
                function_name: "ghost".into(),
                ..Default::default()
            })
            .await,
            "ResourceNotFound.Function",
        );
        assert_code(
            scf.invoke(&InvokeRequest {
                function_name: FUNCTIONS[1].into(),
                invocation_type: Some("Sometimes".into()),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.InvokeType",
        );

        // DeleteFunction: gone after the wait, a second delete reports it was gone, and the
        // name can be reused. Other regions are separate.
        assert!(scf.delete_function("other-fn", None).await.unwrap());
        assert!(
            scf.wait_for_function("other-fn", None, Duration::from_secs(20))
                .await
                .unwrap()
                .is_none()
        );
        assert!(!scf.delete_function("other-fn", None).await.unwrap());
        scf.create_function(&function("other-fn")).await.unwrap();
        let shanghai = tc.in_region("ap-shanghai").unwrap().scf();
        assert!(
            shanghai
                .get_function_opt(FUNCTIONS[0], None)
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn provider_drives_every_api_gateway_action_with_the_clouds_codes() {
    let cloud = Cloud::start();
    let host = format!("127.0.0.1:{}", cloud.port());
    let tc = client(&cloud);
    rt().block_on(async {
        for name in FUNCTIONS {
            tc.scf().create_function(&function(name)).await.unwrap();
        }
        let gw = tc.apigateway();

        // Services.
        let svc = gw
            .create_service(&CreateServiceRequest {
                service_name: "chat_dev".into(),
                protocol: "http&https".into(),
                service_desc: Some("chat".into()),
                tags: Some(stack_tags()),
                ..Default::default()
            })
            .await
            .unwrap();
        let sid = svc.service_id.clone();
        assert!(sid.starts_with("service-") && sid.len() == 16, "{sid}");
        assert_eq!(svc.outer_sub_domain, format!("{host}/{sid}"));
        assert_eq!(
            (svc.inner_sub_domain.as_str(), svc.net_types.as_slice()),
            ("", &["OUTER".to_owned()][..])
        );
        assert!(svc.created_time.ends_with('Z'), "{}", svc.created_time);
        let other = gw
            .create_service(&CreateServiceRequest {
                service_name: "other".into(),
                protocol: "http".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .service_id;
        assert_code(
            gw.create_service(&CreateServiceRequest {
                service_name: "x".into(),
                protocol: "ftp".into(),
                ..Default::default()
            })
            .await,
            "InvalidParameterValue.InvalidProcotol",
        );
        let detail = gw.describe_service(&sid).await.unwrap();
        assert_eq!(
            (detail.service_name.as_str(), detail.protocol.as_str()),
            ("chat_dev", "http&https")
        );
        assert_eq!(detail.outer_sub_domain, format!("{host}/{sid}"));
        assert_eq!(
            (detail.api_total_count, detail.available_environments.len()),
            (0, 0)
        );
        assert_eq!(detail.tags, stack_tags());
        assert_code(
            gw.describe_service("service-00000000").await,
            "ResourceNotFound.InvalidService",
        );
        assert!(
            gw.describe_service_opt("service-00000000")
                .await
                .unwrap()
                .is_none()
        );
        let found = gw.find_services_by_tags(&STACK_TAGS).await.unwrap();
        assert_eq!(
            found.iter().map(|s| &s.service_id).collect::<Vec<_>>(),
            [&sid]
        );
        let named = gw.find_services_by_name("chat_dev").await.unwrap();
        assert_eq!(
            named.iter().map(|s| &s.service_id).collect::<Vec<_>>(),
            [&sid]
        );
        let (total, page) = gw.describe_services_status(vec![], 1, 1).await.unwrap();
        assert_eq!((total, page.len()), (2, 1));
        assert_code(
            gw.describe_services_status(vec![], 0, 101).await,
            "InvalidParameterValue.LimitExceeded",
        );
        assert_code(
            gw.describe_services_status(vec![Filter::new("Colour", ["x"])], 0, 20)
                .await,
            "InvalidParameterValue.InvalidFilterNotSupportedName",
        );

        // CreateApi: the WebSocket API bound to the three functions, and its refusals.
        let spec = ApiSpec::websocket(&sid, "chat_ws", "/ws", 15, ws_functions());
        let refused = [
            (
                "InvalidParameterValue.InvalidWSMethod",
                ApiSpec {
                    request_config: RequestConfig {
                        path: "/ws".into(),
                        method: "POST".into(),
                    },
                    ..spec.clone()
                },
            ),
            (
                "FailedOperation.ScfError",
                ApiSpec {
                    service_websocket_register_function_name: Some("chat-missing".into()),
                    ..spec.clone()
                },
            ),
            (
                "InvalidParameterValue.InvalidScfConfig",
                ApiSpec {
                    service_websocket_transport_function_name: Some(String::new()),
                    ..spec.clone()
                },
            ),
            (
                "ResourceNotFound.InvalidService",
                ApiSpec {
                    service_id: "service-00000000".into(),
                    ..spec.clone()
                },
            ),
            (
                "InvalidParameterValue.InvalidApiRequestConfig",
                ApiSpec {
                    request_config: RequestConfig {
                        path: "ws".into(),
                        method: "GET".into(),
                    },
                    ..spec.clone()
                },
            ),
        ];
        for (code, bad) in &refused {
            assert_code(gw.create_api(bad).await, code);
        }
        let api = gw.create_api(&spec).await.unwrap();
        let aid = api.api_id.clone();
        assert!(aid.starts_with("api-") && aid.len() == 12, "{aid}");
        assert_eq!((api.path.as_str(), api.method.as_str()), ("/ws", "GET"));
        // The same path twice is refused.
        assert_code(
            gw.create_api(&spec).await,
            "InvalidParameterValue.InvalidApiRequestConfig",
        );

        let info = gw.describe_api(&sid, &aid).await.unwrap();
        assert_eq!(info.internal_domain, format!("http://{host}/{aid}"));
        assert_eq!(
            (info.protocol.as_str(), info.service_type.as_str()),
            ("WEBSOCKET", "SCF")
        );
        assert_eq!(info.service_timeout, 15);
        assert_eq!(info.request_config.path, "/ws");
        assert_eq!(info.service_websocket_register_function_name, FUNCTIONS[0]);
        assert_eq!(info.service_websocket_transport_function_name, FUNCTIONS[1]);
        assert_eq!(info.service_websocket_cleanup_function_name, FUNCTIONS[2]);
        assert_eq!(info.service_websocket_cleanup_function_qualifier, "$LATEST");
        assert!(info.environments.is_empty());
        assert_code(
            gw.describe_api(&sid, "api-00000000").await,
            "ResourceNotFound.InvalidApi",
        );
        let apis = gw.list_apis(&sid).await.unwrap();
        assert_eq!(apis.iter().map(|a| &a.api_id).collect::<Vec<_>>(), [&aid]);
        assert_eq!(gw.describe_service(&sid).await.unwrap().api_total_count, 1);

        // ModifyApi keeps the push-back URL.
        tc.scf()
            .create_function(&function("chat-transport2"))
            .await
            .unwrap();
        let modified = ApiSpec {
            request_config: RequestConfig {
                path: "/chat".into(),
                method: "GET".into(),
            },
            service_websocket_transport_function_name: Some("chat-transport2".into()),
            ..spec.clone()
        };
        gw.modify_api(&ModifyApiRequest {
            api_id: aid.clone(),
            spec: modified.clone(),
        })
        .await
        .unwrap();
        let info = gw.describe_api(&sid, &aid).await.unwrap();
        assert_eq!(info.request_config.path, "/chat");
        assert_eq!(
            info.service_websocket_transport_function_name,
            "chat-transport2"
        );
        assert_eq!(info.internal_domain, format!("http://{host}/{aid}"));
        assert_code(
            gw.modify_api(&ModifyApiRequest {
                api_id: "api-00000000".into(),
                spec: modified.clone(),
            })
            .await,
            "ResourceNotFound.InvalidApi",
        );
        assert_code(
            gw.modify_api(&ModifyApiRequest {
                api_id: aid.clone(),
                spec: ApiSpec {
                    service_websocket_transport_function_name: Some("gone".into()),
                    ..modified.clone()
                },
            })
            .await,
            "FailedOperation.ScfError",
        );

        // Releases.
        let envs = gw.environments(&sid).await.unwrap();
        assert_eq!(envs.len(), 3);
        assert!(envs.iter().all(|e| e.status == 0));
        assert_code(
            gw.release_service(&sid, "prod", "x").await,
            "InvalidParameterValue.InvalidEnv",
        );
        let first = gw.release_service(&sid, "release", "first").await.unwrap();
        let second = gw.release_service(&sid, "release", "second").await.unwrap();
        assert_eq!(second.release_desc, "second");
        assert_ne!(first.release_version, second.release_version);
        assert_eq!(gw.released_environments(&sid).await.unwrap(), ["release"]);
        let release = gw
            .environments(&sid)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.environment_name == "release")
            .unwrap();
        assert_eq!(release.url, format!("http://{host}/{sid}/release"));
        assert_eq!(
            gw.describe_api(&sid, &aid).await.unwrap().environments,
            ["release"]
        );

        // Removal, in the deployer's order, with the refusals of the wrong order.
        let err = assert_code(
            gw.delete_service(&sid).await,
            "UnsupportedOperation.ApiListNotEmpty",
        );
        assert!(!err.is_platform_unavailable());
        assert!(gw.delete_api(&sid, &aid).await.unwrap());
        assert!(!gw.delete_api(&sid, &aid).await.unwrap());
        assert_code(
            gw.delete_service(&sid).await,
            "UnsupportedOperation.ExistingOnlineEnvironment",
        );
        assert_code(
            gw.unrelease_service(&sid, "test").await,
            "InvalidParameterValue.InvalidEnvStatus",
        );
        for env in gw.released_environments(&sid).await.unwrap() {
            gw.unrelease_service(&sid, &env).await.unwrap();
        }
        assert!(gw.delete_service(&sid).await.unwrap());
        assert!(!gw.delete_service(&sid).await.unwrap());
        assert!(gw.describe_service_opt(&sid).await.unwrap().is_none());
        // Services are regional.
        let shanghai = tc.in_region("ap-shanghai").unwrap().apigateway();
        assert!(
            shanghai
                .describe_service_opt(&other)
                .await
                .unwrap()
                .is_none()
        );
        assert!(gw.delete_service(&other).await.unwrap());
    });
}

/// A raw API 3.0 request signed by our signer at `timestamp`.
async fn raw_api3(cloud: &Cloud, timestamp: i64) -> serde_json::Value {
    let host = format!("127.0.0.1:{}", cloud.port());
    let kp = KeyPair::default_pair();
    let body = br#"{"Limit":1}"#;
    let sig = tc3::sign(
        &tc3::SignableRequest {
            service: "scf",
            host: &host,
            content_type: "application/json",
            payload: body,
            timestamp,
        },
        &kp.secret_id,
        kp.secret_key.expose(),
    );
    let resp = chatstack::providers::tencent::http::client()
        .unwrap()
        .post(cloud.url() + "/")
        .header("host", &host)
        .header("content-type", "application/json")
        .header("x-tc-action", "ListFunctions")
        .header("x-tc-version", "2018-04-16")
        .header("x-tc-region", REGION)
        .header("x-tc-timestamp", timestamp.to_string())
        .header("authorization", sig.authorization)
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

#[test]
fn provider_credentials_wrong_keys_tokens_and_expired_timestamps() {
    let cloud = Cloud::start();
    let url = cloud.url();
    let kp = KeyPair::default_pair();
    let tmp = cloud.mint_temporary(3600);
    let expired = cloud
        .handle
        .account()
        .mint_temporary(
            jiff::Timestamp::now().as_second() - 7200,
            Duration::from_secs(3600),
            None,
        )
        .unwrap();
    rt().block_on(async {
        let wrong_key = client_at(
            &url,
            Credentials::new(kp.secret_id.clone(), Secret::new("wrong"), None),
        );
        let err = assert_code(
            wrong_key.scf().get_function("x", None).await,
            "AuthFailure.SignatureFailure",
        );
        assert!(err.is_auth_failure() && !err.is_retryable(), "{err}");
        let unknown = client_at(
            &url,
            Credentials::new("AKIDunknown", kp.secret_key.clone(), None),
        );
        assert!(
            assert_code(
                unknown.cam().get_user_app_id().await,
                "AuthFailure.SecretIdNotFound"
            )
            .is_auth_failure()
        );

        // Temporary credentials: accepted with their token (SCF, API Gateway, CAM), refused
        // without it, with another one, or once expired.
        let temp = client_at(
            &url,
            Credentials::new(
                tmp.secret_id.clone(),
                tmp.secret_key.clone(),
                Some(tmp.token.clone()),
            ),
        );
        assert_eq!(
            temp.cam().get_user_app_id().await.unwrap().app_id,
            DEFAULT_APPID
        );
        temp.scf()
            .create_function(&function("tmp-fn"))
            .await
            .unwrap();
        assert_eq!(
            temp.apigateway().list_services(vec![]).await.unwrap().len(),
            0
        );
        for token in [None, Some(Secret::new("wrong"))] {
            let c = client_at(
                &url,
                Credentials::new(tmp.secret_id.clone(), tmp.secret_key.clone(), token),
            );
            assert_code(
                c.scf().get_function("tmp-fn", None).await,
                "AuthFailure.TokenFailure",
            );
        }
        let old = client_at(
            &url,
            Credentials::new(expired.secret_id, expired.secret_key, Some(expired.token)),
        );
        assert_code(
            old.scf().get_function("tmp-fn", None).await,
            "AuthFailure.TokenFailure",
        );

        // Our signer at the edges of the 5-minute window.
        let now = jiff::Timestamp::now().as_second();
        let ok = raw_api3(&cloud, now - 240).await;
        assert!(ok["Response"]["Error"].is_null(), "{ok}");
        for ts in [now - 400, now + 400] {
            let v = raw_api3(&cloud, ts).await;
            assert_eq!(
                v["Response"]["Error"]["Code"], "AuthFailure.SignatureExpire",
                "{v}"
            );
        }
    });
}

#[test]
fn provider_sees_the_function_state_machine_under_a_latency_profile() {
    let (_dir, cloud) = cloud_with(|o| {
        o.latency = Profile {
            actions: [("GetUserAppId".to_owned(), 300)].into_iter().collect(),
            creating_ms: 700,
            updating_ms: 700,
            deleting_ms: 500,
            ..Profile::none()
        };
    });
    let tc = client(&cloud);
    rt().block_on(async {
        let started = Instant::now();
        tc.cam().get_user_app_id().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(300));

        let scf = tc.scf();
        let name = "chat-states";
        let started = Instant::now();
        scf.create_function(&function(name)).await.unwrap();
        assert_eq!(
            scf.get_function(name, None).await.unwrap().status,
            "Creating"
        );
        let conflicts = [
            scf.update_function_code(&UpdateFunctionCodeRequest {
                function_name: name.into(),
                code: Some(Code::zip(&zip())),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
                function_name: name.into(),
                timeout: Some(5),
                ..Default::default()
            })
            .await
            .unwrap_err(),
            scf.delete_function(name, None).await.unwrap_err(),
        ];
        let codes: Vec<_> = conflicts.iter().map(|e| e.error_code().unwrap()).collect();
        assert_eq!(
            codes,
            [
                "FailedOperation.UpdateFunctionCode",
                "FailedOperation.UpdateFunctionConfiguration",
                "FailedOperation.DeleteFunction"
            ]
        );
        assert!(conflicts.iter().all(Error::is_state_conflict));
        wait_active(&tc, name).await;
        assert!(started.elapsed() >= Duration::from_millis(700));

        scf.update_function_configuration(&UpdateFunctionConfigurationRequest {
            function_name: name.into(),
            timeout: Some(7),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(
            scf.get_function(name, None).await.unwrap().status,
            "Updating"
        );
        assert!(
            scf.delete_function(name, None)
                .await
                .unwrap_err()
                .is_state_conflict()
        );
        wait_active(&tc, name).await;
        assert_eq!(scf.get_function(name, None).await.unwrap().timeout, 7);

        scf.update_function_code(&UpdateFunctionCodeRequest {
            function_name: name.into(),
            code: Some(Code::zip(&zip())),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(
            scf.get_function(name, None).await.unwrap().status,
            "Updating"
        );
        wait_active(&tc, name).await;

        assert!(scf.delete_function(name, None).await.unwrap());
        assert_eq!(
            scf.get_function(name, None).await.unwrap().status,
            "Deleting"
        );
        assert!(
            scf.create_function(&function(name))
                .await
                .unwrap_err()
                .is_already_exists()
        );
        assert!(
            scf.wait_for_function(name, None, Duration::from_secs(20))
                .await
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn provider_sees_a_retired_api_gateway_as_platform_unavailable() {
    let (_dir, cloud) = cloud_with(|o| o.apigw = ApigwMode::Retired);
    let tc = client(&cloud);
    rt().block_on(async {
        let gw = tc.apigateway();
        let err = assert_code(
            gw.create_service(&CreateServiceRequest {
                service_name: "x".into(),
                protocol: "http".into(),
                ..Default::default()
            })
            .await,
            "UnsupportedOperation.ServiceRetired",
        );
        assert!(
            err.is_platform_unavailable() && !err.is_retryable(),
            "{err}"
        );
        let spec = ApiSpec::websocket("service-00000000", "ws", "/ws", 15, ws_functions());
        assert!(
            gw.create_api(&spec)
                .await
                .unwrap_err()
                .is_platform_unavailable()
        );
        // Reads and SCF are unaffected.
        assert!(gw.list_services(vec![]).await.unwrap().is_empty());
        tc.scf()
            .create_function(&function("still-fine"))
            .await
            .unwrap();
    });
}

/// What one faulted run saw, per step: (attempts, outcome) — the same for the same seed.
type Trace = Vec<(String, u32, String)>;

/// Brings up two functions, a tagged service, an API and a release through 30 % faults,
/// retrying like the deployer does: transport errors after a create are resolved by looking for
/// the resource (adoption), never by creating blindly.
async fn converge(tc: &TencentCloud, seed: u64) -> Trace {
    let mut trace = Trace::new();
    let mut note = |step: &str, r: &Result<(), Error>| {
        let (attempts, outcome) = match r {
            Ok(()) => (1, "ok".to_owned()),
            Err(e) => (
                e.attempts(),
                e.error_code().unwrap_or("transport").to_owned(),
            ),
        };
        trace.push((step.to_owned(), attempts, outcome));
    };
    let scf = tc.scf();
    for name in ["a-fn", "b-fn"] {
        loop {
            let r = scf.create_function(&function(name)).await;
            note(name, &r);
            match r {
                Ok(()) => break,
                Err(e) if e.is_already_exists() => break,
                Err(e) if e.is_retryable() || e.is_outcome_unknown() => {}
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        loop {
            match scf
                .wait_for_function(name, None, Duration::from_secs(20))
                .await
            {
                Ok(Some(i)) if i.is_active() => break,
                Ok(other) => panic!("seed {seed}: {other:?}"),
                Err(e) if e.is_retryable() => note("wait", &Err(e)),
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
    }

    let gw = tc.apigateway();
    let tags = [("chatstack:stack", "chat")];
    let sid = loop {
        match gw.find_services_by_tags(&tags).await {
            Ok(found) if !found.is_empty() => {
                assert_eq!(found.len(), 1, "seed {seed}: duplicate services {found:?}");
                break found[0].service_id.clone();
            }
            Ok(_) => {}
            Err(e) if e.is_retryable() => {
                note("find", &Err(e));
                continue;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
        let r = gw
            .create_service(&CreateServiceRequest {
                service_name: "chat".into(),
                protocol: "http".into(),
                tags: Some(vec![Tag::new("chatstack:stack", "chat")]),
                ..Default::default()
            })
            .await;
        match r {
            Ok(s) => break s.service_id,
            Err(e) if e.is_retryable() || e.is_outcome_unknown() => note("service", &Err(e)),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    };
    let spec = ApiSpec::websocket(
        &sid,
        "ws",
        "/ws",
        15,
        WebsocketFunctions {
            register: "a-fn",
            transport: "b-fn",
            cleanup: "a-fn",
            namespace: "default",
            qualifier: "$LATEST",
        },
    );
    loop {
        match gw.list_apis(&sid).await {
            Ok(apis) if !apis.is_empty() => {
                assert_eq!(apis.len(), 1, "seed {seed}: duplicate APIs {apis:?}");
                break;
            }
            Ok(_) => {}
            Err(e) if e.is_retryable() => {
                note("list", &Err(e));
                continue;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
        let r = gw.create_api(&spec).await.map(|_| ());
        note("api", &r);
        match r {
            Ok(()) => break,
            Err(e) if e.is_retryable() || e.is_outcome_unknown() => {}
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    loop {
        let r = gw.release_service(&sid, "release", "x").await.map(|_| ());
        note("release", &r);
        match r {
            Ok(()) => break,
            Err(e) if e.is_retryable() || e.is_outcome_unknown() => {}
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    trace
}

fn faulted_run(seed: u64) -> Trace {
    let (_dir, cloud) = cloud_with(|o| o.faults = FaultConfig { rate: 0.3, seed });
    let tc = client(&cloud);
    rt().block_on(async {
        let trace = converge(&tc, seed).await;
        // Exactly one of everything, whatever the faults did.
        let all_ok = RetryPolicy {
            max_attempts: 20,
            ..fast_retries()
        };
        let reader = TencentCloud::with_options(
            default_credentials(),
            REGION,
            Some(url::Url::parse(&cloud.url()).unwrap()),
            all_ok,
            unlimited(),
        )
        .unwrap();
        let fns = reader.scf().list_all_functions(None, vec![]).await.unwrap();
        assert_eq!(fns.len(), 2, "seed {seed}: {fns:?}");
        let services = reader.apigateway().list_services(vec![]).await.unwrap();
        assert_eq!(services.len(), 1, "seed {seed}: {services:?}");
        let sid = &services[0].service_id;
        assert_eq!(reader.apigateway().list_apis(sid).await.unwrap().len(), 1);
        assert_eq!(
            reader
                .apigateway()
                .released_environments(sid)
                .await
                .unwrap(),
            ["release"]
        );
        trace
    })
}

#[test]
fn provider_converges_under_faults_reproducibly_per_seed() {
    let mut traces = Vec::new();
    for seed in 0..8u64 {
        traces.push(faulted_run(seed));
    }
    let faulted: usize = traces
        .iter()
        .map(|t| t.iter().filter(|(_, n, o)| *n > 1 || o != "ok").count())
        .sum();
    assert!(faulted > 0, "30 % faults over 8 seeds never touched a step");
    let unknown = traces
        .iter()
        .flatten()
        .any(|(_, _, outcome)| outcome == "transport");
    assert!(unknown, "no lost response over 8 seeds: {traces:?}");
    // The same seed replays the same faults on the same calls.
    assert_eq!(faulted_run(3), traces[3]);
}

async fn exercise_cos(tc: &TencentCloud) {
    let cos = tc.cos();
    assert_eq!(cos.head_bucket(BUCKET, REGION).await.unwrap(), None);
    assert!(cos.put_bucket(BUCKET, REGION).await.unwrap());
    assert!(!cos.put_bucket(BUCKET, REGION).await.unwrap());
    assert_eq!(
        cos.head_bucket(BUCKET, REGION).await.unwrap().unwrap().0,
        REGION
    );
    for i in 0..5 {
        let key = format!("conn/消息 {i}+x%.txt");
        let etag = cos
            .put_object(
                BUCKET,
                REGION,
                &key,
                Bytes::from(format!("v{i}")),
                "text/plain",
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(etag, format!("\"{}\"", md5_hex(format!("v{i}").as_bytes())));
    }
    cos.put_object(
        BUCKET,
        REGION,
        "other",
        Bytes::new(),
        "application/octet-stream",
    )
    .await
    .unwrap();
    let page = cos
        .list_objects(BUCKET, REGION, "conn/", "", 2)
        .await
        .unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.next_marker.as_deref(), Some("conn/消息 1+x%.txt"));
    let all = cos.list_all(BUCKET, REGION, "conn/").await.unwrap();
    let keys: Vec<_> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(keys[0], "conn/消息 0+x%.txt");
    assert_eq!(all[3].size, 2);
    assert_eq!(
        cos.get_object(BUCKET, REGION, "conn/消息 3+x%.txt")
            .await
            .unwrap(),
        Some(Bytes::from("v3"))
    );
    assert_eq!(cos.get_object(BUCKET, REGION, "nope").await.unwrap(), None);
    let err = cos.delete_bucket(BUCKET, REGION).await.unwrap_err();
    assert_eq!(
        (err.error_code(), err.http_status()),
        (Some("BucketNotEmpty"), Some(409))
    );
    cos.delete_object(BUCKET, REGION, "nope").await.unwrap();
    assert_eq!(cos.delete_all(BUCKET, REGION, "").await.unwrap(), 6);
    assert!(cos.delete_bucket(BUCKET, REGION).await.unwrap());
    assert!(!cos.delete_bucket(BUCKET, REGION).await.unwrap());
    let err = cos.get_object(BUCKET, REGION, "x").await.unwrap_err();
    assert_eq!(err.error_code(), Some("NoSuchBucket"));
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

#[test]
fn provider_cos_with_permanent_and_temporary_credentials() {
    let cloud = Cloud::start();
    let url = cloud.url();
    let rt = rt();
    rt.block_on(exercise_cos(&client(&cloud)));
    let t = cloud.mint_temporary(3600);
    let temp = client_at(
        &url,
        Credentials::new(
            t.secret_id.clone(),
            t.secret_key.clone(),
            Some(t.token.clone()),
        ),
    );
    rt.block_on(exercise_cos(&temp));

    let kp = KeyPair::default_pair();
    let expired = cloud
        .handle
        .account()
        .mint_temporary(
            jiff::Timestamp::now().as_second() - 7200,
            Duration::from_secs(3600),
            None,
        )
        .unwrap();
    let refused = [
        (
            Credentials::new(kp.secret_id.clone(), Secret::new("nope"), None),
            "SignatureDoesNotMatch",
        ),
        (
            Credentials::new("AKIDunknown", kp.secret_key.clone(), None),
            "InvalidAccessKeyId",
        ),
        (
            Credentials::new(t.secret_id.clone(), t.secret_key.clone(), None),
            "InvalidToken",
        ),
        (
            Credentials::new(expired.secret_id, expired.secret_key, Some(expired.token)),
            "ExpiredToken",
        ),
    ];
    rt.block_on(async {
        for (creds, code) in refused {
            let err = client_at(&url, creds)
                .cos()
                .put_bucket(BUCKET, REGION)
                .await
                .unwrap_err();
            assert_eq!(err.error_code(), Some(code), "{err}");
            assert!(err.is_auth_failure(), "{err}");
        }
        // Our signer with a KeyTime that has passed, or has not begun.
        let now = jiff::Timestamp::now().as_second();
        for (start, end, code) in [
            (now - 7200, now - 3600, "AccessDenied"),
            (now + 3600, now + 7200, "RequestTimeTooSkewed"),
        ] {
            let host = format!("{BUCKET}.cos.{REGION}.myqcloud.com");
            let sig = cos_sign::sign(
                &cos_sign::SignableRequest {
                    method: "get",
                    path: "/",
                    params: &[],
                    headers: &[("host", &host)],
                },
                &kp.secret_id,
                kp.secret_key.expose(),
                cos_sign::KeyTime { start, end },
            );
            let resp = chatstack::providers::tencent::http::client()
                .unwrap()
                .get(format!("{url}/"))
                .header("host", &host)
                .header("authorization", sig.authorization)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403);
            let text = resp.text().await.unwrap();
            assert!(text.contains(&format!("<Code>{code}</Code>")), "{text}");
        }
    });
}

#[test]
fn provider_cos_pages_past_a_thousand_unicode_keys() {
    // 1235 durable PUTs cost ~4 fsyncs each; on tmpfs when there is one (durability is the
    // kill -9 tests' business, paging is this one's).
    let dir = tempfile::Builder::new()
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .unwrap();
    let cloud = Cloud::start_with(default_options(dir.path()));
    let tc = client(&cloud);
    rt().block_on(async {
        let cos = tc.cos();
        assert!(cos.put_bucket(BUCKET, REGION).await.unwrap());
        // Prefixes with CJK, spaces, `+`, `%`, `&`, `=` and an emoji; 1234 keys in all.
        let names = ["消息 ", "a+b ", "%20&=", "😀/"];
        let keys: Vec<String> = (0..1234)
            .map(|i| format!("conn/{}{i:04}", names[i % names.len()]))
            .collect();
        let started = Instant::now();
        let puts = futures_util::stream::iter(keys.iter().cloned())
            .map(|key| {
                let cos = cos.clone();
                async move {
                    cos.put_object(BUCKET, REGION, &key, Bytes::from(key.clone()), "text/plain")
                        .await
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        assert!(puts.iter().all(Result::is_ok));
        eprintln!("1234 PUTs in {:?}", started.elapsed());
        cos.put_object(BUCKET, REGION, "elsewhere", Bytes::new(), "text/plain")
            .await
            .unwrap();

        let mut sorted = keys.clone();
        sorted.sort();
        let first = cos
            .list_objects(BUCKET, REGION, "conn/", "", 1000)
            .await
            .unwrap();
        assert_eq!(first.keys.len(), 1000);
        assert!(first.is_truncated);
        assert_eq!(first.next_marker.as_deref(), Some(sorted[999].as_str()));
        let second = cos
            .list_objects(BUCKET, REGION, "conn/", &sorted[999], 1000)
            .await
            .unwrap();
        assert_eq!((second.keys.len(), second.is_truncated), (234, false));
        let all = cos.list_all(BUCKET, REGION, "conn/").await.unwrap();
        let listed: Vec<_> = all.iter().map(|o| o.key.clone()).collect();
        assert_eq!(listed, sorted);
        let odd = &sorted[777];
        assert_eq!(
            cos.get_object(BUCKET, REGION, odd).await.unwrap(),
            Some(Bytes::from(odd.clone()))
        );
        assert_eq!(cos.delete_all(BUCKET, REGION, "").await.unwrap(), 1235);
        assert!(cos.delete_bucket(BUCKET, REGION).await.unwrap());
    });
}

/// Control plane and COS survive `kill -9` of the real binary, acknowledged just before.
#[test]
fn provider_resources_survive_kill_9_of_chatstack_local() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let first = LocalProcess::start(dir.path(), &[]);
    let tc = client_at(&format!("http://{}", first.addr), default_credentials());
    let (sid, aid) = rt.block_on(async {
        for name in FUNCTIONS {
            tc.scf()
                .create_function(&CreateFunctionRequest {
                    environment: Some(Environment {
                        variables: vec![Variable::new("GREETING", "hello")],
                    }),
                    tags: Some(stack_tags()),
                    ..function(name)
                })
                .await
                .unwrap();
        }
        let gw = tc.apigateway();
        let sid = gw
            .create_service(&CreateServiceRequest {
                service_name: "keep".into(),
                protocol: "http".into(),
                tags: Some(stack_tags()),
                ..Default::default()
            })
            .await
            .unwrap()
            .service_id;
        let aid = gw
            .create_api(&ApiSpec::websocket(&sid, "ws", "/ws", 15, ws_functions()))
            .await
            .unwrap()
            .api_id;
        gw.release_service(&sid, "release", "kept").await.unwrap();
        let cos = tc.cos();
        cos.put_bucket(BUCKET, REGION).await.unwrap();
        cos.put_object(
            BUCKET,
            REGION,
            "消息/kept.txt",
            Bytes::from("kept"),
            "text/plain",
        )
        .await
        .unwrap();
        // The very last acknowledged write before the kill.
        tc.scf()
            .update_function_configuration(&UpdateFunctionConfigurationRequest {
                function_name: FUNCTIONS[0].into(),
                environment: Some(Environment {
                    variables: vec![Variable::new("PUSHBACK_URL", "http://x/api")],
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        (sid, aid)
    });
    first.kill9();

    let second = LocalProcess::start(dir.path(), &[]);
    let host = second.addr.to_string();
    let tc = client_at(&format!("http://{host}"), default_credentials());
    rt.block_on(async {
        let scf = tc.scf();
        let fns = scf.list_functions_by_tags(None, &STACK_TAGS).await.unwrap();
        assert_eq!(fns.len(), 3, "{fns:?}");
        let f = scf.get_function(FUNCTIONS[0], None).await.unwrap();
        assert!(f.is_active(), "{f:?}");
        assert_eq!(f.code_size, zip().len() as u64);
        let env: Vec<_> = f
            .environment
            .variables
            .iter()
            .map(|v| v.key.as_str())
            .collect();
        assert_eq!(env, ["PUSHBACK_URL"]);
        let gw = tc.apigateway();
        let found = gw.find_services_by_tags(&STACK_TAGS).await.unwrap();
        assert_eq!(
            found.iter().map(|s| &s.service_id).collect::<Vec<_>>(),
            [&sid]
        );
        let detail = gw.describe_service(&sid).await.unwrap();
        assert_eq!(detail.outer_sub_domain, format!("{host}/{sid}"));
        let api = gw.describe_api(&sid, &aid).await.unwrap();
        assert_eq!(api.internal_domain, format!("http://{host}/{aid}"));
        assert_eq!(api.service_websocket_transport_function_name, FUNCTIONS[1]);
        assert_eq!(gw.released_environments(&sid).await.unwrap(), ["release"]);
        assert_eq!(
            tc.cos()
                .get_object(BUCKET, REGION, "消息/kept.txt")
                .await
                .unwrap(),
            Some(Bytes::from("kept"))
        );
    });
    second.kill9();
}
