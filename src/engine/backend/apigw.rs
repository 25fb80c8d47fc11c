//! The API Gateway backend: a service (found by our tags, then by name), its WebSocket API
//! binding the three functions, and a release (DESIGN §4):
//!
//! ```text
//! bucket ───────────────┐
//! function ×3 (create) ─┼─→ CreateApi → DescribeApi (InternalDomain) → config update ×3 → ReleaseService
//! service ──────────────┘
//! ```
//!
//! The push-back URL belongs to the API, and the API needs its functions to exist: the API
//! step waits for them, and the release waits for the wiring. A warm redeploy already knows
//! the push-back URL, so nothing waits. Removal: DeleteApi → UnReleaseService (each released
//! environment) → DeleteService, before the functions go.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::Serialize;

use super::seam::{Backend, EntryInfo, EntryOutputs, EntryPlan, Fields, ObservedEntry};
use crate::config::{FunctionRole, Outputs, Stack};
use crate::engine::context::ApplyCx;
use crate::engine::error::Error;
use crate::engine::functions::change;
use crate::engine::graph::{Graph, StepId};
use crate::engine::journal::Journal;
use crate::engine::plan::{self, Action, Change, ResourceState};
use crate::engine::tags;
use crate::providers::tencent::apigateway::{
    ApiInfo, ApiSpec, ApiSummary, CreateServiceRequest, ModifyApiRequest, ServiceDetail,
    ServiceSummary, WebsocketFunctions,
};
use crate::providers::tencent::{self, TencentCloud};

/// The backend's name.
pub const NAME: &str = "apigw";
/// Journal and `info --json` key of the service id.
pub const SERVICE_ID: &str = "serviceId";
/// Journal and `info --json` key of the WebSocket API id.
pub const API_ID: &str = "apiId";
/// Journal key of the push-back URL.
pub const PUSHBACK_URL: &str = "pushbackUrl";
/// Qualifier the WebSocket API binds.
const QUALIFIER: &str = "$LATEST";
/// How many times a create that must not be resent blindly (CreateService, CreateApi) is
/// sent, each after a look-up found that the previous one with an unknown outcome did not
/// happen.
const UNKNOWN_OUTCOME_ATTEMPTS: u32 = 4;
/// How long a run that created the stack's service waits before looking for a namesake created
/// at the same time by another run ([`settle`]): more than the one-second resolution of
/// `CreatedTime`.
const SETTLE_WAIT: Duration = Duration::from_millis(1100);

/// The API Gateway backend.
#[derive(Debug, Clone, Copy)]
pub struct ApiGateway;

/// The API Gateway service and its WebSocket API, as observed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Gateway {
    /// `ServiceId`.
    pub service_id: String,
    /// `OuterSubDomain`, the host clients connect to.
    pub outer_sub_domain: String,
    /// The service's `Protocol` (`http`, `https`, `http&https`).
    pub protocol: String,
    /// Whether the service carries our stack/stage tags (else it was found by name).
    pub tagged: bool,
    /// Whether clients connect with TLS (`wss://`): the service has `https` and the endpoint
    /// serves it (the local cloud speaks plain HTTP, so its URLs are `ws://`).
    pub secure: bool,
    /// The WebSocket API, if it exists.
    pub api: Option<Api>,
    /// Environments the service is released to.
    pub released: Vec<String>,
}

/// The WebSocket API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    /// `ApiId`.
    pub api_id: String,
    /// Request path.
    pub path: String,
    /// `ServiceTimeout`, seconds.
    pub timeout: u32,
    /// `InternalDomain`, the push-back URL.
    pub internal_domain: Option<String>,
    /// Bound register function.
    pub register: Option<String>,
    /// Transport function.
    pub transport: Option<String>,
    /// Cleanup function.
    pub cleanup: Option<String>,
}

