//! Watching a project for `chatstack dev`: which saved files mean a redeploy (the stack file,
//! a function's code), which mean a page reload (`web/`), and which mean nothing (state, caches,
//! editor litter). The decision is a pure function of the changed paths ([`Layout::classify`]);
//! [`Watcher`] only feeds it, debounced, so one save of several files is one redeploy.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the tree must be quiet before a change is acted on.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// What a batch of changed paths asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The stack file changed: reload it and redeploy.
    pub stack: bool,
    /// Files of functions' code changed (relative to the project, for the message).
    pub code: BTreeSet<PathBuf>,
    /// Files of the web page changed: tell open pages to reload.
    pub web: bool,
}

impl Changes {
    /// Whether a redeploy is due.
    pub fn redeploy(&self) -> bool {
        self.stack || !self.code.is_empty()
    }
}

/// The paths that matter, absolute and canonical (as the OS reports events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The project directory (the stack file's).
    pub root: PathBuf,
    /// The stack file.
    pub stack_file: PathBuf,
    /// Every function's `codeUri`.
    pub code_dirs: Vec<PathBuf>,
    /// The page's directory, if the project has one.
    pub web_dir: Option<PathBuf>,
}

/// Path components that are never the user's edit: state, caches, VCS, dependencies.
const IGNORED_DIRS: &[&str] = &[
    ".chatstack",
    "__pycache__",
    ".git",
    ".hg",
    ".pytest_cache",
    ".mypy_cache",
    "node_modules",
    ".venv",
];

/// Editor temporaries: vim's swap and write-test files, emacs locks and backups.
fn is_editor_litter(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".pyc")
        || name.starts_with(".#")
        || name == "4913"
}

impl Layout {
    /// The directories to watch: the project, and code directories outside it.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.root.clone()];
        for d in &self.code_dirs {
            if !d.starts_with(&self.root) && !roots.iter().any(|r| d.starts_with(r)) {
                roots.push(d.clone());
            }
        }
        roots
    }

    /// What `paths` (changed files) ask for.
    pub fn classify<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Changes {
        let mut changes = Changes::default();
        for path in paths {
            let ignored = path.components().any(|c| {
                let c = c.as_os_str().to_string_lossy();
                IGNORED_DIRS.contains(&c.as_ref())
            }) || path
                .file_name()
                .is_some_and(|n| is_editor_litter(&n.to_string_lossy()));
            if ignored {
                continue;
            }
            if path == self.stack_file {
                changes.stack = true;
            }
            if self
                .code_dirs
                .iter()
                .any(|d| path.starts_with(d) && path != d)
            {
                let shown = path.strip_prefix(&self.root).unwrap_or(path);
                changes.code.insert(shown.to_owned());
            }
            if self.web_dir.as_ref().is_some_and(|w| path.starts_with(w)) {
                changes.web = true;
            }
        }
        changes
    }
}

/// A debounced recursive watch over a [`Layout`]'s roots; batches of changed paths arrive on
/// the channel [`Watcher::start`] returns. Only writes count (create, modify, remove, rename):
/// reads are events too on Linux (inotify's `IN_OPEN`), and packaging reads every file.
pub struct Watcher {
    watcher: notify::RecommendedWatcher,
    watched: Vec<PathBuf>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("watched", &self.watched)
            .finish_non_exhaustive()
    }
}

/// Whether an event is a change of content or of the tree (not a read).
fn is_write(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        // A file closed after writing: some editors' only trace of a save in place.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

impl Watcher {
    /// Watches `layout`'s roots.
    pub fn start(
        layout: &Layout,
    ) -> Result<(Self, tokio::sync::mpsc::UnboundedReceiver<Vec<PathBuf>>), notify::Error> {
        let (raw_tx, mut raw_rx) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event) if is_write(&event.kind) => {
                    for path in event.paths {
                        let _ = raw_tx.send(path);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("file watching: {e}"),
            })?;
        // Debounce: a batch goes out once the tree has been quiet for DEBOUNCE.
        tokio::spawn(async move {
            while let Some(first) = raw_rx.recv().await {
                let mut batch = BTreeSet::from([first]);
                loop {
                    match tokio::time::timeout(DEBOUNCE, raw_rx.recv()).await {
                        Ok(Some(path)) => {
                            batch.insert(path);
                        }
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                if tx.send(batch.into_iter().collect()).is_err() {
                    return;
                }
            }
        });
        let mut watcher = Watcher {
            watcher,
            watched: Vec::new(),
        };
        watcher.follow(layout)?;
        Ok((watcher, rx))
    }

    /// Also watches roots `layout` has that are not watched yet (a stack edit may point a
    /// function's `codeUri` elsewhere).
    pub fn follow(&mut self, layout: &Layout) -> Result<(), notify::Error> {
        use notify::Watcher as _;
        for root in layout.roots() {
            if !self.watched.iter().any(|w| root.starts_with(w)) {
                self.watcher
                    .watch(&root, notify::RecursiveMode::Recursive)?;
                self.watched.push(root);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            root: "/p".into(),
            stack_file: "/p/chatstack.yml".into(),
            code_dirs: vec!["/p/code".into(), "/shared/lib".into()],
            web_dir: Some("/p/web".into()),
        }
    }

    #[test]
    fn saved_files_are_sorted_into_redeploys_and_reloads() {
        let l = layout();
        let cases: &[(&[&str], bool, &[&str], bool)] = &[
            (&["/p/chatstack.yml"], true, &[], false),
            (&["/p/code/trans.py"], false, &["code/trans.py"], false),
            (
                &["/p/code/a.py", "/p/code/b.py"],
                false,
                &["code/a.py", "code/b.py"],
                false,
            ),
            (&["/shared/lib/x.py"], false, &["/shared/lib/x.py"], false),
            (&["/p/web/index.html"], false, &[], true),
            (&["/p/README.md"], false, &[], false),
            (&["/p/code"], false, &[], false),
            (&["/p/.chatstack/local/localcloud.redb"], false, &[], false),
            (
                &["/p/code/__pycache__/trans.cpython-311.pyc"],
                false,
                &[],
                false,
            ),
            (
                &["/p/code/.trans.py.swp", "/p/code/trans.py~", "/p/code/4913"],
                false,
                &[],
                false,
            ),
            (&["/p/chatstack.yml", "/p/web/app.css"], true, &[], true),
        ];
        for (paths, stack, code, web) in cases {
            let got = l.classify(paths.iter().map(Path::new));
            let want = Changes {
                stack: *stack,
                code: code.iter().map(PathBuf::from).collect(),
                web: *web,
            };
            assert_eq!(got, want, "{paths:?}");
            assert_eq!(got.redeploy(), *stack || !code.is_empty());
        }
    }

    #[test]
    fn code_outside_the_project_is_watched_too() {
        assert_eq!(
            layout().roots(),
            [PathBuf::from("/p"), PathBuf::from("/shared/lib")]
        );
    }
}
