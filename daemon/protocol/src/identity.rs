//! An account's seed and the key pairs derived from it (protocol.md §1.1).
//!
//! Everything an account is follows from its seed: the Ed25519 key pair that signs, the X25519
//! key pair that receives encrypted messages, and the Account ID derived from the X25519 public
//! key. This module does that derivation exactly as libsodium does
//! (`crypto_sign_seed_keypair`, `crypto_sign_ed25519_{pk,sk}_to_curve25519`), so that a phrase
//! restored here yields the same Account ID as in the official apps.

use std::fmt;

use dryoc::classic::crypto_sign::crypto_sign_detached;
use dryoc::classic::crypto_sign_ed25519::crypto_sign_ed25519_pk_to_curve25519;
use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::account_id::AccountId;
use crate::error_kind::{ErrorKind, HasKind};

/// The secret an account is made from: 16 bytes (what the official apps create; 13-word phrase)
/// or 32 bytes (25-word phrase).
///
/// The original length is kept so that the recovery phrase shown back to the user is the one they
/// wrote down. For key derivation a 16-byte seed is extended with 16 zero bytes
/// ([`Seed::to_seed32`]). Zeroized on drop; `Debug` does not show the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Seed {
    /// The seed, zero-padded to 32 bytes when it is a 16-byte seed (which is exactly its
    /// key-derivation form).
    bytes: [u8; 32],
    /// How many of `bytes` are the seed itself.
    #[zeroize(skip)]
    length: SeedLength,
}

/// The two seed lengths Session knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SeedLength {
    /// 16 bytes: official clients' accounts, 13-word phrases.
    Short,
    /// 32 bytes: the full Ed25519 seed, 25-word phrases.
    Full,
}

impl Seed {
    /// Length of the seeds the official apps create.
    pub const SHORT_LEN: usize = 16;
    /// Length of a full Ed25519 seed.
    pub const FULL_LEN: usize = 32;

    /// A seed from its bytes, which must be 16 or 32 long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Seed, IdentityError> {
        let length = match bytes.len() {
            Seed::SHORT_LEN => SeedLength::Short,
            Seed::FULL_LEN => SeedLength::Full,
            got => return Err(IdentityError::SeedLength { got }),
        };
        let mut seed = Seed {
            bytes: [0u8; 32],
            length,
        };
        seed.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(seed)
    }

    /// A new random 16-byte seed, as the official apps create for a new account.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Seed {
        let mut seed = Seed {
            bytes: [0u8; 32],
            length: SeedLength::Short,
        };
        rng.fill_bytes(&mut seed.bytes[..Seed::SHORT_LEN]);
        seed
    }

    /// The seed as given: 16 or 32 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self.length {
            SeedLength::Short => &self.bytes[..Seed::SHORT_LEN],
            SeedLength::Full => &self.bytes,
        }
    }

    /// The 32-byte Ed25519 seed: the seed itself, or a 16-byte seed followed by 16 zero bytes.
    pub fn to_seed32(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.bytes)
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

/// An account's key pairs, derived from its [`Seed`].
///
/// Holds the Ed25519 signing key and the X25519 secret key; both are zeroized on drop and
/// `Debug` shows only the Account ID.
#[derive(Clone)]
pub struct Identity {
    /// Signs (storage-server auth, message signatures, config messages).
    signing: SigningKey,
    /// Decrypts what is sent to the Account ID; `crypto_sign_ed25519_sk_to_curve25519` of the
    /// Ed25519 key (already clamped).
    x25519_secret: StaticSecret,
    /// The Montgomery form of the Ed25519 public key; the Account ID's key.
    x25519_public: [u8; 32],
}

impl Identity {
    /// Derives the key pairs from a seed (a 16-byte seed is first extended with zeros).
    pub fn from_seed(seed: &Seed) -> Identity {
        let signing = SigningKey::from_bytes(&seed.to_seed32());
        // libsodium's sk_to_curve25519: the first half of SHA-512(seed32), clamped.
        let mut scalar = Zeroizing::new(signing.to_scalar_bytes());
        clamp(&mut scalar);
        let x25519_secret = StaticSecret::from(*scalar);
        let x25519_public = signing.verifying_key().to_montgomery().to_bytes();
        Identity {
            signing,
            x25519_secret,
            x25519_public,
        }
    }

