//! Deterministic code packages: `codeUri` directory → zip → SHA-256 (DESIGN §4, STYLE §3.5).
//!
//! The same files give the same bytes, whatever their mtimes, creation order or platform, so
//! deploy can skip unchanged code by hash:
//! - the walk is sorted by the entry's path (`/`-separated, relative to `code_dir`); only files
//!   are stored (directories are implied by the paths; empty directories are dropped);
//! - every entry has the DOS epoch 1980-01-01 00:00:00, no extra time fields, Unix "made by",
//!   and mode 0644, or 0755 when the file is executable on disk or is a `bootstrap` (SCF's
//!   custom runtime must be able to run it);
//! - entries are deflated at the default level.
//!
//! What goes in: everything under `code_dir`, following symlinks, hidden files included, except
//! - [`DEFAULT_EXCLUDES`], always: VCS data (`.git/`), our state (`.chatstack/`), bytecode that
//!   Python regenerates (`__pycache__/`, `*.pyc`), virtual environments and test caches
//!   (`.venv/`, `.pytest_cache/`), a `tests/` directory at the top of `code_dir` (a nested one,
//!   inside a package, stays), and the ignore files themselves;
//! - what `.chatstackignore` files say (gitignore syntax, `!` re-includes; one in a
//!   subdirectory applies below it; none above `code_dir` is read);
//! - the function's `exclude` globs (gitignore syntax, matched relative to `code_dir`), which win
//!   over `.chatstackignore`.
//!
//! `.gitignore` files are deliberately *not* honoured: what deploys must not depend on the VCS
//! state of the directory (a git-ignored config file the handler reads is still shipped). Use
//! `.chatstackignore` or `exclude` to leave things out.
//!
//! Size: code goes inline in the API 3.0 request (`Code.ZipFile`, base64) up to
//! [`MAX_INLINE_ZIP`] (≈ 7.45 MiB): a TC3 request body is capped at 10 MB (API-FACTS §2.7),
//! base64 turns 3 bytes into 4, and the rest of the request needs room. A larger zip is
//! uploaded to COS by the deploy (see `engine::functions`). SCF's own limits — a zip of at most
//! [`limits::ZIP_MAX_BYTES`] and at most [`limits::UNZIPPED_MAX_BYTES`] unzipped — are checked
//! here, before any call.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

use crate::config::Function;
use crate::providers::tencent::limits;

pub mod requirements;

pub use requirements::Dependencies;

/// Largest zip sent inline: (10 MiB body − 64 KiB for the rest of the request) × 3/4.
pub const MAX_INLINE_ZIP: usize = (10 * 1024 * 1024 - 64 * 1024) / 4 * 3;

/// Always left out (gitignore syntax).
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".git/",
    ".chatstack/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    ".pytest_cache/",
    "/tests/",
    IGNORE_FILE,
];

/// The per-directory ignore file (gitignore syntax).
pub const IGNORE_FILE: &str = ".chatstackignore";

/// A function's code, zipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The zip file.
    pub zip: Vec<u8>,
    /// SHA-256 of `zip`, lowercase hex: the code's identity for change detection.
    pub sha256: String,
    /// Number of files in the zip.
    pub file_count: usize,
    /// The entries' paths, sorted, `/`-separated.
    pub files: Vec<String>,
    /// Each entry's SHA-256 (lowercase hex), by path: the function's own files (from
    /// `codeUri`), not the installed dependencies, which [`Package::dependencies`] describes.
    pub file_hashes: std::collections::BTreeMap<String, String>,
    /// What `requirements.txt` installed into the zip, when the function has one.
    pub dependencies: Option<Dependencies>,
}

