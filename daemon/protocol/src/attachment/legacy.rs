//! Legacy attachment encryption (protocol.md §5.2), what desktop sends by default today.
//!
//! The sender draws a 64-byte key (`AttachmentPointer.key` = AES-256 key ‖ HMAC-SHA256 key) and
//! a 16-byte IV, zero-pads the file to one of a fixed series of sizes (so that the size leaks
//! only roughly), and uploads `iv ‖ AES-256-CBC/PKCS#7(padded) ‖ HMAC-SHA256(iv ‖ ct)`. The
//! SHA-256 of that blob goes into `AttachmentPointer.digest`, the unpadded length into `size`.
//! The receiver checks the MAC, then the digest, decrypts, and cuts the zero padding off using
//! `size` (§11 pitfall 24). Matches desktop's `attachmentsEncrypter.ts` and `BufferPadding.ts`.

use std::fmt;

use aes::Aes256;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AttachmentError, MAX_ATTACHMENT_SIZE, cut_to_size};

/// Length of the attachment key: AES-256 key (32) followed by HMAC-SHA256 key (32).
pub const KEYS_LEN: usize = 64;
/// Length of the CBC IV at the start of the blob.
pub const IV_LEN: usize = 16;
/// Length of the HMAC-SHA256 at the end of the blob.
pub const MAC_LEN: usize = 32;
/// Length of the SHA-256 digest in the pointer.
pub const DIGEST_LEN: usize = 32;
/// The smallest padded size: every file is padded to at least this many bytes.
pub const MIN_PADDED_SIZE: usize = 541;
/// The AES block size.
const BLOCK_LEN: usize = 16;
/// The shortest well-formed blob: IV, one AES block (PKCS#7 always adds one), MAC.
const MIN_BLOB_LEN: usize = IV_LEN + BLOCK_LEN + MAC_LEN;

type HmacSha256 = Hmac<Sha256>;

/// A legacy attachment key: AES-256 key ‖ HMAC-SHA256 key, as carried in
/// `AttachmentPointer.key`.
///
/// Zeroized on drop; `Debug` does not show the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LegacyKeys(Zeroizing<[u8; KEYS_LEN]>);

impl LegacyKeys {
    /// The keys from `AttachmentPointer.key`, which must be exactly 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<LegacyKeys, AttachmentError> {
        let array: [u8; KEYS_LEN] = bytes.try_into().map_err(|_| AttachmentError::KeyLength {
            expected: KEYS_LEN,
            got: bytes.len(),
        })?;
        Ok(LegacyKeys(Zeroizing::new(array)))
    }

    /// New random keys (desktop draws fresh keys for every attachment).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> LegacyKeys {
        let mut keys = LegacyKeys(Zeroizing::new([0u8; KEYS_LEN]));
        rng.fill_bytes(&mut keys.0[..]);
        keys
    }

    /// All 64 bytes, as they go into `AttachmentPointer.key`.
    pub fn as_bytes(&self) -> &[u8; KEYS_LEN] {
        &self.0
    }

    /// The AES-256 key: the first 32 bytes.
    fn aes_key(&self) -> &[u8; 32] {
        let (aes, _mac) = self.0.split_first_chunk::<32>().unwrap_or((&[0; 32], &[]));
        aes
    }

    /// The HMAC-SHA256 key: the last 32 bytes.
    fn mac_key(&self) -> &[u8; 32] {
        let (_aes, mac) = self.0.split_last_chunk::<32>().unwrap_or((&[], &[0; 32]));
        mac
    }
}

impl fmt::Debug for LegacyKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacyKeys([redacted])")
    }
}

/// Whether to pad the plaintext before encrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Zero-pad to [`padded_size`]: what desktop does for message attachments.
    Padded,
    /// No padding: what desktop does for link-preview images.
    Unpadded,
}

