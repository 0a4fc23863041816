//! Encryption of files sent through the file server: message attachments (protocol.md §5.2,
//! §5.3), and the shared pieces avatars use too (§5.4).
//!
//! Two schemes exist and a receiver must read both:
//! - [`legacy`]: what desktop sends by default. A random 64-byte key (AES-256 key ‖ HMAC key),
//!   zero-padded plaintext, AES-256-CBC, HMAC-SHA256, and a SHA-256 digest of the whole blob that
//!   the `AttachmentPointer` carries.
//! - [`deterministic`]: libsession's `attachment::encrypt`, signalled by the `d` fragment in the
//!   file URL. The key and stream header are derived from the uploader's seed and the data, so
//!   the same upload yields the same blob (and the file server de-duplicates it); the blob is a
//!   libsodium secretstream. The receiver needs only the 32-byte key.
//!
//! [`decrypt_pointer`] is the receiving side as desktop does it: the scheme comes from the URL,
//! and the pointer's `size` (the unpadded length) is mandatory for both schemes.
//!
//! Everything here works on byte slices. Decryption never allocates more than the input's
//! length plus a small constant, so the bound on what is downloaded is the bound on memory.

use std::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error_kind::{ErrorKind, HasKind};

pub mod deterministic;
pub mod legacy;

/// The largest attachment accepted for upload: desktop's `MAX_ATTACHMENT_FILESIZE_BYTES`,
/// 10 000 000 bytes (decimal megabytes, not MiB; protocol.md §5.1).
///
/// Desktop applies it to the file the user picks (the plaintext), and its legacy padding never
/// pads a file at or under this size beyond it. [`legacy::encrypt`] enforces it on the
/// plaintext. [`deterministic::encrypt`] enforces libsession's own, slightly larger limit
/// ([`deterministic::MAX_REGULAR_SIZE`]), whose encrypted size is what libsession considers the
/// largest upload an onion request can carry.
pub const MAX_ATTACHMENT_SIZE: usize = 10_000_000;

/// A 32-byte symmetric file key: the key of a deterministic attachment (§5.3) and the profile
/// key of an avatar (§5.4, both schemes).
///
/// Zeroized on drop; `Debug` does not show the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentKey(Zeroizing<[u8; AttachmentKey::LEN]>);

impl AttachmentKey {
    /// Length of the key.
    pub const LEN: usize = 32;

    /// The key from its bytes (as found in `AttachmentPointer.key`, `DataMessage.profileKey` or a
    /// config), which must be exactly 32 long.
    pub fn from_bytes(bytes: &[u8]) -> Result<AttachmentKey, AttachmentError> {
        let array: [u8; AttachmentKey::LEN] =
            bytes.try_into().map_err(|_| AttachmentError::KeyLength {
                expected: AttachmentKey::LEN,
                got: bytes.len(),
            })?;
        Ok(AttachmentKey(Zeroizing::new(array)))
    }

    /// The key from a 32-byte array.
    pub fn from_array(bytes: [u8; AttachmentKey::LEN]) -> AttachmentKey {
        AttachmentKey(Zeroizing::new(bytes))
    }

    /// A new random key (what desktop draws for a new avatar).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> AttachmentKey {
        let mut key = AttachmentKey(Zeroizing::new([0u8; AttachmentKey::LEN]));
        rng.fill_bytes(&mut key.0[..]);
        key
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; AttachmentKey::LEN] {
        &self.0
    }
}

impl fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttachmentKey([redacted])")
    }
}

/// Which encryption an attachment uses. The receiver learns it only from the file URL: a `d` in
/// the fragment means [`Scheme::Deterministic`] (desktop does not look at the key length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// §5.2: AES-CBC + HMAC with a 64-byte key and a digest.
    Legacy,
    /// §5.3: libsession's secretstream format with a 32-byte key.
    Deterministic,
}

impl Scheme {
    /// The scheme of a file URL whose fragment does (`true`) or does not (`false`) carry the `d`
    /// flag.
    pub fn from_deterministic_flag(has_d: bool) -> Scheme {
        if has_d {
            Scheme::Deterministic
        } else {
            Scheme::Legacy
        }
    }
}

