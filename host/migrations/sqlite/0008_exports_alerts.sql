-- Exports: each request is kept (its query sealed, since filter values can be personal data);
-- one above the requester's limit waits for a second administrator. The data itself is never
-- stored: it is produced under the requester's permissions when downloaded.
CREATE TABLE export_requests (
    id           TEXT PRIMARY KEY,
    requested_by TEXT NOT NULL REFERENCES users (id),
    object       TEXT NOT NULL,
    format       TEXT NOT NULL CHECK (format IN ('csv', 'json')),
    query_sealed TEXT NOT NULL,
    key_id       TEXT NOT NULL REFERENCES data_keys (id),
    record_count INTEGER NOT NULL,
    limit_at_request INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('ready', 'pending_approval', 'approved', 'rejected', 'downloaded')),
    decided_by   TEXT,
    decided_at   INTEGER,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    downloaded_at INTEGER
);
CREATE INDEX export_requests_status ON export_requests (status, created_at);

-- Alerts raised by rules over the audit trail, each linked to the entries that raised it, and
-- delivered to a webhook when one is configured.
CREATE TABLE alerts (
    id                TEXT PRIMARY KEY,
    rule              TEXT NOT NULL,
    actor             TEXT NOT NULL,
    summary           TEXT NOT NULL,
    audit_seqs        TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('open', 'acknowledged')),
    created_at        INTEGER NOT NULL,
    acknowledged_by   TEXT,
    acknowledged_at   INTEGER,
    delivery_state    TEXT NOT NULL CHECK (delivery_state IN ('none', 'pending', 'delivered', 'failed')),
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    next_delivery_at  INTEGER NOT NULL DEFAULT 0,
    dedupe_key        TEXT NOT NULL UNIQUE
);
CREATE INDEX alerts_status ON alerts (status, created_at);
CREATE INDEX alerts_delivery ON alerts (delivery_state, next_delivery_at);

-- How far the rules have read the audit trail (one row; locked by the node that evaluates).
CREATE TABLE alert_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL
);

-- Addresses each user has signed in from, for the new-address rule.
CREATE TABLE known_addresses (
    username   TEXT NOT NULL,
    address    TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (username, address)
);

-- A record's change history reads the audit trail by record.
CREATE INDEX audit_record ON audit_log (record_id, seq);
