//! The symmetric encryption of one onion layer (protocol.md §4.2).
//!
//! Each layer is encrypted to a node's (or server's) X25519 key with a fresh ephemeral key pair:
//! both ends compute the X25519 shared secret and derive a 32-byte key from it, how depending on
//! the layer's [`EncType`]. The destination encrypts its reply with the same key. This module
//! derives those keys (client side from the ephemeral secret, node side from the node's secret)
//! and seals and opens blobs with them, exactly as libsession and the storage server do:
//! `iv(12) || AES-256-GCM || tag(16)` or `nonce(24) || XChaCha20-Poly1305 || tag(16)`.

use std::fmt;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};
use blake2::{Blake2b256, Digest};
use chacha20poly1305::XChaCha20Poly1305;
use dryoc::classic::crypto_core::{crypto_scalarmult, crypto_scalarmult_base};
use hmac::{Hmac, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::OnionError;

/// Which cipher a layer uses. Named by the `enc_type` value in the layer's JSON.
///
/// The official desktop client uses [`EncType::AesGcm`] (it never sends `enc_type`, and nodes
/// default to AES-GCM when it is absent); libsession's builder uses [`EncType::XChaCha20`].
/// Every storage server, SOGS and file server accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncType {
    /// AES-256-GCM with key `HMAC-SHA256(key = "LOKI", message = shared secret)`; `"aes-gcm"`
    /// (alias `"gcm"`). The default when a layer does not say.
    #[default]
    AesGcm,
    /// XChaCha20-Poly1305 (IETF) with key `BLAKE2b-32(shared secret || client ephemeral public
    /// || node public)`; `"xchacha20"` (alias `"xchacha20-poly1305"`).
    XChaCha20,
}

impl EncType {
    /// The name sent in `enc_type` (the canonical one of the aliases).
    pub fn as_str(self) -> &'static str {
        match self {
            EncType::AesGcm => "aes-gcm",
            EncType::XChaCha20 => "xchacha20",
        }
    }

    /// Parses an `enc_type` value, accepting the same aliases as the storage server.
    pub fn from_name(name: &str) -> Result<EncType, OnionError> {
        match name {
            "aes-gcm" | "gcm" => Ok(EncType::AesGcm),
            "xchacha20" | "xchacha20-poly1305" => Ok(EncType::XChaCha20),
            other => Err(OnionError::UnknownEncType {
                // Bounded: the name comes from the network.
                name: other.chars().take(32).collect(),
            }),
        }
    }

    /// Length of the random nonce (IV) that starts every blob.
    pub fn nonce_len(self) -> usize {
        match self {
            EncType::AesGcm => AES_GCM_IV_LEN,
            EncType::XChaCha20 => XCHACHA_NONCE_LEN,
        }
    }

    /// How many bytes a blob has beyond its plaintext (nonce and tag).
    pub fn overhead(self) -> usize {
        self.nonce_len() + TAG_LEN
    }
}

impl fmt::Display for EncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AES-GCM IV length.
const AES_GCM_IV_LEN: usize = 12;
/// XChaCha20-Poly1305 nonce length.
const XCHACHA_NONCE_LEN: usize = 24;
/// Authentication tag length of both ciphers.
const TAG_LEN: usize = 16;
/// The longest nonce any [`EncType`] uses; [`LayerSecrets::nonce`] has this length.
pub const MAX_NONCE_LEN: usize = XCHACHA_NONCE_LEN;
/// The longest plaintext a layer key encrypts: what a `u32` length prefix can describe once
/// nonce and tag are added (onion bodies are limited to 10 MiB anyway).
pub const MAX_PLAINTEXT_LEN: usize = u32::MAX as usize - XCHACHA_NONCE_LEN - TAG_LEN;

/// A "can't happen" error, recorded with what was being done.
fn internal(what: &'static str) -> OnionError {
    OnionError::Internal { what }
}

/// The symmetric key of one onion layer, shared by the client and the node the layer is
/// encrypted to. Encrypts the request layer (client) and the reply (destination).
///
/// Zeroized on drop; `Debug` shows only the cipher.
#[derive(Clone)]
pub struct LayerKey {
    /// The cipher this key is for (the derivation differs per cipher).
    enc_type: EncType,
    /// The derived 32-byte key.
    key: Zeroizing<[u8; 32]>,
}

