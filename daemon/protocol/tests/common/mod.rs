//! What the integration tests share (`mod common;` in each): the published vectors and their
//! hex fields, the check that a test file covers every vector of its family, the seeded test RNG,
//! and thin safe wrappers over the libsodium calls several files compare against.
//!
//! Each test file is its own crate and uses only part of this, hence the `dead_code` allowance.
//! `benches/crypto.rs` includes it too, for the libsodium wrappers.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::LazyLock;

use rand_core::Rng;
use serde_json::Value;
use sessiond_protocol::{AccountId, Identity, Seed};

// ---------------------------------------------------------------------------------------------
// The published vectors (`shared/protocol/vectors.json`).

/// The shared protocol folder (`shared/protocol`: vectors, word lists).
pub const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/protocol");

/// The parsed `vectors.json`.
static VECTORS: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(format!("{SHARED}/vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
});

/// The vectors, in file order.
fn vectors() -> &'static [Value] {
    VECTORS["vectors"].as_array().unwrap()
}

/// The whole vector with this id (`id`, `data`, `notes`, …).
pub fn vector(id: &str) -> &'static Value {
    vectors()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

/// The `data` of the vector with this id.
pub fn data(id: &str) -> &'static Value {
    &vector(id)["data"]
}

/// The `data.cases` of the vector with this id.
pub fn cases(id: &str) -> &'static [Value] {
    data(id)["cases"].as_array().unwrap()
}

/// Every vector id, in file order.
pub fn all_ids() -> Vec<&'static str> {
    vectors().iter().map(|v| text(&v["id"])).collect()
}

/// The ids of the vectors whose id starts with one of `prefixes` (a family), in file order.
pub fn family_ids(prefixes: &[&str]) -> Vec<&'static str> {
    all_ids()
        .into_iter()
        .filter(|id| prefixes.iter().any(|p| id.starts_with(p)))
        .collect()
}

/// Fails unless every id of `family` is `listed` as tested, and every `listed` id is still one
/// of `known`.
pub fn assert_all_listed(family: &[&str], listed: &[&str], known: &[&str]) {
    for id in family {
        assert!(listed.contains(id), "vector {id} is not tested");
    }
    for id in listed {
        assert!(
            known.contains(id),
            "{id} is listed as tested but is not in vectors.json (where expected)"
        );
    }
}

/// A string field.
pub fn text(value: &Value) -> &str {
    value.as_str().unwrap()
}

/// A hex field's bytes.
pub fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(text(value)).unwrap()
}

/// A hex field of 32 bytes.
pub fn array32(value: &Value) -> [u8; 32] {
    bytes(value).try_into().unwrap()
}

/// A hex field of 64 bytes.
pub fn array64(value: &Value) -> [u8; 64] {
    bytes(value).try_into().unwrap()
}

/// A non-negative integer field.
pub fn number(value: &Value) -> usize {
    usize::try_from(value.as_u64().unwrap()).unwrap()
}

/// An Account ID field.
pub fn account_id(value: &Value) -> AccountId {
    text(value).parse().unwrap()
}

/// The identity of a hex seed field (16 or 32 bytes).
pub fn identity(seed: &Value) -> Identity {
    Identity::from_seed(&Seed::from_bytes(&bytes(seed)).unwrap())
}

/// The identity of a libsodium 64-byte secret key (seed32 || Ed25519 public key), checking that
/// the key's second half is the derived public key.
pub fn identity_of_sodium_sk(sk: &[u8]) -> Identity {
    let identity = Identity::from_seed(&Seed::from_bytes(&sk[..32]).unwrap());
    assert_eq!(&identity.ed25519_secret_key()[..], sk);
    assert_eq!(identity.ed25519_public(), sk[32..]);
    identity
}

// ---------------------------------------------------------------------------------------------
// The seeded RNG: the unit tests' SplitMix64, so that a failing case reproduces.

#[path = "../../src/test_rng.rs"]
mod test_rng;

pub(crate) use test_rng::TestRng;

