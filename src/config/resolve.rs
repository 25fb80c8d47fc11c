//! Node tree → [`Stack`]: interpolation, defaults and every check (DESIGN §3, §6).
//!
//! Pure: the caller reads the file and passes the environment in. One pass per instance
//! resolves `${…}` on the located tree; the resolved tree is then typed against the
//! component's field table. Nothing downstream re-validates.
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
//!   bytes);
//! - bucket: lowercase letters, digits and `-`, not starting or ending with `-`, at most 50
//!   characters before the `-APPID` suffix; a trailing `-` + 7–12 digits is taken as the APPID.

use std::collections::HashMap;
use std::path::{Component as PathComponent, Path, PathBuf};

use super::diagnostic::{Error, ErrorKind, Source};
use super::model::*;
use super::raw::{Key, Node, NodeKind, Span};
use crate::providers::tencent::limits::{self, FunctionNameProblem};
use crate::secret::Secret;

/// Bytes counted for each gateway output in an environment value (see the module docs).
pub const DEFERRED_RESERVE: usize = 128;

/// Longest string interpolation may build (far above any field's own limit).
const MAX_VALUE: usize = 64 * 1024;

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

const COS_FIELDS: &[&str] = &["bucket", "region"];
const APIGW_FIELDS: &[&str] = &[
    "region",
    "serviceName",
    "description",
    "protocols",
    "environment",
    "endpoints",
];
const ENDPOINT_FIELDS: &[&str] = &[
    "path",
    "method",
    "protocol",
    "serviceTimeout",
    "function",
    "description",
];
const WS_FUNCTION_FIELDS: &[&str] = &[
    "transportFunctionName",
    "registerFunctionName",
    "cleanupFunctionName",
];
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Global,
    Cos,
    ApiGateway,
    Scf,
}

/// One top-level instance, as written.
#[derive(Debug)]
struct Inst<'a> {
    name: &'a str,
    name_span: Span,
    component: Component,
    inputs: Option<&'a Node>,
    /// The `inputs` key, or the instance name when there is none: where a missing input is
    /// reported.
    inputs_span: Span,
}

/// A node after interpolation.
#[derive(Debug, Clone)]
struct RNode {
    kind: RKind,
    /// Where it is written (for a whole-value reference: where the reference is written).
    span: Span,
    /// Whether it came from something that looks like a secret (`Conf.secret_key`, …).
    sensitive: bool,
}

#[derive(Debug, Clone)]
enum RKind {
    Null,
    Scalar(Vec<Segment>),
    Seq(Vec<RNode>),
    Map(Vec<(Key, RNode)>),
}

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

    let mut resolver = Resolver {
        src,
        insts: &insts,
        opts,
        gateway: insts[apigw].name,
        stack: Vec::new(),
        cache: HashMap::new(),
    };
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

struct Resolver<'s, 'a> {
    src: &'s Source<'s>,
    insts: &'s [Inst<'a>],
    opts: &'s LoadOptions,
    gateway: &'s str,
    /// YAML paths of the nodes being resolved, for cycle detection.
    stack: Vec<String>,
    /// Reference targets already resolved, by YAML path (keeps `${a}${a}` chains linear).
    cache: HashMap<String, RNode>,
}

enum Resolved {
    /// The whole value of a reference (may be a mapping or a list).
    Node(RNode),
    /// Text known now or at deploy.
    Segments(Vec<Segment>, bool),
}

impl Resolver<'_, '_> {
    /// Resolves `node`, written at `path`; `path` stays on the stack meanwhile, so a reference
    /// back to it (or to an ancestor) is a cycle.
    fn node(&mut self, node: &Node, path: &str) -> Result<RNode> {
        self.stack.push(path.to_owned());
        let out = self.node_inner(node, path);
        self.stack.pop();
        out
    }