impl LayerKey {
    /// The key the client derives from its ephemeral secret and the node's public key.
    ///
    /// Fails with [`OnionError::WeakKey`] when the shared secret is all zeros (a small-order
    /// node key), as libsodium's `crypto_scalarmult` does.
    pub fn client(
        enc_type: EncType,
        ephemeral_secret: &[u8; 32],
        node_public: &[u8; 32],
    ) -> Result<LayerKey, OnionError> {
        let ephemeral_public = x25519_public(ephemeral_secret);
        LayerKey::client_with_public(enc_type, ephemeral_secret, &ephemeral_public, node_public)
    }

    /// [`LayerKey::client`] when the caller already has the ephemeral public key (the builder
    /// sends it in the layer's JSON), so that it is not computed twice.
    pub(crate) fn client_with_public(
        enc_type: EncType,
        ephemeral_secret: &[u8; 32],
        ephemeral_public: &[u8; 32],
        node_public: &[u8; 32],
    ) -> Result<LayerKey, OnionError> {
        let shared = shared_secret(ephemeral_secret, node_public, KeyOwner::Caller)?;
        Ok(LayerKey::derive(
            enc_type,
            &shared,
            ephemeral_public,
            || *node_public,
        ))
    }

    /// The key a node derives from its own key and the client's ephemeral public key (the
    /// layer's `ephemeral_key`).
    ///
    /// `node` is the node's X25519 secret key (`[u8; 32]`), or a [`NodeKeys`] that also holds
    /// its public key: XChaCha20 layers need that public key, which is otherwise recomputed
    /// here every time.
    ///
    /// Fails with [`OnionError::WeakKey`] when the shared secret is all zeros (a small-order
    /// ephemeral key sent by a hostile client).
    pub fn node<K: NodeKey + ?Sized>(
        enc_type: EncType,
        node: &K,
        ephemeral_public: &[u8; 32],
    ) -> Result<LayerKey, OnionError> {
        let shared = shared_secret(node.secret(), ephemeral_public, KeyOwner::Peer)?;
        Ok(LayerKey::derive(
            enc_type,
            &shared,
            ephemeral_public,
            || node.public(),
        ))
    }

