//! Execution roles end to end (issue 12): deploy creates the role a function names (trust policy
//! for SCF, a policy for the stack's bucket, attached, tagged), the function uses its temporary
//! credentials for COS inside the bucket and is refused outside it; a function without a role
//! sees no credentials; a role that existed before is used as it is; `remove` deletes only the
//! role and policy chatstack created.

use std::path::Path;

use serde_json::Value;

use crate::support::{self, CHAT_APPID, Cloud, chat_project, chatstack};
use chatstack::providers::tencent::cam::CreateRoleRequest;

/// ChatReg and ChatTrans read and write COS with no keys; ChatClean reports its credentials.
fn code_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cos = r#"
import os
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

def main_handler(event, context):
    cos = CosS3Client(CosConfig(Region=os.environ["TENCENTCLOUD_REGION"]))
    bucket = os.environ["bucket"]
    out = {}
    cos.put_object(Bucket=bucket, Key="role.txt", Body=b"written with the role")
    out["read"] = cos.get_object(Bucket=bucket, Key="role.txt")["Body"].get_raw_stream().read().decode()
    try:
        cos.put_object(Bucket=event["other"], Key="x.txt", Body=b"no")
        out["other"] = "ok"
    except CosServiceError as e:
        out["other"] = "%s %s" % (e.get_status_code(), e.get_error_code())
    return out
"#;
    let env = r#"
import os
def main_handler(event, context):
    return {k: os.environ.get(k) for k in
            ["TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"]}
"#;
    std::fs::write(dir.path().join("reg.py"), cos).unwrap();
    std::fs::write(dir.path().join("trans.py"), cos).unwrap();
    std::fs::write(dir.path().join("clean.py"), env).unwrap();
    dir
}

/// Our chat stack with no keys in the functions' environment; ChatReg has role `ChatDemo-chat`
/// (created by deploy), ChatTrans `Theirs` (exists already), ChatClean none.
fn project(code: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, path) = chat_project(Some(code));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut function = "";
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("    name: ") {
            function = if name.starts_with("Chat") {
                ""
            } else {
                function
            };
            function = match name {
                "ChatReg" => "reg",
                "ChatTrans" => "trans",
                "ChatClean" => "clean",
                _ => function,
            };
        }
        if line.contains("secret_id: ${Conf") || line.contains("secret_key: ${Conf") {
            continue;
        }
        if line == "    role: ChatDemo-chat" {
            match function {
                "trans" => out.push_str("    role: Theirs\n"),
                "clean" => {}
                _ => out.push_str("    role: ChatDemo-chat\n"),
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert_eq!(out.matches("role: ").count(), 2, "{out}");
    std::fs::write(&path, out).unwrap();
    (dir, path)
}

fn run(cloud: &Cloud, stack: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url(), "--json"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), doc, stderr)
}

fn changes(doc: &Value) -> Vec<(String, String)> {
    doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_role_is_created_attached_used_for_cos_and_removed_and_a_function_without_one_gets_no_credentials()
 {
    let cloud = support::cloud();
    let cam = cloud.client().cam();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A role that exists before, made by someone else: used as it is, never modified.
    rt.block_on(cam.create_role(&CreateRoleRequest {
        role_name: "Theirs".into(),
        policy_document: chatstack::engine::roles::TRUST_POLICY.into(),
        description: Some("not chatstack's".into()),
        tags: Vec::new(),
    }))
    .unwrap();
    let code = code_dir();
    let (_dir, stack) = project(code.path());

    let (code_, plan, stderr) = run(&cloud, &stack, &["plan"]);
    assert_eq!(code_, 0, "{stderr}");
    let rows = changes(&plan);
    assert!(
        rows.contains(&("role ChatDemo-chat".into(), "create".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("role Theirs".into(), "no-change".into())),
        "{rows:?}"
    );
    // ChatClean's package (shared with the others) imports the COS SDK and it has no role: a
    // warning that says what to add, and no failure. The others have roles.
    let warned: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("no execution role"))
        .collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains("`ChatClean`") && warned[0].contains("role:"),
        "{stderr}"
    );

    let (code_, _, stderr) = run(&cloud, &stack, &["deploy", "--yes"]);
    assert_eq!(code_, 0, "{stderr}");

    // The role, tagged ours, trusted by SCF, with our policy (and only it) attached.
    let (info, attached, theirs) = rt.block_on(async {
        (
            cam.get_role("ChatDemo-chat").await.unwrap(),
            cam.list_attached_role_policies("ChatDemo-chat")
                .await
                .unwrap(),
            cam.list_attached_role_policies("Theirs").await.unwrap(),
        )
    });
    assert_eq!(info.tag("chatstack:stack"), Some("ChatDemo"), "{info:?}");
    assert_eq!(info.tag("chatstack:stage"), Some("dev"), "{info:?}");
    assert_eq!(info.policy_document, chatstack::engine::roles::TRUST_POLICY);
    let names: Vec<&str> = attached.iter().map(|p| p.policy_name.as_str()).collect();
    assert_eq!(names, ["chatstack-ChatDemo-chat"]);
    assert!(
        theirs.is_empty(),
        "someone else's role was modified: {theirs:?}"
    );

    // Inside the bucket with the role's credentials; another bucket is refused.
    let other = format!("{{\"other\": \"elsewhere-{CHAT_APPID}\"}}");
    let (code_, doc, stderr) = run(&cloud, &stack, &["invoke", "ChatReg", "--data", &other]);
    assert_eq!(code_, 0, "{stderr}");
    assert_eq!(doc["result"]["read"], "written with the role", "{doc}");
    assert_eq!(doc["result"]["other"], "403 AccessDenied", "{doc}");

    // No role, no credentials.
    let (code_, doc, stderr) = run(&cloud, &stack, &["invoke", "ChatClean"]);
    assert_eq!(code_, 0, "{stderr}");
    for k in [
        "TENCENTCLOUD_SECRETID",
        "TENCENTCLOUD_SECRETKEY",
        "TENCENTCLOUD_SESSIONTOKEN",
    ] {
        assert_eq!(doc["result"][k], Value::Null, "{doc}");
    }

    // A fresh runner (no .chatstack/) finds the role by name and tags: nothing to do.
    std::fs::remove_dir_all(stack.parent().unwrap().join(".chatstack")).ok();
    let (code_, plan, stderr) = run(&cloud, &stack, &["plan"]);
    assert_eq!(code_, 0, "{stderr}");
    assert_eq!(plan["hasChanges"], false, "{plan}");

    // remove: our role and policy go, theirs stays.
    let (code_, _, stderr) = run(&cloud, &stack, &["remove", "--yes"]);
    assert_eq!(code_, 0, "{stderr}");
    rt.block_on(async {
        assert_eq!(cam.get_role_opt("ChatDemo-chat").await.unwrap(), None);
        assert!(cam.get_role_opt("Theirs").await.unwrap().is_some());
        // The policy's name is free again: it was deleted.
        cam.create_policy(&chatstack::providers::tencent::cam::CreatePolicyRequest {
            policy_name: "chatstack-ChatDemo-chat".into(),
            policy_document: r#"{"version":"2.0","statement":[]}"#.into(),
            description: None,
        })
        .await
        .expect("the policy chatstack made was deleted");
    });
}

