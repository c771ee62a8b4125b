//! Alerts: rules over the audit trail (bulk reads or exports in a window, a burst of denials,
//! work outside the configured hours, a sign-in from a new address, an export held for approval)
//! raise alerts that link to the entries that raised them, and are delivered to a webhook.
//!
//! Evaluation reads the audit trail from a cursor kept in the database and locked while a node
//! evaluates, so several nodes raise each alert once; a dedupe key per rule, actor and window
//! keeps one condition from raising a stream of alerts. Alerts carry names, counts and entry
//! numbers, never field values.

use crate::audit::{Actor, Audit, Event, Outcome};
use crate::store::{Db, StoreError, micros_to_rfc3339, now_micros};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}
impl From<sqlx::Error> for AlertError {
    fn from(e: sqlx::Error) -> Self {
        AlertError::Store(StoreError::Sqlx(e))
    }
}
pub type Result<T, E = AlertError> = std::result::Result<T, E>;

/// A count of entries in a sliding window above which an alert is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub enabled: bool,
    /// Entries by one actor within the window that raise the alert.
    pub threshold: i64,
    pub window_minutes: i64,
}

/// Hours of work; people's actions outside them raise an alert (once per person and day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    pub enabled: bool,
    /// First hour of work (0-23), local time.
    pub start_hour: u8,
    /// Hour work ends (1-24), local time.
    pub end_hour: u8,
    /// Local time's offset from UTC, in minutes (e.g. 480 for China Standard Time).
    pub utc_offset_minutes: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRules {
    /// Where alerts are POSTed as JSON; none: kept for the API only.
    pub webhook_url: Option<String>,
    /// Reads, lists, exports and reveals by one person.
    pub bulk_read: Threshold,
    /// Refusals of one person or plugin.
    pub denial_burst: Threshold,
    pub working_hours: WorkingHours,
    /// A person signing in from an address they never used before.
    pub new_address: bool,
    /// Audit actions that raise an alert each time they appear, e.g. the DSR plugin's deadline
    /// reminders (`plugin.note.dsr.reminder`): how a plugin's notice reaches the people on call.
    #[serde(default = "default_watched")]
    pub watch_actions: Vec<String>,
}

fn default_watched() -> Vec<String> {
    vec!["plugin.note.dsr.reminder".into(), "plugin.note.dsr.erasure_blocked".into()]
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            webhook_url: None,
            bulk_read: Threshold { enabled: true, threshold: 1000, window_minutes: 10 },
            denial_burst: Threshold { enabled: true, threshold: 20, window_minutes: 5 },
            working_hours: WorkingHours { enabled: false, start_hour: 7, end_hour: 20, utc_offset_minutes: 0 },
            new_address: true,
            watch_actions: default_watched(),
        }
    }
}

impl AlertRules {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(AlertError::Invalid(m.into()));
        if let Some(u) = &self.webhook_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 500 || reqwest::Url::parse(u).is_err() {
                return bad("webhook_url must be an http(s) URL");
            }
        }
        for (name, t) in [("bulk_read", &self.bulk_read), ("denial_burst", &self.denial_burst)] {
            if t.threshold < 1 || t.window_minutes < 1 || t.window_minutes > 24 * 60 {
                return Err(AlertError::Invalid(format!("{name}: threshold at least 1, window 1 to 1440 minutes")));
            }
        }
        if self.watch_actions.len() > 50 || self.watch_actions.iter().any(|a| a.is_empty() || a.len() > 120) {
            return bad("watch_actions: at most 50 audit action names");
        }
        let w = &self.working_hours;
        if w.start_hour > 23 || w.end_hour == 0 || w.end_hour > 24 || w.start_hour >= w.end_hour || w.utc_offset_minutes.abs() > 14 * 60 {
            return bad("working_hours: 0 <= start_hour < end_hour <= 24, offset within 14 hours");
        }
        Ok(())
    }
}

const RULES_KEY: &str = "alerts.rules";

pub async fn rules(db: &Db) -> Result<AlertRules> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(RULES_KEY).fetch_optional(db.reader()).await?;
    Ok(v.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
}

