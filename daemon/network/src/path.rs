//! Onion paths: guard selection, path building and random path choice (protocol.md §4.1).
//!
//! A path is three service nodes, guard first ([`OnionPath`]). The client keeps
//! [`Policy::guard_count`] guards, each starting one path ([`PathSet`]). Guards are chosen by
//! testing random pool nodes with a direct `get_swarm` request ([`select_guards`]); they are
//! the only nodes that see our IP address, so they are kept while they stay in the pool. The
//! other hops are drawn from the pool with at most one node per /24 subnet across all paths
//! ([`build_paths`]), so that one operator's address block does not hold two hops. A request to
//! a service node uses a random path that does not contain that node ([`PathSet::pick`]).
//!
//! Paths are plain data; the async parts (guard tests) go through [`Transport`]. What failures
//! do to paths lives in [`crate::state`].

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use rand::CryptoRng;
use rand::seq::{IndexedRandom, SliceRandom};
use sessiond_protocol::onion::Hop;
use tracing::Instrument;

use crate::error::NetworkError;
use crate::node::{NodeId, ServiceNode};
use crate::policy::{PATH_HOPS, Policy};
use crate::pool::Pool;
use crate::rpc::STORAGE_RPC_PATH;
use crate::transport::Transport;

/// An onion path: the guard (the node we connect to) and the relays after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnionPath {
    /// The first hop: the only node that sees our IP address.
    pub guard: ServiceNode,
    /// The following hops, in order (two in a normal path).
    pub relays: Vec<ServiceNode>,
}

impl OnionPath {
    /// Every hop, guard first.
    pub fn hops(&self) -> impl Iterator<Item = &ServiceNode> {
        std::iter::once(&self.guard).chain(self.relays.iter())
    }

    /// The hops as the onion builder wants them.
    pub fn onion_hops(&self) -> Vec<Hop> {
        self.hops().map(ServiceNode::hop).collect()
    }

    /// Whether the node is one of the hops.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.hops().any(|n| n.ed25519 == *id)
    }
}

/// The client's guards and paths, with path failure counts.
#[derive(Debug, Clone, Default)]
pub struct PathSet {
    /// The guards (persisted by the daemon by key, [`PathSet::guard_ids`]).
    guards: Vec<ServiceNode>,
    /// One path per guard (fewer if the pool could not supply enough relays).
    paths: Vec<OnionPath>,
    /// Path failures, keyed by the path's guard.
    failures: HashMap<NodeId, u32>,
    /// A path was dropped since this set was built: build a new set.
    stale: bool,
}

impl PathSet {
    /// No guards, no paths.
    pub fn new() -> PathSet {
        PathSet::default()
    }

    /// A set of `guards` and the `paths` built from them (by [`build_paths`]).
    pub fn from_parts(guards: Vec<ServiceNode>, paths: Vec<OnionPath>) -> PathSet {
        PathSet {
            guards,
            paths,
            failures: HashMap::new(),
            stale: false,
        }
    }

    /// Guards restored from their saved keys: those still in the pool, without paths yet.
    pub fn restore_guards(guard_ids: &[NodeId], pool: &Pool) -> PathSet {
        let guards = guard_ids
            .iter()
            .filter_map(|id| pool.get(id).cloned())
            .collect();
        PathSet::from_parts(guards, Vec::new())
    }

    /// The guards.
    pub fn guards(&self) -> &[ServiceNode] {
        &self.guards
    }

    /// The guards' keys, to persist.
    pub fn guard_ids(&self) -> Vec<NodeId> {
        self.guards.iter().map(|g| g.ed25519).collect()
    }

    /// The paths.
    pub fn paths(&self) -> &[OnionPath] {
        &self.paths
    }

    /// Whether a new set must be built: there is no path, or a path was dropped.
    pub fn needs_rebuild(&self) -> bool {
        self.paths.is_empty() || self.stale
    }

