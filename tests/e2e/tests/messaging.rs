//! Messaging end to end: real `sessiond` binaries on a local Session network.
//!
//! Each test starts a small devnet (`sessiond-devnet`: 9 service nodes in 3 swarms of 3, on
//! loopback, running on a tokio runtime inside this test process), writes its `network.json`
//! and starts `sessiond --network-file …` daemons against it, each polling every 200 ms. Messages
//! go through the daemons' real path: `message.send` → durable outbox → send worker → 3-hop onion
//! path → the recipient's swarm → the recipient's poller → its encrypted store →
//! `message.list`. Faults come from the devnet's API (stopped, moved and skewed nodes) and from
//! `kill -9` of the daemons themselves. Messages the tests plant directly in a swarm are encoded
//! with `sessiond-protocol` by a test-side account ("Carol") and stored with a plain `store` RPC
//! to a swarm member, as another client would.
//!
//! Every wait is bounded (`wait_until`); a failure quotes the daemons' logs. Randomness (kill
//! moments) comes from a seeded generator: set `MESSAGING_SEED=<u64>` to replay a run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use anyhow::{Context as _, Result, ensure};
use serde_json::json;
use sessiond_e2e::daemon::RawSocket;
use sessiond_e2e::wait_until;
use sessiond_protocol::{AccountId, Identity, proto};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{
    DELIVERY, Msg, Net, Peer, assert_no_duplicates, encode_text, identity, wait_for_status,
};

/// Log filter of daemons whose log a test reads (`rejecting a retrieved message` is debug).
const DEBUG_LOG: &str = "info,sessiond::service=debug";

/// SplitMix64: a small seeded generator for the moments of faults.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("MESSAGING_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5e55_10d0_2026_u64);
        eprintln!("MESSAGING_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// 1. Two daemons exchange 100 messages each way through onion paths; both histories end up
///    identical (same messages, same order by sent time), each message once, with the right
///    direction, and every outgoing message `sent`.
#[test]
fn two_daemons_exchange_a_hundred_messages_each_way_and_agree_on_the_history() -> Result<()> {
    let net = Net::start();
    let mut alice = Peer::start(&net, "alice", "info")?;
    let mut bob = Peer::start(&net, "bob", "info")?;
    let (a, b) = (alice.id.clone(), bob.id.clone());

    let mut sent_ids: HashMap<String, i64> = HashMap::new();
    for i in 0..100 {
        let t = format!("alice→bob {i}");
        sent_ids.insert(t.clone(), alice.send(&b, &t)?);
        let t = format!("bob→alice {i}");
        sent_ids.insert(t.clone(), bob.send(&a, &t)?);
    }

    let complete = |h: &[Msg]| h.len() >= 200 && h.iter().all(|m| m.state != "pending");
    let ha = alice.wait_history(&b, "200 messages, all sent", complete)?;
    let hb = bob.wait_history(&a, "200 messages, all sent", complete)?;

    for (who, me, h) in [("alice", &a, &ha), ("bob", &b, &hb)] {
        assert_eq!(h.len(), 200, "{who}: {h:#?}");
        assert_no_duplicates(who, h);
        for m in h.iter() {
            let from_me = m.sender == *me;
            assert_eq!(
                m.direction,
                if from_me { "out" } else { "in" },
                "{who}: {m:?}"
            );
            assert_eq!(
                m.state,
                if from_me { "sent" } else { "received" },
                "{who}: {m:?}"
            );
            if from_me {
                // The id `message.send` returned names this very message.
                assert_eq!(sent_ids.get(&m.text), Some(&m.id), "{who}: {m:?}");
            }
        }
        // Newest first by sent time, and each sender's messages in the order they were sent.
        assert!(
            h.windows(2).all(|w| w[0].sent_at_ms >= w[1].sent_at_ms),
            "{who}: order"
        );
        for prefix in ["alice→bob", "bob→alice"] {
            let seq: Vec<&str> = h
                .iter()
                .rev()
                .filter(|m| m.text.starts_with(prefix))
                .map(|m| m.text.as_str())
                .collect();
            let expected: Vec<String> = (0..100).map(|i| format!("{prefix} {i}")).collect();
            assert_eq!(seq, expected, "{who}: {prefix} out of order");
        }
    }
    // Both sides list the same messages in the same order: (sender, sent time, text). Two
    // daemons may stamp a message with the same millisecond; such ties are ordered by local
    // id, which differs between the sides, so compare with ties broken by text.
    let canonical = |h: &[Msg]| {
        let mut v: Vec<(i64, String, String)> = h
            .iter()
            .map(|m| (m.sent_at_ms, m.sender.clone(), m.text.clone()))
            .collect();
        v.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.2.cmp(&y.2)));
        v
    };
    assert_eq!(canonical(&ha), canonical(&hb));
    Ok(())
}

