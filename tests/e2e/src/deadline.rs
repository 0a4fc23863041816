//! Real time for the harness: the deadlines of waits on real processes.
//!
//! The harness waits for real daemons (a bus, a keyring, sessiond), so it reads the real
//! monotonic clock. This module is the only place in the crate that does; `clippy.toml`
//! bans `Instant::now` everywhere else, as in the daemon.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

/// A point in real time after which a wait gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now() + timeout)
    }

    /// Whether the deadline has passed.
    pub fn passed(self) -> bool {
        Instant::now() >= self.0
    }
}
