//! Deploy benchmark against the local cloud with the `realistic` latency profile (issue 4).
//!
//! `cargo bench --bench deploy` (optionally `-- RUNS`, default 5). For each run, on a fresh
//! in-process local cloud each time:
//! - (a) a cold deploy of the chat stack with the real `chatstack` binary, compared with the
//!   critical path the profile implies (see [`critical_path`] and BENCHMARKS.md);
//! - (b) the same stack deployed the way Tencent's own tooling does it: one step after another,
//!   polling every 500 ms, written here with our provider client;
//! - (c) a no-op redeploy: wall time and API/COS calls made;
//! - (d) a code change in one function, compared with the floor the profile implies (one
//!   UpdateFunctionCode and its `Updating`) and, when `CHATSTACK_BENCH_BEFORE` names another
//!   `chatstack` binary (an earlier build), with that binary making the same kind of change on
//!   the same cloud right after, in the same run.
//!
//! The stack is the article's (`../shared/seed`, or `CHATSTACK_SEED_DIR`) where its files are at
//! hand, else ours in the same shape (`tests/fixtures/chat-demo/`); stderr says which.
//!
//! Prints a markdown table of medians on stdout and writes nothing else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chatstack::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, KeyPair};
use chatstack::localcloud::latency::Profile;
use chatstack::localcloud::{self, ApigwMode, LocalCloud, Options};
use chatstack::providers::tencent::apigateway::{
    ApiSpec, CreateServiceRequest, WebsocketFunctions,
};
use chatstack::providers::tencent::scf::{
    Code, CreateFunctionRequest, Environment, UpdateFunctionConfigurationRequest, Variable,
};
use chatstack::providers::tencent::{Credentials, TencentCloud};
use chatstack::secret::Secret;

const APPID: u64 = 1_256_773_370;
const BUCKET: &str = "chat-cos-1256773370";
const REGION: &str = "ap-guangzhou";
const FUNCTIONS: [(&str, &str); 3] = [
    ("ChatReg", "reg.main_handler"),
    ("ChatTrans", "trans.main_handler"),
    ("ChatClean", "clean.main_handler"),
];
const STALE_URL: &str = "http://set-gwm9thyc.cb-guangzhou.apigateway.tencentyun.com/api-etj7lhtw";

