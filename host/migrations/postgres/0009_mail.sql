-- Mail delivery from the outbox, and one-time codes that prove a requester controls an address.

-- Delivery state of each queued message: attempts, when to try again, when it went, and why the
-- last attempt failed (value-free: the transport's error class, never an address).
ALTER TABLE notification_outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notification_outbox ADD COLUMN sent_at BIGINT;
ALTER TABLE notification_outbox ADD COLUMN last_error TEXT;
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at);

-- A challenge: the address sealed (with the plugin's key), the code sealed like the address.
-- The code itself travels sealed in the outbox message and is removed from it once sent.
CREATE TABLE verification_challenges (
    id           TEXT PRIMARY KEY,
    plugin       TEXT NOT NULL,
    address_sealed TEXT NOT NULL,
    address_index TEXT NOT NULL,
    key_id       TEXT NOT NULL REFERENCES data_keys (id),
    code_sealed  TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    state        TEXT NOT NULL CHECK (state IN ('open', 'passed', 'failed')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX verification_challenges_plugin ON verification_challenges (plugin, created_at);
CREATE INDEX verification_challenges_address ON verification_challenges (address_index, created_at);
