//! The function runtime of the local cloud: SCF functions run in warm Python worker processes.
//!
//! **Interface (used by `api3` Invoke and by the WebSocket gateway; keep it stable):**
//! [`LocalCloud::runtime`] hands out a cheap-clone [`Runtime`];
//! [`Runtime::invoke`]`(&cloud, &FunctionRef, event, InvocationType) -> Result<InvokeOutput,
//! InvokeError>`. An `Err` means the function could not be run at all (missing, not `Active`,
//! code unreadable, not a Python runtime, no interpreter); everything the function itself does wrong (exception, timeout,
//! crash, memory) is an `Ok(InvokeOutput)` whose `outcome` is `Err(FunctionError)`, as SCF
//! reports it. `Event` invocations are checked, then run in the background: the call returns
//! at once with the request id. Every invocation is recorded for `GetFunctionLogs` ([`logs`]).
//!
//! **Workers.** A pool per function *code version* — the function record's FunctionId, code
//! blob and a digest of the configuration that shapes a worker (handler, runtime, timeout,
//! memory, variables). A worker ([`worker`]) loads the handler once from the unpacked code
//! (`{data dir}/code/{blob}/`, content-addressed: blobs never change) and serves invocations one
//! at a time; the pool takes an idle worker or starts one, under a per-function semaphore
//! ([`RuntimeOptions::concurrency`], default 64).
//!
//! **Starting a worker.** Workers are forked from one fork server per local cloud ([`zygote`]),
//! which imported the COS SDK and `requests` once: a new worker is ready in a few milliseconds
//! and shares those pages, where a fresh interpreter costs ~170–500 ms of CPU and ~30 MiB. The
//! worker still imports the handler's module itself (the function's initialisation runs in
//! every instance, as in SCF), with the function's environment, directory and `sys.path`; code
//! that ships its own copy of a preloaded package gets its copy. A function whose variables act
//! at interpreter start (`PYTHONHASHSEED`, `LD_PRELOAD`, …), a fork server that cannot start,
//! or `CHATSTACK_WORKER_FORK=0` gets workers started as interpreters of their own.
//! **Starts are bounded:** at most
//! [`RuntimeOptions::max_starting`] workers of a function start at once (default: the number of
//! CPUs); an invocation that finds no idle worker while that many are starting waits for
//! whichever comes first, a worker given back or a start slot: under a burst of short
//! invocations most new workers would be needed for a few milliseconds (the chat benchmark,
//! `benches/chat/`: at N = 50 clients the transport pool grew to 12 workers for 8 messages in
//! flight before this bound).
//! The pool still grows to `concurrency` workers when invocations keep waiting. Idle workers are ended after
//! [`RuntimeOptions::idle_timeout`] (default 5 min). A redeploy changes the version: new
//! invocations start new workers, old idle ones are retired at once and busy ones when they
//! finish. A timeout kills the worker's process group; a crash is reported and the worker
//! dropped; replacements start lazily. A handler exception leaves the worker warm.
//!
//! **Initialisation** is its own phase, as in SCF: a new worker loads the COS hook and the
//! handler's module, then reports ready ([`protocol`] v3); the host waits for that for the
//! function's `InitTimeout` (record field, default 65 s) and only then sends the invocation and
//! starts its `Timeout`. Past `InitTimeout` the worker is killed and the invocation fails with
//! [`FunctionErrorKind::InitTimeout`] (446, `Function initialization timed out after N seconds
//! (InitTimeout)`, a 504 at the WebSocket gateway); the next invocation tries a new worker. An
//! import error is not an init failure: the worker is kept and every invocation returns it.
//!
//! **Environment** of a worker: `PATH`, `HOME`, `LANG`-type basics from ours and nothing else
//! (our own cloud keys never reach functions), the function's variables, then SCF's:
//! `TENCENTCLOUD_SECRETID`/`SECRETKEY`/`SESSIONTOKEN` (temporary credentials minted for each
//! new worker, valid 12 h), `TENCENTCLOUD_REGION`, `TENCENTCLOUD_APPID`, `TENCENTCLOUD_RUNENV=SCF`,
//! `SCF_FUNCTIONNAME`, `SCF_NAMESPACE`, `SCF_FUNCTIONVERSION=$LATEST`, `SCF_RUNTIME`,
//! `USER_CODE_ROOT`, `PYTHONPATH` (the code dir), `PYTHONUNBUFFERED=1`,
//! `PYTHONDONTWRITEBYTECODE=1`, `PYTHONIOENCODING=utf-8`. The bootstrap points the official COS
//! SDK at the local COS (see `functions/_runtime/bootstrap.py`).

mod cpu;
pub mod logs;
pub mod protocol;
pub mod python;
mod worker;
mod zygote;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::LocalCloud;
use super::model::clock::now_millis;
use super::model::function::{self as scf, FunctionRecord, Status};
use worker::{Launch, RunOutcome, SpawnError, Worker, WorkerSpec};
use zygote::Zygote;

/// The embedded worker bootstrap.
pub const BOOTSTRAP_PY: &str = include_str!("../../../functions/_runtime/bootstrap.py");