    /// The account's Account ID (`05` + X25519 public key).
    pub fn account_id(&self) -> AccountId {
        AccountId::from_x25519_public(self.x25519_public)
    }

    /// The Ed25519 public key.
    pub fn ed25519_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The X25519 public key (the Account ID without its prefix).
    pub fn x25519_public(&self) -> [u8; 32] {
        self.x25519_public
    }

    /// An Ed25519 signature of `message` (deterministic, as libsodium's `crypto_sign_detached`).
    ///
    /// Signed by dryoc's port of `crypto_sign_detached`: the same bytes as ed25519-dalek's, in a
    /// quarter less time (BENCHMARKS.md).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let secret_key = self.ed25519_secret_key();
        let mut signature = [0u8; 64];
        crypto_sign_detached(&mut signature, message, &secret_key)
            .expect("crypto_sign_detached only returns Ok (the Result is for API compatibility)");
        signature
    }

    /// The Ed25519 secret key in libsodium's 64-byte layout: seed32 followed by the public key.
    pub fn ed25519_secret_key(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.signing.to_keypair_bytes())
    }

    /// The X25519 secret key (`crypto_sign_ed25519_sk_to_curve25519`, clamped).
    pub fn x25519_secret_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.x25519_secret.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("account_id", &self.account_id())
            .finish_non_exhaustive()
    }
}

/// X25519 clamping, as libsodium applies it in `crypto_sign_ed25519_sk_to_curve25519`.
fn clamp(scalar: &mut [u8; 32]) {
    scalar[0] &= 248;
    scalar[31] &= 127;
    scalar[31] |= 64;
}

/// The X25519 public key of an Ed25519 public key (libsodium
/// `crypto_sign_ed25519_pk_to_curve25519`).
///
/// Like libsodium, rejects encodings that are not a point, points of small order and points
/// outside the prime-order subgroup.
///
/// Each call costs a scalar multiplication (the subgroup check); a receiver that sees the same
/// senders again keeps their conversions in a [`SenderKeyCache`](crate::SenderKeyCache).
pub fn ed25519_public_to_x25519(ed25519_public: &[u8; 32]) -> Result<[u8; 32], IdentityError> {
    // dryoc's port of the libsodium function, with a variable-time subgroup check (fine for a
    // public key). It also refuses non-canonical encodings (y >= p), which libsodium reads as
    // y - p < 19; no such point is of prime order, so both refuse the same keys
    // (`tests/libsodium_seal_sign.rs` tries them all).
    let mut x25519_public = [0u8; 32];
    crypto_sign_ed25519_pk_to_curve25519(&mut x25519_public, ed25519_public)
        .map_err(|_| IdentityError::InvalidEd25519Public)?;
    Ok(x25519_public)
}

/// Why a seed or key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A seed must be 16 or 32 bytes.
    #[error("a seed is 16 or 32 bytes, got {got}")]
    SeedLength {
        /// How many bytes were given.
        got: usize,
    },
    /// The bytes are not an Ed25519 public key usable for X25519.
    #[error("not a valid Ed25519 public key")]
    InvalidEd25519Public,
}

