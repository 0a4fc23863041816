//! Conversations, messages, the outbox, polling cursors and the event log of one account.
//!
//! Why it exists: every durability promise of the daemon is a transaction here.
//! - An outgoing message and its outbox copies are written together before `message.send`
//!   returns; the copies hold the final encrypted bytes, so a resend after a crash is
//!   byte-identical and the swarm de-duplicates it.
//! - A received message, the polling cursor that moves past it, and its event commit together:
//!   after a crash the message is either stored with the cursor past it, or neither. The poller
//!   writes a run of a node's answer at once ([`Store::record_received`]): one transaction, one
//!   fsync, for the whole run and the cursor past its last message.
//! - Every state change appends to the event log in the same transaction.

use super::{Store, StoreError};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashSet;
use std::path::Path;

/// What kind of conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationKind {
    /// One to one with another Account ID.
    Direct,
    /// With ourselves.
    NoteToSelf,
}

impl ConversationKind {
    fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Direct => "direct",
            ConversationKind::NoteToSelf => "note_to_self",
        }
    }

    fn parse(s: &str) -> ConversationKind {
        match s {
            "note_to_self" => ConversationKind::NoteToSelf,
            _ => ConversationKind::Direct,
        }
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    In,
    /// Sent by this account (here or on another device: sync copies).
    Out,
}

/// Where a message is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Accepted for sending; not yet acknowledged by every swarm it goes to.
    Pending,
    /// Acknowledged by the recipient's swarm (and our own, for the sync copy).
    Sent,
    /// Gave up after retries; the reason is in the event log.
    Failed,
    /// Received from the network.
    Received,
}

impl MessageState {
    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
            MessageState::Received => "received",
        }
    }

    fn parse(s: &str) -> MessageState {
        match s {
            "pending" => MessageState::Pending,
            "sent" => MessageState::Sent,
            "failed" => MessageState::Failed,
            _ => MessageState::Received,
        }
    }
}

/// A conversation as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRow {
    /// Row id.
    pub id: i64,
    /// Kind.
    pub kind: ConversationKind,
    /// The other party's Account ID (our own for Note to Self).
    pub peer: String,
    /// Messages received and not yet read.
    pub unread_count: i64,
    /// Time of the last message (sent time, Unix ms).
    pub last_message_at_ms: Option<i64>,
    /// Start of the last message's text.
    pub last_preview: Option<String>,
}

/// A message as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Row id: the message id in the API.
    pub id: i64,
    /// The conversation's peer.
    pub peer: String,
    /// In or out.
    pub direction: Direction,
    /// Sender's Account ID.
    pub sender: String,
    /// When the sender sent it (Unix ms, the envelope timestamp).
    pub sent_at_ms: i64,
    /// When we stored it (Unix ms); `None` for our own messages.
    pub received_at_ms: Option<i64>,
    /// The text.
    pub body: Option<String>,
    /// Its state.
    pub state: MessageState,
    /// The swarm's hash of the stored copy, when known.
    pub server_hash: Option<String>,
}

/// One encrypted copy of an outgoing message, for one swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCopy {
    /// The Account ID whose swarm stores it.
    pub destination: String,
    /// The swarm namespace.
    pub namespace: i16,
    /// The bytes to store (the base64 of these is `data`).
    pub payload: Vec<u8>,
}

/// An outgoing message to record.
#[derive(Debug, Clone)]
pub struct NewOutgoing {
    /// Conversation kind.
    pub kind: ConversationKind,
    /// Peer Account ID.
    pub peer: String,
    /// Our Account ID.
    pub sender: String,
    /// The envelope timestamp (Unix ms), fixed at enqueue time.
    pub sent_at_ms: i64,
    /// The text.
    pub body: String,
    /// The copies to store.
    pub copies: Vec<OutgoingCopy>,
}

/// A received message to record.
#[derive(Debug, Clone)]
pub struct NewIncoming {
    /// Conversation kind.
    pub kind: ConversationKind,
    /// The conversation's peer: the sender, or the sync target for our own messages.
    pub peer: String,
    /// Sender's Account ID.
    pub sender: String,
    /// In, or out for a sync copy of our own message sent from another device.
    pub direction: Direction,
    /// Envelope timestamp.
    pub sent_at_ms: i64,
    /// The text.
    pub body: Option<String>,
    /// Swarm hash (dedup key).
    pub server_hash: String,
    /// When the swarm will drop it (Unix ms).
    pub expires_at_ms: Option<i64>,
}

