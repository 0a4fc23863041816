//! The one place the network client reads time, and the network time offset (protocol.md §3.10).
//!
//! Every sleep, timeout and "now" of this crate goes through [`Clock`], so that tests can run
//! backoff, path rebuilds and timeouts under `tokio::time::pause()` instantly and the same way
//! every time. `clippy.toml` bans `SystemTime::now`/`Instant::now` everywhere; this module is
//! the only one allowed to call them.
//!
//! **Network time.** Service nodes reject signatures and timestamps too far from their own clock
//! (406/425). Successful answers carry the node's time `t` (Unix ms); the clock keeps the last
//! [`OFFSET_SAMPLES`] offsets `local_now_at_receipt − t` and uses the floor of their mean
//! (0 before the first sample). `t` values before 2021-01-01 are ignored. As in the official
//! client, one node's `t` moves the mean by a tenth of its error: nodes are trusted for time
//! as much as they are for storage.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How many recent offsets are averaged.
pub const OFFSET_SAMPLES: usize = 10;

/// Server times before this instant (2021-01-01T00:00:00Z, in Unix ms) are ignored.
pub const NETWORK_TIME_FLOOR_MS: u64 = 1_609_459_200_000;

/// Time for the network client: monotonic time for sleeps and timeouts (tokio's, which tests
/// can pause), the local wall clock, and the network time derived from it.
///
/// Cheap to clone; clones share the offset samples.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where wall-clock time comes from.
    wall: Wall,
    /// The last [`OFFSET_SAMPLES`] offsets (local − server, in ms), oldest first.
    offsets: Mutex<VecDeque<i64>>,
}

enum Wall {
    /// The operating system's clock.
    System,
    /// A wall clock that starts at `start_ms` and moves with tokio's clock, so that a test's
    /// `tokio::time::advance` moves it too.
    Manual {
        /// Unix ms at `start`.
        start_ms: u64,
        /// The tokio instant at which the clock read `start_ms`.
        start: tokio::time::Instant,
    },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("manual", &matches!(self.inner.wall, Wall::Manual { .. }))
            .field("network_offset_ms", &self.network_offset_ms())
            .finish()
    }
}

impl Clock {
    /// The production clock: the system wall clock and tokio's timers.
    pub fn system() -> Clock {
        Clock::with_wall(Wall::System)
    }

    /// A clock whose wall time reads `start_unix_ms` now and then advances with tokio's clock
    /// (so with `tokio::time::advance` when time is paused). For tests and simulations.
    pub fn manual(start_unix_ms: u64) -> Clock {
        Clock::with_wall(Wall::Manual {
            start_ms: start_unix_ms,
            start: Clock::tokio_now(),
        })
    }

    fn with_wall(wall: Wall) -> Clock {
        Clock {
            inner: Arc::new(Inner {
                wall,
                offsets: Mutex::new(VecDeque::with_capacity(OFFSET_SAMPLES)),
            }),
        }
    }

    #[allow(clippy::disallowed_methods)] // the one place allowed to read the clock
    fn tokio_now() -> tokio::time::Instant {
        tokio::time::Instant::now()
    }

    /// Monotonic "now", for deadlines and ages (tokio's clock: paused in tests).
    pub fn instant(&self) -> tokio::time::Instant {
        Clock::tokio_now()
    }

    /// The local wall clock in Unix milliseconds (0 before 1970).
    pub fn now_ms(&self) -> u64 {
        match &self.inner.wall {
            Wall::System => {
                #[allow(clippy::disallowed_methods)] // the one place allowed to read the clock
                let now = std::time::SystemTime::now();
                now.duration_since(std::time::UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(0)
            }
            Wall::Manual { start_ms, start } => {
                let elapsed = Clock::tokio_now().saturating_duration_since(*start);
                start_ms.saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            }
        }
    }

    /// The network's time in Unix milliseconds: the local clock corrected by the offset.
    /// Use it for every signature timestamp and `timestamp` parameter (§3.10).
    pub fn network_now_ms(&self) -> u64 {
        let local = i128::from(self.now_ms());
        let corrected = local - i128::from(self.network_offset_ms());
        u64::try_from(corrected.max(0)).unwrap_or(u64::MAX)
    }

    /// The current offset (local − network) in ms: the floor of the mean of the recent
    /// samples, 0 before the first.
    pub fn network_offset_ms(&self) -> i64 {
        let offsets = self.offsets();
        if offsets.is_empty() {
            return 0;
        }
        let sum: i128 = offsets.iter().copied().map(i128::from).sum();
        let len = i128::try_from(offsets.len()).unwrap_or(i128::MAX);
        // Every sample fits in i64, so does their mean.
        i64::try_from(sum.div_euclid(len)).unwrap_or(0)
    }

    /// Records a node's time `t` (Unix ms) from a successful answer, received now. Returns
    /// whether it was used: values before 2021-01-01 (and absurd ones whose offset does not fit
    /// in 64 bits) are ignored.
    pub fn record_network_time(&self, t_ms: u64) -> bool {
        if t_ms < NETWORK_TIME_FLOOR_MS {
            return false;
        }
        let offset = i128::from(self.now_ms()) - i128::from(t_ms);
        let Ok(offset) = i64::try_from(offset) else {
            return false;
        };
        let mut offsets = self.offsets();
        if offsets.len() == OFFSET_SAMPLES {
            offsets.pop_front();
        }
        offsets.push_back(offset);
        true
    }

    fn offsets(&self) -> std::sync::MutexGuard<'_, VecDeque<i64>> {
        // The samples are plain numbers: a panic elsewhere cannot leave them inconsistent.
        self.inner
            .offsets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `duration` (tokio time).
    pub fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }

    /// Runs `future` for at most `duration` (tokio time).
    pub fn timeout<F: IntoFuture>(
        &self,
        duration: Duration,
        future: F,
    ) -> tokio::time::Timeout<F::IntoFuture> {
        tokio::time::timeout(duration, future)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_700_000_000_000;

    #[tokio::test(start_paused = true)]
    async fn manual_wall_clock_moves_with_paused_tokio_time() {
        let clock = Clock::manual(START);
        assert_eq!(clock.now_ms(), START);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(clock.now_ms(), START + 1500);
        clock.sleep(Duration::from_secs(60)).await;
        assert_eq!(clock.now_ms(), START + 61_500);
    }

    #[tokio::test(start_paused = true)]
    async fn offset_is_zero_before_the_first_sample() {
        let clock = Clock::manual(START);
        assert_eq!(clock.network_offset_ms(), 0);
        assert_eq!(clock.network_now_ms(), START);
    }

    #[tokio::test(start_paused = true)]
    async fn offset_is_the_floor_of_the_mean_of_the_last_ten_samples() {
        let clock = Clock::manual(START);
        // An outlier that the next ten samples push out of the window.
        assert!(clock.record_network_time(START - 1_000_000));
        for i in 0..10u64 {
            // Server 100..=109 ms behind us: offsets 100..=109, mean 104.5 -> 104.
            assert!(clock.record_network_time(START - 100 - i));
        }
        assert_eq!(clock.network_offset_ms(), 104);
        assert_eq!(clock.network_now_ms(), START - 104);
    }

    #[tokio::test(start_paused = true)]
    async fn a_negative_mean_offset_is_floored_towards_minus_infinity() {
        let clock = Clock::manual(START);
        // Server ahead of us by 1 and 2 ms: offsets -1, -2, mean -1.5 -> -2.
        clock.record_network_time(START + 1);
        clock.record_network_time(START + 2);
        assert_eq!(clock.network_offset_ms(), -2);
        assert_eq!(clock.network_now_ms(), START + 2);
    }

    #[tokio::test(start_paused = true)]
    async fn server_times_before_2021_are_ignored() {
        let clock = Clock::manual(START);
        assert!(!clock.record_network_time(0));
        assert!(!clock.record_network_time(NETWORK_TIME_FLOOR_MS - 1));
        assert_eq!(clock.network_offset_ms(), 0);
        assert!(clock.record_network_time(NETWORK_TIME_FLOOR_MS));
        assert_eq!(
            clock.network_offset_ms(),
            i64::try_from(START - NETWORK_TIME_FLOOR_MS).unwrap()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_server_times_do_not_overflow() {
        let clock = Clock::manual(START);
        // START - u64::MAX is about -1.8e19, below i64::MIN: the sample is ignored.
        assert!(!clock.record_network_time(u64::MAX));
        assert_eq!(clock.network_offset_ms(), 0);
        // A far-future time whose offset still fits is used, without overflow.
        assert!(clock.record_network_time(u64::MAX / 2));
        assert_eq!(clock.network_now_ms(), u64::MAX / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_fires_under_paused_time_without_waiting() {
        let clock = Clock::manual(START);
        let result = clock
            .timeout(Duration::from_secs(10), std::future::pending::<()>())
            .await;
        assert!(result.is_err());
        assert_eq!(clock.now_ms(), START + 10_000);
    }
}
