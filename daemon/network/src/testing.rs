//! Test doubles: an in-memory network of fake service nodes and seeds, a deterministic RNG, and
//! node fixtures. Compiled for this crate's tests and, with the `testing` feature, for the
//! daemon's.
//!
//! [`FakeNetwork`] implements [`Transport`] by calling a handler closure registered for the
//! peer's address, so policy code (seed bootstrap, guard tests, refreshes, swarm lookups) runs
//! against scripted nodes. A handler can answer, refuse the connection, or hang until the
//! caller's timeout, which under `tokio::time::pause()` expires at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand_core::{TryCryptoRng, TryRng};
use serde_json::Value;

use crate::clock::Clock;
use crate::error::TransportError;
use crate::node::{NodeId, ServiceNode};
use crate::seed::SeedNode;
use crate::transport::{HttpResponse, Transport};

/// A request as a fake peer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRequest {
    /// The URL path (`/storage_rpc/v1`, `/onion_req/v2`, or the seed URL's path).
    pub path: String,
    /// The body.
    pub body: Vec<u8>,
}

impl FakeRequest {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What a fake peer does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeReply {
    /// Answer with this status and body.
    Respond(HttpResponse),
    /// Never answer: the caller's timeout expires.
    Hang,
    /// Refuse the connection.
    Refuse,
}

impl FakeReply {
    /// An answer with a JSON body.
    pub fn json(status: u16, body: &Value) -> FakeReply {
        FakeReply::Respond(HttpResponse {
            status,
            body: body.to_string().into_bytes(),
        })
    }

    /// An answer with a plain-text body.
    pub fn text(status: u16, body: &str) -> FakeReply {
        FakeReply::Respond(HttpResponse {
            status,
            body: body.as_bytes().to_vec(),
        })
    }
}

/// Who a logged request went to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakePeer {
    /// A service node's address.
    Node(SocketAddrV4),
    /// A seed's URL.
    Seed(String),
}

type Handler = Arc<dyn Fn(&FakeRequest) -> FakeReply + Send + Sync>;

/// An in-memory network: peers are handler closures keyed by address (nodes) or URL (seeds).
/// Cloning shares the network.
#[derive(Clone)]
pub struct FakeNetwork {
    inner: Arc<Mutex<FakeInner>>,
    clock: Clock,
}

#[derive(Default)]
struct FakeInner {
    nodes: HashMap<SocketAddrV4, Handler>,
    seeds: HashMap<String, Handler>,
    log: Vec<(FakePeer, FakeRequest)>,
}

impl FakeNetwork {
    /// An empty network whose hangs are bounded by `clock`'s timeouts.
    pub fn new(clock: Clock) -> FakeNetwork {
        FakeNetwork {
            inner: Arc::new(Mutex::new(FakeInner::default())),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a node at `node`'s address (replacing any handler there).
    pub fn add_node(
        &self,
        node: &ServiceNode,
        handler: impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
    ) {
        self.lock().nodes.insert(node.addr(), Arc::new(handler));
    }

    /// Takes the node at `node`'s address off the network (connections are refused).
    pub fn remove_node(&self, node: &ServiceNode) {
        self.lock().nodes.remove(&node.addr());
    }

    /// Puts a seed at `seed`'s URL.
    pub fn add_seed(
        &self,
        seed: &SeedNode,
        handler: impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
    ) {
        self.lock()
            .seeds
            .insert(seed.url().to_string(), Arc::new(handler));
    }

    /// Every request made so far, in order.
    pub fn log(&self) -> Vec<(FakePeer, FakeRequest)> {
        self.lock().log.clone()
    }

    /// How many requests went to `node`'s address.
    pub fn requests_to(&self, node: &ServiceNode) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|(peer, _)| *peer == FakePeer::Node(node.addr()))
            .count()
    }

