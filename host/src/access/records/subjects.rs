//! Operations on a data subject as a whole: find by identifier, access export, erasure by
//! destroying the subject's key (crypto-shredding), and holds that block erasure.
//!
//! Each is its own permission ([`SubjectOp`]), decided by the one policy function, and each runs
//! through the same handle (and so the same transaction scope and audit path) as record reads
//! and writes.

use super::super::policy::SubjectOp;
use super::{AccessError, RecordAccess, RecordPage, Result, SELECT_ROW, SUBJECT_KEY_SQL, StoredRecord, TxGuard, index_kind};
use crate::audit::Outcome;
use crate::crypto::DataKey;
use crate::crypto::keystore::WrappedKey;
use crate::model::validate::{normalise_for_index, validate_value};
use crate::model::{FieldDef, FieldType};
use crate::store::now_micros;
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// Most subjects one `find` returns.
pub const MAX_MATCHES: usize = 100;
/// Most bytes of plugin values one export page carries.
pub const MAX_STORED_PAGE_BYTES: usize = 4 << 20;

/// What to look a person up by; compared through blind indexes only.
#[derive(Debug, Clone)]
pub enum Identifier {
    Email(String),
    Phone(String),
    /// A blind-indexed field by name, and the value.
    Field(String, String),
}

impl Identifier {
    fn label(&self) -> String {
        match self {
            Identifier::Email(_) => "email".into(),
            Identifier::Phone(_) => "phone".into(),
            Identifier::Field(f, _) => f.chars().take(64).collect(),
        }
    }
}

/// A subject found by identifier, and which of its records carry it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubjectMatch {
    pub subject: String,
    /// (object, record id) pairs.
    pub records: Vec<(String, String)>,
}

/// A value a plugin keeps about a subject.
#[derive(Debug, Clone)]
pub struct StoredValue {
    pub plugin: String,
    pub key: String,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StoredPage {
    pub values: Vec<StoredValue>,
    pub next: Option<String>,
}

/// Proof of an erasure, as kept in `subject_erasures`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErasureReceipt {
    pub id: String,
    pub subject: String,
    pub erased_by: String,
    pub reason: String,
    /// Microseconds since the Unix epoch.
    pub erased_at: i64,
    pub records: i64,
    pub stored_values: i64,
    pub index_entries: i64,
}

/// A hold that blocks a subject's erasure.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: String,
    pub reason: String,
    pub placed_by: String,
    /// Microseconds since the Unix epoch.
    pub placed_at: i64,
}

/// Free text kept with holds and receipts: bounded, one line.
fn clean_reason(reason: &str) -> Result<String> {
    let r: String = reason.trim().chars().filter(|c| !c.is_control()).collect();
    if r.is_empty() || r.chars().count() > 200 {
        return Err(AccessError::BadRequest("a reason must be 1 to 200 characters".into()));
    }
    Ok(r)
}

fn subject_id(s: &str) -> Result<String> {
    uuid::Uuid::parse_str(s)
        .map(|u| u.to_string())
        .map_err(|_| AccessError::BadRequest("a subject id is a UUID".into()))
}

impl RecordAccess {
    async fn deny_subject<T>(&self, action: &str, what: String) -> Result<T> {
        let ev = self.event(action, Outcome::Denied).detail(what.clone());
        self.note(vec![ev]).await?;
        Err(AccessError::Denied(what))
    }

    async fn require_subject_op(&self, op: SubjectOp, action: &str) -> Result<()> {
        if self.perms.may_subject(op) {
            Ok(())
        } else {
            self.deny_subject(action, format!("may not {} data subjects", op.name())).await
        }
    }

    /// A subject's key row, read in the handle's scope; `NotFound` for an unknown subject.
    async fn subject_key_row(&self, sid: &str) -> Result<WrappedKey> {
        let rows = self.fetch_all(sqlx::query(SUBJECT_KEY_SQL).bind(sid.to_string())).await?;
        let r = rows.first().ok_or_else(|| AccessError::NotFound { object: "subject".into(), id: sid.into() })?;
        Ok(WrappedKey::from_row(r, 0)?)
    }

    /// A live subject's key; `Conflict` once the subject was erased.
    async fn live_subject_key(&self, sid: &str) -> Result<DataKey> {
        let w = self.subject_key_row(sid).await?;
        if w.destroyed {
            return Err(AccessError::Conflict(format!("subject {sid} was erased")));
        }
        Ok(self.inner.keys.unwrap(&w)?)
    }

