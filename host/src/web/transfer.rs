//! Records in and out: CSV import with a progress indicator and a report of every refused row,
//! and exports that obey the role's limit (above it, held for a second administrator).
//!
//! The import page works without script for pasted text; with `app.js` a chosen file is read in
//! the browser and sent in parts of a few hundred rows, each part repeating the header and
//! naming its first line, so the progress bar moves and the report's line numbers are the file's.

use super::page::{Chrome, Section, WebError, render};
use super::session::{SignedForm, WebUser};
use crate::access::exports::{ExportFilter, ExportFormat, ExportInfo, ExportRequest};
use crate::access::{Effective, ImportReport};
use crate::api::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    c: Chrome,
    object: String,
    label: String,
    /// The columns the person may fill: name and label.
    columns: Vec<(String, String)>,
    report: Option<ImportReport>,
    error: Option<String>,
}

fn object_for_import(state: &AppState, u: &WebUser, object: &str) -> Result<crate::model::ObjectDef, WebError> {
    let perms = Effective::of(&u.principal);
    match state.gate.schema().object(object) {
        Some(o) if perms.may(o, crate::access::Action::Create) => Ok(o.clone()),
        Some(_) => Err(WebError::new(StatusCode::FORBIDDEN, format!("permission denied: may not create {object} records"))),
        None => Err(WebError::not_found()),
    }
}

fn page(u: &WebUser, obj: &crate::model::ObjectDef, report: Option<ImportReport>, error: Option<String>) -> ImportPage {
    let perms = Effective::of(&u.principal);
    let columns = obj.fields.iter().filter(|f| perms.field(obj, f) == crate::access::FieldAccess::Write).map(|f| (f.name.clone(), super::labels::field_label(u.lang, obj, f))).collect();
    ImportPage { c: Chrome::signed_in(u, u.lang.t("import_title"), Section::Records), object: obj.name.clone(), label: super::labels::object_label(u.lang, obj), columns, report, error }
}

/// The import form.
pub async fn import_form(State(state): State<AppState>, u: WebUser, Path(object): Path<String>) -> Result<Response, WebError> {
    let obj = object_for_import(&state, &u, &object)?;
    Ok(render(&page(&u, &obj, None, None)))
}

/// Imports pasted CSV (or one part of a file, from the script, which asks for JSON).
pub async fn import(State(state): State<AppState>, Path(object): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let obj = object_for_import(&state, &u, &object)?;
    let first_line: u64 = form.get("first_line").and_then(|n| n.parse().ok()).filter(|n| *n >= 1).unwrap_or(1);
    let json = form.get("format") == Some("json");
    let result = state.gate.records(&u.principal).import_csv(&object, form.get("csv").unwrap_or(""), first_line).await;
    match result {
        Ok(report) if json => Ok(axum::Json(report).into_response()),
        Ok(report) => Ok(render(&page(&u, &obj, Some(report), None))),
        Err(crate::access::AccessError::BadRequest(m)) if json => Ok((StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": m}))).into_response()),
        Err(crate::access::AccessError::BadRequest(m)) => Ok((StatusCode::BAD_REQUEST, render(&page(&u, &obj, None, Some(m)))).into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Asks for an export of what the list shows (its search and filter).
pub async fn export(State(state): State<AppState>, Path(object): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let mut filters = Vec::new();
    // The same filter as the list's.
    let (field, op, value) = (form.text("field").unwrap_or_default(), form.text("op").unwrap_or_else(|| "eq".into()), form.text("value").unwrap_or_default());
    if super::records::form_asks_filter(&field, &op, &value) {
        filters.push(ExportFilter { field, op, value });
    }
    let req = ExportRequest { object, format: ExportFormat::Csv, filters, search: form.text("q") };
    let info = state.gate.request_export(&u.principal, req).await?;
    Ok(Redirect::to(&format!("/exports?done={}", if info.status == "ready" { "ready" } else { "held" })).into_response())
}

#[derive(Template)]
#[template(path = "exports.html")]
struct ExportsPage {
    c: Chrome,
    exports: Vec<ExportInfo>,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// The person's exports (everyone's, for those who approve them), newest first.
pub async fn exports(State(state): State<AppState>, u: WebUser, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    let mut exports = state.gate.exports(&u.principal).await?;
    exports.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    exports.truncate(100);
    let notice = match q.done.as_deref() {
        Some("ready") => Some(u.lang.t("export_ready")),
        Some("held") => Some(u.lang.t("export_held")),
        _ => None,
    };
    Ok(render(&ExportsPage { c: Chrome::signed_in(&u, u.lang.t("exports_title"), Section::Records), exports, notice }))
}

/// Downloads an export once: the API's own download, as the signed-in person.
pub async fn download(State(state): State<AppState>, u: WebUser, Path(id): Path<String>) -> Result<Response, WebError> {
    Ok(crate::api::exports::download(State(state), crate::api::auth::Caller(u.principal), Path(id)).await?)
}
