//! `/api/v1/objects`: the data model, and custom objects and fields for admins.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::model::{FieldDef, ObjectDef};
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// All objects with their fields.
#[utoipa::path(get, path = "/api/v1/objects", responses((status = 200, body = Vec<ObjectDef>)), tag = "schema")]
pub async fn list(State(state): State<AppState>, Caller(_p): Caller) -> ApiJson<Vec<ObjectDef>> {
    ApiJson(state.gate.schema().objects().cloned().collect())
}

/// One object with its fields.
#[utoipa::path(get, path = "/api/v1/objects/{object}", params(("object" = String, Path)),
    responses((status = 200, body = ObjectDef), (status = 404, body = super::error::ErrorBody)), tag = "schema")]
pub async fn get(State(state): State<AppState>, Caller(_p): Caller, Path(object): Path<String>) -> Result<ApiJson<ObjectDef>, AppError> {
    state
        .gate
        .schema()
        .object(&object)
        .cloned()
        .map(ApiJson)
        .ok_or_else(|| AppError::new(StatusCode::NOT_FOUND, "unknown_object", format!("unknown object `{object}`")))
}

/// Add a custom object (admins).
#[utoipa::path(post, path = "/api/v1/objects", request_body = ObjectDef,
    responses((status = 201, body = ObjectDef), (status = 409, body = super::error::ErrorBody)), tag = "schema")]
pub async fn add_object(
    State(state): State<AppState>,
    Caller(p): Caller,
    ApiJson(def): ApiJson<ObjectDef>,
) -> Result<(StatusCode, ApiJson<ObjectDef>), AppError> {
    Ok((StatusCode::CREATED, ApiJson(state.gate.add_custom_object(&p, def).await?)))
}

/// Add a custom field to an object (admins).
#[utoipa::path(post, path = "/api/v1/objects/{object}/fields", request_body = FieldDef, params(("object" = String, Path)),
    responses((status = 201, body = ObjectDef), (status = 409, body = super::error::ErrorBody)), tag = "schema")]
pub async fn add_field(
    State(state): State<AppState>,
    Caller(p): Caller,
    Path(object): Path<String>,
    ApiJson(def): ApiJson<FieldDef>,
) -> Result<(StatusCode, ApiJson<ObjectDef>), AppError> {
    Ok((StatusCode::CREATED, ApiJson(state.gate.add_custom_field(&p, &object, def).await?)))
}