/// A legacy-encrypted attachment and what its `AttachmentPointer` needs.
pub struct LegacyEncrypted {
    /// The key, for `AttachmentPointer.key`.
    pub keys: LegacyKeys,
    /// What to upload: `iv ‖ ciphertext ‖ mac`.
    pub blob: Vec<u8>,
    /// SHA-256 of `blob`, for `AttachmentPointer.digest`.
    pub digest: [u8; DIGEST_LEN],
}

impl fmt::Debug for LegacyEncrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyEncrypted")
            .field("keys", &self.keys)
            .field("blob_len", &self.blob.len())
            .field("digest", &hex::encode(self.digest))
            .finish()
    }
}

/// The size desktop pads a `len`-byte file to: `max(541, floor(1.05^ceil(log(len)/log(1.05))))`,
/// or exactly [`MAX_ATTACHMENT_SIZE`] when that formula overshoots it for a file that fits.
///
/// Computed in `f64` as desktop computes it (JavaScript numbers); the unit tests check that no
/// size up to the limit sits close enough to a rounding boundary for the last bit to matter.
pub fn padded_size(len: usize) -> usize {
    // log(0) is -inf in JavaScript, which makes the formula 0 and the result 541; ln(1) = 0
    // likewise gives 1. Both are below the minimum, so start there.
    if len <= 1 {
        return MIN_PADDED_SIZE;
    }
    let exponent = ((len as f64).ln() / 1.05f64.ln()).ceil();
    // `as` saturates on overflow; the result is then at least `len` anyway.
    let formula = 1.05f64.powf(exponent).floor() as usize;
    let mut padded = formula.max(MIN_PADDED_SIZE);
    if padded > MAX_ATTACHMENT_SIZE && len <= MAX_ATTACHMENT_SIZE {
        padded = MAX_ATTACHMENT_SIZE;
    }
    // The formula is never below `len` in exact arithmetic; guard against float error.
    padded.max(len)
}

/// Encrypts `plaintext` with fresh random keys and IV from `rng`.
///
/// Fails with [`AttachmentError::TooLarge`] above [`MAX_ATTACHMENT_SIZE`].
pub fn encrypt<R: CryptoRng + ?Sized>(
    plaintext: &[u8],
    padding: Padding,
    rng: &mut R,
) -> Result<LegacyEncrypted, AttachmentError> {
    let keys = LegacyKeys::generate(rng);
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);
    encrypt_with(keys, iv, plaintext, padding)
}

/// Encrypts `plaintext` with the given keys and IV: the deterministic core of [`encrypt`], for
/// tests and vectors. Never reuse an IV with the same keys.
pub fn encrypt_with(
    keys: LegacyKeys,
    iv: [u8; IV_LEN],
    plaintext: &[u8],
    padding: Padding,
) -> Result<LegacyEncrypted, AttachmentError> {
    if plaintext.len() > MAX_ATTACHMENT_SIZE {
        return Err(AttachmentError::TooLarge {
            size: plaintext.len(),
            max: MAX_ATTACHMENT_SIZE,
        });
    }
    let padded_len = match padding {
        Padding::Padded => padded_size(plaintext.len()),
        Padding::Unpadded => plaintext.len(),
    };
    // PKCS#7 always adds 1..=16 bytes.
    let ct_len = (padded_len / BLOCK_LEN + 1) * BLOCK_LEN;

    // One buffer: iv ‖ padded plaintext (encrypted in place) ‖ room for PKCS#7 ‖ mac.
    let mut blob = Vec::with_capacity(IV_LEN + ct_len + MAC_LEN);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(plaintext);
    blob.resize(IV_LEN + ct_len, 0);
    let body = blob.get_mut(IV_LEN..).unwrap_or_default();
    let encrypted_len = cbc::Encryptor::<Aes256>::new(keys.aes_key().into(), &iv.into())
        .encrypt_padded::<Pkcs7>(body, padded_len)
        .map_err(|_| AttachmentError::Internal {
            what: "CBC buffer too small for padding",
        })?
        .len();
    if encrypted_len != ct_len {
        return Err(AttachmentError::Internal {
            what: "CBC ciphertext length",
        });
    }

    let mac = mac_of(&keys, &blob)?;
    blob.extend_from_slice(&mac);
    let digest = Sha256::digest(&blob).into();
    Ok(LegacyEncrypted { keys, blob, digest })
}

