//! Community-blinded IDs and keys (blind15, blind25), the signatures made with them, and the file
//! server's `07` version-check key (protocol.md §8.3, §5.1).
//!
//! A community (SOGS) server must not learn which Account ID is behind a user, and two servers
//! must not be able to link a user's activity. So towards a community a user appears under a
//! *blinded* key: their Ed25519 key multiplied by a factor `k` that depends on the server's public
//! key (blind15), or on the server's key and the user's Account ID (blind25). This module derives
//! those keys, their 33-byte IDs (`15…`, `25…`), and the Ed25519-compatible signatures made with
//! the blinded secret scalar; and it answers "which blinded IDs does Account ID A have on server
//! S" and "does blinded ID B belong to A".
//!
//! The one subtlety (protocol.md §11 pitfall 9): from an Account ID (an X25519 key) the Ed25519
//! key is known only up to its sign, so a blind15 ID computed from an Account ID has two
//! candidates, one with the sign bit of its last byte flipped. Both must be tried when matching.
//! blind25 avoids this by always blinding the positive key `|A|`.
//!
//! Notation as in the spec: `a` is the Ed25519 private scalar (the clamped first half of
//! SHA-512(seed), which is also the X25519 secret key), `A = aB` the Ed25519 public key, `S` the
//! server's 32-byte public key, `k` the blinding factor, `kA` the blinded public key.

use std::fmt;
use std::str::FromStr;

use blake2::digest::Mac;
use blake2::digest::consts::{U32, U64};
use blake2::{Blake2b512, Blake2bMac};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::account_id::{AccountId, IdPrefix};
use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::{Identity, ed25519_public_to_x25519};

/// BLAKE2b key for the blind25 signing nonce (libsession `blind25_sign`).
const BLIND25_SIG_KEY: &[u8] = b"SessCommBlind25_sig";
/// BLAKE2b key for the seed hash that feeds the blind25 signing nonce.
const BLIND25_SEED_KEY: &[u8] = b"SessCommBlind25_seed";
/// BLAKE2b key deriving the `07` version-check key's seed from the account seed.
const VERSION_KEY_SEED_KEY: &[u8] = b"VersionCheckKey_sig";

/// Which of the two blinding schemes an ID or key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlindingScheme {
    /// `15…`: `k` depends only on the server key. What every deployed community server uses.
    Blind15,
    /// `25…`: `k` depends on the server key and the Account ID; no sign ambiguity. Only for
    /// servers advertising it (none in the default deployment).
    Blind25,
}

impl BlindingScheme {
    /// The ID prefix of this scheme's IDs.
    pub fn prefix(self) -> IdPrefix {
        match self {
            BlindingScheme::Blind15 => IdPrefix::Blinded15,
            BlindingScheme::Blind25 => IdPrefix::Blinded25,
        }
    }

    /// The scheme whose IDs carry this prefix, if it is a blinded one.
    pub fn from_prefix(prefix: IdPrefix) -> Option<BlindingScheme> {
        match prefix {
            IdPrefix::Blinded15 => Some(BlindingScheme::Blind15),
            IdPrefix::Blinded25 => Some(BlindingScheme::Blind25),
            _ => None,
        }
    }
}

impl fmt::Display for BlindingScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlindingScheme::Blind15 => "blind15",
            BlindingScheme::Blind25 => "blind25",
        })
    }
}

/// A community-blinded ID: the prefix `0x15` or `0x25` followed by a 32-byte blinded Ed25519
/// public key.
///
/// Its text form is 66 lower-case hex digits. Parsing accepts upper-case hex too, nothing else.
/// The key is not checked to be a curve point when parsing (the server may hand out anything);
/// operations that need the point ([`BlindedId::verify`], blinded DMs) check it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlindedId([u8; BlindedId::LEN]);

impl BlindedId {
    /// Length of the binary form, prefix included.
    pub const LEN: usize = 33;
    /// Length of the hex form, prefix included.
    pub const HEX_LEN: usize = 2 * BlindedId::LEN;

    /// The ID of the blinded public key `public_key` under `scheme`.
    pub fn new(scheme: BlindingScheme, public_key: [u8; 32]) -> BlindedId {
        let mut bytes = [0u8; BlindedId::LEN];
        bytes[0] = scheme.prefix().byte();
        bytes[1..].copy_from_slice(&public_key);
        BlindedId(bytes)
    }

