//! The devnet's one clock: every "now" a node, the seed or the file server reads comes from
//! here, so tests can move time (message expiry, file expiry, signature windows) without
//! sleeping.
//!
//! A [`Clock`] is either the system clock plus an offset, or a manual clock that only moves
//! when told. Per-node clock skew (a fault) is applied on top by the node, not here. Real
//! sleeps exist only in the transport (timeouts, the `slow` fault, periodic clean-up).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A shared, cheaply cloned source of Unix time in milliseconds.
#[derive(Clone, Debug)]
pub struct Clock {
    /// Shared by every clone, so advancing one clone advances the whole network.
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    /// Whether the system clock is the base (else the base is 0 and `offset_ms` is the time).
    system: bool,
    /// Added to the base; moved by [`Clock::advance`].
    offset_ms: AtomicI64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock {
            inner: Arc::new(ClockInner {
                system: true,
                offset_ms: AtomicI64::new(0),
            }),
        }
    }

    /// A clock that starts at `start_ms` (Unix milliseconds) and moves only with
    /// [`Clock::advance`] or [`Clock::set_ms`].
    pub fn manual(start_ms: i64) -> Clock {
        Clock {
            inner: Arc::new(ClockInner {
                system: false,
                offset_ms: AtomicI64::new(start_ms),
            }),
        }
    }

    /// A manual clock starting at the current system time (what tests usually want: realistic
    /// timestamps that only move on request).
    pub fn manual_at_system_time() -> Clock {
        Clock::manual(system_now_ms())
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        let offset = self.inner.offset_ms.load(Ordering::SeqCst);
        if self.inner.system {
            system_now_ms().saturating_add(offset)
        } else {
            offset
        }
    }

    /// Moves the clock forward by `ms` (backward if negative).
    pub fn advance(&self, ms: i64) {
        self.inner.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets a manual clock to `ms`; on a system clock, sets the offset so that `now_ms` is `ms`.
    pub fn set_ms(&self, ms: i64) {
        if self.inner.system {
            self.inner
                .offset_ms
                .store(ms.saturating_sub(system_now_ms()), Ordering::SeqCst);
        } else {
            self.inner.offset_ms.store(ms, Ordering::SeqCst);
        }
    }

    /// Whether this clock follows the system clock.
    pub fn is_system(&self) -> bool {
        self.inner.system
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

/// The only read of the wall clock in the devnet.
#[allow(clippy::disallowed_methods)]
fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::manual(1_000);
        let other = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        other.advance(500);
        assert_eq!(clock.now_ms(), 1_500);
        clock.set_ms(7);
        assert_eq!(other.now_ms(), 7);
        assert!(!clock.is_system());
    }

    #[test]
    fn system_clock_can_be_offset() {
        let clock = Clock::system();
        let before = clock.now_ms();
        clock.advance(3_600_000);
        assert!(clock.now_ms() >= before + 3_600_000);
    }
}
