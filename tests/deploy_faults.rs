//! Deploys that get interrupted or meet a flaky cloud still converge (issue 4): the real binary
//! killed with SIGKILL at several points and rerun, a deploy under `--faults 0.2` over several
//! seeds, and Ctrl-C (exit 130, then resume). The result is checked through our provider
//! against the in-process local cloud: exactly one tagged service, one WebSocket API, three
//! `Active` functions carrying the live push-back URL, released.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatstack::engine::tags;
use chatstack::localcloud::faults::FaultConfig;
use chatstack::localcloud::latency::Profile;
use chatstack::providers::tencent::TencentCloud;

use crate::support::{self, CHAT_APPID, Cloud, chat_project};

const FUNCTIONS: [&str; 3] = ["ChatReg", "ChatTrans", "ChatClean"];

/// A local cloud with small but non-zero latencies, so a deploy lasts long enough to be
/// interrupted between (and inside) its steps.
fn cloud(faults: Option<FaultConfig>) -> Cloud {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut opts = support::default_options(&dir);
    opts.appid = CHAT_APPID;
    opts.latency = Profile {
        default_ms: 20,
        actions: [
            ("CreateService", 60),
            ("CreateApi", 60),
            ("ReleaseService", 80),
        ]
        .into_iter()
        .map(|(a, ms)| (a.to_owned(), ms))
        .collect(),
        creating_ms: 300,
        updating_ms: 150,
        deleting_ms: 100,
    };
    if let Some(f) = faults {
        opts.faults = f;
    }
    Cloud::start_with(opts)
}

/// The binary under test; `CHATSTACK_TEST_BIN` points elsewhere (a copy taken right after the
/// build, when other checkouts share the target directory).
fn binary() -> PathBuf {
    std::env::var_os("CHATSTACK_TEST_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_chatstack")),
        PathBuf::from,
    )
}

