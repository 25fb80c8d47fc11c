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