    /// Parses the 33-byte binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlindedId, BlindedIdError> {
        let bytes: [u8; BlindedId::LEN] = bytes
            .try_into()
            .map_err(|_| BlindedIdError::WrongByteLength { got: bytes.len() })?;
        check_blinded_prefix(bytes[0])?;
        Ok(BlindedId(bytes))
    }

    /// The 33-byte binary form, prefix included.
    pub fn as_bytes(&self) -> &[u8; BlindedId::LEN] {
        &self.0
    }

    /// The blinding scheme, told by the prefix.
    pub fn scheme(&self) -> BlindingScheme {
        if self.0[0] == IdPrefix::Blinded25.byte() {
            BlindingScheme::Blind25
        } else {
            BlindingScheme::Blind15
        }
    }

    /// The blinded Ed25519 public key (the ID without its prefix).
    pub fn public_key(&self) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.0[1..]);
        key
    }

    /// Whether this is one of the blinded IDs of `account_id` on the server with public key
    /// `server_pk`. For blind15 IDs both sign candidates are tried (protocol.md §11 pitfall 9).
    ///
    /// An Account ID whose key is not a usable curve point has no blinded IDs and matches
    /// nothing.
    pub fn belongs_to(&self, account_id: &AccountId, server_pk: &[u8; 32]) -> bool {
        match self.scheme() {
            BlindingScheme::Blind15 => blind15_ids(account_id, server_pk)
                .map(|candidates| candidates.contains(self))
                .unwrap_or(false),
            BlindingScheme::Blind25 => blind25_id(account_id, server_pk)
                .map(|id| id == *self)
                .unwrap_or(false),
        }
    }

    /// Checks `signature` over `message` against this ID's blinded key.
    ///
    /// A blinded signature is an ordinary Ed25519 signature under the blinded public key, so this
    /// is plain (strict) Ed25519 verification, as libsodium's `crypto_sign_verify_detached` does.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), BlindingError> {
        let key = VerifyingKey::from_bytes(&self.public_key())
            .map_err(|_| BlindingError::InvalidBlindedKey { id: *self })?;
        key.verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| BlindingError::BadSignature { id: *self })
    }

    /// The same ID with the sign bit of the key (bit 7 of the last byte) flipped: the other
    /// blind15 candidate.
    pub(crate) fn with_sign_flipped(mut self) -> BlindedId {
        self.0[BlindedId::LEN - 1] ^= 0x80;
        self
    }
}

fn check_blinded_prefix(byte: u8) -> Result<(), BlindedIdError> {
    match IdPrefix::from_byte(byte).and_then(BlindingScheme::from_prefix) {
        Some(_) => Ok(()),
        None => Err(BlindedIdError::WrongPrefix { prefix: byte }),
    }
}

impl FromStr for BlindedId {
    type Err = BlindedIdError;

    fn from_str(s: &str) -> Result<BlindedId, BlindedIdError> {
        let got = s.chars().count();
        if got != BlindedId::HEX_LEN {
            return Err(BlindedIdError::WrongLength { got });
        }
        let mut bytes = [0u8; BlindedId::LEN];
        for (index, character) in s.chars().enumerate() {
            let digit = character.to_digit(16).ok_or(BlindedIdError::NotHex {
                position: index + 1,
                character,
            })?;
            // `index < HEX_LEN` (checked above), so every digit has its byte.
            if let Some(byte) = bytes.get_mut(index / 2) {
                *byte = (*byte << 4) | digit as u8;
            }
        }
        check_blinded_prefix(bytes[0])?;
        Ok(BlindedId(bytes))
    }
}

impl fmt::Display for BlindedId {
    /// The 66-digit lower-case hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlindedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlindedId({self})")
    }
}

/// Why a text or binary blinded ID was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlindedIdError {
    /// The text is not 66 characters long.
    #[error("a blinded ID is 66 hex characters, got {got}")]
    WrongLength {
        /// How many characters (not bytes) the text has.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("a blinded ID is hexadecimal, but character {position} is {character:?}")]
    NotHex {
        /// 1-based position of the first offending character.
        position: usize,
        /// The offending character.
        character: char,
    },
    /// The ID does not start with `15` or `25`.
    #[error("a blinded ID starts with `15` or `25`, this one starts with `{prefix:02x}`{}", prefix_hint(*.prefix))]
    WrongPrefix {
        /// The prefix byte found.
        prefix: u8,
    },
    /// The binary form is not 33 bytes long.
    #[error("a binary blinded ID is 33 bytes, got {got}")]
    WrongByteLength {
        /// How many bytes were given.
        got: usize,
    },
}