pub async fn set_rules(db: &Db, audit: &Audit, actor: &Actor, r: &AlertRules) -> Result<()> {
    r.validate()?;
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(RULES_KEY)
        .bind(serde_json::to_string(r).expect("serialises"))
        .execute(&mut *tx)
        .await?;
    audit.append(&mut tx, vec![Event::new(actor, "alert.rules", Outcome::Allowed).detail("alert rules changed")]).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// An alert as administrators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    /// Whose actions raised it.
    pub actor: String,
    pub summary: String,
    /// The audit entries (sequence numbers) that raised it (`GET /api/v1/audit?before=<seq + 1>&limit=1` shows one).
    pub audit_seqs: Vec<i64>,
    pub status: String,
    pub created_at: String,
    pub acknowledged_by: Option<String>,
    /// none, pending, delivered or failed.
    pub delivery: String,
}

/// The most alerts one listing returns.
pub const MAX_LISTED: usize = 500;

pub async fn list(db: &Db, status: Option<&str>, limit: usize) -> Result<Vec<Alert>> {
    let sql = format!(
        "SELECT id, rule, actor, summary, audit_seqs, status, created_at, acknowledged_by, delivery_state FROM alerts{} ORDER BY created_at DESC LIMIT {}",
        if status.is_some() { " WHERE status = $1" } else { "" },
        limit.clamp(1, MAX_LISTED)
    );
    let mut q = sqlx::query(&sql);
    if let Some(s) = status {
        q = q.bind(s.to_string());
    }
    let rows = q.fetch_all(db.reader()).await?;
    rows.iter()
        .map(|r| {
            Ok(Alert {
                id: r.try_get(0)?,
                rule: r.try_get(1)?,
                actor: r.try_get(2)?,
                summary: r.try_get(3)?,
                audit_seqs: serde_json::from_str(&r.try_get::<String, _>(4)?).unwrap_or_default(),
                status: r.try_get(5)?,
                created_at: micros_to_rfc3339(r.try_get(6)?),
                acknowledged_by: r.try_get(7)?,
                delivery: r.try_get(8)?,
            })
        })
        .collect()
}

pub async fn acknowledge(db: &Db, audit: &Audit, actor: &Actor, id: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query("UPDATE alerts SET status = 'acknowledged', acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3 AND status = 'open'")
        .bind(actor.name.clone())
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n > 0 {
        audit.append(&mut tx, vec![Event::new(actor, "alert.acknowledge", Outcome::Allowed).detail(format!("alert {id}"))]).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(n > 0)
}

struct Raise {
    rule: &'static str,
    actor: String,
    summary: String,
    seqs: Vec<i64>,
    dedupe: String,
}

/// The address at the end of a sign-in entry's detail (`... from 10.1.2.3`).
fn login_address(detail: &str) -> Option<String> {
    let (_, ip) = detail.rsplit_once(" from ")?;
    ip.trim().parse::<std::net::IpAddr>().ok().map(|i| i.to_string())
}

/// Local hour and date of a time, for the working-hours rule.
fn local(at_micros: i64, offset_minutes: i32) -> (u8, String) {
    let secs = at_micros / 1_000_000 + i64::from(offset_minutes) * 60;
    let day = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3600) as u8;
    (hour, format!("day{day}"))
}

const READ_ACTIONS: &str = "('read', 'list', 'export', 'reveal')";

/// Most audit entries one evaluation reads in one transaction. A backlog (the first start after
/// a bulk import, a node that was down) is worked through batch by batch, so the write lock is
/// held for a few milliseconds at a time and the rows read stay few, however long the backlog.
const EVALUATION_BATCH: i64 = 5_000;

/// Evaluates every rule over the entries written since the last evaluation, a batch at a time
/// until none is left; returns the number of alerts raised.
pub async fn evaluate(db: &Db, audit: &Audit) -> Result<usize> {
    let mut raised = 0;
    loop {
        let (n, more) = evaluate_batch(db, audit).await?;
        raised += n;
        if !more {
            return Ok(raised);
        }
    }
}

