//! Blinding, SOGS request signing and blinded DMs against the published vectors
//! (`shared/protocol/vectors.json`, protocol.md §8.2, §8.3, §8.7, §5.1): every `blinding.*` and
//! `sogs.*` vector, the blinded side of `keys.libsession.blinding_test_keys`, and
//! `session_protocol.libsession.blinded_roundtrip`.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use sessiond_protocol::blinded_message::{
    Direction, decrypt_blinded_message, encrypt_for_blinded_recipient,
};
use sessiond_protocol::blinding::{
    Blind15Nonce, blind15_id_from_ed25519, blind15_ids, blind25_id, blind25_id_from_ed25519,
    blinded_ids,
};
use sessiond_protocol::sogs_auth::{file_server_auth_headers, sogs_signed_message};
use sessiond_protocol::{
    BlindedId, BlindedKeyPair, BlindedMessageError, BlindingScheme, ErrorKind, HasKind, Identity,
    RequestToSign, SogsSigner, VersionKeyPair,
};

use common::{
    TestRng, account_id as account, all_ids, array32, array64, assert_all_listed, bytes, cases,
    data, family_ids, identity, identity_of_sodium_sk, text,
};

/// Vectors this file checks.
const COVERED: &[&str] = &[
    "keys.libsession.blinding_test_keys",
    "blinding.libsession.blind25_ids",
    "blinding.libsession.blind15_ids",
    "blinding.libsession.blind25_sign",
    "blinding.libsession.blind15_sign",
    "blinding.libsession.version_blinding_07",
    "blinding.pysogs.blind15_from_seed",
    "blinding.sessionjs.blind15_from_session_id",
    "blinding.desktop.known_match",
    "sogs.desktop.request_signing",
    "session_protocol.libsession.blinded_roundtrip",
];

/// Parses a blinded ID and checks that it displays back to the same text.
fn blinded(value: &Value) -> BlindedId {
    let id: BlindedId = text(value).parse().unwrap();
    assert_eq!(id.to_string(), text(value));
    assert_eq!(BlindedId::from_bytes(id.as_bytes()).unwrap(), id);
    id
}

/// The identity named `sk1`/`sk2` in `keys.libsession.blinding_test_keys`.
fn test_key(name: &str) -> Identity {
    identity_of_sodium_sk(&bytes(&data("keys.libsession.blinding_test_keys")[name]))
}

fn sign_bit(key: &[u8; 32]) -> usize {
    usize::from(key[31] >> 7)
}

#[test]
fn every_blinding_vector_is_covered() {
    assert_all_listed(&family_ids(&["blinding.", "sogs."]), COVERED, &all_ids());
}

#[test]
fn blinding_test_keys_blind_consistently_with_their_sign() {
    let data = data("keys.libsession.blinding_test_keys");
    let server = [0xab; 32];
    for (sk, session_id) in [("sk1", "session_id1"), ("sk2", "session_id2")] {
        let identity = test_key(sk);
        let account_id = account(&data[session_id]);
        assert_eq!(identity.account_id(), account_id);
        let ed = identity.ed25519_public();

        // blind15: the key pair's ID is the candidate with the key's own sign.
        let key15 = BlindedKeyPair::blind15(&identity, &server, Blind15Nonce::Libsession);
        let candidates = blind15_ids(&account_id, &server).unwrap();
        assert_eq!(key15.id(), candidates[sign_bit(&ed)]);
        assert_eq!(blind15_id_from_ed25519(&ed, &server).unwrap(), key15.id());

        // blind25: always k·|A|, whatever the sign.
        let key25 = BlindedKeyPair::blind25(&identity, &server);
        assert_eq!(key25.id(), blind25_id(&account_id, &server).unwrap());
        let mut positive = ed;
        positive[31] &= 0x7f;
        assert_eq!(blind25_id_from_ed25519(&ed, &server).unwrap(), key25.id());
        assert_eq!(
            blind25_id_from_ed25519(&positive, &server).unwrap(),
            key25.id()
        );
    }

    // pub2 is the negative key: its blind15 ID is the flipped candidate, and |pub2| (the
    // published `pub2_abs`) blinds to the unflipped one.
    let pub2 = test_key("sk2").ed25519_public();
    assert_eq!(sign_bit(&pub2), 1);
    let pub2_abs = array32(&data["pub2_abs"]);
    let account2 = account(&data["session_id2"]);
    assert_eq!(
        blind15_id_from_ed25519(&pub2_abs, &server).unwrap(),
        blind15_ids(&account2, &server).unwrap()[0]
    );
    // -k·a for the negative key makes the blinded key positive-based: ka·B = k·|A|.
    let key25 = BlindedKeyPair::blind25(&test_key("sk2"), &server);
    assert_eq!(
        key25.id(),
        blind25_id_from_ed25519(&pub2_abs, &server).unwrap()
    );
}