fn prefix_hint(prefix: u8) -> String {
    match IdPrefix::from_byte(prefix) {
        Some(known) => format!(" ({known}… is {})", known.description()),
        None => String::new(),
    }
}

impl HasKind for BlindedIdError {
    fn kind(&self) -> ErrorKind {
        // Same classification as `AccountIdError`: callers decoding server responses wrap it in
        // their own (Malformed) error.
        ErrorKind::InvalidInput
    }
}

/// Why a blinding operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlindingError {
    /// The Account ID's key is not the Montgomery form of a usable Ed25519 point (not on the
    /// curve, small order, or outside the prime-order subgroup), so it has no blinded IDs.
    #[error("Account ID {account_id} is not a valid curve point and cannot be blinded")]
    InvalidAccountKey {
        /// The Account ID that could not be blinded.
        account_id: AccountId,
    },
    /// An Ed25519 public key is not a usable point (not canonical, not on the curve, small
    /// order, or outside the prime-order subgroup).
    #[error("not a valid Ed25519 public key, cannot be blinded")]
    InvalidEd25519Key,
    /// A blinded ID's key is not a usable Ed25519 point.
    #[error("blinded ID {id} is not a valid curve point")]
    InvalidBlindedKey {
        /// The blinded ID.
        id: BlindedId,
    },
    /// A signature did not verify under the blinded key.
    #[error("signature does not verify under blinded ID {id}")]
    BadSignature {
        /// The blinded ID whose key the signature was checked against.
        id: BlindedId,
    },
}

impl HasKind for BlindingError {
    fn kind(&self) -> ErrorKind {
        match self {
            // Keys come from peers and servers.
            BlindingError::InvalidAccountKey { .. }
            | BlindingError::InvalidEd25519Key
            | BlindingError::InvalidBlindedKey { .. } => ErrorKind::Malformed,
            BlindingError::BadSignature { .. } => ErrorKind::BadSignature,
        }
    }
}

/// The blind15 blinding factor of a server: `k = reduce(BLAKE2b-64(S))`, as 32 little-endian
/// bytes (libsodium `crypto_core_ed25519_scalar_reduce` output).
pub fn blind15_factor(server_pk: &[u8; 32]) -> [u8; 32] {
    blind15_scalar(server_pk).to_bytes()
}

/// The blind25 blinding factor of an account on a server:
/// `k = reduce(BLAKE2b-64(0x05 || x_pk || S))`, as 32 little-endian bytes.
///
/// This is the unsigned factor; the key pair of an account whose Ed25519 key is negative uses
/// `−k` (see [`BlindedKeyPair::blind25`]).
pub fn blind25_factor(account_id: &AccountId, server_pk: &[u8; 32]) -> [u8; 32] {
    blind25_scalar(account_id, server_pk).to_bytes()
}

fn blind15_scalar(server_pk: &[u8; 32]) -> Scalar {
    let hash: [u8; 64] = Blake2b512::digest(server_pk).into();
    Scalar::from_bytes_mod_order_wide(&hash)
}

fn blind25_scalar(account_id: &AccountId, server_pk: &[u8; 32]) -> Scalar {
    let hash: [u8; 64] = Blake2b512::new()
        .chain_update(account_id.as_bytes())
        .chain_update(server_pk)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&hash)
}

/// Decodes an Ed25519 point the way libsodium's `crypto_scalarmult_ed25519_noclamp` accepts it:
/// canonical encoding, on the curve, not of small order, in the prime-order subgroup.
pub(crate) fn decode_prime_order_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    let canonical = point.compress().as_bytes() == bytes;
    if !canonical || point.is_small_order() || !point.is_torsion_free() {
        return None;
    }
    Some(point)
}

/// `scalar · point`, refusing the identity as libsodium's `crypto_scalarmult_ed25519_noclamp`
/// does (it can only happen for a scalar ≡ 0 mod ℓ).
pub(crate) fn checked_mul(scalar: &Scalar, point: &EdwardsPoint) -> Option<[u8; 32]> {
    let product = scalar * point;
    if product.is_identity() {
        return None;
    }
    Some(product.compress().to_bytes())
}

/// The positive Ed25519 point of an Account ID (`y = (u−1)/(u+1)`, sign bit 0), checked usable.
fn account_point(account_id: &AccountId) -> Result<EdwardsPoint, BlindingError> {
    let invalid = || BlindingError::InvalidAccountKey {
        account_id: *account_id,
    };
    let point = MontgomeryPoint(account_id.x25519_public())
        .to_edwards(0)
        .ok_or_else(invalid)?;
    decode_prime_order_point(point.compress().as_bytes()).ok_or_else(invalid)
}

