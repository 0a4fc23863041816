//! `encrypt_for_recipient` and `decrypt_incoming`: the signed sealed box every 1:1 message, sync
//! copy and wrapped config travels in (protocol.md §2.4, §2.6 steps 2–4).
//!
//! The sender signs `M || A || Y` (padded plaintext, own Ed25519 key, recipient X25519 key) and
//! seals `M || A || signature` to `Y` with libsodium's `crypto_box_seal` construction: a fresh
//! X25519 key pair, nonce `BLAKE2b-24(eph_pk || Y)`, XSalsa20-Poly1305. Signing `Y` stops a
//! recipient from re-sealing the message to someone else in the sender's name; the sealed box
//! hides who sent it from everyone but the recipient.
//!
//! The sealed box is built here from dryoc's libsodium-compatible `crypto_box_easy` rather than
//! its `crypto_box_seal`, because the ephemeral key must come from the caller's RNG (this crate
//! has none of its own) or, for [`encrypt_for_recipient_deterministic`], from a hash.

use std::fmt;

use dryoc::classic::crypto_box::{crypto_box_easy, crypto_box_open_easy, crypto_box_seed_keypair};
use dryoc::classic::crypto_generichash::{
    crypto_generichash_final, crypto_generichash_init, crypto_generichash_update,
};
use dryoc::classic::crypto_sign::crypto_sign_verify_detached;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::Identity;

/// Bytes a sealed box adds: the ephemeral public key (32) and the Poly1305 tag (16).
pub const SEAL_OVERHEAD: usize = 48;
/// Bytes the signing step adds: the sender's Ed25519 key (32) and the signature (64).
pub const SIGNED_OVERHEAD: usize = 96;
/// The shortest ciphertext [`decrypt_incoming`] accepts (an empty message).
pub const MIN_CIPHERTEXT_LEN: usize = SEAL_OVERHEAD + SIGNED_OVERHEAD;

/// The BLAKE2b key of the deterministic variant's ephemeral-seed hash.
const EPHEMERAL_HASH_KEY: &[u8] = b"SessionBoxEphemeralHashKey";

/// BLAKE2b with an `N`-byte output over the concatenation of `parts`, keyed if `key` is given
/// (libsodium `crypto_generichash`).
///
/// Callers pass constant sizes within BLAKE2b's limits (`N` ≤ 64, key ≤ 64 bytes).
pub(crate) fn blake2b<const N: usize>(key: Option<&[u8]>, parts: &[&[u8]]) -> [u8; N] {
    let mut state = crypto_generichash_init(key, N)
        .expect("callers use BLAKE2b output and key lengths of at most 64 bytes");
    for part in parts {
        crypto_generichash_update(&mut state, part);
    }
    let mut output = [0u8; N];
    crypto_generichash_final(state, &mut output)
        .expect("the output buffer has the length the state was created with");
    output
}

/// Verifies an Ed25519 signature with libsodium's `crypto_sign_verify_detached` rules: the key
/// must be a canonical encoding of a point that is not of small order, `R` must not be of small
/// order, `S` must be reduced, and the check is the cofactorless equation.
///
/// dryoc's port of that function is used: it applies exactly these rules (checked against
/// libsodium in `tests/libsodium_seal_sign.rs`) and is faster than ed25519-dalek's
/// `verify_strict` plus the canonical-key check it would need (BENCHMARKS.md).
pub(crate) fn ed25519_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    crypto_sign_verify_detached(signature, message, public).is_ok()
}

/// What [`decrypt_incoming`] recovers: the sender's plaintext and Ed25519 key.
#[derive(Clone)]
pub struct Decrypted {
    /// The plaintext `M` the sender signed (for 1:1 messages: the padded `Content`).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The sender's Ed25519 public key `A`, whose signature was verified. The sender's Account ID
    /// is its X25519 conversion ([`crate::ed25519_public_to_x25519`]).
    pub sender_ed25519: [u8; 32],
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decrypted")
            .field(
                "plaintext",
                &format_args!("[{} bytes]", self.plaintext.len()),
            )
            .field("sender_ed25519", &hex::encode(self.sender_ed25519))
            .finish()
    }
}

