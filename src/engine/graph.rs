//! A dependency graph of steps, executed concurrently: each step starts the moment every step
//! it depends on has finished, under one overall deadline.
//!
//! The graph knows nothing of clouds: a step is a named async action with a phase label (for
//! the timing summary) and dependencies. Steps pass results to later steps through whatever
//! shared context their closures captured. On the first failure no further step starts; steps
//! already running are allowed to finish (so whatever they created is recorded), then every
//! error is returned. Cancellation (Ctrl-C) behaves the same way.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio_util::sync::CancellationToken;

/// Identifies a step within its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StepId(usize);

type Action<E> = Pin<Box<dyn Future<Output = Result<(), E>> + Send>>;

struct Step<E> {
    name: String,
    phase: &'static str,
    deps: Vec<StepId>,
    action: Option<Action<E>>,
}

/// What the executor reports as it goes (progress display, logs).
pub trait Observer: Send + Sync {
    /// A step started.
    fn started(&self, name: &str);
    /// A step finished; `error` is its failure, if any.
    fn finished(&self, name: &str, elapsed: Duration, error: Option<&dyn fmt::Display>);
    /// A running step has done `done` of `total` bytes (a code upload).
    fn progress(&self, _name: &str, _done: u64, _total: u64) {}
}

/// An observer that reports nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn started(&self, _: &str) {}
    fn finished(&self, _: &str, _: Duration, _: Option<&dyn fmt::Display>) {}
}

/// How a run ended, besides the step errors.
#[derive(Debug)]
pub enum Outcome<E> {
    /// Every step succeeded.
    Done,
    /// Some steps failed (named); steps depending on them did not run.
    Failed(Vec<(String, E)>),
    /// The deadline passed; running steps were abandoned.
    TimedOut {
        /// Steps that had not finished.
        unfinished: Vec<String>,
    },
    /// Cancelled; running steps finished first.
    Cancelled,
}

/// The result of running a graph.
#[derive(Debug)]
pub struct Report<E> {
    /// How it ended.
    pub outcome: Outcome<E>,
    /// Wall time of each phase, from its first step's start to its last step's end, in order of
    /// first start.
    pub phases: Vec<(&'static str, Duration)>,
}

/// A set of steps with dependencies.
pub struct Graph<E> {
    steps: Vec<Step<E>>,
}

impl<E> fmt::Debug for Graph<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.steps.iter().map(|s| (&s.name, s.phase, &s.deps)))
            .finish()
    }
}

impl<E> Default for Graph<E> {
    fn default() -> Self {
        Graph { steps: Vec::new() }
    }
}

impl<E: Send + 'static> Graph<E> {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step that runs `action` once every step in `deps` has succeeded.
    pub fn add(
        &mut self,
        name: impl Into<String>,
        phase: &'static str,
        deps: &[StepId],
        action: impl Future<Output = Result<(), E>> + Send + 'static,
    ) -> StepId {
        let id = StepId(self.steps.len());
        self.steps.push(Step {
            name: name.into(),
            phase,
            deps: deps.to_vec(),
            action: Some(Box::pin(action)),
        });
        id
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// `(name, phase, dependencies by position)` of each step, in order (for tests of the
    /// graphs deploy and remove build).
    #[cfg(test)]
    pub(crate) fn shape(&self) -> Vec<(String, &'static str, Vec<usize>)> {
        self.steps
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.phase,
                    s.deps.iter().map(|d| d.0).collect(),
                )
            })
            .collect()
    }

    /// Runs the graph to completion, failure, the deadline or cancellation.
    pub async fn run(
        mut self,
        deadline: Duration,
        cancel: &CancellationToken,
        observer: &dyn Observer,
    ) -> Report<E> {
        let n = self.steps.len();
        let mut done = vec![false; n];
        let mut started = vec![false; n];
        let mut errors: Vec<(String, E)> = Vec::new();
        let mut phases: BTreeMap<&'static str, (usize, Instant, Instant)> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        let end = tokio::time::Instant::now() + deadline;
        let mut cancelled = false;

        loop {
            if errors.is_empty() && !cancelled {
                let ready: Vec<usize> = (0..n)
                    .filter(|&i| !started[i] && self.steps[i].deps.iter().all(|d| done[d.0]))
                    .collect();
                for i in ready {
                    started[i] = true;
                    let step = &mut self.steps[i];
                    observer.started(&step.name);
                    let at = Instant::now();
                    let order = phases.len();
                    phases.entry(step.phase).or_insert((order, at, at));
                    let action = step.action.take().expect("each step runs once");
                    running.push(async move {
                        let result = action.await;
                        (i, at, result)
                    });
                }
            }
            if running.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                Some((i, at, result)) = running.next() => {
                    let step = &self.steps[i];
                    let now = Instant::now();
                    if let Some(p) = phases.get_mut(step.phase) {
                        p.2 = p.2.max(now);
                    }
                    match result {
                        Ok(()) => {
                            observer.finished(&step.name, now - at, None);
                            done[i] = true;
                        }
                        Err(e) => {
                            observer.finished(&step.name, now - at, Some(&"failed"));
                            errors.push((step.name.clone(), e));
                        }
                    }
                }
                () = cancel.cancelled(), if !cancelled => {
                    cancelled = true;
                }
                () = tokio::time::sleep_until(end) => {
                    let unfinished = (0..n)
                        .filter(|&i| started[i] && !done[i])
                        .map(|i| self.steps[i].name.clone())
                        .collect();
                    return Report { outcome: Outcome::TimedOut { unfinished }, phases: phase_list(phases) };
                }
            }
        }

        let outcome = if !errors.is_empty() {
            Outcome::Failed(errors)
        } else if cancelled && done.iter().any(|d| !d) {
            Outcome::Cancelled
        } else {
            Outcome::Done
        };
        Report {
            outcome,
            phases: phase_list(phases),
        }
    }
}

