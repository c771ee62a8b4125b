-- When each plugin's scheduled jobs run next; claimed with a lease so one node runs each tick.
CREATE TABLE plugin_schedules (
    plugin      TEXT NOT NULL,
    job         TEXT NOT NULL,
    next_run_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    last_run_at BIGINT,
    last_error  TEXT,
    PRIMARY KEY (plugin, job)
);
