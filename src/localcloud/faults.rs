//! Fault injection (`--faults RATE --fault-seed N`): a fraction of control-plane calls fail the
//! way the real cloud fails under load, so the deployer's retries and adoption get exercised.
//!
//! Decisions are reproducible: the injector holds a seeded SplitMix64 generator behind a mutex
//! and draws exactly two numbers per call, so the n-th call to reach the injector gets the same
//! decision for the same seed and rate whatever happened before. (SplitMix64 rather than
//! `rand`'s `StdRng` because its output is fixed by its definition, not by a crate version.)
//!
//! What a fault does (applied by `api3::handle`, only after the signature and the action were
//! accepted — authentication is never faulted):
//! - [`Fault::Fail`]: the call fails *before acting* with a retryable error
//!   (`RequestLimitExceeded`, `InternalError`, or the service's "busy, retry later" code:
//!   `FailedOperation.ServiceInOperation`/`ApiInOperation` for API Gateway,
//!   `InternalError.System` for SCF);
//! - [`Fault::LoseResponse`]: the call *acts* (its change is committed) and then the connection
//!   is dropped after the response headers, before any body byte: the client sees a transport
//!   error and must find out by itself whether the action took effect.

use std::sync::Mutex;

/// `--faults RATE --fault-seed N`.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Fraction of control-plane calls that fail, 0.0–1.0.
    pub rate: f64,
    /// Seed of the decision sequence.
    pub seed: u64,
}

/// Why a faulted call fails before acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// `RequestLimitExceeded`.
    Throttled,
    /// `InternalError`.
    Internal,
    /// The service's "operation in progress, retry later" code.
    Busy,
}

/// The decision for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serve normally.
    None,
    /// Fail before acting with a retryable error.
    Fail(FailKind),
    /// Act, then drop the connection instead of answering.
    LoseResponse,
}

/// Decides which calls fail; one per local cloud.
#[derive(Debug)]
pub struct Injector {
    rate: f64,
    // std Mutex: held only to advance the generator, never across an `.await`.
    rng: Mutex<SplitMix64>,
}

impl Injector {
    /// A new injector; the same config always yields the same sequence of decisions.
    pub fn new(cfg: &FaultConfig) -> Self {
        Injector {
            rate: if cfg.rate.is_nan() {
                0.0
            } else {
                cfg.rate.clamp(0.0, 1.0)
            },
            rng: Mutex::new(SplitMix64(cfg.seed)),
        }
    }

    /// Whether any call can be faulted.
    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    /// The decision for the next call.
    pub fn decide(&self) -> Fault {
        if !self.enabled() {
            return Fault::None;
        }
        let (a, b) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            (rng.next_f64(), rng.next_f64())
        };
        if a >= self.rate {
            return Fault::None;
        }
        // Kinds: 25 % throttled, 25 % internal, 20 % busy, 30 % lost response.
        match b {
            b if b < 0.25 => Fault::Fail(FailKind::Throttled),
            b if b < 0.50 => Fault::Fail(FailKind::Internal),
            b if b < 0.70 => Fault::Fail(FailKind::Busy),
            _ => Fault::LoseResponse,
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64, seed: u64, n: usize) -> Vec<Fault> {
        let inj = Injector::new(&FaultConfig { rate, seed });
        (0..n).map(|_| inj.decide()).collect()
    }

    #[test]
    fn same_seed_same_decisions_other_seed_other_decisions() {
        assert_eq!(run(0.3, 7, 200), run(0.3, 7, 200));
        assert_ne!(run(0.3, 7, 200), run(0.3, 8, 200));
    }

    #[test]
    fn rate_is_respected_and_every_kind_occurs() {
        let d = run(0.2, 42, 10_000);
        let faulted = d.iter().filter(|f| **f != Fault::None).count();
        assert!((1700..2300).contains(&faulted), "{faulted}");
        for kind in [
            Fault::Fail(FailKind::Throttled),
            Fault::Fail(FailKind::Internal),
            Fault::Fail(FailKind::Busy),
            Fault::LoseResponse,
        ] {
            assert!(d.contains(&kind), "{kind:?} never drawn");
        }
    }

    #[test]
    fn zero_never_and_one_always() {
        assert!(run(0.0, 1, 1000).iter().all(|f| *f == Fault::None));
        assert!(run(1.0, 1, 1000).iter().all(|f| *f != Fault::None));
        assert!(!Injector::new(&FaultConfig::default()).enabled());
    }

    #[test]
    fn decisions_depend_only_on_the_call_index() {
        // A lower rate faults a subset of the calls a higher rate faults, same seed.
        let low = run(0.1, 9, 500);
        let high = run(0.5, 9, 500);
        for (l, h) in low.iter().zip(&high) {
            if *l != Fault::None {
                assert_eq!(l, h);
            }
        }
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut r = SplitMix64(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }
}
