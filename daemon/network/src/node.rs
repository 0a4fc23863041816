//! Service nodes as plain values, and the parser of the node lists that seeds and service nodes
//! return (protocol.md §3.1).
//!
//! A [`ServiceNode`] is what the client needs to reach a node and encrypt to it: its IPv4
//! address and storage port, its Ed25519 key (its identity, [`NodeId`]), its X25519 key (what
//! onion layers are encrypted to) and its swarm id (to compute swarms locally). The same list
//! shape comes from a seed's `get_n_service_nodes` and from a node's
//! `oxend_request get_service_nodes`: `{"result":{"service_node_states":[…]}, …}`. Entries are
//! untrusted: each is checked on its own, and a bad entry is skipped rather than failing the list.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde_json::Value;
use sessiond_protocol::onion::Hop;
use sessiond_protocol::swarm::SwarmId;

use crate::error::Malformed;

/// A service node's identity: its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex_key: &str) -> Option<NodeId> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut key).ok()?;
        Some(NodeId(key))
    }

    /// The first 8 hex digits, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for NodeId {
    /// All 64 hex digits (the form used in requests and in `Next node not found: …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}…)", self.short())
    }
}

/// A service node: where to reach it and the keys to talk to it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServiceNode {
    /// Public IPv4 address (storage servers accept IPv4 only).
    pub ip: Ipv4Addr,
    /// HTTPS port of the storage server (`storage_port`; `port_https` in `get_swarm`).
    pub storage_port: u16,
    /// Ed25519 public key: the node's identity, how hops and error messages name it.
    pub ed25519: NodeId,
    /// X25519 public key: what onion layers for this node are encrypted to.
    pub x25519: [u8; 32],
    /// The node's swarm, when the list said (`swarm_id`); needed to compute swarms locally.
    pub swarm_id: Option<SwarmId>,
}

impl ServiceNode {
    /// The address its storage server listens on.
    pub fn addr(&self) -> SocketAddrV4 {
        SocketAddrV4::new(self.ip, self.storage_port)
    }

    /// The node as an onion-path hop (its two keys).
    pub fn hop(&self) -> Hop {
        Hop {
            ed25519: self.ed25519.0,
            x25519: self.x25519,
        }
    }

    /// The node's /24 subnet: the first three octets of its address.
    pub fn subnet24(&self) -> [u8; 3] {
        let [a, b, c, _] = self.ip.octets();
        [a, b, c]
    }

    /// Whether both nodes are in the same /24 subnet.
    pub fn same_subnet24(&self, other: &ServiceNode) -> bool {
        self.subnet24() == other.subnet24()
    }

    /// The peer label used in errors about this node.
    pub fn peer(&self) -> crate::error::Peer {
        crate::error::Peer::Node {
            addr: self.addr(),
            id: self.ed25519,
        }
    }
}

impl fmt::Debug for ServiceNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServiceNode({}… at {}",
            self.ed25519.short(),
            self.addr()
        )?;
        if let Some(swarm) = self.swarm_id {
            write!(f, ", swarm {swarm:x}")?;
        }
        f.write_str(")")
    }
}

/// A parsed service-node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeList {
    /// The usable nodes, in the order received, without duplicates (by key or by address).
    pub nodes: Vec<ServiceNode>,
    /// Entries dropped because they were malformed or duplicated (unlisted `0.0.0.0` or empty
    /// addresses are not counted: the protocol says to drop them).
    pub skipped: usize,
    /// The answering node's time (`t`, Unix ms), when present (§3.10).
    pub t: Option<u64>,
}

/// Parses `{"result":{"service_node_states":[…]}, …}`, the answer of a seed's
/// `get_n_service_nodes` and of a node's `oxend_request get_service_nodes`.
///
/// Each entry needs `public_ip`, `storage_port`, `pubkey_ed25519` and `pubkey_x25519`;
/// `swarm_id` is read when present, as a full u64. Entries with an empty or `0.0.0.0` address
/// are dropped (§3.1); malformed or duplicate entries are skipped and counted.
pub fn parse_node_list(body: &[u8]) -> Result<NodeList, Malformed> {
    let json: Value = serde_json::from_slice(body).map_err(|_| Malformed::NotJson)?;
    parse_node_list_json(&json)
}