/// The URL clients connect to: `ws(s)://{OuterSubDomain}/{environment}{path}` (API-FACTS §3.6).
/// The one place it is computed: observation, planning and apply all call it.
pub fn websocket_url(
    outer_sub_domain: &str,
    secure: bool,
    environment: &str,
    path: &str,
) -> String {
    let scheme = if secure { "wss" } else { "ws" };
    format!("{scheme}://{outer_sub_domain}/{environment}{path}")
}

/// Whether clients of a service with `protocol` connect with TLS through `cloud`'s endpoint.
fn secure(protocol: &str, cloud: &TencentCloud) -> bool {
    protocol.contains("https") && cloud.endpoint().is_none_or(|e| e.scheme() == "https")
}

impl Gateway {
    /// The neutral description.
    pub fn entry(self, stack: &Stack) -> ObservedEntry {
        let environment = &stack.gateway.environment;
        let released = self.released.contains(environment);
        let mut ids = BTreeMap::from([(SERVICE_ID.to_owned(), self.service_id.clone())]);
        if let Some(api) = &self.api {
            ids.insert(API_ID.to_owned(), api.api_id.clone());
        }
        let outputs =
            EntryOutputs {
                client_url: self.api.as_ref().filter(|_| released).map(|a| {
                    websocket_url(&self.outer_sub_domain, self.secure, environment, &a.path)
                }),
                pushback_url: self.api.as_ref().and_then(|a| a.internal_domain.clone()),
            };
        ObservedEntry {
            backend: NAME,
            ids,
            tagged: self.tagged,
            outputs,
            detail: Arc::new(self),
        }
    }
}

/// The API Gateway details of an observed entry point.
fn gateway(observed: &ObservedEntry) -> Option<&Gateway> {
    observed.detail::<Gateway>()
}

/// What the WebSocket API's planning compares, from one function for both sides.
fn api_state(
    path: &str,
    timeout: u32,
    register: &str,
    transport: &str,
    cleanup: &str,
) -> ResourceState {
    ResourceState::new("websocket-api", path)
        .prop("timeout", timeout.to_string())
        .prop("register", register)
        .prop("transport", transport)
        .prop("cleanup", cleanup)
}

/// What deploy does to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceStep {
    Create,
    Keep,
}

/// What deploy does to the WebSocket API.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ApiStep {
    Create,
    Update { fields: Vec<String> },
    Keep,
}

/// What deploy does to the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReleaseStep {
    /// The environment is not released yet.
    Create,
    /// Released, but the API changes: release again.
    Update,
    Keep,
}

/// What the steps learn as they go.
#[derive(Debug, Default)]
struct Live {
    service_id: Option<String>,
    outer_sub_domain: Option<String>,
    protocol: Option<String>,
    api_id: Option<String>,
    /// The service is another run's ([`settle`]): its API may exist already.
    adopted: bool,
}

/// API Gateway's typed steps for one deploy.
#[derive(Debug)]
pub struct GatewayPlan {
    service_name: String,
    path: String,
    environment: String,
    service: ServiceStep,
    api: ApiStep,
    release: ReleaseStep,
    outputs: Outputs,
    live: Arc<Mutex<Live>>,
}

