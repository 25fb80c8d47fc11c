//! The local cloud's function runtime, driven through the official Python SDKs
//! (`tests/python/runtime_*.py`): Invoke, GetFunctionLogs, the SCF environment, failures, code
//! updates, temporary credentials used from inside functions, and the seed's own function.

use crate::support::{Cloud, run_python, shared_dir};

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
fn the_seed_register_function_runs_unmodified() {
    let cloud = Cloud::start();
    let reg = shared_dir().join("seed/code/reg.py");
    let out = run_python(&cloud, "runtime_seed.py", &[reg.to_str().unwrap()]);
    assert!(report(&out).contains("runtime seed ok"));
}
