//! A Python function's `requirements.txt`, installed into its package (DESIGN §4, issue 12).
//!
//! What it owns: reading the file ([`parse`]), leaving out what SCF's image already provides
//! ([`BUILTINS`]), the pip command line for the function's runtime ([`pip_args`]), the cache
//! under `.chatstack/deps/` and reading back what pip installed ([`Dependencies`]). It does
//! not zip anything: [`super::package_with`] merges the installed tree at the zip root.
//!
//! Rules:
//! - pip runs for the *function's* platform, not this machine's: `--python-version` from the
//!   runtime (`Python3.9` → `3.9`), `--implementation cp`, the manylinux x86_64 tags SCF's image
//!   can load ([`platforms`]), and `--only-binary=:all:` (pip refuses to build anything when
//!   the platform is not the host's). A requirement with no wheel for that platform — an
//!   sdist-only package, pure Python or not — is an error naming it ([`Error::NoDistribution`]):
//!   building it here could compile against this machine, and guessing that it is pure Python
//!   is not safe. Vendor such a package into `codeUri` instead.
//! - The cache key hashes the normalized requirements text, the runtime, the platform tags
//!   and the pip flags ([`Plan::key`]); a hit starts no pip process at all.
//! - A requirement that names a [`BUILTINS`] package of the function's runtime *without a
//!   version specifier* is skipped (the image has it); with one (`requests==2.31.0`,
//!   `requests>=2.28`) it is installed, as the user asked for that version.
//! - Console scripts (`bin/`) and `*.dist-info/RECORD` are dropped: both carry this machine's
//!   interpreter path, and the package must hash the same on every machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::config::Function;

/// The requirements file looked for at the top of `codeUri`.
pub const FILE: &str = "requirements.txt";

/// Bumped when the layout of a cache entry or the way pip is run changes.
const CACHE_VERSION: &str = "chatstack-deps-v1";

/// The libraries SCF's Python images provide, by runtime, as normalized pip names.
///
/// Source: Tencent Cloud, SCF "Python 运行时 / 环境说明"
/// <https://cloud.tencent.com/document/product/583/11061> (English:
/// <https://www.tencentcloud.com/document/product/583/40323>, updated 2025-01-03). That page
/// lists built-in libraries for **Python 3.6** (below, in full, with the versions it gives)
/// and **Python 2.7**, and says: "For Python 3.7 and later, the platform no longer has
/// additional built-in dependent libraries". So Python 3.7+ has none here. The Python 2.7
/// list was only partly readable (it starts like 3.6's and adds `backports.*`); 2.7 uses the
/// 3.6 list, which may miss or wrongly include a few names.
pub const BUILTINS: &[(&str, &[(&str, &str)])] = &[("Python3.6", PY36), ("Python2.7", PY36)];

/// Python 3.6's built-in libraries (name, version the doc lists).
const PY36: &[(&str, &str)] = &[
    ("absl-py", "0.2.2"),
    ("asn1crypto", "0.24.0"),
    ("astor", "0.7.1"),
    ("bleach", "1.5.0"),
    ("certifi", "2019.3.9"),
    ("cffi", "1.12.2"),
    ("chardet", "3.0.4"),
    ("cos-python-sdk-v5", "1.6.6"), // imported as qcloud_cos (qcloud_cos_v5 on SCF)
    ("cryptography", "2.6.1"),
    ("dicttoxml", "1.7.4"),
    ("gast", "0.2.0"),
    ("grpcio", "1.13.0"),
    ("html5lib", "0.9999999"),
    ("idna", "2.8"),
    ("iniparse", "0.4"),
    ("markdown", "2.6.11"),
    ("mysqlclient", "1.3.13"),
    ("numpy", "1.15.0"),
    ("pillow", "6.0.0"),
    ("pip", "9.0.1"),
    ("protobuf", "3.6.0"),
    ("psycopg2-binary", "2.8.2"),
    ("pycparser", "2.19"),
    ("pycurl", "7.43.0"),
    ("pymysql", "0.9.3"),
    ("pytz", "2019.1"),
    ("qcloud-image", "1.0.0"),
    ("qcloudsms-py", "0.1.3"),
    ("requests", "2.21.0"),
    ("serverless-db-sdk", "0.0.1"),
    ("setuptools", "28.8.0"),
    ("six", "1.12.0"),
    ("tencentcloud-sdk-python", "3.0.65"),
    ("tencentserverless", "0.1.4"),
    ("tensorboard", "1.9.0"),
    ("tensorflow", "1.9.0"),
    ("tensorflow-serving-api", "1.9.0"),
    ("termcolor", "1.1.0"),
    ("urllib3", "1.24.2"),
    ("werkzeug", "0.14.1"),
    ("wheel", "0.31.1"),
];

