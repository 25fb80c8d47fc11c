//! How the runtime runs functions: [`RuntimeOptions`], their defaults and the environment
//! variables that override them.

use std::path::PathBuf;
use std::time::Duration;

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