/// A local cloud on its own thread; stopped on drop.
struct Cloud {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Cloud {
    fn start(latency: Profile) -> Cloud {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            data_dir: dir.path().to_owned(),
            appid: APPID,
            credentials: KeyPair::default_pair(),
            latency,
            faults: Default::default(),
            apigw: ApigwMode::Available,
            allow_hosts: Vec::new(),
            serve: Default::default(),
            webfn: Default::default(),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("addr");
                let cloud = LocalCloud::open(opts, addr).expect("open local cloud");
                addr_tx.send(addr).expect("send addr");
                localcloud::run(listener, cloud, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("local cloud started");
        Cloud {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The article's files (`serverless.yml` and `code/`), as the tests look for them:
/// `CHATSTACK_SEED_DIR`, else `CHATSTACK_SHARED/seed`, else `../shared/seed` beside the crate.
fn article_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CHATSTACK_SEED_DIR") {
        return Some(PathBuf::from(dir));
    }
    let shared = std::env::var_os("CHATSTACK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("seed");
    (dir.join("serverless.yml").is_file() && dir.join("code").is_dir()).then_some(dir)
}

/// The project to deploy, keys filled in and ChatTrans's code in a directory of its own (so a
/// code change can touch one function): the article's (as BENCHMARKS.md measured it) where
/// its files are at hand, else ours in the same shape (`tests/fixtures/chat-demo/`, the
/// project's chat functions).
fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (text, code, code_uri, files) = match article_dir() {
        Some(seed) => (
            std::fs::read_to_string(seed.join("serverless.yml")).expect("seed stack file"),
            seed.join("code"),
            "./code",
            [&["reg.py", "clean.py"][..], &["trans.py"][..]],
        ),
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            (
                std::fs::read_to_string(root.join("tests/fixtures/chat-demo/serverless.yml"))
                    .expect("chat-demo stack file"),
                root.join("functions/chat/code"),
                "../../../functions/chat/code",
                [
                    &["reg.py", "clean.py", "registry.py", "pushback.py"][..],
                    &["trans.py", "registry.py", "pushback.py"][..],
                ],
            )
        }
    };
    for (sub, files) in ["code", "trans-code"].into_iter().zip(files) {
        std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        for f in files {
            std::fs::copy(code.join(f), dir.path().join(sub).join(f)).expect("copy");
        }
    }
    let text = text
        .replace(
            "secret_id: \n",
            &format!("secret_id: {DEFAULT_SECRET_ID}\n"),
        )
        .replace(
            "secret_key: \n",
            &format!("secret_key: {DEFAULT_SECRET_KEY}\n"),
        )
        .replacen(
            &format!("codeUri: {code_uri}\n    handler: trans"),
            "codeUri: ./trans-code\n    handler: trans",
            1,
        )
        .replace(&format!("codeUri: {code_uri}\n"), "codeUri: ./code\n");
    assert!(text.contains("./trans-code"), "the stack changed shape");
    let path = dir.path().join("serverless.yml");
    std::fs::write(&path, text).expect("write stack file");
    (dir, path)
}

/// One `chatstack` run: wall time and the API 3.0 / COS requests it sent.
struct Run {
    wall: Duration,
    calls: usize,
}

fn chatstack(cloud: &Cloud, stack: &Path, args: &[&str]) -> Run {
    chatstack_bin(
        Path::new(env!("CARGO_BIN_EXE_chatstack")),
        cloud,
        stack,
        args,
    )
}

fn chatstack_bin(bin: &Path, cloud: &Cloud, stack: &Path, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = Command::new(bin)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env_remove("CHATSTACK_ENDPOINT")
        .env("RUST_LOG", "chatstack=debug")
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url(), "--json"])
        .args(args)
        .output()
        .expect("chatstack runs");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chatstack {args:?} failed:\n{stderr}");
    let calls = stderr
        .lines()
        .filter(|l| l.contains(" api call ") || l.contains(" cos call "))
        .count();
    Run { wall, calls }
}

/// The longest chain of round trips and waits a cold deploy of the chat stack needs under
/// `p` (the local cloud sleeps the round trip, then acts, so a state change that starts with
/// a call lasts its round trip plus the state's duration, and the poll that sees it can be in
/// flight meanwhile):
///
/// ```text
/// observe  = max(DescribeServicesStatus, GetFunction)            (nothing exists yet)
/// phase 1  = max(CreateFunction + creating, CreateService)       (bucket: COS, no latency)
/// gateway  = CreateApi + DescribeApi                             (the push-back URL)
/// wiring   = UpdateFunctionConfiguration + updating              (×3 in parallel)
/// release  = ReleaseService
/// ```
fn critical_path(p: &Profile) -> Duration {
    let rt = |a: &str| p.round_trip(a);
    let observe = rt("DescribeServicesStatus").max(rt("GetFunction"));
    let phase1 = (rt("CreateFunction") + p.creating()).max(rt("CreateService"));
    let gateway = rt("CreateApi") + rt("DescribeApi");
    let wiring = rt("UpdateFunctionConfiguration") + p.updating();
    observe + phase1 + gateway + wiring + rt("ReleaseService")
}

/// The least a one-function code change can take under `p`: UpdateFunctionCode, then its
/// `Updating` (observation and read-back come on top).
fn one_code_update(p: &Profile) -> Duration {
    p.round_trip("UpdateFunctionCode") + p.updating()
}

fn provider(cloud: &Cloud) -> TencentCloud {
    TencentCloud::new(
        Credentials::new(DEFAULT_SECRET_ID, Secret::new(DEFAULT_SECRET_KEY), None),
        REGION,
        Some(cloud.url().parse().expect("url")),
    )
    .expect("provider")
}

