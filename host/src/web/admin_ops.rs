//! Keys, alerts and held exports: root key versions and rotation (the same gate calls as
//! `/api/v1/keys`), open and acknowledged alerts with acknowledgement and the alert rules (as
//! `/api/v1/alerts` and `/api/v1/alert-rules`), and bulk exports held for a second administrator
//! with approval and rejection (as `/api/v1/exports`).

use super::forbidden;
use crate::access::exports::ExportInfo;
use crate::access::keys::RootKeyVersion;
use crate::access::{AccessError, Effective, SystemPermission};
use crate::alerts::{Alert, AlertRules};
use crate::api::AppState;
use crate::web::page::{Chrome, Section, WebError, render};
use crate::web::session::{SignedForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

fn alert_error(e: crate::alerts::AlertError) -> WebError {
    crate::api::error::AppError::from(e).into()
}

#[derive(Template)]
#[template(path = "admin_keys.html")]
struct KeysPage {
    c: Chrome,
    versions: Vec<RootKeyVersion>,
    error: Option<String>,
}

async fn keys_page(state: &AppState, u: &WebUser, error: Option<String>, done: Option<&str>) -> Result<Response, WebError> {
    let versions = state.gate.key_status(&u.principal).await?;
    let mut c = Chrome::signed_in(u, u.lang.t("adm_keys_title"), Section::Admin);
    if done == Some("rotated") {
        c.notice = Some(u.lang.t("adm_rotated"));
    }
    let status = if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    Ok((status, render(&KeysPage { c, versions, error })).into_response())
}

/// Root key versions, their states and the data keys each wraps.
pub async fn keys(State(state): State<AppState>, u: WebUser, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    keys_page(&state, &u, None, q.done.as_deref()).await
}

/// Rotates the root key now (as `POST /api/v1/keys/rotate` and `capcrm keys rotate`).
pub async fn rotate(State(state): State<AppState>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    match state.gate.rotate_keys(&u.principal).await {
        Ok(_) => Ok(Redirect::to("/admin/keys?done=rotated").into_response()),
        Err(AccessError::Conflict(m)) => keys_page(&state, &u, Some(m), None).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin_alerts.html")]
struct AlertsPage {
    c: Chrome,
    open: Vec<Alert>,
    acknowledged: Vec<Alert>,
    /// For those who may read them (the `users` permission, as `/api/v1/alert-rules`).
    rules: Option<AlertRules>,
    error: Option<String>,
}

/// Alerts shown per list.
const ALERTS_SHOWN: usize = 100;

async fn alerts_page(state: &AppState, u: &WebUser, error: Option<String>, done: Option<&str>) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let open = state.gate.alerts(&u.principal, Some("open"), ALERTS_SHOWN).await?;
    let acknowledged = state.gate.alerts(&u.principal, Some("acknowledged"), ALERTS_SHOWN).await?;
    let db = state.gate.db();
    let rules = if perms.has(SystemPermission::Users) { Some(crate::alerts::rules(db).await.map_err(alert_error)?) } else { None };
    let mut c = Chrome::signed_in(u, u.lang.t("adm_alerts"), Section::Admin);
    if done == Some("acknowledged") {
        c.notice = Some(u.lang.t("adm_alert_acked"));
    }
    let status = if error.is_some() { StatusCode::NOT_FOUND } else { StatusCode::OK };
    Ok((status, render(&AlertsPage { c, open, acknowledged, rules, error })).into_response())
}

/// Open and acknowledged alerts, newest first, and the rules that raise them.
pub async fn alerts(State(state): State<AppState>, u: WebUser, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    alerts_page(&state, &u, None, q.done.as_deref()).await
}

/// Acknowledges an open alert (as `POST /api/v1/alerts/{id}/acknowledge`).
pub async fn acknowledge(State(state): State<AppState>, Path(id): Path<String>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    if state.gate.acknowledge_alert(&u.principal, &id).await? {
        Ok(Redirect::to("/admin/alerts?done=acknowledged").into_response())
    } else {
        alerts_page(&state, &u, Some("no open alert with that id".into()), None).await
    }
}

#[derive(Template)]
#[template(path = "admin_exports.html")]
struct ExportsPage {
    c: Chrome,
    held: Vec<ExportInfo>,
    others: Vec<ExportInfo>,
    /// The export a decision on failed, and the gate's reason.
    error: Option<(String, String)>,
}

impl ExportsPage {
    fn error_for(&self, id: &str) -> Option<&String> {
        self.error.as_ref().filter(|(i, _)| i == id).map(|(_, m)| m)
    }
    /// An error about an export no longer waiting (decided meanwhile): shown above the lists.
    fn stray_error(&self) -> Option<&String> {
        self.error.as_ref().filter(|(i, _)| !self.held.iter().any(|e| e.id == *i)).map(|(_, m)| m)
    }
}

async fn exports_page(state: &AppState, u: &WebUser, error: Option<(String, String)>, status: StatusCode, done: Option<&str>) -> Result<Response, WebError> {
    if !Effective::of(&u.principal).has(SystemPermission::ApproveExports) {
        return Err(forbidden("approving exports needs the approve_exports permission"));
    }
    let (held, others): (Vec<ExportInfo>, Vec<ExportInfo>) = state.gate.exports(&u.principal).await?.into_iter().partition(|e| e.status == "pending_approval");
    let mut c = Chrome::signed_in(u, u.lang.t("adm_exports"), Section::Admin);
    if done == Some("decided") {
        c.notice = Some(u.lang.t("adm_export_decided"));
    }
    Ok((status, render(&ExportsPage { c, held, others, error })).into_response())
}

/// Exports waiting for a second administrator, and the recent ones.
pub async fn exports(State(state): State<AppState>, u: WebUser, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    exports_page(&state, &u, None, StatusCode::OK, q.done.as_deref()).await
}

/// Approves or rejects a held export; the gate refuses the requester's own decision, and the page
/// says why at that export.
pub async fn decide(State(state): State<AppState>, Path((id, decision)): Path<(String, String)>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(WebError::not_found()),
    };
    match state.gate.decide_export(&u.principal, &id, approve).await {
        Ok(_) => Ok(Redirect::to("/admin/exports?done=decided").into_response()),
        Err(e @ (AccessError::Denied(_) | AccessError::Conflict(_))) => {
            let status = if matches!(e, AccessError::Denied(_)) { StatusCode::FORBIDDEN } else { StatusCode::CONFLICT };
            exports_page(&state, &u, Some((id, e.to_string())), status, None).await
        }
        Err(e) => Err(e.into()),
    }
}