impl GatewayPlan {
    fn plan(stack: &Stack, observed: Option<&Gateway>) -> Self {
        let gw = &stack.gateway;
        let ws = &gw.websocket;
        let want = api_state(
            &ws.path,
            ws.timeout,
            &ws.register,
            &ws.transport,
            &ws.cleanup,
        );
        let api = match observed.and_then(|g| g.api.as_ref()) {
            // Another path: a new API (the other one is not ours to delete).
            Some(a) if a.path == ws.path => {
                let have = api_state(
                    &a.path,
                    a.timeout,
                    a.register.as_deref().unwrap_or_default(),
                    a.transport.as_deref().unwrap_or_default(),
                    a.cleanup.as_deref().unwrap_or_default(),
                );
                let fields = plan::changed_fields(&want, &have);
                if fields.is_empty() {
                    ApiStep::Keep
                } else {
                    ApiStep::Update { fields }
                }
            }
            _ => ApiStep::Create,
        };
        let released = observed.is_some_and(|g| g.released.contains(&gw.environment));
        let release = if !released {
            ReleaseStep::Create
        } else if api != ApiStep::Keep {
            ReleaseStep::Update
        } else {
            ReleaseStep::Keep
        };
        let mut outputs = Outputs::default();
        if let Some(g) = observed {
            outputs.service_id = Some(g.service_id.clone());
            if let Some(a) = &g.api {
                outputs.pushback_url = a.internal_domain.clone();
                outputs.client_url = Some(websocket_url(
                    &g.outer_sub_domain,
                    g.secure,
                    &gw.environment,
                    &ws.path,
                ));
            }
        }
        GatewayPlan {
            service_name: gw.service_name.clone(),
            path: ws.path.clone(),
            environment: gw.environment.clone(),
            // Protocol changes need ModifyService, which deploy does not use: only existence
            // is compared for the service.
            service: if observed.is_some() {
                ServiceStep::Keep
            } else {
                ServiceStep::Create
            },
            api,
            release,
            outputs,
            live: Arc::new(Mutex::new(Live {
                service_id: observed.map(|g| g.service_id.clone()),
                outer_sub_domain: observed.map(|g| g.outer_sub_domain.clone()),
                protocol: observed.map(|g| g.protocol.clone()),
                api_id: observed
                    .and_then(|g| g.api.as_ref())
                    .map(|a| a.api_id.clone()),
                adopted: false,
            })),
        }
    }

    /// Whether the API step runs (it also runs for a new service).
    fn api_runs(&self) -> bool {
        self.api != ApiStep::Keep || self.service != ServiceStep::Keep
    }

    /// Whether an API that stays as it is must still be asked for its push-back URL: the cloud
    /// had not set `InternalDomain` yet when it was observed (a run cut off between CreateApi
    /// and the URL). Without it, the functions' variables that wait for the URL would be
    /// written without it.
    fn reads_pushback(&self) -> bool {
        !self.api_runs() && self.outputs.pushback_url.is_none()
    }
}

impl EntryPlan for GatewayPlan {
    fn changes(&self) -> Vec<Change> {
        let service = match self.service {
            ServiceStep::Create => Action::Create,
            ServiceStep::Keep => Action::NoChange,
        };
        let (api, api_fields) = match &self.api {
            ApiStep::Create => (Action::Create, Vec::new()),
            ApiStep::Update { fields } => (Action::Update, fields.clone()),
            ApiStep::Keep => (Action::NoChange, Vec::new()),
        };
        let (release, release_fields) = match self.release {
            ReleaseStep::Create => (Action::Create, Vec::new()),
            ReleaseStep::Update => (Action::Update, vec!["api".to_owned()]),
            ReleaseStep::Keep => (Action::NoChange, Vec::new()),
        };
        vec![
            change(
                format!("gateway-service {}", self.service_name),
                service,
                Vec::new(),
            ),
            change(format!("websocket-api {}", self.path), api, api_fields),
            change(
                format!("release {}", self.environment),
                release,
                release_fields,
            ),
        ]
    }

    fn outputs(&self) -> Outputs {
        self.outputs.clone()
    }

