//! The classic backend: API Gateway (service + WebSocket API + release), three SCF functions
//! and a COS bucket. It turns the desired stack and the observed state into a [`Plan`] and
//! applies it as a dependency graph (DESIGN §4):
//!
//! ```text
//! bucket ───────────────┐
//! function ×3 (create) ─┼─→ CreateApi → DescribeApi (InternalDomain) → config update ×3 → ReleaseService
//! service ──────────────┘
//! ```
//!
//! A warm redeploy already knows the push-back URL, so functions are created or updated with it
//! in one step and the wiring phase is empty. Nothing unchanged is touched.
//!
//! Change detection: the deterministic zip's SHA-256 travels with the function as the
//! environment variable [`CODE_VAR`] (and as the `chatstack:code-sha256` tag at creation). SCF
//! has no API to change a function's tags after creation, so the variable is what a later deploy
//! compares; the other configuration fields are compared with GetFunction's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::graph::{Graph, Observer, StepId};
use super::journal::{Journal, Record};
use super::plan::{self, Action, Change, ResourceState};
use super::{Observed, tags};
use crate::config::{Function, FunctionRole, Outputs, Stack};
use crate::package::Package;
use crate::providers::tencent::apigateway::{
    ApiSpec, CreateServiceRequest, ModifyApiRequest, WebsocketFunctions,
};
use crate::providers::tencent::scf::{
    Code, CreateFunctionRequest, Environment, FunctionInfo, UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest, Variable,
};
use crate::providers::tencent::{self, Tag, TencentCloud};

/// Environment variable carrying the code package's SHA-256 (see the module docs).
pub const CODE_VAR: &str = "CHATSTACK_CODE_SHA256";
/// Qualifier the WebSocket API binds.
const QUALIFIER: &str = "$LATEST";
/// How many times a create that must not be resent blindly (CreateService, CreateApi) is
/// sent, each after a look-up found that the previous one with an unknown outcome did not
/// happen.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 4;

/// What deploy will do to each resource.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The user-facing list of changes.
    pub changes: Vec<Change>,
    bucket: Step,
    functions: Vec<Step>,
    service: Step,
    api: Step,
    release: Step,
    /// Gateway outputs known before applying (from the observed API).
    outputs: Outputs,
    service_id: Option<String>,
    api_id: Option<String>,
}

/// The action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Replace,
    Update { code: bool, config: bool },
    Keep,
}

impl Plan {
    /// Whether applying changes anything.
    pub fn has_changes(&self) -> bool {
        plan::has_changes(&self.changes)
    }
}

/// The gateway outputs the observed state already provides.
pub fn known_outputs(stack: &Stack, observed: &Observed) -> Outputs {
    let mut out = Outputs::default();
    if let Some(gw) = &observed.gateway {
        out.service_id = Some(gw.service_id.clone());
        if let Some(api) = &gw.api {
            out.pushback_url = api.internal_domain.clone();
            out.client_url = Some(super::websocket_url(
                &gw.outer_sub_domain,
                gw.secure,
                &stack.gateway.environment,
                &stack.gateway.websocket.path,
            ));
        }
    }
    out
}

/// The environment SCF should hold for `f`: its variables with outputs filled in, plus the code
/// hash. `None` for a variable whose output is not known yet.
fn desired_env(f: &Function, sha256: &str, outputs: &Outputs) -> Vec<(String, Option<String>)> {
    let mut vars: Vec<(String, Option<String>)> = f
        .environment
        .iter()
        .map(|v| (v.key.clone(), v.value.resolve(outputs)))
        .collect();
    vars.push((CODE_VAR.to_owned(), Some(sha256.to_owned())));
    vars
}

/// Whether `f`'s environment needs a gateway output.
fn needs_outputs(f: &Function) -> bool {
    f.environment.iter().any(|v| v.value.is_deferred())
}

/// A digest of an environment (values never leave this function), ignoring [`CODE_VAR`].
fn env_digest<'a>(vars: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let mut sorted: Vec<(&str, Option<&str>)> = vars.filter(|(k, _)| *k != CODE_VAR).collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update(b"=");
        match v {
            Some(v) => h.update(v.as_bytes()),
            // Unknown yet: can never equal an observed value.
            None => h.update(b"\0pending\0"),
        }
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..12])
}

