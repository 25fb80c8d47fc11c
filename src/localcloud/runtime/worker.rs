//! One warm worker: a Python process running `bootstrap.py`, connected back over its own Unix
//! socket (see [`super::protocol`]), with stdout/stderr read line by line as the function's logs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use tokio::net::UnixListener;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::protocol::{self, Hello, Invoke, Ready, Reply};
use super::zygote::{ExitWatch, ForkRequest, Zygote};

/// How long a new worker may take to connect and say hello (the interpreter starting; loading
/// the code comes after, bounded by the function's `InitTimeout`).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// After the reply, how long to wait for the end markers on stdout/stderr.
const MARKER_GRACE: Duration = Duration::from_secs(2);
/// After a crash or kill, how long to wait for the output still in the pipes.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// Output kept per invocation; beyond it lines are dropped and a note is added.
const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;

/// Everything needed to start a worker for one code version.
#[derive(Debug, Clone)]
pub(crate) struct WorkerSpec {
    /// The interpreter.
    pub(crate) python: PathBuf,
    /// `bootstrap.py`.
    pub(crate) bootstrap: PathBuf,
    /// The unpacked code (working directory, `USER_CODE_ROOT`).
    pub(crate) code_dir: PathBuf,
    /// `file.function`.
    pub(crate) handler: String,
    /// `127.0.0.1:PORT`, where the local COS is.
    pub(crate) cos_addr: String,
    /// Where the per-worker sockets go (private directory).
    pub(crate) socket_dir: PathBuf,
    /// The function's `InitTimeout`: how long loading the code may take, from the hello to the
    /// ready frame.
    pub(crate) init_timeout: Duration,
}

/// Why a worker could not be made ready.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// It did not start, connect or greet properly (or died while loading the code).
    Failed(String),
    /// Loading the code took longer than `InitTimeout`; the worker was killed.
    InitTimedOut {
        /// Its output up to the kill.
        log: String,
    },
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Failed(s) => f.write_str(s),
            SpawnError::InitTimedOut { .. } => f.write_str("initialisation timed out"),
        }
    }
}

impl From<String> for SpawnError {
    fn from(s: String) -> Self {
        SpawnError::Failed(s)
    }
}

/// A line of output, or the end marker of an invocation, from stdout or stderr.
#[derive(Debug)]
enum Output {
    Line(String),
    Marker(String),
    Closed,
}

/// How one invocation on a worker ended.
#[derive(Debug)]
pub(crate) enum RunOutcome {
    /// The worker answered; it can be reused.
    Replied {
        /// The answer.
        reply: Reply,
        /// Its output.
        log: String,
    },
    /// The time limit passed; the worker was killed.
    TimedOut {
        /// Output up to the kill.
        log: String,
    },
    /// The worker went away mid-invocation.
    Crashed {
        /// Output up to the end.
        log: String,
        /// Exit status, or what failed.
        detail: String,
    },
}

/// A running worker.
#[derive(Debug)]
pub(crate) struct Worker {
    /// Process id (also its process group).
    pub(crate) pid: u32,
    proc: Proc,
    writer: OwnedWriteHalf,
    replies: mpsc::UnboundedReceiver<std::io::Result<Reply>>,
    output: mpsc::UnboundedReceiver<Output>,
    streams_open: u8,
    /// When it last finished an invocation.
    pub(crate) last_used: Instant,
    /// The pool's count of live workers, which this one is in until it is dropped.
    counted: Option<Counted>,
}

/// One unit of a live-worker count, given back when dropped.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How a worker's process is started.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Launch<'a> {
    /// Its own interpreter (`python3 bootstrap.py`).
    Exec,
    /// Forked by the fork server.
    Fork(&'a Arc<Zygote>),
}

/// A worker's process: our child, or the fork server's.
#[derive(Debug)]
enum Proc {
    /// Started by us (killed when dropped), with its process id (also its group's).
    Child(Child, u32),
    /// Forked by the zygote; it reports the exit.
    Forked(Forked),
}

#[derive(Debug)]
struct Forked {
    pid: u32,
    exit: ExitWatch,
    zygote: Arc<Zygote>,
}

impl Drop for Forked {
    fn drop(&mut self) {
        // As `kill_on_drop` does for our own children: a worker nobody holds must not linger.
        if self.exit.borrow().is_none() {
            self.zygote.kill(self.pid);
        }
    }
}

impl Proc {
    /// Waits for the process to end: how it ended.
    async fn wait(&mut self) -> String {
        match self {
            Proc::Child(c, _) => c
                .wait()
                .await
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string()),
            Proc::Forked(f) => match f.exit.wait_for(Option::is_some).await {
                Ok(s) => s.clone().unwrap_or_default(),
                Err(_) => "the fork server ended".to_owned(),
            },
        }
    }

    /// Kills its process group (the function and anything it started).
    fn kill_group(&mut self) {
        match self {
            Proc::Child(c, pid) => {
                kill_group_by_pid(*pid);
                let _ = c.start_kill();
            }
            Proc::Forked(f) if f.zygote.is_alive() => f.zygote.kill(f.pid),
            Proc::Forked(f) => kill_group_by_pid(f.pid),
        }
    }
}

