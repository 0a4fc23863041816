//! The account database: one SQLCipher-encrypted SQLite file per account.
//!
//! Why it exists: everything the daemon knows about an account beyond its keys — contacts,
//! conversations, messages (with a full-text index), the outbox, swarm cursors and the event
//! log — lives here, encrypted at rest with a random 256-bit key kept in the keystore.
//!
//! The connection is synchronous (rusqlite); async callers go through
//! `tokio::task::spawn_blocking`. Every write that must be atomic with another (a received
//! message and its swarm cursor, a state change and its event) is one transaction.

mod messages;
mod migrations;

pub use messages::{
    ConversationKind, ConversationRow, Cursor, Direction, MessageRow, MessageState, NewIncoming,
    NewOutgoing, OutboxItem, OutgoingCopy, ReceivedItem, Recorded, StoredEvent,
};

pub use migrations::CURRENT_VERSION;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Length of a database key in bytes.
pub const KEY_LEN: usize = 32;

/// What can go wrong opening or using an account database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not open the database (or the file is not a database at all).
    #[error("cannot open database {path}: wrong key or not a sessiond database")]
    WrongKey {
        /// The database file.
        path: PathBuf,
    },
    /// The database was written by a newer sessiond.
    #[error("database {path} has schema version {found}, this sessiond supports up to {supported}")]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// The key handed in has the wrong length.
    #[error("database key has {0} bytes, expected 32")]
    BadKeyLength(usize),
    /// SQLite failed.
    #[error("database {path}: {op}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What we were doing.
        op: &'static str,
        /// The underlying error.
        source: rusqlite::Error,
    },
    /// The account row is missing: the database was never initialised.
    #[error("database {path} holds no account")]
    NoAccount {
        /// The database file.
        path: PathBuf,
    },
    /// A lock guarding the connection was poisoned by a panic in another thread.
    #[error("database {path}: connection lock poisoned")]
    Poisoned {
        /// The database file.
        path: PathBuf,
    },
}

impl StoreError {
    pub(crate) fn sqlite(path: &Path, op: &'static str, source: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            path: path.to_owned(),
            op,
            source,
        }
    }
}

impl sessiond_protocol::HasKind for StoreError {
    fn kind(&self) -> sessiond_protocol::ErrorKind {
        use sessiond_protocol::ErrorKind;
        match self {
            StoreError::WrongKey { .. }
            | StoreError::TooNew { .. }
            | StoreError::NoAccount { .. } => ErrorKind::StorageCorrupt,
            StoreError::BadKeyLength(_) | StoreError::Poisoned { .. } => ErrorKind::Internal,
            StoreError::Sqlite { .. } => ErrorKind::StorageFailure,
        }
    }
}

/// The account row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// The Account ID this database belongs to.
    pub account_id: String,
    /// Display name, if set.
    pub name: Option<String>,
    /// When the account was created or restored here (Unix ms).
    pub created_at_ms: i64,
}

