//! The two protobuf wrappers around an encrypted 1:1 message: `Envelope` and `WebSocketMessage`
//! (protocol.md §2.5, §2.6 step 1).
//!
//! What is stored in a swarm for a 1:1 message is
//! `WebSocketMessage{type = REQUEST, request{verb = "", path = "", body = Envelope, requestId = 0}}`
//! around `Envelope{type = SESSION_MESSAGE, timestamp, sourceDevice = 1, content, proSig}`, byte for
//! byte as libsession's `encode_for_destination` writes it. The envelope is *not* encrypted: the
//! swarm sees its timestamp and the presence of `proSig`, which is why we send the same 64-byte
//! decoy as libsession does without Session Pro.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use prost::Message;
use rand_core::CryptoRng;

use crate::error_kind::{ErrorKind, HasKind};
use crate::proto::{self, ProtoError};

/// Length of `Envelope.proSig` when present.
pub const PRO_SIGNATURE_LEN: usize = 64;

/// The `Envelope` of a 1:1 message: `type = SESSION_MESSAGE`, `sourceDevice = 1`, no `source`.
///
/// `pro_signature` is the optional `proSig` field: [`decoy_pro_signature`] for senders without
/// Session Pro (what current libsession sends), or `None` (what older clients send; accepted).
pub fn envelope_1o1(
    ciphertext: Vec<u8>,
    sent_ms: u64,
    pro_signature: Option<[u8; PRO_SIGNATURE_LEN]>,
) -> proto::Envelope {
    proto::Envelope {
        r#type: proto::envelope::Type::SessionMessage.into(),
        source: None,
        source_device: Some(1),
        timestamp: sent_ms,
        content: Some(ciphertext),
        server_timestamp: None,
        pro_sig: pro_signature.map(|signature| signature.to_vec()),
    }
}

/// Wraps serialized envelope bytes in the `WebSocketMessage` that is stored in the swarm, with the
/// empty `verb`/`path` and zero `requestId` present on the wire (as libsession writes them).
pub fn wrap_websocket(envelope: Vec<u8>) -> Vec<u8> {
    proto::WebSocketMessage {
        r#type: Some(proto::web_socket_message::Type::Request.into()),
        request: Some(proto::WebSocketRequestMessage {
            verb: Some(String::new()),
            path: Some(String::new()),
            body: Some(envelope),
            headers: Vec::new(),
            request_id: Some(0),
        }),
        response: None,
    }
    .encode_to_vec()
}

/// Takes the envelope bytes out of a stored `WebSocketMessage` (libsession `decode_envelope`
/// requires a request with a body; its type, verb and path are ignored).
pub fn unwrap_websocket(bytes: &[u8]) -> Result<Vec<u8>, WireError> {
    let message: proto::WebSocketMessage = proto::decode(bytes).map_err(WireError::WebSocket)?;
    message
        .request
        .ok_or(WireError::NoRequest)?
        .body
        .ok_or(WireError::NoBody)
}

/// Parses an `Envelope` with libsession's checks: required fields present, `source` empty or 66
/// hex characters, `proSig` absent or 64 bytes, `content` present.
pub fn parse_envelope(bytes: &[u8]) -> Result<proto::Envelope, WireError> {
    let envelope: proto::Envelope = proto::decode(bytes).map_err(WireError::Envelope)?;
    if let Some(source) = &envelope.source
        && !(source.is_empty()
            || (source.len() == 66 && source.bytes().all(|b| b.is_ascii_hexdigit())))
    {
        return Err(WireError::BadSource {
            len: source.chars().count(),
        });
    }
    if let Some(signature) = &envelope.pro_sig
        && signature.len() != PRO_SIGNATURE_LEN
    {
        return Err(WireError::BadProSignature {
            len: signature.len(),
        });
    }
    if envelope.content.is_none() {
        return Err(WireError::NoContent);
    }
    Ok(envelope)
}

