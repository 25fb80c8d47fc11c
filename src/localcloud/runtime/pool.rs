//! The workers of one function: its [`Slot`] (the concurrency bound and the pool of its
//! current code version) and the [`Pool`] of that version (idle workers, start slots, CPU
//! share), and the rule for when a pool may grow ([`may_grow`]).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::shape::Shape;
use super::worker::{Worker, WorkerSpec};
use crate::localcloud::model::function::FunctionRecord;

/// A function: its concurrency limit and the pool of its current code version.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) permits: Arc<Semaphore>,
    pub(super) pool: Mutex<Arc<Pool>>,
}

/// What [`Pool::wait_for_return`] saw.
pub(super) enum Returned {
    /// A worker was idle already: it is the caller's (boxed: the other answers are empty).
    Idle(Box<Worker>),
    /// One was given back (to be taken on the next look, if nobody else took it).
    GivenBack,
    /// None came in time.
    TimedOut,
}

/// The workers of one code version.
#[derive(Debug)]
pub(super) struct Pool {
    /// The code version its workers run.
    pub(super) shape: Shape,
    /// The handler's `context`, but for the request id (see `env::context_template`).
    pub(super) context: serde_json::Map<String, serde_json::Value>,
    /// The functions table's revision at which `record` was last found current (and
    /// `Active`): while the table's revision is still this, an invocation reads nothing.
    pub(super) checked_at: AtomicU64,
    pub(super) spec: WorkerSpec,
    pub(super) record: FunctionRecord,
    pub(super) idle: Mutex<Vec<Worker>>,
    pub(super) retired: AtomicBool,
    /// Start slots ([`RuntimeOptions::max_starting`]).
    pub(super) starting: Arc<Semaphore>,
    /// Signalled when a worker is given back.
    pub(super) returned: tokio::sync::Notify,
    /// Its workers alive (idle or busy).
    pub(super) live: Arc<AtomicUsize>,
    /// Moving average of its invocations' CPU time over their duration (0 to 1), as f64 bits;
    /// [`UNKNOWN_SHARE`] until the first result.
    pub(super) cpu_share: AtomicU64,
    /// When it was made.
    pub(super) created: std::time::Instant,
    /// A warning for the first invocation's log: its interpreter is not the runtime's version.
    pub(super) python_warning: std::sync::Mutex<Option<String>>,
}

impl Pool {
    pub(super) fn take_idle(&self) -> Option<Worker> {
        self.idle.lock().expect("pool lock").pop()
    }

    pub(super) fn give_back(&self, w: Worker) {
        if self.retired.load(Ordering::SeqCst) {
            w.retire();
        } else {
            self.idle.lock().expect("pool lock").push(w);
            self.returned.notify_one();
        }
    }

    /// The average CPU share of its invocations; `None` while the first ones are still
    /// running, for at most [`FIRST_RESULTS_WAIT`] after the pool was made (afterwards, with no
    /// result yet, `Some(0.0)`: whatever it does, it mostly waits).
    pub(super) fn known_cpu_share(&self) -> Option<f64> {
        let bits = self.cpu_share.load(Ordering::Relaxed);
        if bits == UNKNOWN_SHARE && self.created.elapsed() < FIRST_RESULTS_WAIT {
            None
        } else if bits == UNKNOWN_SHARE {
            Some(0.0)
        } else {
            Some(f64::from_bits(bits))
        }
    }

    /// Folds one invocation's CPU time over its duration into the average.
    pub(super) fn observe_cpu(&self, cpu_ms: f64, duration_ms: f64) {
        if !(duration_ms > 0.0 && cpu_ms >= 0.0) {
            return;
        }
        let sample = (cpu_ms / duration_ms).min(1.0);
        let _ = self
            .cpu_share
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                if bits == UNKNOWN_SHARE {
                    return Some(sample.to_bits());
                }
                let old = f64::from_bits(bits);
                Some((old * 0.8 + sample * 0.2).to_bits())
            });
    }

    /// Waits at most `wait` for a worker to be given back.
    pub(super) async fn wait_for_return(&self, wait: Duration) -> Returned {
        let back = self.returned.notified();
        tokio::pin!(back);
        // Registered before looking, so a worker given back after the look wakes us.
        back.as_mut().enable();
        if let Some(w) = self.take_idle() {
            return Returned::Idle(Box::new(w));
        }
        match tokio::time::timeout(wait, back).await {
            Ok(()) => Returned::GivenBack,
            Err(_) => Returned::TimedOut,
        }
    }

    pub(super) fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        let idle = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for w in idle {
            w.retire();
        }
    }
}

/// Machine CPU use (all cores) from which the CPUs count as saturated.
const SATURATED: f64 = 0.9;
/// A function's CPU time over duration from which its invocations count as CPU-bound. Low,
/// because on saturated CPUs the measured share understates it (time waiting for a CPU is not
/// CPU time): the chat transport shows 0.1–0.2 there; a function that sleeps or waits on the
/// network shows ~0.001.
const CPU_BOUND: f64 = 0.05;

/// Whether an invocation that found every worker of its function busy may start another (the
/// start is still subject to [`RuntimeOptions::scale_delay`]), and whether a worker that just
/// finished stays in the pool (`live` then excludes it). Below twice `floor` (the CPU count)
/// workers, always. Beyond, not while the machine's CPUs are saturated and this function's
/// invocations are CPU-bound: another worker would only share the same cores, making every
/// invocation slower and costing ~10 MiB. Functions that mostly wait (I/O, sleeps) always
/// scale out to the concurrency limit, as on SCF.
/// A pool whose share is unknown (its first invocations still run) counts as CPU-bound: the
/// first burst of a new function does not start a worker per invocation before it is known.
pub(super) fn may_grow(
    live: usize,
    floor: usize,
    cpu_share: Option<f64>,
    machine_busy: f64,
) -> bool {
    live < 2 * floor || machine_busy < SATURATED || cpu_share.is_some_and(|s| s < CPU_BOUND)
}

/// [`Pool::cpu_share`] before any result (not a valid f64 share: NaN bits).
pub(super) const UNKNOWN_SHARE: u64 = u64::MAX;
/// How long a new pool's unknown CPU share counts as CPU-bound.
const FIRST_RESULTS_WAIT: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::may_grow;

    #[test]
    fn pools_stop_growing_only_for_cpu_bound_work_on_saturated_cpus() {
        // Below twice the CPU count: always.
        assert!(may_grow(3, 2, Some(1.0), 1.0));
        assert!(may_grow(3, 2, None, 1.0));
        // Beyond: CPU-bound work on saturated CPUs waits for a busy worker.
        assert!(!may_grow(4, 2, Some(0.6), 0.95));
        // So does a new function whose first invocations have not finished yet.
        assert!(!may_grow(4, 2, None, 0.95));
        // Work that mostly waits (I/O, sleeps) scales out however busy the machine is.
        assert!(may_grow(40, 2, Some(0.001), 1.0));
        // CPUs with room: CPU-bound work gets more workers too.
        assert!(may_grow(40, 2, Some(0.9), 0.5));
    }
}