    /// The blind-indexed field an identifier is compared through (for its type and index kind).
    fn identifier_field(&self, who: &Identifier) -> Result<FieldDef> {
        let schema = self.inner.schema();
        let found = schema.objects().flat_map(|o| o.fields.iter()).find(|f| {
            f.blind_index
                && match who {
                    Identifier::Email(_) => f.field_type == FieldType::Email,
                    Identifier::Phone(_) => f.field_type == FieldType::Phone,
                    Identifier::Field(name, _) => &f.name == name && !matches!(f.field_type, FieldType::Email | FieldType::Phone),
                }
        });
        found.cloned().ok_or_else(|| AccessError::BadRequest(format!("no blind-indexed field for `{}`", who.label())))
    }

    /// Finds the subjects whose records carry an identifier, through blind indexes only.
    pub async fn find_subjects(&self, who: &Identifier) -> Result<Vec<SubjectMatch>> {
        self.require_subject_op(SubjectOp::Find, "subject.find").await?;
        let def = self.identifier_field(who)?;
        let raw = match who {
            Identifier::Email(v) | Identifier::Phone(v) | Identifier::Field(_, v) => v,
        };
        if raw.len() > 1000 {
            return Err(AccessError::BadRequest("an identifier is at most 1000 bytes".into()));
        }
        let clean = validate_value(&def, &Value::String(raw.clone()))
            .map_err(|e| AccessError::BadRequest(format!("identifier `{}`: {e}", who.label())))?;
        let digest = self.inner.index.digest(&index_kind(&def), &normalise_for_index(&def.field_type, clean.as_str().unwrap_or_default()));
        // The digest carries its kind, so one equality on the digest index finds every field of it.
        let rows = self
            .fetch_all(
                // The subject's key comes with each row, for the audit pseudonym: no query per subject.
                sqlx::query(
                    "SELECT b.object, b.record_id, r.subject_id, k.id, k.version, k.root_version, k.wrapped, k.state \
                     FROM blind_index b JOIN records r ON r.id = b.record_id JOIN subjects s ON s.id = r.subject_id \
                     JOIN data_keys k ON k.id = s.key_id \
                     WHERE b.digest = $1 ORDER BY r.subject_id, b.object, b.record_id LIMIT 1000",
                )
                .bind(digest),
            )
            .await?;
        let mut by_subject: BTreeMap<String, (WrappedKey, BTreeSet<(String, String)>)> = BTreeMap::new();
        for r in &rows {
            let sid: String = r.try_get(2)?;
            if by_subject.len() >= MAX_MATCHES && !by_subject.contains_key(&sid) {
                break;
            }
            let key = WrappedKey::from_row(r, 3)?;
            by_subject.entry(sid).or_insert_with(|| (key, BTreeSet::new())).1.insert((r.try_get(0)?, r.try_get(1)?));
        }
        let mut out = Vec::with_capacity(by_subject.len());
        let mut events = Vec::new();
        for (sid, (key, recs)) in by_subject {
            let pseudonym = if key.destroyed { None } else { Some(self.inner.keys.unwrap(&key)?.pseudonym(&sid)) };
            events.push(
                self.event("subject.find", Outcome::Allowed)
                    .subject(pseudonym)
                    .detail(format!("by {}: {} record(s)", who.label(), recs.len())),
            );
            out.push(SubjectMatch { subject: sid, records: recs.into_iter().collect() });
        }
        if out.is_empty() {
            events.push(self.event("subject.find", Outcome::Allowed).detail(format!("by {}: no match", who.label())));
        }
        self.note(events).await?;
        Ok(out)
    }

