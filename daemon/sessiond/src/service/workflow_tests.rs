//! The send worker and the poller together, over an in-memory fake network: what the daemon
//! promises about delivery, independent of the real network code.
#![allow(clippy::unwrap_used)]

use super::net::{NetBatch, NetError, NetMessage, NetStatus, SwarmNetwork};
use super::{Service, ServiceConfig, poller, sender};
use crate::keystore::FileKeystore;
use crate::store::MessageState;
use futures_util::future::BoxFuture;
use sessiond_protocol::account_id::AccountId;
use sessiond_protocol::identity::Identity;
use sessiond_protocol::{ErrorKind, Namespace, SwarmPubkey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One swarm's messages: (hash, data) in storage order.
type SwarmMessages = Vec<(String, Vec<u8>)>;

/// Swarms per Account ID; both "nodes" share one list.
#[derive(Default)]
struct FakeSwarm {
    stored: Mutex<HashMap<String, SwarmMessages>>,
    /// Fail the next N stores with this (retriable?) error.
    failures: Mutex<Vec<bool>>,
    /// Refuse the next N stores as the network client reports a 406: a clock disagreement,
    /// not retriable as such.
    clock_refusals: Mutex<usize>,
    stores_attempted: Mutex<usize>,
}

impl FakeSwarm {
    fn put_raw(&self, to: &AccountId, hash: &str, data: Vec<u8>) {
        self.stored
            .lock()
            .unwrap()
            .entry(to.to_string())
            .or_default()
            .push((hash.into(), data));
    }
}

impl SwarmNetwork for FakeSwarm {
    fn store<'a>(
        &'a self,
        to: &'a AccountId,
        namespace: i16,
        data: &'a [u8],
        _ttl_ms: u64,
        _timestamp_ms: i64,
    ) -> BoxFuture<'a, Result<String, NetError>> {
        Box::pin(async move {
            *self.stores_attempted.lock().unwrap() += 1;
            {
                let mut refusals = self.clock_refusals.lock().unwrap();
                if *refusals > 0 {
                    *refusals -= 1;
                    return Err(NetError {
                        message: "our clock is out of sync with the network".into(),
                        retriable: false,
                        kind: ErrorKind::ClockSkew,
                    });
                }
            }
            if let Some(retriable) = self.failures.lock().unwrap().pop() {
                return Err(NetError {
                    message: "injected".into(),
                    retriable,
                    kind: ErrorKind::NetworkUnreachable,
                });
            }
            let pk = SwarmPubkey::Account(*to);
            let hash =
                sessiond_protocol::MessageHash::compute(&pk, Namespace::new(namespace), data)
                    .to_string();
            let mut stored = self.stored.lock().unwrap();
            let list = stored.entry(to.to_string()).or_default();
            // The swarm de-duplicates identical data, like the real one.
            if !list.iter().any(|(h, _)| *h == hash) {
                list.push((hash.clone(), data.to_vec()));
            }
            Ok(hash)
        })
    }

    fn swarm_members<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Vec<String>, NetError>> {
        Box::pin(async { Ok(vec!["node-a".to_owned(), "node-b".to_owned()]) })
    }

    fn retrieve<'a>(
        &'a self,
        identity: &'a Identity,
        _node: &'a str,
        _namespace: i16,
        last_hash: Option<String>,
    ) -> BoxFuture<'a, Result<NetBatch, NetError>> {
        Box::pin(async move {
            let stored = self.stored.lock().unwrap();
            let list = stored
                .get(&identity.account_id().to_string())
                .cloned()
                .unwrap_or_default();
            let start = match last_hash {
                Some(h) => list.iter().position(|(x, _)| *x == h).map_or(0, |i| i + 1),
                None => 0,
            };
            Ok(NetBatch {
                messages: list[start..]
                    .iter()
                    .map(|(hash, data)| NetMessage {
                        hash: hash.clone(),
                        data: data.clone(),
                        expires_at_ms: None,
                    })
                    .collect(),
                more: false,
            })
        })
    }

    fn clock_offset_ms(&self) -> i64 {
        0
    }

    fn status(&self) -> NetStatus {
        NetStatus::default()
    }
}

async fn service() -> (tempfile::TempDir, Arc<Service>) {
    let dir = tempfile::tempdir().unwrap();
    let ks = FileKeystore::open(&dir.path().join("keystore"), None).unwrap();
    let svc = Service::start(
        ServiceConfig {
            data_dir: dir.path().to_owned(),
        },
        Arc::new(ks),
    )
    .await
    .unwrap();
    (dir, svc)
}

async fn send_round(svc: &Arc<Service>, net: &Arc<FakeSwarm>) {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    // One round: run the worker until it sleeps, by racing it against a short timeout.
    let dynnet: Arc<dyn SwarmNetwork> = Arc::clone(net) as Arc<dyn SwarmNetwork>;
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        sender::run(Arc::downgrade(svc), dynnet, rx),
    )
    .await;
}

async fn poll(svc: &Arc<Service>, net: &Arc<FakeSwarm>) {
    for (identity, store) in svc.ready_accounts().await {
        poller::poll_account(svc, &**net, &identity, &store).await;
    }
}

