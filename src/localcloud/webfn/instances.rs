//! Instances of Web functions: processes started from the code's `scf_bootstrap`, each
//! serving HTTP on a port of its own, and the choice of instance for each request.
//!
//! - **Start.** The code is unpacked (once per blob, shared with Event workers), then
//!   `scf_bootstrap` runs in the code directory, in a process group of its own, with the
//!   function's variables, SCF's, temporary credentials when it has an execution role, and
//!   two of ours: `CHATSTACK_PORT` (the port to listen on; the cloud's is always 9000, so a
//!   script that reads `${CHATSTACK_PORT:-9000}` runs unchanged in both) and
//!   `CHATSTACK_INSTANCE_ID`. For Python runtimes `python3`/`python` on its `PATH` are the
//!   interpreter Event functions run on. It is ready once its port accepts a connection; it
//!   has the function's `InitTimeout` to get there.
//! - **Choice.** A request (an HTTP request, or a WebSocket connection for its whole life)
//!   takes a free slot of a current instance (`MaxConcurrency` slots each, one by default);
//!   with none free a new instance starts, unless the function already runs as many requests
//!   as its reserved concurrency allows (or [`super::WebOptions::max_instances`] instances).
//!   Requests that find an instance still starting wait for it.
//! - **Versions.** An instance runs the code and configuration it started with. After an
//!   update, new requests go to new instances; old ones finish what they hold and stop.
//! - **End.** An instance idle for `keep_warm` is stopped (SIGTERM to its group, SIGKILL two
//!   seconds later); so is every instance of a deleted function, and all at shutdown. An
//!   instance whose process exits is dropped, and the requests it held end (status 439).
//! - **Output.** What an instance prints goes to the log of the most recent request it is
//!   serving (output printed while it serves none goes to the next one's).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::options::WebOptions;
use crate::localcloud::model::clock::now_millis;
use crate::localcloud::model::function::{self, FunctionRecord, Status};
use crate::localcloud::runtime::Runtime;
use crate::localcloud::store::Store;

/// The name of the executable a Web function's code ships.
pub const BOOTSTRAP: &str = "scf_bootstrap";

/// Where an instance is in its start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Readiness {
    Starting,
    Ready,
    Failed(String),
}

/// Why no instance serves a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The function runs as many requests as it may (reserved concurrency or instance cap).
    Concurrency(String),
    /// The instance could not start (its reason, for the caller and the log).
    StartFailed(String),
}

/// What makes two instances interchangeable: the code and everything an instance is started
/// with.
fn version_of(r: &FunctionRecord) -> String {
    let vars: Vec<String> = r
        .environment
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        r.code_blob,
        r.runtime,
        r.role,
        r.memory_size,
        r.timeout,
        r.max_concurrency,
        r.ws_idle_timeout,
        vars.join("\u{1}")
    )
}

/// The output an instance printed, waiting for a request's log.
#[derive(Debug, Default)]
struct Output {
    /// Logs of the requests in service, most recent last.
    serving: Vec<(u64, Arc<Mutex<String>>)>,
    /// Printed while serving nothing.
    pending: String,
}

/// One running (or starting) instance.
#[derive(Debug)]
pub struct Instance {
    /// `CHATSTACK_INSTANCE_ID`.
    pub id: String,
    /// The port it listens on.
    pub port: u16,
    version: String,
    slots: u32,
    active: Mutex<(u32, Instant)>,
    stale: AtomicBool,
    stopped: CancellationToken,
    pgid: AtomicI32,
    ready: watch::Sender<Readiness>,
    output: Mutex<Output>,
    next_lease: std::sync::atomic::AtomicU64,
}

impl Instance {
    /// Cancelled when the instance stops (its process exited or was stopped).
    pub fn stopped(&self) -> &CancellationToken {
        &self.stopped
    }

    fn try_take_slot(&self) -> bool {
        let mut a = self.active.lock().expect("instance lock");
        if a.0 < self.slots {
            a.0 += 1;
            true
        } else {
            false
        }
    }