/// The two blind15 ID candidates of an Account ID on a server: `k·A'` (with `A'` the positive
/// Ed25519 point of the Account ID) and the same with its sign bit flipped. The account's real
/// blind15 ID is one of them; which one depends on the sign of its Ed25519 key, which the Account
/// ID does not tell.
pub fn blind15_ids(
    account_id: &AccountId,
    server_pk: &[u8; 32],
) -> Result<[BlindedId; 2], BlindingError> {
    let point = account_point(account_id)?;
    let key = checked_mul(&blind15_scalar(server_pk), &point).ok_or(
        BlindingError::InvalidAccountKey {
            account_id: *account_id,
        },
    )?;
    let positive = BlindedId::new(BlindingScheme::Blind15, key);
    Ok([positive, positive.with_sign_flipped()])
}

/// The blind25 ID of an Account ID on a server: `k·|A|` (no sign ambiguity).
pub fn blind25_id(
    account_id: &AccountId,
    server_pk: &[u8; 32],
) -> Result<BlindedId, BlindingError> {
    let point = account_point(account_id)?;
    let key = checked_mul(&blind25_scalar(account_id, server_pk), &point).ok_or(
        BlindingError::InvalidAccountKey {
            account_id: *account_id,
        },
    )?;
    Ok(BlindedId::new(BlindingScheme::Blind25, key))
}

/// Every blinded ID an Account ID may have on one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlindedIds {
    /// The two blind15 candidates (see [`blind15_ids`]); exactly one is the account's.
    pub blind15: [BlindedId; 2],
    /// The blind25 ID.
    pub blind25: BlindedId,
}

impl BlindedIds {
    /// Whether `id` is one of these.
    pub fn contains(&self, id: &BlindedId) -> bool {
        self.blind15.contains(id) || self.blind25 == *id
    }
}

/// The blinded IDs an Account ID may have on the server with public key `server_pk`.
pub fn blinded_ids(
    account_id: &AccountId,
    server_pk: &[u8; 32],
) -> Result<BlindedIds, BlindingError> {
    Ok(BlindedIds {
        blind15: blind15_ids(account_id, server_pk)?,
        blind25: blind25_id(account_id, server_pk)?,
    })
}

/// The exact blind15 ID of an Ed25519 public key (no ambiguity: the key carries its sign).
pub fn blind15_id_from_ed25519(
    ed25519_public: &[u8; 32],
    server_pk: &[u8; 32],
) -> Result<BlindedId, BlindingError> {
    let point = decode_prime_order_point(ed25519_public).ok_or(BlindingError::InvalidEd25519Key)?;
    let key =
        checked_mul(&blind15_scalar(server_pk), &point).ok_or(BlindingError::InvalidEd25519Key)?;
    Ok(BlindedId::new(BlindingScheme::Blind15, key))
}

/// The blind25 ID of an Ed25519 public key: `k·|A|` with `k` from the key's Account ID.
pub fn blind25_id_from_ed25519(
    ed25519_public: &[u8; 32],
    server_pk: &[u8; 32],
) -> Result<BlindedId, BlindingError> {
    let x25519 =
        ed25519_public_to_x25519(ed25519_public).map_err(|_| BlindingError::InvalidEd25519Key)?;
    let account_id = AccountId::from_x25519_public(x25519);
    let mut positive = *ed25519_public;
    positive[31] &= 0x7f;
    let point = decode_prime_order_point(&positive).ok_or(BlindingError::InvalidEd25519Key)?;
    let key = checked_mul(&blind25_scalar(&account_id, server_pk), &point)
        .ok_or(BlindingError::InvalidEd25519Key)?;
    Ok(BlindedId::new(BlindingScheme::Blind25, key))
}

/// How a blind15 signature's nonce `r` is derived. Both give valid signatures; they differ byte
/// for byte (protocol.md §11 pitfall 10), and the published vectors exist for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Blind15Nonce {
    /// `r = reduce(SHA-512(SHA-512(ed_sk64)[32..64] || kA || M))`, hashing libsodium's 64-byte
    /// secret key (seed || public key): libsession's `blind15_sign`.
    #[default]
    Libsession,
    /// `r = reduce(SHA-512(SHA-512(seed32)[32..64] || kA || M))`: session-desktop's derivation
    /// (the standard Ed25519 nonce prefix).
    Desktop,
}