#[test]
fn libsession_blind25_ids_from_session_ids() {
    for case in cases("blinding.libsession.blind25_ids") {
        let account_id = account(&case["session_id"]);
        let server = array32(&case["server_pk"]);
        let expected = blinded(&case["blinded25"]);
        assert_eq!(expected.scheme(), BlindingScheme::Blind25);
        assert_eq!(blind25_id(&account_id, &server).unwrap(), expected);
        assert_eq!(blinded_ids(&account_id, &server).unwrap().blind25, expected);
        assert!(expected.belongs_to(&account_id, &server));

        // No sign ambiguity for blind25: the flipped ID is not the account's.
        let mut flipped = *expected.as_bytes();
        flipped[32] ^= 0x80;
        assert!(
            !BlindedId::from_bytes(&flipped)
                .unwrap()
                .belongs_to(&account_id, &server)
        );
        let other_server = [0x01; 32];
        assert!(!expected.belongs_to(&account_id, &other_server));
    }
    // And the key pairs of the libsession test keys give the same IDs.
    let data = data("keys.libsession.blinding_test_keys");
    let mut checked = 0;
    for case in cases("blinding.libsession.blind25_ids") {
        let server = array32(&case["server_pk"]);
        for (sk, session_id) in [("sk1", "session_id1"), ("sk2", "session_id2")] {
            if case["session_id"] == data[session_id] {
                let key = BlindedKeyPair::blind25(&test_key(sk), &server);
                assert_eq!(key.id(), blinded(&case["blinded25"]));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, cases("blinding.libsession.blind25_ids").len());
}

#[test]
fn libsession_blind15_ids_are_the_positive_candidates() {
    for case in cases("blinding.libsession.blind15_ids") {
        let account_id = account(&case["session_id"]);
        let server = array32(&case["server_pk"]);
        let expected = blinded(&case["blinded15"]);
        assert_eq!(expected.scheme(), BlindingScheme::Blind15);
        let candidates = blind15_ids(&account_id, &server).unwrap();
        assert_eq!(candidates[0], expected);
        assert_eq!(candidates[1].as_bytes()[..32], expected.as_bytes()[..32]);
        assert_eq!(candidates[1].as_bytes()[32], expected.as_bytes()[32] ^ 0x80);
        assert!(expected.belongs_to(&account_id, &server));
        assert!(candidates[1].belongs_to(&account_id, &server));
        assert!(
            blinded_ids(&account_id, &server)
                .unwrap()
                .contains(&expected)
        );
    }
}

#[test]
fn libsession_blind15_signatures_match_byte_for_byte() {
    for case in cases("blinding.libsession.blind15_sign") {
        let identity = test_key(text(&case["sk"]));
        let server = array32(&case["server_pk"]);
        let message = text(&case["message_utf8"]).as_bytes();
        let expected = array64(&case["signature"]);

        let key = BlindedKeyPair::blind15(&identity, &server, Blind15Nonce::Libsession);
        assert_eq!(key.sign(message), expected);
        key.id().verify(message, &expected).unwrap();
        // The signer's ID is one of the candidates of its Account ID: for sk2 the negative one.
        let candidates = blind15_ids(&identity.account_id(), &server).unwrap();
        let which = usize::from(text(&case["sk"]) == "sk2");
        assert_eq!(key.id(), candidates[which]);
        // The other candidate's key does not verify the signature.
        assert!(candidates[1 - which].verify(message, &expected).is_err());
        // `new` defaults to libsession's nonce.
        let default = BlindedKeyPair::new(&identity, BlindingScheme::Blind15, &server);
        assert_eq!(default.sign(message), expected);
    }
}

#[test]
fn libsession_blind25_signatures_match_byte_for_byte() {
    for case in cases("blinding.libsession.blind25_sign") {
        let identity = test_key(text(&case["sk"]));
        let server = array32(&case["server_pk"]);
        let message = text(&case["message_utf8"]).as_bytes();
        let expected = array64(&case["signature"]);

        let key = BlindedKeyPair::blind25(&identity, &server);
        assert_eq!(key.sign(message), expected);
        let id = blind25_id(&identity.account_id(), &server).unwrap();
        assert_eq!(key.id(), id);
        id.verify(message, &expected).unwrap();
        assert!(id.verify(b"other message", &expected).is_err());
    }
}

#[test]
fn libsession_version_key_and_signature() {
    let data = data("blinding.libsession.version_blinding_07");
    let identity = identity_of_sodium_sk(&bytes(&data["sk"]));
    let key = VersionKeyPair::from_identity(&identity);
    assert_eq!(key.public_key(), array32(&data["pubkey"]));
    assert_eq!(&key.ed25519_secret_key()[..], bytes(&data["seckey"]));
    assert_eq!(key.pubkey_hex(), format!("07{}", text(&data["pubkey"])));

    let path = format!("/session_version?platform={}", text(&data["platform"]));
    let timestamp = data["timestamp"].as_u64().unwrap();
    let request = RequestToSign {
        method: "GET",
        path: &path,
        body: b"",
    };
    let headers = file_server_auth_headers(&key, &request, timestamp).unwrap();
    assert_eq!(headers.pubkey, key.pubkey_hex());
    assert_eq!(headers.timestamp, timestamp.to_string());
    let expected = bytes(&data["signature"]);
    assert_eq!(BASE64.decode(&headers.signature).unwrap(), expected);
    assert_eq!(
        key.sign(format!("{timestamp}GET{path}").as_bytes())
            .to_vec(),
        expected
    );
}

#[test]
fn pysogs_blind15_ids_from_seeds() {
    let data = data("blinding.pysogs.blind15_from_seed");
    let server = array32(&data["server_pk"]);
    let cases = data["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 20);
    for case in cases {
        let identity = identity(&case["ed25519_seed"]);
        let expected = blinded(&case["blinded15"]);
        for nonce in [Blind15Nonce::Libsession, Blind15Nonce::Desktop] {
            assert_eq!(
                BlindedKeyPair::blind15(&identity, &server, nonce).id(),
                expected
            );
        }
        assert!(expected.belongs_to(&identity.account_id(), &server));
        let candidates = blind15_ids(&identity.account_id(), &server).unwrap();
        assert_eq!(candidates[sign_bit(&identity.ed25519_public())], expected);
    }
}

#[test]
fn sessionjs_live_blind15_ids_match_the_stated_candidate() {
    for case in cases("blinding.sessionjs.blind15_from_session_id") {
        let account_id = account(&case["session_id"]);
        let server = array32(&case["server_pk"]);
        let expected = blinded(&case["blinded15"]);
        let which = match text(&case["candidate"]) {
            "positive" => 0,
            "negative" => 1,
            other => panic!("unknown candidate {other}"),
        };
        let candidates = blind15_ids(&account_id, &server).unwrap();
        assert_eq!(candidates[which], expected);
        assert_ne!(candidates[1 - which], expected);
        assert!(expected.belongs_to(&account_id, &server));
    }
    // An ID seen on one server does not belong to the same account on another server.
    let cases = cases("blinding.sessionjs.blind15_from_session_id");
    let (first, second) = (&cases[1], &cases[2]);
    assert_eq!(first["session_id"], second["session_id"]);
    assert!(!blinded(&first["blinded15"]).belongs_to(
        &account(&second["session_id"]),
        &array32(&second["server_pk"])
    ));
}

#[test]
fn desktop_known_blinded_key_matches_its_session_id_via_the_negative_candidate() {
    let data = data("blinding.desktop.known_match");
    let account_id = account(&data["session_id"]);
    let server = array32(&data["server_pk"]);
    let expected = blinded(&data["blinded15"]);
    assert!(expected.belongs_to(&account_id, &server));
    assert_eq!(blind15_ids(&account_id, &server).unwrap()[1], expected);
    // Another account does not match.
    let other = account(&cases("blinding.sessionjs.blind15_from_session_id")[0]["session_id"]);
    assert!(!expected.belongs_to(&other, &server));
}

#[test]
fn desktop_sogs_request_signing_blinded_and_unblinded() {
    let data = data("sogs.desktop.request_signing");
    let identity = identity(&data["ed25519_seed"]);
    assert_eq!(identity.ed25519_public(), array32(&data["ed25519_pk"]));
    let server = array32(&data["server_pk"]);
    let timestamp = data["timestamp"].as_u64().unwrap();
    let nonce: [u8; 16] = BASE64
        .decode(text(&data["nonce_b64"]))
        .unwrap()
        .try_into()
        .unwrap();
    let no_body = RequestToSign {
        method: text(&data["method"]),
        path: text(&data["path"]),
        body: b"",
    };
    let with_body = RequestToSign {
        body: text(&data["body_utf8"]).as_bytes(),
        ..no_body
    };

    let signers = [
        (
            "blinded",
            SogsSigner::blinded(BlindedKeyPair::blind15(
                &identity,
                &server,
                Blind15Nonce::Desktop,
            )),
        ),
        ("unblinded", SogsSigner::unblinded(&identity, &server)),
    ];
    for (mode, signer) in signers {
        let expected = &data[mode];
        assert_eq!(signer.pubkey(), text(&expected["X-SOGS-Pubkey"]));
        for (request, signature) in [
            (&no_body, "X-SOGS-Signature_no_body"),
            (&with_body, "X-SOGS-Signature_with_body"),
        ] {
            let headers = signer.sign_with_nonce(request, timestamp, &nonce).unwrap();
            assert_eq!(headers.pubkey, text(&expected["X-SOGS-Pubkey"]), "{mode}");
            assert_eq!(headers.timestamp, timestamp.to_string());
            assert_eq!(headers.nonce, text(&data["nonce_b64"]));
            assert_eq!(
                headers.signature,
                text(&expected[signature]),
                "{mode} {signature}"
            );
            if mode == "blinded" {
                assert_eq!(headers.timestamp, text(&expected["X-SOGS-Timestamp"]));
                assert_eq!(headers.nonce, text(&expected["X-SOGS-Nonce"]));
            }

            // The signature verifies under the key in X-SOGS-Pubkey.
            let id_key: [u8; 32] = hex::decode(&headers.pubkey[2..])
                .unwrap()
                .try_into()
                .unwrap();
            let message = sogs_signed_message(&server, &nonce, timestamp, request).unwrap();
            let signature: [u8; 64] = BASE64
                .decode(&headers.signature)
                .unwrap()
                .try_into()
                .unwrap();
            ed25519_dalek::VerifyingKey::from_bytes(&id_key)
                .unwrap()
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&signature))
                .unwrap();
        }
    }

    // The blinded key is the account's blind15 ID on this server.
    let pubkey: BlindedId = text(&data["blinded"]["X-SOGS-Pubkey"]).parse().unwrap();
    assert!(pubkey.belongs_to(&identity.account_id(), &server));
    // The notes' corrected Account ID of this key.
    assert_eq!(
        identity.account_id().to_string(),
        "0588672ccb97f40bb57238989226cf429b575ba355443f47bc76c5ab144a96c65b"
    );
}

const LOREM_IPSUM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
    tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in \
    reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint \
    occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est \
    laborum.";

#[test]
fn libsession_blinded_dm_round_trips_and_rejects_the_tampered_bytes() {
    let data = data("session_protocol.libsession.blinded_roundtrip");
    let server = array32(&data["server_pk"]);
    let sender = identity(&data["sender_seed"]);
    let recipient = identity(&data["recipient_seed"]);
    let expected_sender = account(&data["expected_sender_session_id"]);
    assert_eq!(sender.account_id(), expected_sender);
    assert_eq!(LOREM_IPSUM.len(), 445);

    let mut rng = TestRng::new(0x5e55_1011);
    for scheme in [BlindingScheme::Blind15, BlindingScheme::Blind25] {
        let from = BlindedKeyPair::new(&sender, scheme, &server).id();
        let to = BlindedKeyPair::new(&recipient, scheme, &server).id();
        for (message, tamper_at) in [(&b"hello"[..], 23), (LOREM_IPSUM.as_bytes(), 463)] {
            let data =
                encrypt_for_blinded_recipient(&sender, &server, &to, message, &mut rng).unwrap();
            assert!(
                !data.windows(12).any(|w| w == b"dolore magna"),
                "plaintext visible"
            );
            for (reader, direction) in [
                (&recipient, Direction::Incoming),
                (&sender, Direction::Outgoing),
            ] {
                let decrypted =
                    decrypt_blinded_message(reader, &server, &from, &to, &data).unwrap();
                assert_eq!(&decrypted.message[..], message);
                assert_eq!(decrypted.sender, from);
                assert_eq!(decrypted.sender_account_id, expected_sender);
                assert_eq!(decrypted.sender_ed25519, sender.ed25519_public());
                assert_eq!(decrypted.direction, direction);

                let mut broken = data.clone();
                broken[tamper_at] ^= 0x80;
                let err =
                    decrypt_blinded_message(reader, &server, &from, &to, &broken).unwrap_err();
                assert_eq!(err, BlindedMessageError::DecryptionFailed);
                assert_eq!(err.kind(), ErrorKind::BadSignature);
            }
        }
    }
}
