//! Which service nodes hold a mailbox: the swarm cache (protocol.md §3.2, §3.9).
//!
//! Every account or group (a [`SwarmPubkey`]) is stored by one swarm. The cache keeps, per
//! pubkey, the swarm members' Ed25519 keys; the members that are also in the pool are the
//! "good nodes" a request may use. A swarm is found either by computing it locally from the
//! pool's swarm ids ([`compute_swarm`], the storage server's own rule, from
//! [`sessiond_protocol::swarm`]) or by asking a node (`get_swarm`, [`fetch_swarm`]). Fewer than
//! [`Policy::min_swarm_nodes`] good nodes means the entry must be refetched. A `421` answer
//! (wrong swarm) carries the right swarm, which replaces the entry
//! ([`crate::state::NetworkState::misdirected`]).
//!
//! Swarm pubkeys are peers' identities: they are never logged.

use std::collections::HashMap;

use serde_json::Value;
use sessiond_protocol::storage_auth::SwarmPubkey;
use sessiond_protocol::swarm::{INVALID_SWARM_ID, SwarmId, swarm_for_id};

use crate::error::{Malformed, NetworkError};
use crate::node::{NodeId, ServiceNode, parse_key, parse_port, parse_public_ip};
use crate::policy::Policy;
use crate::pool::Pool;
use crate::rpc::{NodeRpc, RpcRequest};

/// The swarm members known for each pubkey.
#[derive(Debug, Clone, Default)]
pub struct SwarmCache {
    /// Members (Ed25519 keys) per pubkey, as last learned.
    swarms: HashMap<SwarmPubkey, Vec<NodeId>>,
}

impl SwarmCache {
    /// An empty cache.
    pub fn new() -> SwarmCache {
        SwarmCache::default()
    }

    /// A cache restored from [`SwarmCache::snapshot`].
    pub fn from_snapshot(entries: Vec<(SwarmPubkey, Vec<NodeId>)>) -> SwarmCache {
        SwarmCache {
            swarms: entries.into_iter().collect(),
        }
    }

    /// Every entry, to persist.
    pub fn snapshot(&self) -> Vec<(SwarmPubkey, Vec<NodeId>)> {
        self.swarms
            .iter()
            .map(|(pubkey, members)| (*pubkey, members.clone()))
            .collect()
    }

    /// The cached members of `pubkey`'s swarm.
    pub fn members(&self, pubkey: &SwarmPubkey) -> Option<&[NodeId]> {
        self.swarms.get(pubkey).map(Vec::as_slice)
    }

    /// Replaces `pubkey`'s swarm with `members` (duplicates removed).
    pub fn set(&mut self, pubkey: SwarmPubkey, members: impl IntoIterator<Item = NodeId>) {
        let mut unique: Vec<NodeId> = Vec::new();
        for id in members {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        self.swarms.insert(pubkey, unique);
    }

    /// Removes a node from `pubkey`'s swarm.
    pub fn remove_member(&mut self, pubkey: &SwarmPubkey, id: &NodeId) {
        if let Some(members) = self.swarms.get_mut(pubkey) {
            members.retain(|m| m != id);
        }
    }

    /// Removes a node from every swarm.
    pub fn remove_everywhere(&mut self, id: &NodeId) {
        for members in self.swarms.values_mut() {
            members.retain(|m| m != id);
        }
    }

    /// The members of `pubkey`'s swarm that are also in the pool: the nodes requests may use.
    pub fn good_nodes(&self, pubkey: &SwarmPubkey, pool: &Pool) -> Vec<ServiceNode> {
        self.members(pubkey)
            .unwrap_or_default()
            .iter()
            .filter_map(|id| pool.get(id).cloned())
            .collect()
    }

    /// The good nodes of `pubkey`'s swarm if there are enough, else tries computing the swarm
    /// from the pool's swarm ids (and caches the result if it has enough good nodes). `None`
    /// means the swarm must be fetched from the network ([`fetch_swarm`]).
    pub fn resolve(
        &mut self,
        pubkey: &SwarmPubkey,
        pool: &Pool,
        policy: &Policy,
    ) -> Option<Vec<ServiceNode>> {
        let cached = self.good_nodes(pubkey, pool);
        if cached.len() >= policy.min_swarm_nodes {
            return Some(cached);
        }
        let computed = compute_swarm(pubkey, pool)?;
        if computed.len() < policy.min_swarm_nodes {
            return None;
        }
        self.set(*pubkey, computed.iter().map(|n| n.ed25519));
        Some(computed)
    }
}

/// Computes `pubkey`'s swarm from the pool, as the storage servers do (§3.2). Only possible when
/// every pool node has a swarm id (a list requested with `swarm_id`); `None` otherwise, or when
/// the pool has no valid swarm. The result can still be stale (nodes left the pool since): a
/// `421` then corrects it.
pub fn compute_swarm(pubkey: &SwarmPubkey, pool: &Pool) -> Option<Vec<ServiceNode>> {
    let ids: Vec<SwarmId> = pool
        .nodes()
        .iter()
        .map(|n| n.swarm_id)
        .collect::<Option<_>>()?;
    let swarm = swarm_for_id(&pubkey.to_bytes(), &ids)?;
    Some(
        pool.nodes()
            .iter()
            .filter(|n| n.swarm_id == Some(swarm))
            .cloned()
            .collect(),
    )
}

/// The `get_swarm` request for `pubkey`.
pub fn get_swarm_request(pubkey: &SwarmPubkey) -> RpcRequest {
    RpcRequest::new(
        "get_swarm",
        serde_json::json!({ "pubkey": pubkey.to_string() }),
    )
}

/// A swarm as a node describes it (`get_swarm` answer or `421` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmInfo {
    /// The swarm id, unless the node knows no swarm for the pubkey (`ffffffffffffffff`).
    pub swarm_id: Option<SwarmId>,
    /// The members with a public address, each with `swarm_id` set.
    pub nodes: Vec<ServiceNode>,
    /// Members skipped because their entry was malformed.
    pub skipped: usize,
}

