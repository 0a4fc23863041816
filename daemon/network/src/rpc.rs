//! One storage RPC to one service node, and what its status means (protocol.md §3.3, §3.9).
//!
//! [`NodeRpc`] is the seam between the policy code that needs a node's answer (pool refresh,
//! swarm lookup) and how the request travels. In production requests travel through an onion
//! path (the onion client implements this trait); [`DirectRpc`] sends them straight to the node
//! over [`Transport`], which reveals our IP address to it and is meant for tests and for the
//! guard test only. Either way the node's answer is an [`RpcReply`]: its status is data, not an
//! error; [`destination_outcome`] says what §3.9 makes of it.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::NetworkError;
use crate::node::{NodeId, ServiceNode};
use crate::transport::Transport;

/// The storage server's JSON-RPC endpoint.
pub const STORAGE_RPC_PATH: &str = "/storage_rpc/v1";

/// A storage RPC: `{"method": …, "params": {…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The method (`"get_swarm"`, `"oxend_request"`, `"retrieve"`, …).
    pub method: &'static str,
    /// Its parameters (a JSON object).
    pub params: Value,
}

impl RpcRequest {
    /// A request for `method` with `params`.
    pub fn new(method: &'static str, params: Value) -> RpcRequest {
        RpcRequest { method, params }
    }

    /// The JSON body sent to the node.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::json!({ "method": self.method, "params": self.params })
            .to_string()
            .into_bytes()
    }
}

/// A node's answer to an RPC: its status and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcReply {
    /// The RPC status (the HTTP status of a direct request, the `status`/`code` of an onion or
    /// batch answer).
    pub status: u16,
    /// The body: JSON for successes and 421, usually a plain string for errors.
    pub body: RpcBody,
}

/// An RPC answer's body.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcBody {
    /// A JSON value (object for successes).
    Json(Value),
    /// Anything that is not JSON (error messages), lossily decoded.
    Text(String),
}

impl RpcReply {
    /// The reply for an HTTP status and raw body: JSON if it parses as JSON, text otherwise.
    pub fn from_http(status: u16, body: &[u8]) -> RpcReply {
        let body = match serde_json::from_slice(body) {
            Ok(json) => RpcBody::Json(json),
            Err(_) => RpcBody::Text(String::from_utf8_lossy(body).into_owned()),
        };
        RpcReply { status, body }
    }

    /// The JSON body, if it is one.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            RpcBody::Json(json) => Some(json),
            RpcBody::Text(_) => None,
        }
    }

    /// The body as text (JSON strings unquoted), for error messages and status parsing.
    pub fn text(&self) -> String {
        match &self.body {
            RpcBody::Json(Value::String(s)) => s.clone(),
            RpcBody::Json(json) => json.to_string(),
            RpcBody::Text(text) => text.clone(),
        }
    }

    /// The node's time `t` (Unix ms) of a successful JSON answer (§3.10).
    pub fn network_time(&self) -> Option<u64> {
        if !(200..300).contains(&self.status) {
            return None;
        }
        self.json()?.get("t")?.as_u64()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends one storage RPC to one service node and returns its answer, whatever the status.
///
/// An `Err` means there is no answer from the node (transport failure, timeout, a path-level
/// failure of an onion request); an answer with a failure status is an `Ok(RpcReply)`.
/// Implementations feed the answer's `t` into the [`Clock`].
pub trait NodeRpc: Send + Sync {
    /// Calls `request` on `node`, giving up after `timeout`.
    fn call(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        timeout: Duration,
    ) -> impl Future<Output = Result<RpcReply, NetworkError>> + Send;
}

/// Storage RPCs sent straight to the node (`POST https://ip:port/storage_rpc/v1`).
///
/// The node sees our IP address and the request: use it for guard tests and tests, not for
/// anything tied to an account.
#[derive(Debug, Clone)]
pub struct DirectRpc<T> {
    /// How requests travel.
    transport: T,
    /// Where `t` goes.
    clock: Clock,
}

impl<T: Transport> DirectRpc<T> {
    /// Direct RPCs over `transport`, recording network time in `clock`.
    pub fn new(transport: T, clock: Clock) -> DirectRpc<T> {
        DirectRpc { transport, clock }
    }
}

impl<T: Transport> NodeRpc for DirectRpc<T> {
    async fn call(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        timeout: Duration,
    ) -> Result<RpcReply, NetworkError> {
        let span = tracing::debug_span!("direct_rpc", method = request.method, node = %node.ed25519.short());
        async {
            let response = self
                .transport
                .post_node(node, STORAGE_RPC_PATH, request.to_body(), timeout)
                .await
                .map_err(|source| NetworkError::Transport {
                    peer: node.peer(),
                    request: request.method,
                    source,
                })?;
            let reply = RpcReply::from_http(response.status, &response.body);
            if let Some(t) = reply.network_time() {
                self.clock.record_network_time(t);
            }
            tracing::debug!(status = reply.status, "direct rpc answered");
            Ok(reply)
        }
        .instrument(span)
        .await
    }
}

/// What the client does about a destination node's status (§3.9, §4.1 bookkeeping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationOutcome {
    /// 2xx: use the answer.
    Success,
    /// 421: the node is not in the swarm of the request's pubkey. Replace the cached swarm
    /// with the body's list, count one failure against the node, retry on another member.
    Misdirected,
    /// 406/425: our timestamp is off. Abort without counting (refresh the clock offset
    /// before any retry).
    ClockSkew,
    /// 400, 401, 403, 404: the node understood and refused the request (a bug of ours, a
    /// refused signature, a TTL out of range, nothing to delete). Do not retry, do not count.
    /// (Desktop counts 403 and 404 as node failures; they are answers, not failures.)
    Refused,
    /// 429: we are rate-limited (direct requests only). Back off; do not count.
    RateLimited,
    /// `502 Next node not found: <ed25519>` (or `…is currently unreachable: …`): drop that
    /// node at once, without counting.
    NodeNotFound(NodeId),
    /// Anything else (500, 502, 503, 504, unknown): count one failure against the node and
    /// retry on another.
    NodeFailure,
}

