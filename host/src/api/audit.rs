//! `/api/v1/audit`: the questions a privacy officer asks, and chain verification.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::audit::{AuditFilter, AuditPage, VerifyReport};
use axum::extract::{Query, State};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// A subject id: everything that touched this person (while their key exists).
    pub subject: Option<String>,
    /// An actor name: everything they did.
    pub actor: Option<String>,
    /// read, list, create, update, delete, export, login, ...
    pub action: Option<String>,
    /// allowed, denied or failed.
    pub outcome: Option<String>,
    pub object: Option<String>,
    pub record: Option<String>,
    /// RFC 3339, inclusive.
    pub from: Option<String>,
    /// RFC 3339, exclusive.
    pub to: Option<String>,
    /// `next_before` of the previous page.
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

pub(crate) fn time(v: &Option<String>, name: &str) -> Result<Option<i64>, AppError> {
    v.as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| d.timestamp_micros())
                .map_err(|_| AppError::bad_request(format!("`{name}` must be an RFC 3339 date-time")))
        })
        .transpose()
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 403, body = super::error::ErrorBody)), tag = "audit")]
pub async fn query(State(state): State<AppState>, Caller(p): Caller, Query(q): Query<AuditParams>) -> Result<ApiJson<AuditPage>, AppError> {
    let subject = q.subject.clone();
    Ok(ApiJson(state.gate.audit_log(&p, filter_of(q)?, subject.as_deref()).await?))
}

/// The caller's own audit entries, newest first (for everyone; `actor` and `subject` do not apply).
#[utoipa::path(get, path = "/api/v1/me/activity", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = super::error::ErrorBody)), tag = "audit")]
pub async fn mine(State(state): State<AppState>, Caller(p): Caller, Query(q): Query<AuditParams>) -> Result<ApiJson<AuditPage>, AppError> {
    if q.subject.is_some() || q.actor.is_some() {
        return Err(AppError::bad_request("one's own activity is filtered by action, outcome, object, record and time"));
    }
    Ok(ApiJson(state.gate.my_activity(&p, filter_of(q)?).await?))
}

/// The audit query of a request's parameters (the subject is resolved by the gate).
pub(crate) fn filter_of(q: AuditParams) -> Result<AuditFilter, AppError> {
    Ok(AuditFilter {
        subject: None,
        actor_kind: None,
        actor: q.actor,
        action: q.action,
        outcome: q.outcome,
        object: q.object,
        record_id: q.record,
        from: time(&q.from, "from")?,
        to: time(&q.to, "to")?,
        before_seq: q.before,
        limit: q.limit.unwrap_or(100),
    })
}

/// Verify the whole audit chain now.
#[utoipa::path(get, path = "/api/v1/audit/verify", responses((status = 200, body = VerifyReport)), tag = "audit")]
pub async fn verify(State(state): State<AppState>, Caller(p): Caller) -> Result<ApiJson<VerifyReport>, AppError> {
    Ok(ApiJson(state.gate.verify_audit(&p).await?))
}