/// Per-function concurrency when nothing else is said (`CHATSTACK_FUNCTION_CONCURRENCY`).
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Idle time after which a worker is ended (`CHATSTACK_WORKER_IDLE_SECS`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Lifetime of the temporary credentials given to a worker.
pub const CREDENTIALS_TTL: Duration = Duration::from_secs(12 * 3600);
/// See [`RuntimeOptions::scale_delay`].
pub const DEFAULT_SCALE_DELAY: Duration = Duration::from_millis(20);
/// Invocation records kept per function.
pub const DEFAULT_MAX_LOG_RECORDS: usize = 1000;

/// How the runtime runs functions.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The Python interpreter; `None`: `$CHATSTACK_PYTHON`, else `python3` on `PATH`.
    pub python: Option<PathBuf>,
    /// The venv made when the interpreter lacks `qcloud_cos`/`requests`; `None`:
    /// `~/.cache/chatstack/python-venv-X.Y`.
    pub venv_dir: Option<PathBuf>,
    /// Whether missing packages are pip-installed into that venv.
    pub install_packages: bool,
    /// Concurrent invocations per function (one worker each).
    pub concurrency: usize,
    /// Workers of one function starting at the same time (`CHATSTACK_WORKER_STARTS`).
    pub max_starting: usize,
    /// Idle time after which a worker ends.
    pub idle_timeout: Duration,
    /// Invocation records kept per function.
    pub max_log_records: usize,
    /// Once a function has [`Self::max_starting`] workers and all are busy, how long an
    /// invocation waits for one to come back before another is started
    /// (`CHATSTACK_WORKER_SCALE_MS`; zero: start at once).
    pub scale_delay: Duration,
    /// Whether workers are forked from the fork server (`CHATSTACK_WORKER_FORK=0`: no, every
    /// worker is its own interpreter).
    pub fork: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            python: None,
            venv_dir: None,
            install_packages: true,
            concurrency: DEFAULT_CONCURRENCY,
            max_starting: std::thread::available_parallelism().map_or(1, |n| n.get()),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_log_records: DEFAULT_MAX_LOG_RECORDS,
            fork: true,
            scale_delay: DEFAULT_SCALE_DELAY,
        }
    }
}

impl RuntimeOptions {
    /// Defaults, with `CHATSTACK_FUNCTION_CONCURRENCY` and `CHATSTACK_WORKER_IDLE_SECS` applied
    /// (`CHATSTACK_PYTHON` is read when the interpreter is resolved).
    pub fn from_env() -> Self {
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let mut o = RuntimeOptions::default();
        if let Some(n) = num("CHATSTACK_FUNCTION_CONCURRENCY").filter(|n| *n > 0) {
            o.concurrency = usize::try_from(n).unwrap_or(DEFAULT_CONCURRENCY);
        }
        if let Some(n) = num("CHATSTACK_WORKER_STARTS").filter(|n| *n > 0) {
            o.max_starting = usize::try_from(n).unwrap_or(o.max_starting);
        }
        if let Some(ms) = num("CHATSTACK_WORKER_SCALE_MS") {
            o.scale_delay = Duration::from_millis(ms);
        }
        if std::env::var("CHATSTACK_WORKER_FORK").is_ok_and(|v| v.trim() == "0") {
            o.fork = false;
        }
        if let Some(s) = num("CHATSTACK_WORKER_IDLE_SECS").filter(|n| *n > 0) {
            o.idle_timeout = Duration::from_secs(s);
        }
        o
    }
}

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

/// A cheap-clone handle on the runtime (one per local cloud).
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: RuntimeOptions,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    python: tokio::sync::Mutex<Option<python::PythonEnv>>,
    /// How busy the machine's CPUs are (sampled while functions run).
    cpu: Arc<cpu::CpuGauge>,
    /// The fork server, started with the first worker.
    zygote: tokio::sync::Mutex<ZygoteSlot>,
    /// Keyed by the function's store key. `std` mutex: never held across an `.await`.
    functions: Mutex<HashMap<String, Arc<Slot>>>,
    reaper_started: AtomicBool,
    /// Whether unpacked code of deleted blobs was removed (once per start).
    swept: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

/// A function: its concurrency limit and the pool of its current code version.
#[derive(Debug)]
struct Slot {
    permits: Arc<Semaphore>,
    pool: Mutex<Arc<Pool>>,
}

/// What [`Pool::wait_for_return`] saw.
enum Returned {
    /// A worker was idle already: it is the caller's (boxed: the other answers are empty).
    Idle(Box<Worker>),
    /// One was given back (to be taken on the next look, if nobody else took it).
    GivenBack,
    /// None came in time.
    TimedOut,
}

/// The workers of one code version.
#[derive(Debug)]
struct Pool {
    version: String,
    spec: WorkerSpec,
    record: FunctionRecord,
    idle: Mutex<Vec<Worker>>,
    retired: AtomicBool,
    /// Start slots ([`RuntimeOptions::max_starting`]).
    starting: Arc<Semaphore>,
    /// Signalled when a worker is given back.
    returned: tokio::sync::Notify,
    /// Its workers alive (idle or busy).
    live: Arc<std::sync::atomic::AtomicUsize>,
    /// Moving average of its invocations' CPU time over their duration (0 to 1), as f64 bits;
    /// [`UNKNOWN_SHARE`] until the first result.
    cpu_share: std::sync::atomic::AtomicU64,
    /// When it was made.
    created: std::time::Instant,
}

