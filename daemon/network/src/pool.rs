//! The service-node pool: every node the client may use, with failure counters (§3.1, §3.9).
//!
//! The pool comes from a seed at first start ([`crate::seed::fetch_from_seeds`]), from the
//! daemon's saved snapshot afterwards ([`Pool::from_snapshot`]), and is refreshed from the
//! nodes themselves ([`refresh_from_nodes`]): 3 random nodes are asked for the node list and the
//! answer is accepted only if they agree on at least [`Policy::refresh_agreement`] nodes.
//!
//! Failure bookkeeping: a node that fails [`Policy::failure_threshold`] times is dropped;
//! `502 Next node not found` drops it at once; adopting a fresh list resets every counter. A
//! pool of [`Policy::min_pool_size`] nodes or fewer is too small to build paths from and must be
//! reloaded. The pool is plain data and does no I/O: persisting it is the daemon's job.

use std::collections::HashMap;

use futures_util::future::join_all;
use rand::CryptoRng;
use rand::seq::IndexedRandom;
use tracing::Instrument;

use crate::error::{Malformed, NetworkError};
use crate::node::{NodeId, SeenNodes, ServiceNode, parse_node_list_json};
use crate::policy::Policy;
use crate::rpc::{NodeRpc, RpcRequest};

/// The service nodes the client knows, with their failure counts.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The nodes, without duplicates (by key or address).
    nodes: Vec<ServiceNode>,
    /// Failures counted against nodes since the last fresh list; absent = 0.
    failures: HashMap<NodeId, u32>,
    /// Thresholds.
    policy: Policy,
}

/// What counting one failure did to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCount {
    /// The node stays, with this many failures.
    Counted(u32),
    /// The node reached the threshold and was removed from the pool.
    Dropped,
    /// The node is not in the pool (already dropped, or never there).
    NotInPool,
}

impl Pool {
    /// An empty pool.
    pub fn new(policy: &Policy) -> Pool {
        Pool::from_snapshot(Vec::new(), policy)
    }

    /// A pool of `nodes` (a saved snapshot or a fresh list); duplicates are dropped.
    pub fn from_snapshot(nodes: Vec<ServiceNode>, policy: &Policy) -> Pool {
        let mut pool = Pool {
            nodes: Vec::new(),
            failures: HashMap::new(),
            policy: policy.clone(),
        };
        pool.replace(nodes);
        pool
    }

    /// The nodes, to persist or display.
    pub fn snapshot(&self) -> Vec<ServiceNode> {
        self.nodes.clone()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[ServiceNode] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node with this key.
    pub fn get(&self, id: &NodeId) -> Option<&ServiceNode> {
        self.nodes.iter().find(|n| n.ed25519 == *id)
    }

    /// Whether the node with this key is in the pool.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.get(id).is_some()
    }

    /// Whether the pool is too small to build paths from and must be reloaded (from the saved
    /// snapshot or a seed): `len() <= min_pool_size`.
    pub fn is_too_small(&self) -> bool {
        self.nodes.len() <= self.policy.min_pool_size
    }

    /// Adopts a fresh node list (from a seed or an accepted refresh): replaces every node and
    /// resets every failure counter.
    pub fn replace(&mut self, nodes: Vec<ServiceNode>) {
        let mut seen = SeenNodes::default();
        self.nodes = nodes.into_iter().filter(|n| seen.insert(n)).collect();
        self.failures.clear();
    }

    /// Failures currently counted against a node.
    pub fn failures(&self, id: &NodeId) -> u32 {
        self.failures.get(id).copied().unwrap_or(0)
    }

    /// Counts one failure against a node; at the threshold it is removed.
    pub fn record_failure(&mut self, id: &NodeId) -> FailureCount {
        if !self.contains(id) {
            return FailureCount::NotInPool;
        }
        let count = self.failures.entry(*id).or_insert(0);
        *count = count.saturating_add(1);
        if *count >= self.policy.failure_threshold {
            self.remove(id);
            FailureCount::Dropped
        } else {
            FailureCount::Counted(*count)
        }
    }

