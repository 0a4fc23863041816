//! Blinding, blinded signatures, SOGS request signing and blinded DMs checked against the real
//! libsodium (through `libsodium_sys`), on seeded random inputs.
//!
//! Each test recomputes the spec's formulas (protocol.md §8.2, §8.3, §8.7, §5.1) with libsodium's
//! own primitives (`crypto_core_ed25519_scalar_*`, `crypto_scalarmult_ed25519_*noclamp`,
//! `crypto_generichash`, `crypto_hash_sha512`, `crypto_sign_*`,
//! `crypto_aead_xchacha20poly1305_ietf_*`) and requires our results to be equal byte for byte,
//! and our signatures to pass `crypto_sign_verify_detached` under the blinded key.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libsodium_sys as sodium;
use rand_core::Rng;
use sessiond_protocol::blinded_message::{
    Direction, decrypt_blinded_message, encrypt_for_blinded_recipient_with_nonce,
};
use sessiond_protocol::blinding::{
    Blind15Nonce, blind15_factor, blind15_id_from_ed25519, blind15_ids, blind25_factor, blind25_id,
    blind25_id_from_ed25519,
};
use sessiond_protocol::sogs_auth::file_server_auth_headers;
use sessiond_protocol::{
    BlindedId, BlindedKeyPair, BlindingScheme, Identity, RequestToSign, Seed, SogsSigner,
    VersionKeyPair,
};

use common::TestRng;
use common::libsodium::{self, Aead};

/// Random cases per test.
const CASES: usize = 128;
/// The AEAD of blinded DMs.
const XCHACHA: Aead = Aead::XChaCha20Poly1305;

// ---------------------------------------------------------------------------------------------
// Thin safe wrappers over libsodium.

fn sha512(input: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    assert_eq!(
        unsafe { sodium::crypto_hash_sha512(out.as_mut_ptr(), input.as_ptr(), input.len() as u64) },
        0
    );
    out
}

fn scalar_reduce(wide: &[u8; 64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sodium::crypto_core_ed25519_scalar_reduce(out.as_mut_ptr(), wide.as_ptr()) };
    out
}

fn scalar_mul(x: &[u8; 32], y: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sodium::crypto_core_ed25519_scalar_mul(out.as_mut_ptr(), x.as_ptr(), y.as_ptr()) };
    out
}

fn scalar_add(x: &[u8; 32], y: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sodium::crypto_core_ed25519_scalar_add(out.as_mut_ptr(), x.as_ptr(), y.as_ptr()) };
    out
}

fn scalar_negate(x: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sodium::crypto_core_ed25519_scalar_negate(out.as_mut_ptr(), x.as_ptr()) };
    out
}

fn base_noclamp(scalar: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let rc = unsafe {
        sodium::crypto_scalarmult_ed25519_base_noclamp(out.as_mut_ptr(), scalar.as_ptr())
    };
    assert_eq!(rc, 0);
    out
}

fn scalarmult_noclamp(scalar: &[u8; 32], point: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let rc = unsafe {
        sodium::crypto_scalarmult_ed25519_noclamp(out.as_mut_ptr(), scalar.as_ptr(), point.as_ptr())
    };
    (rc == 0).then_some(out)
}

