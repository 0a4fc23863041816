//! The send worker: replays every account's outbox into the network until each copy is
//! acknowledged by its swarm.
//!
//! Why it exists: `message.send` only writes the durable outbox; this task does the network
//! part, so a crash or a network outage never loses an acknowledged message. It resends the
//! exact bytes written at enqueue time (the swarm de-duplicates identical data, so a resend
//! after a crash cannot create a second message), backs off exponentially per copy, and marks
//! a message `failed` on a permanent error or after [`GIVE_UP_AFTER_MS`] of trying.

use super::messaging::MESSAGE_TTL_MS;
use super::net::SwarmNetwork;
use super::{Change, Service};
use crate::clock;
use crate::store::{MessageState, OutboxItem, Store};
use sessiond_protocol::ErrorKind;
use sessiond_protocol::account_id::AccountId;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tracing::Instrument as _;

/// First retry delay.
const FIRST_BACKOFF_MS: i64 = 1_000;
/// Longest retry delay.
const MAX_BACKOFF_MS: i64 = 5 * 60 * 1_000;
/// A copy still not stored this long after the message was sent is given up on.
pub const GIVE_UP_AFTER_MS: i64 = 24 * 60 * 60 * 1_000;
/// Longest sleep when nothing is due (the wake-up notifier cuts it short).
const IDLE_SLEEP: Duration = Duration::from_secs(60);
/// Copies handled per account per round.
const BATCH: u32 = 64;

/// Delay before attempt `attempts + 1`.
pub fn backoff_ms(attempts: i64) -> i64 {
    let shift = attempts.clamp(0, 20) as u32;
    FIRST_BACKOFF_MS
        .saturating_mul(1 << shift)
        .min(MAX_BACKOFF_MS)
}

/// Run until the service is gone or `shutdown` fires.
pub async fn run(
    service: Weak<Service>,
    net: Arc<dyn SwarmNetwork>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let Some(wake) = service.upgrade().map(|s| s.outbox_wake()) else {
        return;
    };
    loop {
        let next_due = match service.upgrade() {
            Some(svc) => round(&svc, &*net).await,
            None => return,
        };
        let sleep = match next_due {
            Some(t) => Duration::from_millis(u64::try_from(t - clock::now_ms()).unwrap_or(0)),
            None => IDLE_SLEEP,
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep.min(IDLE_SLEEP)) => {}
        }
    }
}

/// One pass over every ready account's due copies; returns when the next copy is due.
async fn round(svc: &Service, net: &dyn SwarmNetwork) -> Option<i64> {
    let mut next: Option<i64> = None;
    for (identity, store) in svc.ready_accounts().await {
        let now = clock::now_ms();
        let due = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.due_outbox(now, BATCH)).await
        };
        let due = match due {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the outbox failed");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox task failed");
                continue;
            }
        };
        let account = identity.account_id();
        for item in due {
            send_one(svc, net, &account, &store, item).await;
        }
        let store2 = Arc::clone(&store);
        if let Ok(Ok(Some(t))) = tokio::task::spawn_blocking(move || store2.next_outbox_due()).await
        {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
    }
    next
}

async fn send_one(
    svc: &Service,
    net: &dyn SwarmNetwork,
    account: &AccountId,
    store: &Arc<Store>,
    item: OutboxItem,
) {
    // The span goes on the future (`instrument`), not on the thread (`span.enter()`): a guard
    // held across `.await` stays entered on whichever worker thread the task yielded on, so
    // other tasks' lines got this message's span and this message's lines often got none. The
    // field is `message_id`: a field named `message` is printed as the event text, unnamed.
    let span = tracing::debug_span!(
        "send",
        message_id = item.message_id,
        attempt = item.attempts + 1
    );
    send_one_in_span(svc, net, account, store, item)
        .instrument(span)
        .await;
}

async fn send_one_in_span(
    svc: &Service,
    net: &dyn SwarmNetwork,
    account: &AccountId,
    store: &Arc<Store>,
    item: OutboxItem,
) {
    let to = match item.destination.parse::<AccountId>() {
        Ok(to) => to,
        Err(e) => {
            finish(
                svc,
                account,
                store,
                item.id,
                Err(format!("invalid destination: {e}")),
            )
            .await;
            return;
        }
    };
    let result = net
        .store(
            &to,
            item.namespace,
            &item.payload,
            MESSAGE_TTL_MS,
            item.sent_at_ms,
        )
        .await;
    let now = clock::now_ms();
    match result {
        Ok(hash) => finish(svc, account, store, item.id, Ok(hash)).await,
        // A clock disagreement (406/425) is not permanent for a queued copy: its timestamp was
        // fixed at enqueue time, so a store refused as "too far from the node's time" succeeds
        // once time catches up or our network time is corrected (one skewed node's answers can
        // drag it by seconds), and the next attempt may reach another node. Failing here lost
        // messages `message.send` had accepted; they are retried with back-off instead, and
        // still given up on after GIVE_UP_AFTER_MS.
        Err(e) if !e.retriable && e.kind != ErrorKind::ClockSkew => {
            tracing::warn!(error = %e, "sending failed permanently");
            finish(svc, account, store, item.id, Err(e.message)).await;
        }
        Err(e) if now - item.sent_at_ms > GIVE_UP_AFTER_MS => {
            tracing::warn!(error = %e, "giving up on a message after a day of retries");
            finish(
                svc,
                account,
                store,
                item.id,
                Err(format!("gave up after retrying for a day: {}", e.message)),
            )
            .await;
        }
        Err(e) => {
            let next = now + backoff_ms(item.attempts);
            tracing::debug!(error = %e, retry_in_ms = next - now, "send failed; will retry");
            let store = Arc::clone(store);
            let msg = e.message.clone();
            let _ =
                tokio::task::spawn_blocking(move || store.outbox_retry_later(item.id, &msg, next))
                    .await;
            svc.note_network_error(&e.message);
        }
    }
}

async fn finish(
    svc: &Service,
    account: &AccountId,
    store: &Arc<Store>,
    outbox_id: i64,
    outcome: Result<String, String>,
) {
    let store = Arc::clone(store);
    let now = clock::now_ms();
    let result = tokio::task::spawn_blocking(move || match &outcome {
        Ok(hash) => store.outbox_done(outbox_id, Some(hash), now),
        Err(why) => store.outbox_give_up(outbox_id, why, now),
    })
    .await;
    match result {
        Ok(Ok(Some(state @ (MessageState::Sent | MessageState::Failed)))) => {
            svc.announce(Change::MessagesChanged {
                account_id: account.to_string(),
            });
            tracing::debug!(state = state.as_str(), "message finished");
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "recording a send result failed"),
        Err(e) => tracing::error!(error = %e, "outbox task failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(5), 32_000);
        assert_eq!(backoff_ms(9), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(1_000), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(-3), 1_000);
    }
}
