//! Consent as a condition of a plugin's grant.
//!
//! Consent records (the built-in `consent` object: contact, purpose, granted, source, policy
//! version, recorded_at, withdrawn_at) are the history: each says that at some moment a person gave
//! or refused (or withdrew) consent to one purpose. `subject_consents` is the present: per subject
//! and purpose, whether the person consents now. The record write path refreshes it inside the
//! transaction of every write to a consent record ([`refresh`]), so the two never disagree.
//!
//! A plugin granted an object for a purpose (manifest `[access.contact] consent = "marketing"`)
//! reaches only records whose subject consents to that purpose now: lists filter on it in SQL
//! ([`condition`]), single reads and writes answer as if the record did not exist ([`consents_query`]), and
//! the dispatcher delivers no event about others ([`record_consents`]).

use crate::store::{Arg, Conditions, Tx, now_micros};
use serde_json::{Map, Value};
use sqlx::Row;
use std::collections::BTreeMap;

/// The object that holds consent records.
pub const OBJECT: &str = "consent";

/// A purpose is a short name (`marketing`, `newsletter`, `profiling`), so grants and records can
/// name the same thing.
pub fn valid_purpose(p: &str) -> bool {
    (1..=64).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn micros_of(v: Option<&Value>) -> Option<i64> {
    let s = v?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp_micros())
}

/// What one consent record decides: (purpose, consents, when). A withdrawal speaks for the moment
/// it was withdrawn; otherwise the record speaks for when it was recorded (or written).
fn decision(plain: &Map<String, Value>, written_at: i64) -> Option<(String, bool, i64)> {
    let purpose = plain.get("purpose")?.as_str()?.trim().to_ascii_lowercase();
    if let Some(at) = micros_of(plain.get("withdrawn_at")) {
        return Some((purpose, false, at));
    }
    let granted = plain.get("granted").and_then(Value::as_bool).unwrap_or(false);
    Some((purpose, granted, micros_of(plain.get("recorded_at")).unwrap_or(written_at)))
}

