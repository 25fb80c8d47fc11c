//! The local cloud's API 3.0 control plane (SCF, API Gateway, CAM), driven by the official
//! Python SDKs (`tests/python/api3_*.py`), which are the referee.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatstack::localcloud::account::{Account, DEFAULT_APPID, KeyPair};
use chatstack::localcloud::faults::FaultConfig;
use chatstack::localcloud::latency::Profile;
use chatstack::localcloud::model::{api as apigateway, function as scf};
use chatstack::localcloud::store::Store;
use chatstack::localcloud::{ApigwMode, Options};

use crate::support::{Cloud, default_options, run_python};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Mints temporary credentials into `dir` before the local cloud opens it: one valid pair, one
/// expired an hour ago.
fn mint_temporary(dir: &Path) -> Vec<String> {
    let store = Store::open(dir).unwrap();
    let account = Account::new(DEFAULT_APPID, KeyPair::default_pair(), store);
    let valid = account
        .mint_temporary(now(), Duration::from_secs(3600), None)
        .unwrap();
    let expired = account
        .mint_temporary(now() - 7200, Duration::from_secs(3600), None)
        .unwrap();
    [valid, expired]
        .into_iter()
        .flat_map(|t| {
            [
                t.secret_id,
                t.secret_key.expose().to_owned(),
                t.token.expose().to_owned(),
            ]
        })
        .collect()
}

#[test]
fn api3_signatures_credentials_and_envelope_follow_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let creds = mint_temporary(dir.path());
    let cloud = Cloud::start_with(default_options(dir.path()));
    let args: Vec<&str> = creds.iter().map(String::as_str).collect();
    let out = run_python(&cloud, "api3_auth.py", &args);
    assert!(stdout(&out).contains("auth ok"));
}

#[test]
fn api3_scf_actions_succeed_and_fail_with_the_clouds_codes() {
    let cloud = Cloud::start();
    let out = run_python(&cloud, "api3_scf.py", &[]);
    assert!(stdout(&out).contains("scf ok"));
}

#[test]
fn api3_code_comes_from_cos_and_tags_change_through_the_tag_service() {
    let cloud = Cloud::start();
    let out = run_python(&cloud, "api3_tag_cos_code.py", &[]);
    assert!(stdout(&out).contains("tag and cos code ok"));
}

#[test]
fn api3_cam_roles_and_policies_have_the_sdks_shapes_and_codes_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cloud = Cloud::start_with(default_options(dir.path()));
        let out = run_python(&cloud, "api3_cam.py", &[]);
        assert!(stdout(&out).contains("cam ok"));
    }
    let cloud = Cloud::start_with(default_options(dir.path()));
    let out = run_python(&cloud, "api3_cam.py", &["after"]);
    assert!(stdout(&out).contains("cam restart ok"));
}

#[test]
fn api3_the_nodejs_sdk_reaches_the_local_cloud_by_ip_and_by_name() {
    let cloud = Cloud::start();
    let out = crate::support::run_node(&cloud, "api3_scf.js");
    assert!(stdout(&out).contains("node scf ok"));
}

#[test]
fn api3_invoke_function_answers_as_the_cloud_does() {
    let cloud = Cloud::start();
    let out = run_python(&cloud, "api3_invoke_function.py", &[]);
    assert!(stdout(&out).contains("invoke function ok"));
}

#[test]
fn api3_web_functions_and_function_urls_through_the_python_sdk() {
    let cloud = Cloud::start();
    let port = cloud.addr.port().to_string();
    let out = run_python(&cloud, "api3_webfn_control.py", &[&port]);
    assert!(stdout(&out).contains("webfn control ok"));
}

#[test]
fn webfn_function_urls_serve_http_and_websockets_on_scf_bootstrap_instances() {
    let cloud = Cloud::start();
    let port = cloud.addr.port().to_string();
    let out = run_python(&cloud, "webfn_data.py", &[&port]);
    assert!(stdout(&out).contains("webfn data ok"));
}

#[test]
fn webfn_the_cloud_caps_close_a_connection_over_ten_messages_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    opts.webfn = chatstack::localcloud::webfn::WebOptions::default()
        .with_limits(chatstack::localcloud::webfn::options::Limits::Cloud);
    let cloud = Cloud::start_with(opts);
    let out = run_python(&cloud, "webfn_caps.py", &[]);
    assert!(stdout(&out).contains("webfn caps ok"));
}

#[test]
fn webfn_function_urls_through_the_nodejs_sdk_and_ws() {
    let cloud = Cloud::start();
    let out = crate::support::run_node(&cloud, "webfn.js");
    assert!(stdout(&out).contains("node webfn ok"));
}

