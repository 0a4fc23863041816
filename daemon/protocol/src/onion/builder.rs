//! Client side: wrapping a request in one encrypted layer per hop (protocol.md §4.3).
//!
//! Innermost first: the destination payload is encrypted to the destination's X25519 key, then
//! each hop from the last to the guard gets `u32_le(len) || inner blob || routing JSON`
//! encrypted to its key, and the guard's HTTP body says which ephemeral key opens the outermost
//! layer. Every layer key is kept in the returned [`ResponseKeys`]: the destination's opens the
//! answer, the hops' open the errors a hop may send back encrypted (§4.4).

use rand_core::CryptoRng;

use super::hop_cipher::{EncType, LayerKey, LayerSecrets};
use super::json::ObjectWriter;
use super::layer;
use super::response::{ResponseFraming, ResponseKeys};
use super::{Destination, Hop, OnionError, V3_TARGET, V4_TARGET, is_allowed_target};

/// Most hops a path may have: storage servers refuse a request past hop number 15.
pub const MAX_PATH_LEN: usize = 15;

/// Largest onion request body a storage server accepts (413 beyond, protocol.md §3.3).
pub const MAX_BODY_LEN: usize = 10 * 1024 * 1024;

/// A built onion request: what to POST to the guard, and the keys to read the answer.
#[derive(Debug)]
pub struct OnionRequest {
    /// The body of `POST https://<guard>/onion_req/v2`.
    body: Vec<u8>,
    /// Every layer's key, to decrypt the answer.
    keys: ResponseKeys,
}

impl OnionRequest {
    /// The HTTP body to POST to the guard's `/onion_req/v2`.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The keys that decrypt the answer.
    pub fn response_keys(&self) -> &ResponseKeys {
        &self.keys
    }

    /// The body and the keys, separately (the body goes to the transport, the keys wait for
    /// its answer).
    pub fn into_parts(self) -> (Vec<u8>, ResponseKeys) {
        (self.body, self.keys)
    }
}

/// Builds an onion request through `path` (guard first) to `destination`, with fresh ephemeral
/// keys and nonces from `rng`.
///
/// `payload` is what the destination reads:
/// - [`Destination::ServiceNode`]: the storage RPC body `{"method":…,"params":…}` (JSON text);
/// - [`Destination::Server`] with [`V4_TARGET`]: an encoded [`super::V4Request`];
/// - [`Destination::Server`] with [`V3_TARGET`]: an encoded [`super::V3Request`].
///
/// The path must not contain the destination node (desktop picks such a path); this function
/// does not check it.
pub fn build<R: CryptoRng + ?Sized>(
    path: &[Hop],
    destination: &Destination,
    payload: &[u8],
    enc_type: EncType,
    rng: &mut R,
) -> Result<OnionRequest, OnionError> {
    let secrets: Vec<LayerSecrets> = (0..=path.len())
        .map(|_| LayerSecrets::random(rng))
        .collect();
    build_with_secrets(path, destination, payload, enc_type, &secrets)
}

