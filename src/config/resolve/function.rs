//! An `@serverless/tencent-scf` instance → [`Function`] (field table [`SCF_FIELDS`]): name,
//! runtime, handler, codeUri, limits, and its environment variables.
//!
//! SCF's limits come from [`limits`] (tencent/API-FACTS.md §2.1, §2.7), shared with the local
//! cloud:
//! - function name: [`limits::function_name_problem`];
//! - runtime: one of [`limits::creatable_runtimes`] (matched exactly; a case-insensitive match
//!   is suggested; a retired runtime is named as such);
//! - timeout [`limits::TIMEOUT_SECS`]; memorySize [`limits::is_memory_size`];
//! - environment keys [`limits::is_env_key`], none with a [`limits::reserved_env_prefix`]; the
//!   sum of key and value bytes at most [`limits::ENV_LIMIT_BYTES`], where a value that waits
//!   for a gateway output counts [`DEFERRED_RESERVE`] bytes for it (a push-back URL is ~75
//!   bytes).

use std::path::{Component as PathComponent, Path, PathBuf};

use super::super::diagnostic::{Error, ErrorKind, Source, suggest};
use super::super::model::*;
use super::super::raw::{Key, Span};
use super::interpolate::{Inst, RKind, RNode};
use super::view::{MapView, describe, number, number_in, same_region, text};
use crate::providers::tencent::limits::{self, FunctionNameProblem};

type Result<T> = std::result::Result<T, Error>;

/// Bytes counted for each gateway output in an environment value (see the module docs).
pub const DEFERRED_RESERVE: usize = 128;

const SCF_FIELDS: &[&str] = &[
    "name",
    "codeUri",
    "handler",
    "runtime",
    "region",
    "environment",
    "timeout",
    "memorySize",
    "role",
    "namespace",
    "description",
    "exclude",
];

/// What every function is checked against.
pub(super) struct FunctionCtx<'c> {
    pub(super) region: &'c str,
    pub(super) origin: &'c str,
    pub(super) gateway: &'c str,
    pub(super) file_dir: &'c Path,
}