/// A polling position: the last hash a node returned for a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The node's Ed25519 key (hex).
    pub node: String,
    /// Namespace.
    pub namespace: i16,
    /// Last hash returned by that node.
    pub last_hash: String,
    /// When the message named by the hash expires (the node forgets the hash then).
    pub expires_at_ms: Option<i64>,
}

/// One retrieved message for [`Store::record_received`].
#[derive(Debug, Clone, Copy)]
pub enum ReceivedItem<'a> {
    /// Store it, unless its hash is known already.
    Message(&'a NewIncoming),
    /// Record it as deliberately not stored, with why, unless its hash is known already.
    Rejected {
        /// The namespace it came from.
        namespace: i16,
        /// The swarm's hash of it.
        server_hash: &'a str,
        /// Why it is not stored.
        reason: &'a str,
    },
}

/// What [`Store::record_received`] did with one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored as a new message with this id.
    Stored(i64),
    /// Recorded as rejected.
    Rejected,
    /// Nothing written: the hash was stored or rejected before (or it is our own message,
    /// which we already have).
    Known,
}

/// A pending copy in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Outbox row id.
    pub id: i64,
    /// The message it belongs to.
    pub message_id: i64,
    /// Destination Account ID.
    pub destination: String,
    /// Namespace.
    pub namespace: i16,
    /// Bytes to store.
    pub payload: Vec<u8>,
    /// Attempts so far.
    pub attempts: i64,
    /// Earliest time of the next attempt.
    pub next_attempt_ms: i64,
    /// The message's envelope timestamp (store `timestamp`).
    pub sent_at_ms: i64,
}

/// An event from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Sequence number (strictly increasing).
    pub seq: i64,
    /// Kind, e.g. `message.added`.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// When it was appended.
    pub created_at_ms: i64,
}

/// Longest stored preview, in characters.
const PREVIEW_CHARS: usize = 120;

fn preview(body: Option<&str>) -> Option<String> {
    body.map(|b| b.chars().take(PREVIEW_CHARS).collect())
}

