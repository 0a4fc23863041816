//! What failures do to the pool, the paths and the swarms, together (§3.9, §4.1, §4.4).
//!
//! The three structures are plain data and each knows its own rules; a failure usually touches
//! several of them (a node dropped from the pool must also leave its path and the swarm the
//! request was for). [`NetworkState`] holds all three and applies the desktop client's
//! bookkeeping in one place, synchronously: the onion client locks it, records what happened,
//! and asks whether paths must be rebuilt or the pool reloaded.
//!
//! The rules:
//! - a *node failure* (a destination status §3.9 counts, or a relay of a failed path) adds one
//!   to the node's counter; at [`Policy::failure_threshold`] the node leaves the pool, the
//!   request's swarm and its path (a relay is replaced by a random untested node, a guard takes
//!   its path with it);
//! - `502 Next node not found` drops the named node at once, the same way;
//! - a *path failure* counts one node failure against each relay and one against the path; at
//!   the threshold the path and its guard are dropped (guard out of the pool too) and the path
//!   set must be rebuilt;
//! - a `421` replaces the request's swarm with the one in the body and counts one failure
//!   against the node that answered;
//! - adopting a fresh node list resets every node and path counter.

use rand::CryptoRng;
use serde_json::Value;
use sessiond_protocol::storage_auth::SwarmPubkey;

use crate::error::Malformed;
use crate::node::{NodeId, ServiceNode};
use crate::path::PathSet;
use crate::policy::Policy;
use crate::pool::{FailureCount, Pool};
use crate::rpc::{DestinationOutcome, RpcReply, destination_outcome};
use crate::swarm::{SwarmCache, parse_swarm};

/// The client's view of the network: pool, paths and swarms.
#[derive(Debug, Clone)]
pub struct NetworkState {
    /// Every usable service node.
    pub pool: Pool,
    /// Guards and onion paths.
    pub paths: PathSet,
    /// Swarm members per pubkey.
    pub swarms: SwarmCache,
    /// Thresholds.
    policy: Policy,
}

/// What a path failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFailure {
    /// The path stays, with this many failures.
    Counted(u32),
    /// The path and its guard were dropped: rebuild the path set.
    PathDropped,
    /// No path starts with that guard (it was dropped already).
    UnknownPath,
}

impl NetworkState {
    /// An empty state: no nodes, no paths, no swarms.
    pub fn new(policy: &Policy) -> NetworkState {
        NetworkState::from_parts(Pool::new(policy), PathSet::new(), SwarmCache::new(), policy)
    }