#[test]
fn api3_function_states_take_the_latency_profiles_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    opts.latency = Profile {
        creating_ms: 1200,
        updating_ms: 1200,
        deleting_ms: 800,
        ..Profile::none()
    };
    let cloud = Cloud::start_with(opts);
    let out = run_python(&cloud, "api3_states.py", &[]);
    assert!(stdout(&out).contains("states ok"));
}

#[test]
fn api3_round_trip_latency_is_applied_per_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    opts.latency = Profile {
        actions: [("GetUserAppId".to_owned(), 700)].into_iter().collect(),
        ..Profile::none()
    };
    let cloud = Cloud::start_with(opts);
    let out = run_python(&cloud, "api3_latency.py", &["700"]);
    assert!(stdout(&out).contains("latency ok"));
}

#[test]
fn api3_apigateway_services_apis_and_releases() {
    let cloud = Cloud::start();
    let port = cloud.port().to_string();
    let out = run_python(&cloud, "api3_apigw.py", &[&port]);
    assert!(stdout(&out).contains("apigw ok"));
}

#[test]
fn api3_retired_apigateway_refuses_creation_but_keeps_existing_services() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let cloud = Cloud::start_with(default_options(dir.path()));
        let out = run_python(&cloud, "api3_retired.py", &["setup"]);
        stdout(&out).trim().lines().last().unwrap().to_owned()
    };
    let mut opts = default_options(dir.path());
    opts.apigw = ApigwMode::Retired;
    let cloud = Cloud::start_with(opts);
    let out = run_python(&cloud, "api3_retired.py", &["retired", &ids]);
    assert!(stdout(&out).contains("retired ok"));
}

#[test]
fn api3_everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ids = {
        let cloud = Cloud::start_with(default_options(dir.path()));
        let out = run_python(&cloud, "api3_restart.py", &["before"]);
        stdout(&out).trim().lines().last().unwrap().to_owned()
    };
    // Same data dir, new process state, new port.
    {
        let cloud = Cloud::start_with(default_options(dir.path()));
        let port = cloud.port().to_string();
        let out = run_python(&cloud, "api3_restart.py", &["after", &ids, &port]);
        assert!(stdout(&out).contains("restart ok"));
    }
    // What the gateway and the function runtime will read, straight from the store.
    let (sid, aid) = ids.split_once(',').unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (service, api) = apigateway::released_api(&store, sid, "release", "/ws")
        .unwrap()
        .expect("released API");
    assert_eq!((service.name.as_str(), api.api_id.as_str()), ("keep", aid));
    assert_eq!(api.transport.unwrap().name, "k-transport");
    assert!(
        apigateway::released_api(&store, sid, "test", "/ws")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        apigateway::find_api(&store, aid)
            .unwrap()
            .unwrap()
            .service_id,
        sid
    );
    let f = scf::lookup(&store, "ap-guangzhou", "default", "k-register", i64::MAX)
        .unwrap()
        .expect("function");
    let zip = std::fs::read(store.blob_path(&f.code_blob)).unwrap();
    assert_eq!(zip.len() as u64, f.code_size);
    assert!(zip::ZipArchive::new(std::io::Cursor::new(zip)).is_ok());
}

#[test]
fn api3_a_restart_mid_transition_keeps_the_state_and_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = default_options(dir.path());
        o.latency = Profile {
            creating_ms: 2500,
            ..Profile::none()
        };
        o
    };
    {
        let cloud = Cloud::start_with(opts());
        run_python(&cloud, "api3_midway.py", &["create"]);
    }
    let cloud = Cloud::start_with(opts());
    run_python(&cloud, "api3_midway.py", &["check"]);
}

fn faulted_run(seed: u64) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut opts: Options = default_options(dir.path());
    opts.faults = FaultConfig { rate: 0.4, seed };
    let cloud = Cloud::start_with(opts);
    stdout(&run_python(&cloud, "api3_faults.py", &[]))
}

#[test]
fn api3_fault_injection_is_reproducible_per_seed() {
    let a = faulted_run(11);
    let b = faulted_run(11);
    assert_eq!(a, b, "same seed, different outcomes");
    let c = faulted_run(12);
    assert_ne!(a, c, "different seeds, same outcomes");
    for kind in ["RequestLimitExceeded", "InternalError", "dropped"] {
        assert!(a.contains(kind), "seed 11 never produced {kind}:\n{a}");
    }
    assert!(a.contains("acted-despite-drop"), "{a}");
}

#[test]
fn api3_tccli_manages_and_invokes_functions_with_an_http_endpoint() {
    // `tccli scf … --endpoint http://127.0.0.1:PORT`: it sends and signs that whole string as
    // `Host`. Without the scheme it speaks TLS, and fails (the script checks how).
    let cloud = Cloud::start();
    let out = run_python(&cloud, "tccli_scf.py", &[]);
    assert!(stdout(&out).contains("tccli ok"));
}