    fn add_entry(
        &self,
        graph: &mut Graph<Error>,
        cx: &Arc<ApplyCx>,
        functions: &[StepId],
    ) -> Option<StepId> {
        let service_step = (self.service == ServiceStep::Create).then(|| {
            graph.add(
                format!("create gateway service {}", self.service_name),
                "gateway",
                &[],
                ensure_service(cx.clone(), self.live.clone()),
            )
        });
        if self.reads_pushback() {
            return Some(graph.add(
                format!("read the push-back URL of websocket api {}", self.path),
                "gateway",
                &[],
                read_pushback(cx.clone(), self.live.clone()),
            ));
        }
        if !self.api_runs() {
            return None;
        }
        let deps: Vec<StepId> = functions.iter().copied().chain(service_step).collect();
        let known = self.live.lock().expect("gateway state").api_id.is_some();
        let create = self.api == ApiStep::Create || !known;
        let verb = if create { "create" } else { "update" };
        Some(graph.add(
            format!("{verb} websocket api {}", self.path),
            "gateway",
            &deps,
            ensure_api(cx.clone(), self.live.clone(), self.api == ApiStep::Create),
        ))
    }

    fn add_finish(&self, graph: &mut Graph<Error>, cx: &Arc<ApplyCx>, after: &[StepId]) {
        if self.release != ReleaseStep::Keep || self.api_runs() {
            graph.add(
                format!("release {}", self.environment),
                "release",
                after,
                release(cx.clone(), self.live.clone()),
            );
        }
    }

    fn ids(&self) -> BTreeMap<String, String> {
        let live = self.live.lock().expect("gateway state");
        let mut ids = BTreeMap::new();
        if let Some(s) = &live.service_id {
            ids.insert(SERVICE_ID.to_owned(), s.clone());
        }
        if let Some(a) = &live.api_id {
            ids.insert(API_ID.to_owned(), a.clone());
        }
        ids
    }
}