#[tokio::test]
async fn a_message_goes_out_arrives_once_and_the_senders_sync_copy_is_not_duplicated() {
    let (_d, svc) = service().await;
    let alice = svc
        .create_account(Some("Alice".into()))
        .await
        .unwrap()
        .account_id;
    let bob = svc
        .create_account(Some("Bob".into()))
        .await
        .unwrap()
        .account_id;
    let net = Arc::new(FakeSwarm::default());
    let (id, _) = svc
        .send_message(Some(&alice.to_string()), &bob.to_string(), "hi bob")
        .await
        .unwrap();
    send_round(&svc, &net).await;
    let store = svc.account_store(&alice.to_string()).await.unwrap();
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Sent
    );
    poll(&svc, &net).await;
    poll(&svc, &net).await; // polling again changes nothing
    let bob_msgs = svc
        .list_messages(Some(&bob.to_string()), &alice.to_string(), None, 10)
        .await
        .unwrap();
    assert_eq!(bob_msgs.len(), 1);
    assert_eq!(bob_msgs[0].body.as_deref(), Some("hi bob"));
    let alice_msgs = svc
        .list_messages(Some(&alice.to_string()), &bob.to_string(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        alice_msgs.len(),
        1,
        "the sync copy must not duplicate Alice's own message"
    );
}

#[tokio::test]
async fn retriable_failures_keep_the_message_pending_then_it_is_sent() {
    let (_d, svc) = service().await;
    let alice = svc.create_account(None).await.unwrap().account_id;
    let bob: AccountId = format!("05{}", "ab".repeat(32)).parse().unwrap();
    let net = Arc::new(FakeSwarm::default());
    net.failures.lock().unwrap().extend([true, true]);
    let (id, _) = svc
        .send_message(None, &bob.to_string(), "retry me")
        .await
        .unwrap();
    send_round(&svc, &net).await;
    let store = svc.account_store(&alice.to_string()).await.unwrap();
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Pending
    );
    // Make the retries due now instead of waiting for the backoff.
    let due = store.due_outbox(i64::MAX, 10).unwrap();
    assert!(!due.is_empty());
    for item in &due {
        store.outbox_retry_later(item.id, "test", 0).unwrap();
    }
    send_round(&svc, &net).await;
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Sent
    );
    assert_eq!(
        net.stored
            .lock()
            .unwrap()
            .get(&bob.to_string())
            .map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_store_refused_for_its_timestamp_stays_pending_and_is_sent_on_a_retry() {
    let (_d, svc) = service().await;
    let alice = svc.create_account(None).await.unwrap().account_id;
    let bob: AccountId = format!("05{}", "ab".repeat(32)).parse().unwrap();
    let net = Arc::new(FakeSwarm::default());
    *net.clock_refusals.lock().unwrap() = 1;
    let (id, _) = svc
        .send_message(None, &bob.to_string(), "clocks apart")
        .await
        .unwrap();
    send_round(&svc, &net).await;
    let store = svc.account_store(&alice.to_string()).await.unwrap();
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Pending,
        "a clock disagreement must not fail an accepted message"
    );
    for item in &store.due_outbox(i64::MAX, 10).unwrap() {
        store.outbox_retry_later(item.id, "test", 0).unwrap();
    }
    send_round(&svc, &net).await;
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Sent
    );
}

#[tokio::test]
async fn a_permanent_failure_marks_the_message_failed() {
    let (_d, svc) = service().await;
    let alice = svc.create_account(None).await.unwrap().account_id;
    let net = Arc::new(FakeSwarm::default());
    net.failures.lock().unwrap().push(false);
    let (id, _) = svc
        .send_message(None, &alice.to_string(), "note")
        .await
        .unwrap();
    send_round(&svc, &net).await;
    let store = svc.account_store(&alice.to_string()).await.unwrap();
    assert_eq!(
        store.message(id).unwrap().unwrap().state,
        MessageState::Failed
    );
    assert!(store.due_outbox(i64::MAX, 10).unwrap().is_empty());
}

#[tokio::test]
async fn garbage_in_the_swarm_is_recorded_as_rejected_and_later_messages_still_arrive() {
    let (_d, svc) = service().await;
    let alice = svc.create_account(None).await.unwrap().account_id;
    let bob = svc.create_account(None).await.unwrap().account_id;
    let net = Arc::new(FakeSwarm::default());
    net.put_raw(&bob, "garbage-1", b"\x00\x01garbage".to_vec());
    svc.send_message(
        Some(&alice.to_string()),
        &bob.to_string(),
        "after the garbage",
    )
    .await
    .unwrap();
    send_round(&svc, &net).await;
    poll(&svc, &net).await;
    let bob_store = svc.account_store(&bob.to_string()).await.unwrap();
    assert_eq!(bob_store.rejected_count().unwrap(), 1);
    let msgs = bob_store
        .list_messages(&alice.to_string(), None, 10)
        .unwrap();
    assert_eq!(msgs.len(), 1);
}

#[tokio::test]
async fn a_message_sent_after_the_clock_went_back_is_a_new_message_not_merged_into_an_old_one() {
    let (_d, svc) = service().await;
    let alice = svc.create_account(None).await.unwrap().account_id;
    let bob = format!("05{}", "ab".repeat(32));
    let (first, t1) = svc.send_message(None, &bob, "first").await.unwrap();
    // As if the daemon restarted with its clock an hour behind: the in-memory floor is gone
    // and network time is earlier than the stored message.
    *svc.last_timestamp.lock().unwrap() = 0;
    svc.set_clock_offset_ms(-3_600_000);
    let (second, t2) = svc.send_message(None, &bob, "second").await.unwrap();
    assert_ne!(
        first, second,
        "the second message must not be merged into the first"
    );
    assert!(t2 > t1);
    let store = svc.account_store(&alice.to_string()).await.unwrap();
    assert_eq!(
        store.message(second).unwrap().unwrap().body.as_deref(),
        Some("second")
    );
}

#[tokio::test]
async fn message_timestamps_are_unique_even_when_sent_in_the_same_millisecond() {
    let (_d, svc) = service().await;
    let a = svc.message_timestamp();
    let b = svc.message_timestamp();
    assert!(b > a);
}