    fn node_inner(&mut self, node: &Node, path: &str) -> Result<RNode> {
        let kind = match &node.kind {
            NodeKind::Null => RKind::Null,
            NodeKind::Seq(items) => RKind::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.node(n, &format!("{path}.{i}")))
                    .collect::<Result<_>>()?,
            ),
            NodeKind::Map(entries) => RKind::Map(
                entries
                    .iter()
                    .map(|(k, n)| Ok((k.clone(), self.node(n, &format!("{path}.{}", k.name))?)))
                    .collect::<Result<_>>()?,
            ),
            NodeKind::Scalar { text, text_at, .. } => {
                if !text.contains("${") {
                    RKind::Scalar(vec![Segment::Literal(text.clone())])
                } else {
                    return self.interpolate(text, *text_at, node.span, path);
                }
            }
        };
        Ok(RNode {
            kind,
            span: node.span,
            sensitive: false,
        })
    }

    fn interpolate(
        &mut self,
        text: &str,
        text_at: Option<usize>,
        span: Span,
        path: &str,
    ) -> Result<RNode> {
        let mut segs = Vec::new();
        let mut sensitive = false;
        let mut rest = text;
        let mut consumed = 0;
        while let Some(open) = rest.find("${") {
            if open > 0 {
                segs.push(Segment::Literal(rest[..open].to_owned()));
            }
            let expr_at = |len: usize| match text_at {
                Some(at) => Span {
                    start: at + consumed + open,
                    len,
                },
                None => span,
            };
            let Some(close) = rest[open..].find('}') else {
                return Err(Error::at(
                    self.src,
                    ErrorKind::BadInterpolation,
                    expr_at(rest.len() - open),
                    Some(path.to_owned()),
                    "unclosed `${`",
                )
                .help("close the reference with `}`, e.g. `${Conf.region}`"));
            };
            let expr = &rest[open + 2..open + close];
            let at = expr_at(close + 1);
            let whole = open == 0 && close + 1 == rest.len() && consumed == 0;
            match self.expression(expr.trim(), at, path)? {
                Resolved::Node(n) if whole => {
                    return Ok(RNode {
                        span,
                        sensitive: n.sensitive,
                        kind: n.kind,
                    });
                }
                Resolved::Node(n) => match n.kind {
                    RKind::Null => {}
                    RKind::Scalar(s) => {
                        sensitive |= n.sensitive;
                        segs.extend(s);
                    }
                    RKind::Seq(_) | RKind::Map(_) => {
                        return Err(Error::at(
                            self.src,
                            ErrorKind::BadInterpolation,
                            at,
                            Some(path.to_owned()),
                            format!("`${{{expr}}}` is a mapping or a list and cannot be part of a string"),
                        )
                        .help("reference a single value inside it, e.g. `${Conf.a.b}` or `${Conf.list.0}`"));
                    }
                },
                Resolved::Segments(s, sens) => {
                    sensitive |= sens;
                    segs.extend(s);
                }
            }
            consumed += open + close + 1;
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            segs.push(Segment::Literal(rest.to_owned()));
        }
        let len: usize = segs
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.len(),
                Segment::Deferred(_) => 0,
            })
            .sum();
        if len > MAX_VALUE {
            return Err(Error::at(
                self.src,
                ErrorKind::InvalidValue,
                span,
                Some(path.to_owned()),
                format!("`{path}` resolves to {len} bytes, more than {MAX_VALUE}"),
            )
            .help("references that repeat other references grow quickly; simplify them"));
        }
        Ok(RNode {
            kind: RKind::Scalar(merge(segs)),
            span,
            sensitive,
        })
    }

    fn expression(&mut self, expr: &str, at: Span, path: &str) -> Result<Resolved> {
        let src = self.src;
        if expr == "stage" {
            return Ok(Resolved::Segments(
                vec![Segment::Literal(self.opts.stage.clone())],
                false,
            ));
        }
        if let Some(name) = expr.strip_prefix("env:") {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::at(
                    src,
                    ErrorKind::BadInterpolation,
                    at,
                    Some(path.to_owned()),
                    "`${env:}` names no variable",
                )
                .help("write `${env:NAME}`"));
            }
            return match self.opts.env.get(name) {
                Some(v) => Ok(Resolved::Segments(
                    vec![Segment::Literal(v.clone())],
                    looks_secret(name),
                )),
                None => Err(Error::at(
                    src,
                    ErrorKind::UnsetEnv,
                    at,
                    Some(path.to_owned()),
                    format!("environment variable `{name}` is not set"),
                )
                .help(format!(
                    "set it (`export {name}=…`) before running chatstack; an unset variable is \
                     an error, never an empty string"
                ))),
            };
        }
        if expr.is_empty() {
            return Err(Error::at(
                src,
                ErrorKind::BadInterpolation,
                at,
                Some(path.to_owned()),
                "empty `${}`",
            )
            .help("write `${Instance.path}`, `${env:NAME}` or `${stage}`"));
        }
        let normalized = expr.replace('[', ".").replace(']', "");
        let (inst_name, ref_path) = match normalized.split_once('.') {
            Some((i, p)) => (i, p),
            None => (normalized.as_str(), ""),
        };
        let Some(inst) = self.insts.iter().find(|i| i.name == inst_name) else {
            let mut candidates: Vec<&str> = self.insts.iter().map(|i| i.name).collect();
            candidates.push("stage");
            let mut e = Error::at(
                src,
                ErrorKind::UnknownInstance,
                at,
                Some(path.to_owned()),
                format!(
                    "`${{{expr}}}` refers to `{inst_name}`, which is not an instance in this file"
                ),
            );
            e = match suggest(inst_name, candidates.iter().copied()) {
                Some(s) => e.help(format!("did you mean `{s}`?")),
                None => e.help(format!(
                    "instances: {}; environment variables are written `${{env:NAME}}`",
                    list_or_none(&candidates[..candidates.len() - 1])
                )),
            };
            return Err(e);
        };
        if ref_path.is_empty() {
            return Err(Error::at(
                src,
                ErrorKind::BadInterpolation,
                at,
                Some(path.to_owned()),
                format!("`${{{expr}}}` names an instance but no value in it"),
            )
            .help(format!("write `${{{inst_name}.someInput}}`")));
        }
        if inst.name == self.gateway {
            let output = match ref_path {
                "internalDomain" | "url.0.internalDomain" | "apis.0.internalDomain" => {
                    Some(Deferred::PushbackUrl)
                }
                "url" => Some(Deferred::ClientUrl),
                "serviceId" => Some(Deferred::ServiceId),
                _ => None,
            };
            if let Some(d) = output {
                return Ok(Resolved::Segments(vec![Segment::Deferred(d)], false));
            }
        }

        // Walk the instance's inputs.
        let mut node = inst.inputs;
        let mut walked = format!("{}.inputs", inst.name);
        let mut last_key = "";
        for seg in ref_path.split('.') {
            let next = match node.map(|n| &n.kind) {
                Some(NodeKind::Map(entries)) => match entries.iter().find(|(k, _)| k.name == seg) {
                    Some((_, n)) => Ok(n),
                    None => Err(entries.iter().map(|(k, _)| k.name.as_str()).collect()),
                },
                Some(NodeKind::Seq(items)) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .ok_or_else(Vec::new),
                _ => Err(vec![]),
            };
            match next {
                Ok(n) => {
                    node = Some(n);
                    walked.push('.');
                    walked.push_str(seg);
                    last_key = seg;
                }
                Err(keys) => {
                    let keys: Vec<&str> = keys;
                    let mut e = Error::at(
                        src,
                        ErrorKind::UnknownReference,
                        at,
                        Some(path.to_owned()),
                        format!("`${{{expr}}}`: `{walked}` has no `{seg}`"),
                    );
                    let mut candidates = keys.clone();
                    if inst.name == self.gateway {
                        candidates.extend(["internalDomain", "url", "serviceId"]);
                    }
                    let shape = match node.map(|n| &n.kind) {
                        Some(NodeKind::Seq(items)) => format!(
                            "`{walked}` is a list of {}: use an index from 0 to {}",
                            items.len(),
                            items.len().saturating_sub(1)
                        ),
                        Some(NodeKind::Map(_)) => format!("`{walked}` is empty"),
                        Some(NodeKind::Scalar { .. }) => {
                            let prefix = format!("{}.inputs.", inst.name);
                            let inner = walked.strip_prefix(&prefix).unwrap_or_default();
                            format!(
                                "`{walked}` is a single value; reference it as `${{{}.{inner}}}`",
                                inst.name
                            )
                        }
                        Some(NodeKind::Null) | None => format!("`{walked}` is empty"),
                    };
                    e = match suggest(seg, candidates.iter().copied()) {
                        Some(s) => e.help(format!("did you mean `{s}`?")),
                        None if !keys.is_empty() => {
                            e.help(format!("`{walked}` has: {}", keys.join(", ")))
                        }
                        None => e.help(shape),
                    };
                    return Err(e);
                }
            }
        }
        let target = node.unwrap_or_else(|| unreachable!("a non-empty path was walked"));
        let key = walked;
        if let Some(pos) = self.stack.iter().position(|k| *k == key) {
            let mut chain: Vec<&str> = self.stack[pos..].iter().map(String::as_str).collect();
            chain.push(&key);
            return Err(Error::at(
                src,
                ErrorKind::ReferenceCycle,
                at,
                Some(path.to_owned()),
                format!("references form a cycle: {}", chain.join(" → ")),
            )
            .help("make one of these a plain value"));
        }
        if self.stack.len() > 256 {
            return Err(Error::at(
                src,
                ErrorKind::ReferenceCycle,
                at,
                Some(path.to_owned()),
                "values and references nest more than 256 deep",
            ));
        }
        let mut n = match self.cache.get(&key) {
            Some(n) => n.clone(),
            None => {
                let n = self.node(target, &key)?;
                self.cache.insert(key, n.clone());
                n
            }
        };
        n.sensitive |= looks_secret(last_key);
        Ok(Resolved::Node(n))
    }
}