/// The three connections of a worker, once each has said hello.
struct Attached {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    python: String,
}

impl Worker {
    /// Starts a worker with environment `env` (the function's, complete), waits for its three
    /// connections, then for its ready frame (at most `spec.init_timeout`).
    pub(crate) async fn spawn(
        spec: &WorkerSpec,
        env: &[(String, String)],
        launch: Launch<'_>,
    ) -> Result<Worker, SpawnError> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let sock_path = spec.socket_dir.join(format!("{}.sock", &tag[..12]));
        let listener = UnixListener::bind(&sock_path)
            .map_err(|e| format!("cannot listen on {}: {e}", sock_path.display()))?;
        let _cleanup = protocol::RemoveOnDrop(sock_path.clone());
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let (out_tx, mut output) = mpsc::unbounded_channel();

        let (pid, mut proc) = match launch {
            Launch::Exec => {
                let mut cmd = Command::new(&spec.python);
                cmd.arg(&spec.bootstrap)
                    .env_clear()
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .env("CHATSTACK_WORKER_SOCKET", &sock_path)
                    .env("CHATSTACK_WORKER_NONCE", &nonce)
                    .env("CHATSTACK_HANDLER", &spec.handler)
                    .env("CHATSTACK_COS_ADDR", &spec.cos_addr)
                    .current_dir(&spec.code_dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true)
                    // Its own process group, so a timeout kills whatever the function started too.
                    .process_group(0);
                let mut child = cmd
                    .spawn()
                    .map_err(|e| format!("cannot start {}: {e}", spec.python.display()))?;
                // Until the worker attaches its output connections, what the interpreter
                // prints (a startup failure) arrives here.
                if let Some(s) = child.stdout.take() {
                    tokio::spawn(read_output(s, out_tx.clone(), false));
                }
                if let Some(s) = child.stderr.take() {
                    tokio::spawn(read_output(s, out_tx.clone(), false));
                }
                let pid = child.id().unwrap_or(0);
                (pid, Proc::Child(child, pid))
            }
            Launch::Fork(zygote) => {
                let req = ForkRequest {
                    socket: &sock_path,
                    nonce: &nonce,
                    handler: &spec.handler,
                    code_dir: &spec.code_dir,
                    env,
                };
                let (pid, exit) = zygote.fork(&req).await?;
                let forked = Forked {
                    pid,
                    exit,
                    zygote: zygote.clone(),
                };
                (pid, Proc::Forked(forked))
            }
        };

