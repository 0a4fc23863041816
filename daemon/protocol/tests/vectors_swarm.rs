//! Swarm mapping against the published vectors (`shared/protocol/vectors.json`, protocol.md
//! §3.2): every `swarm.*` vector.
#![allow(clippy::unwrap_used)]

mod common;

use serde_json::Value;
use sessiond_protocol::swarm::{self, INVALID_SWARM_ID};

use common::{data, family_ids, text};

/// Vectors this file checks.
const COVERED: &[&str] = &["swarm.storage_server.pubkey_to_swarm"];

/// A swarm id or space as the vectors write it: 16 hex digits.
fn u64_hex(value: &Value) -> u64 {
    u64::from_str_radix(text(value), 16).unwrap()
}

#[test]
fn every_swarm_vector_is_covered() {
    assert_eq!(family_ids(&["swarm."]), COVERED);
}

#[test]
fn pubkeys_map_to_the_storage_servers_swarm_including_wrap_and_ties() {
    let cases = data("swarm.storage_server.pubkey_to_swarm")["cases"]
        .as_array()
        .unwrap();
    assert_eq!(cases.len(), 5);
    let mut with_pubkey = 0;
    for case in cases {
        let space = u64_hex(&case["space"]);
        let ids: Vec<u64> = case["swarm_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(u64_hex)
            .collect();
        let expected = u64_hex(&case["swarm"]);
        let note = case.get("note").map_or("", text);

        if let Some(pubkey) = case.get("pubkey") {
            with_pubkey += 1;
            let id: [u8; 33] = hex::decode(text(pubkey)).unwrap().try_into().unwrap();
            assert_eq!(swarm::swarm_space(&id), space, "{}", text(pubkey));
            assert_eq!(swarm::swarm_for_id(&id, &ids), Some(expected));
        }
        assert_eq!(
            swarm::swarm_for_space(space, &ids),
            Some(expected),
            "{note}"
        );

        // The answer does not depend on the order of the list, on one entry per node, or on
        // decommissioned nodes in it.
        let mut messy: Vec<u64> = ids.iter().rev().copied().collect();
        messy.extend_from_slice(&ids);
        messy.push(INVALID_SWARM_ID);
        assert_eq!(
            swarm::swarm_for_space(space, &messy),
            Some(expected),
            "{note}"
        );
    }
    assert_eq!(with_pubkey, 2);
}