    fn active(&self) -> u32 {
        self.active.lock().expect("instance lock").0
    }

    fn idle_for(&self) -> Option<Duration> {
        let a = self.active.lock().expect("instance lock");
        (a.0 == 0).then(|| a.1.elapsed())
    }

    /// Stops the process group: SIGTERM, SIGKILL two seconds later.
    pub fn stop(&self) {
        if self.stopped.is_cancelled() {
            return;
        }
        self.stopped.cancel();
        let pgid = self.pgid.swap(0, Ordering::SeqCst);
        if pgid > 0 {
            signal_group(pgid, libc::SIGTERM);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                signal_group(pgid, libc::SIGKILL);
            });
        }
    }

    fn kill_now(&self) {
        self.stopped.cancel();
        let pgid = self.pgid.swap(0, Ordering::SeqCst);
        if pgid > 0 {
            signal_group(pgid, libc::SIGKILL);
        }
    }

    fn print(&self, line: &str) {
        let mut out = self.output.lock().expect("output lock");
        match out.serving.last() {
            Some((_, log)) => {
                let mut log = log.lock().expect("log lock");
                log.push_str(line);
                log.push('\n');
            }
            None if out.pending.len() < 64 * 1024 => {
                out.pending.push_str(line);
                out.pending.push('\n');
            }
            None => {}
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill_now();
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is touched.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// A request's hold on a slot of an instance; the slot is freed when it drops.
#[derive(Debug)]
pub struct Lease {
    /// The instance.
    pub instance: Arc<Instance>,
    id: u64,
    log: Arc<Mutex<String>>,
}

impl Lease {
    /// Waits until the instance is ready (or failed to start).
    pub async fn ready(&self) -> Result<(), Refusal> {
        let mut rx = self.instance.ready.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                Readiness::Ready => return Ok(()),
                Readiness::Failed(why) => return Err(Refusal::StartFailed(why.clone())),
                Readiness::Starting => {}
            }
            if rx.changed().await.is_err() {
                return Err(Refusal::StartFailed("the instance went away".into()));
            }
        }
    }

    /// What the instance printed while serving this request (and, for the first request,
    /// while starting).
    pub fn take_log(&self) -> String {
        std::mem::take(&mut *self.log.lock().expect("log lock"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let inst = &self.instance;
        inst.output
            .lock()
            .expect("output lock")
            .serving
            .retain(|(id, _)| *id != self.id);
        let now_idle = {
            let mut a = inst.active.lock().expect("instance lock");
            a.0 = a.0.saturating_sub(1);
            a.1 = Instant::now();
            a.0 == 0
        };
        if now_idle && inst.stale.load(Ordering::SeqCst) {
            inst.stop();
        }
    }
}

fn lease(instance: &Arc<Instance>) -> Lease {
    let id = instance.next_lease.fetch_add(1, Ordering::Relaxed);
    let mut out = instance.output.lock().expect("output lock");
    let log = Arc::new(Mutex::new(std::mem::take(&mut out.pending)));
    out.serving.push((id, log.clone()));
    drop(out);
    Lease {
        instance: instance.clone(),
        id,
        log,
    }
}

/// Every function's instances.
#[derive(Debug)]
pub struct Instances {
    runtime: Runtime,
    /// Read (never written) to stop the instances of deleted functions.
    store: Store,
    opts: WebOptions,
    /// By function key (`region/namespace/name`).
    pools: Mutex<HashMap<String, Vec<Arc<Instance>>>>,
    reaper: std::sync::Once,
    shutdown: CancellationToken,
}

impl Instances {
    /// No instance runs until the first request.
    pub fn new(runtime: Runtime, store: Store, opts: WebOptions) -> Arc<Self> {
        Arc::new(Instances {
            runtime,
            store,
            opts,
            pools: Mutex::new(HashMap::new()),
            reaper: std::sync::Once::new(),
            shutdown: CancellationToken::new(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &WebOptions {
        &self.opts
    }

    /// A slot on an instance of `r` (`key` = its store key), starting one if needed; the
    /// caller awaits [`Lease::ready`].
    pub fn acquire(self: &Arc<Self>, key: &str, r: &FunctionRecord) -> Result<Lease, Refusal> {
        self.start_reaper();
        let version = version_of(r);
        let mut pools = self.pools.lock().expect("pools lock");
        let list = pools.entry(key.to_owned()).or_default();
        list.retain(|i| !i.stopped.is_cancelled());
        for i in list.iter() {
            if i.version != version && !i.stale.swap(true, Ordering::SeqCst) && i.active() == 0 {
                i.stop();
            }
        }
        // Reserved concurrency caps the requests in flight across all instances, old ones too.
        let running: u32 = list.iter().map(|i| i.active()).sum();
        if let Some(reserved) = r.reserved_concurrency
            && running >= reserved
        {
            return Err(Refusal::Concurrency(format!(
                "function {} runs {running} request(s) at once, its reserved concurrency",
                r.name
            )));
        }
        if let Some(i) = list
            .iter()
            .find(|i| !i.stale.load(Ordering::SeqCst) && i.try_take_slot())
        {
            return Ok(lease(i));
        }
        let slots = r.slots_per_instance();
        let current = list
            .iter()
            .filter(|i| !i.stale.load(Ordering::SeqCst))
            .count();
        if current >= self.opts.max_instances as usize {
            return Err(Refusal::Concurrency(format!(
                "the function runs {current} instance(s), the most the local cloud starts for \
                 one function"
            )));
        }
        let port = free_port().map_err(|e| Refusal::StartFailed(format!("no free port: {e}")))?;
        let (ready, _) = watch::channel(Readiness::Starting);
        let instance = Arc::new(Instance {
            id: format!("ins-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            port,
            version,
            slots,
            active: Mutex::new((1, Instant::now())),
            stale: AtomicBool::new(false),
            stopped: CancellationToken::new(),
            pgid: AtomicI32::new(0),
            ready,
            output: Mutex::new(Output::default()),
            next_lease: std::sync::atomic::AtomicU64::new(0),
        });
        list.push(instance.clone());
        drop(pools);
        let l = lease(&instance);
        let this = self.clone();
        let record = r.clone();
        tokio::spawn(async move {
            let result = this.start(&instance, &record).await;
            if let Err(why) = result {
                tracing::warn!(function = record.name, instance = instance.id, "{why}");
                instance.print(&why);
                instance.ready.send_replace(Readiness::Failed(why));
                instance.kill_now();
            }
        });
        Ok(l)
    }

    /// The ids of the running instances of function `key` (tests, `ps`-like views).
    pub fn instance_ids(&self, key: &str) -> Vec<String> {
        let pools = self.pools.lock().expect("pools lock");
        pools.get(key).map_or_else(Vec::new, |list| {
            list.iter()
                .filter(|i| !i.stopped.is_cancelled())
                .map(|i| i.id.clone())
                .collect()
        })
    }

    /// Stops every instance of function `key` (it was deleted).
    pub fn stop_function(&self, key: &str) {
        let list = self.pools.lock().expect("pools lock").remove(key);
        for i in list.into_iter().flatten() {
            i.stop();
        }
    }

    /// Stops every instance (the local cloud is stopping).
    pub fn stop_all(&self) {
        self.shutdown.cancel();
        let all: Vec<_> = self
            .pools
            .lock()
            .expect("pools lock")
            .drain()
            .flat_map(|(_, l)| l)
            .collect();
        for i in all {
            i.stop();
        }
    }

    async fn start(&self, inst: &Arc<Instance>, r: &FunctionRecord) -> Result<(), String> {
        let code_dir = self
            .runtime
            .code_dir(r)
            .await
            .map_err(|e| format!("cannot unpack the code: {e}"))?;
        let bootstrap = code_dir.join(BOOTSTRAP);
        check_bootstrap(&bootstrap)?;
        let env = self.environment(inst, r, &code_dir).await?;
        let mut cmd = tokio::process::Command::new(&bootstrap);
        cmd.current_dir(&code_dir)
            .env_clear()
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {BOOTSTRAP}: {e}"))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        inst.pgid.store(pid, Ordering::SeqCst);
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let weak = Arc::downgrade(inst);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    match weak.upgrade() {
                        Some(i) => i.print(&line),
                        None => break,
                    }
                }
            });
        }
        // The process's end, whenever it comes, stops the instance.
        let (exited_tx, mut exited) = watch::channel(None::<String>);
        let weak = Arc::downgrade(inst);
        let name = r.name.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let what = match status {
                Ok(s) => format!("{BOOTSTRAP} exited ({s})"),
                Err(e) => format!("{BOOTSTRAP}: {e}"),
            };
            if let Some(i) = weak.upgrade() {
                if !i.stopped.is_cancelled() {
                    tracing::info!(function = name, instance = i.id, "{what}");
                    i.print(&what);
                }
                i.pgid.store(0, Ordering::SeqCst);
                i.stopped.cancel();
            }
            let _ = exited_tx.send(Some(what));
        });
        let deadline = Instant::now() + Duration::from_secs(u64::from(r.init_timeout.max(1)));
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], inst.port));
        loop {
            if let Some(what) = exited.borrow().clone() {
                return Err(format!(
                    "the instance ended before it listened on port {} ($CHATSTACK_PORT): {what}",
                    inst.port
                ));
            }
            if inst.stopped.is_cancelled() {
                return Err("the instance was stopped while starting".into());
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                inst.ready.send_replace(Readiness::Ready);
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the instance did not listen on port {} ($CHATSTACK_PORT) within the \
                     function's InitTimeout of {} s",
                    inst.port, r.init_timeout
                ));
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = exited.changed() => {}
            }
        }
    }

    async fn environment(
        &self,
        inst: &Instance,
        r: &FunctionRecord,
        code_dir: &std::path::Path,
    ) -> Result<Vec<(String, String)>, String> {
        let creds = self.runtime.role_credentials(&r.role)?;
        let mut env = crate::localcloud::runtime::instance_env(
            self.runtime.appid(),
            r,
            code_dir,
            creds.as_ref(),
        );
        if r.runtime.starts_with("Python") {
            let python = self
                .runtime
                .interpreter_for(&r.runtime)
                .await
                .map_err(|e| format!("no Python for {}: {e}", r.runtime))?;
            let bin = python_dir(self.runtime.data_dir(), &python)?;
            for (k, v) in &mut env {
                if k == "PATH" {
                    *v = format!("{}:{v}", bin.display());
                }
            }
            if !env.iter().any(|(k, _)| k == "PATH") {
                env.push(("PATH".into(), format!("{}:/usr/bin:/bin", bin.display())));
            }
        }
        env.push(("CHATSTACK_PORT".into(), inst.port.to_string()));
        env.push(("CHATSTACK_INSTANCE_ID".into(), inst.id.clone()));
        env.push((
            "CHATSTACK_LOCAL_ENDPOINT".into(),
            format!("http://{}", self.runtime.local_addr()),
        ));
        Ok(env)
    }

    fn start_reaper(self: &Arc<Self>) {
        self.reaper.call_once(|| {
            let weak = Arc::downgrade(self);
            let every =
                (self.opts.keep_warm / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
            let shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = shutdown.cancelled() => return,
                    }
                    let Some(this) = weak.upgrade() else { return };
                    this.reap();
                }
            });
        });
    }

    /// Stops instances idle for longer than `keep_warm`, and every instance of a function
    /// that was deleted.
    fn reap(&self) {
        let keep = self.opts.keep_warm;
        let now = now_millis();
        let mut pools = self.pools.lock().expect("pools lock");
        for (key, list) in pools.iter_mut() {
            let gone = match self.store.get::<FunctionRecord>(function::TABLE, key) {
                Ok(r) => r
                    .and_then(|r| r.at(now))
                    .is_none_or(|r| r.status == Status::Deleting),
                Err(_) => false,
            };
            if gone {
                for i in list.iter() {
                    i.stop();
                }
                list.clear();
                continue;
            }
            list.retain(|i| {
                if i.stopped.is_cancelled() {
                    return false;
                }
                if i.idle_for().is_some_and(|d| d >= keep) {
                    i.stop();
                    return false;
                }
                true
            });
        }
        pools.retain(|_, l| !l.is_empty());
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `scf_bootstrap` must be a file the platform can execute.
fn check_bootstrap(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|_| {
        format!("the code has no {BOOTSTRAP} at its root: a Web function's code must ship one")
    })?;
    let mode = meta.permissions().mode();
    if !meta.is_file() || mode & 0o111 == 0 {
        return Err(format!(
            "{BOOTSTRAP} is not executable (mode {:o}): `chmod 755 {BOOTSTRAP}` before zipping, \
             as the cloud requires",
            mode & 0o777
        ));
    }
    Ok(())
}