    /// Failures counted against the path starting at `guard`.
    pub fn failures(&self, guard: &NodeId) -> u32 {
        self.failures.get(guard).copied().unwrap_or(0)
    }

    /// A random path; for a service-node destination, one that does not contain it.
    pub fn pick<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        destination: Option<&NodeId>,
    ) -> Result<&OnionPath, NetworkError> {
        self.pick_avoiding(rng, destination, &[])
    }

    /// [`PathSet::pick`] for a retry: among the usable paths, a random one whose guard appears
    /// least often in `avoid` (the guards of the paths that already failed this request), so
    /// that a retry goes through another path while there is one.
    pub fn pick_avoiding<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        destination: Option<&NodeId>,
        avoid: &[NodeId],
    ) -> Result<&OnionPath, NetworkError> {
        let failures = |p: &OnionPath| avoid.iter().filter(|g| **g == p.guard.ed25519).count();
        let usable: Vec<&OnionPath> = self
            .paths
            .iter()
            .filter(|p| destination.is_none_or(|d| !p.contains(d)))
            .collect();
        let fewest = usable.iter().map(|p| failures(p)).min();
        let best: Vec<&OnionPath> = usable
            .into_iter()
            .filter(|p| Some(failures(p)) == fewest)
            .collect();
        best.choose(rng).copied().ok_or(NetworkError::NoPath {
            excluding_destination: !self.paths.is_empty(),
        })
    }

    /// The index of the path starting at `guard`.
    fn path_of_guard(&self, guard: &NodeId) -> Option<usize> {
        self.paths.iter().position(|p| p.guard.ed25519 == *guard)
    }

    /// Counts one failure against the path starting at `guard`. Returns the new count, or
    /// `None` if there is no such path.
    pub(crate) fn count_failure(&mut self, guard: &NodeId) -> Option<u32> {
        self.path_of_guard(guard)?;
        let count = self.failures.entry(*guard).or_insert(0);
        *count = count.saturating_add(1);
        Some(*count)
    }

    /// Drops the path starting at `guard` and the guard itself; the set becomes stale.
    pub(crate) fn drop_path(&mut self, guard: &NodeId) {
        self.paths.retain(|p| p.guard.ed25519 != *guard);
        self.guards.retain(|g| g.ed25519 != *guard);
        self.failures.remove(guard);
        self.stale = true;
    }

    /// The path a relay (non-guard hop) belongs to, with its position among the relays.
    pub(crate) fn relay_position(&self, id: &NodeId) -> Option<(usize, usize)> {
        self.paths.iter().enumerate().find_map(|(p, path)| {
            path.relays
                .iter()
                .position(|r| r.ed25519 == *id)
                .map(|r| (p, r))
        })
    }

    /// Whether `id` is one of the guards.
    pub(crate) fn is_guard(&self, id: &NodeId) -> bool {
        self.guards.iter().any(|g| g.ed25519 == *id)
    }

    /// Replaces a dropped relay of path `path` by a random pool node that is in no path and
    /// (with subnet diversity) shares no /24 with the path's other hops; the new node goes at
    /// the end of the path, untested (§4.1). Without any candidate the path is dropped.
    pub(crate) fn replace_relay<R: CryptoRng + ?Sized>(
        &mut self,
        path: usize,
        relay: usize,
        pool: &Pool,
        policy: &Policy,
        rng: &mut R,
    ) {
        let Some(target) = self.paths.get_mut(path) else {
            return;
        };
        target.relays.remove(relay);
        let target = target.clone();
        // Uniform over the candidates: the same distribution as desktop's "one node per /24,
        // weighted by the subnet's size" followed by a single draw.
        let candidates: Vec<&ServiceNode> = pool
            .nodes()
            .iter()
            .filter(|n| !self.paths.iter().any(|p| p.contains(&n.ed25519)))
            .filter(|n| !self.is_guard(&n.ed25519))
            .filter(|n| !policy.subnet_diversity || !target.hops().any(|h| h.same_subnet24(n)))
            .collect();
        // Nodes without failures on record first (see `build_paths`).
        let clean: Vec<&ServiceNode> = candidates
            .iter()
            .copied()
            .filter(|n| pool.failures(&n.ed25519) == 0)
            .collect();
        let candidates = if clean.is_empty() { candidates } else { clean };
        match candidates.choose(rng) {
            Some(&replacement) => {
                tracing::info!(node = ?replacement, "relay replaced in its path");
                if let Some(p) = self.paths.get_mut(path) {
                    p.relays.push(replacement.clone());
                }
            }
            None => {
                tracing::warn!(guard = ?target.guard, "no replacement relay; path dropped");
                self.drop_path(&target.guard.ed25519);
            }
        }
    }

    /// Forgets every path failure count (after a successful pool refresh).
    pub fn reset_failures(&mut self) {
        self.failures.clear();
    }
}

