//! Onion-request code against the published vectors (`shared/protocol/vectors.json`,
//! protocol.md §4 and §10): every `onion.*` vector.
#![allow(clippy::unwrap_used)]

mod common;

use blake2::{Blake2b256, Digest};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};
use serde_json::Value;
use sessiond_protocol::onion::hop_cipher::{x25519_public, x25519_shared_secret};
use sessiond_protocol::onion::peel::{self, Route};
use sessiond_protocol::onion::{
    Destination, EncType, Hop, LayerKey, LayerSecrets, OnionError, OnionResponse, Scheme,
    V4Request, V4Response, build_with_secrets, layer,
};
use sessiond_protocol::{ErrorKind, HasKind};
use zeroize::Zeroizing;

use common::{TestRng, array32, bytes, data, family_ids, text};

/// Vectors this file checks.
const COVERED: &[&str] = &[
    "onion.libsession.hop_encryption",
    "onion.libsession.parser",
    "onion.pysogs.fixed_ephemeral_key",
];

#[test]
fn every_onion_vector_is_covered() {
    assert_eq!(family_ids(&["onion."]), COVERED);
}

/// The vector's ciphers, with the names used in its fields.
const CIPHERS: [(EncType, &str); 2] = [(EncType::AesGcm, "gcm"), (EncType::XChaCha20, "xchacha20")];

#[test]
fn libsession_hop_blobs_decrypt_and_re_encrypt_byte_for_byte() {
    let data = data("onion.libsession.hop_encryption");
    let (a, big_a) = (array32(&data["a"]), array32(&data["A"]));
    let (b, big_b) = (array32(&data["b"]), array32(&data["B"]));
    assert_eq!(x25519_public(&a), big_a);
    assert_eq!(x25519_public(&b), big_b);
    let plaintext = text(&data["plaintext_utf8"]).as_bytes();

    for (enc_type, name) in CIPHERS {
        let blob = bytes(&data[format!("enc_{name}").as_str()]);
        let node = LayerKey::node(enc_type, &b, &big_a).unwrap();
        let client = LayerKey::client(enc_type, &a, &big_b).unwrap();
        assert_eq!(*node.to_bytes(), *client.to_bytes());
        assert_eq!(node.decrypt(&blob).unwrap(), plaintext);
        // Same nonce, same plaintext → the same blob.
        let nonce = &blob[..enc_type.nonce_len()];
        assert_eq!(client.encrypt_with_nonce(nonce, plaintext).unwrap(), blob);
        // The other cipher's key does not open it.
        let other = if enc_type == EncType::AesGcm {
            EncType::XChaCha20
        } else {
            EncType::AesGcm
        };
        assert!(
            LayerKey::node(other, &b, &big_a)
                .unwrap()
                .decrypt(&blob)
                .is_err()
        );
    }
}

#[test]
fn libsession_broken_blobs_fail_authentication() {
    let data = data("onion.libsession.hop_encryption");
    let node = LayerKey::node(EncType::AesGcm, &array32(&data["b"]), &array32(&data["A"])).unwrap();
    let broken = data["broken_must_fail"].as_object().unwrap();
    assert_eq!(broken.len(), 2);
    for blob in broken.values() {
        let err = node.decrypt(&bytes(blob)).unwrap_err();
        assert_eq!(
            err,
            OnionError::Decrypt {
                enc_type: EncType::AesGcm
            }
        );
        assert_eq!(err.kind(), ErrorKind::BadSignature);
    }
    // libsession's test also flips bits of the XChaCha20 blob.
    let xchacha = bytes(&data["enc_xchacha20"]);
    let node = LayerKey::node(
        EncType::XChaCha20,
        &array32(&data["b"]),
        &array32(&data["A"]),
    )
    .unwrap();
    for i in [0, 12, xchacha.len() - 1] {
        let mut flipped = xchacha.clone();
        flipped[i] ^= 0x01;
        assert!(matches!(
            node.decrypt(&flipped),
            Err(OnionError::Decrypt { .. })
        ));
    }
}

