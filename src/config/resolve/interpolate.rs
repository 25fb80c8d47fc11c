//! The `${…}` interpolation engine: the instances a reference can name ([`Inst`]), the
//! [`Resolver`] that walks a node tree and replaces every `${…}`, and what it produces, the
//! resolved tree ([`RNode`]).
//!
//! A reference is `${stage}`, `${env:NAME}` (an unset variable is an error, never an empty
//! string), or `${Instance.path}` (`.`-separated keys and list indices, `[i]` accepted), which
//! walks the instance's `inputs` as written and resolves the target in turn (cycles and
//! depth past 256 are refused). On the gateway instance, `internalDomain` (and
//! `url.0.internalDomain`, `apis.0.internalDomain`), `url` and `serviceId` are outputs known
//! only at deploy: they become [`Deferred`] segments. There is no escape syntax: text outside
//! `${…}` is kept as written. A value that is a single reference takes the target's whole
//! value (mapping, list or nothing); inside a string, the target must be a single value. No
//! interpolated string may exceed [`MAX_VALUE`] bytes.
//!
//! Shared with the siblings (this is a leaf: it imports nothing from `resolve/`).

use std::collections::HashMap;

use super::super::diagnostic::{Error, ErrorKind, Source, list_or_none, suggest};
use super::super::model::*;
use super::super::raw::{Key, Node, NodeKind, Span};

/// Longest string interpolation may build (far above any field's own limit).
pub(super) const MAX_VALUE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Component {
    Global,
    Cos,
    ApiGateway,
    Scf,
}

/// One top-level instance, as written.
#[derive(Debug)]
pub(super) struct Inst<'a> {
    pub(super) name: &'a str,
    pub(super) name_span: Span,
    pub(super) component: Component,
    pub(super) inputs: Option<&'a Node>,
    /// The `inputs` key, or the instance name when there is none: where a missing input is
    /// reported.
    pub(super) inputs_span: Span,
}

/// A node after interpolation.
#[derive(Debug, Clone)]
pub(super) struct RNode {
    pub(super) kind: RKind,
    /// Where it is written (for a whole-value reference: where the reference is written).
    pub(super) span: Span,
    /// Whether it came from something that looks like a secret (`Conf.secret_key`, …).
    pub(super) sensitive: bool,
}

#[derive(Debug, Clone)]
pub(super) enum RKind {
    Null,
    Scalar(Vec<Segment>),
    Seq(Vec<RNode>),
    Map(Vec<(Key, RNode)>),
}

type Result<T> = std::result::Result<T, Error>;

pub(super) struct Resolver<'s, 'a> {
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

impl<'s, 'a> Resolver<'s, 'a> {
    /// A resolver for references among `insts`; `gateway` names the instance whose outputs are
    /// deferred.
    pub(super) fn new(
        src: &'s Source<'s>,
        insts: &'s [Inst<'a>],
        opts: &'s LoadOptions,
        gateway: &'s str,
    ) -> Self {
        Resolver {
            src,
            insts,
            opts,
            gateway,
            stack: Vec::new(),
            cache: HashMap::new(),
        }
    }

