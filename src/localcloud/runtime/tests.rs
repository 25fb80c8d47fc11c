//! Pool and protocol tests with real Python workers and stub handlers (no HTTP).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::localcloud::model::function as scf;
use crate::localcloud::model::function::{KeyValue, Status, TABLE};
use crate::localcloud::store::StoreError;
use crate::localcloud::{LocalCloud, Options};

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn cloud(dir: &Path, opts: RuntimeOptions) -> LocalCloud {
    let o = Options::new(dir);
    LocalCloud::open_with_runtime(o, "127.0.0.1:9".parse().unwrap(), opts).unwrap()
}

fn quick() -> RuntimeOptions {
    RuntimeOptions {
        install_packages: false,
        ..RuntimeOptions::default()
    }
}

/// A trust policy that lets SCF assume a role (as chatstack writes it).
const SCF_TRUST: &str = r#"{"version":"2.0","statement":[{"action":"name/sts:AssumeRole","effect":"allow","principal":{"service":["scf.qcloud.com"]}}]}"#;

/// Stores role `role` with trust policy `trust` and makes it `f`'s execution role.
fn give_role(c: &LocalCloud, f: &FunctionRef, role: &str, trust: &str) {
    use crate::localcloud::model::cam::{ROLES, RoleRecord};
    let key = scf::key(&f.region, &f.namespace, &f.name);
    c.store()
        .write(|tx| -> Result<(), StoreError> {
            tx.put(
                ROLES,
                role,
                &RoleRecord {
                    role_id: "4611686018427397001".into(),
                    name: role.into(),
                    policy_document: trust.into(),
                    description: String::new(),
                    tags: Vec::new(),
                    created: 0,
                    modified: 0,
                    attached: Vec::new(),
                },
            )?;
            let mut rec: FunctionRecord = tx.get(TABLE, &key)?.unwrap();
            rec.role = role.into();
            tx.put(TABLE, &key, &rec)
        })
        .unwrap();
}

const CREDENTIAL_VARS: [&str; 3] = [
    "TENCENTCLOUD_SECRETID",
    "TENCENTCLOUD_SECRETKEY",
    "TENCENTCLOUD_SESSIONTOKEN",
];

const CREDS: &str = r#"
import os
def main_handler(event, context):
    return {k: os.environ.get(k) for k in
            ["TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"]}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_function_whose_role_scf_may_assume_gets_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    // No role; a role that does not exist; a role SCF may not assume; a role it may.
    let none = deploy(&c, "norole", CREDS, 10);
    let missing = deploy(&c, "missing", CREDS, 10);
    {
        let key = scf::key(&missing.region, &missing.namespace, &missing.name);
        c.store()
            .write(|tx| -> Result<(), StoreError> {
                let mut rec: FunctionRecord = tx.get(TABLE, &key)?.unwrap();
                rec.role = "no-such-role".into();
                tx.put(TABLE, &key, &rec)
            })
            .unwrap();
    }
    let other = deploy(&c, "other", CREDS, 10);
    give_role(
        &c,
        &other,
        "cos-role",
        &SCF_TRUST.replace("scf.qcloud.com", "cos.qcloud.com"),
    );
    let with = deploy(&c, "withrole", CREDS, 10);
    give_role(&c, &with, "chat-role", SCF_TRUST);
    for f in [&none, &missing, &other] {
        let v = call(&c, f, json!({})).await.outcome.unwrap();
        for k in CREDENTIAL_VARS {
            assert_eq!(v[k], Value::Null, "{} got {k}", f.name);
        }
    }
    let v = call(&c, &with, json!({})).await.outcome.unwrap();
    let id = v["TENCENTCLOUD_SECRETID"].as_str().unwrap();
    assert!(id.starts_with("AKIDtmp"), "{v}");
    let caller = c
        .account()
        .caller(
            id,
            v["TENCENTCLOUD_SESSIONTOKEN"].as_str(),
            now_millis() / 1000,
        )
        .unwrap();
    assert_eq!(caller.role.as_deref(), Some("chat-role"));
}

