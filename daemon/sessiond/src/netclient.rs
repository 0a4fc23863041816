//! The daemon's connection to a Session network: which network, its persisted state, and
//! the adapter from `sessiond-network`'s client to the service's [`SwarmNetwork`] trait.
//!
//! Why it exists: choosing mainnet, the embedded local network, a `network.json` or custom
//! seeds is configuration; everything after that is the same client code. The node list,
//! guards and swarms are saved in `<data_dir>/network.state` so a restart does not need the
//! seeds.

use crate::config::NetworkChoice;
use crate::service::net::{NetBatch, NetError, NetMessage, NetStatus, SwarmNetwork};
use futures_util::future::BoxFuture;
use sessiond_network::{
    CertPin, NetworkClient, NetworkConfig, NetworkError, NetworkRng, NetworkSnapshot, NodeId,
    Policy, SeedNode, SeedTrust, ServiceNode,
};
use sessiond_protocol::account_id::AccountId;
use sessiond_protocol::identity::Identity;
use sessiond_protocol::{GroupId, HasKind, Namespace, SwarmPubkey};
use std::net::Ipv4Addr;
use std::path::Path;

/// File under the data directory holding the network state.
pub const STATE_FILE: &str = "network.state";

/// Why the network configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum NetConfigError {
    /// The network file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The network file or a seed is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// The seeds and policy of a network choice (not `Local`, which needs the devnet started
/// first, nor `Offline`).
pub fn network_config(
    choice: &NetworkChoice,
) -> Result<(NetworkConfig, &'static str), NetConfigError> {
    let rng = NetworkRng::new(getrandom::rand_core::UnwrapErr(getrandom::SysRng));
    match choice {
        NetworkChoice::Mainnet => Ok((NetworkConfig::mainnet(rng), "mainnet")),
        NetworkChoice::Seeds(seeds) => {
            let seeds = seeds
                .iter()
                .map(|s| parse_seed(s))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((
                NetworkConfig {
                    seeds,
                    policy: Policy::mainnet(),
                    proxy: None,
                    rng,
                },
                "custom",
            ))
        }
        NetworkChoice::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| NetConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let (seed, nodes) = parse_network_json(&text)
                .map_err(|e| NetConfigError::Invalid(format!("{}: {e}", path.display())))?;
            Ok((
                NetworkConfig {
                    seeds: vec![seed],
                    policy: policy_for(&nodes),
                    proxy: None,
                    rng,
                },
                "custom",
            ))
        }
        NetworkChoice::Local | NetworkChoice::Offline => Err(NetConfigError::Invalid(
            "internal: no static configuration for this network".into(),
        )),
    }
}

/// A local network's configuration: one pinned seed, loopback nodes.
pub fn local_config(
    seed_url: &str,
    pin: &str,
    nodes: usize,
) -> Result<NetworkConfig, NetConfigError> {
    let rng = NetworkRng::new(getrandom::rand_core::UnwrapErr(getrandom::SysRng));
    let seed = parse_seed(&format!("{seed_url}#{pin}"))?;
    Ok(NetworkConfig {
        seeds: vec![seed],
        policy: Policy::local(nodes),
        proxy: None,
        rng,
    })
}

/// Loopback networks (a devnet) relax the mainnet rules that need many nodes and subnets.
fn policy_for(nodes: &[Ipv4Addr]) -> Policy {
    if !nodes.is_empty() && nodes.iter().all(Ipv4Addr::is_loopback) {
        Policy::local(nodes.len())
    } else {
        Policy::mainnet()
    }
}

/// `URL` or `URL#sha256:<hex>`.
fn parse_seed(s: &str) -> Result<SeedNode, NetConfigError> {
    let (url, trust) = match s.split_once('#') {
        Some((url, pin)) => {
            let pin: CertPin = pin
                .parse()
                .map_err(|e| NetConfigError::Invalid(format!("seed {url}: {e}")))?;
            (url, SeedTrust::Pinned(pin))
        }
        None => (s, SeedTrust::SystemRoots),
    };
    SeedNode::new(url, trust).map_err(|e| NetConfigError::Invalid(format!("seed {url}: {e}")))
}

/// The seed (with its pin) and the node addresses of a `network.json`.
fn parse_network_json(text: &str) -> Result<(SeedNode, Vec<Ipv4Addr>), String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let url = v["seed"]["url"].as_str().ok_or("no seed.url")?;
    let seed = match v["seed"]["pin"].as_str() {
        Some(pin) => parse_seed(&format!("{url}#{pin}")),
        None => parse_seed(url),
    }
    .map_err(|e| e.to_string())?;
    let nodes = v["nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|n| n["ip"].as_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Ok((seed, nodes))
}

