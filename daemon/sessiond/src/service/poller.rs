//! The poller: fetches every ready account's new messages from its swarm and ingests them.
//!
//! Why it exists: Session has no push to the client; messages wait in the recipient's swarm.
//! Each round asks two random members of each account's swarm for namespace 0 (as desktop
//! does), with the per-node `last_hash` cursor kept in the account's store, and hands every
//! answer to [`super::messaging::ingest_run`], which stores each message (or records why not) in
//! the same transaction that moves the cursor, a run of messages at a time. A node answering
//! `more` is asked again at once.
//!
//! Cadence: [`PollCadence`] — a short interval while a frontend has a conversation open (it
//! read one in the last 15 s, or opened one), the desktop's 5 s otherwise, and a slower one when
//! no frontend has used the API for ten minutes.

use super::messaging::{self, Ingested, NS_MESSAGES, Retrieved};
use super::net::SwarmNetwork;
use super::{Change, Service};
use crate::clock;
use crate::store::{Cursor, Store};
use sessiond_protocol::identity::Identity;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tracing::Instrument as _;

/// How often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollCadence {
    /// While a frontend has a conversation open.
    pub attention: Duration,
    /// Normally (desktop polls its own swarm every 5 s).
    pub normal: Duration,
    /// When no frontend has shown interest for [`PollCadence::idle_after`].
    pub idle: Duration,
    /// How long without interest counts as idle.
    pub idle_after: Duration,
    /// How long reading a conversation (`message.list`) counts as having it open.
    pub attention_lasts: Duration,
}

impl Default for PollCadence {
    fn default() -> Self {
        PollCadence {
            attention: Duration::from_secs(2),
            normal: Duration::from_secs(5),
            idle: Duration::from_secs(30),
            idle_after: Duration::from_secs(10 * 60),
            attention_lasts: Duration::from_secs(15),
        }
    }
}

/// Nodes asked per round.
const NODES_PER_POLL: usize = 2;
/// Rounds of `more` followed in a row before yielding.
const MAX_MORE_ROUNDS: usize = 50;

/// Run until the service is gone or `shutdown` fires.
pub async fn run(
    service: Weak<Service>,
    net: Arc<dyn SwarmNetwork>,
    cadence: PollCadence,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(wake) = service.upgrade().map(|s| s.poll_wake()) else {
        return;
    };
    loop {
        let interval = match service.upgrade() {
            Some(svc) => {
                for (identity, store) in svc.ready_accounts().await {
                    poll_account(&svc, &*net, &identity, &store).await;
                }
                svc.set_clock_offset_ms(net.clock_offset_ms());
                svc.poll_interval(&cadence)
            }
            None => return,
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One poll of one account: two random swarm members, following `more`.
pub(crate) async fn poll_account(
    svc: &Service,
    net: &dyn SwarmNetwork,
    identity: &Identity,
    store: &Arc<Store>,
) {
    // On the future, not `span.enter()` across `.await`s (see `sender::send_one`).
    poll_account_in_span(svc, net, identity, store)
        .instrument(tracing::debug_span!("poll"))
        .await;
}

async fn poll_account_in_span(
    svc: &Service,
    net: &dyn SwarmNetwork,
    identity: &Identity,
    store: &Arc<Store>,
) {
    let account = identity.account_id();
    let members = match net.swarm_members(&account).await {
        Ok(m) if !m.is_empty() => m,
        Ok(_) => {
            svc.note_network_error("the account's swarm has no reachable members");
            return;
        }
        Err(e) => {
            tracing::debug!(error = %e, "resolving the swarm failed");
            svc.note_network_error(&e.message);
            return;
        }
    };
    let mut new_messages = 0usize;
    for node in pick(&members, NODES_PER_POLL) {
        for _ in 0..MAX_MORE_ROUNDS {
            let last = {
                let store = Arc::clone(store);
                let node = node.clone();
                let now = clock::now_ms();
                tokio::task::spawn_blocking(move || store.cursor(&node, NS_MESSAGES, now)).await
            };
            let last = match last {
                Ok(Ok(h)) => h,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reading the polling cursor failed");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cursor task failed");
                    return;
                }
            };
            let batch = match net.retrieve(identity, &node, NS_MESSAGES, last).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!(error = %e, "retrieving from a swarm member failed");
                    svc.note_network_error(&e.message);
                    break;
                }
            };
            let more = batch.more && !batch.messages.is_empty();
            new_messages += ingest_batch(store, identity, &node, batch.messages).await;
            if !more {
                break;
            }
        }
    }
    if new_messages > 0 {
        tracing::debug!(new_messages, "messages received");
        svc.announce(Change::MessagesChanged {
            account_id: account.to_string(),
        });
    }
}

/// Messages of a node's answer written per transaction. One fsync per run instead of one per
/// message (10 000 queued messages are 20 commits, not 10 000), while a run stays small enough
/// that the store's lock, which API calls wait on, is held for tens of milliseconds at most.
const RUN_LEN: usize = 500;

/// Ingest a node's answer in order, a run of [`RUN_LEN`] messages per transaction, each run's
/// cursor the hash of its last message. Returns how many new messages were stored.
async fn ingest_batch(
    store: &Arc<Store>,
    identity: &Identity,
    node: &str,
    messages: Vec<super::net::NetMessage>,
) -> usize {
    let store = Arc::clone(store);
    let identity = identity.clone();
    let node = node.to_owned();
    let result = tokio::task::spawn_blocking(move || {
        let retrieved: Vec<Retrieved> = messages
            .into_iter()
            .map(|m| Retrieved {
                hash: m.hash,
                data: m.data,
                expires_at_ms: m.expires_at_ms,
            })
            .collect();
        let mut stored = 0usize;
        for run in retrieved.chunks(RUN_LEN) {
            let Some(last) = run.last() else { break };
            let cursor = Cursor {
                node: node.clone(),
                namespace: NS_MESSAGES,
                last_hash: last.hash.clone(),
                expires_at_ms: last.expires_at_ms,
            };
            match messaging::ingest_run(&store, &identity, &cursor, run, clock::now_ms()) {
                Ok(done) => {
                    stored += done
                        .iter()
                        .filter(|d| matches!(d, Ingested::Stored(_)))
                        .count();
                }
                Err(e) => {
                    // Nothing of this run was committed: the cursor stays before it and the
                    // next poll retries it.
                    tracing::warn!(error = %e, "storing received messages failed");
                    break;
                }
            }
        }
        stored
    })
    .await;
    result.unwrap_or_else(|e| {
        tracing::error!(error = %e, "ingest task failed");
        0
    })
}

/// Up to `n` distinct members, at random.
fn pick(members: &[String], n: usize) -> Vec<String> {
    let mut idx: Vec<usize> = (0..members.len()).collect();
    let mut rnd = [0u8; 8];
    for i in (1..idx.len()).rev() {
        let j = if clock::random_bytes(&mut rnd).is_ok() {
            (u64::from_le_bytes(rnd) % (i as u64 + 1)) as usize
        } else {
            i
        };
        idx.swap(i, j);
    }
    idx.into_iter()
        .take(n)
        .filter_map(|i| members.get(i).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_returns_distinct_members_up_to_n() {
        let members: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        for _ in 0..50 {
            let p = pick(&members, 2);
            assert_eq!(p.len(), 2);
            assert_ne!(p[0], p[1]);
        }
        assert_eq!(pick(&members[..1], 2), vec!["n0".to_owned()]);
        assert!(pick(&[], 2).is_empty());
    }
}