/// Why a function's code could not be packaged.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A file or directory under `codeUri` could not be read.
    #[error("function `{function}`: cannot read {}", path.display())]
    #[diagnostic(
        code(chatstack::package::io),
        help("check that the files under codeUri are readable")
    )]
    Io {
        /// SCF function name.
        function: String,
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// Walking `codeUri` failed (a bad `exclude` glob, a symlink loop, …).
    #[error("function `{function}`: cannot list {}: {message}", dir.display())]
    #[diagnostic(code(chatstack::package::walk))]
    Walk {
        /// SCF function name.
        function: String,
        /// The code directory.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },

    /// The handler's module is not in the package.
    #[error(transparent)]
    #[diagnostic(transparent)]
    HandlerNotFound(Box<HandlerNotFound>),

    /// The handler's module does not define the handler's function.
    #[error(transparent)]
    #[diagnostic(transparent)]
    HandlerFunctionNotFound(Box<HandlerFunctionNotFound>),

    /// The zip, or the files in it, are over SCF's code package limits.
    #[error(
        "function `{function}`: the code package is over SCF's {limit}-byte limit {what} \
         ({size} bytes when packaging stopped)"
    )]
    #[diagnostic(
        code(chatstack::package::too_large),
        help(
            "leave out what the function does not need with `exclude:` or a `.chatstackignore` \
             (tests, docs, build output), or move large dependencies to a layer"
        )
    )]
    TooLarge {
        /// SCF function name.
        function: String,
        /// `zipped` or `unzipped`.
        what: &'static str,
        /// Size in bytes when packaging stopped (at least this large).
        size: u64,
        /// The limit it is over.
        limit: u64,
    },

    /// `requirements.txt` could not be installed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Requirements(#[from] Box<requirements::Error>),

    /// The zip writer failed.
    #[error("function `{function}`: cannot write the zip: {source}")]
    #[diagnostic(code(chatstack::package::zip))]
    Zip {
        /// SCF function name.
        function: String,
        /// Why.
        #[source]
        source: zip::result::ZipError,
    },
}

/// The details of [`Error::HandlerFunctionNotFound`].
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "{location}: function `{function}`: handler `{handler}`: {file} defines no `{name}`{}",
    suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
)]
#[diagnostic(
    code(chatstack::package::handler_function_not_found),
    help(
        "`handler` is `module.function`; {file} defines {}",
        found_list(defined)
    )
)]
pub struct HandlerFunctionNotFound {
    /// SCF function name.
    pub function: String,
    /// `handler` as written.
    pub handler: String,
    /// `file:line:column` of `handler` in the stack file.
    pub location: String,
    /// The module's file, relative to codeUri.
    pub file: String,
    /// The function's name.
    pub name: String,
    /// The closest name the module defines.
    pub suggestion: Option<String>,
    /// The names the module defines at top level (the first 20).
    pub defined: Vec<String>,
}

/// The details of [`Error::HandlerNotFound`].
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error(
    "{location}: function `{function}`: handler `{handler}` needs {} in codeUri {}, but the \
     package has {}",
    expected.join(" or "), dir.display(), found_list(found)
)]
#[diagnostic(
    code(chatstack::package::handler_not_found),
    help(
        "put the module in codeUri, fix `handler` (`module.function`, module = file name \
         without extension), or check that `exclude` does not drop it"
    )
)]
pub struct HandlerNotFound {
    /// SCF function name.
    pub function: String,
    /// `handler` as written.
    pub handler: String,
    /// `file:line:column` of `handler` in the stack file.
    pub location: String,
    /// The code directory.
    pub dir: PathBuf,
    /// Files that would satisfy the handler.
    pub expected: Vec<String>,
    /// The package's files (the first 20).
    pub found: Vec<String>,
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "no files".to_owned()
    } else {
        found.join(", ")
    }
}

/// Zips `function.code_dir` (see the module docs), checks the handler's module is in it and
/// the sizes are within SCF's limits. Dependencies are not installed: see [`package_with`].
pub fn package(function: &Function) -> Result<Package, Error> {
    package_with(function, None)
}