/// Evaluates the rules over at most [`EVALUATION_BATCH`] entries after the cursor; answers the
/// alerts raised and whether entries remain.
async fn evaluate_batch(db: &Db, audit: &Audit) -> Result<(usize, bool)> {
    let rules = rules(db).await?;
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO alert_cursor (id, last_seq) VALUES (1, 0) ON CONFLICT (id) DO NOTHING").execute(&mut *tx).await?;
    let cursor: i64 = sqlx::query_scalar(&format!("SELECT last_seq FROM alert_cursor WHERE id = 1{}", db.for_update())).fetch_one(&mut *tx).await?;
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log").fetch_one(&mut *tx).await?;
    let last = last.unwrap_or(0);
    if last <= cursor {
        tx.rollback().await.map_err(StoreError::from)?;
        return Ok((0, false));
    }
    let max = last.min(cursor + EVALUATION_BATCH);
    let mut raises = Vec::new();
    // Sliding-window counts, for actors active since the cursor.
    for (rule, t, cond) in [
        ("bulk_read", rules.bulk_read, format!("outcome = 'allowed' AND actor_kind = 'user' AND action IN {READ_ACTIONS}")),
        ("denial_burst", rules.denial_burst, "outcome = 'denied' AND actor_kind IN ('user', 'plugin')".to_string()),
    ] {
        if !t.enabled {
            continue;
        }
        let since = now - t.window_minutes * 60_000_000;
        let actors: Vec<String> = sqlx::query_scalar(&format!("SELECT DISTINCT actor FROM audit_log WHERE seq > $1 AND seq <= $2 AND {cond}"))
            .bind(cursor)
            .bind(max)
            .fetch_all(&mut *tx)
            .await?;
        for actor in actors {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM audit_log WHERE actor = $1 AND at > $2 AND {cond}"))
                .bind(actor.clone())
                .bind(since)
                .fetch_one(&mut *tx)
                .await?;
            if n < t.threshold {
                continue;
            }
            let seqs: Vec<i64> = sqlx::query_scalar(&format!("SELECT seq FROM audit_log WHERE actor = $1 AND at > $2 AND {cond} ORDER BY seq DESC LIMIT 50"))
                .bind(actor.clone())
                .bind(since)
                .fetch_all(&mut *tx)
                .await?;
            let what = if rule == "bulk_read" { "reads and exports" } else { "refusals" };
            raises.push(Raise {
                rule,
                summary: format!("{n} {what} by {actor} within {} minutes (threshold {})", t.window_minutes, t.threshold),
                dedupe: format!("{rule}:{actor}:{}", now / (t.window_minutes * 60_000_000)),
                actor,
                seqs,
            });
        }
    }
    // Entries since the cursor, for the rules that look at each one.
    let rows = sqlx::query("SELECT seq, at, actor_kind, actor, action, outcome, detail FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq")
        .bind(cursor)
        .bind(max)
        .fetch_all(&mut *tx)
        .await?;
    let mut outside: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for r in &rows {
        let seq: i64 = r.try_get(0)?;
        let at: i64 = r.try_get(1)?;
        let kind: String = r.try_get(2)?;
        let actor: String = r.try_get(3)?;
        let action: String = r.try_get(4)?;
        let outcome: String = r.try_get(5)?;
        let detail: Option<String> = r.try_get(6)?;
        if rules.watch_actions.iter().any(|a| *a == action) {
            raises.push(Raise {
                rule: "watched_action",
                summary: format!("{action}: {}", detail.clone().unwrap_or_default().chars().take(300).collect::<String>()),
                dedupe: format!("watched:{seq}"),
                actor: actor.clone(),
                seqs: vec![seq],
            });
        }
        if action == "export.held" {
            raises.push(Raise {
                rule: "export_held",
                summary: format!("an export by {actor} is held for a second administrator: {}", detail.clone().unwrap_or_default().chars().take(200).collect::<String>()),
                dedupe: format!("export_held:{seq}"),
                actor: actor.clone(),
                seqs: vec![seq],
            });
        }
        let w = rules.working_hours;
        if w.enabled && kind == "user" && outcome != "denied" {
            let (hour, day) = local(at, w.utc_offset_minutes);
            if hour < w.start_hour || hour >= w.end_hour {
                outside.entry((actor.clone(), day)).or_default().push(seq);
            }
        }
        if rules.new_address && action == "login" && outcome == "allowed" {
            if let Some(ip) = detail.as_deref().and_then(login_address) {
                let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM known_addresses WHERE username = $1").bind(actor.clone()).fetch_one(&mut *tx).await?;
                let this: Option<i64> = sqlx::query_scalar("SELECT 1 FROM known_addresses WHERE username = $1 AND address = $2")
                    .bind(actor.clone())
                    .bind(ip.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
                if this.is_none() {
                    sqlx::query("INSERT INTO known_addresses (username, address, first_seen) VALUES ($1, $2, $3)")
                        .bind(actor.clone())
                        .bind(ip.clone())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    // The first address ever is the baseline, not news.
                    if known > 0 {
                        raises.push(Raise {
                            rule: "new_address",
                            summary: format!("{actor} signed in from {ip}, an address not seen before"),
                            dedupe: format!("new_address:{actor}:{ip}"),
                            actor: actor.clone(),
                            seqs: vec![seq],
                        });
                    }
                }
            }
        }
    }
    for ((actor, day), seqs) in outside {
        let w = rules.working_hours;
        raises.push(Raise {
            rule: "outside_hours",
            summary: format!("{actor} worked outside {:02}:00-{:02}:00 (UTC{:+}:{:02}): {} action(s)", w.start_hour, w.end_hour, w.utc_offset_minutes / 60, (w.utc_offset_minutes % 60).abs(), seqs.len()),
            dedupe: format!("outside_hours:{actor}:{day}"),
            actor,
            seqs: seqs.into_iter().take(50).collect(),
        });
    }
    let delivery = if rules.webhook_url.is_some() { "pending" } else { "none" };
    let mut raised = 0;
    let mut events = Vec::new();
    for r in raises {
        let id = uuid::Uuid::now_v7().to_string();
        let n = sqlx::query(
            "INSERT INTO alerts (id, rule, actor, summary, audit_seqs, status, created_at, delivery_state, dedupe_key) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(id.clone())
        .bind(r.rule)
        .bind(r.actor.clone())
        .bind(r.summary.clone())
        .bind(serde_json::to_string(&r.seqs).expect("serialises"))
        .bind(now)
        .bind(delivery)
        .bind(r.dedupe)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            raised += 1;
            events.push(Event::new(&Actor::system("alerts"), "alert.raised", Outcome::Allowed).detail(format!("alert {id} ({}) about {}", r.rule, r.actor)));
        }
    }
    sqlx::query("UPDATE alert_cursor SET last_seq = $1 WHERE id = 1").bind(max).execute(&mut *tx).await?;
    audit.append(&mut tx, events).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((raised, max < last))
}

/// Delivers pending alerts to the webhook: JSON, with an HMAC of the body when a secret is set
/// (`CAPCRM_ALERT_WEBHOOK_SECRET`), retried with backoff, given up after 8 attempts.
pub async fn deliver(db: &Db, http: &reqwest::Client) -> Result<usize> {
    let rules = rules(db).await?;
    let Some(url) = rules.webhook_url else { return Ok(0) };
    let now = now_micros();
    let rows = sqlx::query(
        "SELECT id, rule, actor, summary, audit_seqs, created_at, delivery_attempts FROM alerts \
         WHERE delivery_state = 'pending' AND next_delivery_at <= $1 ORDER BY created_at LIMIT 20",
    )
    .bind(now)
    .fetch_all(db.reader())
    .await?;
    let secret = std::env::var("CAPCRM_ALERT_WEBHOOK_SECRET").ok();
    let mut delivered = 0;
    for r in rows {
        let id: String = r.try_get(0)?;
        let attempts: i64 = r.try_get(6)?;
        let body = serde_json::json!({
            "id": id,
            "rule": r.try_get::<String, _>(1)?,
            "actor": r.try_get::<String, _>(2)?,
            "summary": r.try_get::<String, _>(3)?,
            "audit_seqs": serde_json::from_str::<Value>(&r.try_get::<String, _>(4)?).unwrap_or(Value::Null),
            "created_at": micros_to_rfc3339(r.try_get(5)?),
        })
        .to_string();
        let mut req = http.post(&url).header("content-type", "application/json").body(body.clone());
        if let Some(s) = &secret {
            use hmac::Mac;
            let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(s.as_bytes()).expect("any key length");
            m.update(body.as_bytes());
            req = req.header("x-capcrm-signature", format!("sha256={}", hex::encode(m.finalize().into_bytes())));
        }
        let ok = matches!(req.timeout(Duration::from_secs(5)).send().await, Ok(resp) if resp.status().is_success());
        let mut tx = db.begin_write().await?;
        if ok {
            sqlx::query("UPDATE alerts SET delivery_state = 'delivered', delivery_attempts = $1 WHERE id = $2").bind(attempts + 1).bind(id.clone()).execute(&mut *tx).await?;
            delivered += 1;
        } else {
            let state = if attempts + 1 >= 8 { "failed" } else { "pending" };
            let next = now + (1i64 << (attempts + 1).min(10)) * 1_000_000;
            sqlx::query("UPDATE alerts SET delivery_state = $1, delivery_attempts = $2, next_delivery_at = $3 WHERE id = $4")
                .bind(state)
                .bind(attempts + 1)
                .bind(next)
                .bind(id.clone())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
    }
    Ok(delivered)
}

use serde_json::Value;

/// Evaluates and delivers every `tick` (`CAPCRM_ALERT_TICK_MS`, default 5000), until the process ends.
pub async fn run(db: Db, audit: Audit) {
    let tick = std::env::var("CAPCRM_ALERT_TICK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000u64);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
    loop {
        if let Err(e) = evaluate(&db, &audit).await {
            tracing::warn!("alert rules could not be evaluated: {e}");
        }
        if let Err(e) = deliver(&db, &http).await {
            tracing::warn!("alerts could not be delivered: {e}");
        }
        tokio::time::sleep(Duration::from_millis(tick)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(login_address("session issued from 10.1.2.3").as_deref(), Some("10.1.2.3"));
        assert_eq!(login_address("session issued with a second factor from ::1").as_deref(), Some("::1"));
        assert_eq!(login_address("session issued"), None);
        // 2026-12-02 23:30 UTC is 07:30 the next day at UTC+8.
        let at = 1_796_254_200i64 * 1_000_000;
        assert_eq!(local(at, 0).0, 23);
        assert_eq!(local(at, 480).0, 7);
        assert_ne!(local(at, 0).1, local(at, 480).1);
        assert!(AlertRules::default().validate().is_ok());
        let mut r = AlertRules::default();
        r.webhook_url = Some("ftp://x".into());
        assert!(r.validate().is_err());
        r.webhook_url = None;
        r.working_hours.start_hour = 20;
        r.working_hours.end_hour = 7;
        assert!(r.validate().is_err());
    }

    /// A backlog longer than a batch is read a batch per transaction, and nothing in it is missed:
    /// the watched action at its very end raises its alert.
    #[tokio::test]
    async fn a_backlog_is_evaluated_a_batch_at_a_time_to_its_end() {
        let (_tmp, app) = crate::app::test_app().await;
        let (db, audit) = (&app.db, app.gate.audit());
        assert_eq!(evaluate(db, audit).await.unwrap(), 0, "what setting up wrote raises nothing");
        let cursor = || async { sqlx::query_scalar::<_, i64>("SELECT last_seq FROM alert_cursor WHERE id = 1").fetch_one(db.reader()).await.unwrap() };
        let start = cursor().await;
        // A system actor: the rules about people's hours and reads stay out of it.
        let someone = Actor::system("bulk-import");
        for _ in 0..5 {
            let mut tx = db.begin_write().await.unwrap();
            audit.append(&mut tx, (0..2_400).map(|_| Event::new(&someone, "session.renewed", Outcome::Allowed)).collect()).await.unwrap();
            tx.commit().await.unwrap();
        }
        let mut tx = db.begin_write().await.unwrap();
        audit.append(&mut tx, vec![Event::new(&someone, "plugin.note.dsr.reminder", Outcome::Allowed).detail("a request is due")]).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(evaluate_batch(db, audit).await.unwrap(), (0, true), "one batch, and more to come");
        assert_eq!(cursor().await, start + EVALUATION_BATCH);
        assert_eq!(evaluate(db, audit).await.unwrap(), 1, "the rest, to the watched action at the end");
        assert_eq!(cursor().await, start + 12_001);
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE rule = 'watched_action'").fetch_one(db.reader()).await.unwrap();
        assert_eq!(open, 1);
        // The alert's own entry is left for the next round: evaluation does not chase its own tail.
        assert_eq!(evaluate_batch(db, audit).await.unwrap(), (0, false));
        assert_eq!(cursor().await, start + 12_002);
        app.db.close().await;
    }
}