/// [`build`] with explicit per-layer secrets, for reproducible output: `secrets[i]` encrypts the
/// layer of `path[i]` and `secrets[path.len()]` the destination's layer.
pub fn build_with_secrets(
    path: &[Hop],
    destination: &Destination,
    payload: &[u8],
    enc_type: EncType,
    secrets: &[LayerSecrets],
) -> Result<OnionRequest, OnionError> {
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(OnionError::PathLength {
            got: path.len(),
            max: MAX_PATH_LEN,
        });
    }
    if secrets.len() != path.len() + 1 {
        return Err(OnionError::SecretsCount {
            expected: path.len() + 1,
            got: secrets.len(),
        });
    }
    let (hop_secrets, destination_secrets) = secrets.split_at(path.len());
    let destination_secrets = destination_secrets.first().ok_or(OnionError::Internal {
        what: "destination layer secrets",
    })?;
    let framing = framing_for(destination)?;

    // The destination's layer and the last hop's routing instructions.
    let destination_ephemeral = destination_secrets.ephemeral_public();
    let destination_key = LayerKey::client_with_public(
        enc_type,
        &destination_secrets.ephemeral_secret,
        &destination_ephemeral,
        destination.x25519(),
    )?;
    let destination_plaintext = match destination {
        // The "headers" key tells the node it is the final destination.
        Destination::ServiceNode(_) => Some(layer::join(
            payload,
            &ObjectWriter::new().raw("headers", "{}").finish(),
        )?),
        Destination::Server { .. } => None,
    };
    let mut blob = destination_key.encrypt_with_nonce(
        destination_secrets.nonce_for(enc_type),
        destination_plaintext.as_deref().unwrap_or(payload),
    )?;
    let ephemeral_hex = hex::encode(destination_ephemeral);
    let mut routing = match destination {
        Destination::ServiceNode(node) => next_hop_routing(node, &ephemeral_hex, enc_type),
        Destination::Server {
            host,
            target,
            scheme,
            port,
            ..
        } => ObjectWriter::new()
            .string("host", host)
            .string("target", target)
            .string("method", "POST")
            .string("protocol", scheme.as_str())
            .integer("port", u64::from(*port))
            .string("ephemeral_key", &ephemeral_hex)
            .string("enc_type", enc_type.as_str())
            .finish(),
    };

    // Each hop, last to first: its layer holds the inner blob and where to send it. The guard's
    // ephemeral key ends up in the HTTP body itself.
    let mut hop_keys = Vec::with_capacity(path.len());
    let mut guard_ephemeral = destination_ephemeral;
    for (hop, secrets) in path.iter().zip(hop_secrets).rev() {
        let ephemeral = secrets.ephemeral_public();
        let key = LayerKey::client_with_public(
            enc_type,
            &secrets.ephemeral_secret,
            &ephemeral,
            &hop.x25519,
        )?;
        let plaintext = layer::join(&blob, &routing)?;
        blob = key.encrypt_with_nonce(secrets.nonce_for(enc_type), &plaintext)?;
        routing = next_hop_routing(hop, &hex::encode(ephemeral), enc_type);
        hop_keys.push(key);
        guard_ephemeral = ephemeral;
    }
    hop_keys.reverse();

    // The guard learns how to open its layer from the HTTP body itself: the routing JSON
    // without "destination".
    let outer = ObjectWriter::new()
        .string("ephemeral_key", &hex::encode(guard_ephemeral))
        .string("enc_type", enc_type.as_str())
        .finish();
    let body = layer::join(&blob, &outer)?;
    if body.len() > MAX_BODY_LEN {
        return Err(OnionError::TooLarge {
            what: "onion request body",
            len: body.len(),
            max: MAX_BODY_LEN,
        });
    }
    Ok(OnionRequest {
        body,
        keys: ResponseKeys::new(framing, destination_key, hop_keys),
    })
}

/// `{"destination": <next node's Ed25519 hex>, "ephemeral_key": …, "enc_type": …}`.
fn next_hop_routing(next: &Hop, ephemeral_hex: &str, enc_type: EncType) -> String {
    ObjectWriter::new()
        .string("destination", &hex::encode(next.ed25519))
        .string("ephemeral_key", ephemeral_hex)
        .string("enc_type", enc_type.as_str())
        .finish()
}

