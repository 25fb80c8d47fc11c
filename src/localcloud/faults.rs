//! Fault injection. SKELETON: the api3 helper fills this in.

/// `--faults RATE --fault-seed N`.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Fraction of control-plane calls that fail.
    pub rate: f64,
    /// Seed.
    pub seed: u64,
}

/// Decides which calls fail.
#[derive(Debug)]
pub struct Injector;

impl Injector {
    /// A new injector.
    pub fn new(_cfg: &FaultConfig) -> Self {
        Injector
    }
}