/// The Ed25519 private scalar `a` (libsodium's `sk_to_curve25519`, as libsession gets it).
fn private_scalar(sk: &[u8; 64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let rc = unsafe { sodium::crypto_sign_ed25519_sk_to_curve25519(out.as_mut_ptr(), sk.as_ptr()) };
    assert_eq!(rc, 0);
    out
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------------------------
// The spec's blinding, computed with libsodium only (protocol.md §8.3).

/// An account as libsodium sees it.
struct SodiumAccount {
    seed: [u8; 32],
    pk: [u8; 32],
    sk: [u8; 64],
    x_pk: [u8; 32],
}

impl SodiumAccount {
    fn new(seed: [u8; 32]) -> SodiumAccount {
        let (pk, sk) = libsodium::sign_seed_keypair(&seed);
        SodiumAccount {
            seed,
            pk,
            sk,
            x_pk: libsodium::pk_to_curve25519(&pk).unwrap(),
        }
    }

    fn identity(&self) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&self.seed).unwrap())
    }

    /// `|A|`: the public key with its sign bit cleared.
    fn positive_pk(&self) -> [u8; 32] {
        let mut pk = self.pk;
        pk[31] &= 0x7f;
        pk
    }

    fn k15(server: &[u8; 32]) -> [u8; 32] {
        scalar_reduce(&libsodium::generichash::<64>(b"", server))
    }

    /// The unsigned blind25 factor.
    fn k25(&self, server: &[u8; 32]) -> [u8; 32] {
        scalar_reduce(&libsodium::generichash::<64>(
            b"",
            &concat(&[&[0x05], &self.x_pk, server]),
        ))
    }

    /// (`ka`, `kA`) for blind15.
    fn blind15(&self, server: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let ka = scalar_mul(&Self::k15(server), &private_scalar(&self.sk));
        (ka, base_noclamp(&ka))
    }

    /// (`ka`, `kA`) for blind25, with `k' = −k` for a negative key.
    fn blind25(&self, server: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let mut k = self.k25(server);
        if self.pk[31] & 0x80 != 0 {
            k = scalar_negate(&k);
        }
        let ka = scalar_mul(&k, &private_scalar(&self.sk));
        (ka, base_noclamp(&ka))
    }

    /// libsession's `blind15_sign` (or desktop's, hashing the seed instead of the 64-byte sk).
    fn blind15_sign(&self, server: &[u8; 32], message: &[u8], desktop: bool) -> [u8; 64] {
        let (ka, k_a) = self.blind15(server);
        let nonce_source: &[u8] = if desktop { &self.seed } else { &self.sk };
        let h_rh = sha512(nonce_source);
        let r = scalar_reduce(&sha512(&concat(&[&h_rh[32..], &k_a, message])));
        sign_with(&ka, &k_a, &r, message)
    }

    /// libsession's `blind25_sign`.
    fn blind25_sign(&self, server: &[u8; 32], message: &[u8]) -> [u8; 64] {
        let (ka, k_a) = self.blind25(server);
        let seed_hash = libsodium::generichash::<32>(b"SessCommBlind25_seed", &self.seed);
        let r = scalar_reduce(&libsodium::generichash::<64>(
            b"SessCommBlind25_sig",
            &concat(&[&seed_hash, &k_a, message]),
        ));
        sign_with(&ka, &k_a, &r, message)
    }
}

/// `R = rB`, `s = r + reduce(SHA-512(R || kA || M))·ka`.
fn sign_with(ka: &[u8; 32], k_a: &[u8; 32], r: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let big_r = base_noclamp(r);
    let h = scalar_reduce(&sha512(&concat(&[&big_r, k_a, message])));
    let s = scalar_add(&scalar_mul(&h, ka), r);
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&big_r);
    signature[32..].copy_from_slice(&s);
    signature
}

fn flip_sign(mut key: [u8; 32]) -> [u8; 32] {
    key[31] ^= 0x80;
    key
}

// ---------------------------------------------------------------------------------------------

