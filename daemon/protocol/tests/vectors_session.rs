//! 1:1 message code against the published vectors (`shared/protocol/vectors.json`, protocol.md
//! §2 and §10): every `session_protocol.*` vector except the blinded round trip, which
//! `tests/vectors_blinding.rs` covers.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use serde_json::Value;
use sessiond_protocol::message::ons::{decrypt_ons_response, ons_name_hash};
use sessiond_protocol::message::push::decrypt_push_notification;
use sessiond_protocol::message::sealed::open_sealed_box;
use sessiond_protocol::message::{
    self, decode_1o1, decode_1o1_envelope, decrypt_incoming, encrypt_for_recipient_deterministic,
    wire,
};
use sessiond_protocol::padding::{pad, pad_legacy, unpad};
use sessiond_protocol::proto;

use common::{account_id, assert_all_listed, bytes, data, family_ids, identity, text};

/// Vectors this file checks.
const COVERED: &[&str] = &[
    "session_protocol.libsession.deterministic_encrypt",
    "session_protocol.full_1o1_wire_message",
    "session_protocol.libsession.ons_decrypt",
    "session_protocol.libsession.push_notification_decrypt",
];

/// Vectors of the family checked elsewhere, and where.
const COVERED_ELSEWHERE: &[(&str, &str)] = &[(
    "session_protocol.libsession.blinded_roundtrip",
    "blinded DMs: tests/vectors_blinding.rs",
)];

#[test]
fn every_session_protocol_vector_is_covered() {
    let listed: Vec<&str> = COVERED
        .iter()
        .chain(COVERED_ELSEWHERE.iter().map(|(id, _)| id))
        .copied()
        .collect();
    let family = family_ids(&["session_protocol."]);
    assert_all_listed(&family, &listed, &family);
}

#[test]
fn libsession_deterministic_encryption_is_reproduced_and_decrypts() {
    let data = data("session_protocol.libsession.deterministic_encrypt");
    let sender = identity(&data["sender_seed"]);
    let recipient = identity(&data["recipient_seed"]);
    let recipient_id = account_id(&data["recipient_session_id"]);
    assert_eq!(recipient.account_id(), recipient_id);
    assert_eq!(
        sender.ed25519_public().to_vec(),
        bytes(&data["sender_ed25519_pk"])
    );

    let plaintext = text(&data["plaintext_utf8"]).as_bytes();
    let ciphertext =
        encrypt_for_recipient_deterministic(&sender, &recipient_id.x25519_public(), plaintext)
            .unwrap();
    assert_eq!(hex::encode(&ciphertext), text(&data["ciphertext"]));

    let decrypted = decrypt_incoming(&recipient, &bytes(&data["ciphertext"])).unwrap();
    assert_eq!(&*decrypted.plaintext, plaintext);
    assert_eq!(
        decrypted.sender_ed25519.to_vec(),
        bytes(&data["sender_ed25519_pk"])
    );
}

/// The `Content` described by the vector's `content_fields`.
fn vector_content(fields: &Value) -> proto::Content {
    let data = &fields["dataMessage"];
    let profile = &data["profile"];
    proto::Content {
        data_message: Some(proto::DataMessage {
            body: Some(text(&data["body"]).to_owned()),
            profile: Some(proto::LokiProfile {
                display_name: Some(text(&profile["displayName"]).to_owned()),
                profile_picture: None,
                last_update_seconds: Some(profile["lastUpdateSeconds"].as_u64().unwrap()),
            }),
            ..Default::default()
        }),
        expiration_type: Some(i32::try_from(fields["expirationType"].as_i64().unwrap()).unwrap()),
        expiration_timer: Some(u32::try_from(fields["expirationTimer"].as_u64().unwrap()).unwrap()),
        sig_timestamp: Some(fields["sigTimestamp"].as_u64().unwrap()),
        ..Default::default()
    }
}

