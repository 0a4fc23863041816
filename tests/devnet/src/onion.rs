//! Onion requests at a service node (`POST /onion_req/v2`, protocol.md §4.3–§4.4): open this
//! node's layer, then relay to the next node, relay to a server, or answer as the final
//! destination — with the errors the storage server gives at each step.
//!
//! The layer crypto and the routing instructions are `sessiond_protocol::onion`'s server side
//! (`open_relayed`, `DecryptedLayer::route`, `seal_snode_reply`). Node-to-node transport is
//! HTTPS to the next node's own `/onion_req/v2` with `hop_no` raised by one (the real network
//! uses OxenMQ `sn.onion_request`; what a client sees is the same).
//!
//! Servers are reached only on loopback: the devnet never sends traffic off the machine.

use std::sync::Arc;

use serde_json::{Value, json};
use sessiond_protocol::onion::layer;
use sessiond_protocol::onion::peel::{
    ForwardToNode, ForwardToServer, open_relayed, seal_snode_reply,
};
use sessiond_protocol::onion::{EncType, LayerKey, OnionError, Route, is_allowed_target};

use crate::client::ClientError;
use crate::http::Reply;
use crate::node::Node;
use crate::rpc::{Body, RpcResponse};

/// Longest path a node relays (`MAX_ONION_HOPS`).
const MAX_ONION_HOPS: u64 = 15;

/// Handles a `/onion_req/v2` body: `u32_le(N) || ciphertext || {"ephemeral_key", "enc_type",
/// "hop_no"}`.
pub(crate) async fn handle(node: Arc<Node>, body: &[u8]) -> Reply {
    let outer = match parse_outer(body) {
        Ok(outer) => outer,
        Err(why) => return Reply::text(400, format!("Error parsing onion request: {why}")),
    };
    if outer.hop_no > MAX_ONION_HOPS {
        return Reply::text(400, "onion request max path length exceeded");
    }
    let secret = node.keys.x25519_secret();
    let layer = match open_relayed(
        &secret,
        outer.ciphertext,
        &outer.ephemeral_key,
        outer.enc_type,
    ) {
        Ok(layer) => layer,
        Err(_) => return Reply::text(400, "Invalid ciphertext"),
    };
    let key = layer.reply_key().clone();
    match layer.route() {
        Err(OnionError::BadField {
            field: "protocol", ..
        }) => seal(&key, 400, "Invalid url"),
        Err(_) => seal(&key, 400, "Invalid json"),
        Ok(Route::Final(payload)) => {
            let response = crate::rpc::process_body(node, &payload.body, true).await;
            wrap_final(&key, &response, payload.json, payload.base64)
        }
        Ok(Route::NextHop(forward)) => relay_to_node(&node, forward, outer.hop_no).await,
        Ok(Route::Server(forward)) => relay_to_server(&node, &key, forward).await,
    }
}

/// The outer framing of an onion request.
struct Outer<'a> {
    ciphertext: &'a [u8],
    ephemeral_key: [u8; 32],
    enc_type: EncType,
    hop_no: u64,
}

fn parse_outer(body: &[u8]) -> Result<Outer<'_>, String> {
    let (ciphertext, json) = layer::split(body).map_err(|e| e.to_string())?;
    let json: Value = serde_json::from_slice(json).map_err(|e| format!("[json.exception] {e}"))?;
    let Value::Object(json) = json else {
        return Err("metadata is not a JSON object".into());
    };
    let ephemeral = json
        .get("ephemeral_key")
        .ok_or("key 'ephemeral_key' not found")?
        .as_str()
        .ok_or("ephemeral_key is not a string")?;
    let mut ephemeral_key = [0u8; 32];
    hex::decode_to_slice(ephemeral, &mut ephemeral_key)
        .map_err(|_| "Invalid hex-encoded x25519 pubkey".to_owned())?;
    let enc_type = match json.get("enc_type") {
        None => EncType::AesGcm,
        Some(v) => EncType::from_name(v.as_str().ok_or("enc_type is not a string")?)
            .map_err(|e| e.to_string())?,
    };
    let hop_no = match json.get("hop_no") {
        None => 0,
        Some(v) => {
            let n = v.as_i64().ok_or("hop_no is not an integer")?;
            u64::try_from(n.max(0)).unwrap_or(0)
        }
    };
    Ok(Outer {
        ciphertext,
        ephemeral_key,
        enc_type,
        hop_no,
    })
}

