//! `/api/v1/records/{object}`: create, read, list, update, delete.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::access::{Filter, FilterOp, FilterValue, ListQuery, RecordPage, RecordView, WriteOptions};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRecord {
    /// Field values by field name.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// The owning user; defaults to the caller.
    pub owner_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRecord {
    /// Fields to change; `null` clears a field.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub owner_id: Option<String>,
}

fn expected_version(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    match headers.get(axum::http::header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|s| s.trim().trim_matches('"'))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| AppError::bad_request("If-Match must be the record's version number")),
    }
}

fn check_id(id: &str) -> Result<(), AppError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| AppError::bad_request("record ids are UUIDs"))
}

/// Create a record.
#[utoipa::path(post, path = "/api/v1/records/{object}", request_body = CreateRecord,
    params(("object" = String, Path, description = "object name, e.g. contact")),
    responses((status = 201, body = RecordView), (status = 422, body = super::error::ErrorBody)), tag = "records")]
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(object): Path<String>,
    ApiJson(body): ApiJson<CreateRecord>,
) -> Result<(StatusCode, ApiJson<RecordView>), AppError> {
    let opts = WriteOptions { owner_id: body.owner_id, expected_version: None, id: None };
    let view = state.gate.records(&p).create(&object, &body.fields, opts).await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Read a record by id.
#[utoipa::path(get, path = "/api/v1/records/{object}/{id}",
    params(("object" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RecordView), (status = 404, body = super::error::ErrorBody)), tag = "records")]
