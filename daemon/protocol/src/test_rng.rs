//! A deterministic RNG for tests, so that "random" test cases are the same on every run.
//!
//! SplitMix64: not cryptographically secure, which is fine for tests; it only implements
//! `TryCryptoRng` so that it can be handed to functions asking for a `CryptoRng`. The unit tests
//! use it as `crate::test_rng`; the integration tests include this file from `tests/common`
//! (`#[path]`), which adds the draws they need (arrays, byte strings, identities).

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

/// SplitMix64 over a 64-bit state.
pub(crate) struct TestRng(u64);

impl TestRng {
    /// A generator whose output is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }

    /// A value in `0..bound` (slightly biased; fine for tests).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}