impl HasKind for IdentityError {
    fn kind(&self) -> ErrorKind {
        match self {
            IdentityError::SeedLength { .. } => ErrorKind::InvalidInput,
            // Public keys come from peers and the network.
            IdentityError::InvalidEd25519Public => ErrorKind::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use curve25519_dalek::edwards::CompressedEdwardsY;

    use super::*;
    use crate::test_rng::TestRng;

    #[test]
    fn seed_keeps_its_length_and_extends_with_zeros() {
        let short = Seed::from_bytes(&[0xab; 16]).unwrap();
        assert_eq!(short.as_bytes(), &[0xab; 16]);
        let mut expected = [0u8; 32];
        expected[..16].fill(0xab);
        assert_eq!(*short.to_seed32(), expected);

        let full = Seed::from_bytes(&[0xcd; 32]).unwrap();
        assert_eq!(full.as_bytes(), &[0xcd; 32]);
        assert_eq!(*full.to_seed32(), [0xcd; 32]);
    }

    #[test]
    fn seed_rejects_other_lengths() {
        for len in [0, 1, 15, 17, 31, 33, 64] {
            let err = Seed::from_bytes(&vec![1u8; len]).unwrap_err();
            assert_eq!(err, IdentityError::SeedLength { got: len });
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn short_seed_and_its_zero_extension_are_the_same_account() {
        let short = Seed::from_bytes(&[7u8; 16]).unwrap();
        let full = Seed::from_bytes(&*short.to_seed32()).unwrap();
        assert_eq!(
            Identity::from_seed(&short).account_id(),
            Identity::from_seed(&full).account_id()
        );
    }

    #[test]
    fn generate_makes_short_seeds_from_the_given_rng() {
        let a = Seed::generate(&mut TestRng::new(1));
        let b = Seed::generate(&mut TestRng::new(1));
        let c = Seed::generate(&mut TestRng::new(2));
        assert_eq!(a.as_bytes().len(), 16);
        assert_eq!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), c.as_bytes());
        assert_eq!(&a.to_seed32()[16..], &[0u8; 16]);
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let seed = Seed::from_bytes(&[0x42; 16]).unwrap();
        assert_eq!(format!("{seed:?}"), "Seed([redacted])");
        let identity = Identity::from_seed(&seed);
        let debug = format!("{identity:?}");
        assert!(
            debug.starts_with("Identity { account_id: AccountId(05"),
            "{debug}"
        );
        for secret in [
            hex::encode(&identity.ed25519_secret_key()[..32]),
            hex::encode(*identity.x25519_secret_key()),
        ] {
            assert!(!debug.contains(&secret));
        }
        assert_eq!(
            format!("{:?}", identity.x25519_secret_key()),
            "Zeroizing { .. }"
        );
    }

    #[test]
    fn x25519_keys_agree() {
        let identity = Identity::from_seed(&Seed::generate(&mut TestRng::new(3)));
        let from_secret =
            x25519_dalek::PublicKey::from(&StaticSecret::from(*identity.x25519_secret_key()));
        assert_eq!(from_secret.to_bytes(), identity.x25519_public());
        assert_eq!(
            ed25519_public_to_x25519(&identity.ed25519_public()).unwrap(),
            identity.x25519_public()
        );
    }

    #[test]
    fn signatures_verify() {
        let identity = Identity::from_seed(&Seed::generate(&mut TestRng::new(4)));
        let signature = identity.sign(b"message");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&identity.ed25519_public()).unwrap();
        key.verify_strict(
            b"message",
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .unwrap();
    }

    #[test]
    fn ed25519_to_x25519_rejects_non_points_and_small_order() {
        // Identity point (small order).
        let mut identity_point = [0u8; 32];
        identity_point[0] = 1;
        assert_eq!(
            ed25519_public_to_x25519(&identity_point),
            Err(IdentityError::InvalidEd25519Public)
        );
        // y = 2 is not on the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(
            ed25519_public_to_x25519(&not_a_point),
            Err(IdentityError::InvalidEd25519Public)
        );
        // A valid key plus a torsion component: on the curve, not small order, not in the
        // prime-order subgroup.
        let key = Identity::from_seed(&Seed::from_bytes(&[9u8; 16]).unwrap()).ed25519_public();
        let point = CompressedEdwardsY(key).decompress().unwrap();
        let mixed = (point + curve25519_dalek::constants::EIGHT_TORSION[1]).compress();
        assert_eq!(
            ed25519_public_to_x25519(mixed.as_bytes()),
            Err(IdentityError::InvalidEd25519Public)
        );
        assert_eq!(
            IdentityError::InvalidEd25519Public.kind(),
            ErrorKind::Malformed
        );
    }
}
