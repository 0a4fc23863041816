//! Client side: reading the guard's HTTP answer to an onion request (protocol.md §4.4, §11
//! pitfall 8).
//!
//! An answer is one of three things, told apart before anything is decrypted:
//! - a **plaintext path error** (HTTP status ≠ 200, e.g. `502 Next node not found: <ed25519>`,
//!   `503 Service node is not ready`, or a server's own unencrypted 4xx/5xx), relayed unchanged;
//! - the **destination's reply**, encrypted with the destination layer's key: base64 of a
//!   `{"status","body"}` JSON for a service node, a raw v4 response for a server, base64 of the
//!   endpoint's body for a v3 server;
//! - an **error from a hop** that could decrypt its layer but not act on it (`Invalid json`,
//!   `Invalid url`): HTTP 200, base64, encrypted with *that hop's* key — so every layer key is
//!   kept and tried when the destination key does not open a 200 answer.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::OnionError;
use super::hop_cipher::LayerKey;
use super::json::{self, Value};
use super::layer::str_field;
use super::v4::V4Response;

/// Standard base64, padding optional (snodes pad; some relays strip it).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How the destination frames its encrypted answer (decided by the destination at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// Base64 (optionally inside `{"result": …}`) of the encrypted `{"status","body"}` JSON.
    ServiceNode,
    /// The raw encrypted v4 response.
    V4,
    /// Base64 of the encrypted endpoint body.
    V3,
}

/// Every key of one onion request, to decrypt its answer. Zeroized on drop (the keys are);
/// `Debug` shows no key material.
#[derive(Clone)]
pub struct ResponseKeys {
    /// How the destination's answer is framed.
    framing: ResponseFraming,
    /// The destination layer's key: opens the real answer.
    destination: LayerKey,
    /// Each hop's layer key in path order (guard first): opens errors a hop sends back.
    hops: Vec<LayerKey>,
}

impl ResponseKeys {
    pub(crate) fn new(
        framing: ResponseFraming,
        destination: LayerKey,
        hops: Vec<LayerKey>,
    ) -> ResponseKeys {
        ResponseKeys {
            framing,
            destination,
            hops,
        }
    }

    /// The destination layer's key.
    pub fn destination_key(&self) -> &LayerKey {
        &self.destination
    }

    /// The hops' layer keys, guard first.
    pub fn hop_keys(&self) -> &[LayerKey] {
        &self.hops
    }

    /// Reads the guard's answer: its HTTP `status` and `body`.
    ///
    /// A status other than 200 is a [`OnionResponse::PlaintextError`], never decrypted. A 200
    /// body is decrypted with the destination's key, or failing that with each hop's key
    /// ([`OnionResponse::HopError`]). A 200 body that cannot be a ciphertext (not base64, or
    /// too short) but is printable text is a [`OnionResponse::PlaintextError`] with status 200;
    /// anything else no key opens is [`OnionError::UndecryptableResponse`]. A reply that
    /// decrypts but is malformed inside is an [`OnionError`] of kind `Malformed`.
    pub fn decrypt(&self, status: u16, body: &[u8]) -> Result<OnionResponse, OnionError> {
        if status != 200 {
            return Ok(OnionResponse::PlaintextError(PlaintextError {
                status,
                body: String::from_utf8_lossy(body).into_owned(),
            }));
        }
        let from_destination = match self.framing {
            ResponseFraming::V4 => self.destination.decrypt(body).ok(),
            ResponseFraming::ServiceNode | ResponseFraming::V3 => snode_ciphertext(body)
                .ok()
                .and_then(|ct| self.destination.decrypt(&ct).ok()),
        };
        match (from_destination, self.framing) {
            (Some(plain), ResponseFraming::ServiceNode) => {
                SnodeReply::parse(&plain).map(OnionResponse::ServiceNode)
            }
            (Some(plain), ResponseFraming::V4) => {
                V4Response::decode(&plain).map(OnionResponse::Server)
            }
            (Some(plain), ResponseFraming::V3) => Ok(OnionResponse::LegacyServer(plain)),
            (None, _) => self.hop_error(body),
        }
    }