/// The built-in version of `name` (normalized) on `runtime`, if the image has it.
pub fn builtin(runtime: &str, name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(r, _)| *r == runtime)
        .and_then(|(_, libs)| libs.iter().find(|(n, _)| *n == name))
        .map(|(_, v)| *v)
}

/// One requirement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// 1-based line in the file (the first line of a `\`-continued one).
    pub line: usize,
    /// The requirement as written, comment and surrounding blanks removed.
    pub text: String,
    /// The project name, normalized (PEP 503: lowercase, runs of `-_.` → `-`); empty for an
    /// option line (`--index-url …`).
    pub name: String,
    /// Whether it has a version specifier (`==`, `>=`, `~=`, …) or a direct URL.
    pub versioned: bool,
}

/// PEP 503 normalization.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Parses `requirements.txt`: blank lines and comments dropped, `\` continuations joined.
/// `-r`/`-c`/`-e` lines are refused (their content would escape the cache key and the
/// package); other options (`--index-url`, `--extra-index-url`, `--find-links`, …) are kept
/// and passed to pip.
pub fn parse(text: &str) -> Result<Vec<Requirement>, (usize, String, &'static str)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        // A comment starts at `#` at the line's start or after whitespace (a URL fragment
        // `#egg=` does not).
        let mut body = raw;
        if let Some(pos) = raw
            .char_indices()
            .find(|&(p, c)| c == '#' && (p == 0 || raw[..p].ends_with([' ', '\t'])))
            .map(|(p, _)| p)
        {
            body = &raw[..pos];
        }
        let (start, mut acc) = pending.take().unwrap_or((line_no, String::new()));
        let trimmed = body.trim();
        if let Some(cont) = trimmed.strip_suffix('\\') {
            acc.push_str(cont.trim());
            acc.push(' ');
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(trimmed);
        let text = acc.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            continue;
        }
        if text.starts_with('-') {
            let flag = text.split([' ', '=']).next().unwrap_or_default();
            if matches!(
                flag,
                "-r" | "--requirement" | "-c" | "--constraint" | "-e" | "--editable"
            ) {
                return Err((
                    start,
                    text,
                    "nested requirement, constraint and editable files are not supported: \
                     list the requirements in this file",
                ));
            }
            out.push(Requirement {
                line: start,
                text,
                name: String::new(),
                versioned: false,
            });
            continue;
        }
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(text.len());
        let name = normalize(&text[..end]);
        if name.is_empty() {
            return Err((start, text, "expected a project name (`name==1.2.3`)"));
        }
        // Markers (`; python_version < "3.8"`) and extras do not make a version.
        let spec = text[end..].split(';').next().unwrap_or_default();
        let spec = match spec.trim_start().strip_prefix('[') {
            Some(rest) => rest.split_once(']').map_or("", |(_, r)| r),
            None => spec,
        };
        let versioned = spec.contains(['=', '<', '>', '~', '@']);
        out.push(Requirement {
            line: start,
            text,
            name,
            versioned,
        });
    }
    Ok(out)
}

/// The Python version of an SCF runtime (`Python3.9` → `3.9`), `None` for other runtimes.
pub fn python_version(runtime: &str) -> Option<&str> {
    runtime
        .strip_prefix("Python")
        .filter(|v| v.split('.').count() == 2 && v.split('.').all(|p| p.parse::<u32>().is_ok()))
}