fn function_state(f: &Function, sha256: &str, outputs: &Outputs) -> ResourceState {
    let env = desired_env(f, sha256, outputs);
    ResourceState::new("function", &f.name)
        .prop("code", sha256)
        .prop("handler", &f.handler)
        .prop("runtime", &f.runtime)
        .prop("timeout", f.timeout.to_string())
        .prop("memorySize", f.memory_size.to_string())
        .prop("role", f.exec_role.clone().unwrap_or_default())
        .prop("description", f.description.clone().unwrap_or_default())
        .prop(
            "environment",
            env_digest(env.iter().map(|(k, v)| (k.as_str(), v.as_deref()))),
        )
}

fn observed_function_state(info: &FunctionInfo) -> ResourceState {
    let vars = &info.environment.variables;
    let code = vars
        .iter()
        .find(|v| v.key == CODE_VAR)
        .map(|v| v.value.as_str())
        .or_else(|| info.tag(tags::CODE_SHA256))
        .unwrap_or_default();
    ResourceState::new("function", &info.function_name)
        .prop("code", code)
        .prop("handler", &info.handler)
        .prop("runtime", &info.runtime)
        .prop("timeout", info.timeout.to_string())
        .prop("memorySize", info.memory_size.to_string())
        .prop("role", &info.role)
        .prop("description", &info.description)
        .prop(
            "environment",
            env_digest(
                vars.iter()
                    .map(|v| (v.key.as_str(), Some(v.value.as_str()))),
            ),
        )
}

fn api_state(stack: &Stack) -> ResourceState {
    let ws = &stack.gateway.websocket;
    ResourceState::new("websocket-api", &ws.path)
        .prop("timeout", ws.timeout.to_string())
        .prop("register", &ws.register)
        .prop("transport", &ws.transport)
        .prop("cleanup", &ws.cleanup)
}

/// Diffs the desired stack against what exists.
pub fn plan(stack: &Stack, observed: &Observed, packages: &[Package]) -> Result<Plan, Error> {
    let outputs = known_outputs(stack, observed);
    let mut desired = Vec::new();
    let mut have = Vec::new();

    desired.push(ResourceState::new("bucket", &observed.bucket.name));
    if observed.bucket.exists {
        have.push(ResourceState::new("bucket", &observed.bucket.name));
    }

    for (f, pkg) in stack.functions.iter().zip(packages) {
        desired.push(function_state(f, &pkg.sha256, &outputs));
    }
    for o in &observed.functions {
        let Some(info) = &o.detail else { continue };
        check_owner(
            stack,
            "function",
            &o.name,
            info.tag(tags::STACK),
            info.tag(tags::STAGE),
        )?;
        let want = stack.functions.iter().find(|f| f.name == o.name);
        if let Some(want) = want
            && !info.runtime.is_empty()
            && info.runtime != want.runtime
            && !info.is_failed()
        {
            return Err(Error::RuntimeChange {
                name: o.name.clone(),
                have: info.runtime.clone(),
                want: want.runtime.clone(),
            });
        }
        have.push(observed_function_state(info));
    }

    let gw = &stack.gateway;
    desired.push(
        ResourceState::new("gateway-service", &gw.service_name)
            .prop("protocol", gw.protocol_value()),
    );
    desired.push(api_state(stack));
    if let Some(g) = &observed.gateway {
        // Protocol changes need ModifyService, which the classic flow does not use: compare
        // only existence for the service.
        have.push(
            ResourceState::new("gateway-service", &gw.service_name)
                .prop("protocol", gw.protocol_value()),
        );
        if let Some(api) = &g.api {
            have.push(
                ResourceState::new("websocket-api", &api.path)
                    .prop("timeout", api.timeout.to_string())
                    .prop("register", api.register.clone().unwrap_or_default())
                    .prop("transport", api.transport.clone().unwrap_or_default())
                    .prop("cleanup", api.cleanup.clone().unwrap_or_default()),
            );
        }
    }

    let mut changes = plan::diff(&desired, &have);
    // Observed resources outside the stack (another API path, say) are not ours to delete.
    changes.retain(|c| c.action != Action::Delete);

    let api_key = api_state(stack).label();
    let api_change = changes.iter().find(|c| c.resource == api_key).cloned();
    let api_changes = api_change
        .as_ref()
        .is_some_and(|c| c.action != Action::NoChange);
    let released = observed
        .gateway
        .as_ref()
        .is_some_and(|g| g.released.contains(&gw.environment));
    let release_action = if !released {
        Action::Create
    } else if api_changes {
        Action::Update
    } else {
        Action::NoChange
    };
    changes.push(Change {
        resource: format!("release {}", gw.environment),
        action: release_action,
        fields: if release_action == Action::Update {
            vec!["api".to_owned()]
        } else {
            vec![]
        },
        files: Vec::new(),
    });

    // A function left in CreateFailed is deleted and created again.
    for f in &stack.functions {
        let failed = observed
            .functions
            .iter()
            .find(|o| o.name == f.name)
            .and_then(|o| o.detail.as_ref())
            .is_some_and(|i| i.status == "CreateFailed");
        let label = format!("function {}", f.name);
        if let Some(c) = changes
            .iter_mut()
            .find(|c| c.resource == label)
            .filter(|_| failed)
        {
            c.action = Action::Replace;
            c.fields.clear();
        }
    }
    let functions = stack
        .functions
        .iter()
        .map(|f| step_of(&changes, &format!("function {}", f.name)))
        .collect();

    Ok(Plan {
        bucket: step_of(&changes, &format!("bucket {}", observed.bucket.name)),
        functions,
        service: step_of(&changes, &format!("gateway-service {}", gw.service_name)),
        api: step_of(&changes, &api_key),
        release: match release_action {
            Action::NoChange => Step::Keep,
            _ => Step::Create,
        },
        changes,
        service_id: observed.gateway.as_ref().map(|g| g.service_id.clone()),
        api_id: observed
            .gateway
            .as_ref()
            .and_then(|g| g.api.as_ref())
            .map(|a| a.api_id.clone()),
        outputs,
    })
}