    /// A 200 answer the destination key does not open: an error from one of the hops, a
    /// plaintext error sent with status 200, or junk.
    fn hop_error(&self, body: &[u8]) -> Result<OnionResponse, OnionError> {
        // Anything shorter cannot be a blob of this request's cipher.
        let min_len = self.destination.enc_type().overhead();
        match snode_ciphertext(body) {
            Ok(ciphertext) if ciphertext.len() >= min_len => {
                for (hop, key) in self.hops.iter().enumerate() {
                    if let Ok(plain) = key.decrypt(&ciphertext) {
                        let reply = SnodeReply::parse(&plain)?;
                        return Ok(OnionResponse::HopError(HopError {
                            hop,
                            status: reply.status,
                            body: reply.body,
                        }));
                    }
                }
            }
            _ => {
                if let Some(text) = printable_text(body) {
                    return Ok(OnionResponse::PlaintextError(PlaintextError {
                        status: 200,
                        body: text.to_owned(),
                    }));
                }
            }
        }
        Err(OnionError::UndecryptableResponse { len: body.len() })
    }
}

/// `body` as text if it is non-empty UTF-8 without control characters other than whitespace:
/// an error message, not a ciphertext.
fn printable_text(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let printable = !text.trim().is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
    printable.then_some(text)
}

impl fmt::Debug for ResponseKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseKeys")
            .field("framing", &self.framing)
            .field("enc_type", &self.destination.enc_type())
            .field("hops", &self.hops.len())
            .finish_non_exhaustive()
    }
}

/// The ciphertext of a base64 answer, also accepting desktop's `{"result": "<base64>"}` wrapper.
fn snode_ciphertext(body: &[u8]) -> Result<Vec<u8>, OnionError> {
    let text = body.trim_ascii();
    let wrapped = (text.first() == Some(&b'{'))
        .then(|| json::parse_object(text).ok())
        .flatten();
    let b64 = match &wrapped {
        Some(json) => str_field(json, "onion response", "result")?.as_bytes(),
        None => text,
    };
    BASE64.decode(b64).map_err(|_| OnionError::Base64 {
        what: "onion response",
    })
}

/// What the guard's HTTP answer turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnionResponse {
    /// The destination service node's reply to the storage RPC.
    ServiceNode(SnodeReply),
    /// The destination server's v4 reply (any `code`, success or error).
    Server(V4Response),
    /// A v3 server's reply: the endpoint's body when it returned 200, otherwise
    /// `{"status_code": N}` (see [`legacy_status_code`]).
    LegacyServer(Vec<u8>),
    /// A hop decrypted its layer but refused it (`Invalid json`, `Invalid url`).
    HopError(HopError),
    /// A non-200 HTTP answer: a path-level failure relayed in plaintext.
    PlaintextError(PlaintextError),
}

/// A service node's reply: `{"status": <int>, "body": <string>}` after decryption.
#[derive(Clone, PartialEq, Eq)]
pub struct SnodeReply {
    /// The storage RPC's HTTP-like status (200, 421 wrong swarm, 406/425 clock, 401 auth, …).
    pub status: u16,
    /// The JSON-RPC response as text (it is a JSON string to be parsed again); a non-string
    /// body (`"json": true` requests) is given as its compact JSON text.
    pub body: String,
}

impl SnodeReply {
    fn parse(plain: &[u8]) -> Result<SnodeReply, OnionError> {
        const WHAT: &str = "snode reply";
        let json =
            json::parse_object(plain).map_err(|source| OnionError::Json { what: WHAT, source })?;
        let status = json
            .get("status")
            .ok_or(OnionError::MissingField {
                what: WHAT,
                field: "status",
            })?
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(OnionError::BadField {
                what: WHAT,
                field: "status",
                expected: "an HTTP status",
            })?;
        let body = match json.get("body") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_json(),
            None => {
                return Err(OnionError::MissingField {
                    what: WHAT,
                    field: "body",
                });
            }
        };
        Ok(SnodeReply { status, body })
    }
}

impl fmt::Debug for SnodeReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnodeReply")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// An error a hop of the path sent back encrypted with its own layer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopError {
    /// Which hop (index in the path, guard = 0).
    pub hop: usize,
    /// Its status (400).
    pub status: u16,
    /// Its message (`Invalid json`, `Invalid url`).
    pub body: String,
}

/// A path-level failure: non-200 HTTP status, plaintext body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaintextError {
    /// The HTTP status of the guard's answer (502, 503, 504, 500, 400, 413, or the server's).
    pub status: u16,
    /// The body, decoded as UTF-8 with replacement characters.
    pub body: String,
}