/// The service's view of a [`NetworkClient`].
#[derive(Clone)]
pub struct NetAdapter {
    /// The client.
    pub client: NetworkClient,
}

fn net_error(e: &NetworkError) -> NetError {
    NetError {
        message: e.to_string(),
        retriable: e.is_retriable(),
        kind: e.kind(),
    }
}

fn invalid(message: String) -> NetError {
    NetError {
        message,
        retriable: false,
        kind: sessiond_protocol::ErrorKind::InvalidInput,
    }
}

impl SwarmNetwork for NetAdapter {
    fn store<'a>(
        &'a self,
        to: &'a AccountId,
        namespace: i16,
        data: &'a [u8],
        ttl_ms: u64,
        timestamp_ms: i64,
    ) -> BoxFuture<'a, Result<String, NetError>> {
        Box::pin(async move {
            let ts =
                u64::try_from(timestamp_ms).map_err(|_| invalid("negative timestamp".into()))?;
            let ack = self
                .client
                .store(
                    &SwarmPubkey::Account(*to),
                    Namespace::new(namespace),
                    data,
                    ttl_ms,
                    ts,
                )
                .await
                .map_err(|e| net_error(&e))?;
            Ok(ack.hash.to_string())
        })
    }

    fn swarm_members<'a>(
        &'a self,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Vec<String>, NetError>> {
        Box::pin(async move {
            let members = self
                .client
                .swarm_members(&SwarmPubkey::Account(*account))
                .await
                .map_err(|e| net_error(&e))?;
            Ok(members.iter().map(|n| hex::encode(n.0)).collect())
        })
    }

    fn retrieve<'a>(
        &'a self,
        identity: &'a Identity,
        node: &'a str,
        namespace: i16,
        last_hash: Option<String>,
    ) -> BoxFuture<'a, Result<NetBatch, NetError>> {
        Box::pin(async move {
            let node =
                NodeId::from_hex(node).ok_or_else(|| invalid(format!("bad node key {node}")))?;
            // A stored cursor that no longer parses is dropped: the node then returns everything
            // it has and de-duplication by hash does the rest.
            let last = last_hash.and_then(|h| h.parse().ok());
            let results = self
                .client
                .retrieve(identity, &node, &[(Namespace::new(namespace), last)])
                .await
                .map_err(|e| net_error(&e))?;
            let mut batch = NetBatch::default();
            for r in results {
                batch.more |= r.more;
                batch
                    .messages
                    .extend(r.messages.into_iter().map(|m| NetMessage {
                        hash: m.hash.to_string(),
                        data: m.data,
                        expires_at_ms: i64::try_from(m.expires_at_ms).ok(),
                    }));
            }
            Ok(batch)
        })
    }

    fn clock_offset_ms(&self) -> i64 {
        // The client's offset is local − network; the service's is network − local.
        -self.client.clock().network_offset_ms()
    }

    fn status(&self) -> NetStatus {
        let s = self.client.status();
        let node =
            |n: &sessiond_network::NodeStatus| (n.addr.to_string(), hex::encode(n.ed25519.0));
        NetStatus {
            pool_size: u32::try_from(s.pool_size).unwrap_or(u32::MAX),
            guards: s.guards.iter().map(node).collect(),
            paths: s
                .paths
                .iter()
                .map(|p| (p.hops.iter().map(node).collect(), p.failures))
                .collect(),
            swarms: s
                .swarms
                .iter()
                .map(|sw| {
                    (
                        sw.pubkey.to_string(),
                        sw.members.iter().map(|m| hex::encode(m.0)).collect(),
                    )
                })
                .collect(),
            clock_offset_ms: -s.clock_offset_ms,
            last_error: s.last_error,
        }
    }
}

/// Save the network state (public data only: service nodes and swarms) atomically.
pub fn save_state(
    data_dir: &Path,
    snapshot: &NetworkSnapshot,
) -> Result<(), crate::fsutil::AtomicWriteError> {
    let mut text =
        String::from("# sessiond network state: service nodes, guards, swarms (public data)\n");
    for n in &snapshot.nodes {
        let swarm = n.swarm_id.map_or("-".to_owned(), |s| s.to_string());
        text += &format!(
            "node {} {} {} {} {swarm}\n",
            n.ip,
            n.storage_port,
            hex::encode(n.ed25519.0),
            hex::encode(n.x25519)
        );
    }
    for g in &snapshot.guards {
        text += &format!("guard {}\n", hex::encode(g.0));
    }
    for (pk, members) in &snapshot.swarms {
        let members: Vec<String> = members.iter().map(|m| hex::encode(m.0)).collect();
        text += &format!("swarm {pk} {}\n", members.join(" "));
    }
    crate::fsutil::write_atomic(&data_dir.join(STATE_FILE), text.as_bytes(), 0o600)
}