/// `M || A || sig(M || A || Y)`, the plaintext that goes into the sealed box.
fn sign_for_recipient(
    sender: &Identity,
    recipient_x25519: &[u8; 32],
    message: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut buffer = Zeroizing::new(Vec::with_capacity(message.len() + SIGNED_OVERHEAD));
    buffer.extend_from_slice(message);
    buffer.extend_from_slice(&sender.ed25519_public());
    buffer.extend_from_slice(recipient_x25519);
    let signature = sender.sign(&buffer);
    // Replace Y by the signature.
    buffer.truncate(message.len() + 32);
    buffer.extend_from_slice(&signature);
    buffer
}

/// Seals `plaintext` to `recipient_x25519` with the ephemeral key pair derived from `eph_seed`
/// (`crypto_box_seed_keypair`): `eph_pk || crypto_box_easy(plaintext, BLAKE2b-24(eph_pk || Y))`.
fn seal_with_seed(
    eph_seed: &[u8; 32],
    recipient_x25519: &[u8; 32],
    plaintext: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let (eph_public, eph_secret) = crypto_box_seed_keypair(eph_seed);
    let eph_secret = Zeroizing::new(eph_secret);
    let nonce: [u8; 24] = blake2b(None, &[&eph_public, recipient_x25519]);
    let mut sealed = vec![0u8; SEAL_OVERHEAD + plaintext.len()];
    let (head, body) = sealed.split_at_mut(32);
    head.copy_from_slice(&eph_public);
    crypto_box_easy(body, plaintext, &nonce, recipient_x25519, &eph_secret)
        .map_err(|_| EncryptError::InvalidRecipientKey)?;
    Ok(sealed)
}

/// libsodium `crypto_box_seal`: anonymous encryption of `plaintext` to an X25519 key, with the
/// ephemeral key drawn from `rng`. Opened by [`open_sealed_box`] (or libsodium's
/// `crypto_box_seal_open`).
pub fn seal_box<R: CryptoRng + ?Sized>(
    recipient_x25519: &[u8; 32],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, EncryptError> {
    let mut eph_seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut *eph_seed);
    seal_with_seed(&eph_seed, recipient_x25519, plaintext)
}

/// libsodium `crypto_box_seal_open`: opens a sealed box addressed to the given X25519 key pair.
pub fn open_sealed_box(
    x25519_secret: &[u8; 32],
    x25519_public: &[u8; 32],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let (eph_public, body) = sealed
        .split_first_chunk::<32>()
        .filter(|(_, body)| body.len() >= SEAL_OVERHEAD - 32)
        .ok_or(DecryptError::TooShort {
            len: sealed.len(),
            min: SEAL_OVERHEAD,
        })?;
    let nonce: [u8; 24] = blake2b(None, &[eph_public, x25519_public]);
    let mut plaintext = Zeroizing::new(vec![0u8; body.len() - (SEAL_OVERHEAD - 32)]);
    crypto_box_open_easy(&mut plaintext, body, &nonce, eph_public, x25519_secret)
        .map_err(|_| DecryptError::Open)?;
    Ok(plaintext)
}

