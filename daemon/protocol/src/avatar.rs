//! Profile-picture (avatar) encryption (protocol.md §5.4).
//!
//! An avatar is uploaded to the file server like an attachment; its URL travels in
//! `LokiProfile.profilePicture` and its 32-byte key, the *profile key*, in
//! `DataMessage.profileKey` (or config `q`). Two schemes exist, told apart by the URL as for
//! attachments:
//! - legacy: `iv(12) ‖ AES-256-GCM(profile key, iv, image) ‖ tag(16)`, no padding, no associated
//!   data (desktop `profileEncrypter.ts`);
//! - deterministic (`d` in the URL): [`crate::attachment::deterministic`] with the
//!   profile-picture domain; the derived key *is* the profile key.
//!
//! Desktop keeps the profile key when it merely re-uploads the same avatar and draws a new
//! random key for a new one; that policy belongs to the caller.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::CryptoRng;

use crate::attachment::deterministic::{self, Domain};
use crate::attachment::{AttachmentError, AttachmentKey, MAX_ATTACHMENT_SIZE, Scheme};
use crate::identity::Seed;

/// The profile key: 32 bytes, the AES-256-GCM key of a legacy avatar or the secretstream key of
/// a deterministic one.
pub type ProfileKey = AttachmentKey;

/// Length of the AES-GCM IV at the start of a legacy avatar.
pub const LEGACY_IV_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of a legacy avatar.
pub const LEGACY_TAG_LEN: usize = 16;
/// The shortest legacy avatar desktop decrypts: IV, at least one image byte, tag.
pub const LEGACY_MIN_LEN: usize = LEGACY_IV_LEN + 1 + LEGACY_TAG_LEN;

