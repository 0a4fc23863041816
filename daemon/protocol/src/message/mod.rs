//! One-to-one messages, end to end: `Content` in, bytes to store out, and back (protocol.md §2).
//!
//! Sending ([`encode_1o1`]): serialize the `Content` → [`pad`](crate::padding::pad) →
//! [`encrypt_for_recipient`] (sign `M || A || Y`, sealed box) → [`wire::envelope_1o1`] →
//! [`wire::wrap_websocket`]. The result is what goes, base64-encoded, into the `data` of a `store`
//! to the recipient's swarm (namespace 0). [`encode_sync_1o1`] makes the copy a sender keeps in its
//! own swarm for its other devices (§2.7).
//!
//! Receiving ([`decode_1o1`]) undoes each step and checks what the official clients check: the
//! wrappers (libsession `decode_envelope`), the signature, the sender key, the `required` fields
//! of the `Content`, `sigTimestamp == Envelope.timestamp`, and that only our own devices send
//! sync copies.
//!
//! The pieces are public for other message kinds: [`sealed`] (the signed sealed box), [`wire`]
//! (the protobuf wrappers), [`ons`] and [`push`] (two small decryptions from libsession's
//! `session_encrypt`).

pub mod ons;
pub mod push;
pub mod sealed;
pub mod wire;

use std::fmt;

use prost::Message;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::account_id::{AccountId, AccountIdError};
use crate::error_kind::{ErrorKind, HasKind};
use crate::identity::{Identity, IdentityError, ed25519_public_to_x25519};
use crate::padding;
use crate::proto::{self, ProtoError};

pub use sealed::{
    DecryptError, Decrypted, EncryptError, decrypt_incoming, decrypt_incoming_with_keys,
    encrypt_for_recipient, encrypt_for_recipient_deterministic,
};
pub use wire::WireError;

/// Encodes a 1:1 message from `sender` to `recipient`, sent at `sent_ms` (network time, ms).
///
/// Returns the serialized `WebSocketMessage` to base64 into `store.data` (recipient's swarm,
/// namespace 0). `content.sigTimestamp` is set to `sent_ms` if absent; if present it must equal
/// `sent_ms`. `rng` provides the sealed box's ephemeral key and the envelope's `proSig` decoy.
pub fn encode_1o1<R: CryptoRng + ?Sized>(
    sender: &Identity,
    recipient: &AccountId,
    content: &proto::Content,
    sent_ms: u64,
    rng: &mut R,
) -> Result<Vec<u8>, EncodeError> {
    let content = with_sig_timestamp(content, sent_ms)?;
    let encoded = Zeroizing::new(content.encode_to_vec());
    let padded = Zeroizing::new(padding::pad(&encoded));
    let ciphertext = encrypt_for_recipient(sender, &recipient.x25519_public(), &padded, rng)?;
    let envelope = wire::envelope_1o1(ciphertext, sent_ms, Some(wire::decoy_pro_signature(rng)));
    Ok(wire::wrap_websocket(envelope.encode_to_vec()))
}

/// `content` with `sigTimestamp = sent_ms`, or an error if it already carries another value.
fn with_sig_timestamp(
    content: &proto::Content,
    sent_ms: u64,
) -> Result<proto::Content, EncodeError> {
    match content.sig_timestamp {
        Some(existing) if existing != sent_ms => Err(EncodeError::SigTimestampMismatch {
            sent_ms,
            sig_timestamp: existing,
        }),
        _ => Ok(proto::Content {
            sig_timestamp: Some(sent_ms),
            ..content.clone()
        }),
    }
}

/// The copy of a sent `Content` that the sender stores in its own swarm so that its other devices
/// see the message (protocol.md §2.7), or `None` if this kind of message is not synced this way.
///
/// Only contents with a `dataMessage` (visible messages, reactions, expiration-timer updates)
/// are synced, except groups-v2 control messages. The copy keeps the `DataMessage` without the
/// profile (`profile`, `profileKey`), sets `syncTarget = conversation`, and keeps
/// `expirationType`/`expirationTimer`, `sigTimestamp` and `proMessage`; the rest of the `Content`
/// is dropped. For Note to Self, `conversation` is the sender's own Account ID and this copy is the
/// only one sent. (Unsend requests also go to our own swarm, but as plain [`encode_1o1`] messages
/// to ourselves, without `syncTarget`.)
pub fn sync_copy(content: &proto::Content, conversation: &AccountId) -> Option<proto::Content> {
    let data_message = content.data_message.as_ref()?;
    if data_message.group_update_message.is_some() {
        return None;
    }
    Some(proto::Content {
        data_message: Some(proto::DataMessage {
            profile: None,
            profile_key: None,
            sync_target: Some(conversation.to_string()),
            ..data_message.clone()
        }),
        expiration_type: content.expiration_type,
        expiration_timer: content.expiration_timer,
        sig_timestamp: content.sig_timestamp,
        pro_message: content.pro_message.clone(),
        ..Default::default()
    })
}