/// Decrypts a legacy blob with the pointer's `digest` and `size`: checks the MAC, then the
/// digest, decrypts, and keeps the first `size` bytes.
///
/// Each failing check has its own error: [`AttachmentError::MacMismatch`],
/// [`AttachmentError::DigestMissing`], [`AttachmentError::DigestMismatch`],
/// [`AttachmentError::SizeMissing`] (a missing or zero size), [`AttachmentError::SizeTooLarge`].
/// Allocates at most the blob's length.
pub fn decrypt(
    keys: &LegacyKeys,
    blob: &[u8],
    digest: Option<&[u8]>,
    size: Option<u32>,
) -> Result<Vec<u8>, AttachmentError> {
    if blob.len() < MIN_BLOB_LEN {
        return Err(AttachmentError::Truncated {
            len: blob.len(),
            min: MIN_BLOB_LEN,
        });
    }
    let (iv_ct, mac) = blob
        .split_last_chunk::<MAC_LEN>()
        .ok_or(AttachmentError::Truncated {
            len: blob.len(),
            min: MIN_BLOB_LEN,
        })?;
    let (iv, ct) = iv_ct
        .split_first_chunk::<IV_LEN>()
        .ok_or(AttachmentError::Truncated {
            len: blob.len(),
            min: MIN_BLOB_LEN,
        })?;
    if ct.len() % BLOCK_LEN != 0 {
        return Err(AttachmentError::BlockLength { len: blob.len() });
    }

    let mut verifier = <HmacSha256 as KeyInit>::new_from_slice(keys.mac_key()).map_err(|_| {
        AttachmentError::Internal {
            what: "HMAC key length",
        }
    })?;
    verifier.update(iv_ct);
    verifier
        .verify_slice(mac)
        .map_err(|_| AttachmentError::MacMismatch)?;

    let digest = digest
        .filter(|d| !d.is_empty())
        .ok_or(AttachmentError::DigestMissing)?;
    if Sha256::digest(blob).as_slice() != digest {
        return Err(AttachmentError::DigestMismatch);
    }

    let mut plaintext = vec![0u8; ct.len()];
    let len = cbc::Decryptor::<Aes256>::new(keys.aes_key().into(), iv.into())
        .decrypt_padded_b2b::<Pkcs7>(ct, &mut plaintext)
        .map_err(|_| AttachmentError::BlockPadding)?
        .len();
    plaintext.truncate(len);
    cut_to_size(plaintext, size)
}

