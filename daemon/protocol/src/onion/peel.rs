//! Node and server side: removing one onion layer and deciding what to do with what is inside
//! (protocol.md §4.3, as the storage server's `onion_processing.cpp` does it).
//!
//! The client never runs this; it exists so that tests can run an in-process network of fake
//! service nodes and servers built on the real format, and so that the format is specified in
//! both directions here. Decryption ([`open_layer`], [`open_relayed`]) and interpretation
//! ([`DecryptedLayer::route`]) are separate steps because a node that decrypted its layer but
//! cannot parse the instructions still answers, encrypted with that layer's key
//! ([`seal_snode_reply`]).

use std::fmt;

use rand_core::CryptoRng;

use super::hop_cipher::{EncType, LayerKey, NodeKey};
use super::json::{ObjectWriter, Value};
use super::layer::{self, bool_field, key_field, str_field, u16_field};
use super::response::encode_base64;
use super::{MAX_BODY_LEN, OnionError, Scheme};

/// One layer, decrypted with the node's key.
pub struct DecryptedLayer {
    /// The layer's plaintext: `u32_le(N) || N bytes || JSON` for a hop, the request itself for
    /// a server destination.
    plaintext: Vec<u8>,
    /// The layer key; encrypts anything this node answers.
    reply_key: LayerKey,
    /// The client's ephemeral key for this layer.
    ephemeral_key: [u8; 32],
}

/// Opens the framed form `u32_le(N) || ciphertext || {"ephemeral_key": …, "enc_type": …}`:
/// what the guard receives as its HTTP body, and what a server destination receives from the
/// last hop (whose JSON also has `host`, `target`, …, ignored here).
///
/// `node_key` is the node's (server's) X25519 secret key, or its [`NodeKeys`](super::NodeKeys)
/// (see [`LayerKey::node`]). Bodies beyond [`MAX_BODY_LEN`] are refused before anything else.
pub fn open_layer<K: NodeKey + ?Sized>(
    node_key: &K,
    body: &[u8],
) -> Result<DecryptedLayer, OnionError> {
    const WHAT: &str = "onion layer metadata";
    if body.len() > MAX_BODY_LEN {
        return Err(OnionError::BodyTooLarge {
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    let (ciphertext, json) = layer::split_parsed(body, WHAT)?;
    let ephemeral_key = key_field(&json, WHAT, "ephemeral_key")?;
    let enc_type = enc_type_field(&json, WHAT)?;
    open_relayed(node_key, ciphertext, &ephemeral_key, enc_type)
}

/// Opens a layer relayed by the previous hop, which sends the ciphertext, ephemeral key and
/// `enc_type` as separate fields (OxenMQ `sn.onion_request`).
pub fn open_relayed<K: NodeKey + ?Sized>(
    node_key: &K,
    ciphertext: &[u8],
    ephemeral_key: &[u8; 32],
    enc_type: EncType,
) -> Result<DecryptedLayer, OnionError> {
    let reply_key = LayerKey::node(enc_type, node_key, ephemeral_key)?;
    let plaintext = reply_key.decrypt(ciphertext)?;
    Ok(DecryptedLayer {
        plaintext,
        reply_key,
        ephemeral_key: *ephemeral_key,
    })
}

impl DecryptedLayer {
    /// The decrypted bytes.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The key to encrypt this node's answer with.
    pub fn reply_key(&self) -> &LayerKey {
        &self.reply_key
    }

    /// The client's ephemeral public key for this layer.
    pub fn ephemeral_key(&self) -> &[u8; 32] {
        &self.ephemeral_key
    }

    /// What a storage server does with this plaintext: relay to another node, relay to a
    /// server, or answer it itself.
    ///
    /// Like the storage server: a `"headers"` key means final destination, else `"host"` means
    /// relay to a server (port 443 and `https` when absent), else `"destination"` and
    /// `"ephemeral_key"` name the next hop (`enc_type` AES-GCM when absent).
    pub fn route(&self) -> Result<Route, OnionError> {
        const WHAT: &str = "onion routing instructions";
        let (blob, json) = layer::split_parsed(&self.plaintext, WHAT)?;
        if json.get("headers").is_some() {
            return Ok(Route::Final(FinalPayload {
                body: blob.to_vec(),
                json: bool_field(&json, WHAT, "json")?.unwrap_or(false),
                base64: bool_field(&json, WHAT, "base64")?.unwrap_or(true),
            }));
        }
        if json.get("host").is_some() {
            let scheme = match json.get("protocol") {
                None => Scheme::Https,
                Some(value) => match value.as_str() {
                    Some("https") => Scheme::Https,
                    Some("http") => Scheme::Http,
                    _ => {
                        return Err(OnionError::BadField {
                            what: WHAT,
                            field: "protocol",
                            expected: "\"http\" or \"https\"",
                        });
                    }
                },
            };
            return Ok(Route::Server(ForwardToServer {
                host: str_field(&json, WHAT, "host")?.to_owned(),
                target: str_field(&json, WHAT, "target")?.to_owned(),
                scheme,
                // The storage server's default, whatever the scheme (§11 pitfall 27).
                port: u16_field(&json, WHAT, "port")?.unwrap_or(443),
                payload: self.plaintext.clone(),
            }));
        }
        Ok(Route::NextHop(ForwardToNode {
            destination_ed25519: key_field(&json, WHAT, "destination")?,
            ephemeral_key: key_field(&json, WHAT, "ephemeral_key")?,
            enc_type: enc_type_field(&json, WHAT)?,
            ciphertext: blob.to_vec(),
        }))
    }
}

impl fmt::Debug for DecryptedLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedLayer")
            .field("plaintext_len", &self.plaintext.len())
            .field("enc_type", &self.reply_key.enc_type())
            .finish_non_exhaustive()
    }
}

/// The optional `enc_type` field (AES-GCM when absent).
fn enc_type_field(json: &Value, what: &'static str) -> Result<EncType, OnionError> {
    match json.get("enc_type") {
        None => Ok(EncType::AesGcm),
        Some(value) => EncType::from_name(value.as_str().ok_or(OnionError::BadField {
            what,
            field: "enc_type",
            expected: "a string",
        })?),
    }
}

/// A peeled layer: what to do next, and the key for answering.
#[derive(Debug)]
pub struct Peeled {
    /// Where the request goes next.
    pub route: Route,
    /// This layer's key: encrypts the final answer or this node's own error.
    pub reply_key: LayerKey,
}

/// [`open_layer`] then [`DecryptedLayer::route`].
pub fn peel<K: NodeKey + ?Sized>(node_key: &K, body: &[u8]) -> Result<Peeled, OnionError> {
    let layer = open_layer(node_key, body)?;
    Ok(Peeled {
        route: layer.route()?,
        reply_key: layer.reply_key,
    })
}

/// [`open_relayed`] then [`DecryptedLayer::route`].
pub fn peel_relayed<K: NodeKey + ?Sized>(
    node_key: &K,
    ciphertext: &[u8],
    ephemeral_key: &[u8; 32],
    enc_type: EncType,
) -> Result<Peeled, OnionError> {
    let layer = open_relayed(node_key, ciphertext, ephemeral_key, enc_type)?;
    Ok(Peeled {
        route: layer.route()?,
        reply_key: layer.reply_key,
    })
}

/// What a node does with a layer it opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Relay to another service node.
    NextHop(ForwardToNode),
    /// Relay to an HTTP(S) server.
    Server(ForwardToServer),
    /// This node is the destination.
    Final(FinalPayload),
}

