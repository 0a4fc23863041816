//! Onion hop encryption against real libsodium (protocol.md §4.2): X25519 shared secrets
//! (`crypto_scalarmult`), the two key derivations (`crypto_auth_hmacsha256` with key "LOKI",
//! `crypto_generichash`), XChaCha20-Poly1305 and, where this CPU has it, AES-256-GCM
//! (`crypto_aead_*`) in both directions; then whole 3-hop requests built here, opened layer by
//! layer by libsodium and by our node-side code, answered with libsodium, and decrypted here.
#![allow(clippy::unwrap_used)]

mod common;

use rand_core::Rng;
use sessiond_protocol::onion::hop_cipher::{x25519_public, x25519_shared_secret};
use sessiond_protocol::onion::peel::{self, Route};
use sessiond_protocol::onion::{
    Destination, EncType, Hop, LayerKey, OnionError, OnionResponse, Scheme, SnodeReply, V4Request,
    V4Response, build, layer,
};

use common::{TestRng, libsodium};

/// Randomized cases per test.
const CASES: usize = 128;

/// `nonce || AEAD(plaintext)` with libsodium.
fn sodium_seal(enc_type: EncType, key: &[u8; 32], nonce: &[u8], plaintext: &[u8]) -> Vec<u8> {
    [
        nonce,
        &libsodium::aead_encrypt(enc_type.into(), key, nonce, plaintext),
    ]
    .concat()
}

/// Opens `nonce || AEAD` with libsodium.
fn sodium_open(enc_type: EncType, key: &[u8; 32], blob: &[u8]) -> Option<Vec<u8>> {
    let (nonce, ciphertext) = blob.split_at(enc_type.nonce_len());
    libsodium::aead_decrypt(enc_type.into(), key, nonce, ciphertext)
}

/// The ciphers libsodium can run here.
fn sodium_ciphers() -> Vec<EncType> {
    if libsodium::aes_gcm_available() {
        vec![EncType::AesGcm, EncType::XChaCha20]
    } else {
        eprintln!(
            "crypto_aead_aes256gcm_is_available() is 0 on this CPU: AES-256-GCM is not compared \
             with libsodium (key derivation still is)"
        );
        vec![EncType::XChaCha20]
    }
}

// ---- tests ----

#[test]
fn x25519_matches_crypto_scalarmult() {
    let mut rng = TestRng::new(0x0001);
    for _ in 0..CASES {
        let secret = rng.array::<32>();
        assert_eq!(x25519_public(&secret), libsodium::scalarmult_base(&secret));
        // Any 32 bytes are a u-coordinate for X25519, valid point or not.
        let public = rng.array::<32>();
        let ours = x25519_shared_secret(&secret, &public).ok().map(|s| *s);
        assert_eq!(
            ours,
            libsodium::scalarmult(&secret, &public),
            "{}",
            hex::encode(public)
        );
    }
}

