//! The seed: an HTTPS JSON-RPC endpoint (`POST /json_rpc`) answering `get_n_service_nodes` and
//! `get_service_nodes` as `oxend` does, with the fields clients ask for (protocol.md §3.1).
//! Service nodes answer `oxend_request` → `get_service_nodes` from the same list.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::http::{Handler, Outcome, Reply, Request};
use crate::node::NetContext;

/// The seed's request handler.
pub(crate) struct SeedHandler {
    /// The network it describes.
    pub net: Arc<NetContext>,
}

impl Handler for SeedHandler {
    async fn handle(&self, request: Request) -> Outcome {
        let span = tracing::debug_span!("seed", path = %request.path);
        let _entered = span.enter();
        if request.method != http::Method::POST || request.path != "/json_rpc" {
            return Outcome::Reply(Reply::text(404, "Not Found"));
        }
        Outcome::Reply(Reply::json(200, &self.json_rpc(&request.body)))
    }
}

impl SeedHandler {
    fn json_rpc(&self, body: &[u8]) -> Value {
        let error = |id: Value, code: i64, message: &str| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
        let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
            return error(Value::Null, -32700, "Parse error");
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return error(id, -32600, "Invalid Request");
        };
        match method {
            "get_n_service_nodes" | "get_service_nodes" => {
                let result = service_node_states(&self.net, request.get("params"));
                json!({"jsonrpc": "2.0", "id": id, "result": result})
            }
            _ => error(id, -32601, "Method not found"),
        }
    }
}

/// The `get_service_nodes` result: `service_node_states` (each node with the requested
/// `fields`, all of them when none are named) plus `height` and friends, and `status`.
pub(crate) fn service_node_states(net: &NetContext, params: Option<&Value>) -> Value {
    let fields: Option<Map<String, Value>> = params
        .and_then(|p| p.get("fields"))
        .and_then(Value::as_object)
        .filter(|f| !f.is_empty())
        .cloned();
    let wanted = |name: &str| {
        fields
            .as_ref()
            .is_none_or(|f| f.get(name).and_then(Value::as_bool).unwrap_or(false))
    };
    let swarms = net.topology.swarm_assignment();
    let mut states: Vec<Value> = net
        .topology
        .nodes()
        .iter()
        .map(|node| {
            let swarm = swarms.get(node.index).copied().unwrap_or(u64::MAX);
            let all = json!({
                "service_node_pubkey": node.ed25519_hex(),
                "pubkey_ed25519": node.ed25519_hex(),
                "pubkey_x25519": hex::encode(node.x25519),
                "public_ip": node.ip.to_string(),
                "storage_port": node.port,
                "storage_lmq_port": 0,
                "swarm_id": swarm,
                "swarm": format!("{swarm:x}"),
                "requested_unlock_height": 0,
                "active": true,
                "funded": true,
                "storage_server_version": crate::rpc::VERSION,
                "last_uptime_proof": 0,
            });
            let Value::Object(all) = all else {
                return Value::Null;
            };
            Value::Object(all.into_iter().filter(|(k, _)| wanted(k)).collect())
        })
        .collect();
    if let Some(limit) = params
        .and_then(|p| p.get("limit"))
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0 && n < states.len())
    {
        shuffle(&mut states);
        states.truncate(limit);
    }
    let mut result = Map::new();
    result.insert("service_node_states".into(), Value::Array(states));
    let top = [
        ("height", json!(net.height)),
        ("target_height", json!(net.height)),
        ("block_hash", json!(hex::encode([0u8; 32]))),
        ("hardfork", json!(crate::rpc::HARDFORK[0])),
        ("snode_revision", json!(crate::rpc::HARDFORK[1])),
    ];
    for (name, value) in top {
        if wanted(name) {
            result.insert(name.into(), value);
        }
    }
    result.insert("status".into(), json!("OK"));
    Value::Object(result)
}

/// Fisher–Yates with the OS random source (left in order if it fails).
fn shuffle<T>(items: &mut [T]) {
    use chacha20::rand_core::Rng as _;
    let Ok(mut rng) = crate::rng::fresh() else {
        return;
    };
    for i in (1..items.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