/// One random node per /24 subnet, repeated as many times as its subnet has nodes (desktop's
/// `getWeightedSingleSnodePerSubnet`): drawing from this list picks subnets in proportion to
/// their size, and removing a drawn node removes its whole subnet.
pub fn one_per_subnet_weighted<R: CryptoRng + ?Sized>(
    nodes: &[ServiceNode],
    rng: &mut R,
) -> Vec<ServiceNode> {
    let mut subnets: BTreeMap<[u8; 3], Vec<&ServiceNode>> = BTreeMap::new();
    for node in nodes {
        subnets.entry(node.subnet24()).or_default().push(node);
    }
    let mut weighted = Vec::with_capacity(nodes.len());
    for members in subnets.values() {
        if let Some(&chosen) = members.choose(rng) {
            weighted.extend(std::iter::repeat_n(chosen.clone(), members.len()));
        }
    }
    weighted
}

/// Builds one path per guard (§4.1): the guards in random order, each followed by
/// `PATH_HOPS - 1` distinct relays drawn from the pool minus the guards, one node per /24
/// subnet (unless [`Policy::subnet_diversity`] is off), no relay used twice. Nodes with
/// failures on record are left out while enough nodes without remain (a deliberate difference
/// from desktop: a dead node that stays in the pool would otherwise keep failing new paths).
///
/// Needs more than [`Policy::min_pool_size`] nodes in the pool and after the /24 step. Builds
/// fewer paths than guards if relays run out; fails if it cannot build one.
pub fn build_paths<R: CryptoRng + ?Sized>(
    pool: &Pool,
    guards: &[ServiceNode],
    policy: &Policy,
    rng: &mut R,
) -> Result<Vec<OnionPath>, NetworkError> {
    let need = policy.min_pool_size + 1;
    if pool.len() < need {
        return Err(NetworkError::NotEnoughNodes {
            what: "onion paths",
            have: pool.len(),
            need,
        });
    }
    let mut relays = if policy.subnet_diversity {
        // The weighted list is as long as the pool; what the rule needs is enough distinct
        // subnets, one node each. (Desktop checks the list's length, which never fails.)
        let weighted = one_per_subnet_weighted(pool.nodes(), rng);
        let subnets = weighted
            .iter()
            .map(ServiceNode::subnet24)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if subnets < need {
            return Err(NetworkError::NotEnoughNodes {
                what: "onion paths (one node per /24 subnet)",
                have: subnets,
                need,
            });
        }
        weighted
    } else {
        pool.snapshot()
    };
    relays.retain(|n| !guards.iter().any(|g| g.ed25519 == n.ed25519));
    // Nodes with failures on record are suspects (a dead relay fails its path every time, and
    // on a small network would keep coming back): leave them out while enough others remain.
    let clean: Vec<ServiceNode> = relays
        .iter()
        .filter(|n| pool.failures(&n.ed25519) == 0)
        .cloned()
        .collect();
    let distinct_clean = clean
        .iter()
        .map(|n| n.ed25519)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if distinct_clean >= guards.len() * (PATH_HOPS - 1) {
        relays = clean;
    }
    let mut guards = guards.to_vec();
    guards.shuffle(rng);

    let mut paths = Vec::with_capacity(guards.len());
    'guards: for guard in guards {
        let mut path = OnionPath {
            guard,
            relays: Vec::with_capacity(PATH_HOPS - 1),
        };
        while path.relays.len() < PATH_HOPS - 1 {
            let Some(relay) = relays.choose(rng).cloned() else {
                break 'guards;
            };
            relays.retain(|n| n.ed25519 != relay.ed25519);
            path.relays.push(relay);
        }
        paths.push(path);
    }
    if paths.is_empty() {
        return Err(NetworkError::NotEnoughNodes {
            what: "onion path relays",
            have: relays.len(),
            need: PATH_HOPS - 1,
        });
    }
    tracing::info!(paths = paths.len(), "onion paths built");
    Ok(paths)
}

