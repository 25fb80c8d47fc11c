//! The projects `chatstack init` writes, embedded in the binary (`templates/`), so `init`
//! works from an installed binary anywhere.
//!
//! A template is a directory tree; rendering replaces `{{name}}` in its text files with the
//! project's name and leaves everything else byte for byte. Writing refuses to overwrite: every
//! target path is checked before the first file is written, so a refused `init` changes nothing.

use std::path::{Path, PathBuf};

use include_dir::{Dir, DirEntry, include_dir};

static CHAT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates/chat");

/// The placeholder rendering replaces.
const PLACEHOLDER: &str = "{{name}}";

/// Longest project name: function names are `NAME-transport` and SCF allows 60 characters, COS
/// bucket names `NAME-registry-APPID` and COS allows 50 with the APPID.
pub const MAX_NAME: usize = 20;

/// The chat template's page, for `dev` in a project that has no `web/` of its own.
pub fn builtin_page() -> &'static [u8] {
    CHAT.get_file("web/index.html").map_or(
        b"<!doctype html><p>chatstack: no page</p>".as_slice(),
        |f| f.contents(),
    )
}

/// A template chatstack ships.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// What `--example` and the docs call it.
    pub name: &'static str,
    dir: &'static Dir<'static>,
}

/// Every template, the default first.
pub const TEMPLATES: &[Template] = &[Template {
    name: "chat",
    dir: &CHAT,
}];

/// Finds a template by name.
pub fn find(name: &str) -> Option<Template> {
    TEMPLATES.iter().copied().find(|t| t.name == name)
}

/// One file of a rendered template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the project directory, `/`-separated.
    pub path: PathBuf,
    /// The content.
    pub contents: Vec<u8>,
    /// Whether it is executable (scripts).
    pub executable: bool,
}

/// Why `init` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A file the template would write is already there.
    #[error("{} already exists; `chatstack init` never overwrites files", .path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The project name cannot be derived from the directory.
    #[error("cannot name a project after `{dir}`")]
    BadName {
        /// The directory's name.
        dir: String,
    },
    /// Writing failed.
    #[error("could not write {}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A project name from a directory name: lowercase letters, digits and `-`, starting with a
/// letter, at most [`MAX_NAME`] characters (what SCF function and COS bucket names allow).
pub fn project_name(dir_name: &str) -> Option<String> {
    let mut name = String::new();
    for c in dir_name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_start_matches(|c: char| !c.is_ascii_lowercase());
    let mut name: String = name.chars().take(MAX_NAME).collect();
    while name.ends_with('-') {
        name.pop();
    }
    (name.len() >= 2).then_some(name)
}

/// Whether an embedded path is build or editor litter that must not reach a project.
fn is_litter(path: &Path) -> bool {
    path.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        matches!(c.as_ref(), "__pycache__" | ".pytest_cache" | ".chatstack")
            || c.ends_with(".pyc")
            || c.ends_with('~')
    })
}

impl Template {
    /// The template's files with `{{name}}` replaced, sorted by path.
    pub fn render(&self, name: &str) -> Vec<File> {
        let mut files = Vec::new();
        collect(self.dir, &mut files);
        files.retain(|f| !is_litter(&f.path));
        for f in &mut files {
            if let Ok(text) = std::str::from_utf8(&f.contents)
                && text.contains(PLACEHOLDER)
            {
                f.contents = text.replace(PLACEHOLDER, name).into_bytes();
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }
}

fn collect(dir: &Dir<'_>, out: &mut Vec<File>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, out),
            DirEntry::File(f) => out.push(File {
                path: f.path().to_owned(),
                contents: f.contents().to_vec(),
                executable: f.path().extension().is_some_and(|e| e == "sh")
                    || f.path().file_name().is_some_and(|n| n == "scf_bootstrap"),
            }),
        }
    }
}

/// Writes `files` under `dest` (created if missing), or nothing at all if any already exists.
/// Returns the paths written.
pub fn write(files: &[File], dest: &Path) -> Result<Vec<PathBuf>, InitError> {
    let targets: Vec<PathBuf> = files.iter().map(|f| dest.join(&f.path)).collect();
    if let Some(path) = targets.iter().find(|p| p.symlink_metadata().is_ok()) {
        return Err(InitError::Exists { path: path.clone() });
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| InitError::Write { path, source }
    };
    for (file, target) in files.iter().zip(&targets) {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        // `create_new`: a file that appeared since the check above is still not overwritten.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map_err(io(target))?;
        std::io::Write::write_all(&mut out, &file.contents).map_err(io(target))?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
                .map_err(io(target))?;
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_scf_and_cos_rules() {
        for (dir, want) in [
            ("mychat", Some("mychat")),
            ("My Chat", Some("my-chat")),
            ("chat_2026", Some("chat-2026")),
            ("2026-chat", Some("chat")),
            ("--x--y--", Some("x-y")),
            ("a", None),
            ("日本", None),
            (
                "a-very-long-project-name-indeed",
                Some("a-very-long-project"),
            ),
        ] {
            assert_eq!(project_name(dir).as_deref(), want, "{dir}");
        }
    }

    #[test]
    fn the_chat_template_renders_its_name_everywhere() {
        let files = find("chat").unwrap().render("mychat");
        let paths: Vec<String> = files
            .iter()
            .map(|f| f.path.to_string_lossy().into_owned())
            .collect();
        for want in ["chatstack.yml", "web/index.html", "README.md"] {
            assert!(paths.iter().any(|p| p == want), "{want} in {paths:?}");
        }
        assert!(paths.iter().all(|p| !is_litter(Path::new(p))), "{paths:?}");
        for f in &files {
            if let Ok(text) = std::str::from_utf8(&f.contents) {
                assert!(!text.contains(PLACEHOLDER), "{}", f.path.display());
            }
        }
        let stack = files
            .iter()
            .find(|f| f.path == Path::new("chatstack.yml"))
            .unwrap();
        let stack = String::from_utf8(stack.contents.clone()).unwrap();
        assert!(stack.contains("mychat-transport"), "{stack}");
        // No keys and no URL lines: credentials come from the environment and the execution
        // role, the push-back URL arrives by itself.
        let yaml: Vec<&str> = stack
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .collect();
        for key in ["secret_id:", "secret_key:", "url:"] {
            assert!(
                !yaml.iter().any(|l| l.starts_with(key)),
                "{key} in the template's stack file"
            );
        }
        assert!(!stack.contains("apigateway.tencentyun.com"), "{stack}");
    }

    #[test]
    fn write_refuses_to_overwrite_and_then_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = find("chat").unwrap().render("demo");
        std::fs::create_dir_all(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join("web/index.html"), "mine").unwrap();
        let err = write(&files, dir.path()).unwrap_err();
        assert!(matches!(err, InitError::Exists { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("web/index.html")).unwrap(),
            "mine"
        );
        assert!(!dir.path().join("chatstack.yml").exists());

        let fresh = tempfile::tempdir().unwrap();
        let written = write(&files, &fresh.path().join("new")).unwrap();
        assert_eq!(written.len(), files.len());
        assert!(fresh.path().join("new/chatstack.yml").is_file());
    }
}
