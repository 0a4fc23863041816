//! A service node's message store: one SQLite database per node, shaped after the storage
//! server's (`oxenss/storage/database.cpp`): messages in insertion order per owner and
//! namespace, unique by hash, with an expiry; revoked subaccount tokens per owner.
//!
//! Every operation takes `now` and treats messages whose expiry has passed as gone (they are
//! deleted first), so expiry follows the devnet clock exactly.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::error::DevnetError;

/// Rough per-message overhead the storage server counts toward `max_size` (JSON keys etc.).
const MESSAGE_OVERHEAD: usize = 100;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredMessage {
    /// The 43-character message hash.
    pub hash: String,
    /// Namespace.
    pub namespace: i16,
    /// The `timestamp` given to `store` (ms).
    pub timestamp: i64,
    /// Expiry (ms).
    pub expiry: i64,
    /// The raw message bytes.
    pub data: Vec<u8>,
}

/// The result of storing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stored {
    /// False when a message with the same hash was already there.
    pub new: bool,
    /// The message's expiry after the store (a duplicate may extend it).
    pub expiry: i64,
}

/// One node's database.
pub(crate) struct Store {
    /// The connection; SQLite work is short, so a plain mutex is enough.
    conn: Mutex<Connection>,
    /// Where it lives, for error messages.
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path)
    }
}

