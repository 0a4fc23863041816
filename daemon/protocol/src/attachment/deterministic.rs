//! Deterministic attachment encryption (protocol.md §5.3): libsession's `attachment::encrypt`,
//! used by newer clients and signalled by a `d` in the file URL's fragment.
//!
//! The blob is `'S' ‖ header(24) ‖ secretstream chunks`, where the secretstream
//! (`crypto_secretstream_xchacha20poly1305`, libsodium-compatible, here from `dryoc`) carries
//! `0x00 × (p−1) ‖ 0x01 ‖ data` cut into 32 768-byte chunks, the last one tagged `FINAL`. The
//! padding amount `p` depends only on the data length and rounds the encrypted size up to a
//! coarse series ([`encrypted_size`]).
//!
//! The header and the key are not random: both come from `BLAKE2b-56` of the data keyed by the
//! uploader's seed, so identical uploads give identical blobs, which the content-addressed file
//! server stores once. Two derivations exist ([`KeyDerivation`]); the receiver cannot tell them
//! apart and needs only the 32-byte key, so [`decrypt`] reads both.

use std::fmt;

use dryoc::classic::crypto_secretstream_xchacha20poly1305 as secretstream;
use dryoc::constants::{
    CRYPTO_SECRETSTREAM_XCHACHA20POLY1305_TAG_FINAL as TAG_FINAL,
    CRYPTO_SECRETSTREAM_XCHACHA20POLY1305_TAG_MESSAGE as TAG_MESSAGE,
};
use zeroize::Zeroizing;

use super::{AttachmentError, AttachmentKey};
use crate::hash::{Blake2b, HashError, PERSONAL_LEN};
use crate::identity::Seed;

/// The first byte of every deterministic blob: `'S'`.
pub const PREFIX: u8 = b'S';
/// Length of the secretstream header following the prefix.
pub const HEADER_LEN: usize = 24;
/// Plaintext bytes per secretstream chunk (the last chunk may be shorter).
pub const CHUNK_SIZE: usize = 32_768;
/// Bytes each chunk adds: a 1-byte encrypted tag and a 16-byte Poly1305 MAC.
pub const CHUNK_OVERHEAD: usize = 17;
/// The largest file [`encrypt`] accepts: libsession's `MAX_REGULAR_SIZE`, the largest size that
/// encrypts to the same 10 223 616 bytes as a 10 000 000-byte file.
pub const MAX_REGULAR_SIZE: usize = 10_218_286;

/// A full encrypted chunk: plaintext chunk plus overhead.
const ENCRYPTED_CHUNK: usize = CHUNK_SIZE + CHUNK_OVERHEAD;
/// Prefix and header.
const PREAMBLE_LEN: usize = 1 + HEADER_LEN;
/// The shortest blob [`decrypt`] can accept: preamble and one chunk of at least one byte.
const MIN_BLOB_LEN: usize = PREAMBLE_LEN + CHUNK_OVERHEAD + 1;
/// Length of the derived nonce-and-key: header (24) then key (32).
const NONCE_KEY_LEN: usize = HEADER_LEN + AttachmentKey::LEN;

/// What is being encrypted; it separates the keys derived for the same seed and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// A message attachment.
    Attachment,
    /// A profile picture (avatar); its key is the profile key.
    ProfilePicture,
}

impl Domain {
    /// The 2025 derivation's one-byte BLAKE2b key.
    fn byte(self) -> u8 {
        match self {
            Domain::Attachment => 0x00,
            Domain::ProfilePicture => 0x01,
        }
    }

    /// The 2026 derivation's BLAKE2b personalisation.
    fn personal(self) -> &'static [u8; PERSONAL_LEN] {
        match self {
            Domain::Attachment => b"SessionAttachmnt",
            Domain::ProfilePicture => b"Session_Prof_Pic",
        }
    }
}

/// How the stream header and key are derived from the uploader's seed and the data. Only the
/// sender cares: receivers decrypt both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDerivation {
    /// libsession up to 2025: `BLAKE2b-56(key = domain byte, msg = seed32 ‖ data)`.
    Libsession2025,
    /// libsession from 2026: `BLAKE2b-56(key = seed32, personal = "SessionAttachmnt" or
    /// "Session_Prof_Pic", msg = data)`. What [`encrypt`] uses.
    Libsession2026,
}