/// Recomputes whether `subject` consents now, per purpose, from all their consent records. The
/// latest decision wins; at the same moment a refusal wins over a consent.
pub async fn refresh(tx: &mut Tx, subject: &str) -> Result<(), sqlx::Error> {
    let rows = sqlx::query("SELECT id, plain, updated_at FROM records WHERE object = $1 AND subject_id = $2")
        .bind(OBJECT)
        .bind(subject.to_string())
        .fetch_all(&mut **tx)
        .await?;
    let mut now: BTreeMap<String, (i64, bool, String)> = BTreeMap::new();
    for r in &rows {
        let id: String = r.try_get(0)?;
        let plain: Map<String, Value> = serde_json::from_str(&r.try_get::<String, _>(1)?).unwrap_or_default();
        let Some((purpose, granted, at)) = decision(&plain, r.try_get(2)?) else { continue };
        let replace = match now.get(&purpose) {
            None => true,
            Some((t, g, _)) => at > *t || (at == *t && *g && !granted),
        };
        if replace {
            now.insert(purpose, (at, granted, id));
        }
    }
    sqlx::query("DELETE FROM subject_consents WHERE subject_id = $1").bind(subject.to_string()).execute(&mut **tx).await?;
    let stamp = now_micros();
    for (purpose, (at, granted, id)) in now {
        sqlx::query(
            "INSERT INTO subject_consents (subject_id, purpose, granted, record_id, decided_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(subject.to_string())
        .bind(purpose)
        .bind(i64::from(granted))
        .bind(id)
        .bind(at)
        .bind(stamp)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Builds `subject_consents` for every subject that has consent records (a database migrated from
/// before the table existed); marked done in `meta`, so it runs once.
pub async fn build_once(db: &crate::store::Db) -> Result<(), sqlx::Error> {
    const DONE: &str = "consents.indexed";
    let done: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1").bind(DONE).fetch_optional(db.reader()).await?;
    if done.is_some() {
        return Ok(());
    }
    let mut tx = db.begin_write().await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let subjects: Vec<String> = sqlx::query_scalar("SELECT DISTINCT subject_id FROM records WHERE object = $1 AND subject_id IS NOT NULL")
        .bind(OBJECT)
        .fetch_all(&mut *tx)
        .await?;
    for s in subjects {
        refresh(&mut tx, &s).await?;
    }
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(DONE)
        .bind(now_micros().to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Narrows a query to records whose subject consents to `purpose` now.
pub fn condition(c: &mut Conditions, purpose: &str) {
    c.push_template("r.subject_id IN (SELECT subject_id FROM subject_consents WHERE granted = 1 AND purpose = {})", Arg::Text(purpose.to_string()));
}

/// A query with one row when `subject` consents to `purpose` now, none otherwise (a record without
/// a subject consents to nothing).
pub fn consents_query(subject: Option<&str>, purpose: &str) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments<'static>> {
    sqlx::query("SELECT granted FROM subject_consents WHERE subject_id = $1 AND purpose = $2 AND granted = 1")
        .bind(subject.unwrap_or_default().to_string())
        .bind(purpose.to_string())
}

/// Whether the person the record `record_id` belongs to consents to `purpose` now (the event
/// dispatcher's question: the record, not yet its subject, is what an event names).
pub async fn record_consents(tx: &mut Tx, record_id: &str, purpose: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT 1 FROM records r JOIN subject_consents c ON c.subject_id = r.subject_id WHERE r.id = $1 AND c.purpose = $2 AND c.granted = 1",
    )
    .bind(record_id.to_string())
    .bind(purpose.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_withdrawal_speaks_for_when_it_was_withdrawn() {
        let given = plain(json!({"purpose": "Marketing", "granted": true, "recorded_at": "2026-01-01T00:00:00Z"}));
        assert_eq!(decision(&given, 5), Some(("marketing".into(), true, 1_767_225_600_000_000)));
        let withdrawn = plain(json!({"purpose": "marketing", "granted": true, "recorded_at": "2026-01-01T00:00:00Z", "withdrawn_at": "2026-02-01T00:00:00Z"}));
        assert_eq!(decision(&withdrawn, 5).map(|d| d.1), Some(false));
        let unstamped = plain(json!({"purpose": "newsletter", "granted": false}));
        assert_eq!(decision(&unstamped, 42), Some(("newsletter".into(), false, 42)));
        assert_eq!(decision(&plain(json!({"granted": true})), 1), None, "no purpose, no decision");
    }

    /// The single-record path: a record the plugin names by id (handed to it some other way)
    /// answers as missing while its person does not consent, and the refusal is on record.
    #[tokio::test]
    async fn a_conditioned_grant_reaches_one_record_only_while_its_person_consents() {
        use crate::access::{AccessError, Principal, WriteOptions};
        let (_tmp, app) = crate::app::test_app().await;
        let host = app.gate.records(&Principal::system("test"));
        let input = |v: Value| v.as_object().unwrap().clone();
        let ada = host.create("contact", &input(json!({"last_name": "Lovelace"})), WriteOptions::default()).await.unwrap().id;
        let caps: std::collections::BTreeSet<String> = ["read:contact.last_name", "consent:contact=marketing"].into_iter().map(String::from).collect();
        let mut plugin = Principal::system("test");
        plugin.actor = crate::audit::Actor { kind: "plugin".into(), name: "mkt@1.0.0".into() };
        plugin.plugin = Some(crate::plugin::manifest::grant_of("mkt@1.0.0", &caps));
        let mkt = app.gate.records(&plugin);
        assert!(matches!(mkt.get("contact", &ada).await, Err(AccessError::NotFound { .. })), "no consent yet");
        let given = host
            .create("consent", &input(json!({"contact": ada, "purpose": "marketing", "granted": true, "recorded_at": "2026-01-01T00:00:00Z"})), WriteOptions::default())
            .await
            .unwrap();
        assert_eq!(mkt.get("contact", &ada).await.unwrap().fields["last_name"], "Lovelace");
        host.update("consent", &given.id, &input(json!({"withdrawn_at": "2026-02-01T00:00:00Z"})), WriteOptions::default()).await.unwrap();
        assert!(matches!(mkt.get("contact", &ada).await, Err(AccessError::NotFound { .. })), "withdrawn");
        let refused: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE outcome = 'denied' AND detail = 'no consent to purpose marketing'")
            .fetch_one(app.db.reader())
            .await
            .unwrap();
        assert_eq!(refused, 2, "both refusals are on record");
        app.db.close().await;
    }

    #[test]
    fn purposes_are_short_names() {
        assert!(valid_purpose("marketing") && valid_purpose("email-newsletter_2"));
        assert!(!valid_purpose("") && !valid_purpose("Marketing") && !valid_purpose("a b") && !valid_purpose(&"x".repeat(65)));
    }
}