/// A database failure as a devnet error.
fn db_err(path: &str) -> impl Fn(rusqlite::Error) -> DevnetError + '_ {
    move |source| DevnetError::Database {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or an in-memory one.
    pub fn open(path: Option<&Path>) -> Result<Store, DevnetError> {
        let name = path.map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(db_err(&name))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS messages (
                 id INTEGER PRIMARY KEY,
                 owner BLOB NOT NULL,
                 namespace INTEGER NOT NULL,
                 hash TEXT NOT NULL UNIQUE,
                 timestamp INTEGER NOT NULL,
                 expiry INTEGER NOT NULL,
                 data BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS messages_owner ON messages(owner, namespace, id);
             CREATE INDEX IF NOT EXISTS messages_expiry ON messages(expiry);
             CREATE TABLE IF NOT EXISTS revoked_subaccounts (
                 owner BLOB NOT NULL,
                 token BLOB NOT NULL,
                 timestamp INTEGER NOT NULL,
                 PRIMARY KEY (owner, token)
             );",
        )
        .map_err(db_err(&name))?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: name,
        })
    }

    /// Runs `f` on the connection after removing what expired at `now`.
    fn with<T>(
        &self,
        now: i64,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DevnetError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.execute("DELETE FROM messages WHERE expiry <= ?1", params![now])
            .map_err(db_err(&self.path))?;
        f(&conn).map_err(db_err(&self.path))
    }

    /// Deletes what expired at `now` (also done before every other operation).
    pub fn clean_expired(&self, now: i64) -> Result<(), DevnetError> {
        self.with(now, |_| Ok(()))
    }

    /// Stores a message; a public outbox keeps only the newest message; a duplicate hash keeps
    /// the later expiry.
    pub fn store(
        &self,
        now: i64,
        owner: &[u8; 33],
        message: &StoredMessage,
        public_outbox: bool,
    ) -> Result<Stored, DevnetError> {
        self.with(now, |conn| {
            let tx = conn.unchecked_transaction()?;
            if public_outbox {
                tx.execute(
                    "DELETE FROM messages WHERE owner = ?1 AND namespace = ?2 AND hash != ?3",
                    params![owner.as_slice(), message.namespace, message.hash],
                )?;
            }
            let existing: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT id, expiry FROM messages WHERE hash = ?1",
                    params![message.hash],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let stored = match existing {
                Some((id, expiry)) if expiry < message.expiry => {
                    tx.execute(
                        "UPDATE messages SET expiry = ?1 WHERE id = ?2",
                        params![message.expiry, id],
                    )?;
                    Stored {
                        new: false,
                        expiry: message.expiry,
                    }
                }
                Some((_, expiry)) => Stored { new: false, expiry },
                None => {
                    tx.execute(
                        "INSERT INTO messages (owner, namespace, hash, timestamp, expiry, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            owner.as_slice(),
                            message.namespace,
                            message.hash,
                            message.timestamp,
                            message.expiry,
                            message.data
                        ],
                    )?;
                    Stored {
                        new: true,
                        expiry: message.expiry,
                    }
                }
            };
            tx.commit()?;
            Ok(stored)
        })
    }

    /// Messages of `owner` in `namespace` stored after `last_hash` (from the start when it is
    /// empty or unknown here), at most `max_count` and about `max_size` bytes (at least one
    /// message); the flag says whether more remain.
    pub fn retrieve(
        &self,
        now: i64,
        owner: &[u8; 33],
        namespace: i16,
        last_hash: Option<&str>,
        max_count: Option<usize>,
        max_size: Option<usize>,
    ) -> Result<(Vec<StoredMessage>, bool), DevnetError> {
        self.with(now, |conn| {
            let last_id: Option<i64> = match last_hash {
                Some(hash) => conn
                    .query_row(
                        "SELECT id FROM messages WHERE owner = ?1 AND namespace = ?2 AND hash = ?3",
                        params![owner.as_slice(), namespace, hash],
                        |row| row.get(0),
                    )
                    .optional()?,
                None => None,
            };
            let limit =
                max_count.map_or(-1, |n| i64::try_from(n.max(1)).unwrap_or(i64::MAX - 1) + 1);
            let mut statement = conn.prepare_cached(
                "SELECT hash, namespace, timestamp, expiry, data FROM messages
                 WHERE owner = ?1 AND namespace = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )?;
            let rows = statement.query_map(
                params![owner.as_slice(), namespace, last_id.unwrap_or(0), limit],
                |row| {
                    Ok(StoredMessage {
                        hash: row.get(0)?,
                        namespace: row.get(1)?,
                        timestamp: row.get(2)?,
                        expiry: row.get(3)?,
                        data: row.get(4)?,
                    })
                },
            )?;
            let mut out = Vec::new();
            let mut more = false;
            let mut size = 0usize;
            for row in rows {
                let message = row?;
                if max_count.is_some_and(|max| out.len() >= max.max(1)) {
                    more = true;
                    break;
                }
                if let Some(max) = max_size {
                    size += MESSAGE_OVERHEAD + message.hash.len() + message.data.len() * 4 / 3;
                    if !out.is_empty() && size > max {
                        more = true;
                        break;
                    }
                }
                out.push(message);
            }
            Ok((out, more))
        })
    }

    /// Deletes every message of `owner` (in `namespace`, or all of them): (namespace, hash).
    pub fn delete_all(
        &self,
        now: i64,
        owner: &[u8; 33],
        namespace: Option<i16>,
    ) -> Result<Vec<(i16, String)>, DevnetError> {
        self.with(now, |conn| {
            let mut statement = conn.prepare_cached(
                "DELETE FROM messages WHERE owner = ?1 AND (?2 IS NULL OR namespace = ?2)
                 RETURNING namespace, hash",
            )?;
            let rows = statement
                .query_map(params![owner.as_slice(), namespace], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Deletes `owner`'s messages with these hashes (any namespace); the hashes deleted.
    pub fn delete_by_hash(
        &self,
        now: i64,
        owner: &[u8; 33],
        hashes: &[String],
    ) -> Result<Vec<String>, DevnetError> {
        self.with(now, |conn| {
            let mut statement = conn.prepare_cached(
                "DELETE FROM messages WHERE owner = ?1 AND hash = ?2 RETURNING hash",
            )?;
            let mut deleted = Vec::new();
            for hash in hashes {
                let mut rows = statement.query(params![owner.as_slice(), hash])?;
                while let Some(row) = rows.next()? {
                    deleted.push(row.get(0)?);
                }
            }
            Ok(deleted)
        })
    }

    /// Deletes `owner`'s messages with `timestamp <= before` (in `namespace`, or all).
    pub fn delete_before(
        &self,
        now: i64,
        owner: &[u8; 33],
        namespace: Option<i16>,
        before: i64,
    ) -> Result<Vec<(i16, String)>, DevnetError> {
        self.with(now, |conn| {
            let mut statement = conn.prepare_cached(
                "DELETE FROM messages WHERE owner = ?1 AND timestamp <= ?2
                 AND (?3 IS NULL OR namespace = ?3) RETURNING namespace, hash",
            )?;
            let rows = statement
                .query_map(params![owner.as_slice(), before, namespace], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Sets the expiry of `owner`'s messages `hashes[i]` to `expiries[i]` (or `expiries[0]` for
    /// all), only later ones with `extend_only`, only earlier ones with `shorten_only`; returns
    /// (hash, new expiry) of the messages changed.
    pub fn update_expiry(
        &self,
        now: i64,
        owner: &[u8; 33],
        hashes: &[String],
        expiries: &[i64],
        extend_only: bool,
        shorten_only: bool,
    ) -> Result<Vec<(String, i64)>, DevnetError> {
        self.with(now, |conn| {
            let constraint = if extend_only {
                " AND expiry < ?1"
            } else if shorten_only {
                " AND expiry > ?1"
            } else {
                ""
            };
            let sql = format!(
                "UPDATE messages SET expiry = ?1 WHERE hash = ?2 AND owner = ?3{constraint}"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let mut updated = Vec::new();
            for (i, hash) in hashes.iter().enumerate() {
                let Some(&expiry) = expiries.get(i).or_else(|| expiries.first()) else {
                    break;
                };
                if statement.execute(params![expiry, hash, owner.as_slice()])? > 0 {
                    updated.push((hash.clone(), expiry));
                }
            }
            Ok(updated)
        })
    }

    /// Expiries of `owner`'s messages among `hashes` (unknown ones are left out).
    pub fn get_expiries(
        &self,
        now: i64,
        owner: &[u8; 33],
        hashes: &[String],
    ) -> Result<BTreeMap<String, i64>, DevnetError> {
        self.with(now, |conn| {
            let mut statement =
                conn.prepare_cached("SELECT expiry FROM messages WHERE owner = ?1 AND hash = ?2")?;
            let mut out = BTreeMap::new();
            for hash in hashes {
                if let Some(expiry) = statement
                    .query_row(params![owner.as_slice(), hash], |row| row.get::<_, i64>(0))
                    .optional()?
                {
                    out.insert(hash.clone(), expiry);
                }
            }
            Ok(out)
        })
    }

    /// Shortens every later expiry of `owner`'s messages (in `namespace`, or all) to `expiry`.
    pub fn update_all_expiries(
        &self,
        now: i64,
        owner: &[u8; 33],
        namespace: Option<i16>,
        expiry: i64,
    ) -> Result<Vec<(i16, String)>, DevnetError> {
        self.with(now, |conn| {
            let mut statement = conn.prepare_cached(
                "UPDATE messages SET expiry = ?1 WHERE expiry > ?1 AND owner = ?2
                 AND (?3 IS NULL OR namespace = ?3) RETURNING namespace, hash",
            )?;
            let rows = statement
                .query_map(params![expiry, owner.as_slice(), namespace], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// Revokes subaccount tokens of `owner` (the 50 most recent revocations are kept).
    pub fn revoke(
        &self,
        now: i64,
        owner: &[u8; 33],
        tokens: &[[u8; 36]],
    ) -> Result<(), DevnetError> {
        self.with(now, |conn| {
            for token in tokens {
                conn.execute(
                    "INSERT INTO revoked_subaccounts (owner, token, timestamp) VALUES (?1, ?2, ?3)
                     ON CONFLICT(owner, token) DO UPDATE SET timestamp = excluded.timestamp",
                    params![owner.as_slice(), token.as_slice(), now],
                )?;
            }
            conn.execute(
                "DELETE FROM revoked_subaccounts WHERE owner = ?1 AND token NOT IN (
                     SELECT token FROM revoked_subaccounts WHERE owner = ?1
                     ORDER BY timestamp DESC LIMIT 50)",
                params![owner.as_slice()],
            )?;
            Ok(())
        })
    }

    /// Un-revokes tokens; how many were revoked.
    pub fn unrevoke(
        &self,
        now: i64,
        owner: &[u8; 33],
        tokens: &[[u8; 36]],
    ) -> Result<usize, DevnetError> {
        self.with(now, |conn| {
            let mut count = 0;
            for token in tokens {
                count += conn.execute(
                    "DELETE FROM revoked_subaccounts WHERE owner = ?1 AND token = ?2",
                    params![owner.as_slice(), token.as_slice()],
                )?;
            }
            Ok(count)
        })
    }

    /// Whether `token` is revoked for `owner`.
    pub fn is_revoked(
        &self,
        now: i64,
        owner: &[u8; 33],
        token: &[u8; 36],
    ) -> Result<bool, DevnetError> {
        self.with(now, |conn| {
            conn.query_row(
                "SELECT 1 FROM revoked_subaccounts WHERE owner = ?1 AND token = ?2",
                params![owner.as_slice(), token.as_slice()],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
    }

    /// How many messages are stored (expired ones included until the next operation).
    pub fn message_count(&self) -> Result<usize, DevnetError> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        conn.query_row("SELECT COUNT(*) FROM messages", [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|n| usize::try_from(n).unwrap_or(0))
        .map_err(db_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(hash: &str, expiry: i64) -> StoredMessage {
        StoredMessage {
            hash: hash.to_owned(),
            namespace: 0,
            timestamp: 1,
            expiry,
            data: vec![7; 10],
        }
    }

    #[test]
    fn retrieve_follows_last_hash_limits_and_expiry() {
        let store = Store::open(None).unwrap();
        let owner = [5u8; 33];
        for (i, hash) in ["a", "b", "c"].iter().enumerate() {
            let stored = store
                .store(0, &owner, &message(hash, 100 + i as i64), false)
                .unwrap();
            assert!(stored.new);
        }
        let dup = store.store(0, &owner, &message("a", 50), false).unwrap();
        assert_eq!(
            dup,
            Stored {
                new: false,
                expiry: 100
            }
        );
        let (all, more) = store.retrieve(0, &owner, 0, None, None, None).unwrap();
        assert_eq!(all.len(), 3);
        assert!(!more);
        let (after_a, _) = store.retrieve(0, &owner, 0, Some("a"), None, None).unwrap();
        assert_eq!(
            after_a.iter().map(|m| m.hash.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        let (unknown, _) = store
            .retrieve(0, &owner, 0, Some("zz"), None, None)
            .unwrap();
        assert_eq!(unknown.len(), 3);
        let (one, more) = store.retrieve(0, &owner, 0, None, Some(1), None).unwrap();
        assert_eq!((one.len(), more), (1, true));
        let (tiny, more) = store.retrieve(0, &owner, 0, None, None, Some(1)).unwrap();
        assert_eq!((tiny.len(), more), (1, true));
        // At 100 the first message (expiry 100) is gone.
        let (left, _) = store.retrieve(100, &owner, 0, None, None, None).unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(store.message_count().unwrap(), 2);
    }

    #[test]
    fn deletes_expiries_and_revocations() {
        let store = Store::open(None).unwrap();
        let owner = [5u8; 33];
        store.store(0, &owner, &message("a", 100), false).unwrap();
        store.store(0, &owner, &message("b", 100), false).unwrap();
        let updated = store
            .update_expiry(0, &owner, &["a".into(), "b".into()], &[200], true, false)
            .unwrap();
        assert_eq!(updated.len(), 2);
        let none = store
            .update_expiry(0, &owner, &["a".into()], &[150], true, false)
            .unwrap();
        assert!(none.is_empty());
        let expiries = store
            .get_expiries(0, &owner, &["a".into(), "x".into()])
            .unwrap();
        assert_eq!(expiries.get("a"), Some(&200));
        assert_eq!(expiries.len(), 1);
        assert_eq!(
            store.delete_by_hash(0, &owner, &["a".into()]).unwrap(),
            ["a"]
        );
        assert_eq!(
            store
                .update_all_expiries(0, &owner, Some(0), 10)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.delete_all(0, &owner, None).unwrap().len(), 1);
        let token = [1u8; 36];
        store.revoke(0, &owner, &[token]).unwrap();
        assert!(store.is_revoked(0, &owner, &token).unwrap());
        assert_eq!(store.unrevoke(0, &owner, &[token]).unwrap(), 1);
        assert!(!store.is_revoked(0, &owner, &token).unwrap());
    }
}
