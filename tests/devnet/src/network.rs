//! The devnet itself: starting N service nodes in swarms, the seed and the file server; the
//! fault API tests and the control socket use; `network.json`; shutdown.
//!
//! Each listener runs as a task with its own stop signal, so a node can be stopped (its port
//! closes and its open connections drop) and started again on the same port with the same keys,
//! certificate and database.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sessiond_protocol::swarm::{INVALID_SWARM_ID, SwarmId};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::client::HttpsClient;
use crate::config::DevnetConfig;
use crate::error::DevnetError;
use crate::faults::{FaultState, Faults};
use crate::fileserver::{FileServer, FileServerHandler};
use crate::http::{self, Handler};
use crate::keys::ServerKeys;
use crate::node::{NetContext, Node, NodeHandler};
use crate::seed::SeedHandler;
use crate::store::Store;
use crate::tls::CertKey;
use crate::topology::{NodeInfo, Topology};

/// A running listener.
struct Runtime {
    /// Set to true to stop it.
    stop: watch::Sender<bool>,
    /// The accept loop.
    task: JoinHandle<()>,
}

impl Runtime {
    fn spawn<H: Handler>(
        name: String,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        handler: Arc<H>,
    ) -> Runtime {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(http::serve(name, listener, tls, handler, stop_rx));
        Runtime { stop, task }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Where and how to reach the file server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileServerInfo {
    /// Loopback address the last hop POSTs to.
    pub host: String,
    /// Its HTTP port.
    pub port: u16,
    /// Ed25519 public key.
    pub ed25519: [u8; 32],
    /// X25519 public key: the onion destination key.
    pub x25519: [u8; 32],
}

impl FileServerInfo {
    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// A running local Session network.
pub struct Devnet {
    /// Shared with every node.
    net: Arc<NetContext>,
    /// The nodes, by index.
    nodes: Vec<Arc<Node>>,
    /// Each node's listener while it runs.
    runtimes: Mutex<Vec<Option<Runtime>>>,
    /// Each node's swarm at start (what `heal` returns it to).
    initial_swarms: Vec<SwarmId>,
    /// The seed's listener.
    seed: Mutex<Option<Runtime>>,
    /// `https://127.0.0.1:port/json_rpc`.
    seed_url: String,
    /// Pin of the seed certificate.
    seed_pin: String,
    /// Its listener.
    file_server_runtime: Mutex<Option<Runtime>>,
    /// Its address.
    file_server_info: FileServerInfo,
    /// Periodic purge of expired data.
    cleanup: JoinHandle<()>,
    /// State directory.
    dir: Option<PathBuf>,
    /// Target swarm size (reported in network.json).
    swarm_size: usize,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("nodes", &self.nodes.len())
            .field("seed_url", &self.seed_url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A port to bind: the configured one, else the one a previous run recorded in `dir`, else 0.
async fn bind_persistent(
    what: &str,
    ip: Ipv4Addr,
    dir: Option<&Path>,
    configured: Option<u16>,
) -> Result<TcpListener, DevnetError> {
    if let Some(port) = configured {
        return http::bind(what, ip, port).await;
    }
    let recorded = dir
        .and_then(|d| std::fs::read_to_string(d.join("port")).ok())
        .and_then(|text| text.trim().parse::<u16>().ok());
    if let Some(port) = recorded {
        if let Ok(listener) = http::bind(what, ip, port).await {
            return Ok(listener);
        }
        tracing::warn!(what, port, "previous port is taken; using a new one");
    }
    let listener = http::bind(what, ip, 0).await?;
    if let (Some(d), Ok(addr)) = (dir, listener.local_addr()) {
        crate::fsutil::write_atomic(&d.join("port"), addr.port().to_string().as_bytes())?;
    }
    Ok(listener)
}

/// Node `index`'s address: 127.0.0.1, or with `distinct_subnets` its own /24
/// (127.0.1.1, 127.0.2.1, …; Linux routes all of 127/8 to the loopback interface).
fn node_ip(index: usize, distinct_subnets: bool) -> Ipv4Addr {
    if !distinct_subnets {
        return Ipv4Addr::LOCALHOST;
    }
    let second = u8::try_from(index / 254).unwrap_or(u8::MAX);
    let third = u8::try_from(index % 254 + 1).unwrap_or(1);
    Ipv4Addr::new(127, second, third, 1)
}

fn port_of(listener: &TcpListener, what: &str) -> Result<u16, DevnetError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| DevnetError::Bind {
            what: what.to_owned(),
            addr: "127.0.0.1".into(),
            source,
        })
}

fn configured_port(base: u16, offset: usize) -> Result<Option<u16>, DevnetError> {
    if base == 0 {
        return Ok(None);
    }
    u16::try_from(usize::from(base) + offset)
        .map(Some)
        .map_err(|_| DevnetError::Config(format!("base port {base} + {offset} exceeds 65535")))
}

impl Devnet {
    /// Starts a devnet: nodes, seed and file server listening on loopback.
    pub async fn start(config: DevnetConfig) -> Result<Devnet, DevnetError> {
        if config.nodes == 0 {
            return Err(DevnetError::Config(
                "a devnet needs at least one node".into(),
            ));
        }
        if config.swarm_size == 0 {
            return Err(DevnetError::Config("swarm size must be at least 1".into()));
        }
        let dir = config.dir.clone();
        if let Some(d) = &dir {
            crate::fsutil::create_dir(d)?;
        }
        let sub = |name: String| -> Result<Option<PathBuf>, DevnetError> {
            match &dir {
                Some(d) => {
                    let path = d.join(name);
                    crate::fsutil::create_dir(&path)?;
                    Ok(Some(path))
                }
                None => Ok(None),
            }
        };

        // Nodes: identity, certificate, database, listener.
        let mut prepared = Vec::with_capacity(config.nodes);
        for index in 0..config.nodes {
            let node_dir = sub(format!("node-{index:02}"))?;
            let (keys, cert) = match &node_dir {
                Some(d) => (
                    ServerKeys::load_or_generate(&d.join("ed25519.key"))?,
                    CertKey::load_or_generate(d)?,
                ),
                None => (ServerKeys::generate()?, CertKey::generate()?),
            };
            let store = Store::open(node_dir.as_ref().map(|d| d.join("messages.db")).as_deref())?;
            let what = format!("node {index}");
            let ip = node_ip(index, config.distinct_subnets);
            let listener = bind_persistent(
                &what,
                ip,
                node_dir.as_deref(),
                configured_port(config.base_port, index)?,
            )
            .await?;
            let info = NodeInfo {
                index,
                ed25519: keys.ed25519_public(),
                x25519: keys.x25519_public(),
                ip,
                port: port_of(&listener, &what)?,
                cert_pin: cert.pin(),
            };
            prepared.push((info, keys, cert, store, listener));
        }

        let swarm_count = (config.nodes / config.swarm_size).max(1);
        let swarm_ids = Topology::spread_swarm_ids(swarm_count);
        let initial_swarms: Vec<SwarmId> = (0..config.nodes)
            .map(|i| swarm_ids[i % swarm_ids.len()])
            .collect();
        let net = Arc::new(NetContext {
            topology: Topology::new(
                prepared.iter().map(|p| p.0.clone()).collect(),
                initial_swarms.clone(),
            ),
            clock: config.clock.clone(),
            client: HttpsClient::insecure()?,
            timeouts: config.timeouts,
            height: config.height,
        });

        let mut nodes = Vec::with_capacity(config.nodes);
        let mut runtimes = Vec::with_capacity(config.nodes);
        for (info, keys, cert, store, listener) in prepared {
            let node = Arc::new(Node {
                index: info.index,
                info,
                keys,
                cert,
                store,
                faults: Faults::default(),
                net: net.clone(),
            });
            runtimes.push(Some(spawn_node(&node, listener)?));
            nodes.push(node);
        }

        // Seed.
        let seed_dir = sub("seed".into())?;
        let seed_cert = match &seed_dir {
            Some(d) => CertKey::load_or_generate(d)?,
            None => CertKey::generate()?,
        };
        let seed_listener = bind_persistent(
            "seed",
            Ipv4Addr::LOCALHOST,
            seed_dir.as_deref(),
            configured_port(config.base_port, config.nodes)?,
        )
        .await?;
        let seed_port = port_of(&seed_listener, "seed")?;
        let seed = Runtime::spawn(
            "seed".into(),
            seed_listener,
            Some(TlsAcceptor::from(seed_cert.server_config()?)),
            Arc::new(SeedHandler { net: net.clone() }),
        );

        // File server.
        let fs_dir = sub("fileserver".into())?;
        let fs_keys = match &fs_dir {
            Some(d) => ServerKeys::load_or_generate(&d.join("ed25519.key"))?,
            None => ServerKeys::generate()?,
        };
        let file_server = Arc::new(FileServer::open(
            fs_keys,
            fs_dir.as_deref(),
            config.clock.clone(),
            config.file_server,
        )?);
        let fs_listener = bind_persistent(
            "file server",
            Ipv4Addr::LOCALHOST,
            fs_dir.as_deref(),
            configured_port(config.base_port, config.nodes + 1)?,
        )
        .await?;
        let file_server_info = FileServerInfo {
            host: "127.0.0.1".into(),
            port: port_of(&fs_listener, "file server")?,
            ed25519: file_server.keys.ed25519_public(),
            x25519: file_server.keys.x25519_public(),
        };
        let file_server_runtime = Runtime::spawn(
            "file server".into(),
            fs_listener,
            None,
            Arc::new(FileServerHandler {
                server: file_server.clone(),
            }),
        );

        let cleanup = {
            let nodes = nodes.clone();
            let file_server = file_server.clone();
            let interval = config.cleanup_interval.max(Duration::from_millis(100));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    for node in &nodes {
                        if let Err(e) = node.store.clean_expired(node.now()) {
                            tracing::warn!(node = node.index, error = %e, "clean-up failed");
                        }
                    }
                    if let Err(e) = file_server.clean_expired() {
                        tracing::warn!(error = %e, "file server clean-up failed");
                    }
                }
            })
        };

        let devnet = Devnet {
            net,
            nodes,
            runtimes: Mutex::new(runtimes),
            initial_swarms,
            seed: Mutex::new(Some(seed)),
            seed_url: format!("https://127.0.0.1:{seed_port}/json_rpc"),
            seed_pin: seed_cert.pin(),
            file_server_runtime: Mutex::new(Some(file_server_runtime)),
            file_server_info,
            cleanup,
            dir,
            swarm_size: config.swarm_size,
        };
        if let Some(d) = &devnet.dir {
            devnet.write_network_json(&d.join("network.json"), None)?;
        }
        tracing::info!(nodes = devnet.nodes.len(), seed = %devnet.seed_url, "devnet started");
        Ok(devnet)
    }

