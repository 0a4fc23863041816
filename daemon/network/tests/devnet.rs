//! End to end against the real local network (`sessiond-devnet`, started in process): the
//! production client (`NetworkClient::start`: HTTPS, pinned seed, onion paths) bootstraps from
//! the devnet's seed, stores through three-hop paths, polls swarm members, and recovers from a
//! node moved to another swarm (421), a node stopped mid-traffic, and a skewed node clock
//! (406). Only `NetworkConfig` differs from mainnet: the seed and `Policy::local`.
//!
//! Real sockets and real time: every test is bounded by `TEST_TIMEOUT`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::future::Future;
use std::time::Duration;

use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use sessiond_devnet::{Devnet, DevnetConfig, Timeouts};
use sessiond_network::{
    CertPin, NetworkClient, NetworkConfig, NetworkError, NetworkRng, NodeId, Policy, SeedNode,
    SeedTrust,
};
use sessiond_protocol::message_hash::MessageHash;
use sessiond_protocol::storage_auth::SwarmPubkey;
use sessiond_protocol::swarm::swarm_for_id;
use sessiond_protocol::{Identity, Namespace, Seed};

const TEST_TIMEOUT: Duration = Duration::from_secs(25);
const NODES: usize = 12;
const TTL: u64 = 3_600_000;

async fn timed<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, future)
        .await
        .expect("test timed out")
}

/// 12 nodes in 3 swarms of 4, on the system clock (as the client's), short relay timeouts.
async fn devnet() -> Devnet {
    Devnet::start(DevnetConfig {
        nodes: NODES,
        swarm_size: 4,
        timeouts: Timeouts {
            swarm: Duration::from_secs(2),
            onion_hop: Duration::from_secs(3),
            server: Duration::from_secs(3),
        },
        cleanup_interval: Duration::from_secs(3600),
        ..DevnetConfig::default()
    })
    .await
    .expect("devnet starts")
}

/// The production client, configured for the devnet: its seed with its certificate pin, and
/// the local policy. Nothing else differs from mainnet.
fn start_client(devnet: &Devnet) -> NetworkClient {
    let pin: CertPin = devnet.seed_pin().parse().unwrap();
    let seed = SeedNode::new(devnet.seed_url(), SeedTrust::Pinned(pin)).unwrap();
    NetworkClient::start(
        NetworkConfig {
            seeds: vec![seed],
            policy: Policy::local(NODES),
            proxy: None,
            rng: NetworkRng::new(UnwrapErr(SysRng)),
        },
        None,
    )
    .unwrap()
}

fn identity(byte: u8) -> Identity {
    Identity::from_seed(&Seed::from_bytes(&[byte; 16]).unwrap())
}

fn pubkey(who: &Identity) -> SwarmPubkey {
    SwarmPubkey::Account(who.account_id())
}

/// The devnet's idea of `who`'s swarm, as node ids, in the devnet's order.
fn devnet_swarm(devnet: &Devnet, who: &Identity) -> Vec<NodeId> {
    let swarm = devnet.swarm_for(who.account_id().as_bytes()).unwrap();
    devnet
        .swarm_members(swarm)
        .iter()
        .map(|n| NodeId(n.ed25519))
        .collect()
}

fn index_of(devnet: &Devnet, id: &NodeId) -> usize {
    devnet.resolve_node(&id.to_string()).unwrap()
}

