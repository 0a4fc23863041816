//! Sealed boxes, Ed25519 signatures, `encrypt_for_recipient`, storage-RPC signatures and message
//! hashes checked against the real libsodium (through `libsodium_sys`), on seeded random inputs.
//!
//! Every exchange is tested both ways: what we produce, libsodium opens or verifies, and what
//! libsodium produces, we open or verify. `encrypt_for_recipient` is re-implemented here from
//! libsodium primitives exactly as protocol.md §2.4/§2.6 describe it (the way libsession does).
//! Verification must also *reject* the same malformed signatures libsodium rejects.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::Once;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use libsodium_sys as sodium;
use rand_core::{Rng, TryCryptoRng, TryRng};
use sessiond_protocol::message::sealed::{
    DecryptError, decrypt_incoming, encrypt_for_recipient, encrypt_for_recipient_deterministic,
    open_sealed_box, seal_box,
};
use sessiond_protocol::storage_auth::{
    ExpireMode, RequestAuth, SignedRequest, sign_as_account, verify_request_signature,
};
use sessiond_protocol::{
    AccountId, Identity, MessageHash, Namespace, NamespaceSelector, Seed, SwarmPubkey,
};

/// Random cases per test.
const CASES: usize = 128;

// ---------------------------------------------------------------------------------------------
// A seeded RNG, so that a failing case reproduces.

/// SplitMix64 (not cryptographic; fine for tests).
struct TestRng(u64);

impl TestRng {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.fill_bytes(&mut out);
        out
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let mut out = vec![0u8; self.below(max_len + 1)];
        self.fill_bytes(&mut out);
        out
    }

    fn identity(&mut self) -> Identity {
        let seed: [u8; 32] = self.array();
        Identity::from_seed(&Seed::from_bytes(&seed).unwrap())
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

// ---------------------------------------------------------------------------------------------
// Safe wrappers around the libsodium calls used here.

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| assert!(unsafe { sodium::sodium_init() } >= 0));
}

/// `crypto_sign_seed_keypair`: (public key, 64-byte secret key).
fn sodium_sign_keypair(seed: &[u8; 32]) -> ([u8; 32], [u8; 64]) {
    let (mut pk, mut sk) = ([0u8; 32], [0u8; 64]);
    assert_eq!(
        unsafe {
            sodium::crypto_sign_seed_keypair(pk.as_mut_ptr(), sk.as_mut_ptr(), seed.as_ptr())
        },
        0
    );
    (pk, sk)
}

/// `crypto_box_seed_keypair`: (public key, secret key).
fn sodium_box_keypair(seed: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (mut pk, mut sk) = ([0u8; 32], [0u8; 32]);
    assert_eq!(
        unsafe { sodium::crypto_box_seed_keypair(pk.as_mut_ptr(), sk.as_mut_ptr(), seed.as_ptr()) },
        0
    );
    (pk, sk)
}

fn sodium_pk_to_curve25519(ed_pk: &[u8; 32]) -> Option<[u8; 32]> {
    let mut x = [0u8; 32];
    (unsafe { sodium::crypto_sign_ed25519_pk_to_curve25519(x.as_mut_ptr(), ed_pk.as_ptr()) } == 0)
        .then_some(x)
}

fn sodium_sign(sk: &[u8; 64], message: &[u8]) -> [u8; 64] {
    let mut sig = [0u8; 64];
    assert_eq!(
        unsafe {
            sodium::crypto_sign_detached(
                sig.as_mut_ptr(),
                std::ptr::null_mut(),
                message.as_ptr(),
                message.len() as u64,
                sk.as_ptr(),
            )
        },
        0
    );
    sig
}

fn sodium_verify(pk: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    unsafe {
        sodium::crypto_sign_verify_detached(
            sig.as_ptr(),
            message.as_ptr(),
            message.len() as u64,
            pk.as_ptr(),
        ) == 0
    }
}

