//! Authentication as a type a handler asks for, and the token endpoint.

use super::error::{ApiJson, AppError};
use super::AppState;
use crate::access::Principal;
use crate::audit::{Actor, Event, Outcome};
use crate::auth::IssuedToken;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::Deserialize;

/// The authenticated caller of a request, as the access layer sees them.
pub struct Caller(pub Principal);

pub(crate) fn request_id(parts: &Parts) -> Option<String> {
    parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(64).collect())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send `Authorization: Bearer <token>` (POST /api/v1/auth/token issues one)"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the Authorization header must be `Bearer <token>`"))?;
        let user = state.auth.authenticate(token.trim()).await?;
        let perms = std::sync::Arc::new(state.gate.permissions_of(&user.id).await?);
        let purpose = parts
            .headers
            .get("x-capcrm-purpose")
            .and_then(|v| v.to_str().ok())
            .filter(|s| s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_ .".contains(c)))
            .map(str::to_string);
        Ok(Caller(Principal {
            actor: Actor::user(&user.username),
            user_id: Some(user.id),
            perms,
            request_id: request_id(parts),
            purpose,
            plugin: None,
        }))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

/// Exchange a user name and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", request_body = TokenRequest,
    responses((status = 200, body = IssuedToken), (status = 401, body = super::error::ErrorBody)), tag = "auth")]
pub async fn token(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<ApiJson<IssuedToken>, AppError> {
    if req.username.len() > 200 || req.password.len() > 1024 {
        return Err(AppError::bad_request("user name or password too long"));
    }
    let rid = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    match state.auth.issue_token(&req.username, &req.password).await {
        Ok((user, token)) => {
            let ev = Event::new(&Actor::user(&user.username), "login", Outcome::Allowed).request(rid.as_deref()).detail("token issued");
            state.gate.audit_event(ev).await?;
            Ok(ApiJson(token))
        }
        Err(e) => {
            let ev = Event::new(&Actor::user(&req.username), "login", Outcome::Denied).request(rid.as_deref()).detail("bad credentials");
            state.gate.audit_event(ev).await?;
            Err(e.into())
        }
    }
}