    /// One page of every record of a subject, every field in clear: the data of an access request.
    /// Each record's disclosure is an `export` entry in the audit trail.
    pub async fn export_subject_records(&self, subject: &str, after: Option<&str>, limit: usize) -> Result<RecordPage> {
        self.require_subject_op(SubjectOp::Export, "export").await?;
        let sid = subject_id(subject)?;
        let key = self.live_subject_key(&sid).await?;
        let limit = limit.clamp(1, 200);
        let after = match after {
            Some(a) => uuid::Uuid::parse_str(a)
                .map(|u| u.to_string())
                .map_err(|_| AccessError::BadRequest("`after` must be the id of the last record of the previous page".into()))?,
            None => String::new(),
        };
        let sql = format!("{SELECT_ROW} WHERE r.subject_id = $1 AND r.id > $2 ORDER BY r.id LIMIT {}", limit + 1);
        let rows = self.fetch_all(sqlx::query(&sql).bind(sid.clone()).bind(after)).await?;
        let schema = self.inner.schema();
        let pseudonym = key.pseudonym(&sid);
        let mut records = Vec::new();
        let mut events = Vec::new();
        for row in rows.iter().take(limit) {
            let stored = StoredRecord::from_row(row)?;
            let Some(obj) = schema.object(&stored.object) else { continue };
            let (view, seen, _) = match self.view_with(obj, &stored, Some(&key), |o, f| self.perms.export_field(o, f)) {
                Ok(v) => v,
                Err(e) => return self.integrity_failure(&stored.object, &stored.id, e).await,
            };
            let mut fields: Vec<String> = view.fields.keys().cloned().collect();
            fields.retain(|f| seen.contains(f) || !obj.field(f).is_some_and(|d| d.classification.is_encrypted()));
            events.push(
                self.event("export", Outcome::Allowed)
                    .object(&stored.object)
                    .record(&stored.id)
                    .fields(fields)
                    .subject(Some(pseudonym.clone()))
                    .detail("subject access export"),
            );
            records.push(view);
        }
        let next = if rows.len() > limit { records.last().map(|r| r.id.clone()) } else { None };
        self.note(events).await?;
        Ok(RecordPage { records, next })
    }

    /// One page of the values plugins keep about a subject (tagged with it), in clear.
    pub async fn export_subject_stored(&self, subject: &str, after: Option<&str>, limit: usize) -> Result<StoredPage> {
        self.require_subject_op(SubjectOp::Export, "export").await?;
        let sid = subject_id(subject)?;
        let key = self.live_subject_key(&sid).await?;
        let limit = limit.clamp(1, 100);
        // The cursor is `plugin/key`: plugin names are identifiers, so the first `/` separates.
        let (ap, ak) = match after {
            Some(a) => a.split_once('/').map(|(p, k)| (p.to_string(), k.to_string())).ok_or_else(|| AccessError::BadRequest("`after` must be the `next` of the previous page".into()))?,
            None => (String::new(), String::new()),
        };
        let rows = self
            .fetch_all(
                sqlx::query(&format!(
                    "SELECT plugin, key, sealed FROM plugin_storage WHERE subject_id = $1 AND (plugin > $2 OR (plugin = $2 AND key > $3)) \
                     ORDER BY plugin, key LIMIT {}",
                    limit + 1
                ))
                .bind(sid.clone())
                .bind(ap)
                .bind(ak),
            )
            .await?;
        let mut values = Vec::new();
        let mut bytes = 0usize;
        let mut more = rows.len() > limit;
        for r in rows.iter().take(limit) {
            let plugin: String = r.try_get(0)?;
            let k: String = r.try_get(1)?;
            let sealed: String = r.try_get(2)?;
            let v = key.open_field("plugin_storage", &plugin, &k, &sealed)?;
            let value = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .map_err(|_| AccessError::Integrity("plugin value is not base64".into()))?;
            if !values.is_empty() && bytes + value.len() > MAX_STORED_PAGE_BYTES {
                more = true;
                break;
            }
            bytes += value.len();
            values.push(StoredValue { plugin, key: k, value });
        }
        let next = if more { values.last().map(|v| format!("{}/{}", v.plugin, v.key)) } else { None };
        if !values.is_empty() {
            let plugins: BTreeSet<&str> = values.iter().map(|v| v.plugin.as_str()).collect();
            let ev = self
                .event("export", Outcome::Allowed)
                .object("plugin_storage")
                .subject(Some(key.pseudonym(&sid)))
                .detail(format!("subject access export: {} plugin value(s) of {}", values.len(), plugins.into_iter().collect::<Vec<_>>().join(",")));
            self.note(vec![ev]).await?;
        }
        Ok(StoredPage { values, next })
    }

    /// The receipt of an earlier erasure of the subject, if there was one.
    async fn receipt_of(&self, sid: &str) -> Result<Option<ErasureReceipt>> {
        let rows = self
            .fetch_all(
                sqlx::query(
                    "SELECT id, subject_id, erased_by, reason, erased_at, records, stored_values, index_entries \
                     FROM subject_erasures WHERE subject_id = $1",
                )
                .bind(sid.to_string()),
            )
            .await?;
        let Some(r) = rows.first() else { return Ok(None) };
        Ok(Some(ErasureReceipt {
            id: r.try_get(0)?,
            subject: r.try_get(1)?,
            erased_by: r.try_get(2)?,
            reason: r.try_get(3)?,
            erased_at: r.try_get(4)?,
            records: r.try_get(5)?,
            stored_values: r.try_get(6)?,
            index_entries: r.try_get(7)?,
        }))
    }

