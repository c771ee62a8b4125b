//! Event delivery: from the outbox (`record_events`, written with each change) to every approved
//! plugin that subscribed, at least once, with retries, backoff and a dead-letter list.
//!
//! Fan-out and claims run in short transactions that lock what they take (`FOR UPDATE SKIP LOCKED`
//! on PostgreSQL), so several nodes share the work and each delivery runs on one of them at a time.
//! A delivery is marked done only after the plugin's invocation committed; a crash in between
//! delivers it again, and the plugin de-duplicates by the event id.

use super::{PluginError, PluginRuntime};
use crate::store::{Backend, Db, now_micros};
use serde::Serialize;
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;

/// Attempts before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: i64 = 5;
/// How long a claimed delivery stays with the node that claimed it. Longer than any invocation may
/// run (the admin maximum is 5 s), short enough that the deliveries of a node that died are taken
/// over soon.
const LEASE: Duration = Duration::from_secs(15);

/// An event as delivered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordEvent {
    pub id: String,
    pub kind: String,
    pub object: String,
    pub record_id: String,
    pub changed_fields: Vec<String>,
    pub occurred_at: i64,
}

/// A delivery that failed every attempt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    pub event: RecordEvent,
    pub attempts: i64,
    pub last_error: Option<String>,
}