pub(super) fn function(
    src: &Source<'_>,
    inst: &Inst<'_>,
    view: &MapView<'_>,
    cx: &FunctionCtx<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(Function, Span, Span)> {
    view.check_known(src, "an @serverless/tencent-scf instance", SCF_FIELDS)?;

    let name_node = view.required(src, "name", inst.name)?;
    let name = text(src, name_node, &view.path_of("name"))?;
    check_function_name(src, &name, name_node, &view.path_of("name"))?;

    let runtime_node = view.required(src, "runtime", "Python3.9")?;
    let runtime = text(src, runtime_node, &view.path_of("runtime"))?;
    if !limits::creatable_runtimes().any(|r| r == runtime) {
        let retired = limits::runtime(&runtime).is_some_and(|r| r.retired);
        let e = Error::at(
            src,
            ErrorKind::UnknownRuntime,
            runtime_node.span,
            Some(view.path_of("runtime")),
            if retired {
                format!("runtime `{runtime}` is retired: SCF no longer creates functions on it")
            } else {
                format!("unknown runtime `{runtime}`")
            },
        );
        let all = || limits::creatable_runtimes().collect::<Vec<_>>().join(", ");
        return Err(match suggest(&runtime, limits::creatable_runtimes()) {
            Some(s) if !retired => e.help(format!("did you mean `{s}`?")),
            _ => e.help(format!("SCF runtimes: {}", all())),
        });
    }

    let handler_node = view.required(src, "handler", "index.main_handler")?;
    let handler = text(src, handler_node, &view.path_of("handler"))?;
    check_handler(
        src,
        &handler,
        &runtime,
        handler_node,
        &view.path_of("handler"),
    )?;

    let code_node = view.required(src, "codeUri", "./code")?;
    let code_uri = text(src, code_node, &view.path_of("codeUri"))?;
    let code_dir = normalize(&cx.file_dir.join(&code_uri));
    if code_uri.trim().is_empty() || !code_dir.is_dir() {
        let what = if code_dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(Error::at(
            src,
            ErrorKind::CodeUriNotFound,
            code_node.span,
            Some(view.path_of("codeUri")),
            format!("codeUri `{code_uri}` {what} ({})", code_dir.display()),
        )
        .help("codeUri is the directory holding the function's code, relative to the stack file"));
    }

    let fn_region = match view.get("region") {
        Some(n) => same_region(src, n, &view.path_of("region"), cx.region, cx.origin)?,
        None => cx.region.to_owned(),
    };

    let timeout = match view.get("timeout") {
        Some(n) if !matches!(n.kind, RKind::Null) => {
            let p = view.path_of("timeout");
            let rule = &format!(
                "timeout is {}–{} seconds (default {})",
                limits::TIMEOUT_SECS.start(),
                limits::TIMEOUT_SECS.end(),
                limits::DEFAULT_TIMEOUT_SECS
            );
            number_in(
                src,
                n,
                p,
                "timeout",
                limits::TIMEOUT_SECS,
                ErrorKind::InvalidTimeout,
                rule,
            )?
        }
        _ => limits::DEFAULT_TIMEOUT_SECS,
    };
    let memory_size = match view.get("memorySize") {
        Some(n) if !matches!(n.kind, RKind::Null) => {
            let p = view.path_of("memorySize");
            let rule = &format!(
                "memorySize is {min}, or {step} to {max} in steps of {step} (MB; default {def})",
                min = limits::MEMORY_MIN_MB,
                step = limits::MEMORY_STEP_MB,
                max = limits::MEMORY_MAX_MB,
                def = limits::DEFAULT_MEMORY_MB,
            );
            let m = number(src, n, &p, rule)?;
            if !limits::is_memory_size(i64::from(m)) {
                let step = limits::MEMORY_STEP_MB;
                let near = if m < (limits::MEMORY_MIN_MB + step) / 2 {
                    limits::MEMORY_MIN_MB
                } else {
                    (m.div_ceil(step) * step).clamp(step, limits::MEMORY_MAX_MB)
                };
                return Err(Error::at(
                    src,
                    ErrorKind::InvalidMemorySize,
                    n.span,
                    Some(p),
                    format!("memorySize {m} is not a size SCF offers"),
                )
                .help(format!("{rule}; e.g. {near}")));
            }
            m
        }
        _ => limits::DEFAULT_MEMORY_MB,
    };
    let namespace = match view.get("namespace") {
        Some(n) => {
            let p = view.path_of("namespace");
            let ns = text(src, n, &p)?;
            let ok = limits::NAMESPACE_LEN.contains(&ns.len())
                && ns
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(Error::at(
                    src,
                    ErrorKind::InvalidValue,
                    n.span,
                    Some(p),
                    format!("invalid namespace `{ns}`"),
                )
                .help("namespaces are 1–30 letters, digits, `-` and `_` (default `default`)"));
            }
            ns
        }
        None => limits::DEFAULT_NAMESPACE.to_owned(),
    };
    let exec_role = view
        .get("role")
        .map(|n| text(src, n, &view.path_of("role")))
        .transpose()?
        .filter(|r| !r.is_empty());
    let description = match view.get("description") {
        Some(n) => {
            let p = view.path_of("description");
            let d = text(src, n, &p)?;
            if d.chars().count() > limits::DESCRIPTION_MAX_CHARS {
                return Err(Error::at(
                    src,
                    ErrorKind::InvalidValue,
                    n.span,
                    Some(p),
                    format!(
                        "description is longer than {} characters",
                        limits::DESCRIPTION_MAX_CHARS
                    ),
                ));
            }
            Some(d)
        }
        None => None,
    };
    let exclude = match view.get("exclude") {
        None => Vec::new(),
        Some(n) => {
            let p = view.path_of("exclude");
            match &n.kind {
                RKind::Null => Vec::new(),
                RKind::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| text(src, it, &format!("{p}.{i}")))
                    .collect::<Result<_>>()?,
                _ => {
                    return Err(Error::at(
                        src,
                        ErrorKind::WrongType,
                        n.span,
                        Some(p),
                        format!("`exclude` must be a list of globs, found {}", describe(n)),
                    )
                    .help("e.g. `exclude: ['tests/**', '*.md']`"));
                }
            }
        }
    };
    let environment = environment(src, inst, view, cx.gateway, warnings)?;

    Ok((
        Function {
            instance: inst.name.to_owned(),
            name,
            role: None,
            code_dir,
            exclude,
            handler,
            handler_location: src.location(handler_node.span.start),
            runtime,
            region: fn_region,
            namespace,
            timeout,
            memory_size,
            exec_role,
            description,
            environment,
        },
        name_node.span,
        view.key_span("environment"),
    ))
}