/// The manylinux x86_64 platform tags pip may pick wheels for, newest first.
///
/// SCF's images: CentOS 7.9 (glibc 2.17) for Python ≤ 3.9, CentOS 8.5 (glibc 2.28) for newer
/// runtimes (API-FACTS §10.2, Tencent doc 583/56126). A wheel for a newer glibc would not load.
/// Both the PEP 600 names and their legacy aliases are listed, as older pips know only these.
pub fn platforms(runtime: &str) -> Vec<&'static str> {
    let mut tags = Vec::new();
    let minor = python_version(runtime)
        .and_then(|v| v.split_once('.'))
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    if minor.is_some_and(|v| v >= (3, 10)) {
        tags.extend([
            "manylinux_2_28_x86_64",
            "manylinux_2_27_x86_64",
            "manylinux_2_26_x86_64",
            "manylinux_2_24_x86_64",
        ]);
    }
    tags.extend([
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_12_x86_64",
        "manylinux2010_x86_64",
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
    ]);
    tags
}

/// pip's arguments after `python -m pip`, without the target and the requirements file.
pub fn pip_args(runtime: &str) -> Vec<String> {
    let mut args: Vec<String> = ["install", "--python-version"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.push(python_version(runtime).unwrap_or("3").to_owned());
    args.extend(["--implementation".to_owned(), "cp".to_owned()]);
    for p in platforms(runtime) {
        args.push("--platform".to_owned());
        args.push(p.to_owned());
    }
    args.extend(
        [
            "--only-binary=:all:",
            "--no-compile",
            "--disable-pip-version-check",
            "--no-input",
            "--no-warn-script-location",
            "--progress-bar",
            "off",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args
}

/// What a package's dependencies are: part of the package's identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dependencies {
    /// SHA-256 (lowercase hex) of what is installed: the runtime's platform and every
    /// installed distribution with its version. What the `chatstack:deps-sha256` tag holds.
    pub sha256: String,
    /// Every installed distribution (requirements and what they pulled in), normalized name →
    /// version.
    pub pins: BTreeMap<String, String>,
    /// Requirements left out because the runtime provides them (as written).
    pub skipped: Vec<String>,
}

impl Dependencies {
    fn new(runtime: &str, pins: BTreeMap<String, String>, skipped: Vec<String>) -> Self {
        let mut h = Sha256::new();
        h.update(CACHE_VERSION.as_bytes());
        h.update(b"\n");
        h.update(runtime.as_bytes());
        for (n, v) in &pins {
            h.update(format!("\n{n}=={v}").as_bytes());
        }
        Dependencies {
            sha256: hex::encode(h.finalize()),
            pins,
            skipped,
        }
    }
}

/// How `old` pins became `new` ones, for the plan: `+six==1.16.0`, `-idna==3.4`,
/// `bcrypt 4.1.0 → 4.2.1`, sorted by name.
pub fn pin_changes(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| match (old.get(n), new.get(n)) {
            (None, Some(v)) => Some(format!("+{n}=={v}")),
            (Some(v), None) => Some(format!("-{n}=={v}")),
            (Some(a), Some(b)) if a != b => Some(format!("{n} {a} → {b}")),
            _ => None,
        })
        .collect()
}

/// Why a function's requirements could not be installed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The file could not be read.
    #[error("function `{function}`: cannot read {}", path.display())]
    #[diagnostic(code(chatstack::package::requirements::read))]
    Read {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A line chatstack does not accept.
    #[error("function `{function}`: {}:{line}: `{text}`: {reason}", path.display())]
    #[diagnostic(code(chatstack::package::requirements::syntax))]
    Syntax {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong.
        reason: &'static str,
    },

    /// No Python, or no pip in it.
    #[error(
        "function `{function}`: cannot install {}: {python} -m pip is not available ({reason})",
        path.display()
    )]
    #[diagnostic(
        code(chatstack::package::requirements::no_pip),
        help(
            "install Python 3 with pip (`python3 -m ensurepip`, or your system's python3-pip), \
             or set CHATSTACK_PYTHON to an interpreter that has pip"
        )
    )]
    NoPip {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// The interpreter tried.
        python: String,
        /// What happened.
        reason: String,
    },

    /// The package index could not be reached.
    #[error(
        "function `{function}`: {}:{line}: cannot install `{requirement}`: the package index \
         could not be reached",
        path.display()
    )]
    #[diagnostic(
        code(chatstack::package::requirements::no_index),
        help(
            "check the network, a proxy (HTTPS_PROXY) or the index pip is configured for \
             (PIP_INDEX_URL, pip.conf); then deploy again. pip said:\n{detail}"
        )
    )]
    IndexUnreachable {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// 1-based line of the first requirement pip could not get.
        line: usize,
        /// That requirement.
        requirement: String,
        /// pip's last lines.
        detail: String,
    },

    /// No wheel for the function's platform (an unknown project or version, or sdist only).
    #[error(
        "function `{function}`: {}:{line}: `{requirement}` has no wheel for {runtime} \
         (manylinux x86_64, CPython {python_version})",
        path.display()
    )]
    #[diagnostic(
        code(chatstack::package::requirements::no_distribution),
        help(
            "check the name and version (pip found versions: {versions}); chatstack installs \
             wheels only, so for a project published as source only, pin a version that has \
             a wheel or vendor its code into codeUri. pip said:\n{detail}"
        )
    )]
    NoDistribution {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The requirement.
        requirement: String,
        /// The function's runtime.
        runtime: String,
        /// Its Python version.
        python_version: String,
        /// The versions pip saw, or `none`.
        versions: String,
        /// pip's last lines.
        detail: String,
    },

    /// pip failed some other way.
    #[error("function `{function}`: pip could not install {}", path.display())]
    #[diagnostic(
        code(chatstack::package::requirements::pip),
        help("fix what pip reports and deploy again; pip said:\n{detail}")
    )]
    Pip {
        /// SCF function name.
        function: String,
        /// The requirements file.
        path: PathBuf,
        /// pip's last lines.
        detail: String,
    },

    /// The cache directory could not be written.
    #[error("function `{function}`: cannot write the dependency cache {}", path.display())]
    #[diagnostic(code(chatstack::package::requirements::cache))]
    Cache {
        /// SCF function name.
        function: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A function's requirements, read and keyed, before anything is installed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// SCF function name.
    pub function: String,
    /// The function's runtime.
    pub runtime: String,
    /// The requirements file.
    pub path: PathBuf,
    /// The requirements pip gets (built-ins without a version left out), in file order.
    pub install: Vec<Requirement>,
    /// The requirements left out as built-ins (as written).
    pub skipped: Vec<String>,
    /// The cache key: see [`Plan::key`].
    pub key: String,
    /// The cache entry's directory (`.chatstack/deps/<key>`).
    pub dir: PathBuf,
}