    /// Removes a node at once (for example `502 Next node not found`). Returns it if it was
    /// there.
    pub fn remove(&mut self, id: &NodeId) -> Option<ServiceNode> {
        self.failures.remove(id);
        let index = self.nodes.iter().position(|n| n.ed25519 == *id)?;
        let node = self.nodes.remove(index);
        tracing::info!(node = ?node, remaining = self.nodes.len(), "service node dropped from the pool");
        Some(node)
    }

    /// Forgets every failure count (after a successful refresh).
    pub fn reset_failures(&mut self) {
        self.failures.clear();
    }

    /// `policy.refresh_sources` distinct random nodes to ask for the node list. Fails when the
    /// pool is too small to be worth asking (it must be reloaded from a seed instead).
    pub fn refresh_sources<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<Vec<ServiceNode>, NetworkError> {
        if self.is_too_small() || self.nodes.len() < self.policy.refresh_sources {
            return Err(NetworkError::NotEnoughNodes {
                what: "a pool refresh from service nodes",
                have: self.nodes.len(),
                need: (self.policy.min_pool_size + 1).max(self.policy.refresh_sources),
            });
        }
        Ok(self
            .nodes
            .sample(rng, self.policy.refresh_sources)
            .cloned()
            .collect())
    }
}

/// The `oxend_request` that asks a node for the active node list (§3.1), with the fields the
/// pool keeps (including `swarm_id`).
pub fn get_service_nodes_request() -> RpcRequest {
    RpcRequest::new(
        "oxend_request",
        serde_json::json!({
            "endpoint": "get_service_nodes",
            "params": {
                "active_only": true,
                "fields": {
                    "public_ip": true,
                    "storage_port": true,
                    "pubkey_x25519": true,
                    "pubkey_ed25519": true,
                    "swarm_id": true,
                }
            }
        }),
    )
}

/// Asks one node for the node list.
pub async fn fetch_node_list<R: NodeRpc>(
    rpc: &R,
    node: &ServiceNode,
    policy: &Policy,
) -> Result<Vec<ServiceNode>, NetworkError> {
    const REQUEST: &str = "oxend_request get_service_nodes";
    let reply = rpc
        .call(node, &get_service_nodes_request(), policy.rpc_timeout)
        .await?;
    if !reply.is_success() {
        return Err(NetworkError::status(
            node.peer(),
            REQUEST,
            reply.status,
            reply.text().as_bytes(),
        ));
    }
    let malformed = |problem| NetworkError::Malformed {
        peer: node.peer(),
        request: REQUEST,
        problem,
    };
    let json = reply.json().ok_or_else(|| malformed(Malformed::NotJson))?;
    let list = parse_node_list_json(json).map_err(malformed)?;
    if list.nodes.is_empty() {
        return Err(malformed(Malformed::Empty {
            what: "service node",
        }));
    }
    Ok(list.nodes)
}

/// The nodes every list agrees on: same address (ip and port, the rule of §3.1) and, as a
/// stricter check than desktop's, the same keys, so that one lying node cannot slip a wrong key
/// in. Fails unless at least `needed` nodes are common. Keeps the first list's order and
/// records.
pub fn intersect_node_lists(
    lists: &[Vec<ServiceNode>],
    needed: usize,
) -> Result<Vec<ServiceNode>, NetworkError> {
    let Some((first, others)) = lists.split_first() else {
        return Err(NetworkError::NoAgreement { common: 0, needed });
    };
    let common: Vec<ServiceNode> = first
        .iter()
        .filter(|node| {
            others.iter().all(|list| {
                list.iter().any(|other| {
                    other.addr() == node.addr()
                        && other.ed25519 == node.ed25519
                        && other.x25519 == node.x25519
                })
            })
        })
        .cloned()
        .collect();
    if common.len() < needed {
        return Err(NetworkError::NoAgreement {
            common: common.len(),
            needed,
        });
    }
    Ok(common)
}

