//! Exports (CSV and JSON): requested, sized against the requester's role limit, held for a second
//! administrator above it, and produced page by page under the requester's permissions when
//! downloaded. The exported data is never stored; the request keeps its query sealed (filter
//! values can be personal data).

use super::records::{Filter, FilterOp, FilterValue, ListQuery};
use super::{AccessError, Action, Effective, Gate, Principal, Result, SystemPermission};
use crate::audit::{Event, Outcome};
use crate::store::{micros_to_rfc3339, now_micros};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// How long a ready or approved export can be downloaded.
const VALID_SECS: i64 = 24 * 3600;
const KEY_OWNER: &str = "export_requests";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// What to export: an object and equality or range filters, as in a list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub object: String,
    pub format: ExportFormat,
    /// `{"field": "email", "op": "eq", "value": "a@b.example"}`; ops: eq, gt, gte, lt, lte, empty (value ignored).
    #[serde(default)]
    pub filters: Vec<ExportFilter>,
    /// A search by identifier, as the list's `q`.
    #[serde(default)]
    pub search: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportFilter {
    pub field: String,
    #[serde(default = "eq")]
    pub op: String,
    /// Needed by every op but `empty`.
    #[serde(default)]
    pub value: String,
}

fn eq() -> String {
    "eq".into()
}

impl ExportRequest {
    pub fn query(&self) -> Result<ListQuery> {
        if self.filters.len() > 10 {
            return Err(AccessError::BadRequest("at most 10 filters".into()));
        }
        let mut filters = Vec::new();
        for f in &self.filters {
            let op = FilterOp::parse(&f.op).ok_or_else(|| AccessError::BadRequest(format!("filter op `{}` is not one of {}", f.op.chars().take(10).collect::<String>(), FilterOp::NAMES)))?;
            filters.push(Filter { field: f.field.clone(), op, value: FilterValue::Text(f.value.clone()) });
        }
        Ok(ListQuery { filters, search: self.search.clone(), sort: None, after: None, limit: 200 })
    }
}

/// An export request as its requester and approvers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportInfo {
    pub id: String,
    pub object: String,
    pub format: ExportFormat,
    /// ready, pending_approval, approved, rejected or downloaded.
    pub status: String,
    /// Records the query reached when it was requested.
    pub record_count: i64,
    /// The requester's limit then.
    pub limit: i64,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// What a download needs: the request and its query.
pub struct Download {
    pub info: ExportInfo,
    pub request: ExportRequest,
}

impl Gate {
    /// Requests an export. Within the requester's limit it is ready at once; above it, it waits
    /// for a second administrator, and the hold is on record (where the alert rules see it).
    pub async fn request_export(&self, p: &Principal, req: ExportRequest) -> Result<ExportInfo> {
        let q = req.query()?;
        let count = self.records(p).count(&req.object, &q, Action::Export).await?;
        let limit = Effective::of(p).export_limit(&req.object).min(i64::MAX as u64) as i64;
        let user = p.user_id.clone().ok_or_else(|| AccessError::Denied("exports are for signed-in people".into()))?;
        let status = if count <= limit { "ready" } else { "pending_approval" };
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_micros();
        let mut tx = self.inner.db.begin_write().await?;
        let key = self.inner.keys.object_key(&mut tx, KEY_OWNER).await?;
        let sealed = key.seal_field(KEY_OWNER, &id, "query", &serde_json::to_value(&req).expect("serialises"));
        sqlx::query(
            "INSERT INTO export_requests (id, requested_by, object, format, query_sealed, key_id, record_count, limit_at_request, status, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(id.clone())
        .bind(user)
        .bind(req.object.clone())
        .bind(req.format.name())
        .bind(sealed)
        .bind(key.id.clone())
        .bind(count)
        .bind(limit)
        .bind(status)
        .bind(now)
        .bind(now + VALID_SECS * 1_000_000)
        .execute(&mut *tx)
        .await?;
        let (action, detail) = if status == "ready" {
            ("export.request", format!("export {id}: {count} {} record(s), within the limit of {limit}", req.object))
        } else {
            ("export.held", format!("export {id}: {count} {} record(s) over the limit of {limit}; held for a second administrator", req.object))
        };
        let ev = Event::new(&p.actor, action, Outcome::Allowed).object(&req.object).request(p.request_id.as_deref()).detail(detail);
        self.inner.audit.append(&mut tx, vec![ev]).await?;
        tx.commit().await?;
        self.export_info(&id).await
    }

    async fn export_info(&self, id: &str) -> Result<ExportInfo> {
        let rows = self.export_rows(Some(id), None).await?;
        rows.into_iter().next().ok_or_else(|| AccessError::NotFound { object: "export".into(), id: id.chars().take(64).collect() })
    }

    async fn export_rows(&self, id: Option<&str>, requester: Option<&str>) -> Result<Vec<ExportInfo>> {
        let mut sql = "SELECT e.id, e.object, e.format, e.status, e.record_count, e.limit_at_request, u.username, e.decided_by, e.created_at, e.expires_at \
                       FROM export_requests e JOIN users u ON u.id = e.requested_by"
            .to_string();
        let mut q_args = Vec::new();
        if let Some(i) = id {
            q_args.push(i.to_string());
            sql.push_str(" WHERE e.id = $1");
        } else if let Some(r) = requester {
            q_args.push(r.to_string());
            sql.push_str(" WHERE e.requested_by = $1");
        }
        sql.push_str(" ORDER BY e.created_at DESC LIMIT 200");
        let mut q = sqlx::query(&sql);
        for a in q_args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(self.inner.db.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(ExportInfo {
                    id: r.try_get(0)?,
                    object: r.try_get(1)?,
                    format: if r.try_get::<String, _>(2)? == "json" { ExportFormat::Json } else { ExportFormat::Csv },
                    status: r.try_get(3)?,
                    record_count: r.try_get(4)?,
                    limit: r.try_get(5)?,
                    requested_by: r.try_get(6)?,
                    decided_by: r.try_get(7)?,
                    created_at: micros_to_rfc3339(r.try_get(8)?),
                    expires_at: micros_to_rfc3339(r.try_get(9)?),
                })
            })
            .collect()
    }