/// 2. A recipient whose daemon is not running while messages are sent gets every one of
///    them, once and in order, when it starts: the swarm held them.
#[test]
fn messages_sent_while_the_recipient_is_offline_arrive_when_it_starts() -> Result<()> {
    let net = Net::start();
    let mut alice = Peer::start(&net, "alice", "info")?;
    let mut bob = Peer::start(&net, "bob", "info")?;
    let (a, b) = (alice.id.clone(), bob.id.clone());
    bob.stop()?;

    let texts: Vec<String> = (0..30)
        .map(|i| format!("while you were away {i}"))
        .collect();
    for t in &texts {
        alice.send(&b, t)?;
    }
    // Acknowledged by Bob's swarm while Bob's daemon is down.
    alice.wait_history(&b, "30 messages sent", |h| {
        h.len() == 30 && h.iter().all(|m| m.state == "sent")
    })?;
    assert!(bob.daemon.is_none());

    bob.run()?;
    let h = bob.wait_history(&a, "30 messages received", |h| h.len() >= 30)?;
    assert_eq!(h.len(), 30);
    assert_no_duplicates("bob", &h);
    let got: Vec<&str> = h.iter().rev().map(|m| m.text.as_str()).collect();
    assert_eq!(got, texts, "Bob's history is not the sent order");
    assert!(h.iter().all(|m| m.direction == "in" && m.sender == a));
    Ok(())
}

/// 3. `kill -9` of the sender at random moments of a burst of sends (several rounds, seeded):
///    after a restart every message `message.send` acknowledged reaches the recipient exactly
///    once; so does any message the sender committed before it died without answering.
#[test]
fn killing_the_sender_mid_burst_neither_loses_nor_duplicates_acknowledged_messages() -> Result<()> {
    let net = Net::start();
    let mut rng = Rng::seeded();
    let mut alice = Peer::start(&net, "alice", "info")?;
    let mut bob = Peer::start(&net, "bob", "info")?;
    let (a, b) = (alice.id.clone(), bob.id.clone());

    let mut acked: Vec<String> = Vec::new();
    let mut attempted: HashSet<String> = HashSet::new();
    let mut pending_at_restart = 0;
    for round in 0..4 {
        let kill_after = rng.range(3, 40) as usize;
        let extra_us = rng.range(0, 20_000);
        let acks = Arc::new(AtomicUsize::new(0));
        let socket = alice.daemon().socket_path();
        let burst = {
            let (acks, b) = (Arc::clone(&acks), b.clone());
            std::thread::spawn(move || {
                let mut sent = (Vec::new(), Vec::new());
                let Ok(mut api) = RawSocket::connect(&socket) else {
                    return sent;
                };
                for i in 0..10_000u64 {
                    let text = format!("round {round} message {i}");
                    sent.1.push(text.clone());
                    let r = api.call(i, "message.send", json!({"to": b, "text": text}));
                    match r {
                        Ok(r) if r["result"]["state"] == "pending" => {
                            sent.0.push(text);
                            acks.fetch_add(1, Ordering::SeqCst);
                        }
                        // The daemon died under us (or refused): this one is unacknowledged.
                        _ => break,
                    }
                }
                sent
            })
        };
        let reached = wait_until(Duration::from_secs(20), "acknowledged sends", || {
            Ok((acks.load(Ordering::SeqCst) >= kill_after || burst.is_finished()).then_some(()))
        });
        // The kill moment: a random number of acknowledged sends, plus a random fraction of
        // the next one (the burst goes on meanwhile, and so does the send worker).
        std::thread::sleep(Duration::from_micros(extra_us));
        alice.kill9()?;
        reached.with_context(|| alice.context())?;
        let (ok, tried) = burst.join().expect("the burst thread");
        eprintln!(
            "round {round}: killed after {} acknowledged sends",
            ok.len()
        );
        ensure!(
            ok.len() >= kill_after,
            "round {round}: the burst stopped early"
        );
        acked.extend(ok);
        attempted.extend(tried);
        alice.run()?;
        // What the killed daemon had not sent yet is still in its outbox.
        pending_at_restart += alice
            .history(&b)?
            .iter()
            .filter(|m| m.state == "pending")
            .count();
    }
    eprintln!("{pending_at_restart} messages were still pending at the restarts");
    assert!(
        pending_at_restart > 0,
        "every kill came after the outbox had drained: the test did not kill mid-send"
    );

    // Once Alice's outbox has drained, Bob has exactly what Alice holds: every acknowledged
    // message and nothing twice.
    let ha = alice.wait_history(&b, "every message sent", |h| {
        h.len() >= acked.len() && h.iter().all(|m| m.state == "sent")
    })?;
    assert_no_duplicates("alice", &ha);
    let alice_texts: HashSet<&str> = ha.iter().map(|m| m.text.as_str()).collect();
    for t in &acked {
        assert!(alice_texts.contains(t.as_str()), "alice lost {t:?}");
    }
    assert!(alice_texts.iter().all(|t| attempted.contains(*t)));
    let hb = bob.wait_history(&a, "everything Alice sent", |h| {
        h.len() >= alice_texts.len()
    })?;
    assert_no_duplicates("bob", &hb);
    let bob_texts: HashSet<&str> = hb.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(bob_texts, alice_texts);
    Ok(())
}