/// The derivation current clients use.
pub const CURRENT_DERIVATION: KeyDerivation = KeyDerivation::Libsession2026;

/// A deterministically encrypted file and its key.
pub struct DeterministicEncrypted {
    /// The key the receiver needs (`AttachmentPointer.key`, or the profile key).
    pub key: AttachmentKey,
    /// What to upload.
    pub blob: Vec<u8>,
}

impl fmt::Debug for DeterministicEncrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeterministicEncrypted")
            .field("key", &self.key)
            .field("blob_len", &self.blob.len())
            .finish()
    }
}

/// The padding `p` (at least 1) libsession adds to a `len`-byte file (`encrypted_padding`).
/// `None` only when the arithmetic would overflow.
///
/// `p` rounds the encrypted size up to a multiple of `2^(⌊log2 max(enc, 131072)⌋ − 5)`, then gives
/// back the chunk overhead that the padding itself adds, so that the overhead counts as padding.
pub fn padding_len(len: usize) -> Option<usize> {
    let chunks = len.div_ceil(CHUNK_SIZE);
    let enc = len
        .checked_add(PREAMBLE_LEN + 1)?
        .checked_add(chunks.checked_mul(CHUNK_OVERHEAD)?)?;
    let floor_pow2 = 1usize << enc.max(131_072).ilog2();
    let factor = floor_pow2 >> 5;
    let padded = enc.div_ceil(factor).checked_mul(factor)?;
    let padding = padded - enc + 1;
    let mut implicit = padding / ENCRYPTED_CHUNK * CHUNK_OVERHEAD;
    let free = chunks * CHUNK_SIZE - len;
    if padding % ENCRYPTED_CHUNK > free {
        implicit += CHUNK_OVERHEAD;
    }
    padding.checked_sub(implicit).filter(|&p| p >= 1)
}

/// The exact size of the blob [`encrypt`] makes from a `len`-byte file:
/// `1 + 24 + len + p + 17 × ⌈(len + p) / 32768⌉`. `None` only on arithmetic overflow.
pub fn encrypted_size(len: usize) -> Option<usize> {
    let stream = len.checked_add(padding_len(len)?)?;
    let tags = stream.div_ceil(CHUNK_SIZE).checked_mul(CHUNK_OVERHEAD)?;
    PREAMBLE_LEN.checked_add(stream)?.checked_add(tags)
}

/// The most plaintext a blob of `blob_len` bytes can hold (libsession `decrypted_max_size`);
/// `None` when the blob is too short to be one.
pub fn decrypted_max_size(blob_len: usize) -> Option<usize> {
    let stream = blob_len.checked_sub(PREAMBLE_LEN + 1)?;
    stream.checked_sub(stream.div_ceil(ENCRYPTED_CHUNK) * CHUNK_OVERHEAD)
}

/// Encrypts `data` for upload with the current key derivation; the key is derived from the
/// uploader's `seed` (its 32-byte form, [`Seed::to_seed32`]) and the data.
///
/// Fails with [`AttachmentError::TooLarge`] above [`MAX_REGULAR_SIZE`].
pub fn encrypt(
    seed: &Seed,
    data: &[u8],
    domain: Domain,
) -> Result<DeterministicEncrypted, AttachmentError> {
    encrypt_with_derivation(seed, data, domain, CURRENT_DERIVATION)
}