/// Encodes the [`sync_copy`] of `content` (sent to `conversation`) for the sender's own swarm, with
/// the same sent timestamp; `None` if `content` is not synced.
pub fn encode_sync_1o1<R: CryptoRng + ?Sized>(
    sender: &Identity,
    conversation: &AccountId,
    content: &proto::Content,
    sent_ms: u64,
    rng: &mut R,
) -> Result<Option<Vec<u8>>, EncodeError> {
    let Some(copy) = sync_copy(content, conversation) else {
        return Ok(None);
    };
    encode_1o1(sender, &sender.account_id(), &copy, sent_ms, rng).map(Some)
}

/// A decoded, authenticated 1:1 message.
#[derive(Clone)]
pub struct Received {
    /// The sender's Account ID, from the Ed25519 key that signed the message (the envelope's
    /// `source` is not trusted).
    pub sender: AccountId,
    /// The sender's Ed25519 public key.
    pub sender_ed25519: [u8; 32],
    /// The message.
    pub content: proto::Content,
    /// `Envelope.timestamp`: the sent time in network ms; `(sender, sent_ms)` identifies the
    /// message (quotes, reactions, unsend requests refer to it).
    pub sent_ms: u64,
    /// For a sync copy from one of our own devices: the conversation the message was sent to
    /// (our own Account ID for Note to Self). Only ever set when `sender` is us.
    pub sync_target: Option<AccountId>,
    /// `Envelope.proSig` (a Session Pro signature, or a decoy), if present.
    pub pro_signature: Option<[u8; wire::PRO_SIGNATURE_LEN]>,
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("sender", &self.sender)
            .field("sent_ms", &self.sent_ms)
            .field("sync_target", &self.sync_target)
            .field("content", &format_args!("[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Decodes a stored 1:1 message (the bytes of `WebSocketMessage`, i.e. `retrieve`'s `data` after
/// base64) addressed to `recipient`.
pub fn decode_1o1(recipient: &Identity, websocket_bytes: &[u8]) -> Result<Received, DecodeError> {
    decode_1o1_with(recipient, websocket_bytes, ed25519_public_to_x25519)
}

/// [`decode_1o1`] with the sender's Ed25519 → X25519 conversion supplied by the caller, so that a
/// cache of recent senders' conversions can be plugged in. `to_x25519` must behave as
/// [`ed25519_public_to_x25519`].
pub fn decode_1o1_with(
    recipient: &Identity,
    websocket_bytes: &[u8],
    to_x25519: impl FnOnce(&[u8; 32]) -> Result<[u8; 32], IdentityError>,
) -> Result<Received, DecodeError> {
    let envelope = wire::unwrap_websocket(websocket_bytes)?;
    decode_1o1_envelope_with(recipient, &envelope, to_x25519)
}

/// [`decode_1o1`] for a bare `Envelope` (already taken out of its `WebSocketMessage`).
pub fn decode_1o1_envelope(
    recipient: &Identity,
    envelope_bytes: &[u8],
) -> Result<Received, DecodeError> {
    decode_1o1_envelope_with(recipient, envelope_bytes, ed25519_public_to_x25519)
}

/// [`decode_1o1_envelope`] with a caller-supplied Ed25519 → X25519 conversion (see
/// [`decode_1o1_with`]).
pub fn decode_1o1_envelope_with(
    recipient: &Identity,
    envelope_bytes: &[u8],
    to_x25519: impl FnOnce(&[u8; 32]) -> Result<[u8; 32], IdentityError>,
) -> Result<Received, DecodeError> {
    let envelope = wire::parse_envelope(envelope_bytes)?;
    let ciphertext = envelope.content.as_deref().unwrap_or_default();
    let decrypted = decrypt_incoming(recipient, ciphertext)?;
    let sender = AccountId::from_x25519_public(
        to_x25519(&decrypted.sender_ed25519).map_err(DecodeError::InvalidSenderKey)?,
    );
    let content: proto::Content =
        proto::decode(padding::unpad(&decrypted.plaintext)).map_err(DecodeError::Content)?;

    // Desktop treats a zero sigTimestamp like an absent one (old clients).
    if let Some(sig_timestamp) = content.sig_timestamp.filter(|&t| t != 0)
        && sig_timestamp != envelope.timestamp
    {
        return Err(DecodeError::SigTimestampMismatch {
            envelope_ms: envelope.timestamp,
            sig_timestamp,
        });
    }

    let sync_target = match content
        .data_message
        .as_ref()
        .and_then(|data| data.sync_target.as_deref())
    {
        None => None,
        Some(_) if decrypted.sender_ed25519 != recipient.ed25519_public() => {
            return Err(DecodeError::SyncTargetFromOtherSender);
        }
        Some(target) => Some(target.parse().map_err(DecodeError::InvalidSyncTarget)?),
    };

    let pro_signature = envelope
        .pro_sig
        .as_deref()
        .and_then(|signature| signature.try_into().ok());
    Ok(Received {
        sender,
        sender_ed25519: decrypted.sender_ed25519,
        content,
        sent_ms: envelope.timestamp,
        sync_target,
        pro_signature,
    })
}

/// Why a 1:1 message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The `Content` carries a `sigTimestamp` other than the sent timestamp; recipients would drop
    /// the message.
    #[error("content sigTimestamp {sig_timestamp} differs from the sent timestamp {sent_ms}")]
    SigTimestampMismatch {
        /// The sent timestamp asked for.
        sent_ms: u64,
        /// The `sigTimestamp` in the content.
        sig_timestamp: u64,
    },
    /// Encryption failed.
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

impl HasKind for EncodeError {
    fn kind(&self) -> ErrorKind {
        match self {
            EncodeError::SigTimestampMismatch { .. } => ErrorKind::InvalidInput,
            EncodeError::Encrypt(inner) => inner.kind(),
        }
    }
}

/// Why a stored 1:1 message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The `WebSocketMessage`/`Envelope` wrappers are invalid.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The content does not decrypt or its signature does not verify.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The signing key has no X25519 form, so no Account ID.
    #[error("sender key: {0}")]
    InvalidSenderKey(#[source] IdentityError),
    /// The decrypted `Content` is not valid protobuf or lacks a required field.
    #[error("content: {0}")]
    Content(#[source] ProtoError),
    /// `Content.sigTimestamp` (signed) differs from `Envelope.timestamp` (not signed): a replayed
    /// or altered envelope. Desktop drops such messages.
    #[error(
        "content sigTimestamp {sig_timestamp} differs from the envelope timestamp {envelope_ms}"
    )]
    SigTimestampMismatch {
        /// `Envelope.timestamp`.
        envelope_ms: u64,
        /// `Content.sigTimestamp`.
        sig_timestamp: u64,
    },
    /// A `DataMessage` with `syncTarget` from someone other than ourselves (only our own devices
    /// send sync copies; desktop drops these).
    #[error("a sync copy (syncTarget set) from another account")]
    SyncTargetFromOtherSender,
    /// Our own sync copy names a conversation that is not an Account ID.
    #[error("sync copy target: {0}")]
    InvalidSyncTarget(#[source] AccountIdError),
}

impl HasKind for DecodeError {
    fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Wire(inner) => inner.kind(),
            DecodeError::Decrypt(inner) => inner.kind(),
            DecodeError::Content(inner) => inner.kind(),
            DecodeError::InvalidSenderKey(_) | DecodeError::InvalidSyncTarget(_) => {
                ErrorKind::Malformed
            }
            DecodeError::SigTimestampMismatch { .. } | DecodeError::SyncTargetFromOtherSender => {
                ErrorKind::BadSignature
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Seed;
    use crate::test_rng::TestRng;

    fn identity(byte: u8) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[byte; 16]).unwrap())
    }

    fn text(body: &str) -> proto::Content {
        proto::Content {
            data_message: Some(proto::DataMessage {
                body: Some(body.into()),
                profile: Some(proto::LokiProfile {
                    display_name: Some("Alice".into()),
                    ..Default::default()
                }),
                profile_key: Some(vec![9; 32]),
                ..Default::default()
            }),
            expiration_type: Some(proto::content::ExpirationType::DeleteAfterSend.into()),
            expiration_timer: Some(60),
            ..Default::default()
        }
    }

    #[test]
    fn encode_then_decode_round_trips_and_sets_sig_timestamp() {
        let (alice, bob) = (identity(1), identity(2));
        let mut rng = TestRng::new(1);
        let stored = encode_1o1(
            &alice,
            &bob.account_id(),
            &text("hi"),
            1_700_000_000_123,
            &mut rng,
        )
        .unwrap();
        let received = decode_1o1(&bob, &stored).unwrap();
        assert_eq!(received.sender, alice.account_id());
        assert_eq!(received.sender_ed25519, alice.ed25519_public());
        assert_eq!(received.sent_ms, 1_700_000_000_123);
        assert_eq!(received.sync_target, None);
        assert!(received.pro_signature.is_some());
        let mut expected = text("hi");
        expected.sig_timestamp = Some(1_700_000_000_123);
        assert_eq!(received.content, expected);
        assert!(!format!("{received:?}").contains("hi\""));
    }

    #[test]
    fn encode_refuses_a_conflicting_sig_timestamp() {
        let (alice, bob) = (identity(1), identity(2));
        let mut content = text("hi");
        content.sig_timestamp = Some(5);
        let err =
            encode_1o1(&alice, &bob.account_id(), &content, 6, &mut TestRng::new(1)).unwrap_err();
        assert_eq!(
            err,
            EncodeError::SigTimestampMismatch {
                sent_ms: 6,
                sig_timestamp: 5
            }
        );
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        content.sig_timestamp = Some(6);
        assert!(encode_1o1(&alice, &bob.account_id(), &content, 6, &mut TestRng::new(1)).is_ok());
    }

    /// Builds a stored message by hand so that the envelope can disagree with the content.
    fn stored_with(
        sender: &Identity,
        recipient: &Identity,
        content: &proto::Content,
        envelope_ms: u64,
    ) -> Vec<u8> {
        let padded = padding::pad(&content.encode_to_vec());
        let ct = encrypt_for_recipient(
            sender,
            &recipient.x25519_public(),
            &padded,
            &mut TestRng::new(7),
        )
        .unwrap();
        wire::wrap_websocket(wire::envelope_1o1(ct, envelope_ms, None).encode_to_vec())
    }

    #[test]
    fn decode_rejects_a_replayed_envelope_timestamp() {
        let (alice, bob) = (identity(1), identity(2));
        let mut content = text("hi");
        content.sig_timestamp = Some(1000);
        let err = decode_1o1(&bob, &stored_with(&alice, &bob, &content, 2000)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::SigTimestampMismatch {
                envelope_ms: 2000,
                sig_timestamp: 1000
            }
        );
        assert_eq!(err.kind(), ErrorKind::BadSignature);
        // Old clients send no sigTimestamp (or 0): accepted.
        for missing in [None, Some(0)] {
            content.sig_timestamp = missing;
            let received = decode_1o1(&bob, &stored_with(&alice, &bob, &content, 2000)).unwrap();
            assert_eq!(received.sent_ms, 2000);
        }
    }

    #[test]
    fn sync_copies_are_accepted_only_from_ourselves() {
        let (alice, bob) = (identity(1), identity(2));
        let mut rng = TestRng::new(3);
        let content = text("hello bob");
        let copy = encode_sync_1o1(&alice, &bob.account_id(), &content, 42, &mut rng)
            .unwrap()
            .unwrap();
        // Alice's other device reads it from her own swarm.
        let received = decode_1o1(&alice, &copy).unwrap();
        assert_eq!(received.sender, alice.account_id());
        assert_eq!(received.sync_target, Some(bob.account_id()));
        assert_eq!(received.sent_ms, 42);
        let data = received.content.data_message.unwrap();
        assert_eq!(data.body.as_deref(), Some("hello bob"));
        assert_eq!(data.profile, None);
        assert_eq!(data.profile_key, None);
        assert_eq!(received.content.expiration_timer, Some(60));

        // The same content with syncTarget sent by Bob to Alice is refused.
        let forged = sync_copy(&content, &bob.account_id()).unwrap();
        let stored = encode_1o1(&bob, &alice.account_id(), &forged, 42, &mut rng).unwrap();
        let err = decode_1o1(&alice, &stored).unwrap_err();
        assert_eq!(err, DecodeError::SyncTargetFromOtherSender);
    }

    #[test]
    fn only_data_messages_are_synced() {
        let me = identity(1).account_id();
        let typing = proto::Content {
            typing_message: Some(proto::TypingMessage::default()),
            ..Default::default()
        };
        assert_eq!(sync_copy(&typing, &me), None);
        let group_update = proto::Content {
            data_message: Some(proto::DataMessage {
                group_update_message: Some(proto::GroupUpdateMessage::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(sync_copy(&group_update, &me), None);
        let mut rng = TestRng::new(4);
        assert_eq!(
            encode_sync_1o1(&identity(1), &me, &typing, 1, &mut rng).unwrap(),
            None
        );
    }

    #[test]
    fn decode_rejects_bad_sync_target_and_missing_required_fields() {
        let alice = identity(1);
        let mut content = text("x");
        content.data_message.as_mut().unwrap().sync_target = Some("not an id".into());
        let err = decode_1o1(&alice, &stored_with(&alice, &alice, &content, 1)).unwrap_err();
        assert!(matches!(err, DecodeError::InvalidSyncTarget(_)), "{err:?}");

        // A Quote without `author` on the wire: prost writes required fields, so hand-craft it.
        // Content{dataMessage{quote{id: 1}}}
        let bytes = [0x0a, 0x04, 0x42, 0x02, 0x08, 0x01];
        let padded = padding::pad(&bytes);
        let ct = encrypt_for_recipient(
            &alice,
            &alice.x25519_public(),
            &padded,
            &mut TestRng::new(1),
        )
        .unwrap();
        let stored = wire::wrap_websocket(wire::envelope_1o1(ct, 1, None).encode_to_vec());
        let err = decode_1o1(&alice, &stored).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Content(ProtoError::MissingRequired {
                message: "SessionProtos.DataMessage.Quote",
                field: "author"
            })
        );
    }

    #[test]
    fn decode_with_uses_the_supplied_conversion() {
        let (alice, bob) = (identity(1), identity(2));
        let stored = encode_1o1(
            &alice,
            &bob.account_id(),
            &text("x"),
            1,
            &mut TestRng::new(5),
        )
        .unwrap();
        let mut calls = 0;
        let received = decode_1o1_with(&bob, &stored, |ed| {
            calls += 1;
            assert_eq!(*ed, alice.ed25519_public());
            Ok(alice.x25519_public())
        })
        .unwrap();
        assert_eq!(calls, 1);
        assert_eq!(received.sender, alice.account_id());
        let err = decode_1o1_with(&bob, &stored, |_| Err(IdentityError::InvalidEd25519Public))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
    }

    #[test]
    fn decode_survives_hostile_bytes() {
        let (alice, bob) = (identity(1), identity(2));
        let stored = encode_1o1(
            &alice,
            &bob.account_id(),
            &text("hostile"),
            1,
            &mut TestRng::new(6),
        )
        .unwrap();
        let original = decode_1o1(&bob, &stored).unwrap();
        for len in 0..stored.len() {
            assert!(decode_1o1(&bob, &stored[..len]).is_err(), "len {len}");
        }
        for i in 0..stored.len() {
            for bit in [0x01, 0x80] {
                let mut flipped = stored.clone();
                flipped[i] ^= bit;
                // Flips in unsigned metadata (the decoy proSig, sourceDevice, the ignored
                // WebSocket fields) may still decode; they must never change who sent what.
                // A flipped envelope timestamp is caught by sigTimestamp.
                if let Ok(received) = decode_1o1(&bob, &flipped) {
                    assert_eq!(received.sender, alice.account_id(), "byte {i}");
                    assert_eq!(received.content, original.content, "byte {i}");
                    assert_eq!(received.sent_ms, 1, "byte {i}");
                }
            }
        }
        let mut oversized = stored.clone();
        oversized.extend_from_slice(&[0u8; 100_000]);
        assert!(decode_1o1(&bob, &oversized).is_err());
        assert!(decode_1o1(&identity(3), &stored).is_err());
    }
}