impl Pool {
    fn take_idle(&self) -> Option<Worker> {
        self.idle.lock().expect("pool lock").pop()
    }

    fn give_back(&self, w: Worker) {
        if self.retired.load(Ordering::SeqCst) {
            w.retire();
        } else {
            self.idle.lock().expect("pool lock").push(w);
            self.returned.notify_one();
        }
    }

    /// The average CPU share of its invocations; `None` while the first ones are still
    /// running, for at most [`FIRST_RESULTS_WAIT`] after the pool was made (afterwards, with no
    /// result yet, `Some(0.0)`: whatever it does, it mostly waits).
    fn known_cpu_share(&self) -> Option<f64> {
        let bits = self.cpu_share.load(Ordering::Relaxed);
        if bits == UNKNOWN_SHARE && self.created.elapsed() < FIRST_RESULTS_WAIT {
            None
        } else if bits == UNKNOWN_SHARE {
            Some(0.0)
        } else {
            Some(f64::from_bits(bits))
        }
    }

    /// Folds one invocation's CPU time over its duration into the average.
    fn observe_cpu(&self, cpu_ms: f64, duration_ms: f64) {
        if !(duration_ms > 0.0 && cpu_ms >= 0.0) {
            return;
        }
        let sample = (cpu_ms / duration_ms).min(1.0);
        let _ = self
            .cpu_share
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                if bits == UNKNOWN_SHARE {
                    return Some(sample.to_bits());
                }
                let old = f64::from_bits(bits);
                Some((old * 0.8 + sample * 0.2).to_bits())
            });
    }

    /// Waits at most `wait` for a worker to be given back.
    async fn wait_for_return(&self, wait: Duration) -> Returned {
        let back = self.returned.notified();
        tokio::pin!(back);
        // Registered before looking, so a worker given back after the look wakes us.
        back.as_mut().enable();
        if let Some(w) = self.take_idle() {
            return Returned::Idle(Box::new(w));
        }
        match tokio::time::timeout(wait, back).await {
            Ok(()) => Returned::GivenBack,
            Err(_) => Returned::TimedOut,
        }
    }

    fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for w in idle {
            w.retire();
        }
    }
}