fn sorted(mut ids: Vec<NodeId>) -> Vec<NodeId> {
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_store_and_poll_two_members_through_three_hop_paths() {
    timed(async {
        let devnet = devnet().await;
        let client = start_client(&devnet);
        let bob = identity(2);
        let to = pubkey(&bob);

        client.ready().await.unwrap();
        // The swarm is computed from the seed's list (with swarm ids), as the nodes compute it.
        let members = client.swarm_members(&to).await.unwrap();
        assert_eq!(sorted(members.clone()), sorted(devnet_swarm(&devnet, &bob)));
        let status = client.status();
        assert!(status.ready);
        assert_eq!(status.pool_size, NODES);
        assert_eq!(status.guards.len(), 2);
        assert_eq!(status.paths.len(), 2);
        for path in &status.paths {
            assert_eq!(path.hops.len(), 3);
            for hop in &path.hops {
                let node = devnet.node(index_of(&devnet, &hop.ed25519)).unwrap();
                assert_eq!(hop.addr.port(), node.port);
            }
        }

        let sent_at = client.clock().network_now_ms();
        let ack = client
            .store(&to, Namespace::DEFAULT, b"hello bob", TTL, sent_at)
            .await
            .unwrap();
        let h1 = MessageHash::compute(&to, Namespace::DEFAULT, b"hello bob");
        assert_eq!(ack.hash, h1);
        assert!(members.contains(&ack.node));
        // The node's `t` from the sequence's sub-result set the clock (same host: ~0).
        assert!(client.clock().network_offset_ms().abs() < 5_000);

        // Polled as Bob from two members: the message was copied across the swarm.
        let first = ack.node;
        let second = *members.iter().find(|m| **m != first).unwrap();
        for node in [first, second] {
            let polled = client
                .retrieve(
                    &bob,
                    &node,
                    &[(Namespace::DEFAULT, None), (Namespace::USER_PROFILE, None)],
                )
                .await
                .unwrap();
            assert_eq!(polled.len(), 2);
            assert_eq!(polled[0].namespace, Namespace::DEFAULT);
            let messages = &polled[0].messages;
            assert_eq!(messages.len(), 1, "from {node:?}");
            assert_eq!(messages[0].hash, h1);
            assert_eq!(messages[0].data, b"hello bob");
            assert_eq!(messages[0].timestamp_ms, sent_at);
            assert_eq!(messages[0].expires_at_ms, sent_at + TTL);
            assert!(!polled[0].more);
            assert!(polled[1].messages.is_empty());
        }

        // last_hash is per node and namespace: after a node's last hash, nothing new…
        let after = client
            .retrieve(&bob, &first, &[(Namespace::DEFAULT, Some(h1.clone()))])
            .await
            .unwrap();
        assert!(after[0].messages.is_empty());
        let ack2 = client
            .store(
                &to,
                Namespace::DEFAULT,
                b"second",
                TTL,
                client.clock().network_now_ms(),
            )
            .await
            .unwrap();
        // …then only what came after it, on each node that knows that hash…
        for node in [first, second] {
            let after = client
                .retrieve(&bob, &node, &[(Namespace::DEFAULT, Some(h1.clone()))])
                .await
                .unwrap();
            let hashes: Vec<&MessageHash> = after[0].messages.iter().map(|m| &m.hash).collect();
            assert_eq!(hashes, vec![&ack2.hash]);
        }
        // …while a hash the node does not know makes it answer from the start.
        let unknown = MessageHash::compute(&to, Namespace::DEFAULT, b"never stored");
        let all = client
            .retrieve(&bob, &second, &[(Namespace::DEFAULT, Some(unknown))])
            .await
            .unwrap();
        let hashes: Vec<&MessageHash> = all[0].messages.iter().map(|m| &m.hash).collect();
        assert_eq!(hashes, vec![&h1, &ack2.hash]);

        let snapshot = client.snapshot();
        assert_eq!(snapshot.nodes.len(), NODES);
        assert_eq!(snapshot.guards.len(), 2);
        client.shutdown().await;
        devnet.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_moved_away_answers_421_and_the_store_lands_in_the_new_swarm() {
    timed(async {
        let devnet = devnet().await;
        let client = start_client(&devnet);
        let bob = identity(4);
        let to = pubkey(&bob);
        let old = client.swarm_members(&to).await.unwrap();
        assert_eq!(sorted(old.clone()), sorted(devnet_swarm(&devnet, &bob)));

        // Move every member of Bob's swarm into the one swarm that will not store Bob: every
        // node the client knows for Bob now answers 421 naming Bob's new swarm.
        let ids = devnet.swarm_ids();
        let current = devnet.swarm_for(bob.account_id().as_bytes()).unwrap();
        let remaining: Vec<u64> = ids.iter().copied().filter(|&s| s != current).collect();
        let new = swarm_for_id(bob.account_id().as_bytes(), &remaining).unwrap();
        let elsewhere = *remaining.iter().find(|&&s| s != new).unwrap();
        for member in &old {
            devnet
                .move_node(index_of(&devnet, member), elsewhere)
                .unwrap();
        }
        assert_eq!(devnet.swarm_for(bob.account_id().as_bytes()), Some(new));
        let expected = sorted(devnet_swarm(&devnet, &bob));

        let ack = client
            .store(
                &to,
                Namespace::DEFAULT,
                b"after the move",
                TTL,
                client.clock().network_now_ms(),
            )
            .await
            .unwrap();
        assert!(expected.contains(&ack.node), "stored on {:?}", ack.node);
        let cached = client
            .status()
            .swarms
            .into_iter()
            .find(|s| s.pubkey == to)
            .unwrap();
        assert_eq!(sorted(cached.members), expected);

        // A poll of a node that left the swarm is a 421, not a silent empty answer.
        let error = client
            .retrieve(&bob, &old[0], &[(Namespace::DEFAULT, None)])
            .await
            .unwrap_err();
        assert!(
            matches!(error, NetworkError::Status { status: 421, .. }),
            "{error}"
        );
        let polled = client
            .retrieve(&bob, &ack.node, &[(Namespace::DEFAULT, None)])
            .await
            .unwrap();
        assert_eq!(polled[0].messages[0].data, b"after the move");
        client.shutdown().await;
        devnet.shutdown().await;
    })
    .await;
}

/// Stores `data` as the daemon's outbox does: a retriable failure is retried (here at once, at
/// most `CALLER_RETRIES` more times); any other failure fails the test.
async fn store_with_outbox_retries(
    client: &NetworkClient,
    to: &SwarmPubkey,
    data: &[u8],
) -> (MessageHash, usize) {
    const CALLER_RETRIES: usize = 3;
    let mut failures = 0;
    loop {
        let now = client.clock().network_now_ms();
        match client.store(to, Namespace::DEFAULT, data, TTL, now).await {
            Ok(ack) => return (ack.hash, failures),
            Err(error) => {
                assert!(error.is_retriable(), "not retriable: {error}");
                failures += 1;
                assert!(failures <= CALLER_RETRIES, "still failing: {error}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_and_a_guard_stopped_mid_traffic_cost_retries_not_messages() {
    timed(async {
        let devnet = devnet().await;
        let client = start_client(&devnet);
        let bob = identity(5);
        let to = pubkey(&bob);
        client.ready().await.unwrap();
        let members = client.swarm_members(&to).await.unwrap();
        let guards: Vec<NodeId> = client.status().guards.iter().map(|g| g.ed25519).collect();
        let guard = guards[0];
        let member = *members.iter().find(|m| !guards.contains(m)).unwrap();

        let sender = client.clone();
        let (progress, mut sent) = tokio::sync::mpsc::channel::<usize>(16);
        let traffic = tokio::spawn(async move {
            let mut hashes = Vec::new();
            let mut failed_calls = 0;
            for i in 0..8u8 {
                let data = format!("message {i}");
                let (hash, failures) =
                    store_with_outbox_retries(&sender, &to, data.as_bytes()).await;
                hashes.push(hash);
                failed_calls += failures;
                let _ = progress.send(hashes.len()).await;
            }
            (hashes, failed_calls)
        });
        // Two messages in, a swarm member and a guard stop (their ports close).
        while sent.recv().await.is_some_and(|n| n < 2) {}
        devnet.stop_node(index_of(&devnet, &member)).await.unwrap();
        devnet.stop_node(index_of(&devnet, &guard)).await.unwrap();

        let (hashes, failed_calls) = traffic.await.unwrap();
        assert_eq!(hashes.len(), 8);
        // Most stores succeed at the first call; the others within the caller's retries.
        assert!(failed_calls <= 8, "{failed_calls} failed calls");

        // Everything reached the swarm: every member that stayed up holds every message…
        let alive: Vec<NodeId> = members
            .iter()
            .copied()
            .filter(|m| *m != member && *m != guard)
            .collect();
        for node in &alive {
            let count = devnet.message_count(index_of(&devnet, node)).unwrap();
            assert_eq!(count, hashes.len(), "on {node:?}");
        }
        // …and the client still polls them, as a poller does: on failure, the next member.
        let mut polled = None;
        'poll: for _round in 0..3 {
            for node in &alive {
                if let Ok(answer) = client
                    .retrieve(&bob, node, &[(Namespace::DEFAULT, None)])
                    .await
                {
                    polled = Some(answer);
                    break 'poll;
                }
            }
        }
        let got: Vec<MessageHash> = polled.expect("a member answers")[0]
            .messages
            .iter()
            .map(|m| m.hash.clone())
            .collect();
        for hash in &hashes {
            assert!(got.contains(hash), "{hash:?} missing");
        }
        // The client is still usable: a path set was rebuilt around the stopped guard.
        assert!(client.status().ready);
        client.shutdown().await;
        devnet.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_node_clock_is_read_with_info_and_the_request_retried_once() {
    timed(async {
        let devnet = devnet().await;
        let bob = identity(6);
        let to = pubkey(&bob);

        // A poll of a node whose clock is 2 minutes ahead: 406, `info`, retry with its time.
        let client = start_client(&devnet);
        let members = client.swarm_members(&to).await.unwrap();
        client
            .store(
                &to,
                Namespace::DEFAULT,
                b"before the skew",
                TTL,
                client.clock().network_now_ms(),
            )
            .await
            .unwrap();
        let skewed = members[0];
        devnet
            .set_skew(index_of(&devnet, &skewed), 120_000)
            .unwrap();
        let polled = client
            .retrieve(&bob, &skewed, &[(Namespace::DEFAULT, None)])
            .await
            .unwrap();
        assert_eq!(polled[0].messages[0].data, b"before the skew");
        // The node's `t` (from info and the retry) moved the network clock towards it.
        assert!(
            client.clock().network_offset_ms() < -30_000,
            "{}",
            client.clock().network_offset_ms()
        );
        client.shutdown().await;

        // A signed store into Bob's own namespace, every member 2 minutes ahead: the signature
        // timestamp is refused, refreshed from the node, and the store goes through.
        for member in &members {
            devnet.set_skew(index_of(&devnet, member), 120_000).unwrap();
        }
        let fresh = start_client(&devnet);
        let sent_at = fresh.clock().network_now_ms();
        let ack = fresh
            .store_as(&bob, Namespace::USER_PROFILE, b"profile", TTL, sent_at)
            .await
            .unwrap();
        assert_eq!(
            ack.hash,
            MessageHash::compute(&to, Namespace::USER_PROFILE, b"profile")
        );
        let polled = fresh
            .retrieve(&bob, &ack.node, &[(Namespace::USER_PROFILE, None)])
            .await
            .unwrap();
        assert_eq!(polled[0].messages[0].timestamp_ms, sent_at);
        fresh.shutdown().await;
        devnet.shutdown().await;
    })
    .await;
}