    async fn exchange(
        &self,
        peer: FakePeer,
        request: FakeRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let handler = {
            let mut inner = self.lock();
            inner.log.push((peer.clone(), request.clone()));
            match &peer {
                FakePeer::Node(addr) => inner.nodes.get(addr).cloned(),
                FakePeer::Seed(url) => inner.seeds.get(url).cloned(),
            }
        };
        let refused = || TransportError::Connect {
            reason: "connection refused".to_owned(),
        };
        match handler.map(|h| h(&request)) {
            Some(FakeReply::Respond(response)) => Ok(response),
            Some(FakeReply::Hang) => {
                let _ = self
                    .clock
                    .timeout(timeout, std::future::pending::<()>())
                    .await;
                Err(TransportError::Timeout { after: timeout })
            }
            Some(FakeReply::Refuse) | None => Err(refused()),
        }
    }
}

impl Transport for FakeNetwork {
    async fn post_node(
        &self,
        node: &ServiceNode,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let request = FakeRequest {
            path: path.to_owned(),
            body,
        };
        self.exchange(FakePeer::Node(node.addr()), request, timeout)
            .await
    }

    async fn post_seed(
        &self,
        seed: &SeedNode,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let request = FakeRequest {
            path: seed.url().path().to_owned(),
            body,
        };
        self.exchange(FakePeer::Seed(seed.url().to_string()), request, timeout)
            .await
    }
}

/// A deterministic RNG (SplitMix64) so that "random" choices in tests are the same on every
/// run. Not cryptographically secure: it only claims `CryptoRng` to be accepted by the code
/// under test.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator whose output is fixed by `seed`.
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl TryRng for TestRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

/// A distinct test node for each `n`: address `10.0.n.1:(20000+n)` (its own /24), Ed25519
/// key `[n; 32]`, X25519 key `[!n; 32]`, no swarm id.
pub fn test_node(n: u8) -> ServiceNode {
    ServiceNode {
        ip: Ipv4Addr::new(10, 0, n, 1),
        storage_port: 20000 + u16::from(n),
        ed25519: NodeId([n; 32]),
        x25519: [!n; 32],
        swarm_id: None,
    }
}

/// A node's `service_node_states` entry, as a seed or `get_service_nodes` lists it.
pub fn node_state_json(node: &ServiceNode) -> Value {
    let mut entry = serde_json::json!({
        "public_ip": node.ip.to_string(),
        "storage_port": node.storage_port,
        "pubkey_ed25519": node.ed25519.to_string(),
        "pubkey_x25519": hex::encode(node.x25519),
        "requested_unlock_height": 0,
    });
    if let Some(swarm) = node.swarm_id {
        entry["swarm_id"] = serde_json::json!(swarm);
    }
    entry
}

/// A node's entry in a `get_swarm` (or 421) answer.
pub fn swarm_member_json(node: &ServiceNode) -> Value {
    serde_json::json!({
        "address": "fake.snode",
        "pubkey_legacy": node.ed25519.to_string(),
        "pubkey_ed25519": node.ed25519.to_string(),
        "pubkey_x25519": hex::encode(node.x25519),
        "ip": node.ip.to_string(),
        "port": node.storage_port.to_string(),
        "port_https": node.storage_port,
        "port_omq": 20200,
        "port_quic": 20300,
    })
}

/// How a fake onion node answers the storage RPCs that reach it (as destination or directly):
/// the request JSON in, the status and (string) body out.
pub type RpcHandler = Arc<dyn Fn(&Value) -> (u16, String) + Send + Sync>;

/// Fake service nodes that speak the real onion protocol, built on `sessiond-protocol`'s server
/// side (`onion::peel`, `onion::seal_snode_reply`): a guard peels its layer and relays to the
/// next node in process, the destination answers through its [`RpcHandler`] and seals the
/// reply with its layer key. A relay to a node that is not (or no longer) online answers
/// `502 Next node not found: <ed25519>`, as a storage server does.
#[derive(Clone)]
pub struct FakeOnionNetwork {
    /// Where the nodes are reachable.
    net: FakeNetwork,
    /// The nodes by identity.
    nodes: Arc<Mutex<HashMap<NodeId, FakeOnionNode>>>,
    /// For sealing replies.
    rng: Arc<Mutex<TestRng>>,
}

