//! `/api/v1/exports`: request, approve or reject, and download (streamed, page by page).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::access::exports::{ExportFormat, ExportInfo, ExportRequest};
use crate::access::{Effective, ListQuery, Principal};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Request an export. Within the role's limit it is ready at once (201); above it, it is held
/// for a second administrator (202) and raises an alert.
#[utoipa::path(post, path = "/api/v1/exports", request_body = ExportRequest,
    responses((status = 201, body = ExportInfo), (status = 202, body = ExportInfo), (status = 403, body = super::error::ErrorBody)), tag = "exports")]
pub async fn request(State(s): State<AppState>, Caller(p): Caller, ApiJson(req): ApiJson<ExportRequest>) -> Result<(StatusCode, ApiJson<ExportInfo>), AppError> {
    let info = s.gate.request_export(&p, req).await?;
    let status = if info.status == "ready" { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok((status, ApiJson(info)))
}

/// The caller's export requests (approvers: everyone's).
#[utoipa::path(get, path = "/api/v1/exports", responses((status = 200, body = Vec<ExportInfo>)), tag = "exports")]
pub async fn list(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Vec<ExportInfo>>, AppError> {
    Ok(ApiJson(s.gate.exports(&p).await?))
}

/// Approve a held export (another administrator than the requester).
#[utoipa::path(post, path = "/api/v1/exports/{id}/approve", params(("id" = String, Path)), responses((status = 200, body = ExportInfo)), tag = "exports")]
pub async fn approve(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<ApiJson<ExportInfo>, AppError> {
    Ok(ApiJson(s.gate.decide_export(&p, &id, true).await?))
}

/// Reject a held export.
#[utoipa::path(post, path = "/api/v1/exports/{id}/reject", params(("id" = String, Path)), responses((status = 200, body = ExportInfo)), tag = "exports")]
pub async fn reject(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<ApiJson<ExportInfo>, AppError> {
    Ok(ApiJson(s.gate.decide_export(&p, &id, false).await?))
}

/// A text cell for CSV: quoted where needed, and a leading `=`, `+`, `-` or `@` defused so that
/// a spreadsheet does not run it as a formula.
pub(crate) fn csv_cell(v: &Value) -> String {
    let mut s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Download a ready or approved export, once, produced now under the caller's permissions.
#[utoipa::path(get, path = "/api/v1/exports/{id}/download", params(("id" = String, Path)), responses((status = 200, description = "CSV or JSON"), (status = 409, body = super::error::ErrorBody)), tag = "exports")]
pub async fn download(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<Response, AppError> {
    let d = s.gate.claim_download(&p, &id).await?;
    let schema = s.gate.schema();
    let obj = schema.object(&d.request.object).cloned().ok_or_else(|| AppError::not_found("the exported object no longer exists"))?;
    let perms = Effective::of(&p);
    let columns: Vec<String> = obj.fields.iter().filter(|f| perms.field(&obj, f).can_see()).map(|f| f.name.clone()).collect();
    let query = d.request.query()?;
    let format = d.request.format;
    let cap = d.info.record_count.max(0) as usize;
    struct State2 {
        gate: crate::access::Gate,
        p: Principal,
        object: String,
        query: ListQuery,
        columns: Vec<String>,
        sent: usize,
        cap: usize,
        started: bool,
        done: bool,
    }
    let st = State2 { gate: s.gate.clone(), p, object: d.request.object.clone(), query, columns, sent: 0, cap, started: false, done: false };
    let stream = futures_util::stream::unfold(st, move |mut st| async move {
        if st.done {
            return None;
        }
        let mut out = String::new();
        if !st.started {
            st.started = true;
            match format {
                ExportFormat::Csv => {
                    out.push_str("id");
                    for c in &st.columns {
                        out.push(',');
                        out.push_str(c);
                    }
                    out.push_str("\r\n");
                }
                ExportFormat::Json => out.push('['),
            }
        }
        let page = st.gate.records(&st.p).export_page(&st.object, &st.query).await;
        let page = match page {
            Ok(pg) => pg,
            Err(e) => {
                tracing::warn!("export stopped: {e}");
                st.done = true;
                return Some((Err(std::io::Error::other("the export could not be completed")), st));
            }
        };
        for r in page.records.iter().take(st.cap - st.sent) {
            match format {
                ExportFormat::Csv => {
                    out.push_str(&r.id);
                    for c in &st.columns {
                        out.push(',');
                        out.push_str(&csv_cell(r.fields.get(c).unwrap_or(&Value::Null)));
                    }
                    out.push_str("\r\n");
                }
                ExportFormat::Json => {
                    if st.sent > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::json!({"id": r.id, "fields": r.fields, "masked": r.masked}).to_string());
                }
            }
            st.sent += 1;
        }
        st.query.after = page.next.clone();
        if page.next.is_none() || st.sent >= st.cap {
            st.done = true;
            if format == ExportFormat::Json {
                out.push(']');
            }
        }
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(out)), st))
    });
    let (ctype, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}-{}.{ext}\"", d.request.object, &id[..8.min(id.len())])) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::csv_cell;
    use serde_json::json;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell(&json!("plain")), "plain");
        assert_eq!(csv_cell(&json!("a,b")), "\"a,b\"");
        assert_eq!(csv_cell(&json!("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell(&json!("=HYPERLINK(\"x\")")), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell(&json!(42)), "42");
        assert_eq!(csv_cell(&json!(null)), "");
    }
}
