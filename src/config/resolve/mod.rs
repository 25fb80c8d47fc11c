//! Node tree → [`Stack`]: interpolation, defaults and every check (DESIGN §3, §6).
//!
//! Pure: the caller reads the file and passes the environment in. One pass per instance
//! resolves `${…}` on the located tree; the resolved tree is then typed against the
//! component's field table. Nothing downstream re-validates.
//!
//! This file owns the entry point, [`resolve`], and the orchestration around it: the stage
//! check, reading the top-level instances and their components ([`COMPONENTS`]), the
//! one-of-each rule for the bucket and the gateway, binding the endpoint's functions to the
//! `scf` instances, the per-function environment checks, and file credentials. The work
//! itself is in the children, which never import from here:
//! - [`interpolate`]: the `${…}` engine (the instances it resolves against, and the resolved
//!   tree it produces);
//! - [`view`]: the typed view over a resolved node (field tables, text, numbers, regions);
//! - [`gateway`], [`bucket`], [`function`]: one builder per component, each with its field
//!   table and its own checks.

mod bucket;
mod function;
mod gateway;
mod interpolate;
mod view;

use std::path::{Path, PathBuf};

use self::bucket::bucket;
use self::function::{FunctionCtx, check_env_size, function};
use self::gateway::gateway;
use self::interpolate::{Component, Inst, RKind, RNode, Resolver};
use self::view::{MapView, text, unknown_field};
use super::diagnostic::{Error, ErrorKind, Source, list_or_none, suggest};
use super::model::*;
use super::raw::{Node, NodeKind, Span};
use crate::secret::Secret;

pub use self::function::DEFERRED_RESERVE;

const COMPONENTS: &[(&str, Component)] = &[
    ("serverless-global", Component::Global),
    ("global", Component::Global),
    ("@serverless/tencent-cos", Component::Cos),
    ("cos", Component::Cos),
    ("@serverless/tencent-apigateway", Component::ApiGateway),
    ("apigateway", Component::ApiGateway),
    ("@serverless/tencent-scf", Component::Scf),
    ("scf", Component::Scf),
];

type Result<T> = std::result::Result<T, Error>;

