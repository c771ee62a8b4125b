-- When each plugin's scheduled jobs run next; claimed with a lease so one node runs each tick.
CREATE TABLE plugin_schedules (
    plugin      TEXT NOT NULL,
    job         TEXT NOT NULL,
    next_run_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_run_at INTEGER,
    last_error  TEXT,
    PRIMARY KEY (plugin, job)
);