#[test]
fn small_order_points_are_refused_like_crypto_scalarmult() {
    let mut rng = TestRng::new(0x0002);
    // libsodium's blacklist of small-order u-coordinates (and non-canonical encodings), with
    // and without the ignored top bit.
    let p = |h: &str| -> [u8; 32] { hex::decode(h).unwrap().try_into().unwrap() };
    let mut small = vec![
        [0u8; 32],
        p("0100000000000000000000000000000000000000000000000000000000000000"),
        p("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        p("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        p("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        p("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        p("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    for i in 0..small.len() {
        let mut high = small[i];
        high[31] |= 0x80;
        small.push(high);
    }
    for point in small {
        let secret = rng.array::<32>();
        assert_eq!(
            libsodium::scalarmult(&secret, &point),
            None,
            "{}",
            hex::encode(point)
        );
        assert!(matches!(
            x25519_shared_secret(&secret, &point),
            Err(OnionError::WeakKey { .. })
        ));
    }
}

#[test]
fn layer_keys_match_libsodium_derivations() {
    let mut rng = TestRng::new(0x0003);
    for i in 0..CASES {
        let enc_type = if i % 2 == 0 {
            EncType::AesGcm
        } else {
            EncType::XChaCha20
        };
        let (e, x) = (rng.array::<32>(), rng.array::<32>());
        let (e_pub, x_pub) = (
            libsodium::scalarmult_base(&e),
            libsodium::scalarmult_base(&x),
        );
        let shared = libsodium::scalarmult(&e, &x_pub).unwrap();
        let expected = libsodium::layer_key(enc_type, &shared, &e_pub, &x_pub);
        assert_eq!(
            *LayerKey::client(enc_type, &e, &x_pub).unwrap().to_bytes(),
            expected
        );
        assert_eq!(
            *LayerKey::node(enc_type, &x, &e_pub).unwrap().to_bytes(),
            expected
        );
    }
}

#[test]
fn hop_aead_agrees_with_libsodium_both_ways() {
    let mut rng = TestRng::new(0x0004);
    for enc_type in sodium_ciphers() {
        for _ in 0..CASES {
            let key_bytes = rng.array::<32>();
            let key = LayerKey::from_bytes(enc_type, key_bytes);
            let plaintext = rng.bytes(300);

            // Ours → libsodium, and the same nonce gives the same bytes.
            let blob = key.encrypt(&plaintext, &mut rng).unwrap();
            assert_eq!(sodium_open(enc_type, &key_bytes, &blob).unwrap(), plaintext);
            let nonce = &blob[..enc_type.nonce_len()];
            assert_eq!(sodium_seal(enc_type, &key_bytes, nonce, &plaintext), blob);

            // libsodium → ours.
            let mut nonce = [0u8; 24];
            rng.fill_bytes(&mut nonce);
            let blob = sodium_seal(
                enc_type,
                &key_bytes,
                &nonce[..enc_type.nonce_len()],
                &plaintext,
            );
            assert_eq!(key.decrypt(&blob).unwrap(), plaintext);

            // A flipped bit fails on both sides.
            let mut flipped = blob.clone();
            let at = (rng.next_u32() as usize) % flipped.len();
            flipped[at] ^= 1 << (rng.next_u32() % 8);
            assert!(sodium_open(enc_type, &key_bytes, &flipped).is_none());
            assert!(matches!(
                key.decrypt(&flipped),
                Err(OnionError::Decrypt { .. })
            ));
        }
    }
}

/// A fake service node: its X25519 secret and its public keys.
struct Node {
    secret: [u8; 32],
    hop: Hop,
}

fn random_node(rng: &mut TestRng) -> Node {
    let secret = rng.array::<32>();
    Node {
        secret,
        hop: Hop {
            ed25519: rng.array::<32>(),
            x25519: libsodium::scalarmult_base(&secret),
        },
    }
}

/// libsodium's view of one layer: the framed outer form opened with the node's secret key.
fn sodium_open_relayed(
    node_secret: &[u8; 32],
    ciphertext: &[u8],
    ephemeral: &[u8; 32],
    enc_type: EncType,
) -> Vec<u8> {
    let shared = libsodium::scalarmult(node_secret, ephemeral).unwrap();
    let key = libsodium::layer_key(
        enc_type,
        &shared,
        ephemeral,
        &libsodium::scalarmult_base(node_secret),
    );
    sodium_open(enc_type, &key, ciphertext).unwrap()
}

#[test]
fn three_hop_requests_round_trip_through_libsodium_and_our_nodes() {
    let mut rng = TestRng::new(0x0005);
    let ciphers = sodium_ciphers();
    for case in 0..CASES {
        let enc_type = ciphers[case % ciphers.len()];
        let nodes = [
            random_node(&mut rng),
            random_node(&mut rng),
            random_node(&mut rng),
        ];
        let path: Vec<Hop> = nodes.iter().map(|n| n.hop).collect();
        let target = random_node(&mut rng);
        let to_server = case % 4 >= 2;
        let (destination, payload) = if to_server {
            let request = V4Request {
                method: "POST".into(),
                endpoint: format!("/room/r{case}/message"),
                headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                body: Some(rng.bytes(200)),
            };
            let destination = Destination::Server {
                host: format!("server{case}.example"),
                target: "/oxen/v4/lsrpc".into(),
                scheme: if case % 2 == 0 {
                    Scheme::Http
                } else {
                    Scheme::Https
                },
                port: 8000 + case as u16,
                x25519: target.hop.x25519,
            };
            (destination, request.encode().unwrap())
        } else {
            let body = format!(r#"{{"method":"retrieve","params":{{"n":{case}}}}}"#);
            (Destination::ServiceNode(target.hop), body.into_bytes())
        };
        let request = build(&path, &destination, &payload, enc_type, &mut rng).unwrap();

        // Guard: the HTTP body's framing names the ephemeral key.
        let (outer, json) = layer::split(request.body()).unwrap();
        let mut ciphertext = outer.to_vec();
        let json: serde_json::Value = serde_json::from_slice(json).unwrap();
        let mut ephemeral: [u8; 32] = hex::decode(json["ephemeral_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        for (i, node) in nodes.iter().enumerate() {
            let ours = peel::open_relayed(&node.secret, &ciphertext, &ephemeral, enc_type).unwrap();
            assert_eq!(
                ours.plaintext(),
                sodium_open_relayed(&node.secret, &ciphertext, &ephemeral, enc_type),
                "case {case} hop {i}"
            );
            match ours.route().unwrap() {
                Route::NextHop(forward) => {
                    let next = nodes.get(i + 1).map_or(&target, |n| n);
                    assert!(!to_server && i == 2 || i < 2, "case {case} hop {i}");
                    assert_eq!(forward.destination_ed25519, next.hop.ed25519);
                    assert_eq!(forward.enc_type, enc_type);
                    ephemeral = forward.ephemeral_key;
                    ciphertext = forward.ciphertext;
                }
                Route::Server(relay) => {
                    assert!(to_server && i == 2, "case {case} hop {i}");
                    let Destination::Server {
                        host, port, scheme, ..
                    } = &destination
                    else {
                        unreachable!()
                    };
                    assert_eq!(
                        (&relay.host, relay.port, relay.scheme),
                        (host, *port, *scheme)
                    );
                    // The server opens the relayed layer, with libsodium and with our code.
                    let (inner, meta) = layer::split(&relay.payload).unwrap();
                    let meta: serde_json::Value = serde_json::from_slice(meta).unwrap();
                    let server_ephemeral: [u8; 32] =
                        hex::decode(meta["ephemeral_key"].as_str().unwrap())
                            .unwrap()
                            .try_into()
                            .unwrap();
                    let plain =
                        sodium_open_relayed(&target.secret, inner, &server_ephemeral, enc_type);
                    assert_eq!(plain, payload);
                    let opened = peel::open_layer(&target.secret, &relay.payload).unwrap();
                    assert_eq!(opened.plaintext(), payload);
                    assert_eq!(
                        V4Request::decode(&plain).unwrap().encode().unwrap(),
                        payload
                    );

                    // Reply sealed by libsodium, decrypted here.
                    let response = V4Response {
                        code: if case % 3 == 0 { 403 } else { 200 },
                        headers: vec![("content-type".into(), "application/json".into())],
                        body: format!(r#"{{"case":{case}}}"#).into_bytes(),
                    };
                    let key = libsodium::layer_key(
                        enc_type,
                        &libsodium::scalarmult(&target.secret, &server_ephemeral).unwrap(),
                        &server_ephemeral,
                        &target.hop.x25519,
                    );
                    let mut nonce = [0u8; 24];
                    rng.fill_bytes(&mut nonce);
                    let reply = sodium_seal(
                        enc_type,
                        &key,
                        &nonce[..enc_type.nonce_len()],
                        &response.encode(),
                    );
                    assert_eq!(
                        request.response_keys().decrypt(200, &reply).unwrap(),
                        OnionResponse::Server(response)
                    );
                }
                Route::Final(_) => panic!("case {case}: hop {i} is not the destination"),
            }
        }
        if !to_server {
            // The destination node: libsodium and our code agree on its layer.
            let plain = sodium_open_relayed(&target.secret, &ciphertext, &ephemeral, enc_type);
            let peeled =
                peel::peel_relayed(&target.secret, &ciphertext, &ephemeral, enc_type).unwrap();
            assert_eq!(plain, layer::join(&payload, r#"{"headers":{}}"#).unwrap());
            let Route::Final(final_payload) = peeled.route else {
                panic!("case {case}: expected the final payload");
            };
            assert_eq!(final_payload.body, payload);

            // Reply sealed by libsodium (base64, as the storage server sends it).
            let reply_json = format!(r#"{{"body":"{{\"n\":{case}}}","status":200}}"#);
            let key = libsodium::layer_key(
                enc_type,
                &libsodium::scalarmult(&target.secret, &ephemeral).unwrap(),
                &ephemeral,
                &target.hop.x25519,
            );
            let mut nonce = [0u8; 24];
            rng.fill_bytes(&mut nonce);
            let sealed = sodium_seal(
                enc_type,
                &key,
                &nonce[..enc_type.nonce_len()],
                reply_json.as_bytes(),
            );
            use base64::Engine as _;
            let body = base64::engine::general_purpose::STANDARD.encode(sealed);
            assert_eq!(
                request
                    .response_keys()
                    .decrypt(200, body.as_bytes())
                    .unwrap(),
                OnionResponse::ServiceNode(SnodeReply {
                    status: 200,
                    body: format!(r#"{{"n":{case}}}"#)
                })
            );
            // And our own reply sealing agrees.
            let ours =
                peel::seal_snode_reply(&peeled.reply_key, 421, "{}", true, &mut rng).unwrap();
            assert_eq!(
                request.response_keys().decrypt(200, &ours).unwrap(),
                OnionResponse::ServiceNode(SnodeReply {
                    status: 421,
                    body: "{}".into()
                })
            );
        }
    }
}