impl PlaintextError {
    /// For `502 Next node not found: <ed25519 hex>` (and the equivalent `Next node is currently
    /// unreachable: …`), the node to drop from the pool, path and swarm at once (§4.1).
    pub fn unreachable_node(&self) -> Option<[u8; 32]> {
        let key = [
            "Next node not found: ",
            "Next node is currently unreachable: ",
        ]
        .iter()
        .find_map(|prefix| self.body.strip_prefix(prefix))?;
        let mut ed25519 = [0u8; 32];
        hex::decode_to_slice(key.trim(), &mut ed25519).ok()?;
        Some(ed25519)
    }

    /// Whether a node said it is not ready (`503 Snode not ready: …`,
    /// `503 Service node is not ready: …`).
    pub fn node_not_ready(&self) -> bool {
        self.status == 503
            && (self.body.starts_with("Snode not ready")
                || self.body.starts_with("Service node is not ready"))
    }
}

/// The status code of a v3 error reply `{"status_code": N}`, if the body is one (a v3 server
/// drops error bodies and sends only this).
pub fn legacy_status_code(body: &[u8]) -> Option<u16> {
    let json = json::parse_object(body).ok()?;
    match &json {
        Value::Object(members) if members.len() == 1 => {
            u16::try_from(json.get("status_code")?.as_u64()?).ok()
        }
        _ => None,
    }
}

