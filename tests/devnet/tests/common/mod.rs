//! Helpers shared by the devnet's integration tests: start a small devnet on a manual clock,
//! build signed storage requests with `sessiond_protocol`, send them with the devnet's plain
//! HTTPS client, and build/read onion requests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20::ChaCha20Rng;
use chacha20::rand_core::SeedableRng as _;
use serde_json::{Value, json};
use sessiond_devnet::{Clock, Devnet, DevnetConfig, HttpsClient, NodeInfo, Timeouts};
use sessiond_protocol::onion::{self, Destination, EncType, Hop, OnionResponse};
use sessiond_protocol::storage_auth::{SignedRequest, sign_as_account};
use sessiond_protocol::{Identity, Namespace, Seed};

/// Every test body runs under this limit.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `future` with [`TEST_TIMEOUT`].
pub async fn timed<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test timed out")
}

/// A devnet config for tests: manual clock at the current time, short timeouts.
pub fn config(nodes: usize, swarm_size: usize) -> DevnetConfig {
    DevnetConfig {
        nodes,
        swarm_size,
        clock: Clock::manual_at_system_time(),
        timeouts: Timeouts {
            swarm: Duration::from_secs(2),
            onion_hop: Duration::from_secs(3),
            server: Duration::from_secs(3),
        },
        cleanup_interval: Duration::from_secs(3600),
        ..DevnetConfig::default()
    }
}

/// A started devnet and a client that does not verify node certificates.
pub struct Net {
    pub devnet: Devnet,
    pub client: HttpsClient,
}

pub async fn start(nodes: usize, swarm_size: usize) -> Net {
    start_with(config(nodes, swarm_size)).await
}

pub async fn start_with(config: DevnetConfig) -> Net {
    Net {
        devnet: Devnet::start(config).await.expect("devnet starts"),
        client: HttpsClient::insecure().expect("client"),
    }
}

impl Net {
    pub fn now(&self) -> i64 {
        self.devnet.clock().now_ms()
    }

    /// The nodes of `who`'s swarm.
    pub fn swarm_nodes(&self, who: &Identity) -> Vec<NodeInfo> {
        let swarm = self
            .devnet
            .swarm_for(who.account_id().as_bytes())
            .expect("a swarm");
        self.devnet.swarm_members(swarm)
    }

    /// Nodes outside `who`'s swarm.
    pub fn other_nodes(&self, who: &Identity) -> Vec<NodeInfo> {
        let mine: Vec<usize> = self.swarm_nodes(who).iter().map(|n| n.index).collect();
        self.devnet
            .nodes()
            .into_iter()
            .filter(|n| !mine.contains(&n.index))
            .collect()
    }

    /// POSTs `body` to `node`'s `/storage_rpc/v1`: status and JSON (or the text as a JSON
    /// string).
    pub async fn rpc(&self, node: &NodeInfo, body: &Value) -> (u16, Value) {
        let answer = self
            .client
            .post(
                &format!("{}/storage_rpc/v1", node.base_url()),
                &[("content-type", "application/json")],
                body.to_string(),
                Duration::from_secs(10),
            )
            .await
            .expect("node answers");
        let value = answer
            .json()
            .unwrap_or_else(|| Value::String(answer.text()));
        (answer.status, value)
    }

    /// Sends an onion request through `path` to `destination`; the decrypted answer.
    pub async fn onion(
        &self,
        path: &[NodeInfo],
        destination: &Destination,
        payload: &[u8],
    ) -> OnionResponse {
        self.onion_hops(
            &path.iter().map(hop).collect::<Vec<_>>(),
            &path[0],
            destination,
            payload,
        )
        .await
    }

