//! `deploy`, `plan`, `info` and `remove` end to end against an in-process local cloud, with the
//! article's own stack file and functions, checked through the official Python SDKs.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{self, Cloud, SEED_APPID, chatstack, cloud, seed_project, shared_dir};
use chatstack::localcloud::account::DEFAULT_SECRET_KEY;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Write calls the provider made, from its debug log.
    fn writes(&self) -> Vec<String> {
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

fn run(cloud: &Cloud, stack: &Path, args: &[&str]) -> Run {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url()])
        .args(args)
        .env("RUST_LOG", "chatstack=debug")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sdk(cloud: &Cloud, service: &str, version: &str, action: &str, params: Value) -> Value {
    let out = support::run_python(
        cloud,
        "sdk_call.py",
        &[service, version, action, &params.to_string()],
    );
    serde_json::from_slice(&out.stdout).expect("sdk_call prints JSON")
}

fn env_of(cloud: &Cloud, name: &str) -> serde_json::Map<String, Value> {
    let f = sdk(
        cloud,
        "scf",
        "2018-04-16",
        "GetFunction",
        json!({"FunctionName": name}),
    );
    assert_eq!(f["Status"], "Active", "{name}: {f}");
    f["Environment"]["Variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["Key"].as_str().unwrap().to_owned(), v["Value"].clone()))
        .collect()
}

#[test]
fn the_articles_stack_deploys_in_one_command_and_redeploys_with_zero_writes() {
    let cloud = cloud();
    let (_dir, stack) = seed_project(None);

    let first = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first
            .stderr
            .contains("hard-coded API Gateway push-back address"),
        "stale-literal notice missing:\n{}",
        first.stderr
    );
    assert!(!first.stderr.contains(DEFAULT_SECRET_KEY), "secret printed");
    let doc = first.json();
    let pushback = doc["pushbackUrl"].as_str().expect("pushbackUrl").to_owned();
    assert!(
        pushback.starts_with(&format!("{}/api-", cloud.url())),
        "{pushback}"
    );
    let ws = doc["websocketUrl"].as_str().expect("websocketUrl");
    assert!(
        ws.starts_with(&format!("ws://127.0.0.1:{}/service-", cloud.port())),
        "{ws}"
    );
    assert!(ws.ends_with("/release/"), "{ws}");
    let statuses: Vec<&str> = doc["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Active", "Active", "Active"]);
    assert!(doc["timings"]["total"].as_f64().unwrap() > 0.0);
    assert!(
        doc["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["action"] == "create")
    );

    // The official SDK sees the live push-back URL in every function: the article's `url`
    // variable (a stale literal in the file) and PUSHBACK_URL.
    for name in ["ChatReg", "ChatTrans", "ChatClean"] {
        let env = env_of(&cloud, name);
        assert_eq!(env["url"], pushback.as_str(), "{name}");
        assert_eq!(env["PUSHBACK_URL"], pushback.as_str(), "{name}");
        assert_eq!(env["bucket"], "chat-cos-1256773370", "{name}");
    }
    let released = sdk(
        &cloud,
        "apigateway",
        "2018-08-08",
        "DescribeServiceEnvironmentList",
        json!({"ServiceId": doc["gateway"]["serviceId"]}),
    );
    assert!(
        released["Result"]["EnvironmentList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["EnvironmentName"] == "release" && e["Status"] == 1),
        "{released}"
    );

    // info agrees.
    let info = run(&cloud, &stack, &["--json", "info"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert_eq!(info.json()["websocketUrl"], ws);

    // A second deploy changes nothing and makes zero write calls.
    let second = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.writes(), Vec::<String>::new(), "{}", second.stderr);
    assert!(
        second.json()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "no-change")
    );
    let plan = run(&cloud, &stack, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);

    // remove leaves nothing, as the official SDKs see it.
    let removed = run(&cloud, &stack, &["--json", "remove", "--yes"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    for name in ["ChatReg", "ChatTrans", "ChatClean"] {
        let f = sdk(
            &cloud,
            "scf",
            "2018-04-16",
            "GetFunction",
            json!({"FunctionName": name}),
        );
        assert!(
            f["Error"]["Code"]
                .as_str()
                .unwrap()
                .starts_with("ResourceNotFound"),
            "{f}"
        );
    }
    let services = sdk(
        &cloud,
        "apigateway",
        "2018-08-08",
        "DescribeServicesStatus",
        json!({}),
    );
    assert_eq!(services["Result"]["TotalCount"], 0, "{services}");
    let after = run(&cloud, &stack, &["--json", "info"]);
    assert_eq!(after.json()["deployed"], false, "{}", after.stdout);
}

#[test]
fn code_and_environment_changes_touch_only_what_changed() {
    let cloud = cloud();
    let code = tempfile::tempdir().unwrap();
    for f in ["reg.py", "trans.py", "clean.py"] {
        std::fs::copy(shared_dir().join("seed/code").join(f), code.path().join(f)).unwrap();
    }
    // Give the transport function its own code directory so a change there is its alone.
    let (dir, stack) = seed_project(Some(code.path()));
    let trans_code = dir.path().join("trans-code");
    std::fs::create_dir(&trans_code).unwrap();
    std::fs::copy(code.path().join("trans.py"), trans_code.join("trans.py")).unwrap();
    let text = std::fs::read_to_string(&stack).unwrap();
    let text = text.replacen(
        &format!("codeUri: {}\n    handler: trans", code.path().display()),
        "codeUri: ./trans-code\n    handler: trans",
        1,
    );
    std::fs::write(&stack, &text).unwrap();

    let first = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // Code change in one function: only that function's code (and its hash variable).
    std::fs::write(
        trans_code.join("trans.py"),
        std::fs::read_to_string(trans_code.join("trans.py")).unwrap() + "\n# v2\n",
    )
    .unwrap();
    let plan = run(&cloud, &stack, &["--json", "plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    let changed: Vec<Value> = plan.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no-change")
        .cloned()
        .collect();
    assert_eq!(
        changed,
        // Its own codeUri, recorded by the first deploy from here: the file that changed is named.
        [
            json!({"resource": "function ChatTrans", "action": "update", "fields": ["code"], "files": ["trans.py"]})
        ]
    );
    let code_change = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(code_change.code, 0, "{}", code_change.stderr);
    let writes = code_change.writes();
    assert_eq!(
        writes,
        ["UpdateFunctionCode", "UpdateFunctionConfiguration"],
        "{}",
        code_change.stderr
    );
    assert!(
        code_change
            .stderr
            .lines()
            .filter(|l| l.contains("api call") && l.contains("Update"))
            .all(|l| !l.contains("ChatReg"))
    );

    // An environment value: configuration only, of the three functions that carry it.
    let text = std::fs::read_to_string(&stack).unwrap().replace(
        "region: ap-guangzhou\n    bucket",
        "region: ap-guangzhou\n    motd: hello\n    bucket",
    );
    std::fs::write(
        &stack,
        text.replace(
            "        bucket: ${Conf.bucket}\n        secret_id",
            "        bucket: ${Conf.bucket}\n        motd: ${Conf.motd}\n        secret_id",
        ),
    )
    .unwrap();
    let env_change = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(env_change.code, 0, "{}", env_change.stderr);
    assert_eq!(
        env_change.writes(),
        ["UpdateFunctionConfiguration"; 3],
        "{}",
        env_change.stderr
    );
    assert_eq!(env_of(&cloud, "ChatReg")["motd"], "hello");
}

#[test]
fn a_retired_api_gateway_exits_4_with_the_reason_and_alternatives() {
    let dir = tempfile::tempdir().unwrap().keep();
    let mut opts = support::default_options(&dir);
    opts.appid = SEED_APPID;
    opts.apigw = chatstack::localcloud::ApigwMode::Retired;
    let cloud = Cloud::start_with(opts);
    let (_d, stack) = seed_project(None);
    let out = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("API Gateway cannot host this stack"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("local cloud"), "{}", out.stderr);
}

#[test]
fn a_second_concurrent_deploy_is_refused_clearly() {
    let cloud = cloud();
    let (dir, stack) = seed_project(None);
    let _held = chatstack::engine::journal::Lock::acquire(
        &dir.path().join(".chatstack"),
        "ChatDemo",
        "dev",
        "deploy",
    )
    .unwrap();
    let out = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("another chatstack run holds the lock"),
        "{}",
        out.stderr
    );
}

#[test]
fn remove_keep_bucket_keeps_the_bucket_and_its_objects_and_nothing_else() {
    let cloud = cloud();
    let (_dir, stack) = seed_project(None);
    let deployed = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    let removed = run(
        &cloud,
        &stack,
        &["--json", "remove", "--yes", "--keep-bucket"],
    );
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let doc = removed.json();
    let gone: Vec<&str> = doc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(gone.iter().all(|r| !r.starts_with("bucket")), "{gone:?}");
    assert!(gone.iter().any(|r| r.starts_with("function")), "{gone:?}");
    let info = run(&cloud, &stack, &["--json", "info"]).json();
    assert_eq!(info["bucket"]["exists"], true, "{info}");
    assert!(
        info["functions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"].is_null()),
        "{info}"
    );
    assert_eq!(info["gateway"]["serviceId"], Value::Null, "{info}");
    // Removing again with nothing left but the kept bucket changes nothing and succeeds.
    let again = run(&cloud, &stack, &["remove", "--yes", "--keep-bucket"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}