/// A directory holding `python3` and `python` links to `interpreter` (one per interpreter).
fn python_dir(
    data_dir: &std::path::Path,
    interpreter: &std::path::Path,
) -> Result<PathBuf, String> {
    let digest =
        crate::providers::tencent::tc3::sha256_hex(interpreter.as_os_str().as_encoded_bytes());
    let dir = data_dir
        .join("runtime")
        .join(format!("python-bin-{}", &digest[..12]));
    if dir.join("python3").exists() {
        return Ok(dir);
    }
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    let tmp = dir.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp).map_err(io)?;
    for name in ["python3", "python"] {
        std::os::unix::fs::symlink(interpreter, tmp.join(name)).map_err(io)?;
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(dir)
}

/// A port nothing listens on now (the instance binds it next).
fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::model::function::KeyValue;

    fn record() -> FunctionRecord {
        FunctionRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            name: "web".into(),
            function_id: "lam-1".into(),
            runtime: "Python3.9".into(),
            handler: String::new(),
            description: String::new(),
            memory_size: 128,
            timeout: 30,
            init_timeout: 65,
            role: String::new(),
            function_type: "HTTP".into(),
            protocol_type: "WS".into(),
            ws_idle_timeout: 15,
            max_concurrency: 2,
            reserved_concurrency: None,
            environment: vec![],
            tags: vec![],
            code_blob: "scf-1.zip".into(),
            code_size: 1,
            code_sha256: "aa".into(),
            add_time: 0,
            mod_time: 0,
            status: Status::Active,
            settles_at_ms: 0,
        }
    }

    #[test]
    fn a_change_of_code_or_configuration_makes_a_new_version_and_status_does_not() {
        let base = record();
        let v = version_of(&base);
        type Edit = fn(&mut FunctionRecord);
        let changes: &[(&str, Edit)] = &[
            ("code", |r| r.code_blob = "other.zip".into()),
            ("vars", |r| {
                r.environment.push(KeyValue {
                    key: "A".into(),
                    value: "1".into(),
                })
            }),
            ("role", |r| r.role = "x".into()),
            ("timeout", |r| r.timeout += 1),
            ("concurrency", |r| r.max_concurrency = 5),
            ("idle", |r| r.ws_idle_timeout = 99),
        ];
        for (what, change) in changes {
            let mut r = base.clone();
            change(&mut r);
            assert_ne!(version_of(&r), v, "{what}");
        }
        let mut same = base.clone();
        same.status = crate::localcloud::model::function::Status::Updating;
        same.mod_time += 10;
        assert_eq!(version_of(&same), v);
    }

    #[test]
    fn bootstrap_must_exist_and_be_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(BOOTSTRAP);
        assert!(
            check_bootstrap(&p)
                .unwrap_err()
                .contains("no scf_bootstrap")
        );
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_bootstrap(&p).unwrap_err().contains("chmod 755"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_bootstrap(&p).unwrap();
    }
}
