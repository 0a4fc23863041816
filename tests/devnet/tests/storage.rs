//! The storage RPC on a running devnet: signatures, replication, swarm moves, expiry, clock
//! skew, restarts, and the recursive methods' signed per-node results.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::*;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};
use sessiond_devnet::Devnet;
use sessiond_protocol::message_hash::MessageHash;
use sessiond_protocol::storage_auth::{SignedRequest, SwarmPubkey, sign_as_account};
use sessiond_protocol::{Namespace, NamespaceSelector};

fn verify_node_signature(node_hex: &str, message: &[u8], signature_b64: &str) -> bool {
    let mut key = [0u8; 32];
    hex::decode_to_slice(node_hex, &mut key).unwrap();
    let signature: [u8; 64] = STANDARD.decode(signature_b64).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&key)
        .unwrap()
        .verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

#[tokio::test]
async fn store_replicates_to_the_swarm_and_retrieve_needs_a_valid_signature() {
    timed(async {
        let net = start(6, 3).await;
        let alice = identity(1);
        let swarm = net.swarm_nodes(&alice);
        assert_eq!(swarm.len(), 3);
        let now = net.now();

        let (status, body) = net
            .rpc(&swarm[0], &store(&alice, 0, b"hello", now, 60_000))
            .await;
        assert_eq!(status, 200, "{body}");
        let expected = MessageHash::compute(
            &SwarmPubkey::Account(alice.account_id()),
            Namespace::DEFAULT,
            b"hello",
        );
        assert_eq!(body["hash"], expected.as_str());
        assert_eq!(body["t"], now);
        assert_eq!(body["hf"], json!([19, 4]));
        let entries = body["swarm"].as_object().unwrap();
        assert_eq!(entries.len(), 3, "one entry per member: {body}");
        for node in &swarm {
            let entry = &entries[&node.ed25519_hex()];
            assert!(entry.get("failed").is_none(), "{entry}");
            assert_eq!(entry["hash"], expected.as_str());
            assert_eq!(entry["expiry"], now + 60_000);
            assert!(verify_node_signature(
                &node.ed25519_hex(),
                expected.as_str().as_bytes(),
                entry["signature"].as_str().unwrap()
            ));
        }

        // Replicated: another member has it.
        let (status, body) = net.rpc(&swarm[2], &retrieve(&alice, 0, now, None)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(datas(&body), vec![b"hello".to_vec()]);
        assert_eq!(body["more"], false);
        let message = &body["messages"][0];
        assert_eq!(message["timestamp"], now);
        assert_eq!(message["expiration"], now + 60_000);

        // A duplicate is recognised.
        let (_, again) = net
            .rpc(&swarm[1], &store(&alice, 0, b"hello", now, 60_000))
            .await;
        assert_eq!(again["swarm"][swarm[1].ed25519_hex()]["already"], true);

        // A signature by someone else: 401.
        let mallory = identity(2);
        let mut forged = retrieve(&alice, 0, now, None);
        let wrong = sign_as_account(
            &mallory,
            &SignedRequest::Retrieve {
                namespace: Namespace::DEFAULT,
                timestamp_ms: now as u64,
            },
        );
        forged["params"]["signature"] = json!(wrong.signature_base64());
        let (status, body) = net.rpc(&swarm[0], &forged).await;
        assert_eq!(
            (status, body),
            (401, json!("retrieve signature verification failed"))
        );

        // No signature at all on namespace 0.
        let unsigned =
            json!({"method": "retrieve", "params": {"pubkey": alice.account_id().to_string()}});
        let (status, body) = net.rpc(&swarm[0], &unsigned).await;
        assert_eq!(
            (status, body),
            (401, json!("retrieve: request signature required"))
        );

        // A 05 request without pubkey_ed25519.
        let mut missing = retrieve(&alice, 0, now, None);
        missing["params"]
            .as_object_mut()
            .unwrap()
            .remove("pubkey_ed25519");
        assert_eq!(net.rpc(&swarm[0], &missing).await.0, 401);

        // Owner-only namespace: unsigned store refused, signed store accepted.
        let mut unsigned_store = store(&alice, 2, b"config", now, 60_000);
        for key in ["signature", "pubkey_ed25519"] {
            unsigned_store["params"]
                .as_object_mut()
                .unwrap()
                .remove(key);
        }
        let (status, body) = net.rpc(&swarm[0], &unsigned_store).await;
        assert_eq!(
            (status, body),
            (
                401,
                json!("store: signature required to store to namespace 2")
            )
        );
        let (status, _) = net
            .rpc(&swarm[0], &store(&alice, 2, b"config", now, 60_000))
            .await;
        assert_eq!(status, 200);
        let (_, body) = net.rpc(&swarm[1], &retrieve(&alice, 2, now, None)).await;
        assert_eq!(datas(&body), vec![b"config".to_vec()]);

        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_node_moved_out_of_the_swarm_answers_421_with_the_real_swarm() {
    timed(async {
        let net = start(6, 3).await;
        let alice = identity(3);
        let swarm = net.swarm_nodes(&alice);
        let moved = swarm[0].clone();
        let swarm_id = net.devnet.swarm_of(moved.index).unwrap();
        let other = net
            .devnet
            .swarm_ids()
            .into_iter()
            .find(|&id| id != swarm_id)
            .unwrap();
        net.devnet.move_node(moved.index, other).unwrap();

        let now = net.now();
        let (status, body) = net.rpc(&moved, &store(&alice, 0, b"x", now, 60_000)).await;
        assert_eq!(status, 421, "{body}");
        assert_eq!(body["swarm"], format!("{swarm_id:x}"));
        let listed: Vec<&str> = body["snodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pubkey_ed25519"].as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(!listed.contains(&moved.ed25519_hex().as_str()));
        let first = &body["snodes"][0];
        for key in [
            "address",
            "pubkey_legacy",
            "pubkey_x25519",
            "port",
            "port_https",
            "ip",
        ] {
            assert!(first.get(key).is_some(), "missing {key}: {first}");
        }
        assert!(body["t"].is_i64());

        // The remaining members store without it.
        let (status, body) = net
            .rpc(&swarm[1], &store(&alice, 0, b"x", now, 60_000))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["swarm"].as_object().unwrap().len(), 2);

        // get_swarm from any node agrees.
        let get_swarm =
            json!({"method": "get_swarm", "params": {"pubkey": alice.account_id().to_string()}});
        let (status, body) = net.rpc(&moved, &get_swarm).await;
        assert_eq!(status, 200);
        assert_eq!(body["snodes"].as_array().unwrap().len(), 2);

        net.devnet.heal(moved.index).await.unwrap();
        assert_eq!(net.devnet.swarm_of(moved.index).unwrap(), swarm_id);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn messages_expire_at_their_ttl_on_the_devnet_clock() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(4);
        let node = net.swarm_nodes(&alice)[0].clone();
        let now = net.now();
        assert_eq!(
            net.rpc(&node, &store(&alice, 0, b"short", now, 10_000))
                .await
                .0,
            200
        );
        assert_eq!(
            net.rpc(&node, &store(&alice, 0, b"long", now, 60_000))
                .await
                .0,
            200
        );

        // TTL limits: below 10 s or above 14 days on a public namespace is 403.
        let (status, body) = net.rpc(&node, &store(&alice, 0, b"x", now, 9_999)).await;
        assert_eq!(
            (status, body),
            (403, json!("Provided expiry/TTL is not valid."))
        );
        let (status, _) = net
            .rpc(&node, &store(&alice, 0, b"x", now, 15 * 24 * 3_600_000))
            .await;
        assert_eq!(status, 403);
        let (status, _) = net
            .rpc(&node, &store(&alice, 2, b"x", now, 15 * 24 * 3_600_000))
            .await;
        assert_eq!(status, 200, "private namespaces allow 30 days");

        net.devnet.clock().advance(10_000);
        let later = net.now();
        let (_, body) = net.rpc(&node, &retrieve(&alice, 0, later, None)).await;
        assert_eq!(datas(&body), vec![b"long".to_vec()]);

        net.devnet.clock().advance(50_000);
        let (_, body) = net.rpc(&node, &retrieve(&alice, 0, net.now(), None)).await;
        assert!(hashes(&body).is_empty());
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_skewed_node_answers_406() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(5);
        let node = net.swarm_nodes(&alice)[0].clone();
        let now = net.now();
        net.devnet.set_skew(node.index, 120_000).unwrap();
        let (status, body) = net.rpc(&node, &retrieve(&alice, 0, now, None)).await;
        assert_eq!(
            (status, body),
            (406, json!("retrieve timestamp too far from current time"))
        );
        // Its clock is ahead: the store expiry looks past.
        let (status, body) = net
            .rpc(&node, &store(&alice, 0, b"x", now - 110_000, 100_000))
            .await;
        assert_eq!(
            (status, body),
            (406, json!("Timestamp error: check your clock"))
        );
        net.devnet.set_skew(node.index, -120_000).unwrap();
        let (status, body) = net.rpc(&node, &store(&alice, 0, b"x", now, 100_000)).await;
        assert_eq!(
            (status, body),
            (406, json!("Timestamp error: check your clock"))
        );
        // `info` reports the node's (skewed) time, which is how clients learn the offset.
        let (status, body) = net
            .rpc(&node, &json!({"method": "info", "params": {}}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["timestamp"], now - 120_000);
        assert_eq!(body["version"], json!([2, 8, 0]));
        net.devnet.set_skew(node.index, 0).unwrap();
        assert_eq!(net.rpc(&node, &retrieve(&alice, 0, now, None)).await.0, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn retrieve_pages_with_last_hash_max_count_and_more() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(6);
        let node = net.swarm_nodes(&alice)[0].clone();
        let now = net.now();
        for i in 0..5u8 {
            assert_eq!(
                net.rpc(&node, &store(&alice, 0, &[i; 8], now, 60_000))
                    .await
                    .0,
                200
            );
        }
        let mut request = retrieve(&alice, 0, now, None);
        request["params"]["max_count"] = json!(2);
        let (_, first) = net.rpc(&node, &request).await;
        assert_eq!(hashes(&first).len(), 2);
        assert_eq!(first["more"], true);
        let last = hashes(&first)[1].clone();
        let mut next = retrieve(&alice, 0, now, Some(&last));
        next["params"]["max_count"] = json!(10);
        let (_, rest) = net.rpc(&node, &next).await;
        assert_eq!(datas(&rest), vec![vec![2u8; 8], vec![3u8; 8], vec![4u8; 8]]);
        assert_eq!(rest["more"], false);
        // An unknown last_hash starts over; a malformed one is 400.
        let unknown = "A".repeat(43);
        let (_, all) = net
            .rpc(&node, &retrieve(&alice, 0, now, Some(&unknown)))
            .await;
        assert_eq!(hashes(&all).len(), 5);
        let (status, body) = net
            .rpc(&node, &retrieve(&alice, 0, now, Some("short")))
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                json!("invalid request: Invalid last_hash: expected base64 (43 chars)")
            )
        );
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn delete_expire_and_get_expiries_return_signed_results() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(7);
        let swarm = net.swarm_nodes(&alice);
        let node = swarm[0].clone();
        let now = net.now();
        let mut stored = Vec::new();
        for data in [b"one".as_slice(), b"two", b"three"] {
            let (_, body) = net.rpc(&node, &store(&alice, 0, data, now, 60_000)).await;
            stored.push(body["hash"].as_str().unwrap().parse::<MessageHash>().unwrap());
        }
        let owner_hex = alice.account_id().to_string();

        // expire (extend) the first two to now + 120 s.
        let expiry = (now + 120_000) as u64;
        let targets = &stored[..2];
        let auth = sign_as_account(
            &alice,
            &SignedRequest::Expire {
                mode: sessiond_protocol::storage_auth::ExpireMode::Extend,
                expiries_ms: &[expiry],
                hashes: targets,
            },
        );
        let request = json!({"method": "expire", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "expiry": expiry, "extend": true,
            "messages": targets.iter().map(MessageHash::as_str).collect::<Vec<_>>(),
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        for member in &swarm {
            let entry = &body["swarm"][member.ed25519_hex()];
            let mut updated: Vec<&str> = targets.iter().map(MessageHash::as_str).collect();
            updated.sort_unstable();
            assert_eq!(entry["updated"], json!(updated));
            assert_eq!(entry["expiry"], expiry);
            assert_eq!(entry["unchanged"], json!({}));
            let mut signed = format!("{owner_hex}{expiry}");
            for h in targets {
                signed.push_str(h.as_str());
            }
            for h in &updated {
                signed.push_str(h);
            }
            assert!(verify_node_signature(
                &member.ed25519_hex(),
                signed.as_bytes(),
                entry["signature"].as_str().unwrap()
            ));
        }

        // get_expiries sees the new expiries (and has no t/hf).
        let auth = sign_as_account(
            &alice,
            &SignedRequest::GetExpiries { timestamp_ms: now as u64, hashes: &stored },
        );
        let request = json!({"method": "get_expiries", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "timestamp": now,
            "messages": stored.iter().map(MessageHash::as_str).collect::<Vec<_>>(),
        }});
        let (status, body) = net.rpc(&swarm[1], &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expiries"][stored[0].as_str()], expiry);
        assert_eq!(body["expiries"][stored[2].as_str()], now + 60_000);
        assert!(body.get("t").is_none());

        // An expiry in the past is 401.
        let past = (now - 120_000) as u64;
        let auth = sign_as_account(
            &alice,
            &SignedRequest::Expire {
                mode: sessiond_protocol::storage_auth::ExpireMode::Either,
                expiries_ms: &[past],
                hashes: &stored[..1],
            },
        );
        let request = json!({"method": "expire", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "expiry": past,
            "messages": [stored[0].as_str()],
        }});
        assert_eq!(
            net.rpc(&node, &request).await,
            (401, json!("expire: timestamp should be >= current time"))
        );

        // delete one message, with `required`.
        let auth = sign_as_account(&alice, &SignedRequest::Delete { hashes: &stored[2..] });
        let delete = json!({"method": "delete", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "messages": [stored[2].as_str()], "required": true,
        }});
        let (status, body) = net.rpc(&node, &delete).await;
        assert_eq!(status, 200, "{body}");
        let entry = &body["swarm"][node.ed25519_hex()];
        assert_eq!(entry["deleted"], json!([stored[2].as_str()]));
        let signed = format!("{owner_hex}{}{}", stored[2].as_str(), stored[2].as_str());
        assert!(verify_node_signature(&node.ed25519_hex(), signed.as_bytes(), entry["signature"].as_str().unwrap()));
        // Again: nothing left to delete anywhere -> 404.
        assert_eq!(net.rpc(&node, &delete).await.0, 404);

        // delete_all with "all".
        let auth = sign_as_account(
            &alice,
            &SignedRequest::DeleteAll { namespace: NamespaceSelector::All, timestamp_ms: now as u64 },
        );
        let request = json!({"method": "delete_all", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "timestamp": now, "namespace": "all",
        }});
        let (status, body) = net.rpc(&swarm[2], &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["swarm"][swarm[2].ed25519_hex()]["deleted"]["0"].as_array().unwrap().len(), 2);
        let (_, left) = net.rpc(&node, &retrieve(&alice, 0, now, None)).await;
        assert!(hashes(&left).is_empty());
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn batch_parses_everything_first_and_sequence_stops_at_the_first_failure() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(8);
        let node = net.swarm_nodes(&alice)[0].clone();
        let now = net.now();
        let sub = |v: Value| v;
        let batch = json!({"method": "batch", "params": {"requests": [
            sub(store(&alice, 0, b"b1", now, 60_000)),
            sub(retrieve(&alice, 0, now, None)),
            {"method": "info", "params": {}},
        ]}});
        let (status, body) = net.rpc(&node, &batch).await;
        assert_eq!(status, 200, "{body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["code"], 200);
        assert_eq!(results[2]["body"]["version"], json!([2, 8, 0]));
        assert!(body.get("t").is_none());

        // One malformed sub-request fails the whole batch before anything runs.
        let bad = json!({"method": "batch", "params": {"requests": [
            store(&alice, 0, b"never", now, 60_000),
            {"method": "retrieve", "params": {"pubkey": "nope"}},
        ]}});
        let (status, body) = net.rpc(&node, &bad).await;
        assert_eq!(status, 400);
        assert!(body.as_str().unwrap().starts_with("invalid request: "), "{body}");
        let (_, check) = net.rpc(&node, &retrieve(&alice, 0, now, None)).await;
        assert_eq!(datas(&check), vec![b"b1".to_vec()]);

        let nested = json!({"method": "batch", "params": {"requests": [batch.clone()]}});
        assert_eq!(
            net.rpc(&node, &nested).await,
            (400, json!("invalid request: Invalid batch subrequest: subrequests may not contain meta-requests"))
        );
        let too_many: Vec<Value> = (0..21).map(|_| json!({"method": "info", "params": {}})).collect();
        let (status, _) = net.rpc(&node, &json!({"method": "batch", "params": {"requests": too_many}})).await;
        assert_eq!(status, 400);

        // sequence: the 403 store stops it.
        let sequence = json!({"method": "sequence", "params": {"requests": [
            {"method": "info", "params": {}},
            store(&alice, 0, b"x", now, 1),
            {"method": "info", "params": {}},
        ]}});
        let (status, body) = net.rpc(&node, &sequence).await;
        assert_eq!(status, 200);
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1]["code"], 403);
        assert_eq!(results[1]["body"], "Provided expiry/TTL is not valid.");

        // ifelse on the hardfork.
        let ifelse = json!({"method": "ifelse", "params": {
            "if": {"hf_at_least": [19, 0]},
            "then": {"method": "info", "params": {}},
            "else": {"method": "get_swarm", "params": {"pubkey": alice.account_id().to_string()}},
        }});
        let (status, body) = net.rpc(&node, &ifelse).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["condition"], true);
        assert_eq!(body["result"]["code"], 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn stopped_nodes_refuse_connections_and_keep_their_data_across_restarts() {
    timed(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(3, 3);
        config.dir = Some(dir.path().to_path_buf());
        let clock = config.clock.clone();
        let net = start_with(config.clone()).await;
        let alice = identity(9);
        let node = net.swarm_nodes(&alice)[0].clone();
        let now = net.now();
        assert_eq!(
            net.rpc(&node, &store(&alice, 0, b"durable", now, 3_600_000))
                .await
                .0,
            200
        );

        net.devnet.stop_node(node.index).await.unwrap();
        assert!(!net.devnet.is_running(node.index).await.unwrap());
        let refused = net
            .client
            .post(
                &format!("{}/storage_rpc/v1", node.base_url()),
                &[],
                "{}",
                std::time::Duration::from_secs(2),
            )
            .await;
        assert!(refused.is_err(), "a stopped node must not answer");
        // Its peers store without it (the entry for it failed).
        let (status, body) = net
            .rpc(
                &net.swarm_nodes(&alice)[1],
                &store(&alice, 0, b"while down", now, 3_600_000),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["swarm"][node.ed25519_hex()]["failed"], true);

        net.devnet.start_node(node.index).await.unwrap();
        let (_, body) = net.rpc(&node, &retrieve(&alice, 0, now, None)).await;
        assert_eq!(datas(&body), vec![b"durable".to_vec()]);

        // A whole new devnet on the same directory: same keys, ports, certificates and data.
        let before = net.devnet.nodes();
        let seed_pin = net.devnet.seed_pin().to_owned();
        net.devnet.shutdown().await;
        let again = Devnet::start(config).await.unwrap();
        assert_eq!(again.nodes(), before);
        assert_eq!(again.seed_pin(), seed_pin);
        let net = Net {
            devnet: again,
            client: net.client,
        };
        let (_, body) = net
            .rpc(&node, &retrieve(&alice, 0, clock.now_ms(), None))
            .await;
        assert_eq!(datas(&body), vec![b"durable".to_vec()]);
        let network: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("network.json")).unwrap())
                .unwrap();
        assert_eq!(network["nodes"].as_array().unwrap().len(), 3);
        assert_eq!(network["seed"]["pin"], seed_pin);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn group_admins_and_subaccounts_with_revocation() {
    use ed25519_dalek::{Signer as _, SigningKey};
    use sessiond_protocol::GroupId;
    use sessiond_protocol::storage_auth::{SubaccountAuth, SubaccountToken, sign_as_group_admin};

    timed(async {
        let net = start(3, 3).await;
        let node = net.devnet.nodes()[0].clone();
        let group_seed = [3u8; 32];
        let admin = SigningKey::from_bytes(&group_seed);
        let group = GroupId::from_ed25519_public(admin.verifying_key().to_bytes());
        let now = net.now();

        // The admin stores a group message (namespace 11).
        let auth = sign_as_group_admin(
            &group_seed,
            &SignedRequest::Store {
                namespace: Namespace::GROUP_MESSAGES,
                sig_timestamp_ms: now as u64,
            },
        );
        let request = json!({"method": "store", "params": {
            "pubkey": group.to_string(), "namespace": 11, "timestamp": now, "ttl": 60_000,
            "data": STANDARD.encode(b"group hello"), "signature": auth.signature_base64(),
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        // pubkey_ed25519 is refused for 03 groups.
        let mut with_key = request.clone();
        with_key["params"]["pubkey_ed25519"] = json!("00".repeat(32));
        let (status, body) = net.rpc(&node, &with_key).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!("invalid request: pubkey_ed25519 is only permitted for 05[...] pubkeys")
            )
        );

        // A member with a read+write token retrieves.
        let member = SigningKey::from_bytes(&[4u8; 32]);
        let mut token = [0u8; 36];
        token[0] = 0x03;
        token[1] = 0x03;
        token[4..].copy_from_slice(member.verifying_key().as_bytes());
        let sub = SubaccountAuth {
            token: SubaccountToken(token),
            token_signature: admin.sign(&token).to_bytes(),
        };
        let member_retrieve = |ns: i16| {
            let signed = SignedRequest::Retrieve {
                namespace: Namespace::new(ns),
                timestamp_ms: now as u64,
            };
            let signature = member.sign(&signed.message()).to_bytes();
            json!({"method": "retrieve", "params": {
                "pubkey": group.to_string(), "namespace": ns, "timestamp": now,
                "signature": STANDARD.encode(signature),
                "subaccount": STANDARD.encode(sub.token.0),
                "subaccount_sig": STANDARD.encode(sub.token_signature),
            }})
        };
        let (status, body) = net.rpc(&node, &member_retrieve(11)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(datas(&body), vec![b"group hello".to_vec()]);

        // The admin revokes it: 401 on namespace 11, still readable on -11.
        let tokens = [sub.token];
        let revoke = sign_as_group_admin(
            &group_seed,
            &SignedRequest::RevokeSubaccount {
                timestamp_ms: now as u64,
                tokens: &tokens,
            },
        );
        let request = json!({"method": "revoke_subaccount", "params": {
            "pubkey": group.to_string(), "timestamp": now,
            "revoke": STANDARD.encode(token), "signature": revoke.signature_base64(),
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["swarm"].as_object().unwrap().len(), 3);
        assert_eq!(
            net.rpc(&node, &member_retrieve(11)).await,
            (401, json!("retrieve signature verification failed"))
        );
        // Revocation reached the peers too.
        let peer = net.devnet.nodes()[2].clone();
        assert_eq!(net.rpc(&peer, &member_retrieve(11)).await.0, 401);
        assert_eq!(net.rpc(&node, &member_retrieve(-11)).await.0, 200);

        let unrevoke = sign_as_group_admin(
            &group_seed,
            &SignedRequest::UnrevokeSubaccount {
                timestamp_ms: now as u64,
                tokens: &tokens,
            },
        );
        let request = json!({"method": "unrevoke_subaccount", "params": {
            "pubkey": group.to_string(), "timestamp": now,
            "unrevoke": hex::encode(token), "signature": unrevoke.signature_base64(),
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["swarm"][node.ed25519_hex()]["count"], 1);
        assert_eq!(net.rpc(&node, &member_retrieve(11)).await.0, 200);
        net.devnet.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn delete_before_and_expire_all_act_on_one_or_all_namespaces() {
    timed(async {
        let net = start(3, 3).await;
        let alice = identity(10);
        let node = net.swarm_nodes(&alice)[0].clone();
        let owner_hex = alice.account_id().to_string();
        let t0 = net.now();
        net.rpc(&node, &store(&alice, 0, b"old", t0, 3_600_000))
            .await;
        net.rpc(&node, &store(&alice, 2, b"old config", t0, 3_600_000))
            .await;
        net.devnet.clock().advance(1_000);
        let t1 = net.now();
        net.rpc(&node, &store(&alice, 0, b"new", t1, 3_600_000))
            .await;

        // expire_all on every namespace: shortens everything to t1 + 10 min.
        let expiry = (t1 + 600_000) as u64;
        let auth = sign_as_account(
            &alice,
            &SignedRequest::ExpireAll {
                namespace: NamespaceSelector::All,
                expiry_ms: expiry,
            },
        );
        let request = json!({"method": "expire_all", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "expiry": expiry, "namespace": "all",
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        let updated = &body["swarm"][node.ed25519_hex()]["updated"];
        assert_eq!(updated["0"].as_array().unwrap().len(), 2);
        assert_eq!(updated["2"].as_array().unwrap().len(), 1);

        // delete_before t0 in namespace 0 only.
        let auth = sign_as_account(
            &alice,
            &SignedRequest::DeleteBefore {
                namespace: Namespace::DEFAULT.into(),
                before_ms: t0 as u64,
            },
        );
        let request = json!({"method": "delete_before", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "before": t0,
        }});
        let (status, body) = net.rpc(&node, &request).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["swarm"][node.ed25519_hex()]["deleted"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let (_, left) = net.rpc(&node, &retrieve(&alice, 0, t1, None)).await;
        assert_eq!(datas(&left), vec![b"new".to_vec()]);
        assert_eq!(left["messages"][0]["expiration"], expiry);
        let (_, config) = net.rpc(&node, &retrieve(&alice, 2, t1, None)).await;
        assert_eq!(datas(&config), vec![b"old config".to_vec()]);

        // A `before` in the future is 401.
        let future = (t1 + 120_000) as u64;
        let auth = sign_as_account(
            &alice,
            &SignedRequest::DeleteBefore {
                namespace: Namespace::DEFAULT.into(),
                before_ms: future,
            },
        );
        let request = json!({"method": "delete_before", "params": {
            "pubkey": owner_hex, "pubkey_ed25519": auth.pubkey_ed25519_hex(),
            "signature": auth.signature_base64(), "before": future,
        }});
        assert_eq!(
            net.rpc(&node, &request).await,
            (401, json!("delete_before timestamp too far in the future"))
        );
        net.devnet.shutdown().await;
    })
    .await;
}