/// Encrypts `data` as [`encrypt`] does, with a chosen key derivation (to reproduce what older
/// libsession versions upload).
pub fn encrypt_with_derivation(
    seed: &Seed,
    data: &[u8],
    domain: Domain,
    derivation: KeyDerivation,
) -> Result<DeterministicEncrypted, AttachmentError> {
    if data.len() > MAX_REGULAR_SIZE {
        return Err(AttachmentError::TooLarge {
            size: data.len(),
            max: MAX_REGULAR_SIZE,
        });
    }
    let padding = padding_len(data.len()).ok_or(AttachmentError::Internal {
        what: "padding of an allowed size overflows",
    })?;
    let total = encrypted_size(data.len()).ok_or(AttachmentError::Internal {
        what: "encrypted size of an allowed size overflows",
    })?;

    let nonce_key = derive_nonce_key(&seed.to_seed32(), data, domain, derivation)?;
    let (header, key) = split_nonce_key(&nonce_key);
    let key_out = AttachmentKey::from_array(*key);

    let mut blob = Vec::with_capacity(total);
    blob.push(PREFIX);
    blob.extend_from_slice(header);
    // libsession's `init_push` with a given header is exactly `init_pull` on that header.
    let mut state = secretstream::State::new();
    secretstream::crypto_secretstream_xchacha20poly1305_init_pull(&mut state, header, key);

    let stream_len = data.len() + padding;
    let mut chunk = Zeroizing::new(vec![0u8; CHUNK_SIZE.min(stream_len)]);
    let mut pos = 0;
    while pos < stream_len {
        let end = (pos + CHUNK_SIZE).min(stream_len);
        let plain = chunk
            .get_mut(..end - pos)
            .ok_or(AttachmentError::Internal {
                what: "chunk buffer",
            })?;
        fill_stream(plain, pos, padding, data)?;
        let tag = if end == stream_len {
            TAG_FINAL
        } else {
            TAG_MESSAGE
        };
        let start = blob.len();
        blob.resize(start + plain.len() + CHUNK_OVERHEAD, 0);
        let out = blob.get_mut(start..).unwrap_or_default();
        secretstream::crypto_secretstream_xchacha20poly1305_push(&mut state, out, plain, None, tag)
            .map_err(|_| AttachmentError::Internal {
                what: "secretstream push",
            })?;
        pos = end;
    }
    if blob.len() != total {
        return Err(AttachmentError::Internal {
            what: "encrypted size differs from encrypted_size()",
        });
    }
    Ok(DeterministicEncrypted { key: key_out, blob })
}

/// Decrypts a deterministic blob with its 32-byte key, whichever derivation made it.
///
/// Checks, in order: length, the `S` prefix, each chunk's authentication (a wrong key fails on
/// chunk 0), that the chunk tagged `FINAL` is the last one, and the `0x00… 0x01` padding.
/// Allocates at most the blob's length.
pub fn decrypt(key: &AttachmentKey, blob: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let truncated = || AttachmentError::Truncated {
        len: blob.len(),
        min: MIN_BLOB_LEN,
    };
    if blob.len() < MIN_BLOB_LEN {
        return Err(truncated());
    }
    let (&prefix, rest) = blob.split_first().ok_or_else(truncated)?;
    if prefix != PREFIX {
        return Err(AttachmentError::UnknownFormat { found: prefix });
    }
    let (header, mut body) = rest
        .split_first_chunk::<HEADER_LEN>()
        .ok_or_else(truncated)?;

    let mut state = secretstream::State::new();
    secretstream::crypto_secretstream_xchacha20poly1305_init_pull(
        &mut state,
        header,
        key.as_bytes(),
    );

    // Everything the chunks can decrypt to: at most the body, never more.
    let capacity = body
        .len()
        .saturating_sub(body.len().div_ceil(ENCRYPTED_CHUNK) * CHUNK_OVERHEAD);
    let mut out: Vec<u8> = Vec::with_capacity(capacity);
    let mut in_padding = true;
    let mut chunk_index = 0;
    loop {
        if body.is_empty() {
            return Err(AttachmentError::MissingFinal);
        }
        if body.len() <= CHUNK_OVERHEAD {
            // A chunk must carry at least one byte.
            return Err(truncated());
        }
        let (chunk, rest) = body.split_at(body.len().min(ENCRYPTED_CHUNK));
        let start = out.len();
        out.resize(start + chunk.len() - CHUNK_OVERHEAD, 0);
        let mut tag = 0u8;
        let plain = out.get_mut(start..).unwrap_or_default();
        secretstream::crypto_secretstream_xchacha20poly1305_pull(
            &mut state, plain, &mut tag, chunk, None,
        )
        .map_err(|_| AttachmentError::ChunkAuthentication { chunk: chunk_index })?;

        if in_padding {
            // Only ever the first bytes of `out`: nothing precedes the end of the padding.
            match plain.iter().position(|&b| b != 0) {
                None => out.truncate(start),
                Some(at) => {
                    if plain.get(at) != Some(&0x01) {
                        return Err(AttachmentError::StreamPadding);
                    }
                    out.drain(start..=start + at);
                    in_padding = false;
                }
            }
        }

        body = rest;
        chunk_index += 1;
        if tag == TAG_FINAL {
            if !body.is_empty() {
                return Err(AttachmentError::DataAfterFinal);
            }
            break;
        }
    }
    if in_padding {
        return Err(AttachmentError::StreamPadding);
    }
    Ok(out)
}