/// Signs and seals `message` (for 1:1 messages: the padded `Content`) for the account whose
/// X25519 key is `recipient_x25519`; the ephemeral key comes from `rng`.
///
/// Output: `eph_pk(32) || MAC(16) || ciphertext`, `message.len() + 144` bytes.
pub fn encrypt_for_recipient<R: CryptoRng + ?Sized>(
    sender: &Identity,
    recipient_x25519: &[u8; 32],
    message: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, EncryptError> {
    let inner = sign_for_recipient(sender, recipient_x25519, message);
    seal_box(recipient_x25519, &inner, rng)
}

/// Like [`encrypt_for_recipient`], with the ephemeral key derived from the inputs (libsession
/// `encrypt_for_recipient_deterministic`, used to wrap configs to ourselves):
/// `eph_seed = BLAKE2b-32(seed32 || Y || M, key = "SessionBoxEphemeralHashKey")`.
///
/// The same inputs always give the same bytes, so only use it where the same message may be
/// encrypted twice without harm.
pub fn encrypt_for_recipient_deterministic(
    sender: &Identity,
    recipient_x25519: &[u8; 32],
    message: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let inner = sign_for_recipient(sender, recipient_x25519, message);
    let secret = sender.ed25519_secret_key();
    let eph_seed = Zeroizing::new(blake2b::<32>(
        Some(EPHEMERAL_HASH_KEY),
        &[&secret[..32], recipient_x25519, message],
    ));
    seal_with_seed(&eph_seed, recipient_x25519, &inner)
}

/// Opens and verifies a message sealed by [`encrypt_for_recipient`] to `recipient`'s Account ID.
pub fn decrypt_incoming(
    recipient: &Identity,
    ciphertext: &[u8],
) -> Result<Decrypted, DecryptError> {
    decrypt_incoming_with_keys(
        &recipient.x25519_secret_key(),
        &recipient.x25519_public(),
        ciphertext,
    )
}

/// [`decrypt_incoming`] for any X25519 key pair (legacy closed groups encrypt to a group key pair
/// that is not derived from an Ed25519 key).
pub fn decrypt_incoming_with_keys(
    x25519_secret: &[u8; 32],
    x25519_public: &[u8; 32],
    ciphertext: &[u8],
) -> Result<Decrypted, DecryptError> {
    if ciphertext.len() < MIN_CIPHERTEXT_LEN {
        return Err(DecryptError::TooShort {
            len: ciphertext.len(),
            min: MIN_CIPHERTEXT_LEN,
        });
    }
    let mut inner = open_sealed_box(x25519_secret, x25519_public, ciphertext)?;
    // inner = M || A || sig; its length is at least 96 (checked above).
    let message_len = inner.len() - SIGNED_OVERHEAD;
    let signature: [u8; 64] = inner
        .get(message_len + 32..)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecryptError::TooShort {
            len: ciphertext.len(),
            min: MIN_CIPHERTEXT_LEN,
        })?;
    let sender_ed25519: [u8; 32] = inner
        .get(message_len..message_len + 32)
        .and_then(|s| s.try_into().ok())
        .ok_or(DecryptError::TooShort {
            len: ciphertext.len(),
            min: MIN_CIPHERTEXT_LEN,
        })?;
    // Verify over M || A || Y, reusing the buffer: overwrite the signature with Y.
    inner.truncate(message_len + 32);
    inner.extend_from_slice(x25519_public);
    if !ed25519_verify(&sender_ed25519, &inner, &signature) {
        return Err(DecryptError::BadSignature);
    }
    inner.truncate(message_len);
    Ok(Decrypted {
        plaintext: inner,
        sender_ed25519,
    })
}

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The recipient key is of small order (no shared secret; libsodium refuses it too).
    #[error("the recipient's X25519 key is not usable (small-order point)")]
    InvalidRecipientKey,
}

impl HasKind for EncryptError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }
}

/// Why an incoming sealed message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// Too short to hold the sealed-box and signature overhead.
    #[error("encrypted message too short: {len} bytes, need at least {min}")]
    TooShort {
        /// The length received.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// The sealed box does not open with our key: not for us, or corrupted.
    #[error("cannot decrypt: not encrypted for this key, or corrupted")]
    Open,
    /// The sealed box opened but the sender's signature does not verify.
    #[error("the sender's signature does not verify")]
    BadSignature,
}

