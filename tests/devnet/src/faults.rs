//! Faults a node can be told to have: slow answers, error answers, dropped requests and a
//! skewed clock (stop/start and swarm moves live in [`crate::network`]).
//!
//! Faults act at the node's HTTP entry, so they hit client requests, onion relays and swarm
//! replication alike, as a misbehaving real node would.

use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Parts per million in a `drop` fraction.
const PPM: f64 = 1_000_000.0;

/// The fault state of one node; all zero = healthy.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Delay added before every answer, in milliseconds.
    slow_ms: AtomicU64,
    /// Status to answer every request with (0 = none).
    fail_status: AtomicU16,
    /// Added to the network clock for this node, in milliseconds.
    skew_ms: AtomicI64,
    /// Fraction of requests closed without an answer, in parts per million.
    drop_ppm: AtomicU32,
}

/// A snapshot of a node's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultState {
    /// Delay before every answer.
    pub slow: Duration,
    /// Status every request is answered with.
    pub fail_status: Option<u16>,
    /// Clock skew in milliseconds.
    pub skew_ms: i64,
    /// Fraction of dropped requests, in parts per million.
    pub drop_ppm: u32,
}

impl Faults {
    pub fn set_slow(&self, delay: Duration) {
        self.slow_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    pub fn set_fail(&self, status: Option<u16>) {
        self.fail_status
            .store(status.unwrap_or(0), Ordering::SeqCst);
    }

    pub fn set_skew(&self, ms: i64) {
        self.skew_ms.store(ms, Ordering::SeqCst);
    }

    /// `fraction` is clamped to `[0, 1]`.
    pub fn set_drop(&self, fraction: f64) {
        let ppm = (fraction.clamp(0.0, 1.0) * PPM).round() as u32;
        self.drop_ppm.store(ppm, Ordering::SeqCst);
    }

    pub fn heal(&self) {
        self.set_slow(Duration::ZERO);
        self.set_fail(None);
        self.set_skew(0);
        self.set_drop(0.0);
    }

    pub fn skew_ms(&self) -> i64 {
        self.skew_ms.load(Ordering::SeqCst)
    }

    pub fn snapshot(&self) -> FaultState {
        let fail = self.fail_status.load(Ordering::SeqCst);
        FaultState {
            slow: Duration::from_millis(self.slow_ms.load(Ordering::SeqCst)),
            fail_status: (fail != 0).then_some(fail),
            skew_ms: self.skew_ms(),
            drop_ppm: self.drop_ppm.load(Ordering::SeqCst),
        }
    }

    /// Whether this request is to be dropped (a fresh random draw).
    pub fn should_drop(&self) -> bool {
        let ppm = self.drop_ppm.load(Ordering::SeqCst);
        if ppm == 0 {
            return false;
        }
        if ppm >= PPM as u32 {
            return true;
        }
        crate::rng::unit().is_some_and(|draw| draw * PPM < f64::from(ppm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_set_snapshot_and_heal() {
        let faults = Faults::default();
        assert_eq!(faults.snapshot(), FaultState::default());
        faults.set_slow(Duration::from_millis(20));
        faults.set_fail(Some(503));
        faults.set_skew(-5);
        faults.set_drop(2.0);
        let s = faults.snapshot();
        assert_eq!(s.fail_status, Some(503));
        assert_eq!(s.drop_ppm, 1_000_000);
        assert!(faults.should_drop());
        faults.heal();
        assert_eq!(faults.snapshot(), FaultState::default());
        assert!(!faults.should_drop());
    }
}