fn append_event_tx(
    tx: &Transaction<'_>,
    kind: &str,
    payload: &str,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached("INSERT INTO events (kind, payload, created_at_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![kind, payload, now_ms])?;
    Ok(tx.last_insert_rowid())
}

fn conversation_id_tx(
    tx: &Transaction<'_>,
    kind: ConversationKind,
    peer: &str,
    now_ms: i64,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO conversations (kind, peer, created_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT(peer) DO NOTHING",
    )?
    .execute(params![kind.as_str(), peer, now_ms])?;
    tx.prepare_cached("SELECT id FROM conversations WHERE peer = ?1")?
        .query_row([peer], |r| r.get(0))
}

fn message_event(id: i64, peer: &str, state: MessageState) -> String {
    serde_json::json!({ "message_id": id, "peer": peer, "state": state.as_str() }).to_string()
}

impl Store {
    /// Record an outgoing message with its encrypted copies; returns the message id.
    ///
    /// If a message from us with the same timestamp exists already (a retried enqueue), its id
    /// is returned and nothing is written twice.
    pub fn insert_outgoing(&self, m: &NewOutgoing, now_ms: i64) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let e = move |op| {
            let path = path.clone();
            move |err| StoreError::sqlite(&path, op, err)
        };
        self.with_conn(|c| {
            let tx = c.transaction().map_err(e("starting transaction"))?;
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM messages WHERE direction = 'out' AND sender = ?1 AND sent_at_ms = ?2",
                    params![m.sender, m.sent_at_ms],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e("looking up message"))?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let conv = conversation_id_tx(&tx, m.kind, &m.peer, now_ms).map_err(e("writing conversation"))?;
            tx.execute(
                "INSERT INTO messages (conversation_id, direction, sender, sent_at_ms, body, state, read)
                 VALUES (?1, 'out', ?2, ?3, ?4, 'pending', 1)",
                params![conv, m.sender, m.sent_at_ms, m.body],
            )
            .map_err(e("writing message"))?;
            let id = tx.last_insert_rowid();
            for copy in &m.copies {
                tx.execute(
                    "INSERT INTO outbox (message_id, destination, namespace, payload, next_attempt_ms, created_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    params![id, copy.destination, copy.namespace, copy.payload, now_ms],
                )
                .map_err(e("writing outbox"))?;
            }
            tx.execute(
                "UPDATE conversations SET last_message_at_ms = max(coalesce(last_message_at_ms, 0), ?2),
                 last_preview = ?3 WHERE id = ?1",
                params![conv, m.sent_at_ms, preview(Some(&m.body))],
            )
            .map_err(e("updating conversation"))?;
            append_event_tx(&tx, "message.added", &message_event(id, &m.peer, MessageState::Pending), now_ms)
                .map_err(e("appending event"))?;
            tx.commit().map_err(e("committing"))?;
            Ok(id)
        })
    }

    /// The newest envelope timestamp of our own outgoing messages, if any.
    pub fn newest_outgoing_sent_at_ms(&self) -> Result<Option<i64>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.query_row(
                "SELECT max(sent_at_ms) FROM messages WHERE direction = 'out'",
                [],
                |r| r.get(0),
            )
            .map_err(|err| StoreError::sqlite(&path, "reading messages", err))
        })
    }

    /// Outbox copies due at `now_ms`, oldest first.
    pub fn due_outbox(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT o.id, o.message_id, o.destination, o.namespace, o.payload, o.attempts,
                            o.next_attempt_ms, m.sent_at_ms
                     FROM outbox o JOIN messages m ON m.id = o.message_id
                     WHERE o.next_attempt_ms <= ?1 ORDER BY o.next_attempt_ms, o.id LIMIT ?2",
                )
                .map_err(|err| StoreError::sqlite(&path, "reading outbox", err))?;
            let rows = stmt
                .query_map(params![now_ms, limit], |r| {
                    Ok(OutboxItem {
                        id: r.get(0)?,
                        message_id: r.get(1)?,
                        destination: r.get(2)?,
                        namespace: r.get(3)?,
                        payload: r.get(4)?,
                        attempts: r.get(5)?,
                        next_attempt_ms: r.get(6)?,
                        sent_at_ms: r.get(7)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|err| StoreError::sqlite(&path, "reading outbox", err))?;
            Ok(rows)
        })
    }

    /// When the next outbox copy is due, if any.
    pub fn next_outbox_due(&self) -> Result<Option<i64>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.query_row("SELECT min(next_attempt_ms) FROM outbox", [], |r| r.get(0))
                .map_err(|err| StoreError::sqlite(&path, "reading outbox", err))
        })
    }

    /// A copy failed: count the attempt and schedule the next one.
    pub fn outbox_retry_later(
        &self,
        id: i64,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, error, next_attempt_ms],
            )
            .map_err(|err| StoreError::sqlite(&path, "updating outbox", err))?;
            Ok(())
        })
    }

    /// A copy was stored by its swarm. When it was the message's last copy the message becomes
    /// `sent`; returns the message's state afterwards.
    pub fn outbox_done(
        &self,
        id: i64,
        server_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<MessageState>, StoreError> {
        self.finish_outbox(id, server_hash, None, now_ms)
    }

    /// Give up on a copy (and so on its message): the message becomes `failed`.
    pub fn outbox_give_up(
        &self,
        id: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<Option<MessageState>, StoreError> {
        self.finish_outbox(id, None, Some(error), now_ms)
    }

    fn finish_outbox(
        &self,
        id: i64,
        server_hash: Option<&str>,
        failure: Option<&str>,
        now_ms: i64,
    ) -> Result<Option<MessageState>, StoreError> {
        let path = self.path.clone();
        let e = move |op| {
            let path = path.clone();
            move |err| StoreError::sqlite(&path, op, err)
        };
        self.with_conn(|c| {
            let tx = c.transaction().map_err(e("starting transaction"))?;
            let row: Option<(i64, String)> = tx
                .query_row("SELECT message_id, destination FROM outbox WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(e("reading outbox"))?;
            let Some((message_id, destination)) = row else {
                return Ok(None);
            };
            tx.execute("DELETE FROM outbox WHERE id = ?1", [id]).map_err(e("updating outbox"))?;
            let (peer, sender): (String, String) = tx
                .query_row(
                    "SELECT c.peer, m.sender FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.id = ?1",
                    [message_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(e("reading message"))?;
            // The recipient's copy's hash identifies the message on the network.
            if let Some(hash) = server_hash
                && destination == peer
            {
                tx.execute(
                    "UPDATE messages SET server_hash = ?2 WHERE id = ?1 AND server_hash IS NULL",
                    params![message_id, hash],
                )
                .map_err(e("updating message"))?;
            }
            let _ = sender;
            let remaining: i64 = tx
                .query_row("SELECT count(*) FROM outbox WHERE message_id = ?1", [message_id], |r| r.get(0))
                .map_err(e("reading outbox"))?;
            let new_state = match failure {
                Some(_) => {
                    tx.execute("DELETE FROM outbox WHERE message_id = ?1", [message_id])
                        .map_err(e("updating outbox"))?;
                    Some(MessageState::Failed)
                }
                None if remaining == 0 => Some(MessageState::Sent),
                None => None,
            };
            if let Some(state) = new_state {
                tx.execute(
                    "UPDATE messages SET state = ?2 WHERE id = ?1",
                    params![message_id, state.as_str()],
                )
                .map_err(e("updating message"))?;
                let mut payload = serde_json::json!({
                    "message_id": message_id, "peer": peer, "state": state.as_str(),
                });
                if let Some(why) = failure {
                    payload["error"] = serde_json::Value::from(why);
                }
                append_event_tx(&tx, "message.changed", &payload.to_string(), now_ms)
                    .map_err(e("appending event"))?;
            }
            let state: String = tx
                .query_row("SELECT state FROM messages WHERE id = ?1", [message_id], |r| r.get(0))
                .map_err(e("reading message"))?;
            tx.commit().map_err(e("committing"))?;
            Ok(Some(MessageState::parse(&state)))
        })
    }

    /// Store a received message and move the polling cursor past it, in one transaction.
    /// Returns the new message id, or `None` when the hash was already stored or rejected.
    pub fn insert_incoming(
        &self,
        m: &NewIncoming,
        cursor: &Cursor,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let done = self.record_received(&[ReceivedItem::Message(m)], cursor, now_ms)?;
        Ok(match done.first() {
            Some(Recorded::Stored(id)) => Some(*id),
            _ => None,
        })
    }

    /// Record a received message that was deliberately not stored (undecryptable, bad
    /// signature, malformed), moving the cursor past it. Returns false if the hash was known.
    pub fn insert_rejected(
        &self,
        namespace: i16,
        server_hash: &str,
        reason: &str,
        cursor: &Cursor,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let item = ReceivedItem::Rejected {
            namespace,
            server_hash,
            reason,
        };
        let done = self.record_received(&[item], cursor, now_ms)?;
        Ok(done.first() == Some(&Recorded::Rejected))
    }

    /// Record a run of retrieved messages, in order, and move the polling cursor to `cursor`
    /// (the hash of the run's last message, which may be one not in `items`: a duplicate needs
    /// no row), all in one transaction. After a crash either the whole run is stored with the
    /// cursor past it, or none of it and the cursor before it. Returns what happened to each
    /// item.
    pub fn record_received(
        &self,
        items: &[ReceivedItem<'_>],
        cursor: &Cursor,
        now_ms: i64,
    ) -> Result<Vec<Recorded>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let tx = c
                .transaction()
                .map_err(|err| StoreError::sqlite(&path, "starting transaction", err))?;
            set_cursor_tx(&tx, cursor, now_ms)
                .map_err(|err| StoreError::sqlite(&path, "writing cursor", err))?;
            let mut done = Vec::with_capacity(items.len());
            for item in items {
                done.push(match *item {
                    ReceivedItem::Message(m) => match insert_incoming_tx(&tx, &path, m, now_ms)? {
                        Some(id) => Recorded::Stored(id),
                        None => Recorded::Known,
                    },
                    ReceivedItem::Rejected {
                        namespace,
                        server_hash,
                        reason,
                    } => {
                        if insert_rejected_tx(&tx, &path, namespace, server_hash, reason, now_ms)? {
                            Recorded::Rejected
                        } else {
                            Recorded::Known
                        }
                    }
                });
            }
            tx.commit()
                .map_err(|err| StoreError::sqlite(&path, "committing", err))?;
            Ok(done)
        })
    }

    /// Move a cursor without a message (e.g. a message of a kind we do not store yet).
    pub fn set_cursor(&self, cursor: &Cursor, now_ms: i64) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let tx = c
                .transaction()
                .map_err(|err| StoreError::sqlite(&path, "starting transaction", err))?;
            set_cursor_tx(&tx, cursor, now_ms)
                .map_err(|err| StoreError::sqlite(&path, "writing cursor", err))?;
            tx.commit()
                .map_err(|err| StoreError::sqlite(&path, "committing", err))
        })
    }

    /// The cursor of `node` for `namespace`, unless the message it names has expired.
    pub fn cursor(
        &self,
        node: &str,
        namespace: i16,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.query_row(
                "SELECT last_hash FROM swarm_cursors WHERE node = ?1 AND namespace = ?2
                 AND (expires_at_ms IS NULL OR expires_at_ms > ?3)",
                params![node, namespace, now_ms],
                |r| r.get(0),
            )
            .optional()
            .map_err(|err| StoreError::sqlite(&path, "reading cursor", err))
        })
    }

    /// Whether a swarm hash was already stored or rejected.
    pub fn knows_hash(&self, server_hash: &str) -> Result<bool, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let tx = c
                .transaction()
                .map_err(|err| StoreError::sqlite(&path, "starting transaction", err))?;
            known_hash_tx(&tx, server_hash)
                .map_err(|err| StoreError::sqlite(&path, "checking hash", err))
        })
    }

    /// Which of `hashes` were already stored or rejected (one read for a whole answer).
    pub fn known_hashes(&self, hashes: &[&str]) -> Result<HashSet<String>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let tx = c
                .transaction()
                .map_err(|err| StoreError::sqlite(&path, "starting transaction", err))?;
            let mut known = HashSet::new();
            for hash in hashes {
                if known_hash_tx(&tx, hash)
                    .map_err(|err| StoreError::sqlite(&path, "checking hash", err))?
                {
                    known.insert((*hash).to_owned());
                }
            }
            Ok(known)
        })
    }

    /// Conversations, most recent first.
    pub fn list_conversations(&self) -> Result<Vec<ConversationRow>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, kind, peer, unread_count, last_message_at_ms, last_preview FROM conversations
                     ORDER BY coalesce(last_message_at_ms, created_at_ms) DESC, id DESC",
                )
                .map_err(|err| StoreError::sqlite(&path, "listing conversations", err))?;
            stmt.query_map([], |r| {
                Ok(ConversationRow {
                    id: r.get(0)?,
                    kind: ConversationKind::parse(&r.get::<_, String>(1)?),
                    peer: r.get(2)?,
                    unread_count: r.get(3)?,
                    last_message_at_ms: r.get(4)?,
                    last_preview: r.get(5)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|err| StoreError::sqlite(&path, "listing conversations", err))
        })
    }

    /// Messages of the conversation with `peer`, newest first, older than message `before`
    /// (an id) when given.
    pub fn list_messages(
        &self,
        peer: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT m.id, c.peer, m.direction, m.sender, m.sent_at_ms, m.received_at_ms, m.body, m.state,
                            m.server_hash
                     FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE c.peer = ?1 AND (?2 IS NULL OR (m.sent_at_ms, m.id) <
                           (SELECT sent_at_ms, id FROM messages WHERE id = ?2))
                     ORDER BY m.sent_at_ms DESC, m.id DESC LIMIT ?3",
                )
                .map_err(|err| StoreError::sqlite(&path, "listing messages", err))?;
            stmt.query_map(params![peer, before, limit], row_to_message)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|err| StoreError::sqlite(&path, "listing messages", err))
        })
    }

    /// One message by id.
    pub fn message(&self, id: i64) -> Result<Option<MessageRow>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.query_row(
                "SELECT m.id, c.peer, m.direction, m.sender, m.sent_at_ms, m.received_at_ms, m.body, m.state,
                        m.server_hash
                 FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?1",
                [id],
                row_to_message,
            )
            .optional()
            .map_err(|err| StoreError::sqlite(&path, "reading message", err))
        })
    }

    /// Events with `seq > since`, oldest first.
    pub fn events_since(&self, since: i64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            let mut stmt = c
                .prepare("SELECT seq, kind, payload, created_at_ms FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(|err| StoreError::sqlite(&path, "reading events", err))?;
            stmt.query_map(params![since, limit], |r| {
                Ok(StoredEvent { seq: r.get(0)?, kind: r.get(1)?, payload: r.get(2)?, created_at_ms: r.get(3)? })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|err| StoreError::sqlite(&path, "reading events", err))
        })
    }

    /// Number of rejected messages (diagnostics and tests).
    pub fn rejected_count(&self) -> Result<i64, StoreError> {
        let path = self.path.clone();
        self.with_conn(|c| {
            c.query_row("SELECT count(*) FROM rejected_messages", [], |r| r.get(0))
                .map_err(|err| StoreError::sqlite(&path, "counting rejected messages", err))
        })
    }
}