/// Like [`package`], with the dependency tree `deps` (the directory pip installed into, and
/// what it holds) merged at the zip's root. A file of the function's own with the same path as
/// an installed one wins (so a vendored module overrides its dependency). The entries stay
/// sorted as one list, so the zip is as deterministic as without dependencies, and its hash
/// changes when a pin does.
pub fn package_with(
    function: &Function,
    deps: Option<(&Path, &Dependencies)>,
) -> Result<Package, Error> {
    let own = collect(function)?;
    let names: Vec<String> = own.iter().map(|(n, _)| n.clone()).collect();
    check_handler(function, &names)?;
    let mut files = own.clone();
    if let Some((site, _)) = deps {
        let installed = collect_tree(function, site)?;
        let mine: std::collections::BTreeSet<&str> = names.iter().map(String::as_str).collect();
        files.extend(
            installed
                .into_iter()
                .filter(|(n, _)| !mine.contains(n.as_str())),
        );
        files.sort_by(|a, b| a.0.cmp(&b.0));
    }

    let zip_err = |source| Error::Zip {
        function: function.name.clone(),
        source,
    };
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let mut file_hashes = std::collections::BTreeMap::new();
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io {
            function: function.name.clone(),
            path,
            source,
        }
    };
    let too_large = |what, size: u64, limit: u64| Error::TooLarge {
        function: function.name.clone(),
        what,
        size,
        limit,
    };
    let zip_limit = limits::ZIP_MAX_BYTES as u64;
    let mut unzipped: u64 = 0;
    for (name, path) in &files {
        let mut file = std::fs::File::open(path).map_err(io_err(path))?;
        let mode = if is_executable(path) || name.rsplit('/').next() == Some("bootstrap") {
            0o755
        } else {
            0o644
        };
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .last_modified_time(DateTime::default())
            .system(System::Unix)
            .unix_permissions(mode)
            .large_file(false);
        w.start_file(name.as_str(), options).map_err(zip_err)?;
        // Streamed, and stopped as soon as the zip is too large: a stray multi-gigabyte file
        // in codeUri costs neither the memory nor the time of zipping it all.
        let mut hashing = HashingWriter {
            inner: &mut w,
            hash: Sha256::new(),
        };
        unzipped += std::io::copy(&mut file, &mut hashing).map_err(io_err(path))?;
        if own_names_contains(&names, name) {
            file_hashes.insert(name.clone(), hex::encode(hashing.hash.finalize()));
        }
        if unzipped > limits::UNZIPPED_MAX_BYTES {
            return Err(too_large("unzipped", unzipped, limits::UNZIPPED_MAX_BYTES));
        }
        let so_far = w.get_ref().map_or(0, |c| c.get_ref().len()) as u64;
        if so_far > zip_limit {
            return Err(too_large("zipped", so_far, zip_limit));
        }
    }
    let zip = w.finish().map_err(zip_err)?.into_inner();
    if zip.len() as u64 > zip_limit {
        return Err(too_large("zipped", zip.len() as u64, zip_limit));
    }
    let sha256 = hex::encode(Sha256::digest(&zip));
    Ok(Package {
        zip,
        sha256,
        file_count: files.len(),
        files: files.into_iter().map(|(n, _)| n).collect(),
        file_hashes,
        dependencies: deps.map(|(_, d)| d.clone()),
    })
}