/// An account's blinded key pair on one community server.
///
/// Holds the blinded secret scalar `ka` (zeroized on drop) and the blinded public key `kA`;
/// signatures made with it are ordinary Ed25519 signatures under `kA`. `Debug` shows only the ID.
#[derive(Clone)]
pub struct BlindedKeyPair {
    /// Which scheme derived the factor.
    scheme: BlindingScheme,
    /// The server the key is for (the factor depends on it).
    server_pk: [u8; 32],
    /// The blinded secret scalar `ka` (blind25: `k'a` with `k' = ±k`).
    secret: Zeroizing<Scalar>,
    /// The blinded public key `kA = ka·B`.
    public: [u8; 32],
    /// The secret that makes the signing nonce deterministic: `SHA-512(…)[32..64]` for blind15,
    /// `BLAKE2b-32(seed32, key = "SessCommBlind25_seed")` for blind25.
    nonce_key: Zeroizing<[u8; 32]>,
}

impl BlindedKeyPair {
    /// The key pair of `identity` on server `server_pk` under `scheme`; blind15 signatures use
    /// libsession's nonce derivation ([`Blind15Nonce::Libsession`]).
    pub fn new(identity: &Identity, scheme: BlindingScheme, server_pk: &[u8; 32]) -> Self {
        match scheme {
            BlindingScheme::Blind15 => Self::blind15(identity, server_pk, Blind15Nonce::default()),
            BlindingScheme::Blind25 => Self::blind25(identity, server_pk),
        }
    }

    /// The blind15 key pair: `ka = k·a` with `k = reduce(BLAKE2b-64(S))`.
    pub fn blind15(identity: &Identity, server_pk: &[u8; 32], nonce: Blind15Nonce) -> Self {
        let secret = Zeroizing::new(blind15_scalar(server_pk) * *private_scalar(identity));
        let ed_sk = identity.ed25519_secret_key();
        let nonce_source: &[u8] = match nonce {
            Blind15Nonce::Libsession => &ed_sk[..],
            Blind15Nonce::Desktop => &ed_sk[..32],
        };
        let hash = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(nonce_source)));
        let mut nonce_key = Zeroizing::new([0u8; 32]);
        nonce_key.copy_from_slice(&hash[32..]);
        Self::from_secret(BlindingScheme::Blind15, server_pk, secret, nonce_key)
    }

    /// The blind25 key pair: `ka = k'·a` with `k = reduce(BLAKE2b-64(0x05 || x_pk || S))` and
    /// `k' = k`, or `−k` when the Ed25519 public key is negative, so that `ka·B = k·|A|`.
    pub fn blind25(identity: &Identity, server_pk: &[u8; 32]) -> Self {
        let mut factor = blind25_scalar(&identity.account_id(), server_pk);
        if identity.ed25519_public()[31] & 0x80 != 0 {
            factor = -factor;
        }
        let secret = Zeroizing::new(factor * *private_scalar(identity));
        let ed_sk = identity.ed25519_secret_key();
        let nonce_key = Zeroizing::new(blake2b_keyed_32(BLIND25_SEED_KEY, &[&ed_sk[..32]]));
        Self::from_secret(BlindingScheme::Blind25, server_pk, secret, nonce_key)
    }

    fn from_secret(
        scheme: BlindingScheme,
        server_pk: &[u8; 32],
        secret: Zeroizing<Scalar>,
        nonce_key: Zeroizing<[u8; 32]>,
    ) -> Self {
        let public = EdwardsPoint::mul_base(&secret).compress().to_bytes();
        BlindedKeyPair {
            scheme,
            server_pk: *server_pk,
            secret,
            public,
            nonce_key,
        }
    }

    /// The blinding scheme.
    pub fn scheme(&self) -> BlindingScheme {
        self.scheme
    }

    /// The server this key pair is for.
    pub fn server_pk(&self) -> &[u8; 32] {
        &self.server_pk
    }

    /// The blinded public key `kA`.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The blinded ID (`15…`/`25…` + `kA`) this key pair appears under on its server.
    pub fn id(&self) -> BlindedId {
        BlindedId::new(self.scheme, self.public)
    }

    /// The blinded secret scalar `ka`, reduced mod ℓ, little-endian (as libsodium's
    /// `crypto_core_ed25519_scalar_mul` returns it). For interoperability tests.
    pub fn secret_scalar(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The blinded scalar, for the blinded-DM key agreement.
    pub(crate) fn scalar(&self) -> &Scalar {
        &self.secret
    }

    /// A deterministic blinded signature of `message`: `R = rB`,
    /// `s = r + reduce(SHA-512(R || kA || M))·ka`, with the scheme's nonce `r` (protocol.md §8.3).
    /// It verifies as a plain Ed25519 signature under [`BlindedKeyPair::public_key`].
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let nonce = Zeroizing::new(match self.scheme {
            BlindingScheme::Blind15 => {
                let hash: [u8; 64] = Sha512::new()
                    .chain_update(*self.nonce_key)
                    .chain_update(self.public)
                    .chain_update(message)
                    .finalize()
                    .into();
                Scalar::from_bytes_mod_order_wide(&hash)
            }
            BlindingScheme::Blind25 => {
                let hash = blake2b_keyed_64(
                    BLIND25_SIG_KEY,
                    &[&self.nonce_key[..], &self.public, message],
                );
                Scalar::from_bytes_mod_order_wide(&hash)
            }
        });
        let r_point = EdwardsPoint::mul_base(&nonce).compress().to_bytes();
        let challenge: [u8; 64] = Sha512::new()
            .chain_update(r_point)
            .chain_update(self.public)
            .chain_update(message)
            .finalize()
            .into();
        let s = *nonce + Scalar::from_bytes_mod_order_wide(&challenge) * *self.secret;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_point);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }
}