#[test]
fn blinding_factors_and_blinded_keys_equal_libsodiums() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0001);
    let mut negative_keys = 0;
    for case in 0..CASES {
        let account = SodiumAccount::new(rng.array());
        let server: [u8; 32] = rng.array();
        let identity = account.identity();
        let account_id = identity.account_id();
        assert_eq!(identity.ed25519_public(), account.pk, "case {case}");
        assert_eq!(account_id.x25519_public(), account.x_pk, "case {case}");
        negative_keys += usize::from(account.pk[31] >> 7);

        // blind15: factor, key pair, and the IDs from the Account ID alone.
        assert_eq!(
            blind15_factor(&server),
            SodiumAccount::k15(&server),
            "case {case}"
        );
        let (ka, k_a) = account.blind15(&server);
        for nonce in [Blind15Nonce::Libsession, Blind15Nonce::Desktop] {
            let key = BlindedKeyPair::blind15(&identity, &server, nonce);
            assert_eq!(key.public_key(), k_a, "case {case}");
            assert_eq!(*key.secret_scalar(), ka, "case {case}");
        }
        let from_account =
            scalarmult_noclamp(&SodiumAccount::k15(&server), &account.positive_pk()).unwrap();
        let candidates = blind15_ids(&account_id, &server).unwrap();
        assert_eq!(candidates[0].public_key(), from_account, "case {case}");
        assert_eq!(
            candidates[1].public_key(),
            flip_sign(from_account),
            "case {case}"
        );
        // The real ID is the candidate carrying the key's sign.
        let real = if account.pk[31] & 0x80 == 0 {
            from_account
        } else {
            flip_sign(from_account)
        };
        assert_eq!(real, k_a, "case {case}");
        assert_eq!(
            scalarmult_noclamp(&SodiumAccount::k15(&server), &account.pk).unwrap(),
            k_a,
            "case {case}"
        );
        assert_eq!(
            blind15_id_from_ed25519(&account.pk, &server)
                .unwrap()
                .public_key(),
            k_a,
            "case {case}"
        );

        // blind25: factor, key pair (with −k for negative keys), ID from the Account ID.
        assert_eq!(
            blind25_factor(&account_id, &server),
            account.k25(&server),
            "case {case}"
        );
        let (ka25, k_a25) = account.blind25(&server);
        let key25 = BlindedKeyPair::blind25(&identity, &server);
        assert_eq!(key25.public_key(), k_a25, "case {case}");
        assert_eq!(*key25.secret_scalar(), ka25, "case {case}");
        let id25 = scalarmult_noclamp(&account.k25(&server), &account.positive_pk()).unwrap();
        assert_eq!(id25, k_a25, "case {case}");
        assert_eq!(blind25_id(&account_id, &server).unwrap().public_key(), id25);
        assert_eq!(
            blind25_id_from_ed25519(&account.pk, &server)
                .unwrap()
                .public_key(),
            id25
        );

        // The 07 version-check key.
        let version_seed = libsodium::generichash::<32>(b"VersionCheckKey_sig", &account.seed);
        let (version_pk, version_sk) = libsodium::sign_seed_keypair(&version_seed);
        let version = VersionKeyPair::from_identity(&identity);
        assert_eq!(version.public_key(), version_pk, "case {case}");
        assert_eq!(*version.ed25519_secret_key(), version_sk, "case {case}");
    }
    // Both signs were exercised.
    assert!(
        negative_keys > 0 && negative_keys < CASES,
        "{negative_keys}"
    );
}

#[test]
fn blinded_signatures_equal_libsodium_reimplementations_and_verify_there() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0002);
    for case in 0..CASES {
        let account = SodiumAccount::new(rng.array());
        let server: [u8; 32] = rng.array();
        let message = rng.bytes(300);
        let identity = account.identity();

        let signers = [
            (
                BlindedKeyPair::blind15(&identity, &server, Blind15Nonce::Libsession),
                account.blind15_sign(&server, &message, false),
            ),
            (
                BlindedKeyPair::blind15(&identity, &server, Blind15Nonce::Desktop),
                account.blind15_sign(&server, &message, true),
            ),
            (
                BlindedKeyPair::blind25(&identity, &server),
                account.blind25_sign(&server, &message),
            ),
        ];
        for (key, expected) in signers {
            let signature = key.sign(&message);
            assert_eq!(signature, expected, "case {case} {:?}", key.scheme());
            assert!(
                libsodium::verify(&key.public_key(), &message, &signature),
                "case {case}"
            );
            key.id().verify(&message, &signature).unwrap();

            // libsodium rejects a changed message, a changed signature and another key.
            let mut other_message = message.clone();
            other_message.push(0);
            assert!(!libsodium::verify(
                &key.public_key(),
                &other_message,
                &signature
            ));
            let mut tampered = signature;
            tampered[rng.below(64)] ^= 1 << rng.below(8);
            assert!(!libsodium::verify(&key.public_key(), &message, &tampered));
            assert!(key.id().verify(&message, &tampered).is_err());
            assert!(!libsodium::verify(&account.pk, &message, &signature));
        }
    }
}

#[test]
fn our_verify_accepts_libsodium_signatures_and_rejects_altered_ones() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0003);
    for case in 0..CASES {
        // Any Ed25519 key can stand in for a blinded key: verification is plain Ed25519.
        let (pk, sk) = libsodium::sign_seed_keypair(&rng.array());
        let message = rng.bytes(200);
        let signature = libsodium::sign(&sk, &message);
        let scheme = if rng.below(2) == 0 {
            BlindingScheme::Blind15
        } else {
            BlindingScheme::Blind25
        };
        let id = BlindedId::new(scheme, pk);
        id.verify(&message, &signature)
            .unwrap_or_else(|err| panic!("case {case}: {err}"));
        let mut tampered = signature;
        tampered[rng.below(64)] ^= 1 << rng.below(8);
        assert_eq!(
            id.verify(&message, &tampered).is_ok(),
            libsodium::verify(&pk, &message, &tampered),
            "case {case}"
        );
    }
}