/// A 64-byte `proSig` decoy, shaped like an Ed25519 signature but signing nothing:
/// `R = r·B` for a random scalar `r`, then a random scalar (what libsession sends without Pro).
pub fn decoy_pro_signature<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; PRO_SIGNATURE_LEN] {
    let mut wide = [0u8; 64];
    rng.fill_bytes(&mut wide);
    let r = Scalar::from_bytes_mod_order_wide(&wide);
    rng.fill_bytes(&mut wide);
    let s = Scalar::from_bytes_mod_order_wide(&wide);
    let mut signature = [0u8; PRO_SIGNATURE_LEN];
    signature[..32].copy_from_slice(EdwardsPoint::mul_base(&r).compress().as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// Why the wrappers around a 1:1 message were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a `WebSocketMessage`.
    #[error("not a stored message: {0}")]
    WebSocket(#[source] ProtoError),
    /// The `WebSocketMessage` has no request.
    #[error("stored message has no request")]
    NoRequest,
    /// The request has no body.
    #[error("stored message has no envelope")]
    NoBody,
    /// Not an `Envelope`.
    #[error("bad envelope: {0}")]
    Envelope(#[source] ProtoError),
    /// The envelope's `source` is neither empty nor 66 hex characters.
    #[error("envelope source is not empty nor a 66-hex-digit ID ({len} characters)")]
    BadSource {
        /// Length of the source, in characters.
        len: usize,
    },
    /// The envelope's `proSig` is not 64 bytes.
    #[error("envelope Pro signature is {len} bytes, not 64")]
    BadProSignature {
        /// Its length.
        len: usize,
    },
    /// The envelope has no content.
    #[error("envelope has no content")]
    NoContent,
}

impl HasKind for WireError {
    fn kind(&self) -> ErrorKind {
        match self {
            WireError::WebSocket(inner) | WireError::Envelope(inner) => inner.kind(),
            _ => ErrorKind::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;

    #[test]
    fn envelope_and_websocket_have_libsessions_byte_layout() {
        let envelope = envelope_1o1(vec![0xaa; 3], 1, None).encode_to_vec();
        assert_eq!(
            envelope,
            [
                0x08, 0x06, 0x28, 0x01, 0x38, 0x01, 0x42, 0x03, 0xaa, 0xaa, 0xaa
            ]
        );
        let with_sig = envelope_1o1(vec![], 1, Some([7; 64])).encode_to_vec();
        assert_eq!(
            with_sig[..8],
            [0x08, 0x06, 0x28, 0x01, 0x38, 0x01, 0x42, 0x00]
        );
        assert_eq!(with_sig[8..10], [0x5a, 0x40]);

        let wrapped = wrap_websocket(vec![0xbb]);
        assert_eq!(
            wrapped,
            [
                0x08, 0x01, 0x12, 0x09, 0x0a, 0x00, 0x12, 0x00, 0x1a, 0x01, 0xbb, 0x20, 0x00
            ]
        );
        assert_eq!(unwrap_websocket(&wrapped).unwrap(), [0xbb]);
    }

    #[test]
    fn unwrap_rejects_missing_request_or_body() {
        let no_request = proto::WebSocketMessage::default().encode_to_vec();
        assert_eq!(unwrap_websocket(&no_request), Err(WireError::NoRequest));
        let no_body = proto::WebSocketMessage {
            request: Some(proto::WebSocketRequestMessage::default()),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(unwrap_websocket(&no_body), Err(WireError::NoBody));
        assert!(matches!(
            unwrap_websocket(&[0xff, 0xff]),
            Err(WireError::WebSocket(_))
        ));
    }

    #[test]
    fn parse_envelope_applies_libsessions_checks() {
        let good = envelope_1o1(vec![1], 5, Some([0; 64]));
        assert_eq!(parse_envelope(&good.encode_to_vec()).unwrap(), good);

        let mut hex_source = good.clone();
        hex_source.source = Some(format!("05{}", "ab".repeat(32)));
        assert!(parse_envelope(&hex_source.encode_to_vec()).is_ok());
        let mut empty_source = good.clone();
        empty_source.source = Some(String::new());
        assert!(parse_envelope(&empty_source.encode_to_vec()).is_ok());

        let mut bad_source = good.clone();
        bad_source.source = Some("05abc".into());
        assert_eq!(
            parse_envelope(&bad_source.encode_to_vec()),
            Err(WireError::BadSource { len: 5 })
        );
        let mut non_hex = good.clone();
        non_hex.source = Some("z".repeat(66));
        assert!(parse_envelope(&non_hex.encode_to_vec()).is_err());

        let mut short_sig = good.clone();
        short_sig.pro_sig = Some(vec![0; 63]);
        assert_eq!(
            parse_envelope(&short_sig.encode_to_vec()),
            Err(WireError::BadProSignature { len: 63 })
        );

        let mut no_content = good;
        no_content.content = None;
        let err = parse_envelope(&no_content.encode_to_vec()).unwrap_err();
        assert_eq!(err, WireError::NoContent);
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn decoy_pro_signature_looks_like_a_signature() {
        let mut rng = TestRng::new(9);
        let decoy = decoy_pro_signature(&mut rng);
        let r = curve25519_dalek::edwards::CompressedEdwardsY(decoy[..32].try_into().unwrap());
        let point = r.decompress().unwrap();
        assert!(point.is_torsion_free() && !point.is_small_order());
        let s: [u8; 32] = decoy[32..].try_into().unwrap();
        assert!(bool::from(Scalar::from_canonical_bytes(s).is_some()));
        assert_ne!(decoy, decoy_pro_signature(&mut rng));
    }
}
