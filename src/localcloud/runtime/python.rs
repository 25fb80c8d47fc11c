//! Finding the Python interpreter for function workers, and the packages SCF's Python images
//! provide (`cos-python-sdk-v5`, `requests`).
//!
//! The interpreter is [`RuntimeOptions::python`](super::RuntimeOptions), else `$CHATSTACK_PYTHON`,
//! else `python3` on `PATH`; it is resolved to its real executable (`sys.executable`, so pyenv
//! shims and the like are out of the way). If it can import `qcloud_cos` and `requests` it is
//! used as is. Otherwise a virtual environment is made once with `--system-site-packages`
//! (default `~/.cache/chatstack/python-venv-X.Y`) and the two packages are `pip install`ed into
//! it, under a lock file so that concurrent local clouds install once.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Packages the functions expect, as pip names.
pub const PACKAGES: &[&str] = &["cos-python-sdk-v5", "requests"];

/// The interpreter workers run.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// The executable.
    pub interpreter: PathBuf,
    /// `X.Y.Z`.
    pub version: String,
    /// Whether `qcloud_cos` and `requests` import.
    pub has_packages: bool,
}

#[derive(serde::Deserialize)]
struct Probe {
    executable: String,
    version: String,
    major_minor: String,
    packages: bool,
}

const PROBE: &str = "import sys, json\n\
try:\n    import qcloud_cos, requests\n    ok = True\nexcept Exception:\n    ok = False\n\
print(json.dumps({'executable': sys.executable, 'version': '%d.%d.%d' % sys.version_info[:3], \
'major_minor': '%d.%d' % sys.version_info[:2], 'packages': ok}))";

/// Environment variables a worker (and our probes) keep from the parent: nothing else leaks.
pub const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
];

/// The inherited basics, from this process's environment.
pub fn basic_env() -> Vec<(String, String)> {
    INHERITED_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect()
}

/// Resolves the interpreter, installing the packages into a cached venv if they are missing.
pub async fn resolve(
    explicit: Option<&Path>,
    venv_dir: Option<&Path>,
    install: bool,
) -> Result<PythonEnv, String> {
    let (candidate, origin) = match explicit {
        Some(p) => (p.to_owned(), "the runtime options"),
        None => match std::env::var_os("CHATSTACK_PYTHON").filter(|v| !v.is_empty()) {
            Some(v) => (PathBuf::from(v), "CHATSTACK_PYTHON"),
            None => (PathBuf::from("python3"), "PATH"),
        },
    };
    let exe = find_executable(&candidate).ok_or_else(|| {
        format!(
            "no Python interpreter for functions: `{}` (from {origin}) was not found; install \
             Python 3 or set CHATSTACK_PYTHON to an interpreter",
            candidate.display()
        )
    })?;
    let base = probe(&exe).await?;
    if base.packages || !install {
        if !base.packages {
            tracing::warn!(
                python = base.executable,
                "qcloud_cos/requests are not importable; functions that use them will fail"
            );
        }
        return Ok(env_of(base));
    }
    let dir = match venv_dir {
        Some(d) => d.to_owned(),
        None => cache_dir().join(format!("python-venv-{}", base.major_minor)),
    };
    let venv_python = dir.join("bin").join("python");
    if venv_python.exists()
        && let Ok(p) = probe(&venv_python).await
        && p.packages
    {
        return Ok(env_of(p));
    }
    let _lock = FileLock::acquire(&dir.with_extension("lock")).await?;
    // Someone else may have finished while we waited for the lock.
    if venv_python.exists()
        && let Ok(p) = probe(&venv_python).await
        && p.packages
    {
        return Ok(env_of(p));
    }
    if !venv_python.exists() {
        tracing::info!(dir = %dir.display(), "creating the Python environment for functions");
        run(
            Command::new(&base.executable)
                .args(["-m", "venv", "--system-site-packages"])
                .arg(&dir),
            "python -m venv",
        )
        .await?;
    }
    tracing::info!(packages = ?PACKAGES, "installing the Python packages functions use (once)");
    run(
        Command::new(&venv_python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .args(PACKAGES),
        "pip install",
    )
    .await?;
    let p = probe(&venv_python).await?;
    if !p.packages {
        return Err(format!(
            "installed {PACKAGES:?} into {} but they still do not import",
            dir.display()
        ));
    }
    Ok(env_of(p))
}

/// The interpreter for a function of `runtime` (`Python3.9`), given the default one: the
/// default when its version is the runtime's; else, unless an interpreter was configured
/// (`explicit`: the runtime options or `CHATSTACK_PYTHON`, which always win), `python3.X` from
/// `PATH` when there is one (a compiled wheel built for 3.X imports only there), resolved like
/// the default (the same package check and venv). Otherwise the default, with the one-line
/// warning the function's log gets.
pub async fn for_runtime(
    default: &PythonEnv,
    runtime: &str,
    explicit: bool,
    install: bool,
) -> (PythonEnv, Option<String>) {
    let Some(want) = crate::package::requirements::python_version(runtime) else {
        return (default.clone(), None);
    };
    if major_minor(&default.version) == want {
        return (default.clone(), None);
    }
    if !explicit && let Some(exe) = find_executable(Path::new(&format!("python{want}"))) {
        match resolve(Some(&exe), None, install).await {
            Ok(p) if major_minor(&p.version) == want => return (p, None),
            Ok(p) => {
                tracing::debug!(python = %exe.display(), version = p.version, "not the runtime's version")
            }
            Err(e) => tracing::warn!(python = %exe.display(), "cannot use it for {runtime}: {e}"),
        }
    }
    let warning = format!(
        "chatstack local: runtime {runtime} runs on Python {} ({}) here: no python{want} found{}; \
         compiled dependencies built for {want} may not import",
        default.version,
        default.interpreter.display(),
        if explicit {
            " (an interpreter is configured)"
        } else {
            " on PATH"
        },
    );
    (default.clone(), Some(warning))
}

/// Whether an interpreter is configured (the runtime options or `CHATSTACK_PYTHON`).
pub fn configured(explicit: Option<&Path>) -> bool {
    explicit.is_some() || std::env::var_os("CHATSTACK_PYTHON").is_some_and(|v| !v.is_empty())
}

/// `3.9` of `3.9.18`.
fn major_minor(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn env_of(p: Probe) -> PythonEnv {
    PythonEnv {
        interpreter: PathBuf::from(p.executable),
        version: p.version,
        has_packages: p.packages,
    }
}

async fn probe(exe: &Path) -> Result<Probe, String> {
    let out = Command::new(exe)
        .args(["-c", PROBE])
        .env_clear()
        .envs(basic_env())
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} does not work as a Python 3 interpreter ({}): {}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} answered the probe with {:?}: {e}",
            exe.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `p` itself when it has a directory part, else its first match on `PATH`.
fn find_executable(p: &Path) -> Option<PathBuf> {
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
}

/// `$XDG_CACHE_HOME/chatstack`, else `~/.cache/chatstack`, else the temp dir.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("chatstack")
}