/// 4. `kill -9` of the receiver while it ingests a backlog of 2 000 queued messages (several
///    transactions' worth), three times, each as soon as its progress shows plus a seeded
///    jitter: after the last restart every message is stored exactly once, in order.
#[test]
fn killing_the_receiver_while_it_ingests_a_backlog_loses_and_duplicates_nothing() -> Result<()> {
    const BACKLOG: usize = 2_000;
    let net = Net::start();
    let mut rng = Rng::seeded();
    let carol = identity(0xC0);
    let c = carol.account_id().to_string();
    let mut bob = Peer::start(&net, "bob", "info")?;
    let b = bob.id.clone();
    bob.stop()?;

    let t0 = net.devnet().clock().now_ms() - 60_000;
    let texts: Vec<String> = (0..BACKLOG).map(|i| format!("backlog {i}")).collect();
    let payloads = texts
        .iter()
        .enumerate()
        .map(|(i, t)| encode_text(&carol, &b, t, t0 + i as i64))
        .collect();
    net.store_many(&b, payloads, 8)?;

    let mut mid_ingest = 0;
    for round in 0..3 {
        bob.run()?;
        let before = bob.history(&c)?.len();
        // Messages are committed a run at a time: kill once a run of this start-up has landed
        // (more are coming), plus a random part of the next run's work.
        let progress = wait_until(DELIVERY, "ingest progress", || {
            let n = bob.history(&c)?.len();
            Ok((n > before || n == BACKLOG).then_some(n))
        })
        .with_context(|| bob.context())?;
        std::thread::sleep(Duration::from_millis(rng.range(0, 40)));
        bob.kill9()?;
        eprintln!("round {round}: killed with {progress}+/{BACKLOG} listed");
        if progress < BACKLOG {
            mid_ingest += 1;
        }
    }
    ensure!(
        mid_ingest > 0,
        "no kill landed before the backlog was ingested: make the backlog bigger"
    );
    bob.run()?;
    let h = bob.wait_history(&c, "the whole backlog", |h| h.len() >= BACKLOG)?;
    assert_eq!(h.len(), BACKLOG);
    assert_no_duplicates("bob", &h);
    let got: Vec<&str> = h.iter().rev().map(|m| m.text.as_str()).collect();
    assert_eq!(got, texts);
    Ok(())
}

