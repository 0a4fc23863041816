//! Storage-RPC code against the published vectors (`shared/protocol/vectors.json`, protocol.md
//! §3.7 and §10): every `storage.*` vector.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sessiond_protocol::message::wire;
use sessiond_protocol::proto;
use sessiond_protocol::{MessageHash, Namespace, SwarmPubkey};

use common::{data, family_ids, text};

/// Vectors this file checks.
const COVERED: &[&str] = &["storage.message_hash"];

#[test]
fn every_storage_vector_is_covered() {
    assert_eq!(family_ids(&["storage."]), COVERED);
}

#[test]
fn storage_server_message_hash_is_reproduced() {
    let data = data("storage.message_hash");
    let owner: SwarmPubkey = text(&data["pubkey"]).parse().unwrap();
    let namespace = Namespace::try_from(data["namespace"].as_i64().unwrap()).unwrap();
    assert_eq!(namespace, Namespace::DEFAULT);
    let stored = STANDARD.decode(text(&data["data_b64"])).unwrap();

    let hash = MessageHash::compute(&owner, namespace, &stored);
    assert_eq!(hash.as_str(), text(&data["hash"]));
    assert_eq!(text(&data["hash"]).parse::<MessageHash>().unwrap(), hash);

    // Namespace 0 hashes with an empty namespace string: "0" would give another hash.
    assert_ne!(
        MessageHash::compute(&owner, Namespace::new(10), &stored),
        hash
    );
}

#[test]
fn storage_server_message_hash_data_is_a_legacy_websocket_message() {
    // The vector's data is a real (legacy, verb PUT) 1:1 message: our unwrapping accepts it.
    let data = data("storage.message_hash");
    let stored = STANDARD.decode(text(&data["data_b64"])).unwrap();
    let websocket: proto::WebSocketMessage = proto::decode(&stored).unwrap();
    let request = websocket.request.unwrap();
    assert_eq!(request.verb.as_deref(), Some("PUT"));
    assert_eq!(request.path.as_deref(), Some("/api/v1/message"));
    let envelope = wire::parse_envelope(&wire::unwrap_websocket(&stored).unwrap()).unwrap();
    assert_eq!(
        envelope.r#type,
        proto::envelope::Type::SessionMessage as i32
    );
    assert!(
        envelope.content.unwrap().len() >= sessiond_protocol::message::sealed::MIN_CIPHERTEXT_LEN
    );
}
