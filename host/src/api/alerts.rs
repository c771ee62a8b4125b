//! `/api/v1/alerts` and `/api/v1/alert-rules` (people who read the audit trail; rules: administrators).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::access::{Effective, Principal, SystemPermission};
use crate::alerts::{Alert, AlertError, AlertRules};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;

impl From<AlertError> for AppError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Invalid(m) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rules", m),
            other => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", other.to_string()),
        }
    }
}

fn require(p: &Principal, perm: SystemPermission) -> Result<(), AppError> {
    if Effective::of(p).has(perm) {
        Ok(())
    } else {
        Err(AppError::new(StatusCode::FORBIDDEN, "forbidden", "permission denied"))
    }
}

/// Alerts, newest first; `?status=open` for the open ones.
#[utoipa::path(get, path = "/api/v1/alerts", responses((status = 200, body = Vec<Alert>)), tag = "alerts")]
pub async fn list(State(s): State<AppState>, Caller(p): Caller, RawQuery(q): RawQuery) -> Result<ApiJson<Vec<Alert>>, AppError> {
    let status = match q.as_deref() {
        None | Some("") => None,
        Some("status=open") => Some("open"),
        Some("status=acknowledged") => Some("acknowledged"),
        Some(_) => return Err(AppError::bad_request("the only filter is status=open or status=acknowledged")),
    };
    Ok(ApiJson(s.gate.alerts(&p, status, crate::alerts::MAX_LISTED).await?))
}

/// Mark an alert as seen and handled.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", params(("id" = String, Path)), responses((status = 204)), tag = "alerts")]
pub async fn acknowledge(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<StatusCode, AppError> {
    if !s.gate.acknowledge_alert(&p, &id).await? {
        return Err(AppError::not_found("no open alert with that id"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The alert rules and the webhook.
#[utoipa::path(get, path = "/api/v1/alert-rules", responses((status = 200, body = AlertRules)), tag = "alerts")]
pub async fn rules(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<AlertRules>, AppError> {
    require(&p, SystemPermission::Users)?;
    Ok(ApiJson(crate::alerts::rules(s.gate.db()).await?))
}

/// Replace the alert rules and the webhook.
#[utoipa::path(put, path = "/api/v1/alert-rules", request_body = AlertRules, responses((status = 200, body = AlertRules)), tag = "alerts")]
pub async fn set_rules(State(s): State<AppState>, Caller(p): Caller, ApiJson(r): ApiJson<AlertRules>) -> Result<ApiJson<AlertRules>, AppError> {
    require(&p, SystemPermission::Users)?;
    crate::alerts::set_rules(s.gate.db(), s.gate.audit(), &p.actor, &r).await?;
    Ok(ApiJson(r))
}