fn merge(segs: Vec<Segment>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::with_capacity(segs.len());
    for s in segs {
        match (out.last_mut(), s) {
            (Some(Segment::Literal(prev)), Segment::Literal(s)) => prev.push_str(&s),
            (_, s) => out.push(s),
        }
    }
    if out.is_empty() {
        out.push(Segment::Literal(String::new()));
    }
    out
}

/// A resolved mapping, typed against a field table.
struct MapView<'r> {
    entries: &'r [(Key, RNode)],
    path: String,
    /// Where to point when a required field is missing.
    at: Span,
}

impl<'r> MapView<'r> {
    fn of(src: &Source<'_>, node: &'r RNode, path: String, fallback: Span) -> Result<Self> {
        match &node.kind {
            RKind::Map(entries) => Ok(MapView {
                entries,
                path,
                at: fallback,
            }),
            RKind::Null => Ok(MapView {
                entries: &[],
                path,
                at: fallback,
            }),
            _ => Err(Error::at(
                src,
                ErrorKind::WrongType,
                node.span,
                Some(path.clone()),
                format!("`{path}` must be a mapping, found {}", describe(node)),
            )
            .help("write it as indented `key: value` lines")),
        }
    }

    fn get(&self, name: &str) -> Option<&'r RNode> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, n)| n)
    }

    /// The span of key `name`, or of the mapping when it is absent.
    fn key_span(&self, name: &str) -> Span {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map_or(self.at, |(k, _)| k.span)
    }

    fn path_of(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    fn check_known(&self, src: &Source<'_>, what: &str, known: &[&str]) -> Result<()> {
        for (k, _) in self.entries {
            if !known.contains(&k.name.as_str()) {
                return Err(unknown_field(src, k, &self.path_of(&k.name), what, known));
            }
        }
        Ok(())
    }

    fn required(&self, src: &Source<'_>, name: &str, hint: &str) -> Result<&'r RNode> {
        self.get(name).ok_or_else(|| {
            Error::at(
                src,
                ErrorKind::MissingField,
                self.at,
                Some(self.path_of(name)),
                format!("`{}` is missing `{name}`", self.path),
            )
            .help(format!("add `{name}: {hint}`"))
        })
    }
}

fn unknown_field(src: &Source<'_>, key: &Key, path: &str, what: &str, known: &[&str]) -> Error {
    let e = Error::at(
        src,
        ErrorKind::UnknownField,
        key.span,
        Some(path.to_owned()),
        format!("unknown field `{}` in {what}", key.name),
    );
    match suggest(&key.name, known.iter().copied()) {
        Some(s) => e.help(format!("did you mean `{s}`?")),
        None => e.help(format!("expected one of: {}", known.join(", "))),
    }
}

fn describe(n: &RNode) -> &'static str {
    match n.kind {
        RKind::Null => "nothing",
        RKind::Scalar(_) => "a single value",
        RKind::Seq(_) => "a list",
        RKind::Map(_) => "a mapping",
    }
}