    /// Like [`Net::onion`] with explicit hops (which may name nodes that do not exist).
    pub async fn onion_hops(
        &self,
        hops: &[Hop],
        guard: &NodeInfo,
        destination: &Destination,
        payload: &[u8],
    ) -> OnionResponse {
        let request = onion::build(hops, destination, payload, EncType::AesGcm, &mut rng())
            .expect("onion request builds");
        let (body, keys) = request.into_parts();
        let answer = self
            .client
            .post(
                &format!("{}/onion_req/v2", guard.base_url()),
                &[],
                body,
                Duration::from_secs(15),
            )
            .await
            .expect("guard answers");
        keys.decrypt(answer.status, &answer.body)
            .expect("onion answer decodes")
    }
}

/// A deterministic identity.
pub fn identity(n: u8) -> Identity {
    Identity::from_seed(&Seed::from_bytes(&[n; 16]).unwrap())
}

/// An RNG for ephemeral keys (tests need no real randomness).
pub fn rng() -> ChaCha20Rng {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    ChaCha20Rng::from_seed(seed)
}

pub fn hop(node: &NodeInfo) -> Hop {
    Hop {
        ed25519: node.ed25519,
        x25519: node.x25519,
    }
}

/// `{"method":"store"}` to `who`'s namespace `ns` (signed when the namespace needs it).
pub fn store(who: &Identity, ns: i16, data: &[u8], now: i64, ttl: i64) -> Value {
    let mut params = json!({
        "pubkey": who.account_id().to_string(),
        "timestamp": now,
        "ttl": ttl,
        "data": STANDARD.encode(data),
        "namespace": ns,
    });
    if Namespace::new(ns).store_requires_auth() {
        let auth = sign_as_account(
            who,
            &SignedRequest::Store {
                namespace: Namespace::new(ns),
                sig_timestamp_ms: now as u64,
            },
        );
        params["signature"] = json!(auth.signature_base64());
        params["pubkey_ed25519"] = json!(auth.pubkey_ed25519_hex());
    }
    json!({"method": "store", "params": params})
}

/// A signed `retrieve` of `who`'s namespace `ns`.
pub fn retrieve(who: &Identity, ns: i16, now: i64, last_hash: Option<&str>) -> Value {
    let auth = sign_as_account(
        who,
        &SignedRequest::Retrieve {
            namespace: Namespace::new(ns),
            timestamp_ms: now as u64,
        },
    );
    let mut params = json!({
        "pubkey": who.account_id().to_string(),
        "pubkey_ed25519": auth.pubkey_ed25519_hex(),
        "signature": auth.signature_base64(),
        "timestamp": now,
        "namespace": ns,
    });
    if let Some(hash) = last_hash {
        params["last_hash"] = json!(hash);
    }
    json!({"method": "retrieve", "params": params})
}

/// The hashes of a retrieve answer.
pub fn hashes(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["hash"].as_str().unwrap().to_owned())
        .collect()
}

/// The base64 data of a retrieve answer's messages, decoded.
pub fn datas(body: &Value) -> Vec<Vec<u8>> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| STANDARD.decode(m["data"].as_str().unwrap()).unwrap())
        .collect()
}

/// A one-layer onion body for `guard` whose decrypted content is `inner` (for malformed
/// layers the builder refuses to make), and the layer key to read the answer.
pub fn raw_layer(guard: &NodeInfo, inner: &[u8]) -> (Vec<u8>, sessiond_protocol::onion::LayerKey) {
    use sessiond_protocol::onion::hop_cipher::x25519_public;
    use sessiond_protocol::onion::{LayerKey, layer};
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let key = LayerKey::client(EncType::AesGcm, &secret, &guard.x25519).unwrap();
    let ciphertext = key.encrypt(inner, &mut rng()).unwrap();
    let meta = json!({"ephemeral_key": hex::encode(x25519_public(&secret))}).to_string();
    (layer::join(&ciphertext, &meta).unwrap(), key)
}

/// Decrypts a hop's base64 answer with `key`: `{"body", "status"}`.
pub fn open_reply(key: &sessiond_protocol::onion::LayerKey, body: &[u8]) -> Value {
    let sealed = STANDARD.decode(body).expect("base64 answer");
    serde_json::from_slice(&key.decrypt(&sealed).expect("decrypts")).expect("json")
}
