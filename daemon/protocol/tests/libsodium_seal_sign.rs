//! Sealed boxes, Ed25519 signatures, `encrypt_for_recipient`, storage-RPC signatures and message
//! hashes checked against the real libsodium (through `libsodium_sys`), on seeded random inputs.
//!
//! Every exchange is tested both ways: what we produce, libsodium opens or verifies, and what
//! libsodium produces, we open or verify. `encrypt_for_recipient` is re-implemented here from
//! libsodium primitives exactly as protocol.md §2.4/§2.6 describe it (the way libsession does).
//! Verification must also *reject* the same malformed signatures libsodium rejects.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use libsodium_sys as sodium;
use rand_core::Rng;
use sessiond_protocol::message::sealed::{
    DecryptError, decrypt_incoming, encrypt_for_recipient, encrypt_for_recipient_deterministic,
    open_sealed_box, seal_box,
};
use sessiond_protocol::storage_auth::{
    ExpireMode, RequestAuth, SignedRequest, sign_as_account, verify_request_signature,
};
use sessiond_protocol::{
    AccountId, Identity, MessageHash, Namespace, NamespaceSelector, Seed, SwarmPubkey,
    ed25519_public_to_x25519,
};
use sha2::{Digest, Sha512};

use common::{TestRng, libsodium};

/// Random cases per test.
const CASES: usize = 128;

// ---------------------------------------------------------------------------------------------
// libsodium calls only this file makes.