impl Runtime {
    /// A runtime keeping its files under `data_dir` (code in `code/`, the bootstrap in
    /// `runtime/`). Nothing starts until the first invocation.
    pub fn new(opts: RuntimeOptions, data_dir: &Path) -> Self {
        // Absolute: workers run in their code directory, and get these paths.
        let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        let mut socket_dir = data_dir.join("sock");
        if !worker::socket_dir_ok(&socket_dir) {
            socket_dir = std::env::temp_dir().join(format!(
                "chatstack-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            ));
        }
        Runtime {
            inner: Arc::new(Inner {
                opts,
                data_dir,
                socket_dir,
                python: tokio::sync::Mutex::new(None),
                zygote: tokio::sync::Mutex::new(ZygoteSlot::default()),
                cpu: Arc::default(),
                functions: Mutex::new(HashMap::new()),
                reaper_started: AtomicBool::new(false),
                swept: AtomicBool::new(false),
            }),
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.opts
    }

    /// Resolves the Python interpreter now, installing the packages functions expect into the
    /// cached virtual environment when they are missing, instead of at the first invocation:
    /// `dev` and `local` call it at start, so the wait is seen (with the time it took) and a
    /// missing Python is reported before anything is deployed. The error is the reason, with
    /// pip's or venv's own message.
    pub async fn prepare(&self) -> Result<python::PythonEnv, String> {
        self.python().await.map_err(|e| match e {
            InvokeError::PythonUnavailable(reason) => reason,
            other => other.to_string(),
        })
    }

    /// Runs `target` with `event`. See the module documentation for what is an `Err`.
    pub async fn invoke(
        &self,
        cloud: &LocalCloud,
        target: &FunctionRef,
        event: Value,
        invocation: InvocationType,
    ) -> Result<InvokeOutput, InvokeError> {
        self.start_reaper();
        let now_ms = now_millis();
        let record = scf::lookup(
            cloud.store(),
            &target.region,
            &target.namespace,
            &target.name,
            now_ms,
        )
        .map_err(|e| InvokeError::Internal(e.to_string()))?;
        let Some(record) = record else {
            self.forget(target);
            return Err(InvokeError::FunctionNotFound(target.name.clone()));
        };
        if record.status != Status::Active {
            return Err(InvokeError::NotActive {
                name: target.name.clone(),
                status: record.status.as_str().to_owned(),
            });
        }
        if !record.runtime.starts_with("Python") {
            return Err(InvokeError::UnsupportedRuntime {
                name: record.name,
                runtime: record.runtime,
            });
        }
        let python = self.python().await?;
        let (slot, pool) = self.pool_for(cloud, record, &python).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        match invocation {
            InvocationType::RequestResponse => Ok(self
                .run(cloud, slot, pool, request_id, event, invocation)
                .await),
            InvocationType::Event => {
                let (rt, cloud, id) = (self.clone(), cloud.clone(), request_id.clone());
                tokio::spawn(async move {
                    rt.run(&cloud, slot, pool, id, event, invocation).await;
                });
                Ok(InvokeOutput {
                    request_id,
                    outcome: Ok(Value::Null),
                    duration_ms: 0.0,
                    billed_ms: 0,
                    mem_usage_bytes: 0,
                    log: String::new(),
                    worker_pid: None,
                })
            }
        }
    }

    /// Drops a deleted function's workers.
    fn forget(&self, target: &FunctionRef) {
        let key = scf::key(&target.region, &target.namespace, &target.name);
        let slot = self
            .inner
            .functions
            .lock()
            .expect("runtime lock")
            .remove(&key);
        if let Some(slot) = slot {
            slot.pool.lock().expect("slot lock").retire();
        }
    }

    /// Process ids of the idle workers of a function (diagnostics and tests).
    pub fn idle_workers(&self, target: &FunctionRef) -> Vec<u32> {
        let key = scf::key(&target.region, &target.namespace, &target.name);
        let slot = self
            .inner
            .functions
            .lock()
            .expect("runtime lock")
            .get(&key)
            .cloned();
        slot.map(|s| {
            let pool = s.pool.lock().expect("slot lock").clone();
            let idle = pool.idle.lock().expect("pool lock");
            idle.iter().map(|w| w.pid).collect()
        })
        .unwrap_or_default()
    }

    /// Workers of a function that may start at once, and below which a pool always grows:
    /// [`RuntimeOptions::max_starting`] (the CPU count by default).
    fn floor(&self) -> usize {
        self.inner.opts.max_starting.max(1)
    }

    /// [`may_grow`] for `pool` at `live` workers, with its CPU share and the machine's load now.
    fn may_grow(&self, pool: &Pool, live: usize) -> bool {
        may_grow(
            live,
            self.floor(),
            pool.known_cpu_share(),
            self.inner.cpu.busy(),
        )
    }

    /// Resolves the interpreter once (failures are retried on the next invocation).
    async fn python(&self) -> Result<python::PythonEnv, InvokeError> {
        let mut guard = self.inner.python.lock().await;
        if let Some(p) = guard.as_ref() {
            return Ok(p.clone());
        }
        let o = &self.inner.opts;
        let p = python::resolve(
            o.python.as_deref(),
            o.venv_dir.as_deref(),
            o.install_packages,
        )
        .await
        .map_err(InvokeError::PythonUnavailable)?;
        tracing::info!(python = %p.interpreter.display(), version = p.version, "function runtime ready");
        *guard = Some(p.clone());
        Ok(p)
    }

    /// The function's slot and the pool of its current code version (made, and the code
    /// unpacked, on first use).
    async fn pool_for(
        &self,
        cloud: &LocalCloud,
        record: FunctionRecord,
        python: &python::PythonEnv,
    ) -> Result<(Arc<Slot>, Arc<Pool>), InvokeError> {
        let key = scf::key(&record.region, &record.namespace, &record.name);
        let version = version_of(&record);
        let existing = self
            .inner
            .functions
            .lock()
            .expect("runtime lock")
            .get(&key)
            .cloned();
        if let Some(slot) = &existing {
            let pool = slot.pool.lock().expect("slot lock").clone();
            if pool.version == version {
                return Ok((slot.clone(), pool));
            }
        }
        if !self.inner.swept.swap(true, Ordering::SeqCst) {
            self.sweep_code(cloud);
        }
        let code_dir = self.unpack(cloud, &record).await?;
        let bootstrap = self.bootstrap_file()?;
        std::fs::create_dir_all(&self.inner.socket_dir)
            .and_then(|()| restrict(&self.inner.socket_dir))
            .map_err(|e| {
                InvokeError::Internal(format!("{}: {e}", self.inner.socket_dir.display()))
            })?;
        let pool = Arc::new(Pool {
            version: version.clone(),
            spec: WorkerSpec {
                python: python.interpreter.clone(),
                bootstrap,
                code_dir,
                handler: record.handler.clone(),
                cos_addr: format!("127.0.0.1:{}", cloud.addr().port()),
                socket_dir: self.inner.socket_dir.clone(),
                init_timeout: Duration::from_secs(u64::from(record.init_timeout.max(1))),
            },
            record,
            idle: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
            starting: Arc::new(Semaphore::new(self.floor())),
            returned: tokio::sync::Notify::new(),
            live: Arc::default(),
            cpu_share: std::sync::atomic::AtomicU64::new(UNKNOWN_SHARE),
            created: std::time::Instant::now(),
        });
        let mut functions = self.inner.functions.lock().expect("runtime lock");
        let slot = functions
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Slot {
                    permits: Arc::new(Semaphore::new(self.inner.opts.concurrency.max(1))),
                    pool: Mutex::new(pool.clone()),
                })
            })
            .clone();
        let mut current = slot.pool.lock().expect("slot lock");
        if current.version == version {
            // Ours, or one made concurrently for the same version.
            let p = current.clone();
            drop(current);
            return Ok((slot.clone(), p));
        }
        tracing::info!(
            function = pool.record.name,
            "new code version: old workers drain"
        );
        let old = std::mem::replace(&mut *current, pool.clone());
        drop(current);
        drop(functions);
        old.retire();
        Ok((slot, pool))
    }

