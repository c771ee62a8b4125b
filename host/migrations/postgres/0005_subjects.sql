-- Data-subject operations: holds that block erasure (litigation, a retention duty) and the
-- receipts of erasures. An erasure destroys the subject's data key; the receipt is what remains.
CREATE TABLE subject_holds (
    id          TEXT PRIMARY KEY,
    subject_id  TEXT NOT NULL REFERENCES subjects (id),
    reason      TEXT NOT NULL,
    placed_by   TEXT NOT NULL,
    placed_at   BIGINT NOT NULL,
    released_by TEXT,
    released_at BIGINT
);
CREATE INDEX subject_holds_subject ON subject_holds (subject_id);

CREATE TABLE subject_erasures (
    id            TEXT PRIMARY KEY,
    subject_id    TEXT NOT NULL UNIQUE REFERENCES subjects (id),
    erased_by     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    erased_at     BIGINT NOT NULL,
    records       BIGINT NOT NULL,
    stored_values BIGINT NOT NULL,
    index_entries BIGINT NOT NULL
);

-- A subject's records in id order, for paged access exports.
CREATE INDEX records_subject_id ON records (subject_id, id);
DROP INDEX records_subject;

-- Limits an administrator set for one plugin in place of its manifest's (within the maxima,
-- which live in `meta` under `plugin.limit_maxima`).
ALTER TABLE plugins ADD COLUMN limit_overrides TEXT;