impl fmt::Debug for BlindedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlindedKeyPair")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// The Ed25519 private scalar `a` of an identity: the clamped first half of SHA-512(seed), which
/// is exactly the X25519 secret key, reduced mod ℓ (`a·B = A` either way).
pub(crate) fn private_scalar(identity: &Identity) -> Zeroizing<Scalar> {
    Zeroizing::new(Scalar::from_bytes_mod_order(*identity.x25519_secret_key()))
}

fn blake2b_keyed_32(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Blake2bMac<U32> as blake2::digest::KeyInit>::new_from_slice(key)
        .expect("constant BLAKE2b keys are 1..=64 bytes");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn blake2b_keyed_64(key: &[u8], parts: &[&[u8]]) -> [u8; 64] {
    let mut mac = <Blake2bMac<U64> as blake2::digest::KeyInit>::new_from_slice(key)
        .expect("constant BLAKE2b keys are 1..=64 bytes");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The file server's "version check" key pair (`07…`, protocol.md §5.1): an ordinary Ed25519
/// key pair whose seed is `BLAKE2b-32(seed32, key = "VersionCheckKey_sig")`, so the file server
/// can rate-limit version checks without learning the Account ID.
///
/// Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct VersionKeyPair {
    /// The derived Ed25519 key.
    signing: SigningKey,
}

impl VersionKeyPair {
    /// Derives the version-check key pair of `identity`.
    pub fn from_identity(identity: &Identity) -> Self {
        let ed_sk = identity.ed25519_secret_key();
        let seed = Zeroizing::new(blake2b_keyed_32(VERSION_KEY_SEED_KEY, &[&ed_sk[..32]]));
        VersionKeyPair {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The key as sent in `X-FS-Pubkey`: `"07"` followed by the hex public key.
    pub fn pubkey_hex(&self) -> String {
        format!("{}{}", IdPrefix::Version, hex::encode(self.public_key()))
    }

    /// The libsodium 64-byte secret key (derived seed || public key).
    pub fn ed25519_secret_key(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.signing.to_keypair_bytes())
    }

    /// A plain Ed25519 signature of `message` with this key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for VersionKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionKeyPair")
            .field("public_key", &self.pubkey_hex())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    const SERVER: [u8; 32] = [0x42; 32];

    fn identity(seed: u64) -> Identity {
        Identity::from_seed(&Seed::generate(&mut TestRng::new(seed)))
    }

    #[test]
    fn blinded_id_parses_and_displays() {
        let text = "15b74ed205f1f931e1bb1291183778a9456b835937d923b0f2e248aa3a44c07844";
        let id: BlindedId = text.parse().unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(id.scheme(), BlindingScheme::Blind15);
        assert_eq!(hex::encode(id.public_key()), &text[2..]);
        assert_eq!(BlindedId::from_bytes(id.as_bytes()).unwrap(), id);
        assert_eq!(format!("{id:?}"), format!("BlindedId({text})"));
        let upper: BlindedId = text.to_uppercase().parse().unwrap();
        assert_eq!(upper, id);
        let id25: BlindedId = format!("25{}", &text[2..]).parse().unwrap();
        assert_eq!(id25.scheme(), BlindingScheme::Blind25);
        assert_eq!(id25.public_key(), id.public_key());
    }

    #[test]
    fn blinded_id_rejects_bad_text_with_typed_errors() {
        let text = "15b74ed205f1f931e1bb1291183778a9456b835937d923b0f2e248aa3a44c07844";
        assert_eq!(
            text[..65].parse::<BlindedId>().unwrap_err(),
            BlindedIdError::WrongLength { got: 65 }
        );
        assert_eq!(
            format!("{text}0").parse::<BlindedId>().unwrap_err(),
            BlindedIdError::WrongLength { got: 67 }
        );
        let mut bad = text.to_string();
        bad.replace_range(10..11, "z");
        assert_eq!(
            bad.parse::<BlindedId>().unwrap_err(),
            BlindedIdError::NotHex {
                position: 11,
                character: 'z'
            }
        );
        let multibyte = format!("{}é", &text[..65]);
        assert!(matches!(
            multibyte.parse::<BlindedId>().unwrap_err(),
            BlindedIdError::NotHex { position: 66, .. }
        ));
        for prefix in ["05", "00", "07", "03", "ff"] {
            let err = format!("{prefix}{}", &text[2..])
                .parse::<BlindedId>()
                .unwrap_err();
            let byte = u8::from_str_radix(prefix, 16).unwrap();
            assert_eq!(err, BlindedIdError::WrongPrefix { prefix: byte });
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        let err = format!("05{}", &text[2..])
            .parse::<BlindedId>()
            .unwrap_err();
        assert!(err.to_string().contains("Account ID"), "{err}");
        assert_eq!(
            BlindedId::from_bytes(&[0x15; 32]).unwrap_err(),
            BlindedIdError::WrongByteLength { got: 32 }
        );
        assert_eq!(
            BlindedId::from_bytes(&[0x05; 33]).unwrap_err(),
            BlindedIdError::WrongPrefix { prefix: 0x05 }
        );
    }

    #[test]
    fn key_pairs_match_the_ids_derived_from_the_account_id() {
        for seed in 0..40 {
            let identity = identity(seed);
            let account_id = identity.account_id();
            let ids = blinded_ids(&account_id, &SERVER).unwrap();

            let key15 = BlindedKeyPair::blind15(&identity, &SERVER, Blind15Nonce::Libsession);
            let negative = identity.ed25519_public()[31] & 0x80 != 0;
            assert_eq!(key15.id(), ids.blind15[usize::from(negative)]);
            assert!(key15.id().belongs_to(&account_id, &SERVER));
            assert!(ids.blind15[1 - usize::from(negative)].belongs_to(&account_id, &SERVER));
            assert_eq!(
                blind15_id_from_ed25519(&identity.ed25519_public(), &SERVER).unwrap(),
                key15.id()
            );

            let key25 = BlindedKeyPair::blind25(&identity, &SERVER);
            assert_eq!(key25.id(), ids.blind25);
            assert!(key25.id().belongs_to(&account_id, &SERVER));
            assert!(ids.contains(&key25.id()) && ids.contains(&key15.id()));
            assert_eq!(
                blind25_id_from_ed25519(&identity.ed25519_public(), &SERVER).unwrap(),
                key25.id()
            );
            // The flipped blind25 ID is not the account's.
            let mut flipped = *key25.id().as_bytes();
            flipped[32] ^= 0x80;
            assert!(
                !BlindedId::from_bytes(&flipped)
                    .unwrap()
                    .belongs_to(&account_id, &SERVER)
            );
        }
    }

    #[test]
    fn ids_do_not_belong_to_other_accounts_or_servers() {
        let alice = identity(100);
        let bob = identity(101);
        let id = BlindedKeyPair::blind15(&alice, &SERVER, Blind15Nonce::Desktop).id();
        assert!(!id.belongs_to(&bob.account_id(), &SERVER));
        assert!(!id.belongs_to(&alice.account_id(), &[0x43; 32]));
        let id25 = BlindedKeyPair::blind25(&alice, &SERVER).id();
        assert!(!id25.belongs_to(&bob.account_id(), &SERVER));
    }

    #[test]
    fn signatures_of_both_schemes_and_nonces_verify_under_the_blinded_key() {
        let identity = identity(7);
        let keys = [
            BlindedKeyPair::blind15(&identity, &SERVER, Blind15Nonce::Libsession),
            BlindedKeyPair::blind15(&identity, &SERVER, Blind15Nonce::Desktop),
            BlindedKeyPair::blind25(&identity, &SERVER),
        ];
        let signatures = keys.each_ref().map(|key| key.sign(b"message"));
        for (key, signature) in keys.iter().zip(&signatures) {
            key.id().verify(b"message", signature).unwrap();
            assert_eq!(
                key.id().verify(b"messagf", signature),
                Err(BlindingError::BadSignature { id: key.id() })
            );
            let mut tampered = *signature;
            tampered[40] ^= 1;
            assert!(key.id().verify(b"message", &tampered).is_err());
            // Deterministic.
            assert_eq!(key.sign(b"message"), *signature);
        }
        // The two blind15 nonce derivations give different, equally valid signatures.
        assert_ne!(signatures[0], signatures[1]);
        assert_eq!(keys[0].id(), keys[1].id());
    }

    #[test]
    fn verify_rejects_ids_that_are_not_points() {
        let mut bytes = [0u8; 33];
        bytes[0] = 0x15;
        bytes[1] = 2; // y = 2 is not on the curve
        let id = BlindedId::from_bytes(&bytes).unwrap();
        let err = id.verify(b"m", &[0u8; 64]).unwrap_err();
        assert_eq!(err, BlindingError::InvalidBlindedKey { id });
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn unusable_account_keys_have_no_blinded_ids_and_match_nothing() {
        // u = −1 (p − 1) has no Edwards point; u = 0 is of small order.
        let mut minus_one = [0xff; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        for key in [minus_one, [0u8; 32]] {
            let account_id = AccountId::from_x25519_public(key);
            let err = blind15_ids(&account_id, &SERVER).unwrap_err();
            assert_eq!(err, BlindingError::InvalidAccountKey { account_id });
            assert_eq!(err.kind(), ErrorKind::Malformed);
            assert!(blind25_id(&account_id, &SERVER).is_err());
            let some_id =
                BlindedKeyPair::blind15(&identity(1), &SERVER, Blind15Nonce::Libsession).id();
            assert!(!some_id.belongs_to(&account_id, &SERVER));
        }
        assert_eq!(
            blind15_id_from_ed25519(&[0u8; 32], &SERVER),
            Err(BlindingError::InvalidEd25519Key)
        );
        assert_eq!(
            blind25_id_from_ed25519(&[0u8; 32], &SERVER),
            Err(BlindingError::InvalidEd25519Key)
        );
    }

    #[test]
    fn non_canonical_ed25519_encodings_are_rejected() {
        // y = 1 + p: the identity point, non-canonically encoded (libsodium rejects it).
        let identity_plus_p = {
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xee;
            bytes[31] = 0x7f;
            bytes
        };
        assert!(decode_prime_order_point(&identity_plus_p).is_none());
    }

    #[test]
    fn debug_hides_secrets() {
        let identity = identity(9);
        let key = BlindedKeyPair::blind25(&identity, &SERVER);
        let debug = format!("{key:?}");
        assert!(
            debug.starts_with("BlindedKeyPair { id: BlindedId(25"),
            "{debug}"
        );
        assert!(!debug.contains(&hex::encode(*key.secret_scalar())));
        let version = VersionKeyPair::from_identity(&identity);
        let debug = format!("{version:?}");
        assert!(debug.contains(&version.pubkey_hex()), "{debug}");
        assert!(!debug.contains(&hex::encode(&version.ed25519_secret_key()[..32])));
    }

    #[test]
    fn version_key_signs_verifiably_and_has_the_07_prefix() {
        let identity = identity(11);
        let version = VersionKeyPair::from_identity(&identity);
        assert!(version.pubkey_hex().starts_with("07"));
        assert_eq!(version.pubkey_hex().len(), 66);
        assert_ne!(version.public_key(), identity.ed25519_public());
        let signature = version.sign(b"1GET/x");
        VerifyingKey::from_bytes(&version.public_key())
            .unwrap()
            .verify_strict(b"1GET/x", &Signature::from_bytes(&signature))
            .unwrap();
    }

    #[test]
    fn scheme_prefixes_round_trip() {
        for scheme in [BlindingScheme::Blind15, BlindingScheme::Blind25] {
            assert_eq!(BlindingScheme::from_prefix(scheme.prefix()), Some(scheme));
        }
        assert_eq!(BlindingScheme::from_prefix(IdPrefix::Standard), None);
        assert_eq!(BlindingScheme::Blind15.to_string(), "blind15");
    }
}
