//! Test harness: an in-process local cloud on port 0, the real binary, and the official Python
//! SDKs as referees.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chatstack::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY};
use chatstack::localcloud::gateway::GatewayConfig;
use chatstack::localcloud::{self, LocalCloud, Options};

/// A local cloud running on its own thread and runtime; stopped on drop.
pub struct Cloud {
    pub addr: SocketAddr,
    /// The running cloud's state handle (to mint temporary credentials, inspect the store, …).
    pub handle: LocalCloud,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Options for [`Cloud::start_with`].
pub fn default_options(data_dir: &Path) -> Options {
    Options::new(data_dir)
}

impl Cloud {
    /// A fresh local cloud with default options in a temporary data dir.
    pub fn start() -> Cloud {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = default_options(dir.path());
        let mut cloud = Cloud::start_with(opts);
        cloud._dir = Some(dir);
        cloud
    }

    /// A fresh local cloud whose gateway runs functions through `gateway.invoker` (a fake in
    /// the gateway tests), in a temporary data dir.
    pub fn start_with_gateway(gateway: GatewayConfig) -> Cloud {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = default_options(dir.path());
        let mut cloud = Cloud::start_with_options_and_gateway(opts, gateway);
        cloud._dir = Some(dir);
        cloud
    }

    /// A local cloud with the given options (its data dir is the caller's).
    pub fn start_with(opts: Options) -> Cloud {
        Cloud::start_with_options_and_gateway(opts, localcloud::gateway::GatewayConfig::default())
    }

    /// A local cloud with the given options and gateway configuration.
    pub fn start_with_options_and_gateway(opts: Options, gateway: GatewayConfig) -> Cloud {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let data_dir = opts.data_dir.clone();
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
                let cloud =
                    LocalCloud::open_with_gateway(opts, addr, gateway).expect("open local cloud");
                addr_tx.send((addr, cloud.clone())).expect("send addr");
                localcloud::run(listener, cloud, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            });
        });
        let (addr, handle) = addr_rx.recv().expect("local cloud started");
        Cloud {
            addr,
            handle,
            data_dir,
            _dir: None,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Mints temporary credentials valid for `ttl_secs` from now, as SCF hands a function.
    pub fn mint_temporary(&self, ttl_secs: u64) -> localcloud::account::TempCredentials {
        self.handle
            .account()
            .mint_temporary(
                jiff::Timestamp::now().as_second(),
                std::time::Duration::from_secs(ttl_secs),
                None,
            )
            .expect("mint temporary credentials")
    }
}

impl Cloud {
    /// Our own provider client for this cloud, with its default key pair, in `ap-guangzhou`.
    pub fn client(&self) -> chatstack::providers::tencent::TencentCloud {
        client_for(&self.url())
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

/// The crate's root.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/REL`.
pub fn fixture(rel: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures").join(rel)
}

/// `CHATSTACK_SHARED`, or `../shared` beside the crate (either may not exist).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("CHATSTACK_SHARED")
        .map_or_else(|| manifest_dir().join("../shared"), PathBuf::from)
}

/// The article's files (`serverless.yml` and `code/`), never copied into the repository, or
/// `None` after printing why `test` is skipped. Looked for in `CHATSTACK_SEED_DIR` (which must
/// hold them when set), else `CHATSTACK_SHARED/seed`, else `../shared/seed` beside the crate.
/// The unit tests' twin is `src/test_support.rs`; keep the two in step.
pub fn article_dir(test: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CHATSTACK_SEED_DIR").map(PathBuf::from) {
        assert!(
            holds_article(&dir),
            "CHATSTACK_SEED_DIR={} holds no serverless.yml and code/",
            dir.display()
        );
        return Some(std::path::absolute(&dir).unwrap_or(dir));
    }
    let dir = shared_dir().join("seed");
    if holds_article(&dir) {
        return Some(dir);
    }
    note(&format!(
        "skipped: {test} needs the article's files (../shared/seed or CHATSTACK_SEED_DIR)"
    ));
    None
}

fn holds_article(dir: &Path) -> bool {
    dir.join("serverless.yml").is_file() && dir.join("code").is_dir()
}

/// One line on the real stderr, past the test harness's capture, so it shows in a plain
/// `cargo test` run.
pub fn note(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `tests/python/NAME`.
pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}

/// Runs `python3 tests/python/SCRIPT ARGS…` with the local cloud's endpoint and default keys in
/// its environment (`CHATSTACK_TEST_ENDPOINT` = `127.0.0.1:PORT`); panics with its output on
/// failure.
pub fn run_python(cloud: &Cloud, script: &str, args: &[&str]) -> Output {
    run_python_with(cloud.addr, script, args, &[])
}