/// One refresh attempt: asks every node of `sources` (from [`Pool::refresh_sources`]) for the
/// node list at once and returns the nodes they agree on. Any failing source fails the attempt,
/// as in desktop; the caller retries (4 attempts) and then falls back to a seed, and adopts a
/// success with [`Pool::replace`] (which resets the failure counters).
pub async fn refresh_from_nodes<R: NodeRpc>(
    rpc: &R,
    sources: &[ServiceNode],
    policy: &Policy,
) -> Result<Vec<ServiceNode>, NetworkError> {
    let span = tracing::info_span!("pool_refresh", sources = sources.len());
    async {
        let answers = join_all(
            sources
                .iter()
                .map(|node| fetch_node_list(rpc, node, policy)),
        )
        .await;
        let lists = answers.into_iter().collect::<Result<Vec<_>, _>>()?;
        let common = intersect_node_lists(&lists, policy.refresh_agreement)?;
        tracing::info!(
            common = common.len(),
            "service nodes agree on the node list"
        );
        Ok(common)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::testing::{TestRng, test_node};

    fn nodes(range: std::ops::Range<u8>) -> Vec<ServiceNode> {
        range.map(test_node).collect()
    }

    #[test]
    fn three_failures_drop_a_node_and_a_fresh_list_resets_counts() {
        let policy = Policy::mainnet();
        let mut pool = Pool::from_snapshot(nodes(0..12), &policy);
        let id = test_node(3).ed25519;
        assert_eq!(pool.record_failure(&id), FailureCount::Counted(1));
        assert_eq!(pool.record_failure(&id), FailureCount::Counted(2));
        pool.replace(nodes(0..12));
        assert_eq!(pool.failures(&id), 0);
        assert_eq!(pool.record_failure(&id), FailureCount::Counted(1));
        assert_eq!(pool.record_failure(&id), FailureCount::Counted(2));
        assert_eq!(pool.record_failure(&id), FailureCount::Dropped);
        assert!(!pool.contains(&id));
        assert_eq!(pool.len(), 11);
        assert_eq!(pool.record_failure(&id), FailureCount::NotInPool);
    }

    #[test]
    fn a_pool_of_eight_or_fewer_nodes_is_too_small() {
        let policy = Policy::mainnet();
        assert!(Pool::from_snapshot(nodes(0..8), &policy).is_too_small());
        assert!(!Pool::from_snapshot(nodes(0..9), &policy).is_too_small());
        let mut rng = TestRng::new(1);
        assert!(matches!(
            Pool::from_snapshot(nodes(0..8), &policy).refresh_sources(&mut rng),
            Err(NetworkError::NotEnoughNodes { have: 8, .. })
        ));
        let sources = Pool::from_snapshot(nodes(0..9), &policy)
            .refresh_sources(&mut rng)
            .unwrap();
        assert_eq!(sources.len(), 3);
        assert!(sources[0] != sources[1] && sources[1] != sources[2] && sources[0] != sources[2]);
    }

    #[test]
    fn snapshots_round_trip_without_duplicates() {
        let policy = Policy::mainnet();
        let mut list = nodes(0..5);
        list.push(test_node(2)); // same key
        let mut same_addr = test_node(40);
        same_addr.ip = test_node(1).ip;
        same_addr.storage_port = test_node(1).storage_port;
        list.push(same_addr);
        let pool = Pool::from_snapshot(list, &policy);
        assert_eq!(pool.snapshot(), nodes(0..5));
        assert_eq!(
            Pool::from_snapshot(pool.snapshot(), &policy).snapshot(),
            nodes(0..5)
        );
    }

    #[test]
    fn refresh_intersection_needs_the_agreement_by_address_and_keys() {
        let a = nodes(0..30);
        let mut b = nodes(2..32);
        b.reverse();
        let c = nodes(1..28);
        // Common: 2..28 = 26 nodes.
        let common = intersect_node_lists(&[a.clone(), b.clone(), c.clone()], 24).unwrap();
        assert_eq!(common, nodes(2..28));
        assert!(matches!(
            intersect_node_lists(&[a.clone(), b.clone(), c.clone()], 27),
            Err(NetworkError::NoAgreement {
                common: 26,
                needed: 27
            })
        ));
        // One list moves node 5 to another address, and lies about node 6's key.
        let mut c2 = c.clone();
        c2[4].ip = Ipv4Addr::new(9, 9, 9, 9);
        c2[5].x25519 = [0xee; 32];
        let common = intersect_node_lists(&[a, b, c2], 24).unwrap();
        assert_eq!(common.len(), 24);
        assert!(!common.iter().any(|n| n.ed25519 == test_node(5).ed25519));
        assert!(!common.iter().any(|n| n.ed25519 == test_node(6).ed25519));
        assert!(intersect_node_lists(&[], 0).is_err());
    }

    /// Virtual (paused tokio time): bounds stuck futures without waiting.
    const TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

    /// A fake node answering `oxend_request get_service_nodes` with `list`, at time `t`.
    fn lists_nodes(
        net: &crate::testing::FakeNetwork,
        at: &ServiceNode,
        list: Vec<ServiceNode>,
        t: u64,
    ) {
        net.add_node(at, move |request| {
            let json = request.json().unwrap_or_default();
            assert_eq!(json["method"], "oxend_request");
            let states: Vec<serde_json::Value> =
                list.iter().map(crate::testing::node_state_json).collect();
            crate::testing::FakeReply::json(
                200,
                &serde_json::json!({"result": {"service_node_states": states}, "t": t, "hf": [19, 4]}),
            )
        });
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_accepts_the_nodes_three_sources_agree_on() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let start = 1_700_000_000_000;
            let clock = crate::clock::Clock::manual(start);
            let net = crate::testing::FakeNetwork::new(clock.clone());
            let rpc = crate::rpc::DirectRpc::new(net.clone(), clock.clone());
            // A 12-node devnet: the agreement is capped at 12.
            let policy = Policy::local(12);
            let all = nodes(0..12);
            lists_nodes(&net, &all[0], all.clone(), start - 50);
            lists_nodes(&net, &all[1], all.clone(), start - 50);
            lists_nodes(&net, &all[2], all.clone(), start - 50);
            let common = refresh_from_nodes(&rpc, &all[..3], &policy).await.unwrap();
            assert_eq!(common, all);
            // Each answer's `t` went into the network clock.
            assert_eq!(clock.network_offset_ms(), 50);

            // One source knows only 11 of them: no agreement on 12.
            lists_nodes(&net, &all[2], nodes(0..11), start);
            assert!(matches!(
                refresh_from_nodes(&rpc, &all[..3], &policy).await,
                Err(NetworkError::NoAgreement {
                    common: 11,
                    needed: 12
                })
            ));
            // On mainnet rules 24 common nodes are needed.
            assert!(matches!(
                refresh_from_nodes(&rpc, &all[..2], &Policy::mainnet()).await,
                Err(NetworkError::NoAgreement {
                    common: 12,
                    needed: 24
                })
            ));
            // A source that fails fails the attempt.
            net.add_node(&all[1], |_| {
                crate::testing::FakeReply::text(503, "Snode not ready")
            });
            assert!(matches!(
                refresh_from_nodes(&rpc, &all[..3], &policy).await,
                Err(NetworkError::Status { status: 503, .. })
            ));
        })
        .await
        .unwrap();
    }

    #[test]
    fn the_refresh_request_is_an_oxend_get_service_nodes() {
        let request = get_service_nodes_request();
        assert_eq!(request.method, "oxend_request");
        assert_eq!(request.params["endpoint"], "get_service_nodes");
        assert_eq!(request.params["params"]["active_only"], true);
        assert_eq!(request.params["params"]["fields"]["swarm_id"], true);
    }
}
