//! Sending and receiving 1:1 text messages: enqueue, list, and turning retrieved swarm
//! messages into stored messages (or recorded rejections).
//!
//! Why it exists: this is where the durability rules of a messenger live.
//! - `message.send` encrypts once, at enqueue time, and writes the message with its encrypted
//!   copies (recipient's swarm, and our own swarm's sync copy) in one transaction before it
//!   returns. The send worker only ever replays those bytes, so a resend after a crash stores
//!   the identical message and the swarm de-duplicates it.
//! - Every retrieved message is either stored or recorded as rejected with its reason, in the
//!   same transaction that moves the polling cursor past it (one transaction per run of a
//!   node's answer: [`ingest_run`]).

use super::{Service, ServiceError};
use crate::clock;
use crate::store::{
    ConversationKind, ConversationRow, Cursor, Direction, MessageRow, NewIncoming, NewOutgoing,
    OutgoingCopy, ReceivedItem, Recorded, Store,
};
use sessiond_protocol::account_id::AccountId;
use sessiond_protocol::identity::Identity;
use sessiond_protocol::{HasKind, proto};
use std::sync::Arc;

/// Longest text accepted, in characters (the official apps' limit).
pub const MAX_TEXT_CHARS: usize = 2000;
/// How long the swarm keeps a message (desktop `TTL_DEFAULT` for content: 14 days).
pub const MESSAGE_TTL_MS: u64 = 14 * 24 * 60 * 60 * 1000;
/// The namespace of 1:1 messages.
pub const NS_MESSAGES: i16 = 0;

/// A message retrieved from a swarm node, as the network layer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieved {
    /// The swarm's hash of it.
    pub hash: String,
    /// The stored bytes (base64-decoded `data`).
    pub data: Vec<u8>,
    /// When the swarm drops it (Unix ms).
    pub expires_at_ms: Option<i64>,
}

/// What happened to one retrieved message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored as a new message with this id.
    Stored(i64),
    /// Already known (another node returned it, or it was processed before a restart).
    Duplicate,
    /// Deliberately not stored; recorded with the reason.
    Rejected(String),
}