/// The 56-byte `header ‖ key` for `data`, as [`KeyDerivation`] describes.
fn derive_nonce_key(
    seed32: &[u8; 32],
    data: &[u8],
    domain: Domain,
    derivation: KeyDerivation,
) -> Result<Zeroizing<[u8; NONCE_KEY_LEN]>, AttachmentError> {
    let internal = |_: HashError| AttachmentError::Internal {
        what: "BLAKE2b parameters",
    };
    let mut hasher = match derivation {
        KeyDerivation::Libsession2025 => {
            let mut hasher =
                Blake2b::new(NONCE_KEY_LEN, Some(&[domain.byte()])).map_err(internal)?;
            hasher.update(seed32);
            hasher
        }
        KeyDerivation::Libsession2026 => {
            Blake2b::with_personal(NONCE_KEY_LEN, Some(seed32), Some(domain.personal()))
                .map_err(internal)?
        }
    };
    hasher.update(data);
    let mut nonce_key = Zeroizing::new([0u8; NONCE_KEY_LEN]);
    hasher.finalize_into(&mut nonce_key[..]).map_err(internal)?;
    Ok(nonce_key)
}

/// Splits the derived bytes into the stream header and the key.
fn split_nonce_key(nonce_key: &[u8; NONCE_KEY_LEN]) -> (&[u8; HEADER_LEN], &[u8; 32]) {
    let (header, _) = nonce_key
        .split_first_chunk::<HEADER_LEN>()
        .unwrap_or((&[0; HEADER_LEN], &[]));
    let (_, key) = nonce_key
        .split_last_chunk::<32>()
        .unwrap_or((&[], &[0; 32]));
    (header, key)
}

