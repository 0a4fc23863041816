-- Schema version 2: polling cursors are per service node (each node numbers its messages in
-- its own order, so a hash from one node means nothing to another), and expire with the
-- message they name. The v1 table held no data yet.
DROP TABLE swarm_cursors;
CREATE TABLE swarm_cursors (
    node          TEXT NOT NULL,
    namespace     INTEGER NOT NULL,
    last_hash     TEXT NOT NULL,
    expires_at_ms INTEGER,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (node, namespace)
);

-- Where each outgoing message goes: the recipient's swarm and our own (sync copy). One row per
-- copy, kept until the swarm acknowledged it. `stored_hash` is the swarm's hash once stored.
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE outbox ADD COLUMN created_at_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_due ON outbox(next_attempt_ms);

-- A short preview of the last message, so listing conversations reads one table.
ALTER TABLE conversations ADD COLUMN last_preview TEXT;