    /// The caller's export requests; approvers see everyone's.
    pub async fn exports(&self, p: &Principal) -> Result<Vec<ExportInfo>> {
        if Effective::of(p).has(SystemPermission::ApproveExports) {
            self.export_rows(None, None).await
        } else {
            self.export_rows(None, Some(p.user_id.as_deref().unwrap_or("-"))).await
        }
    }

    /// Approves or rejects a held export: another person than the requester, with the
    /// permission to approve exports.
    pub async fn decide_export(&self, p: &Principal, id: &str, approve: bool) -> Result<ExportInfo> {
        let action = if approve { "export.approve" } else { "export.reject" };
        if !Effective::of(p).has(SystemPermission::ApproveExports) {
            return self.inner.deny(p, action, None, "approving exports needs the approve_exports permission").await;
        }
        let mut tx = self.inner.db.begin_write().await?;
        let row = sqlx::query(&format!("SELECT requested_by, status, object, record_count FROM export_requests WHERE id = $1{}", self.inner.db.for_update()))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AccessError::NotFound { object: "export".into(), id: id.chars().take(64).collect() })?;
        let requester: String = row.try_get(0)?;
        let status: String = row.try_get(1)?;
        if p.user_id.as_deref() == Some(requester.as_str()) {
            drop(tx);
            return self.inner.deny(p, action, None, "a held export needs another person's approval").await;
        }
        if status != "pending_approval" {
            return Err(AccessError::Conflict(format!("export {id} is {status}, not waiting for approval")));
        }
        let now = now_micros();
        sqlx::query("UPDATE export_requests SET status = $1, decided_by = $2, decided_at = $3, expires_at = $4 WHERE id = $5")
            .bind(if approve { "approved" } else { "rejected" })
            .bind(p.actor.name.clone())
            .bind(now)
            .bind(now + VALID_SECS * 1_000_000)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let object: String = row.try_get(2)?;
        let count: i64 = row.try_get(3)?;
        let ev = Event::new(&p.actor, action, Outcome::Allowed).object(&object).request(p.request_id.as_deref()).detail(format!("export {id}: {count} record(s)"));
        self.inner.audit.append(&mut tx, vec![ev]).await?;
        tx.commit().await?;
        self.export_info(id).await
    }

    /// Claims a ready or approved export for its one download, by its requester.
    pub async fn claim_download(&self, p: &Principal, id: &str) -> Result<Download> {
        let mut tx = self.inner.db.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT requested_by, status, expires_at, query_sealed FROM export_requests WHERE id = $1{}",
            self.inner.db.for_update()
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AccessError::NotFound { object: "export".into(), id: id.chars().take(64).collect() })?;
        let requester: String = row.try_get(0)?;
        if p.user_id.as_deref() != Some(requester.as_str()) {
            return Err(AccessError::NotFound { object: "export".into(), id: id.chars().take(64).collect() });
        }
        let status: String = row.try_get(1)?;
        if status != "ready" && status != "approved" {
            return Err(AccessError::Conflict(match status.as_str() {
                "pending_approval" => format!("export {id} is waiting for a second administrator's approval"),
                other => format!("export {id} is {other}"),
            }));
        }
        if row.try_get::<i64, _>(2)? < now_micros() {
            return Err(AccessError::Conflict(format!("export {id} expired; request it again")));
        }
        let key = self.inner.keys.object_key(&mut tx, KEY_OWNER).await?;
        let query = key.open_field(KEY_OWNER, id, "query", &row.try_get::<String, _>(3)?)?;
        let request: ExportRequest = serde_json::from_value(query).map_err(|_| AccessError::Integrity("stored export query does not parse".into()))?;
        sqlx::query("UPDATE export_requests SET status = 'downloaded', downloaded_at = $1 WHERE id = $2").bind(now_micros()).bind(id.to_string()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Download { info: self.export_info(id).await?, request })
    }
}
