-- Second factor, lockout, address rules and token kinds.

-- The TOTP secret, sealed under the `user_mfa` key like any personal field; never in clear.
ALTER TABLE users ADD COLUMN totp_sealed TEXT;
ALTER TABLE users ADD COLUMN totp_enabled INTEGER NOT NULL DEFAULT 0;
-- Address ranges (JSON list of CIDR) this user may work from, on top of their roles' lists.
ALTER TABLE users ADD COLUMN ip_allow TEXT;
-- The last TOTP time step accepted, so a code is never accepted twice.
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

-- One-time recovery codes, stored as hashes.
CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Failed sign-ins per account (`u:<name>`) and per source address (`ip:<addr>`), shared by
-- every node: lockout with exponential backoff.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Sessions (signed-in people: idle and absolute timeouts) and API tokens (machines: named,
-- scoped, expiring); `mfa_at` is when the session last passed a TOTP check.
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'session';
ALTER TABLE api_tokens ADD COLUMN name TEXT;
ALTER TABLE api_tokens ADD COLUMN scopes TEXT;
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_tokens ADD COLUMN mfa_at INTEGER;