/// Encrypts `image` in the legacy scheme with a random IV from `rng`.
///
/// Refuses an empty image (desktop cannot decrypt it) and one above [`MAX_ATTACHMENT_SIZE`].
pub fn encrypt_legacy<R: CryptoRng + ?Sized>(
    key: &ProfileKey,
    image: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, AttachmentError> {
    let mut iv = [0u8; LEGACY_IV_LEN];
    rng.fill_bytes(&mut iv);
    encrypt_legacy_with_iv(key, iv, image)
}

/// Encrypts `image` in the legacy scheme with the given IV: the deterministic core of
/// [`encrypt_legacy`], for tests and vectors. Never reuse an IV with the same key.
pub fn encrypt_legacy_with_iv(
    key: &ProfileKey,
    iv: [u8; LEGACY_IV_LEN],
    image: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    if image.is_empty() {
        return Err(AttachmentError::EmptyImage);
    }
    if image.len() > MAX_ATTACHMENT_SIZE {
        return Err(AttachmentError::TooLarge {
            size: image.len(),
            max: MAX_ATTACHMENT_SIZE,
        });
    }
    let mut blob = Vec::with_capacity(LEGACY_IV_LEN + image.len() + LEGACY_TAG_LEN);
    blob.extend_from_slice(&iv);
    blob.extend_from_slice(image);
    let body = blob.get_mut(LEGACY_IV_LEN..).unwrap_or_default();
    let tag = cipher(key)
        .encrypt_inout_detached(&Nonce::from(iv), &[], body.into())
        .map_err(|_| AttachmentError::Internal {
            what: "AES-GCM encryption",
        })?;
    blob.extend_from_slice(&tag);
    Ok(blob)
}

/// Decrypts a legacy avatar. Requires at least [`LEGACY_MIN_LEN`] bytes, as desktop does.
pub fn decrypt_legacy(key: &ProfileKey, blob: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    let truncated = || AttachmentError::Truncated {
        len: blob.len(),
        min: LEGACY_MIN_LEN,
    };
    if blob.len() < LEGACY_MIN_LEN {
        return Err(truncated());
    }
    let (iv, rest) = blob
        .split_first_chunk::<LEGACY_IV_LEN>()
        .ok_or_else(truncated)?;
    let (ciphertext, tag) = rest
        .split_last_chunk::<LEGACY_TAG_LEN>()
        .ok_or_else(truncated)?;
    let mut image = ciphertext.to_vec();
    cipher(key)
        .decrypt_inout_detached(
            &Nonce::from(*iv),
            &[],
            image.as_mut_slice().into(),
            &Tag::from(*tag),
        )
        .map_err(|_| AttachmentError::AvatarAuthentication)?;
    Ok(image)
}

/// Encrypts `image` in the deterministic scheme (profile-picture domain, current key
/// derivation); returns the profile key with the blob. The URL must then carry the `d` flag.
pub fn encrypt_deterministic(
    seed: &Seed,
    image: &[u8],
) -> Result<deterministic::DeterministicEncrypted, AttachmentError> {
    deterministic::encrypt(seed, image, Domain::ProfilePicture)
}

/// Decrypts a downloaded avatar, in the scheme the URL names (a `d` in the fragment means
/// [`Scheme::Deterministic`]).
pub fn decrypt(scheme: Scheme, key: &ProfileKey, blob: &[u8]) -> Result<Vec<u8>, AttachmentError> {
    match scheme {
        Scheme::Legacy => decrypt_legacy(key, blob),
        Scheme::Deterministic => deterministic::decrypt(key, blob),
    }
}

/// AES-256-GCM under the profile key.
fn cipher(key: &ProfileKey) -> Aes256Gcm {
    Aes256Gcm::new(key.as_bytes().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_kind::{ErrorKind, HasKind};
    use crate::test_rng::TestRng;

    #[test]
    fn legacy_round_trip_and_layout() {
        let mut rng = TestRng::new(4);
        let key = ProfileKey::generate(&mut rng);
        for len in [1usize, 15, 16, 17, 1000] {
            let image: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let blob = encrypt_legacy(&key, &image, &mut rng).unwrap();
            assert_eq!(blob.len(), LEGACY_IV_LEN + len + LEGACY_TAG_LEN);
            assert_eq!(decrypt(Scheme::Legacy, &key, &blob).unwrap(), image);
        }
    }

    #[test]
    fn legacy_rejects_tampering_wrong_key_and_short_blobs() {
        let mut rng = TestRng::new(5);
        let key = ProfileKey::generate(&mut rng);
        let blob = encrypt_legacy(&key, b"\x89PNG image", &mut rng).unwrap();
        for byte in 0..blob.len() {
            let mut bad = blob.clone();
            bad[byte] ^= 0x80;
            let err = decrypt_legacy(&key, &bad).unwrap_err();
            assert_eq!(err, AttachmentError::AvatarAuthentication);
            assert_eq!(err.kind(), ErrorKind::BadSignature);
        }
        let other = ProfileKey::generate(&mut rng);
        assert_eq!(
            decrypt_legacy(&other, &blob),
            Err(AttachmentError::AvatarAuthentication)
        );
        for len in 0..LEGACY_MIN_LEN {
            assert_eq!(
                decrypt_legacy(&key, &blob[..len.min(blob.len())]),
                Err(AttachmentError::Truncated {
                    len,
                    min: LEGACY_MIN_LEN
                })
            );
        }
    }

    #[test]
    fn legacy_refuses_empty_and_oversized_images() {
        let key = ProfileKey::from_array([1; 32]);
        assert_eq!(
            encrypt_legacy_with_iv(&key, [0; 12], b""),
            Err(AttachmentError::EmptyImage)
        );
        let big = vec![0u8; MAX_ATTACHMENT_SIZE + 1];
        assert_eq!(
            encrypt_legacy_with_iv(&key, [0; 12], &big),
            Err(AttachmentError::TooLarge {
                size: MAX_ATTACHMENT_SIZE + 1,
                max: MAX_ATTACHMENT_SIZE
            })
        );
    }

    #[test]
    fn deterministic_avatar_key_is_the_profile_key() {
        let seed = Seed::from_bytes(&[9; 16]).unwrap();
        let image = b"\x89PNG not really";
        let enc = encrypt_deterministic(&seed, image).unwrap();
        assert_eq!(
            decrypt(Scheme::Deterministic, &enc.key, &enc.blob).unwrap(),
            image
        );
        // The attachment domain derives another key from the same data.
        let as_attachment = deterministic::encrypt(&seed, image, Domain::Attachment).unwrap();
        assert_ne!(as_attachment.key, enc.key);
        // The wrong scheme fails cleanly.
        assert_eq!(
            decrypt(Scheme::Legacy, &enc.key, &enc.blob),
            Err(AttachmentError::AvatarAuthentication)
        );
    }
}