    /// §4.2: AES-GCM keys are `HMAC-SHA256("LOKI", s)`, XChaCha20 keys
    /// `BLAKE2b-32(s || client ephemeral public || node public)`. `node_public` is only asked
    /// for by XChaCha20 (a node may have to compute it).
    fn derive(
        enc_type: EncType,
        shared: &[u8; 32],
        ephemeral_public: &[u8; 32],
        node_public: impl FnOnce() -> [u8; 32],
    ) -> LayerKey {
        let mut key = Zeroizing::new([0u8; 32]);
        match enc_type {
            EncType::AesGcm => {
                // An HMAC key shorter than the hash block is zero-padded to the block size
                // (RFC 2104), so this is HMAC with the 4-byte key "LOKI".
                let mut hmac_key = [0u8; 64];
                hmac_key[..4].copy_from_slice(b"LOKI");
                let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_key.into());
                mac.update(shared);
                key.copy_from_slice(&mac.finalize().into_bytes());
            }
            EncType::XChaCha20 => {
                let mut hash = Blake2b256::new();
                hash.update(shared);
                hash.update(ephemeral_public);
                hash.update(node_public());
                key.copy_from_slice(&hash.finalize());
            }
        }
        LayerKey { enc_type, key }
    }

    /// A key from its raw bytes (for keys kept elsewhere, and tests).
    pub fn from_bytes(enc_type: EncType, key: [u8; 32]) -> LayerKey {
        LayerKey {
            enc_type,
            key: Zeroizing::new(key),
        }
    }

    /// The raw key bytes.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.key.clone()
    }

    /// The cipher this key is for.
    pub fn enc_type(&self) -> EncType {
        self.enc_type
    }

    /// Encrypts with a random nonce: `nonce || ciphertext || tag`.
    ///
    /// Fails only for plaintexts longer than [`MAX_PLAINTEXT_LEN`].
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, OnionError> {
        let mut nonce = [0u8; MAX_NONCE_LEN];
        let nonce = nonce
            .get_mut(..self.enc_type.nonce_len())
            .ok_or_else(|| internal("nonce buffer"))?;
        rng.fill_bytes(nonce);
        self.seal(nonce, plaintext)
    }

    /// Encrypts with the given nonce, which must be [`EncType::nonce_len`] bytes long (for
    /// reproducible test vectors; never reuse a nonce with the same key).
    pub fn encrypt_with_nonce(
        &self,
        nonce: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, OnionError> {
        if nonce.len() != self.enc_type.nonce_len() {
            return Err(OnionError::NonceLength {
                enc_type: self.enc_type,
                got: nonce.len(),
            });
        }
        self.seal(nonce, plaintext)
    }

    fn seal(&self, nonce: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, OnionError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(OnionError::TooLarge {
                what: "plaintext",
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        // Both ciphers only refuse plaintexts far beyond MAX_PLAINTEXT_LEN, and the nonce length
        // was checked by the callers.
        let sealed = match self.enc_type {
            EncType::AesGcm => {
                let nonce: [u8; AES_GCM_IV_LEN] = nonce
                    .try_into()
                    .map_err(|_| internal("AES-GCM IV length"))?;
                Aes256Gcm::new(&(*self.key).into()).encrypt(&nonce.into(), plaintext)
            }
            EncType::XChaCha20 => {
                let nonce: [u8; XCHACHA_NONCE_LEN] = nonce
                    .try_into()
                    .map_err(|_| internal("XChaCha20 nonce length"))?;
                XChaCha20Poly1305::new(&(*self.key).into()).encrypt(&nonce.into(), plaintext)
            }
        }
        .map_err(|_| internal("AEAD encryption"))?;
        let mut out = Vec::with_capacity(nonce.len() + sealed.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens `nonce || ciphertext || tag`.
    ///
    /// [`OnionError::Truncated`] when the blob cannot even hold a nonce and tag,
    /// [`OnionError::Decrypt`] when authentication fails (wrong key, tampered bytes).
    pub fn decrypt(&self, blob: &[u8]) -> Result<Vec<u8>, OnionError> {
        let need = self.enc_type.overhead();
        if blob.len() < need {
            return Err(OnionError::Truncated {
                what: "encrypted blob",
                len: blob.len(),
                need,
            });
        }
        let (nonce, ciphertext) = blob.split_at(self.enc_type.nonce_len());
        let opened = match self.enc_type {
            EncType::AesGcm => {
                let nonce: [u8; AES_GCM_IV_LEN] = nonce
                    .try_into()
                    .map_err(|_| internal("AES-GCM IV length"))?;
                Aes256Gcm::new(&(*self.key).into()).decrypt(&nonce.into(), ciphertext)
            }
            EncType::XChaCha20 => {
                let nonce: [u8; XCHACHA_NONCE_LEN] = nonce
                    .try_into()
                    .map_err(|_| internal("XChaCha20 nonce length"))?;
                XChaCha20Poly1305::new(&(*self.key).into()).decrypt(&nonce.into(), ciphertext)
            }
        };
        opened.map_err(|_| OnionError::Decrypt {
            enc_type: self.enc_type,
        })
    }
}

impl fmt::Debug for LayerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerKey")
            .field("enc_type", &self.enc_type)
            .finish_non_exhaustive()
    }
}

/// Whose public key made a shared secret degenerate (for the error's kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOwner {
    /// A key the caller supplied (a hop's or destination's public key).
    Caller,
    /// A key received from the network (a layer's `ephemeral_key`).
    Peer,
}

/// Raw X25519 (`crypto_scalarmult`): the secret is clamped; an all-zero result (the public key
/// has small order) is refused, as libsodium refuses it.
///
/// dryoc's ladder, like libsodium's, is constant time, and takes a third less time than
/// x25519-dalek's here (BENCHMARKS.md).
fn shared_secret(
    secret: &[u8; 32],
    public: &[u8; 32],
    owner: KeyOwner,
) -> Result<Zeroizing<[u8; 32]>, OnionError> {
    let mut shared = Zeroizing::new([0u8; 32]);
    crypto_scalarmult(&mut shared, secret, public).map_err(|_| OnionError::WeakKey { owner })?;
    Ok(shared)
}

/// The X25519 public key of a secret key (`crypto_scalarmult_base`).
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    let mut public = [0u8; 32];
    crypto_scalarmult_base(&mut public, secret);
    public
}

/// Raw X25519 shared secret of `secret` and `public` (`crypto_scalarmult`), refusing an all-zero
/// result. Public for differential tests and for callers that keep their own derivations.
pub fn x25519_shared_secret(
    secret: &[u8; 32],
    public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, OnionError> {
    shared_secret(secret, public, KeyOwner::Caller)
}

/// A node's (or server's) X25519 key as the node side of a layer uses it: the secret always,
/// the public key for XChaCha20 layers.
///
/// Implemented by the bare secret key (`[u8; 32]`, also inside `Zeroizing`), whose public key is
/// computed when needed, and by [`NodeKeys`], which keeps it.
pub trait NodeKey {
    /// The X25519 secret key.
    fn secret(&self) -> &[u8; 32];

    /// The X25519 public key of [`NodeKey::secret`].
    fn public(&self) -> [u8; 32] {
        x25519_public(self.secret())
    }
}

impl NodeKey for [u8; 32] {
    fn secret(&self) -> &[u8; 32] {
        self
    }
}

impl NodeKey for Zeroizing<[u8; 32]> {
    fn secret(&self) -> &[u8; 32] {
        self
    }
}

/// A node's X25519 key pair, the public key computed once: what a node that opens many layers
/// holds (as the storage server does), so that XChaCha20 layers cost no extra scalar
/// multiplication. Zeroized on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct NodeKeys {
    /// The secret key.
    secret: Zeroizing<[u8; 32]>,
    /// `crypto_scalarmult_base` of the secret key.
    public: [u8; 32],
}

