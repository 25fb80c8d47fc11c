//! Unit-test helpers: where the repository's fixtures and the read-only shared directory are,
//! and the one wording for a test skipped because the article's files are not at hand (the
//! integration tests' twin is `tests/support.rs`; keep the two in step).
//!
//! The article's own files (`shared/seed/serverless.yml`, `shared/seed/code/*.py`) are never
//! copied into the repository; tests of them run where they are found:
//! 1. `CHATSTACK_SEED_DIR` (a directory holding `serverless.yml` and `code/`), which must
//!    hold them when set;
//! 2. else `CHATSTACK_SHARED/seed`;
//! 3. else `../shared/seed` beside the crate.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The crate's root.
pub(crate) fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/REL`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures").join(rel)
}

/// `CHATSTACK_SHARED`, or `../shared` beside the crate (either may not exist).
pub(crate) fn shared_dir() -> PathBuf {
    std::env::var_os("CHATSTACK_SHARED")
        .map_or_else(|| manifest_dir().join("../shared"), PathBuf::from)
}

/// The article's directory (`serverless.yml` and `code/`), or `None` after printing why
/// `test` is skipped.
pub(crate) fn article_dir(test: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CHATSTACK_SEED_DIR").map(PathBuf::from) {
        assert!(
            holds_article(&dir),
            "CHATSTACK_SEED_DIR={} holds no serverless.yml and code/",
            dir.display()
        );
        return Some(std::path::absolute(&dir).unwrap_or(dir));
    }
    let dir = shared_dir().join("seed");
    if holds_article(&dir) {
        return Some(dir);
    }
    note(&format!(
        "skipped: {test} needs the article's files (../shared/seed or CHATSTACK_SEED_DIR)"
    ));
    None
}

fn holds_article(dir: &Path) -> bool {
    dir.join("serverless.yml").is_file() && dir.join("code").is_dir()
}

/// One line on the real stderr, past the test harness's capture, so it shows in a plain
/// `cargo test` run.
pub(crate) fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