/// Parses `{"snodes":[{"ip","port_https","pubkey_ed25519","pubkey_x25519",…}],"swarm":"<hex>",…}`.
/// Members with an empty or `0.0.0.0` address are dropped; malformed members are skipped and
/// counted.
pub fn parse_swarm(body: &Value) -> Result<SwarmInfo, Malformed> {
    let snodes = body
        .get("snodes")
        .ok_or(Malformed::MissingField { field: "snodes" })?
        .as_array()
        .ok_or(Malformed::BadField {
            field: "snodes",
            expected: "an array",
        })?;
    let swarm_id = match body.get("swarm") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let id = value
                .as_str()
                .filter(|s| !s.is_empty() && s.len() <= 16)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(Malformed::BadField {
                    field: "swarm",
                    expected: "a hex swarm id",
                })?;
            (id != INVALID_SWARM_ID).then_some(id)
        }
    };
    let mut nodes: Vec<ServiceNode> = Vec::new();
    let mut skipped = 0;
    for entry in snodes {
        match parse_member(entry, swarm_id) {
            Ok(Some(node)) if !nodes.iter().any(|n| n.ed25519 == node.ed25519) => nodes.push(node),
            Ok(Some(_)) => skipped += 1,
            Ok(None) => {}
            Err(problem) => {
                tracing::debug!(%problem, "malformed swarm member skipped");
                skipped += 1;
            }
        }
    }
    Ok(SwarmInfo {
        swarm_id,
        nodes,
        skipped,
    })
}

fn parse_member(
    entry: &Value,
    swarm_id: Option<SwarmId>,
) -> Result<Option<ServiceNode>, Malformed> {
    if !entry.is_object() {
        return Err(Malformed::BadField {
            field: "snodes[]",
            expected: "an object",
        });
    }
    let Some(ip) = parse_public_ip(entry, "ip")? else {
        return Ok(None);
    };
    // `port` is the deprecated string copy of `port_https`.
    let storage_port = match entry.get("port_https") {
        Some(port) => parse_port(Some(port), "port_https")?,
        None => parse_port(entry.get("port"), "port")?,
    };
    Ok(Some(ServiceNode {
        ip,
        storage_port,
        ed25519: NodeId(parse_key(entry, "pubkey_ed25519")?),
        x25519: parse_key(entry, "pubkey_x25519")?,
        swarm_id,
    }))
}

