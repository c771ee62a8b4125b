//! The record handle: create, read, list, update and delete, each checked, sealed and audited.
//! Operations on data subjects as a whole (find, export, erase, holds) live in [`subjects`].

pub mod import;
pub mod subjects;

use super::mask::mask;
use super::policy::{Action, Effective, FieldAccess};
use super::{AccessError, GateInner, Principal, Result};
use crate::audit::{Event, Outcome};
use crate::crypto::DataKey;
use crate::crypto::keystore::WrappedKey;
use crate::model::validate::{CleanFields, WriteMode, normalise_for_index, validate_fields, validate_value};
use crate::model::{FieldDef, FieldType, ObjectDef, SubjectMode};
use crate::store::{Arg, Conditions, Tx, micros_to_rfc3339, now_micros};
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `created_at` and `updated_at` filter on when the record was created or last changed (unless the
/// object has a field of that name): what retention rules and "untouched since" views need. They
/// say nothing about the person, so anyone who may list the object may use them.
fn record_time_column(obj: &ObjectDef, name: &str) -> Option<&'static str> {
    if obj.field(name).is_some() {
        return None;
    }
    match name {
        "created_at" => Some("r.created_at"),
        "updated_at" => Some("r.updated_at"),
        _ => None,
    }
}

fn push_time_filter(c: &mut Conditions, column: &str, f: &Filter) -> Result<()> {
    if f.op == FilterOp::Empty {
        return Err(AccessError::BadRequest(format!("filter on `{}`: every record has one, so it is never empty", f.field)));
    }
    let bad = || AccessError::BadRequest(format!("filter on `{}`: expected an RFC 3339 date-time, e.g. 2024-01-31T00:00:00Z", f.field));
    let text = match &f.value {
        FilterValue::Text(s) => s.clone(),
        FilterValue::Json(Value::String(s)) => s.clone(),
        FilterValue::Json(_) => return Err(bad()),
    };
    let at = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|_| bad())?;
    c.push(column, f.op.sql(), Arg::Int(at.timestamp_micros()));
    Ok(())
}

/// A record as a caller may see it: hidden fields are absent, masked ones are listed in `masked`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub id: String,
    pub object: String,
    /// The data subject the record belongs to, if any.
    pub subject_id: Option<String>,
    pub owner_id: Option<String>,
    /// Increases with every update; send it back as `If-Match` to avoid lost updates.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Fields shown masked rather than in clear.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// True when the subject's key was destroyed: personal fields are gone for good.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub records: Vec<RecordView>,
    /// Pass as `after` to fetch the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
    /// The field has no value (its filter value is ignored): leads with no stage yet, contacts
    /// with no owner. Plain fields only: an encrypted field's absence is not indexed.
    Empty,
}

impl FilterOp {
    /// The operators' names, for error messages.
    pub const NAMES: &'static str = "eq, gt, gte, lt, lte, empty";

    pub fn parse(s: &str) -> Option<FilterOp> {
        Some(match s {
            "eq" => FilterOp::Eq,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            "empty" => FilterOp::Empty,
            _ => return None,
        })
    }
    fn sql(self) -> &'static str {
        match self {
            FilterOp::Eq => "=",
            FilterOp::Gt => ">",
            FilterOp::Gte => ">=",
            FilterOp::Lt => "<",
            FilterOp::Lte => "<=",
            FilterOp::Empty => "IS NULL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub field: String,
    pub op: FilterOp,
    pub value: FilterValue,
}

/// The value a filter compares with.
#[derive(Debug, Clone)]
pub enum FilterValue {
    /// Text from a query string, read according to the field's type (`1000` for a number).
    Text(String),
    /// A JSON value that must already have the field's type (the plugin contract).
    Json(Value),
}

impl FilterValue {
    fn len(&self) -> usize {
        match self {
            FilterValue::Text(s) => s.len(),
            FilterValue::Json(v) => v.to_string().len(),
        }
    }

