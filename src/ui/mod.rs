//! Everything the user sees: logging setup, error reports, JSON and human output.
//!
//! stdout carries results (a table, or one JSON document with `--json`); stderr carries status,
//! warnings, logs and errors. Nothing else in the crate prints.

pub mod progress;
pub mod report;

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;
use crate::error::Error;

/// Routes `tracing` to stderr; `-v` shows info, `-vv` debug, `RUST_LOG` overrides.
pub fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "chatstack=info,warn",
        (false, _) => "chatstack=debug,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Prints an error with its causes, source snippet and help to stderr.
pub fn report_error(err: &Error) {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    match GraphicalReportHandler::new_themed(theme).render_report(&mut out, err) {
        Ok(()) => eprint!("{out}"),
        Err(_) => eprintln!("error: {err}"),
    }
}

/// Writes one JSON document to stdout.
pub fn print_json(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, value);
    let _ = writeln!(out);
}

/// Writes one JSON document on one line to stdout (a stream of events, as `dev --json` prints).
pub fn print_json_line(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, value);
    let _ = writeln!(out);
    let _ = out.flush();
}

/// Whether stdout is a terminal (colour, spinners).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Writes result text to stdout.
pub fn print_result(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
}

/// A warning on stderr, unless quiet.
pub fn warn(global: &GlobalArgs, message: &str) {
    if !global.quiet {
        eprintln!("warning: {message}");
    }
}

/// A note on stderr (`note: …`), unless quiet or JSON.
pub fn note(global: &GlobalArgs, message: &str) {
    if !global.quiet && !global.json {
        eprintln!("note: {message}");
    }
}

/// A cargo-style status line on stderr (`   Deployed 4 changes in 3.2s`), unless quiet or JSON.
pub fn status(global: &GlobalArgs, verb: &str, message: &str) {
    if !global.quiet && !global.json {
        eprintln!("{verb:>12} {message}");
    }
}

/// Prints a plan: one line per resource, symbol, action and the fields that change; on stdout
/// when it is the command's result (`plan`), else on stderr.
pub fn print_plan(changes: &[crate::engine::plan::Change], to_stdout: bool) {
    use crate::engine::plan::Action;
    use std::fmt::Write as _;
    let mut out = String::new();
    let width = changes.iter().map(|c| c.resource.len()).max().unwrap_or(0);
    for c in changes {
        let mark = match c.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "±",
            Action::Delete => "-",
            Action::NoChange | Action::Keep => " ",
        };
        let fields = if c.fields.is_empty() {
            String::new()
        } else {
            let named: Vec<String> = c
                .fields
                .iter()
                .map(|f| {
                    if f == "code" && !c.dependencies.is_empty() {
                        code_with_dependencies(&c.files, &c.dependencies)
                    } else if f == "code" && !c.files.is_empty() {
                        format!("code: {}", c.files.join(", "))
                    } else {
                        f.clone()
                    }
                })
                .collect();
            format!(" ({})", named.join(", "))
        };
        let _ = writeln!(out, "  {mark} {:<width$}  {}{fields}", c.resource, c.action);
    }
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    // Only removal keeps anything: deploy's summary stays as it was.
    let kept = match count(Action::Keep) {
        0 => String::new(),
        n => format!(", {n} kept"),
    };
    let _ = writeln!(
        out,
        "\n  {} to create, {} to update, {} to replace, {} to delete, {} unchanged{kept}",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete),
        count(Action::NoChange)
    );
    if to_stdout {
        print_result(&out);
    } else {
        let _ = std::io::stderr().lock().write_all(out.as_bytes());
    }
}

/// A code change whose dependencies change: `code (reg.py; requirements.txt: +six==1.16.0,
/// bcrypt 4.1.0 → 4.2.1)`, or `code (dependencies changed)` when the deployed pins are not
/// known. `requirements.txt` among the changed files is said by its pins instead.
fn code_with_dependencies(files: &[String], dependencies: &[String]) -> String {
    let requirements = crate::package::requirements::FILE;
    let others: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| *f != requirements)
        .collect();
    let deps = if dependencies == ["dependencies changed"] {
        "dependencies changed".to_owned()
    } else {
        format!("{requirements}: {}", dependencies.join(", "))
    };
    if others.is_empty() {
        format!("code ({deps})")
    } else {
        format!("code ({}; {deps})", others.join(", "))
    }
}

/// `3 change(s) in 4.2s (functions 2.1s, gateway 1.0s, …)`: what a deploy did, for its status line.
pub fn deployed_summary(deployed: &crate::engine::deploy::Deployed, total: f64) -> String {
    let phases: Vec<String> = deployed
        .timings
        .iter()
        .map(|(p, s)| format!("{p} {s:.1}s"))
        .collect();
    let changed = deployed
        .changes
        .iter()
        .filter(|c| c.action != crate::engine::plan::Action::NoChange)
        .count();
    format!("{changed} change(s) in {total:.1}s ({})", phases.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_changes_name_their_dependencies() {
        let s = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for (files, deps, want) in [
            (
                s(&["requirements.txt"]),
                s(&["+six==1.16.0", "bcrypt 4.1.0 → 4.2.1"]),
                "code (requirements.txt: +six==1.16.0, bcrypt 4.1.0 → 4.2.1)",
            ),
            (
                s(&["reg.py", "requirements.txt"]),
                s(&["-idna==3.4"]),
                "code (reg.py; requirements.txt: -idna==3.4)",
            ),
            (
                Vec::new(),
                s(&["dependencies changed"]),
                "code (dependencies changed)",
            ),
        ] {
            assert_eq!(super::code_with_dependencies(&files, &deps), want);
        }
    }
}