/// A string known now: empty for `key:` with nothing, an error for lists, mappings and gateway
/// outputs.
fn text(src: &Source<'_>, n: &RNode, path: &str) -> Result<String> {
    match &n.kind {
        RKind::Null => Ok(String::new()),
        RKind::Scalar(segs) => {
            let mut out = String::new();
            for s in segs {
                match s {
                    Segment::Literal(l) => out.push_str(l),
                    Segment::Deferred(_) => {
                        return Err(Error::at(
                            src,
                            ErrorKind::DeferredNotAllowed,
                            n.span,
                            Some(path.to_owned()),
                            format!(
                                "`{path}` uses a gateway output, which is only known during deploy"
                            ),
                        )
                        .help(
                            "gateway outputs (internalDomain, url, serviceId) may only be used in \
                             environment.variables values",
                        ));
                    }
                }
            }
            Ok(out)
        }
        RKind::Seq(_) | RKind::Map(_) => Err(Error::at(
            src,
            ErrorKind::WrongType,
            n.span,
            Some(path.to_owned()),
            format!("`{path}` must be a single value, found {}", describe(n)),
        )
        .help("write one value (quote it if it contains `: ` or starts with `[`, `{` or `-`)")),
    }
}

fn number(src: &Source<'_>, n: &RNode, path: &str, rule: &str) -> Result<u32> {
    let t = text(src, n, path)?;
    t.trim().parse::<u32>().map_err(|_| {
        Error::at(
            src,
            ErrorKind::WrongType,
            n.span,
            Some(path.to_owned()),
            format!("`{path}` must be a whole number, found `{t}`"),
        )
        .help(rule.to_owned())
    })
}