fn env(url: &str) -> Environment {
    let vars = [
        ("region", REGION),
        ("bucket", BUCKET),
        ("secret_id", DEFAULT_SECRET_ID),
        ("secret_key", DEFAULT_SECRET_KEY),
        ("url", url),
    ];
    Environment {
        variables: vars.iter().map(|(k, v)| Variable::new(*k, *v)).collect(),
    }
}

/// Polls GetFunction every 500 ms until the function leaves its transitional state.
async fn wait_500ms(tc: &TencentCloud, name: &str) {
    loop {
        let f = tc
            .scf()
            .get_function(name, None)
            .await
            .expect("GetFunction");
        if !f.is_transitional() {
            assert!(f.is_active(), "{name}: {}", f.status);
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The chat stack deployed the way Tencent's own tooling does it: bucket → each function
/// create + wait → service → API → DescribeApi → each function configuration + wait → release.
async fn sequential_baseline(tc: &TencentCloud, project: &Path) -> Duration {
    let zip = |dir: &str, file: &str| {
        let mut buf = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut buf);
        w.start_file(file, zip::write::SimpleFileOptions::default())
            .expect("zip");
        std::io::Write::write_all(
            &mut w,
            &std::fs::read(project.join(dir).join(file)).expect("code"),
        )
        .expect("zip");
        w.finish().expect("zip");
        buf.into_inner()
    };
    let started = Instant::now();
    tc.cos()
        .put_bucket(BUCKET, REGION)
        .await
        .expect("PutBucket");
    for (name, handler) in FUNCTIONS {
        let module = handler.split('.').next().expect("module");
        let dir = if name == "ChatTrans" {
            "trans-code"
        } else {
            "code"
        };
        let req = CreateFunctionRequest {
            function_name: name.to_owned(),
            code: Code::zip(&zip(dir, &format!("{module}.py"))),
            handler: Some(handler.to_owned()),
            runtime: Some("Python3.6".to_owned()),
            environment: Some(env(STALE_URL)),
            ..CreateFunctionRequest::default()
        };
        tc.scf()
            .create_function(&req)
            .await
            .expect("CreateFunction");
        wait_500ms(tc, name).await;
    }
    let apigw = tc.apigateway();
    let service = apigw
        .create_service(&CreateServiceRequest {
            service_name: "ChatDemo".to_owned(),
            protocol: "http&https".to_owned(),
            ..CreateServiceRequest::default()
        })
        .await
        .expect("CreateService");
    let spec = ApiSpec::websocket(
        &service.service_id,
        "ChatDemo_ws",
        "/",
        800,
        WebsocketFunctions {
            register: "ChatReg",
            transport: "ChatTrans",
            cleanup: "ChatClean",
            namespace: "default",
            qualifier: "$LATEST",
        },
    );
    let api = apigw.create_api(&spec).await.expect("CreateApi");
    let info = apigw
        .describe_api(&service.service_id, &api.api_id)
        .await
        .expect("DescribeApi");
    assert!(!info.internal_domain.is_empty());
    for (name, _) in FUNCTIONS {
        let req = UpdateFunctionConfigurationRequest {
            function_name: name.to_owned(),
            environment: Some(env(&info.internal_domain)),
            ..UpdateFunctionConfigurationRequest::default()
        };
        tc.scf()
            .update_function_configuration(&req)
            .await
            .expect("UpdateFunctionConfiguration");
        wait_500ms(tc, name).await;
    }
    apigw
        .release_service(&service.service_id, "release", "baseline")
        .await
        .expect("ReleaseService");
    started.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the run count.
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let profile = Profile::realistic();
    let critical = critical_path(&profile).as_secs_f64();
    let floor = one_code_update(&profile).as_secs_f64();
    let before_bin = std::env::var_os("CHATSTACK_BENCH_BEFORE").map(PathBuf::from);
    if let Some(bin) = &before_bin {
        eprintln!("(d) before: {}", bin.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    match article_dir() {
        Some(seed) => eprintln!("stack: the article's ({})", seed.display()),
        None => eprintln!(
            "stack: ours, tests/fixtures/chat-demo/ (no ../shared/seed or CHATSTACK_SEED_DIR; \
             not the stack BENCHMARKS.md measured)"
        ),
    }
    let (mut cold, mut baseline, mut noop, mut noop_calls, mut change, mut change_calls) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut before, mut before_calls) = (vec![], vec![]);
    for i in 0..runs {
        let cloud = Cloud::start(profile.clone());
        let (dir, stack) = project();
        let c = chatstack(&cloud, &stack, &["deploy", "--yes"]);
        let n = chatstack(&cloud, &stack, &["deploy", "--yes"]);
        let trans = dir.path().join("trans-code/trans.py");
        let code = std::fs::read_to_string(&trans).expect("trans.py");
        std::fs::write(&trans, format!("{code}\n# run {i}\n")).expect("edit trans.py");
        let d = chatstack(&cloud, &stack, &["deploy", "--yes"]);
        // The earlier build makes the same change next, on the same cloud (after, not
        // before: a binary that keeps the hash in a variable would leave the new one a
        // one-time migration to do).
        if let Some(bin) = &before_bin {
            std::fs::write(&trans, format!("{code}\n# run {i}, before\n")).expect("edit trans.py");
            let b = chatstack_bin(bin, &cloud, &stack, &["deploy", "--yes"]);
            eprintln!(
                "run {}: code change with the earlier build {:.2}s ({} calls)",
                i + 1,
                b.wall.as_secs_f64(),
                b.calls
            );
            before.push(b.wall.as_secs_f64());
            before_calls.push(b.calls as f64);
        }
        drop(cloud);

        let cloud = Cloud::start(profile.clone());
        let b = rt.block_on(sequential_baseline(&provider(&cloud), dir.path()));
        drop(cloud);

        eprintln!(
            "run {}: cold {:.2}s, baseline {:.2}s, no-op {:.2}s ({} calls), code change {:.2}s ({} calls)",
            i + 1,
            c.wall.as_secs_f64(),
            b.as_secs_f64(),
            n.wall.as_secs_f64(),
            n.calls,
            d.wall.as_secs_f64(),
            d.calls
        );
        cold.push(c.wall.as_secs_f64());
        baseline.push(b.as_secs_f64());
        noop.push(n.wall.as_secs_f64());
        noop_calls.push(n.calls as f64);
        change.push(d.wall.as_secs_f64());
        change_calls.push(d.calls as f64);
    }
    let (cold, baseline) = (median(cold), median(baseline));
    println!("| measure (median of {runs} runs) | value |");
    println!("|---|---|");
    println!("| critical path implied by the profile | {critical:.2} s |");
    println!("| (a) cold deploy, chatstack | {cold:.2} s |");
    println!(
        "| (a) cold deploy / critical path | {:.3} |",
        cold / critical
    );
    println!("| (b) cold deploy, sequential baseline (500 ms polling) | {baseline:.2} s |");
    println!("| (b) baseline / chatstack | {:.2}× |", baseline / cold);
    println!("| (c) no-op redeploy | {:.2} s |", median(noop));
    println!(
        "| (c) no-op redeploy, calls (API 3.0 + COS) | {} |",
        median(noop_calls)
    );
    let change = median(change);
    println!("| (d) one-function code change | {change:.2} s |");
    println!(
        "| (d) one-function code change, calls | {} |",
        median(change_calls)
    );
    println!("| (d) floor: one UpdateFunctionCode + `Updating` of the profile | {floor:.2} s |");
    println!("| (d) code change / floor | {:.2} |", change / floor);
    if !before.is_empty() {
        let before = median(before);
        println!("| (d) the earlier build, same change, same run | {before:.2} s |");
        println!(
            "| (d) the earlier build, calls | {} |",
            median(before_calls)
        );
        println!(
            "| (d) earlier build / this build | {:.2}× |",
            before / change
        );
    }
}