    /// Removes unpacked code whose blob no longer exists (functions deleted or updated before
    /// this start; directories of this run's old versions stay until the next start, as their
    /// draining workers may still import from them).
    fn sweep_code(&self, cloud: &LocalCloud) {
        let Ok(entries) = std::fs::read_dir(self.inner.data_dir.join("code")) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let orphan =
                name.starts_with('.') || !cloud.store().blob_path(&format!("{name}.zip")).exists();
            if orphan {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// `{data dir}/code/{blob stem}/`, unpacked once (blobs are immutable).
    async fn unpack(
        &self,
        cloud: &LocalCloud,
        record: &FunctionRecord,
    ) -> Result<PathBuf, InvokeError> {
        let stem = record.code_blob.trim_end_matches(".zip").to_owned();
        let dir = self.inner.data_dir.join("code").join(&stem);
        if dir.is_dir() {
            return Ok(dir);
        }
        let zip_path = cloud.store().blob_path(&record.code_blob);
        let name = record.name.clone();
        let target = dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let tmp =
                target.with_file_name(format!(".{stem}.tmp-{}", uuid::Uuid::new_v4().simple()));
            let file = std::fs::File::open(&zip_path)
                .map_err(|e| format!("{}: {e}", zip_path.display()))?;
            let mut archive =
                zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
            archive.extract(&tmp).map_err(|e| e.to_string())?;
            if let Err(e) = std::fs::rename(&tmp, &target) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !target.is_dir() {
                    return Err(format!("{}: {e}", target.display()));
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| InvokeError::Internal(e.to_string()))?
        .map_err(|reason| InvokeError::CodeUnreadable { name, reason })?;
        Ok(dir)
    }

    /// Writes the embedded bootstrap (once per content) and returns its path.
    fn bootstrap_file(&self) -> Result<PathBuf, InvokeError> {
        let digest = crate::providers::tencent::tc3::sha256_hex(BOOTSTRAP_PY.as_bytes());
        let dir = self.inner.data_dir.join("runtime");
        let path = dir.join(format!(
            "bootstrap-v{}-{}.py",
            protocol::PROTOCOL_VERSION,
            &digest[..12]
        ));
        if path.is_file() {
            return Ok(path);
        }
        let io = |e: std::io::Error| InvokeError::Internal(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&tmp, BOOTSTRAP_PY).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(path)
    }

    /// Runs one invocation on a worker of `pool` and records it.
    async fn run(
        &self,
        cloud: &LocalCloud,
        slot: Arc<Slot>,
        pool: Arc<Pool>,
        request_id: String,
        event: Value,
        invocation: InvocationType,
    ) -> InvokeOutput {
        let _permit = slot
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let record = &pool.record;
        let start_ms = now_millis();
        let started = tokio::time::Instant::now();
        let limit = Duration::from_secs(u64::from(record.timeout.max(1)));
        let context = context_for(cloud, record, &request_id);
        let mut worker = match self.acquire(cloud, &pool).await {
            Ok(w) => w,
            Err(SpawnError::InitTimedOut { log }) => {
                tracing::warn!(
                    function = record.name,
                    init_timeout = record.init_timeout,
                    "function worker did not load its code in time"
                );
                let out = failed(
                    &request_id,
                    FunctionErrorKind::InitTimeout,
                    init_timeout_message(record.init_timeout),
                    log,
                    started.elapsed(),
                );
                self.record(cloud, record, start_ms, invocation, &out).await;
                return out;
            }
            Err(SpawnError::Failed(e)) => {
                tracing::warn!(
                    function = record.name,
                    "function worker failed to start: {e}"
                );
                let out = failed(
                    &request_id,
                    FunctionErrorKind::Crash,
                    format!("the function's worker could not start: {e}"),
                    String::new(),
                    started.elapsed(),
                );
                self.record(cloud, record, start_ms, invocation, &out).await;
                return out;
            }
        };
        let pid = worker.pid;
        let outcome = worker.run(&request_id, &event, &context, limit).await;
        let elapsed = started.elapsed();
        let out = match outcome {
            RunOutcome::Replied { reply, log } => {
                pool.observe_cpu(reply.cpu_ms, reply.duration_ms);
                let mem = reply.mem;
                let limit_bytes = u64::from(record.memory_size) * 1024 * 1024;
                let outcome = if mem > limit_bytes {
                    Err(FunctionError {
                        kind: FunctionErrorKind::Oom,
                        message: format!(
                            "Memory limit exceeded: the function used {} MB of its {} MB",
                            mem / (1024 * 1024),
                            record.memory_size
                        ),
                        traceback: String::new(),
                    })
                } else if reply.ok {
                    Ok(reply.value)
                } else {
                    let e = reply.error.unwrap_or(protocol::WorkerError {
                        kind: "UserException".into(),
                        message: "the handler failed".into(),
                        traceback: String::new(),
                    });
                    Err(FunctionError {
                        kind: FunctionErrorKind::UserException,
                        message: e.message,
                        traceback: e.traceback,
                    })
                };
                if matches!(&outcome, Err(e) if e.kind == FunctionErrorKind::Oom) {
                    worker.kill_group();
                } else {
                    let live = pool.live.load(Ordering::SeqCst);
                    // Kept if the pool could grow to this size now; else it is surplus (CPU-bound
                    // work on saturated CPUs) and ends, and the invocations waiting take the
                    // others as they come back.
                    if self.may_grow(&pool, live.saturating_sub(1)) {
                        pool.give_back(worker);
                    } else {
                        tracing::debug!(function = record.name, pid, live, "surplus worker ends");
                        worker.retire();
                    }
                }
                InvokeOutput {
                    request_id: request_id.clone(),
                    outcome,
                    duration_ms: reply.duration_ms,
                    billed_ms: billed(reply.duration_ms),
                    mem_usage_bytes: mem,
                    log,
                    worker_pid: Some(pid),
                }
            }
            RunOutcome::TimedOut { log } => {
                let mut out = failed(
                    &request_id,
                    FunctionErrorKind::Timeout,
                    format!("Invoking task timed out after {} seconds", record.timeout),
                    log,
                    elapsed,
                );
                out.worker_pid = Some(pid);
                out
            }
            RunOutcome::Crashed { log, detail } => {
                tracing::warn!(
                    function = record.name,
                    pid,
                    "function worker died: {detail}"
                );
                let mut out = failed(
                    &request_id,
                    FunctionErrorKind::Crash,
                    format!("The function's process exited while running the handler ({detail})"),
                    log,
                    elapsed,
                );
                out.worker_pid = Some(pid);
                out
            }
        };
        self.record(cloud, record, start_ms, invocation, &out).await;
        out
    }

    /// An idle worker, or a new one: whichever is ready first once no idle worker is left and
    /// [`RuntimeOptions::max_starting`] workers are already starting.
    async fn acquire(&self, cloud: &LocalCloud, pool: &Pool) -> Result<Worker, SpawnError> {
        loop {
            let returned = pool.returned.notified();
            tokio::pin!(returned);
            // Registered before looking, so a worker given back after the look wakes us.
            returned.as_mut().enable();
            if let Some(w) = pool.take_idle() {
                return Ok(w);
            }
            tokio::select! {
                biased;
                () = &mut returned => {}
                permit = pool.starting.clone().acquire_owned() => {
                    let _slot = permit.expect("never closed");
                    if let Some(w) = pool.take_idle() {
                        return Ok(w);
                    }
                    let live = pool.live.load(Ordering::SeqCst);
                    if !self.may_grow(pool, live) {
                        // Saturated CPUs and CPU-bound work: another worker would only share
                        // the same cores. Wait for one of the busy ones instead, re-checking
                        // now and then (a worker that dies is not given back).
                        match pool.wait_for_return(Duration::from_millis(50)).await {
                            Returned::Idle(w) => return Ok(*w),
                            Returned::GivenBack | Returned::TimedOut => continue,
                        }
                    }
                    let delay = self.inner.opts.scale_delay;
                    if live >= self.floor() && !delay.is_zero() {
                        // Every worker is busy. Most invocations are short: rather than grow
                        // the pool (~10 MiB a worker) for one that a busy worker takes in a
                        // moment, wait that moment first.
                        match pool.wait_for_return(delay).await {
                            Returned::Idle(w) => return Ok(*w),
                            Returned::GivenBack => continue,
                            Returned::TimedOut => {}
                        }
                    }
                    tracing::debug!(
                        function = pool.record.name,
                        live,
                        cpu_share = pool.known_cpu_share(),
                        machine_busy = self.inner.cpu.busy(),
                        "starting a worker"
                    );
                    let mut w = self.spawn(cloud, pool).await?;
                    w.count_in(&pool.live);
                    return Ok(w);
                }
            }
        }
    }

    /// A new worker of `pool`, ready (its code loaded, within the function's `InitTimeout`).
    async fn spawn(&self, cloud: &LocalCloud, pool: &Pool) -> Result<Worker, SpawnError> {
        let now = now_millis() / 1000;
        let creds = cloud
            .account()
            .mint_temporary(now, CREDENTIALS_TTL)
            .map_err(|e| e.to_string())?;
        let env = worker_env(cloud, &pool.record, &pool.spec.code_dir, &creds);
        let zygote = if self.inner.opts.fork && forkable(&env) {
            self.zygote(&pool.spec).await
        } else {
            None
        };
        // The invocation clock has not started: `Worker::spawn` bounds loading by InitTimeout.
        match &zygote {
            Some(z) => match Worker::spawn(&pool.spec, &env, Launch::Fork(z)).await {
                Err(SpawnError::Failed(why)) if !z.is_alive() => {
                    tracing::warn!(
                        "the function fork server ended ({why}); starting the worker on its own"
                    );
                    Worker::spawn(&pool.spec, &env, Launch::Exec).await
                }
                r => r,
            },
            None => Worker::spawn(&pool.spec, &env, Launch::Exec).await,
        }
    }

    /// The fork server: the running one, or a new one (`None` if it cannot start; then workers
    /// start on their own, and another start is tried after [`ZYGOTE_RETRY`]).
    async fn zygote(&self, spec: &WorkerSpec) -> Option<Arc<Zygote>> {
        let mut slot = self.inner.zygote.lock().await;
        if let Some(z) = slot.current.as_ref().filter(|z| z.is_alive()) {
            return Some(z.clone());
        }
        if slot.failed_at.is_some_and(|t| t.elapsed() < ZYGOTE_RETRY) {
            return None;
        }
        let mut env = python::basic_env();
        env.extend(
            INTERPRETER_ENV
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        match Zygote::start(
            &spec.python,
            &spec.bootstrap,
            &spec.socket_dir,
            &spec.cos_addr,
            &env,
        )
        .await
        {
            Ok(z) => {
                tracing::debug!(pid = z.pid, preloaded = ?z.preloaded, "function fork server started");
                slot.current = Some(z.clone());
                slot.failed_at = None;
                Some(z)
            }
            Err(e) => {
                tracing::warn!(
                    "cannot start the function fork server ({e}); workers start on their own"
                );
                slot.current = None;
                slot.failed_at = Some(std::time::Instant::now());
                None
            }
        }
    }

    /// Stores the invocation record (on the blocking pool: the store fsyncs).
    async fn record(
        &self,
        cloud: &LocalCloud,
        record: &FunctionRecord,
        start_ms: i64,
        invocation: InvocationType,
        out: &InvokeOutput,
    ) {
        let rec = logs::LogRecord {
            region: record.region.clone(),
            namespace: record.namespace.clone(),
            function_name: record.name.clone(),
            request_id: out.request_id.clone(),
            start_ms,
            duration_ms: out.duration_ms,
            billed_ms: out.billed_ms,
            mem_usage: out.mem_usage_bytes,
            ret_code: out
                .outcome
                .as_ref()
                .map_or_else(|e| e.kind.status_code(), |_| 0),
            ret_msg: ret_msg(out),
            log: scf_log(out, record.memory_size),
            invocation_type: invocation.as_str().to_owned(),
        };
        let store = cloud.store().clone();
        let max = self.inner.opts.max_log_records;
        let r = tokio::task::spawn_blocking(move || logs::append(&store, &rec, max)).await;
        if let Ok(Err(e)) | Err(e) =
            r.map_err(|e| crate::localcloud::store::StoreError::Db(e.to_string()))
        {
            tracing::warn!("cannot record the invocation: {e}");
        }
    }

    /// Starts the idle reaper and the CPU gauge once (they end with the runtime).
    fn start_reaper(&self) {
        self.inner.cpu.start();
        if self.inner.reaper_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let idle = self.inner.opts.idle_timeout;
        let every = (idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { break };
                let slots: Vec<Arc<Slot>> = inner
                    .functions
                    .lock()
                    .expect("runtime lock")
                    .values()
                    .cloned()
                    .collect();
                for slot in slots {
                    let pool = slot.pool.lock().expect("slot lock").clone();
                    let expired: Vec<Worker> = {
                        let mut workers = pool.idle.lock().expect("pool lock");
                        let (old, keep): (Vec<Worker>, Vec<Worker>) = workers
                            .drain(..)
                            .partition(|w| w.last_used.elapsed() >= idle);
                        *workers = keep;
                        old
                    };
                    for w in expired {
                        tracing::debug!(
                            pid = w.pid,
                            function = pool.record.name,
                            "idle worker ends"
                        );
                        w.retire();
                    }
                }
            }
        });
    }
}

/// The error of an invocation whose new instance did not initialise within `InitTimeout`.
pub fn init_timeout_message(init_timeout: u32) -> String {
    format!("Function initialization timed out after {init_timeout} seconds (InitTimeout)")
}

/// Whole milliseconds, at least 1.
fn billed(duration_ms: f64) -> u64 {
    (duration_ms.ceil() as u64).max(1)
}

fn failed(
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

/// The configuration that shapes a worker, hashed: a change means new workers.
fn version_of(r: &FunctionRecord) -> String {
    let shape = json!([
        r.handler,
        r.runtime,
        r.timeout,
        r.init_timeout,
        r.memory_size,
        r.environment,
        r.code_sha256
    ]);
    let digest = crate::providers::tencent::tc3::sha256_hex(shape.to_string().as_bytes());
    format!("{}/{}/{}", r.function_id, r.code_blob, &digest[..16])
}

/// SCF's Python `context` for one invocation.
fn context_for(cloud: &LocalCloud, r: &FunctionRecord, request_id: &str) -> Value {
    let mut vars: serde_json::Map<String, Value> = r
        .environment
        .iter()
        .map(|kv| (kv.key.clone(), Value::String(kv.value.clone())))
        .collect();
    vars.insert("SCF_NAMESPACE".into(), Value::String(r.namespace.clone()));
    let environ: Vec<String> = vars
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let appid = cloud.account().appid.to_string();
    json!({
        "request_id": request_id,
        "function_name": r.name,
        "function_version": "$LATEST",
        "namespace": r.namespace,
        "memory_limit_in_mb": r.memory_size,
        "time_limit_in_ms": u64::from(r.timeout) * 1000,
        "environment": Value::Object(vars).to_string(),
        "environ": environ.join(";"),
        "tencentcloud_region": r.region,
        "tencentcloud_appid": appid,
        "tencentcloud_uin": appid,
    })
}

/// The complete environment of a worker (nothing else from ours).
fn worker_env(
    cloud: &LocalCloud,
    r: &FunctionRecord,
    code_dir: &Path,
    creds: &super::account::TempCredentials,
) -> Vec<(String, String)> {
    let code = code_dir.display().to_string();
    let mut env = python::basic_env();
    env.extend(
        r.environment
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone())),
    );
    let builtins = [
        ("TENCENTCLOUD_SECRETID", creds.secret_id.clone()),
        (
            "TENCENTCLOUD_SECRETKEY",
            creds.secret_key.expose().to_owned(),
        ),
        ("TENCENTCLOUD_SESSIONTOKEN", creds.token.expose().to_owned()),
        ("TENCENTCLOUD_REGION", r.region.clone()),
        ("TENCENTCLOUD_APPID", cloud.account().appid.to_string()),
        ("TENCENTCLOUD_RUNENV", "SCF".to_owned()),
        ("SCF_FUNCTIONNAME", r.name.clone()),
        ("SCF_NAMESPACE", r.namespace.clone()),
        ("SCF_FUNCTIONVERSION", "$LATEST".to_owned()),
        ("SCF_RUNTIME", r.runtime.clone()),
        ("SCF_MEMORYSIZE", r.memory_size.to_string()),
        ("SCF_TIMEOUT", r.timeout.to_string()),
        ("USER_CODE_ROOT", code.clone()),
        ("PYTHONPATH", code),
    ];
    env.extend(builtins.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend(
        INTERPRETER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

/// Machine CPU use (all cores) from which the CPUs count as saturated.
const SATURATED: f64 = 0.9;
/// A function's CPU time over duration from which its invocations count as CPU-bound. Low,
/// because on saturated CPUs the measured share understates it (time waiting for a CPU is not
/// CPU time): the chat transport shows 0.1–0.2 there; a function that sleeps or waits on the
/// network shows ~0.001.
const CPU_BOUND: f64 = 0.05;

/// Whether an invocation that found every worker of its function busy may start another (the
/// start is still subject to [`RuntimeOptions::scale_delay`]), and whether a worker that just
/// finished stays in the pool (`live` then excludes it). Below twice `floor` (the CPU count)
/// workers, always. Beyond, not while the machine's CPUs are saturated and this function's
/// invocations are CPU-bound: another worker would only share the same cores, making every
/// invocation slower and costing ~10 MiB. Functions that mostly wait (I/O, sleeps) always
/// scale out to the concurrency limit, as on SCF.
/// A pool whose share is unknown (its first invocations still run) counts as CPU-bound: the
/// first burst of a new function does not start a worker per invocation before it is known.
fn may_grow(live: usize, floor: usize, cpu_share: Option<f64>, machine_busy: f64) -> bool {
    live < 2 * floor || machine_busy < SATURATED || cpu_share.is_some_and(|s| s < CPU_BOUND)
}

/// [`Pool::cpu_share`] before any result (not a valid f64 share: NaN bits).
const UNKNOWN_SHARE: u64 = u64::MAX;
/// How long a new pool's unknown CPU share counts as CPU-bound.
const FIRST_RESULTS_WAIT: Duration = Duration::from_millis(250);

/// The fork server's state in a runtime.
#[derive(Debug, Default)]
struct ZygoteSlot {
    current: Option<Arc<Zygote>>,
    failed_at: Option<std::time::Instant>,
}

/// After a failed fork server start, how long workers start on their own before another try.
const ZYGOTE_RETRY: Duration = Duration::from_secs(30);

/// Interpreter settings every worker gets; the fork server starts with the same ones.
const INTERPRETER_ENV: &[(&str, &str)] = &[
    ("PYTHONUNBUFFERED", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONIOENCODING", "utf-8"),
];

/// Whether a worker with environment `env` can be forked: nothing in it acts at interpreter or
/// process start (other `PYTHON*` variables such as `PYTHONHASHSEED`, `LD_*`) beyond what the
/// fork server started with. Otherwise it gets an interpreter of its own.
fn forkable(env: &[(String, String)]) -> bool {
    env.iter().all(|(k, v)| {
        if k == "PYTHONPATH" {
            return true;
        }
        if let Some((_, ours)) = INTERPRETER_ENV.iter().find(|(name, _)| name == k) {
            return v == ours;
        }
        !k.starts_with("PYTHON") && !k.starts_with("LD_")
    })
}

/// Makes the socket directory private to us.
fn restrict(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests;
