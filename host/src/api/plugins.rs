//! `/api/v1/plugins` (administration) and `/plugins/{name}/...` (the plugins' own routes).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::plugin::registry::PluginInfo;
use crate::plugin::{PluginError, PluginRequest};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

/// Largest component accepted by the install endpoint.
pub const COMPONENT_LIMIT: usize = 32 << 20;

impl From<PluginError> for AppError {
    fn from(e: PluginError) -> Self {
        let msg = e.to_string();
        match e {
            PluginError::NotFound(_) => AppError::new(StatusCode::NOT_FOUND, "not_found", msg),
            PluginError::Invalid(_) | PluginError::Manifest(_) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_plugin", msg),
            PluginError::Conflict(_) => AppError::new(StatusCode::CONFLICT, "conflict", msg),
            PluginError::Denied(_) => AppError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            PluginError::Failed(_) => AppError::new(StatusCode::BAD_GATEWAY, "plugin_failed", msg),
            PluginError::RateLimited(_, wait) => {
                let mut e = AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg);
                e.retry_after = Some(wait as i64);
                e
            }
            PluginError::Access(a) => a.into(),
            PluginError::Runtime(_) => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", msg),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// The manifest, as TOML text.
    pub manifest: String,
    /// The component (`.wasm`), base64-encoded.
    pub component_base64: String,
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The version to approve; the newest pending one by default.
    pub version: Option<String>,
    /// Capabilities to leave out, e.g. `read:contact.email`.
    #[serde(default)]
    pub deny: Vec<String>,
}

fn require_plugins(p: &crate::access::Principal) -> Result<(), AppError> {
    if crate::access::Effective::of(p).has(crate::access::SystemPermission::Plugins) {
        Ok(())
    } else {
        Err(AppError::new(StatusCode::FORBIDDEN, "forbidden", "permission denied: plugin administration"))
    }
}

/// Installed plugins.
#[utoipa::path(get, path = "/api/v1/plugins", responses((status = 200, body = Vec<PluginInfo>)), tag = "plugins")]
pub async fn list(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Vec<PluginInfo>>, AppError> {
    require_plugins(&p)?;
    Ok(ApiJson(s.plugins.registry.list().await?))
}

/// One plugin: versions, what each asks for, what was granted, what an upgrade adds.
#[utoipa::path(get, path = "/api/v1/plugins/{name}", params(("name" = String, Path)), responses((status = 200, body = PluginInfo)), tag = "plugins")]
pub async fn show(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<ApiJson<PluginInfo>, AppError> {
    require_plugins(&p)?;
    Ok(ApiJson(s.plugins.registry.show(&name).await?))
}

/// Install a plugin version; it stays pending until approved (unless it is an upgrade asking for
/// nothing beyond the running grant).
#[utoipa::path(post, path = "/api/v1/plugins", request_body = InstallRequest, responses((status = 201, body = PluginInfo), (status = 422, body = super::error::ErrorBody)), tag = "plugins")]
pub async fn install(State(s): State<AppState>, Caller(p): Caller, ApiJson(req): ApiJson<InstallRequest>) -> Result<(StatusCode, ApiJson<PluginInfo>), AppError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(req.component_base64.trim())
        .map_err(|_| AppError::bad_request("`component_base64` is not base64"))?;
    Ok((StatusCode::CREATED, ApiJson(s.plugins.install(&p, &bytes, &req.manifest).await?)))
}

/// Approve all of a version's capabilities or all but some.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/approve", request_body = ApproveRequest, params(("name" = String, Path)), responses((status = 200, body = PluginInfo)), tag = "plugins")]
pub async fn approve(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>, ApiJson(req): ApiJson<ApproveRequest>) -> Result<ApiJson<PluginInfo>, AppError> {
    Ok(ApiJson(s.plugins.registry.approve(&p, &name, req.version.as_deref(), &req.deny).await?))
}

/// Withdraw a plugin's grant: its next call is refused.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/revoke", params(("name" = String, Path)), responses((status = 200, body = PluginInfo)), tag = "plugins")]
pub async fn revoke(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<ApiJson<PluginInfo>, AppError> {
    Ok(ApiJson(s.plugins.registry.revoke(&p, &name).await?))
}

/// Stop running a plugin without withdrawing its grant.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/disable", params(("name" = String, Path)), responses((status = 200, body = PluginInfo)), tag = "plugins")]
pub async fn disable(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<ApiJson<PluginInfo>, AppError> {
    Ok(ApiJson(s.plugins.registry.disable(&p, &name).await?))
}

/// Run a disabled plugin again.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/enable", params(("name" = String, Path)), responses((status = 200, body = PluginInfo)), tag = "plugins")]
pub async fn enable(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<ApiJson<PluginInfo>, AppError> {
    Ok(ApiJson(s.plugins.registry.enable(&p, &name).await?))
}

/// Remove a plugin, its versions and its stored data.
#[utoipa::path(delete, path = "/api/v1/plugins/{name}", params(("name" = String, Path)), responses((status = 204)), tag = "plugins")]
pub async fn uninstall(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<StatusCode, AppError> {
    s.plugins.registry.uninstall(&p, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The maxima that cap every plugin's limits.
#[utoipa::path(get, path = "/api/v1/plugin-maxima", responses((status = 200, body = crate::plugin::manifest::LimitMaxima)), tag = "plugins")]
pub async fn maxima(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<crate::plugin::manifest::LimitMaxima>, AppError> {
    require_plugins(&p)?;
    Ok(ApiJson(s.plugins.registry.maxima().await?))
}

/// Set the maxima (all four). Installs asking for more are refused; running plugins are capped
/// from their next call.
#[utoipa::path(put, path = "/api/v1/plugin-maxima", request_body = crate::plugin::manifest::LimitMaxima, responses((status = 200, body = crate::plugin::manifest::LimitMaxima), (status = 422, body = super::error::ErrorBody)), tag = "plugins")]
pub async fn set_maxima(
    State(s): State<AppState>,
    Caller(p): Caller,
    ApiJson(m): ApiJson<crate::plugin::manifest::LimitMaxima>,
) -> Result<ApiJson<crate::plugin::manifest::LimitMaxima>, AppError> {
    Ok(ApiJson(s.plugins.registry.set_maxima(&p, m).await?))
}

/// Set one plugin's limits in place of its manifest's (each within the maxima); fields left out
/// keep the manifest's, `{}` clears every override.
#[utoipa::path(put, path = "/api/v1/plugins/{name}/limits", request_body = crate::plugin::manifest::LimitOverrides, params(("name" = String, Path)), responses((status = 200, body = PluginInfo), (status = 422, body = super::error::ErrorBody)), tag = "plugins")]
pub async fn set_limits(
    State(s): State<AppState>,
    Caller(p): Caller,
    Path(name): Path<String>,
    ApiJson(o): ApiJson<crate::plugin::manifest::LimitOverrides>,
) -> Result<ApiJson<PluginInfo>, AppError> {
    Ok(ApiJson(s.plugins.registry.set_limits(&p, &name, o).await?))
}

/// Events that failed every delivery attempt to this plugin.
#[utoipa::path(get, path = "/api/v1/plugins/{name}/dead-letters", params(("name" = String, Path)), responses((status = 200, body = Vec<crate::plugin::dispatch::DeadLetter>)), tag = "plugins")]
pub async fn dead_letters(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>) -> Result<ApiJson<Vec<crate::plugin::dispatch::DeadLetter>>, AppError> {
    require_plugins(&p)?;
    Ok(ApiJson(s.plugins.registry.dead_letters(&name).await?))
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// One event to replay; all dead letters of the plugin when absent.
    pub event_id: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReplayResult {
    pub requeued: u64,
}

/// Put dead-lettered deliveries back in the queue.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/dead-letters/replay", request_body = ReplayRequest, params(("name" = String, Path)), responses((status = 200, body = ReplayResult)), tag = "plugins")]
pub async fn replay(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>, ApiJson(req): ApiJson<ReplayRequest>) -> Result<ApiJson<ReplayResult>, AppError> {
    Ok(ApiJson(ReplayResult { requeued: s.plugins.registry.replay(&p, &name, req.event_id.as_deref()).await? }))
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The version to preview; the newest pending one by default.
    pub version: Option<String>,
    /// Capabilities to leave out, as an approval with `deny` would.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Events to deliver: `<kind>:<object>:<record id>`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Requests to send: `<METHOD> <path>[?<query>]`.
    #[serde(default)]
    pub requests: Vec<String>,
    /// Jobs to run.
    #[serde(default)]
    pub jobs: Vec<String>,
}

/// Run a version before approving it, against real records, always rolled back: which fields of
/// which records would cross the boundary, masked as they would be granted.
#[utoipa::path(post, path = "/api/v1/plugins/{name}/preview", request_body = PreviewRequest, params(("name" = String, Path)), responses((status = 200, body = Vec<crate::plugin::PreviewRun>)), tag = "plugins")]
pub async fn preview(State(s): State<AppState>, Caller(p): Caller, Path(name): Path<String>, ApiJson(req): ApiJson<PreviewRequest>) -> Result<ApiJson<Vec<crate::plugin::PreviewRun>>, AppError> {
    use crate::plugin::harness::Step;
    if req.events.len() + req.requests.len() + req.jobs.len() > 20 {
        return Err(AppError::bad_request("at most 20 steps in one preview"));
    }
    let steps: Vec<Step> = req
        .events
        .into_iter()
        .map(Step::Event)
        .chain(req.requests.into_iter().map(Step::Request))
        .chain(req.jobs.into_iter().map(Step::Job))
        .collect();
    Ok(ApiJson(s.plugins.preview(&p, &name, req.version.as_deref(), &req.deny, &steps).await?))
}

/// The header that names the client to a plugin (see [`crate::access::Gate::client_digest`]).
pub const CLIENT_HEADER: &str = "x-capcrm-client";

/// The request headers a plugin sees: content negotiation only, and the host's digest of the
/// client. Whatever the client sent in [`CLIENT_HEADER`] is dropped with everything else, so the
/// client cannot choose its own bucket.
fn plugin_headers(headers: &HeaderMap, client: Option<String>) -> Vec<(String, String)> {
    let pass = ["content-type", "accept", "accept-language"];
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| pass.contains(&k.as_str()))
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string())))
        .collect();
    out.extend(client.map(|c| (CLIENT_HEADER.to_string(), c)));
    out
}

/// A plugin's own route. With a bearer token the plugin acts for that user (and can do no more
/// than they can); without one only routes the manifest marks `public` answer.
pub async fn route(
    State(s): State<AppState>,
    Path((name, rest)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    req: axum::extract::Request,
) -> Result<Response, AppError> {
    let (mut parts, body) = req.into_parts();
    let signed_in = headers.contains_key(axum::http::header::AUTHORIZATION) || super::auth::cookie(&parts, super::auth::SESSION_COOKIE).is_some();
    let acting = if signed_in {
        Some(Caller::from_request_parts(&mut parts, &s).await?.0)
    } else {
        None
    };
    let body: Bytes = axum::body::to_bytes(body, super::BODY_LIMIT)
        .await
        .map_err(|_| AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is larger than the limit (1 MiB)"))?;
    let req = PluginRequest {
        method: method.as_str().to_string(),
        path: format!("/{rest}"),
        query: query.unwrap_or_default(),
        headers: plugin_headers(&headers, super::auth::client_ip(&parts, &s).map(|ip| s.gate.client_digest(&name, ip))),
        body: body.to_vec(),
    };
    let resp = s.plugins.http(&name, req, acting.as_ref()).await?;
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = (status, resp.body).into_response();
    for (k, v) in resp.headers {
        let k = k.to_ascii_lowercase();
        // The host owns security and framing headers.
        if ["content-type", "cache-control", "content-language"].contains(&k.as_str()) {
            if let (Ok(name), Ok(value)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), axum::http::HeaderValue::from_str(&v)) {
                out.headers_mut().insert(name, value);
            }
        }
    }
    out.headers_mut().insert("x-content-type-options", axum::http::HeaderValue::from_static("nosniff"));
    out.headers_mut().insert("content-security-policy", axum::http::HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'self'"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_see_content_headers_and_the_hosts_client_digest_only() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("authorization", "Bearer secret-token".parse().unwrap());
        h.insert("cookie", "capcrm_session=abc".parse().unwrap());
        h.insert("x-forwarded-for", "198.51.100.4".parse().unwrap());
        h.insert(CLIENT_HEADER, "0000000000000000ffffffffffffffff".parse().unwrap());
        let out = plugin_headers(&h, Some("a1b2".into()));
        assert_eq!(out, vec![("content-type".to_string(), "application/json".to_string()), (CLIENT_HEADER.to_string(), "a1b2".to_string())]);
        let none = plugin_headers(&h, None);
        assert!(!none.iter().any(|(k, _)| k == CLIENT_HEADER), "a client cannot name its own bucket: {none:?}");
    }
}
