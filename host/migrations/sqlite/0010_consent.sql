-- Whether each person consents to each purpose now, kept by the record write path from the
-- consent records (the history). A plugin granted an object for a purpose reaches only the
-- records of people with granted = 1 here.
CREATE TABLE subject_consents (
    subject_id TEXT NOT NULL REFERENCES subjects (id),
    purpose    TEXT NOT NULL,
    granted    INTEGER NOT NULL,
    -- The consent record whose decision this is.
    record_id  TEXT NOT NULL,
    -- When that decision was taken (recorded, or withdrawn).
    decided_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subject_id, purpose)
);
CREATE INDEX subject_consents_purpose ON subject_consents (purpose, granted, subject_id);