/// The zip entry name of `path` under `dir`: relative, `/`-separated.
fn zip_name(dir: &Path, path: &Path) -> Result<String, String> {
    let rel = path.strip_prefix(dir).map_err(|e| e.to_string())?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

/// Whether `name` is one of the function's own files (`names` is sorted).
fn own_names_contains(names: &[String], name: &str) -> bool {
    names.binary_search_by(|n| n.as_str().cmp(name)).is_ok()
}

/// Every file under `dir` (an installed dependency tree: no excludes, no ignore files),
/// sorted by `/`-separated relative name.
fn collect_tree(function: &Function, dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let walk_err = |message: String| Error::Walk {
        function: function.name.clone(),
        dir: dir.to_path_buf(),
        message,
    };
    let walker = WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(false)
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| walk_err(e.to_string()))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let name = zip_name(dir, entry.path()).map_err(walk_err)?;
        // Bytecode is regenerated (and pip was told not to write it).
        if name.ends_with(".pyc") || name.contains("__pycache__/") {
            continue;
        }
        files.push((name, entry.into_path()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// Writes through to `inner`, hashing what passes.
struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The files to pack: (`/`-separated relative name, path on disk), sorted by name.
fn collect(function: &Function) -> Result<Vec<(String, PathBuf)>, Error> {
    let dir = &function.code_dir;
    let walk_err = |message: String| Error::Walk {
        function: function.name.clone(),
        dir: dir.clone(),
        message,
    };
    let mut overrides = OverrideBuilder::new(dir);
    for glob in DEFAULT_EXCLUDES
        .iter()
        .copied()
        .chain(function.exclude.iter().map(String::as_str))
    {
        overrides
            .add(&format!("!{glob}"))
            .map_err(|e| walk_err(format!("bad exclude glob `{glob}`: {e}")))?;
    }
    let overrides = overrides.build().map_err(|e| walk_err(e.to_string()))?;
    let walker = WalkBuilder::new(dir)
        .standard_filters(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .follow_links(true)
        .overrides(overrides)
        .build();
    // Symlinks are followed, but only within codeUri: a link to a file elsewhere (a key in
    // ~/.ssh, say) would upload it with the function.
    let root = dir.canonicalize().map_err(|e| walk_err(e.to_string()))?;
    let mut files = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| walk_err(e.to_string()))?;
        if entry.path_is_symlink() {
            let target = entry.path().canonicalize().map_err(|e| {
                walk_err(format!(
                    "{}: a broken symlink ({e})",
                    entry.path().display()
                ))
            })?;
            if !target.starts_with(&root) {
                return Err(walk_err(format!(
                    "{} is a symlink to {}, outside codeUri: copy the file in, exclude it, or \
                     point codeUri at a directory that holds both",
                    entry.path().display(),
                    target.display()
                )));
            }
        }
        // Devices, FIFOs and sockets are not code (and reading a FIFO would block).
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let name = zip_name(dir, entry.path()).map_err(walk_err)?;
        files.push((name, entry.into_path()));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files)
}

/// The files that satisfy the handler, or `None` when the runtime's handler names no file
/// we can check (Java's classes live in a jar).
pub fn handler_files(runtime: &str, handler: &str) -> Option<Vec<String>> {
    let module = handler.rsplit_once('.').map(|(m, _)| m);
    let with = |exts: &[&str]| {
        let module = module?;
        let mut out = Vec::new();
        for ext in exts {
            out.push(format!("{module}.{ext}"));
            if module.contains('.') {
                out.push(format!("{}.{ext}", module.replace('.', "/")));
            }
        }
        Some(out)
    };
    if runtime.starts_with("Python") {
        with(&["py"])
    } else if runtime.starts_with("Nodejs") {
        with(&["js", "mjs", "cjs"])
    } else if runtime.starts_with("Php") {
        with(&["php"])
    } else if runtime == "Go1" {
        Some(vec![handler.to_owned()])
    } else if runtime == "CustomRuntime" {
        Some(vec!["bootstrap".to_owned()])
    } else {
        None
    }
}

fn check_handler(function: &Function, names: &[String]) -> Result<(), Error> {
    let Some(expected) = handler_files(&function.runtime, &function.handler) else {
        return Ok(());
    };
    if let Some(file) = expected.iter().find(|e| names.contains(e)) {
        return check_python_function(function, file);
    }
    Err(Error::HandlerNotFound(Box::new(HandlerNotFound {
        function: function.name.clone(),
        handler: function.handler.clone(),
        location: function.handler_location.clone(),
        dir: function.code_dir.clone(),
        expected,
        found: names.iter().take(20).cloned().collect(),
    })))
}

/// For a Python handler, checks that its module defines the function (so a typo fails the
/// deploy, not the first connection). A module that star-imports is given the benefit of the
/// doubt.
fn check_python_function(function: &Function, file: &str) -> Result<(), Error> {
    let Some((_, name)) = function.handler.rsplit_once('.') else {
        return Ok(());
    };
    if !function.runtime.starts_with("Python") {
        return Ok(());
    }
    let Ok(bytes) = std::fs::read(function.code_dir.join(file)) else {
        return Ok(()); // unreadable files are reported by packaging itself
    };
    let defined = python_top_level_names(&String::from_utf8_lossy(&bytes));
    if defined.iter().any(|d| d == name || d == "*") {
        return Ok(());
    }
    let suggestion =
        crate::config::suggest(name, defined.iter().map(String::as_str)).map(str::to_owned);
    Err(Error::HandlerFunctionNotFound(Box::new(
        HandlerFunctionNotFound {
            function: function.name.clone(),
            handler: function.handler.clone(),
            location: function.handler_location.clone(),
            file: file.to_owned(),
            name: name.to_owned(),
            suggestion,
            defined: defined.into_iter().take(20).collect(),
        },
    )))
}

/// The names a Python module binds at top level: `def`/`async def`/`class`, assignments, and
/// names imported with `from … import …` (`*` for a star import). A static reading, not an
/// interpreter: enough to catch a misspelt handler.
pub fn python_top_level_names(source: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        if line.starts_with(char::is_whitespace) || line.starts_with('#') {
            continue;
        }
        let rest = line.strip_prefix("async ").unwrap_or(line);
        if let Some(r) = rest
            .strip_prefix("def ")
            .or_else(|| rest.strip_prefix("class "))
        {
            names.push(ident(r.trim_start()));
        } else if let Some(r) = line.strip_prefix("from ") {
            let Some((_, imported)) = r.split_once(" import ") else {
                continue;
            };
            let mut imported = imported.to_owned();
            if imported.contains('(') {
                while !imported.contains(')') {
                    match lines.next() {
                        Some(more) => imported.push_str(more),
                        None => break,
                    }
                }
            }
            for part in imported.split([',', '(', ')']) {
                let part = part.split('#').next().unwrap_or("").trim();
                let bound = part.rsplit(" as ").next().unwrap_or(part).trim();
                if bound == "*" {
                    names.push("*".to_owned());
                } else if !bound.is_empty() {
                    names.push(ident(bound));
                }
            }
        } else {
            // `name = …`, `name: T = …`, `a = b = …`
            let first = ident(line);
            let after = line[first.len()..].trim_start();
            if !first.is_empty()
                && (after.starts_with(':') || (after.starts_with('=') && !after.starts_with("==")))
            {
                names.push(first);
            }
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::config::{FunctionRole, LoadOptions};

    fn function(dir: &Path, handler: &str, runtime: &str) -> Function {
        Function {
            instance: "ChatReg".to_owned(),
            name: "ChatReg".to_owned(),
            role: Some(FunctionRole::Register),
            code_dir: dir.to_path_buf(),
            exclude: Vec::new(),
            handler: handler.to_owned(),
            handler_location: "serverless.yml:36:14".to_owned(),
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

    fn write(dir: &Path, name: &str, body: &str) {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    fn entries(zip: &[u8]) -> Vec<(String, String, u32, zip::DateTime)> {
        let mut a = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        (0..a.len())
            .map(|i| {
                let mut f = a.by_index(i).unwrap();
                let mut body = String::new();
                f.read_to_string(&mut body).unwrap();
                (
                    f.name().unwrap().into_owned(),
                    body,
                    f.unix_mode().unwrap(),
                    f.last_modified().unwrap(),
                )
            })
            .collect()
    }

    const FILES: &[(&str, &str)] = &[
        (
            "reg.py",
            "def main_handler(event, context):\n    return {}\n",
        ),
        ("lib/util.py", "X = 1\n"),
        ("lib/deep/more.py", "Y = 2\n"),
        ("README.md", "# chat\n"),
        (".env", "A=1\n"),
        ("__pycache__/reg.cpython-39.pyc", "bytecode"),
        ("lib/util.pyc", "bytecode"),
        (".git/HEAD", "ref: refs/heads/main\n"),
    ];

    #[test]
    fn identical_bytes_whatever_the_mtimes_and_creation_order() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (name, body) in FILES {
            write(a.path(), name, body);
        }
        for (name, body) in FILES.iter().rev() {
            write(b.path(), name, body);
        }
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        for (name, _) in FILES {
            fs::File::options()
                .write(true)
                .open(b.path().join(name))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let pa = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap();
        let pa2 = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap();
        let pb = package(&function(b.path(), "reg.main_handler", "Python3.9")).unwrap();
        assert_eq!(pa, pa2);
        assert_eq!(pa.zip, pb.zip);
        assert_eq!(pa.sha256, pb.sha256);
        assert_eq!(pa.sha256, hex::encode(Sha256::digest(&pa.zip)));
        assert_eq!(pa.sha256.len(), 64);
        assert_eq!(
            pa.files,
            [
                ".env",
                "README.md",
                "lib/deep/more.py",
                "lib/util.py",
                "reg.py"
            ]
        );
        assert_eq!(pa.file_count, 5);
        let e = entries(&pa.zip);
        assert_eq!(e.len(), 5);
        for (name, body, mode, time) in e {
            assert_eq!(mode & 0o777, 0o644, "{name}");
            assert_eq!(time, zip::DateTime::default(), "{name}");
            let expected = FILES.iter().find(|(n, _)| *n == name).unwrap().1;
            assert_eq!(body, expected);
        }
    }

    #[test]
    fn content_changes_change_the_hash() {
        let a = tempfile::tempdir().unwrap();
        write(
            a.path(),
            "reg.py",
            "def main_handler(e, c):\n    return 1\n",
        );
        let h1 = package(&function(a.path(), "reg.main_handler", "Python3.9"))
            .unwrap()
            .sha256;
        write(
            a.path(),
            "reg.py",
            "def main_handler(e, c):\n    return 2\n",
        );
        let h2 = package(&function(a.path(), "reg.main_handler", "Python3.9"))
            .unwrap()
            .sha256;
        assert_ne!(h1, h2);
    }

    #[test]
    fn excludes() {
        let a = tempfile::tempdir().unwrap();
        for (name, body) in FILES {
            write(a.path(), name, body);
        }
        let mut f = function(a.path(), "reg.main_handler", "Python3.9");
        f.exclude = vec!["*.md".to_owned(), "lib/deep/".to_owned(), ".env".to_owned()];
        let p = package(&f).unwrap();
        assert_eq!(p.files, ["lib/util.py", "reg.py"]);
    }

    #[test]
    fn chatstackignore_files_and_the_default_excludes_shape_the_package() {
        let a = tempfile::tempdir().unwrap();
        for (name, body) in [
            (
                "reg.py",
                "def main_handler(event, context):\n    return {}\n",
            ),
            (
                ".chatstackignore",
                "# docs stay home\n*.md\n!KEEP.md\ndata/\n",
            ),
            ("README.md", "# chat\n"),
            ("KEEP.md", "shipped\n"),
            ("data/big.csv", "1,2\n"),
            ("lib/.chatstackignore", "deep/\n"),
            ("lib/util.py", "X = 1\n"),
            ("lib/deep/more.py", "Y = 2\n"),
            ("lib/tests/helpers.py", "Z = 3\n"),
            ("tests/test_reg.py", "def test(): pass\n"),
            (".venv/lib/site.py", "venv\n"),
            (".pytest_cache/v", "cache\n"),
            ("notes.txt", "n\n"),
        ] {
            write(a.path(), name, body);
        }
        let mut f = function(a.path(), "reg.main_handler", "Python3.9");
        let p = package(&f).unwrap();
        assert_eq!(
            p.files,
            [
                "KEEP.md",
                "lib/tests/helpers.py",
                "lib/util.py",
                "notes.txt",
                "reg.py"
            ]
        );
        // The stack file's `exclude` adds to them.
        f.exclude = vec!["*.txt".to_owned()];
        let p2 = package(&f).unwrap();
        assert_eq!(
            p2.files,
            ["KEEP.md", "lib/tests/helpers.py", "lib/util.py", "reg.py"]
        );
        // An edit to an ignore file that changes what is shipped changes the hash; the ignore
        // file itself is not shipped.
        write(a.path(), ".chatstackignore", "*.md\n");
        let p3 = package(&f).unwrap();
        assert!(!p3.files.contains(&"KEEP.md".to_owned()));
        assert_ne!(p3.sha256, p2.sha256);
    }

    #[test]
    fn installed_dependencies_merge_at_the_root_sorted_and_hashed() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "reg.py", "def main_handler(e, c):\n    pass\n");
        write(a.path(), "requirements.txt", "six==1.16.0\n");
        write(
            a.path(),
            "six.py",
            "# vendored: wins over the installed one\n",
        );
        let site = tempfile::tempdir().unwrap();
        write(site.path(), "six.py", "# installed\n");
        write(site.path(), "six-1.16.0.dist-info/METADATA", "Name: six\n");
        write(site.path(), "bcrypt/__init__.py", "\n");
        write(site.path(), "bcrypt/__pycache__/x.pyc", "bytecode");
        let deps = Dependencies {
            sha256: "d".repeat(64),
            pins: [("six".to_owned(), "1.16.0".to_owned())].into(),
            skipped: Vec::new(),
        };
        let f = function(a.path(), "reg.main_handler", "Python3.9");
        let p = package_with(&f, Some((site.path(), &deps))).unwrap();
        assert_eq!(
            p.files,
            [
                "bcrypt/__init__.py",
                "reg.py",
                "requirements.txt",
                "six-1.16.0.dist-info/METADATA",
                "six.py"
            ]
        );
        let six = entries(&p.zip)
            .into_iter()
            .find(|e| e.0 == "six.py")
            .unwrap();
        assert!(six.1.contains("vendored"));
        // The journal's per-file hashes stay the function's own files.
        let own: Vec<&String> = p.file_hashes.keys().collect();
        assert_eq!(own, ["reg.py", "requirements.txt", "six.py"]);
        assert_eq!(p.dependencies.as_ref(), Some(&deps));
        assert_eq!(p, package_with(&f, Some((site.path(), &deps))).unwrap());
        // A changed installed file (a new pin) is a code change.
        write(site.path(), "bcrypt/__init__.py", "__version__ = '2'\n");
        let p2 = package_with(&f, Some((site.path(), &deps))).unwrap();
        assert_ne!(p2.sha256, p.sha256);
        assert_ne!(package(&f).unwrap().sha256, p.sha256);
    }

    #[test]
    fn executables_keep_their_bit() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "bootstrap", "#!/bin/sh\n");
        write(a.path(), "index.sh", "echo\n");
        let p = package(&function(a.path(), "index.handler", "CustomRuntime")).unwrap();
        let modes: Vec<u32> = entries(&p.zip).iter().map(|e| e.2 & 0o777).collect();
        assert_eq!(modes, [0o755, 0o644]);
    }

    #[test]
    fn python_top_level_names_are_read_statically() {
        let src = "import os\nfrom x import (a,\n    b as c)  # two\nfrom y import d\n\
                   def main_handler(event, context):\n    inner = 1\n\
                   async def other(): pass\nclass Handler:\n    pass\nLIMIT: int = 3\n\
                   x = y = 1\nif x == 1:\n    pass\n";
        assert_eq!(
            python_top_level_names(src),
            [
                "a",
                "c",
                "d",
                "main_handler",
                "other",
                "Handler",
                "LIMIT",
                "x"
            ]
        );
        assert_eq!(python_top_level_names("from m import *\n"), ["*"]);
    }

    #[test]
    fn a_misspelt_handler_function_is_caught_with_a_suggestion() {
        let a = tempfile::tempdir().unwrap();
        fs::write(
            a.path().join("trans.py"),
            "def main_handler(event, context):\n    return {}\n",
        )
        .unwrap();
        let e = package(&function(a.path(), "trans.main_handle", "Python3.9")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::HandlerFunctionNotFound(_)), "{msg}");
        assert!(msg.contains("trans.py defines no `main_handle`"), "{msg}");
        assert!(msg.contains("did you mean `main_handler`?"), "{msg}");
        assert!(package(&function(a.path(), "trans.main_handler", "Python3.9")).is_ok());
        // Other runtimes are not read.
        fs::write(a.path().join("index.js"), "exports.x = 1\n").unwrap();
        assert!(package(&function(a.path(), "index.main_handler", "Nodejs18.15")).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_inside_code_uri_and_refused_out_of_it() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("id_rsa"), "PRIVATE").unwrap();
        let a = tempfile::tempdir().unwrap();
        fs::write(
            a.path().join("reg.py"),
            "def main_handler(e, c):\n    return 1\n",
        )
        .unwrap();
        fs::create_dir(a.path().join("lib")).unwrap();
        fs::write(a.path().join("lib/util.py"), "X = 1\n").unwrap();
        std::os::unix::fs::symlink(a.path().join("lib/util.py"), a.path().join("util.py")).unwrap();
        let p = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap();
        assert!(p.files.contains(&"util.py".to_owned()), "{:?}", p.files);

        std::os::unix::fs::symlink(outside.path().join("id_rsa"), a.path().join("key")).unwrap();
        let e = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Walk { .. }), "{msg}");
        assert!(msg.contains("outside codeUri"), "{msg}");
        assert!(!msg.contains("PRIVATE"), "{msg}");

        fs::remove_file(a.path().join("key")).unwrap();
        std::os::unix::fs::symlink(a.path().join("gone"), a.path().join("dangling")).unwrap();
        let e = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap_err();
        // The walker reports it, naming the link.
        assert!(e.to_string().contains("dangling"), "{e}");
    }

    #[test]
    fn missing_handler_module() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "trans.py", "");
        write(a.path(), "clean.py", "");
        let e = package(&function(a.path(), "reg.main_handler", "Python3.6")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::HandlerNotFound(_)), "{msg}");
        assert!(
            msg.starts_with("serverless.yml:36:14: function `ChatReg`"),
            "{msg}"
        );
        assert!(
            msg.contains("handler `reg.main_handler` needs reg.py"),
            "{msg}"
        );
        assert!(msg.contains("the package has clean.py, trans.py"), "{msg}");
    }

    #[test]
    fn handler_module_excluded() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "index.js", "");
        let mut f = function(a.path(), "index.main_handler", "Nodejs18.15");
        assert!(package(&f).is_ok());
        f.exclude = vec!["*.js".to_owned()];
        let e = package(&f).unwrap_err();
        assert!(
            e.to_string()
                .contains("needs index.js or index.mjs or index.cjs"),
            "{e}"
        );
        assert!(e.to_string().contains("no files"), "{e}");
    }

    #[test]
    fn handler_files_per_runtime() {
        assert_eq!(
            handler_files("Python3.6", "src/reg.main_handler").unwrap(),
            ["src/reg.py"]
        );
        assert_eq!(handler_files("Go1", "main").unwrap(), ["main"]);
        assert_eq!(
            handler_files("Php8.0", "index.main").unwrap(),
            ["index.php"]
        );
        assert_eq!(handler_files("Java8", "example.Hello::main"), None);
    }

    /// `len` incompressible bytes (xorshift).
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn a_package_over_the_inline_limit_is_made_and_one_over_scfs_limit_is_refused() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "reg.py", "def main_handler(e, c):\n    pass\n");
        fs::write(a.path().join("blob.bin"), noise(MAX_INLINE_ZIP + 4096)).unwrap();
        let p = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap();
        assert!(p.zip.len() > MAX_INLINE_ZIP, "{}", p.zip.len());

        fs::write(
            a.path().join("blob.bin"),
            noise(limits::ZIP_MAX_BYTES + 4096),
        )
        .unwrap();
        let e = package(&function(a.path(), "reg.main_handler", "Python3.9")).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge { what: "zipped", limit, .. }
                if limit == limits::ZIP_MAX_BYTES as u64),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("over SCF's 52428800-byte limit zipped"),
            "{e}"
        );
    }

    /// The article's three functions, packaged from its stack file.
    #[test]
    fn seed_code_packages() {
        let Some(seed) = crate::test_support::article_dir("package::tests::seed_code_packages")
        else {
            return;
        };
        same_package_for_the_three_functions(&seed.join("serverless.yml"), &[]);
    }

    /// Our chat stack (`tests/fixtures/chat-demo/`), packaging `functions/chat/code`.
    #[test]
    fn chat_demo_code_packages() {
        let path = crate::test_support::fixture("chat-demo/serverless.yml");
        same_package_for_the_three_functions(&path, &["registry.py", "pushback.py"]);
    }

    /// Each function of the stack at `path` packages `reg.py`, `trans.py`, `clean.py` and
    /// `more`; the three share one code directory, so one hash.
    fn same_package_for_the_three_functions(path: &Path, more: &[&str]) {
        let stack = crate::config::load(path, &LoadOptions::default()).unwrap();
        let mut hashes = Vec::new();
        for f in &stack.functions {
            let p = package(f).unwrap();
            for name in ["reg.py", "trans.py", "clean.py"].iter().chain(more) {
                assert!(p.files.iter().any(|n| n == name), "{name} in {:?}", p.files);
            }
            hashes.push(p.sha256);
        }
        // Same directory, same bytes: the three functions share one hash.
        assert_eq!(hashes.len(), 3);
        assert!(hashes.iter().all(|h| *h == hashes[0]));
    }
}