/// The step for the resource labelled `label`.
fn step_of(changes: &[Change], label: &str) -> Step {
    match changes.iter().find(|c| c.resource == label) {
        Some(c) => match c.action {
            Action::Create => Step::Create,
            Action::Replace => Step::Replace,
            Action::Update => Step::Update {
                code: c.fields.iter().any(|f| f == "code"),
                config: c.fields.iter().any(|f| f != "code"),
            },
            Action::NoChange | Action::Delete => Step::Keep,
        },
        None => Step::Keep,
    }
}

/// Refuses to take over a resource tagged for another stack or stage.
pub(crate) fn check_owner(
    stack: &Stack,
    kind: &str,
    name: &str,
    tag_stack: Option<&str>,
    tag_stage: Option<&str>,
) -> Result<(), Error> {
    match (tag_stack, tag_stage) {
        (Some(s), Some(g)) if s != stack.name || g != stack.stage => Err(Error::Foreign {
            resource: format!("{kind} {name}"),
            other_stack: s.to_owned(),
            other_stage: g.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Overall deadline.
    pub timeout: Duration,
    /// Ctrl-C.
    pub cancel: CancellationToken,
}

/// What an apply produced.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Seconds per phase, in order.
    pub timings: Vec<(&'static str, f64)>,
    /// Gateway outputs after the apply.
    pub outputs: Outputs,
    /// The gateway service and WebSocket API ids after the apply (for a read-back that needs
    /// no search).
    pub service_id: Option<String>,
    /// The WebSocket API id.
    pub api_id: Option<String>,
}

/// Shared by the steps of one apply.
struct Ctx {
    stack: Stack,
    cloud: TencentCloud,
    packages: Vec<Package>,
    bucket: String,
    journal: Journal,
    cancel: CancellationToken,
    deadline: tokio::time::Instant,
    state: Mutex<Live>,
}

/// What the steps learn as they go.
#[derive(Debug, Default)]
struct Live {
    outputs: Outputs,
    service_id: Option<String>,
    outer_sub_domain: Option<String>,
    protocol: Option<String>,
    api_id: Option<String>,
    /// Each function as last seen settled by this apply.
    functions: BTreeMap<String, FunctionInfo>,
}

impl Ctx {
    fn live<R>(&self, f: impl FnOnce(&mut Live) -> R) -> R {
        f(&mut self.state.lock().expect("deploy state lock"))
    }

    /// Records what now exists in the journal, at once.
    fn record(&self, f: impl FnOnce(&mut Record)) -> Result<(), Error> {
        Ok(self.journal.update(f)?)
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(1))
    }

    /// Waits until `name` settles (or is gone), honouring Ctrl-C and the deadline.
    async fn settle(&self, name: &str, namespace: &str) -> Result<Option<FunctionInfo>, Error> {
        let scf = self.cloud.scf();
        tokio::select! {
            r = scf.wait_for_function(name, Some(namespace), self.remaining()) => Ok(r?),
            () = self.cancel.cancelled() => Err(Error::Interrupted),
        }
    }

    /// Waits until `name` is `Active`; a `*Failed` state is an error.
    async fn settle_active(&self, name: &str, namespace: &str) -> Result<FunctionInfo, Error> {
        match self.settle(name, namespace).await? {
            Some(info) if info.is_active() => {
                self.live(|l| l.functions.insert(name.to_owned(), info.clone()));
                Ok(info)
            }
            Some(info) => Err(Error::FunctionFailed {
                name: name.to_owned(),
                reason: info
                    .failure_reason()
                    .map(str::to_owned)
                    .unwrap_or_else(|| info.status_desc.clone()),
                status: info.status,
            }),
            None => Err(Error::FunctionFailed {
                name: name.to_owned(),
                status: "deleted".to_owned(),
                reason: "the function disappeared while deploying".to_owned(),
            }),
        }
    }

    fn environment(&self, i: usize) -> (Environment, bool) {
        let f = &self.stack.functions[i];
        let outputs = self.live(|l| l.outputs.clone());
        let mut complete = true;
        let variables = desired_env(f, &self.packages[i].sha256, &outputs)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some(Variable::new(k, v)),
                None => {
                    complete = false;
                    None
                }
            })
            .collect();
        (Environment { variables }, complete)
    }

    fn tags(&self) -> Vec<Tag> {
        vec![
            Tag::new(tags::STACK, &self.stack.name),
            Tag::new(tags::STAGE, &self.stack.stage),
        ]
    }
}

