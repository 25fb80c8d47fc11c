//! The typed stack: what the rest of chatstack knows of a stack file.
//!
//! Built by [`crate::config::load`] after every check has passed; nothing downstream touches
//! YAML or re-validates. Values that only exist once the gateway is deployed (the push-back URL,
//! the client URL, the service id) are kept as [`Deferred`] segments that deploy resolves.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::secret::Secret;

/// A whole stack file, resolved and validated.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The stack file it came from.
    pub path: PathBuf,
    /// Stack name, used in the `chatstack:stack` tag: the gateway's `serviceName`.
    pub name: String,
    /// Stage name (`--stage`, default `dev`), used in `${stage}` and the `chatstack:stage` tag.
    pub stage: String,
    /// Region of the stack (the gateway's; every resource must share it).
    pub region: String,
    /// Credentials written in the global `Conf` block (`secret_id`/`secret_key`), if both are set.
    pub file_credentials: Option<FileCredentials>,
    /// The COS bucket that keeps connection ids.
    pub bucket: Bucket,
    /// The API Gateway service with its WebSocket endpoint.
    pub gateway: Gateway,
    /// The SCF functions, in file order.
    pub functions: Vec<Function>,
    /// Things worth telling the user once, before any change (secrets in the file, stale
    /// push-back literals, …).
    pub warnings: Vec<Warning>,
}

/// Keys found in the stack file's `Conf` block.
#[derive(Debug, Clone)]
pub struct FileCredentials {
    /// `secret_id`.
    pub secret_id: String,
    /// `secret_key`.
    pub secret_key: Secret,
}

/// `@serverless/tencent-cos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Instance name in the file (e.g. `myBucket`).
    pub instance: String,
    /// Bucket name as written, e.g. `chat-cos-1256773370` or `chat-cos`.
    pub name: String,
    /// The APPID suffix when the name carries one (`1256773370` above).
    pub appid: Option<u64>,
    /// Region, e.g. `ap-guangzhou`.
    pub region: String,
}

impl Bucket {
    /// The full bucket id `{name}-{appid}`: the name as written when it already ends in an
    /// APPID, else with the account's APPID appended.
    pub fn full_name(&self, account_appid: u64) -> String {
        match self.appid {
            Some(_) => self.name.clone(),
            None => format!("{}-{account_appid}", self.name),
        }
    }
}

/// `@serverless/tencent-apigateway`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Instance name in the file (e.g. `restApi`), the prefix of `${restApi.…}` outputs.
    pub instance: String,
    /// `serviceName`.
    pub service_name: String,
    /// `description`, if any.
    pub description: Option<String>,
    /// Region.
    pub region: String,
    /// `protocols`: `http`, `https` or both; `https` makes the client URL `wss://`.
    pub protocols: Vec<Protocol>,
    /// Release environment: `release` (default), `prepub` or `test`.
    pub environment: String,
    /// The one WebSocket endpoint.
    pub websocket: WebSocketEndpoint,
}

impl Gateway {
    /// The API 3.0 `Protocol` value of the service: `http`, `https` or `http&https`.
    pub fn protocol_value(&self) -> &'static str {
        let http = self.protocols.contains(&Protocol::Http);
        let https = self.protocols.contains(&Protocol::Https);
        match (http, https) {
            (true, true) => "http&https",
            (false, true) => "https",
            _ => "http",
        }
    }
}

/// A front-end protocol of the gateway service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http` (clients use `ws://`).
    Http,
    /// `https` (clients use `wss://`).
    Https,
}

/// The endpoint with `protocol: WEBSOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketEndpoint {
    /// Request path, starting with `/`.
    pub path: String,
    /// `serviceTimeout` in seconds (1–1800 for WebSocket; default 15).
    pub timeout: u32,
    /// Name of the function run on connect.
    pub register: String,
    /// Name of the function run per message.
    pub transport: String,
    /// Name of the function run on disconnect.
    pub cleanup: String,
}

/// What a function does for the WebSocket endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionRole {
    /// Runs on connect.
    Register,
    /// Runs on each message.
    Transport,
    /// Runs on disconnect.
    Cleanup,
}

impl FunctionRole {
    /// `register`, `transport` or `cleanup`, as in `info --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            FunctionRole::Register => "register",
            FunctionRole::Transport => "transport",
            FunctionRole::Cleanup => "cleanup",
        }
    }
}