#[test]
fn libsession_parser_payloads_open_reply_and_re_encode() {
    let data = data("onion.libsession.parser");
    let (a, big_a) = (array32(&data["a"]), array32(&data["A"]));
    let (b, big_b) = (array32(&data["b"]), array32(&data["B"]));
    assert_eq!(x25519_public(&a), big_a);
    assert_eq!(x25519_public(&b), big_b);
    let mut rng = TestRng::new(1);

    for (enc_type, name) in CIPHERS {
        let payload = bytes(&data[format!("payload_{name}").as_str()]);
        let opened = peel::open_layer(&b, &payload).unwrap();
        assert_eq!(opened.plaintext(), text(&data["plaintext_utf8"]).as_bytes());
        assert_eq!(opened.ephemeral_key(), &big_a);
        assert_eq!(opened.reply_key().enc_type(), enc_type);
        // "Hello world" is not routing instructions: a typed error, not a panic.
        assert_eq!(opened.route().unwrap_err().kind(), ErrorKind::Malformed);

        // The reply has the libsession length and the client opens it.
        let reply_text = text(&data["reply_plaintext_utf8"]).as_bytes();
        let reply = opened.reply_key().encrypt(reply_text, &mut rng).unwrap();
        let want_len = data[format!("reply_len_{name}").as_str()].as_u64().unwrap();
        assert_eq!(reply.len() as u64, want_len);
        let client = LayerKey::client(enc_type, &a, &big_b).unwrap();
        assert_eq!(client.decrypt(&reply).unwrap(), reply_text);

        // Re-encode: the same nonce gives the same ciphertext, framed with the same JSON.
        let (blob, json) = layer::split(&payload).unwrap();
        let again = client
            .encrypt_with_nonce(&blob[..enc_type.nonce_len()], opened.plaintext())
            .unwrap();
        assert_eq!(again, blob);
        assert_eq!(
            layer::join(&again, std::str::from_utf8(json).unwrap()).unwrap(),
            payload
        );
    }
}

#[test]
fn libsession_parser_payloads_refuse_wrong_keys_and_damage() {
    let data = data("onion.libsession.parser");
    let b = array32(&data["b"]);
    for (_, name) in CIPHERS {
        let payload = bytes(&data[format!("payload_{name}").as_str()]);
        // Wrong node key: authentication fails.
        let err = peel::open_layer(&array32(&data["a"]), &payload).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadSignature);
        // Truncations and bit flips: typed errors only.
        for len in 0..payload.len() {
            assert!(peel::open_layer(&b, &payload[..len]).is_err());
        }
        let (blob, _) = layer::split(&payload).unwrap();
        let framed_len = 4 + blob.len();
        for i in 0..payload.len() {
            let mut damaged = payload.clone();
            damaged[i] ^= 0x04;
            match peel::open_layer(&b, &damaged) {
                Err(err) => assert_ne!(err.kind(), ErrorKind::Internal),
                // A flip in the prefix or ciphertext never opens; one in the JSON can only
                // open if it left the key and cipher alone (e.g. "enc_type" → "anc_type",
                // an unknown key, leaving the AES-GCM default).
                Ok(opened) => {
                    assert!(i >= framed_len, "byte {i} flipped and still opened");
                    assert_eq!(opened.plaintext(), text(&data["plaintext_utf8"]).as_bytes());
                }
            }
        }
    }
}