#[derive(Clone)]
struct FakeOnionNode {
    secret: [u8; 32],
    rpc: RpcHandler,
    online: bool,
}

/// What a fake onion node received: the guard's framed body, or a layer relayed by a hop.
enum Incoming {
    Framed(Vec<u8>),
    Relayed(sessiond_protocol::onion::ForwardToNode),
}

impl FakeOnionNetwork {
    /// Onion nodes on `net`.
    pub fn new(net: FakeNetwork) -> FakeOnionNetwork {
        FakeOnionNetwork {
            net,
            nodes: Arc::new(Mutex::new(HashMap::new())),
            rng: Arc::new(Mutex::new(TestRng::new(0x0010_4e57))),
        }
    }

    /// [`test_node`]`(n)` with a real X25519 key pair (secret `[n + 1; 32]`), answering RPCs
    /// with `rpc`, online. Returns the node as the client sees it.
    pub fn add(
        &self,
        n: u8,
        rpc: impl Fn(&Value) -> (u16, String) + Send + Sync + 'static,
    ) -> ServiceNode {
        let secret = [n.wrapping_add(1); 32];
        let node = ServiceNode {
            x25519: sessiond_protocol::onion::hop_cipher::x25519_public(&secret),
            ..test_node(n)
        };
        self.lock().insert(
            node.ed25519,
            FakeOnionNode {
                secret,
                rpc: Arc::new(rpc),
                online: true,
            },
        );
        let this = self.clone();
        let id = node.ed25519;
        self.net
            .add_node(&node, move |request| this.handle(id, request));
        node
    }

    /// Takes a node off line (connections refused, relays to it fail) or back on.
    pub fn set_online(&self, id: &NodeId, online: bool) {
        if let Some(node) = self.lock().get_mut(id) {
            node.online = online;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, FakeOnionNode>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn online(&self, id: &NodeId) -> Option<FakeOnionNode> {
        self.lock().get(id).filter(|n| n.online).cloned()
    }

    fn handle(&self, id: NodeId, request: &FakeRequest) -> FakeReply {
        let Some(node) = self.online(&id) else {
            return FakeReply::Refuse;
        };
        match request.path.as_str() {
            "/storage_rpc/v1" => {
                let json = request.json().unwrap_or(Value::Null);
                let (status, body) = (node.rpc)(&json);
                FakeReply::text(status, &body)
            }
            "/onion_req/v2" => self.process(&node, Incoming::Framed(request.body.clone())),
            _ => FakeReply::text(404, "not found"),
        }
    }

    fn process(&self, node: &FakeOnionNode, incoming: Incoming) -> FakeReply {
        use sessiond_protocol::onion::Route;
        use sessiond_protocol::onion::peel::{peel, peel_relayed, seal_snode_reply};
        let peeled = match incoming {
            Incoming::Framed(body) => peel(&node.secret, &body),
            Incoming::Relayed(hop) => peel_relayed(
                &node.secret,
                &hop.ciphertext,
                &hop.ephemeral_key,
                hop.enc_type,
            ),
        };
        let Ok(peeled) = peeled else {
            return FakeReply::text(400, "Invalid ciphertext");
        };
        match peeled.route {
            Route::NextHop(hop) => {
                let next = NodeId(hop.destination_ed25519);
                match self.online(&next) {
                    Some(next_node) => self.process(&next_node, Incoming::Relayed(hop)),
                    None => FakeReply::text(502, &format!("Next node not found: {next}")),
                }
            }
            Route::Final(payload) => {
                let json = serde_json::from_slice(&payload.body).unwrap_or(Value::Null);
                let (status, body) = (node.rpc)(&json);
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                match seal_snode_reply(&peeled.reply_key, status, &body, payload.base64, &mut *rng)
                {
                    Ok(sealed) => FakeReply::Respond(HttpResponse {
                        status: 200,
                        body: sealed,
                    }),
                    Err(_) => FakeReply::text(500, "Invalid response from snode"),
                }
            }
            Route::Server(_) => FakeReply::text(502, "no servers in the fake network"),
        }
    }
}