async fn ensure_service(cx: Arc<ApplyCx>, live: Arc<Mutex<Live>>) -> Result<(), Error> {
    let gw = &cx.stack.gateway;
    let apigw = cx.cloud.apigateway();
    let req = CreateServiceRequest {
        service_name: gw.service_name.clone(),
        protocol: gw.protocol_value().to_owned(),
        service_desc: gw.description.clone(),
        tags: Some(cx.tags()),
        ..CreateServiceRequest::default()
    };
    let tags = [
        (tags::STACK, cx.stack.name.as_str()),
        (tags::STAGE, cx.stack.stage.as_str()),
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
    // Service names are not unique: a run with no state of its own (another CI runner) that
    // observed the stack before this one created its service creates a second one. Settle
    // on the oldest.
    let (id, domain, protocol, adopted) = match settle(&cx, &tags, &id).await? {
        Some(s) => (s.service_id, s.outer_sub_domain, s.protocol, true),
        None => (id, domain, protocol, false),
    };
    cx.set_outputs(|o| o.service_id = Some(id.clone()));
    {
        let mut l = live.lock().expect("gateway state");
        l.service_id = Some(id.clone());
        l.outer_sub_domain = Some(domain);
        l.protocol = Some(protocol);
        l.adopted = adopted;
    }
    cx.record(|r| {
        r.entry.insert(SERVICE_ID.to_owned(), id);
    })
}

/// The order in which services of one stack and stage rank: the oldest first (`CreatedTime`,
/// whole seconds), the smaller id on a tie. Every run ranks them alike.
fn seniority(s: &ServiceSummary) -> (&str, &str) {
    (s.created_time.as_str(), s.service_id.as_str())
}

/// After this run created service `own`: when another service carries our tags and ranks
/// before it ([`seniority`]), deletes `own` (it has no API and no release yet) and returns that
/// one to use instead; `None` to keep `own`.
///
/// It first waits [`SETTLE_WAIT`]: any service created after the look-up then has a later
/// `CreatedTime` second than `own`, so it ranks after `own` and its creator yields. Every
/// service that ranks before `own` was created before the look-up and is seen by it. So of
/// runs racing to create the stack's service, exactly one keeps its own — the one whose
/// service ranks first — and the others delete theirs and use it.
async fn settle(
    cx: &ApplyCx,
    tags: &[(&str, &str)],
    own: &str,
) -> Result<Option<ServiceSummary>, Error> {
    tokio::select! {
        () = tokio::time::sleep(SETTLE_WAIT) => {}
        () = cx.cancel.cancelled() => return Err(Error::Interrupted),
    }
    let apigw = cx.cloud.apigateway();
    let services = apigw.find_services_by_tags(tags).await?;
    let Some(first) = services
        .iter()
        .min_by(|a, b| seniority(a).cmp(&seniority(b)))
    else {
        return Ok(None);
    };
    if first.service_id == own || !services.iter().any(|s| s.service_id == own) {
        return Ok(None);
    }
    tracing::info!(
        own,
        kept = %first.service_id,
        "another run created this stage's gateway service first: deleting ours and using it"
    );
    apigw.delete_service(own).await?;
    Ok(Some(first.clone()))
}

fn api_spec(stack: &Stack, service_id: &str) -> ApiSpec {
    let ws = &stack.gateway.websocket;
    let namespace = stack
        .functions
        .iter()
        .find(|f| f.role == Some(FunctionRole::Register))
        .map_or("default", |f| f.namespace.as_str());
    ApiSpec::websocket(
        service_id,
        &format!("{}_ws", stack.name),
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

async fn ensure_api(cx: Arc<ApplyCx>, live: Arc<Mutex<Live>>, create: bool) -> Result<(), Error> {
    let apigw = cx.cloud.apigateway();
    let (service_id, api_id, adopted) = {
        let l = live.lock().expect("gateway state");
        (l.service_id.clone(), l.api_id.clone(), l.adopted)
    };
    let service_id = service_id.expect("the service step ran first");
    let spec = api_spec(&cx.stack, &service_id);
    let path = &cx.stack.gateway.websocket.path;
    let find = || async {
        let apis = apigw.list_apis(&service_id).await?;
        Ok::<_, tencent::Error>(
            apis.into_iter()
                .find(|a| &a.path == path && a.protocol.eq_ignore_ascii_case("WEBSOCKET"))
                .map(|a| a.api_id),
        )
    };
    // Another run's service (see `settle`) may have its API already.
    let api_id = match api_id.filter(|_| !create) {
        None if adopted => find().await?,
        other => other,
    };
    let api_id = match api_id.filter(|_| !create || adopted) {
        // Like CreateService: after an unknown outcome, look for the API before sending again.
        None => {
            let mut attempt = 1;
            loop {
                match apigw.create_api(&spec).await {
                    Ok(created) => break created.api_id,
                    Err(e) if e.is_outcome_unknown() && attempt < UNKNOWN_OUTCOME_ATTEMPTS => {
                        if let Some(id) = find().await? {
                            break id;
                        }
                        attempt += 1;
                    }
                    // Another run sharing the service (see `settle`: the one that adopted
                    // it, or the one whose it was) created it meanwhile.
                    Err(e) if !e.is_retryable() && !e.is_auth_failure() => match find().await {
                        Ok(Some(id)) => break id,
                        _ => return Err(Error::from_gateway_create(e)),
                    },
                    Err(e) => return Err(Error::from_gateway_create(e)),
                }
            }
        }
        Some(id) => {
            apigw
                .modify_api(&ModifyApiRequest {
                    api_id: id.clone(),
                    spec,
                })
                .await?;
            id
        }
    };
    live.lock().expect("gateway state").api_id = Some(api_id.clone());
    cx.record(|r| {
        r.entry.insert(API_ID.to_owned(), api_id.clone());
    })?;
    learn_pushback(&cx, &live, &service_id, &api_id).await
}

/// The push-back URL of an API that stays as it is (see [`GatewayPlan::reads_pushback`]).
async fn read_pushback(cx: Arc<ApplyCx>, live: Arc<Mutex<Live>>) -> Result<(), Error> {
    let (service_id, api_id) = {
        let l = live.lock().expect("gateway state");
        (l.service_id.clone(), l.api_id.clone())
    };
    let service_id = service_id.expect("an observed service");
    let api_id = api_id.expect("an observed API");
    learn_pushback(&cx, &live, &service_id, &api_id).await
}

/// DescribeApi until `InternalDomain` is set; the push-back URL (and the client URL) go into
/// the outputs and the journal.
async fn learn_pushback(
    cx: &ApplyCx,
    live: &Mutex<Live>,
    service_id: &str,
    api_id: &str,
) -> Result<(), Error> {
    let apigw = cx.cloud.apigateway();
    let mut delay = Duration::from_millis(200);
    let url = loop {
        let info = apigw.describe_api(service_id, api_id).await?;
        if !info.internal_domain.is_empty() {
            break info.internal_domain;
        }
        if cx.remaining() <= delay {
            return Err(Error::Timeout {
                seconds: 0,
                unfinished: vec!["push-back URL".to_owned()],
            });
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cx.cancel.cancelled() => return Err(Error::Interrupted),
        }
        delay = delay.mul_f64(1.5).min(tencent::scf::POLL_CAP);
    };
    let client_url = {
        let l = live.lock().expect("gateway state");
        l.outer_sub_domain
            .as_deref()
            .zip(l.protocol.as_deref())
            .map(|(domain, protocol)| {
                websocket_url(
                    domain,
                    secure(protocol, &cx.cloud),
                    &cx.stack.gateway.environment,
                    &cx.stack.gateway.websocket.path,
                )
            })
    };
    cx.set_outputs(|o| {
        o.pushback_url = Some(url.clone());
        if client_url.is_some() {
            o.client_url = client_url;
        }
    });
    cx.record(|r| {
        r.entry.insert(PUSHBACK_URL.to_owned(), url);
    })
}

async fn release(cx: Arc<ApplyCx>, live: Arc<Mutex<Live>>) -> Result<(), Error> {
    let service_id = live
        .lock()
        .expect("gateway state")
        .service_id
        .clone()
        .expect("the service step ran first");
    cx.cloud
        .apigateway()
        .release_service(
            &service_id,
            &cx.stack.gateway.environment,
            "chatstack deploy",
        )
        .await?;
    Ok(())
}

impl Backend for ApiGateway {
    fn name(&self) -> &'static str {
        NAME
    }

    fn observe<'a>(
        &'a self,
        stack: &'a Stack,
        cloud: &'a TencentCloud,
        hint: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<ObservedEntry>, Error>> {
        Box::pin(async move {
            let known = match hint.get(SERVICE_ID) {
                Some(service_id) => {
                    let api_id = hint.get(API_ID).map(String::as_str);
                    read_gateway(stack, cloud, service_id, None, api_id).await?
                }
                None => None,
            };
            let found = match known {
                Some(g) => Some(g),
                None => observe_gateway(stack, cloud).await?,
            };
            Ok(found.map(|g| g.entry(stack)))
        })
    }

    fn plan(
        &self,
        stack: &Stack,
        observed: Option<&ObservedEntry>,
    ) -> Result<Box<dyn EntryPlan>, Error> {
        Ok(Box::new(GatewayPlan::plan(
            stack,
            observed.and_then(gateway),
        )))
    }

    fn remove_changes(&self, observed: &ObservedEntry) -> Vec<Change> {
        let Some(gw) = gateway(observed) else {
            return Vec::new();
        };
        let delete = |resource: String| change(resource, Action::Delete, Vec::new());
        let mut out = Vec::new();
        if let Some(api) = &gw.api {
            out.push(delete(format!("websocket-api {}", api.path)));
        }
        for env in &gw.released {
            out.push(delete(format!("release {env}")));
        }
        out.push(delete(format!("gateway-service {}", gw.service_id)));
        out
    }

    fn add_remove(
        &self,
        graph: &mut Graph<Error>,
        cloud: &TencentCloud,
        journal: Arc<Journal>,
        cancel: tokio_util::sync::CancellationToken,
        observed: &ObservedEntry,
    ) -> Option<StepId> {
        let gw = gateway(observed)?;
        let apigw = cloud.apigateway();
        let service_id = gw.service_id.clone();
        let api_id = gw.api.as_ref().map(|a| a.api_id.clone());
        let released = gw.released.clone();
        Some(graph.add(
            format!("delete gateway service {service_id}"),
            "gateway",
            &[],
            async move {
                if let Some(api_id) = api_id {
                    apigw.delete_api(&service_id, &api_id).await?;
                }
                for env in &released {
                    if cancel.is_cancelled() {
                        return Err(Error::Interrupted);
                    }
                    match apigw.unrelease_service(&service_id, env).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        // The answer to an earlier attempt was lost and the retry was refused
                        // (the environment is no longer released: `InvalidEnvStatus`). Ask the
                        // cloud rather than guess from the code.
                        Err(e) => {
                            let still = apigw.released_environments(&service_id).await?;
                            if still.iter().any(|r| r == env) {
                                return Err(e.into());
                            }
                        }
                    }
                }
                apigw.delete_service(&service_id).await?;
                Ok(journal.update(|r| r.entry.clear())?)
            },
        ))
    }

    fn left_alone(&self, stack: &Stack, observed: &ObservedEntry) -> String {
        format!(
            "gateway service {} is named {} but does not carry chatstack's tags for this stage: left alone",
            observed.ids.get(SERVICE_ID).map_or("-", String::as_str),
            stack.gateway.service_name
        )
    }

    fn info(&self, stack: &Stack, observed: Option<&ObservedEntry>) -> EntryInfo {
        let gw = observed.and_then(gateway);
        let environment = stack.gateway.environment.clone();
        let released = gw.is_some_and(|g| g.released.contains(&environment));
        let service_id = gw.map(|g| g.service_id.clone());
        let api_id = gw.and_then(|g| g.api.as_ref()).map(|a| a.api_id.clone());
        let outputs = observed.map(|o| o.outputs.clone()).unwrap_or_default();
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let rows = vec![
            (
                "gateway service".to_owned(),
                dash(&service_id),
                match (&service_id, released) {
                    (None, _) => "missing".to_owned(),
                    (Some(_), true) => format!("released ({environment})"),
                    (Some(_), false) => format!("not released to {environment}"),
                },
            ),
            (
                "websocket api".to_owned(),
                dash(&api_id),
                if api_id.is_some() {
                    "exists"
                } else {
                    "missing"
                }
                .to_owned(),
            ),
        ];
        EntryInfo {
            backend: NAME,
            client_url: outputs.client_url,
            pushback_url: outputs.pushback_url,
            resources: Fields(vec![
                (SERVICE_ID, service_id.into()),
                (API_ID, api_id.into()),
                ("environment", environment.into()),
                ("released", released.into()),
            ]),
            rows,
            legacy_gateway: true,
        }
    }
}

async fn observe_gateway(stack: &Stack, cloud: &TencentCloud) -> Result<Option<Gateway>, Error> {
    let services = cloud.apigateway().list_services(Vec::new()).await?;
    let Some((service, tagged)) = pick_service(stack, &services) else {
        return Ok(None);
    };
    read_gateway(stack, cloud, &service.service_id, Some(tagged), None).await
}

/// Which of the listed services is the stack's, and whether it carries our tags: the oldest
/// that does ([`seniority`]: should two runs ever have left two, the one [`settle`] keeps),
/// else a namesake with no stage tag at all (found by name: not ours to remove).
fn pick_service<'a>(
    stack: &Stack,
    services: &'a [ServiceSummary],
) -> Option<(&'a ServiceSummary, bool)> {
    let ours = |s: &&ServiceSummary| {
        s.tag(tags::STACK) == Some(stack.name.as_str())
            && s.tag(tags::STAGE) == Some(stack.stage.as_str())
    };
    let untagged_namesake = |s: &&ServiceSummary| {
        s.service_name == stack.gateway.service_name && s.tag(tags::STAGE).is_none()
    };
    let oldest = services
        .iter()
        .filter(ours)
        .min_by(|a, b| seniority(a).cmp(&seniority(b)));
    match oldest {
        Some(s) => Some((s, true)),
        None => services.iter().find(untagged_namesake).map(|s| (s, false)),
    }
}

