//! Progress of a running deploy or remove: one spinner line per step on a terminal, plain
//! timestamped lines otherwise (no spinner noise in CI logs), nothing with `--json` or `-q`.

use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::graph::Observer;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Spinners on a terminal (stderr).
    Spinners,
    /// One timestamped line per event on stderr.
    Lines,
    /// Nothing.
    Hidden,
}

impl Mode {
    /// Spinners when stderr is a terminal, lines otherwise, hidden when quiet or JSON.
    pub fn detect(quiet: bool, json: bool) -> Mode {
        if quiet || json {
            Mode::Hidden
        } else if std::io::stderr().is_terminal() {
            Mode::Spinners
        } else {
            Mode::Lines
        }
    }
}

/// A [`graph::Observer`](Observer) that draws progress.
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// In plain-line mode: the last quarter of each upload reported.
    quarters: Mutex<HashMap<String, u64>>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("mode", &self.mode)
            .finish()
    }
}

impl Progress {
    /// A progress display in `mode`.
    pub fn new(mode: Mode) -> Self {
        let target = match mode {
            Mode::Spinners => ProgressDrawTarget::stderr(),
            Mode::Lines | Mode::Hidden => ProgressDrawTarget::hidden(),
        };
        Progress {
            mode,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            quarters: Mutex::new(HashMap::new()),
        }
    }

    /// Prints a line above the spinners (or as a plain line).
    pub fn println(&self, msg: &str) {
        match self.mode {
            Mode::Spinners => {
                let _ = self.multi.println(msg);
            }
            Mode::Lines => eprintln!("{} {msg}", now()),
            Mode::Hidden => {}
        }
    }
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Observer for Progress {
    fn started(&self, name: &str) {
        match self.mode {
            Mode::Spinners => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                        .expect("valid template"),
                );
                bar.set_message(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bars
                    .lock()
                    .expect("progress lock")
                    .insert(name.to_owned(), bar);
            }
            Mode::Lines => eprintln!("{} started  {name}", now()),
            Mode::Hidden => {}
        }
    }

    fn progress(&self, name: &str, done: u64, total: u64) {
        match self.mode {
            Mode::Spinners => {
                if let Some(bar) = self.bars.lock().expect("progress lock").get(name) {
                    if bar.length() != Some(total) {
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  {spinner} {msg} [{bar:24}] {bytes}/{total_bytes} \
                                 {bytes_per_sec:.dim} {elapsed:.dim}",
                            )
                            .expect("valid template")
                            .progress_chars("=> "),
                        );
                        bar.set_length(total);
                    }
                    bar.set_position(done);
                }
            }
            // One line per quarter, so a log shows an upload moving without a line per part.
            Mode::Lines => {
                let quarter = |n: u64| n.saturating_mul(4) / total.max(1);
                let before = self
                    .quarters
                    .lock()
                    .expect("progress lock")
                    .insert(name.to_owned(), quarter(done));
                if before != Some(quarter(done)) {
                    eprintln!(
                        "{} {name}: {:.1} of {:.1} MiB",
                        now(),
                        done as f64 / MIB,
                        total as f64 / MIB
                    );
                }
            }
            Mode::Hidden => {}
        }
    }

    fn finished(&self, name: &str, elapsed: Duration, error: Option<&dyn fmt::Display>) {
        let (mark, tail) = match error {
            None => ("✓", secs(elapsed)),
            Some(e) => ("✗", format!("{} ({e})", secs(elapsed))),
        };
        match self.mode {
            Mode::Spinners => {
                if let Some(bar) = self.bars.lock().expect("progress lock").remove(name) {
                    bar.set_style(ProgressStyle::with_template("  {msg}").expect("valid template"));
                    bar.finish_with_message(format!("{mark} {name} {tail}"));
                }
            }
            Mode::Lines => eprintln!("{} {mark} {name} {tail}", now()),
            Mode::Hidden => {}
        }
    }
}