impl NodeKeys {
    /// The key pair of an X25519 secret key.
    pub fn new(secret: &[u8; 32]) -> NodeKeys {
        NodeKeys {
            secret: Zeroizing::new(*secret),
            public: x25519_public(secret),
        }
    }
}

impl NodeKey for NodeKeys {
    fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn public(&self) -> [u8; 32] {
        self.public
    }
}

impl fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKeys")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// What one onion layer needs from the RNG: its ephemeral X25519 secret and its nonce.
///
/// Building a request draws these from a `CryptoRng`; the deterministic builders take them
/// explicitly so that test vectors can be reproduced byte for byte. Zeroized on drop; `Debug`
/// is redacted.
#[derive(Clone)]
pub struct LayerSecrets {
    /// The ephemeral X25519 secret key (`crypto_box_keypair`'s secret; clamped when used).
    pub ephemeral_secret: Zeroizing<[u8; 32]>,
    /// The nonce; AES-GCM uses its first 12 bytes, XChaCha20 all 24.
    pub nonce: [u8; MAX_NONCE_LEN],
}

impl LayerSecrets {
    /// Fresh secrets from `rng`.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> LayerSecrets {
        let mut secrets = LayerSecrets {
            ephemeral_secret: Zeroizing::new([0u8; 32]),
            nonce: [0u8; MAX_NONCE_LEN],
        };
        rng.fill_bytes(&mut *secrets.ephemeral_secret);
        rng.fill_bytes(&mut secrets.nonce);
        secrets
    }

    /// The ephemeral public key sent as the layer's `ephemeral_key`.
    pub fn ephemeral_public(&self) -> [u8; 32] {
        x25519_public(&self.ephemeral_secret)
    }

    /// The nonce actually used with `enc_type`.
    pub(crate) fn nonce_for(&self, enc_type: EncType) -> &[u8] {
        self.nonce
            .get(..enc_type.nonce_len())
            .unwrap_or(&self.nonce)
    }
}

