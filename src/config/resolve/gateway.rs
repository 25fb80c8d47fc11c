//! The `@serverless/tencent-apigateway` instance → [`Gateway`], with its one WebSocket
//! endpoint and the three functions it names ([`Binding`]s, bound to `scf` instances by the
//! caller). Field tables: [`APIGW_FIELDS`], [`ENDPOINT_FIELDS`], [`WS_FUNCTION_FIELDS`].

use super::super::diagnostic::{Error, ErrorKind, Source, suggest};
use super::super::model::*;
use super::super::raw::Span;
use super::interpolate::{Inst, RKind, RNode};
use super::view::{MapView, check_region, describe, number_in, text};

type Result<T> = std::result::Result<T, Error>;

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

pub(super) struct Binding {
    pub(super) name: String,
    pub(super) span: Span,
    pub(super) path: String,
}

pub(super) fn gateway(
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
