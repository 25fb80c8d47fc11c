//! `chatstack info` end to end: a stack file in the article's shape (ours,
//! `tests/fixtures/chat-demo/`, keys left empty), against a server that verifies every request
//! with the official SDKs' signing code, and against the local cloud.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{self, chatstack};

const ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

/// The referee server (`tests/python/referee_server.py`), killed on drop.
struct Referee {
    child: Child,
    port: u16,
}

impl Referee {
    fn start() -> Referee {
        let mut child = Command::new("python3")
            .arg(support::python_script("referee_server.py"))
            .args([ID, KEY])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("referee prints its port");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected referee output {line:?}"));
        Referee { child, port }
    }

    fn summary(&self) -> Vec<Value> {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]).read().decode())",
                &format!("http://127.0.0.1:{}/__summary", self.port),
            ])
            .output()
            .expect("python3 runs");
        serde_json::from_slice(&out.stdout).expect("summary is JSON")
    }
}

impl Drop for Referee {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stack() -> std::path::PathBuf {
    support::chat_stack_file()
}

#[test]
fn info_signs_every_request_as_the_official_sdks_do_and_reports_not_deployed() {
    let referee = Referee::start();
    let out = chatstack()
        .args(["-c", stack().to_str().unwrap(), "--json", "info"])
        .args(["--endpoint", &format!("http://127.0.0.1:{}", referee.port)])
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["deployed"], false);
    assert_eq!(doc["stack"], "ChatDemo");
    assert_eq!(doc["stage"], "dev");
    assert_eq!(doc["region"], "ap-guangzhou");
    assert_eq!(doc["websocketUrl"], Value::Null);
    assert_eq!(doc["bucket"]["name"], "chat-cos-1256773370");
    assert_eq!(doc["bucket"]["exists"], false);
    assert_eq!(doc["functions"].as_array().unwrap().len(), 3);
    let roles: Vec<&str> = doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["register", "transport", "cleanup"]);
    assert!(!stderr.contains(KEY), "secret key printed:\n{stderr}");

    let seen = referee.summary();
    let bad: Vec<&Value> = seen.iter().filter(|r| r["ok"] != true).collect();
    assert!(
        bad.is_empty(),
        "requests the SDK algorithms reject: {bad:#?}"
    );
    let actions: Vec<&str> = seen.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "GetFunction").count(),
        3,
        "{actions:?}"
    );
    assert!(actions.contains(&"DescribeServicesStatus"), "{actions:?}");
    assert!(
        actions.contains(&"HEAD"),
        "the bucket was not looked up: {actions:?}"
    );
    let cos = seen.iter().find(|r| r["kind"] == "cos").unwrap();
    assert_eq!(
        cos["host"],
        "chat-cos-1256773370.cos.ap-guangzhou.myqcloud.com"
    );
}

#[test]
fn info_reports_a_signature_the_cloud_rejects_as_a_credentials_error() {
    let referee = Referee::start();
    chatstack()
        .args(["-c", stack().to_str().unwrap(), "info"])
        .args(["--endpoint", &format!("http://127.0.0.1:{}", referee.port)])
        .env("TENCENTCLOUD_SECRET_ID", ID)
        .env("TENCENTCLOUD_SECRET_KEY", "not-the-key")
        .assert()
        .code(3)
        .stderr(predicates::str::contains("AuthFailure.SignatureFailure"))
        .stderr(predicates::str::contains("not-the-key").not());
}

#[test]
fn info_without_credentials_exits_3_and_says_where_it_looked() {
    let home = tempfile::tempdir().unwrap();
    chatstack()
        .args(["-c", stack().to_str().unwrap(), "info"])
        .env("HOME", home.path())
        .assert()
        .code(3)
        .stderr(predicates::str::contains("TENCENTCLOUD_SECRET_ID"));
}

#[test]
fn info_table_against_the_local_cloud_says_not_deployed() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = support::default_options(dir.path());
    opts.appid = support::CHAT_APPID; // the APPID the bucket name carries
    let cloud = support::Cloud::start_with(opts);
    // No credentials anywhere: `--endpoint` uses the local cloud's documented default pair.
    let home = tempfile::tempdir().unwrap();
    let out = chatstack()
        .args([
            "-c",
            stack().to_str().unwrap(),
            "info",
            "--endpoint",
            &cloud.url(),
        ])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ChatDemo") && stdout.contains("not deployed"),
        "{stdout}"
    );
}

#[test]
fn a_bucket_named_for_another_account_is_a_clear_stack_file_error() {
    let cloud = support::Cloud::start(); // APPID 1250000000, not the bucket's 1256773370
    chatstack()
        .args([
            "-c",
            stack().to_str().unwrap(),
            "info",
            "--endpoint",
            &cloud.url(),
        ])
        .env(
            "TENCENTCLOUD_SECRET_ID",
            chatstack::localcloud::account::DEFAULT_SECRET_ID,
        )
        .env(
            "TENCENTCLOUD_SECRET_KEY",
            chatstack::localcloud::account::DEFAULT_SECRET_KEY,
        )
        .assert()
        .code(2)
        .stderr(predicates::str::contains("belongs to another account"))
        .stderr(predicates::str::contains("-1256773370"));
}

/// Temporary credentials with a wrong session token are rejected credentials (exit 3), even
/// when the call that finds out is a COS HEAD, whose 400 `InvalidToken` carries no body to say
/// so (`info` observes COS and SCF at once, so which call reports first varies; the provider
/// call is checked on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_session_token_is_a_credentials_failure_exit_3() {
    use chatstack::providers::tencent::{Credentials, TencentCloud};
    let cloud = support::cloud();
    let temp = cloud.mint_temporary(3600);
    let bad = TencentCloud::new(
        Credentials::new(
            temp.secret_id.clone(),
            temp.secret_key.clone(),
            Some(chatstack::secret::Secret::new(
                "not-the-token-it-was-minted-with",
            )),
        ),
        "ap-guangzhou",
        Some(cloud.url().parse().unwrap()),
    )
    .unwrap();
    let err = bad
        .cos()
        .head_bucket("chat-cos-1256773370", "ap-guangzhou")
        .await
        .unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    let code = chatstack::error::Error::from(err).exit_code();
    assert_eq!(code, 3);

    let (_dir, stack) = support::chat_project(None);
    let out = tokio::task::spawn_blocking(move || {
        chatstack()
            .arg("-c")
            .arg(&stack)
            .args(["--endpoint", &cloud.url(), "info"])
            .env("TENCENTCLOUD_SECRET_ID", &temp.secret_id)
            .env("TENCENTCLOUD_SECRET_KEY", temp.secret_key.expose())
            .env(
                "TENCENTCLOUD_SESSION_TOKEN",
                "not-the-token-it-was-minted-with",
            )
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
}
