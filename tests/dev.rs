//! `chatstack init` and `chatstack dev`, driven as a new user would: the real binary, the
//! template written by `init` and deployed with no edits, JSON chat messages between real
//! WebSocket clients, a code edit redeployed while the clients stay connected, a broken edit
//! that leaves the last good deployment serving, `remove`, and Ctrl-C.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{WsClient, chatstack};

/// `chatstack --json dev` running in a project directory, its events read from stdout.
pub struct DevProcess {
    /// The `ready` event.
    pub ready: Value,
    child: Child,
    events: mpsc::Receiver<Value>,
    stderr: tempfile::NamedTempFile,
}

impl DevProcess {
    /// Starts `chatstack --json dev ARGS…` in `dir` (on free loopback ports the first time in a
    /// project, the same ones after) and waits (at most 120 s: a fresh machine
    /// may install the functions' Python packages first) for its `ready` event.
    pub fn start(dir: &Path, args: &[&str]) -> DevProcess {
        let bin = std::env::var_os("CARGO_BIN_EXE_chatstack")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_chatstack").into());
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let mut cmd = Command::new(bin);
        for var in [
            "TENCENTCLOUD_SECRET_ID",
            "TENCENTCLOUD_SECRET_KEY",
            "CHATSTACK_ENDPOINT",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .args(["--json", "dev"])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("stderr file"))
            .spawn()
            .expect("chatstack dev starts");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let event = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("dev --json printed a non-JSON line {line:?}: {e}"));
                if tx.send(event).is_err() {
                    return;
                }
            }
        });
        let mut dev = DevProcess {
            ready: Value::Null,
            child,
            events,
            stderr,
        };
        dev.ready = dev.wait_for("ready", Duration::from_secs(120));
        dev
    }

    /// The `ready` event's `websocketUrl`.
    pub fn websocket_url(&self) -> String {
        self.ready["websocketUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("not deployed at start: {}\n{}", self.ready, self.stderr()))
            .to_owned()
    }

    /// The next event named `name` (others are skipped), within `timeout`.
    pub fn wait_for(&mut self, name: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if e["event"] == name => return e,
                Ok(_) => {}
                Err(_) => panic!(
                    "no `{name}` event within {timeout:?}; stderr:\n{}",
                    self.stderr()
                ),
            }
        }
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Ctrl-C; returns the `stopped` event and the exit status.
    pub fn interrupt(mut self) -> (Value, std::process::ExitStatus) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let stopped = self.wait_for("stopped", Duration::from_secs(60));
        let status = self.child.wait().expect("dev exits");
        (stopped, status)
    }
}

impl Drop for DevProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `chatstack init DIR/NAME`: the new project's directory.
pub fn init_project(parent: &Path, name: &str) -> PathBuf {
    let out = chatstack()
        .current_dir(parent)
        .args(["init", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("cd {name} && chatstack dev")),
        "{stdout}"
    );
    parent.join(name)
}