/// Asks `node` (normally a random pool node, through an onion path) for `pubkey`'s swarm.
/// Needs a 2xx answer with at least one member.
pub async fn fetch_swarm<R: NodeRpc>(
    rpc: &R,
    node: &ServiceNode,
    pubkey: &SwarmPubkey,
    policy: &Policy,
) -> Result<SwarmInfo, NetworkError> {
    const REQUEST: &str = "get_swarm";
    let reply = rpc
        .call(node, &get_swarm_request(pubkey), policy.rpc_timeout)
        .await?;
    if !reply.is_success() {
        return Err(NetworkError::status(
            node.peer(),
            REQUEST,
            reply.status,
            reply.text().as_bytes(),
        ));
    }
    let malformed = |problem| NetworkError::Malformed {
        peer: node.peer(),
        request: REQUEST,
        problem,
    };
    let json = reply.json().ok_or_else(|| malformed(Malformed::NotJson))?;
    let info = parse_swarm(json).map_err(malformed)?;
    if info.nodes.is_empty() {
        return Err(malformed(Malformed::Empty {
            what: "swarm member",
        }));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use sessiond_protocol::AccountId;

    use super::*;
    use crate::testing::{swarm_member_json, test_node};

    fn account(byte: u8) -> SwarmPubkey {
        SwarmPubkey::Account(AccountId::from_x25519_public([byte; 32]))
    }

    fn pool_in_swarms(count: u8, swarms: &[SwarmId]) -> Pool {
        let nodes = (0..count)
            .map(|n| {
                let mut node = test_node(n);
                node.swarm_id = Some(swarms[usize::from(n) % swarms.len()]);
                node
            })
            .collect();
        Pool::from_snapshot(nodes, &Policy::mainnet())
    }

    #[test]
    fn parses_the_spec_get_swarm_answer() {
        let a = test_node(1);
        let b = test_node(2);
        let mut unlisted = swarm_member_json(&test_node(3));
        unlisted["ip"] = "0.0.0.0".into();
        let body = serde_json::json!({
            "snodes": [swarm_member_json(&a), swarm_member_json(&b), unlisted],
            "swarm": "7000000000000000", "t": 1_700_000_000_000u64, "hf": [19, 4]
        });
        let info = parse_swarm(&body).unwrap();
        assert_eq!(info.swarm_id, Some(0x7000_0000_0000_0000));
        assert_eq!(info.skipped, 0);
        let expect = |mut n: ServiceNode| {
            n.swarm_id = Some(0x7000_0000_0000_0000);
            n
        };
        assert_eq!(info.nodes, vec![expect(a), expect(b)]);
    }

    #[test]
    fn an_unknown_swarm_and_unpadded_ids_parse() {
        let info =
            parse_swarm(&serde_json::json!({"snodes": [], "swarm": "ffffffffffffffff"})).unwrap();
        assert_eq!(info.swarm_id, None);
        let info = parse_swarm(&serde_json::json!({"snodes": [], "swarm": "0"})).unwrap();
        assert_eq!(info.swarm_id, Some(0));
    }

    #[test]
    fn the_deprecated_string_port_is_used_when_port_https_is_absent() {
        let mut member = swarm_member_json(&test_node(1));
        member.as_object_mut().unwrap().remove("port_https");
        member["port"] = "22021".into();
        let info = parse_swarm(&serde_json::json!({"snodes": [member]})).unwrap();
        assert_eq!(info.nodes[0].storage_port, 22021);
    }

    #[test]
    fn hostile_swarm_answers_are_typed_errors_or_skipped_members() {
        for (body, expected) in [
            (
                serde_json::json!({}),
                Malformed::MissingField { field: "snodes" },
            ),
            (
                serde_json::json!({"snodes": {}}),
                Malformed::BadField {
                    field: "snodes",
                    expected: "an array",
                },
            ),
            (
                serde_json::json!({"snodes": [], "swarm": 5}),
                Malformed::BadField {
                    field: "swarm",
                    expected: "a hex swarm id",
                },
            ),
            (
                serde_json::json!({"snodes": [], "swarm": "1ffffffffffffffff"}),
                Malformed::BadField {
                    field: "swarm",
                    expected: "a hex swarm id",
                },
            ),
            (
                serde_json::json!({"snodes": [], "swarm": "-1"}),
                Malformed::BadField {
                    field: "swarm",
                    expected: "a hex swarm id",
                },
            ),
            (
                serde_json::json!({"snodes": [], "swarm": ""}),
                Malformed::BadField {
                    field: "swarm",
                    expected: "a hex swarm id",
                },
            ),
        ] {
            assert_eq!(parse_swarm(&body), Err(expected), "{body}");
        }
        let mut no_key = swarm_member_json(&test_node(1));
        no_key.as_object_mut().unwrap().remove("pubkey_x25519");
        let mut bad_port = swarm_member_json(&test_node(2));
        bad_port["port_https"] = serde_json::json!(-443);
        let info = parse_swarm(&serde_json::json!({
            "snodes": [no_key, bad_port, 7, swarm_member_json(&test_node(3)), swarm_member_json(&test_node(3))]
        }))
        .unwrap();
        assert_eq!(info.nodes.len(), 1);
        assert_eq!(info.skipped, 4);
    }

    #[test]
    fn good_nodes_are_the_members_still_in_the_pool() {
        let policy = Policy::mainnet();
        let mut pool = Pool::from_snapshot((0..12).map(test_node).collect(), &policy);
        let mut cache = SwarmCache::new();
        let pk = account(1);
        cache.set(pk, [1, 2, 3, 4, 99].map(|n| test_node(n).ed25519));
        assert_eq!(cache.good_nodes(&pk, &pool).len(), 4);
        assert!(cache.resolve(&pk, &pool, &policy).is_some());
        pool.remove(&test_node(1).ed25519);
        pool.remove(&test_node(2).ed25519);
        assert_eq!(cache.good_nodes(&pk, &pool).len(), 2);
        // Fewer than 3 good nodes and no swarm ids in the pool: must be fetched.
        assert_eq!(cache.resolve(&pk, &pool, &policy), None);
    }

    #[test]
    fn swarms_are_computed_locally_when_the_pool_has_swarm_ids() {
        let policy = Policy::mainnet();
        let ids = [
            0x1000_0000_0000_0000,
            0x7000_0000_0000_0000,
            0xc000_0000_0000_0000,
        ];
        let pool = pool_in_swarms(12, &ids);
        // The spec's worked example (§3.2): this id maps to swarm 0x1000….
        let id = AccountId::from_bytes(
            &hex::decode("05d2ad010eeb72d72e561d9de7bd7b6989af77dcabffa03a5111a6c859ae5c3a72")
                .unwrap(),
        )
        .unwrap();
        let pk = SwarmPubkey::Account(id);
        let swarm = compute_swarm(&pk, &pool).unwrap();
        assert_eq!(swarm.len(), 4);
        assert!(swarm.iter().all(|n| n.swarm_id == Some(ids[0])));
        let mut cache = SwarmCache::new();
        assert_eq!(cache.resolve(&pk, &pool, &policy), Some(swarm.clone()));
        assert_eq!(cache.members(&pk).unwrap().len(), 4);
        // Without swarm ids everywhere, no local computation.
        let mut partial = pool.snapshot();
        partial[0].swarm_id = None;
        assert_eq!(
            compute_swarm(&pk, &Pool::from_snapshot(partial, &policy)),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_swarm_is_fetched_with_get_swarm_and_empty_answers_are_errors() {
        tokio::time::timeout(std::time::Duration::from_secs(3600), async {
            let clock = crate::clock::Clock::manual(1_700_000_000_000);
            let net = crate::testing::FakeNetwork::new(clock.clone());
            let rpc = crate::rpc::DirectRpc::new(net.clone(), clock);
            let asked = test_node(1);
            let expected = account(7).to_string();
            net.add_node(&asked, move |request| {
                let json = request.json().unwrap_or_default();
                assert_eq!(json["method"], "get_swarm");
                assert_eq!(json["params"]["pubkey"], expected.as_str());
                let members: Vec<Value> =
                    (10..15).map(|n| swarm_member_json(&test_node(n))).collect();
                crate::testing::FakeReply::json(
                    200,
                    &serde_json::json!({"snodes": members, "swarm": "c0ffee"}),
                )
            });
            let info = fetch_swarm(&rpc, &asked, &account(7), &Policy::mainnet())
                .await
                .unwrap();
            assert_eq!(info.swarm_id, Some(0xc0ffee));
            assert_eq!(info.nodes.len(), 5);

            net.add_node(&asked, |_| {
                crate::testing::FakeReply::json(
                    200,
                    &serde_json::json!({"snodes": [], "swarm": "ffffffffffffffff"}),
                )
            });
            assert!(matches!(
                fetch_swarm(&rpc, &asked, &account(7), &Policy::mainnet()).await,
                Err(NetworkError::Malformed {
                    problem: Malformed::Empty { .. },
                    ..
                })
            ));
            net.add_node(&asked, |_| crate::testing::FakeReply::text(200, "not json"));
            assert!(matches!(
                fetch_swarm(&rpc, &asked, &account(7), &Policy::mainnet()).await,
                Err(NetworkError::Malformed {
                    problem: Malformed::NotJson,
                    ..
                })
            ));
        })
        .await
        .unwrap();
    }

    #[test]
    fn the_get_swarm_request_carries_the_prefixed_pubkey() {
        let request = get_swarm_request(&account(0xab));
        assert_eq!(request.method, "get_swarm");
        assert_eq!(request.params["pubkey"], format!("05{}", "ab".repeat(32)));
    }
}
