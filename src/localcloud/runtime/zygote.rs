//! The fork server ("zygote"): one Python process per local cloud that imports the packages
//! every function gets (the COS SDK and `requests`, ~170 ms of CPU and ~30 MiB) once, then
//! forks a worker per request. A forked worker shares those pages copy-on-write and is ready in
//! milliseconds instead of a fresh interpreter's few hundred; it then takes the function's
//! environment, working directory and `sys.path` and imports the handler's module itself, so
//! the function's own initialisation still runs once per worker, as in SCF. The Python side
//! and its protocol are described in `functions/_runtime/bootstrap.py` (`zygote()`).
//!
//! Lifetime: the zygote lives as long as its control connection. When the [`Zygote`] is dropped
//! (or this process dies), the zygote sees the connection close, kills every worker it forked
//! and exits, so nothing outlives the local cloud.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};

use super::protocol::{self, Hello};

/// How long the zygote may take to import the packages and connect, and a fork to be answered.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How a forked process ended, once it has.
pub(crate) type ExitWatch = watch::Receiver<Option<String>>;

/// The answer to a fork request: the process id, or why not.
type ForkResult = Result<(u32, ExitWatch), String>;

/// A running fork server.
#[derive(Debug)]
pub(crate) struct Zygote {
    /// Its process id.
    pub(crate) pid: u32,
    /// Top-level packages it preloaded.
    pub(crate) preloaded: Vec<String>,
    frames: mpsc::UnboundedSender<Value>,
    state: Arc<Mutex<State>>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    /// `false` once its connection closed.
    alive: bool,
    /// Fork requests waiting for their answer.
    pending: HashMap<u64, oneshot::Sender<ForkResult>>,
    /// Forked processes not yet reaped.
    exits: HashMap<u32, watch::Sender<Option<String>>>,
}

/// What a worker is forked with.
#[derive(Debug)]
pub(crate) struct ForkRequest<'a> {
    /// The worker's own socket, where it connects.
    pub(crate) socket: &'a Path,
    /// The nonce its hellos must carry.
    pub(crate) nonce: &'a str,
    /// `file.function`.
    pub(crate) handler: &'a str,
    /// Its working directory.
    pub(crate) code_dir: &'a Path,
    /// Its complete environment.
    pub(crate) env: &'a [(String, String)],
}

impl Zygote {
    /// Starts a fork server with `python` running `bootstrap`; its socket goes in `socket_dir`.
    pub(crate) async fn start(
        python: &Path,
        bootstrap: &Path,
        socket_dir: &Path,
        cos_addr: &str,
        env: &[(String, String)],
    ) -> Result<Arc<Zygote>, String> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let sock_path = socket_dir.join(format!("z{}.sock", &tag[..12]));
        let listener = UnixListener::bind(&sock_path)
            .map_err(|e| format!("cannot listen on {}: {e}", sock_path.display()))?;
        let _cleanup = super::protocol::RemoveOnDrop(sock_path.clone());
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let mut child = Command::new(python)
            .arg(bootstrap)
            .arg("--zygote")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("CHATSTACK_ZYGOTE_SOCKET", &sock_path)
            .env("CHATSTACK_ZYGOTE_NONCE", &nonce)
            .env("CHATSTACK_COS_ADDR", cos_addr)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Not killed on drop: it must outlive us long enough to kill its workers.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let pid = child.id().unwrap_or(0);
        // Its own output (and a forked worker's before it attaches) is ours to log.
        for s in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(async move {
                let mut lines = BufReader::new(s).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::warn!(pid, "function fork server: {line}");
                }
            });
        }
        let accepted = tokio::select! {
            r = tokio::time::timeout(START_TIMEOUT, listener.accept()) => r,
            status = child.wait() => {
                return Err(format!(
                    "the fork server exited while starting ({})",
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
                ));
            }
        };
        let stream = match accepted {
            Ok(Ok((s, _))) => s,
            Ok(Err(e)) => return Err(format!("the fork server did not connect: {e}")),
            Err(_) => {
                let _ = child.start_kill();
                return Err("the fork server did not connect in time".to_owned());
            }
        };
        // Reaped in the background whenever it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let (mut reader, mut writer) = stream.into_split();
        let hello: Hello =
            match tokio::time::timeout(START_TIMEOUT, protocol::read_frame(&mut reader)).await {
                Ok(Ok(Some(h))) => h,
                other => return Err(format!("the fork server sent no valid hello: {other:?}")),
            };
        if hello.kind != "hello"
            || hello.stream != "zygote"
            || hello.nonce != nonce
            || hello.version != protocol::PROTOCOL_VERSION
        {
            return Err(format!(
                "the fork server's hello does not match (protocol version {} vs {}, or wrong \
                 nonce)",
                hello.version,
                protocol::PROTOCOL_VERSION
            ));
        }
        tracing::debug!(
            pid,
            preloaded = ?hello.preloaded,
            preload_ms = hello.preload_ms,
            "function fork server ready"
        );
        let (frames, mut outbox) = mpsc::unbounded_channel::<Value>();
        tokio::spawn(async move {
            while let Some(f) = outbox.recv().await {
                if protocol::write_frame(&mut writer, &f).await.is_err() {
                    break;
                }
            }
            // Dropping the writer closes the connection: the zygote kills its workers and exits.
        });
        let state = Arc::new(Mutex::new(State {
            alive: true,
            ..State::default()
        }));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = protocol::read_frame::<_, Value>(&mut reader).await {
                dispatch(&st, &msg);
            }
            let mut s = st.lock().expect("zygote lock");
            s.alive = false;
            for (_, tx) in s.pending.drain() {
                let _ = tx.send(Err("the fork server ended".to_owned()));
            }
            for (_, tx) in s.exits.drain() {
                let _ = tx.send(Some("the fork server ended".to_owned()));
            }
            tracing::debug!(pid, "function fork server ended");
        });
        Ok(Arc::new(Zygote {
            pid,
            preloaded: hello.preloaded,
            frames,
            state,
            next_id: AtomicU64::new(1),
        }))
    }

    /// Whether its connection is still open.
    pub(crate) fn is_alive(&self) -> bool {
        self.state.lock().expect("zygote lock").alive
    }

    /// Forks a worker; its process id and how to learn when it ends.
    pub(crate) async fn fork(&self, req: &ForkRequest<'_>) -> ForkResult {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.state.lock().expect("zygote lock");
            if !s.alive {
                return Err("the fork server ended".to_owned());
            }
            s.pending.insert(id, tx);
        }
        let env: serde_json::Map<String, Value> = req
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let frame = json!({
            "type": "fork",
            "id": id,
            "socket": req.socket,
            "nonce": req.nonce,
            "handler": req.handler,
            "code_dir": req.code_dir,
            "env": env,
        });
        if self.frames.send(frame).is_err() {
            self.state.lock().expect("zygote lock").pending.remove(&id);
            return Err("the fork server ended".to_owned());
        }
        match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the fork server ended".to_owned()),
            Err(_) => {
                self.state.lock().expect("zygote lock").pending.remove(&id);
                Err("the fork server did not answer in time".to_owned())
            }
        }
    }

    /// SIGKILL to forked process `pid`'s group (it made its own), if it has not ended yet.
    pub(crate) fn kill(&self, pid: u32) {
        let _ = self.frames.send(json!({"type": "kill", "pid": pid}));
    }
}

