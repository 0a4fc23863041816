//! [`NetworkClient`]: what the daemon holds to send and poll through onion paths.
//!
//! The client owns the pieces of this crate and ties them together: the pool, paths and swarm
//! cache ([`NetworkState`]), the [`Clock`], the [`Transport`], the random source
//! ([`NetworkRng`]) and the onion RPC ([`OnionRpc`]). A background *driver* task keeps them
//! usable:
//! - at start it adopts the daemon's [`NetworkSnapshot`] if it holds more than
//!   [`Policy::min_pool_size`] nodes, else bootstraps from the seeds;
//! - it (re)builds the guards and paths whenever [`NetworkState::needs_path_rebuild`] says so
//!   (requests wake it when they drop a path), and reloads from a seed when the pool is too
//!   small or path building keeps failing on a stale pool;
//! - it refreshes the pool [`Policy::refresh_delay`] after start, then every
//!   [`Policy::refresh_interval`] (three nodes through onion paths, then a seed).
//!
//! Requests ([`NetworkClient::store`], [`NetworkClient::retrieve`]) wait (at most
//! [`Policy::ready_timeout`]) until a path exists, then apply protocol.md §3.9 to every answer:
//! - `421`: the swarm in the body replaces the cached one, the store retries on a new member;
//! - `406`/`425`: the node's clock is read with `info` (its `t` also feeds the [`Clock`]) and the
//!   request is retried **once** on that node, with the timestamps we choose (the `retrieve`
//!   signature, the `store` signature) taken from the node's clock; the message's own
//!   `timestamp` is the caller's and never changes;
//! - `400`/`401`/`403`/`404`/`429`: a typed error at once, never retried;
//! - `5xx`, timeouts, path failures: booked against the node or path, and a store retries on
//!   another member (at most [`Policy::request_attempts`] attempts in all).
//!
//! The same code talks to mainnet and to the devnet; only [`NetworkConfig`] differs.
//!
//! The driver holds a `Weak` reference: dropping the last clone of the client (or calling
//! [`NetworkClient::shutdown`]) stops it. The crate does no file I/O: the daemon persists
//! [`NetworkClient::snapshot`] and hands it back at the next start.

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use rand::CryptoRng;
use rand::seq::IndexedRandom;
use rand_core::{TryCryptoRng, TryRng};
use sessiond_protocol::Identity;
use sessiond_protocol::message_hash::MessageHash;
use sessiond_protocol::namespace::Namespace;
use sessiond_protocol::storage_auth::SwarmPubkey;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::{Malformed, NetworkError};
use crate::node::{NodeId, ServiceNode};
use crate::onion_client::OnionRpc;
use crate::path::{PathSet, rebuild_path_set};
use crate::policy::Policy;
use crate::pool::{Pool, refresh_from_nodes};
use crate::rpc::{DestinationOutcome, RpcReply, RpcRequest};
use crate::seed::{SeedNode, fetch_from_seeds};
use crate::state::NetworkState;
use crate::storage::{
    self, Meta, Retrieved, StoreAck, info_request, parse_results, parse_retrieve, parse_store,
    retrieve_max_sizes, retrieve_request, signed_store_request, store_request,
};
use crate::swarm::{SwarmCache, fetch_swarm};
use crate::transport::{HttpsTransport, Socks5Proxy, Transport, TransportConfig};

/// The random source of a [`NetworkClient`]: ephemeral onion keys, nonces, path, guard and
/// member choices. Handed in by the daemon (this crate never seeds an RNG of its own); cheap
/// to clone, clones share the generator.
#[derive(Clone)]
pub struct NetworkRng(Arc<Mutex<Box<dyn CryptoRng + Send>>>);

impl NetworkRng {
    /// Wraps a cryptographically secure generator (in the daemon: the OS source).
    pub fn new(rng: impl CryptoRng + Send + 'static) -> NetworkRng {
        NetworkRng(Arc::new(Mutex::new(Box::new(rng))))
    }

    fn with<X>(&self, f: impl FnOnce(&mut (dyn CryptoRng + Send)) -> X) -> X {
        // A generator whose draw panicked is still a generator: its state is not at risk.
        let mut rng = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut **rng)
    }
}

impl fmt::Debug for NetworkRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetworkRng(..)")
    }
}

impl TryRng for NetworkRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.with(|rng| rng.next_u32()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.with(|rng| rng.next_u64()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.with(|rng| rng.fill_bytes(dst));
        Ok(())
    }
}

impl TryCryptoRng for NetworkRng {}

/// Everything that differs between networks (mainnet, the devnet), plus the random source.
#[derive(Debug)]
pub struct NetworkConfig {
    /// Where to bootstrap from: [`SeedNode::mainnet`], or the devnet's pinned seed.
    pub seeds: Vec<SeedNode>,
    /// Thresholds and timeouts: [`Policy::mainnet`], or [`Policy::local`] for the devnet.
    pub policy: Policy,
    /// Route every connection through this SOCKS5 proxy.
    pub proxy: Option<Socks5Proxy>,
    /// The random source.
    pub rng: NetworkRng,
}

impl NetworkConfig {
    /// Mainnet: its pinned seeds, its policy, no proxy.
    pub fn mainnet(rng: NetworkRng) -> NetworkConfig {
        NetworkConfig {
            seeds: SeedNode::mainnet(),
            policy: Policy::mainnet(),
            proxy: None,
            rng,
        }
    }
}

/// What the daemon persists between runs, as plain values: the pool, the guards and the swarm
/// cache. Swarm pubkeys are peers' identities: store them as carefully as the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSnapshot {
    /// The pool.
    pub nodes: Vec<ServiceNode>,
    /// The guards' keys (kept across runs: they are the only nodes that see our IP address).
    pub guards: Vec<NodeId>,
    /// Swarm members per pubkey.
    pub swarms: Vec<(SwarmPubkey, Vec<NodeId>)>,
}

/// A node as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// Its Ed25519 key (`Display` gives the 64 hex digits).
    pub ed25519: NodeId,
    /// Where it is reached.
    pub addr: SocketAddrV4,
}

impl NodeStatus {
    fn of(node: &ServiceNode) -> NodeStatus {
        NodeStatus {
            ed25519: node.ed25519,
            addr: node.addr(),
        }
    }
}

/// An onion path as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStatus {
    /// Guard first.
    pub hops: Vec<NodeStatus>,
    /// Failures counted against the path (it is dropped at [`Policy::failure_threshold`]).
    pub failures: u32,
}

/// A cached swarm as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmStatus {
    /// Whose mailbox (an Account ID or group ID: not for logs).
    pub pubkey: SwarmPubkey,
    /// The members' keys, as last learned.
    pub members: Vec<NodeId>,
}

/// A picture of the client for `status` commands, as plain values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkStatus {
    /// At least one onion path exists: requests can go out.
    pub ready: bool,
    /// Nodes in the pool.
    pub pool_size: usize,
    /// The guards.
    pub guards: Vec<NodeStatus>,
    /// The paths.
    pub paths: Vec<PathStatus>,
    /// The swarm cache, ordered by pubkey.
    pub swarms: Vec<SwarmStatus>,
    /// The network clock's offset (local − network) in ms.
    pub clock_offset_ms: i64,
    /// The last failure of the driver or of a request, if any.
    pub last_error: Option<String>,
}

/// What the driver is doing, for requests waiting on it.
#[derive(Debug, Clone)]
enum Health {
    /// Bootstrapping or building paths.
    Working,
    /// Paths are built.
    Ready,
    /// The last attempt failed; the driver waits before the next one.
    Failed(NetworkError),
}

/// The Session network client. Cheap to clone (an `Arc` inside); every clone is the same
/// client. Generic over the transport for tests; the daemon uses the default,
/// [`HttpsTransport`].
pub struct NetworkClient<T: 'static = HttpsTransport> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for NetworkClient<T> {
    fn clone(&self) -> NetworkClient<T> {
        NetworkClient {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for NetworkClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkClient").finish_non_exhaustive()
    }
}