impl HasKind for DecryptError {
    fn kind(&self) -> ErrorKind {
        match self {
            DecryptError::TooShort { .. } | DecryptError::Open => ErrorKind::Malformed,
            DecryptError::BadSignature => ErrorKind::BadSignature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    fn identity(byte: u8) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[byte; 16]).unwrap())
    }

    #[test]
    fn round_trip_gives_message_and_sender() {
        let (alice, bob) = (identity(1), identity(2));
        let mut rng = TestRng::new(1);
        for len in [0, 1, 159, 160, 1000] {
            let message = vec![0x5a; len];
            let ct =
                encrypt_for_recipient(&alice, &bob.x25519_public(), &message, &mut rng).unwrap();
            assert_eq!(ct.len(), len + MIN_CIPHERTEXT_LEN);
            let decrypted = decrypt_incoming(&bob, &ct).unwrap();
            assert_eq!(&*decrypted.plaintext, &message[..]);
            assert_eq!(decrypted.sender_ed25519, alice.ed25519_public());
        }
    }

    #[test]
    fn random_encryptions_differ_deterministic_ones_do_not() {
        let (alice, bob) = (identity(1), identity(2));
        let mut rng = TestRng::new(2);
        let y = bob.x25519_public();
        assert_ne!(
            encrypt_for_recipient(&alice, &y, b"hi", &mut rng).unwrap(),
            encrypt_for_recipient(&alice, &y, b"hi", &mut rng).unwrap()
        );
        let det = encrypt_for_recipient_deterministic(&alice, &y, b"hi").unwrap();
        assert_eq!(
            det,
            encrypt_for_recipient_deterministic(&alice, &y, b"hi").unwrap()
        );
        assert_eq!(&*decrypt_incoming(&bob, &det).unwrap().plaintext, b"hi");
    }

    #[test]
    fn wrong_key_truncation_and_bit_flips_are_typed_errors() {
        let (alice, bob, carol) = (identity(1), identity(2), identity(3));
        let mut rng = TestRng::new(3);
        let ct = encrypt_for_recipient(&alice, &bob.x25519_public(), b"secret", &mut rng).unwrap();

        assert_eq!(
            decrypt_incoming(&carol, &ct).unwrap_err(),
            DecryptError::Open
        );
        for len in 0..ct.len() {
            assert!(decrypt_incoming(&bob, &ct[..len]).is_err(), "len {len}");
        }
        assert_eq!(
            decrypt_incoming(&bob, &ct[..MIN_CIPHERTEXT_LEN - 1]).unwrap_err(),
            DecryptError::TooShort {
                len: MIN_CIPHERTEXT_LEN - 1,
                min: MIN_CIPHERTEXT_LEN
            }
        );
        for i in 0..ct.len() {
            let mut flipped = ct.clone();
            flipped[i] ^= 0x01;
            assert!(decrypt_incoming(&bob, &flipped).is_err(), "byte {i}");
        }
    }

    #[test]
    fn a_message_resealed_to_someone_else_fails_the_signature() {
        // Bob opens Alice's message and re-seals it to Carol: the signature covers Bob's key.
        let (alice, bob, carol) = (identity(1), identity(2), identity(3));
        let mut rng = TestRng::new(4);
        let ct = encrypt_for_recipient(&alice, &bob.x25519_public(), b"to bob", &mut rng).unwrap();
        let inner = open_sealed_box(&bob.x25519_secret_key(), &bob.x25519_public(), &ct).unwrap();
        let forwarded = seal_box(&carol.x25519_public(), &inner, &mut rng).unwrap();
        let err = decrypt_incoming(&carol, &forwarded).unwrap_err();
        assert_eq!(err, DecryptError::BadSignature);
        assert_eq!(err.kind(), ErrorKind::BadSignature);
    }

    #[test]
    fn small_order_recipient_is_refused() {
        let alice = identity(1);
        let mut rng = TestRng::new(5);
        let err = encrypt_for_recipient(&alice, &[0u8; 32], b"x", &mut rng).unwrap_err();
        assert_eq!(err, EncryptError::InvalidRecipientKey);
    }

    #[test]
    fn debug_hides_the_plaintext() {
        let decrypted = Decrypted {
            plaintext: Zeroizing::new(b"very secret".to_vec()),
            sender_ed25519: [1; 32],
        };
        let debug = format!("{decrypted:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(debug.contains("[11 bytes]"), "{debug}");
    }
}