/// [`parse_node_list`] on an already-parsed JSON value.
pub fn parse_node_list_json(json: &Value) -> Result<NodeList, Malformed> {
    let result = json
        .get("result")
        .ok_or(Malformed::MissingField { field: "result" })?;
    let states = result
        .get("service_node_states")
        .ok_or(Malformed::MissingField {
            field: "result.service_node_states",
        })?
        .as_array()
        .ok_or(Malformed::BadField {
            field: "result.service_node_states",
            expected: "an array",
        })?;
    let t = optional_u64(json, "t")?;

    let mut nodes: Vec<ServiceNode> = Vec::with_capacity(states.len());
    let mut seen = SeenNodes::default();
    let mut skipped = 0;
    for entry in states {
        match parse_state_entry(entry) {
            Ok(Some(node)) => {
                if !seen.insert(&node) {
                    tracing::debug!(node = ?node, "duplicate service node entry skipped");
                    skipped += 1;
                } else {
                    nodes.push(node);
                }
            }
            Ok(None) => {}
            Err(problem) => {
                tracing::debug!(%problem, "malformed service node entry skipped");
                skipped += 1;
            }
        }
    }
    Ok(NodeList { nodes, skipped, t })
}

/// The keys and addresses of the nodes kept so far, to drop duplicates of either.
#[derive(Default)]
pub(crate) struct SeenNodes {
    ids: HashSet<NodeId>,
    addrs: HashSet<SocketAddrV4>,
}

impl SeenNodes {
    /// Records `node`; false if its key or its address was seen already (nothing recorded).
    pub(crate) fn insert(&mut self, node: &ServiceNode) -> bool {
        if self.ids.contains(&node.ed25519) || self.addrs.contains(&node.addr()) {
            return false;
        }
        self.ids.insert(node.ed25519);
        self.addrs.insert(node.addr());
        true
    }
}

/// One `service_node_states` entry: `Ok(None)` for a node without a public address.
pub(crate) fn parse_state_entry(entry: &Value) -> Result<Option<ServiceNode>, Malformed> {
    if !entry.is_object() {
        return Err(Malformed::BadField {
            field: "service_node_states[]",
            expected: "an object",
        });
    }
    let Some(ip) = parse_public_ip(entry, "public_ip")? else {
        return Ok(None);
    };
    let storage_port = parse_port(entry.get("storage_port"), "storage_port")?;
    let ed25519 = NodeId(parse_key(entry, "pubkey_ed25519")?);
    let x25519 = parse_key(entry, "pubkey_x25519")?;
    let swarm_id = optional_u64(entry, "swarm_id")?;
    Ok(Some(ServiceNode {
        ip,
        storage_port,
        ed25519,
        x25519,
        swarm_id,
    }))
}

/// A public IPv4 address field: `Ok(None)` when empty or `0.0.0.0` (a node that has not sent
/// an uptime proof).
pub(crate) fn parse_public_ip(
    entry: &Value,
    field: &'static str,
) -> Result<Option<Ipv4Addr>, Malformed> {
    let text = entry
        .get(field)
        .ok_or(Malformed::MissingField { field })?
        .as_str()
        .ok_or(Malformed::BadField {
            field,
            expected: "a string",
        })?;
    if text.is_empty() {
        return Ok(None);
    }
    let ip: Ipv4Addr = text.parse().map_err(|_| Malformed::BadField {
        field,
        expected: "an IPv4 address",
    })?;
    Ok((!ip.is_unspecified()).then_some(ip))
}

/// A TCP port: an integer in 1..=65535, or (for the deprecated `port` of `get_swarm`) a string
/// holding one.
pub(crate) fn parse_port(value: Option<&Value>, field: &'static str) -> Result<u16, Malformed> {
    let value = value.ok_or(Malformed::MissingField { field })?;
    let number = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&port| port != 0)
        .ok_or(Malformed::BadField {
            field,
            expected: "a port number",
        })
}

/// A 32-byte key as 64 hex digits.
pub(crate) fn parse_key(entry: &Value, field: &'static str) -> Result<[u8; 32], Malformed> {
    let text = entry
        .get(field)
        .ok_or(Malformed::MissingField { field })?
        .as_str()
        .ok_or(Malformed::BadField {
            field,
            expected: "a string",
        })?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text, &mut key).map_err(|_| Malformed::BadField {
        field,
        expected: "64 hex digits",
    })?;
    Ok(key)
}