struct Inner<T: 'static> {
    /// Thresholds and timeouts.
    policy: Policy,
    /// Where to bootstrap from.
    seeds: Vec<SeedNode>,
    /// Every sleep, timeout and "now"; the network time offset.
    clock: Clock,
    /// Guard tests and seed requests go straight through it; storage RPCs through `rpc`.
    transport: Arc<T>,
    /// Pool, paths and swarms, shared with `rpc`.
    state: Arc<Mutex<NetworkState>>,
    /// Storage RPCs through onion paths.
    rpc: OnionRpc<Arc<T>, NetworkRng>,
    /// The shared random source.
    rng: NetworkRng,
    /// Asks the driver to look at the state again (a path was dropped, a request waits).
    wake: Arc<Notify>,
    /// What the driver is doing.
    health: watch::Sender<Health>,
    /// Set to true by `shutdown`; dropped with the client, which also stops the driver.
    shutdown: watch::Sender<bool>,
    /// The driver task, until `shutdown` joins it.
    driver: Mutex<Option<JoinHandle<()>>>,
    /// The last failure, for `status`.
    last_error: Mutex<Option<String>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (every critical section
/// here is a single bookkeeping step).
fn lock<X>(mutex: &Mutex<X>) -> MutexGuard<'_, X> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The network state a client starts with: the snapshot's if it has enough nodes (its guards
/// kept, paths to be built), else an empty pool to fill from the seeds (the swarms are kept:
/// they are filtered by the pool anyway).
fn initial_state(snapshot: Option<NetworkSnapshot>, policy: &Policy) -> NetworkState {
    let Some(snapshot) = snapshot else {
        return NetworkState::new(policy);
    };
    let swarms = SwarmCache::from_snapshot(snapshot.swarms);
    if snapshot.nodes.len() > policy.min_pool_size {
        let pool = Pool::from_snapshot(snapshot.nodes, policy);
        let paths = PathSet::restore_guards(&snapshot.guards, &pool);
        NetworkState::from_parts(pool, paths, swarms, policy)
    } else {
        NetworkState::from_parts(Pool::new(policy), PathSet::new(), swarms, policy)
    }
}

impl NetworkClient<HttpsTransport> {
    /// Starts the client over HTTPS (through `config.proxy` if set) with the system clock, and
    /// spawns its driver on the current tokio runtime (an error outside one). Returns at once:
    /// bootstrapping (from `snapshot` if it has more than [`Policy::min_pool_size`] nodes, else
    /// from the seeds) happens in the driver, and requests wait for it.
    pub fn start(
        config: NetworkConfig,
        snapshot: Option<NetworkSnapshot>,
    ) -> Result<NetworkClient, NetworkError> {
        let clock = Clock::system();
        let transport = HttpsTransport::new(
            TransportConfig {
                proxy: config.proxy.clone(),
                ..TransportConfig::default()
            },
            clock.clone(),
        )?;
        NetworkClient::with_transport(config, snapshot, transport, clock)
    }
}

impl<T: Transport + 'static> NetworkClient<T> {
    /// [`NetworkClient::start`] over another transport and clock (tests: a fake network and
    /// paused time). `config.proxy` is the transport's business and ignored here.
    pub fn with_transport(
        config: NetworkConfig,
        snapshot: Option<NetworkSnapshot>,
        transport: T,
        clock: Clock,
    ) -> Result<NetworkClient<T>, NetworkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| NetworkError::Config {
            what: "network client",
            reason: format!("needs a tokio runtime: {e}"),
        })?;
        let NetworkConfig {
            seeds,
            policy,
            proxy: _,
            rng,
        } = config;
        let state = Arc::new(Mutex::new(initial_state(snapshot, &policy)));
        let transport = Arc::new(transport);
        let rpc = OnionRpc::new(transport.clone(), clock.clone(), state.clone(), rng.clone());
        let (health, _) = watch::channel(Health::Working);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            policy,
            seeds,
            clock,
            transport,
            state,
            rpc,
            rng,
            wake: wake.clone(),
            health,
            shutdown,
            driver: Mutex::new(None),
            last_error: Mutex::new(None),
        });
        let driver = runtime.spawn(
            drive(Arc::downgrade(&inner), wake, shutdown_rx)
                .instrument(tracing::info_span!("network_driver")),
        );
        *lock(&inner.driver) = Some(driver);
        Ok(NetworkClient { inner })
    }

    /// Waits until the client can send (a pool and at least one onion path), at most
    /// [`Policy::ready_timeout`]; fails at once with the driver's last error while it waits to
    /// try again. Requests wait by themselves: this is for start-up and status displays.
    pub async fn ready(&self) -> Result<(), NetworkError> {
        self.inner.ready().await
    }

    /// The network clock: [`Clock::network_now_ms`] for message timestamps,
    /// [`Clock::network_offset_ms`] for display.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Stores `data` in `to`'s `namespace` (a public inbox, such as 0), unsigned, as desktop
    /// sends messages: one `store` in a `sequence` to one random good swarm member, through an
    /// onion path. The member copies it to its swarm. `timestamp_ms` is the message's own
    /// (network-time) timestamp; `ttl_ms` its lifetime. Retries across members and paths as
    /// §3.9 says, at most [`Policy::request_attempts`] times.
    pub async fn store(
        &self,
        to: &SwarmPubkey,
        namespace: Namespace,
        data: &[u8],
        ttl_ms: u64,
        timestamp_ms: u64,
    ) -> Result<StoreAck, NetworkError> {
        // Refuse bad requests before touching the network.
        store_request(to, namespace, data, ttl_ms, timestamp_ms)?;
        let expected = MessageHash::compute(to, namespace, data);
        let result = self
            .inner
            .store_with(to, &expected, &|_| {
                store_request(to, namespace, data, ttl_ms, timestamp_ms)
            })
            .instrument(tracing::info_span!("store", namespace = namespace.get()))
            .await;
        self.inner.note(result)
    }

    /// Stores `data` in one of `identity`'s own namespaces, signed by the account when the
    /// namespace needs it (configs), unsigned for public inboxes (sync copies in namespace 0).
    /// The signature's timestamp is the network time when sent (the node's after a 406).
    pub async fn store_as(
        &self,
        identity: &Identity,
        namespace: Namespace,
        data: &[u8],
        ttl_ms: u64,
        timestamp_ms: u64,
    ) -> Result<StoreAck, NetworkError> {
        signed_store_request(
            identity,
            namespace,
            data,
            ttl_ms,
            timestamp_ms,
            timestamp_ms,
        )?;
        let to = SwarmPubkey::Account(identity.account_id());
        let expected = MessageHash::compute(&to, namespace, data);
        let result = self
            .inner
            .store_with(&to, &expected, &|sig_timestamp_ms| {
                signed_store_request(
                    identity,
                    namespace,
                    data,
                    ttl_ms,
                    timestamp_ms,
                    sig_timestamp_ms,
                )
            })
            .instrument(tracing::info_span!("store_as", namespace = namespace.get()))
            .await;
        self.inner.note(result)
    }

    /// The good members (in the pool) of `pubkey`'s swarm: from the cache, else computed from
    /// the pool's swarm ids, else asked of a random node (`get_swarm` through an onion path)
    /// and cached.
    pub async fn swarm_members(&self, pubkey: &SwarmPubkey) -> Result<Vec<NodeId>, NetworkError> {
        let result = self
            .inner
            .swarm_nodes(pubkey)
            .await
            .map(|nodes| nodes.iter().map(|n| n.ed25519).collect());
        self.inner.note(result)
    }

    /// Polls `node` for `identity`'s messages: one `batch` through an onion path with a signed
    /// `retrieve` per `(namespace, last_hash)` (`None`: from the start), `max_size` split as
    /// desktop does. `last_hash` values are per node (§3.8): a hash another node gave is
    /// meaningless here and makes the node answer from the start.
    ///
    /// No retry on another node or path (the poller picks its nodes), except once on the same
    /// node after a 406/425 and a clock refresh. A `421` updates the swarm cache and is
    /// returned as [`NetworkError::Status`]; messages whose hash does not match their data are
    /// dropped and counted in [`Retrieved::skipped`].
    pub async fn retrieve(
        &self,
        identity: &Identity,
        node: &NodeId,
        requests: &[(Namespace, Option<MessageHash>)],
    ) -> Result<Vec<Retrieved>, NetworkError> {
        let result = self
            .inner
            .retrieve(identity, node, requests)
            .instrument(tracing::info_span!("retrieve", node = %node.short()))
            .await;
        self.inner.note(result)
    }

    /// A picture of the pool, guards, paths, swarms, clock and last error.
    pub fn status(&self) -> NetworkStatus {
        let inner = &self.inner;
        let state = lock(&inner.state);
        let mut swarms: Vec<SwarmStatus> = state
            .swarms
            .snapshot()
            .into_iter()
            .map(|(pubkey, members)| SwarmStatus { pubkey, members })
            .collect();
        swarms.sort_by_key(|s| s.pubkey.to_bytes());
        NetworkStatus {
            ready: !state.paths.paths().is_empty(),
            pool_size: state.pool.len(),
            guards: state.paths.guards().iter().map(NodeStatus::of).collect(),
            paths: state
                .paths
                .paths()
                .iter()
                .map(|path| PathStatus {
                    hops: path.hops().map(NodeStatus::of).collect(),
                    failures: state.paths.failures(&path.guard.ed25519),
                })
                .collect(),
            swarms,
            clock_offset_ms: inner.clock.network_offset_ms(),
            last_error: lock(&inner.last_error).clone(),
        }
    }

    /// What to persist: the pool, the guards' keys and the swarm cache.
    pub fn snapshot(&self) -> NetworkSnapshot {
        let state = lock(&self.inner.state);
        NetworkSnapshot {
            nodes: state.pool.snapshot(),
            guards: state.paths.guard_ids(),
            swarms: state.swarms.snapshot(),
        }
    }

    /// Stops the driver and waits for it. Requests made afterwards fail with
    /// [`NetworkError::ShutDown`]; requests in flight finish on their own timeouts.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        self.inner.wake.notify_one();
        let driver = lock(&self.inner.driver).take();
        if let Some(driver) = driver
            && let Err(error) = driver.await
            && error.is_panic()
        {
            tracing::error!("network driver panicked");
        }
        // Requests waiting for paths learn it now rather than at their timeout.
        self.inner
            .health
            .send_replace(Health::Failed(NetworkError::ShutDown));
    }
}