fn command(cloud: &Cloud, stack: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    for var in [
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_SESSION_TOKEN",
        "TENCENTCLOUD_REGION",
        "CHATSTACK_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url()])
        .args(args)
        .env("RUST_LOG", "chatstack=debug")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to the end: (exit code, stderr).
fn run(cloud: &Cloud, stack: &Path, args: &[&str]) -> (i32, String) {
    let out = command(cloud, stack, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Where to interrupt a deploy.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// Right after the `n`-th (1-based) completed call of this action.
    After(&'static str, usize),
    /// This long after the process started.
    At(Duration),
}

/// Starts `deploy --yes`, sends `signal` at `point`, and returns (exit status, stderr).
/// `None` for the status when the deploy finished before the point was reached.
fn interrupted_deploy(
    cloud: &Cloud,
    stack: &Path,
    point: Point,
    signal: &str,
) -> (Option<i32>, String) {
    let mut child: Child = command(cloud, stack, &["deploy", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    let mut seen = 0;
    let mut signalled = false;
    let deadline = started + Duration::from_secs(60);
    loop {
        if let Point::At(at) = point
            && started.elapsed() >= at
        {
            signalled = send(&child, signal);
            break;
        }
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(line) => {
                let hit = match point {
                    Point::After(action, n) => {
                        line.contains("api call")
                            && line.contains(&format!("action=\"{action}\""))
                            && {
                                seen += 1;
                                seen == n
                            }
                    }
                    Point::At(_) => false,
                };
                log.push_str(&line);
                log.push('\n');
                if hit {
                    signalled = send(&child, signal);
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        assert!(Instant::now() < deadline, "deploy hung:\n{log}");
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(line) = rx.try_recv() {
        log.push_str(&line);
        log.push('\n');
    }
    if !signalled {
        assert_eq!(status.code(), Some(0), "deploy failed:\n{log}");
        return (None, log);
    }
    (Some(status.code().unwrap_or(-1)), log)
}

/// `kill -SIGNAL pid`; false when the process had already exited.
fn send(child: &Child, signal: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn provider(cloud: &Cloud) -> TencentCloud {
    cloud.client()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The converged stack, as the cloud sees it; panics (with `context`) otherwise.
fn assert_converged(cloud: &Cloud, context: &str) {
    let tc = provider(cloud);
    block_on(async {
        let apigw = tc.apigateway();
        let services = apigw.list_services(Vec::new()).await.unwrap();
        assert_eq!(
            services.len(),
            1,
            "services: {:?}\n{context}",
            services.iter().map(|s| &s.service_id).collect::<Vec<_>>()
        );
        let s = &services[0];
        assert_eq!(s.tag(tags::STACK), Some("ChatDemo"), "{context}");
        assert_eq!(s.tag(tags::STAGE), Some("dev"), "{context}");
        let detail = apigw.describe_service(&s.service_id).await.unwrap();
        let ws: Vec<_> = detail
            .api_id_status_set
            .iter()
            .filter(|a| a.protocol.eq_ignore_ascii_case("WEBSOCKET"))
            .collect();
        assert_eq!(ws.len(), 1, "{:?}\n{context}", detail.api_id_status_set);
        assert_eq!(detail.api_id_status_set.len(), 1, "{context}");
        let api = apigw
            .describe_api(&s.service_id, &ws[0].api_id)
            .await
            .unwrap();
        let pushback = api.internal_domain;
        assert!(!pushback.is_empty(), "{context}");
        let released = apigw.released_environments(&s.service_id).await.unwrap();
        assert!(
            released.iter().any(|e| e == "release"),
            "{released:?}\n{context}"
        );

        let scf = tc.scf();
        let all = scf.list_all_functions(None, Vec::new()).await.unwrap();
        assert_eq!(all.len(), 3, "{context}");
        for name in FUNCTIONS {
            let f = scf.get_function(name, None).await.unwrap();
            assert!(f.is_active(), "{name} is {}\n{context}", f.status);
            let var = |k: &str| {
                f.environment
                    .variables
                    .iter()
                    .find(|v| v.key == k)
                    .map(|v| v.value.clone())
            };
            assert_eq!(var("url").as_deref(), Some(pushback.as_str()), "{context}");
            assert_eq!(
                var("PUSHBACK_URL").as_deref(),
                Some(pushback.as_str()),
                "{name}\n{context}"
            );
        }
    });
}

/// Nothing of the stack is left.
fn assert_removed(cloud: &Cloud, context: &str) {
    let tc = provider(cloud);
    block_on(async {
        let services = tc.apigateway().list_services(Vec::new()).await.unwrap();
        assert!(services.is_empty(), "{context}");
        let all = tc.scf().list_all_functions(None, Vec::new()).await.unwrap();
        assert!(all.is_empty(), "{context}");
        let bucket = tc
            .cos()
            .head_bucket("chat-cos-1256773370", "ap-guangzhou")
            .await
            .unwrap();
        assert!(bucket.is_none(), "{context}");
    });
}

#[test]
fn a_deploy_killed_at_any_point_converges_on_rerun_with_one_of_each() {
    // CHATSTACK_KILL_EVERY_MS=N adds a kill every N ms of the first 1.5 s.
    let every: u64 = std::env::var("CHATSTACK_KILL_EVERY_MS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let sweep = (1..)
        .map(|k| k * every)
        .take_while(|ms| every > 0 && *ms <= 1500)
        .map(|ms| Point::At(Duration::from_millis(ms)));
    let points = [
        Point::After("CreateFunction", 1),
        Point::After("CreateService", 1),
        Point::After("GetFunction", 4),
        Point::After("CreateApi", 1),
        Point::After("DescribeApi", 1),
        Point::After("UpdateFunctionConfiguration", 1),
        Point::After("UpdateFunctionConfiguration", 3),
        Point::At(Duration::from_millis(150)),
        Point::At(Duration::from_millis(450)),
        Point::At(Duration::from_millis(900)),
    ];
    for point in points.into_iter().chain(sweep) {
        let cloud = cloud(None);
        let (_dir, stack) = chat_project(None);
        let (status, log) = interrupted_deploy(&cloud, &stack, point, "KILL");
        // SIGKILL leaves no exit code. Every action point is reached before the deploy ends;
        // a deploy may beat a time point on a fast machine.
        match (point, status) {
            (_, Some(code)) => assert_eq!(code, -1, "{point:?}: not killed:\n{log}"),
            (Point::At(_), None) => {}
            (Point::After(..), None) => panic!("{point:?} never reached:\n{log}"),
        }
        let (code, rerun) = run(&cloud, &stack, &["deploy", "--yes"]);
        let context = format!("killed {point:?}:\n{log}\n--- rerun\n{rerun}");
        assert_eq!(code, 0, "{context}");
        assert_converged(&cloud, &context);
        // A third run has nothing left to do.
        let (code, third) = run(&cloud, &stack, &["plan", "--detailed-exitcode"]);
        assert_eq!(code, 0, "{context}\n--- plan\n{third}");
    }
}

#[test]
fn a_deploy_under_faults_converges_in_one_run_and_remove_leaves_nothing() {
    // CHATSTACK_FAULT_SEEDS=N sweeps more seeds.
    let seeds: u64 = std::env::var("CHATSTACK_FAULT_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    // CHATSTACK_FAULT_RATE=R for a harsher cloud.
    let rate: f64 = std::env::var("CHATSTACK_FAULT_RATE")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.2);
    let mut failed_calls = 0;
    for seed in 1..=seeds {
        let cloud = cloud(Some(FaultConfig { rate, seed }));
        let (_dir, stack) = chat_project(None);
        let (code, log) = run(&cloud, &stack, &["deploy", "--yes"]);
        let context = format!("seed {seed}:\n{log}");
        assert_eq!(code, 0, "{context}");
        failed_calls += log.matches("ok=false").count();
        assert_converged(&cloud, &context);
        let (code, removed) = run(&cloud, &stack, &["remove", "--yes"]);
        let context = format!("{context}\n--- remove\n{removed}");
        assert_eq!(code, 0, "{context}");
        assert_removed(&cloud, &context);
    }
    assert!(failed_calls > 0, "no fault was injected");
}

#[test]
fn ctrl_c_exits_130_after_recording_state_and_a_rerun_resumes() {
    for point in [
        Point::After("CreateFunction", 1),
        Point::After("CreateApi", 1),
    ] {
        let cloud = cloud(None);
        let (dir, stack) = chat_project(None);
        let (status, log) = interrupted_deploy(&cloud, &stack, point, "INT");
        assert_eq!(status, Some(130), "{point:?}:\n{log}");
        assert!(
            dir.path().join(".chatstack").read_dir().unwrap().count() > 0,
            "nothing recorded:\n{log}"
        );
        let (code, rerun) = run(&cloud, &stack, &["deploy", "--yes"]);
        let context = format!("interrupted {point:?}:\n{log}\n--- rerun\n{rerun}");
        assert_eq!(code, 0, "{context}");
        assert_converged(&cloud, &context);
    }
}

#[test]
fn ids_recorded_in_the_journal_are_hints_checked_against_the_cloud() {
    let cloud = cloud(None);
    let (_dir, stack) = chat_project(None);
    let (code, log) = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(code, 0, "{log}");
    // Someone deletes the gateway service behind our back: the journal still names it.
    let tc = provider(&cloud);
    block_on(async {
        let apigw = tc.apigateway();
        let s = apigw.list_services(Vec::new()).await.unwrap().remove(0);
        for api in apigw.list_apis(&s.service_id).await.unwrap() {
            apigw.delete_api(&s.service_id, &api.api_id).await.unwrap();
        }
        apigw
            .unrelease_service(&s.service_id, "release")
            .await
            .unwrap();
        apigw.delete_service(&s.service_id).await.unwrap();
    });
    let (code, rerun) = run(&cloud, &stack, &["deploy", "--yes"]);
    let context = format!("{log}\n--- rerun\n{rerun}");
    assert_eq!(code, 0, "{context}");
    assert_converged(&cloud, &context);
}