    /// The seed's JSON-RPC URL (`https://127.0.0.1:port/json_rpc`).
    pub fn seed_url(&self) -> &str {
        &self.seed_url
    }

    /// The seed certificate's pin: `sha256:<hex of the certificate's DER encoding>`.
    pub fn seed_pin(&self) -> &str {
        &self.seed_pin
    }

    /// The devnet clock (advance it to move time for every node).
    pub fn clock(&self) -> &crate::Clock {
        &self.net.clock
    }

    /// The state directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Every node as the network lists it.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.net.topology.nodes().to_vec()
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> Result<NodeInfo, DevnetError> {
        self.net
            .topology
            .node(index)
            .cloned()
            .ok_or_else(|| DevnetError::UnknownNode(index.to_string()))
    }

    /// The index of the node named by `name`: an index or an Ed25519 key in hex.
    pub fn resolve_node(&self, name: &str) -> Result<usize, DevnetError> {
        if let Ok(index) = name.parse::<usize>() {
            return self.node(index).map(|n| n.index);
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(name, &mut key)
            .ok()
            .and_then(|()| self.net.topology.find_by_ed25519(&key))
            .map(|n| n.index)
            .ok_or_else(|| DevnetError::UnknownNode(name.to_owned()))
    }

    /// The swarm node `index` is in now.
    pub fn swarm_of(&self, index: usize) -> Result<SwarmId, DevnetError> {
        self.node(index)?;
        Ok(self.net.topology.swarm_of(index))
    }

    /// The swarm ids the devnet started with, ascending.
    pub fn swarm_ids(&self) -> Vec<SwarmId> {
        self.net.topology.initial_swarm_ids().to_vec()
    }

    /// The swarm that stores the 33-byte `pubkey` (prefix first), as clients compute it.
    pub fn swarm_for(&self, pubkey: &[u8; 33]) -> Option<SwarmId> {
        self.net.topology.swarm_for(pubkey)
    }

    /// The current members of `swarm`.
    pub fn swarm_members(&self, swarm: SwarmId) -> Vec<NodeInfo> {
        self.net.topology.members(swarm)
    }

    /// The file server's address and keys.
    pub fn file_server(&self) -> &FileServerInfo {
        &self.file_server_info
    }

    /// Whether node `index` is listening.
    pub async fn is_running(&self, index: usize) -> Result<bool, DevnetError> {
        self.node(index)?;
        Ok(self
            .runtimes
            .lock()
            .await
            .get(index)
            .is_some_and(Option::is_some))
    }

    /// Node `index`'s current faults.
    pub fn faults(&self, index: usize) -> Result<FaultState, DevnetError> {
        Ok(self.get(index)?.faults.snapshot())
    }

    /// How many messages node `index` holds.
    pub fn message_count(&self, index: usize) -> Result<usize, DevnetError> {
        self.get(index)?.store.message_count()
    }

    fn get(&self, index: usize) -> Result<&Arc<Node>, DevnetError> {
        self.nodes
            .get(index)
            .ok_or_else(|| DevnetError::UnknownNode(index.to_string()))
    }

    /// Stops node `index`: its port closes and open connections drop. Its data stays.
    pub async fn stop_node(&self, index: usize) -> Result<(), DevnetError> {
        self.get(index)?;
        let runtime = self
            .runtimes
            .lock()
            .await
            .get_mut(index)
            .and_then(Option::take);
        if let Some(runtime) = runtime {
            runtime.shutdown().await;
            tracing::info!(node = index, "node stopped");
        }
        Ok(())
    }

    /// Starts node `index` again on its port (no-op when running).
    pub async fn start_node(&self, index: usize) -> Result<(), DevnetError> {
        let node = self.get(index)?.clone();
        let mut runtimes = self.runtimes.lock().await;
        let Some(slot) = runtimes.get_mut(index) else {
            return Err(DevnetError::UnknownNode(index.to_string()));
        };
        if slot.is_none() {
            let listener =
                http::bind(&format!("node {index}"), node.info.ip, node.info.port).await?;
            *slot = Some(spawn_node(&node, listener)?);
            tracing::info!(node = index, "node started");
        }
        Ok(())
    }

    /// Makes node `index` wait `delay` before answering anything.
    pub fn set_slow(&self, index: usize, delay: Duration) -> Result<(), DevnetError> {
        self.get(index)?.faults.set_slow(delay);
        Ok(())
    }

    /// Makes node `index` answer everything with `status` (`None` heals).
    pub fn set_fail(&self, index: usize, status: Option<u16>) -> Result<(), DevnetError> {
        if let Some(s) = status
            && !(100..=599).contains(&s)
        {
            return Err(DevnetError::Command(format!("{s} is not an HTTP status")));
        }
        self.get(index)?.faults.set_fail(status);
        Ok(())
    }

    /// Skews node `index`'s clock by `ms` milliseconds.
    pub fn set_skew(&self, index: usize, ms: i64) -> Result<(), DevnetError> {
        self.get(index)?.faults.set_skew(ms);
        Ok(())
    }

    /// Makes node `index` drop a `fraction` (0..=1) of requests without answering.
    pub fn set_drop(&self, index: usize, fraction: f64) -> Result<(), DevnetError> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(DevnetError::Command(format!(
                "drop fraction {fraction} is not in 0..=1"
            )));
        }
        self.get(index)?.faults.set_drop(fraction);
        Ok(())
    }

    /// Moves node `index` to `swarm` (any id but 2⁶⁴−1): clients that still think it stores
    /// their messages get 421 with their real swarm.
    pub fn move_node(&self, index: usize, swarm: SwarmId) -> Result<(), DevnetError> {
        self.get(index)?;
        if swarm == INVALID_SWARM_ID {
            return Err(DevnetError::UnknownSwarm(format!("{swarm:x}")));
        }
        self.net.topology.set_swarm(index, swarm);
        tracing::info!(node = index, swarm = format!("{swarm:x}"), "node moved");
        Ok(())
    }

    /// Clears node `index`'s faults, returns it to its first swarm and starts it if stopped.
    pub async fn heal(&self, index: usize) -> Result<(), DevnetError> {
        self.get(index)?.faults.heal();
        if let Some(&swarm) = self.initial_swarms.get(index) {
            self.net.topology.set_swarm(index, swarm);
        }
        self.start_node(index).await
    }

    /// The `network.json` document (see the crate README for its shape).
    pub fn network_json(&self, control_socket: Option<&Path>) -> Value {
        let swarms = self.net.topology.swarm_assignment();
        let nodes: Vec<Value> = self
            .net
            .topology
            .nodes()
            .iter()
            .map(|n| {
                let swarm = swarms.get(n.index).copied().unwrap_or(INVALID_SWARM_ID);
                json!({
                    "index": n.index,
                    "ip": n.ip.to_string(),
                    "port": n.port,
                    "url": n.base_url(),
                    "pubkey_ed25519": n.ed25519_hex(),
                    "pubkey_x25519": hex::encode(n.x25519),
                    "swarm_id": swarm,
                    "swarm": format!("{swarm:x}"),
                    "cert_pin": n.cert_pin,
                })
            })
            .collect();
        let fs = &self.file_server_info;
        json!({
            "version": 1,
            "seed": {
                "url": self.seed_url,
                "pin": self.seed_pin,
                "pin_of": "sha256 of the seed certificate's DER encoding",
            },
            "swarm_size": self.swarm_size,
            "nodes": nodes,
            "file_server": {
                "url": fs.url(),
                "host": fs.host,
                "port": fs.port,
                "scheme": "http",
                "target": sessiond_protocol::onion::V4_TARGET,
                "pubkey_ed25519": hex::encode(fs.ed25519),
                "pubkey_x25519": hex::encode(fs.x25519),
                "max_upload_bytes": 10_000_000,
            },
            "control_socket": control_socket.map(|p| p.display().to_string()),
        })
    }

    /// Writes [`Devnet::network_json`] to `path` atomically.
    pub fn write_network_json(
        &self,
        path: &Path,
        control_socket: Option<&Path>,
    ) -> Result<(), DevnetError> {
        let text = serde_json::to_string_pretty(&self.network_json(control_socket))
            .unwrap_or_else(|_| "{}".into());
        crate::fsutil::write_atomic(path, text.as_bytes())
    }

    /// Stops every listener and background task.
    pub async fn shutdown(self) {
        self.cleanup.abort();
        let runtimes: Vec<Runtime> = self.runtimes.lock().await.drain(..).flatten().collect();
        for runtime in runtimes {
            runtime.shutdown().await;
        }
        if let Some(seed) = self.seed.lock().await.take() {
            seed.shutdown().await;
        }
        if let Some(fs) = self.file_server_runtime.lock().await.take() {
            fs.shutdown().await;
        }
        tracing::info!("devnet stopped");
    }
}

fn spawn_node(node: &Arc<Node>, listener: TcpListener) -> Result<Runtime, DevnetError> {
    let tls = TlsAcceptor::from(node.cert.server_config()?);
    Ok(Runtime::spawn(
        format!("node {}", node.index),
        listener,
        Some(tls),
        Arc::new(NodeHandler { node: node.clone() }),
    ))
}