/// Relay instructions to the next service node.
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardToNode {
    /// The next node, by Ed25519 key (the relaying node looks up its address and X25519 key).
    pub destination_ed25519: [u8; 32],
    /// The ephemeral key the next node opens its layer with.
    pub ephemeral_key: [u8; 32],
    /// The next layer's cipher.
    pub enc_type: EncType,
    /// The next node's layer.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for ForwardToNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardToNode")
            .field(
                "destination_ed25519",
                &hex::encode(self.destination_ed25519),
            )
            .field("enc_type", &self.enc_type)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// Relay instructions to a server: POST `payload` to `scheme://host:port/target`.
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardToServer {
    /// Host name or IP.
    pub host: String,
    /// Path on the server (a storage server only relays to allowed targets, see
    /// [`super::is_allowed_target`]; this is not checked here).
    pub target: String,
    /// `http` or `https`.
    pub scheme: Scheme,
    /// TCP port.
    pub port: u16,
    /// The whole decrypted layer, POSTed as is; the server opens it with [`open_layer`].
    pub payload: Vec<u8>,
}

impl fmt::Debug for ForwardToServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardToServer")
            .field("host", &self.host)
            .field("target", &self.target)
            .field("scheme", &self.scheme)
            .field("port", &self.port)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The request for a destination service node.
#[derive(Clone, PartialEq, Eq)]
pub struct FinalPayload {
    /// The storage RPC body (`{"method":…,"params":…}`).
    pub body: Vec<u8>,
    /// The client asked for the reply body embedded as JSON rather than as a string.
    pub json: bool,
    /// The client wants the encrypted reply base64-encoded (the default).
    pub base64: bool,
}

impl fmt::Debug for FinalPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinalPayload")
            .field("body_len", &self.body.len())
            .field("json", &self.json)
            .field("base64", &self.base64)
            .finish()
    }
}

