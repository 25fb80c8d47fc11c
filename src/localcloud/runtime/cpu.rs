//! How busy this machine's CPUs are, from `/proc/stat` (Linux; elsewhere they never count as
//! busy). The runtime reads it when deciding whether a function's pool may grow: on saturated
//! CPUs another worker for CPU-bound work only shares the same cores, and costs memory.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the gauge samples while the runtime exists.
const EVERY: Duration = Duration::from_millis(250);

/// The share of the last sampling interval the CPUs were busy, all cores together.
#[derive(Debug, Default)]
pub(crate) struct CpuGauge {
    busy_permille: AtomicU32,
    started: AtomicBool,
}

impl CpuGauge {
    /// Starts sampling (once; the task ends with the gauge).
    pub(crate) fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let weak: Weak<CpuGauge> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = read_stat();
            loop {
                tokio::time::sleep(EVERY).await;
                let Some(gauge) = weak.upgrade() else { break };
                let now = read_stat();
                if let (Some(a), Some(b)) = (last, now) {
                    gauge
                        .busy_permille
                        .store(busy_permille(a, b), Ordering::Relaxed);
                }
                last = now;
            }
        });
    }

    /// 0.0 (idle) to 1.0 (every core busy), over the last sampling interval.
    pub(crate) fn busy(&self) -> f64 {
        f64::from(self.busy_permille.load(Ordering::Relaxed)) / 1000.0
    }
}

/// `(idle, total)` jiffies of all CPUs.
fn read_stat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if f.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = f.iter().take(8).sum();
    let idle = f[3] + f.get(4).copied().unwrap_or(0);
    Some((idle, total))
}

fn busy_permille(a: (u64, u64), b: (u64, u64)) -> u32 {
    let total = b.1.saturating_sub(a.1);
    if total == 0 {
        return 0;
    }
    let idle = b.0.saturating_sub(a.0).min(total);
    u32::try_from((total - idle) * 1000 / total).unwrap_or(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_share_from_two_samples() {
        let a = parse_stat("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(a, (850, 1000));
        let b = parse_stat("cpu  250 0 100 850 50 0 0 0 0 0\n").unwrap();
        // 250 more jiffies, 50 of them idle.
        assert_eq!(busy_permille(a, b), 800);
        assert_eq!(busy_permille(b, b), 0);
        assert!(parse_stat("nothing here").is_none());
    }
}
