//! The local cloud's function runtime, driven through the official Python SDKs
//! (`tests/python/runtime_*.py`): Invoke, GetFunctionLogs, the SCF environment, failures, code
//! updates, temporary credentials used from inside functions, the project's own chat functions
//! and (where its files are at hand) the article's register function.

use crate::support::{Cloud, article_dir, chat_code_dir, run_python};

fn report(out: &std::process::Output) -> String {
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in s.lines().filter(|l| l.starts_with("SKIP")) {
        eprintln!("{line}");
    }
    s
}

#[test]
fn invoke_and_logs_through_the_sdk() {
    let cloud = Cloud::start();
    let out = run_python(&cloud, "runtime_invoke.py", &[]);
    assert!(report(&out).contains("runtime invoke ok"));
}

#[test]
fn a_function_invokes_another_through_the_api3_sdk_and_tencentserverless() {
    // The SDK ships in the caller's zip; the worker's hook connects `scf.internal.…` and
    // `scf.tencentcloudapi.com` to the local cloud, Host and signature unchanged.
    let cloud = Cloud::start();
    let out = run_python(&cloud, "runtime_sdk_in_function.py", &[]);
    assert!(report(&out).contains("sdk in function ok"));
}

#[test]
fn the_seed_register_function_runs_unmodified() {
    let Some(seed) = article_dir("localcloud_runtime::the_seed_register_function_runs_unmodified")
    else {
        return;
    };
    let cloud = Cloud::start();
    let reg = seed.join("code/reg.py");
    let out = run_python(&cloud, "runtime_seed.py", &[reg.to_str().unwrap()]);
    assert!(report(&out).contains("runtime seed ok"));
}

#[test]
fn our_register_and_cleanup_functions_run_with_temporary_credentials() {
    let cloud = Cloud::start();
    let code = chat_code_dir();
    let out = run_python(&cloud, "runtime_chat.py", &[code.to_str().unwrap()]);
    assert!(report(&out).contains("runtime chat ok"));
}