/// Build a visible text message's Content.
fn text_content(text: &str, display_name: Option<&str>, now_ms: i64) -> proto::Content {
    proto::Content {
        data_message: Some(proto::DataMessage {
            body: Some(text.to_owned()),
            profile: Some(proto::LokiProfile {
                display_name: display_name.filter(|n| !n.is_empty()).map(str::to_owned),
                last_update_seconds: Some(u64::try_from(now_ms / 1000).unwrap_or(0)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Encode a text message for `to` and, unless it is Note to Self, its sync copy for us.
pub(crate) fn encode_text(
    identity: &Identity,
    to: &AccountId,
    text: &str,
    display_name: Option<&str>,
    sent_at_ms: i64,
) -> Result<Vec<OutgoingCopy>, ServiceError> {
    let sent =
        u64::try_from(sent_at_ms).map_err(|_| ServiceError::internal("negative send time"))?;
    let content = text_content(text, display_name, sent_at_ms);
    let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
    let me = identity.account_id();
    let wire = sessiond_protocol::encode_1o1(identity, to, &content, sent, &mut rng)
        .map_err(|e| ServiceError::internal(format!("encoding a message: {e}")))?;
    let mut copies = vec![OutgoingCopy {
        destination: to.to_string(),
        namespace: NS_MESSAGES,
        payload: wire,
    }];
    if *to != me {
        let sync =
            sessiond_protocol::message::encode_sync_1o1(identity, to, &content, sent, &mut rng)
                .map_err(|e| ServiceError::internal(format!("encoding a sync copy: {e}")))?;
        if let Some(payload) = sync {
            copies.push(OutgoingCopy {
                destination: me.to_string(),
                namespace: NS_MESSAGES,
                payload,
            });
        }
    }
    Ok(copies)
}

/// What a retrieved message is, judged from its bytes alone.
enum Decoded {
    /// A message to store.
    Message(NewIncoming),
    /// Not to be stored, with why.
    Rejected(String),
}

/// Decrypt, verify and read one retrieved message for `identity` (no database).
fn decode(identity: &Identity, msg: &Retrieved) -> Decoded {
    let me = identity.account_id();
    let received = match sessiond_protocol::decode_1o1(identity, &msg.data) {
        Ok(r) => r,
        Err(e) => return Decoded::Rejected(format!("{} ({})", e, e.kind())),
    };
    let Some(data) = received.content.data_message.as_ref() else {
        // Receipts, typing, calls, … are not handled yet: recorded, never silently dropped.
        return Decoded::Rejected("unsupported content (no data message)".to_owned());
    };
    let sent_at_ms = i64::try_from(received.sent_ms).unwrap_or(i64::MAX);
    let (direction, peer) = if received.sender == me {
        // Our own message from another device (a sync copy), or Note to Self.
        match received.sync_target {
            Some(target) => (Direction::Out, target),
            None => (Direction::Out, me),
        }
    } else {
        (Direction::In, received.sender)
    };
    if direction == Direction::In && data.body.is_none() {
        return Decoded::Rejected(
            "data message without text (attachments are not supported yet)".to_owned(),
        );
    }
    let kind = if peer == me {
        ConversationKind::NoteToSelf
    } else {
        ConversationKind::Direct
    };
    Decoded::Message(NewIncoming {
        kind,
        peer: peer.to_string(),
        sender: received.sender.to_string(),
        direction,
        sent_at_ms,
        body: data.body.clone(),
        server_hash: msg.hash.clone(),
        expires_at_ms: msg.expires_at_ms,
    })
}

/// Decode one retrieved message and store it (or record why not), moving the cursor: a run of
/// one (the poller ingests whole runs; the tests here use this).
#[cfg(test)]
pub(crate) fn ingest(
    store: &Store,
    identity: &Identity,
    cursor: &Cursor,
    msg: &Retrieved,
    now_ms: i64,
) -> Result<Ingested, ServiceError> {
    let mut done = ingest_run(store, identity, cursor, std::slice::from_ref(msg), now_ms)?;
    Ok(done.pop().unwrap_or(Ingested::Duplicate))
}

/// Ingest a run of messages one node returned, in its order: decode those whose hash is new
/// (without holding the store), then store them or record why not, and move the cursor to
/// `cursor` (past the run's last message) in one transaction: one fsync for the run, and after
/// a crash either all of it is stored with the cursor past it or none of it.
pub(crate) fn ingest_run(
    store: &Store,
    identity: &Identity,
    cursor: &Cursor,
    msgs: &[Retrieved],
    now_ms: i64,
) -> Result<Vec<Ingested>, ServiceError> {
    let hashes: Vec<&str> = msgs.iter().map(|m| m.hash.as_str()).collect();
    let known = store.known_hashes(&hashes)?;
    let decoded: Vec<Option<Decoded>> = msgs
        .iter()
        .map(|m| (!known.contains(&m.hash)).then(|| decode(identity, m)))
        .collect();
    let mut items = Vec::with_capacity(msgs.len());
    for (msg, d) in msgs.iter().zip(&decoded) {
        match d {
            None => {}
            Some(Decoded::Message(row)) => items.push(ReceivedItem::Message(row)),
            Some(Decoded::Rejected(reason)) => {
                tracing::debug!(hash = %msg.hash, %reason, "rejecting a retrieved message");
                items.push(ReceivedItem::Rejected {
                    namespace: NS_MESSAGES,
                    server_hash: &msg.hash,
                    reason,
                });
            }
        }
    }
    let mut recorded = store.record_received(&items, cursor, now_ms)?.into_iter();
    Ok(decoded
        .iter()
        .map(|d| match (d, d.as_ref().and_then(|_| recorded.next())) {
            (Some(Decoded::Rejected(reason)), Some(Recorded::Rejected)) => {
                Ingested::Rejected(reason.clone())
            }
            (_, Some(Recorded::Stored(id))) => Ingested::Stored(id),
            _ => Ingested::Duplicate,
        })
        .collect())
}

impl Service {
    /// Resolve an optional Account ID: `None` means "the only account".
    pub(crate) async fn resolve_account(
        &self,
        account_id: Option<&str>,
    ) -> Result<AccountId, ServiceError> {
        match account_id {
            Some(id) => id
                .parse::<AccountId>()
                .map_err(|e| ServiceError::InvalidAccountId {
                    reason: e.to_string(),
                }),
            None => {
                let accounts = self.list_accounts().await;
                match accounts.as_slice() {
                    [one] => Ok(one.account_id),
                    [] => Err(ServiceError::InvalidInput(
                        "no account exists yet: create one first".into(),
                    )),
                    _ => Err(ServiceError::InvalidInput(
                        "this daemon holds several accounts: say which with account_id".into(),
                    )),
                }
            }
        }
    }

    /// Put a text message into the durable outbox; returns its id and timestamp.
    pub async fn send_message(
        &self,
        account_id: Option<&str>,
        to: &str,
        text: &str,
    ) -> Result<(i64, i64), ServiceError> {
        let from = self.resolve_account(account_id).await?;
        let to: AccountId = to.parse().map_err(|e: sessiond_protocol::AccountIdError| {
            ServiceError::InvalidAccountId {
                reason: format!("recipient: {e}"),
            }
        })?;
        if text.trim().is_empty() {
            return Err(ServiceError::InvalidInput("the message is empty".into()));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ServiceError::InvalidInput(format!(
                "the message is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        let (identity, store, name) = self.ready(&from).await?;
        // Our newest outgoing timestamp, from before a restart too: a clock that moved
        // backwards must not give a new message the timestamp of an old one (the timestamp
        // identifies our own messages, and the outbox would take it for a retried enqueue).
        let newest = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.newest_outgoing_sent_at_ms())
                .await
                .map_err(|e| ServiceError::internal(format!("storage task failed: {e}")))??
        };
        let sent_at_ms = self.message_timestamp_after(newest.unwrap_or(0));
        let text = text.to_owned();
        let id = tokio::task::spawn_blocking(move || -> Result<i64, ServiceError> {
            let copies = encode_text(&identity, &to, &text, name.as_deref(), sent_at_ms)?;
            let kind = if to == identity.account_id() {
                ConversationKind::NoteToSelf
            } else {
                ConversationKind::Direct
            };
            let m = NewOutgoing {
                kind,
                peer: to.to_string(),
                sender: identity.account_id().to_string(),
                sent_at_ms,
                body: text,
                copies,
            };
            Ok(store.insert_outgoing(&m, clock::now_ms())?)
        })
        .await
        .map_err(|e| ServiceError::internal(format!("send task failed: {e}")))??;
        self.wake_sender(&from);
        Ok((id, sent_at_ms))
    }

    /// Conversations of an account, most recent first.
    pub async fn list_conversations(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<ConversationRow>, ServiceError> {
        let id = self.resolve_account(account_id).await?;
        let store = self.account_store(&id.to_string()).await?;
        blocking_store(move || store.list_conversations()).await
    }

    /// Messages of a conversation, newest first.
    pub async fn list_messages(
        &self,
        account_id: Option<&str>,
        conversation: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRow>, ServiceError> {
        let id = self.resolve_account(account_id).await?;
        let peer: AccountId =
            conversation
                .parse()
                .map_err(
                    |e: sessiond_protocol::AccountIdError| ServiceError::InvalidAccountId {
                        reason: e.to_string(),
                    },
                )?;
        let store = self.account_store(&id.to_string()).await?;
        let peer = peer.to_string();
        blocking_store(move || store.list_messages(&peer, before, limit)).await
    }

    /// A message timestamp in network time, strictly increasing within this daemon so two
    /// messages never share an envelope timestamp (it identifies our own messages).
    #[cfg(test)]
    pub(crate) fn message_timestamp(&self) -> i64 {
        self.message_timestamp_after(0)
    }

    /// [`Service::message_timestamp`], also later than `floor`.
    pub(crate) fn message_timestamp_after(&self, floor: i64) -> i64 {
        let now = self.network_now_ms();
        let mut last = self
            .last_timestamp
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let t = now.max(*last + 1).max(floor + 1);
        *last = t;
        t
    }
}

async fn blocking_store<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::internal(format!("storage task failed: {e}")))?
        .map_err(ServiceError::from)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sessiond_protocol::identity::Seed;

    fn identity(b: u8) -> Identity {
        Identity::from_seed(&Seed::from_bytes(&[b; 16]).unwrap())
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &[1; 32]).unwrap();
        (dir, s)
    }

    fn cursor(h: &str) -> Cursor {
        Cursor {
            node: "n".into(),
            namespace: 0,
            last_hash: h.into(),
            expires_at_ms: None,
        }
    }

    #[test]
    fn a_sent_message_decodes_at_the_recipient_and_its_sync_copy_at_the_sender() {
        let (alice, bob) = (identity(1), identity(2));
        let copies = encode_text(
            &alice,
            &bob.account_id(),
            "hello bob",
            Some("Alice"),
            1_700_000_000_000,
        )
        .unwrap();
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0].destination, bob.account_id().to_string());
        assert_eq!(copies[1].destination, alice.account_id().to_string());

        let (_d, bob_store) = store();
        let got = ingest(
            &bob_store,
            &bob,
            &cursor("h1"),
            &Retrieved {
                hash: "h1".into(),
                data: copies[0].payload.clone(),
                expires_at_ms: None,
            },
            5,
        )
        .unwrap();
        assert!(matches!(got, Ingested::Stored(_)));
        let m = &bob_store
            .list_messages(&alice.account_id().to_string(), None, 10)
            .unwrap()[0];
        assert_eq!(m.body.as_deref(), Some("hello bob"));
        assert_eq!(m.direction, Direction::In);
        assert_eq!(m.sent_at_ms, 1_700_000_000_000);

        // Alice's other device sees the sync copy as her own message in the conversation with Bob.
        let (_d2, alice_store) = store();
        let got = ingest(
            &alice_store,
            &alice,
            &cursor("h2"),
            &Retrieved {
                hash: "h2".into(),
                data: copies[1].payload.clone(),
                expires_at_ms: None,
            },
            5,
        )
        .unwrap();
        assert!(matches!(got, Ingested::Stored(_)));
        let m = &alice_store
            .list_messages(&bob.account_id().to_string(), None, 10)
            .unwrap()[0];
        assert_eq!(m.direction, Direction::Out);
        assert_eq!(m.sender, alice.account_id().to_string());
    }

    #[test]
    fn note_to_self_has_a_single_copy() {
        let me = identity(3);
        let copies = encode_text(&me, &me.account_id(), "note", None, 1_700_000_000_000).unwrap();
        assert_eq!(copies.len(), 1);
        let (_d, s) = store();
        ingest(
            &s,
            &me,
            &cursor("h"),
            &Retrieved {
                hash: "h".into(),
                data: copies[0].payload.clone(),
                expires_at_ms: None,
            },
            1,
        )
        .unwrap();
        let conv = &s.list_conversations().unwrap()[0];
        assert_eq!(conv.kind, ConversationKind::NoteToSelf);
    }

    #[test]
    fn garbage_and_messages_for_someone_else_are_rejected_with_a_reason_and_the_cursor_moves() {
        let (alice, bob, carol) = (identity(1), identity(2), identity(4));
        let (_d, s) = store();
        let got = ingest(
            &s,
            &bob,
            &cursor("g"),
            &Retrieved {
                hash: "g".into(),
                data: b"garbage".to_vec(),
                expires_at_ms: None,
            },
            1,
        )
        .unwrap();
        assert!(matches!(got, Ingested::Rejected(_)));
        let for_carol = encode_text(
            &alice,
            &carol.account_id(),
            "not for bob",
            None,
            1_700_000_000_000,
        )
        .unwrap();
        let got = ingest(
            &s,
            &bob,
            &cursor("c"),
            &Retrieved {
                hash: "c".into(),
                data: for_carol[0].payload.clone(),
                expires_at_ms: None,
            },
            1,
        )
        .unwrap();
        assert!(matches!(got, Ingested::Rejected(_)));
        assert_eq!(s.rejected_count().unwrap(), 2);
        assert_eq!(s.cursor("n", 0, 2).unwrap().as_deref(), Some("c"));
        // Seen again: a duplicate, not a second rejection.
        let again = ingest(
            &s,
            &bob,
            &cursor("g"),
            &Retrieved {
                hash: "g".into(),
                data: b"garbage".to_vec(),
                expires_at_ms: None,
            },
            3,
        )
        .unwrap();
        assert_eq!(again, Ingested::Duplicate);
        assert_eq!(s.rejected_count().unwrap(), 2);
    }

    #[test]
    fn a_run_is_stored_in_order_with_its_rejections_and_its_cursor_and_never_twice() {
        let (alice, bob) = (identity(1), identity(2));
        let (_d, s) = store();
        let text = |t: &str, at: i64| {
            encode_text(&alice, &bob.account_id(), t, None, 1_700_000_000_000 + at)
                .unwrap()
                .remove(0)
                .payload
        };
        let msg = |hash: &str, data: Vec<u8>| Retrieved {
            hash: hash.into(),
            data,
            expires_at_ms: None,
        };
        let run = vec![
            msg("a", text("one", 1)),
            msg("b", b"garbage".to_vec()),
            msg("c", text("two", 2)),
        ];
        let done = ingest_run(&s, &bob, &cursor("c"), &run, 5).unwrap();
        assert!(
            matches!(
                done[..],
                [
                    Ingested::Stored(_),
                    Ingested::Rejected(_),
                    Ingested::Stored(_)
                ]
            ),
            "{done:?}"
        );
        assert_eq!(s.cursor("n", 0, 6).unwrap().as_deref(), Some("c"));

        // The same messages again (from another node, or after a crash): only the new one is
        // stored, and the cursor moves past the run's last message.
        let mut again = run.clone();
        again.push(msg("d", text("three", 3)));
        let done = ingest_run(&s, &bob, &cursor("d"), &again, 7).unwrap();
        assert!(
            done[..3].iter().all(|d| *d == Ingested::Duplicate),
            "{done:?}"
        );
        assert!(matches!(done[3], Ingested::Stored(_)), "{done:?}");
        assert_eq!(s.cursor("n", 0, 8).unwrap().as_deref(), Some("d"));
        let texts: Vec<_> = s
            .list_messages(&alice.account_id().to_string(), None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.body.unwrap())
            .collect();
        assert_eq!(texts, ["three", "two", "one"]);
        assert_eq!(s.rejected_count().unwrap(), 1);
        assert_eq!(s.list_conversations().unwrap()[0].unread_count, 3);
    }

    #[test]
    fn a_forged_sender_signature_is_rejected() {
        let (alice, bob) = (identity(1), identity(2));
        let copies =
            encode_text(&alice, &bob.account_id(), "hello", None, 1_700_000_000_000).unwrap();
        // Flip a bit inside the sealed box (not in the unauthenticated envelope fields):
        // authenticity fails, never a panic.
        use sessiond_protocol::message::wire;
        let envelope_bytes = wire::unwrap_websocket(&copies[0].payload).unwrap();
        let mut envelope = wire::parse_envelope(&envelope_bytes).unwrap();
        let content = envelope.content.as_mut().unwrap();
        let n = content.len();
        content[n / 2] ^= 1;
        let data = wire::wrap_websocket(prost::Message::encode_to_vec(&envelope));
        let (_d, s) = store();
        let got = ingest(
            &s,
            &bob,
            &cursor("f"),
            &Retrieved {
                hash: "f".into(),
                data,
                expires_at_ms: None,
            },
            1,
        )
        .unwrap();
        assert!(matches!(got, Ingested::Rejected(_)), "{got:?}");
    }
}