/// The next JSON frame of `type` (other frames are skipped), within 20 s.
async fn next_of(client: &mut WsClient, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, client.next())
            .await
            .unwrap_or_else(|_| panic!("no `{kind}` frame within 20 s"))
            .expect("the socket stays open")
            .expect("a valid frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("frames are JSON");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn send(client: &mut WsClient, frame: Value) {
    client
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

/// Connects and says hello; returns the client and its `secConnectionID`.
async fn join(url: &str, name: &str) -> (WsClient, String) {
    let (mut client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    send(&mut client, json!({"type": "hello", "name": name})).await;
    let welcome = next_of(&mut client, "welcome").await;
    assert_eq!(welcome["name"], name, "{welcome}");
    (client, welcome["you"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn init_then_dev_chats_reloads_code_without_dropping_sockets_and_removes() {
    let parent = tempfile::tempdir().unwrap();
    let project = init_project(parent.path(), "mychat");
    let mut dev = DevProcess::start(&project, &[]);
    let url = dev.websocket_url();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");
    let page = dev.ready["page"].as_str().unwrap().to_owned();
    let http = chatstack::providers::tencent::http::client().unwrap();
    let served = http
        .get(format!("{page}chatstack.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(served["websocketUrl"], url.as_str());

    let (mut ann, ann_id) = join(&url, "Ann").await;
    let (mut bob, _) = join(&url, "Bob").await;
    assert_eq!(next_of(&mut ann, "join").await["name"], "Bob");
    let (mut cy, _) = join(&url, "Cy").await;
    for c in [&mut ann, &mut bob] {
        let j = next_of(c, "join").await;
        assert_eq!(
            (j["name"].clone(), j["online"].clone()),
            (json!("Cy"), json!(3))
        );
    }

    send(
        &mut ann,
        json!({"type": "message", "name": "Ann", "text": "hi all"}),
    )
    .await;
    for c in [&mut ann, &mut bob, &mut cy] {
        let m = next_of(c, "message").await;
        assert_eq!(m["from"], ann_id.as_str(), "{m}");
        assert_eq!(
            (m["text"].clone(), m["online"].clone()),
            (json!("hi all"), json!(3))
        );
    }
    // A plain-text frame, as wscat sends, is a message under the name said in hello.
    bob.send(Message::Text("plain words".into())).await.unwrap();
    let m = next_of(&mut ann, "message").await;
    assert_eq!(
        (m["name"].clone(), m["text"].clone()),
        (json!("Bob"), json!("plain words"))
    );

    // Every function's output is streamed, under its name.
    let log = dev.wait_for("log", Duration::from_secs(20));
    assert_eq!(log["function"], "mychat-register", "{log}");
    assert!(
        log["text"].as_str().unwrap().starts_with("connected "),
        "{log}"
    );

    // One leaves: the others are told, with the new count.
    cy.close(None).await.unwrap();
    for c in [&mut ann, &mut bob] {
        let l = next_of(c, "leave").await;
        assert_eq!(
            (l["name"].clone(), l["online"].clone()),
            (json!("Cy"), json!(2))
        );
    }

    let endpoint = dev.ready["endpoint"].as_str().unwrap().to_owned();
    // `info --json` against dev's local cloud, from the project.
    let info = || -> Value {
        let out = chatstack()
            .current_dir(&project)
            .args(["--endpoint", &endpoint, "--json", "info"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let deployed_code = || info()["functions"][1]["codeSha256"].clone();
    let code_before = deployed_code();
    assert!(code_before.is_string(), "{code_before}");

    // A code edit is redeployed while Ann and Bob stay connected; their next messages run it.
    let transport = project.join("code/transport.py");
    let code = std::fs::read_to_string(&transport).unwrap();
    let edited = code.replace(
        "text=text, online=online",
        "text=text.upper(), online=online",
    );
    assert_ne!(code, edited, "the template's transport changed shape");
    std::fs::write(&transport, edited).unwrap();
    let deployed = dev.wait_for("deployed", Duration::from_secs(60));
    let changed: Vec<&str> = deployed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-change")
        .map(|c| c["resource"].as_str().unwrap())
        .collect();
    assert!(changed.contains(&"function mychat-transport"), "{deployed}");
    // The three functions share ./code; the plan names the file that changed.
    let transport_change = deployed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"] == "function mychat-transport")
        .unwrap();
    assert_eq!(
        transport_change["files"],
        json!(["transport.py"]),
        "{deployed}"
    );
    // `info` shows the code now deployed, not the creation's.
    assert_ne!(deployed_code(), code_before);
    send(
        &mut bob,
        json!({"type": "message", "name": "Bob", "text": "louder"}),
    )
    .await;
    for c in [&mut ann, &mut bob] {
        assert_eq!(next_of(c, "message").await["text"], "LOUDER");
    }

    // A broken stack file is reported, and the last good deployment keeps serving.
    let stack = project.join("chatstack.yml");
    let good = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(&stack, good.replace("runtime: Python3.9", "runtime: [oops")).unwrap();
    let failed = dev.wait_for("deployFailed", Duration::from_secs(60));
    assert!(
        failed["error"].as_str().unwrap().contains("chatstack.yml"),
        "{failed}"
    );
    send(
        &mut ann,
        json!({"type": "message", "name": "Ann", "text": "still here"}),
    )
    .await;
    assert_eq!(next_of(&mut bob, "message").await["text"], "STILL HERE");
    std::fs::write(&stack, &good).unwrap();
    dev.wait_for("deployed", Duration::from_secs(60));

    // `remove` against dev's local cloud leaves nothing.
    let out = chatstack()
        .current_dir(&project)
        .args(["--endpoint", &endpoint, "remove", "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "remove: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = info();
    assert_eq!(info["deployed"], false, "{info}");
    assert!(
        info["functions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"].is_null()),
        "{info}"
    );
    assert_eq!(info["bucket"]["exists"], false, "{info}");

    let (stopped, status) = dev.interrupt();
    assert!(status.success(), "{status}: {stopped}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_runs_every_open_connections_cleanup_and_the_next_run_keeps_the_urls() {
    let parent = tempfile::tempdir().unwrap();
    let project = init_project(parent.path(), "again");
    let dev = DevProcess::start(&project, &[]);
    let url = dev.websocket_url();
    let (mut ann, _) = join(&url, "Ann").await;
    let (bob, _) = join(&url, "Bob").await;
    next_of(&mut ann, "join").await;
    let (stopped, status) = dev.interrupt();
    assert!(status.success(), "{status}");
    assert_eq!(stopped["connectionsClosed"], 2, "{stopped}");
    drop((ann, bob));

    // The next run finds its state and the same URLs; the registry is empty again because
    // both cleanups ran at the stop.
    let dev = DevProcess::start(&project, &[]);
    assert_eq!(dev.websocket_url(), url);
    let (_cy, _) = join(&url, "Cy").await;
    let (mut dan, _) = join(&url, "Dan").await;
    send(
        &mut dan,
        json!({"type": "message", "name": "Dan", "text": "who is here"}),
    )
    .await;
    assert_eq!(next_of(&mut dan, "message").await["online"], 2);
}

#[test]
fn init_refuses_to_overwrite_and_dev_refuses_what_it_cannot_run_safely() {
    let parent = tempfile::tempdir().unwrap();
    let project = init_project(parent.path(), "twice");
    let out = chatstack()
        .current_dir(parent.path())
        .args(["init", "twice"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists"), "{err}");

    let stack = project.join("chatstack.yml");
    let text = std::fs::read_to_string(&stack).unwrap();
    std::fs::write(
        &stack,
        text.replacen("runtime: Python3.9", "runtime: Nodejs16.13", 1),
    )
    .unwrap();
    let out = chatstack()
        .current_dir(&project)
        .args(["dev", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runs Python functions only"), "{err}");
    assert!(
        !project.join(".chatstack/dev/local").exists(),
        "nothing started"
    );
}

#[test]
fn dev_without_python_says_what_to_install_and_starts_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let project = init_project(parent.path(), "nopython");
    let out = chatstack()
        .current_dir(&project)
        .env("CHATSTACK_PYTHON", "/nonexistent/python3")
        .args(["dev"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/python3"), "{err}");
    assert!(err.contains("python3-venv"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no URL is printed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_example_chat_runs_from_anywhere_with_nothing_but_the_binary() {
    let cwd = tempfile::tempdir().unwrap();
    let dev = DevProcess::start(cwd.path(), &["--example", "chat"]);
    let url = dev.websocket_url();
    assert!(
        cwd.path()
            .join(".chatstack/examples/chat/chatstack.yml")
            .is_file()
    );
    let (mut ann, _) = join(&url, "Ann").await;
    send(
        &mut ann,
        json!({"type": "message", "name": "Ann", "text": "hello"}),
    )
    .await;
    assert_eq!(next_of(&mut ann, "message").await["text"], "hello");
    let (_, status) = dev.interrupt();
    assert!(status.success());
}
