-- Schema version 1 of an account database. Applied inside one transaction.

-- The account this database belongs to (exactly one row).
CREATE TABLE account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    account_id    TEXT NOT NULL,
    name          TEXT,
    created_at_ms INTEGER NOT NULL
);

-- People we know: from conversations, message requests, received profiles.
CREATE TABLE contacts (
    account_id     TEXT PRIMARY KEY,
    display_name   TEXT,
    nickname       TEXT,
    blocked        INTEGER NOT NULL DEFAULT 0,
    approved       INTEGER NOT NULL DEFAULT 0,
    approved_me    INTEGER NOT NULL DEFAULT 0,
    updated_at_ms  INTEGER NOT NULL
);

-- One row per conversation (1:1 for now; groups and communities later use other kinds).
CREATE TABLE conversations (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('direct', 'note_to_self', 'group', 'community')),
    peer               TEXT NOT NULL UNIQUE,
    unread_count       INTEGER NOT NULL DEFAULT 0,
    muted_until_ms     INTEGER,
    pinned             INTEGER NOT NULL DEFAULT 0,
    archived           INTEGER NOT NULL DEFAULT 0,
    is_request         INTEGER NOT NULL DEFAULT 0,
    disappearing_mode  TEXT,
    disappearing_secs  INTEGER,
    last_message_at_ms INTEGER,
    created_at_ms      INTEGER NOT NULL
);

-- Every message, in or out. `server_hash` is the swarm's message hash (dedup key on receive).
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    sender          TEXT NOT NULL,
    sent_at_ms      INTEGER NOT NULL,
    received_at_ms  INTEGER,
    body            TEXT,
    state           TEXT NOT NULL,
    server_hash     TEXT UNIQUE,
    expires_at_ms   INTEGER,
    read            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, sent_at_ms);
CREATE UNIQUE INDEX messages_out_unique ON messages(sender, sent_at_ms) WHERE direction = 'out';

-- Full-text index over message bodies (external content: the text lives in `messages`).
CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;

-- Messages accepted for sending and not yet acknowledged by the network (durable outbox).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    destination     TEXT NOT NULL,
    namespace       INTEGER NOT NULL DEFAULT 0,
    payload         BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error      TEXT
);

-- Where polling left off, per swarm namespace.
CREATE TABLE swarm_cursors (
    namespace     INTEGER PRIMARY KEY,
    last_hash     TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
);

-- Received messages deliberately not stored as messages, with why (never silently dropped).
CREATE TABLE rejected_messages (
    id             INTEGER PRIMARY KEY,
    namespace      INTEGER NOT NULL,
    server_hash    TEXT NOT NULL UNIQUE,
    reason         TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL
);

-- Append-only log of state changes; `seq` strictly increases.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