/// HMAC-SHA256 of `iv ‖ ct` under the MAC key.
fn mac_of(keys: &LegacyKeys, iv_ct: &[u8]) -> Result<[u8; MAC_LEN], AttachmentError> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(keys.mac_key()).map_err(|_| {
        AttachmentError::Internal {
            what: "HMAC key length",
        }
    })?;
    mac.update(iv_ct);
    Ok(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::{ErrorKind, HasKind};
    use crate::test_rng::TestRng;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7) as u8).collect()
    }

    fn encrypted(len: usize) -> (LegacyEncrypted, Vec<u8>) {
        let data = sample(len);
        let enc = encrypt(&data, Padding::Padded, &mut TestRng::new(len as u64)).unwrap();
        (enc, data)
    }

    #[test]
    fn round_trip_with_and_without_padding() {
        let mut rng = TestRng::new(3);
        for len in [0usize, 1, 15, 16, 17, 540, 541, 542, 1000, 40_000] {
            let data = sample(len);
            for padding in [Padding::Padded, Padding::Unpadded] {
                let enc = encrypt(&data, padding, &mut rng).unwrap();
                let expected_padded = match padding {
                    Padding::Padded => padded_size(len),
                    Padding::Unpadded => len,
                };
                assert_eq!(
                    enc.blob.len(),
                    IV_LEN + (expected_padded / 16 + 1) * 16 + MAC_LEN
                );
                // A zero size is "missing": only non-empty files have a usable pointer.
                if len == 0 {
                    continue;
                }
                let got = decrypt(&enc.keys, &enc.blob, Some(&enc.digest), Some(len as u32));
                assert_eq!(got.unwrap(), data, "len {len} {padding:?}");
            }
        }
    }

    #[test]
    fn padding_is_kept_only_up_to_the_pointer_size() {
        let (enc, data) = encrypted(1000);
        let got = decrypt(&enc.keys, &enc.blob, Some(&enc.digest), Some(1000)).unwrap();
        assert_eq!(got, data);
        let padded = decrypt(&enc.keys, &enc.blob, Some(&enc.digest), Some(1020)).unwrap();
        assert_eq!(&padded[..1000], &data[..]);
        assert!(padded[1000..].iter().all(|&b| b == 0));
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, Some(&enc.digest), Some(1021)),
            Err(AttachmentError::SizeTooLarge {
                size: 1021,
                decrypted: 1020
            })
        );
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, Some(&enc.digest), None),
            Err(AttachmentError::SizeMissing)
        );
    }

    #[test]
    fn every_bit_flip_is_caught_by_the_mac_and_the_digest_is_checked_after_it() {
        let (enc, _) = encrypted(100);
        for byte in 0..enc.blob.len() {
            let mut bad = enc.blob.clone();
            bad[byte] ^= 1 << (byte % 8);
            let err = decrypt(&enc.keys, &bad, Some(&enc.digest), Some(100)).unwrap_err();
            assert_eq!(err, AttachmentError::MacMismatch, "byte {byte}");
            assert_eq!(err.kind(), ErrorKind::BadSignature);
        }
        // A valid blob with someone else's digest: the MAC passes, the digest does not.
        let mut other_digest = enc.digest;
        other_digest[0] ^= 1;
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, Some(&other_digest), Some(100)),
            Err(AttachmentError::DigestMismatch)
        );
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, Some(&enc.digest[..31]), Some(100)),
            Err(AttachmentError::DigestMismatch)
        );
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, None, Some(100)),
            Err(AttachmentError::DigestMissing)
        );
        assert_eq!(
            decrypt(&enc.keys, &enc.blob, Some(&[]), Some(100)),
            Err(AttachmentError::DigestMissing)
        );
    }

    #[test]
    fn wrong_keys_fail_the_mac() {
        let (enc, _) = encrypted(100);
        let other = LegacyKeys::generate(&mut TestRng::new(99));
        assert_eq!(
            decrypt(&other, &enc.blob, Some(&enc.digest), Some(100)),
            Err(AttachmentError::MacMismatch)
        );
    }

    #[test]
    fn truncated_and_misaligned_blobs_are_malformed() {
        let (enc, _) = encrypted(100);
        for len in 0..MIN_BLOB_LEN {
            let err = decrypt(&enc.keys, &enc.blob[..len], Some(&enc.digest), Some(100));
            assert_eq!(
                err,
                Err(AttachmentError::Truncated {
                    len,
                    min: MIN_BLOB_LEN
                })
            );
        }
        for cut in 1..16 {
            let len = enc.blob.len() - cut;
            let err = decrypt(&enc.keys, &enc.blob[..len], Some(&enc.digest), Some(100));
            assert_eq!(err, Err(AttachmentError::BlockLength { len }));
            assert_eq!(err.unwrap_err().kind(), ErrorKind::Malformed);
        }
        // Whole blocks removed: the MAC no longer matches.
        let short = &enc.blob[..enc.blob.len() - 16];
        assert_eq!(
            decrypt(&enc.keys, short, Some(&enc.digest), Some(100)),
            Err(AttachmentError::MacMismatch)
        );
    }

    #[test]
    fn bad_block_padding_under_a_valid_mac_is_malformed() {
        // Someone holding the keys can MAC anything; a last block that is not PKCS#7 is then
        // a format error, not a panic.
        let keys = LegacyKeys::generate(&mut TestRng::new(5));
        let iv = [9u8; IV_LEN];
        let mut block = [0u8; 16];
        block[15] = 0x11; // padding length 17 > 16
        cbc::Encryptor::<Aes256>::new(keys.aes_key().into(), &iv.into())
            .encrypt_padded::<cbc::cipher::block_padding::NoPadding>(&mut block, 16)
            .unwrap();
        let mut blob = iv.to_vec();
        blob.extend_from_slice(&block);
        let mac = mac_of(&keys, &blob).unwrap();
        blob.extend_from_slice(&mac);
        let digest: [u8; 32] = Sha256::digest(&blob).into();
        assert_eq!(
            decrypt(&keys, &blob, Some(&digest), Some(1)),
            Err(AttachmentError::BlockPadding)
        );
    }

    #[test]
    fn oversized_plaintext_is_refused_before_encrypting() {
        let keys = LegacyKeys::generate(&mut TestRng::new(1));
        let big = vec![0u8; MAX_ATTACHMENT_SIZE + 1];
        let err = encrypt_with(keys, [0; 16], &big, Padding::Padded).unwrap_err();
        assert_eq!(
            err,
            AttachmentError::TooLarge {
                size: MAX_ATTACHMENT_SIZE + 1,
                max: MAX_ATTACHMENT_SIZE
            }
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn padded_size_follows_desktop_examples_and_the_cap() {
        for (len, padded) in [
            (0, 541),
            (1, 541),
            (541, 541),
            (542, 568),
            (1000, 1020),
            (100_000, 100_155),
            (9_999_999, 10_000_000),
            (10_000_000, 10_000_000),
        ] {
            assert_eq!(padded_size(len), padded, "len {len}");
        }
        // Above the cap the formula applies again.
        assert!(padded_size(10_000_001) > 10_000_001);
        // No panic at the extremes.
        assert!(padded_size(usize::MAX) == usize::MAX);
    }

    #[test]
    fn padded_sizes_are_far_from_float_rounding_boundaries() {
        // padded_size is floor(1.05^k) for k = ceil(ln(len)/ln(1.05)). A last-bit difference
        // between our libm and JavaScript's could change the result only if some 1.05^k were
        // within a few ulps of an integer, or ln(len)/ln(1.05) within a few ulps of an integer
        // k for some len. Check both margins for every padded size from 541 to past the cap.
        let ln105 = 1.05f64.ln();
        for k in 0..400 {
            let k = f64::from(k);
            let value = 1.05f64.powf(k);
            if value < MIN_PADDED_SIZE as f64 {
                continue;
            }
            if value > MAX_ATTACHMENT_SIZE as f64 * 1.05 {
                break;
            }
            let floor = value.floor();
            let frac = value - floor;
            assert!(frac.min(1.0 - frac) / value > 1e-12, "1.05^{k} = {value}");
            // The largest len mapping to k is floor(1.05^k), whose ratio must be clearly
            // below k; floor(1.05^k) + 1 must be clearly above.
            let below = k - floor.ln() / ln105;
            let above = (floor + 1.0).ln() / ln105 - k;
            assert!(below > 1e-11, "k {k}: {below}");
            assert!(above > 1e-11, "k {k}: {above}");
        }
    }

    #[test]
    fn keys_debug_is_redacted() {
        let keys = LegacyKeys::generate(&mut TestRng::new(1));
        assert_eq!(format!("{keys:?}"), "LegacyKeys([redacted])");
        let (enc, _) = encrypted(10);
        assert!(format!("{enc:?}").contains("LegacyKeys([redacted])"));
        assert_eq!(
            LegacyKeys::from_bytes(&[0; 63]),
            Err(AttachmentError::KeyLength {
                expected: 64,
                got: 63
            })
        );
    }
}