/// `{"body": text, "status": N}` encrypted with `key`, base64: HTTP 200 (a hop's own error, or
/// the destination's answer).
fn seal(key: &LayerKey, status: u16, body: &str) -> Reply {
    let sealed = crate::rng::fresh()
        .ok()
        .and_then(|mut rng| seal_snode_reply(key, status, body, true, &mut rng).ok());
    match sealed {
        Some(bytes) => Reply::bytes(200, "text/plain", bytes.into()),
        None => Reply::text(500, "request failed"),
    }
}

/// The destination's answer: `{"body": <string or JSON>, "status": N}` encrypted, base64 unless
/// the client asked for raw bytes.
fn wrap_final(key: &LayerKey, response: &RpcResponse, embed_json: bool, base64: bool) -> Reply {
    let body = match (&response.body, embed_json) {
        (Body::Json(value), true) => value.clone(),
        (Body::Json(value), false) => Value::String(value.to_string()),
        (Body::Text(text), _) => Value::String(text.clone()),
    };
    let plain = json!({"body": body, "status": response.status}).to_string();
    let sealed = crate::rng::fresh()
        .ok()
        .and_then(|mut rng| key.encrypt(plain.as_bytes(), &mut rng).ok());
    match sealed {
        Some(bytes) if base64 => {
            use base64::Engine as _;
            let text = base64::engine::general_purpose::STANDARD.encode(bytes);
            Reply::bytes(200, "text/plain", text.into())
        }
        Some(bytes) => Reply::bytes(200, "text/plain", bytes.into()),
        None => Reply::text(500, "request failed"),
    }
}

async fn relay_to_node(node: &Node, forward: ForwardToNode, hop_no: u64) -> Reply {
    let Some(next) = node
        .net
        .topology
        .find_by_ed25519(&forward.destination_ed25519)
    else {
        return Reply::text(
            502,
            format!(
                "Next node not found: {}",
                hex::encode(forward.destination_ed25519)
            ),
        );
    };
    let meta = json!({
        "ephemeral_key": hex::encode(forward.ephemeral_key),
        "enc_type": forward.enc_type.as_str(),
        "hop_no": hop_no + 1,
    });
    let Ok(body) = layer::join(&forward.ciphertext, &meta.to_string()) else {
        return Reply::text(500, "Invalid response from snode");
    };
    let url = format!("{}/onion_req/v2", next.base_url());
    match node
        .net
        .client
        .post(&url, &[], body, node.net.timeouts.onion_hop)
        .await
    {
        Ok(answer) => Reply::bytes(answer.status, "text/plain", answer.body),
        Err(e) => {
            tracing::debug!(next = next.index, error = %e, "onion relay failed");
            Reply::text(504, "Request time out")
        }
    }
}

async fn relay_to_server(node: &Node, key: &LayerKey, forward: ForwardToServer) -> Reply {
    if !is_allowed_target(&forward.target) {
        return seal(key, 400, "Invalid url");
    }
    if !is_loopback_host(&forward.host) {
        return Reply::text(502, format!("Could not resolve host: {}", forward.host));
    }
    let separator = if forward.target.starts_with('/') {
        ""
    } else {
        "/"
    };
    let url = format!(
        "{}://{}:{}{separator}{}",
        forward.scheme.as_str(),
        forward.host,
        forward.port,
        forward.target
    );
    match node
        .net
        .client
        .post(&url, &[], forward.payload, node.net.timeouts.server)
        .await
    {
        Ok(answer) => {
            let content_type = answer.content_type().unwrap_or("text/plain").to_owned();
            Reply::bytes(answer.status, &content_type, answer.body)
        }
        Err(ClientError::Timeout(after)) => Reply::text(
            504,
            format!(
                "Operation timed out after {} milliseconds",
                after.as_millis()
            ),
        ),
        Err(e) => Reply::text(
            502,
            format!(
                "Failed to connect to {} port {}: {e}",
                forward.host, forward.port
            ),
        ),
    }
}

/// The devnet only relays to servers on this machine.
fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
