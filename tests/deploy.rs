//! `deploy`, `plan`, `info` and `remove` end to end against an in-process local cloud, with our
//! stack file in the article's shape (`tests/fixtures/chat-demo/`, the project's chat
//! functions) and, where its files are at hand, the article's own stack file and functions,
//! checked through the official Python SDKs.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{
    self, CHAT_APPID, Cloud, Run, article_project, chat_code_dir, chat_project, chatstack, cloud,
};
use chatstack::localcloud::account::DEFAULT_SECRET_KEY;

fn run(cloud: &Cloud, stack: &Path, args: &[&str]) -> Run {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url()])
        .args(args)
        .env("RUST_LOG", "chatstack=debug")
        .output()
        .unwrap();
    Run::of(&out)
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
    let Some((_dir, stack)) = article_project(
        "deploy::the_articles_stack_deploys_in_one_command_and_redeploys_with_zero_writes",
    ) else {
        return;
    };
    deploys_in_one_command_and_redeploys_with_zero_writes(&stack);
}

#[test]
fn our_stack_in_the_articles_shape_deploys_in_one_command_and_redeploys_with_zero_writes() {
    let (_dir, stack) = chat_project(None);
    deploys_in_one_command_and_redeploys_with_zero_writes(&stack);
}

/// `stack` (the article's names, keys in `Conf`, a stale push-back literal in `url`) deploys in
/// one command, redeploys with zero writes, and is removed without a trace.
fn deploys_in_one_command_and_redeploys_with_zero_writes(stack: &Path) {
    let cloud = cloud();

    let first = run(&cloud, stack, &["--json", "deploy", "--yes"]);
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
    let info = run(&cloud, stack, &["--json", "info"]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    assert_eq!(info.json()["websocketUrl"], ws);

    // A second deploy changes nothing and makes zero write calls.
    let second = run(&cloud, stack, &["--json", "deploy", "--yes"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.writes(), Vec::<String>::new(), "{}", second.stderr);
    assert!(
        second.json()["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "no-change")
    );
    let plan = run(&cloud, stack, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);

    // remove leaves nothing, as the official SDKs see it.
    let removed = run(&cloud, stack, &["--json", "remove", "--yes"]);
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
    let after = run(&cloud, stack, &["--json", "info"]);
    assert_eq!(after.json()["deployed"], false, "{}", after.stdout);
}

#[test]
fn code_and_environment_changes_touch_only_what_changed() {
    let cloud = cloud();
    let code = tempfile::tempdir().unwrap();
    for f in [
        "reg.py",
        "trans.py",
        "clean.py",
        "registry.py",
        "pushback.py",
    ] {
        std::fs::copy(chat_code_dir().join(f), code.path().join(f)).unwrap();
    }
    // Give the transport function its own code directory so a change there is its alone.
    let (dir, stack) = chat_project(Some(code.path()));
    let trans_code = dir.path().join("trans-code");
    std::fs::create_dir(&trans_code).unwrap();
    for f in ["trans.py", "registry.py", "pushback.py"] {
        std::fs::copy(code.path().join(f), trans_code.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(&stack).unwrap();
    let text = text.replacen(
        &format!("codeUri: {}\n    handler: trans", code.path().display()),
        "codeUri: ./trans-code\n    handler: trans",
        1,
    );
    std::fs::write(&stack, &text).unwrap();

    let first = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);

    // Code change in one function: only that function's code — one SCF update, and its code tag
    // through the tag service.
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
        // The plan names the file that changed (the last deploy recorded each file's hash).
        [
            json!({"resource": "function ChatTrans", "action": "update", "fields": ["code"],
                "files": ["trans.py"]})
        ]
    );
    let code_change = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(code_change.code, 0, "{}", code_change.stderr);
    let writes = code_change.writes();
    assert_eq!(
        writes,
        ["UpdateFunctionCode", "ModifyResourceTags"],
        "{}",
        code_change.stderr
    );
    // What is deployed is what info says, in the table and in JSON, and what the official SDK
    // reads from the function's tags; the code hash is not a variable any more.
    let code_of = |doc: Value| {
        doc["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "ChatTrans")
            .unwrap()["codeSha256"]
            .clone()
    };
    let deployed = code_of(code_change.json());
    let info = run(&cloud, &stack, &["--json", "info"]);
    assert_eq!(code_of(info.json()), deployed, "{}", info.stdout);
    let table = run(&cloud, &stack, &["info"]);
    assert!(
        table.stdout.contains(&deployed.as_str().unwrap()[..12]),
        "{}",
        table.stdout
    );
    let f = sdk(
        &cloud,
        "scf",
        "2018-04-16",
        "GetFunction",
        json!({"FunctionName": "ChatTrans"}),
    );
    let tag = f["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["Key"] == "chatstack:code-sha256")
        .unwrap()["Value"]
        .clone();
    assert_eq!(tag, deployed, "{f}");
    assert!(!env_of(&cloud, "ChatTrans").contains_key("CHATSTACK_CODE_SHA256"));
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
    opts.appid = CHAT_APPID;
    opts.apigw = chatstack::localcloud::ApigwMode::Retired;
    let cloud = Cloud::start_with(opts);
    let (_d, stack) = chat_project(None);
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
    let (dir, stack) = chat_project(None);
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
    let (_dir, stack) = chat_project(None);
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

#[test]
fn remove_without_yes_and_without_a_terminal_refuses_with_exit_2_and_changes_nothing() {
    let cloud = cloud();
    let (_dir, stack) = chat_project(None);
    let deployed = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    // stdin is not a terminal here, and stderr is a pipe (`chatstack remove 2>&1 | cat`).
    let refused = run(&cloud, &stack, &["remove"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert!(refused.writes().is_empty(), "{:?}", refused.writes());
    let info = run(&cloud, &stack, &["--json", "info"]).json();
    assert!(
        info["functions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["status"] == "Active"),
        "{info}"
    );
    assert_eq!(info["bucket"]["exists"], true, "{info}");
}

/// The keys under `chatstack-code/` in `bucket`.
fn code_objects(cloud: &Cloud, bucket: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        cloud
            .client()
            .cos()
            .list_all(bucket, "ap-guangzhou", "chatstack-code/"),
    )
    .unwrap()
    .into_iter()
    .map(|o| o.key)
    .collect()
}

#[test]
fn a_12_mib_package_deploys_through_cos_and_leaves_nothing_behind() {
    let cloud = cloud();
    let code = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| std::fs::write(code.path().join(name), body).unwrap();
    write(
        "reg.py",
        "def main_handler(event, context):\n    return {'errNo': 0}\n",
    );
    write(
        "trans.py",
        "def main_handler(event, context):\n    return {}\n",
    );
    write(
        "clean.py",
        "import hashlib, os\n\ndef main_handler(event, context):\n    \
         path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'blob.bin')\n    \
         with open(path, 'rb') as f:\n        return hashlib.sha256(f.read()).hexdigest()\n",
    );
    let blob = support::noise(12 << 20);
    std::fs::write(code.path().join("blob.bin"), &blob).unwrap();
    let (_dir, stack) = chat_project(Some(code.path()));

    let first = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let doc = first.json();
    let bucket = doc["bucket"]["name"].as_str().unwrap().to_owned();
    let sha = doc["functions"][0]["codeSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    // One upload (the three functions share the package), in parts, reported as it goes.
    let cos_ops: Vec<&str> = first
        .stderr
        .lines()
        .filter(|l| l.contains("cos call"))
        .filter_map(|l| l.split("action=").nth(1)?.split_whitespace().next())
        .map(|a| a.trim_matches('"'))
        .filter(|a| a.contains("Multipart") || *a == "UploadPart")
        .collect();
    assert_eq!(
        cos_ops,
        [
            "InitiateMultipartUpload",
            "UploadPart",
            "UploadPart",
            "UploadPart",
            "UploadPart",
            "CompleteMultipartUpload"
        ],
        "{}",
        first.stderr
    );
    assert_eq!(
        code_objects(&cloud, &bucket),
        [format!("chatstack-code/{sha}.zip")]
    );

    // The function runs the package that went through COS.
    let out = chatstack()
        .arg("-c")
        .arg(&stack)
        .args(["--endpoint", &cloud.url(), "invoke", "ChatClean", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["result"],
        chatstack::providers::tencent::tc3::sha256_hex(&blob)
    );

    // A code change uploads the new package, updates the code only, and deletes the old one.
    // Without --json and a terminal, the upload's progress is a line per quarter.
    write(
        "reg.py",
        "def main_handler(event, context):\n    return {'errNo': 0}\n# v2\n",
    );
    let second = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    for line in [
        "started  upload code of ChatReg (12.0 MiB)",
        "upload code of ChatReg (12.0 MiB): 12.0 of 12.0 MiB",
        "✓ upload code of ChatReg (12.0 MiB)",
        "✓ delete older code packages",
    ] {
        assert!(second.stderr.contains(line), "{line}\n{}", second.stderr);
    }
    let mut writes = second.writes();
    writes.sort();
    assert_eq!(
        writes,
        [
            "ModifyResourceTags",
            "ModifyResourceTags",
            "ModifyResourceTags",
            "UpdateFunctionCode",
            "UpdateFunctionCode",
            "UpdateFunctionCode"
        ],
        "{}",
        second.stderr
    );
    let new_sha = run(&cloud, &stack, &["--json", "info"]).json()["functions"][0]["codeSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_sha, sha);
    assert_eq!(
        code_objects(&cloud, &bucket),
        [format!("chatstack-code/{new_sha}.zip")]
    );

    // An unchanged redeploy uploads nothing.
    let third = run(&cloud, &stack, &["--json", "deploy", "--yes"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert!(third.writes().is_empty(), "{}", third.stderr);
    assert!(!third.stderr.contains("UploadPart"), "{}", third.stderr);

    let removed = run(&cloud, &stack, &["--json", "remove", "--yes"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let head = rt
        .block_on(cloud.client().cos().head_bucket(&bucket, "ap-guangzhou"))
        .unwrap();
    assert!(head.is_none(), "the bucket and the packages in it are gone");
}