/// The body of a guard test: a direct `get_swarm` (§4.1). Desktop asks for its own Account ID,
/// which tells a node that also sees our IP address who we are; any well-formed pubkey gets a
/// 2xx from a working node, so a random one is asked for instead.
fn guard_test_body<R: CryptoRng + ?Sized>(rng: &mut R) -> Vec<u8> {
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    serde_json::json!({
        "jsonrpc": "2.0",
        "method": "get_swarm",
        "params": { "pubkey": format!("05{}", hex::encode(key)) },
    })
    .to_string()
    .into_bytes()
}

/// Whether `node` answers a direct `get_swarm` with 2xx within the guard-test timeout.
pub async fn test_guard<T: Transport>(
    transport: &T,
    node: &ServiceNode,
    body: Vec<u8>,
    policy: &Policy,
) -> bool {
    let result = transport
        .post_node(node, STORAGE_RPC_PATH, body, policy.guard_test_timeout)
        .instrument(tracing::debug_span!("guard_test", node = %node.ed25519.short()))
        .await;
    match result {
        Ok(response) if (200..300).contains(&response.status) => true,
        Ok(response) => {
            tracing::info!(node = ?node, status = response.status, "guard candidate refused");
            false
        }
        Err(error) => {
            tracing::info!(node = ?node, %error, "guard candidate unreachable");
            false
        }
    }
}

/// Selects [`Policy::guard_count`] new guards (§4.1): shuffles the pool and tests candidates
/// `guard_count` at a time, at most [`Policy::guard_test_rounds`] rounds; nodes answering 2xx
/// become guards.
pub async fn select_guards<T: Transport, R: CryptoRng + Send + ?Sized>(
    transport: &T,
    pool: &Pool,
    policy: &Policy,
    rng: &mut R,
) -> Result<Vec<ServiceNode>, NetworkError> {
    if pool.len() < policy.min_pool_size {
        return Err(NetworkError::NotEnoughNodes {
            what: "guard selection",
            have: pool.len(),
            need: policy.min_pool_size,
        });
    }
    let mut candidates = pool.snapshot();
    candidates.shuffle(rng);
    let mut candidates = candidates.into_iter();
    let mut selected: Vec<ServiceNode> = Vec::new();
    let mut tested = 0;
    let span = tracing::info_span!("select_guards", wanted = policy.guard_count);
    async {
        for _round in 0..policy.guard_test_rounds {
            if selected.len() >= policy.guard_count {
                break;
            }
            let batch: Vec<ServiceNode> = candidates.by_ref().take(policy.guard_count).collect();
            if batch.is_empty() {
                break;
            }
            tested += batch.len();
            let bodies: Vec<Vec<u8>> = batch.iter().map(|_| guard_test_body(rng)).collect();
            let results = join_all(
                batch
                    .iter()
                    .zip(bodies)
                    .map(|(node, body)| test_guard(transport, node, body, policy)),
            )
            .await;
            selected.extend(
                batch
                    .into_iter()
                    .zip(results)
                    .filter_map(|(node, ok)| ok.then_some(node)),
            );
        }
        if selected.len() < policy.guard_count {
            return Err(NetworkError::NoGuards {
                found: selected.len(),
                needed: policy.guard_count,
                tested,
            });
        }
        selected.truncate(policy.guard_count);
        tracing::info!(guards = ?selected, "guards selected");
        Ok(selected)
    }
    .instrument(span)
    .await
}