/// `crypto_box_seed_keypair`: (public key, secret key).
fn sodium_box_keypair(seed: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (mut pk, mut sk) = ([0u8; 32], [0u8; 32]);
    assert_eq!(
        unsafe { sodium::crypto_box_seed_keypair(pk.as_mut_ptr(), sk.as_mut_ptr(), seed.as_ptr()) },
        0
    );
    (pk, sk)
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

// ---------------------------------------------------------------------------------------------
// encrypt_for_recipient, re-implemented with libsodium (protocol.md §2.4, §2.6).

/// The deterministic variant with libsodium: ephemeral seed from keyed BLAKE2b, nonce from
/// BLAKE2b-24(eph_pk || Y), `eph_pk || crypto_box_easy(...)`.
fn sodium_encrypt_for_recipient_deterministic(
    sender_sk: &[u8; 64],
    y: &[u8; 32],
    message: &[u8],
) -> Vec<u8> {
    let a = &sender_sk[32..];
    let signature = libsodium::sign(sender_sk, &[message, a, y].concat());
    let inner = [message, a, &signature].concat();
    let eph_seed: [u8; 32] = libsodium::generichash(
        b"SessionBoxEphemeralHashKey",
        &[&sender_sk[..32], y, message].concat(),
    );
    let (eph_pk, eph_sk) = sodium_box_keypair(&eph_seed);
    let nonce: [u8; 24] = libsodium::generichash(b"", &[&eph_pk[..], y].concat());
    [&eph_pk[..], &sodium_box_easy(&inner, &nonce, y, &eph_sk)].concat()
}

// ---------------------------------------------------------------------------------------------
// Sealed boxes.

#[test]
fn our_sealed_boxes_open_with_libsodium() {
    libsodium::init();
    let mut rng = TestRng::new(1);
    for case in 0..CASES {
        let (pk, sk) = sodium_box_keypair(&rng.array());
        let message = rng.bytes(600);
        let sealed = seal_box(&pk, &message, &mut rng).unwrap();
        assert_eq!(
            libsodium::seal_open(&pk, &sk, &sealed),
            Some(message),
            "case {case}"
        );
    }
}

#[test]
fn libsodium_sealed_boxes_open_with_ours() {
    libsodium::init();
    let mut rng = TestRng::new(2);
    for case in 0..CASES {
        let (pk, sk) = sodium_box_keypair(&rng.array());
        let message = rng.bytes(600);
        let sealed = libsodium::seal(&pk, &message);
        assert_eq!(
            *open_sealed_box(&sk, &pk, &sealed).unwrap(),
            message,
            "case {case}"
        );
        // And a tampered box fails on both sides.
        let mut tampered = sealed.clone();
        let i = rng.below(tampered.len());
        tampered[i] ^= 1 << rng.below(8);
        assert_eq!(
            libsodium::seal_open(&pk, &sk, &tampered),
            None,
            "case {case}"
        );
        assert!(open_sealed_box(&sk, &pk, &tampered).is_err(), "case {case}");
    }
}

// ---------------------------------------------------------------------------------------------
// Ed25519 signatures and the key conversion.

#[test]
fn our_keys_and_signatures_equal_libsodiums() {
    libsodium::init();
    let mut rng = TestRng::new(3);
    for case in 0..CASES {
        let seed: [u8; 32] = rng.array();
        let identity = Identity::from_seed(&Seed::from_bytes(&seed).unwrap());
        let (pk, sk) = libsodium::sign_seed_keypair(&seed);
        assert_eq!(identity.ed25519_public(), pk, "case {case}");
        assert_eq!(*identity.ed25519_secret_key(), sk, "case {case}");
        assert_eq!(
            libsodium::pk_to_curve25519(&pk),
            Some(identity.x25519_public()),
            "case {case}"
        );

        // Ed25519 is deterministic: same bytes, and libsodium verifies ours.
        let message = rng.bytes(300);
        let ours = identity.sign(&message);
        assert_eq!(ours, libsodium::sign(&sk, &message), "case {case}");
        assert!(libsodium::verify(&pk, &message, &ours), "case {case}");
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
    libsodium::init();
    let mut rng = TestRng::new(4);
    // L, the order of the Ed25519 group (little-endian).
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    for case in 0..CASES {
        let (pk, sk) = libsodium::sign_seed_keypair(&rng.array());
        let x_pk = libsodium::pk_to_curve25519(&pk).unwrap();
        let request = SignedRequest::Retrieve {
            namespace: Namespace::new(rng.below(20) as i16 - 10),
            timestamp_ms: rng.next_u64() >> 20,
        };
        let message = request.message();
        let signature = libsodium::sign(&sk, &message);
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
            let libsodium = libsodium::verify(&pk, &message, &bad);
            let ours = verify_request_signature(&retrieve_auth(pk, x_pk, bad), &request).is_ok();
            assert_eq!(ours, libsodium, "case {case}");
            assert!(!ours, "case {case}");
        }
    }
}

#[test]
fn small_order_keys_are_refused_like_libsodium() {
    libsodium::init();
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
        assert!(
            !libsodium::verify(&pk, &request.message(), &forgery),
            "{key}"
        );
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

/// Whether our verification (reached through a group's storage signature, whose key is the
/// Ed25519 key itself) accepts `signature` of `message` under `pk`.
fn our_verify(pk: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let request = SignedRequest::Delete { hashes: &[] };
    assert_eq!(request.message(), b"delete");
    let auth = RequestAuth {
        pubkey: SwarmPubkey::Group(sessiond_protocol::GroupId::from_ed25519_public(*pk)),
        pubkey_ed25519: None,
        signature: *signature,
        subaccount: None,
    };
    assert_eq!(message, b"delete");
    verify_request_signature(&auth, &request).is_ok()
}

/// An Ed25519 signature made by hand: `R` as given (or `r·B`), `S = r + H(R || pk || M)·a`, so
/// that odd keys and odd `R` can be signed for.
fn raw_signature(
    a: &Scalar,
    r: &Scalar,
    r_bytes: Option<[u8; 32]>,
    pk: &[u8; 32],
    m: &[u8],
) -> [u8; 64] {
    let r_bytes = r_bytes.unwrap_or_else(|| EdwardsPoint::mul_base(r).compress().to_bytes());
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(pk)
            .chain_update(m),
    );
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r_bytes);
    signature[32..].copy_from_slice((r + k * a).as_bytes());
    signature
}

