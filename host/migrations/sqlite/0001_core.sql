-- capcrm core schema (SQLite). Times are microseconds since the Unix epoch.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Root key versions: a check value recognises each key; the key itself never enters the database.
CREATE TABLE root_keys (
    version     INTEGER PRIMARY KEY,
    check_value TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

-- Data keys, wrapped under a root key version. scope: subject | object | system.
CREATE TABLE data_keys (
    id           TEXT PRIMARY KEY,
    scope        TEXT NOT NULL CHECK (scope IN ('subject', 'object', 'system')),
    owner        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    root_version INTEGER NOT NULL,
    wrapped      TEXT,
    state        TEXT NOT NULL CHECK (state IN ('active', 'destroyed')),
    created_at   INTEGER NOT NULL,
    destroyed_at INTEGER
);
CREATE UNIQUE INDEX data_keys_owner ON data_keys (scope, owner, version);
CREATE INDEX data_keys_root ON data_keys (root_version);

CREATE TABLE subjects (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL REFERENCES data_keys (id),
    created_at INTEGER NOT NULL
);

-- Custom objects and custom fields; built-in ones live in code.
CREATE TABLE custom_objects (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE custom_fields (
    object     TEXT NOT NULL,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (object, name)
);

-- Records: public and internal fields as JSON in `plain`; personal and sensitive fields sealed one by
-- one in `sealed` (a JSON map of field name to ciphertext).
CREATE TABLE records (
    id         TEXT PRIMARY KEY,
    object     TEXT NOT NULL,
    subject_id TEXT REFERENCES subjects (id),
    key_id     TEXT NOT NULL REFERENCES data_keys (id),
    owner_id   TEXT,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    plain      TEXT NOT NULL,
    sealed     TEXT NOT NULL
);
CREATE INDEX records_object_id ON records (object, id);
CREATE INDEX records_subject ON records (subject_id);
CREATE INDEX records_owner ON records (object, owner_id, id);

CREATE TABLE blind_index (
    object    TEXT NOT NULL,
    field     TEXT NOT NULL,
    digest    TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    PRIMARY KEY (object, field, digest, record_id)
);
CREATE INDEX blind_index_record ON blind_index (record_id);
CREATE INDEX blind_index_digest ON blind_index (digest);

-- The audit chain: append-only, each entry's MAC covers the previous entry's.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    object     TEXT,
    record_id  TEXT,
    fields     TEXT NOT NULL,
    purpose    TEXT,
    outcome    TEXT NOT NULL,
    request_id TEXT,
    subject    TEXT,
    detail     TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit_log (subject, seq);
CREATE INDEX audit_actor ON audit_log (actor, at);
CREATE INDEX audit_action ON audit_log (action, seq);
CREATE INDEX audit_outcome ON audit_log (outcome, seq);
CREATE INDEX audit_at ON audit_log (at);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

CREATE TABLE api_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