/// Builds the stack from the parsed tree.
pub(crate) fn resolve(
    src: &Source<'_>,
    root: &Node,
    file: &Path,
    opts: &LoadOptions,
) -> Result<Stack> {
    check_stage(src, &opts.stage)?;
    let insts = instances(src, root)?;

    // Index of the one instance of a component that must be unique.
    let unique = |c: Component, what: &str, long: &str| -> Result<usize> {
        let mut found = insts
            .iter()
            .enumerate()
            .filter(|(_, i)| i.component == c)
            .map(|(n, _)| n);
        let first = found.next().ok_or_else(|| {
            Error::at(
                src,
                ErrorKind::MissingInstance,
                root.span,
                None,
                format!("the stack has no {what} instance"),
            )
            .help(format!(
                "add one: `myInstance:` with `component: '{long}'` and its `inputs`"
            ))
        })?;
        if let Some(second) = found.next() {
            let (first, second) = (&insts[first], &insts[second]);
            return Err(Error::at(
                src,
                ErrorKind::DuplicateInstance,
                second.name_span,
                Some(second.name.to_owned()),
                format!(
                    "a second {what} instance (`{}` is already one); a stack has exactly one",
                    first.name
                ),
            )
            .help(format!("remove `{}` or `{}`", first.name, second.name)));
        }
        Ok(first)
    };
    let cos = unique(Component::Cos, "COS bucket", "@serverless/tencent-cos")?;
    let apigw = unique(
        Component::ApiGateway,
        "API Gateway",
        "@serverless/tencent-apigateway",
    )?;

    let mut resolver = Resolver::new(src, &insts, opts, insts[apigw].name);
    let mut resolved = Vec::with_capacity(insts.len());
    for inst in &insts {
        let node = match inst.inputs {
            Some(n) => resolver.node(n, &format!("{}.inputs", inst.name))?,
            None => RNode {
                kind: RKind::Null,
                span: inst.name_span,
                sensitive: false,
            },
        };
        resolved.push(node);
    }
    let inputs_of = |i: usize| -> Result<MapView<'_>> {
        let inst = &insts[i];
        MapView::of(
            src,
            &resolved[i],
            format!("{}.inputs", inst.name),
            inst.inputs_span,
        )
    };

    let mut warnings = Vec::new();

    // The gateway decides the stack's name and region.
    let gw_inputs = inputs_of(apigw)?;
    let (gateway, bindings) = gateway(src, &insts[apigw], &gw_inputs)?;
    let region = gateway.region.clone();
    let region_origin = format!(
        "{} ({})",
        gw_inputs.path_of("region"),
        gw_inputs
            .get("region")
            .map(|n| src.location(n.span.start))
            .unwrap_or_default()
    );

    let cos_inputs = inputs_of(cos)?;
    let bucket = bucket(src, &insts[cos], &cos_inputs, &region, &region_origin)?;

    let file_dir = file_dir(file);
    let mut functions: Vec<Function> = Vec::new();
    // (name, environment) spans of each function, for later checks.
    let mut function_spans: Vec<(Span, Span)> = Vec::new();
    for (i, inst) in insts.iter().enumerate() {
        if inst.component != Component::Scf {
            continue;
        }
        let view = inputs_of(i)?;
        let cx = FunctionCtx {
            region: &region,
            origin: &region_origin,
            gateway: insts[apigw].name,
            file_dir: &file_dir,
        };
        let (f, name_span, env_span) = function(src, inst, &view, &cx, &mut warnings)?;
        if let Some(prev) = functions.iter().find(|p| p.name == f.name) {
            return Err(Error::at(
                src,
                ErrorKind::DuplicateFunction,
                name_span,
                Some(view.path_of("name")),
                format!(
                    "function name `{}` is already used by instance `{}`",
                    f.name, prev.instance
                ),
            )
            .help("SCF function names are unique per namespace: rename one of them"));
        }
        functions.push(f);
        function_spans.push((name_span, env_span));
    }

    // Bind the endpoint's functions.
    for (role, binding) in &bindings {
        let Some(f) = functions.iter_mut().find(|f| f.name == binding.name) else {
            let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
            let mut e = Error::at(
                src,
                ErrorKind::UnknownFunction,
                binding.span,
                Some(binding.path.clone()),
                format!(
                    "no scf instance defines a function named `{}`",
                    binding.name
                ),
            );
            e = match suggest(&binding.name, names.iter().copied()) {
                Some(s) => e.help(format!("did you mean `{s}`?")),
                None => e.help(format!(
                    "define an `@serverless/tencent-scf` instance with `name: {}` (defined: {})",
                    binding.name,
                    list_or_none(&names)
                )),
            };
            return Err(e);
        };
        if let Some(other) = f.role {
            return Err(Error::at(
                src,
                ErrorKind::InvalidValue,
                binding.span,
                Some(binding.path.clone()),
                format!(
                    "function `{}` is already the {} function; one function cannot be both",
                    f.name,
                    other.as_str()
                ),
            )
            .help("give register, transport and cleanup three different functions"));
        }
        f.role = Some(*role);
    }
    for (f, &(name_span, env_span)) in functions.iter_mut().zip(&function_spans) {
        if f.role.is_none() {
            warnings.push(Warning {
                location: src.location(name_span.start),
                message: format!(
                    "function `{}` is not bound to the WebSocket endpoint; it is deployed but \
                     nothing invokes it",
                    f.name
                ),
            });
        }
        if f.role.is_some() && !f.environment.iter().any(|v| v.key == "PUSHBACK_URL") {
            f.environment.push(EnvVar {
                key: "PUSHBACK_URL".to_owned(),
                value: Value(vec![Segment::Deferred(Deferred::PushbackUrl)]),
                sensitive: false,
            });
        }
        check_env_size(src, f, env_span)?;
    }

    // Credentials in a global instance.
    let mut file_credentials = None;
    for (i, inst) in insts.iter().enumerate() {
        if inst.component != Component::Global {
            continue;
        }
        let view = inputs_of(i)?;
        let id = view
            .get("secret_id")
            .map(|n| text(src, n, &view.path_of("secret_id")));
        let key = view
            .get("secret_key")
            .map(|n| text(src, n, &view.path_of("secret_key")));
        let id = id.transpose()?.unwrap_or_default();
        let key = key.transpose()?.unwrap_or_default();
        let at = view
            .get("secret_id")
            .or(view.get("secret_key"))
            .map_or(inst.name_span, |n| n.span);
        if !id.is_empty() && !key.is_empty() {
            if file_credentials.is_none() {
                file_credentials = Some(FileCredentials {
                    secret_id: id,
                    secret_key: Secret::new(key),
                });
            }
            warnings.push(Warning {
                location: src.location(at.start),
                message: format!(
                    "`{}` carries credentials (secret_id/secret_key); they are used only when \
                     neither TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY nor a tccli profile \
                     is set. Prefer those, and keep secrets out of files under version control",
                    inst.name
                ),
            });
        } else if !id.is_empty() || !key.is_empty() {
            warnings.push(Warning {
                location: src.location(at.start),
                message: format!(
                    "`{}` sets only one of secret_id/secret_key; the pair is ignored",
                    inst.name
                ),
            });
        }
    }

    Ok(Stack {
        path: file.to_path_buf(),
        name: gateway.service_name.clone(),
        stage: opts.stage.clone(),
        region,
        file_credentials,
        bucket,
        gateway,
        functions,
        warnings,
    })
}