fn sodium_seal(pk: &[u8; 32], message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; message.len() + 48];
    assert_eq!(
        unsafe {
            sodium::crypto_box_seal(
                out.as_mut_ptr(),
                message.as_ptr(),
                message.len() as u64,
                pk.as_ptr(),
            )
        },
        0
    );
    out
}

fn sodium_seal_open(pk: &[u8; 32], sk: &[u8; 32], sealed: &[u8]) -> Option<Vec<u8>> {
    let len = sealed.len().checked_sub(48)?;
    let mut out = vec![0u8; len];
    (unsafe {
        sodium::crypto_box_seal_open(
            out.as_mut_ptr(),
            sealed.as_ptr(),
            sealed.len() as u64,
            pk.as_ptr(),
            sk.as_ptr(),
        )
    } == 0)
        .then_some(out)
}

fn sodium_box_easy(message: &[u8], nonce: &[u8; 24], pk: &[u8; 32], sk: &[u8; 32]) -> Vec<u8> {
    let mut out = vec![0u8; message.len() + 16];
    assert_eq!(
        unsafe {
            sodium::crypto_box_easy(
                out.as_mut_ptr(),
                message.as_ptr(),
                message.len() as u64,
                nonce.as_ptr(),
                pk.as_ptr(),
                sk.as_ptr(),
            )
        },
        0
    );
    out
}

/// `crypto_generichash` (BLAKE2b) with an `N`-byte output.
fn sodium_generichash<const N: usize>(key: &[u8], message: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    assert_eq!(
        unsafe {
            sodium::crypto_generichash(
                out.as_mut_ptr(),
                N,
                message.as_ptr(),
                message.len() as u64,
                if key.is_empty() {
                    std::ptr::null()
                } else {
                    key.as_ptr()
                },
                key.len(),
            )
        },
        0
    );
    out
}

// ---------------------------------------------------------------------------------------------
// encrypt_for_recipient, re-implemented with libsodium (protocol.md §2.4, §2.6).

/// `crypto_box_seal(M || A || sig(M || A || Y), Y)` with libsodium.
fn sodium_encrypt_for_recipient(sender_sk: &[u8; 64], y: &[u8; 32], message: &[u8]) -> Vec<u8> {
    let a = &sender_sk[32..];
    let signature = sodium_sign(sender_sk, &[message, a, y].concat());
    sodium_seal(y, &[message, a, &signature].concat())
}

/// The deterministic variant with libsodium: ephemeral seed from keyed BLAKE2b, nonce from
/// BLAKE2b-24(eph_pk || Y), `eph_pk || crypto_box_easy(...)`.
fn sodium_encrypt_for_recipient_deterministic(
    sender_sk: &[u8; 64],
    y: &[u8; 32],
    message: &[u8],
) -> Vec<u8> {
    let a = &sender_sk[32..];
    let signature = sodium_sign(sender_sk, &[message, a, y].concat());
    let inner = [message, a, &signature].concat();
    let eph_seed: [u8; 32] = sodium_generichash(
        b"SessionBoxEphemeralHashKey",
        &[&sender_sk[..32], y, message].concat(),
    );
    let (eph_pk, eph_sk) = sodium_box_keypair(&eph_seed);
    let nonce: [u8; 24] = sodium_generichash(b"", &[&eph_pk[..], y].concat());
    [&eph_pk[..], &sodium_box_easy(&inner, &nonce, y, &eph_sk)].concat()
}

/// `crypto_box_seal_open`, split, `crypto_sign_verify_detached(sig, M || A || Y, A)`:
/// `(M, A)` on success.
fn sodium_decrypt_incoming(
    x_pk: &[u8; 32],
    x_sk: &[u8; 32],
    ciphertext: &[u8],
) -> Option<(Vec<u8>, [u8; 32])> {
    let inner = sodium_seal_open(x_pk, x_sk, ciphertext)?;
    let m_len = inner.len().checked_sub(96)?;
    let (m, rest) = inner.split_at(m_len);
    let a: [u8; 32] = rest[..32].try_into().unwrap();
    let sig: [u8; 64] = rest[32..].try_into().unwrap();
    sodium_verify(&a, &[m, &a, x_pk].concat(), &sig).then(|| (m.to_vec(), a))
}

