//! BLAKE2b as libsodium's `crypto_generichash` computes it: any output length from 1 to 64
//! bytes, an optional key, and optionally a 16-byte personalisation string.
//!
//! Session hashes with BLAKE2b in many places (protocol.md §0 writes `BLAKE2b-N(x, key=K)`):
//! attachment nonces and keys (§5.3), config hashes, blinding, request signatures. libsodium
//! mixes the output length, key length and personalisation into the BLAKE2b parameter block, so
//! `BLAKE2b-32` is *not* a truncated `BLAKE2b-64`; this module keeps all three explicit. Like
//! libsodium, an empty key means "no key".
//!
//! The `blake2` crate only offers a runtime-keyed MAC with an output length fixed at compile time,
//! so [`Blake2b`] drives its variable-output core directly.

use blake2::Blake2bVarCore;
use blake2::digest::block_api::{Buffer, UpdateCore, VariableOutputCore};
use blake2::digest::block_buffer::LazyBuffer;
use zeroize::Zeroize;

use crate::error_kind::{ErrorKind, HasKind};

/// Largest BLAKE2b output, in bytes.
pub const MAX_OUTPUT_LEN: usize = 64;
/// Largest BLAKE2b key, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Length of a BLAKE2b personalisation string, in bytes.
pub const PERSONAL_LEN: usize = 16;
/// The BLAKE2b block size: a key is absorbed as one zero-padded block.
const BLOCK_LEN: usize = 128;

/// An incremental BLAKE2b computation with a chosen output length, optional key and optional
/// personalisation (libsodium `crypto_generichash_blake2b_init_salt_personal` with no salt).
///
/// Its `Debug` output shows only the output length: the state depends on the key.
#[derive(Clone)]
pub struct Blake2b {
    /// The compression state, already parameterised with output length, key length and
    /// personalisation.
    core: Blake2bVarCore,
    /// Input not yet compressed (BLAKE2b must hold the last block back until finalisation).
    buffer: Buffer<Blake2bVarCore>,
    /// How many bytes [`Blake2b::finalize`] returns.
    out_len: usize,
}

impl Blake2b {
    /// Starts a BLAKE2b hash of `out_len` bytes (1..=64), keyed with `key` (at most 64 bytes; an
    /// empty key is no key, as in libsodium).
    pub fn new(out_len: usize, key: Option<&[u8]>) -> Result<Blake2b, HashError> {
        Blake2b::with_personal(out_len, key, None)
    }

    /// Starts a BLAKE2b hash as [`Blake2b::new`] does, with a 16-byte personalisation string
    /// (libsodium `crypto_generichash_blake2b_salt_personal` with a null salt).
    pub fn with_personal(
        out_len: usize,
        key: Option<&[u8]>,
        personal: Option<&[u8; PERSONAL_LEN]>,
    ) -> Result<Blake2b, HashError> {
        if !(1..=MAX_OUTPUT_LEN).contains(&out_len) {
            return Err(HashError::OutputLength { got: out_len });
        }
        let key = key.unwrap_or_default();
        if key.len() > MAX_KEY_LEN {
            return Err(HashError::KeyLength { got: key.len() });
        }
        let personal: &[u8] = personal.map_or(&[], |p| p.as_slice());
        let core = Blake2bVarCore::new_with_params(&[], personal, key.len(), out_len);
        // A key is compressed as a whole first block, zero-padded.
        let buffer = if key.is_empty() {
            LazyBuffer::default()
        } else {
            let mut block = [0u8; BLOCK_LEN];
            // key.len() <= MAX_KEY_LEN < BLOCK_LEN, checked above.
            block[..key.len()].copy_from_slice(key);
            let buffer = LazyBuffer::new(&block);
            block.zeroize();
            buffer
        };
        Ok(Blake2b {
            core,
            buffer,
            out_len,
        })
    }

    /// Absorbs `data`.
    pub fn update(&mut self, data: &[u8]) -> &mut Blake2b {
        let core = &mut self.core;
        self.buffer
            .digest_blocks(data, |blocks| core.update_blocks(blocks));
        self
    }

    /// The hash: exactly the output length given at construction.
    pub fn finalize(mut self) -> Vec<u8> {
        let mut full = Default::default();
        self.core
            .finalize_variable_core(&mut self.buffer, &mut full);
        // out_len <= MAX_OUTPUT_LEN, the core's output size; checked at construction.
        let out = full[..self.out_len].to_vec();
        full.as_mut_slice().zeroize();
        out
    }

    /// The hash written into `out`, whose length must be the output length given at
    /// construction.
    pub fn finalize_into(self, out: &mut [u8]) -> Result<(), HashError> {
        if out.len() != self.out_len {
            return Err(HashError::OutputLength { got: out.len() });
        }
        let mut hash = self.finalize();
        out.copy_from_slice(&hash);
        hash.zeroize();
        Ok(())
    }
}

