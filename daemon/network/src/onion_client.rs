//! Storage RPCs through onion paths: the production [`NodeRpc`] (protocol.md §4.3, §4.4).
//!
//! For each call [`OnionRpc`] picks a random path that does not contain the destination, wraps
//! the RPC in one layer per hop with `sessiond_protocol::onion::build`, POSTs it to the guard's
//! `/onion_req/v2` and reads the answer with the request's layer keys. What comes back is sorted
//! *before* anything is decrypted (§11 pitfall 8):
//! - no answer, or a plaintext non-200 answer: a path failure (§4.1), except
//!   `502 Next node not found: <ed25519>`, which drops that node at once; a plaintext error
//!   (as opposed to no answer from the guard) also counts one failure against the destination,
//!   which may be the node the last hop could not reach;
//! - a 200 that one of the hops' keys opens (`Invalid json`, `Invalid url`), or that no key
//!   opens: a path failure;
//! - the destination's reply: returned as an [`RpcReply`], whatever its status; its `t` goes into
//!   the [`Clock`]. What the status means for the node and the swarm is the caller's to record
//!   ([`NetworkState::record_reply`]), since only the caller knows the swarm.
//!
//! One attempt per call: retrying on another node or path is the caller's decision
//! ([`NetworkError::retry_after`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::CryptoRng;
use sessiond_protocol::onion::{self, Destination, EncType, OnionError, OnionResponse};
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::NetworkError;
use crate::node::{NodeId, ServiceNode};
use crate::path::OnionPath;
use crate::rpc::{NodeRpc, RpcReply, RpcRequest};
use crate::state::NetworkState;
use crate::transport::Transport;

/// The guard's onion endpoint.
pub const ONION_REQUEST_PATH: &str = "/onion_req/v2";

/// Storage RPCs sent through the onion paths of a shared [`NetworkState`].
pub struct OnionRpc<T, R> {
    /// How the guard is reached.
    transport: T,
    /// Where `t` goes.
    clock: Clock,
    /// Paths to use, and where failures are recorded.
    state: Arc<Mutex<NetworkState>>,
    /// Ephemeral keys, nonces and path choice.
    rng: Mutex<R>,
    /// The layers' cipher (desktop: AES-GCM).
    enc_type: EncType,
}

impl<T, R> std::fmt::Debug for OnionRpc<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnionRpc")
            .field("enc_type", &self.enc_type)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical section