pub async fn get(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((object, id)): Path<(String, String)>,
) -> Result<ApiJson<RecordView>, AppError> {
    check_id(&id)?;
    Ok(ApiJson(state.gate.records(&p).get(&object, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// The masked field to show in clear.
    pub field: String,
    /// Why (3 to 200 characters); kept in the audit trail with the reveal.
    pub reason: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub field: String,
    #[schema(value_type = Object)]
    pub value: Value,
}

/// Show one masked field in clear, once, with a reason (where a role allows it). The reveal is
/// audited before the value is returned.
#[utoipa::path(post, path = "/api/v1/records/{object}/{id}/reveal", request_body = RevealRequest,
    params(("object" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Revealed), (status = 403, body = super::error::ErrorBody)), tag = "records")]
pub async fn reveal(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((object, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<RevealRequest>,
) -> Result<ApiJson<Revealed>, AppError> {
    check_id(&id)?;
    let value = state.gate.records(&p).reveal(&object, &id, &req.field, &req.reason, p.mfa_fresh).await?;
    Ok(ApiJson(Revealed { field: req.field, value }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct History {
    pub changes: Vec<crate::access::Change>,
    /// Pass as `before` for older changes; absent on the last page.
    pub next_before: Option<i64>,
}

/// Who created, changed or deleted a record and which fields (only fields the caller may see),
/// newest first. `?before=<seq>&limit=<n>` pages.
#[utoipa::path(get, path = "/api/v1/records/{object}/{id}/history",
    params(("object" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = History), (status = 404, body = super::error::ErrorBody)), tag = "records")]
pub async fn history(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((object, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<ApiJson<History>, AppError> {
    check_id(&id)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).map_err(|_| AppError::bad_request("the query string is malformed"))?;
    let (mut before, mut limit) = (None, 50usize);
    for (k, v) in pairs {
        match k.as_str() {
            "before" => before = Some(v.parse().map_err(|_| AppError::bad_request("before must be a sequence number"))?),
            "limit" => limit = v.parse().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| AppError::bad_request("limit must be 1 to 200"))?,
            _ => return Err(AppError::bad_request("use before and limit")),
        }
    }
    let changes = state.gate.records(&p).history(&object, &id, before, limit).await?;
    let next_before = if changes.len() == limit { changes.last().map(|c| c.seq) } else { None };
    Ok(ApiJson(History { changes, next_before }))
}

/// Change fields of a record. Send `If-Match: <version>` to refuse a change on top of an unseen one.
#[utoipa::path(patch, path = "/api/v1/records/{object}/{id}", request_body = UpdateRecord,
    params(("object" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RecordView), (status = 409, body = super::error::ErrorBody)), tag = "records")]
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateRecord>,
) -> Result<ApiJson<RecordView>, AppError> {
    check_id(&id)?;
    let opts = WriteOptions { owner_id: body.owner_id, expected_version: expected_version(&headers)?, id: None };
    Ok(ApiJson(state.gate.records(&p).update(&object, &id, &body.fields, opts).await?))
}

/// Delete a record.
#[utoipa::path(delete, path = "/api/v1/records/{object}/{id}",
    params(("object" = String, Path), ("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::error::ErrorBody)), tag = "records")]
pub async fn delete(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path((object, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    check_id(&id)?;
    let opts = WriteOptions { owner_id: None, expected_version: expected_version(&headers)?, id: None };
    state.gate.records(&p).delete(&object, &id, opts).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Parses `limit`, `after`, `filter.<field>=v` and `filter.<field>.<op>=v` (op: eq, gt, gte, lt, lte, empty).
pub fn parse_list_query(raw: Option<&str>) -> Result<ListQuery, AppError> {
    let mut q = ListQuery { limit: 50, ..Default::default() };
    let pairs: Vec<(String, String)> = match raw {
        Some(r) => serde_urlencoded::from_str(r).map_err(|_| AppError::bad_request("the query string is malformed"))?,
        None => Vec::new(),
    };
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                q.limit = v.parse().ok().filter(|n| (1..=200).contains(n)).ok_or_else(|| AppError::bad_request("limit must be 1 to 200"))?;
            }
            "after" => q.after = Some(v),
            "q" => q.search = Some(v),
            "sort" => {
                let (field, descending) = match v.strip_prefix('-') {
                    Some(f) => (f.to_string(), true),
                    None => (v.clone(), false),
                };
                q.sort = Some(crate::access::Sort { field, descending });
            }
            _ => {
                let Some(rest) = k.strip_prefix("filter.") else {
                    return Err(AppError::bad_request(format!("unknown query parameter `{}`; use limit, after, q, sort, filter.<field>[.<op>]", k.chars().take(60).collect::<String>())));
                };
                let (field, op) = match rest.split_once('.') {
                    Some((f, op)) => (f, FilterOp::parse(op).ok_or_else(|| AppError::bad_request(format!("filter operators are {}", FilterOp::NAMES)))?),
                    None => (rest, FilterOp::Eq),
                };
                if !crate::model::is_valid_identifier(field) {
                    return Err(AppError::bad_request("filter names a field that cannot exist"));
                }
                if q.filters.len() >= 10 {
                    return Err(AppError::bad_request("at most 10 filters"));
                }
                q.filters.push(Filter { field: field.to_string(), op, value: FilterValue::Text(v) });
            }
        }
    }
    Ok(q)
}

/// List records a page at a time (keyset pagination in id order) with filters.
#[utoipa::path(get, path = "/api/v1/records/{object}",
    params(("object" = String, Path), ("limit" = Option<u32>, Query, description = "page size, 1 to 200 (default 50)"),
           ("after" = Option<String>, Query, description = "`next` of the previous page"),
           ("filter.<field>[.<op>]" = Option<String>, Query, description = "equality (blind-indexed encrypted fields too), range (gt, gte, lt, lte) on plain ordered fields, or `empty` (any value, ignored) for a plain field without a value")),
    responses((status = 200, body = RecordPage), (status = 400, body = super::error::ErrorBody)), tag = "records")]
pub async fn list(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(object): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<ApiJson<RecordPage>, AppError> {
    let q = parse_list_query(raw.as_deref())?;
    Ok(ApiJson(state.gate.records(&p).list(&object, &q).await?))
}

/// Import records from CSV (`text/csv`, a header row of field names or labels, at most 5,000 rows;
/// `?first_line=<n>` when the body is a later part of a file that repeats the header). Each row is
/// created on its own: the answer lists the ids created and every refused row with its line.
#[utoipa::path(post, path = "/api/v1/records/{object}/import", request_body(content = String, content_type = "text/csv"),
    params(("object" = String, Path), ("first_line" = Option<u64>, Query)),
    responses((status = 200, body = crate::access::ImportReport), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)), tag = "records")]
pub async fn import(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(object): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<ApiJson<crate::access::ImportReport>, AppError> {
    let kind = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("text/csv") {
        return Err(AppError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the rows as text/csv"));
    }
    let first_line = match raw.as_deref().unwrap_or("") {
        "" => 1,
        q => q.strip_prefix("first_line=").and_then(|n| n.parse().ok()).filter(|n| *n >= 1).ok_or_else(|| AppError::bad_request("the only parameter is first_line, a line number"))?,
    };
    let text = std::str::from_utf8(&body).map_err(|_| AppError::bad_request("the CSV must be UTF-8"))?;
    Ok(ApiJson(state.gate.records(&p).import_csv(&object, text, first_line).await?))
}