#[test]
fn sogs_and_file_server_headers_verify_with_libsodium() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0004);
    const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];
    const PATHS: [&str; 4] = [
        "/capabilities",
        "/room/lobby/messages/since/17?t=r&reactors=5",
        "/room/r/reaction/42/🎂",
        "/inbox",
    ];
    for case in 0..CASES {
        let account = SodiumAccount::new(rng.array());
        let identity = account.identity();
        let server: [u8; 32] = rng.array();
        let nonce: [u8; 16] = rng.array();
        let timestamp = rng.next_u64() % 4_000_000_000;
        let body = if rng.below(2) == 0 {
            Vec::new()
        } else {
            rng.bytes(400)
        };
        let request = RequestToSign {
            method: METHODS[rng.below(METHODS.len())],
            path: PATHS[rng.below(PATHS.len())],
            body: &body,
        };
        let body_hash: Vec<u8> = if body.is_empty() {
            Vec::new()
        } else {
            libsodium::generichash::<64>(b"", &body).to_vec()
        };
        let tail = concat(&[
            timestamp.to_string().as_bytes(),
            request.method.as_bytes(),
            request.path.as_bytes(),
            &body_hash,
        ]);
        let sogs_message = concat(&[&server, &nonce, &tail]);

        let signers = [
            SogsSigner::unblinded(&identity, &server),
            SogsSigner::blinded(BlindedKeyPair::blind15(
                &identity,
                &server,
                Blind15Nonce::Libsession,
            )),
            SogsSigner::blinded(BlindedKeyPair::blind25(&identity, &server)),
        ];
        let expected_keys = [
            format!("00{}", hex::encode(account.pk)),
            format!("15{}", hex::encode(account.blind15(&server).1)),
            format!("25{}", hex::encode(account.blind25(&server).1)),
        ];
        for (signer, expected_key) in signers.iter().zip(&expected_keys) {
            let headers = signer.sign_with_nonce(&request, timestamp, &nonce).unwrap();
            assert_eq!(&headers.pubkey, expected_key, "case {case}");
            assert_eq!(headers.timestamp, timestamp.to_string());
            assert_eq!(BASE64.decode(&headers.nonce).unwrap(), nonce);
            let signature: [u8; 64] = BASE64
                .decode(&headers.signature)
                .unwrap()
                .try_into()
                .unwrap();
            let key: [u8; 32] = hex::decode(&headers.pubkey[2..])
                .unwrap()
                .try_into()
                .unwrap();
            assert!(
                libsodium::verify(&key, &sogs_message, &signature),
                "case {case} {}",
                &headers.pubkey[..2]
            );
        }
        // Unblinded signatures are plain deterministic Ed25519: equal to libsodium's.
        let unblinded = signers[0]
            .sign_with_nonce(&request, timestamp, &nonce)
            .unwrap();
        assert_eq!(
            BASE64.decode(&unblinded.signature).unwrap(),
            libsodium::sign(&account.sk, &sogs_message),
            "case {case}"
        );

        // File server: `ts || METHOD || path || [hash]` signed by the 07 key.
        let version = VersionKeyPair::from_identity(&identity);
        let headers = file_server_auth_headers(&version, &request, timestamp).unwrap();
        let (_, version_sk) = libsodium::sign_seed_keypair(&libsodium::generichash::<32>(
            b"VersionCheckKey_sig",
            &account.seed,
        ));
        assert_eq!(
            BASE64.decode(&headers.signature).unwrap(),
            libsodium::sign(&version_sk, &tail),
            "case {case}"
        );
    }
}

/// The blinded-DM key agreement of protocol.md §8.7, with libsodium: `scalar` is `a` (15) or
/// `ka` (25) of the side computing it, `other` the other side's blinded key.
fn sodium_dm_key(
    scalar: &[u8; 32],
    other: &[u8; 32],
    sender: &[u8; 32],
    recipient: &[u8; 32],
) -> [u8; 32] {
    let shared = scalarmult_noclamp(scalar, other).unwrap();
    libsodium::generichash::<32>(b"", &concat(&[&shared, sender, recipient]))
}