    /// A state from its parts (for example restored from the daemon's snapshots).
    pub fn from_parts(
        pool: Pool,
        paths: PathSet,
        swarms: SwarmCache,
        policy: &Policy,
    ) -> NetworkState {
        NetworkState {
            pool,
            paths,
            swarms,
            policy: policy.clone(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether the pool is too small and must be reloaded from a seed.
    pub fn needs_seed_reload(&self) -> bool {
        self.pool.is_too_small()
    }

    /// Whether the path set must be rebuilt ([`crate::path::rebuild_path_set`]).
    pub fn needs_path_rebuild(&self) -> bool {
        self.paths.needs_rebuild()
    }

    /// Installs a freshly built path set.
    pub fn install_paths(&mut self, paths: PathSet) {
        self.paths = paths;
    }

    /// Adopts a fresh node list (from a seed or an accepted refresh): replaces the pool and
    /// resets every node and path failure counter. Paths with a hop that is no longer listed
    /// are dropped.
    pub fn adopt_nodes(&mut self, nodes: Vec<ServiceNode>) {
        self.pool.replace(nodes);
        self.paths.reset_failures();
        let gone: Vec<NodeId> = self
            .paths
            .paths()
            .iter()
            .filter(|p| p.hops().any(|h| !self.pool.contains(&h.ed25519)))
            .map(|p| p.guard.ed25519)
            .collect();
        for guard in gone {
            self.paths.drop_path(&guard);
        }
    }

    /// Counts one failure against a node (a destination whose status §3.9 counts, or a relay
    /// of a failed path); at the threshold it leaves the pool, `swarm` and its path.
    pub fn node_failed<R: CryptoRng + ?Sized>(
        &mut self,
        id: &NodeId,
        swarm: Option<&SwarmPubkey>,
        rng: &mut R,
    ) -> FailureCount {
        let outcome = self.pool.record_failure(id);
        if outcome == FailureCount::Dropped {
            self.forget_node(id, swarm, rng);
        }
        outcome
    }

    /// `502 Next node not found: <id>`: drops the node at once, without counting.
    pub fn node_not_found<R: CryptoRng + ?Sized>(
        &mut self,
        id: &NodeId,
        swarm: Option<&SwarmPubkey>,
        rng: &mut R,
    ) {
        self.pool.remove(id);
        self.forget_node(id, swarm, rng);
    }

    /// Removes a node that left the pool from `swarm` and from its path.
    fn forget_node<R: CryptoRng + ?Sized>(
        &mut self,
        id: &NodeId,
        swarm: Option<&SwarmPubkey>,
        rng: &mut R,
    ) {
        if let Some(pubkey) = swarm {
            self.swarms.remove_member(pubkey, id);
        }
        if self.paths.is_guard(id) {
            // A guard out of the pool takes its path with it: promoting the next hop would
            // make an untested node our guard.
            self.paths.drop_path(id);
        } else if let Some((path, relay)) = self.paths.relay_position(id) {
            self.paths
                .replace_relay(path, relay, &self.pool, &self.policy, rng);
        }
    }

    /// A path failed (§4.1: a non-200 guard answer other than the handled cases, no answer, a
    /// timeout): one node failure against each relay, one path failure; at the threshold the
    /// path and its guard are dropped (the guard leaves the pool).
    pub fn path_failed<R: CryptoRng + ?Sized>(
        &mut self,
        guard: &NodeId,
        rng: &mut R,
    ) -> PathFailure {
        let Some(path) = self
            .paths
            .paths()
            .iter()
            .find(|p| p.guard.ed25519 == *guard)
            .cloned()
        else {
            return PathFailure::UnknownPath;
        };
        for relay in &path.relays {
            self.node_failed(&relay.ed25519, None, rng);
        }
        let Some(count) = self.paths.count_failure(guard) else {
            // A relay could not be replaced and the path went with it.
            return PathFailure::PathDropped;
        };
        if count >= self.policy.failure_threshold {
            tracing::warn!(guard = ?path.guard, "path failed {count} times: dropped with its guard");
            self.pool.remove(guard);
            self.paths.drop_path(guard);
            PathFailure::PathDropped
        } else {
            PathFailure::Counted(count)
        }
    }

    /// Applies §3.9 to a destination's reply to a request on `swarm`'s mailbox (if any):
    /// counts a node failure, drops a node reported not found, or replaces the swarm on a
    /// `421` (a 421 whose body is unusable, or without a swarm, counts as a failure only).
    /// Returns what the caller should do next.
    pub fn record_reply<R: CryptoRng + ?Sized>(
        &mut self,
        node: &NodeId,
        swarm: Option<&SwarmPubkey>,
        reply: &RpcReply,
        rng: &mut R,
    ) -> DestinationOutcome {
        let outcome = destination_outcome(reply.status, &reply.text());
        match outcome {
            DestinationOutcome::NodeFailure => {
                self.node_failed(node, swarm, rng);
            }
            DestinationOutcome::NodeNotFound(missing) => self.node_not_found(&missing, swarm, rng),
            DestinationOutcome::Misdirected => match (swarm, reply.json()) {
                (Some(swarm), Some(body)) => {
                    if let Err(problem) = self.misdirected(swarm, node, body, rng) {
                        tracing::info!(%problem, "unusable 421 answer");
                    }
                }
                _ => {
                    self.node_failed(node, swarm, rng);
                }
            },
            DestinationOutcome::Success
            | DestinationOutcome::ClockSkew
            | DestinationOutcome::Refused
            | DestinationOutcome::RateLimited => {}
        }
        outcome
    }

    /// A `421` from `answering` for a request on `swarm`'s mailbox: replaces the cached swarm
    /// with the body's members and counts one failure against `answering`. Returns the good
    /// nodes of the new swarm, to retry on.
    pub fn misdirected<R: CryptoRng + ?Sized>(
        &mut self,
        swarm: &SwarmPubkey,
        answering: &NodeId,
        body: &Value,
        rng: &mut R,
    ) -> Result<Vec<ServiceNode>, Malformed> {
        self.node_failed(answering, Some(swarm), rng);
        let info = parse_swarm(body)?;
        if info.nodes.is_empty() {
            return Err(Malformed::Empty {
                what: "swarm member",
            });
        }
        self.swarms
            .set(*swarm, info.nodes.iter().map(|n| n.ed25519));
        Ok(self.swarms.good_nodes(swarm, &self.pool))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use sessiond_protocol::AccountId;

    use super::*;
    use crate::clock::Clock;
    use crate::path::{OnionPath, rebuild_path_set};
    use crate::testing::{FakeNetwork, FakeReply, TestRng, swarm_member_json, test_node};

    /// Virtual (paused tokio time): see `path::tests::TEST_TIMEOUT`.
    const TEST_TIMEOUT: Duration = Duration::from_secs(3600);

    fn pubkey() -> SwarmPubkey {
        SwarmPubkey::Account(AccountId::from_x25519_public([0x42; 32]))
    }

    /// 20 nodes in their own /24s; paths [0, 1, 2] and [3, 4, 5]; swarm of `pubkey()` =
    /// nodes 10..14.
    fn state() -> NetworkState {
        let policy = Policy::mainnet();
        let pool = Pool::from_snapshot((0..20).map(test_node).collect(), &policy);
        let paths = PathSet::from_parts(
            vec![test_node(0), test_node(3)],
            vec![
                OnionPath {
                    guard: test_node(0),
                    relays: vec![test_node(1), test_node(2)],
                },
                OnionPath {
                    guard: test_node(3),
                    relays: vec![test_node(4), test_node(5)],
                },
            ],
        );
        let mut swarms = SwarmCache::new();
        swarms.set(pubkey(), (10..14).map(|n| test_node(n).ed25519));
        NetworkState::from_parts(pool, paths, swarms, &policy)
    }

    fn id(n: u8) -> NodeId {
        test_node(n).ed25519
    }

    fn in_any_path(state: &NetworkState, n: u8) -> bool {
        state.paths.paths().iter().any(|p| p.contains(&id(n)))
    }

    #[test]
    fn next_node_not_found_drops_a_relay_at_once_and_replaces_it_in_its_path() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        state.node_not_found(&id(2), Some(&pubkey()), &mut rng);
        assert!(!state.pool.contains(&id(2)));
        assert!(!in_any_path(&state, 2));
        let path = &state.paths.paths()[0];
        assert_eq!(path.guard, test_node(0));
        assert_eq!(path.relays.len(), 2);
        assert_eq!(
            path.relays[0],
            test_node(1),
            "the replacement goes at the end"
        );
        let new = &path.relays[1];
        assert!(state.pool.contains(&new.ed25519));
        // Not a node of another path, not a guard, not in a /24 of this path.
        assert!(![0u8, 1, 3, 4, 5].iter().any(|&n| new.ed25519 == id(n)));
        assert!(!path.guard.same_subnet24(new) && !path.relays[0].same_subnet24(new));
        assert!(!state.needs_path_rebuild());
    }

    #[test]
    fn next_node_not_found_drops_a_swarm_member_at_once() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        state.node_not_found(&id(11), Some(&pubkey()), &mut rng);
        assert!(!state.pool.contains(&id(11)));
        assert_eq!(state.swarms.members(&pubkey()).unwrap().len(), 3);
        assert_eq!(state.swarms.good_nodes(&pubkey(), &state.pool).len(), 3);
        // No counting: the other nodes' counters are untouched.
        assert_eq!(state.pool.failures(&id(10)), 0);
    }

    #[test]
    fn a_destination_failing_three_times_leaves_the_pool_and_the_swarm() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        assert_eq!(
            state.node_failed(&id(12), Some(&pubkey()), &mut rng),
            FailureCount::Counted(1)
        );
        state.node_failed(&id(12), Some(&pubkey()), &mut rng);
        assert!(state.swarms.members(&pubkey()).unwrap().contains(&id(12)));
        assert_eq!(
            state.node_failed(&id(12), Some(&pubkey()), &mut rng),
            FailureCount::Dropped
        );
        assert!(!state.pool.contains(&id(12)));
        assert!(!state.swarms.members(&pubkey()).unwrap().contains(&id(12)));
        // Fewer than 3 good nodes would now need a refetch; 3 remain.
        assert_eq!(state.swarms.good_nodes(&pubkey(), &state.pool).len(), 3);
    }

    #[test]
    fn a_guard_dropped_from_the_pool_takes_its_path_with_it() {
        let mut state = state();
        state.node_not_found(&id(3), None, &mut TestRng::new(1));
        assert_eq!(state.paths.paths().len(), 1);
        assert_eq!(state.paths.guard_ids(), vec![id(0)]);
        assert!(state.needs_path_rebuild());
    }

    #[test]
    fn each_path_failure_counts_against_its_relays_and_the_third_drops_path_and_guard() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        assert_eq!(state.path_failed(&id(0), &mut rng), PathFailure::Counted(1));
        assert_eq!(state.pool.failures(&id(1)), 1);
        assert_eq!(state.pool.failures(&id(2)), 1);
        assert_eq!(
            state.pool.failures(&id(0)),
            0,
            "the guard is counted per path"
        );
        assert_eq!(state.path_failed(&id(0), &mut rng), PathFailure::Counted(2));
        assert!(!state.needs_path_rebuild());
        assert_eq!(
            state.path_failed(&id(0), &mut rng),
            PathFailure::PathDropped
        );
        assert!(!state.pool.contains(&id(0)), "the guard leaves the pool");
        assert!(!state.pool.contains(&id(1)) && !state.pool.contains(&id(2)));
        assert_eq!(state.paths.guard_ids(), vec![id(3)]);
        assert!(state.needs_path_rebuild());
        assert_eq!(
            state.path_failed(&id(0), &mut rng),
            PathFailure::UnknownPath
        );
        // The other path is untouched.
        assert_eq!(state.paths.failures(&id(3)), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn after_three_path_failures_the_rebuild_selects_two_fresh_tested_guards() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let mut state = state();
            let mut rng = TestRng::new(4);
            for _ in 0..3 {
                state.path_failed(&id(0), &mut rng);
            }
            assert!(state.needs_path_rebuild());
            let net = FakeNetwork::new(Clock::manual(1_700_000_000_000));
            for n in 0..20 {
                net.add_node(&test_node(n), |_| {
                    FakeReply::json(200, &serde_json::json!({"snodes": [], "swarm": "0"}))
                });
            }
            let guards = state.paths.guards().to_vec();
            let policy = state.policy().clone();
            let set = rebuild_path_set(&net, &state.pool, &guards, &policy, &mut rng)
                .await
                .unwrap();
            // One guard left (< 2): two new guards, each tested with one request.
            assert_eq!(set.guards().len(), 2);
            assert_eq!(net.log().len(), 2);
            for guard in set.guards() {
                assert!(state.pool.contains(&guard.ed25519));
                assert_eq!(net.requests_to(guard), 1);
            }
            state.install_paths(set);
            assert!(!state.needs_path_rebuild());
            assert_eq!(state.paths.paths().len(), 2);
        })
        .await
        .unwrap();
    }

    #[test]
    fn a_421_replaces_the_swarm_and_counts_against_the_answering_node() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        let members: Vec<Value> = [15, 16, 17, 18]
            .map(|n| swarm_member_json(&test_node(n)))
            .to_vec();
        let body = serde_json::json!({
            "snodes": members,
            "swarm": "abc", "t": 1_700_000_000_000u64, "hf": [19, 4]
        });
        let good = state
            .misdirected(&pubkey(), &id(10), &body, &mut rng)
            .unwrap();
        assert_eq!(
            good.iter().map(|n| n.ed25519).collect::<Vec<_>>(),
            vec![id(15), id(16), id(17), id(18)]
        );
        assert_eq!(
            state.swarms.members(&pubkey()).unwrap(),
            &[id(15), id(16), id(17), id(18)]
        );
        assert_eq!(state.pool.failures(&id(10)), 1);
        // A broken 421 body still counts the failure, and keeps the old swarm.
        assert_eq!(
            state.misdirected(&pubkey(), &id(15), &serde_json::json!("no"), &mut rng),
            Err(Malformed::MissingField { field: "snodes" })
        );
        assert_eq!(state.pool.failures(&id(15)), 1);
        assert_eq!(state.swarms.members(&pubkey()).unwrap().len(), 4);
    }

    #[test]
    fn replies_are_booked_as_section_3_9_says() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        let pk = pubkey();
        let ok = RpcReply::from_http(200, br#"{"t":1700000000000}"#);
        assert_eq!(
            state.record_reply(&id(10), Some(&pk), &ok, &mut rng),
            DestinationOutcome::Success
        );
        let busy = RpcReply::from_http(503, b"Server busy, try again later");
        assert_eq!(
            state.record_reply(&id(10), Some(&pk), &busy, &mut rng),
            DestinationOutcome::NodeFailure
        );
        assert_eq!(state.pool.failures(&id(10)), 1);
        let auth = RpcReply::from_http(401, b"retrieve signature verification failed");
        assert_eq!(
            state.record_reply(&id(10), Some(&pk), &auth, &mut rng),
            DestinationOutcome::Refused
        );
        let skew = RpcReply::from_http(406, b"Timestamp error: check your clock");
        assert_eq!(
            state.record_reply(&id(10), Some(&pk), &skew, &mut rng),
            DestinationOutcome::ClockSkew
        );
        assert_eq!(
            state.pool.failures(&id(10)),
            1,
            "refusals and clock errors are not counted"
        );
        let gone = RpcReply::from_http(502, format!("Next node not found: {}", id(11)).as_bytes());
        state.record_reply(&id(10), Some(&pk), &gone, &mut rng);
        assert!(!state.pool.contains(&id(11)));
        let members: Vec<Value> = [15, 16, 17]
            .map(|n| swarm_member_json(&test_node(n)))
            .to_vec();
        let wrong_swarm = RpcReply::from_http(
            421,
            serde_json::json!({"snodes": members, "swarm": "1"})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(
            state.record_reply(&id(12), Some(&pk), &wrong_swarm, &mut rng),
            DestinationOutcome::Misdirected
        );
        assert_eq!(
            state.swarms.members(&pk).unwrap(),
            &[id(15), id(16), id(17)]
        );
        assert_eq!(state.pool.failures(&id(12)), 1);
    }

    #[test]
    fn adopting_a_fresh_list_resets_counters_and_drops_paths_through_unlisted_nodes() {
        let mut state = state();
        let mut rng = TestRng::new(1);
        state.path_failed(&id(3), &mut rng);
        state.node_failed(&id(12), None, &mut rng);
        // The new list lacks node 1 (a relay of the first path).
        let mut fresh: Vec<ServiceNode> = (0..20).filter(|&n| n != 1).map(test_node).collect();
        fresh[0].ip = Ipv4Addr::new(10, 0, 0, 1);
        state.adopt_nodes(fresh);
        assert_eq!(state.pool.failures(&id(12)), 0);
        assert_eq!(state.pool.failures(&id(4)), 0);
        assert_eq!(state.paths.failures(&id(3)), 0);
        assert_eq!(state.paths.guard_ids(), vec![id(3)]);
        assert!(state.needs_path_rebuild());
    }
}