/// Base64 as the storage server writes it (standard, padded), for replies built here.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onion::EncType;
    use crate::test_rng::TestRng;
    use crate::{ErrorKind, HasKind};

    fn keys(framing: ResponseFraming) -> ResponseKeys {
        ResponseKeys::new(
            framing,
            LayerKey::from_bytes(EncType::AesGcm, [1; 32]),
            vec![
                LayerKey::from_bytes(EncType::AesGcm, [2; 32]),
                LayerKey::from_bytes(EncType::AesGcm, [3; 32]),
            ],
        )
    }

    #[test]
    fn non_200_answers_are_plaintext_errors_and_never_decrypted() {
        let keys = keys(ResponseFraming::ServiceNode);
        let node = "ab".repeat(32);
        for (status, body) in [
            (502, format!("Next node not found: {node}")),
            (502, format!("Next node is currently unreachable: {node}")),
            (503, "Service node is not ready: not staked".into()),
            (503, "Snode not ready: abc".into()),
            (504, "Request time out".into()),
            (400, "Invalid ciphertext".into()),
        ] {
            let response = keys.decrypt(status, body.as_bytes()).unwrap();
            let OnionResponse::PlaintextError(error) = response else {
                panic!("{response:?}");
            };
            assert_eq!(error.status, status);
            assert_eq!(error.body, body);
            assert_eq!(
                error.unreachable_node(),
                (status == 502).then_some([0xab; 32])
            );
            assert_eq!(error.node_not_ready(), status == 503);
        }
        // Binary bodies are kept lossily.
        let response = keys.decrypt(500, b"\xff\xfe").unwrap();
        assert!(matches!(
            response,
            OnionResponse::PlaintextError(PlaintextError { status: 500, .. })
        ));
    }

    #[test]
    fn snode_replies_decrypt_plain_and_wrapped() {
        let keys = keys(ResponseFraming::ServiceNode);
        let mut rng = TestRng::new(1);
        let ct = keys
            .destination_key()
            .encrypt(br#"{"body":"{\"swarm\":[]}","status":421}"#, &mut rng)
            .unwrap();
        let expected = OnionResponse::ServiceNode(SnodeReply {
            status: 421,
            body: r#"{"swarm":[]}"#.into(),
        });
        let b64 = encode_base64(&ct);
        assert_eq!(keys.decrypt(200, b64.as_bytes()).unwrap(), expected);
        let unpadded = b64.trim_end_matches('=');
        assert_eq!(keys.decrypt(200, unpadded.as_bytes()).unwrap(), expected);
        let wrapped = format!(r#"{{"result":"{b64}"}}"#);
        assert_eq!(keys.decrypt(200, wrapped.as_bytes()).unwrap(), expected);
        // "json": true replies embed the body as JSON.
        let ct = keys
            .destination_key()
            .encrypt(br#"{"status":200,"body":{"t":1}}"#, &mut rng)
            .unwrap();
        assert_eq!(
            keys.decrypt(200, encode_base64(&ct).as_bytes()).unwrap(),
            OnionResponse::ServiceNode(SnodeReply {
                status: 200,
                body: r#"{"t":1}"#.into()
            })
        );
    }

    #[test]
    fn errors_encrypted_by_a_hop_are_attributed_to_it() {
        for framing in [ResponseFraming::ServiceNode, ResponseFraming::V4] {
            let keys = keys(framing);
            let ct = keys.hop_keys()[1]
                .encrypt(
                    br#"{"body":"Invalid json","status":400}"#,
                    &mut TestRng::new(2),
                )
                .unwrap();
            assert_eq!(
                keys.decrypt(200, encode_base64(&ct).as_bytes()).unwrap(),
                OnionResponse::HopError(HopError {
                    hop: 1,
                    status: 400,
                    body: "Invalid json".into()
                })
            );
        }
    }

    #[test]
    fn plaintext_200_answers_are_plaintext_errors() {
        for framing in [
            ResponseFraming::ServiceNode,
            ResponseFraming::V4,
            ResponseFraming::V3,
        ] {
            let keys = keys(framing);
            for body in [
                "Service node is not ready: syncing",
                "!!!not base64!!!",
                "Invalid",
                "{\"result\":5}",
                "Oxen Server error",
            ] {
                assert_eq!(
                    keys.decrypt(200, body.as_bytes()).unwrap(),
                    OnionResponse::PlaintextError(PlaintextError {
                        status: 200,
                        body: body.into()
                    }),
                    "{framing:?}"
                );
            }
        }
    }

    #[test]
    fn undecryptable_200_answers_are_typed_errors() {
        let mut rng = TestRng::new(3);
        let stranger = LayerKey::from_bytes(EncType::AesGcm, [9; 32]);
        let sealed = stranger.encrypt(b"{}", &mut rng).unwrap();
        let foreign = encode_base64(&sealed);
        for framing in [
            ResponseFraming::ServiceNode,
            ResponseFraming::V4,
            ResponseFraming::V3,
        ] {
            let keys = keys(framing);
            for body in [&b""[..], b"\x00\x01\xff", &sealed, foreign.as_bytes()] {
                let err = keys.decrypt(200, body).unwrap_err();
                assert_eq!(
                    err,
                    OnionError::UndecryptableResponse { len: body.len() },
                    "{framing:?} {body:?}"
                );
                assert_eq!(err.kind(), ErrorKind::BadSignature);
            }
        }
    }

    #[test]
    fn decrypted_but_malformed_replies_are_malformed() {
        let keys = keys(ResponseFraming::ServiceNode);
        let mut rng = TestRng::new(4);
        for plain in [
            &b"not json"[..],
            br#"{"body":"x"}"#,
            br#"{"status":"200","body":"x"}"#,
            br#"{"status":70000,"body":"x"}"#,
            br#"{"status":200}"#,
        ] {
            let ct = keys.destination_key().encrypt(plain, &mut rng).unwrap();
            let err = keys
                .decrypt(200, encode_base64(&ct).as_bytes())
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Malformed, "{err:?}");
        }
        let keys = self::keys(ResponseFraming::V4);
        let ct = keys.destination_key().encrypt(b"l2:{}e", &mut rng).unwrap();
        assert_eq!(
            keys.decrypt(200, &ct).unwrap_err().kind(),
            ErrorKind::Malformed
        );
    }

    #[test]
    fn v3_replies_and_their_status_codes() {
        let keys = keys(ResponseFraming::V3);
        let ct = keys
            .destination_key()
            .encrypt(br#"{"status_code": 404}"#, &mut TestRng::new(5))
            .unwrap();
        let OnionResponse::LegacyServer(body) =
            keys.decrypt(200, encode_base64(&ct).as_bytes()).unwrap()
        else {
            panic!("not a v3 reply");
        };
        assert_eq!(legacy_status_code(&body), Some(404));
        assert_eq!(legacy_status_code(br#"{"id":1}"#), None);
        assert_eq!(legacy_status_code(br#"{"status_code":200,"id":1}"#), None);
        assert_eq!(legacy_status_code(b"junk"), None);
    }

    #[test]
    fn debug_shows_no_keys_or_bodies() {
        let keys = keys(ResponseFraming::ServiceNode);
        let debug = format!("{keys:?}");
        assert!(!debug.contains("[1,") && !debug.contains("01"), "{debug}");
        let reply = SnodeReply {
            status: 200,
            body: "secret".into(),
        };
        assert!(!format!("{reply:?}").contains("secret"));
    }
}