/// Handles one frame from the zygote.
fn dispatch(state: &Mutex<State>, msg: &Value) {
    let mut s = state.lock().expect("zygote lock");
    let id = msg["id"].as_u64();
    let pid = msg["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    match (msg["type"].as_str(), id, pid) {
        (Some("forked"), Some(id), Some(pid)) => {
            // Registered before the requester hears of it: an immediate exit is not missed.
            let (tx, rx) = watch::channel(None);
            s.exits.insert(pid, tx);
            if let Some(waiter) = s.pending.remove(&id)
                && waiter.send(Ok((pid, rx))).is_err()
            {
                // Nobody waits any more (timed out): the worker must not linger.
                tracing::debug!(pid, "forked worker no longer wanted");
            }
        }
        (Some("fork_failed"), Some(id), _) => {
            if let Some(waiter) = s.pending.remove(&id) {
                let why = msg["message"].as_str().unwrap_or("fork failed").to_owned();
                let _ = waiter.send(Err(why));
            }
        }
        (Some("exited"), _, Some(pid)) => {
            if let Some(tx) = s.exits.remove(&pid) {
                let _ = tx.send(Some(describe_exit(&msg["status"])));
            }
        }
        _ => tracing::debug!(?msg, "unexpected frame from the fork server"),
    }
}

/// A wait status as `std::process::ExitStatus` displays it (`exit status: 3`, `signal: 9
/// (SIGKILL)`), so forked and started workers report their ends alike.
fn describe_exit(status: &Value) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.as_i64().and_then(|s| i32::try_from(s).ok()) {
        Some(raw) => std::process::ExitStatus::from_raw(raw).to_string(),
        None => "unknown exit status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_like_std() {
        // Wait statuses: the exit code in the second byte, or the signal in the low bits.
        assert_eq!(describe_exit(&json!(3 << 8)), "exit status: 3");
        assert_eq!(describe_exit(&json!(9)), "signal: 9 (SIGKILL)");
        assert_eq!(describe_exit(&json!(64)), "signal: 64");
    }

    #[test]
    fn an_exit_reported_right_after_the_fork_is_not_missed() {
        let state = Mutex::new(State {
            alive: true,
            ..State::default()
        });
        let (tx, mut rx) = oneshot::channel();
        state.lock().unwrap().pending.insert(7, tx);
        dispatch(&state, &json!({"type": "forked", "id": 7, "pid": 4242}));
        dispatch(
            &state,
            &json!({"type": "exited", "pid": 4242, "status": 11}),
        );
        let (pid, exit) = rx.try_recv().unwrap().unwrap();
        assert_eq!(pid, 4242);
        assert_eq!(exit.borrow().as_deref(), Some("signal: 11 (SIGSEGV)"));
        assert!(state.lock().unwrap().exits.is_empty());
    }
}