/// 5. Faults mid-traffic: one of the sender's guard nodes stops, a member of the recipient's
///    swarm stops, a member moves to another swarm, a member's clock is two minutes off.
///    Through each, messages sent before and after the fault keep arriving, each once. When the
///    recipient's whole swarm is two minutes behind, the sender's messages are refused (406),
///    stay pending (not failed), and arrive once the clocks agree.
#[test]
fn delivery_continues_through_a_stopped_guard_a_stopped_or_moved_swarm_member_and_a_skewed_clock()
-> Result<()> {
    let net = Net::start();
    let mut alice = Peer::start(&net, "alice", "info")?;
    let mut bob = Peer::start(&net, "bob", "info")?;
    let (a, b) = (alice.id.clone(), bob.id.clone());
    let mut expected: Vec<String> = Vec::new();

    phase("healthy", &mut alice, &mut bob, &mut expected, || {})?;

    let status = alice.call("network.status", json!({}))?;
    let guard_key = status["guards"][0].as_str().context("a guard")?.to_owned();
    let guard = net.devnet().resolve_node(&guard_key)?;
    phase("guard stopped", &mut alice, &mut bob, &mut expected, || {
        net.stop_node(guard)
    })?;
    // Alice's client noticed and chose another guard.
    wait_for_status(&mut alice, "the stopped guard replaced", |s| {
        !s["guards"]
            .as_array()
            .is_some_and(|g| g.contains(&json!(guard_key)))
    })?;
    net.heal(guard);

    let members = net.swarm_of(&b);
    phase(
        "swarm member stopped",
        &mut alice,
        &mut bob,
        &mut expected,
        || net.stop_node(members[0]),
    )?;
    net.heal(members[0]);

    let bob_swarm = net.devnet().swarm_of(members[1])?;
    let elsewhere = *net
        .devnet()
        .swarm_ids()
        .iter()
        .find(|s| **s != bob_swarm)
        .context("another swarm")?;
    phase(
        "swarm member moved",
        &mut alice,
        &mut bob,
        &mut expected,
        || {
            net.devnet()
                .move_node(members[1], elsewhere)
                .expect("moved")
        },
    )?;
    assert!(!net.swarm_of(&b).contains(&members[1]));
    // Bob's poller learned the new membership from a 421.
    let moved_key = net.devnet().node(members[1])?.ed25519_hex();
    wait_for_status(&mut bob, "the moved node out of Bob's swarm", |s| {
        s["swarms"].as_array().is_some_and(|swarms| {
            swarms.iter().any(|sw| {
                sw["account_id"] == json!(b)
                    && sw["members"]
                        .as_array()
                        .is_some_and(|m| !m.is_empty() && !m.contains(&json!(moved_key)))
            })
        })
    })?;
    net.heal(members[1]);

    // Bob's whole swarm two minutes behind: every node refuses the timestamps of Alice's
    // messages (406, after re-reading its clock). The messages wait in her outbox, pending and
    // retried, not failed, and go out once the clocks agree again. (Before the single skewed
    // node below: a node ahead of time drags the client's network time forward for a while,
    // and messages stamped then are refused by every node until real time catches up.)
    let refusals = |p: &Peer| {
        p.log()
            .matches("node clock read after a clock error")
            .count()
    };
    let before = refusals(&alice);
    for &m in &members {
        net.devnet().set_skew(m, -120_000)?;
    }
    let mut waiting = Vec::new();
    for i in 0..3 {
        let t = format!("clocks apart {i}");
        waiting.push(alice.send(&b, &t)?);
        expected.push(t);
    }
    // Each message refused twice: the second time is a retry, so the first was not final.
    wait_until(DELIVERY, "Alice's stores refused and retried", || {
        Ok((refusals(&alice) >= before + 2 * waiting.len()).then_some(()))
    })
    .with_context(|| alice.context())?;
    let ha = alice.history(&b)?;
    for id in &waiting {
        let m = ha.iter().find(|m| m.id == *id).context("listed")?;
        assert_eq!(m.state, "pending", "{m:?}\n{}", alice.context());
    }
    for &m in &members {
        net.heal(m);
    }
    let n = expected.len();
    let hb = bob
        .wait_history(&a, "messages sent while the clocks disagreed", |h| {
            h.len() >= n
        })
        .with_context(|| alice.context())?;
    assert_no_duplicates("bob", &hb);

    phase(
        "one clock two minutes ahead",
        &mut alice,
        &mut bob,
        &mut expected,
        || net.devnet().set_skew(members[2], 120_000).expect("skewed"),
    )?;
    net.heal(members[2]);

    // Alice's side agrees: every message sent once.
    let ha = alice.wait_history(&b, "every message sent", |h| {
        h.len() >= expected.len() && h.iter().all(|m| m.state == "sent")
    })?;
    assert_no_duplicates("alice", &ha);
    assert_eq!(ha.len(), expected.len());
    Ok(())
}

/// One phase of test 5: Alice sends half the messages before `fault`, half after, without
/// waiting (the fault hits traffic in flight); then every message so far must reach Bob, once.
fn phase(
    label: &str,
    alice: &mut Peer,
    bob: &mut Peer,
    expected: &mut Vec<String>,
    fault: impl FnOnce(),
) -> Result<()> {
    let b = bob.id.clone();
    for i in 0..5 {
        let t = format!("{label} {i}");
        alice.send(&b, &t)?;
        expected.push(t);
    }
    fault();
    for i in 5..10 {
        let t = format!("{label} {i}");
        alice.send(&b, &t)?;
        expected.push(t);
    }
    let n = expected.len();
    let h = bob
        .wait_history(&alice.id, &format!("messages sent around: {label}"), |h| {
            h.len() >= n
        })
        .with_context(|| alice.context())?;
    assert_no_duplicates("bob", &h);
    let got: HashSet<&str> = h.iter().map(|m| m.text.as_str()).collect();
    let want: HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(got, want, "{label}");
    Ok(())
}

