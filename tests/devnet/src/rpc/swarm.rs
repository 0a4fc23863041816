//! What makes a request "recursive": the receiving node forwards it to every other member of
//! its swarm (5 s timeout), applies it itself, and answers with one entry per member under
//! `swarm` (protocol.md §3.6). Also the swarm description clients get from `get_swarm` and in
//! 421 answers.
//!
//! On the real network the copies travel over OxenMQ (`sn.storage_cc`); here they are HTTPS
//! POSTs to the peer's internal `/devnet/storage_cc` endpoint carrying the original JSON
//! request, which the peer re-validates (±70 s window where the server allows it) and answers
//! with its own per-node result.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use super::params::{Owner, Params};
use super::{HARDFORK, RpcResponse};
use crate::node::{Node, STORAGE_CC_PATH};
use crate::topology::NodeInfo;

/// The copies of a request in flight to the swarm peers.
pub(crate) struct Fanout {
    /// One task per peer, each giving (peer's Ed25519 hex, its entry).
    tasks: JoinSet<(String, Value)>,
}

/// Sends `{"method","params"}` to every other member of `node`'s swarm.
pub(crate) fn fan_out(node: &Arc<Node>, method: &'static str, params: &Params) -> Fanout {
    let mut tasks = JoinSet::new();
    let swarm = node.net.topology.swarm_of(node.index);
    let body = json!({"method": method, "params": Value::Object(params.clone())}).to_string();
    for peer in node.net.topology.members(swarm) {
        if peer.index == node.index {
            continue;
        }
        let client = node.net.client.clone();
        let timeout = node.net.timeouts.swarm;
        let body = body.clone();
        tasks.spawn(async move {
            let url = format!("{}{STORAGE_CC_PATH}", peer.base_url());
            let entry = match client
                .post(&url, &[("content-type", "application/json")], body, timeout)
                .await
            {
                Err(_) => json!({"failed": true, "timeout": true}),
                Ok(answer) if answer.status == 200 => match answer.json() {
                    Some(value @ Value::Object(_)) => value,
                    _ => json!({"failed": true, "bad_peer_response": true}),
                },
                Ok(answer) => {
                    json!({"failed": true, "code": answer.status.to_string(), "reason": answer.text()})
                }
            };
            (peer.ed25519_hex(), entry)
        });
    }
    Fanout { tasks }
}

impl Fanout {
    /// Waits for every peer's entry (each request has its own timeout).
    pub async fn collect(mut self) -> Vec<(String, Value)> {
        let mut entries = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(entry) = joined {
                entries.push(entry);
            }
        }
        entries
    }
}

/// The answer of a recursive request: with `fanout` (the node the client reached), the
/// `swarm` map plus `top` fields, `t` and `hf`, status 200 unless every entry failed (500);
/// without (a forwarded copy), this node's own entry.
pub(crate) async fn finish(
    node: &Node,
    mine: Value,
    fanout: Option<Fanout>,
    mut top: Map<String, Value>,
    now: i64,
) -> RpcResponse {
    let Some(fanout) = fanout else {
        return RpcResponse::json(200, mine);
    };
    let mut swarm = Map::new();
    swarm.insert(node.info.ed25519_hex(), mine);
    for (peer, entry) in fanout.collect().await {
        swarm.insert(peer, entry);
    }
    let any_ok = swarm.values().any(|entry| entry.get("failed").is_none());
    top.insert("swarm".into(), Value::Object(swarm));
    top.insert("t".into(), json!(now));
    top.insert("hf".into(), json!(HARDFORK));
    RpcResponse::json(if any_ok { 200 } else { 500 }, Value::Object(top))
}

/// The `{"snodes": […], "swarm": "<hex id>"}` description of the swarm that stores `owner`.
pub(crate) fn swarm_json(node: &Node, owner: &Owner) -> Map<String, Value> {
    let topology = &node.net.topology;
    let mut out = Map::new();
    match topology.swarm_for(&owner.0) {
        Some(swarm) => {
            let snodes: Vec<Value> = topology.members(swarm).iter().map(snode_json).collect();
            out.insert("snodes".into(), Value::Array(snodes));
            out.insert("swarm".into(), json!(format!("{swarm:x}")));
        }
        None => {
            out.insert("snodes".into(), json!([]));
            out.insert("swarm".into(), json!(format!("{:x}", u64::MAX)));
        }
    }
    out
}

/// One swarm member as `get_swarm` lists it.
fn snode_json(node: &NodeInfo) -> Value {
    json!({
        "address": format!("{}.snode", base32z(&node.ed25519)),
        "pubkey_legacy": node.ed25519_hex(),
        "pubkey_x25519": hex::encode(node.x25519),
        "pubkey_ed25519": node.ed25519_hex(),
        "port": node.port.to_string(),
        "port_https": node.port,
        "port_omq": 0,
        "port_quic": 0,
        "ip": node.ip.to_string(),
    })
}

/// The 421 answer: the swarm that does store `owner`, with `t` and `hf`.
pub(crate) fn wrong_swarm(node: &Node, owner: &Owner) -> RpcResponse {
    let mut body = swarm_json(node, owner);
    body.insert("t".into(), json!(node.now()));
    body.insert("hf".into(), json!(HARDFORK));
    RpcResponse::json(421, Value::Object(body))
}

/// z-base-32, as `.snode` addresses are written.
pub(crate) fn base32z(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32z_matches_known_values() {
        // 32 bytes -> 52 characters; all-zero bytes are all 'y'.
        assert_eq!(base32z(&[0u8; 32]), "y".repeat(52));
        assert_eq!(base32z(&[0xff]), "9h");
    }
}
