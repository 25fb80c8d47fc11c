//! `chatstack invoke` end to end against the local cloud: the stack's functions deployed with
//! our own handlers, invoked by instance name and FunctionName, with `--data` inline, from a
//! file and from stdin, `--log`, `--json`, a function that raises (exit 1 with its message), and
//! bad input refused before anything is sent (exit 2).

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{self, chatstack};

/// Handlers in place of the chat functions: reg echoes its event and prints a line, trans
/// raises, clean returns plain text.
fn code_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| std::fs::write(dir.path().join(name), body).unwrap();
    write(
        "reg.py",
        "def main_handler(event, context):\n    print('hello from reg')\n    return {'echo': event, 'errNo': 0}\n",
    );
    write(
        "trans.py",
        "def main_handler(event, context):\n    raise ValueError('bad frame ' + str(event.get('n')))\n",
    );
    write(
        "clean.py",
        "def main_handler(event, context):\n    return 'bye'\n",
    );
    dir
}

fn invoke(cloud: &support::Cloud, stack: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    chatstack()
        .arg("-c")
        .arg(stack)
        .args(["--endpoint", &cloud.url()])
        .arg("invoke")
        .args(args)
        .assert()
}

fn json_of(out: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&out.get_output().stdout).expect("one JSON document on stdout")
}

#[test]
fn invoke_prints_results_logs_and_function_errors() {
    let cloud = support::cloud();
    let code = code_dir();
    let (_dir, stack) = support::chat_project(Some(code.path()));
    support::deploy_json(&cloud.url(), &stack);

    // --json: the return value parsed, no log unless asked.
    let out = invoke(
        &cloud,
        &stack,
        &["ChatReg", "--data", r#"{"k": 1}"#, "--json"],
    )
    .success();
    let doc = json_of(&out);
    assert_eq!(doc["function"], "ChatReg");
    assert_eq!(doc["result"]["echo"], serde_json::json!({"k": 1}));
    assert_eq!(doc["error"], Value::Null);
    assert!(doc["requestId"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(doc.get("log").is_none(), "{doc}");

    // The event from a file, the result pretty on stdout, the log on stderr with --log.
    let event = code.path().join("event.json");
    std::fs::write(&event, "{\"from\": \"file\"}\n").unwrap();
    invoke(
        &cloud,
        &stack,
        &[
            "ChatReg",
            "--data",
            &format!("@{}", event.display()),
            "--log",
        ],
    )
    .success()
    .stdout(predicate::str::contains("\"from\": \"file\""))
    .stderr(predicate::str::contains("hello from reg"));

    // From stdin; a plain-text result prints as it is.
    chatstack()
        .arg("-c")
        .arg(&stack)
        .args([
            "--endpoint",
            &cloud.url(),
            "invoke",
            "ChatClean",
            "--data",
            "@-",
        ])
        .write_stdin("{}")
        .assert()
        .success()
        .stdout("bye\n");

    // A function that raises: exit 1 with its message, and the document says so too.
    invoke(&cloud, &stack, &["ChatTrans", "--data", r#"{"n": 7}"#])
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "function `ChatTrans` failed: ValueError: bad frame 7",
        ));
    let out = invoke(&cloud, &stack, &["ChatTrans", "--json", "--log"]).code(1);
    let doc = json_of(&out);
    assert_eq!(doc["result"], Value::Null);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bad frame None"),
        "{doc}"
    );
    assert!(doc["log"].as_str().unwrap().contains("ValueError"), "{doc}");
}

#[test]
fn invoke_refuses_bad_input_before_sending_anything() {
    // Nothing listens on this endpoint: a refusal that reached the network would be exit 1.
    let endpoint = "http://127.0.0.1:9";
    let stack = support::chat_stack_file();
    let run = |args: &[&str]| {
        chatstack()
            .arg("-c")
            .arg(&stack)
            .args(["--endpoint", endpoint, "invoke"])
            .args(args)
            .env("TENCENTCLOUD_SECRETID", "AKIDexample")
            .env("TENCENTCLOUD_SECRETKEY", "example")
            .assert()
    };
    run(&["ChatReg", "--data", "{oops"])
        .code(2)
        .stderr(predicate::str::contains("--data: the value is not JSON"))
        .stderr(predicate::str::contains("at line 1 column 2"));
    run(&["ChatReg", "--data", "@/nonexistent/event.json"])
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read /nonexistent/event.json",
        ));
    run(&["ChatRex"])
        .code(2)
        .stderr(predicate::str::contains("did you mean `ChatReg`?"));
}