/// Two stages of one stack whose functions name one role (the chat-demo fixture's
/// `ChatDemo-chat`, the same in every stage): prod deploys first and creates it, dev uses it.
/// Removing prod keeps the role (dev's functions still name it) and says so; dev then plans
/// nothing; removing dev, the last stage, deletes the role and its policy. The order the
/// concurrent `deploy_concurrency::two_stages_…` test hits only when prod wins the race.
#[test]
fn a_role_two_stages_share_stays_until_the_last_of_them_is_removed() {
    let cloud = support::cloud();
    let cam = cloud.client().cam();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_dir, stack) = crate::deploy_concurrency::staged_project();
    for stage in ["prod", "dev"] {
        let (code, _, stderr) = run(&cloud, &stack, &["--stage", stage, "deploy", "--yes"]);
        assert_eq!(code, 0, "{stage}: {stderr}");
    }
    let role = rt.block_on(cam.get_role("ChatDemo-chat")).unwrap();
    assert_eq!(role.tag("chatstack:stage"), Some("prod"), "{role:?}");

    // The plan line is a keep, and the removal says why.
    let (code, _, stderr) = run_human(&cloud, &stack, &["--stage", "prod", "remove", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("role ChatDemo-chat"))
        .unwrap_or_else(|| panic!("no role line:\n{stderr}"));
    assert!(line.ends_with(" keep (used by stage dev)"), "{stderr}");
    assert!(stderr.contains(", 1 kept\n"), "{stderr}");
    assert!(
        stderr.contains("Kept role ChatDemo-chat: used by stage dev"),
        "{stderr}"
    );
    assert!(
        rt.block_on(cam.get_role_opt("ChatDemo-chat"))
            .unwrap()
            .is_some()
    );
    let (code, plan, stderr) = run(
        &cloud,
        &stack,
        &["--stage", "dev", "plan", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{plan}\n{stderr}");
    // Nothing of prod is left: info says so, and removing again removes nothing.
    let (code, info, stderr) = run(&cloud, &stack, &["--stage", "prod", "info"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(info["deployed"], false, "{info}");
    let (code, removed, stderr) = run(&cloud, &stack, &["--stage", "prod", "remove", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(removed["removed"], serde_json::json!([]), "{removed}");
    assert_eq!(
        removed["kept"],
        serde_json::json!([{"resource": "role ChatDemo-chat", "reason": "used by stage dev"}]),
        "{removed}"
    );

    let (code, removed, stderr) = run(&cloud, &stack, &["--stage", "dev", "remove", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        removed["removed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "role ChatDemo-chat"),
        "{removed}"
    );
    assert_eq!(removed["kept"], serde_json::json!([]), "{removed}");
    assert_eq!(
        rt.block_on(cam.get_role_opt("ChatDemo-chat")).unwrap(),
        None
    );
}

/// [`run`] without `--json`: (exit code, stdout, stderr).
fn run_human(cloud: &Cloud, stack: &Path, args: &[&str]) -> (i32, String, String) {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