/// Reads `function`'s `requirements.txt`, if it is a Python function that has one.
pub fn plan(function: &Function, cache_dir: &Path) -> Result<Option<Plan>, Box<Error>> {
    if python_version(&function.runtime).is_none() {
        return Ok(None);
    }
    let path = function.code_dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Box::new(Error::Read {
                function: function.name.clone(),
                path,
                source,
            }));
        }
    };
    let requirements = parse(&text).map_err(|(line, text, reason)| {
        Box::new(Error::Syntax {
            function: function.name.clone(),
            path: path.clone(),
            line,
            text,
            reason,
        })
    })?;
    let (skipped, install): (Vec<Requirement>, Vec<Requirement>) =
        requirements.into_iter().partition(|r| {
            !r.name.is_empty() && !r.versioned && builtin(&function.runtime, &r.name).is_some()
        });
    let key = Plan::key(&function.runtime, &install);
    Ok(Some(Plan {
        function: function.name.clone(),
        runtime: function.runtime.clone(),
        dir: cache_dir.join(&key),
        path,
        install,
        skipped: skipped.into_iter().map(|r| r.text).collect(),
        key,
    }))
}

impl Plan {
    /// SHA-256 over the cache version, the runtime, pip's arguments (platform tags included)
    /// and the normalized requirement lines: what decides what pip would install.
    pub fn key(runtime: &str, install: &[Requirement]) -> String {
        let mut h = Sha256::new();
        h.update(CACHE_VERSION.as_bytes());
        h.update(b"\0");
        h.update(runtime.as_bytes());
        for a in pip_args(runtime) {
            h.update(b"\0");
            h.update(a.as_bytes());
        }
        h.update(b"\0\0");
        for r in install {
            h.update(r.text.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// Whether the cache holds this install (then [`Plan::install`] starts no process).
    pub fn is_cached(&self) -> bool {
        self.dir.join("pins.json").is_file()
    }

    /// Whether [`Plan::install`] would start pip: not cached, and something to install.
    pub fn needs_pip(&self) -> bool {
        !self.is_cached() && self.install.iter().any(|r| !r.name.is_empty())
    }

    /// The installed tree (the cache entry's `site/`).
    pub fn site(&self) -> PathBuf {
        self.dir.join("site")
    }

    /// Installs with `python -m pip` unless cached, and says what is installed.
    pub fn install(&self, python: &Path) -> Result<Dependencies, Box<Error>> {
        if let Some(d) = self.cached() {
            return Ok(d);
        }
        let cache_err = |path: &Path| {
            let path = path.to_owned();
            let function = self.function.clone();
            move |source| {
                Box::new(Error::Cache {
                    function,
                    path,
                    source,
                })
            }
        };
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(cache_err(parent))?;
        let tmp = parent.join(format!(".{}.{}.tmp", self.key, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("site")).map_err(cache_err(&tmp))?;
        let reqs = tmp.join(FILE);
        let body: String = self
            .install
            .iter()
            .map(|r| format!("{}\n", r.text))
            .collect();
        std::fs::write(&reqs, body).map_err(cache_err(&reqs))?;
        let pins = if self.install.iter().any(|r| !r.name.is_empty()) {
            let result = self.run_pip(python, &tmp.join("site"), &reqs);
            if let Err(e) = result {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            tidy(&tmp.join("site")).map_err(cache_err(&tmp))?
        } else {
            BTreeMap::new()
        };
        let deps = Dependencies::new(&self.runtime, pins, self.skipped.clone());
        let json = serde_json::to_vec_pretty(&deps).expect("dependencies serialize");
        std::fs::write(tmp.join("pins.json"), json).map_err(cache_err(&tmp))?;
        // Another deploy may have filled the same entry meanwhile: same key, same content.
        if std::fs::rename(&tmp, &self.dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            if let Some(d) = self.cached() {
                return Ok(d);
            }
            return Err(cache_err(&self.dir)(std::io::Error::other(
                "cannot move the installed tree into place",
            )));
        }
        Ok(deps)
    }

    fn cached(&self) -> Option<Dependencies> {
        let bytes = std::fs::read(self.dir.join("pins.json")).ok()?;
        let mut d: Dependencies = serde_json::from_slice(&bytes).ok()?;
        d.skipped.clone_from(&self.skipped);
        Some(d)
    }

    fn run_pip(&self, python: &Path, target: &Path, reqs: &Path) -> Result<(), Box<Error>> {
        let no_pip = |reason: String| {
            Box::new(Error::NoPip {
                function: self.function.clone(),
                path: self.path.clone(),
                python: python.display().to_string(),
                reason,
            })
        };
        tracing::info!(function = %self.function, key = %self.key, "running pip");
        let out = Command::new(python)
            .args(["-m", "pip"])
            .args(pip_args(&self.runtime))
            .arg("--target")
            .arg(target)
            .arg("--requirement")
            .arg(reqs)
            .env("PIP_NO_INPUT", "1")
            .output()
            .map_err(|e| no_pip(e.to_string()))?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stderr.contains("No module named pip") {
            return Err(no_pip("No module named pip".to_owned()));
        }
        Err(Box::new(self.pip_error(&stderr, &stdout)))
    }

    /// Turns pip's failure output into an error naming the requirement and its line.
    fn pip_error(&self, stderr: &str, stdout: &str) -> Error {
        let detail = tail(stderr, 8);
        let failed = stderr
            .lines()
            .find_map(|l| l.split("No matching distribution found for ").nth(1))
            .map(str::trim);
        let versions = stderr
            .lines()
            .find_map(|l| l.split("(from versions: ").nth(1))
            .map(|v| v.trim_end_matches(')').trim().to_owned())
            .unwrap_or_else(|| "none".to_owned());
        let Some(failed) = failed else {
            return Error::Pip {
                function: self.function.clone(),
                path: self.path.clone(),
                detail: if detail.is_empty() {
                    tail(stdout, 8)
                } else {
                    detail
                },
            };
        };
        let end = failed
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(failed.len());
        let name = normalize(&failed[..end]);
        let (line, requirement) = self
            .install
            .iter()
            .find(|r| r.name == name)
            // A dependency of a requirement: name it as pip did (line 0 = not in the file).
            .map_or((0, failed.to_owned()), |r| (r.line, r.text.clone()));
        let network = [
            "NewConnectionError",
            "Failed to establish a new connection",
            "ConnectTimeoutError",
            "ProxyError",
            "Temporary failure in name resolution",
            "Network is unreachable",
            "Could not fetch URL",
        ];
        if network.iter().any(|m| stderr.contains(m)) {
            return Error::IndexUnreachable {
                function: self.function.clone(),
                path: self.path.clone(),
                line,
                requirement,
                detail,
            };
        }
        Error::NoDistribution {
            function: self.function.clone(),
            path: self.path.clone(),
            line,
            requirement,
            runtime: self.runtime.clone(),
            python_version: python_version(&self.runtime).unwrap_or("?").to_owned(),
            versions,
            detail,
        }
    }
}

/// The last `n` non-blank lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Drops what would differ between machines (see the module docs) and reads the installed
/// distributions from their `*.dist-info` directory names.
fn tidy(site: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let bin = site.join("bin");
    if bin.exists() {
        std::fs::remove_dir_all(&bin)?;
    }
    let mut pins = BTreeMap::new();
    for entry in std::fs::read_dir(site)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".dist-info")
            && let Some((dist, version)) = stem.rsplit_once('-')
        {
            let record = entry.path().join("RECORD");
            if record.exists() {
                std::fs::remove_file(record)?;
            }
            pins.insert(normalize(dist), version.to_owned());
        }
    }
    Ok(pins)
}

/// The interpreter that runs pip: `$CHATSTACK_PYTHON`, else `python3`.
pub fn default_python() -> PathBuf {
    std::env::var_os("CHATSTACK_PYTHON")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(dir: &Path, runtime: &str) -> Function {
        Function {
            instance: "Fn".to_owned(),
            name: "Fn".to_owned(),
            role: None,
            code_dir: dir.to_path_buf(),
            exclude: Vec::new(),
            handler: "index.main_handler".to_owned(),
            handler_location: "serverless.yml:1:1".to_owned(),
            runtime: runtime.to_owned(),
            region: "ap-guangzhou".to_owned(),
            namespace: "default".to_owned(),
            timeout: 3,
            memory_size: 128,
            exec_role: None,
            description: None,
            environment: Vec::new(),
        }
    }

    #[test]
    fn parsing_and_normalizing() {
        let text = "# top\n\nSix==1.16.0  # pinned\nbcrypt>=4\nrequests\n\
                    Foo_Bar.baz[extra]\nzope.interface ; python_version < \"3.8\"\n\
                    --extra-index-url https://mirrors.tencent.com/pypi/simple\n\
                    long-name \\\n    ==2.0\npkg @ https://example.com/p.whl#egg=pkg\n";
        let r = parse(text).unwrap();
        let got: Vec<(usize, &str, &str, bool)> = r
            .iter()
            .map(|r| (r.line, r.text.as_str(), r.name.as_str(), r.versioned))
            .collect();
        assert_eq!(
            got,
            [
                (3, "Six==1.16.0", "six", true),
                (4, "bcrypt>=4", "bcrypt", true),
                (5, "requests", "requests", false),
                (6, "Foo_Bar.baz[extra]", "foo-bar-baz", false),
                (
                    7,
                    "zope.interface ; python_version < \"3.8\"",
                    "zope-interface",
                    false
                ),
                (
                    8,
                    "--extra-index-url https://mirrors.tencent.com/pypi/simple",
                    "",
                    false
                ),
                (9, "long-name ==2.0", "long-name", true),
                (11, "pkg @ https://example.com/p.whl#egg=pkg", "pkg", true),
            ]
        );
    }

    #[test]
    fn refused_lines() {
        for (text, line) in [
            ("six\n-r base.txt\n", 2),
            ("-e .\n", 1),
            ("--constraint=c.txt\n", 1),
            ("==1.0\n", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.0, line, "{text:?}");
        }
    }

    #[test]
    fn normalize_is_pep_503() {
        for (raw, want) in [
            ("Foo", "foo"),
            ("foo_bar", "foo-bar"),
            ("Foo.-_Bar", "foo-bar"),
            ("cos-python-sdk-v5", "cos-python-sdk-v5"),
            ("PyMySQL", "pymysql"),
        ] {
            assert_eq!(normalize(raw), want);
        }
    }

    #[test]
    fn pip_arguments_per_runtime() {
        let a39 = pip_args("Python3.9").join(" ");
        assert!(
            a39.starts_with("install --python-version 3.9 --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"),
            "{a39}"
        );
        assert!(!a39.contains("2_28"), "{a39}");
        assert!(a39.contains("--only-binary=:all:"), "{a39}");
        let a310 = pip_args("Python3.10").join(" ");
        assert!(
            a310.starts_with(
                "install --python-version 3.10 --implementation cp --platform manylinux_2_28_x86_64"
            ),
            "{a310}"
        );
        assert!(a310.contains("manylinux1_x86_64"), "{a310}");
        assert!(
            pip_args("Python2.7")
                .join(" ")
                .contains("--python-version 2.7")
        );
        for (runtime, v) in [
            ("Python3.9", Some("3.9")),
            ("Python3.12", Some("3.12")),
            ("Python2.7", Some("2.7")),
            ("Nodejs18.15", None),
            ("Python", None),
            ("Python3", None),
        ] {
            assert_eq!(python_version(runtime), v, "{runtime}");
        }
    }

    fn req(line: usize, text: &str) -> Requirement {
        parse(text).unwrap().remove(0).with_line(line)
    }

    impl Requirement {
        fn with_line(mut self, line: usize) -> Self {
            self.line = line;
            self
        }
    }

    #[test]
    fn cache_key() {
        let a = [req(1, "six==1.16.0"), req(2, "bcrypt==4.2.1")];
        let k = Plan::key("Python3.9", &a);
        assert_eq!(k.len(), 64);
        // Lines, not their positions or comments, count.
        let moved = [req(3, "six==1.16.0"), req(7, "bcrypt==4.2.1")];
        assert_eq!(Plan::key("Python3.9", &moved), k);
        // A pin, the runtime (hence the platform and the flags) change it.
        let bumped = [req(1, "six==1.17.0"), req(2, "bcrypt==4.2.1")];
        assert_ne!(Plan::key("Python3.9", &bumped), k);
        assert_ne!(Plan::key("Python3.10", &a), k);
        assert_ne!(Plan::key("Python3.9", &a[..1]), k);
    }

    #[test]
    fn built_ins_are_skipped_unless_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::write(
            dir.path().join(FILE),
            "requests\nsix==1.16.0\ncos-python-sdk-v5\nbcrypt\n",
        )
        .unwrap();
        let mut f = function(dir.path(), "Python3.6");
        let p = plan(&f, &cache).unwrap().unwrap();
        assert_eq!(p.skipped, ["requests", "cos-python-sdk-v5"]);
        let names: Vec<&str> = p.install.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(names, ["six==1.16.0", "bcrypt"]);
        // Python 3.7+ images provide nothing (Tencent's doc): everything is installed.
        f.runtime = "Python3.9".to_owned();
        let p = plan(&f, &cache).unwrap().unwrap();
        assert!(p.skipped.is_empty());
        assert_eq!(p.install.len(), 4);
        for (runtime, name, want) in [
            ("Python3.6", "requests", Some("2.21.0")),
            ("Python2.7", "six", Some("1.12.0")),
            ("Python3.9", "requests", None),
            ("Python3.6", "bcrypt", None),
        ] {
            assert_eq!(builtin(runtime, name), want, "{runtime} {name}");
        }
        // Other runtimes ignore the file.
        f.runtime = "Nodejs18.15".to_owned();
        assert!(plan(&f, &cache).unwrap().is_none());
    }

    #[test]
    fn only_built_ins_need_no_pip() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "requests\n").unwrap();
        let f = function(dir.path(), "Python3.6");
        let p = plan(&f, &dir.path().join("cache")).unwrap().unwrap();
        assert!(!p.needs_pip());
        // No such interpreter: it is never started.
        let d = p.install(Path::new("/nonexistent/python")).unwrap();
        assert!(d.pins.is_empty());
        assert_eq!(d.skipped, ["requests"]);
        assert!(p.is_cached());
    }