/// Decrypts a downloaded attachment with the fields of its `AttachmentPointer`, as desktop does:
/// `key` must be 64 bytes (legacy) or 32 bytes (deterministic), `digest` is required for legacy
/// attachments, and `size` (the unpadded length) is required for both: the result is cut to
/// `size` bytes, and a `size` larger than what decrypts is an error.
pub fn decrypt_pointer(
    scheme: Scheme,
    key: &[u8],
    digest: Option<&[u8]>,
    size: Option<u32>,
    blob: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    match scheme {
        Scheme::Legacy => {
            let keys = legacy::LegacyKeys::from_bytes(key)?;
            legacy::decrypt(&keys, blob, digest, size)
        }
        Scheme::Deterministic => {
            let key = AttachmentKey::from_bytes(key)?;
            let data = deterministic::decrypt(&key, blob)?;
            cut_to_size(data, size)
        }
    }
}

/// Keeps the first `size` bytes of `data`, refusing a missing or zero `size` and a `size`
/// larger than `data` (desktop's rule for downloaded attachments).
pub(crate) fn cut_to_size(
    mut data: Vec<u8>,
    size: Option<u32>,
) -> Result<Vec<u8>, AttachmentError> {
    let size = match size {
        None | Some(0) => return Err(AttachmentError::SizeMissing),
        Some(size) => size,
    };
    let wanted = usize::try_from(size).unwrap_or(usize::MAX);
    if wanted > data.len() {
        return Err(AttachmentError::SizeTooLarge {
            size,
            decrypted: data.len(),
        });
    }
    data.truncate(wanted);
    Ok(data)
}

/// Why an attachment or avatar could not be encrypted or decrypted.
///
/// Variants say which check failed; none carries key or plaintext bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The file is larger than the scheme allows for upload.
    #[error("file of {size} bytes is larger than the {max}-byte upload limit")]
    TooLarge {
        /// The plaintext length.
        size: usize,
        /// The limit that applies.
        max: usize,
    },
    /// An empty avatar image: desktop cannot decrypt what that encrypts to.
    #[error("an avatar image cannot be empty")]
    EmptyImage,
    /// A key of the wrong length (legacy attachment keys are 64 bytes, the others 32).
    #[error("file key must be {expected} bytes, got {got}")]
    KeyLength {
        /// The length the scheme needs.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The encrypted file is shorter than the smallest valid one.
    #[error("encrypted file of {len} bytes is too short (at least {min} needed)")]
    Truncated {
        /// The encrypted length.
        len: usize,
        /// The least a valid file has.
        min: usize,
    },
    /// A legacy blob whose length is not IV + whole AES blocks + MAC.
    #[error("legacy attachment of {len} bytes is not IV + whole AES blocks + MAC")]
    BlockLength {
        /// The encrypted length.
        len: usize,
    },
    /// The legacy HMAC does not verify: wrong key or altered data.
    #[error("attachment MAC does not verify (wrong key or altered data)")]
    MacMismatch,
    /// The pointer carries no digest, which a legacy attachment requires.
    #[error("legacy attachment pointer carries no digest")]
    DigestMissing,
    /// The SHA-256 of the blob is not the pointer's digest.
    #[error("attachment digest does not match the pointer's")]
    DigestMismatch,
    /// The CBC plaintext's PKCS#7 padding is invalid (after the MAC verified).
    #[error("legacy attachment has invalid block padding")]
    BlockPadding,
    /// The pointer carries no size (or 0), which desktop requires.
    #[error("attachment pointer carries no size")]
    SizeMissing,
    /// The pointer's size is larger than the decrypted file.
    #[error("attachment pointer size {size} is larger than the {decrypted} bytes decrypted")]
    SizeTooLarge {
        /// The pointer's `size`.
        size: u32,
        /// What decrypted.
        decrypted: usize,
    },
    /// A deterministic blob that does not start with `S`.
    #[error("unknown attachment encryption type 0x{found:02x} (expected 0x53, 'S')")]
    UnknownFormat {
        /// The first byte found.
        found: u8,
    },
    /// A secretstream chunk does not authenticate: wrong key or altered data.
    #[error("attachment chunk {chunk} does not decrypt (wrong key or altered data)")]
    ChunkAuthentication {
        /// Index of the failing chunk, from 0.
        chunk: usize,
    },
    /// The stream ended without a final chunk.
    #[error("attachment stream ends without its final chunk")]
    MissingFinal,
    /// Data follows the chunk marked final.
    #[error("attachment stream has data after its final chunk")]
    DataAfterFinal,
    /// The deterministic padding is not `0x00… 0x01`.
    #[error("attachment stream padding is invalid")]
    StreamPadding,
    /// AES-GCM does not authenticate an avatar: wrong key or altered data.
    #[error("avatar does not decrypt (wrong key or altered data)")]
    AvatarAuthentication,
    /// A bug: a primitive failed where its inputs were checked.
    #[error("internal error: {what}")]
    Internal {
        /// What failed.
        what: &'static str,
    },
}