fn row_to_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
    Ok(MessageRow {
        id: r.get(0)?,
        peer: r.get(1)?,
        direction: if r.get::<_, String>(2)? == "out" {
            Direction::Out
        } else {
            Direction::In
        },
        sender: r.get(3)?,
        sent_at_ms: r.get(4)?,
        received_at_ms: r.get(5)?,
        body: r.get(6)?,
        state: MessageState::parse(&r.get::<_, String>(7)?),
        server_hash: r.get(8)?,
    })
}

/// Store one received message in `tx`; `None` when its hash is known, or when it is our own
/// message that we already have.
fn insert_incoming_tx(
    tx: &Transaction<'_>,
    path: &Path,
    m: &NewIncoming,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let e = |op| move |err| StoreError::sqlite(path, op, err);
    if known_hash_tx(tx, &m.server_hash).map_err(e("checking hash"))? {
        return Ok(None);
    }
    // Our own message, seen again as a sync copy or after a crash between storing it and
    // recording the hash: keep the one we have.
    if m.direction == Direction::Out {
        let existing: Option<i64> = tx
            .prepare_cached(
                "SELECT id FROM messages WHERE direction = 'out' AND sender = ?1 AND sent_at_ms = ?2",
            )
            .and_then(|mut st| st.query_row(params![m.sender, m.sent_at_ms], |r| r.get(0)).optional())
            .map_err(e("looking up message"))?;
        if existing.is_some() {
            return Ok(None);
        }
    }
    let conv =
        conversation_id_tx(tx, m.kind, &m.peer, now_ms).map_err(e("writing conversation"))?;
    let (direction, state, read) = match m.direction {
        Direction::In => ("in", MessageState::Received, 0),
        Direction::Out => ("out", MessageState::Sent, 1),
    };
    tx.prepare_cached(
        "INSERT INTO messages (conversation_id, direction, sender, sent_at_ms, received_at_ms, body,
                               state, server_hash, expires_at_ms, read)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut st| {
        st.execute(params![
            conv,
            direction,
            m.sender,
            m.sent_at_ms,
            now_ms,
            m.body,
            state.as_str(),
            m.server_hash,
            m.expires_at_ms,
            read
        ])
    })
    .map_err(e("writing message"))?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "UPDATE conversations SET
           unread_count = unread_count + ?2,
           last_message_at_ms = max(coalesce(last_message_at_ms, 0), ?3),
           last_preview = CASE WHEN ?3 >= coalesce(last_message_at_ms, 0) THEN ?4 ELSE last_preview END
         WHERE id = ?1",
    )
    .and_then(|mut st| st.execute(params![conv, 1 - read, m.sent_at_ms, preview(m.body.as_deref())]))
    .map_err(e("updating conversation"))?;
    append_event_tx(
        tx,
        "message.added",
        &message_event(id, &m.peer, state),
        now_ms,
    )
    .map_err(e("appending event"))?;
    Ok(Some(id))
}