    #[test]
    fn no_python_is_a_clear_error_and_caches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "six==1.16.0\n").unwrap();
        let f = function(dir.path(), "Python3.9");
        let p = plan(&f, &dir.path().join("cache")).unwrap().unwrap();
        let e = p.install(Path::new("/nonexistent/python3")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(*e, Error::NoPip { .. }), "{msg}");
        assert!(
            msg.starts_with("function `Fn`: cannot install ")
                && msg.contains("requirements.txt")
                && msg.contains("/nonexistent/python3 -m pip is not available"),
            "{msg}"
        );
        assert!(!p.is_cached());
    }

    #[test]
    fn pin_changes_read_like_a_diff() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        let old = m(&[("bcrypt", "4.1.0"), ("idna", "3.4"), ("x", "1")]);
        let new = m(&[("bcrypt", "4.2.1"), ("six", "1.16.0"), ("x", "1")]);
        assert_eq!(
            pin_changes(&old, &new),
            ["bcrypt 4.1.0 → 4.2.1", "-idna==3.4", "+six==1.16.0"]
        );
        assert!(pin_changes(&old, &old).is_empty());
    }

    #[test]
    fn pip_failures_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "# deps\nsix==1.16.0\nnope==9\n").unwrap();
        let f = function(dir.path(), "Python3.9");
        let p = plan(&f, &dir.path().join("cache")).unwrap().unwrap();
        let e = p.pip_error(
            "ERROR: Could not find a version that satisfies the requirement nope==9 (from \
             versions: 1.0, 2.0)\nERROR: No matching distribution found for nope==9\n",
            "",
        );
        let msg = e.to_string();
        assert!(matches!(e, Error::NoDistribution { line: 3, .. }), "{msg}");
        assert!(
            msg.contains("requirements.txt:3: `nope==9` has no wheel for Python3.9"),
            "{msg}"
        );
        let e = p.pip_error(
            "WARNING: Retrying (Retry(total=4)) after connection broken by \
             'NewConnectionError(...)': /simple/six/\nERROR: No matching distribution found \
             for six==1.16.0\n",
            "",
        );
        assert!(matches!(e, Error::IndexUnreachable { line: 2, .. }), "{e}");
        let e = p.pip_error("ERROR: something else\n", "");
        assert!(matches!(e, Error::Pip { .. }), "{e}");
    }
}