/// How the answer will be framed, checking a server destination's host and target.
fn framing_for(destination: &Destination) -> Result<ResponseFraming, OnionError> {
    match destination {
        Destination::ServiceNode(_) => Ok(ResponseFraming::ServiceNode),
        Destination::Server { host, target, .. } => {
            if host.is_empty() {
                return Err(OnionError::InvalidRequest {
                    reason: "empty server host",
                });
            }
            let invalid = |reason| OnionError::InvalidTarget {
                target: target.clone(),
                reason,
            };
            if !is_allowed_target(target) {
                return Err(invalid(
                    "storage servers only relay /loki/…/lsrpc or /oxen/…/lsrpc without a query",
                ));
            }
            if target == V4_TARGET || target == "/loki/v4/lsrpc" {
                Ok(ResponseFraming::V4)
            } else if target == V3_TARGET || target == "/oxen/v3/lsrpc" {
                Ok(ResponseFraming::V3)
            } else {
                Err(invalid("unknown onion request version"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::Scheme;
    use crate::onion::hop_cipher::x25519_public;
    use crate::test_rng::TestRng;
    use crate::{ErrorKind, HasKind};

    fn hop(n: u8) -> Hop {
        Hop {
            ed25519: [n; 32],
            x25519: x25519_public(&[n; 32]),
        }
    }

    #[test]
    fn path_length_and_secret_count_are_checked() {
        let dest = Destination::ServiceNode(hop(9));
        let mut rng = TestRng::new(1);
        for len in [0, MAX_PATH_LEN + 1] {
            let path: Vec<Hop> = (0..len).map(|i| hop(i as u8 + 10)).collect();
            let err = build(&path, &dest, b"{}", EncType::AesGcm, &mut rng).unwrap_err();
            assert_eq!(
                err,
                OnionError::PathLength {
                    got: len,
                    max: MAX_PATH_LEN
                }
            );
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
        }
        let secrets = vec![LayerSecrets::random(&mut rng); 3];
        let err = build_with_secrets(
            &[hop(1), hop(2), hop(3)],
            &dest,
            b"{}",
            EncType::AesGcm,
            &secrets,
        )
        .unwrap_err();
        assert_eq!(
            err,
            OnionError::SecretsCount {
                expected: 4,
                got: 3
            }
        );
    }

    #[test]
    fn bad_server_targets_are_refused_before_building() {
        let mut rng = TestRng::new(2);
        for (target, host) in [
            ("/oxen/v4/lsrpc?x", "h"),
            ("/files", "h"),
            ("/oxen/v9/lsrpc", "h"),
            (V4_TARGET, ""),
        ] {
            let dest = Destination::Server {
                host: host.into(),
                target: target.into(),
                scheme: Scheme::Https,
                port: 443,
                x25519: x25519_public(&[5; 32]),
            };
            let err = build(&[hop(1)], &dest, b"", EncType::AesGcm, &mut rng).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{target}: {err:?}");
        }
    }

    #[test]
    fn small_order_hop_keys_are_refused() {
        let mut bad = hop(1);
        bad.x25519 = [0; 32];
        let err = build(
            &[hop(2), bad],
            &Destination::ServiceNode(hop(3)),
            b"{}",
            EncType::XChaCha20,
            &mut TestRng::new(3),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let payload = vec![b'x'; MAX_BODY_LEN];
        let err = build(
            &[hop(1)],
            &Destination::ServiceNode(hop(3)),
            &payload,
            EncType::AesGcm,
            &mut TestRng::new(4),
        )
        .unwrap_err();
        assert!(matches!(err, OnionError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn guard_body_names_the_guard_ephemeral_key() {
        let mut rng = TestRng::new(5);
        let secrets: Vec<LayerSecrets> = (0..4).map(|_| LayerSecrets::random(&mut rng)).collect();
        let request = build_with_secrets(
            &[hop(1), hop(2), hop(3)],
            &Destination::ServiceNode(hop(4)),
            b"{}",
            EncType::AesGcm,
            &secrets,
        )
        .unwrap();
        let (_, json) = layer::split(request.body()).unwrap();
        assert_eq!(
            String::from_utf8(json.to_vec()).unwrap(),
            format!(
                r#"{{"ephemeral_key":"{}","enc_type":"aes-gcm"}}"#,
                hex::encode(secrets[0].ephemeral_public())
            )
        );
    }
}