impl std::fmt::Debug for Blake2b {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blake2b")
            .field("out_len", &self.out_len)
            .finish_non_exhaustive()
    }
}

/// `BLAKE2b-out_len(message, key)`: libsodium's `crypto_generichash`.
pub fn blake2b(out_len: usize, key: Option<&[u8]>, message: &[u8]) -> Result<Vec<u8>, HashError> {
    let mut hasher = Blake2b::new(out_len, key)?;
    hasher.update(message);
    Ok(hasher.finalize())
}

/// `BLAKE2b-N` of the concatenation of `parts`, keyed with `key`, into a fixed-size array. `N`
/// must be 1..=64 (checked at compile time); the key at most 64 bytes.
pub fn blake2b_array<const N: usize>(
    key: Option<&[u8]>,
    parts: &[&[u8]],
) -> Result<[u8; N], HashError> {
    blake2b_personal_array(key, None, parts)
}

/// `BLAKE2b-N` of the concatenation of `parts`, keyed with `key` and personalised with
/// `personal`, into a fixed-size array. `N` must be 1..=64 (checked at compile time).
pub fn blake2b_personal_array<const N: usize>(
    key: Option<&[u8]>,
    personal: Option<&[u8; PERSONAL_LEN]>,
    parts: &[&[u8]],
) -> Result<[u8; N], HashError> {
    const {
        assert!(
            N >= 1 && N <= MAX_OUTPUT_LEN,
            "BLAKE2b output is 1..=64 bytes"
        )
    };
    let mut hasher = Blake2b::with_personal(N, key, personal)?;
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0u8; N];
    hasher.finalize_into(&mut out)?;
    Ok(out)
}

/// Why a BLAKE2b computation could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// BLAKE2b produces 1 to 64 bytes.
    #[error("BLAKE2b output length must be 1 to 64 bytes, got {got}")]
    OutputLength {
        /// The requested length.
        got: usize,
    },
    /// BLAKE2b keys are at most 64 bytes.
    #[error("BLAKE2b key must be at most 64 bytes, got {got}")]
    KeyLength {
        /// The key's length.
        got: usize,
    },
}

impl HasKind for HashError {
    fn kind(&self) -> ErrorKind {
        // Lengths are chosen by the code calling us, never by the network.
        ErrorKind::InvalidInput
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_key_lengths_outside_libsodium_limits_are_rejected() {
        assert_eq!(
            blake2b(0, None, b""),
            Err(HashError::OutputLength { got: 0 })
        );
        assert_eq!(
            blake2b(65, None, b""),
            Err(HashError::OutputLength { got: 65 })
        );
        assert_eq!(
            blake2b(32, Some(&[0u8; 65]), b""),
            Err(HashError::KeyLength { got: 65 })
        );
        assert_eq!(
            HashError::KeyLength { got: 65 }.kind(),
            ErrorKind::InvalidInput
        );
        let hasher = Blake2b::new(32, None).unwrap();
        assert_eq!(
            hasher.finalize_into(&mut [0u8; 31]),
            Err(HashError::OutputLength { got: 31 })
        );
    }

    #[test]
    fn empty_key_is_the_same_as_no_key() {
        assert_eq!(
            blake2b(32, Some(&[]), b"abc").unwrap(),
            blake2b(32, None, b"abc").unwrap()
        );
    }

    #[test]
    fn incremental_updates_equal_one_shot_across_block_boundaries() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for split in [0, 1, 127, 128, 129, 256, 999, 1000] {
            let (a, b) = data.split_at(split);
            let mut hasher = Blake2b::new(56, Some(b"key")).unwrap();
            hasher.update(a).update(b);
            assert_eq!(
                hasher.finalize(),
                blake2b(56, Some(b"key"), &data).unwrap(),
                "split at {split}"
            );
        }
        let arr: [u8; 56] = blake2b_array(Some(b"key"), &[&data[..10], &data[10..]]).unwrap();
        assert_eq!(arr.to_vec(), blake2b(56, Some(b"key"), &data).unwrap());
    }

    #[test]
    fn output_length_is_part_of_the_hash_not_a_truncation() {
        let long = blake2b(64, None, b"abc").unwrap();
        let short = blake2b(32, None, b"abc").unwrap();
        assert_ne!(long[..32], short[..]);
    }

    #[test]
    fn debug_does_not_show_state() {
        let hasher = Blake2b::new(32, Some(b"secret")).unwrap();
        assert_eq!(format!("{hasher:?}"), "Blake2b { out_len: 32, .. }");
    }
}
