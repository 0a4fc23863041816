//! Who is in the network and which swarm each node belongs to: the devnet's stand-in for the
//! blockchain's service-node list that `oxend` gives every storage server.
//!
//! Node addresses and keys are fixed for a devnet's life; swarm membership can change at run
//! time (the `move` fault). The pubkey → swarm rule is `sessiond_protocol::swarm`'s, the same
//! code clients use (protocol.md §3.2).

use std::net::Ipv4Addr;
use std::sync::RwLock;

use sessiond_protocol::swarm::{INVALID_SWARM_ID, SwarmId, swarm_for_id};

/// A service node as the network lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Position in the devnet (0-based); names the node in faults and the control socket.
    pub index: usize,
    /// Ed25519 public key: the node's name on the network.
    pub ed25519: [u8; 32],
    /// X25519 public key: what onion layers to this node are encrypted to.
    pub x25519: [u8; 32],
    /// IPv4 address (always loopback).
    pub ip: Ipv4Addr,
    /// HTTPS port (`storage_port`).
    pub port: u16,
    /// SHA-256 pin of the node's certificate (`sha256:<hex of DER>`); informational, clients do
    /// not verify node certificates.
    pub cert_pin: String,
}

impl NodeInfo {
    /// `https://ip:port`.
    pub fn base_url(&self) -> String {
        format!("https://{}:{}", self.ip, self.port)
    }

    /// The Ed25519 key in hex.
    pub fn ed25519_hex(&self) -> String {
        hex::encode(self.ed25519)
    }
}

/// The network's node list and swarm assignment.
#[derive(Debug)]
pub(crate) struct Topology {
    /// Every node, by index.
    nodes: Vec<NodeInfo>,
    /// Current swarm of each node, by index.
    swarms: RwLock<Vec<SwarmId>>,
    /// The swarm ids the devnet was started with, in ascending order (`move` targets).
    initial_swarm_ids: Vec<SwarmId>,
}

impl Topology {
    /// A topology with each node in the given swarm.
    pub fn new(nodes: Vec<NodeInfo>, swarms: Vec<SwarmId>) -> Topology {
        let mut initial: Vec<SwarmId> = swarms.clone();
        initial.sort_unstable();
        initial.dedup();
        Topology {
            nodes,
            swarms: RwLock::new(swarms),
            initial_swarm_ids: initial,
        }
    }

    /// Swarm ids for `count` swarms, spread evenly over the 64-bit space.
    pub fn spread_swarm_ids(count: usize) -> Vec<SwarmId> {
        let count = count.max(1) as u64;
        let step = u64::MAX / count;
        (0..count).map(|i| i * step).collect()
    }

    /// Every node.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> Option<&NodeInfo> {
        self.nodes.get(index)
    }

    /// The node with this Ed25519 key.
    pub fn find_by_ed25519(&self, ed25519: &[u8; 32]) -> Option<&NodeInfo> {
        self.nodes.iter().find(|n| &n.ed25519 == ed25519)
    }

    /// Snapshot of every node's swarm.
    pub fn swarm_assignment(&self) -> Vec<SwarmId> {
        self.swarms
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// The swarm of node `index`.
    pub fn swarm_of(&self, index: usize) -> SwarmId {
        self.swarm_assignment()
            .get(index)
            .copied()
            .unwrap_or(INVALID_SWARM_ID)
    }

    /// The swarm ids the devnet started with (ascending).
    pub fn initial_swarm_ids(&self) -> &[SwarmId] {
        &self.initial_swarm_ids
    }

    /// Moves node `index` to swarm `swarm`.
    pub fn set_swarm(&self, index: usize, swarm: SwarmId) {
        let mut swarms = self
            .swarms
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = swarms.get_mut(index) {
            *slot = swarm;
        }
    }

    /// The swarm that stores `pubkey` (33 bytes, prefix first), if any swarm exists.
    pub fn swarm_for(&self, pubkey: &[u8; 33]) -> Option<SwarmId> {
        swarm_for_id(pubkey, &self.swarm_assignment())
    }

    /// The members of `swarm`.
    pub fn members(&self, swarm: SwarmId) -> Vec<NodeInfo> {
        let swarms = self.swarm_assignment();
        self.nodes
            .iter()
            .filter(|n| swarms.get(n.index) == Some(&swarm))
            .cloned()
            .collect()
    }

    /// Whether node `index` is in the swarm that stores `pubkey`.
    pub fn is_pubkey_for(&self, index: usize, pubkey: &[u8; 33]) -> bool {
        let swarms = self.swarm_assignment();
        let mine = swarms.get(index).copied().unwrap_or(INVALID_SWARM_ID);
        mine != INVALID_SWARM_ID && swarm_for_id(pubkey, &swarms) == Some(mine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(index: usize) -> NodeInfo {
        NodeInfo {
            index,
            ed25519: [index as u8; 32],
            x25519: [index as u8; 32],
            ip: Ipv4Addr::LOCALHOST,
            port: 1000 + index as u16,
            cert_pin: String::new(),
        }
    }

    #[test]
    fn pubkeys_map_to_the_nearest_swarm_and_moves_change_membership() {
        let ids = Topology::spread_swarm_ids(2);
        assert_eq!(ids[0], 0);
        let topology = Topology::new(
            (0..4).map(node).collect(),
            vec![ids[0], ids[1], ids[0], ids[1]],
        );
        let mut pk = [0u8; 33];
        pk[0] = 0x05;
        assert_eq!(topology.swarm_for(&pk), Some(0));
        assert!(topology.is_pubkey_for(0, &pk));
        assert!(!topology.is_pubkey_for(1, &pk));
        assert_eq!(topology.members(0).len(), 2);
        topology.set_swarm(0, ids[1]);
        assert!(!topology.is_pubkey_for(0, &pk));
        assert_eq!(topology.members(ids[1]).len(), 3);
        assert_eq!(topology.find_by_ed25519(&[3; 32]).map(|n| n.index), Some(3));
    }
}
