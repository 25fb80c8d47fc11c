//! What a worker sees: its process environment ([`worker_env`]: nothing of ours but the basics,
//! the function's variables, SCF's) and the `context` its handler gets ([`context_template`]),
//! and whether it may be forked from the fork server ([`forkable`]).

use std::path::Path;

use serde_json::{Map, Value};

use super::python;
use crate::localcloud::account::TempCredentials;
use crate::localcloud::model::function::FunctionRecord;

/// SCF's Python `context` of `r`'s invocations, but for `request_id`, which
/// [`context_for`] adds to a copy: made once per code version (see `Pool`), not per frame.
pub(super) fn context_template(appid: u64, r: &FunctionRecord) -> Map<String, Value> {
    let mut vars: Map<String, Value> = r
        .environment
        .iter()
        .map(|kv| (kv.key.clone(), Value::String(kv.value.clone())))
        .collect();
    vars.insert("SCF_NAMESPACE".into(), Value::String(r.namespace.clone()));
    let environ: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let appid = appid.to_string();
    let context = serde_json::json!({
        "function_name": r.name,
        "function_version": "$LATEST",
        "namespace": r.namespace,
        "memory_limit_in_mb": r.memory_size,
        "time_limit_in_ms": u64::from(r.timeout) * 1000,
        "environment": Value::Object(vars).to_string(),
        "environ": environ.join(";"),
        "tencentcloud_region": r.region,
        "tencentcloud_appid": appid,
        "tencentcloud_uin": appid,
    });
    match context {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The `context` of one invocation: the version's template with its `request_id`.
pub(super) fn context_for(template: &Map<String, Value>, request_id: &str) -> Value {
    let mut context = template.clone();
    context.insert("request_id".into(), Value::String(request_id.to_owned()));
    Value::Object(context)
}

/// The complete environment of a worker (nothing else from ours).
pub(super) fn worker_env(
    appid: u64,
    r: &FunctionRecord,
    code_dir: &Path,
    creds: Option<&TempCredentials>,
) -> Vec<(String, String)> {
    let code = code_dir.display().to_string();
    let mut env = python::basic_env();
    env.extend(
        r.environment
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone())),
    );
    // As in the cloud, only a function with an execution role gets credentials (API-FACTS
    // §2.8, §10.4); the variables are then SCF's, whatever the function's own say.
    if let Some(creds) = creds {
        env.extend([
            ("TENCENTCLOUD_SECRETID".to_owned(), creds.secret_id.clone()),
            (
                "TENCENTCLOUD_SECRETKEY".to_owned(),
                creds.secret_key.expose().to_owned(),
            ),
            (
                "TENCENTCLOUD_SESSIONTOKEN".to_owned(),
                creds.token.expose().to_owned(),
            ),
        ]);
    }
    let builtins = [
        ("TENCENTCLOUD_REGION", r.region.clone()),
        ("TENCENTCLOUD_APPID", appid.to_string()),
        ("TENCENTCLOUD_RUNENV", "SCF".to_owned()),
        ("SCF_FUNCTIONNAME", r.name.clone()),
        ("SCF_NAMESPACE", r.namespace.clone()),
        ("SCF_FUNCTIONVERSION", "$LATEST".to_owned()),
        ("SCF_RUNTIME", r.runtime.clone()),
        ("SCF_MEMORYSIZE", r.memory_size.to_string()),
        ("SCF_TIMEOUT", r.timeout.to_string()),
        ("USER_CODE_ROOT", code.clone()),
        ("PYTHONPATH", code),
    ];
    env.extend(builtins.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend(
        INTERPRETER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// The environment of a Web-function instance (`scf_bootstrap`): a worker's, but for
/// `PYTHONPATH` (the platform does not set it for Web functions; the script starts its own
/// interpreter in the code directory).
pub(crate) fn instance_env(
    appid: u64,
    r: &FunctionRecord,
    code_dir: &Path,
    creds: Option<&TempCredentials>,
) -> Vec<(String, String)> {
    let mut env = worker_env(appid, r, code_dir, creds);
    env.retain(|(k, _)| k != "PYTHONPATH");
    env
}

/// Interpreter settings every worker gets; the fork server starts with the same ones.
pub(super) const INTERPRETER_ENV: &[(&str, &str)] = &[
    ("PYTHONUNBUFFERED", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONIOENCODING", "utf-8"),
];

/// Whether a worker with environment `env` can be forked: nothing in it acts at interpreter or
/// process start (other `PYTHON*` variables such as `PYTHONHASHSEED`, `LD_*`) beyond what the
/// fork server started with. Otherwise it gets an interpreter of its own.
pub(super) fn forkable(env: &[(String, String)]) -> bool {
    env.iter().all(|(k, v)| {
        if k == "PYTHONPATH" {
            return true;
        }
        if let Some((_, ours)) = INTERPRETER_ENV.iter().find(|(name, _)| name == k) {
            return v == ours;
        }
        !k.starts_with("PYTHON") && !k.starts_with("LD_")
    })
}