/// Classifies a destination status and (plain-text) body.
pub fn destination_outcome(status: u16, body: &str) -> DestinationOutcome {
    match status {
        200..=299 => DestinationOutcome::Success,
        421 => DestinationOutcome::Misdirected,
        406 | 425 => DestinationOutcome::ClockSkew,
        400 | 401 | 403 | 404 => DestinationOutcome::Refused,
        429 => DestinationOutcome::RateLimited,
        502 => match node_not_found(body) {
            Some(id) => DestinationOutcome::NodeNotFound(id),
            None => DestinationOutcome::NodeFailure,
        },
        _ => DestinationOutcome::NodeFailure,
    }
}

/// The node named by `Next node not found: <hex>` or `Next node is currently unreachable: <hex>`.
pub fn node_not_found(body: &str) -> Option<NodeId> {
    let body = body.trim();
    [
        "Next node not found: ",
        "Next node is currently unreachable: ",
    ]
    .iter()
    .find_map(|prefix| body.strip_prefix(prefix))
    .and_then(|hex_key| NodeId::from_hex(hex_key.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_spec_actions() {
        use DestinationOutcome::*;
        let id = "ab".repeat(32);
        let cases = [
            (200, "", Success),
            (421, "{}", Misdirected),
            (406, "Timestamp error: check your clock", ClockSkew),
            (425, "", ClockSkew),
            (400, "invalid request: x", Refused),
            (401, "retrieve signature verification failed", Refused),
            (403, "", Refused),
            (404, "", Refused),
            (429, "", RateLimited),
            (500, "request failed", NodeFailure),
            (502, "oxend returned unparsable data", NodeFailure),
            (503, "Snode not ready", NodeFailure),
            (504, "Request time out", NodeFailure),
            (599, "", NodeFailure),
        ];
        for (status, body, expected) in cases {
            assert_eq!(
                destination_outcome(status, body),
                expected,
                "{status} {body}"
            );
        }
        assert_eq!(
            destination_outcome(502, &format!("Next node not found: {id}")),
            NodeNotFound(NodeId([0xab; 32]))
        );
        assert_eq!(
            destination_outcome(502, &format!("Next node is currently unreachable: {id}\n")),
            NodeNotFound(NodeId([0xab; 32]))
        );
        assert_eq!(
            destination_outcome(502, "Next node not found: zz"),
            NodeFailure
        );
    }

    #[test]
    fn replies_parse_json_or_keep_text() {
        let ok = RpcReply::from_http(200, br#"{"t":1700000000000,"hf":[19,4]}"#);
        assert_eq!(ok.network_time(), Some(1_700_000_000_000));
        assert!(ok.is_success());
        let error = RpcReply::from_http(401, b"retrieve signature verification failed");
        assert_eq!(error.text(), "retrieve signature verification failed");
        assert_eq!(error.network_time(), None);
        let not_utf8 = RpcReply::from_http(500, b"\xff");
        assert_eq!(not_utf8.text(), "\u{fffd}");
        // A failed answer's `t` is not network time.
        assert_eq!(
            RpcReply::from_http(421, br#"{"t":1700000000000}"#).network_time(),
            None
        );
        assert_eq!(
            RpcReply::from_http(200, br#"{"t":-5}"#).network_time(),
            None
        );
    }

    #[test]
    fn request_bodies_are_method_and_params() {
        let body = RpcRequest::new("info", serde_json::json!({})).to_body();
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            serde_json::json!({"method": "info", "params": {}})
        );
    }
}