impl<T: Transport + 'static> Inner<T> {
    fn state(&self) -> MutexGuard<'_, NetworkState> {
        lock(&self.state)
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Records a request's failure for `status`, and passes the result on.
    fn note<X>(&self, result: Result<X, NetworkError>) -> Result<X, NetworkError> {
        if let Err(error) = &result {
            self.note_error(error);
        }
        result
    }

    fn note_error(&self, error: &NetworkError) {
        *lock(&self.last_error) = Some(error.to_string());
    }

    /// Wakes the driver if the state needs it (a path was dropped, the pool shrank).
    fn wake_if_needed(&self) {
        let needed = {
            let state = self.state();
            state.needs_path_rebuild() || state.needs_seed_reload()
        };
        if needed {
            self.wake.notify_one();
        }
    }

    /// Waits until a path exists (the driver builds it), at most [`Policy::ready_timeout`].
    /// Fails at once with the driver's last error while it waits before retrying.
    async fn ready(&self) -> Result<(), NetworkError> {
        self.wait_for_driver(|state| !state.paths.paths().is_empty(), false)
            .await
    }

    /// Waits until the driver has rebuilt a path set that lost paths (at most
    /// [`Policy::ready_timeout`]); at once if none is needed.
    async fn wait_for_rebuild(&self) -> Result<(), NetworkError> {
        self.wait_for_driver(|state| !state.needs_path_rebuild(), true)
            .await
    }

    /// Wakes the driver until `done` holds for the network state, at most
    /// [`Policy::ready_timeout`]; fails with the driver's last error, or with `NoPath`
    /// (`excluding_destination` as given) on time-out.
    async fn wait_for_driver(
        &self,
        done: impl Fn(&NetworkState) -> bool,
        excluding_destination: bool,
    ) -> Result<(), NetworkError> {
        let deadline = self.clock.instant() + self.policy.ready_timeout;
        let mut health = self.health.subscribe();
        loop {
            if self.is_shut_down() {
                return Err(NetworkError::ShutDown);
            }
            if done(&self.state()) {
                return Ok(());
            }
            self.wake.notify_one();
            if let Health::Failed(error) = &*health.borrow_and_update() {
                return Err(error.clone());
            }
            let remaining = deadline.saturating_duration_since(self.clock.instant());
            match self.clock.timeout(remaining, health.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(NetworkError::ShutDown),
                Err(_) => {
                    return Err(NetworkError::NoPath {
                        excluding_destination,
                    });
                }
            }
        }
    }

    /// Books a destination's reply (§3.9) and wakes the driver if a path went with it.
    fn record(
        &self,
        node: &ServiceNode,
        swarm: Option<&SwarmPubkey>,
        reply: &RpcReply,
    ) -> DestinationOutcome {
        let mut rng = self.rng.clone();
        let outcome = self
            .state()
            .record_reply(&node.ed25519, swarm, reply, &mut rng);
        self.wake_if_needed();
        outcome
    }

    /// Counts one failure against a node that answered something unusable.
    fn node_failed(&self, node: &ServiceNode, swarm: Option<&SwarmPubkey>) {
        let mut rng = self.rng.clone();
        self.state().node_failed(&node.ed25519, swarm, &mut rng);
        self.wake_if_needed();
    }

    /// One RPC through an onion path; path failures are booked by the onion client.
    async fn call(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
    ) -> Result<RpcReply, NetworkError> {
        self.call_avoiding(node, request, &mut Vec::new()).await
    }

    /// [`Inner::call`] preferring paths not in `failed_guards`; a path failure adds its guard.
    async fn call_avoiding(
        &self,
        node: &ServiceNode,
        request: &RpcRequest,
        failed_guards: &mut Vec<NodeId>,
    ) -> Result<RpcReply, NetworkError> {
        let (guard, result) = self
            .rpc
            .call_avoiding(node, request, self.policy.rpc_timeout, failed_guards)
            .await;
        if let (Some(guard), Err(_)) = (guard, &result) {
            failed_guards.push(guard);
        }
        self.wake_if_needed();
        result
    }

    /// The sub-results of a `batch`/`sequence` answer from `node`. A failed outer status is
    /// booked and returned as the single result; a malformed answer counts against the node.
    fn results(
        &self,
        node: &ServiceNode,
        swarm: Option<&SwarmPubkey>,
        request: &'static str,
        reply: RpcReply,
        meta: Meta,
        sent: usize,
    ) -> Result<Vec<RpcReply>, NetworkError> {
        if !reply.is_success() {
            return Ok(vec![reply]);
        }
        match parse_results(&reply, meta, sent) {
            Ok(results) => {
                for result in &results {
                    if let Some(t) = result.network_time() {
                        self.clock.record_network_time(t);
                    }
                }
                Ok(results)
            }
            Err(problem) => {
                self.node_failed(node, swarm);
                Err(NetworkError::Malformed {
                    peer: node.peer(),
                    request,
                    problem,
                })
            }
        }
    }

    /// Asks `node` for its clock (`info`) and returns its offset (local − node) in ms. The
    /// answer's `t` also goes into the network clock (the onion client records it).
    async fn node_offset(&self, node: &ServiceNode) -> Result<i64, NetworkError> {
        const REQUEST: &str = "info";
        let reply = self.call(node, &info_request()).await?;
        if !reply.is_success() {
            self.record(node, None, &reply);
            return Err(NetworkError::status(
                node.peer(),
                REQUEST,
                reply.status,
                reply.text().as_bytes(),
            ));
        }
        let t =
            reply
                .json()
                .and_then(storage::node_time)
                .ok_or_else(|| NetworkError::Malformed {
                    peer: node.peer(),
                    request: REQUEST,
                    problem: Malformed::MissingField { field: "t" },
                })?;
        let offset = i128::from(self.clock.now_ms()) - i128::from(t);
        let offset = i64::try_from(offset).map_err(|_| NetworkError::Malformed {
            peer: node.peer(),
            request: REQUEST,
            problem: Malformed::BadField {
                field: "t",
                expected: "a plausible time",
            },
        })?;
        tracing::info!(node = ?node, offset_ms = offset, "node clock read after a clock error");
        Ok(offset)
    }

    /// "Now" for timestamps sent to a node: its own clock if we read it after a 406, else the
    /// network time.
    fn now_for(&self, node: &ServiceNode, node_clock: Option<(NodeId, i64)>) -> u64 {
        match node_clock {
            Some((id, offset)) if id == node.ed25519 => {
                let now = i128::from(self.clock.now_ms()) - i128::from(offset);
                u64::try_from(now.max(0)).unwrap_or(u64::MAX)
            }
            _ => self.clock.network_now_ms(),
        }
    }

    /// The good members of `pubkey`'s swarm; fetched with `get_swarm` when the cache and the
    /// pool cannot say (three random nodes at most).
    async fn swarm_nodes(&self, pubkey: &SwarmPubkey) -> Result<Vec<ServiceNode>, NetworkError> {
        if self.is_shut_down() {
            return Err(NetworkError::ShutDown);
        }
        {
            let mut guard = self.state();
            let state = &mut *guard;
            if let Some(nodes) = state.swarms.resolve(pubkey, &state.pool, &self.policy) {
                return Ok(nodes);
            }
        }
        let mut last = NetworkError::NotEnoughNodes {
            what: "nodes to ask for a swarm",
            have: 0,
            need: 1,
        };
        for _ in 0..3 {
            self.ready().await?;
            let asked = {
                let mut rng = self.rng.clone();
                self.state().pool.nodes().choose(&mut rng).cloned()
            };
            let Some(asked) = asked else {
                break;
            };
            match fetch_swarm(&self.rpc, &asked, pubkey, &self.policy).await {
                Ok(info) => {
                    let mut state = self.state();
                    state
                        .swarms
                        .set(*pubkey, info.nodes.iter().map(|n| n.ed25519));
                    let good = state.swarms.good_nodes(pubkey, &state.pool);
                    if !good.is_empty() {
                        return Ok(good);
                    }
                    last = NetworkError::NotEnoughNodes {
                        what: "swarm members in the pool",
                        have: 0,
                        need: 1,
                    };
                }
                Err(error) => {
                    self.wake_if_needed();
                    if error.retry_after().is_none() {
                        return Err(error);
                    }
                    last = error;
                }
            }
        }
        Err(last)
    }

    /// A random member of `members` that is in the pool and reachable by a path that avoids
    /// it, preferring members not tried yet, then members reachable through a path that has
    /// not failed this request (`failed_guards`).
    fn pick_member(
        &self,
        members: &[ServiceNode],
        tried: &[NodeId],
        failed_guards: &[NodeId],
    ) -> Result<ServiceNode, NetworkError> {
        let state = self.state();
        let path_failures = |guard: &NodeId| failed_guards.iter().filter(|g| *g == guard).count();
        // Each usable member with (tried?, failures of its best path).
        let ranked: Vec<(&ServiceNode, (bool, usize))> = members
            .iter()
            .filter(|m| state.pool.contains(&m.ed25519))
            .filter_map(|m| {
                let best = state
                    .paths
                    .paths()
                    .iter()
                    .filter(|p| !p.contains(&m.ed25519))
                    .map(|p| path_failures(&p.guard.ed25519))
                    .min()?;
                Some((m, (tried.contains(&m.ed25519), best)))
            })
            .collect();
        let best_rank = ranked.iter().map(|(_, rank)| *rank).min();
        let best: Vec<&ServiceNode> = ranked
            .iter()
            .filter(|(_, rank)| Some(*rank) == best_rank)
            .map(|(m, _)| *m)
            .collect();
        let mut rng = self.rng.clone();
        match best.choose(&mut rng) {
            Some(&member) => Ok(member.clone()),
            None if members.iter().any(|m| state.pool.contains(&m.ed25519)) => {
                Err(NetworkError::NoPath {
                    excluding_destination: true,
                })
            }
            None => Err(NetworkError::NotEnoughNodes {
                what: "swarm members in the pool",
                have: 0,
                need: 1,
            }),
        }
    }

    /// The store loop (§3.9): one random good member per attempt, through an onion path.
    /// `build` makes the `store` sub-request for a signature timestamp.
    async fn store_with(
        &self,
        to: &SwarmPubkey,
        expected: &MessageHash,
        build: &(dyn Fn(u64) -> Result<RpcRequest, NetworkError> + Sync),
    ) -> Result<StoreAck, NetworkError> {
        const REQUEST: &str = "store";
        let mut tried: Vec<NodeId> = Vec::new();
        // The next node to use: the same one after a clock refresh.
        let mut next: Option<ServiceNode> = None;
        // Members to prefer, from a 421 answer.
        let mut candidates: Vec<ServiceNode> = Vec::new();
        let mut node_clock: Option<(NodeId, i64)> = None;
        // Guards of the paths this store failed through: retries prefer the others.
        let mut failed_guards: Vec<NodeId> = Vec::new();
        let mut last: Option<NetworkError> = None;
        for attempt in 1..=self.policy.request_attempts.max(1) {
            self.ready().await?;
            let node = match next.take() {
                Some(node) => node,
                None => {
                    let members = if candidates.is_empty() {
                        self.swarm_nodes(to).await?
                    } else {
                        std::mem::take(&mut candidates)
                    };
                    match self.pick_member(&members, &tried, &failed_guards) {
                        Ok(member) => member,
                        // Every member left is in the only path left: wait for the driver to
                        // build the missing paths, then try again.
                        Err(error @ NetworkError::NoPath { .. }) => {
                            self.wait_for_rebuild().await?;
                            last = Some(error);
                            continue;
                        }
                        Err(error) => return Err(error),
                    }
                }
            };
            tried.push(node.ed25519);
            let sig_timestamp = self.now_for(&node, node_clock);
            let request = storage::wrap(Meta::Sequence, &[build(sig_timestamp)?])?;
            tracing::debug!(attempt, node = ?node, "store attempt");
            let reply = match self
                .call_avoiding(&node, &request, &mut failed_guards)
                .await
            {
                Ok(reply) => reply,
                Err(error) if error.retry_after().is_some() => {
                    tracing::info!(attempt, %error, "store attempt failed");
                    last = Some(error);
                    continue;
                }
                Err(error) => return Err(error),
            };
            let result = match self.results(&node, Some(to), REQUEST, reply, Meta::Sequence, 1) {
                Ok(mut results) => results.remove(0),
                Err(error) => {
                    last = Some(error);
                    continue;
                }
            };
            let failure = || {
                NetworkError::status(
                    node.peer(),
                    REQUEST,
                    result.status,
                    result.text().as_bytes(),
                )
            };
            match self.record(&node, Some(to), &result) {
                DestinationOutcome::Success => {
                    let body = result.json().unwrap_or(&serde_json::Value::Null);
                    match parse_store(body, expected) {
                        Ok(hash) => {
                            return Ok(StoreAck {
                                hash,
                                node: node.ed25519,
                            });
                        }
                        Err(problem) => {
                            self.node_failed(&node, Some(to));
                            last = Some(NetworkError::Malformed {
                                peer: node.peer(),
                                request: REQUEST,
                                problem,
                            });
                        }
                    }
                }
                DestinationOutcome::Misdirected => {
                    // The swarm in the body replaced the cached one: retry on its members.
                    candidates = {
                        let state = self.state();
                        state.swarms.good_nodes(to, &state.pool)
                    };
                    candidates.retain(|m| m.ed25519 != node.ed25519);
                    tracing::info!(
                        members = candidates.len(),
                        "wrong swarm: retrying on the swarm the node named"
                    );
                    last = Some(failure());
                }
                DestinationOutcome::ClockSkew => {
                    if node_clock.is_some() {
                        return Err(NetworkError::ClockSkew {
                            peer: node.peer(),
                            request: REQUEST,
                        });
                    }
                    let offset = self.node_offset(&node).await?;
                    node_clock = Some((node.ed25519, offset));
                    next = Some(node.clone());
                    last = Some(NetworkError::ClockSkew {
                        peer: node.peer(),
                        request: REQUEST,
                    });
                }
                DestinationOutcome::Refused | DestinationOutcome::RateLimited => {
                    return Err(failure());
                }
                DestinationOutcome::NodeNotFound(_) | DestinationOutcome::NodeFailure => {
                    tracing::info!(
                        attempt,
                        status = result.status,
                        "store attempt failed at the node"
                    );
                    last = Some(failure());
                }
            }
        }
        Err(last.unwrap_or_else(|| NetworkError::internal("store loop made no attempt")))
    }

    async fn retrieve(
        &self,
        identity: &Identity,
        id: &NodeId,
        requests: &[(Namespace, Option<MessageHash>)],
    ) -> Result<Vec<Retrieved>, NetworkError> {
        const REQUEST: &str = "retrieve";
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        self.ready().await?;
        let owner = SwarmPubkey::Account(identity.account_id());
        let node = self
            .state()
            .pool
            .get(id)
            .cloned()
            .ok_or(NetworkError::UnknownNode { id: *id })?;
        let namespaces: Vec<Namespace> = requests.iter().map(|(ns, _)| *ns).collect();
        let sizes = retrieve_max_sizes(&namespaces);
        let mut node_clock: Option<(NodeId, i64)> = None;
        loop {
            let timestamp = self.now_for(&node, node_clock);
            let subs: Vec<RpcRequest> = requests
                .iter()
                .zip(&sizes)
                .map(|((namespace, last_hash), &max_size)| {
                    retrieve_request(
                        identity,
                        *namespace,
                        last_hash.as_ref(),
                        max_size,
                        timestamp,
                    )
                })
                .collect();
            let request = storage::wrap(Meta::Batch, &subs)?;
            let reply = self.call(&node, &request).await?;
            let results =
                self.results(&node, Some(&owner), REQUEST, reply, Meta::Batch, subs.len())?;
            if let Some(failed) = results.iter().find(|r| !r.is_success()) {
                match self.record(&node, Some(&owner), failed) {
                    DestinationOutcome::ClockSkew if node_clock.is_none() => {
                        let offset = self.node_offset(&node).await?;
                        node_clock = Some((node.ed25519, offset));
                        continue;
                    }
                    DestinationOutcome::ClockSkew => {
                        return Err(NetworkError::ClockSkew {
                            peer: node.peer(),
                            request: REQUEST,
                        });
                    }
                    _ => {
                        return Err(NetworkError::status(
                            node.peer(),
                            REQUEST,
                            failed.status,
                            failed.text().as_bytes(),
                        ));
                    }
                }
            }
            let mut out = Vec::with_capacity(results.len());
            for (result, namespace) in results.iter().zip(&namespaces) {
                let body = result.json().unwrap_or(&serde_json::Value::Null);
                match parse_retrieve(body, &owner, *namespace) {
                    Ok(retrieved) => out.push(retrieved),
                    Err(problem) => {
                        self.node_failed(&node, Some(&owner));
                        return Err(NetworkError::Malformed {
                            peer: node.peer(),
                            request: REQUEST,
                            problem,
                        });
                    }
                }
            }
            return Ok(out);
        }
    }

    /// Makes the state usable: a pool (from the seeds if too small, or if path building keeps
    /// failing on it), then guards and paths.
    async fn maintain(&self, failed_builds: &mut u32) -> Result<(), NetworkError> {
        let mut rng = self.rng.clone();
        let reload = self.state().needs_seed_reload() || *failed_builds >= 2;
        if reload {
            let nodes = fetch_from_seeds(
                &*self.transport,
                &self.seeds,
                &self.policy,
                &self.clock,
                &mut rng,
            )
            .await?;
            let mut state = self.state();
            state.adopt_nodes(nodes);
            if state.needs_seed_reload() {
                return Err(NetworkError::NotEnoughNodes {
                    what: "the service-node pool",
                    have: state.pool.len(),
                    need: self.policy.min_pool_size + 1,
                });
            }
            *failed_builds = 0;
            tracing::info!(nodes = state.pool.len(), "pool loaded from a seed");
        }
        if self.state().needs_path_rebuild() {
            let (pool, guards) = {
                let state = self.state();
                (state.pool.clone(), state.paths.guards().to_vec())
            };
            match rebuild_path_set(&*self.transport, &pool, &guards, &self.policy, &mut rng).await {
                Ok(paths) => {
                    self.state().install_paths(paths);
                    *failed_builds = 0;
                }
                Err(error) => {
                    *failed_builds += 1;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// The periodic pool refresh: [`Policy::refresh_attempts`] tries from three nodes through
    /// onion paths, then a seed.
    async fn refresh_pool(&self) -> Result<(), NetworkError> {
        let mut rng = self.rng.clone();
        for attempt in 1..=self.policy.refresh_attempts {
            let sources = match self.state().pool.refresh_sources(&mut rng) {
                Ok(sources) => sources,
                Err(error) => {
                    tracing::info!(%error, "pool too small to refresh from nodes");
                    break;
                }
            };
            match refresh_from_nodes(&self.rpc, &sources, &self.policy).await {
                Ok(nodes) => {
                    self.state().adopt_nodes(nodes);
                    return Ok(());
                }
                Err(error) => tracing::info!(attempt, %error, "pool refresh failed"),
            }
        }
        let nodes = fetch_from_seeds(
            &*self.transport,
            &self.seeds,
            &self.policy,
            &self.clock,
            &mut rng,
        )
        .await?;
        self.state().adopt_nodes(nodes);
        Ok(())
    }
}

/// The driver: keeps a pool and paths, refreshes the pool on schedule, and stops when the
/// client is shut down or dropped.
async fn drive<T: Transport + 'static>(
    client: Weak<Inner<T>>,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some((clock, policy)) = client
        .upgrade()
        .map(|inner| (inner.clock.clone(), inner.policy.clone()))
    else {
        return;
    };
    let mut next_refresh = clock.instant() + policy.refresh_delay;
    let mut backoff = policy.min_backoff;
    let mut failed_builds = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Make the state usable, if it is not.
        let failed = {
            let Some(inner) = client.upgrade() else {
                return;
            };
            let needed = {
                let state = inner.state();
                state.needs_seed_reload() || state.needs_path_rebuild()
            };
            if needed {
                inner.health.send_replace(Health::Working);
                let result = tokio::select! {
                    result = inner.maintain(&mut failed_builds) => result,
                    _ = shutdown.changed() => return,
                };
                match result {
                    Ok(()) => {
                        tracing::info!("onion paths ready");
                        inner.health.send_replace(Health::Ready);
                        backoff = policy.min_backoff;
                        false
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in = ?backoff, "network not usable yet");
                        inner.note_error(&error);
                        inner.health.send_replace(Health::Failed(error));
                        true
                    }
                }
            } else {
                inner.health.send_if_modified(|health| {
                    let changed = !matches!(health, Health::Ready);
                    *health = Health::Ready;
                    changed
                });
                false
            }
        };
        if failed {
            let wait = backoff;
            backoff = backoff.saturating_mul(2).min(policy.max_backoff);
            tokio::select! {
                () = clock.sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        // Wait for a wake-up, the next refresh or the end.
        let until_refresh = next_refresh.saturating_duration_since(clock.instant());
        let refresh = tokio::select! {
            () = wake.notified() => false,
            () = clock.sleep(until_refresh) => true,
            _ = shutdown.changed() => return,
        };
        if refresh {
            next_refresh = clock.instant() + policy.refresh_interval.max(Duration::from_secs(1));
            let Some(inner) = client.upgrade() else {
                return;
            };
            let result = tokio::select! {
                result = inner.refresh_pool() => result,
                _ = shutdown.changed() => return,
            };
            match result {
                Ok(()) => tracing::info!(nodes = inner.state().pool.len(), "pool refreshed"),
                Err(error) => {
                    tracing::warn!(%error, "pool refresh failed");
                    inner.note_error(&error);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};
    use sessiond_protocol::Seed;

    use super::*;
    use crate::seed::{CertPin, SeedTrust};
    use crate::testing::{
        FakeNetwork, FakeOnionNetwork, FakeReply, TestRng, node_state_json, swarm_member_json,
        test_node,
    };

    /// Virtual (paused tokio time): bounds stuck futures without waiting.
    const TEST_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
    const START: u64 = 1_700_000_000_000;
    const TTL: u64 = 86_400_000;
    const NODES: u8 = 20;

    fn identity() -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[1; 16]).unwrap())
    }

    fn pubkey() -> SwarmPubkey {
        SwarmPubkey::Account(identity().account_id())
    }

    /// Node `n` of the fake onion network, as the client sees it.
    fn node(n: u8) -> ServiceNode {
        ServiceNode {
            x25519: sessiond_protocol::onion::hop_cipher::x25519_public(&[n.wrapping_add(1); 32]),
            ..test_node(n)
        }
    }

    fn id(n: u8) -> NodeId {
        node(n).ed25519
    }

    fn index_of(id: &NodeId) -> u8 {
        id.0[0]
    }

    /// How a fake node treats storage requests.
    #[derive(Debug, Clone)]
    enum Behaviour {
        /// Like a storage server.
        Normal,
        /// Answers every storage request with this status and text.
        Fail(u16, &'static str),
        /// Answers 421 naming these nodes as the swarm.
        WrongSwarm(Vec<u8>),
        /// Its clock is this far ahead of ours.
        Skew(i64),
        /// Refuses every timestamp.
        AlwaysSkewed,
        /// Accepts stores but names another hash.
        WrongHash,
    }

    #[derive(Default)]
    struct Server {
        /// (pubkey, namespace, hash, timestamp, expiry, data), in insertion order.
        messages: Vec<(String, i64, String, u64, u64, Vec<u8>)>,
        behaviour: HashMap<u8, Behaviour>,
        /// (node, method, params) of every sub-request and `info`.
        log: Vec<(u8, String, Value)>,
        /// The members `get_swarm` names for our pubkey.
        swarm: Vec<u8>,
    }

    /// A fake storage server behind every fake onion node.
    #[derive(Clone)]
    struct FakeStorage {
        server: Arc<Mutex<Server>>,
        clock: Clock,
    }

    impl FakeStorage {
        fn set(&self, nodes: impl IntoIterator<Item = u8>, behaviour: Behaviour) {
            let mut server = lock(&self.server);
            for n in nodes {
                server.behaviour.insert(n, behaviour.clone());
            }
        }

        fn log(&self, method: &str) -> Vec<(u8, Value)> {
            lock(&self.server)
                .log
                .iter()
                .filter(|(_, m, _)| m == method)
                .map(|(n, _, p)| (*n, p.clone()))
                .collect()
        }

        fn handle(&self, n: u8, request: &Value) -> (u16, String) {
            let now = self.clock.now_ms();
            let method = request["method"].as_str().unwrap_or_default();
            let params = &request["params"];
            match method {
                "get_swarm" => {
                    let server = lock(&self.server);
                    let members: Vec<Value> = if params["pubkey"] == pubkey().to_string().as_str() {
                        server
                            .swarm
                            .iter()
                            .map(|&m| swarm_member_json(&node(m)))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let body = json!({"snodes": members, "swarm": "0", "t": now, "hf": [19, 4]});
                    (200, body.to_string())
                }
                "oxend_request" => {
                    lock(&self.server)
                        .log
                        .push((n, method.to_owned(), params.clone()));
                    let states: Vec<Value> =
                        (0..NODES).map(|m| node_state_json(&node(m))).collect();
                    let body = json!({"result": {"service_node_states": states}, "t": now});
                    (200, body.to_string())
                }
                "info" => {
                    lock(&self.server)
                        .log
                        .push((n, method.to_owned(), params.clone()));
                    let t = self.node_now(n);
                    let body = json!({"version": [2, 8, 0], "timestamp": t, "t": t, "hf": [19, 4]});
                    (200, body.to_string())
                }
                "batch" | "sequence" => {
                    let mut results = Vec::new();
                    for sub in params["requests"].as_array().cloned().unwrap_or_default() {
                        let (code, body) = self.sub(n, &sub);
                        results.push(json!({"code": code, "body": body}));
                        if method == "sequence" && !(200..300).contains(&code) {
                            break;
                        }
                    }
                    (200, json!({ "results": results }).to_string())
                }
                other => (400, format!("no method {other}")),
            }
        }

        fn node_now(&self, n: u8) -> u64 {
            let skew = match lock(&self.server).behaviour.get(&n) {
                Some(Behaviour::Skew(ms)) => *ms,
                _ => 0,
            };
            self.clock.now_ms().saturating_add_signed(skew)
        }

        fn sub(&self, n: u8, request: &Value) -> (u16, Value) {
            let method = request["method"].as_str().unwrap_or_default().to_owned();
            let params = request["params"].clone();
            let now = self.node_now(n);
            let mut server = lock(&self.server);
            server.log.push((n, method.clone(), params.clone()));
            let too_far = |ts: u64, window: u64| ts.abs_diff(now) > window;
            match server
                .behaviour
                .get(&n)
                .cloned()
                .unwrap_or(Behaviour::Normal)
            {
                Behaviour::Fail(status, text) => return (status, json!(text)),
                Behaviour::WrongSwarm(members) => {
                    let snodes: Vec<Value> = members
                        .iter()
                        .map(|&m| swarm_member_json(&node(m)))
                        .collect();
                    return (421, json!({"snodes": snodes, "swarm": "abc", "t": now}));
                }
                Behaviour::AlwaysSkewed => {
                    return (406, json!("Timestamp error: check your clock"));
                }
                Behaviour::WrongHash if method == "store" => {
                    let other = MessageHash::compute(&pubkey(), Namespace::DEFAULT, b"other");
                    return (200, json!({"hash": other.as_str(), "swarm": {}, "t": now}));
                }
                Behaviour::Normal | Behaviour::Skew(_) | Behaviour::WrongHash => {}
            }
            let owner = params["pubkey"].as_str().unwrap_or_default().to_owned();
            let namespace = params["namespace"].as_i64().unwrap_or(0);
            match method.as_str() {
                "store" => {
                    let timestamp = params["timestamp"].as_u64().unwrap_or(0);
                    let sig_timestamp = params["sig_timestamp"].as_u64().unwrap_or(timestamp);
                    if timestamp > now + 10_000
                        || (params.get("signature").is_some() && too_far(sig_timestamp, 60_000))
                    {
                        return (
                            406,
                            json!("store signature timestamp too far from current time"),
                        );
                    }
                    let data = STANDARD
                        .decode(params["data"].as_str().unwrap_or_default())
                        .unwrap();
                    let pk: SwarmPubkey = owner.parse().unwrap();
                    let ns = Namespace::try_from(namespace).unwrap();
                    let hash = MessageHash::compute(&pk, ns, &data).to_string();
                    let expiry = timestamp + params["ttl"].as_u64().unwrap_or(0);
                    server
                        .messages
                        .push((owner, namespace, hash.clone(), timestamp, expiry, data));
                    (
                        200,
                        json!({"hash": hash, "swarm": {}, "t": now, "hf": [19, 4]}),
                    )
                }
                "retrieve" => {
                    if too_far(params["timestamp"].as_u64().unwrap_or(0), 60_000) {
                        return (406, json!("retrieve timestamp too far from current time"));
                    }
                    let last = params["last_hash"].as_str().unwrap_or_default();
                    let mine: Vec<_> = server
                        .messages
                        .iter()
                        .filter(|m| m.0 == owner && m.1 == namespace)
                        .collect();
                    let start = mine.iter().position(|m| m.2 == last).map_or(0, |p| p + 1);
                    let messages: Vec<Value> = mine[start..]
                        .iter()
                        .map(|m| {
                            json!({"hash": m.2, "timestamp": m.3, "expiration": m.4,
                                   "data": STANDARD.encode(&m.5)})
                        })
                        .collect();
                    (
                        200,
                        json!({"messages": messages, "more": false, "t": now, "hf": [19, 4]}),
                    )
                }
                other => (400, json!(format!("no method {other}"))),
            }
        }
    }

    struct World {
        clock: Clock,
        net: FakeNetwork,
        onion: FakeOnionNetwork,
        storage: FakeStorage,
        seed: SeedNode,
    }

    /// 20 fake onion nodes (each in its own /24), all healthy; our swarm is nodes 10..14.
    fn world() -> World {
        let clock = Clock::manual(START);
        let net = FakeNetwork::new(clock.clone());
        let onion = FakeOnionNetwork::new(net.clone());
        let storage = FakeStorage {
            server: Arc::new(Mutex::new(Server {
                swarm: vec![10, 11, 12, 13],
                ..Server::default()
            })),
            clock: clock.clone(),
        };
        for n in 0..NODES {
            let storage = storage.clone();
            let added = onion.add(n, move |request: &Value| storage.handle(n, request));
            assert_eq!(added, node(n));
        }
        let seed = SeedNode::new(
            "https://seed.example:4443/json_rpc",
            SeedTrust::Pinned(CertPin([1; 32])),
        )
        .unwrap();
        World {
            clock,
            net,
            onion,
            storage,
            seed,
        }
    }

    fn snapshot() -> NetworkSnapshot {
        NetworkSnapshot {
            nodes: (0..NODES).map(node).collect(),
            guards: Vec::new(),
            swarms: vec![(pubkey(), (10..14).map(id).collect())],
        }
    }

    fn config(w: &World, rng_seed: u64) -> NetworkConfig {
        NetworkConfig {
            seeds: vec![w.seed.clone()],
            policy: Policy::local(usize::from(NODES)),
            proxy: None,
            rng: NetworkRng::new(TestRng::new(rng_seed)),
        }
    }

    fn client(
        w: &World,
        snapshot: Option<NetworkSnapshot>,
        rng_seed: u64,
    ) -> NetworkClient<FakeNetwork> {
        NetworkClient::with_transport(
            config(w, rng_seed),
            snapshot,
            w.net.clone(),
            w.clock.clone(),
        )
        .unwrap()
    }

    async fn timed<F: std::future::Future>(future: F) -> F::Output {
        tokio::time::timeout(TEST_TIMEOUT, future)
            .await
            .expect("test timed out (virtual time)")
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_is_one_sequence_to_one_member_and_its_time_feeds_the_clock() {
        timed(async {
            let w = world();
            w.storage.set(10..14, Behaviour::Skew(-1000));
            let client = client(&w, Some(snapshot()), 1);
            let timestamp = client.clock().network_now_ms();
            let ack = client
                .store(&pubkey(), Namespace::DEFAULT, b"hello", TTL, timestamp)
                .await
                .unwrap();
            assert_eq!(
                ack.hash,
                MessageHash::compute(&pubkey(), Namespace::DEFAULT, b"hello")
            );
            assert!((10..14).contains(&index_of(&ack.node)));
            let stores = w.storage.log("store");
            assert_eq!(stores.len(), 1);
            assert_eq!(stores[0].0, index_of(&ack.node));
            assert_eq!(
                stores[0].1,
                json!({"pubkey": pubkey().to_string(), "timestamp": timestamp, "namespace": 0,
                       "ttl": TTL, "data": "aGVsbG8="})
            );
            // The node's `t` (a second behind us) came from the sequence's sub-result.
            assert_eq!(client.clock().network_offset_ms(), 1000);
            // Only guards were contacted directly; nothing went to a swarm member directly.
            for n in 10..14 {
                let direct = w
                    .net
                    .log()
                    .into_iter()
                    .filter(|(peer, r)| {
                        *peer == crate::testing::FakePeer::Node(node(n).addr())
                            && r.path == crate::rpc::STORAGE_RPC_PATH
                            && r.json().is_some_and(|j| j["method"] != "get_swarm")
                    })
                    .count();
                assert_eq!(direct, 0);
            }
            let status = client.status();
            assert!(status.ready);
            assert_eq!(status.pool_size, usize::from(NODES));
            assert_eq!(status.guards.len(), 2);
            assert!(status.paths.iter().all(|p| p.hops.len() == 3));
            assert_eq!(status.clock_offset_ms, 1000);
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_421_replaces_the_swarm_and_the_store_succeeds_on_a_member_of_the_new_one() {
        timed(async {
            let w = world();
            w.storage
                .set(10..14, Behaviour::WrongSwarm(vec![14, 15, 16, 17]));
            let client = client(&w, Some(snapshot()), 2);
            let now = client.clock().network_now_ms();
            let ack = client
                .store(&pubkey(), Namespace::DEFAULT, b"moved", TTL, now)
                .await
                .unwrap();
            assert!((14..18).contains(&index_of(&ack.node)), "{:?}", ack.node);
            let stores = w.storage.log("store");
            assert_eq!(stores.len(), 2, "one 421, then the new swarm");
            let misdirected = stores[0].0;
            assert!((10..14).contains(&misdirected));
            let status = client.status();
            assert_eq!(status.swarms.len(), 1);
            assert_eq!(
                status.swarms[0].members,
                (14..18).map(id).collect::<Vec<_>>()
            );
            // The 421 counted one failure against the node that sent it.
            assert_eq!(lock(&client.inner.state).pool.failures(&id(misdirected)), 1);
            assert_eq!(
                client.swarm_members(&pubkey()).await.unwrap(),
                (14..18).map(id).collect::<Vec<_>>()
            );
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_406_reads_the_node_clock_with_info_and_retries_the_retrieve_once() {
        timed(async {
            let w = world();
            w.storage.set([10], Behaviour::Skew(120_000));
            let client = client(&w, Some(snapshot()), 3);
            let now = client.clock().network_now_ms();
            client
                .store(&pubkey(), Namespace::DEFAULT, b"m1", TTL, now)
                .await
                .unwrap();
            let retrieved = client
                .retrieve(&identity(), &id(10), &[(Namespace::DEFAULT, None)])
                .await
                .unwrap();
            assert_eq!(retrieved.len(), 1);
            assert_eq!(retrieved[0].messages.len(), 1);
            assert_eq!(retrieved[0].messages[0].data, b"m1");
            let retrieves = w.storage.log("retrieve");
            assert_eq!(retrieves.len(), 2);
            assert_eq!(w.storage.log("info").len(), 1);
            // The retry was signed with the node's time.
            let first = retrieves[0].1["timestamp"].as_u64().unwrap();
            let second = retrieves[1].1["timestamp"].as_u64().unwrap();
            assert!(second >= first + 120_000, "{first} {second}");
            assert!(second <= w.clock.now_ms() + 120_000);
            // The node's `t` (info, then the retrieve) went into the network clock.
            assert!(client.clock().network_offset_ms() < 0);

            // A node that refuses every timestamp: one refresh, one retry, then a typed error.
            w.storage.set([11], Behaviour::AlwaysSkewed);
            let error = client
                .retrieve(&identity(), &id(11), &[(Namespace::DEFAULT, None)])
                .await
                .unwrap_err();
            assert!(matches!(error, NetworkError::ClockSkew { .. }), "{error}");
            assert_eq!(
                w.storage
                    .log("retrieve")
                    .iter()
                    .filter(|(n, _)| *n == 11)
                    .count(),
                2
            );
            assert_eq!(w.storage.log("info").len(), 2);
            assert!(client.status().last_error.unwrap().contains("clock"));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_406_on_a_signed_store_is_retried_on_the_same_node_with_its_clock() {
        timed(async {
            let w = world();
            w.storage.set(10..14, Behaviour::Skew(120_000));
            let client = client(&w, Some(snapshot()), 4);
            let timestamp = client.clock().network_now_ms();
            let ack = client
                .store_as(
                    &identity(),
                    Namespace::USER_PROFILE,
                    b"config",
                    TTL,
                    timestamp,
                )
                .await
                .unwrap();
            let stores = w.storage.log("store");
            assert_eq!(stores.len(), 2);
            assert_eq!(stores[0].0, stores[1].0, "the retry goes to the same node");
            assert_eq!(stores[1].0, index_of(&ack.node));
            assert!(stores[0].1.get("sig_timestamp").is_none());
            // The message keeps its timestamp; the signature takes the node's.
            assert_eq!(stores[1].1["timestamp"], timestamp);
            assert!(stores[1].1["sig_timestamp"].as_u64().unwrap() >= timestamp + 120_000);
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_typed_errors_and_never_retried() {
        timed(async {
            let w = world();
            w.storage.set(
                10..14,
                Behaviour::Fail(401, "store signature verification failed"),
            );
            let client = client(&w, Some(snapshot()), 5);
            let now = client.clock().network_now_ms();
            let error = client
                .store(&pubkey(), Namespace::DEFAULT, b"x", TTL, now)
                .await
                .unwrap_err();
            assert!(
                matches!(error, NetworkError::Status { status: 401, .. }),
                "{error}"
            );
            assert_eq!(error.retry_after(), None);
            assert_eq!(w.storage.log("store").len(), 1);
            let state = lock(&client.inner.state);
            assert!((10..14).all(|n| state.pool.failures(&id(n)) == 0));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn failing_members_are_skipped_and_attempts_are_bounded() {
        timed(async {
            let w = world();
            w.storage
                .set([10, 11], Behaviour::Fail(503, "Snode not ready"));
            // Node 12 is gone: its relay answers 502 Next node not found.
            w.onion.set_online(&id(12), false);
            let client = client(&w, Some(snapshot()), 6);
            let now = client.clock().network_now_ms();
            let ack = client
                .store(&pubkey(), Namespace::DEFAULT, b"x", TTL, now)
                .await
                .unwrap();
            assert_eq!(ack.node, id(13));
            assert!(w.storage.log("store").len() <= 3);

            // Every member failing: exactly `request_attempts` attempts, then the last error.
            w.storage.set([13], Behaviour::Fail(503, "Snode not ready"));
            let before = w.storage.log("store").len();
            let error = client
                .store(&pubkey(), Namespace::DEFAULT, b"y", TTL, now)
                .await
                .unwrap_err();
            assert!(
                matches!(error, NetworkError::Status { status: 503, .. }),
                "{error}"
            );
            assert_eq!(error.retry_after(), Some(Duration::ZERO));
            let attempts = w.storage.log("store").len() - before;
            assert!(attempts <= Policy::local(20).request_attempts, "{attempts}");
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_naming_another_hash_is_counted_and_the_store_retried_elsewhere() {
        timed(async {
            let w = world();
            w.storage.set([10, 11, 12], Behaviour::WrongHash);
            let client = client(&w, Some(snapshot()), 13);
            let now = client.clock().network_now_ms();
            let ack = client
                .store(&pubkey(), Namespace::DEFAULT, b"x", TTL, now)
                .await
                .unwrap();
            assert_eq!(ack.node, id(13));
            let stores = w.storage.log("store");
            assert_eq!(stores.last().unwrap().0, 13);
            let state = lock(&client.inner.state);
            for (n, _) in &stores[..stores.len() - 1] {
                assert_eq!(state.pool.failures(&id(*n)), 1, "node {n}");
            }
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_snapshot_the_client_bootstraps_from_a_seed_and_fetches_swarms() {
        timed(async {
            let w = world();
            let states: Vec<Value> = (0..NODES).map(|n| node_state_json(&node(n))).collect();
            w.net.add_seed(&w.seed, move |_| {
                FakeReply::json(200, &json!({"result": {"service_node_states": states}}))
            });
            let client = client(&w, None, 7);
            let members = client.swarm_members(&pubkey()).await.unwrap();
            assert_eq!(members, (10..14).map(id).collect::<Vec<_>>());
            let seed_requests = w
                .net
                .log()
                .iter()
                .filter(|(peer, _)| matches!(peer, crate::testing::FakePeer::Seed(_)))
                .count();
            assert_eq!(seed_requests, 1);
            let status = client.status();
            assert!(status.ready);
            assert_eq!(status.pool_size, usize::from(NODES));
            assert_eq!(status.paths.len(), 2);
            let snapshot = client.snapshot();
            assert_eq!(snapshot.nodes.len(), usize::from(NODES));
            assert_eq!(snapshot.guards.len(), 2);
            assert_eq!(
                snapshot.swarms,
                vec![(pubkey(), (10..14).map(id).collect())]
            );
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_keeps_its_guards_and_the_pool_is_refreshed_on_schedule() {
        timed(async {
            let w = world();
            let mut saved = snapshot();
            saved.guards = vec![id(0), id(1)];
            let client = client(&w, Some(saved), 8);
            client.swarm_members(&pubkey()).await.unwrap();
            // Wait for the driver to build paths (a store waits for it).
            let now = client.clock().network_now_ms();
            client
                .store(&pubkey(), Namespace::DEFAULT, b"x", TTL, now)
                .await
                .unwrap();
            let status = client.status();
            let guards: Vec<NodeId> = status.guards.iter().map(|g| g.ed25519).collect();
            assert_eq!(guards, vec![id(0), id(1)]);
            // Restored guards are not tested again, and no seed was asked.
            assert_eq!(
                w.net
                    .log()
                    .iter()
                    .filter(|(_, r)| r.path == crate::rpc::STORAGE_RPC_PATH)
                    .count(),
                0
            );
            assert_eq!(w.storage.log("oxend_request").len(), 0);
            tokio::time::sleep(Duration::from_secs(5 * 60 + 1)).await;
            assert_eq!(w.storage.log("oxend_request").len(), 3);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            assert_eq!(w.storage.log("oxend_request").len(), 6);
            assert_eq!(client.status().pool_size, usize::from(NODES));
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_guard_loses_its_path_and_the_driver_builds_new_ones() {
        timed(async {
            let w = world();
            let client = client(&w, Some(snapshot()), 9);
            let now = client.clock().network_now_ms();
            client
                .store(&pubkey(), Namespace::DEFAULT, b"first", TTL, now)
                .await
                .unwrap();
            let dead = client.status().guards[0].ed25519;
            w.onion.set_online(&dead, false);
            for i in 0..30u8 {
                client
                    .store(&pubkey(), Namespace::DEFAULT, &[i], TTL, now)
                    .await
                    .unwrap();
                if !lock(&client.inner.state).pool.contains(&dead) {
                    break;
                }
            }
            assert!(!lock(&client.inner.state).pool.contains(&dead));
            // The driver rebuilds in the background.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let status = client.status();
            assert_eq!(status.paths.len(), 2);
            assert!(
                status
                    .paths
                    .iter()
                    .all(|p| p.hops.iter().all(|h| h.ed25519 != dead))
            );
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn after_shutdown_requests_fail_and_the_driver_is_gone() {
        timed(async {
            let w = world();
            let client = client(&w, Some(snapshot()), 10);
            let other = client.clone();
            client.shutdown().await;
            assert!(lock(&client.inner.driver).is_none());
            let error = other
                .store(&pubkey(), Namespace::DEFAULT, b"x", TTL, START)
                .await
                .unwrap_err();
            assert!(matches!(error, NetworkError::ShutDown), "{error}");
            // Bad requests are refused before anything else.
            let error = other
                .store(&pubkey(), Namespace::USER_PROFILE, b"x", TTL, START)
                .await
                .unwrap_err();
            assert!(
                matches!(error, NetworkError::InvalidRequest { .. }),
                "{error}"
            );
        })
        .await;
    }

    /// Compile-time check: the daemon can hold the client anywhere and spawn its requests.
    #[allow(dead_code)]
    fn requests_are_send(client: &NetworkClient, who: &Identity, node: &NodeId) {
        fn send<T: Send + Sync>(_: &T) {}
        fn send_future<T: Send>(_: &T) {}
        send(client);
        let to = SwarmPubkey::Account(who.account_id());
        send_future(&client.store(&to, Namespace::DEFAULT, b"", TTL, START));
        send_future(&client.store_as(who, Namespace::USER_PROFILE, b"", TTL, START));
        send_future(&client.retrieve(who, node, &[]));
        send_future(&client.swarm_members(&to));
        send_future(&client.ready());
        send_future(&client.shutdown());
    }

    #[test]
    fn starting_outside_a_tokio_runtime_is_an_error_not_a_panic() {
        let w = {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async { world() })
        };
        let result =
            NetworkClient::with_transport(config(&w, 11), None, w.net.clone(), w.clock.clone());
        assert!(matches!(result, Err(NetworkError::Config { .. })));
    }

    #[test]
    fn a_dropped_client_stops_its_driver() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let w = world();
            let client = client(&w, Some(snapshot()), 12);
            let driver = lock(&client.inner.driver).take().unwrap();
            drop(client);
            tokio::time::timeout(TEST_TIMEOUT, driver)
                .await
                .expect("the driver stops")
                .unwrap();
        });
    }
}