    /// The value as JSON of the field's type, or why it cannot be.
    fn typed(&self, def: &FieldDef) -> std::result::Result<Value, &'static str> {
        match self {
            FilterValue::Json(v) => Ok(v.clone()),
            FilterValue::Text(s) => Ok(match &def.field_type {
                FieldType::Number | FieldType::Integer => {
                    let n: f64 = s.parse().map_err(|_| "expected a number")?;
                    serde_json::Number::from_f64(n).map(Value::Number).ok_or("expected a finite number")?
                }
                FieldType::Bool => match s.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => return Err("expected true or false"),
                },
                _ => Value::String(s.clone()),
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    /// Find by identifier: the value is compared, through their blind indexes, with every
    /// blind-indexed field of the object that the caller reads in clear (email, phone, ids).
    pub search: Option<String>,
    /// Order by a plain field the caller reads in clear (then by id); `after` is then the
    /// `next` cursor of the previous page.
    pub sort: Option<Sort>,
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

/// How a sorted page is ordered in SQL.
struct SortSql {
    field: String,
    expr: String,
    numeric: bool,
    descending: bool,
}

/// One change in a record's history: who, when, what (field names only, and only those the
/// caller may see).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// create, update or delete.
    pub action: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub owner_id: Option<String>,
    /// A chosen id for a new record (imports and fixtures from trusted callers; the REST API never
    /// sets it). Must be a UUID not yet in use.
    pub id: Option<String>,
    /// Optimistic concurrency: the version the caller last saw.
    pub expected_version: Option<i64>,
}

/// A handle on records narrowed to one caller's permissions.
pub struct RecordAccess {
    inner: Arc<GateInner>,
    principal: Principal,
    perms: Effective,
    scope: Scope,
}

/// Which transaction a handle's work runs in.
#[derive(Clone)]
pub(crate) enum Scope {
    /// Each call commits on its own (people through the API).
    Own,
    /// All calls share one transaction that the owner commits or rolls back as a whole (a plugin
    /// invocation): a trap half-way through leaves nothing behind.
    Shared(super::Invocation),
}

/// The transaction a write runs in: its own, or the shared one of an invocation.
enum TxGuard<'a> {
    Own(Tx),
    Shared(tokio::sync::MutexGuard<'a, Option<Tx>>),
}

impl TxGuard<'_> {
    fn tx(&mut self) -> &mut Tx {
        match self {
            TxGuard::Own(t) => t,
            TxGuard::Shared(g) => g.as_mut().expect("checked open in begin"),
        }
    }
    /// Appends the change's audit entries in the same transaction and, if the transaction is the
    /// call's own, commits.
    async fn finish(mut self, inner: &GateInner, events: Vec<Event>) -> Result<()> {
        inner.audit.append(self.tx(), events).await?;
        if let TxGuard::Own(t) = self {
            t.commit().await?;
        }
        Ok(())
    }
}

const SELECT_ROW: &str = "SELECT r.id, r.object, r.subject_id, r.owner_id, r.version, r.created_at, r.updated_at, \
     r.plain, r.sealed, k.id AS kid, k.version AS kversion, k.root_version, k.wrapped, k.state \
     FROM records r JOIN data_keys k ON k.id = r.key_id";

struct StoredRecord {
    id: String,
    object: String,
    subject_id: Option<String>,
    owner_id: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    plain: Map<String, Value>,
    sealed: BTreeMap<String, String>,
    key: WrappedKey,
}

impl StoredRecord {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredRecord> {
        let plain: String = r.try_get("plain")?;
        let sealed: String = r.try_get("sealed")?;
        let id: String = r.try_get("id")?;
        let bad = |what: &str| AccessError::Integrity(format!("record {id}: {what} is not valid JSON"));
        Ok(StoredRecord {
            plain: serde_json::from_str(&plain).map_err(|_| bad("plain"))?,
            sealed: serde_json::from_str(&sealed).map_err(|_| bad("sealed"))?,
            object: r.try_get("object")?,
            subject_id: r.try_get("subject_id")?,
            owner_id: r.try_get("owner_id")?,
            version: r.try_get("version")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            key: WrappedKey {
                id: r.try_get("kid")?,
                version: r.try_get("kversion")?,
                root_version: r.try_get("root_version")?,
                wrapped: r.try_get("wrapped")?,
                destroyed: r.try_get::<String, _>("state")? == "destroyed",
            },
            id,
        })
    }
}

/// The cursor after a record in a sorted list: its sort value (or none) and id.
fn sort_cursor(value: Option<&Value>, id: &str) -> String {
    use base64::Engine as _;
    let v = value.cloned().unwrap_or(Value::Null);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::json!([v, id]).to_string())
}

/// The condition for the rows after a sorted cursor: (no value last, value, id).
fn sort_after(c: &mut Conditions, s: &SortSql, after: &str) -> Result<()> {
    use base64::Engine as _;
    let bad = || AccessError::BadRequest("`after` must be the `next` of the previous page of this sort".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(after).map_err(|_| bad())?;
    let parsed: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let (v, id) = match parsed.as_array().map(Vec::as_slice) {
        Some([v, Value::String(id)]) if uuid::Uuid::parse_str(id).is_ok() => (v.clone(), id.to_ascii_lowercase()),
        _ => return Err(bad()),
    };
    let e = &s.expr;
    if v.is_null() {
        c.push_many(&format!("({e} IS NULL AND r.id > {{}})"), vec![Arg::Text(id)]);
        return Ok(());
    }
    let arg = || -> Result<Arg> {
        if s.numeric {
            v.as_f64().map(Arg::Real).ok_or_else(bad)
        } else {
            Ok(Arg::Text(match &v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            }))
        }
    };
    let cmp = if s.descending { "<" } else { ">" };
    c.push_many(&format!("({e} {cmp} {{}} OR ({e} = {{}} AND r.id > {{}}) OR {e} IS NULL)"), vec![arg()?, arg()?, Arg::Text(id)]);
    Ok(())
}

/// The kind a blind index is computed under: shared across objects so that the same email on a
/// contact and on a lead gives the same digest.
fn index_kind(def: &FieldDef) -> String {
    match def.field_type {
        FieldType::Email => "email".into(),
        FieldType::Phone => "phone".into(),
        _ => format!("field:{}", def.name),
    }
}

/// The pseudonym of a subject, computed from its key (see `DataKey::pseudonym`).
pub(crate) async fn subject_pseudonym(inner: &GateInner, subject_id: &str) -> Result<String> {
    let key = subject_key(inner, None, subject_id).await?;
    Ok(key.pseudonym(subject_id))
}

/// A subject's data key, read inside a transaction.
pub(crate) async fn subject_key_in(inner: &GateInner, tx: &mut Tx, subject_id: &str) -> Result<DataKey> {
    subject_key(inner, Some(tx), subject_id).await
}

/// A subject's key row: `id, version, root_version, wrapped, state`.
pub(crate) const SUBJECT_KEY_SQL: &str =
    "SELECT k.id, k.version, k.root_version, k.wrapped, k.state FROM subjects s JOIN data_keys k ON k.id = s.key_id WHERE s.id = $1";

async fn subject_key(inner: &GateInner, tx: Option<&mut Tx>, subject_id: &str) -> Result<DataKey> {
    let q = sqlx::query(SUBJECT_KEY_SQL).bind(subject_id.to_string());
    let row = match tx {
        Some(tx) => q.fetch_optional(&mut **tx).await?,
        None => q.fetch_optional(inner.db.reader()).await?,
    };
    let r = row.ok_or_else(|| AccessError::BadRequest(format!("unknown subject {subject_id}")))?;
    let w = WrappedKey::from_row(&r, 0)?;
    if w.destroyed {
        return Err(AccessError::Conflict(format!("subject {subject_id} was erased")));
    }
    Ok(inner.keys.unwrap(&w)?)
}

impl RecordAccess {
    pub(super) fn new(inner: Arc<GateInner>, principal: Principal, perms: Effective, scope: Scope) -> Self {
        RecordAccess { inner, principal, perms, scope }
    }

    async fn begin(&self) -> Result<TxGuard<'_>> {
        Ok(match &self.scope {
            Scope::Own => TxGuard::Own(self.inner.db.begin_write().await?),
            Scope::Shared(inv) => {
                let g = inv.tx.lock().await;
                if g.is_none() {
                    return Err(AccessError::Internal("the invocation has already finished".into()));
                }
                TxGuard::Shared(g)
            }
        })
    }

    /// Records entries that accompany no change (reads, denials, failures). In a shared scope they
    /// wait for the invocation's end and survive its rollback.
    async fn note(&self, events: Vec<Event>) -> Result<()> {
        match &self.scope {
            Scope::Own => Ok(self.inner.audit.record(events).await?),
            Scope::Shared(inv) => {
                inv.notes.lock().expect("notes lock").extend(events);
                Ok(())
            }
        }
    }