    /// Erases a subject by destroying its data key, in one transaction: every sealed field of the
    /// subject's records (here and in every backup) becomes unreadable, the sealed values are
    /// dropped from the live rows, the blind indexes (which could confirm an identifier) and the
    /// values plugins kept about the person are deleted, and queued messages to them are dropped.
    /// Records keep their public and internal fields, so links and counts stay intact.
    /// Refused while a hold is in place; an erased subject returns its first receipt.
    pub async fn erase_subject(&self, subject: &str, reason: &str) -> Result<ErasureReceipt> {
        self.require_subject_op(SubjectOp::Erase, "subject.erase").await?;
        let sid = subject_id(subject)?;
        let reason = clean_reason(reason)?;
        if let Some(r) = self.receipt_of(&sid).await? {
            return Ok(r);
        }
        let holds = self.holds_unchecked(&sid).await?;
        if !holds.is_empty() {
            let ids: Vec<&str> = holds.iter().map(|h| h.id.as_str()).collect();
            let pseudonym = self.live_subject_key(&sid).await.ok().map(|k| k.pseudonym(&sid));
            let ev = self.event("subject.erase", Outcome::Denied).subject(pseudonym).detail(format!("blocked by hold {}", ids.join(",")));
            self.note(vec![ev]).await?;
            return Err(AccessError::Conflict(format!("erasure is blocked by {} hold(s): {}", holds.len(), ids.join(", "))));
        }
        let mut guard = self.begin().await?;
        // On an error the guard drops and an own transaction rolls back; a shared one is rolled
        // back by the invocation that returns the error.
        let (receipt, ev) = self.erase_in(&mut guard, &sid, &reason).await?;
        guard.finish(&self.inner, vec![ev]).await?;
        Ok(receipt)
    }