/// [`number`] within `range`, else a `kind` error saying `{name} N is out of range`.
fn number_in(
    src: &Source<'_>,
    n: &RNode,
    path: String,
    name: &str,
    range: std::ops::RangeInclusive<u32>,
    kind: ErrorKind,
    rule: &str,
) -> Result<u32> {
    let t = number(src, n, &path, rule)?;
    if range.contains(&t) {
        return Ok(t);
    }
    Err(Error::at(
        src,
        kind,
        n.span,
        Some(path),
        format!("{name} {t} is out of range"),
    )
    .help(rule))
}

fn check_region(src: &Source<'_>, n: &RNode, path: &str) -> Result<String> {
    let r = text(src, n, path)?;
    let ok = !r.is_empty()
        && r.len() <= 40
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && r.contains('-')
        && !r.starts_with('-')
        && !r.ends_with('-');
    if ok {
        Ok(r)
    } else {
        Err(Error::at(
            src,
            ErrorKind::InvalidRegion,
            n.span,
            Some(path.to_owned()),
            format!("`{r}` is not a region"),
        )
        .help("use a Tencent Cloud region id such as `ap-guangzhou` or `ap-shanghai`"))
    }
}

fn same_region(
    src: &Source<'_>,
    n: &RNode,
    path: &str,
    region: &str,
    origin: &str,
) -> Result<String> {
    let r = check_region(src, n, path)?;
    if r != region {
        return Err(Error::at(
            src,
            ErrorKind::RegionMismatch,
            n.span,
            Some(path.to_owned()),
            format!("region `{r}` differs from the stack's region `{region}`"),
        )
        .help(format!(
            "a stack lives in one region, the gateway's ({origin}); use `{region}` here"
        )));
    }
    Ok(r)
}