/// Load the saved network state; `None` when absent or unreadable (then the seeds are used).
pub fn load_state(data_dir: &Path) -> Option<NetworkSnapshot> {
    let path = data_dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let snapshot = parse_state(&text);
    if snapshot.is_none() {
        tracing::warn!(path = %path.display(), "ignoring an unreadable network state file");
    }
    snapshot
}

fn parse_state(text: &str) -> Option<NetworkSnapshot> {
    let mut snap = NetworkSnapshot::default();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut f = line.split_whitespace();
        match f.next()? {
            "node" => {
                let ip: Ipv4Addr = f.next()?.parse().ok()?;
                let storage_port: u16 = f.next()?.parse().ok()?;
                let ed25519 = NodeId::from_hex(f.next()?)?;
                let mut x25519 = [0u8; 32];
                hex::decode_to_slice(f.next()?, &mut x25519).ok()?;
                let swarm_id = match f.next()? {
                    "-" => None,
                    s => Some(s.parse().ok()?),
                };
                snap.nodes.push(ServiceNode {
                    ip,
                    storage_port,
                    ed25519,
                    x25519,
                    swarm_id,
                });
            }
            "guard" => snap.guards.push(NodeId::from_hex(f.next()?)?),
            "swarm" => {
                let pk = f.next()?;
                let pubkey = if pk.starts_with("03") {
                    SwarmPubkey::Group(pk.parse::<GroupId>().ok()?)
                } else {
                    SwarmPubkey::Account(pk.parse::<AccountId>().ok()?)
                };
                let members = f.map(NodeId::from_hex).collect::<Option<Vec<_>>>()?;
                snap.swarms.push((pubkey, members));
            }
            _ => {} // Lines of newer versions.
        }
    }
    Some(snap)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn network_state_round_trips_through_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let node = ServiceNode {
            ip: Ipv4Addr::new(127, 0, 0, 1),
            storage_port: 4433,
            ed25519: NodeId([1; 32]),
            x25519: [2; 32],
            swarm_id: Some(u64::MAX - 5),
        };
        let account: AccountId = format!("05{}", "cd".repeat(32)).parse().unwrap();
        let snap = NetworkSnapshot {
            nodes: vec![
                node.clone(),
                ServiceNode {
                    swarm_id: None,
                    ed25519: NodeId([3; 32]),
                    ..node
                },
            ],
            guards: vec![NodeId([1; 32])],
            swarms: vec![(
                SwarmPubkey::Account(account),
                vec![NodeId([1; 32]), NodeId([3; 32])],
            )],
        };
        save_state(dir.path(), &snap).unwrap();
        assert_eq!(load_state(dir.path()).unwrap(), snap);
    }

    #[test]
    fn corrupt_state_is_ignored_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), "node not-an-ip\n").unwrap();
        assert!(load_state(dir.path()).is_none());
    }

    #[test]
    fn seeds_take_an_optional_certificate_pin() {
        assert!(parse_seed("https://seed.example:4443/json_rpc").is_ok());
        let pin = format!("sha256:{}", "ab".repeat(32));
        assert!(parse_seed(&format!("https://127.0.0.1:4443/json_rpc#{pin}")).is_ok());
        assert!(parse_seed("https://127.0.0.1:4443/json_rpc#sha256:zz").is_err());
        assert!(parse_seed("ftp://x/json_rpc").is_err());
    }

    #[test]
    fn a_loopback_network_file_selects_the_local_policy() {
        let json = format!(
            r#"{{"seed": {{"url": "https://127.0.0.1:1234/json_rpc", "pin": "sha256:{}"}},
                "nodes": [{{"ip": "127.0.0.1"}}, {{"ip": "127.0.0.1"}}]}}"#,
            "00".repeat(32)
        );
        let (_seed, nodes) = parse_network_json(&json).unwrap();
        assert_eq!(policy_for(&nodes), Policy::local(2));
        assert!(parse_network_json("{}").is_err());
    }
}