fn skip_locked(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

fn event_of(r: &sqlx::any::AnyRow) -> Result<RecordEvent, sqlx::Error> {
    let fields: String = r.try_get("changed_fields")?;
    Ok(RecordEvent {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        object: r.try_get("object")?,
        record_id: r.try_get("record_id")?,
        changed_fields: fields.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        occurred_at: r.try_get("occurred_at")?,
    })
}

pub struct Dispatcher {
    runtime: Arc<PluginRuntime>,
    db: Db,
    /// Base of the exponential backoff between attempts.
    retry_base: Duration,
}

impl Dispatcher {
    pub fn new(runtime: Arc<PluginRuntime>, db: Db, retry_base: Duration) -> Dispatcher {
        Dispatcher { runtime, db, retry_base }
    }

    /// Runs until the process ends: fan out new events, deliver due ones, sleep when idle.
    pub async fn run(self) {
        loop {
            let mut busy = false;
            match self.fan_out().await {
                Ok(n) => busy |= n > 0,
                Err(e) => tracing::warn!("event fan-out failed: {e}"),
            }
            match self.deliver_due().await {
                Ok(n) => busy |= n > 0,
                Err(e) => tracing::warn!("event delivery failed: {e}"),
            }
            match self.run_due_jobs().await {
                Ok(n) => busy |= n > 0,
                Err(e) => tracing::warn!("scheduled jobs failed: {e}"),
            }
            if !busy {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Turns new events into one delivery per subscribed, approved plugin.
    pub async fn fan_out(&self) -> Result<usize, PluginError> {
        let mut tx = self.db.begin_write().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, kind, object, record_id, changed_fields, source_plugin, occurred_at FROM record_events \
             WHERE fanned_out = 0 ORDER BY id LIMIT 200{}",
            skip_locked(&self.db)
        ))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.rollback().await.map_err(crate::store::StoreError::from)?;
            return Ok(0);
        }
        let subs = self.runtime.registry.subscriptions().await?;
        // Each plugin's grant once per batch: its consent conditions decide deliveries below.
        let grants: Vec<_> = subs.iter().map(|(plugin, caps)| crate::plugin::manifest::grant_of(plugin, caps)).collect();
        let now = now_micros();
        for r in &rows {
            let ev = event_of(r)?;
            let source: Option<String> = r.try_get("source_plugin")?;
            let cap = format!("event:{}:{}", ev.kind, ev.object);
            for ((plugin, caps), grant) in subs.iter().zip(&grants) {
                // A plugin does not hear its own changes: no loops.
                if !caps.contains(&cap) || source.as_deref() == Some(plugin.as_str()) {
                    continue;
                }
                // A grant conditioned on consent hears only of the people who consent now: an
                // event would otherwise tell it that somebody else's record changed.
                if let Some(purpose) = grant.consent.get(&ev.object) {
                    if !crate::access::consent::record_consents(&mut tx, &ev.record_id, purpose).await? {
                        continue;
                    }
                }
                sqlx::query(
                    "INSERT INTO event_deliveries (event_id, plugin, state, attempts, next_attempt_at) VALUES ($1, $2, 'pending', 0, $3) \
                     ON CONFLICT (event_id, plugin) DO NOTHING",
                )
                .bind(ev.id.clone())
                .bind(plugin.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE record_events SET fanned_out = 1 WHERE id = $1").bind(ev.id.clone()).execute(&mut *tx).await?;
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(rows.len())
    }

    /// Claims due deliveries and runs them.
    pub async fn deliver_due(&self) -> Result<usize, PluginError> {
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        let claimed = sqlx::query(&format!(
            "SELECT event_id, plugin FROM event_deliveries WHERE state = 'pending' AND next_attempt_at <= $1 AND lease_until < $1 \
             ORDER BY next_attempt_at LIMIT 20{}",
            skip_locked(&self.db)
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for r in &claimed {
            let (event_id, plugin): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            sqlx::query("UPDATE event_deliveries SET lease_until = $1 WHERE event_id = $2 AND plugin = $3")
                .bind(now + LEASE.as_micros() as i64)
                .bind(event_id.clone())
                .bind(plugin.clone())
                .execute(&mut *tx)
                .await?;
            jobs.push((event_id, plugin));
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        for (event_id, plugin) in &jobs {
            self.deliver(event_id, plugin).await?;
        }
        Ok(jobs.len())
    }

    async fn deliver(&self, event_id: &str, plugin: &str) -> Result<(), PluginError> {
        let row = sqlx::query("SELECT id, kind, object, record_id, changed_fields, occurred_at FROM record_events WHERE id = $1")
            .bind(event_id.to_string())
            .fetch_one(self.db.reader())
            .await?;
        let ev = event_of(&row)?;
        let result = self.runtime.event(plugin, &ev).await;
        let mut tx = self.db.begin_write().await?;
        match result {
            Ok(()) => {
                sqlx::query("UPDATE event_deliveries SET state = 'delivered', delivered_at = $1, attempts = attempts + 1 WHERE event_id = $2 AND plugin = $3")
                    .bind(now_micros())
                    .bind(event_id.to_string())
                    .bind(plugin.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            Err(e) => {
                let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM event_deliveries WHERE event_id = $1 AND plugin = $2")
                    .bind(event_id.to_string())
                    .bind(plugin.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
                let attempts = attempts + 1;
                let dead = attempts >= MAX_ATTEMPTS;
                let backoff = self.retry_base.as_micros() as i64 * (1i64 << (attempts - 1).min(16));
                let msg: String = e.to_string().chars().take(300).collect();
                sqlx::query(
                    "UPDATE event_deliveries SET attempts = $1, state = $2, next_attempt_at = $3, lease_until = 0, last_error = $4 \
                     WHERE event_id = $5 AND plugin = $6",
                )
                .bind(attempts)
                .bind(if dead { "dead" } else { "pending" })
                .bind(now_micros() + backoff)
                .bind(msg)
                .bind(event_id.to_string())
                .bind(plugin.to_string())
                .execute(&mut *tx)
                .await?;
                if dead {
                    tracing::warn!(plugin, event = event_id, "event dead-lettered after {attempts} attempts");
                }
            }
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(())
    }
}

impl Dispatcher {
    /// Runs the scheduled jobs that are due. A job first runs right after its plugin is approved,
    /// then every `every_minutes`. A failed run is audited and retried at the next tick.
    pub async fn run_due_jobs(&self) -> Result<usize, PluginError> {
        let now = now_micros();
        let scheduled = self.runtime.registry.scheduled().await?;
        let mut tx = self.db.begin_write().await?;
        for (plugin, job, _) in &scheduled {
            sqlx::query("INSERT INTO plugin_schedules (plugin, job, next_run_at) VALUES ($1, $2, $3) ON CONFLICT (plugin, job) DO NOTHING")
                .bind(plugin.clone())
                .bind(job.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let due = sqlx::query(&format!(
            "SELECT plugin, job FROM plugin_schedules WHERE next_run_at <= $1 AND lease_until < $1 ORDER BY next_run_at LIMIT 20{}",
            skip_locked(&self.db)
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Vec::new();
        for r in &due {
            let (plugin, job): (String, String) = (r.try_get(0)?, r.try_get(1)?);
            let Some(every) = scheduled.iter().find(|(p, j, _)| *p == plugin && *j == job).map(|(_, _, e)| *e) else {
                continue; // no longer granted or enabled
            };
            sqlx::query("UPDATE plugin_schedules SET lease_until = $1 WHERE plugin = $2 AND job = $3")
                .bind(now + LEASE.as_micros() as i64)
                .bind(plugin.clone())
                .bind(job.clone())
                .execute(&mut *tx)
                .await?;
            jobs.push((plugin, job, every));
        }
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        for (plugin, job, every) in &jobs {
            let (r, _) = self.runtime.job_traced(plugin, job).await;
            let mut tx = self.db.begin_write().await?;
            sqlx::query("UPDATE plugin_schedules SET next_run_at = $1, lease_until = 0, last_run_at = $2, last_error = $3 WHERE plugin = $4 AND job = $5")
                .bind(now + i64::from(*every) * 60_000_000)
                .bind(now)
                .bind(r.err().map(|e| e.to_string().chars().take(300).collect::<String>()))
                .bind(plugin.clone())
                .bind(job.clone())
                .execute(&mut *tx)
                .await?;
            tx.commit().await.map_err(crate::store::StoreError::from)?;
        }
        Ok(jobs.len())
    }
}

impl super::registry::Registry {
    /// Scheduled jobs of enabled plugins whose schedule was granted: (plugin, job, every minutes).
    pub async fn scheduled(&self) -> Result<Vec<(String, String, u32)>, PluginError> {
        let rows = sqlx::query(
            "SELECT p.name, v.manifest, v.granted FROM plugins p JOIN plugin_versions v ON v.name = p.name AND v.version = p.active_version \
             WHERE p.state = 'enabled' AND v.status = 'approved'",
        )
        .fetch_all(self.gate.db().reader())
        .await?;
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.try_get(0)?;
            let manifest = super::manifest::Manifest::parse(&r.try_get::<String, _>(1)?)?;
            let granted: std::collections::BTreeSet<String> =
                r.try_get::<Option<String>, _>(2)?.and_then(|g| serde_json::from_str(&g).ok()).unwrap_or_default();
            for s in manifest.schedules {
                if granted.contains(&format!("schedule:{}", s.name)) {
                    out.push((name.clone(), s.name, s.every_minutes));
                }
            }
        }
        Ok(out)
    }

    /// Enabled plugins with an approved version, and what they were granted.
    pub async fn subscriptions(&self) -> Result<Vec<(String, std::collections::BTreeSet<String>)>, PluginError> {
        let rows = sqlx::query(
            "SELECT p.name, v.granted FROM plugins p JOIN plugin_versions v ON v.name = p.name AND v.version = p.active_version \
             WHERE p.state = 'enabled' AND v.status = 'approved'",
        )
        .fetch_all(self.gate.db().reader())
        .await?;
        rows.iter()
            .map(|r| {
                let granted: Option<String> = r.try_get(1)?;
                Ok((r.try_get(0)?, granted.and_then(|g| serde_json::from_str(&g).ok()).unwrap_or_default()))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Deliveries to a plugin that failed every attempt.
    pub async fn dead_letters(&self, name: &str) -> Result<Vec<DeadLetter>, PluginError> {
        let rows = sqlx::query(
            "SELECT e.id, e.kind, e.object, e.record_id, e.changed_fields, e.occurred_at, d.attempts, d.last_error \
             FROM event_deliveries d JOIN record_events e ON e.id = d.event_id WHERE d.plugin = $1 AND d.state = 'dead' ORDER BY e.id LIMIT 1000",
        )
        .bind(name.to_string())
        .fetch_all(self.gate.db().reader())
        .await?;
        rows.iter()
            .map(|r| Ok(DeadLetter { event: event_of(r)?, attempts: r.try_get("attempts")?, last_error: r.try_get("last_error")? }))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// Puts dead-lettered deliveries back in the queue (all of them, or one event's).
    pub async fn replay(&self, p: &crate::access::Principal, name: &str, event_id: Option<&str>) -> Result<u64, PluginError> {
        if !crate::access::Effective::of(p).has(crate::access::SystemPermission::Plugins) {
            return Err(PluginError::Denied("replaying events needs an administrator".into()));
        }
        let mut tx = self.gate.db().begin_write().await?;
        let n = sqlx::query(
            "UPDATE event_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $1, lease_until = 0 \
             WHERE plugin = $2 AND state = 'dead' AND ($3 = '' OR event_id = $3)",
        )
        .bind(now_micros())
        .bind(name.to_string())
        .bind(event_id.unwrap_or("").to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let ev = crate::audit::Event::new(&p.actor, "plugin.replay", crate::audit::Outcome::Allowed).detail(format!("{name}: {n} deliveries"));
        self.gate.audit().append(&mut tx, vec![ev]).await?;
        tx.commit().await.map_err(crate::store::StoreError::from)?;
        Ok(n)
    }
}