struct Binding {
    name: String,
    span: Span,
    path: String,
}

fn gateway(
    src: &Source<'_>,
    inst: &Inst<'_>,
    view: &MapView<'_>,
) -> Result<(Gateway, Vec<(FunctionRole, Binding)>)> {
    view.check_known(
        src,
        "an @serverless/tencent-apigateway instance",
        APIGW_FIELDS,
    )?;
    let service_name = {
        let n = view.required(src, "serviceName", "ChatDemo")?;
        let p = view.path_of("serviceName");
        let s = text(src, n, &p)?;
        let ok = (1..=50).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(Error::at(
                src,
                ErrorKind::InvalidValue,
                n.span,
                Some(p),
                format!("invalid service name `{s}`"),
            )
            .help("use 1–50 letters, digits, `_` and `-`, starting with a letter; it also names the stack"));
        }
        s
    };
    let region = check_region(
        src,
        view.required(src, "region", "ap-guangzhou")?,
        &view.path_of("region"),
    )?;
    let description = view
        .get("description")
        .map(|n| text(src, n, &view.path_of("description")))
        .transpose()?;
    let protocols = match view.get("protocols") {
        None => vec![Protocol::Http],
        Some(n) => {
            let p = view.path_of("protocols");
            let items: Vec<(String, &RNode, String)> = match &n.kind {
                RKind::Seq(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| {
                        let ip = format!("{p}.{i}");
                        Ok((text(src, it, &ip)?, it, ip))
                    })
                    .collect::<Result<_>>()?,
                _ => {
                    let t = text(src, n, &p)?;
                    t.split('&')
                        .map(|s| (s.trim().to_owned(), n, p.clone()))
                        .collect()
                }
            };
            let mut out = Vec::new();
            for (t, it, ip) in items {
                let proto = match t.to_ascii_lowercase().as_str() {
                    "http" => Protocol::Http,
                    "https" => Protocol::Https,
                    _ => {
                        return Err(Error::at(
                            src,
                            ErrorKind::InvalidValue,
                            it.span,
                            Some(ip),
                            format!("unknown protocol `{t}`"),
                        )
                        .help("protocols are `http` (clients use ws://) and `https` (wss://)"));
                    }
                };
                if !out.contains(&proto) {
                    out.push(proto);
                }
            }
            if out.is_empty() {
                out.push(Protocol::Http);
            }
            out
        }
    };
    let environment = match view.get("environment") {
        None => "release".to_owned(),
        Some(n) => {
            let p = view.path_of("environment");
            let e = text(src, n, &p)?;
            if !["release", "prepub", "test"].contains(&e.as_str()) {
                return Err(Error::at(
                    src,
                    ErrorKind::InvalidValue,
                    n.span,
                    Some(p),
                    format!("unknown release environment `{e}`"),
                )
                .help(match suggest(&e, ["release", "prepub", "test"]) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "use `release`, `prepub` or `test`".to_owned(),
                }));
            }
            e
        }
    };

    let endpoints_node = view.required(
        src,
        "endpoints",
        "[{path: /, method: GET, protocol: WEBSOCKET, function: {…}}]",
    )?;
    let ep_path = view.path_of("endpoints");
    let items = match &endpoints_node.kind {
        RKind::Seq(items) => items.as_slice(),
        RKind::Null => &[],
        _ => {
            return Err(Error::at(
                src,
                ErrorKind::WrongType,
                endpoints_node.span,
                Some(ep_path),
                format!(
                    "`endpoints` must be a list, found {}",
                    describe(endpoints_node)
                ),
            ));
        }
    };
    let mut websocket: Option<(WebSocketEndpoint, Vec<(FunctionRole, Binding)>)> = None;
    for (i, item) in items.iter().enumerate() {
        let ev = MapView::of(src, item, format!("{ep_path}.{i}"), item.span)?;
        ev.check_known(src, "an endpoint", ENDPOINT_FIELDS)?;
        let protocol = match ev.get("protocol") {
            Some(n) => text(src, n, &ev.path_of("protocol"))?,
            None => "HTTP".to_owned(),
        };
        if !protocol.eq_ignore_ascii_case("WEBSOCKET") {
            let at = ev.get("protocol").map_or(ev.at, |n| n.span);
            return Err(Error::at(
                src,
                ErrorKind::UnsupportedEndpoint,
                at,
                Some(ev.path_of("protocol")),
                format!("endpoint with protocol `{protocol}`: chatstack deploys only the WebSocket endpoint"),
            )
            .help("set `protocol: WEBSOCKET`, or remove this endpoint"));
        }
        if websocket.is_some() {
            let at = ev.get("protocol").map_or(ev.at, |n| n.span);
            return Err(Error::at(
                src,
                ErrorKind::MultipleWebSocketEndpoints,
                at,
                Some(ev.path_of("protocol")),
                "a second WebSocket endpoint; a stack has exactly one",
            )
            .help("keep one `protocol: WEBSOCKET` endpoint"));
        }
        if let Some(n) = ev.get("method") {
            let m = text(src, n, &ev.path_of("method"))?;
            if !m.eq_ignore_ascii_case("GET") {
                return Err(Error::at(
                    src,
                    ErrorKind::InvalidWsMethod,
                    n.span,
                    Some(ev.path_of("method")),
                    format!("a WebSocket endpoint must use method GET, not `{m}`"),
                )
                .help(
                    "API Gateway refuses WebSocket APIs with any other method \
                     (InvalidParameterValue.InvalidWSMethod): write `method: GET`",
                ));
            }
        }
        let path = match ev.get("path") {
            Some(n) => {
                let p = text(src, n, &ev.path_of("path"))?;
                if !p.starts_with('/') || p.contains(char::is_whitespace) {
                    return Err(Error::at(
                        src,
                        ErrorKind::InvalidValue,
                        n.span,
                        Some(ev.path_of("path")),
                        format!("endpoint path `{p}` must start with `/`"),
                    )
                    .help("e.g. `path: /` or `path: /chat`"));
                }
                p
            }
            None => "/".to_owned(),
        };
        let timeout = match ev.get("serviceTimeout") {
            Some(n) => {
                let p = ev.path_of("serviceTimeout");
                let rule = "serviceTimeout is 1–1800 seconds for a WebSocket endpoint";
                number_in(
                    src,
                    n,
                    p,
                    "serviceTimeout",
                    1..=1800,
                    ErrorKind::InvalidValue,
                    rule,
                )?
            }
            None => 15,
        };
        let fnode = ev.required(
            src,
            "function",
            "{transportFunctionName: …, registerFunctionName: …, cleanupFunctionName: …}",
        )?;
        let fv = MapView::of(src, fnode, ev.path_of("function"), ev.key_span("function"))?;
        fv.check_known(src, "a WebSocket endpoint's `function`", WS_FUNCTION_FIELDS)?;
        let mut bindings = Vec::new();
        for (field, role) in [
            ("registerFunctionName", FunctionRole::Register),
            ("transportFunctionName", FunctionRole::Transport),
            ("cleanupFunctionName", FunctionRole::Cleanup),
        ] {
            let n = fv.required(src, field, "the `name` of an scf instance")?;
            let p = fv.path_of(field);
            let name = text(src, n, &p)?;
            bindings.push((
                role,
                Binding {
                    name,
                    span: n.span,
                    path: p,
                },
            ));
        }
        let name_of = |r: FunctionRole| {
            bindings
                .iter()
                .find(|(role, _)| *role == r)
                .map(|(_, b)| b.name.clone())
                .unwrap_or_default()
        };
        websocket = Some((
            WebSocketEndpoint {
                path,
                timeout,
                register: name_of(FunctionRole::Register),
                transport: name_of(FunctionRole::Transport),
                cleanup: name_of(FunctionRole::Cleanup),
            },
            bindings,
        ));
    }
    let Some((websocket, bindings)) = websocket else {
        return Err(Error::at(
            src,
            ErrorKind::NoWebSocketEndpoint,
            endpoints_node.span,
            Some(ep_path),
            "the gateway has no endpoint with `protocol: WEBSOCKET`",
        )
        .help(
            "add one: `- path: /`, `method: GET`, `protocol: WEBSOCKET` and `function:` with \
             transportFunctionName, registerFunctionName and cleanupFunctionName",
        ));
    };
    Ok((
        Gateway {
            instance: inst.name.to_owned(),
            service_name,
            description,
            region,
            protocols,
            environment,
            websocket,
        },
        bindings,
    ))
}