/// 6. Forged and garbage messages stored straight into the recipient's swarm: one whose sealed
///    box opens but whose signature does not verify (Carol claims to be Dave), one with a bit
///    flipped inside its sealed content, and bytes that are no Session message at all. Each is
///    rejected and recorded once, with its reason; the poller keeps going and the normal
///    messages stored after them arrive.
#[test]
fn forged_and_garbage_messages_are_rejected_and_the_poller_keeps_going() -> Result<()> {
    let net = Net::start();
    let carol = identity(0xC1);
    let c = carol.account_id().to_string();
    let mut bob = Peer::start(&net, "bob", DEBUG_LOG)?;
    let b = bob.id.clone();
    let now = net.devnet().clock().now_ms();

    let impersonation = net.store_direct(&b, &impersonating(&carol, &identity(0xD0), &b, now))?;
    let corrupted = net.store_direct(&b, &bit_flipped(&encode_text(&carol, &b, "x", now + 1)))?;
    let garbage = net.store_direct(&b, b"\x00\xffnot a Session message at all\x01")?;
    net.store_direct(&b, &encode_text(&carol, &b, "the real one", now + 2))?;

    let h = bob.wait_history(&c, "the real message", |h| !h.is_empty())?;
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0].text, "the real one");
    assert_eq!(h[0].direction, "in");

    // One more, so the poller has gone round again past the rejected ones.
    net.store_direct(&b, &encode_text(&carol, &b, "and another", now + 3))?;
    let h = bob.wait_history(&c, "the second real message", |h| h.len() >= 2)?;
    assert_eq!(h.len(), 2, "{h:?}");

    let log = bob.log();
    for (hash, reason) in [
        (&impersonation, "signature does not verify"),
        (&corrupted, "cannot decrypt"),
        (&garbage, "not a stored message"),
    ] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("rejecting a retrieved message") && l.contains(hash.as_str()))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "message {hash} ({reason}) is rejected and recorded once:\n{}",
            bob.context()
        );
        assert!(lines[0].contains(reason), "{}", lines[0]);
    }
    assert!(
        !log.contains("storing received messages failed"),
        "{}",
        bob.context()
    );
    // Only the real messages made a conversation: nothing from "Dave".
    let convs = bob.call("conversation.list", json!({}))?;
    let peers: Vec<&str> = convs
        .as_array()
        .context("a list")?
        .iter()
        .filter_map(|c| c["peer"].as_str())
        .collect();
    assert_eq!(peers, [c.as_str()]);
    Ok(())
}

/// A message that claims to come from `claimed` but is signed by `signer`: the sealed box is
/// well formed and addressed to `to`, only the sender's signature fails.
fn impersonating(signer: &Identity, claimed: &Identity, to: &str, sent_ms: i64) -> Vec<u8> {
    use sessiond_protocol::message::{sealed, wire};
    let to: AccountId = to.parse().expect("an Account ID");
    let content = proto::Content {
        data_message: Some(proto::DataMessage {
            body: Some("I am Dave, trust me".into()),
            ..Default::default()
        }),
        sig_timestamp: Some(sent_ms as u64),
        ..Default::default()
    };
    let padded = sessiond_protocol::padding::pad(&prost::Message::encode_to_vec(&content));
    // M || A || sig(M || A || Y), with A Dave's key and the signature Carol's.
    let mut signed = padded.clone();
    signed.extend_from_slice(&claimed.ed25519_public());
    signed.extend_from_slice(&to.x25519_public());
    let signature = signer.sign(&signed);
    let mut inner = padded;
    inner.extend_from_slice(&claimed.ed25519_public());
    inner.extend_from_slice(&signature);
    let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    let sealed = sealed::seal_box(&to.x25519_public(), &inner, &mut rng).expect("sealed");
    let envelope = wire::envelope_1o1(sealed, sent_ms as u64, None);
    wire::wrap_websocket(prost::Message::encode_to_vec(&envelope))
}

/// `message` with one bit flipped inside the envelope's sealed content (the envelope itself
/// stays well formed), as a corruption or tampering in transit would.
fn bit_flipped(message: &[u8]) -> Vec<u8> {
    use sessiond_protocol::message::wire;
    let bytes = wire::unwrap_websocket(message).expect("a stored message");
    let mut envelope = wire::parse_envelope(&bytes).expect("an envelope");
    let sealed = envelope.content.as_mut().expect("sealed content");
    let n = sealed.len();
    sealed[n / 2] ^= 1;
    wire::wrap_websocket(prost::Message::encode_to_vec(&envelope))
}