#[test]
fn pysogs_fixed_ephemeral_key_and_v4_examples() {
    let data = data("onion.pysogs.fixed_ephemeral_key");
    assert_eq!(x25519_public(&array32(&data["a"])), array32(&data["A"]));

    // The docstring request, encoded byte for byte (desktop's key order: method, endpoint,
    // headers), and decoded back.
    let request = V4Request {
        method: "GET".into(),
        endpoint: "/room/some-room".into(),
        headers: vec![("Some-Header".into(), "12345".into())],
        body: None,
    };
    let request_bytes = text(&data["v4_example_request"]).as_bytes();
    assert_eq!(request.encode().unwrap(), request_bytes);
    assert_eq!(V4Request::decode(request_bytes).unwrap(), request);

    // The docstring response: every field, then re-encoded byte for byte.
    let response_bytes = text(&data["v4_example_response"]).as_bytes();
    let response = V4Response::decode(response_bytes).unwrap();
    assert_eq!(response.code, 200);
    assert_eq!(
        response.headers,
        vec![("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(response.content_type(), Some("application/json"));
    assert_eq!(response.body, br#"{"id": 123}"#);
    assert_eq!(response.encode(), response_bytes);
}

/// pysogs' `build_payload` for XChaCha20 with its fixed ephemeral key, computed independently:
/// `nonce || XChaCha20-Poly1305(BLAKE2b-32(aS || A || S), v4 request)`.
fn pysogs_inner_blob(
    a: &[u8; 32],
    server_public: &[u8; 32],
    nonce: &[u8; 24],
    plain: &[u8],
) -> Vec<u8> {
    let shared = x25519_shared_secret(a, server_public).unwrap();
    let mut hash = Blake2b256::new();
    hash.update(*shared);
    hash.update(x25519_public(a));
    hash.update(server_public);
    let key: [u8; 32] = hash.finalize().into();
    let cipher = XChaCha20Poly1305::new(&key.into());
    let mut blob = nonce.to_vec();
    blob.extend(cipher.encrypt(&(*nonce).into(), plain).unwrap());
    blob
}

#[test]
fn pysogs_fixed_key_request_reaches_the_server_byte_for_byte_and_the_reply_decrypts() {
    let data = data("onion.pysogs.fixed_ephemeral_key");
    let a = array32(&data["a"]);
    let request_bytes = text(&data["v4_example_request"]).as_bytes();
    let response_bytes = text(&data["v4_example_response"]).as_bytes();

    // pysogs' server key is random per run; this one is fixed here.
    let server_secret = [0x5a; 32];
    let server_public = x25519_public(&server_secret);
    let hop_secret = [0x17; 32];
    let hop = Hop {
        ed25519: [0xed; 32],
        x25519: x25519_public(&hop_secret),
    };
    let destination = Destination::Server {
        host: "localhost".into(),
        target: "/oxen/v4/lsrpc".into(),
        scheme: Scheme::Http,
        port: 80,
        x25519: server_public,
    };
    let nonce = [0x42; 24];
    let hop_layer = LayerSecrets::random(&mut TestRng::new(2));
    let destination_layer = LayerSecrets {
        ephemeral_secret: Zeroizing::new(a),
        nonce,
    };
    let request = build_with_secrets(
        &[hop],
        &destination,
        request_bytes,
        EncType::XChaCha20,
        &[hop_layer, destination_layer],
    )
    .unwrap();

    // The last hop relays to the server what pysogs' test posts: the inner blob framed with
    // the routing JSON (compact here, Python-spaced there).
    let peeled = peel::peel(&hop_secret, request.body()).unwrap();
    let Route::Server(relay) = peeled.route else {
        panic!("expected a relay to the server");
    };
    assert_eq!(
        (
            relay.host.as_str(),
            relay.target.as_str(),
            relay.scheme,
            relay.port
        ),
        ("localhost", "/oxen/v4/lsrpc", Scheme::Http, 80)
    );
    let (blob, json) = layer::split(&relay.payload).unwrap();
    assert_eq!(
        blob,
        pysogs_inner_blob(&a, &server_public, &nonce, request_bytes)
    );
    let json: Value = serde_json::from_slice(json).unwrap();
    assert_eq!(json["ephemeral_key"], text(&data["A"]));
    assert_eq!(json["enc_type"], "xchacha20");
    assert_eq!(json["method"], "POST");

    // The server opens it, finds the docstring request, and answers the docstring response.
    let opened = peel::open_layer(&server_secret, &relay.payload).unwrap();
    assert_eq!(opened.plaintext(), request_bytes);
    let reply = opened
        .reply_key()
        .encrypt(response_bytes, &mut TestRng::new(3))
        .unwrap();
    let OnionResponse::Server(response) = request.response_keys().decrypt(200, &reply).unwrap()
    else {
        panic!("expected a server response");
    };
    assert_eq!(response, V4Response::decode(response_bytes).unwrap());
}