impl HasKind for AttachmentError {
    fn kind(&self) -> ErrorKind {
        match self {
            AttachmentError::TooLarge { .. } | AttachmentError::EmptyImage => {
                ErrorKind::InvalidInput
            }
            AttachmentError::MacMismatch
            | AttachmentError::DigestMismatch
            | AttachmentError::ChunkAuthentication { .. }
            | AttachmentError::AvatarAuthentication => ErrorKind::BadSignature,
            // Keys, digests, sizes and blobs all arrive from peers or the file server.
            AttachmentError::KeyLength { .. }
            | AttachmentError::Truncated { .. }
            | AttachmentError::BlockLength { .. }
            | AttachmentError::DigestMissing
            | AttachmentError::BlockPadding
            | AttachmentError::SizeMissing
            | AttachmentError::SizeTooLarge { .. }
            | AttachmentError::UnknownFormat { .. }
            | AttachmentError::MissingFinal
            | AttachmentError::DataAfterFinal
            | AttachmentError::StreamPadding => ErrorKind::Malformed,
            AttachmentError::Internal { .. } => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    #[test]
    fn key_of_wrong_length_is_malformed() {
        let err = AttachmentKey::from_bytes(&[0u8; 31]).unwrap_err();
        assert_eq!(
            err,
            AttachmentError::KeyLength {
                expected: 32,
                got: 31
            }
        );
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = AttachmentKey::generate(&mut TestRng::new(1));
        assert_eq!(format!("{key:?}"), "AttachmentKey([redacted])");
    }

    #[test]
    fn size_rule_requires_a_size_and_cuts_padding() {
        assert_eq!(
            cut_to_size(vec![1, 2, 3], None),
            Err(AttachmentError::SizeMissing)
        );
        assert_eq!(
            cut_to_size(vec![1, 2, 3], Some(0)),
            Err(AttachmentError::SizeMissing)
        );
        assert_eq!(
            cut_to_size(vec![1, 2, 3], Some(4)),
            Err(AttachmentError::SizeTooLarge {
                size: 4,
                decrypted: 3
            })
        );
        assert_eq!(cut_to_size(vec![1, 2, 3], Some(3)), Ok(vec![1, 2, 3]));
        assert_eq!(cut_to_size(vec![1, 2, 3], Some(2)), Ok(vec![1, 2]));
    }

    #[test]
    fn pointer_decryption_follows_the_url_flag_and_the_size() {
        let mut rng = TestRng::new(7);
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 13) as u8).collect();

        let legacy = legacy::encrypt(&data, legacy::Padding::Padded, &mut rng).unwrap();
        let size = Some(data.len() as u32);
        let got = decrypt_pointer(
            Scheme::from_deterministic_flag(false),
            legacy.keys.as_bytes(),
            Some(&legacy.digest),
            size,
            &legacy.blob,
        )
        .unwrap();
        assert_eq!(got, data);

        let seed = Seed::generate(&mut rng);
        let det = deterministic::encrypt(&seed, &data, deterministic::Domain::Attachment).unwrap();
        let got = decrypt_pointer(
            Scheme::from_deterministic_flag(true),
            det.key.as_bytes(),
            None,
            size,
            &det.blob,
        )
        .unwrap();
        assert_eq!(got, data);

        // The wrong scheme for the key fails on the key length, before touching the blob.
        assert_eq!(
            decrypt_pointer(Scheme::Legacy, det.key.as_bytes(), None, size, &det.blob),
            Err(AttachmentError::KeyLength {
                expected: 64,
                got: 32
            })
        );
        // Size is required for deterministic attachments too.
        assert_eq!(
            decrypt_pointer(
                Scheme::Deterministic,
                det.key.as_bytes(),
                None,
                None,
                &det.blob
            ),
            Err(AttachmentError::SizeMissing)
        );
    }
}