/// Writes bytes `pos..pos + out.len()` of the padded stream `0x00 × (p−1) ‖ 0x01 ‖ data` into
/// `out`.
fn fill_stream(
    out: &mut [u8],
    pos: usize,
    padding: usize,
    data: &[u8],
) -> Result<(), AttachmentError> {
    let end = pos + out.len();
    let bad = || AttachmentError::Internal {
        what: "stream position",
    };
    // Stream positions [pos, pad_end) are padding.
    let pad_end = end.min(padding);
    if pos < pad_end {
        out.get_mut(..pad_end - pos).ok_or_else(bad)?.fill(0);
        if pad_end == padding {
            *out.get_mut(padding - 1 - pos).ok_or_else(bad)? = 0x01;
        }
    }
    let data_start = pos.max(padding);
    if data_start < end {
        out.get_mut(data_start - pos..)
            .ok_or_else(bad)?
            .copy_from_slice(
                data.get(data_start - padding..end - padding)
                    .ok_or_else(bad)?,
            );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::{ErrorKind, HasKind};
    use crate::test_rng::TestRng;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7) as u8).collect()
    }

    fn seed() -> Seed {
        Seed::from_bytes(&[0x42; 32]).unwrap()
    }

    /// Builds a blob from an arbitrary plaintext stream, chunking as libsession does, with the
    /// chosen tags; for testing what `decrypt` accepts.
    fn raw_blob(key: &AttachmentKey, stream: &[u8], tags: &[u8]) -> Vec<u8> {
        let header = [7u8; HEADER_LEN];
        let mut state = secretstream::State::new();
        secretstream::crypto_secretstream_xchacha20poly1305_init_pull(
            &mut state,
            &header,
            key.as_bytes(),
        );
        let mut blob = vec![PREFIX];
        blob.extend_from_slice(&header);
        for (chunk, &tag) in stream.chunks(CHUNK_SIZE).zip(tags) {
            let mut out = vec![0u8; chunk.len() + CHUNK_OVERHEAD];
            secretstream::crypto_secretstream_xchacha20poly1305_push(
                &mut state, &mut out, chunk, None, tag,
            )
            .unwrap();
            blob.extend_from_slice(&out);
        }
        blob
    }

    #[test]
    fn round_trip_across_chunk_boundaries_and_both_derivations() {
        for len in [
            0, 1, 100, 4053, 4054, 32_767, 32_768, 32_769, 65_536, 100_000,
        ] {
            let data = sample(len);
            for derivation in [KeyDerivation::Libsession2025, KeyDerivation::Libsession2026] {
                for domain in [Domain::Attachment, Domain::ProfilePicture] {
                    let enc = encrypt_with_derivation(&seed(), &data, domain, derivation).unwrap();
                    assert_eq!(Some(enc.blob.len()), encrypted_size(len), "len {len}");
                    assert_eq!(decrypt(&enc.key, &enc.blob).unwrap(), data, "len {len}");
                }
            }
        }
    }

    #[test]
    fn same_seed_and_data_give_the_same_blob_and_domains_and_derivations_differ() {
        let data = sample(1000);
        let a = encrypt(&seed(), &data, Domain::Attachment).unwrap();
        let b = encrypt(&seed(), &data, Domain::Attachment).unwrap();
        assert_eq!(a.blob, b.blob);
        assert_eq!(a.key, b.key);
        let pic = encrypt(&seed(), &data, Domain::ProfilePicture).unwrap();
        assert_ne!(pic.key, a.key);
        let old = encrypt_with_derivation(
            &seed(),
            &data,
            Domain::Attachment,
            KeyDerivation::Libsession2025,
        )
        .unwrap();
        assert_ne!(old.key, a.key);
        let other_seed = Seed::from_bytes(&[0x43; 32]).unwrap();
        assert_ne!(
            encrypt(&other_seed, &data, Domain::Attachment).unwrap().key,
            a.key
        );
    }

    #[test]
    fn padding_is_at_least_one_byte_for_every_allowed_size() {
        // Exhaustive over every size encrypt() accepts: never an underflow, and the padding
        // never pushes a size past the next size's blob.
        let mut previous = 0;
        for len in 0..=MAX_REGULAR_SIZE {
            let padding = padding_len(len).unwrap();
            assert!(padding >= 1, "len {len}");
            let size = encrypted_size(len).unwrap();
            assert!(size >= previous, "len {len}");
            assert_eq!(decrypted_max_size(size).map(|m| m >= len), Some(true));
            previous = size;
        }
        assert_eq!(encrypted_size(MAX_REGULAR_SIZE), Some(10_223_616));
        assert_eq!(padding_len(usize::MAX), None);
        assert_eq!(encrypted_size(usize::MAX - 100), None);
    }

    #[test]
    fn oversized_input_is_refused() {
        let data = vec![0u8; MAX_REGULAR_SIZE + 1];
        let err = encrypt(&seed(), &data, Domain::Attachment).unwrap_err();
        assert_eq!(
            err,
            AttachmentError::TooLarge {
                size: MAX_REGULAR_SIZE + 1,
                max: MAX_REGULAR_SIZE
            }
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn wrong_key_fails_on_the_first_chunk() {
        let enc = encrypt(&seed(), &sample(50_000), Domain::Attachment).unwrap();
        let other = AttachmentKey::generate(&mut TestRng::new(1));
        let err = decrypt(&other, &enc.blob).unwrap_err();
        assert_eq!(err, AttachmentError::ChunkAuthentication { chunk: 0 });
        assert_eq!(err.kind(), ErrorKind::BadSignature);
    }

    #[test]
    fn bit_flips_anywhere_are_rejected() {
        let enc = encrypt(&seed(), &sample(40_000), Domain::Attachment).unwrap();
        let mut rng = TestRng::new(11);
        for _ in 0..200 {
            let byte = rng.below(enc.blob.len());
            let mut bad = enc.blob.clone();
            bad[byte] ^= 1 << rng.below(8);
            let err = decrypt(&enc.key, &bad).unwrap_err();
            if byte == 0 {
                assert!(matches!(err, AttachmentError::UnknownFormat { .. }));
            } else {
                assert!(
                    matches!(err, AttachmentError::ChunkAuthentication { .. }),
                    "byte {byte}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn truncations_are_typed_errors() {
        let enc = encrypt(&seed(), &sample(40_000), Domain::Attachment).unwrap();
        for len in 0..MIN_BLOB_LEN {
            assert_eq!(
                decrypt(&enc.key, &enc.blob[..len]),
                Err(AttachmentError::Truncated {
                    len,
                    min: MIN_BLOB_LEN
                })
            );
        }
        // Cut at the end of the first (non-final) chunk: the stream lacks its final chunk.
        let first_chunk_end = PREAMBLE_LEN + ENCRYPTED_CHUNK;
        assert_eq!(
            decrypt(&enc.key, &enc.blob[..first_chunk_end]),
            Err(AttachmentError::MissingFinal)
        );
        // Cut leaving a stub of at most 17 bytes after the first chunk.
        for stub in 1..=CHUNK_OVERHEAD {
            let len = first_chunk_end + stub;
            assert_eq!(
                decrypt(&enc.key, &enc.blob[..len]),
                Err(AttachmentError::Truncated {
                    len,
                    min: MIN_BLOB_LEN
                })
            );
        }
        // Any other cut makes the last chunk fail authentication.
        for cut in [1, 100, 4000] {
            let err = decrypt(&enc.key, &enc.blob[..enc.blob.len() - cut]).unwrap_err();
            assert!(matches!(err, AttachmentError::ChunkAuthentication { .. }));
        }
    }

    #[test]
    fn unknown_prefix_is_reported() {
        let mut blob = encrypt(&seed(), &sample(10), Domain::Attachment)
            .unwrap()
            .blob;
        blob[0] = b'X';
        assert_eq!(
            decrypt(&AttachmentKey::from_array([0; 32]), &blob),
            Err(AttachmentError::UnknownFormat { found: b'X' })
        );
    }

    #[test]
    fn authentic_but_malformed_streams_are_rejected() {
        let key = AttachmentKey::from_array([3; 32]);
        // Final tag before the end.
        let stream = [vec![0x01], sample(CHUNK_SIZE + 10)].concat();
        let blob = raw_blob(&key, &stream, &[TAG_FINAL, TAG_FINAL]);
        assert_eq!(decrypt(&key, &blob), Err(AttachmentError::DataAfterFinal));
        // No final tag at all.
        let blob = raw_blob(&key, &stream, &[TAG_MESSAGE, TAG_MESSAGE]);
        assert_eq!(decrypt(&key, &blob), Err(AttachmentError::MissingFinal));
        // Padding ended by something other than 0x01.
        let blob = raw_blob(&key, &[0, 0, 2, 5], &[TAG_FINAL]);
        assert_eq!(decrypt(&key, &blob), Err(AttachmentError::StreamPadding));
        // Only padding zeros, no terminator, across two chunks.
        let blob = raw_blob(&key, &vec![0u8; CHUNK_SIZE + 5], &[TAG_MESSAGE, TAG_FINAL]);
        assert_eq!(decrypt(&key, &blob), Err(AttachmentError::StreamPadding));
        for err in [
            AttachmentError::DataAfterFinal,
            AttachmentError::MissingFinal,
            AttachmentError::StreamPadding,
        ] {
            assert_eq!(err.kind(), ErrorKind::Malformed);
        }
    }

    #[test]
    fn any_amount_of_padding_decrypts() {
        // Receivers do not recompute the padding: whole zero chunks, and a terminator as the
        // last byte of a chunk, are fine.
        let key = AttachmentKey::from_array([5; 32]);
        let data = sample(1000);
        for padding in [
            1,
            2,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            2 * CHUNK_SIZE + 7,
        ] {
            let mut stream = vec![0u8; padding - 1];
            stream.push(0x01);
            stream.extend_from_slice(&data);
            let chunks = stream.len().div_ceil(CHUNK_SIZE);
            let mut tags = vec![TAG_MESSAGE; chunks - 1];
            tags.push(TAG_FINAL);
            let blob = raw_blob(&key, &stream, &tags);
            assert_eq!(decrypt(&key, &blob).unwrap(), data, "padding {padding}");
        }
        // Padding only, no data: the empty file.
        let blob = raw_blob(&key, &[0, 0, 1], &[TAG_FINAL]);
        assert_eq!(decrypt(&key, &blob).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn decryption_never_reserves_more_than_the_blob() {
        for len in [0, 1, 5000, 32_768, 70_000] {
            let enc = encrypt(&seed(), &sample(len), Domain::Attachment).unwrap();
            let out = decrypt(&enc.key, &enc.blob).unwrap();
            assert!(out.capacity() <= enc.blob.len(), "len {len}");
            assert!(decrypted_max_size(enc.blob.len()).unwrap() >= len);
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let enc = encrypt(&seed(), b"x", Domain::Attachment).unwrap();
        assert_eq!(
            format!("{enc:?}"),
            format!(
                "DeterministicEncrypted {{ key: AttachmentKey([redacted]), blob_len: {} }}",
                enc.blob.len()
            )
        );
    }
}