/// here is a single bookkeeping step).
fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Transport, R: CryptoRng + Send> OnionRpc<T, R> {
    /// Onion RPCs over `transport` through the paths of `state`, with AES-GCM layers (what the
    /// official desktop client uses).
    pub fn new(
        transport: T,
        clock: Clock,
        state: Arc<Mutex<NetworkState>>,
        rng: R,
    ) -> OnionRpc<T, R> {
        OnionRpc {
            transport,
            clock,
            state,
            rng: Mutex::new(rng),
            enc_type: EncType::AesGcm,
        }
    }

    /// The same, with another layer cipher (libsession uses XChaCha20).
    pub fn with_enc_type(self, enc_type: EncType) -> OnionRpc<T, R> {
        OnionRpc { enc_type, ..self }
    }

    /// The shared state (pool, paths, swarms).
    pub fn state(&self) -> &Arc<Mutex<NetworkState>> {
        &self.state
    }

    /// Records a path failure against `path` (§4.1).
    fn path_failed(&self, path: &OnionPath) {
        let mut rng = lock(&self.rng);
        let outcome = lock(&self.state).path_failed(&path.guard.ed25519, &mut *rng);
        tracing::info!(guard = ?path.guard, ?outcome, "path failure recorded");
    }

    /// Counts one failure against the destination of a request that failed in its path.
    fn destination_failed(&self, node: &ServiceNode) {
        let mut rng = lock(&self.rng);
        lock(&self.state).node_failed(&node.ed25519, None, &mut *rng);
    }

    /// Drops a node reported `Next node not found` (pool, path; swarms through the pool).
    fn node_not_found(&self, id: &NodeId) {
        let mut rng = lock(&self.rng);
        lock(&self.state).node_not_found(id, None, &mut *rng);
    }

    /// [`NodeRpc::call`] for a retry: the path is chosen among those whose guard appears least
    /// often in `avoid` (the guards of the paths this request already failed through).
    /// Returns the guard of the path used (`None` if no path was), with the result.
    pub async fn call_avoiding(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        timeout: Duration,
        avoid: &[NodeId],
    ) -> (Option<NodeId>, Result<RpcReply, NetworkError>) {
        let span = tracing::debug_span!("onion_rpc", method = request.method, node = %node.ed25519.short());
        let mut guard = None;
        let result = self
            .call_inner(node, request, timeout, avoid, &mut guard)
            .instrument(span)
            .await;
        (guard, result)
    }

    async fn call_inner(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        timeout: Duration,
        avoid: &[NodeId],
        used_guard: &mut Option<NodeId>,
    ) -> Result<RpcReply, NetworkError> {
        let method = request.method;
        let (path, body, keys) = {
            let mut rng = lock(&self.rng);
            let path = lock(&self.state)
                .paths
                .pick_avoiding(&mut *rng, Some(&node.ed25519), avoid)?
                .clone();
            *used_guard = Some(path.guard.ed25519);
            let built = onion::build(
                &path.onion_hops(),
                &Destination::ServiceNode(node.hop()),
                &request.to_body(),
                self.enc_type,
                &mut *rng,
            )
            .map_err(|source| NetworkError::Onion {
                peer: node.peer(),
                request: method,
                source,
            })?;
            let (body, keys) = built.into_parts();
            (path, body, keys)
        };
        let guard = &path.guard;
        let response = match self
            .transport
            .post_node(guard, ONION_REQUEST_PATH, body, timeout)
            .await
        {
            Ok(response) => response,
            Err(source) => {
                self.path_failed(&path);
                return Err(NetworkError::Transport {
                    peer: guard.peer(),
                    request: method,
                    source,
                });
            }
        };
        match keys.decrypt(response.status, &response.body) {
            Ok(OnionResponse::ServiceNode(reply)) => {
                let reply = RpcReply::from_http(reply.status, reply.body.as_bytes());
                if let Some(t) = reply.network_time() {
                    self.clock.record_network_time(t);
                }
                tracing::debug!(status = reply.status, "onion rpc answered");
                Ok(reply)
            }
            Ok(OnionResponse::PlaintextError(error)) => {
                match error.unreachable_node() {
                    Some(missing) => {
                        tracing::info!(node = %NodeId(missing).short(), "next node not found");
                        self.node_not_found(&NodeId(missing));
                    }
                    None => {
                        // A relay failed, or the last hop could not reach the destination
                        // (`504 Request time out`): we cannot tell which. The path is booked as
                        // §4.1 says, and the destination gets one failure too (desktop leaves
                        // it out), so that a dead destination leaves the pool instead of
                        // failing path after path.
                        self.path_failed(&path);
                        self.destination_failed(node);
                    }
                }
                Err(NetworkError::status(
                    guard.peer(),
                    method,
                    error.status,
                    error.body.as_bytes(),
                ))
            }
            Ok(OnionResponse::HopError(error)) => {
                // A hop opened its layer but refused it: the path is at fault, not the node.
                self.path_failed(&path);
                let hop = path.hops().nth(error.hop).unwrap_or(guard);
                Err(NetworkError::status(
                    hop.peer(),
                    method,
                    error.status,
                    error.body.as_bytes(),
                ))
            }
            Ok(OnionResponse::Server(_) | OnionResponse::LegacyServer(_)) => Err(
                NetworkError::internal("server-framed answer to a service-node request"),
            ),
            Err(source) => {
                if matches!(source, OnionError::UndecryptableResponse { .. }) {
                    self.path_failed(&path);
                }
                Err(NetworkError::Onion {
                    peer: guard.peer(),
                    request: method,
                    source,
                })
            }
        }
    }
}