#[test]
fn full_1o1_wire_message_is_built_byte_for_byte() {
    let data = data("session_protocol.full_1o1_wire_message");
    let sender = identity(&data["sender_seed"]);
    let recipient_id = account_id(&data["recipient_session_id"]);
    let sent_ms = data["sent_timestamp_ms"].as_u64().unwrap();
    assert_eq!(sender.account_id(), account_id(&data["sender_session_id"]));
    assert_eq!(
        sender.ed25519_public().to_vec(),
        bytes(&data["sender_ed25519_pk"])
    );

    // Content → padding.
    let content = vector_content(&data["content_fields"]).encode_to_vec();
    assert_eq!(hex::encode(&content), text(&data["content"]));
    let padded = pad(&content);
    assert_eq!(hex::encode(&padded), text(&data["padded"]));

    // → signed, deterministic sealed box.
    let ciphertext =
        encrypt_for_recipient_deterministic(&sender, &recipient_id.x25519_public(), &padded)
            .unwrap();
    assert_eq!(hex::encode(&ciphertext), text(&data["ciphertext"]));

    // → Envelope → WebSocketMessage → base64.
    let envelope = wire::envelope_1o1(ciphertext, sent_ms, None).encode_to_vec();
    assert_eq!(hex::encode(&envelope), text(&data["envelope"]));
    let websocket = wire::wrap_websocket(envelope);
    assert_eq!(hex::encode(&websocket), text(&data["websocket_message"]));
    assert_eq!(STANDARD.encode(&websocket), text(&data["store_data_b64"]));
}

#[test]
fn full_1o1_wire_message_decodes_field_by_field() {
    let data = data("session_protocol.full_1o1_wire_message");
    let recipient = identity(&data["recipient_seed"]);
    let sent_ms = data["sent_timestamp_ms"].as_u64().unwrap();
    let stored = STANDARD.decode(text(&data["store_data_b64"])).unwrap();

    // The inner plaintext M || A || signature, as the sealed box holds it.
    let opened = open_sealed_box(
        &recipient.x25519_secret_key(),
        &recipient.x25519_public(),
        &bytes(&data["ciphertext"]),
    )
    .unwrap();
    assert_eq!(hex::encode(&*opened), text(&data["inner_M_A_sig"]));

    // Each wrapper, decoded and compared with the vector's fields.
    let envelope_bytes = wire::unwrap_websocket(&stored).unwrap();
    assert_eq!(hex::encode(&envelope_bytes), text(&data["envelope"]));
    let envelope = wire::parse_envelope(&envelope_bytes).unwrap();
    assert_eq!(
        envelope.r#type,
        proto::envelope::Type::SessionMessage as i32
    );
    assert_eq!(envelope.timestamp, sent_ms);
    assert_eq!(envelope.source_device, Some(1));
    assert_eq!(envelope.source, None);
    assert_eq!(envelope.pro_sig, None);
    assert_eq!(
        envelope.content.as_deref().unwrap(),
        &bytes(&data["ciphertext"])[..]
    );
    let websocket: proto::WebSocketMessage = proto::decode(&stored).unwrap();
    assert_eq!(
        websocket.r#type,
        Some(proto::web_socket_message::Type::Request as i32)
    );
    let request = websocket.request.unwrap();
    assert_eq!(
        (
            request.verb.as_deref(),
            request.path.as_deref(),
            request.request_id
        ),
        (Some(""), Some(""), Some(0))
    );

    let decrypted = decrypt_incoming(&recipient, envelope.content.as_deref().unwrap()).unwrap();
    assert_eq!(hex::encode(&*decrypted.plaintext), text(&data["padded"]));
    assert_eq!(
        hex::encode(unpad(&decrypted.plaintext)),
        text(&data["content"])
    );

    // And all at once, through the high-level API (WebSocketMessage and bare Envelope).
    let expected = vector_content(&data["content_fields"]);
    for received in [
        decode_1o1(&recipient, &stored).unwrap(),
        decode_1o1_envelope(&recipient, &envelope_bytes).unwrap(),
    ] {
        assert_eq!(received.sender, account_id(&data["sender_session_id"]));
        assert_eq!(
            received.sender_ed25519.to_vec(),
            bytes(&data["sender_ed25519_pk"])
        );
        assert_eq!(received.sent_ms, sent_ms);
        assert_eq!(received.sync_target, None);
        assert_eq!(received.pro_signature, None);
        assert_eq!(received.content, expected);
        let data_message = received.content.data_message.unwrap();
        assert_eq!(data_message.body.as_deref(), Some("Hello, Bob!"));
        assert_eq!(
            data_message.profile.unwrap().display_name.as_deref(),
            Some("Alice")
        );
    }
}