fn bucket(
    src: &Source<'_>,
    inst: &Inst<'_>,
    view: &MapView<'_>,
    region: &str,
    origin: &str,
) -> Result<Bucket> {
    view.check_known(src, "an @serverless/tencent-cos instance", COS_FIELDS)?;
    let n = view.required(src, "bucket", "my-bucket-1250000000")?;
    let p = view.path_of("bucket");
    let name = text(src, n, &p)?;
    let (base, appid) = match name.rsplit_once('-') {
        Some((base, digits))
            if (7..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (base, digits.parse::<u64>().ok())
        }
        _ => (name.as_str(), None),
    };
    let problem = if base.is_empty() {
        Some("is empty".to_owned())
    } else if base.len() > 50 {
        Some(format!(
            "is {} characters long (at most 50 before -APPID)",
            base.len()
        ))
    } else if let Some(c) = base
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(if c.is_ascii_uppercase() {
            format!("contains the uppercase letter `{c}`")
        } else {
            format!("contains `{c}`")
        })
    } else if base.starts_with('-') || base.ends_with('-') {
        Some("starts or ends with `-`".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(Error::at(
            src,
            ErrorKind::InvalidBucketName,
            n.span,
            Some(p),
            format!("invalid bucket name `{name}`: it {problem}"),
        )
        .help(
            "COS bucket names use lowercase letters, digits and `-`, do not start or end with \
             `-`, and may end in `-APPID` (added for you when absent), e.g. `chat-cos`",
        ));
    }
    let r = view.required(src, "region", "ap-guangzhou")?;
    let region = same_region(src, r, &view.path_of("region"), region, origin)?;
    Ok(Bucket {
        instance: inst.name.to_owned(),
        name,
        appid,
        region,
    })
}

/// What every function is checked against.
struct FunctionCtx<'c> {
    region: &'c str,
    origin: &'c str,
    gateway: &'c str,
    file_dir: &'c Path,
}

fn function(
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

fn check_env_size(src: &Source<'_>, f: &Function, at: Span) -> Result<()> {
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

fn file_dir(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Drops `.` components (`/stack/./code` → `/stack/code`); `..` is kept.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, PathComponent::CurDir))
        .collect()
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The closest candidate, when close enough to be a likely typo.
pub fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let w = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (distance(&w, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            *d <= (w.chars().count().max(c.chars().count()) / 3).max(2)
                && *d < w.chars().count().max(1) + 1
        })
        .min_by_key(|(d, _)| *d)
        .filter(|(d, c)| *d > 0 || *c != word)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}