/// [`run_python`] against any address, with extra environment variables.
pub fn run_python_with(
    addr: SocketAddr,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let out = referee(Command::new("python3").arg(python_script(script)), addr)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python {script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `cmd` told where the local cloud at `addr` is and how to sign for it: the
/// `CHATSTACK_TEST_ENDPOINT`, `_SECRET_ID`, `_SECRET_KEY` and `_APPID` the referee scripts read.
fn referee(cmd: &mut Command, addr: SocketAddr) -> &mut Command {
    cmd.env("CHATSTACK_TEST_ENDPOINT", addr.to_string())
        .env(
            "CHATSTACK_TEST_SECRET_ID",
            localcloud::account::DEFAULT_SECRET_ID,
        )
        .env(
            "CHATSTACK_TEST_SECRET_KEY",
            localcloud::account::DEFAULT_SECRET_KEY,
        )
        .env(
            "CHATSTACK_TEST_APPID",
            localcloud::account::DEFAULT_APPID.to_string(),
        )
}

/// Runs `tests/node/SCRIPT` with node against `cloud` (the same `CHATSTACK_TEST_*` variables as
/// [`run_python`]); panics with its output unless it exits 0. The official Node.js SDKs are in
/// `tests/node/node_modules`, which `scripts/test` installs with npm.
pub fn run_node(cloud: &Cloud, script: &str) -> Output {
    let dir = manifest_dir().join("tests/node");
    assert!(
        dir.join("node_modules").is_dir(),
        "tests/node/node_modules is missing: run scripts/test, which installs the Node.js SDKs \
         there with npm (or `npm install --prefix tests/node`)"
    );
    let out = referee(Command::new("node").arg(dir.join(script)), cloud.addr)
        .output()
        .expect("node runs (install nodejs)");
    assert!(
        out.status.success(),
        "node {script} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `chatstack` binary, with a clean environment for credentials.
pub fn chatstack() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("chatstack").expect("binary built");
    for var in [
        "TENCENTCLOUD_SECRET_ID",
        "TENCENTCLOUD_SECRET_KEY",
        "TENCENTCLOUD_SESSION_TOKEN",
        "TENCENTCLOUD_REGION",
        "CHATSTACK_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The real `chatstack local` binary, running in the background on a free port.
pub struct LocalProcess {
    pub addr: SocketAddr,
    /// The first line of stdout, exactly as printed (newline included).
    pub first_line: String,
    child: std::process::Child,
    /// Kept open so the process never writes into a closed pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: tempfile::NamedTempFile,
}

impl LocalProcess {
    /// Starts `chatstack local --listen 127.0.0.1:0 --data-dir DIR ARGS…` and waits for the
    /// endpoint URL on the first line of its stdout.
    pub fn start(data_dir: &Path, args: &[&str]) -> LocalProcess {
        Self::start_with_env(data_dir, args, &[])
    }

    /// [`LocalProcess::start`] with extra environment variables (e.g. the accepted keys).
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> LocalProcess {
        use std::io::BufRead;
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        // Like assert_cmd, a run-time `CARGO_BIN_EXE_chatstack` wins over the build-time path.
        let bin = std::env::var_os("CARGO_BIN_EXE_chatstack")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_chatstack").into());
        let mut cmd = Command::new(bin);
        for var in ["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .args(["local", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(stderr.reopen().expect("stderr file"))
            .spawn()
            .expect("chatstack local starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the endpoint line");
        let addr = line
            .trim()
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok());
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no endpoint URL on stdout (got {line:?}); stderr:\n{}",
                std::fs::read_to_string(stderr.path()).unwrap_or_default()
            )
        };
        LocalProcess {
            addr,
            first_line: line,
            child,
            _stdout: stdout,
            stderr,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// SIGTERM, then waits (at most 10 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The chat stacks: ours (`tests/fixtures/chat-demo/`) and the article's, filled in as the
// article tells its reader to.

/// The APPID both stacks' bucket name carries (`chat-cos-1256773370`).
pub const CHAT_APPID: u64 = 1_256_773_370;

/// A local cloud whose account has [`CHAT_APPID`].
pub fn cloud() -> Cloud {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut opts = default_options(&dir);
    opts.appid = CHAT_APPID;
    Cloud::start_with(opts)
}

/// The project's own chat functions (`functions/chat/code/`).
pub fn chat_code_dir() -> PathBuf {
    manifest_dir().join("functions/chat/code")
}

/// Our stack file in the article's shape, as it stands (keys empty, `codeUri` relative to
/// `tests/fixtures/chat-demo/`): for commands that only read it.
pub fn chat_stack_file() -> PathBuf {
    fixture("chat-demo/serverless.yml")
}

/// Our stack file (`tests/fixtures/chat-demo/serverless.yml`, the article's shape, names and
/// stale push-back literal, the project's chat functions), copied into a temporary directory
/// (deploy keeps its state beside it) with the keys filled in and `codeUri` pointing at
/// `functions/chat/code` (or at `code_dir`). Always available.
pub fn chat_project(code_dir: Option<&Path>) -> (tempfile::TempDir, PathBuf) {
    let text = std::fs::read_to_string(chat_stack_file()).unwrap();
    let code = code_dir.map_or_else(chat_code_dir, Path::to_path_buf);
    fill_in(&text, "../../../functions/chat/code", &code)
}

/// The article's stack file, filled in as the article tells its reader (keys in `Conf`), with
/// `codeUri` pointing at the article's code; `None` (and one line saying so) when the
/// article's files are not at hand (see [`article_dir`]).
pub fn article_project(test: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let seed = article_dir(test)?;
    let text = std::fs::read_to_string(seed.join("serverless.yml")).unwrap();
    Some(fill_in(&text, "./code", &seed.join("code")))
}

/// `text` with the `Conf` keys filled in and every `codeUri: CODE_URI` made `code`, written to
/// `serverless.yml` in a new temporary directory.
fn fill_in(text: &str, code_uri: &str, code: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let from = format!("codeUri: {code_uri}\n");
    assert_eq!(
        text.matches(&from).count(),
        3,
        "the stack's codeUri changed"
    );
    let text = text
        .replace(
            "secret_id: \n",
            &format!("secret_id: {DEFAULT_SECRET_ID}\n"),
        )
        .replace(
            "secret_key: \n",
            &format!("secret_key: {DEFAULT_SECRET_KEY}\n"),
        )
        .replace(&from, &format!("codeUri: {}\n", code.display()));
    assert!(
        text.contains(DEFAULT_SECRET_ID) && text.contains(DEFAULT_SECRET_KEY),
        "the stack's Conf block changed shape"
    );
    let path = dir.path().join("serverless.yml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

// WebSocket clients.

/// A test WebSocket client.
pub type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text or binary frame (pings and pongs skipped), within 20 s.
pub async fn next_frame(client: &mut WsClient) -> tokio_tungstenite::tungstenite::Message {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(20), client.next())
            .await
            .expect("a message within 20 s")
            .expect("the socket stays open")
            .expect("a valid frame");
        if matches!(msg, Message::Text(_) | Message::Binary(_)) {
            return msg;
        }
    }
}

/// The next frame, which must be text.
pub async fn next_text(client: &mut WsClient) -> String {
    match next_frame(client).await {
        tokio_tungstenite::tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

// Hostile-network campaign helpers (tests/reliability_net.rs).

/// Our own provider client for the local cloud at `url` (`http://127.0.0.1:PORT`), with its
/// default key pair, in `ap-guangzhou`.
pub fn client_for(url: &str) -> chatstack::providers::tencent::TencentCloud {
    chatstack::providers::tencent::TencentCloud::new(
        chatstack::providers::tencent::Credentials::new(
            DEFAULT_SECRET_ID,
            chatstack::secret::Secret::new(DEFAULT_SECRET_KEY),
            None,
        ),
        "ap-guangzhou",
        Some(url.parse().expect("the cloud's URL parses")),
    )
    .expect("a client for the local cloud")
}

/// `chatstack -c STACK --endpoint ENDPOINT --json deploy --yes`; its JSON document (panics with
/// stderr on failure).
pub fn deploy_json(endpoint: &str, stack: &Path) -> serde_json::Value {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", endpoint, "--json", "deploy", "--yes"])
        .output()
        .expect("chatstack runs");
    assert!(
        out.status.success(),
        "deploy failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("deploy --json prints JSON")
}

/// The resident set size of process `pid` (`VmRSS` in `/proc/PID/status`), KiB; 0 when it
/// cannot be read (the process is gone, or this is not Linux).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A WebSocket client with a 4 KiB read buffer (tungstenite's default, 128 KiB, is allocated
/// up front: 10,000 clients would take 1.3 GB in the test process).
pub async fn connect_small(url: &str) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map(|(c, _)| c)
}

/// A copy of the chat functions (`functions/chat/code`, files only) in a new directory, to
/// change or spoil.
pub fn code_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(chat_code_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// `count` incompressible bytes (xorshift), so a zip of them is as large as they are.
pub fn noise(count: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What one `chatstack` run printed, and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run's output.
    pub fn of(out: &Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// stdout as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The API 3.0 write calls the provider made, from its debug log (`RUST_LOG=chatstack=debug`).
    pub fn writes(&self) -> Vec<String> {
        self.stderr
            .lines()
            .filter(|l| l.contains("api call"))
            .filter_map(|l| {
                let action = l.split("action=").nth(1)?.split_whitespace().next()?;
                let action = action.trim_matches('"').to_owned();
                let write = [
                    "Create",
                    "Update",
                    "Delete",
                    "Modify",
                    "Attach",
                    "Detach",
                    "Release",
                    "UnRelease",
                    "Put",
                ]
                .iter()
                .any(|w| action.starts_with(w));
                write.then_some(action)
            })
            .collect()
    }
}