/// An exclusive lock file (created with `create_new`), removed on drop; a lock older than
/// 15 minutes is taken as left over by a crashed process.
struct FileLock(PathBuf);

impl FileLock {
    async fn acquire(path: &Path) -> Result<FileLock, String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let give_up = tokio::time::Instant::now() + Duration::from_secs(15 * 60);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(FileLock(path.to_owned())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(15 * 60));
                    if stale {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if tokio::time::Instant::now() > give_up {
                        return Err(format!("timed out waiting for the lock {}", path.display()));
                    }
                    tracing::info!(lock = %path.display(), "waiting for another Python package install");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_interpreter_is_a_clear_error() {
        let e = resolve(Some(Path::new("/nonexistent/python3")), None, false)
            .await
            .unwrap_err();
        assert!(
            e.contains("CHATSTACK_PYTHON") && e.contains("/nonexistent/python3"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_interpreter_without_the_packages_is_reported_not_refused() {
        // A bare venv (no system site-packages) lacks qcloud_cos/requests.
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("bare");
        let made = std::process::Command::new("python3")
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIP: python3 -m venv is not available");
            return;
        }
        let env = resolve(Some(&venv.join("bin/python")), None, false)
            .await
            .unwrap();
        assert!(!env.has_packages);
        assert!(env.version.starts_with('3'), "{}", env.version);
        // With install allowed, a venv with the system site-packages is made once and pip
        // finds the packages already satisfied there (no network needed in this test).
        let cache = dir.path().join("python-venv");
        let installed = resolve(Some(&venv.join("bin/python")), Some(&cache), true)
            .await
            .unwrap();
        assert!(installed.has_packages);
        assert!(installed.interpreter.starts_with(&cache), "{installed:?}");
        assert!(
            !cache.with_extension("lock").exists(),
            "the lock is released"
        );
        let again = resolve(Some(&venv.join("bin/python")), Some(&cache), true)
            .await
            .unwrap();
        assert_eq!(again.interpreter, installed.interpreter);
        // With the packages present (as in CI), the interpreter is used as is.
        let system = resolve(None, None, false).await.unwrap();
        assert!(system.interpreter.is_absolute());
    }

    #[tokio::test]
    async fn the_runtime_version_is_preferred_and_a_mismatch_is_said() {
        let default = PythonEnv {
            interpreter: PathBuf::from("/opt/py/bin/python3"),
            version: "3.11.7".to_owned(),
            has_packages: true,
        };
        // Same version, or not a Python runtime: the default, silently.
        for runtime in ["Python3.11", "Nodejs18.15"] {
            let (p, w) = for_runtime(&default, runtime, false, false).await;
            assert_eq!(p.interpreter, default.interpreter, "{runtime}");
            assert_eq!(w, None, "{runtime}");
        }
        // A configured interpreter wins over PATH, with the warning for the log.
        let (p, w) = for_runtime(&default, "Python3.9", true, false).await;
        assert_eq!(p.interpreter, default.interpreter);
        let w = w.unwrap();
        assert!(
            w.contains("runtime Python3.9 runs on Python 3.11.7 (/opt/py/bin/python3)")
                && w.contains("an interpreter is configured")
                && !w.contains('\n'),
            "{w}"
        );
    }
}
