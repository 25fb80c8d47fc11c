//! `chatstack local` as a process: flags, the endpoint line, and durability across `kill -9`.

use crate::support::{LocalProcess, chatstack, run_python_with};

#[test]
fn local_survives_kill_9_with_every_bucket_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalProcess::start(dir.path(), &[]);
    run_python_with(first.addr, "cos_persist.py", &["write"], &[]);
    first.kill9();

    let second = LocalProcess::start(dir.path(), &[]);
    run_python_with(second.addr, "cos_persist.py", &["check"], &[]);
    second.kill9();
}

/// Functions, services, APIs and releases (through the official Python SDK) and COS objects,
/// all acknowledged just before a `kill -9`, are there after a restart on the same data dir.
#[test]
fn local_survives_kill_9_with_every_function_service_and_api() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalProcess::start(dir.path(), &[]);
    let out = run_python_with(first.addr, "api3_restart.py", &["before"], &[]);
    let ids = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    run_python_with(first.addr, "cos_persist.py", &["write"], &[]);
    first.kill9();

    let second = LocalProcess::start(dir.path(), &[]);
    let port = second.addr.port().to_string();
    let out = run_python_with(second.addr, "api3_restart.py", &["after", &ids, &port], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("restart ok"));
    run_python_with(second.addr, "cos_persist.py", &["check"], &[]);
    second.kill9();
}

#[test]
fn local_prints_exactly_its_endpoint_url_on_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    // Even verbose: logs go to stderr, never before the URL on stdout.
    let local = LocalProcess::start(dir.path(), &["-vv"]);
    let port = local.addr.port();
    assert_ne!(port, 0);
    assert_eq!(local.first_line, format!("http://127.0.0.1:{port}\n"));
    local.kill9();
}

#[test]
fn local_latency_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("slow-profile.json");
    std::fs::write(&bad, r#"{"creating": 40}"#).unwrap();
    let missing = dir.path().join("no-such-profile.json");
    for path in [&bad, &missing] {
        chatstack()
            .args(["local", "--latency"])
            .arg(path)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicates::str::contains(path.to_str().unwrap()));
    }
}

#[test]
fn local_rejects_bad_flags_with_exit_2() {
    for args in [
        &["--faults", "1.5"][..],
        &["--faults", "x"],
        &["--listen", "not-an-address"],
        &["--appid", "0"],
        &["--latency", "/no/such/profile.json"],
        &["--apigw", "maybe"],
    ] {
        chatstack()
            .arg("local")
            .args(args)
            .assert()
            .code(2)
            .stdout("");
    }
}

#[test]
fn local_accepts_the_keys_from_its_environment_and_never_prints_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (id, key) = (
        "AKIDlocalTestFromEnv000000000000000",
        "envSecretKeyForTheLocalCloud0000",
    );
    let local = LocalProcess::start_with_env(
        dir.path(),
        &["--appid", "1300000001"],
        &[
            ("TENCENTCLOUD_SECRET_ID", id),
            ("TENCENTCLOUD_SECRET_KEY", key),
        ],
    );
    let env = [
        ("CHATSTACK_TEST_SECRET_ID", id),
        ("CHATSTACK_TEST_SECRET_KEY", key),
        ("CHATSTACK_TEST_APPID", "1300000001"),
        // The documented default pair is not accepted when the environment names another.
        (
            "CHATSTACK_TEST_OTHER_ID",
            chatstack::localcloud::account::DEFAULT_SECRET_ID,
        ),
    ];
    run_python_with(local.addr, "cos_auth.py", &["unknown-id"], &env);
    let stderr = local.stderr();
    assert!(
        stderr.contains(id) && stderr.contains("1300000001"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(key),
        "the secret key was printed:\n{stderr}"
    );
}

#[test]
fn local_stops_cleanly_on_sigterm_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalProcess::start(dir.path(), &[]);
    run_python_with(first.addr, "cos_persist.py", &["write"], &[]);
    let status = first.terminate();
    assert!(status.success(), "{status}");
    // The database lock was released: a new process opens the same data dir at once.
    let second = LocalProcess::start(dir.path(), &[]);
    run_python_with(second.addr, "cos_persist.py", &["check"], &[]);
}
