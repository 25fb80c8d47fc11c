//! The function runtime of the local cloud: SCF functions run in warm Python worker processes.
//!
//! **Interface (used by `api3` Invoke and by the WebSocket gateway; keep it stable):**
//! [`LocalCloud::runtime`](super::LocalCloud::runtime) hands out a cheap-clone [`Runtime`],
//! built once with what it needs (the store it reads function records from, the account that
//! mints credentials, the COS address); [`Runtime::invoke`]`(&FunctionRef, event,
//! InvocationType) -> Result<InvokeOutput, InvokeError>`. An `Err` means the function could not be run at all (missing, not `Active`,
//! code unreadable, not a Python runtime, no interpreter); everything the function itself does wrong (exception, timeout,
//! crash, memory) is an `Ok(InvokeOutput)` whose `outcome` is `Err(FunctionError)`, as SCF
//! reports it. `Event` invocations are checked, then run in the background: the call returns
//! at once with the request id. Every invocation is recorded for `GetFunctionLogs` ([`logs`]).
//!
//! **Workers.** A pool per function *code version* — the record's [`Shape`]: its FunctionId,
//! code blob and the configuration that shapes a worker (handler, runtime, timeout, memory,
//! variables), compared field by field. A pool keeps what every invocation needs (the worker
//! spec, the `context` template) and the functions table's [`Revision`] at which its record was
//! last found current: while the revision has not moved, an invocation reads nothing from the
//! store, takes no async lock and hashes nothing. A worker ([`worker`]) loads the handler once from the unpacked code
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
//! new worker, valid 12 h, only when the function's `Role` names a role SCF may assume — as in
//! the cloud; they stand for that role, see `model::cam`), `TENCENTCLOUD_REGION`, `TENCENTCLOUD_APPID`, `TENCENTCLOUD_RUNENV=SCF`,
//! `SCF_FUNCTIONNAME`, `SCF_NAMESPACE`, `SCF_FUNCTIONVERSION=$LATEST`, `SCF_RUNTIME`,
//! `USER_CODE_ROOT`, `PYTHONPATH` (the code dir), `PYTHONUNBUFFERED=1`,
//! `PYTHONDONTWRITEBYTECODE=1`, `PYTHONIOENCODING=utf-8`. The bootstrap points the official COS
//! SDK at the local COS (see `functions/_runtime/bootstrap.py`).
//!
//! **Files, by job:** this one is the [`Runtime`] (pools per function, invoke, the reaper);
//! [`options`] its settings; [`types`] the interface types and SCF's renderings of them;
//! [`pool`] a function's slot and a version's pool, and when a pool may grow; [`shape`] what
//! makes two records run on the same workers; [`env`] a worker's environment and `context`;
//! [`code`] the unpacked code and the bootstrap on disk; [`worker`], [`zygote`] and
//! [`protocol`] the worker processes, the fork server and the wire between them; [`python`]
//! the interpreter; [`cpu`] the machine's load; [`logs`] the invocation records.

mod code;
mod cpu;
mod env;
pub mod logs;
mod options;
mod pool;
pub mod protocol;
pub mod python;
mod shape;
mod types;
mod worker;
mod zygote;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::account::Account;
use super::model::cam;
use super::model::clock::now_millis;
use super::model::function::{self, FunctionRecord, Status};
use super::store::{Revision, Store};
pub use code::BOOTSTRAP_PY;
pub(crate) use env::instance_env;
pub use options::{
    CREDENTIALS_TTL, DEFAULT_CONCURRENCY, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_LOG_RECORDS,
    DEFAULT_SCALE_DELAY, RuntimeOptions,
};
use pool::{Pool, Returned, Slot, UNKNOWN_SHARE};
use shape::Shape;
pub use types::{
    FunctionError, FunctionErrorKind, FunctionRef, InvocationType, InvokeError, InvokeOutput,
    init_timeout_message, ret_msg, scf_log,
};
use types::{billed, failed};
use worker::{Launch, RunOutcome, SpawnError, Worker, WorkerSpec};
use zygote::Zygote;

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
    /// Where the function records are read (never written here) and invocations recorded.
    store: Store,
    /// The functions table's revision: an invocation whose pool was checked at the current
    /// value reads nothing.
    functions_rev: Revision,
    /// Mints each new worker's temporary credentials; its APPID goes into the environment.
    account: Arc<Account>,
    /// `127.0.0.1:PORT`, where the bootstrap points the COS SDK.
    cos_addr: String,
    /// Resolved once; a failure is retried on the next invocation that needs a new pool.
    python: tokio::sync::OnceCell<python::PythonEnv>,
    /// The interpreter per function runtime (`Python3.9`), with the warning for its log when
    /// it is not the runtime's version ([`python::for_runtime`]).
    runtime_pythons: tokio::sync::Mutex<HashMap<String, (python::PythonEnv, Option<String>)>>,
    /// How busy the machine's CPUs are (sampled while functions run).
    cpu: Arc<cpu::CpuGauge>,
    /// The fork server, started with the first worker.
    /// One per interpreter (functions of another runtime may run on another Python).
    zygote: tokio::sync::Mutex<HashMap<PathBuf, ZygoteSlot>>,
    /// `std` lock: never held across an `.await`; written only when a function's pool changes.
    functions: RwLock<HashMap<FunctionRef, Arc<Slot>>>,
    reaper_started: AtomicBool,
    /// Whether unpacked code of deleted blobs was removed (once per start).
    swept: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