fn check_stage(src: &Source<'_>, stage: &str) -> Result<()> {
    let ok = (1..=20).contains(&stage.len())
        && stage
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !stage.starts_with('-')
        && !stage.ends_with('-');
    if ok {
        return Ok(());
    }
    Err(Error::general(
        src.name,
        ErrorKind::InvalidStage,
        format!("invalid stage name `{stage}`"),
    )
    .help(
        "a stage is 1–20 lowercase letters, digits and `-`, not starting or ending with `-` \
         (e.g. `--stage dev`)",
    ))
}

fn instances<'a>(src: &Source<'_>, root: &'a Node) -> Result<Vec<Inst<'a>>> {
    let entries = match &root.kind {
        NodeKind::Map(entries) if !entries.is_empty() => entries,
        NodeKind::Null | NodeKind::Map(_) => {
            return Err(Error::at(
                src,
                ErrorKind::MissingInstance,
                root.span,
                None,
                "the stack file is empty",
            )
            .help("run `chatstack init` to write an example stack file"));
        }
        _ => {
            return Err(Error::at(
                src,
                ErrorKind::WrongType,
                root.span,
                None,
                "the stack file must be a mapping of instance names to `{component, inputs}`",
            )
            .help("e.g. `myBucket:` then, indented, `component: cos` and `inputs:`"));
        }
    };
    let mut out = Vec::new();
    for (key, node) in entries {
        let NodeKind::Map(fields) = &node.kind else {
            return Err(Error::at(
                src,
                ErrorKind::WrongType,
                key.span,
                Some(key.name.clone()),
                format!(
                    "top-level `{}` must be an instance: a mapping with `component` and `inputs`",
                    key.name
                ),
            )
            .help("each top-level key names an instance, e.g. `myBucket:` with `component: cos`"));
        };
        let mut component = None;
        let mut inputs = None;
        let mut inputs_span = key.span;
        for (k, v) in fields {
            match k.name.as_str() {
                "component" => component = Some((k, v)),
                "inputs" => {
                    inputs = Some(v);
                    inputs_span = k.span;
                }
                other => {
                    return Err(unknown_field(
                        src,
                        k,
                        &format!("{}.{other}", key.name),
                        &format!("instance `{}`", key.name),
                        &["component", "inputs"],
                    ));
                }
            }
        }
        let Some((ck, cv)) = component else {
            return Err(Error::at(
                src,
                ErrorKind::MissingField,
                key.span,
                Some(format!("{}.component", key.name)),
                format!("instance `{}` has no `component`", key.name),
            )
            .help(
                "add `component:` — one of serverless-global, @serverless/tencent-cos, \
                 @serverless/tencent-apigateway, @serverless/tencent-scf (or global, cos, \
                 apigateway, scf)",
            ));
        };
        let path = format!("{}.component", key.name);
        let NodeKind::Scalar { text: cname, .. } = &cv.kind else {
            return Err(Error::at(
                src,
                ErrorKind::WrongType,
                if cv.kind == NodeKind::Null {
                    ck.span
                } else {
                    cv.span
                },
                Some(path),
                "`component` must be a component name",
            ));
        };
        // `@serverless/tencent-scf@1.2.3` pins a version in Serverless Components v1.
        let bare = match cname.rfind('@') {
            Some(i) if i > 0 => &cname[..i],
            _ => cname.as_str(),
        };
        let Some(&(_, c)) = COMPONENTS.iter().find(|(n, _)| *n == bare) else {
            let mut e = Error::at(
                src,
                ErrorKind::UnknownComponent,
                cv.span,
                Some(path),
                format!("unknown component `{cname}`"),
            );
            let names = COMPONENTS.iter().map(|(n, _)| *n);
            e = match suggest(bare, names) {
                Some(s) => e.help(format!("did you mean `{s}`?")),
                None => e.help(
                    "chatstack knows serverless-global, @serverless/tencent-cos, \
                     @serverless/tencent-apigateway and @serverless/tencent-scf (or global, \
                     cos, apigateway, scf)",
                ),
            };
            return Err(e);
        };
        out.push(Inst {
            name: &key.name,
            name_span: key.span,
            component: c,
            inputs,
            inputs_span,
        });
    }
    Ok(out)
}

fn file_dir(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}