/// `@serverless/tencent-scf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Instance name in the file.
    pub instance: String,
    /// SCF `FunctionName`.
    pub name: String,
    /// Its part in the WebSocket endpoint, if it is bound.
    pub role: Option<FunctionRole>,
    /// `codeUri`, made absolute against the stack file's directory; an existing directory.
    pub code_dir: PathBuf,
    /// `exclude` globs (gitignore syntax) left out of the package.
    pub exclude: Vec<String>,
    /// `handler`, `module.function`.
    pub handler: String,
    /// `file:line:column` of `handler` in the stack file, for errors found later (packaging).
    pub handler_location: String,
    /// `runtime`, e.g. `Python3.9`.
    pub runtime: String,
    /// Region.
    pub region: String,
    /// `namespace`, default `default`.
    pub namespace: String,
    /// `timeout` in seconds, default 3.
    pub timeout: u32,
    /// `memorySize` in MB, default 128.
    pub memory_size: u32,
    /// `role`, the execution role, if any.
    pub exec_role: Option<String>,
    /// `description`, if any.
    pub description: Option<String>,
    /// `environment.variables`, in file order, then `PUSHBACK_URL` for bound functions.
    pub environment: Vec<EnvVar>,
}

/// One environment variable. `Debug` hides the value of a sensitive one.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Variable name.
    pub key: String,
    /// Its value, possibly waiting for a gateway output.
    pub value: Value,
    /// Whether the value is a secret (it comes from a `secret_*`/`*password*`/`*token*`… key,
    /// such as `${Conf.secret_key}`, or its own name looks like one): plan output redacts it.
    pub sensitive: bool,
}

impl std::fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("EnvVar");
        d.field("key", &self.key);
        if self.sensitive {
            d.field("value", &format_args!("** redacted **"));
        } else {
            d.field("value", &self.value);
        }
        d.field("sensitive", &self.sensitive).finish()
    }
}

impl EnvVar {
    /// A variable known now; sensitive when its name looks like a secret.
    pub fn literal(key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        EnvVar {
            sensitive: looks_secret(&key),
            value: Value::literal(value),
            key,
        }
    }

    /// The value for display: `** redacted **` when sensitive, else the text with gateway
    /// outputs shown as `${internalDomain}`, `${url}`, `${serviceId}`.
    pub fn display_value(&self) -> String {
        if self.sensitive {
            return "** redacted **".to_owned();
        }
        self.value.display()
    }
}

/// A string that may contain gateway outputs only known during deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value(pub Vec<Segment>);

/// Part of a [`Value`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text known now.
    Literal(String),
    /// A gateway output.
    Deferred(Deferred),
}

/// Gateway outputs that exist once the API does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deferred {
    /// `${restApi.internalDomain}` (and the seed's hoped-for spellings): the push-back URL.
    PushbackUrl,
    /// `${restApi.url}`: the `ws://`/`wss://` client URL.
    ClientUrl,
    /// `${restApi.serviceId}`.
    ServiceId,
}

/// Values of the gateway outputs, once deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    /// The API's `InternalDomain`.
    pub pushback_url: Option<String>,
    /// The client URL.
    pub client_url: Option<String>,
    /// The service id.
    pub service_id: Option<String>,
}

impl Value {
    /// A value known now.
    pub fn literal(s: impl Into<String>) -> Self {
        Value(vec![Segment::Literal(s.into())])
    }

    /// Whether the value waits for a gateway output.
    pub fn is_deferred(&self) -> bool {
        self.0.iter().any(|s| matches!(s, Segment::Deferred(_)))
    }

    /// The text with outputs not yet known written as `${internalDomain}`, `${url}` and
    /// `${serviceId}`.
    pub fn display(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Deferred(Deferred::PushbackUrl) => out.push_str("${internalDomain}"),
                Segment::Deferred(Deferred::ClientUrl) => out.push_str("${url}"),
                Segment::Deferred(Deferred::ServiceId) => out.push_str("${serviceId}"),
            }
        }
        out
    }

    /// The text with outputs filled in; `None` while an output it needs is unknown.
    pub fn resolve(&self, outputs: &Outputs) -> Option<String> {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Segment::Literal(s) => out.push_str(s),
                Segment::Deferred(d) => out.push_str(match d {
                    Deferred::PushbackUrl => outputs.pushback_url.as_deref()?,
                    Deferred::ClientUrl => outputs.client_url.as_deref()?,
                    Deferred::ServiceId => outputs.service_id.as_deref()?,
                }),
            }
        }
        Some(out)
    }
}

/// A notice about the stack file, shown once before any change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `file:line:column` of what it is about.
    pub location: String,
    /// What was noticed and what to do.
    pub message: String,
}

/// What a stack file is resolved against.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Stage name for `${stage}` (1–20 of `a-z`, `0-9`, `-`; the CLI's default is `dev`).
    pub stage: String,
    /// Environment for `${env:NAME}` (pass `std::env::vars().collect()`).
    pub env: BTreeMap<String, String>,
}

impl Default for LoadOptions {
    /// Stage `dev` (DESIGN §5's default), empty environment.
    fn default() -> Self {
        LoadOptions {
            stage: "dev".to_owned(),
            env: BTreeMap::new(),
        }
    }
}

/// Whether a key names something secret (`secret_key`, `DB_PASSWORD`, `apiToken`, …).
pub(crate) fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "private_key",
        "privatekey",
        "apikey",
        "api_key",
        "access_key",
        "accesskey",
        "credential",
    ]
    .iter()
    .any(|w| k.contains(w))
}