fn check_function_name(src: &Source<'_>, name: &str, n: &RNode, path: &str) -> Result<()> {
    let problem = limits::function_name_problem(name).map(|p| match p {
        FunctionNameProblem::Length(len) => format!("is {len} characters long"),
        FunctionNameProblem::FirstNotLetter => "does not start with a letter".to_owned(),
        FunctionNameProblem::BadChar(c) => format!("contains `{c}`"),
        FunctionNameProblem::BadEnd => "ends with `-` or `_`".to_owned(),
    });
    match problem {
        None => Ok(()),
        Some(p) => Err(Error::at(
            src,
            ErrorKind::InvalidFunctionName,
            n.span,
            Some(path.to_owned()),
            format!("invalid function name `{name}`: it {p}"),
        )
        .help(
            "SCF function names are 2–60 letters, digits, `-` and `_`, start with a letter and \
             do not end with `-` or `_`",
        )),
    }
}

/// `module.function` (the module may sit in subdirectories: `src/reg.main_handler`); for Go1
/// the executable's name, for CustomRuntime anything (the package's `bootstrap` runs).
fn check_handler(
    src: &Source<'_>,
    handler: &str,
    runtime: &str,
    n: &RNode,
    path: &str,
) -> Result<()> {
    let file_like = |s: &str| {
        !s.is_empty()
            && !s.starts_with('/')
            && !s.split('/').any(|p| p.is_empty() || p == "..")
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'))
    };
    let ok = match handler.rsplit_once('.') {
        _ if runtime == "Go1" => file_like(handler),
        _ if runtime == "CustomRuntime" => {
            !handler.is_empty() && !handler.contains(char::is_whitespace)
        }
        Some((module, func)) => {
            file_like(module)
                && !func.is_empty()
                && func
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | ':'))
        }
        None => false,
    };
    if ok {
        return Ok(());
    }
    Err(Error::at(
        src,
        ErrorKind::InvalidHandler,
        n.span,
        Some(path.to_owned()),
        format!("invalid handler `{handler}`"),
    )
    .help(if runtime == "Go1" {
        "for Go1 the handler is the name of the executable in the package, e.g. `main`"
    } else {
        "a handler is `module.function`: the file name without extension, a dot, and the \
         function to call, e.g. `index.main_handler` for main_handler in index.py"
    }))
}