impl fmt::Debug for LayerSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LayerSecrets([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HasKind;
    use crate::test_rng::TestRng;

    fn keypair(rng: &mut TestRng) -> ([u8; 32], [u8; 32]) {
        let mut secret = [0u8; 32];
        rand_core::Rng::fill_bytes(rng, &mut secret);
        (secret, x25519_public(&secret))
    }

    #[test]
    fn client_and_node_derive_the_same_key_for_both_ciphers() {
        let mut rng = TestRng::new(1);
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let (e, _) = keypair(&mut rng);
            let (x, x_pub) = keypair(&mut rng);
            let client = LayerKey::client(enc_type, &e, &x_pub).unwrap();
            let node = LayerKey::node(enc_type, &x, &x25519_public(&e)).unwrap();
            assert_eq!(*client.to_bytes(), *node.to_bytes());
            let blob = client.encrypt(b"hello", &mut rng).unwrap();
            assert_eq!(blob.len(), 5 + enc_type.overhead());
            assert_eq!(node.decrypt(&blob).unwrap(), b"hello");
        }
    }

    #[test]
    fn node_keys_derive_what_the_bare_secret_derives() {
        let mut rng = TestRng::new(6);
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let (e, e_pub) = keypair(&mut rng);
            let (x, x_pub) = keypair(&mut rng);
            let keys = NodeKeys::new(&x);
            assert_eq!(keys.public(), x_pub);
            let expected = LayerKey::client(enc_type, &e, &x_pub).unwrap().to_bytes();
            for key in [
                LayerKey::node(enc_type, &x, &e_pub).unwrap(),
                LayerKey::node(enc_type, &Zeroizing::new(x), &e_pub).unwrap(),
                LayerKey::node(enc_type, &keys, &e_pub).unwrap(),
            ] {
                assert_eq!(*key.to_bytes(), *expected);
            }
            let debug = format!("{keys:?}");
            assert!(debug.contains(&hex::encode(x_pub)), "{debug}");
            assert!(!debug.contains(&hex::encode(x)), "{debug}");
        }
    }

    #[test]
    fn the_two_ciphers_derive_different_keys() {
        let mut rng = TestRng::new(2);
        let (e, _) = keypair(&mut rng);
        let (_, x_pub) = keypair(&mut rng);
        let gcm = LayerKey::client(EncType::AesGcm, &e, &x_pub).unwrap();
        let xchacha = LayerKey::client(EncType::XChaCha20, &e, &x_pub).unwrap();
        assert_ne!(*gcm.to_bytes(), *xchacha.to_bytes());
    }

    #[test]
    fn enc_type_names_and_aliases() {
        for (name, enc_type) in [
            ("aes-gcm", EncType::AesGcm),
            ("gcm", EncType::AesGcm),
            ("xchacha20", EncType::XChaCha20),
            ("xchacha20-poly1305", EncType::XChaCha20),
        ] {
            assert_eq!(EncType::from_name(name).unwrap(), enc_type);
        }
        assert_eq!(EncType::AesGcm.as_str(), "aes-gcm");
        assert_eq!(EncType::XChaCha20.to_string(), "xchacha20");
        assert_eq!(EncType::default(), EncType::AesGcm);
        let err = EncType::from_name(&"x".repeat(1000)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Malformed);
        assert!(err.to_string().len() < 100);
    }

    #[test]
    fn small_order_keys_are_refused() {
        let mut rng = TestRng::new(3);
        let (e, _) = keypair(&mut rng);
        for small in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let err = LayerKey::client(EncType::AesGcm, &e, &small).unwrap_err();
            assert_eq!(
                err,
                OnionError::WeakKey {
                    owner: KeyOwner::Caller
                }
            );
            assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
            let err = LayerKey::node(EncType::XChaCha20, &e, &small).unwrap_err();
            assert_eq!(
                err,
                OnionError::WeakKey {
                    owner: KeyOwner::Peer
                }
            );
            assert_eq!(err.kind(), crate::ErrorKind::Malformed);
        }
    }

    #[test]
    fn short_tampered_and_wrong_key_blobs_fail_with_typed_errors() {
        let mut rng = TestRng::new(4);
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let key = LayerKey::from_bytes(enc_type, [7u8; 32]);
            let blob = key.encrypt(b"payload", &mut rng).unwrap();
            for len in 0..enc_type.overhead() {
                assert!(matches!(
                    key.decrypt(&blob[..len]),
                    Err(OnionError::Truncated { .. })
                ));
            }
            // An empty plaintext is fine.
            let empty = key.encrypt(b"", &mut rng).unwrap();
            assert_eq!(key.decrypt(&empty).unwrap(), b"");
            for i in 0..blob.len() {
                let mut flipped = blob.clone();
                flipped[i] ^= 0x01;
                let err = key.decrypt(&flipped).unwrap_err();
                assert_eq!(err, OnionError::Decrypt { enc_type });
                assert_eq!(err.kind(), crate::ErrorKind::BadSignature);
            }
            let other = LayerKey::from_bytes(enc_type, [8u8; 32]);
            assert!(matches!(
                other.decrypt(&blob),
                Err(OnionError::Decrypt { .. })
            ));
        }
    }

    #[test]
    fn explicit_nonces_must_have_the_cipher_length() {
        let key = LayerKey::from_bytes(EncType::AesGcm, [1u8; 32]);
        assert!(key.encrypt_with_nonce(&[0u8; 24], b"x").is_err());
        let blob = key.encrypt_with_nonce(&[9u8; 12], b"x").unwrap();
        assert_eq!(&blob[..12], &[9u8; 12]);
        let key = LayerKey::from_bytes(EncType::XChaCha20, [1u8; 32]);
        let err = key.encrypt_with_nonce(&[0u8; 12], b"x").unwrap_err();
        assert_eq!(
            err,
            OnionError::NonceLength {
                enc_type: EncType::XChaCha20,
                got: 12
            }
        );
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
    }

    #[test]
    fn debug_hides_keys_and_secrets() {
        let key = LayerKey::from_bytes(EncType::AesGcm, [0xab; 32]);
        assert_eq!(format!("{key:?}"), "LayerKey { enc_type: AesGcm, .. }");
        let secrets = LayerSecrets::random(&mut TestRng::new(5));
        assert_eq!(format!("{secrets:?}"), "LayerSecrets([redacted])");
    }
}