    /// Runs a read query in the scope's transaction (so an invocation sees its own writes) or on
    /// the read pool.
    async fn fetch_all<'q>(&self, q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>) -> Result<Vec<sqlx::any::AnyRow>> {
        Ok(match &self.scope {
            Scope::Own => q.fetch_all(self.inner.db.reader()).await?,
            Scope::Shared(inv) => {
                let mut g = inv.tx.lock().await;
                let tx = g.as_mut().ok_or_else(|| AccessError::Internal("the invocation has already finished".into()))?;
                q.fetch_all(&mut **tx).await?
            }
        })
    }

    fn object(&self, name: &str) -> Result<Arc<ObjectDef>> {
        let schema = self.inner.schema();
        schema.object(name).cloned().map(Arc::new).ok_or_else(|| AccessError::UnknownObject(name.to_string()))
    }

    fn event(&self, action: &str, outcome: Outcome) -> Event {
        Event::new(&self.principal.actor, action, outcome)
            .request(self.principal.request_id.as_deref())
            .purpose(self.principal.purpose.as_deref())
    }

    async fn deny<T>(&self, action: &str, object: &str, what: String) -> Result<T> {
        let ev = self.event(action, Outcome::Denied).object(object).detail(what.clone());
        self.note(vec![ev]).await?;
        Err(AccessError::Denied(what))
    }

    /// Validates input, reloading the schema once if it names something this node has not seen
    /// (another node may have added a custom field).
    async fn validate(&self, obj: Arc<ObjectDef>, input: &Map<String, Value>, mode: WriteMode) -> Result<(Arc<ObjectDef>, CleanFields)> {
        match validate_fields(&obj, input, mode) {
            Ok(c) => Ok((obj, c)),
            Err(crate::model::validate::ValidationError::UnknownField { .. }) => {
                self.inner.set_schema(super::schema_admin::load_schema(&self.inner.db).await?);
                let obj = self.object(&obj.name)?;
                Ok((obj.clone(), validate_fields(&obj, input, mode)?))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn check_writable(&self, obj: &ObjectDef, action: &str, clean: &CleanFields) -> Result<()> {
        let denied: Vec<String> = clean
            .keys()
            .filter(|name| {
                let def = obj.field(name).expect("validated");
                self.perms.field(obj, def) < FieldAccess::Write
            })
            .cloned()
            .collect();
        if !denied.is_empty() {
            return self.deny(action, &obj.name, format!("no write access to field(s) {} of {}", denied.join(", "), obj.name)).await;
        }
        Ok(())
    }

    /// References must name an existing record of the right object.
    async fn check_references(&self, tx: &mut Tx, obj: &ObjectDef, clean: &CleanFields) -> Result<()> {
        for (name, value) in clean {
            let def = obj.field(name).expect("validated");
            let (FieldType::Reference { object: target }, Some(id)) = (&def.field_type, value.as_str()) else { continue };
            let found: Option<String> = sqlx::query_scalar("SELECT object FROM records WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
            if found.as_deref() != Some(target.as_str()) {
                return Err(AccessError::BadRequest(format!("field `{name}` refers to no {target} record with that id")));
            }
        }
        Ok(())
    }

    /// Writes a record event to the outbox in the change's own transaction, so no committed change
    /// loses its event and no rolled-back change emits one.
    /// A write to a consent record changes whether its person consents now: recomputed in the same
    /// transaction (for the subject before and after, when the record moved).
    async fn consent_changed<const N: usize>(&self, tx: &mut Tx, object: &str, subjects: [Option<&str>; N]) -> Result<()> {
        if object != super::consent::OBJECT {
            return Ok(());
        }
        let mut done: Vec<&str> = Vec::new();
        for s in subjects.into_iter().flatten() {
            if !done.contains(&s) {
                super::consent::refresh(tx, s).await?;
                done.push(s);
            }
        }
        Ok(())
    }

    async fn emit(&self, tx: &mut Tx, kind: &str, object: &str, record_id: &str, fields: Vec<String>) -> Result<()> {
        let source = self.principal.plugin.as_ref().map(|g| g.plugin.split('@').next().unwrap_or_default().to_string());
        sqlx::query(
            "INSERT INTO record_events (id, kind, object, record_id, changed_fields, source_plugin, occurred_at, fanned_out) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(kind.to_string())
        .bind(object.to_string())
        .bind(record_id.to_string())
        .bind(fields.join(","))
        .bind(source)
        .bind(now_micros())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A record may only be given to an owner within the caller's own record scope (a sales
    /// person cannot hand a record to another team, nor create one they could not then see).
    async fn check_owner_in_scope(&self, object: &str, action: &str, owner: Option<&str>) -> Result<()> {
        match owner {
            Some(o) if !self.perms.owns_in_scope(object, Some(o)) => {
                self.deny(action, object, format!("may not assign {object} records to that owner")).await
            }
            _ => Ok(()),
        }
    }

    /// An explicit owner must be an existing user.
    async fn check_owner(&self, tx: &mut Tx, owner: Option<&str>) -> Result<()> {
        if let Some(o) = owner {
            let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
                .bind(o.to_string())
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(AccessError::BadRequest("`owner_id` names no user".into()));
            }
        }
        Ok(())
    }

    /// The subject and key a new (or re-linked) record is sealed under.
    async fn subject_for(&self, tx: &mut Tx, obj: &ObjectDef, link: Option<&str>) -> Result<(Option<String>, DataKey)> {
        let keys = &self.inner.keys;
        match obj.subject_mode {
            SubjectMode::Owns => {
                let sid = uuid::Uuid::new_v4().to_string();
                let key = keys.create_key(tx, "subject", &sid, &uuid::Uuid::new_v4().to_string()).await?;
                sqlx::query("INSERT INTO subjects (id, key_id, created_at) VALUES ($1, $2, $3)")
                    .bind(sid.clone())
                    .bind(key.id.clone())
                    .bind(now_micros())
                    .execute(&mut **tx)
                    .await?;
                Ok((Some(sid), key))
            }
            SubjectMode::Inherits if link.is_some() => {
                let sid: Option<String> = sqlx::query_scalar("SELECT subject_id FROM records WHERE id = $1")
                    .bind(link.unwrap_or_default().to_string())
                    .fetch_optional(&mut **tx)
                    .await?
                    .flatten();
                match sid {
                    Some(sid) => {
                        let key = subject_key(&self.inner, Some(tx), &sid).await?;
                        Ok((Some(sid), key))
                    }
                    None => Ok((None, keys.object_key(tx, &obj.name).await?)),
                }
            }
            _ => Ok((None, keys.object_key(tx, &obj.name).await?)),
        }
    }

    /// Splits clean values into plain JSON, sealed ciphertexts and blind-index digests.
    fn seal_values(&self, obj: &ObjectDef, id: &str, key: &DataKey, clean: &CleanFields, plain: &mut Map<String, Value>, sealed: &mut BTreeMap<String, String>) -> Vec<(String, Option<String>)> {
        let mut digests = Vec::new();
        for (name, value) in clean {
            let def = obj.field(name).expect("validated");
            if value.is_null() {
                plain.remove(name);
                sealed.remove(name);
            } else if def.classification.is_encrypted() {
                sealed.insert(name.clone(), key.seal_field(&obj.name, id, name, value));
            } else {
                plain.insert(name.clone(), value.clone());
            }
            if def.blind_index {
                let digest = value.as_str().map(|s| {
                    self.inner.index.digest(&index_kind(def), &normalise_for_index(&def.field_type, s))
                });
                digests.push((name.clone(), digest));
            }
        }
        digests
    }

    async fn write_digests(&self, tx: &mut Tx, object: &str, id: &str, digests: &[(String, Option<String>)], replace: bool) -> Result<()> {
        if replace {
            for (field, _) in digests {
                sqlx::query("DELETE FROM blind_index WHERE record_id = $1 AND field = $2")
                    .bind(id.to_string())
                    .bind(field.clone())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        let rows: Vec<(&String, &String)> = digests.iter().filter_map(|(f, d)| d.as_ref().map(|d| (f, d))).collect();
        if rows.is_empty() {
            return Ok(());
        }
        // One statement for all of a record's indexes: the round trip is the cost.
        let values: Vec<String> = (0..rows.len()).map(|i| format!("($1, $2, ${}, ${})", 3 + 2 * i, 4 + 2 * i)).collect();
        let sql = format!("INSERT INTO blind_index (object, record_id, field, digest) VALUES {}", values.join(", "));
        let mut q = sqlx::query(&sql).bind(object.to_string()).bind(id.to_string());
        for (f, d) in rows {
            q = q.bind(f.clone()).bind(d.clone());
        }
        q.execute(&mut **tx).await?;
        Ok(())
    }

    /// Creates a record. Required fields, types, references and write permission are checked first.
    pub async fn create(&self, object: &str, input: &Map<String, Value>, opts: WriteOptions) -> Result<RecordView> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Create) {
            return self.deny("create", object, format!("may not create {object} records")).await;
        }
        let (obj, clean) = self.validate(obj, input, WriteMode::Create).await?;
        self.check_writable(&obj, "create", &clean).await?;
        self.check_owner_in_scope(object, "create", opts.owner_id.as_deref()).await?;
        let mut guard = self.begin().await?;
        let (stored, key, ev) = self.insert(guard.tx(), &obj, &clean, opts).await?;
        guard.finish(&self.inner, vec![ev]).await?;
        // The caller wrote these values; echoing them back is not a new disclosure, so no read entry.
        let (view, _, _) = self.view(&obj, &stored, Some(&key))?;
        Ok(view)
    }

    /// Creates many records of one object in a single transaction (imports, seeding): all or none.
    /// Every record gets its own audit entry. Returns the new ids in input order.
    pub async fn create_many(&self, object: &str, inputs: &[(Map<String, Value>, WriteOptions)]) -> Result<Vec<String>> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Create) {
            return self.deny("create", object, format!("may not create {object} records")).await;
        }
        let mut cleans = Vec::with_capacity(inputs.len());
        let mut obj = obj;
        for (_, opts) in inputs {
            self.check_owner_in_scope(object, "create", opts.owner_id.as_deref()).await?;
        }
        for (i, (input, _)) in inputs.iter().enumerate() {
            let (o, clean) = self.validate(obj, input, WriteMode::Create).await.map_err(|e| match e {
                AccessError::Invalid(v) => AccessError::BadRequest(format!("record {}: {v}", i + 1)),
                other => other,
            })?;
            self.check_writable(&o, "create", &clean).await?;
            obj = o;
            cleans.push(clean);
        }
        let mut guard = self.begin().await?;
        let mut ids = Vec::with_capacity(inputs.len());
        let mut events = Vec::with_capacity(inputs.len());
        for (clean, (_, opts)) in cleans.iter().zip(inputs) {
            let (stored, _, ev) = self.insert(guard.tx(), &obj, clean, opts.clone()).await?;
            ids.push(stored.id);
            events.push(ev);
        }
        guard.finish(&self.inner, events).await?;
        Ok(ids)
    }

    /// Inserts one validated record inside the caller's transaction; returns it, its key and its
    /// audit event (appended by the caller, so a batch appends its entries in one statement).
    async fn insert(&self, tx: &mut Tx, obj: &ObjectDef, clean: &CleanFields, opts: WriteOptions) -> Result<(StoredRecord, DataKey, Event)> {
        self.check_references(tx, obj, clean).await?;
        self.check_owner(tx, opts.owner_id.as_deref()).await?;
        let link = obj.subject_link().and_then(|f| clean.get(&f.name)).and_then(Value::as_str).map(str::to_string);
        let (subject_id, key) = self.subject_for(tx, obj, link.as_deref()).await?;
        let id = match &opts.id {
            Some(given) => uuid::Uuid::parse_str(given)
                .map_err(|_| AccessError::BadRequest("a record id must be a UUID".into()))?
                .to_string(),
            None => uuid::Uuid::now_v7().to_string(),
        };
        let (mut plain, mut sealed) = (Map::new(), BTreeMap::new());
        let digests = self.seal_values(obj, &id, &key, clean, &mut plain, &mut sealed);
        let now = now_micros();
        let owner = opts.owner_id.or_else(|| self.principal.user_id.clone());
        sqlx::query(
            "INSERT INTO records (id, object, subject_id, key_id, owner_id, version, created_at, updated_at, plain, sealed) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $8)",
        )
        .bind(id.clone())
        .bind(obj.name.clone())
        .bind(subject_id.clone())
        .bind(key.id.clone())
        .bind(owner.clone())
        .bind(now)
        .bind(Value::Object(plain.clone()).to_string())
        .bind(serde_json::to_string(&sealed).expect("map serialises"))
        .execute(&mut **tx)
        .await?;
        self.write_digests(tx, &obj.name, &id, &digests, false).await?;
        self.consent_changed(tx, &obj.name, [subject_id.as_deref()]).await?;
        self.emit(tx, "record.created", &obj.name, &id, clean.keys().cloned().collect()).await?;
        let pseudonym = subject_id.as_deref().map(|s| key.pseudonym(s));
        let ev = self
            .event("create", Outcome::Allowed)
            .object(&obj.name)
            .record(&id)
            .fields(clean.keys().cloned().collect())
            .subject(pseudonym);
        let stored = StoredRecord {
            id,
            object: obj.name.clone(),
            subject_id,
            owner_id: owner,
            version: 1,
            created_at: now,
            updated_at: now,
            plain,
            sealed,
            key: WrappedKey { id: key.id.clone(), version: key.version, root_version: 0, wrapped: None, destroyed: false },
        };
        Ok((stored, key, ev))
    }

    /// Builds the caller's view of a stored record; returns the personal fields shown in clear.
    fn view(&self, obj: &ObjectDef, r: &StoredRecord, key: Option<&DataKey>) -> Result<(RecordView, Vec<String>, Option<String>)> {
        self.view_with(obj, r, key, |o, f| self.perms.field(o, f))
    }

    /// [`RecordAccess::view`] with the field access the policy decided for another path (an
    /// access export).
    fn view_with(
        &self,
        obj: &ObjectDef,
        r: &StoredRecord,
        key: Option<&DataKey>,
        access_of: impl Fn(&ObjectDef, &FieldDef) -> FieldAccess,
    ) -> Result<(RecordView, Vec<String>, Option<String>)> {
        let unwrapped;
        let key = match key {
            Some(k) => Some(k),
            None if r.key.destroyed => None,
            None if r.sealed.is_empty() => None,
            None => {
                unwrapped = self.inner.keys.unwrap(&r.key)?;
                Some(&unwrapped)
            }
        };
        let mut fields = Map::new();
        let mut masked = Vec::new();
        let mut seen_personal = Vec::new();
        for def in &obj.fields {
            let access = access_of(obj, def);
            if !access.can_see() {
                continue;
            }
            let value = if def.classification.is_encrypted() {
                match (r.sealed.get(&def.name), key) {
                    (Some(ct), Some(k)) => k.open_field(&r.object, &r.id, &def.name, ct)?,
                    _ => continue,
                }
            } else {
                match r.plain.get(&def.name) {
                    Some(v) => v.clone(),
                    None => continue,
                }
            };
            if access.in_clear() {
                if def.classification.is_encrypted() {
                    seen_personal.push(def.name.clone());
                }
                fields.insert(def.name.clone(), value);
            } else {
                fields.insert(def.name.clone(), mask(def, &value));
                masked.push(def.name.clone());
            }
        }
        let view = RecordView {
            id: r.id.clone(),
            object: r.object.clone(),
            subject_id: r.subject_id.clone(),
            owner_id: r.owner_id.clone(),
            version: r.version,
            created_at: micros_to_rfc3339(r.created_at),
            updated_at: micros_to_rfc3339(r.updated_at),
            fields,
            masked,
            erased: r.key.destroyed,
        };
        // The subject's pseudonym for the read's audit entry, from the key already unwrapped.
        let pseudonym = match (&r.subject_id, key) {
            (Some(sid), Some(k)) => Some(k.pseudonym(sid)),
            _ => None,
        };
        Ok((view, seen_personal, pseudonym))
    }

    /// The record's subject pseudonym, unwrapping its key (`view` does so only when sealed fields
    /// need it); none for records without a subject or of an erased one.
    fn pseudonym_of(&self, r: &StoredRecord) -> Option<String> {
        match (&r.subject_id, r.key.destroyed) {
            (Some(sid), false) => self.inner.keys.unwrap(&r.key).ok().map(|k| k.pseudonym(sid)),
            _ => None,
        }
    }

    /// Loads one record for a read path (read, reveal, history) and checks the caller's record
    /// scope; outside it, the record answers like a missing one.
    async fn load_in_scope(&self, object: &str, id: &str, action: &str) -> Result<StoredRecord> {
        let sql = format!("{SELECT_ROW} WHERE r.object = $1 AND r.id = $2");
        let rows = self.fetch_all(sqlx::query(&sql).bind(object.to_string()).bind(id.to_ascii_lowercase())).await?;
        let row = rows.first().ok_or_else(|| AccessError::NotFound { object: object.into(), id: id.into() })?;
        let stored = StoredRecord::from_row(row)?;
        self.check_scope(&stored, action).await?;
        Ok(stored)
    }

    /// The audit entry for a read that disclosed personal fields (in clear or masked).
    fn read_event(&self, action: &str, r: &StoredRecord, view: &RecordView, seen: Vec<String>, pseudonym: Option<String>) -> Option<Event> {
        if seen.is_empty() && view.masked.is_empty() {
            return None;
        }
        let pseudonym = pseudonym.or_else(|| self.pseudonym_of(r));
        let mut ev = self.event(action, Outcome::Allowed).object(&r.object).record(&r.id).fields(seen).subject(pseudonym);
        if !view.masked.is_empty() {
            ev = ev.detail(format!("masked: {}", view.masked.join(",")));
        }
        Some(ev)
    }

    async fn integrity_failure<T>(&self, object: &str, id: &str, e: AccessError) -> Result<T> {
        if let AccessError::Integrity(_) = &e {
            let ev = self.event("read", Outcome::Failed).object(object).record(id).detail("integrity check failed");
            self.note(vec![ev]).await?;
        }
        Err(e)
    }

    /// Reads one record; the read of its personal fields is on record before the data is returned.
    pub async fn get(&self, object: &str, id: &str) -> Result<RecordView> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Read) {
            return self.deny("read", object, format!("may not read {object} records")).await;
        }
        let stored = self.load_in_scope(object, id, "read").await?;
        let (view, seen, pseudonym) = match self.view(&obj, &stored, None) {
            Ok(v) => v,
            Err(e) => return self.integrity_failure(object, id, e).await,
        };
        if let Some(ev) = self.read_event("read", &stored, &view, seen, pseudonym) {
            self.note(vec![ev]).await?;
        }
        Ok(view)
    }

    /// Shows one masked field in clear, once, to a caller whose role allows revealing it, for a
    /// stated reason. The reveal (field name and reason, never the value) is on record before the
    /// value is returned. `mfa_fresh` says whether the caller passed a TOTP check in the last
    /// minutes, which roles can require for reveals.
    pub async fn reveal(&self, object: &str, id: &str, field: &str, reason: &str, mfa_fresh: bool) -> Result<Value> {
        let obj = self.object(object)?;
        let def = obj.field(field).ok_or_else(|| AccessError::BadRequest(format!("unknown field `{}` on object `{object}`", field.chars().take(64).collect::<String>())))?.clone();
        if !self.perms.may(&obj, Action::Read) {
            return self.deny("reveal", object, format!("may not read {object} records")).await;
        }
        let reason: String = reason.trim().chars().filter(|c| !c.is_control()).collect();
        if reason.chars().count() < 3 || reason.chars().count() > 200 {
            return Err(AccessError::BadRequest("a reveal needs a reason of 3 to 200 characters".into()));
        }
        if !self.perms.may_reveal(&obj, &def) {
            return self.deny("reveal", object, format!("may not reveal `{}` of {object} records", def.name)).await;
        }
        if self.perms.permissions().reveal_requires_mfa() && !mfa_fresh {
            return Err(AccessError::MfaRequired("revealing a masked value needs a fresh TOTP code".into()));
        }
        let stored = self.load_in_scope(object, id, "reveal").await?;
        let name = def.name.clone();
        let (view, _, pseudonym) = match self.view_with(&obj, &stored, None, |_, f| if f.name == name { FieldAccess::Read } else { FieldAccess::None }) {
            Ok(v) => v,
            Err(e) => return self.integrity_failure(object, id, e).await,
        };
        let value = view.fields.get(&def.name).cloned().unwrap_or(Value::Null);
        let pseudonym = pseudonym.or_else(|| self.pseudonym_of(&stored));
        let ev = self
            .event("reveal", Outcome::Allowed)
            .object(object)
            .record(&stored.id)
            .fields(vec![def.name.clone()])
            .subject(pseudonym)
            .detail(format!("reason: {reason}"));
        self.note(vec![ev]).await?;
        Ok(value)
    }

    /// Lists records in id order (ids are time-ordered UUIDv7), a page at a time, with filters.
    /// A filter may only name a field the caller can read in clear: filtering on a hidden or masked
    /// field would let its value be guessed one query at a time.
    pub async fn list(&self, object: &str, q: &ListQuery) -> Result<RecordPage> {
        self.page(object, q, Action::Read, "list").await
    }

    /// One page of an export: like [`RecordAccess::list`], but it needs the export permission and
    /// every record handed out is an `export` entry in the audit trail.
    pub async fn export_page(&self, object: &str, q: &ListQuery) -> Result<RecordPage> {
        self.page(object, q, Action::Export, "export").await
    }

    /// How many records a query reaches (for export limits), within the caller's scope.
    pub async fn count(&self, object: &str, q: &ListQuery, action: Action) -> Result<i64> {
        let obj = self.object(object)?;
        let c = self.conditions(&obj, q, action, if action == Action::Export { "export" } else { "list" }).await?;
        let sql = format!("SELECT COUNT(*) FROM records r{}", c.where_sql());
        let rows = self.fetch_all(c.bind(sqlx::query(&sql))).await?;
        Ok(rows.first().map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0))
    }

    /// The WHERE clause of a query: the object, the caller's record scope, and filters on fields
    /// the caller reads in clear.
    async fn conditions(&self, obj: &ObjectDef, q: &ListQuery, action: Action, audit_action: &str) -> Result<Conditions> {
        Ok(self.conditions_and_sort(obj, q, action, audit_action).await?.0)
    }

    async fn conditions_and_sort(&self, obj: &ObjectDef, q: &ListQuery, action: Action, audit_action: &str) -> Result<(Conditions, Option<SortSql>)> {
        let object = obj.name.as_str();
        if !self.perms.may(obj, action) {
            let what = if action == Action::Export { "export" } else { "read" };
            return self.deny(audit_action, object, format!("may not {what} {object} records")).await;
        }
        let mut c = Conditions::default();
        if crate::model::is_valid_identifier(object) {
            // The object's name (a schema identifier) written into the statement, not bound: an
            // index kept for one object (`WHERE object = 'lead'`) serves only a query the planner
            // can see is about that object.
            c.push_clause(&format!("r.object = '{object}'"));
        } else {
            c.push("r.object", "=", Arg::Text(object.to_string()));
        }
        if let Some(owners) = self.perms.scope_owners(object) {
            c.push_in("r.owner_id", owners);
        }
        if let Some(purpose) = self.perms.consent_purpose(object) {
            super::consent::condition(&mut c, purpose);
        }
        for f in &q.filters {
            if let Some(column) = record_time_column(obj, &f.field) {
                push_time_filter(&mut c, column, f)?;
                continue;
            }
            if f.field == "owner_id" && obj.field("owner_id").is_none() {
                // Whose record it is says nothing about the person in it ("my leads").
                if f.op == FilterOp::Empty {
                    c.push_clause("r.owner_id IS NULL");
                    continue;
                }
                let owner = match &f.value {
                    FilterValue::Text(s) | FilterValue::Json(Value::String(s)) if f.op == FilterOp::Eq => s.clone(),
                    _ => return Err(AccessError::BadRequest("`owner_id` filters compare with eq and a user id, or ask for empty".into())),
                };
                c.push("r.owner_id", "=", Arg::Text(owner));
                continue;
            }
            let def = match obj.field(&f.field) {
                Some(d) => d,
                None => return Err(AccessError::BadRequest(format!("unknown field `{}` on object `{object}`", f.field))),
            };
            if !self.perms.field(obj, def).in_clear() {
                return self.deny(audit_action, object, format!("no read access to field `{}` of {object} used in a filter", f.field)).await;
            }
            self.push_filter(&mut c, obj, def, f)?;
        }
        if let Some(term) = q.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if term.len() > 500 {
                return Err(AccessError::BadRequest("a search is at most 500 bytes".into()));
            }
            // Only fields the caller reads in clear take part: searching a hidden or masked one
            // would confirm its value.
            let mut alternatives = Vec::new();
            for def in obj.fields.iter().filter(|d| d.blind_index && d.classification.is_encrypted() && self.perms.field(obj, d).in_clear()) {
                if let Ok(clean) = validate_value(def, &Value::String(term.to_string())) {
                    let digest = self.inner.index.digest(&index_kind(def), &normalise_for_index(&def.field_type, clean.as_str().unwrap_or_default()));
                    alternatives.push((def.name.clone(), digest));
                }
            }
            if alternatives.is_empty() {
                c.push_in("r.id", Vec::new());
            } else {
                // One lookup per field, joined by UNION ALL: an OR of (field, digest) pairs would let
                // the planner use only the object part of the index key and read every entry of
                // the object (tens of milliseconds at 100,000 contacts, growing with the table).
                let lookups: Vec<String> = alternatives
                    .iter()
                    .map(|(f, _)| format!("SELECT record_id FROM blind_index WHERE object = '{object}' AND field = '{f}' AND digest = {{}}"))
                    .collect();
                let template = format!("r.id IN ({})", lookups.join(" UNION ALL "));
                c.push_many(&template, alternatives.into_iter().map(|(_, d)| Arg::Text(d)).collect());
            }
        }
        let sort = match &q.sort {
            None => None,
            Some(srt) => {
                let def = obj.field(&srt.field).ok_or_else(|| AccessError::BadRequest(format!("unknown field `{}` on object `{object}`", srt.field.chars().take(60).collect::<String>())))?;
                // Order reveals values as surely as a filter does.
                if !self.perms.field(obj, def).in_clear() {
                    return self.deny(audit_action, object, format!("no read access to field `{}` of {object} used for sorting", def.name)).await;
                }
                if def.classification.is_encrypted() {
                    return Err(AccessError::BadRequest(format!("`{}` is encrypted and cannot be sorted on", def.name)));
                }
                let db = &self.inner.db;
                let numeric = matches!(def.field_type, FieldType::Number | FieldType::Integer);
                let expr = match def.field_type {
                    FieldType::Tags => return Err(AccessError::BadRequest(format!("`{}` holds tags and cannot be sorted on", def.name))),
                    _ if numeric => db.json_number("r.plain", &def.name),
                    _ => db.sortable_text(&db.json_text("r.plain", &def.name)),
                };
                Some(SortSql { field: def.name.clone(), expr, numeric, descending: srt.descending })
            }
        };
        Ok((c, sort))
    }

    /// A record's change history from the audit trail, newest first: who created, changed or
    /// deleted it and which fields, naming only fields the caller may see.
    pub async fn history(&self, object: &str, id: &str, before: Option<i64>, limit: usize) -> Result<Vec<Change>> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Read) {
            return self.deny("history", object, format!("may not read {object} records")).await;
        }
        let stored = self.load_in_scope(object, id, "history").await?;
        let visible: std::collections::BTreeSet<&str> = obj.fields.iter().filter(|f| self.perms.field(&obj, f).can_see()).map(|f| f.name.as_str()).collect();
        let entries = self
            .fetch_all(
                sqlx::query(
                    "SELECT seq, at, actor, action, fields FROM audit_log WHERE record_id = $1 AND object = $2 \
                     AND action IN ('create', 'update', 'delete') AND outcome = 'allowed' AND seq < $3 ORDER BY seq DESC LIMIT $4",
                )
                .bind(stored.id.clone())
                .bind(object.to_string())
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, 200) as i64),
            )
            .await?;
        entries
            .iter()
            .map(|e| {
                let fields: String = e.try_get(4)?;
                let fields: Vec<String> = fields.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect();
                Ok(Change {
                    seq: e.try_get(0)?,
                    at: micros_to_rfc3339(e.try_get(1)?),
                    actor: e.try_get(2)?,
                    action: e.try_get(3)?,
                    fields: fields.into_iter().filter(|f| visible.contains(f.as_str())).collect(),
                })
            })
            .collect()
    }

    async fn page(&self, object: &str, q: &ListQuery, action: Action, audit_action: &str) -> Result<RecordPage> {
        let obj = self.object(object)?;
        let (mut c, sort) = self.conditions_and_sort(&obj, q, action, audit_action).await?;
        let order = match &sort {
            None => {
                if let Some(after) = &q.after {
                    if uuid::Uuid::parse_str(after).is_err() {
                        return Err(AccessError::BadRequest("`after` must be the id of the last record of the previous page".into()));
                    }
                    c.push("r.id", ">", Arg::Text(after.to_ascii_lowercase()));
                }
                "r.id".to_string()
            }
            Some(s) => {
                if let Some(after) = &q.after {
                    sort_after(&mut c, s, after)?;
                }
                let dir = if s.descending { "DESC" } else { "ASC" };
                if q.filters.iter().any(|f| f.field == s.field && f.op != FilterOp::Empty) {
                    // A filter on the sort field leaves no record without a value, and the plain
                    // order is one an index on the field can give ("tasks due", by due date).
                    format!("{e} {dir}, r.id", e = s.expr)
                } else {
                    // Records without a value come last, whichever the direction. Said as NULLS
                    // LAST, an order an index can give: SQLite's descending order and
                    // PostgreSQL's ascending one put nulls last anyway (the lead board's columns,
                    // by score, highest first, read `records_lead_board` in order).
                    format!("{e} {dir} NULLS LAST, r.id", e = s.expr)
                }
            }
        };
        let limit = q.limit.clamp(1, 200);
        let sql = format!("{SELECT_ROW}{} ORDER BY {order} LIMIT {}", c.where_sql(), limit + 1);
        let rows = self.fetch_all(c.bind(sqlx::query(&sql))).await?;
        let mut records = Vec::with_capacity(rows.len().min(limit));
        let mut events = Vec::new();
        for row in rows.iter().take(limit) {
            let stored = StoredRecord::from_row(row)?;
            let (view, seen, pseudonym) = match self.view(&obj, &stored, None) {
                Ok(v) => v,
                Err(e) => return self.integrity_failure(object, &stored.id, e).await,
            };
            let ev = match self.read_event(audit_action, &stored, &view, seen.clone(), pseudonym) {
                Some(ev) => Some(ev),
                // Every exported record is on record, personal fields or not.
                None if action == Action::Export => Some(self.event(audit_action, Outcome::Allowed).object(object).record(&stored.id).fields(view.fields.keys().cloned().collect())),
                None => None,
            };
            events.extend(ev);
            records.push(view);
        }
        let next = if rows.len() > limit {
            records.last().map(|r| match &sort {
                None => r.id.clone(),
                Some(s) => sort_cursor(r.fields.get(&s.field), &r.id),
            })
        } else {
            None
        };
        self.note(events).await?;
        Ok(RecordPage { records, next })
    }

    fn push_filter(&self, c: &mut Conditions, obj: &ObjectDef, def: &FieldDef, f: &Filter) -> Result<()> {
        let db = &self.inner.db;
        let bad = |why: &str| AccessError::BadRequest(format!("filter on `{}`: {why}", def.name));
        if f.value.len() > 4096 {
            return Err(bad("the value is longer than 4096 bytes"));
        }
        if f.op == FilterOp::Empty {
            if def.classification.is_encrypted() {
                return Err(bad("the field is encrypted, and whether it has a value is not indexed"));
            }
            let expr = match def.field_type {
                FieldType::Number | FieldType::Integer => db.json_number("r.plain", &def.name),
                FieldType::Bool => db.json_bool("r.plain", &def.name),
                _ => db.json_text("r.plain", &def.name),
            };
            c.push_clause(&format!("{expr} IS NULL"));
            return Ok(());
        }
        let value = f.value.typed(def).map_err(bad)?;
        if def.classification.is_encrypted() {
            if !def.blind_index {
                return Err(bad("the field is encrypted and has no blind index, so it cannot be filtered"));
            }
            if f.op != FilterOp::Eq {
                return Err(bad("an encrypted field supports equality only"));
            }
            let clean = validate_value(def, &value).map_err(|e| bad(&e.to_string()))?;
            let digest = self.inner.index.digest(&index_kind(def), &normalise_for_index(&def.field_type, clean.as_str().unwrap_or_default()));
            c.push_template(
                &format!("r.id IN (SELECT record_id FROM blind_index WHERE object = '{}' AND field = '{}' AND digest = {{}})", obj.name, def.name),
                Arg::Text(digest),
            );
            return Ok(());
        }
        if f.op != FilterOp::Eq && !def.field_type.is_ordered() {
            return Err(bad("range filters need a number, integer, date or datetime field"));
        }
        match &def.field_type {
            FieldType::Number | FieldType::Integer => {
                let n = value.as_f64().ok_or_else(|| bad("expected a number"))?;
                c.push(&db.json_number("r.plain", &def.name), f.op.sql(), Arg::Real(n));
            }
            FieldType::Bool => {
                let b = value.as_bool().ok_or_else(|| bad("expected true or false"))?;
                c.push(&db.json_bool("r.plain", &def.name), "=", Arg::Text(if b { "true" } else { "false" }.into()));
            }
            FieldType::Tags => return Err(bad("tags cannot be filtered yet")),
            _ => {
                let clean = validate_value(def, &value).map_err(|e| bad(&e.to_string()))?;
                let text = clean.as_str().ok_or_else(|| bad("expected a string"))?;
                c.push(&db.json_text("r.plain", &def.name), f.op.sql(), Arg::Text(text.to_string()));
            }
        }
        Ok(())
    }

    /// A record outside the caller's record scope (another owner, another team) answers exactly
    /// like a missing one, so ids cannot be probed; the attempt is a denial on record.
    async fn check_scope(&self, r: &StoredRecord, action: &str) -> Result<()> {
        if !self.perms.owns_in_scope(&r.object, r.owner_id.as_deref()) {
            return self.scope_denied(r, action).await;
        }
        if let Some(purpose) = self.perms.consent_purpose(&r.object) {
            if self.fetch_all(super::consent::consents_query(r.subject_id.as_deref(), purpose)).await?.is_empty() {
                return self.consent_denied(r, action).await;
            }
        }
        Ok(())
    }

    /// Inside a write: whether the record's person consents to the purpose the caller's grant is
    /// conditioned on (true when it is not conditioned).
    async fn consent_allows(&self, tx: &mut Tx, r: &StoredRecord) -> Result<bool> {
        let Some(purpose) = self.perms.consent_purpose(&r.object) else { return Ok(true) };
        Ok(super::consent::consents_query(r.subject_id.as_deref(), purpose).fetch_optional(&mut **tx).await?.is_some())
    }

    /// A record of someone who does not consent answers like a missing one, as outside the scope.
    async fn consent_denied<T>(&self, r: &StoredRecord, action: &str) -> Result<T> {
        let purpose = self.perms.consent_purpose(&r.object).unwrap_or_default();
        let ev = self.event(action, Outcome::Denied).object(&r.object).record(&r.id).detail(format!("no consent to purpose {purpose}"));
        self.note(vec![ev]).await?;
        Err(AccessError::NotFound { object: r.object.clone(), id: r.id.clone() })
    }

    async fn scope_denied<T>(&self, r: &StoredRecord, action: &str) -> Result<T> {
        let ev = self.event(action, Outcome::Denied).object(&r.object).record(&r.id).detail("outside the caller's record scope");
        self.note(vec![ev]).await?;
        Err(AccessError::NotFound { object: r.object.clone(), id: r.id.clone() })
    }

    async fn load_for_write(&self, tx: &mut Tx, object: &str, id: &str) -> Result<StoredRecord> {
        let row = sqlx::query(&format!("{SELECT_ROW} WHERE r.object = $1 AND r.id = $2{}", self.inner.db.for_update()))
            .bind(object.to_string())
            .bind(id.to_ascii_lowercase())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| AccessError::NotFound { object: object.into(), id: id.into() })?;
        StoredRecord::from_row(&row)
    }

    /// Changes some fields of a record; `null` clears a field.
    pub async fn update(&self, object: &str, id: &str, input: &Map<String, Value>, opts: WriteOptions) -> Result<RecordView> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Update) {
            return self.deny("update", object, format!("may not update {object} records")).await;
        }
        let (obj, clean) = self.validate(obj, input, WriteMode::Update).await?;
        self.check_writable(&obj, "update", &clean).await?;
        self.check_owner_in_scope(object, "update", opts.owner_id.as_deref()).await?;
        let mut guard = self.begin().await?;
        let tx = guard.tx();
        let mut r = self.load_for_write(tx, object, id).await?;
        if !self.perms.owns_in_scope(object, r.owner_id.as_deref()) {
            // The denial is recorded after the write transaction is given back.
            drop(guard);
            return self.scope_denied(&r, "update").await;
        }
        if !self.consent_allows(guard.tx(), &r).await? {
            drop(guard);
            return self.consent_denied(&r, "update").await;
        }
        let tx = guard.tx();
        if let Some(v) = opts.expected_version {
            if v != r.version {
                return Err(AccessError::Conflict(format!(
                    "{object} {id} is at version {}, not {v}: reload it and apply the change again",
                    r.version
                )));
            }
        }
        if r.key.destroyed {
            return Err(AccessError::Conflict(format!("{object} {id} belongs to an erased subject")));
        }
        self.check_references(tx, &obj, &clean).await?;
        self.check_owner(tx, opts.owner_id.as_deref()).await?;
        let mut key = self.inner.keys.unwrap(&r.key)?;
        let subject_before = r.subject_id.clone();
        let mut all_clean = clean.clone();
        // A changed subject link moves the record to another subject: everything is sealed again
        // under the new subject's key.
        if let (SubjectMode::Inherits, Some(link_def)) = (obj.subject_mode, obj.subject_link()) {
            if let Some(new_link) = clean.get(&link_def.name) {
                let (sid, new_key) = self.subject_for(tx, &obj, new_link.as_str()).await?;
                if new_key.id != key.id {
                    for (name, ct) in std::mem::take(&mut r.sealed) {
                        if !all_clean.contains_key(&name) {
                            let v = key.open_field(&r.object, &r.id, &name, &ct)?;
                            all_clean.insert(name, v);
                        }
                    }
                    key = new_key;
                    r.subject_id = sid;
                }
            }
        }
        let digests = self.seal_values(&obj, &r.id, &key, &all_clean, &mut r.plain, &mut r.sealed);
        let now = now_micros();
        let owner = opts.owner_id.clone().or(r.owner_id.clone());
        sqlx::query(
            "UPDATE records SET plain = $1, sealed = $2, version = version + 1, updated_at = $3, owner_id = $4, \
             subject_id = $5, key_id = $6 WHERE id = $7",
        )
        .bind(Value::Object(r.plain.clone()).to_string())
        .bind(serde_json::to_string(&r.sealed).expect("map serialises"))
        .bind(now)
        .bind(owner.clone())
        .bind(r.subject_id.clone())
        .bind(key.id.clone())
        .bind(r.id.clone())
        .execute(&mut **tx)
        .await?;
        self.write_digests(tx, &obj.name, &r.id, &digests, true).await?;
        self.consent_changed(tx, &obj.name, [subject_before.as_deref(), r.subject_id.as_deref()]).await?;
        self.emit(tx, "record.updated", &obj.name, &r.id, clean.keys().cloned().collect()).await?;
        let pseudonym = r.subject_id.as_deref().map(|s| key.pseudonym(s));
        let ev = self.event("update", Outcome::Allowed).object(&obj.name).record(&r.id).fields(clean.keys().cloned().collect()).subject(pseudonym);
        guard.finish(&self.inner, vec![ev]).await?;
        r.version += 1;
        r.updated_at = now;
        r.owner_id = owner;
        let (view, _, _) = self.view(&obj, &r, Some(&key))?;
        Ok(view)
    }

    /// Gives a record to a user, by user name: record scopes then count it as theirs. A plugin
    /// needs `assign:<object>` besides the update the person it acts for may make.
    pub async fn assign(&self, object: &str, id: &str, owner: &str) -> Result<RecordView> {
        let obj = self.object(object)?;
        if !self.perms.may_assign(&obj) {
            return self.deny("assign", object, format!("may not assign {object} records")).await;
        }
        let rows = self.fetch_all(sqlx::query("SELECT id FROM users WHERE username = $1 AND disabled = 0").bind(owner.to_string())).await?;
        let Some(row) = rows.first() else {
            return Err(AccessError::BadRequest("no enabled user has that user name".into()));
        };
        let user: String = row.try_get(0)?;
        self.update(object, id, &Map::new(), WriteOptions { owner_id: Some(user), ..WriteOptions::default() }).await
    }

    /// Deletes a record and its blind indexes.
    pub async fn delete(&self, object: &str, id: &str, opts: WriteOptions) -> Result<()> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Delete) {
            return self.deny("delete", object, format!("may not delete {object} records")).await;
        }
        let mut guard = self.begin().await?;
        let r = self.load_for_write(guard.tx(), object, id).await?;
        if !self.perms.owns_in_scope(object, r.owner_id.as_deref()) {
            drop(guard);
            return self.scope_denied(&r, "delete").await;
        }
        if !self.consent_allows(guard.tx(), &r).await? {
            drop(guard);
            return self.consent_denied(&r, "delete").await;
        }
        if let Some(v) = opts.expected_version {
            if v != r.version {
                return Err(AccessError::Conflict(format!("{object} {id} is at version {}, not {v}", r.version)));
            }
        }
        sqlx::query("DELETE FROM records WHERE id = $1").bind(r.id.clone()).execute(&mut **guard.tx()).await?;
        self.consent_changed(guard.tx(), object, [r.subject_id.as_deref()]).await?;
        self.emit(guard.tx(), "record.deleted", object, &r.id, Vec::new()).await?;
        let pseudonym = match (&r.subject_id, r.key.destroyed) {
            (Some(sid), false) => Some(self.inner.keys.unwrap(&r.key)?.pseudonym(sid)),
            _ => None,
        };
        let ev = self.event("delete", Outcome::Allowed).object(object).record(&r.id).subject(pseudonym);
        guard.finish(&self.inner, vec![ev]).await?;
        Ok(())
    }
}