#[test]
fn full_1o1_wire_message_padding_lengths_of_both_variants() {
    let data = data("session_protocol.full_1o1_wire_message");
    let table = &data["padding_lengths"];
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        columns,
        [
            "content_len",
            "libsession_pad_message_len",
            "legacy_addMessagePadding_len"
        ]
    );
    for row in table["rows"].as_array().unwrap() {
        let [len, libsession, legacy] = [0, 1, 2].map(|i| row[i].as_u64().unwrap() as usize);
        let content = vec![0x42u8; len];
        assert_eq!(pad(&content).len(), libsession, "content length {len}");
        assert_eq!(pad_legacy(&content).len(), legacy, "content length {len}");
        assert_eq!(unpad(&pad(&content)), &content[..]);
        assert_eq!(unpad(&pad_legacy(&content)), &content[..]);
    }
}

#[test]
fn full_1o1_wire_message_with_random_encryption_decodes_the_same() {
    // encode_1o1 uses a random ephemeral key and a decoy proSig; the recipient sees the same
    // message as in the vector.
    let data = data("session_protocol.full_1o1_wire_message");
    let sender = identity(&data["sender_seed"]);
    let recipient = identity(&data["recipient_seed"]);
    let sent_ms = data["sent_timestamp_ms"].as_u64().unwrap();
    let content = vector_content(&data["content_fields"]);
    let mut rng = SplitMix(7);
    let stored = message::encode_1o1(
        &sender,
        &recipient.account_id(),
        &content,
        sent_ms,
        &mut rng,
    )
    .unwrap();
    let received = decode_1o1(&recipient, &stored).unwrap();
    assert_eq!(received.content, content);
    assert_eq!(received.sender, sender.account_id());
    assert!(received.pro_signature.is_some());
}

#[test]
fn libsession_ons_answer_decrypts_to_its_account_id() {
    let data = data("session_protocol.libsession.ons_decrypt");
    let nonce: [u8; 24] = bytes(&data["nonce"]).try_into().unwrap();
    let ciphertext = bytes(&data["ciphertext"]);
    for name in [text(&data["name"]), &text(&data["name"]).to_uppercase()] {
        let id = decrypt_ons_response(name, &ciphertext, &nonce).unwrap();
        assert_eq!(id.to_string(), text(&data["session_id"]));
    }
    assert!(decrypt_ons_response("tesT2", &ciphertext, &nonce).is_err());
    assert_eq!(ons_name_hash("Test"), ons_name_hash(text(&data["name"])));
    let mut tampered = ciphertext.clone();
    tampered[0] ^= 1;
    assert!(decrypt_ons_response("test", &tampered, &nonce).is_err());
}

#[test]
fn libsession_push_notification_decrypts_and_loses_its_padding() {
    let data = data("session_protocol.libsession.push_notification_decrypt");
    let key: [u8; 32] = bytes(&data["enc_key"]).try_into().unwrap();
    let payload = bytes(&data["payload"]);
    let plaintext = decrypt_push_notification(&payload, &key).unwrap();
    assert_eq!(&*plaintext, text(&data["plaintext_utf8"]).as_bytes());
    let mut tampered = payload.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(decrypt_push_notification(&tampered, &key).is_err());
    assert!(decrypt_push_notification(&payload, &[0; 32]).is_err());
}

/// A deterministic test RNG (SplitMix64; not cryptographic).
struct SplitMix(u64);

impl rand_core::TryRng for SplitMix {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SplitMix {}
