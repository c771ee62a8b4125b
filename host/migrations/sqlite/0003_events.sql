-- Record events, written in the same transaction as the change (a durable outbox), and their
-- deliveries to subscribed plugins.
CREATE TABLE record_events (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    object         TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    changed_fields TEXT NOT NULL,
    source_plugin  TEXT,
    occurred_at    INTEGER NOT NULL,
    fanned_out     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX record_events_pending ON record_events (fanned_out, id);

CREATE TABLE event_deliveries (
    event_id        TEXT NOT NULL REFERENCES record_events (id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    INTEGER,
    PRIMARY KEY (event_id, plugin)
);
CREATE INDEX event_deliveries_due ON event_deliveries (state, next_attempt_at);
