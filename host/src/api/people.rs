//! `/api/v1/users`, `/api/v1/teams`, `/api/v1/roles` (administrators) and `/api/v1/me`.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::access::RoleDef;
use crate::access::people::{NewUser, TeamInfo, UserChange, UserInfo, UserPage, UserQuery};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

/// Every role: built-in ones first, then those administrators added.
#[utoipa::path(get, path = "/api/v1/roles", responses((status = 200, body = Vec<RoleDef>)), tag = "people")]
pub async fn roles(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Vec<RoleDef>>, AppError> {
    Ok(ApiJson(s.gate.roles(&p).await?))
}

/// Add or replace a role of your own (built-in roles cannot be changed).
#[utoipa::path(put, path = "/api/v1/roles/{name}", request_body = RoleDef, params(("name" = String, Path)), responses((status = 200, body = RoleDef)), tag = "people")]
pub async fn put_role(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>, ApiJson(def): ApiJson<RoleDef>) -> Result<ApiJson<RoleDef>, AppError> {
    if def.name != name {
        return Err(AppError::bad_request("the role's `name` must match the path"));
    }
    Ok(ApiJson(s.gate.put_role(&p, def).await?))
}

/// Remove a role of your own that nobody holds.
#[utoipa::path(delete, path = "/api/v1/roles/{name}", params(("name" = String, Path)), responses((status = 204)), tag = "people")]
pub async fn delete_role(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<StatusCode, AppError> {
    s.gate.delete_role(&p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of users in username order, with roles and teams (`after` the previous page's `next`;
/// `q` keeps users whose name contains it; `limit` 1 to 500, default 100).
#[utoipa::path(get, path = "/api/v1/users", params(UserQuery), responses((status = 200, body = UserPage)), tag = "people")]
pub async fn users(State(s): State<AppState>, Caller(p): Caller, Query(q): Query<UserQuery>) -> Result<ApiJson<UserPage>, AppError> {
    Ok(ApiJson(s.gate.users_page(&p, &q).await?))
}

/// One user, with roles and teams.
#[utoipa::path(get, path = "/api/v1/users/{id}", params(("id" = String, Path)), responses((status = 200, body = UserInfo)), tag = "people")]
pub async fn user(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<ApiJson<UserInfo>, AppError> {
    Ok(ApiJson(s.gate.user(&p, &id).await?))
}

/// Create a user with roles and teams.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser, responses((status = 201, body = UserInfo)), tag = "people")]
pub async fn create_user(State(s): State<AppState>, Caller(p): Caller, ApiJson(u): ApiJson<NewUser>) -> Result<(StatusCode, ApiJson<UserInfo>), AppError> {
    if u.password.len() > 1024 {
        return Err(AppError::bad_request("the password is too long"));
    }
    Ok((StatusCode::CREATED, ApiJson(s.gate.create_user(&p, &s.auth, u).await?)))
}

/// Change a user's roles or teams, disable them (every token and session revoked at once,
/// records optionally handed to another user) or enable them again.
#[utoipa::path(patch, path = "/api/v1/users/{id}", request_body = UserChange, params(("id" = String, Path)), responses((status = 200, body = UserInfo)), tag = "people")]
pub async fn update_user(State(s): State<AppState>, Caller(p): Caller, Path(id): Path<String>, ApiJson(c): ApiJson<UserChange>) -> Result<ApiJson<UserInfo>, AppError> {
    Ok(ApiJson(s.gate.update_user(&p, &s.auth, &id, c).await?))
}

/// Every team and its members.
#[utoipa::path(get, path = "/api/v1/teams", responses((status = 200, body = Vec<TeamInfo>)), tag = "people")]
pub async fn teams(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Vec<TeamInfo>>, AppError> {
    Ok(ApiJson(s.gate.teams(&p).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
}

/// Create a team.
#[utoipa::path(post, path = "/api/v1/teams", request_body = NewTeam, responses((status = 201, body = TeamInfo)), tag = "people")]
pub async fn create_team(State(s): State<AppState>, Caller(p): Caller, ApiJson(t): ApiJson<NewTeam>) -> Result<(StatusCode, ApiJson<TeamInfo>), AppError> {
    Ok((StatusCode::CREATED, ApiJson(s.gate.create_team(&p, &t.name).await?)))
}

/// What the caller may do, for clients that adapt to it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    pub username: String,
    pub user_id: Option<String>,
    pub roles: Vec<String>,
}

/// The signed-in user and their roles.
#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = Me)), tag = "people")]
pub async fn me(Caller(p): Caller) -> ApiJson<Me> {
    ApiJson(Me { username: p.actor.name.clone(), user_id: p.user_id.clone(), roles: p.perms.role_names() })
}

/// Enabled accounts not used for `days` days (default 90): candidates for offboarding.
#[utoipa::path(get, path = "/api/v1/reports/inactive-users", params(("days" = Option<i64>, Query)), responses((status = 200, body = Vec<crate::access::people::InactiveUser>)), tag = "people")]
pub async fn inactive_users(State(s): State<AppState>, Caller(p): Caller, axum::extract::RawQuery(q): axum::extract::RawQuery) -> Result<ApiJson<Vec<crate::access::people::InactiveUser>>, AppError> {
    let days = match q.as_deref().and_then(|q| q.strip_prefix("days=")) {
        Some(d) => d.parse().map_err(|_| AppError::bad_request("days must be a number"))?,
        None if q.as_deref().unwrap_or("").is_empty() => 90,
        None => return Err(AppError::bad_request("the only parameter is days")),
    };
    Ok(ApiJson(s.gate.inactive_users(&p, days).await?))
}

/// Who can see which sensitive field (`?personal=true`: personal fields too), masked or in
/// clear, and within which record scope.
#[utoipa::path(get, path = "/api/v1/reports/field-access", responses((status = 200, body = Vec<crate::access::people::FieldExposure>)), tag = "people")]
pub async fn field_access(State(s): State<AppState>, Caller(p): Caller, axum::extract::RawQuery(q): axum::extract::RawQuery) -> Result<ApiJson<Vec<crate::access::people::FieldExposure>>, AppError> {
    let personal = q.as_deref() == Some("personal=true");
    Ok(ApiJson(s.gate.field_exposure(&p, personal).await?))
}