#[test]
fn edge_case_keys_convert_and_verify_like_libsodium() {
    libsodium::init();
    let mut rng = TestRng::new(10);
    // Every encoding with y < 19 or y >= p (the non-canonical ones, which libsodium reads as
    // y - p: the same points), with either sign bit; every
    // small-order point; valid keys, the same with a torsion component, with the sign bit
    // flipped; random bytes.
    let mut keys = Vec::new();
    for d in 0..=18u8 {
        for sign in [0, 0x80] {
            let mut low = [0u8; 32];
            low[0] = d;
            low[31] = sign;
            let mut high = [0xffu8; 32];
            high[0] = 0xed + d;
            high[31] = 0x7f | sign;
            keys.extend([low, high]);
        }
    }
    for torsion in EIGHT_TORSION {
        let encoding = torsion.compress().to_bytes();
        let mut flipped = encoding;
        flipped[31] ^= 0x80;
        keys.extend([encoding, flipped]);
    }
    let mut valid = Vec::new();
    for case in 0..CASES {
        let seed: [u8; 32] = rng.array();
        let (pk, _) = libsodium::sign_seed_keypair(&seed);
        let point = CompressedEdwardsY(pk).decompress().unwrap();
        let mixed = (point + EIGHT_TORSION[1 + case % 7]).compress().to_bytes();
        let mut flipped = pk;
        flipped[31] ^= 0x80;
        keys.extend([pk, mixed, flipped, rng.array()]);
        valid.push((seed, pk, mixed));
    }
    for pk in &keys {
        assert_eq!(
            ed25519_public_to_x25519(pk).ok(),
            libsodium::pk_to_curve25519(pk),
            "{}",
            hex::encode(pk)
        );
    }

    // Signatures that satisfy the cofactorless equation under a key with a torsion component
    // (libsodium accepts them when H(R || A || M) kills the torsion), and signatures whose R is
    // of small order: we accept exactly what libsodium accepts.
    let mut accepted = 0;
    for (seed, pk, mixed) in valid {
        let a = ed25519_dalek::SigningKey::from_bytes(&seed).to_scalar();
        let r = Scalar::from_bytes_mod_order(rng.array());
        for (key, r_bytes) in [
            (mixed, None),
            (pk, Some(EIGHT_TORSION[0].compress().to_bytes())),
            (pk, Some(EIGHT_TORSION[rng.below(8)].compress().to_bytes())),
        ] {
            let signature = raw_signature(&a, &r, r_bytes, &key, b"delete");
            let libsodium = libsodium::verify(&key, b"delete", &signature);
            assert_eq!(our_verify(&key, b"delete", &signature), libsodium);
            accepted += usize::from(libsodium);
        }
    }
    // About one mixed key in eight verifies; the test would be empty without any.
    assert!(accepted > 0);
}

// ---------------------------------------------------------------------------------------------
// encrypt_for_recipient / decrypt_incoming.

#[test]
fn our_encrypt_for_recipient_decrypts_with_libsodium() {
    libsodium::init();
    let mut rng = TestRng::new(5);
    for case in 0..CASES {
        let (sender, recipient) = (rng.identity(), rng.identity());
        let message = rng.bytes(700);
        let ciphertext =
            encrypt_for_recipient(&sender, &recipient.x25519_public(), &message, &mut rng).unwrap();
        let (m, a) = libsodium::decrypt_incoming(
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
    libsodium::init();
    let mut rng = TestRng::new(6);
    for case in 0..CASES {
        let sender_seed: [u8; 32] = rng.array();
        let (sender_pk, sender_sk) = libsodium::sign_seed_keypair(&sender_seed);
        let recipient = rng.identity();
        let message = rng.bytes(700);
        let ciphertext =
            libsodium::encrypt_for_recipient(&sender_sk, &recipient.x25519_public(), &message);
        let decrypted = decrypt_incoming(&recipient, &ciphertext).unwrap();
        assert_eq!(*decrypted.plaintext, message, "case {case}");
        assert_eq!(decrypted.sender_ed25519, sender_pk, "case {case}");

        // Signed for someone else, sealed to the recipient: refused by both.
        let other = rng.identity();
        let a = &sender_sk[32..];
        let signature = libsodium::sign(
            &sender_sk,
            &[&message[..], a, &other.x25519_public()].concat(),
        );
        let misdirected = libsodium::seal(
            &recipient.x25519_public(),
            &[&message[..], a, &signature].concat(),
        );
        assert_eq!(
            libsodium::decrypt_incoming(
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
    libsodium::init();
    let mut rng = TestRng::new(7);
    for case in 0..CASES {
        let seed: [u8; 32] = rng.array();
        let sender = Identity::from_seed(&Seed::from_bytes(&seed).unwrap());
        let (_, sender_sk) = libsodium::sign_seed_keypair(&seed);
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
    libsodium::init();
    let mut rng = TestRng::new(8);
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
            libsodium::verify(&ed, expected.as_bytes(), &auth.signature),
            "case {case}"
        );
        // The server's check that pubkey_ed25519 belongs to the Account ID.
        assert_eq!(
            libsodium::pk_to_curve25519(&ed).map(AccountId::from_x25519_public),
            Some(identity.account_id())
        );
    }
}

#[test]
fn message_hashes_equal_libsodium_blake2b() {
    libsodium::init();
    let mut rng = TestRng::new(9);
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
        let digest: [u8; 32] = libsodium::generichash(
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
