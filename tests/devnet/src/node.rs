//! A service node: its keys, certificate, message store and faults, and the HTTPS endpoints it
//! answers (`/storage_rpc/v1`, `/onion_req/v2`, and the internal swarm-replication endpoint).
//!
//! Faults are applied here, at the entry of every request, before routing.

use std::sync::Arc;

use serde_json::json;
use tracing::Instrument as _;

use crate::client::HttpsClient;
use crate::clock::Clock;
use crate::config::Timeouts;
use crate::faults::Faults;
use crate::http::{Handler, Outcome, Reply, Request};
use crate::keys::ServerKeys;
use crate::rpc::params::Owner;
use crate::store::Store;
use crate::tls::CertKey;
use crate::topology::{NodeInfo, Topology};

/// Where swarm peers send copies of recursive requests (OxenMQ `sn.storage_cc` on the real
/// network).
pub(crate) const STORAGE_CC_PATH: &str = "/devnet/storage_cc";

/// What every node shares: the network's view of itself.
#[derive(Debug)]
pub(crate) struct NetContext {
    /// Node list and swarm membership.
    pub topology: Topology,
    /// The devnet clock (nodes add their own skew).
    pub clock: Clock,
    /// Node-to-node and node-to-server HTTP(S).
    pub client: HttpsClient,
    /// How long relays and replication wait.
    pub timeouts: Timeouts,
    /// The block height nodes report (`ifelse`, seed).
    pub height: u64,
}

/// One service node.
#[derive(Debug)]
pub(crate) struct Node {
    /// Position in the devnet.
    pub index: usize,
    /// As listed on the network.
    pub info: NodeInfo,
    /// Signs results, opens onion layers.
    pub keys: ServerKeys,
    /// The HTTPS certificate (kept across restarts).
    pub cert: CertKey,
    /// Messages.
    pub store: Store,
    /// Injected misbehaviour.
    pub faults: Faults,
    /// Shared network state.
    pub net: Arc<NetContext>,
}

impl Node {
    /// This node's idea of the time: the devnet clock plus its skew.
    pub fn now(&self) -> i64 {
        self.net
            .clock
            .now_ms()
            .saturating_add(self.faults.skew_ms())
    }

    /// Whether `owner`'s messages belong on this node's swarm.
    pub fn owns(&self, owner: &Owner) -> bool {
        self.net.topology.is_pubkey_for(self.index, &owner.0)
    }
}

/// The HTTPS handler of a node.
pub(crate) struct NodeHandler {
    /// The node answering.
    pub node: Arc<Node>,
}

impl Handler for NodeHandler {
    async fn handle(&self, request: Request) -> Outcome {
        let node = self.node.clone();
        let span = tracing::debug_span!("node", index = node.index, path = %request.path);
        async move {
            if node.faults.should_drop() {
                tracing::debug!("dropping request (fault)");
                return Outcome::Drop;
            }
            let faults = node.faults.snapshot();
            if !faults.slow.is_zero() {
                tokio::time::sleep(faults.slow).await;
            }
            if let Some(status) = faults.fail_status {
                return Outcome::Reply(Reply::text(status, "devnet: injected failure"));
            }
            Outcome::Reply(route(node, request).await)
        }
        .instrument(span)
        .await
    }
}

async fn route(node: Arc<Node>, request: Request) -> Reply {
    let post = request.method == http::Method::POST;
    match (post, request.path.as_str()) {
        (true, "/storage_rpc/v1") => {
            if request.headers.contains_key("x-loki-long-poll") {
                return Reply::text(
                    410,
                    "long polling is no longer supported, client upgrade required",
                );
            }
            crate::rpc::process_body(node, &request.body, true)
                .await
                .to_reply()
        }
        (true, "/onion_req/v2") => crate::onion::handle(node, &request.body).await,
        (true, STORAGE_CC_PATH) => crate::rpc::process_body(node, &request.body, false)
            .await
            .to_reply(),
        (true, "/ping_test/v1") => Reply::text(200, ""),
        (false, "/get_stats/v1") if request.method == http::Method::GET => {
            Reply::json(200, &json!({"version": "2.8.0"}))
        }
        _ => Reply::text(
            404,
            format!("{} {} Not Found", request.method, request.path),
        ),
    }
}