/// Record one rejected message in `tx`; false when its hash is known.
fn insert_rejected_tx(
    tx: &Transaction<'_>,
    path: &Path,
    namespace: i16,
    server_hash: &str,
    reason: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let e = |op| move |err| StoreError::sqlite(path, op, err);
    if known_hash_tx(tx, server_hash).map_err(e("checking hash"))? {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO rejected_messages (namespace, server_hash, reason, received_at_ms) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| st.execute(params![namespace, server_hash, reason, now_ms]))
    .map_err(e("writing rejected message"))?;
    let payload =
        serde_json::json!({ "namespace": namespace, "hash": server_hash, "reason": reason });
    append_event_tx(tx, "message.rejected", &payload.to_string(), now_ms)
        .map_err(e("appending event"))?;
    Ok(true)
}

fn set_cursor_tx(tx: &Transaction<'_>, cursor: &Cursor, now_ms: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO swarm_cursors (node, namespace, last_hash, expires_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(node, namespace) DO UPDATE SET last_hash = excluded.last_hash,
             expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        cursor.node,
        cursor.namespace,
        cursor.last_hash,
        cursor.expires_at_ms,
        now_ms
    ])?;
    Ok(())
}

fn known_hash_tx(tx: &Transaction<'_>, hash: &str) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE server_hash = ?1)
             OR EXISTS (SELECT 1 FROM rejected_messages WHERE server_hash = ?1)",
    )?
    .query_row([hash], |r| r.get(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db"), &[3; 32]).unwrap();
        (dir, s)
    }

    fn cursor(hash: &str) -> Cursor {
        Cursor {
            node: "n1".into(),
            namespace: 0,
            last_hash: hash.into(),
            expires_at_ms: Some(10_000),
        }
    }

    fn incoming(hash: &str, t: i64) -> NewIncoming {
        NewIncoming {
            kind: ConversationKind::Direct,
            peer: "05peer".into(),
            sender: "05peer".into(),
            direction: Direction::In,
            sent_at_ms: t,
            body: Some(format!("hi {t}")),
            server_hash: hash.into(),
            expires_at_ms: Some(10_000),
        }
    }

    fn outgoing(t: i64) -> NewOutgoing {
        NewOutgoing {
            kind: ConversationKind::Direct,
            peer: "05peer".into(),
            sender: "05me".into(),
            sent_at_ms: t,
            body: "hello".into(),
            copies: vec![
                OutgoingCopy {
                    destination: "05peer".into(),
                    namespace: 0,
                    payload: vec![1],
                },
                OutgoingCopy {
                    destination: "05me".into(),
                    namespace: 0,
                    payload: vec![2],
                },
            ],
        }
    }

    #[test]
    fn received_message_and_cursor_commit_together_and_duplicates_are_ignored() {
        let (_d, s) = store();
        assert!(
            s.insert_incoming(&incoming("h1", 5), &cursor("h1"), 1)
                .unwrap()
                .is_some()
        );
        assert_eq!(s.cursor("n1", 0, 2).unwrap().as_deref(), Some("h1"));
        // The same hash again (from another node of the swarm): not stored twice.
        assert!(
            s.insert_incoming(&incoming("h1", 5), &cursor("h1"), 2)
                .unwrap()
                .is_none()
        );
        let msgs = s.list_messages("05peer", None, 10).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].state, MessageState::Received);
        let conv = &s.list_conversations().unwrap()[0];
        assert_eq!(conv.unread_count, 1);
        assert_eq!(conv.last_preview.as_deref(), Some("hi 5"));
    }

    #[test]
    fn a_run_of_received_messages_commits_with_one_cursor_and_skips_known_hashes() {
        let (_d, s) = store();
        let (m1, m2) = (incoming("h1", 1), incoming("h2", 2));
        let items = [
            ReceivedItem::Message(&m1),
            ReceivedItem::Rejected {
                namespace: 0,
                server_hash: "bad",
                reason: "signature",
            },
            ReceivedItem::Message(&m2),
            // The same hash twice in one run: stored once.
            ReceivedItem::Message(&m2),
        ];
        let done = s.record_received(&items, &cursor("h2"), 3).unwrap();
        assert!(matches!(
            done[..],
            [
                Recorded::Stored(_),
                Recorded::Rejected,
                Recorded::Stored(_),
                Recorded::Known
            ]
        ));
        assert_eq!(s.cursor("n1", 0, 4).unwrap().as_deref(), Some("h2"));
        let known = s.known_hashes(&["h1", "bad", "h3"]).unwrap();
        assert_eq!(known.len(), 2);
        assert!(known.contains("h1") && known.contains("bad"));
        // An empty run still moves the cursor (every message of it was a duplicate).
        assert!(s.record_received(&[], &cursor("h9"), 5).unwrap().is_empty());
        assert_eq!(s.cursor("n1", 0, 6).unwrap().as_deref(), Some("h9"));
        assert_eq!(s.list_messages("05peer", None, 10).unwrap().len(), 2);
        let added = s
            .events_since(0, 10)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "message.added")
            .count();
        assert_eq!(added, 2);
    }

    #[test]
    fn cursor_is_forgotten_once_its_message_expired() {
        let (_d, s) = store();
        s.set_cursor(&cursor("h1"), 1).unwrap();
        assert!(s.cursor("n1", 0, 9_999).unwrap().is_some());
        assert!(s.cursor("n1", 0, 10_000).unwrap().is_none());
        assert!(
            s.cursor("n2", 0, 1).unwrap().is_none(),
            "cursors are per node"
        );
    }

    #[test]
    fn rejected_messages_are_recorded_once_with_their_reason() {
        let (_d, s) = store();
        assert!(
            s.insert_rejected(0, "bad", "signature", &cursor("bad"), 1)
                .unwrap()
        );
        assert!(
            !s.insert_rejected(0, "bad", "signature", &cursor("bad"), 2)
                .unwrap()
        );
        assert_eq!(s.rejected_count().unwrap(), 1);
        assert!(s.knows_hash("bad").unwrap());
        let ev = s.events_since(0, 10).unwrap();
        assert_eq!(
            ev.iter().filter(|e| e.kind == "message.rejected").count(),
            1
        );
    }

    #[test]
    fn outgoing_message_is_sent_once_every_copy_is_stored() {
        let (_d, s) = store();
        let id = s.insert_outgoing(&outgoing(7), 1).unwrap();
        // Enqueuing the same message again (a retried call) returns the same id.
        assert_eq!(s.insert_outgoing(&outgoing(7), 1).unwrap(), id);
        let due = s.due_outbox(1, 10).unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].sent_at_ms, 7);
        assert_eq!(
            s.outbox_done(due[0].id, Some("hp"), 2).unwrap(),
            Some(MessageState::Pending)
        );
        s.outbox_retry_later(due[1].id, "timeout", 100).unwrap();
        assert!(s.due_outbox(50, 10).unwrap().is_empty());
        assert_eq!(s.next_outbox_due().unwrap(), Some(100));
        assert_eq!(
            s.outbox_done(due[1].id, Some("hs"), 101).unwrap(),
            Some(MessageState::Sent)
        );
        let m = s.message(id).unwrap().unwrap();
        assert_eq!(m.state, MessageState::Sent);
        assert_eq!(
            m.server_hash.as_deref(),
            Some("hp"),
            "the recipient copy's hash names the message"
        );
        let kinds: Vec<_> = s
            .events_since(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["message.added", "message.changed"]);
    }

    #[test]
    fn giving_up_on_a_copy_fails_the_message_and_clears_its_outbox() {
        let (_d, s) = store();
        let id = s.insert_outgoing(&outgoing(7), 1).unwrap();
        let due = s.due_outbox(1, 10).unwrap();
        assert_eq!(
            s.outbox_give_up(due[0].id, "swarm unreachable", 2).unwrap(),
            Some(MessageState::Failed)
        );
        assert!(s.due_outbox(i64::MAX, 10).unwrap().is_empty());
        assert_eq!(s.message(id).unwrap().unwrap().state, MessageState::Failed);
    }

    #[test]
    fn our_own_message_seen_again_as_a_sync_copy_is_not_duplicated() {
        let (_d, s) = store();
        s.insert_outgoing(&outgoing(7), 1).unwrap();
        let mut sync = incoming("hs", 7);
        sync.direction = Direction::Out;
        sync.sender = "05me".into();
        assert!(
            s.insert_incoming(&sync, &cursor("hs"), 2)
                .unwrap()
                .is_none()
        );
        assert_eq!(s.list_messages("05peer", None, 10).unwrap().len(), 1);
    }

    #[test]
    fn paging_goes_back_in_time_without_gaps_or_repeats() {
        let (_d, s) = store();
        for t in 0..25 {
            s.insert_incoming(&incoming(&format!("h{t}"), t), &cursor(&format!("h{t}")), 1)
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = s.list_messages("05peer", before, 10).unwrap();
            if page.is_empty() {
                break;
            }
            before = page.last().map(|m| m.id);
            seen.extend(page.into_iter().map(|m| m.sent_at_ms));
        }
        assert_eq!(seen, (0..25).rev().collect::<Vec<_>>());
    }

    #[test]
    fn a_version_1_database_migrates_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let v1 = Store::open_at(&path, &[3; 32], 1).unwrap();
        assert_eq!(v1.schema_version().unwrap(), 1);
        v1.init_account(&super::super::AccountRow {
            account_id: "05me".into(),
            name: Some("Me".into()),
            created_at_ms: 1,
        })
        .unwrap();
        v1.with_conn(|c| {
            c.execute_batch(
                "INSERT INTO conversations (kind, peer, created_at_ms) VALUES ('direct', '05peer', 0);
                 INSERT INTO messages (conversation_id, direction, sender, sent_at_ms, body, state)
                 VALUES (1, 'in', '05peer', 3, 'from v1', 'received');",
            )
            .unwrap();
            Ok(())
        })
        .unwrap();
        drop(v1);
        let s = Store::open(&path, &[3; 32]).unwrap();
        assert_eq!(s.schema_version().unwrap(), super::super::CURRENT_VERSION);
        assert_eq!(s.account().unwrap().name.as_deref(), Some("Me"));
        let msgs = s.list_messages("05peer", None, 10).unwrap();
        assert_eq!(msgs[0].body.as_deref(), Some("from v1"));
        s.set_cursor(&cursor("h"), 1).unwrap();
    }
}