// ---------------------------------------------------------------------------------------------
// Sealed boxes.

#[test]
fn our_sealed_boxes_open_with_libsodium() {
    init();
    let mut rng = TestRng(1);
    for case in 0..CASES {
        let (pk, sk) = sodium_box_keypair(&rng.array());
        let message = rng.bytes(600);
        let sealed = seal_box(&pk, &message, &mut rng).unwrap();
        assert_eq!(
            sodium_seal_open(&pk, &sk, &sealed),
            Some(message),
            "case {case}"
        );
    }
}

#[test]
fn libsodium_sealed_boxes_open_with_ours() {
    init();
    let mut rng = TestRng(2);
    for case in 0..CASES {
        let (pk, sk) = sodium_box_keypair(&rng.array());
        let message = rng.bytes(600);
        let sealed = sodium_seal(&pk, &message);
        assert_eq!(
            *open_sealed_box(&sk, &pk, &sealed).unwrap(),
            message,
            "case {case}"
        );
        // And a tampered box fails on both sides.
        let mut tampered = sealed.clone();
        let i = rng.below(tampered.len());
        tampered[i] ^= 1 << rng.below(8);
        assert_eq!(sodium_seal_open(&pk, &sk, &tampered), None, "case {case}");
        assert!(open_sealed_box(&sk, &pk, &tampered).is_err(), "case {case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Ed25519 signatures and the key conversion.

#[test]
fn our_keys_and_signatures_equal_libsodiums() {
    init();
    let mut rng = TestRng(3);
    for case in 0..CASES {
        let seed: [u8; 32] = rng.array();
        let identity = Identity::from_seed(&Seed::from_bytes(&seed).unwrap());
        let (pk, sk) = sodium_sign_keypair(&seed);
        assert_eq!(identity.ed25519_public(), pk, "case {case}");
        assert_eq!(*identity.ed25519_secret_key(), sk, "case {case}");
        assert_eq!(
            sodium_pk_to_curve25519(&pk),
            Some(identity.x25519_public()),
            "case {case}"
        );

        // Ed25519 is deterministic: same bytes, and libsodium verifies ours.
        let message = rng.bytes(300);
        let ours = identity.sign(&message);
        assert_eq!(ours, sodium_sign(&sk, &message), "case {case}");
        assert!(sodium_verify(&pk, &message, &ours), "case {case}");
    }
}

/// A `retrieve` request whose signature is `signature`, made by the account with Ed25519 key
/// `ed_pk`.
fn retrieve_auth(ed_pk: [u8; 32], x_pk: [u8; 32], signature: [u8; 64]) -> RequestAuth {
    RequestAuth {
        pubkey: SwarmPubkey::Account(AccountId::from_x25519_public(x_pk)),
        pubkey_ed25519: Some(ed_pk),
        signature,
        subaccount: None,
    }
}

#[test]
fn libsodium_signatures_verify_with_ours_and_bad_ones_fail_on_both_sides() {
    init();
    let mut rng = TestRng(4);
    // L, the order of the Ed25519 group (little-endian).
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    for case in 0..CASES {
        let (pk, sk) = sodium_sign_keypair(&rng.array());
        let x_pk = sodium_pk_to_curve25519(&pk).unwrap();
        let request = SignedRequest::Retrieve {
            namespace: Namespace::new(rng.below(20) as i16 - 10),
            timestamp_ms: rng.next_u64() >> 20,
        };
        let message = request.message();
        let signature = sodium_sign(&sk, &message);
        assert!(
            verify_request_signature(&retrieve_auth(pk, x_pk, signature), &request).is_ok(),
            "case {case}"
        );

        // Malformed variants: a flipped bit; S + L (same value, non-canonical); random bytes.
        let mut flipped = signature;
        flipped[rng.below(64)] ^= 1 << rng.below(8);
        let mut s_plus_l = signature;
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(s_plus_l[32 + i]) + u16::from(l[i]) + carry;
            s_plus_l[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        for bad in [flipped, s_plus_l, rng.array()] {
            let libsodium = sodium_verify(&pk, &message, &bad);
            let ours = verify_request_signature(&retrieve_auth(pk, x_pk, bad), &request).is_ok();
            assert_eq!(ours, libsodium, "case {case}");
            assert!(!ours, "case {case}");
        }
    }
}

#[test]
fn small_order_keys_are_refused_like_libsodium() {
    init();
    // Encodings of small-order points (the identity, a point of order 2, points of order 4 and 8)
    // and a non-canonical encoding: libsodium verifies nothing under them, nor do we.
    let keys = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    let identity = Identity::from_seed(&Seed::from_bytes(&[5; 16]).unwrap());
    let request = SignedRequest::Delete { hashes: &[] };
    for key in keys {
        let pk: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
        // R = the identity point, S = 0: the classic "valid for every message" forgery.
        let mut forgery = [0u8; 64];
        forgery[0] = 1;
        assert!(!sodium_verify(&pk, &request.message(), &forgery), "{key}");
        let auth = RequestAuth {
            pubkey: SwarmPubkey::Group(sessiond_protocol::GroupId::from_ed25519_public(pk)),
            pubkey_ed25519: None,
            signature: forgery,
            subaccount: None,
        };
        assert!(verify_request_signature(&auth, &request).is_err(), "{key}");
    }
    // Sanity: the identity's real signature of the same request is accepted.
    let auth = sign_as_account(&identity, &request);
    assert!(verify_request_signature(&auth, &request).is_ok());
}

// ---------------------------------------------------------------------------------------------
// encrypt_for_recipient / decrypt_incoming.

#[test]
fn our_encrypt_for_recipient_decrypts_with_libsodium() {
    init();
    let mut rng = TestRng(5);
    for case in 0..CASES {
        let (sender, recipient) = (rng.identity(), rng.identity());
        let message = rng.bytes(700);
        let ciphertext =
            encrypt_for_recipient(&sender, &recipient.x25519_public(), &message, &mut rng).unwrap();
        let (m, a) = sodium_decrypt_incoming(
            &recipient.x25519_public(),
            &recipient.x25519_secret_key(),
            &ciphertext,
        )
        .unwrap_or_else(|| panic!("case {case}"));
        assert_eq!(m, message, "case {case}");
        assert_eq!(a, sender.ed25519_public(), "case {case}");
    }
}

#[test]
fn libsodium_encrypt_for_recipient_decrypts_with_ours() {
    init();
    let mut rng = TestRng(6);
    for case in 0..CASES {
        let sender_seed: [u8; 32] = rng.array();
        let (sender_pk, sender_sk) = sodium_sign_keypair(&sender_seed);
        let recipient = rng.identity();
        let message = rng.bytes(700);
        let ciphertext =
            sodium_encrypt_for_recipient(&sender_sk, &recipient.x25519_public(), &message);
        let decrypted = decrypt_incoming(&recipient, &ciphertext).unwrap();
        assert_eq!(*decrypted.plaintext, message, "case {case}");
        assert_eq!(decrypted.sender_ed25519, sender_pk, "case {case}");

        // Signed for someone else, sealed to the recipient: refused by both.
        let other = rng.identity();
        let a = &sender_sk[32..];
        let signature = sodium_sign(
            &sender_sk,
            &[&message[..], a, &other.x25519_public()].concat(),
        );
        let misdirected = sodium_seal(
            &recipient.x25519_public(),
            &[&message[..], a, &signature].concat(),
        );
        assert_eq!(
            sodium_decrypt_incoming(
                &recipient.x25519_public(),
                &recipient.x25519_secret_key(),
                &misdirected
            ),
            None
        );
        assert_eq!(
            decrypt_incoming(&recipient, &misdirected).unwrap_err(),
            DecryptError::BadSignature
        );
    }
}

#[test]
fn deterministic_encryption_equals_libsodiums_byte_for_byte() {
    init();
    let mut rng = TestRng(7);
    for case in 0..CASES {
        let seed: [u8; 32] = rng.array();
        let sender = Identity::from_seed(&Seed::from_bytes(&seed).unwrap());
        let (_, sender_sk) = sodium_sign_keypair(&seed);
        let recipient = rng.identity();
        let message = rng.bytes(700);
        let ours =
            encrypt_for_recipient_deterministic(&sender, &recipient.x25519_public(), &message)
                .unwrap();
        let theirs = sodium_encrypt_for_recipient_deterministic(
            &sender_sk,
            &recipient.x25519_public(),
            &message,
        );
        assert_eq!(ours, theirs, "case {case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Storage-RPC signatures and message hashes.

#[test]
fn our_storage_signatures_verify_with_libsodium_over_the_expected_strings() {
    init();
    let mut rng = TestRng(8);
    let hashes: Vec<MessageHash> = (0..4)
        .map(|_| STANDARD_NO_PAD.encode(rng.array::<32>()).parse().unwrap())
        .collect();
    for case in 0..CASES {
        let identity = rng.identity();
        let ns = Namespace::new(rng.below(30) as i16 - 15);
        let ns_text = if ns == Namespace::DEFAULT {
            String::new()
        } else {
            ns.get().to_string()
        };
        let t = rng.next_u64() >> 20;
        let n = 1 + rng.below(hashes.len());
        let joined: String = hashes[..n].iter().map(MessageHash::as_str).collect();
        let (request, expected) = match case % 6 {
            0 => (
                SignedRequest::Retrieve {
                    namespace: ns,
                    timestamp_ms: t,
                },
                format!("retrieve{ns_text}{t}"),
            ),
            1 => (
                SignedRequest::Store {
                    namespace: ns,
                    sig_timestamp_ms: t,
                },
                format!("store{ns_text}{t}"),
            ),
            2 => (
                SignedRequest::Delete {
                    hashes: &hashes[..n],
                },
                format!("delete{joined}"),
            ),
            3 => (
                SignedRequest::DeleteAll {
                    namespace: NamespaceSelector::All,
                    timestamp_ms: t,
                },
                format!("delete_allall{t}"),
            ),
            4 => (
                SignedRequest::Expire {
                    mode: ExpireMode::Extend,
                    expiries_ms: &[t],
                    hashes: &hashes[..n],
                },
                format!("expireextend{t}{joined}"),
            ),
            _ => (
                SignedRequest::GetExpiries {
                    timestamp_ms: t,
                    hashes: &hashes[..n],
                },
                format!("get_expiries{t}{joined}"),
            ),
        };
        assert_eq!(request.message(), expected.as_bytes(), "case {case}");
        let auth = sign_as_account(&identity, &request);
        let ed = auth.pubkey_ed25519.unwrap();
        assert!(
            sodium_verify(&ed, expected.as_bytes(), &auth.signature),
            "case {case}"
        );
        // The server's check that pubkey_ed25519 belongs to the Account ID.
        assert_eq!(
            sodium_pk_to_curve25519(&ed).map(AccountId::from_x25519_public),
            Some(identity.account_id())
        );
    }
}

#[test]
fn message_hashes_equal_libsodium_blake2b() {
    init();
    let mut rng = TestRng(9);
    for case in 0..CASES {
        let owner = if case % 2 == 0 {
            SwarmPubkey::Account(AccountId::from_x25519_public(rng.array()))
        } else {
            SwarmPubkey::Group(sessiond_protocol::GroupId::from_ed25519_public(rng.array()))
        };
        let ns = Namespace::new(rng.below(40) as i16 - 20);
        let data = rng.bytes(1000);
        let ns_text = if ns == Namespace::DEFAULT {
            String::new()
        } else {
            ns.get().to_string()
        };
        let digest: [u8; 32] = sodium_generichash(
            b"",
            &[&owner.to_bytes()[..], ns_text.as_bytes(), &data].concat(),
        );
        assert_eq!(
            MessageHash::compute(&owner, ns, &data).as_str(),
            STANDARD_NO_PAD.encode(digest),
            "case {case}"
        );
    }
}
