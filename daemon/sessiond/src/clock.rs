//! The one place that reads the wall clock and the OS random source.
//!
//! Everything else takes `now` and random bytes from here, so tests can reason about them and
//! clippy's `disallowed-methods` can ban direct calls elsewhere.

/// Current Unix time in milliseconds (0 if the clock is before 1970).
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Fill `buf` from the OS random source.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), getrandom::Error> {
    getrandom::fill(buf)
}
