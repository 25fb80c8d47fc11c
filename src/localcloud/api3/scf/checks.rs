//! The parameter checks of CreateFunction and the updates: name, handler, memory, timeouts,
//! description, type, tags, environment (the limits themselves live in
//! [`crate::providers::tencent::limits`], shared with the stack-file checks).

use super::super::error::ApiError;
use crate::localcloud::model::function::KeyValue;
use crate::providers::tencent::limits;

/// [`limits::function_name_problem`]: 2–60 letters, digits, `-`, `_`, starting with a letter,
/// not ending in `-`/`_`.
pub(super) fn check_name(name: &str) -> Result<(), ApiError> {
    match limits::function_name_problem(name) {
        None => Ok(()),
        Some(_) => Err(ApiError::new(
            "InvalidParameterValue.FunctionName",
            format!(
                "FunctionName `{name}` is invalid: {}-{} letters, digits, `-` and `_`, starting with a letter and not ending with `-` or `_`.",
                limits::FUNCTION_NAME_LEN.start(),
                limits::FUNCTION_NAME_LEN.end()
            ),
        )),
    }
}

pub(super) fn check_handler(runtime: &str, handler: &str) -> Result<(), ApiError> {
    let chars_ok = !handler.is_empty()
        && handler.len() <= 60
        && handler
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_-./:".contains(&c));
    // Script runtimes need `file.function`; Go/Java/custom runtimes name a binary or class.
    let needs_dot = runtime.starts_with("Python")
        || runtime.starts_with("Nodejs")
        || runtime.starts_with("Php");
    let shape_ok = !needs_dot
        || handler.rsplit_once('.').is_some_and(|(file, func)| {
            !file.is_empty() && !func.is_empty() && !func.contains('/')
        });
    if chars_ok && shape_ok {
        Ok(())
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.Handler",
            format!(
                "Handler `{handler}` is invalid: expected `file.function`, e.g. `index.main_handler`."
            ),
        ))
    }
}

pub(super) fn check_memory(m: i64) -> Result<u32, ApiError> {
    match u32::try_from(m) {
        Ok(mb) if limits::is_memory_size(m) => Ok(mb),
        _ => Err(ApiError::new(
            "InvalidParameterValue.MemorySize",
            format!(
                "MemorySize {m} is invalid: {}, or {} to {} in steps of {}.",
                limits::MEMORY_MIN_MB,
                limits::MEMORY_STEP_MB,
                limits::MEMORY_MAX_MB,
                limits::MEMORY_STEP_MB
            ),
        )),
    }
}

pub(super) fn check_timeout(t: i64) -> Result<u32, ApiError> {
    check_seconds(
        t,
        *limits::TIMEOUT_SECS.end(),
        "Timeout",
        "LimitExceeded.Timeout",
    )
}

pub(super) fn check_init_timeout(t: i64) -> Result<u32, ApiError> {
    check_seconds(
        t,
        *limits::INIT_TIMEOUT_SECS.end(),
        "InitTimeout",
        "InvalidParameterValue.InitTimeout",
    )
}

/// `t` seconds within 1..=`max`, or error `code` naming `field`.
pub(super) fn check_seconds(
    t: i64,
    max: u32,
    field: &str,
    code: &'static str,
) -> Result<u32, ApiError> {
    match u32::try_from(t) {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(ApiError::new(
            code,
            format!("{field} {t} is out of range: 1 to {max} seconds."),
        )),
    }
}

pub(super) fn check_description(d: String) -> Result<String, ApiError> {
    if d.chars().count() > limits::DESCRIPTION_MAX_CHARS {
        return Err(ApiError::new(
            "InvalidParameterValue.Description",
            format!(
                "Description is longer than {} characters.",
                limits::DESCRIPTION_MAX_CHARS
            ),
        ));
    }
    Ok(d)
}

pub(super) fn check_type(t: String) -> Result<String, ApiError> {
    if t == "Event" || t == "HTTP" {
        Ok(t)
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.Type",
            format!("Type `{t}` must be Event or HTTP."),
        ))
    }
}

pub(super) fn check_tags(tags: Vec<KeyValue>) -> Result<Vec<KeyValue>, ApiError> {
    if let Some(t) = tags.iter().find(|t| t.key.is_empty()) {
        return Err(ApiError::new(
            "InvalidParameterValue.Tags",
            format!("A tag key is empty (value `{}`).", t.value),
        ));
    }
    Ok(tags)
}

/// Keys start with a letter and use `[A-Za-z0-9_]`, none reserved, total ≤ 4 KB (keys + values).
pub(super) fn check_environment(vars: Vec<KeyValue>) -> Result<Vec<KeyValue>, ApiError> {
    let mut total = 0;
    for v in &vars {
        if let Some(p) = limits::reserved_env_prefix(&v.key) {
            return Err(ApiError::new(
                "InvalidParameterValue.EnvironmentSystemProtect",
                format!(
                    "Environment variable `{}` uses the reserved prefix `{p}`.",
                    v.key
                ),
            ));
        }
        if !limits::is_env_key(&v.key) {
            return Err(ApiError::new(
                "InvalidParameterValue.Environment",
                format!(
                    "Environment variable name `{}` is invalid: a letter, then letters, digits and `_`.",
                    v.key
                ),
            ));
        }
        total += v.key.len() + v.value.len();
    }
    if total > limits::ENV_LIMIT_BYTES {
        return Err(ApiError::new(
            "InvalidParameterValue.EnvironmentExceededLimit",
            format!("The environment is {total} bytes, over the 4KB limit."),
        ));
    }
    Ok(vars)
}
