//! What the data plane's parts share: [`WebFunctions`] (the records it reads, the instances
//! it runs), one request's [`Invocation`], the error answer and the invocation log.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::instances::{Instances, Refusal};
use super::options::WebOptions;
use crate::localcloud::account::Account;
use crate::localcloud::model::clock::now_millis;
use crate::localcloud::model::function::FunctionRecord;
use crate::localcloud::model::trigger::TriggerRecord;
use crate::localcloud::runtime::Runtime;
use crate::localcloud::runtime::logs::LogRecord;
use crate::localcloud::store::Store;

/// The largest request or response body of an HTTP invocation (SCF's synchronous limit).
pub const MAX_HTTP_BODY: usize = 6 * 1024 * 1024;

/// The data plane's state: the records it reads, the instances it runs.
#[derive(Debug)]
pub struct WebFunctions {
    pub(super) store: Store,
    pub(super) account: Arc<Account>,
    pub(super) runtime: Runtime,
    pub(super) instances: Arc<Instances>,
    pub(super) client: reqwest::Client,
}

impl WebFunctions {
    /// Nothing runs until the first request.
    pub fn new(store: Store, account: Arc<Account>, runtime: Runtime, opts: WebOptions) -> Self {
        // Plain HTTP to loopback only, but reqwest wants a TLS provider to build at all; an
        // Err means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a plain HTTP client builds");
        WebFunctions {
            instances: Instances::new(runtime.clone(), store.clone(), opts),
            store,
            account,
            runtime,
            client,
        }
    }

    /// The instances (tests look at their ids).
    pub fn instances(&self) -> &Arc<Instances> {
        &self.instances
    }

    /// Stops every instance (the local cloud is stopping).
    pub fn shutdown(&self) {
        self.instances.stop_all();
    }
}

/// What one request is served with.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    pub trigger: TriggerRecord,
    pub function: FunctionRecord,
    /// The function's store key (its instance pool).
    pub key: String,
    /// The Function URL host name (what the instance sees as `Host`).
    pub host: String,
    /// The path and query the function sees.
    pub path: String,
    pub request_id: String,
    pub start_ms: i64,
}

/// An error answer: `status`, and the JSON body every refusal of the data plane has.
pub(crate) fn error(status: StatusCode, why: &str, request_id: &str) -> Response {
    let body = serde_json::json!({
        "errorCode": status.as_u16(),
        "errorMessage": why,
        "statusCode": status.as_u16(),
        "requestId": request_id,
    });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-scf-request-id", request_id)
        .body(Body::from(body.to_string()))
        .expect("static headers are valid")
}

/// SCF's status of an invocation as a `StatusCode` (433, 439, … are not IANA codes).
pub(crate) fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Records one invocation for `GetFunctionLogs`: `status` is SCF's (200 = success, recorded as
/// `RetCode` 0), `what` a line saying how it ended, `output` what the instance printed.
pub(crate) async fn record(
    wf: &WebFunctions,
    inv: &Invocation,
    status: u16,
    what: &str,
    output: &str,
) {
    let end = now_millis();
    let duration_ms = (end - inv.start_ms).max(0) as f64;
    let id = &inv.request_id;
    let mut log = format!("START RequestId: {id}\n");
    if !output.is_empty() {
        log.push_str(output);
        if !output.ends_with('\n') {
            log.push('\n');
        }
    }
    log.push_str(what);
    log.push('\n');
    log.push_str(&format!(
        "\nEND RequestId: {id}\nReport RequestId: {id} Duration:{duration_ms:.2}ms Memory:{}MB \
         MemUsage:0.000000MB",
        inv.function.memory_size
    ));
    let rec = LogRecord {
        region: inv.function.region.clone(),
        namespace: inv.function.namespace.clone(),
        function_name: inv.function.name.clone(),
        request_id: id.clone(),
        start_ms: inv.start_ms,
        duration_ms,
        billed_ms: duration_ms.ceil() as u64,
        mem_usage: 0,
        ret_code: if status == 200 { 0 } else { i64::from(status) },
        ret_msg: serde_json::json!({"statusCode": status, "message": what}).to_string(),
        log,
        invocation_type: "RequestResponse".into(),
    };
    wf.runtime.record_log(rec).await;
}

/// Answers a request no instance serves (`output`: what a failed start printed), and logs it.
pub(crate) async fn refused(
    wf: &WebFunctions,
    inv: &Invocation,
    r: &Refusal,
    output: &str,
) -> Response {
    let (code, why) = refusal_status(r);
    record(wf, inv, code, &why, output).await;
    error(status(code), &why, &inv.request_id)
}

/// The refusal of a lease as an answer (and its SCF status).
fn refusal_status(r: &Refusal) -> (u16, String) {
    match r {
        Refusal::Concurrency(why) => (432, format!("ResourceLimitReached: {why}")),
        Refusal::StartFailed(why) => (405, format!("ContainerStateExited: {why}")),
    }
}