    /// Resolves `node`, written at `path`; `path` stays on the stack meanwhile, so a reference
    /// back to it (or to an ancestor) is a cycle.
    pub(super) fn node(&mut self, node: &Node, path: &str) -> Result<RNode> {
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

#[cfg(test)]
mod tests {
    //! The engine alone: each row's input is `Conf.inputs.v` in [`STACK`], resolved with the
    //! row's environment and stage `dev`.

    use std::collections::BTreeMap;

    use super::super::super::raw;
    use super::*;

    /// `VALUE` is replaced by the row's input, single-quoted.
    const STACK: &str = "Conf:
  component: serverless-global
  inputs:
    region: ap-guangzhou
    list: [a, b]
    nested: {k: deep}
    empty:
    chain: '${Conf.region}-${stage}'
    secret_key: s3cr3t
    loop: '${Conf.loop}'
    v: VALUE
restApi:
  component: apigateway
  inputs:
    serviceName: S
";

    /// The rendered value, or the error's kind and a fragment of its message or help.
    type Want = std::result::Result<String, (ErrorKind, &'static str)>;

    /// Input, environment, what it resolves to.
    type Row = (String, Vec<(&'static str, String)>, Want);

    /// Literal text as is, gateway outputs as `<ClientUrl>`, nothing as `~`, lists as
    /// `[a, b]`, mappings as `{k: v}`; `secret ` in front of a sensitive value.
    fn render(n: &RNode) -> String {
        let body = match &n.kind {
            RKind::Null => "~".to_owned(),
            RKind::Scalar(segs) => segs
                .iter()
                .map(|s| match s {
                    Segment::Literal(l) => l.clone(),
                    Segment::Deferred(d) => format!("<{d:?}>"),
                })
                .collect(),
            RKind::Seq(items) => {
                format!(
                    "[{}]",
                    items.iter().map(render).collect::<Vec<_>>().join(", ")
                )
            }
            RKind::Map(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.name, render(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        if n.sensitive {
            format!("secret {body}")
        } else {
            body
        }
    }

    fn run(input: &str, env: &[(&str, String)]) -> Result<RNode> {
        let yaml = STACK.replace("VALUE", &format!("'{}'", input.replace('\'', "''")));
        let src = Source {
            name: "stack.yml",
            text: &yaml,
        };
        let root = raw::parse(&yaml).unwrap_or_else(|e| panic!("{input}: {}", e.message));
        let NodeKind::Map(entries) = &root.kind else {
            panic!("STACK is a mapping")
        };
        let insts: Vec<Inst<'_>> = entries
            .iter()
            .map(|(k, n)| {
                let NodeKind::Map(fields) = &n.kind else {
                    panic!("instances are mappings")
                };
                Inst {
                    name: &k.name,
                    name_span: k.span,
                    component: if k.name == "restApi" {
                        Component::ApiGateway
                    } else {
                        Component::Global
                    },
                    inputs: fields
                        .iter()
                        .find(|(k, _)| k.name == "inputs")
                        .map(|(_, v)| v),
                    inputs_span: k.span,
                }
            })
            .collect();
        let opts = LoadOptions {
            stage: "dev".to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        };
        let NodeKind::Map(fields) = &insts[0].inputs.expect("Conf has inputs").kind else {
            panic!("Conf.inputs is a mapping")
        };
        let v = &fields.iter().find(|(k, _)| k.name == "v").expect("v").1;
        Resolver::new(&src, &insts, &opts, "restApi").node(v, "Conf.inputs.v")
    }

    #[test]
    fn interpolation_table() {
        let x = |k: &'static str, v: &str| (k, v.to_owned());
        let ok = |s: &str| -> Want { Ok(s.to_owned()) };
        let err = |kind: ErrorKind, says: &'static str| -> Want { Err((kind, says)) };
        let long = |n: usize| "x".repeat(n);
        use ErrorKind::*;
        let rows: Vec<Row> = vec![
            // Plain text, and no escape syntax: `$`, `{` and `}` alone are text.
            ("plain text".into(), vec![], ok("plain text")),
            ("".into(), vec![], ok("")),
            (
                "costs $5 {not} a}ref".into(),
                vec![],
                ok("costs $5 {not} a}ref"),
            ),
            ("$${stage}".into(), vec![], ok("$dev")),
            ("${stage}}".into(), vec![], ok("dev}")),
            ("${stage}".into(), vec![], ok("dev")),
            // ${env:…}
            ("${env:X}".into(), vec![x("X", "1")], ok("1")),
            ("${ env: X }".into(), vec![x("X", "1")], ok("1")),
            ("${env:X}".into(), vec![x("X", "")], ok("")),
            ("${env:X}".into(), vec![x("X", "${stage}")], ok("${stage}")),
            (
                "${env:API_TOKEN}".into(),
                vec![x("API_TOKEN", "t")],
                ok("secret t"),
            ),
            (
                "${env:X}".into(),
                vec![],
                err(UnsetEnv, "environment variable `X` is not set"),
            ),
            (
                "${env:X}".into(),
                vec![x("x", "1")],
                err(UnsetEnv, "`X` is not set"),
            ),
            (
                "${env:}".into(),
                vec![],
                err(BadInterpolation, "names no variable"),
            ),
            // Adjacent and nested references.
            ("${stage}${stage}".into(), vec![], ok("devdev")),
            (
                "${env:A}${env:B}".into(),
                vec![x("A", "a"), x("B", "b")],
                ok("ab"),
            ),
            (
                "[${env:A}]-${stage}-${Conf.region}".into(),
                vec![x("A", "a")],
                ok("[a]-dev-ap-guangzhou"),
            ),
            ("${Conf.chain}".into(), vec![], ok("ap-guangzhou-dev")),
            (
                "x ${Conf.chain} y".into(),
                vec![],
                ok("x ap-guangzhou-dev y"),
            ),
            // A reference inside a reference is not one: the first `}` closes.
            (
                "${env:${stage}}".into(),
                vec![],
                err(UnsetEnv, "`${stage` is not set"),
            ),
            ("${Conf.list.1}".into(), vec![], ok("b")),
            ("${Conf.list[0]}".into(), vec![], ok("a")),
            ("${Conf.nested.k}".into(), vec![], ok("deep")),
            ("${Conf.nested}".into(), vec![], ok("{k: deep}")),
            ("${Conf.list}".into(), vec![], ok("[a, b]")),
            ("${Conf.empty}".into(), vec![], ok("~")),
            ("a${Conf.empty}b".into(), vec![], ok("ab")),
            ("${Conf.secret_key}".into(), vec![], ok("secret s3cr3t")),
            (
                "id-${Conf.secret_key}".into(),
                vec![],
                ok("secret id-s3cr3t"),
            ),
            (
                "x${Conf.nested}".into(),
                vec![],
                err(
                    BadInterpolation,
                    "is a mapping or a list and cannot be part of a string",
                ),
            ),
            (
                "${Conf.v}".into(),
                vec![],
                err(ReferenceCycle, "cycle: Conf.inputs.v → Conf.inputs.v"),
            ),
            (
                "${Conf.loop}".into(),
                vec![],
                err(ReferenceCycle, "Conf.inputs.loop → Conf.inputs.loop"),
            ),
            // Gateway outputs: deferred to deploy; the gateway's inputs stay readable.
            ("${restApi.url}".into(), vec![], ok("<ClientUrl>")),
            (
                "${restApi.internalDomain}".into(),
                vec![],
                ok("<PushbackUrl>"),
            ),
            (
                "${restApi.url[0].internalDomain}".into(),
                vec![],
                ok("<PushbackUrl>"),
            ),
            (
                "${restApi.apis.0.internalDomain}".into(),
                vec![],
                ok("<PushbackUrl>"),
            ),
            (
                "ws ${restApi.url} ${restApi.serviceId}".into(),
                vec![],
                ok("ws <ClientUrl> <ServiceId>"),
            ),
            ("${restApi.serviceName}".into(), vec![], ok("S")),
            (
                "${Conf.internalDomain}".into(),
                vec![],
                err(UnknownReference, "`Conf.inputs` has no `internalDomain`"),
            ),
            (
                "${restApi.internalDomian}".into(),
                vec![],
                err(UnknownReference, "did you mean `internalDomain`?"),
            ),
            // Unknown reference kinds: there is no `output:`, `self:` or `opt:`.
            (
                "${output:restApi.url}".into(),
                vec![],
                err(UnknownInstance, "refers to `output:restApi`"),
            ),
            (
                "${self:stage}".into(),
                vec![],
                err(UnknownInstance, "refers to `self:stage`"),
            ),
            (
                "${Nope.x}".into(),
                vec![],
                err(UnknownInstance, "which is not an instance"),
            ),
            (
                "${Cnof.region}".into(),
                vec![],
                err(UnknownInstance, "did you mean `Conf`?"),
            ),
            (
                "${Conf}".into(),
                vec![],
                err(BadInterpolation, "names an instance but no value"),
            ),
            ("${}".into(), vec![], err(BadInterpolation, "empty `${}`")),
            ("${ }".into(), vec![], err(BadInterpolation, "empty `${}`")),
            (
                "${Conf.list.5}".into(),
                vec![],
                err(UnknownReference, "is a list of 2"),
            ),
            (
                "${Conf.region.x}".into(),
                vec![],
                err(UnknownReference, "is a single value"),
            ),
            (
                "${Conf.nope}".into(),
                vec![],
                err(UnknownReference, "`Conf.inputs` has no `nope`"),
            ),
            // Unclosed `${`.
            (
                "${stage".into(),
                vec![],
                err(BadInterpolation, "unclosed `${`"),
            ),
            (
                "ok ${stage} then ${env:X".into(),
                vec![],
                err(BadInterpolation, "unclosed `${`"),
            ),
            ("}${".into(), vec![], err(BadInterpolation, "unclosed `${`")),
            // MAX_VALUE bounds what interpolation builds; gateway outputs count nothing here.
            (
                format!("{}${{stage}}", long(MAX_VALUE - 3)),
                vec![],
                Ok(format!("{}dev", long(MAX_VALUE - 3))),
            ),
            (
                format!("{}${{stage}}", long(MAX_VALUE - 2)),
                vec![],
                err(InvalidValue, "resolves to 65537 bytes, more than 65536"),
            ),
            (
                "${env:BIG}".into(),
                vec![x("BIG", &long(MAX_VALUE + 1))],
                err(InvalidValue, "more than 65536"),
            ),
            (
                format!("${{restApi.url}}{}", long(MAX_VALUE)),
                vec![],
                Ok(format!("<ClientUrl>{}", long(MAX_VALUE))),
            ),
            // A value without `${` is not interpolated, so not bounded here.
            (long(MAX_VALUE + 1), vec![], Ok(long(MAX_VALUE + 1))),
        ];
        assert_eq!(MAX_VALUE, 65536, "the rows' messages spell it out");
        for (input, env, want) in &rows {
            let short: String = input.chars().take(60).collect();
            match (want, run(input, env)) {
                (Ok(text), Ok(n)) => {
                    assert_eq!(&render(&n), text, "{short}");
                    if let RKind::Scalar(segs) = &n.kind {
                        // merge(): adjacent literals are joined, and a scalar is never empty.
                        assert!(!segs.is_empty(), "{short}");
                        assert!(
                            !segs
                                .windows(2)
                                .any(|w| matches!(w, [Segment::Literal(_), Segment::Literal(_)])),
                            "{short}: {segs:?}"
                        );
                    }
                }
                (Err((kind, says)), Err(e)) => {
                    assert_eq!(e.kind(), *kind, "{short}: {e}");
                    let text = format!("{}\n{}", e.message(), e.help_text().unwrap_or_default());
                    assert!(text.contains(says), "{short}: {text}");
                    assert!(
                        e.yaml_path().is_some_and(|p| p.starts_with("Conf.inputs.")),
                        "{short}: {:?}",
                        e.yaml_path()
                    );
                    assert!(e.line().is_some(), "{short}: an error points into the file");
                }
                (want, got) => panic!(
                    "{short}: want {want:?}, got {:?}",
                    got.as_ref().map(render).map_err(|e| e.to_string())
                ),
            }
        }
    }

    #[test]
    fn an_error_points_at_the_reference_in_the_string() {
        // `    v: 'ok ${stage} ${Nope.x}'` on line 11: the bad reference starts at column 21.
        let e = run("ok ${stage} ${Nope.x}", &[]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownInstance);
        assert_eq!((e.line(), e.column()), (Some(11), Some(21)), "{e}");
        let e = run("ok ${stage", &[]).unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(11), Some(12)), "{e}");
    }
}
