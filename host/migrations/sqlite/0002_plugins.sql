-- Plugins: components stored in the database (several nodes share them), versions with their
-- manifests, and the capabilities an administrator approved.
CREATE TABLE plugins (
    name           TEXT PRIMARY KEY,
    state          TEXT NOT NULL CHECK (state IN ('enabled', 'disabled', 'revoked')),
    active_version TEXT,
    created_at     INTEGER NOT NULL
);

CREATE TABLE plugin_versions (
    name         TEXT NOT NULL REFERENCES plugins (name) ON DELETE CASCADE,
    version      TEXT NOT NULL,
    code_hash    TEXT NOT NULL,
    component    BLOB NOT NULL,
    manifest     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'superseded', 'rejected')),
    granted      TEXT,
    approved_by  TEXT,
    approved_at  INTEGER,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);

-- Plugin-owned key-value data, sealed like record fields, tagged with the subject it concerns.
CREATE TABLE plugin_storage (
    plugin     TEXT NOT NULL,
    key        TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    key_id     TEXT NOT NULL REFERENCES data_keys (id),
    subject_id TEXT REFERENCES subjects (id),
    size       INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE INDEX plugin_storage_subject ON plugin_storage (subject_id);

-- Messages plugins queued; subject and body sealed.
CREATE TABLE notification_outbox (
    id         TEXT PRIMARY KEY,
    plugin     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    object     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    sealed     TEXT NOT NULL,
    key_id     TEXT NOT NULL REFERENCES data_keys (id),
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