fn phase_list(
    phases: BTreeMap<&'static str, (usize, Instant, Instant)>,
) -> Vec<(&'static str, Duration)> {
    let mut list: Vec<_> = phases.into_iter().collect();
    list.sort_by_key(|(_, (order, _, _))| *order);
    list.into_iter()
        .map(|(name, (_, start, end))| (name, end - start))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    type Log = Arc<Mutex<Vec<String>>>;

    fn step(
        log: &Log,
        name: &'static str,
        ms: u64,
        fail: bool,
    ) -> impl Future<Output = Result<(), String>> + use<> {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(format!("start {name}"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            log.lock().unwrap().push(format!("end {name}"));
            if fail {
                Err(format!("{name} broke"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn independent_steps_overlap_and_dependents_wait() {
        let log = Log::default();
        let mut g = Graph::new();
        let a = g.add("a", "one", &[], step(&log, "a", 100, false));
        let b = g.add("b", "one", &[], step(&log, "b", 300, false));
        g.add("c", "two", &[a, b], step(&log, "c", 50, false));
        let t0 = tokio::time::Instant::now();
        let report = g
            .run(Duration::from_secs(10), &CancellationToken::new(), &Silent)
            .await;
        assert!(matches!(report.outcome, Outcome::Done));
        // Critical path 300 + 50, not the sum 450.
        assert_eq!(t0.elapsed(), Duration::from_millis(350));
        let log = log.lock().unwrap().clone();
        assert_eq!(&log[..2], ["start a", "start b"]);
        assert_eq!(log[4], "start c");
        assert_eq!(
            report.phases.iter().map(|p| p.0).collect::<Vec<_>>(),
            ["one", "two"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_stops_new_steps_but_lets_running_ones_finish() {
        let log = Log::default();
        let mut g = Graph::new();
        let a = g.add("a", "p", &[], step(&log, "a", 10, true));
        g.add("slow", "p", &[], step(&log, "slow", 500, false));
        g.add("after-a", "p", &[a], step(&log, "after-a", 10, false));
        let report = g
            .run(Duration::from_secs(10), &CancellationToken::new(), &Silent)
            .await;
        match report.outcome {
            Outcome::Failed(errs) => assert_eq!(errs, [("a".to_owned(), "a broke".to_owned())]),
            other => panic!("{other:?}"),
        }
        let log = log.lock().unwrap().clone();
        assert!(log.contains(&"end slow".to_owned()), "{log:?}");
        assert!(!log.contains(&"start after-a".to_owned()), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_the_run() {
        let log = Log::default();
        let mut g = Graph::new();
        g.add("forever", "p", &[], step(&log, "forever", 60_000, false));
        let report = g
            .run(Duration::from_secs(1), &CancellationToken::new(), &Silent)
            .await;
        match report.outcome {
            Outcome::TimedOut { unfinished } => assert_eq!(unfinished, ["forever"]),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_starts_nothing_new() {
        let log = Log::default();
        let cancel = CancellationToken::new();
        let mut g = Graph::new();
        let a = g.add("a", "p", &[], step(&log, "a", 100, false));
        g.add("b", "p", &[a], step(&log, "b", 100, false));
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            c2.cancel();
        });
        let report = g.run(Duration::from_secs(10), &cancel, &Silent).await;
        assert!(matches!(report.outcome, Outcome::Cancelled));
        let log = log.lock().unwrap().clone();
        assert_eq!(log, ["start a", "end a"]);
    }
}