impl Runtime {
    /// A runtime keeping its files under `data_dir` (code in `code/`, the bootstrap in
    /// `runtime/`), reading function records from `store`, minting workers' credentials from
    /// `account`, with the COS SDK of functions pointed at `cos_addr`. Nothing starts until the
    /// first invocation.
    pub fn new(
        opts: RuntimeOptions,
        data_dir: &Path,
        store: Store,
        account: Arc<Account>,
        cos_addr: String,
    ) -> Self {
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
                functions_rev: store.revision(function::TABLE),
                store,
                account,
                cos_addr,
                python: tokio::sync::OnceCell::new(),
                runtime_pythons: tokio::sync::Mutex::new(HashMap::new()),
                zygote: tokio::sync::Mutex::new(HashMap::new()),
                cpu: Arc::default(),
                functions: RwLock::new(HashMap::new()),
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
        target: &FunctionRef,
        event: Value,
        invocation: InvocationType,
    ) -> Result<InvokeOutput, InvokeError> {
        self.start_reaper();
        let (slot, pool) = self.current(target).await?;
        let request_id = uuid::Uuid::new_v4().to_string();
        match invocation {
            InvocationType::RequestResponse => {
                Ok(self.run(slot, pool, request_id, event, invocation).await)
            }
            InvocationType::Event => {
                let (rt, id) = (self.clone(), request_id.clone());
                tokio::spawn(async move {
                    rt.run(slot, pool, id, event, invocation).await;
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

    /// `target`'s slot and the pool of its current code version. While nothing was written to
    /// the functions table since the pool's record was last found current, straight from
    /// memory: no store read, no lock but the pool map's read lock, no hashing. Otherwise the
    /// record is read again (on the blocking pool), checked, and, when its [`Shape`] changed,
    /// a new pool is made (the code unpacked on first use) and the old one retired.
    async fn current(&self, target: &FunctionRef) -> Result<(Arc<Slot>, Arc<Pool>), InvokeError> {
        // Read before the record: a write committed after this read moves the revision on, so
        // the next invocation looks again.
        let revision = self.inner.functions_rev.get();
        let existing = self.slot(target);
        if let Some(slot) = &existing {
            let pool = slot.pool.lock().expect("slot lock").clone();
            if pool.checked_at.load(Ordering::Acquire) == revision {
                return Ok((slot.clone(), pool));
            }
        }
        let store = self.inner.store.clone();
        let t = target.clone();
        let record = tokio::task::spawn_blocking(move || {
            function::lookup(&store, &t.region, &t.namespace, &t.name, now_millis())
        })
        .await
        .map_err(|e| InvokeError::Internal(e.to_string()))?
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
        // Active stays Active until the next write: the check holds until the revision moves.
        let shape = Shape::of(&record);
        if let Some(slot) = existing {
            let pool = slot.pool.lock().expect("slot lock").clone();
            if pool.shape == shape {
                pool.checked_at.fetch_max(revision, Ordering::AcqRel);
                return Ok((slot, pool));
            }
        }
        let (python, warning) = self.python_for(&record.runtime).await?;
        let pool = self
            .new_pool(record, shape, revision, &python, warning)
            .await?;
        let mut functions = self.inner.functions.write().expect("runtime lock");
        let slot = functions
            .entry(target.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    permits: Arc::new(Semaphore::new(self.inner.opts.concurrency.max(1))),
                    pool: Mutex::new(pool.clone()),
                })
            })
            .clone();
        drop(functions);
        let mut current = slot.pool.lock().expect("slot lock");
        if current.shape == pool.shape {
            // Ours, or one made concurrently for the same version.
            let p = current.clone();
            drop(current);
            return Ok((slot, p));
        }
        tracing::info!(
            function = pool.record.name,
            "new code version: old workers drain"
        );
        let old = std::mem::replace(&mut *current, pool.clone());
        drop(current);
        old.retire();
        Ok((slot, pool))
    }

    /// `target`'s slot, if it has run.
    fn slot(&self, target: &FunctionRef) -> Option<Arc<Slot>> {
        self.inner
            .functions
            .read()
            .expect("runtime lock")
            .get(target)
            .cloned()
    }

    /// A pool for `record` (of `shape`, found current at `revision`): its code unpacked, the
    /// bootstrap written, its worker spec and `context` template made.
    async fn new_pool(
        &self,
        record: FunctionRecord,
        shape: Shape,
        revision: u64,
        python: &python::PythonEnv,
        python_warning: Option<String>,
    ) -> Result<Arc<Pool>, InvokeError> {
        let inner = &self.inner;
        if !inner.swept.swap(true, Ordering::SeqCst) {
            code::sweep(&inner.data_dir, &inner.store);
        }
        let code_dir = code::unpack(&inner.data_dir, &inner.store, &record).await?;
        // Only compiled modules care which Python runs them: no warning for pure Python code.
        let python_warning = python_warning.filter(|_| has_extension_modules(&code_dir));
        let bootstrap = code::bootstrap_file(&inner.data_dir)?;
        std::fs::create_dir_all(&inner.socket_dir)
            .and_then(|()| code::restrict(&inner.socket_dir))
            .map_err(|e| InvokeError::Internal(format!("{}: {e}", inner.socket_dir.display())))?;
        Ok(Arc::new(Pool {
            shape,
            context: env::context_template(inner.account.appid, &record),
            checked_at: AtomicU64::new(revision),
            spec: WorkerSpec {
                python: python.interpreter.clone(),
                bootstrap,
                code_dir,
                handler: record.handler.clone(),
                cos_addr: inner.cos_addr.clone(),
                socket_dir: inner.socket_dir.clone(),
                init_timeout: Duration::from_secs(u64::from(record.init_timeout.max(1))),
            },
            record,
            idle: Mutex::new(Vec::new()),
            retired: AtomicBool::new(false),
            starting: Arc::new(Semaphore::new(self.floor())),
            returned: tokio::sync::Notify::new(),
            live: Arc::default(),
            cpu_share: AtomicU64::new(UNKNOWN_SHARE),
            created: std::time::Instant::now(),
            python_warning: std::sync::Mutex::new(python_warning),
        }))
    }

    /// Drops a deleted function's workers.
    fn forget(&self, target: &FunctionRef) {
        let slot = self
            .inner
            .functions
            .write()
            .expect("runtime lock")
            .remove(target);
        if let Some(slot) = slot {
            slot.pool.lock().expect("slot lock").retire();
        }
    }

    /// Process ids of the idle workers of a function (diagnostics and tests).
    pub fn idle_workers(&self, target: &FunctionRef) -> Vec<u32> {
        self.slot(target)
            .map(|s| {
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

    /// [`pool::may_grow`] for `pool` at `live` workers, with its CPU share and the machine's
    /// load now.
    fn may_grow(&self, pool: &Pool, live: usize) -> bool {
        pool::may_grow(
            live,
            self.floor(),
            pool.known_cpu_share(),
            self.inner.cpu.busy(),
        )
    }

    /// Resolves the interpreter once (a failure is retried on the next call).
    async fn python(&self) -> Result<python::PythonEnv, InvokeError> {
        let o = &self.inner.opts;
        let p = self
            .inner
            .python
            .get_or_try_init(|| async {
                let p = python::resolve(
                    o.python.as_deref(),
                    o.venv_dir.as_deref(),
                    o.install_packages,
                )
                .await
                .map_err(InvokeError::PythonUnavailable)?;
                tracing::info!(python = %p.interpreter.display(), version = p.version, "function runtime ready");
                Ok::<_, InvokeError>(p)
            })
            .await?;
        Ok(p.clone())
    }

    /// The interpreter for functions of `runtime` (see [`python::for_runtime`]), chosen once
    /// per runtime.
    async fn python_for(
        &self,
        runtime: &str,
    ) -> Result<(python::PythonEnv, Option<String>), InvokeError> {
        let default = self.python().await?;
        let mut known = self.inner.runtime_pythons.lock().await;
        if let Some(p) = known.get(runtime) {
            return Ok(p.clone());
        }
        let o = &self.inner.opts;
        let explicit = python::configured(o.python.as_deref());
        let chosen = python::for_runtime(&default, runtime, explicit, o.install_packages).await;
        if let Some(w) = &chosen.1 {
            tracing::warn!("{w}");
        }
        known.insert(runtime.to_owned(), chosen.clone());
        Ok(chosen)
    }

    /// Runs one invocation on a worker of `pool` and records it.
    async fn run(
        &self,
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
        let context = env::context_for(&pool.context, &request_id);
        let mut worker = match self.acquire(&pool).await {
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
                self.record(record, start_ms, invocation, &out).await;
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
                self.record(record, start_ms, invocation, &out).await;
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
        let mut out = out;
        // The pool's first invocation says in its log that the interpreter is not the
        // runtime's version.
        if let Some(w) = pool.python_warning.lock().expect("pool lock").take() {
            out.log = if out.log.is_empty() {
                w
            } else {
                format!("{w}\n{}", out.log)
            };
        }
        self.record(record, start_ms, invocation, &out).await;
        out
    }

    /// An idle worker, or a new one: whichever is ready first once no idle worker is left and
    /// [`RuntimeOptions::max_starting`] workers are already starting.
    async fn acquire(&self, pool: &Pool) -> Result<Worker, SpawnError> {
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
                    let mut w = self.spawn(pool).await?;
                    w.count_in(&pool.live);
                    return Ok(w);
                }
            }
        }
    }

    /// A new worker of `pool`, ready (its code loaded, within the function's `InitTimeout`).
    async fn spawn(&self, pool: &Pool) -> Result<Worker, SpawnError> {
        let now = now_millis() / 1000;
        // Credentials only for a role that exists and that SCF may assume, as in the cloud.
        let role =
            cam::role_for_scf(&self.inner.store, &pool.record.role).map_err(|e| e.to_string())?;
        let creds = match role {
            Some(role) => Some(
                self.inner
                    .account
                    .mint_temporary(now, CREDENTIALS_TTL, Some(&role.name))
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let env = env::worker_env(
            self.inner.account.appid,
            &pool.record,
            &pool.spec.code_dir,
            creds.as_ref(),
        );
        let zygote = if self.inner.opts.fork && env::forkable(&env) {
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
        let mut slots = self.inner.zygote.lock().await;
        let slot = slots.entry(spec.python.clone()).or_default();
        if let Some(z) = slot.current.as_ref().filter(|z| z.is_alive()) {
            return Some(z.clone());
        }
        if slot.failed_at.is_some_and(|t| t.elapsed() < ZYGOTE_RETRY) {
            return None;
        }
        let mut env = python::basic_env();
        env.extend(
            env::INTERPRETER_ENV
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
        self.record_log(rec).await;
    }

    /// What a Web-function instance shares with the workers of Event functions: its code
    /// unpacked (once per blob, as for workers).
    pub(crate) async fn code_dir(&self, record: &FunctionRecord) -> Result<PathBuf, InvokeError> {
        code::unpack(&self.inner.data_dir, &self.inner.store, record).await
    }

    /// The interpreter Python functions of `runtime` run on (for a Web function's `python3`).
    pub(crate) async fn interpreter_for(&self, runtime: &str) -> Result<PathBuf, InvokeError> {
        Ok(self.python_for(runtime).await?.0.interpreter)
    }

    /// Temporary credentials for `role` when it is a role SCF may assume, else `None` (as a
    /// worker gets them).
    pub(crate) fn role_credentials(
        &self,
        role: &str,
    ) -> Result<Option<crate::localcloud::account::TempCredentials>, String> {
        let now = now_millis() / 1000;
        let Some(role) = cam::role_for_scf(&self.inner.store, role).map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        self.inner
            .account
            .mint_temporary(now, CREDENTIALS_TTL, Some(&role.name))
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// The account's APPID.
    pub(crate) fn appid(&self) -> u64 {
        self.inner.account.appid
    }

    /// `127.0.0.1:PORT` of the local cloud.
    pub(crate) fn local_addr(&self) -> &str {
        &self.inner.cos_addr
    }

    /// The data directory (absolute).
    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Stores an invocation record (GetFunctionLogs), off the async threads.
    pub(crate) async fn record_log(&self, rec: logs::LogRecord) {
        let store = self.inner.store.clone();
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
                    .read()
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

/// Whether `dir` holds a compiled Python extension module (`*.so`, `*.pyd`) at any depth.
fn has_extension_modules(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => has_extension_modules(&path),
            Ok(t) if t.is_file() => path.extension().is_some_and(|x| x == "so" || x == "pyd"),
            _ => false,
        }
    })
}

/// The fork server's state in a runtime.
#[derive(Debug, Default)]
struct ZygoteSlot {
    current: Option<Arc<Zygote>>,
    failed_at: Option<std::time::Instant>,
}

/// After a failed fork server start, how long workers start on their own before another try.
const ZYGOTE_RETRY: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests;