/// Reads service `service_id`, its released environments and its WebSocket API (`api_id`, when
/// known, is read at the same time). `tagged` is what the search found; `None` means the service
/// must carry our tags, else (or when it is gone) `Ok(None)`.
async fn read_gateway(
    stack: &Stack,
    cloud: &TencentCloud,
    service_id: &str,
    tagged: Option<bool>,
    api_id: Option<&str>,
) -> Result<Option<Gateway>, Error> {
    let apigw = cloud.apigateway();
    let service_id = service_id.to_owned();
    let known_api = async {
        match api_id {
            Some(id) => match apigw.describe_api(&service_id, id).await {
                Ok(info) => Ok(Some((id.to_owned(), info))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    };
    let (detail, released, known_api) = tokio::try_join!(
        apigw.describe_service_opt(&service_id),
        async {
            match apigw.released_environments(&service_id).await {
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                other => other,
            }
        },
        known_api,
    )?;
    let Some(detail) = detail else {
        return Ok(None);
    };
    let Some(tagged) = owned(stack, &detail, tagged) else {
        return Ok(None);
    };
    let api = match websocket_api(stack, &detail) {
        None => None,
        Some(a) => {
            let info = match known_api {
                Some((id, info)) if id == a.api_id => info,
                _ => apigw.describe_api(&service_id, &a.api_id).await?,
            };
            Some(api_of(a, &info))
        }
    };
    Ok(Some(Gateway {
        service_id,
        outer_sub_domain: detail.outer_sub_domain,
        secure: secure(&detail.protocol, cloud),
        protocol: detail.protocol,
        tagged,
        api,
        released,
    }))
}

/// Whether service `detail` is taken as the stack's, and as tagged ours: as the search found it
/// (`tagged`), else only when it carries our tags (`None`: not the stack's).
fn owned(stack: &Stack, detail: &ServiceDetail, tagged: Option<bool>) -> Option<bool> {
    let tag = |k: &str| {
        detail
            .tags
            .iter()
            .find(|t| t.key == k)
            .map(|t| t.value.as_str())
    };
    match tagged {
        Some(t) => Some(t),
        None if tag(tags::STACK) == Some(stack.name.as_str())
            && tag(tags::STAGE) == Some(stack.stage.as_str()) =>
        {
            Some(true)
        }
        None => None,
    }
}

/// The service's WebSocket API: the one on the stack file's path, else the first one.
fn websocket_api<'a>(stack: &Stack, detail: &'a ServiceDetail) -> Option<&'a ApiSummary> {
    let want_path = &stack.gateway.websocket.path;
    let ws_apis: Vec<_> = detail
        .api_id_status_set
        .iter()
        .filter(|a| a.protocol.eq_ignore_ascii_case("WEBSOCKET"))
        .collect();
    ws_apis
        .iter()
        .find(|a| &a.path == want_path)
        .or_else(|| ws_apis.first())
        .copied()
}

/// The WebSocket API as listed (`a`) and as DescribeApi answered (`info`); empty strings are
/// absent values.
fn api_of(a: &ApiSummary, info: &ApiInfo) -> Api {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Api {
        api_id: a.api_id.clone(),
        path: a.path.clone(),
        timeout: info.service_timeout,
        internal_domain: non_empty(&info.internal_domain),
        register: non_empty(&info.service_websocket_register_function_name),
        transport: non_empty(&info.service_websocket_transport_function_name),
        cleanup: non_empty(&info.service_websocket_cleanup_function_name),
    }
}

#[cfg(test)]
#[path = "apigw_tests.rs"]
mod tests;