/// An optional non-negative integer that must fit in a u64 (swarm ids exceed 2⁵³, so they are
/// never read through a float).
pub(crate) fn optional_u64(object: &Value, field: &'static str) -> Result<Option<u64>, Malformed> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(Malformed::BadField {
            field,
            expected: "an unsigned 64-bit integer",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const X: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn entry(ip: &str, port: u64, ed: &str) -> Value {
        serde_json::json!({
            "public_ip": ip, "storage_port": port, "pubkey_x25519": X,
            "pubkey_ed25519": ed, "requested_unlock_height": 0
        })
    }

    fn ed(n: u8) -> String {
        hex::encode([n; 32])
    }

    #[test]
    fn parses_the_spec_example_response() {
        // protocol.md §3.1, with the fields filled in.
        let body = format!(
            r#"{{"result":{{"service_node_states":[{{"public_ip":"1.2.3.4","storage_port":22021,
            "pubkey_x25519":"{X}","pubkey_ed25519":"{ED}","requested_unlock_height":0}}],
            "height":1234567}}}}"#
        );
        let list = parse_node_list(body.as_bytes()).unwrap();
        assert_eq!(list.skipped, 0);
        assert_eq!(list.t, None);
        assert_eq!(
            list.nodes,
            vec![ServiceNode {
                ip: Ipv4Addr::new(1, 2, 3, 4),
                storage_port: 22021,
                ed25519: NodeId([0x11; 32]),
                x25519: [0x22; 32],
                swarm_id: None,
            }]
        );
    }

    #[test]
    fn swarm_ids_above_two_to_the_53_are_exact() {
        let mut e = entry("1.2.3.4", 22021, ED);
        e["swarm_id"] = serde_json::json!(18446744073709551614u64);
        let node = parse_state_entry(&e).unwrap().unwrap();
        assert_eq!(node.swarm_id, Some(u64::MAX - 1));
        // 2^53 + 1 cannot be represented by an f64: it must survive.
        e["swarm_id"] = serde_json::json!(9007199254740993u64);
        assert_eq!(
            parse_state_entry(&e).unwrap().unwrap().swarm_id,
            Some(9_007_199_254_740_993)
        );
    }

    #[test]
    fn unlisted_addresses_are_dropped_without_counting_as_malformed() {
        let body = serde_json::json!({"result": {"service_node_states": [
            entry("", 22021, &ed(1)), entry("0.0.0.0", 22021, &ed(2)), entry("5.6.7.8", 22021, &ed(3))
        ]}, "t": 1_700_000_000_000u64});
        let list = parse_node_list_json(&body).unwrap();
        assert_eq!(list.nodes.len(), 1);
        assert_eq!(list.nodes[0].ip, Ipv4Addr::new(5, 6, 7, 8));
        assert_eq!(list.skipped, 0);
        assert_eq!(list.t, Some(1_700_000_000_000));
    }

    #[test]
    fn hostile_entries_are_skipped_with_typed_errors() {
        let cases: Vec<(Value, Malformed)> = vec![
            (
                serde_json::json!("a string"),
                Malformed::BadField {
                    field: "service_node_states[]",
                    expected: "an object",
                },
            ),
            (
                serde_json::json!({"storage_port": 1, "pubkey_ed25519": ED, "pubkey_x25519": X}),
                Malformed::MissingField { field: "public_ip" },
            ),
            (
                entry("::1", 22021, ED),
                Malformed::BadField {
                    field: "public_ip",
                    expected: "an IPv4 address",
                },
            ),
            (
                entry("1.2.3.4.5", 22021, ED),
                Malformed::BadField {
                    field: "public_ip",
                    expected: "an IPv4 address",
                },
            ),
            (
                entry("1.2.3.4", 0, ED),
                Malformed::BadField {
                    field: "storage_port",
                    expected: "a port number",
                },
            ),
            (
                entry("1.2.3.4", 65536, ED),
                Malformed::BadField {
                    field: "storage_port",
                    expected: "a port number",
                },
            ),
            (
                entry("1.2.3.4", 1, "abcd"),
                Malformed::BadField {
                    field: "pubkey_ed25519",
                    expected: "64 hex digits",
                },
            ),
            (
                entry("1.2.3.4", 1, &"zz".repeat(32)),
                Malformed::BadField {
                    field: "pubkey_ed25519",
                    expected: "64 hex digits",
                },
            ),
            (
                serde_json::json!({"public_ip": 1234, "storage_port": 1, "pubkey_ed25519": ED, "pubkey_x25519": X}),
                Malformed::BadField {
                    field: "public_ip",
                    expected: "a string",
                },
            ),
            (
                serde_json::json!({"public_ip": "1.2.3.4", "storage_port": 1, "pubkey_ed25519": ED}),
                Malformed::MissingField {
                    field: "pubkey_x25519",
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_state_entry(&value), Err(expected.clone()), "{value}");
        }
        let mut e = entry("1.2.3.4", 22021, ED);
        for bad in [
            serde_json::json!(-1),
            serde_json::json!(1.5e19),
            serde_json::json!("12"),
            serde_json::json!(f64::MAX),
        ] {
            e["swarm_id"] = bad.clone();
            assert_eq!(
                parse_state_entry(&e),
                Err(Malformed::BadField {
                    field: "swarm_id",
                    expected: "an unsigned 64-bit integer"
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_list_keeps_good_entries_and_counts_bad_and_duplicate_ones() {
        let body = serde_json::json!({"result": {"service_node_states": [
            entry("1.1.1.1", 1, &ed(1)),
            entry("1.1.1.2", 1, &ed(1)),   // same key
            entry("1.1.1.1", 1, &ed(2)),   // same address
            entry("1.1.1.3", 99999, &ed(3)), // bad port
            null,
            entry("1.1.1.4", 1, &ed(4)),
        ]}});
        let list = parse_node_list_json(&body).unwrap();
        assert_eq!(
            list.nodes.iter().map(|n| n.ed25519).collect::<Vec<_>>(),
            vec![NodeId([1; 32]), NodeId([4; 32])]
        );
        assert_eq!(list.skipped, 4);
    }

    #[test]
    fn broken_list_shapes_are_typed_errors() {
        assert_eq!(parse_node_list(b"not json"), Err(Malformed::NotJson));
        assert_eq!(parse_node_list(b""), Err(Malformed::NotJson));
        assert_eq!(
            parse_node_list(br#"{"error":{"code":-32601,"message":"Method not found"}}"#),
            Err(Malformed::MissingField { field: "result" })
        );
        assert_eq!(
            parse_node_list(br#"{"result":{}}"#),
            Err(Malformed::MissingField {
                field: "result.service_node_states"
            })
        );
        assert_eq!(
            parse_node_list(br#"{"result":{"service_node_states":{}}}"#),
            Err(Malformed::BadField {
                field: "result.service_node_states",
                expected: "an array"
            })
        );
        assert_eq!(
            parse_node_list(br#"{"result":{"service_node_states":[]},"t":"now"}"#),
            Err(Malformed::BadField {
                field: "t",
                expected: "an unsigned 64-bit integer"
            })
        );
        let deep = "[".repeat(10_000);
        assert_eq!(parse_node_list(deep.as_bytes()), Err(Malformed::NotJson));
    }

    #[test]
    fn node_helpers_describe_subnets_and_hops() {
        let a = parse_state_entry(&entry("10.0.1.5", 22021, &ed(1)))
            .unwrap()
            .unwrap();
        let b = parse_state_entry(&entry("10.0.1.200", 22021, &ed(2)))
            .unwrap()
            .unwrap();
        let c = parse_state_entry(&entry("10.0.2.5", 22021, &ed(3)))
            .unwrap()
            .unwrap();
        assert!(a.same_subnet24(&b));
        assert!(!a.same_subnet24(&c));
        assert_eq!(a.hop().ed25519, [1; 32]);
        assert_eq!(a.hop().x25519, [0x22; 32]);
        assert_eq!(a.addr().to_string(), "10.0.1.5:22021");
        assert_eq!(NodeId::from_hex(&ed(7)), Some(NodeId([7; 32])));
        assert_eq!(NodeId::from_hex("07"), None);
        assert_eq!(NodeId([0xab; 32]).to_string(), "ab".repeat(32));
        assert_eq!(format!("{:?}", NodeId([0xab; 32])), "NodeId(abababab…)");
    }
}