/// An open account database.
pub struct Store {
    /// Path of the database file, for error context.
    path: PathBuf,
    /// The one connection; SQLite serialises writers anyway, and WAL lets reads proceed.
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating if absent) the database at `path` with `key`, and migrate it.
    ///
    /// Fails with [`StoreError::WrongKey`] when the key does not decrypt an existing file.
    pub fn open(path: &Path, key: &[u8]) -> Result<Store, StoreError> {
        Self::open_at(path, key, CURRENT_VERSION)
    }

    /// [`Store::open`], migrating only up to schema `version` (compatibility tests build
    /// databases of older versions with it).
    pub(crate) fn open_at(path: &Path, key: &[u8], version: u32) -> Result<Store, StoreError> {
        let _span = tracing::debug_span!("store_open", path = %path.display()).entered();
        if key.len() != KEY_LEN {
            return Err(StoreError::BadKeyLength(key.len()));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(path, "opening", e))?;
        // SQLCipher would print decryption failures to stderr itself; we report them as errors.
        conn.execute_batch("PRAGMA cipher_log_level = NONE;")
            .map_err(|e| StoreError::sqlite(path, "configuring logging", e))?;
        // A raw key (no KDF): the key is already 256 random bits.
        let pragma = Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex::encode(key)));
        conn.execute_batch(&pragma)
            .map_err(|e| StoreError::sqlite(path, "setting key", e))?;
        drop(pragma);
        // The first read of the schema is where a wrong key shows.
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::NotADatabase =>
            {
                return Err(StoreError::WrongKey {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(StoreError::sqlite(path, "reading schema", e)),
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;
             PRAGMA secure_delete = ON;",
        )
        .map_err(|e| StoreError::sqlite(path, "configuring", e))?;
        migrations::migrate_to(&mut conn, path, version)?;
        Ok(Store {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.conn.lock().map_err(|_| StoreError::Poisoned {
            path: self.path.clone(),
        })?;
        f(&mut guard)
    }

    /// Record which account this database belongs to. Fails if a different account is there.
    pub fn init_account(&self, row: &AccountRow) -> Result<(), StoreError> {
        let path = &self.path;
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO account (id, account_id, name, created_at_ms) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name
                 WHERE account.account_id = excluded.account_id",
                params![row.account_id, row.name, row.created_at_ms],
            )
            .map_err(|e| StoreError::sqlite(path, "writing account", e))?;
            Ok(())
        })
    }

    /// The account row.
    pub fn account(&self) -> Result<AccountRow, StoreError> {
        let path = &self.path;
        self.with_conn(|c| {
            c.query_row(
                "SELECT account_id, name, created_at_ms FROM account WHERE id = 1",
                [],
                |r| {
                    Ok(AccountRow {
                        account_id: r.get(0)?,
                        name: r.get(1)?,
                        created_at_ms: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| StoreError::sqlite(path, "reading account", e))?
            .ok_or_else(|| StoreError::NoAccount { path: path.clone() })
        })
    }

    /// Append an event to the log; returns its sequence number.
    pub fn append_event(&self, kind: &str, payload: &str, now_ms: i64) -> Result<i64, StoreError> {
        let path = &self.path;
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO events (kind, payload, created_at_ms) VALUES (?1, ?2, ?3)",
                params![kind, payload, now_ms],
            )
            .map_err(|e| StoreError::sqlite(path, "appending event", e))?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let path = &self.path;
        self.with_conn(|c| {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(|e| StoreError::sqlite(path, "reading schema version", e))
        })
    }

    /// Names of the tables in the database (for tests and diagnostics).
    pub fn table_names(&self) -> Result<Vec<String>, StoreError> {
        let path = &self.path;
        self.with_conn(|c| {
            let mut stmt = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .map_err(|e| StoreError::sqlite(path, "listing tables", e))?;
            let names = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| StoreError::sqlite(path, "listing tables", e))?
                .collect::<Result<Vec<String>, _>>()
                .map_err(|e| StoreError::sqlite(path, "listing tables", e))?;
            Ok(names)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn row() -> AccountRow {
        AccountRow {
            account_id: format!("05{}", "ab".repeat(32)),
            name: Some("Alice".into()),
            created_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn fresh_database_is_migrated_to_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &[7; 32]).unwrap();
        assert_eq!(store.schema_version().unwrap(), CURRENT_VERSION);
        let tables = store.table_names().unwrap();
        for t in [
            "account",
            "contacts",
            "conversations",
            "messages",
            "messages_fts",
            "outbox",
            "swarm_cursors",
            "rejected_messages",
            "events",
        ] {
            assert!(
                tables.iter().any(|n| n == t),
                "missing table {t}: {tables:?}"
            );
        }
    }

    #[test]
    fn reopening_with_the_same_key_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        Store::open(&path, &[7; 32])
            .unwrap()
            .init_account(&row())
            .unwrap();
        let store = Store::open(&path, &[7; 32]).unwrap();
        assert_eq!(store.account().unwrap(), row());
    }

    #[test]
    fn wrong_key_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        Store::open(&path, &[7; 32])
            .unwrap()
            .init_account(&row())
            .unwrap();
        let err = Store::open(&path, &[8; 32]).unwrap_err();
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err:?}");
        assert!(err.to_string().contains("wrong key"));
    }

    #[test]
    fn database_file_is_encrypted_at_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, &[7; 32]).unwrap();
        store.init_account(&row()).unwrap();
        drop(store);
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.starts_with(b"SQLite format 3"));
        let needle = row().account_id;
        assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()));
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path, &[7; 32]).unwrap();
        store
            .with_conn(|c| {
                c.pragma_update(None, "user_version", CURRENT_VERSION + 1)
                    .unwrap();
                Ok(())
            })
            .unwrap();
        drop(store);
        let err = Store::open(&path, &[7; 32]).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
    }

    #[test]
    fn event_sequence_numbers_strictly_increase() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &[7; 32]).unwrap();
        let a = store.append_event("x", "{}", 1).unwrap();
        let b = store.append_event("x", "{}", 2).unwrap();
        assert!(b > a);
    }

    #[test]
    fn full_text_index_follows_message_inserts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &[7; 32]).unwrap();
        store
            .with_conn(|c| {
                c.execute_batch(
                    "INSERT INTO conversations (kind, peer, created_at_ms) VALUES ('direct', 'p', 0);
                     INSERT INTO messages (conversation_id, direction, sender, sent_at_ms, body, state)
                     VALUES (1, 'in', 'p', 1, 'hello onion world', 'received');",
                )
                .unwrap();
                let n: i64 = c
                    .query_row(
                        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'onion'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                assert_eq!(n, 1);
                Ok(())
            })
            .unwrap();
    }
}