/// A service node's (or hop's) encrypted answer: `{"body": <body as a string>, "status": N}`
/// encrypted with `key`, base64-encoded when `base64` (what the storage server sends, and what
/// a hop sends for `Invalid json`/`Invalid url`).
pub fn seal_snode_reply<R: CryptoRng + ?Sized>(
    key: &LayerKey,
    status: u16,
    body: &str,
    base64: bool,
    rng: &mut R,
) -> Result<Vec<u8>, OnionError> {
    let plain = ObjectWriter::new()
        .string("body", body)
        .integer("status", u64::from(status))
        .finish();
    let sealed = key.encrypt(plain.as_bytes(), rng)?;
    Ok(if base64 {
        encode_base64(&sealed).into_bytes()
    } else {
        sealed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::hop_cipher::x25519_public;
    use crate::onion::{Destination, Hop, OnionResponse, SnodeReply, build};
    use crate::test_rng::TestRng;
    use crate::{ErrorKind, HasKind};

    struct Node {
        secret: [u8; 32],
        hop: Hop,
    }

    fn node(n: u8) -> Node {
        let secret = [n; 32];
        Node {
            secret,
            hop: Hop {
                ed25519: [n.wrapping_add(100); 32],
                x25519: x25519_public(&secret),
            },
        }
    }

    #[test]
    fn three_hops_peel_to_the_final_payload_and_the_reply_decrypts() {
        let nodes = [node(1), node(2), node(3)];
        let target = node(4);
        let path: Vec<Hop> = nodes.iter().map(|n| n.hop).collect();
        let mut rng = TestRng::new(1);
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let request = build(
                &path,
                &Destination::ServiceNode(target.hop),
                br#"{"method":"info","params":{}}"#,
                enc_type,
                &mut rng,
            )
            .unwrap();
            let mut peeled = peel(&nodes[0].secret, request.body()).unwrap();
            for next in [&nodes[1], &nodes[2], &target] {
                let Route::NextHop(forward) = peeled.route else {
                    panic!("expected a relay");
                };
                assert_eq!(forward.destination_ed25519, next.hop.ed25519);
                assert_eq!(forward.enc_type, enc_type);
                peeled = peel_relayed(
                    &next.secret,
                    &forward.ciphertext,
                    &forward.ephemeral_key,
                    forward.enc_type,
                )
                .unwrap();
            }
            let Route::Final(payload) = peeled.route else {
                panic!("expected the final payload");
            };
            assert_eq!(payload.body, br#"{"method":"info","params":{}}"#);
            assert!(!payload.json && payload.base64);
            let reply =
                seal_snode_reply(&peeled.reply_key, 200, "{\"t\":1}", true, &mut rng).unwrap();
            assert_eq!(
                request.response_keys().decrypt(200, &reply).unwrap(),
                OnionResponse::ServiceNode(SnodeReply {
                    status: 200,
                    body: "{\"t\":1}".into()
                })
            );
        }
    }

    #[test]
    fn node_keys_and_a_zeroizing_secret_peel_like_the_bare_secret() {
        let guard = node(1);
        let keys = crate::onion::NodeKeys::new(&guard.secret);
        let secret = zeroize::Zeroizing::new(guard.secret);
        let mut rng = TestRng::new(4);
        for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
            let request = build(
                &[guard.hop, node(2).hop],
                &Destination::ServiceNode(node(3).hop),
                b"{}",
                enc_type,
                &mut rng,
            )
            .unwrap();
            let bare = peel(&guard.secret, request.body()).unwrap();
            for other in [
                peel(&keys, request.body()).unwrap(),
                peel(&secret, request.body()).unwrap(),
            ] {
                assert_eq!(other.route, bare.route);
                assert_eq!(*other.reply_key.to_bytes(), *bare.reply_key.to_bytes());
            }
        }
    }

    #[test]
    fn route_reads_server_instructions_with_storage_server_defaults() {
        let me = node(1);
        let key = LayerKey::client(EncType::AesGcm, &[7; 32], &me.hop.x25519).unwrap();
        let ephemeral = hex::encode(x25519_public(&[7; 32]));
        let mut rng = TestRng::new(2);
        for (json, scheme, port) in [
            (
                r#"{"host":"h","target":"/oxen/v4/lsrpc"}"#,
                Scheme::Https,
                443,
            ),
            (
                r#"{"host":"h","target":"/t","protocol":"http"}"#,
                Scheme::Http,
                443,
            ),
            (
                r#"{"host":"h","target":"/t","protocol":"http","port":80}"#,
                Scheme::Http,
                80,
            ),
        ] {
            let inner = layer::join(b"ct", json).unwrap();
            let outer = layer::join(
                &key.encrypt(&inner, &mut rng).unwrap(),
                &format!(r#"{{"ephemeral_key":"{ephemeral}"}}"#),
            )
            .unwrap();
            let Route::Server(server) = peel(&me.secret, &outer).unwrap().route else {
                panic!("expected a server relay");
            };
            assert_eq!((server.scheme, server.port), (scheme, port), "{json}");
            assert_eq!(server.host, "h");
            assert_eq!(server.payload, inner);
        }
    }

    #[test]
    fn bad_instructions_leave_the_reply_key_usable() {
        let me = node(1);
        let key = LayerKey::client(EncType::XChaCha20, &[7; 32], &me.hop.x25519).unwrap();
        let ephemeral = hex::encode(x25519_public(&[7; 32]));
        let mut rng = TestRng::new(3);
        for inner in [
            &b"no framing"[..],
            b"\x00\x00\x00\x00{",
            b"\x00\x00\x00\x00{}",
            b"\x00\x00\x00\x00{\"destination\":\"zz\",\"ephemeral_key\":\"00\"}",
            b"\x00\x00\x00\x00{\"host\":\"h\"}",
            b"\x00\x00\x00\x00{\"host\":\"h\",\"target\":\"/t\",\"protocol\":\"ftp\"}",
            b"\x00\x00\x00\x00{\"host\":\"h\",\"target\":\"/t\",\"port\":65536}",
            b"\x00\x00\x00\x00{\"headers\":{},\"json\":1}",
        ] {
            let outer = layer::join(
                &key.encrypt(inner, &mut rng).unwrap(),
                &format!(r#"{{"ephemeral_key":"{ephemeral}","enc_type":"xchacha20"}}"#),
            )
            .unwrap();
            let layer = open_layer(&me.secret, &outer).unwrap();
            let err = layer.route().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Malformed, "{err:?}");
            // The node can still answer "Invalid json" to the client.
            assert_eq!(*layer.reply_key().to_bytes(), *key.to_bytes());
        }
    }

    #[test]
    fn hostile_outer_bodies_give_typed_errors() {
        let me = node(1);
        let key = LayerKey::client(EncType::AesGcm, &[7; 32], &me.hop.x25519).unwrap();
        let ephemeral = hex::encode(x25519_public(&[7; 32]));
        let mut rng = TestRng::new(4);
        let inner = layer::join(b"", r#"{"headers":{}}"#).unwrap();
        let good = layer::join(
            &key.encrypt(&inner, &mut rng).unwrap(),
            &format!(r#"{{"ephemeral_key":"{ephemeral}"}}"#),
        )
        .unwrap();
        assert!(peel(&me.secret, &good).is_ok());
        // Every truncation and every single-bit flip fails without panicking.
        for len in 0..good.len() {
            assert!(peel(&me.secret, &good[..len]).is_err(), "len {len}");
        }
        for i in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                // A flip in JSON whitespace-free text can still parse (e.g. hex case); only
                // require no panic and no success with a different key.
                if let Ok(peeled) = peel(&me.secret, &bad) {
                    assert_eq!(*peeled.reply_key.to_bytes(), *key.to_bytes());
                }
            }
        }
        // Wrong node key.
        let err = peel(&node(2).secret, &good).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadSignature);
        // Missing/odd metadata.
        for json in [
            "{}".to_string(),
            r#"{"ephemeral_key":"00"}"#.into(),
            format!(r#"{{"ephemeral_key":"{ephemeral}","enc_type":"rot13"}}"#),
            format!(r#"{{"ephemeral_key":"{ephemeral}","enc_type":1}}"#),
            format!(r#"{{"ephemeral_key":"{}"}}"#, "00".repeat(32)),
        ] {
            let body = layer::join(b"0123456789012345678901234567890123456789", &json).unwrap();
            let err = peel(&me.secret, &body).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Malformed, "{json}: {err:?}");
        }
        // Oversized bodies are refused up front.
        let huge = vec![0u8; MAX_BODY_LEN + 1];
        assert!(matches!(
            peel(&me.secret, &huge),
            Err(OnionError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn debug_of_peeled_parts_hides_payloads() {
        let payload = FinalPayload {
            body: b"secret".to_vec(),
            json: false,
            base64: true,
        };
        assert!(!format!("{payload:?}").contains("secret"));
    }
}