fn environment(
    src: &Source<'_>,
    inst: &Inst<'_>,
    view: &MapView<'_>,
    gateway: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<EnvVar>> {
    let Some(env_node) = view.get("environment") else {
        return Ok(Vec::new());
    };
    let ev = MapView::of(
        src,
        env_node,
        view.path_of("environment"),
        view.key_span("environment"),
    )?;
    ev.check_known(src, "`environment`", &["variables"])?;
    let Some(vars_node) = ev.get("variables") else {
        return Ok(Vec::new());
    };
    let vv = MapView::of(
        src,
        vars_node,
        ev.path_of("variables"),
        ev.key_span("variables"),
    )?;
    let mut out = Vec::new();
    for (k, n) in vv.entries {
        let p = vv.path_of(&k.name);
        check_env_key(src, k, &p)?;
        let mut value = match &n.kind {
            RKind::Null => Value::literal(""),
            RKind::Scalar(segs) => Value(segs.clone()),
            _ => {
                return Err(Error::at(
                    src,
                    ErrorKind::WrongType,
                    n.span,
                    Some(p),
                    format!(
                        "environment variable `{}` must be a single value, found {}",
                        k.name,
                        describe(n)
                    ),
                )
                .help(
                    "environment values are strings; reference one value, e.g. `${Conf.region}`",
                ));
            }
        };
        let sensitive = n.sensitive || looks_secret(&k.name);
        if let [Segment::Literal(lit)] = value.0.as_slice() {
            if is_pushback_literal(lit) {
                warnings.push(Warning {
                    location: src.location(n.span.start),
                    message: format!(
                        "{p} is a hard-coded API Gateway push-back address; it is replaced by \
                         this stack's live push-back URL. Write `${{{}.internalDomain}}` to say so",
                        gateway
                    ),
                });
                value = Value(vec![Segment::Deferred(Deferred::PushbackUrl)]);
            } else if sensitive && !lit.is_empty() {
                warnings.push(Warning {
                    location: src.location(n.span.start),
                    message: format!(
                        "{p} puts a secret in function `{}`'s configuration in plain text; give \
                         the function an execution role (`role:`) and use the temporary \
                         credentials SCF injects (TENCENTCLOUD_SECRETID, …) instead",
                        inst.name
                    ),
                });
            }
        }
        out.push(EnvVar {
            key: k.name.clone(),
            value,
            sensitive,
        });
    }
    Ok(out)
}

fn check_env_key(src: &Source<'_>, k: &Key, path: &str) -> Result<()> {
    let name = &k.name;
    if !limits::is_env_key(name) {
        return Err(Error::at(
            src,
            ErrorKind::InvalidEnvKey,
            k.span,
            Some(path.to_owned()),
            format!("invalid environment variable name `{name}`"),
        )
        .help("names start with a letter and use letters, digits and `_`"));
    }
    if let Some(prefix) = limits::reserved_env_prefix(name) {
        return Err(Error::at(
            src,
            ErrorKind::ReservedEnvKey,
            k.span,
            Some(path.to_owned()),
            format!("`{name}` starts with `{prefix}`, which SCF reserves for its own variables"),
        )
        .help("rename the variable"));
    }
    Ok(())
}

/// `http://set-….apigateway.tencentyun.com/…`: a push-back address copied from a console.
fn is_pushback_literal(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    let Some(rest) = v
        .strip_prefix("http://set-")
        .or_else(|| v.strip_prefix("https://set-"))
    else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    host.ends_with(".apigateway.tencentyun.com")
}

pub(super) fn check_env_size(src: &Source<'_>, f: &Function, at: Span) -> Result<()> {
    let size: usize = f
        .environment
        .iter()
        .map(|v| {
            v.key.len()
                + v.value
                    .0
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.len(),
                        Segment::Deferred(_) => DEFERRED_RESERVE,
                    })
                    .sum::<usize>()
        })
        .sum();
    if size <= limits::ENV_LIMIT_BYTES {
        return Ok(());
    }
    Err(Error::at(
        src,
        ErrorKind::EnvTooLarge,
        at,
        Some(format!("{}.inputs.environment.variables", f.instance)),
        format!(
            "function `{}`'s environment is {size} bytes, over SCF's {}",
            f.name,
            limits::ENV_LIMIT_BYTES
        ),
    )
    .help(format!(
        "keys and values count (each gateway output reserves {DEFERRED_RESERVE} bytes); keep \
         large data in the bucket and its name in a variable"
    )))
}

/// Drops `.` components (`/stack/./code` → `/stack/code`); `..` is kept.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, PathComponent::CurDir))
        .collect()
}