/// Builds a fresh [`PathSet`]: keeps `current_guards` that are still in the pool if there are
/// still [`Policy::guard_count`] of them, else selects new guards (with tests), then builds
/// the paths. The caller swaps the result in.
pub async fn rebuild_path_set<T: Transport, R: CryptoRng + Send + ?Sized>(
    transport: &T,
    pool: &Pool,
    current_guards: &[ServiceNode],
    policy: &Policy,
    rng: &mut R,
) -> Result<PathSet, NetworkError> {
    let kept: Vec<ServiceNode> = current_guards
        .iter()
        .filter(|g| pool.contains(&g.ed25519))
        .cloned()
        .collect();
    let guards = if kept.len() >= policy.guard_count {
        kept
    } else {
        select_guards(transport, pool, policy, rng).await?
    };
    let paths = build_paths(pool, &guards, policy, rng)?;
    Ok(PathSet::from_parts(guards, paths))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::clock::Clock;
    use crate::testing::{FakeNetwork, FakeReply, TestRng, test_node};

    /// Tests run on paused tokio time, so this bound is virtual: it stops a test whose futures
    /// are stuck, without waiting, and must exceed the timeouts the test expects to elapse.
    const TEST_TIMEOUT: Duration = Duration::from_secs(3600);

    fn pool(count: u8) -> Pool {
        Pool::from_snapshot((0..count).map(test_node).collect(), &Policy::mainnet())
    }

    fn network_where(ok: impl Fn(u8) -> bool, count: u8) -> FakeNetwork {
        let net = FakeNetwork::new(Clock::manual(1_700_000_000_000));
        for n in 0..count {
            let reply = if ok(n) {
                FakeReply::json(
                    200,
                    &serde_json::json!({"snodes": [], "swarm": "0", "t": 1}),
                )
            } else if n % 2 == 0 {
                FakeReply::Hang
            } else {
                FakeReply::text(503, "Service node is not ready: syncing")
            };
            net.add_node(&test_node(n), move |_| reply.clone());
        }
        net
    }

    #[tokio::test(start_paused = true)]
    async fn guard_selection_skips_candidates_that_fail_or_hang() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let policy = Policy::mainnet();
            // 10 nodes, 6 rounds of 2: every node can be tested. Only 5 and 7 pass; the others
            // hang (until the 10 s guard-test timeout) or answer 503.
            let pool = pool(10);
            let net = network_where(|n| n == 5 || n == 7, 10);
            for seed in 0..10 {
                let guards = select_guards(&net, &pool, &policy, &mut TestRng::new(seed))
                    .await
                    .unwrap();
                let mut ids: Vec<u8> = guards.iter().map(|g| g.ed25519.0[0]).collect();
                ids.sort();
                assert_eq!(ids, vec![5, 7], "seed {seed}");
            }
            // Every test was a direct get_swarm to /storage_rpc/v1 for a random 05 pubkey.
            let log = net.log();
            assert!(!log.is_empty());
            let mut pubkeys = std::collections::HashSet::new();
            for (_, request) in log {
                assert_eq!(request.path, STORAGE_RPC_PATH);
                let json = request.json().unwrap();
                assert_eq!(json["method"], "get_swarm");
                let pubkey = json["params"]["pubkey"].as_str().unwrap().to_owned();
                assert!(pubkey.starts_with("05") && pubkey.len() == 66);
                pubkeys.insert(pubkey);
            }
            assert!(
                pubkeys.len() > 1,
                "each test asks for a fresh random pubkey"
            );
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn guard_selection_gives_up_after_six_rounds_of_two() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let policy = Policy::mainnet();
            let net = network_where(|_| false, 20);
            let result = select_guards(&net, &pool(20), &policy, &mut TestRng::new(1)).await;
            assert!(matches!(
                result,
                Err(NetworkError::NoGuards {
                    found: 0,
                    needed: 2,
                    tested: 12
                })
            ));
            assert_eq!(net.log().len(), 12);
        })
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn guard_selection_needs_a_big_enough_pool() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let net = network_where(|_| true, 7);
            let result =
                select_guards(&net, &pool(7), &Policy::mainnet(), &mut TestRng::new(1)).await;
            assert!(matches!(result, Err(NetworkError::NotEnoughNodes { .. })));
            assert!(net.log().is_empty());
        })
        .await
        .unwrap();
    }

    #[test]
    fn relays_with_failures_on_record_are_left_out_while_enough_others_remain() {
        let policy = Policy::mainnet();
        let mut pool = pool(20);
        for n in 2..14 {
            pool.record_failure(&test_node(n).ed25519);
        }
        let guards = [test_node(0), test_node(1)];
        // Six nodes without failures (14..20) for the four relays needed.
        for seed in 0..20 {
            let paths = build_paths(&pool, &guards, &policy, &mut TestRng::new(seed)).unwrap();
            assert_eq!(paths.len(), 2);
            for relay in paths.iter().flat_map(|p| &p.relays) {
                assert!(relay.ed25519.0[0] >= 14, "seed {seed}: {relay:?}");
            }
        }
        // Three clean nodes are not enough: suspects are used rather than fewer paths.
        for n in 14..17 {
            pool.record_failure(&test_node(n).ed25519);
        }
        let paths = build_paths(&pool, &guards, &policy, &mut TestRng::new(1)).unwrap();
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn paths_have_three_hops_and_relays_from_distinct_subnets() {
        let policy = Policy::mainnet();
        // 30 nodes in 10 subnets of 3: 10.0.s.{1,2,3}.
        let nodes: Vec<ServiceNode> = (0..30u8)
            .map(|n| {
                let mut node = test_node(n);
                node.ip = Ipv4Addr::new(10, 0, n / 3, n % 3 + 1);
                node
            })
            .collect();
        let pool = Pool::from_snapshot(nodes.clone(), &policy);
        for seed in 0..20 {
            let mut rng = TestRng::new(seed);
            let guards = vec![nodes[0].clone(), nodes[4].clone()];
            let paths = build_paths(&pool, &guards, &policy, &mut rng).unwrap();
            assert_eq!(paths.len(), 2);
            let relays: Vec<&ServiceNode> = paths.iter().flat_map(|p| &p.relays).collect();
            assert_eq!(relays.len(), 4);
            for path in &paths {
                assert_eq!(path.hops().count(), 3);
                assert_eq!(path.onion_hops().len(), 3);
            }
            // No two relays (across all paths) share a /24, and no relay is a guard.
            for (i, a) in relays.iter().enumerate() {
                assert!(!guards.contains(a));
                for b in &relays[i + 1..] {
                    assert!(!a.same_subnet24(b), "{a:?} and {b:?}");
                }
            }
        }
    }

    #[test]
    fn the_subnet_rule_needs_more_than_eight_subnets() {
        let policy = Policy::mainnet();
        // 12 nodes on loopback: one /24.
        let nodes: Vec<ServiceNode> = (0..12u8)
            .map(|n| {
                let mut node = test_node(n);
                node.ip = Ipv4Addr::new(127, 0, 0, 1);
                node
            })
            .collect();
        let pool = Pool::from_snapshot(nodes.clone(), &policy);
        let guards = vec![nodes[0].clone(), nodes[1].clone()];
        let mut rng = TestRng::new(3);
        assert!(matches!(
            build_paths(&pool, &guards, &policy, &mut rng),
            Err(NetworkError::NotEnoughNodes {
                have: 1,
                need: 9,
                ..
            })
        ));
        // The devnet policy turns the rule off.
        let local = Policy::local(12);
        let paths = build_paths(&pool, &guards, &local, &mut rng).unwrap();
        assert_eq!(paths.len(), 2);
    }

    #[test]
    fn one_per_subnet_keeps_each_subnets_weight() {
        let nodes: Vec<ServiceNode> = (0..6u8)
            .map(|n| {
                let mut node = test_node(n);
                // Subnet A: 3 nodes, B: 2 nodes, C: 1 node.
                let subnet = [0, 0, 0, 1, 1, 2][usize::from(n)];
                node.ip = Ipv4Addr::new(10, 1, subnet, n + 1);
                node
            })
            .collect();
        let weighted = one_per_subnet_weighted(&nodes, &mut TestRng::new(9));
        assert_eq!(weighted.len(), 6);
        let mut counts: BTreeMap<[u8; 3], Vec<NodeId>> = BTreeMap::new();
        for n in &weighted {
            counts.entry(n.subnet24()).or_default().push(n.ed25519);
        }
        let sizes: Vec<usize> = counts.values().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 2, 1]);
        // Within a subnet, the same node repeated.
        for ids in counts.values() {
            assert!(ids.iter().all(|id| *id == ids[0]));
        }
    }

    #[test]
    fn path_choice_avoids_the_destination() {
        let a = OnionPath {
            guard: test_node(1),
            relays: vec![test_node(2), test_node(3)],
        };
        let b = OnionPath {
            guard: test_node(4),
            relays: vec![test_node(5), test_node(6)],
        };
        let set = PathSet::from_parts(vec![test_node(1), test_node(4)], vec![a.clone(), b.clone()]);
        let mut rng = TestRng::new(5);
        for _ in 0..20 {
            assert_eq!(set.pick(&mut rng, Some(&test_node(2).ed25519)).unwrap(), &b);
            assert_eq!(set.pick(&mut rng, Some(&test_node(4).ed25519)).unwrap(), &a);
        }
        let mut seen = [false, false];
        for _ in 0..50 {
            let p = set.pick(&mut rng, None).unwrap();
            seen[usize::from(p == &b)] = true;
        }
        assert_eq!(seen, [true, true]);
        let only_a = PathSet::from_parts(vec![test_node(1)], vec![a]);
        assert!(matches!(
            only_a.pick(&mut rng, Some(&test_node(3).ed25519)),
            Err(NetworkError::NoPath {
                excluding_destination: true
            })
        ));
        assert!(matches!(
            PathSet::new().pick(&mut rng, None),
            Err(NetworkError::NoPath {
                excluding_destination: false
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn rebuilding_keeps_guards_still_in_the_pool_without_testing_them() {
        tokio::time::timeout(TEST_TIMEOUT, async {
            let policy = Policy::mainnet();
            let pool = pool(20);
            let net = network_where(|_| true, 20);
            let guards = vec![test_node(3), test_node(8)];
            let set = rebuild_path_set(&net, &pool, &guards, &policy, &mut TestRng::new(2))
                .await
                .unwrap();
            assert_eq!(
                set.guard_ids(),
                vec![test_node(3).ed25519, test_node(8).ed25519]
            );
            assert_eq!(set.paths().len(), 2);
            assert!(net.log().is_empty(), "kept guards are not re-tested");
            assert!(!set.needs_rebuild());
            // Restoring saved guard keys keeps only those still in the pool.
            let restored =
                PathSet::restore_guards(&[test_node(3).ed25519, NodeId([200; 32])], &pool);
            assert_eq!(restored.guards().len(), 1);
            assert!(restored.needs_rebuild());
        })
        .await
        .unwrap();
    }
}