/// Retries `op` while the function is busy (`FailedOperation.*` state conflicts), waiting for it
/// to settle in between.
async fn when_idle<T, F, Fut>(ctx: &Ctx, f: &Function, mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tencent::Error>>,
{
    let mut tries = 0;
    loop {
        match op().await {
            Err(e) if e.is_state_conflict() && tries < 8 => {
                tries += 1;
                ctx.settle(&f.name, &f.namespace).await?;
            }
            other => return other.map_err(Error::from),
        }
    }
}

async fn create_function(ctx: &Ctx, i: usize) -> Result<(), Error> {
    let f = &ctx.stack.functions[i];
    let (environment, _) = ctx.environment(i);
    let mut tags = ctx.tags();
    tags.push(Tag::new(tags::CODE_SHA256, &ctx.packages[i].sha256));
    let req = CreateFunctionRequest {
        function_name: f.name.clone(),
        code: Code::zip(&ctx.packages[i].zip),
        handler: Some(f.handler.clone()),
        runtime: Some(f.runtime.clone()),
        namespace: Some(f.namespace.clone()),
        description: f.description.clone(),
        environment: Some(environment),
        timeout: Some(f.timeout),
        memory_size: Some(f.memory_size),
        role: f.exec_role.clone(),
        tags: Some(tags),
        ..CreateFunctionRequest::default()
    };
    match ctx.cloud.scf().create_function(&req).await {
        Ok(()) => {}
        // A retried create whose first attempt went through: adopt it, then make it match.
        Err(e) if e.is_already_exists() => {
            let info = ctx.settle_active(&f.name, &f.namespace).await?;
            ctx.record(|r| {
                r.functions.insert(f.name.clone(), String::new());
            })?;
            return update_function(ctx, i, Some(info), true, true).await;
        }
        Err(e) => return Err(e.into()),
    }
    ctx.record(|r| r.code_deployed(&f.name, &ctx.packages[i]))?;
    ctx.settle_active(&f.name, &f.namespace).await?;
    Ok(())
}

async fn update_function(
    ctx: &Ctx,
    i: usize,
    info: Option<FunctionInfo>,
    code: bool,
    config: bool,
) -> Result<(), Error> {
    let f = &ctx.stack.functions[i];
    let info = match info {
        Some(info) => info,
        None => ctx.settle_active(&f.name, &f.namespace).await?,
    };
    let code = code
        || info
            .environment
            .variables
            .iter()
            .find(|v| v.key == CODE_VAR)
            .is_none_or(|v| v.value != ctx.packages[i].sha256);
    if code {
        let req = UpdateFunctionCodeRequest {
            function_name: f.name.clone(),
            namespace: Some(f.namespace.clone()),
            handler: Some(f.handler.clone()),
            code: Some(Code::zip(&ctx.packages[i].zip)),
            ..UpdateFunctionCodeRequest::default()
        };
        let scf = ctx.cloud.scf();
        when_idle(ctx, f, || scf.update_function_code(&req)).await?;
        ctx.settle_active(&f.name, &f.namespace).await?;
    }
    if config || code {
        configure(ctx, i).await?;
    }
    ctx.record(|r| r.code_deployed(&f.name, &ctx.packages[i]))
}

/// UpdateFunctionConfiguration with the full variable set (a partial list would drop the rest).
async fn configure(ctx: &Ctx, i: usize) -> Result<(), Error> {
    let f = &ctx.stack.functions[i];
    let (environment, _) = ctx.environment(i);
    let req = UpdateFunctionConfigurationRequest {
        function_name: f.name.clone(),
        namespace: Some(f.namespace.clone()),
        description: Some(f.description.clone().unwrap_or_default()),
        memory_size: Some(f.memory_size),
        timeout: Some(f.timeout),
        environment: Some(environment),
        role: f.exec_role.clone(),
        ..UpdateFunctionConfigurationRequest::default()
    };
    let scf = ctx.cloud.scf();
    when_idle(ctx, f, || scf.update_function_configuration(&req)).await?;
    ctx.settle_active(&f.name, &f.namespace).await?;
    Ok(())
}

async fn ensure_function(ctx: Arc<Ctx>, i: usize, step: Step) -> Result<(), Error> {
    let f = &ctx.stack.functions[i];
    match step {
        Step::Create => create_function(&ctx, i).await,
        Step::Replace => {
            ctx.cloud
                .scf()
                .delete_function(&f.name, Some(&f.namespace))
                .await?;
            if ctx.settle(&f.name, &f.namespace).await?.is_some() {
                // Still there after settling: a delete that failed.
                return Err(Error::FunctionFailed {
                    name: f.name.clone(),
                    status: "DeleteFailed".to_owned(),
                    reason: "could not delete the broken function to create it again".to_owned(),
                });
            }
            create_function(&ctx, i).await
        }
        Step::Update { code, config } => update_function(&ctx, i, None, code, config).await,
        Step::Keep => Ok(()),
    }
}

/// After the push-back URL is known: give a function the variables that needed it.
async fn wire_function(ctx: Arc<Ctx>, i: usize) -> Result<(), Error> {
    let f = &ctx.stack.functions[i];
    // Phase 1 left it Active (and nothing else changes it under our lock); a function phase 1
    // did not touch is read now.
    let info = match ctx.live(|l| l.functions.get(&f.name).cloned()) {
        Some(info) => info,
        None => ctx.settle_active(&f.name, &f.namespace).await?,
    };
    let (environment, _) = ctx.environment(i);
    let have: BTreeMap<&str, &str> = info
        .environment
        .variables
        .iter()
        .map(|v| (v.key.as_str(), v.value.as_str()))
        .collect();
    let want: BTreeMap<&str, &str> = environment
        .variables
        .iter()
        .map(|v| (v.key.as_str(), v.value.as_str()))
        .collect();
    if have != want {
        configure(&ctx, i).await?;
    }
    Ok(())
}

async fn ensure_bucket(ctx: Arc<Ctx>) -> Result<(), Error> {
    ctx.cloud
        .cos()
        .put_bucket(&ctx.bucket, &ctx.stack.bucket.region)
        .await?;
    ctx.record(|r| r.bucket = Some(ctx.bucket.clone()))
}

async fn ensure_service(ctx: Arc<Ctx>) -> Result<(), Error> {
    let gw = &ctx.stack.gateway;
    let apigw = ctx.cloud.apigateway();
    let req = CreateServiceRequest {
        service_name: gw.service_name.clone(),
        protocol: gw.protocol_value().to_owned(),
        service_desc: gw.description.clone(),
        tags: Some(ctx.tags()),
        ..CreateServiceRequest::default()
    };
    let tags = [
        (tags::STACK, ctx.stack.name.as_str()),
        (tags::STAGE, ctx.stack.stage.as_str()),
    ];
    // CreateService is never resent blindly (a repeat makes a second service). When its
    // outcome is unknown, look for it by our tags; only if it is not there, send it again.
    let mut attempt = 1;
    let (id, domain, protocol) = loop {
        match apigw.create_service(&req).await {
            Ok(s) => {
                break (
                    s.service_id,
                    s.outer_sub_domain,
                    gw.protocol_value().to_owned(),
                );
            }
            Err(e) if e.is_outcome_unknown() && attempt < UNKNOWN_OUTCOME_ATTEMPTS => {
                if let Some(s) = apigw.find_services_by_tags(&tags).await?.into_iter().next() {
                    break (s.service_id, s.outer_sub_domain, s.protocol);
                }
                attempt += 1;
            }
            Err(e) => return Err(Error::from_gateway_create(e)),
        }
    };
    ctx.live(|l| {
        l.outputs.service_id = Some(id.clone());
        l.service_id = Some(id.clone());
        l.outer_sub_domain = Some(domain);
        l.protocol = Some(protocol);
    });
    ctx.record(|r| {
        r.entry.insert("serviceId".to_owned(), id);
    })
}

fn api_spec(ctx: &Ctx, service_id: &str) -> ApiSpec {
    let ws = &ctx.stack.gateway.websocket;
    let namespace = ctx
        .stack
        .functions
        .iter()
        .find(|f| f.role == Some(FunctionRole::Register))
        .map_or("default", |f| f.namespace.as_str());
    ApiSpec::websocket(
        service_id,
        &format!("{}_ws", ctx.stack.name),
        &ws.path,
        ws.timeout,
        WebsocketFunctions {
            register: &ws.register,
            transport: &ws.transport,
            cleanup: &ws.cleanup,
            namespace,
            qualifier: QUALIFIER,
        },
    )
}

async fn ensure_api(ctx: Arc<Ctx>, step: Step) -> Result<(), Error> {
    let apigw = ctx.cloud.apigateway();
    let (service_id, api_id) = ctx.live(|l| (l.service_id.clone(), l.api_id.clone()));
    let service_id = service_id.expect("the service step ran first");
    let spec = api_spec(&ctx, &service_id);
    let api_id = match (step, api_id) {
        // Like CreateService: after an unknown outcome, look for the API before sending again.
        (Step::Create, _) | (_, None) => {
            let path = &ctx.stack.gateway.websocket.path;
            let mut attempt = 1;
            loop {
                match apigw.create_api(&spec).await {
                    Ok(created) => break created.api_id,
                    Err(e) if e.is_outcome_unknown() && attempt < UNKNOWN_OUTCOME_ATTEMPTS => {
                        let found = apigw.list_apis(&service_id).await?.into_iter().find(|a| {
                            &a.path == path && a.protocol.eq_ignore_ascii_case("WEBSOCKET")
                        });
                        if let Some(a) = found {
                            break a.api_id;
                        }
                        attempt += 1;
                    }
                    Err(e) => return Err(Error::from_gateway_create(e)),
                }
            }
        }
        (_, Some(id)) => {
            apigw
                .modify_api(&ModifyApiRequest {
                    api_id: id.clone(),
                    spec,
                })
                .await?;
            id
        }
    };
    ctx.live(|l| l.api_id = Some(api_id.clone()));
    ctx.record(|r| {
        r.entry.insert("apiId".to_owned(), api_id);
    })?;
    // The push-back URL: DescribeApi until InternalDomain is set.
    let mut delay = Duration::from_millis(200);
    let url = loop {
        let info = apigw
            .describe_api(
                &service_id,
                ctx.live(|l| l.api_id.clone())
                    .as_deref()
                    .unwrap_or_default(),
            )
            .await?;
        if !info.internal_domain.is_empty() {
            break info.internal_domain;
        }
        if ctx.remaining() <= delay {
            return Err(Error::Timeout {
                seconds: 0,
                unfinished: vec!["push-back URL".to_owned()],
            });
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = ctx.cancel.cancelled() => return Err(Error::Interrupted),
        }
        delay = delay.mul_f64(1.5).min(tencent::scf::POLL_CAP);
    };
    ctx.live(|l| {
        l.outputs.pushback_url = Some(url.clone());
        if let (Some(domain), Some(protocol)) = (&l.outer_sub_domain, &l.protocol) {
            l.outputs.client_url = Some(super::websocket_url(
                domain,
                protocol.contains("https")
                    && ctx.cloud.endpoint().is_none_or(|e| e.scheme() == "https"),
                &ctx.stack.gateway.environment,
                &ctx.stack.gateway.websocket.path,
            ));
        }
    });
    ctx.record(|r| {
        r.entry.insert("pushbackUrl".to_owned(), url);
    })
}

async fn release(ctx: Arc<Ctx>) -> Result<(), Error> {
    let service_id = ctx
        .live(|l| l.service_id.clone())
        .expect("the service step ran first");
    ctx.cloud
        .apigateway()
        .release_service(
            &service_id,
            &ctx.stack.gateway.environment,
            "chatstack deploy",
        )
        .await?;
    Ok(())
}

/// Applies `plan`, recording each resource in `journal` the moment it exists.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    stack: &Stack,
    cloud: &TencentCloud,
    observed: &Observed,
    plan: &Plan,
    packages: Vec<Package>,
    journal: Journal,
    opts: &ApplyOptions,
    observer: &dyn Observer,
) -> Result<Applied, Error> {
    let gw_obs = observed.gateway.as_ref();
    let ctx = Arc::new(Ctx {
        stack: stack.clone(),
        cloud: cloud.clone(),
        packages,
        bucket: observed.bucket.name.clone(),
        journal,
        cancel: opts.cancel.clone(),
        deadline: tokio::time::Instant::now() + opts.timeout,
        state: Mutex::new(Live {
            outputs: plan.outputs.clone(),
            service_id: plan.service_id.clone(),
            outer_sub_domain: gw_obs.map(|g| g.outer_sub_domain.clone()),
            protocol: gw_obs.map(|g| g.protocol.clone()),
            api_id: plan.api_id.clone(),
            functions: BTreeMap::new(),
        }),
    });

    let mut graph: Graph<Error> = Graph::new();
    if plan.bucket != Step::Keep {
        graph.add(
            format!("bucket {}", ctx.bucket),
            "bucket",
            &[],
            ensure_bucket(ctx.clone()),
        );
    }
    // Functions whose variables wait for a gateway output not known yet get them in phase 2.
    let pushback_known = plan.outputs.pushback_url.is_some();
    let mut function_steps: Vec<Option<StepId>> = Vec::new();
    for (i, f) in stack.functions.iter().enumerate() {
        let step = plan.functions[i];
        function_steps.push((step != Step::Keep).then(|| {
            let verb = match step {
                Step::Create => "create",
                Step::Replace => "replace",
                _ => "update",
            };
            graph.add(
                format!("{verb} function {}", f.name),
                "functions",
                &[],
                ensure_function(ctx.clone(), i, step),
            )
        }));
    }
    let service_step = (plan.service != Step::Keep).then(|| {
        graph.add(
            format!("create gateway service {}", stack.gateway.service_name),
            "gateway",
            &[],
            ensure_service(ctx.clone()),
        )
    });
    let api_deps: Vec<StepId> = function_steps
        .iter()
        .flatten()
        .copied()
        .chain(service_step)
        .collect();
    let api_step = (plan.api != Step::Keep || plan.service != Step::Keep).then(|| {
        let verb = if plan.api == Step::Create || plan.api_id.is_none() {
            "create"
        } else {
            "update"
        };
        graph.add(
            format!("{verb} websocket api {}", stack.gateway.websocket.path),
            "gateway",
            &api_deps,
            ensure_api(ctx.clone(), plan.api),
        )
    });
    let mut wire_steps = Vec::new();
    if !pushback_known {
        for (i, f) in stack.functions.iter().enumerate() {
            if !needs_outputs(f) {
                continue;
            }
            let deps: Vec<StepId> = api_step.into_iter().chain(function_steps[i]).collect();
            wire_steps.push(graph.add(
                format!("wire push-back URL into {}", f.name),
                "wiring",
                &deps,
                wire_function(ctx.clone(), i),
            ));
        }
    }
    if plan.release != Step::Keep || api_step.is_some() {
        let deps: Vec<StepId> = api_step
            .into_iter()
            .chain(wire_steps.iter().copied())
            .collect();
        graph.add(
            format!("release {}", stack.gateway.environment),
            "release",
            &deps,
            release(ctx.clone()),
        );
    }

    let report = graph.run(opts.timeout, &opts.cancel, observer).await;
    let timings = Error::from_report(report, opts.timeout)?;
    Ok(ctx.live(|l| Applied {
        timings,
        outputs: l.outputs.clone(),
        service_id: l.service_id.clone(),
        api_id: l.api_id.clone(),
    }))
}