impl TestRng {
    /// `N` random bytes.
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_bytes(&mut out);
        out
    }

    /// A value in `0..=max`.
    pub fn upto(&mut self, max: usize) -> usize {
        self.below(max + 1)
    }

    /// `len` random bytes.
    pub fn bytes_exact(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        self.fill_bytes(&mut out);
        out
    }

    /// Random bytes, `min..=max` of them.
    pub fn bytes_between(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = min + self.upto(max - min);
        self.bytes_exact(len)
    }

    /// Random bytes, at most `max_len` of them.
    pub fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        self.bytes_between(0, max_len)
    }

    /// An identity from a random 32-byte seed.
    pub fn identity(&mut self) -> Identity {
        let seed: [u8; 32] = self.array();
        Identity::from_seed(&Seed::from_bytes(&seed).unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// libsodium.

/// Safe wrappers over the libsodium calls several tests compare against. Each makes sure
/// libsodium is initialised.
#[allow(unsafe_code)]
pub mod libsodium {
    use std::mem::MaybeUninit;
    use std::ptr;
    use std::sync::Once;

    use libsodium_sys as sodium;
    use sessiond_protocol::onion::EncType;

    /// `sodium_init`, once.
    pub fn init() {
        static INIT: Once = Once::new();
        INIT.call_once(|| assert!(unsafe { sodium::sodium_init() } >= 0));
    }

    /// Whether this CPU runs libsodium's AES-256-GCM.
    pub fn aes_gcm_available() -> bool {
        init();
        unsafe { sodium::crypto_aead_aes256gcm_is_available() == 1 }
    }

    /// `crypto_sign_seed_keypair`: (public key, 64-byte secret key).
    pub fn sign_seed_keypair(seed: &[u8; 32]) -> ([u8; 32], [u8; 64]) {
        init();
        let (mut pk, mut sk) = ([0u8; 32], [0u8; 64]);
        let rc = unsafe {
            sodium::crypto_sign_seed_keypair(pk.as_mut_ptr(), sk.as_mut_ptr(), seed.as_ptr())
        };
        assert_eq!(rc, 0);
        (pk, sk)
    }

    /// `crypto_sign_ed25519_pk_to_curve25519`, `None` where libsodium refuses the key.
    pub fn pk_to_curve25519(ed_pk: &[u8; 32]) -> Option<[u8; 32]> {
        init();
        let mut x = [0u8; 32];
        let rc =
            unsafe { sodium::crypto_sign_ed25519_pk_to_curve25519(x.as_mut_ptr(), ed_pk.as_ptr()) };
        (rc == 0).then_some(x)
    }

    /// `crypto_sign_detached`.
    pub fn sign(sk: &[u8; 64], message: &[u8]) -> [u8; 64] {
        init();
        let mut sig = [0u8; 64];
        let rc = unsafe {
            sodium::crypto_sign_detached(
                sig.as_mut_ptr(),
                ptr::null_mut(),
                message.as_ptr(),
                message.len() as u64,
                sk.as_ptr(),
            )
        };
        assert_eq!(rc, 0);
        sig
    }

    /// `crypto_sign_verify_detached`.
    pub fn verify(pk: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
        init();
        unsafe {
            sodium::crypto_sign_verify_detached(
                sig.as_ptr(),
                message.as_ptr(),
                message.len() as u64,
                pk.as_ptr(),
            ) == 0
        }
    }

    /// `crypto_generichash` (BLAKE2b) with an `N`-byte output, keyed unless `key` is empty.
    pub fn generichash<const N: usize>(key: &[u8], message: &[u8]) -> [u8; N] {
        init();
        let mut out = [0u8; N];
        let key_ptr = if key.is_empty() {
            ptr::null()
        } else {
            key.as_ptr()
        };
        let rc = unsafe {
            sodium::crypto_generichash(
                out.as_mut_ptr(),
                N,
                message.as_ptr(),
                message.len() as u64,
                key_ptr,
                key.len(),
            )
        };
        assert_eq!(rc, 0);
        out
    }

    /// `crypto_scalarmult` (X25519), `None` for an all-zero result (a small-order point).
    pub fn scalarmult(secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
        init();
        let mut out = [0u8; 32];
        let rc = unsafe {
            sodium::crypto_scalarmult(out.as_mut_ptr(), secret.as_ptr(), public.as_ptr())
        };
        (rc == 0).then_some(out)
    }

    /// `crypto_scalarmult_base`.
    pub fn scalarmult_base(secret: &[u8; 32]) -> [u8; 32] {
        init();
        let mut out = [0u8; 32];
        let rc = unsafe { sodium::crypto_scalarmult_base(out.as_mut_ptr(), secret.as_ptr()) };
        assert_eq!(rc, 0);
        out
    }

    /// `crypto_box_seal`.
    pub fn seal(pk: &[u8; 32], message: &[u8]) -> Vec<u8> {
        init();
        let mut out = vec![0u8; message.len() + 48];
        let rc = unsafe {
            sodium::crypto_box_seal(
                out.as_mut_ptr(),
                message.as_ptr(),
                message.len() as u64,
                pk.as_ptr(),
            )
        };
        assert_eq!(rc, 0);
        out
    }

    /// `crypto_box_seal_open`, `None` if the box does not open.
    pub fn seal_open(pk: &[u8; 32], sk: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
        init();
        let mut out = vec![0u8; sealed.len().checked_sub(48)?];
        let rc = unsafe {
            sodium::crypto_box_seal_open(
                out.as_mut_ptr(),
                sealed.as_ptr(),
                sealed.len() as u64,
                pk.as_ptr(),
                sk.as_ptr(),
            )
        };
        (rc == 0).then_some(out)
    }

    /// libsession's `encrypt_for_recipient` with libsodium (protocol.md §2.4):
    /// `crypto_box_seal(M || A || sig(M || A || Y), Y)`.
    pub fn encrypt_for_recipient(sender_sk: &[u8; 64], y: &[u8; 32], message: &[u8]) -> Vec<u8> {
        let a = &sender_sk[32..];
        let signature = sign(sender_sk, &[message, a, y].concat());
        seal(y, &[message, a, &signature].concat())
    }

    /// libsession's `decrypt_incoming` with libsodium: `crypto_box_seal_open`, split,
    /// `crypto_sign_verify_detached(sig, M || A || Y, A)`; `(M, A)` on success.
    pub fn decrypt_incoming(
        x_pk: &[u8; 32],
        x_sk: &[u8; 32],
        ciphertext: &[u8],
    ) -> Option<(Vec<u8>, [u8; 32])> {
        let inner = seal_open(x_pk, x_sk, ciphertext)?;
        let m_len = inner.len().checked_sub(96)?;
        let (m, rest) = inner.split_at(m_len);
        let (a, sig) = rest.split_first_chunk::<32>()?;
        let sig: &[u8; 64] = sig.try_into().ok()?;
        verify(a, &[m, a, x_pk].concat(), sig).then(|| (m.to_vec(), *a))
    }

    /// libsodium's two AEADs (IETF constructions, 16-byte tag after the ciphertext).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Aead {
        /// `crypto_aead_aes256gcm_*`, 12-byte nonce.
        Aes256Gcm,
        /// `crypto_aead_xchacha20poly1305_ietf_*`, 24-byte nonce.
        XChaCha20Poly1305,
    }

    impl From<EncType> for Aead {
        fn from(enc_type: EncType) -> Aead {
            match enc_type {
                EncType::AesGcm => Aead::Aes256Gcm,
                EncType::XChaCha20 => Aead::XChaCha20Poly1305,
            }
        }
    }

    /// `ciphertext || tag`, no associated data.
    pub fn aead_encrypt(aead: Aead, key: &[u8; 32], nonce: &[u8], plaintext: &[u8]) -> Vec<u8> {
        init();
        let mut out = vec![0u8; plaintext.len() + 16];
        let mut out_len = 0u64;
        let encrypt = match aead {
            Aead::Aes256Gcm => sodium::crypto_aead_aes256gcm_encrypt,
            Aead::XChaCha20Poly1305 => sodium::crypto_aead_xchacha20poly1305_ietf_encrypt,
        };
        let rc = unsafe {
            encrypt(
                out.as_mut_ptr(),
                &mut out_len,
                plaintext.as_ptr(),
                plaintext.len() as u64,
                ptr::null(),
                0,
                ptr::null(),
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(out_len as usize, out.len());
        out
    }

    /// Opens `ciphertext || tag`, `None` if it does not authenticate.
    pub fn aead_decrypt(
        aead: Aead,
        key: &[u8; 32],
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Option<Vec<u8>> {
        init();
        let mut out = vec![0u8; ciphertext.len().checked_sub(16)?];
        let mut out_len = 0u64;
        let decrypt = match aead {
            Aead::Aes256Gcm => sodium::crypto_aead_aes256gcm_decrypt,
            Aead::XChaCha20Poly1305 => sodium::crypto_aead_xchacha20poly1305_ietf_decrypt,
        };
        let rc = unsafe {
            decrypt(
                out.as_mut_ptr(),
                &mut out_len,
                ptr::null_mut(),
                ciphertext.as_ptr(),
                ciphertext.len() as u64,
                ptr::null(),
                0,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        (rc == 0).then(|| {
            out.truncate(out_len as usize);
            out
        })
    }

    /// An onion layer key as libsession derives it with libsodium (protocol.md §4.2): `shared` is
    /// the X25519 secret, `e_pub` the client's ephemeral public key, `x_pub` the node's.
    pub fn layer_key(
        enc_type: EncType,
        shared: &[u8; 32],
        e_pub: &[u8; 32],
        x_pub: &[u8; 32],
    ) -> [u8; 32] {
        init();
        match enc_type {
            EncType::AesGcm => {
                let mut key = [0u8; 32];
                let mut state = MaybeUninit::<sodium::crypto_auth_hmacsha256_state>::uninit();
                unsafe {
                    let s = state.as_mut_ptr();
                    assert_eq!(
                        sodium::crypto_auth_hmacsha256_init(s, b"LOKI".as_ptr(), 4),
                        0
                    );
                    assert_eq!(
                        sodium::crypto_auth_hmacsha256_update(s, shared.as_ptr(), 32),
                        0
                    );
                    assert_eq!(sodium::crypto_auth_hmacsha256_final(s, key.as_mut_ptr()), 0);
                }
                key
            }
            EncType::XChaCha20 => generichash(b"", &[&shared[..], e_pub, x_pub].concat()),
        }
    }
}