impl<T: Transport, R: CryptoRng + Send> NodeRpc for OnionRpc<T, R> {
    async fn call(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        timeout: Duration,
    ) -> Result<RpcReply, NetworkError> {
        self.call_avoiding(node, request, timeout, &[]).await.1
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::path::{OnionPath, PathSet};
    use crate::policy::Policy;
    use crate::pool::Pool;
    use crate::swarm::SwarmCache;
    use crate::testing::{FakeNetwork, FakeOnionNetwork, TestRng};

    /// Virtual (paused tokio time): bounds stuck futures without waiting.
    const TEST_TIMEOUT: Duration = Duration::from_secs(3600);
    const START: u64 = 1_700_000_000_000;

    struct World {
        clock: Clock,
        net: FakeNetwork,
        onion: FakeOnionNetwork,
        nodes: Vec<ServiceNode>,
        rpc: OnionRpc<FakeNetwork, TestRng>,
    }

    /// 20 onion nodes answering `info` with their time (1 s behind us); paths [0, 1, 2] and
    /// [3, 4, 5].
    fn world() -> World {
        let clock = Clock::manual(START);
        let net = FakeNetwork::new(clock.clone());
        let onion = FakeOnionNetwork::new(net.clone());
        let time = clock.clone();
        let nodes: Vec<ServiceNode> = (0..20)
            .map(|n| {
                let time = time.clone();
                onion.add(n, move |request: &Value| match request["method"].as_str() {
                    Some("info") => (
                        200,
                        serde_json::json!({"version": [2, 8, 0], "timestamp": time.now_ms() - 1000,
                                           "t": time.now_ms() - 1000, "hf": [19, 4]})
                        .to_string(),
                    ),
                    _ => (400, "no method".to_owned()),
                })
            })
            .collect();
        let policy = Policy::mainnet();
        let path = |a: usize, b: usize, c: usize| OnionPath {
            guard: nodes[a].clone(),
            relays: vec![nodes[b].clone(), nodes[c].clone()],
        };
        let paths = PathSet::from_parts(
            vec![nodes[0].clone(), nodes[3].clone()],
            vec![path(0, 1, 2), path(3, 4, 5)],
        );
        let state = NetworkState::from_parts(
            Pool::from_snapshot(nodes.clone(), &policy),
            paths,
            SwarmCache::new(),
            &policy,
        );
        let rpc = OnionRpc::new(
            net.clone(),
            clock.clone(),
            Arc::new(Mutex::new(state)),
            TestRng::new(11),
        );
        World {
            clock,
            net,
            onion,
            nodes,
            rpc,
        }
    }

    fn info() -> RpcRequest {
        RpcRequest::new("info", serde_json::json!({}))
    }

    #[tokio::test(start_paused = true)]
    async fn an_rpc_crosses_three_hops_and_its_time_feeds_the_clock() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            for enc_type in [EncType::AesGcm, EncType::XChaCha20] {
                let w = world();
                let rpc = w.rpc.with_enc_type(enc_type);
                let destination = &w.nodes[10];
                let reply = rpc
                    .call(destination, &info(), Duration::from_secs(10))
                    .await
                    .unwrap();
                assert_eq!(reply.status, 200);
                assert_eq!(
                    reply.json().unwrap()["version"],
                    serde_json::json!([2, 8, 0])
                );
                assert_eq!(w.clock.network_offset_ms(), 1000);
                // Only a guard was contacted, at its onion endpoint; the destination never
                // saw a direct connection.
                let log = w.net.log();
                assert_eq!(log.len(), 1);
                assert_eq!(log[0].1.path, ONION_REQUEST_PATH);
                assert_eq!(w.net.requests_to(destination), 0);
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_path_containing_the_destination_is_not_used() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let w = world();
            for _ in 0..10 {
                w.rpc
                    .call(&w.nodes[1], &info(), Duration::from_secs(10))
                    .await
                    .unwrap();
            }
            // Node 1 is in the first path: every request went to the other guard.
            assert_eq!(w.net.requests_to(&w.nodes[0]), 0);
            assert_eq!(w.net.requests_to(&w.nodes[3]), 10);
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_relayed_timeout_counts_against_the_path_its_relays_and_the_destination() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let w = world();
            // Node 1 is in the first path, so the request takes the second one, whose guard
            // answers as a hop that could not reach the next node.
            w.net.add_node(&w.nodes[3], |_| {
                crate::testing::FakeReply::text(504, "Request time out")
            });
            let error = w
                .rpc
                .call(&w.nodes[1], &info(), Duration::from_secs(10))
                .await
                .unwrap_err();
            assert!(
                matches!(error, NetworkError::Status { status: 504, .. }),
                "{error}"
            );
            let state = lock(w.rpc.state());
            assert_eq!(state.paths.failures(&w.nodes[3].ed25519), 1);
            assert_eq!(state.pool.failures(&w.nodes[4].ed25519), 1);
            assert_eq!(state.pool.failures(&w.nodes[5].ed25519), 1);
            assert_eq!(
                state.pool.failures(&w.nodes[1].ed25519),
                1,
                "the destination"
            );
            assert_eq!(
                state.pool.failures(&w.nodes[3].ed25519),
                0,
                "guards count per path"
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn next_node_not_found_drops_the_missing_relay_at_once() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let w = world();
            // Node 4 (a relay of the second path) disappears; use only that path.
            w.onion.set_online(&w.nodes[4].ed25519, false);
            let error = w
                .rpc
                .call(&w.nodes[1], &info(), Duration::from_secs(10))
                .await
                .unwrap_err();
            assert!(
                matches!(error, NetworkError::Status { status: 502, .. }),
                "{error}"
            );
            {
                let state = lock(w.rpc.state());
                assert!(!state.pool.contains(&w.nodes[4].ed25519));
                let second = &state.paths.paths()[1];
                assert!(!second.contains(&w.nodes[4].ed25519));
                assert_eq!(second.relays.len(), 2, "replaced in its path");
                assert_eq!(state.paths.failures(&w.nodes[3].ed25519), 0, "not counted");
            }
            // The repaired path works.
            let reply = w
                .rpc
                .call(&w.nodes[1], &info(), Duration::from_secs(10))
                .await
                .unwrap();
            assert_eq!(reply.status, 200);
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_guard_that_stops_answering_loses_its_path_after_three_failures() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let w = world();
            let guard = w.nodes[3].clone();
            w.net.add_node(&guard, |_| crate::testing::FakeReply::Hang);
            for attempt in 1..=3u32 {
                let error = w
                    .rpc
                    .call(&w.nodes[1], &info(), Duration::from_secs(10))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(error, NetworkError::Transport { .. }),
                    "attempt {attempt}: {error}"
                );
                assert_eq!(error.retry_after(), Some(Duration::ZERO));
            }
            {
                let state = lock(w.rpc.state());
                assert!(!state.pool.contains(&guard.ed25519));
                assert_eq!(state.paths.paths().len(), 1);
                assert!(state.needs_path_rebuild());
            }
            // Node 1 is in the only path left: no path for it until the rebuild.
            assert!(matches!(
                w.rpc
                    .call(&w.nodes[1], &info(), Duration::from_secs(10))
                    .await,
                Err(NetworkError::NoPath {
                    excluding_destination: true
                })
            ));
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn destination_statuses_are_returned_not_counted() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let w = world();
            let reply = w
                .rpc
                .call(
                    &w.nodes[10],
                    &RpcRequest::new("retrieve", serde_json::json!({})),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            assert_eq!(reply.status, 400);
            assert_eq!(reply.text(), "no method");
            let state = lock(w.rpc.state());
            assert_eq!(state.pool.failures(&w.nodes[10].ed25519), 0);
            assert_eq!(state.paths.failures(&w.nodes[0].ed25519), 0);
            assert_eq!(state.paths.failures(&w.nodes[3].ed25519), 0);
        })
        .await
        .unwrap();
    }
}