        let attached = tokio::select! {
            r = tokio::time::timeout(START_TIMEOUT, attach(&listener, &nonce, &out_tx)) => r,
            status = proc.wait() => {
                let log = drain_for(&mut output, DRAIN_GRACE, 0).await;
                return Err(SpawnError::Failed(format!(
                    "the worker exited while starting ({status}){}",
                    if log.is_empty() { String::new() } else { format!(":\n{log}") }
                )));
            }
        };
        let Attached {
            mut reader,
            writer,
            python,
        } = match attached {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => {
                proc.kill_group();
                return Err(e.into());
            }
            Err(_) => {
                proc.kill_group();
                return Err(format!(
                    "the worker did not connect within {}s",
                    START_TIMEOUT.as_secs()
                )
                .into());
            }
        };
        // Initialisation, on its own clock (SCF's InitTimeout), never on an invocation's.
        let ready = tokio::select! {
            r = tokio::time::timeout(spec.init_timeout, protocol::read_frame::<_, Ready>(&mut reader)) => r,
            status = proc.wait() => {
                let log = drain_for(&mut output, DRAIN_GRACE, 2).await;
                return Err(SpawnError::Failed(format!(
                    "the worker exited while loading the code ({status}){}",
                    if log.is_empty() { String::new() } else { format!(":\n{log}") }
                )));
            }
        };
        let ready = match ready {
            Ok(Ok(Some(r))) if r.kind == "ready" => r,
            Err(_) => {
                proc.kill_group();
                let log = drain_for(&mut output, DRAIN_GRACE, 2).await;
                return Err(SpawnError::InitTimedOut { log });
            }
            other => {
                // Usually the process ended while loading (`sys.exit()` at import): say how.
                let status = match tokio::time::timeout(DRAIN_GRACE, proc.wait()).await {
                    Ok(s) => format!("the worker exited while loading the code ({s})"),
                    _ => format!("the worker sent no valid ready frame: {other:?}"),
                };
                proc.kill_group();
                let log = drain_for(&mut output, DRAIN_GRACE, 2).await;
                return Err(SpawnError::Failed(format!(
                    "{status}{}",
                    if log.is_empty() {
                        String::new()
                    } else {
                        format!(":\n{log}")
                    }
                )));
            }
        };
        let (reply_tx, replies) = mpsc::unbounded_channel();
        // A dedicated reader keeps frame reads whole: `select!` below only sees complete replies.
        tokio::spawn(async move {
            loop {
                match protocol::read_frame::<_, Reply>(&mut reader).await {
                    Ok(Some(r)) => {
                        if reply_tx.send(Ok(r)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = reply_tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        tracing::debug!(
            pid,
            python,
            forked = matches!(launch, Launch::Fork(_)),
            init_ms = ready.init_ms,
            "function worker ready"
        );
        if let Some(e) = ready.error.filter(|_| !ready.ok) {
            // Kept: every invocation answers with this error, as SCF does.
            tracing::debug!(pid, error = e.message, "function code failed to load");
        }
        Ok(Worker {
            pid,
            proc,
            writer,
            replies,
            output,
            streams_open: 2,
            last_used: Instant::now(),
            counted: None,
        })
    }

    /// Counts this worker in `live` for as long as it exists.
    pub(crate) fn count_in(&mut self, live: &Arc<AtomicUsize>) {
        live.fetch_add(1, Ordering::SeqCst);
        self.counted = Some(Counted(live.clone()));
    }

    /// Runs one invocation with a time limit.
    pub(crate) async fn run(
        &mut self,
        id: &str,
        event: &Value,
        context: &Value,
        limit: Duration,
    ) -> RunOutcome {
        let mut log = LogBuf::default();
        // Whatever it printed while idle (import time, background threads) goes to this one.
        while let Ok(o) = self.output.try_recv() {
            self.take(o, id, &mut log);
        }
        let msg = Invoke {
            kind: "invoke",
            id,
            event,
            context,
        };
        if let Err(e) = protocol::write_frame(&mut self.writer, &msg).await {
            return self
                .crashed(log, format!("cannot send the event: {e}"))
                .await;
        }
        let deadline = Instant::now() + limit;
        let mut reply: Option<Reply> = None;
        let mut markers = 0;
        let mut grace_until = deadline;
        loop {
            if reply.is_some() && (markers >= 2 || self.streams_open == 0) {
                break;
            }
            tokio::select! {
                r = self.replies.recv(), if reply.is_none() => match r {
                    Some(Ok(r)) if r.id == id => {
                        reply = Some(r);
                        grace_until = Instant::now() + MARKER_GRACE;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return self.crashed(log, format!("bad frame from the worker: {e}")).await,
                    None => return self.crashed(log, String::new()).await,
                },
                o = self.output.recv(), if self.streams_open > 0 => match o {
                    Some(Output::Marker(m)) if m == id => markers += 1,
                    Some(o) => self.take(o, id, &mut log),
                    None => self.streams_open = 0,
                },
                _ = tokio::time::sleep_until(deadline), if reply.is_none() => {
                    self.kill_group();
                    self.drain(&mut log).await;
                    return RunOutcome::TimedOut { log: log.finish() };
                }
                _ = tokio::time::sleep_until(grace_until), if reply.is_some() => break,
            }
        }
        self.last_used = Instant::now();
        RunOutcome::Replied {
            reply: reply.expect("loop ends with a reply"),
            log: log.finish(),
        }
    }

    fn take(&mut self, o: Output, _id: &str, log: &mut LogBuf) {
        match o {
            Output::Line(l) => log.push(l),
            Output::Marker(_) => {}
            Output::Closed => self.streams_open = self.streams_open.saturating_sub(1),
        }
    }

    /// The worker went away: collect the rest of its output and its exit status.
    async fn crashed(&mut self, mut log: LogBuf, why: String) -> RunOutcome {
        self.drain(&mut log).await;
        let status = match tokio::time::timeout(DRAIN_GRACE, self.proc.wait()).await {
            Ok(s) => s,
            Err(_) => {
                self.kill_group();
                "unresponsive, killed".to_owned()
            }
        };
        let detail = if why.is_empty() {
            status
        } else {
            format!("{why}; {status}")
        };
        RunOutcome::Crashed {
            log: log.finish(),
            detail,
        }
    }

    /// Reads the output still in the pipes, for a short while.
    async fn drain(&mut self, log: &mut LogBuf) {
        let until = Instant::now() + DRAIN_GRACE;
        while self.streams_open > 0 {
            match tokio::time::timeout_at(until, self.output.recv()).await {
                Ok(Some(Output::Line(l))) => log.push(l),
                Ok(Some(Output::Marker(_))) => {}
                Ok(Some(Output::Closed)) => self.streams_open -= 1,
                Ok(None) | Err(_) => break,
            }
        }
    }

    /// Kills the worker's process group (the function and anything it started).
    pub(crate) fn kill_group(&mut self) {
        self.proc.kill_group();
    }

    /// Ends an idle worker politely: closing the socket makes it exit; killed if it lingers.
    pub(crate) fn retire(self) {
        let Worker {
            mut proc, writer, ..
        } = self;
        drop(writer);
        tokio::spawn(async move {
            if tokio::time::timeout(Duration::from_secs(2), proc.wait())
                .await
                .is_err()
            {
                proc.kill_group();
                let _ = proc.wait().await;
            }
        });
    }
}

/// Kills process group `pid`.
fn kill_group_by_pid(pid: u32) {
    if pid != 0 {
        // No `unsafe` (no libc::kill): the system's `kill` reaches the whole group.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The output of a worker being given up on: what is in the channel, read for at most `grace`
/// until `open` output connections have closed (with none attached: until it is quiet).
async fn drain_for(
    rx: &mut mpsc::UnboundedReceiver<Output>,
    grace: Duration,
    mut open: u8,
) -> String {
    const QUIET: Duration = Duration::from_millis(100);
    let until = Instant::now() + grace;
    let attached = open > 0;
    let mut log = LogBuf::default();
    loop {
        if attached && open == 0 {
            break;
        }
        let by = if attached {
            until
        } else {
            until.min(Instant::now() + QUIET)
        };
        match tokio::time::timeout_at(by, rx.recv()).await {
            Ok(Some(Output::Line(l))) => log.push(l),
            Ok(Some(Output::Marker(_))) => {}
            Ok(Some(Output::Closed)) => open = open.saturating_sub(1),
            Ok(None) | Err(_) => break,
        }
    }
    log.finish()
}

/// Accepts a new worker's three connections (any order), checks their hellos, and starts
/// reading its stdout and stderr into `out`.
async fn attach(
    listener: &UnixListener,
    nonce: &str,
    out: &mpsc::UnboundedSender<Output>,
) -> Result<Attached, String> {
    let mut control = None;
    let mut outputs = 0;
    let mut python = String::new();
    while control.is_none() || outputs < 2 {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("the worker did not connect: {e}"))?;
        let hello: Hello = match protocol::read_frame(&mut stream).await {
            Ok(Some(h)) => h,
            other => return Err(format!("the worker sent no valid hello: {other:?}")),
        };
        if hello.kind != "hello"
            || hello.nonce != nonce
            || hello.version != protocol::PROTOCOL_VERSION
        {
            return Err(format!(
                "the worker's hello does not match (protocol version {} vs {}, or wrong nonce)",
                hello.version,
                protocol::PROTOCOL_VERSION
            ));
        }
        match hello.stream.as_str() {
            "control" if control.is_none() => {
                python = hello.python;
                control = Some(stream.into_split());
            }
            "stdout" | "stderr" if outputs < 2 => {
                outputs += 1;
                tokio::spawn(read_output(stream, out.clone(), true));
            }
            other => return Err(format!("unexpected worker connection `{other}`")),
        }
    }
    let (reader, writer) = control.expect("loop ends with a control connection");
    Ok(Attached {
        reader,
        writer,
        python,
    })
}

/// Output lines of one invocation, bounded.
#[derive(Default)]
struct LogBuf {
    lines: Vec<String>,
    bytes: usize,
    dropped: usize,
}

impl LogBuf {
    fn push(&mut self, line: String) {
        if self.bytes + line.len() > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len() + 1;
        self.lines.push(line);
    }

    fn finish(mut self) -> String {
        if self.dropped > 0 {
            self.lines.push(format!(
                "[chatstack: {} more log lines dropped]",
                self.dropped
            ));
        }
        self.lines.join("\n")
    }
}

/// Reads one of the worker's output streams line by line; `report_close`: send
/// [`Output::Closed`] at its end (the output connections; not the startup pipes).
async fn read_output(
    stream: impl AsyncRead + Unpin,
    tx: mpsc::UnboundedSender<Output>,
    report_close: bool,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        let sent = match protocol::split_marker(&line) {
            Some((before, id)) => {
                let ok = before.is_empty() || tx.send(Output::Line(before.to_owned())).is_ok();
                ok && tx.send(Output::Marker(id.to_owned())).is_ok()
            }
            None => tx.send(Output::Line(line.into_owned())).is_ok(),
        };
        if !sent {
            return;
        }
    }
    if report_close {
        let _ = tx.send(Output::Closed);
    }
}

/// Whether `p` is a usable socket directory path (Unix socket paths are limited to ~107 bytes).
pub(crate) fn socket_dir_ok(p: &Path) -> bool {
    p.as_os_str().len() + 20 < 100
}
