//! Randomness for the devnet: nonces of encrypted replies, node keys, the `drop` fault.
//!
//! Each use gets a fresh ChaCha20 generator seeded from the OS, so there is no shared state to
//! lock and an OS failure is an error value, never a panic.

use chacha20::ChaCha20Rng;
use chacha20::rand_core::{Rng as _, SeedableRng};

use crate::error::DevnetError;

/// A generator seeded from the OS random source.
pub(crate) fn fresh() -> Result<ChaCha20Rng, DevnetError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| DevnetError::Random(e.to_string()))?;
    Ok(ChaCha20Rng::from_seed(seed))
}

/// `n` random bytes from the OS.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], DevnetError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| DevnetError::Random(e.to_string()))?;
    Ok(out)
}

/// A uniform draw in `[0, 1)` (for the `drop` fault); `None` if the OS source failed.
pub(crate) fn unit() -> Option<f64> {
    let mut rng = fresh().ok()?;
    // 53 random bits, as an f64 in [0, 1).
    Some((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}
