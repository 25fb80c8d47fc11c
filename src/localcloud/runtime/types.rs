//! The runtime's interface types: which function to run, how, and what came of it
//! ([`InvokeOutput`], [`FunctionError`], [`InvokeError`]), with the renderings SCF gives them
//! (`RetMsg`, the framed log).

use std::time::Duration;

use serde_json::{Value, json};

/// Which function to run (`$LATEST`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionRef {
    /// Region.
    pub region: String,
    /// Namespace (`default`).
    pub namespace: String,
    /// FunctionName.
    pub name: String,
}

/// Synchronous or asynchronous, as Invoke's `InvocationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    /// Wait for the result.
    RequestResponse,
    /// Return at once; the result goes to the logs only.
    Event,
}

impl InvocationType {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
        }
    }
}

/// What one invocation produced.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    /// The invocation's request id (`FunctionRequestId`).
    pub request_id: String,
    /// The handler's return value, or how the function failed. For `Event` invocations
    /// (which return before running) `Ok(Value::Null)`.
    pub outcome: Result<Value, FunctionError>,
    /// Duration, ms (0 for `Event`).
    pub duration_ms: f64,
    /// Billed duration, ms (whole milliseconds, at least 1).
    pub billed_ms: u64,
    /// Resident memory of the worker after the invocation, bytes.
    pub mem_usage_bytes: u64,
    /// The function's stdout/stderr during the invocation (tracebacks included), unframed.
    pub log: String,
    /// The worker process that ran it (`None` for `Event`, or when no worker started).
    pub worker_pid: Option<u32>,
}

/// How a function failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    /// The class of failure.
    pub kind: FunctionErrorKind,
    /// One line, SCF's wording where known (`Invoking task timed out after 3 seconds`).
    pub message: String,
    /// The Python traceback, if any.
    pub traceback: String,
}

/// Classes of function failure, with SCF's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionErrorKind {
    /// The handler raised, or the handler could not be loaded (430).
    UserException,
    /// The time limit passed (433).
    Timeout,
    /// A new instance took longer than the function's `InitTimeout` to load its code (446, a
    /// local choice: SCF documents the InitTimeout bound, not a code of its own for it). The
    /// instance is dropped; the next invocation starts a new one.
    InitTimeout,
    /// Memory over the function's MemorySize (434).
    Oom,
    /// The worker process died mid-invocation, or could not start (439).
    Crash,
}

impl FunctionErrorKind {
    /// SCF's status code for it (the `RetCode` of GetFunctionLogs).
    pub fn status_code(self) -> i64 {
        match self {
            FunctionErrorKind::UserException => 430,
            FunctionErrorKind::Timeout => 433,
            FunctionErrorKind::InitTimeout => 446,
            FunctionErrorKind::Oom => 434,
            FunctionErrorKind::Crash => 439,
        }
    }

    /// The name GetFunctionLogs' `Filter.RetCode` uses for it.
    pub fn filter_name(self) -> &'static str {
        match self {
            FunctionErrorKind::UserException | FunctionErrorKind::Crash => "UserCodeException",
            FunctionErrorKind::Timeout | FunctionErrorKind::InitTimeout => "TimeLimitExceeded",
            FunctionErrorKind::Oom => "ResourceLimitExceeded",
        }
    }

    /// From a status code.
    pub fn from_status_code(code: i64) -> Option<Self> {
        [
            FunctionErrorKind::UserException,
            FunctionErrorKind::Timeout,
            FunctionErrorKind::InitTimeout,
            FunctionErrorKind::Oom,
            FunctionErrorKind::Crash,
        ]
        .into_iter()
        .find(|k| k.status_code() == code)
    }
}

impl FunctionError {
    /// SCF's `ErrMsg`: a JSON document with `errorCode`, `errorMessage`, `requestId`,
    /// `stackTrace` and `statusCode`.
    pub fn err_msg(&self, request_id: &str) -> String {
        json!({
            "errorCode": -1,
            "errorMessage": self.message,
            "requestId": request_id,
            "stackTrace": self.traceback,
            "statusCode": self.kind.status_code(),
        })
        .to_string()
    }
}

/// Why a function could not be run at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// No such function.
    #[error("the function `{0}` does not exist")]
    FunctionNotFound(String),
    /// The function is `Creating`, `Updating` or `Deleting`.
    #[error("the function `{name}` is {status}, not Active")]
    NotActive {
        /// FunctionName.
        name: String,
        /// Its status.
        status: String,
    },
    /// Its code zip could not be read or unpacked.
    #[error("the code of function `{name}` cannot be read: {reason}")]
    CodeUnreadable {
        /// FunctionName.
        name: String,
        /// Why.
        reason: String,
    },
    /// No usable Python interpreter.
    #[error("{0}")]
    PythonUnavailable(String),
    /// The local cloud runs Python functions only.
    #[error(
        "the function `{name}` uses the runtime {runtime}; the local cloud runs Python functions only"
    )]
    UnsupportedRuntime {
        /// FunctionName.
        name: String,
        /// Its Runtime.
        runtime: String,
    },
    /// The runtime's own machinery failed (store, socket directory).
    #[error("the local function runtime failed: {0}")]
    Internal(String),
}

/// The error of an invocation whose new instance did not initialise within `InitTimeout`.
pub fn init_timeout_message(init_timeout: u32) -> String {
    format!("Function initialization timed out after {init_timeout} seconds (InitTimeout)")
}

/// Whole milliseconds, at least 1.
pub(super) fn billed(duration_ms: f64) -> u64 {
    (duration_ms.ceil() as u64).max(1)
}

/// The output of an invocation that failed before or instead of a reply.
pub(super) fn failed(
    request_id: &str,
    kind: FunctionErrorKind,
    message: String,
    log: String,
    elapsed: Duration,
) -> InvokeOutput {
    let ms = elapsed.as_secs_f64() * 1000.0;
    InvokeOutput {
        request_id: request_id.to_owned(),
        outcome: Err(FunctionError {
            kind,
            message,
            traceback: String::new(),
        }),
        duration_ms: ms,
        billed_ms: billed(ms),
        mem_usage_bytes: 0,
        log,
        worker_pid: None,
    }
}

/// Invoke's `RetMsg` for a success (the return value as JSON text) or the error's `ErrMsg`.
pub fn ret_msg(out: &InvokeOutput) -> String {
    match &out.outcome {
        Ok(v) => v.to_string(),
        Err(e) => e.err_msg(&out.request_id),
    }
}

/// The invocation's log framed as SCF frames it.
pub fn scf_log(out: &InvokeOutput, memory_mb: u32) -> String {
    let id = &out.request_id;
    let mut s = format!("START RequestId: {id}\nEvent RequestId: {id}\n");
    if !out.log.is_empty() {
        s.push_str(&out.log);
        s.push('\n');
    }
    if let Err(e) = &out.outcome
        && e.kind != FunctionErrorKind::UserException
    {
        s.push_str(&e.message);
        s.push('\n');
    }
    s.push_str(&format!(
        "\nEND RequestId: {id}\nReport RequestId: {id} Duration:{:.2}ms Memory:{memory_mb}MB MemUsage:{:.6}MB",
        out.duration_ms,
        out.mem_usage_bytes as f64 / (1024.0 * 1024.0)
    ));
    s
}