/// Stores (or replaces) function `name` with `code` as `index.py`.
fn deploy(c: &LocalCloud, name: &str, code: &str, timeout: u32) -> FunctionRef {
    deploy_init(c, name, code, timeout, scf::DEFAULT_INIT_TIMEOUT)
}

/// [`deploy`] with an `InitTimeout`.
fn deploy_init(
    c: &LocalCloud,
    name: &str,
    code: &str,
    timeout: u32,
    init_timeout: u32,
) -> FunctionRef {
    deploy_with(
        c,
        name,
        &[("index.py", code)],
        &[("GREETING", "hi")],
        timeout,
        init_timeout,
    )
}

/// Stores (or replaces) function `name` with these files and variables.
fn deploy_with(
    c: &LocalCloud,
    name: &str,
    files: &[(&str, &str)],
    vars: &[(&str, &str)],
    timeout: u32,
    init_timeout: u32,
) -> FunctionRef {
    let blob = format!("scf-lam-{name}-{}.zip", uuid::Uuid::new_v4().simple());
    let bytes = zip(files);
    c.store().put_blob(&blob, &bytes).unwrap();
    let rec = FunctionRecord {
        region: "ap-guangzhou".into(),
        namespace: "default".into(),
        name: name.into(),
        function_id: format!("lam-{name}"),
        runtime: "Python3.9".into(),
        handler: "index.main_handler".into(),
        description: String::new(),
        memory_size: 256,
        timeout,
        init_timeout,
        role: String::new(),
        function_type: "Event".into(),
        protocol_type: String::new(),
        ws_idle_timeout: 0,
        max_concurrency: 0,
        reserved_concurrency: None,
        environment: vars
            .iter()
            .map(|(k, v)| KeyValue {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        tags: vec![],
        code_blob: blob,
        code_size: bytes.len() as u64,
        code_sha256: crate::providers::tencent::tc3::sha256_hex(&bytes),
        add_time: 0,
        mod_time: 0,
        status: Status::Active,
        settles_at_ms: 0,
    };
    let key = scf::key(&rec.region, &rec.namespace, &rec.name);
    c.store()
        .write(|tx| -> Result<(), StoreError> { tx.put(TABLE, &key, &rec) })
        .unwrap();
    FunctionRef {
        region: rec.region,
        namespace: rec.namespace,
        name: rec.name,
    }
}

async fn call(c: &LocalCloud, f: &FunctionRef, event: Value) -> InvokeOutput {
    c.runtime()
        .invoke(f, event, InvocationType::RequestResponse)
        .await
        .unwrap()
}

const ECHO: &str = r#"
import os, sys
print("loaded")
def main_handler(event, context):
    print("hello from", context["function_name"])
    sys.stderr.write("to stderr\n")
    keys = ["SCF_FUNCTIONNAME", "SCF_NAMESPACE", "TENCENTCLOUD_RUNENV", "GREETING",
            "TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SESSIONTOKEN", "PYTHONPATH", "USER_CODE_ROOT",
            "CARGO_MANIFEST_DIR", "CARGO_PKG_NAME"]
    return {"pid": os.getpid(), "event": event, "context": context,
            "env": {k: os.environ.get(k) for k in keys}, "cwd": os.getcwd()}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_worker_returns_values_with_scf_context_and_clean_env() {
    warm_worker_with_scf_context_and_clean_env(quick()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unforked_workers_get_the_same_context_and_env() {
    let opts = RuntimeOptions {
        fork: false,
        ..quick()
    };
    warm_worker_with_scf_context_and_clean_env(opts).await;
}

async fn warm_worker_with_scf_context_and_clean_env(opts: RuntimeOptions) {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), opts);
    let f = deploy(&c, "echo", ECHO, 10);
    give_role(&c, &f, "echo-role", SCF_TRUST);
    let a = call(&c, &f, json!({"n": 1})).await;
    let v = a.outcome.clone().unwrap();
    assert_eq!(v["event"], json!({"n": 1}));
    let ctx = &v["context"];
    assert_eq!(ctx["request_id"], a.request_id);
    assert_eq!(ctx["function_name"], "echo");
    assert_eq!(ctx["namespace"], "default");
    assert_eq!(ctx["function_version"], "$LATEST");
    assert_eq!(ctx["memory_limit_in_mb"], 256);
    assert_eq!(ctx["time_limit_in_ms"], 10_000);
    assert_eq!(ctx["tencentcloud_region"], "ap-guangzhou");
    assert_eq!(ctx["tencentcloud_appid"], "1250000000");
    let env_doc: Value = serde_json::from_str(ctx["environment"].as_str().unwrap()).unwrap();
    assert_eq!(env_doc["GREETING"], "hi");
    let env = &v["env"];
    assert_eq!(env["SCF_FUNCTIONNAME"], "echo");
    assert_eq!(env["TENCENTCLOUD_RUNENV"], "SCF");
    assert_eq!(env["GREETING"], "hi");
    assert!(
        env["TENCENTCLOUD_SECRETID"]
            .as_str()
            .unwrap()
            .starts_with("AKIDtmp")
    );
    assert!(
        !env["TENCENTCLOUD_SESSIONTOKEN"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        env["CARGO_MANIFEST_DIR"],
        Value::Null,
        "parent environment leaked"
    );
    assert_eq!(
        env["CARGO_PKG_NAME"],
        Value::Null,
        "parent environment leaked"
    );
    assert_eq!(env["PYTHONPATH"], env["USER_CODE_ROOT"]);
    assert_eq!(v["cwd"], env["USER_CODE_ROOT"]);
    // Import-time output belongs to the first invocation; stdout and stderr are both logs.
    assert!(a.log.contains("loaded"), "{}", a.log);
    assert!(a.log.contains("hello from echo"), "{}", a.log);
    assert!(a.log.contains("to stderr"), "{}", a.log);
    assert!(!a.log.contains('\u{1e}'), "end marker leaked: {:?}", a.log);
    assert!(a.mem_usage_bytes > 0 && a.billed_ms >= 1);

    let b = call(&c, &f, json!({"n": 2})).await;
    let w = b.outcome.unwrap();
    assert_eq!(
        w["pid"], v["pid"],
        "the second invocation reuses the warm worker"
    );
    assert_eq!(w["event"], json!({"n": 2}));
    assert!(
        !b.log.contains("loaded") && b.log.contains("hello from echo"),
        "{}",
        b.log
    );
    assert_ne!(w["env"]["TENCENTCLOUD_SECRETID"], Value::Null);

    let records = logs::list(c.store(), "ap-guangzhou", "default", "echo").unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].request_id, a.request_id);
    assert!(
        records[0]
            .log
            .starts_with(&format!("START RequestId: {}", a.request_id))
    );
    assert!(records[0].log.contains("hello from echo"));
    assert_eq!(records[0].ret_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_keep_the_worker_timeouts_and_crashes_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let code = r#"
import os, time
def main_handler(event, context):
    what = event.get("do")
    if what == "raise":
        raise ValueError("bad input")
    if what == "sleep":
        print("going to sleep")
        time.sleep(30)
    if what == "exit":
        print("about to die")
        os._exit(3)
    return os.getpid()
"#;
    let f = deploy(&c, "faulty", code, 1);
    let pid = call(&c, &f, json!({})).await.outcome.unwrap();

    let e = call(&c, &f, json!({"do": "raise"})).await;
    let err = e.outcome.unwrap_err();
    assert_eq!(err.kind, FunctionErrorKind::UserException);
    assert!(err.message.contains("ValueError: bad input"), "{err:?}");
    assert!(err.traceback.contains("Traceback"), "{err:?}");
    assert!(
        e.log.contains("Traceback") && e.log.contains("ValueError"),
        "{}",
        e.log
    );
    assert_eq!(
        call(&c, &f, json!({})).await.outcome.unwrap(),
        pid,
        "still warm"
    );

    let started = Instant::now();
    let t = call(&c, &f, json!({"do": "sleep"})).await;
    let err = t.outcome.unwrap_err();
    assert_eq!(err.kind, FunctionErrorKind::Timeout);
    assert_eq!(err.message, "Invoking task timed out after 1 seconds");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(t.log.contains("going to sleep"), "{}", t.log);
    let after = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_ne!(after, pid, "a new worker replaces the killed one");

    let x = call(&c, &f, json!({"do": "exit"})).await;
    let err = x.outcome.unwrap_err();
    assert_eq!(err.kind, FunctionErrorKind::Crash);
    assert!(err.message.contains("exit status: 3"), "{err:?}");
    assert!(x.log.contains("about to die"), "{}", x.log);
    let again = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_ne!(again, after);

    let records = logs::list(c.store(), "ap-guangzhou", "default", "faulty").unwrap();
    let codes: Vec<i64> = records.iter().map(|r| r.ret_code).collect();
    assert_eq!(codes, [0, 430, 0, 433, 0, 439, 0]);
    assert!(
        records[3]
            .log
            .contains("Invoking task timed out after 1 seconds")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_errors_fail_every_invocation_like_scf() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let f = deploy(&c, "broken", "import no_such_module_here\n", 3);
    let mut pids = Vec::new();
    for _ in 0..2 {
        let out = call(&c, &f, json!({})).await;
        pids.push(out.worker_pid);
        let err = out.outcome.unwrap_err();
        assert_eq!(err.kind, FunctionErrorKind::UserException);
        assert!(
            err.message.contains("Failed to import module 'index'"),
            "{err:?}"
        );
        assert!(err.message.contains("no_such_module_here"), "{err:?}");
        assert!(err.traceback.contains("ModuleNotFoundError"), "{err:?}");
    }
    // Not an init failure: the worker is ready (with its error) and kept.
    assert!(pids[0].is_some() && pids[0] == pids[1], "{pids:?}");
    let g = deploy(&c, "nohandler", "def other(e, c):\n    return 1\n", 3);
    let err = call(&c, &g, json!({})).await.outcome.unwrap_err();
    assert_eq!(
        err.message,
        "module 'index' has no attribute 'main_handler'"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_per_function() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(
        dir.path(),
        RuntimeOptions {
            concurrency: 2,
            ..quick()
        },
    );
    let code = "import os, time\ndef main_handler(event, context):\n    time.sleep(0.4)\n    return os.getpid()\n";
    let f = deploy(&c, "slow", code, 10);
    // Warm two workers first so start-up time does not blur the measurement.
    let warm = futures_util::future::join_all((0..2).map(|_| call(&c, &f, json!({})))).await;
    assert!(warm.iter().all(|o| o.outcome.is_ok()));
    let started = Instant::now();
    let outs = futures_util::future::join_all((0..6).map(|_| call(&c, &f, json!({})))).await;
    let elapsed = started.elapsed();
    let mut pids: Vec<i64> = outs
        .iter()
        .map(|o| o.outcome.clone().unwrap().as_i64().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert!(pids.len() <= 2, "more workers than the limit: {pids:?}");
    assert!(
        elapsed >= Duration::from_millis(1150),
        "6 × 0.4 s on 2 workers took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_starts_are_bounded_and_waiters_take_returned_workers() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(
        dir.path(),
        RuntimeOptions {
            concurrency: 8,
            max_starting: 1,
            ..quick()
        },
    );
    let code = "import os\ndef main_handler(event, context):\n    return os.getpid()\n";
    let f = deploy(&c, "bursty", code, 10);
    // Six short invocations on a cold pool: one worker starts at a time; the others take a
    // worker as it comes back, or start one more each time the start slot frees up while every
    // worker is busy. Unbounded, each would have started its own (six).
    let outs = futures_util::future::join_all((0..6).map(|_| call(&c, &f, json!({})))).await;
    let mut pids: Vec<i64> = outs
        .iter()
        .map(|o| o.outcome.clone().unwrap().as_i64().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert!(
        pids.len() < 6,
        "six short invocations started {} workers",
        pids.len()
    );
    // A slow function still gets parallel workers, up to the concurrency limit.
    let slow = deploy(
        &c,
        "sleepy",
        "import os, time\ndef main_handler(event, context):\n    time.sleep(1)\n    return os.getpid()\n",
        10,
    );
    let outs = futures_util::future::join_all((0..3).map(|_| call(&c, &slow, json!({})))).await;
    let mut pids: Vec<i64> = outs
        .iter()
        .map(|o| o.outcome.clone().unwrap().as_i64().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "each waiting invocation got its own worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeployed_code_takes_effect_and_old_workers_drain() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let v1 = "import os\ndef main_handler(e, c):\n    return ['v1', os.getpid()]\n";
    let f = deploy(&c, "evolving", v1, 3);
    let a = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(a[0], "v1");
    let v2 = "import os\ndef main_handler(e, c):\n    return ['v2', os.getpid()]\n";
    deploy(&c, "evolving", v2, 3);
    let b = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(b[0], "v2");
    assert_ne!(a[1], b[1]);
    let old = a[1].as_i64().unwrap();
    let gone = async {
        while Path::new(&format!("/proc/{old}/cmdline")).exists()
            && std::fs::read(format!("/proc/{old}/cmdline")).is_ok_and(|c| !c.is_empty())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the old worker exits");
}

/// Rewrites `f`'s record in the store with `edit`.
fn edit_record(c: &LocalCloud, f: &FunctionRef, edit: impl FnOnce(&mut FunctionRecord)) {
    let key = scf::key(&f.region, &f.namespace, &f.name);
    let mut rec: FunctionRecord = c.store().get(TABLE, &key).unwrap().unwrap();
    edit(&mut rec);
    c.store()
        .write(|tx| -> Result<(), StoreError> { tx.put(TABLE, &key, &rec) })
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_to_the_functions_table_is_seen_by_the_next_invocation() {
    // Invocations skip the store while the table is unchanged; after any write they look again,
    // keep the workers when the function's shape is the same, and see what changed otherwise.
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let code = "import os\ndef main_handler(e, c):\n    return [os.environ['X'], os.getpid()]\n";
    let f = deploy_with(&c, "watched", &[("index.py", code)], &[("X", "1")], 3, 10);
    let a = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(a[0], "1");
    // Another function's deploy moves the revision: same record, same workers.
    deploy(&c, "other", "def main_handler(e, c):\n    return 0\n", 3);
    let b = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(b, a, "the warm worker is kept");
    // A variable changes: new workers with the new value.
    edit_record(&c, &f, |r| r.environment[0].value = "2".into());
    let d = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(d[0], "2");
    assert_ne!(d[1], a[1]);
    // The function starts updating: refused, although its pool is warm.
    edit_record(&c, &f, |r| {
        r.status = Status::Updating;
        r.settles_at_ms = i64::MAX;
    });
    let e = c
        .runtime()
        .invoke(&f, json!({}), InvocationType::RequestResponse)
        .await
        .unwrap_err();
    assert!(matches!(e, InvokeError::NotActive { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_invocations_return_at_once_and_idle_workers_are_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(
        dir.path(),
        RuntimeOptions {
            idle_timeout: Duration::from_secs(1),
            ..quick()
        },
    );
    let code = "import time\ndef main_handler(e, c):\n    time.sleep(1)\n    print('done', e['k'])\n    return e['k']\n";
    let f = deploy(&c, "async", code, 3);
    // Resolve the interpreter first: the call below then only checks and queues.
    let warm = deploy(&c, "warmup", "def main_handler(e, c):\n    return 1\n", 3);
    call(&c, &warm, json!({})).await.outcome.unwrap();
    let started = Instant::now();
    let out = c
        .runtime()
        .invoke(&f, json!({"k": "x"}), InvocationType::Event)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.outcome.unwrap(), Value::Null);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rec = loop {
        let r = logs::list(c.store(), "ap-guangzhou", "default", "async").unwrap();
        if let Some(r) = r.into_iter().next() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the event invocation was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rec.request_id, out.request_id);
    assert_eq!(rec.ret_msg, "\"x\"");
    assert_eq!(rec.invocation_type, "Event");
    assert!(rec.log.contains("done x"), "{}", rec.log);
    assert_eq!(c.runtime().idle_workers(&f).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.runtime().idle_workers(&f).is_empty() {
        assert!(Instant::now() < deadline, "idle worker not reaped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_functions_and_interpreters_are_invoke_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let missing = FunctionRef {
        region: "ap-guangzhou".into(),
        namespace: "default".into(),
        name: "ghost".into(),
    };
    let e = c
        .runtime()
        .invoke(&missing, json!({}), InvocationType::RequestResponse)
        .await
        .unwrap_err();
    assert_eq!(e, InvokeError::FunctionNotFound("ghost".into()));

    // A deleted function's workers go with it.
    let gone = deploy(&c, "gone", "def main_handler(e, c):\n    return 1\n", 3);
    call(&c, &gone, json!({})).await.outcome.unwrap();
    assert_eq!(c.runtime().idle_workers(&gone).len(), 1);
    let key = scf::key(&gone.region, &gone.namespace, &gone.name);
    c.store()
        .write(|tx| -> Result<bool, StoreError> { tx.delete(TABLE, &key) })
        .unwrap();
    let e = c
        .runtime()
        .invoke(&gone, json!({}), InvocationType::RequestResponse)
        .await
        .unwrap_err();
    assert_eq!(e, InvokeError::FunctionNotFound("gone".into()));
    assert!(c.runtime().idle_workers(&gone).is_empty());

    let d = tempfile::tempdir().unwrap();
    let no_python = cloud(
        d.path(),
        RuntimeOptions {
            python: Some(PathBuf::from("/nonexistent/python3")),
            ..quick()
        },
    );
    let f = deploy(&no_python, "fn", ECHO, 3);
    let e = no_python
        .runtime()
        .invoke(&f, json!({}), InvocationType::RequestResponse)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, InvokeError::PythonUnavailable(m) if m.contains("CHATSTACK_PYTHON")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_data_dir_works() {
    // `chatstack local` defaults to `.chatstack/local`; workers run elsewhere (their code dir).
    let dir = tempfile::tempdir_in(".").unwrap();
    let relative = Path::new(dir.path().file_name().unwrap());
    assert!(relative.is_relative() && relative.is_dir());
    let c = cloud(relative, quick());
    let f = deploy(&c, "rel", "def main_handler(e, c):\n    return 'fine'\n", 3);
    assert_eq!(call(&c, &f, json!({})).await.outcome.unwrap(), "fine");
}

/// A module whose import sleeps `secs` seconds, then a trivial handler.
fn slow_import(secs: f64) -> String {
    format!(
        "import os, time\nprint('loading')\ntime.sleep({secs})\n\
         def main_handler(event, context):\n    return os.getpid()\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_code_is_not_on_the_invocation_clock() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    // Import takes 2 s, Timeout is 1 s: the first invocation still succeeds (InitTimeout 65).
    let f = deploy(&c, "slowimport", &slow_import(2.0), 1);
    let t = Instant::now();
    let out = call(&c, &f, json!({})).await;
    let pid = out.outcome.expect("first invocation succeeds");
    assert!(out.log.contains("loading"), "{}", out.log);
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert!(out.duration_ms < 1000.0, "{}", out.duration_ms);
    // Warm afterwards.
    let again = call(&c, &f, json!({})).await;
    assert_eq!(again.outcome.unwrap(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_past_init_timeout_fails_and_the_next_invocation_retries() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let f = deploy_init(&c, "slowinit", &slow_import(3.0), 10, 1);
    for _ in 0..2 {
        let out = call(&c, &f, json!({})).await;
        let err = out.outcome.clone().unwrap_err();
        assert_eq!(err.kind, FunctionErrorKind::InitTimeout);
        assert_eq!(err.kind.status_code(), 446);
        assert_eq!(
            err.message,
            "Function initialization timed out after 1 seconds (InitTimeout)"
        );
        assert!(out.log.contains("loading"), "{}", out.log);
        assert!(scf_log(&out, 256).contains("Function initialization timed out"));
        assert!(c.runtime().idle_workers(&f).is_empty());
    }
    // A process that ends while loading is a crash, with what it printed.
    let e = deploy(&c, "exits", "print('bye')\nraise SystemExit(3)\n", 10);
    let out = call(&c, &e, json!({})).await;
    let err = out.outcome.unwrap_err();
    assert_eq!(err.kind, FunctionErrorKind::Crash);
    assert!(
        err.message.contains("exited while loading the code"),
        "{err:?}"
    );
    // With room to load, the same code runs (a new worker: init is retried every time).
    let g = deploy_init(&c, "slowinit", &slow_import(0.2), 10, 5);
    assert!(call(&c, &g, json!({})).await.outcome.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_first_invocations_with_a_short_timeout_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    // Every new worker loads for longer than the 1 s Timeout (and 16 start at once on a small
    // machine): loading is bounded by InitTimeout, so all 16 first invocations succeed.
    let f = deploy(&c, "burst", &slow_import(1.2), 1);
    let calls = (0..16).map(|i| {
        let (c, f) = (c.clone(), f.clone());
        tokio::spawn(async move { call(&c, &f, json!({ "i": i })).await })
    });
    let outs = futures_util::future::join_all(calls).await;
    for o in outs {
        let o = o.unwrap();
        assert!(o.outcome.is_ok(), "{:?}\n{}", o.outcome, o.log);
    }
}

/// A handler reporting its process, its parent and where its module was initialised.
const WHO: &str = r#"
import os, sys, time
INIT_PID = os.getpid()
print("init in", INIT_PID)
def main_handler(event, context):
    time.sleep(event.get("sleep", 0))
    import signal
    return {"pid": os.getpid(), "ppid": os.getppid(), "init_pid": INIT_PID,
            "hash_randomization": sys.flags.hash_randomization,
            "preloaded": "qcloud_cos" in sys.modules, "argv": sys.argv[1:],
            "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forked_workers_still_initialise_the_function_each() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let f = deploy(&c, "who", WHO, 10);
    let (a, b) = tokio::join!(
        call(&c, &f, json!({"sleep": 0.5})),
        call(&c, &f, json!({"sleep": 0.5}))
    );
    let (va, vb) = (a.outcome.unwrap(), b.outcome.unwrap());
    assert_ne!(
        va["pid"], vb["pid"],
        "two concurrent invocations, two workers"
    );
    for (v, log) in [(&va, &a.log), (&vb, &b.log)] {
        // The module ran in the worker itself, not once in the fork server.
        assert_eq!(v["init_pid"], v["pid"]);
        assert!(log.contains(&format!("init in {}", v["pid"])), "{log}");
        // Forked by the fork server, not started by us.
        assert_ne!(v["ppid"], json!(std::process::id()));
        assert_eq!(v["ppid"], va["ppid"], "one fork server");
        // And otherwise like a worker started on its own.
        assert_eq!(v["argv"], json!([]));
        assert_eq!(v["sigint"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interpreter_start_variables_get_an_interpreter_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let f = deploy_with(
        &c,
        "seeded",
        &[("index.py", WHO)],
        &[("PYTHONHASHSEED", "0")],
        10,
        scf::DEFAULT_INIT_TIMEOUT,
    );
    let v = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(
        v["ppid"],
        json!(std::process::id()),
        "started by us, not forked"
    );
    assert_eq!(v["hash_randomization"], 0, "PYTHONHASHSEED took effect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_that_ships_a_preloaded_package_imports_its_own_copy() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let index = r#"
import requests
def main_handler(event, context):
    return {"mark": getattr(requests, "MARK", None), "file": requests.__file__}
"#;
    let f = deploy_with(
        &c,
        "vendored",
        &[
            ("index.py", index),
            ("requests/__init__.py", "MARK = 'vendored'\n"),
        ],
        &[],
        10,
        scf::DEFAULT_INIT_TIMEOUT,
    );
    let v = call(&c, &f, json!({})).await.outcome.unwrap();
    assert_eq!(v["mark"], "vendored", "{v}");
    // And a function that does not ship one gets the preloaded one.
    let g = deploy(&c, "plain", WHO, 10);
    let w = call(&c, &g, json!({})).await.outcome.unwrap();
    assert_ne!(w["ppid"], json!(std::process::id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_cloud_ends_the_fork_server_and_its_workers() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path(), quick());
    let f = deploy(&c, "who", WHO, 10);
    let v = call(&c, &f, json!({})).await.outcome.unwrap();
    let pids = [v["pid"].as_u64().unwrap(), v["ppid"].as_u64().unwrap()];
    let alive = |pid: u64| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(pids.iter().all(|p| alive(*p)));
    drop(c);
    let until = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for p in pids {
        assert!(!alive(p), "process {p} outlived the local cloud");
    }
}