    async fn erase_in(&self, guard: &mut TxGuard<'_>, sid: &str, reason: &str) -> Result<(ErasureReceipt, crate::audit::Event)> {
        let db = &self.inner.db;
        let tx = guard.tx();
        let row = sqlx::query(&format!(
            "SELECT k.id, k.version, k.root_version, k.wrapped, k.state FROM subjects s JOIN data_keys k ON k.id = s.key_id WHERE s.id = $1{}",
            db.for_update()
        ))
        .bind(sid.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| AccessError::NotFound { object: "subject".into(), id: sid.into() })?;
        let w = WrappedKey::from_row(&row, 0)?;
        if w.destroyed {
            return Err(AccessError::Conflict(format!("subject {sid} was erased")));
        }
        // A hold placed since the check above (by another node) still wins.
        let held: Option<String> = sqlx::query_scalar("SELECT id FROM subject_holds WHERE subject_id = $1 AND released_at IS NULL LIMIT 1")
            .bind(sid.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(h) = held {
            return Err(AccessError::Conflict(format!("erasure is blocked by hold {h}")));
        }
        // The pseudonym is computed while the key still exists: entries up to the erasure name the
        // subject by it, and after it nobody can link them to the person.
        let pseudonym = self.inner.keys.unwrap(&w)?.pseudonym(sid);
        let now = now_micros();
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records WHERE subject_id = $1")
            .bind(sid.to_string())
            .fetch_one(&mut **tx)
            .await?;
        // Codes sent to the person's addresses (their challenges carry the same blind index).
        sqlx::query(
            "DELETE FROM verification_challenges WHERE address_index IN \
             (SELECT digest FROM blind_index WHERE record_id IN (SELECT id FROM records WHERE subject_id = $1))",
        )
        .bind(sid.to_string())
        .execute(&mut **tx)
        .await?;
        let index_entries = sqlx::query("DELETE FROM blind_index WHERE record_id IN (SELECT id FROM records WHERE subject_id = $1)")
            .bind(sid.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected() as i64;
        sqlx::query(
            "DELETE FROM notification_outbox WHERE state = 'queued' AND record_id IN (SELECT id FROM records WHERE subject_id = $1)",
        )
        .bind(sid.to_string())
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE records SET sealed = '{}', version = version + 1, updated_at = $1 WHERE subject_id = $2")
            .bind(now)
            .bind(sid.to_string())
            .execute(&mut **tx)
            .await?;
        // Consent records keep their (internal) history; whether the person consents now goes.
        sqlx::query("DELETE FROM subject_consents WHERE subject_id = $1").bind(sid.to_string()).execute(&mut **tx).await?;
        let stored_values = sqlx::query("DELETE FROM plugin_storage WHERE subject_id = $1")
            .bind(sid.to_string())
            .execute(&mut **tx)
            .await?
            .rows_affected() as i64;
        // The key itself: without it, every copy of the subject's ciphertexts is noise.
        sqlx::query("UPDATE data_keys SET state = 'destroyed', wrapped = NULL, destroyed_at = $1 WHERE id = $2")
            .bind(now)
            .bind(w.id.clone())
            .execute(&mut **tx)
            .await?;
        let receipt = ErasureReceipt {
            id: uuid::Uuid::now_v7().to_string(),
            subject: sid.to_string(),
            erased_by: self.principal.actor.name.clone(),
            reason: reason.to_string(),
            erased_at: now,
            records,
            stored_values,
            index_entries,
        };
        sqlx::query(
            "INSERT INTO subject_erasures (id, subject_id, erased_by, reason, erased_at, records, stored_values, index_entries) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(receipt.id.clone())
        .bind(receipt.subject.clone())
        .bind(receipt.erased_by.clone())
        .bind(receipt.reason.clone())
        .bind(now)
        .bind(records)
        .bind(stored_values)
        .bind(index_entries)
        .execute(&mut **tx)
        .await?;
        let ev = self.event("subject.erase", Outcome::Allowed).subject(Some(pseudonym)).detail(format!(
            "receipt {}: {records} record(s), {stored_values} plugin value(s), {index_entries} index entries; key destroyed",
            receipt.id
        ));
        Ok((receipt, ev))
    }

    async fn holds_unchecked(&self, sid: &str) -> Result<Vec<Hold>> {
        let rows = self
            .fetch_all(
                sqlx::query("SELECT id, reason, placed_by, placed_at FROM subject_holds WHERE subject_id = $1 AND released_at IS NULL ORDER BY placed_at, id")
                    .bind(sid.to_string()),
            )
            .await?;
        rows.iter()
            .map(|r| Ok(Hold { id: r.try_get(0)?, reason: r.try_get(1)?, placed_by: r.try_get(2)?, placed_at: r.try_get(3)? }))
            .collect()
    }

    /// The holds in place on a subject.
    pub async fn subject_holds(&self, subject: &str) -> Result<Vec<Hold>> {
        if !self.perms.may_subject(SubjectOp::Hold) && !self.perms.may_subject(SubjectOp::Erase) {
            return self.deny_subject("subject.hold", "may not read the holds of data subjects".into()).await;
        }
        let sid = subject_id(subject)?;
        self.subject_key_row(&sid).await?;
        self.holds_unchecked(&sid).await
    }

    /// Places a hold that blocks the subject's erasure until released.
    pub async fn place_hold(&self, subject: &str, reason: &str) -> Result<String> {
        self.require_subject_op(SubjectOp::Hold, "subject.hold").await?;
        let sid = subject_id(subject)?;
        let reason = clean_reason(reason)?;
        let key = self.live_subject_key(&sid).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let mut guard = self.begin().await?;
        sqlx::query("INSERT INTO subject_holds (id, subject_id, reason, placed_by, placed_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.clone())
            .bind(sid.clone())
            .bind(reason)
            .bind(self.principal.actor.name.clone())
            .bind(now_micros())
            .execute(&mut **guard.tx())
            .await?;
        let ev = self.event("subject.hold", Outcome::Allowed).subject(Some(key.pseudonym(&sid))).detail(format!("placed hold {id}"));
        guard.finish(&self.inner, vec![ev]).await?;
        Ok(id)
    }

    /// Releases a hold on the subject.
    pub async fn release_hold(&self, subject: &str, hold_id: &str) -> Result<()> {
        self.require_subject_op(SubjectOp::Hold, "subject.hold").await?;
        let sid = subject_id(subject)?;
        let pseudonym = self.live_subject_key(&sid).await.ok().map(|k| k.pseudonym(&sid));
        let mut guard = self.begin().await?;
        let n = sqlx::query("UPDATE subject_holds SET released_at = $1, released_by = $2 WHERE id = $3 AND subject_id = $4 AND released_at IS NULL")
            .bind(now_micros())
            .bind(self.principal.actor.name.clone())
            .bind(hold_id.to_string())
            .bind(sid.clone())
            .execute(&mut **guard.tx())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(AccessError::NotFound { object: "hold".into(), id: hold_id.chars().take(64).collect() });
        }
        let ev = self.event("subject.hold", Outcome::Allowed).subject(pseudonym).detail(format!("released hold {hold_id}"));
        guard.finish(&self.inner, vec![ev]).await?;
        Ok(())
    }
}