#[test]
fn blinded_dms_equal_a_libsodium_reimplementation_in_both_directions() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0005);
    for case in 0..CASES {
        let alice = SodiumAccount::new(rng.array());
        let bob = SodiumAccount::new(rng.array());
        let server: [u8; 32] = rng.array();
        let nonce: [u8; 24] = rng.array();
        let message = rng.bytes(500);
        let scheme = if case % 2 == 0 {
            BlindingScheme::Blind15
        } else {
            BlindingScheme::Blind25
        };
        let ((a_ka, a_id), (b_ka, b_id)) = match scheme {
            BlindingScheme::Blind15 => (alice.blind15(&server), bob.blind15(&server)),
            BlindingScheme::Blind25 => (alice.blind25(&server), bob.blind25(&server)),
        };
        let (a_scalar, b_scalar) = match scheme {
            BlindingScheme::Blind15 => (private_scalar(&alice.sk), private_scalar(&bob.sk)),
            BlindingScheme::Blind25 => (a_ka, b_ka),
        };
        let from = BlindedId::new(scheme, a_id);
        let to = BlindedId::new(scheme, b_id);

        // Alice → Bob, by libsodium.
        let key = sodium_dm_key(&a_scalar, &b_id, &a_id, &b_id);
        let expected = concat(&[
            &[0x00],
            &libsodium::aead_encrypt(XCHACHA, &key, &nonce, &concat(&[&message, &alice.pk])),
            &nonce,
        ]);
        let ours = encrypt_for_blinded_recipient_with_nonce(
            &alice.identity(),
            &server,
            &to,
            &message,
            &nonce,
        )
        .unwrap();
        assert_eq!(ours, expected, "case {case} {scheme}");

        // Bob's side, by libsodium: the same key from his scalar and Alice's blinded key.
        let bob_key = sodium_dm_key(&b_scalar, &a_id, &a_id, &b_id);
        assert_eq!(bob_key, key, "case {case} {scheme}");
        let body = &ours[1..ours.len() - 24];
        let plaintext = libsodium::aead_decrypt(XCHACHA, &bob_key, &nonce, body).unwrap();
        assert_eq!(plaintext, concat(&[&message, &alice.pk]));

        // And ours, as recipient and as sender.
        for (reader, direction) in [(&bob, Direction::Incoming), (&alice, Direction::Outgoing)] {
            let decrypted =
                decrypt_blinded_message(&reader.identity(), &server, &from, &to, &expected)
                    .unwrap();
            assert_eq!(&decrypted.message[..], &message[..], "case {case}");
            assert_eq!(decrypted.sender_ed25519, alice.pk);
            assert_eq!(decrypted.sender_account_id.x25519_public(), alice.x_pk);
            assert_eq!(decrypted.direction, direction);
        }

        // A libsodium ciphertext under any other key fails to decrypt.
        let wrong = concat(&[
            &[0x00],
            &libsodium::aead_encrypt(
                XCHACHA,
                &libsodium::generichash::<32>(b"", &key),
                &nonce,
                &concat(&[&message, &alice.pk]),
            ),
            &nonce,
        ]);
        assert!(decrypt_blinded_message(&bob.identity(), &server, &from, &to, &wrong).is_err());
    }
}

#[test]
fn blind15_matching_accepts_both_signs_from_an_account_id() {
    libsodium::init();
    let mut rng = TestRng::new(0xb11d_0006);
    for case in 0..CASES {
        let account = SodiumAccount::new(rng.array());
        let server: [u8; 32] = rng.array();
        let account_id = account.identity().account_id();
        let (_, k_a) = account.blind15(&server);
        let real = BlindedId::new(BlindingScheme::Blind15, k_a);
        let other_sign = BlindedId::new(BlindingScheme::Blind15, flip_sign(k_a));
        assert!(real.belongs_to(&account_id, &server), "case {case}");
        assert!(other_sign.belongs_to(&account_id, &server), "case {case}");
        let (_, k_a25) = account.blind25(&server);
        assert!(BlindedId::new(BlindingScheme::Blind25, k_a25).belongs_to(&account_id, &server));
        assert!(
            !BlindedId::new(BlindingScheme::Blind25, flip_sign(k_a25))
                .belongs_to(&account_id, &server)
        );
        // A different server's IDs do not match.
        let other_server: [u8; 32] = rng.array();
        assert!(!real.belongs_to(&account_id, &other_server), "case {case}");
    }
}
