//! The REST API (axum). Handlers are thin: they parse, ask the access layer, and shape the answer.

mod alerts;
mod audit;
pub(crate) mod auth;
pub mod error;
pub(crate) mod exports;
mod keys;
mod people;
pub(crate) mod plugins;
mod records;
mod schema;

use crate::access::Gate;
use crate::auth::Auth;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{get, post};
use error::{AppError, ApiJson};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub gate: Gate,
    pub auth: Auth,
    pub plugins: std::sync::Arc<crate::plugin::PluginRuntime>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: std::sync::Arc<Vec<ipnet::IpNet>>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "capcrm", description = "A CRM engine whose customer data is protected by construction."),
    paths(
        auth::token, auth::session, auth::logout, auth::mfa_enrol, auth::mfa_confirm, auth::mfa_verify, auth::create_token, auth::tokens, auth::revoke_token,
        records::create, records::get, records::update, records::delete, records::list,
        schema::list, schema::get, schema::add_object, schema::add_field,
        audit::query, audit::mine, audit::verify,
        people::roles, people::put_role, people::delete_role, people::users, people::user, people::create_user, people::update_user, people::teams, people::create_team, people::me, people::inactive_users, people::field_access,
        records::reveal, records::history, records::import,
        alerts::list, alerts::acknowledge, alerts::rules, alerts::set_rules,
        exports::request, exports::list, exports::approve, exports::reject, exports::download,
        keys::status, keys::rotate,
        plugins::list, plugins::show, plugins::install, plugins::approve, plugins::revoke, plugins::disable, plugins::enable, plugins::uninstall, plugins::dead_letters, plugins::replay, plugins::preview, plugins::maxima, plugins::set_maxima, plugins::set_limits,
        healthz,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, crate::access::ImportReport, crate::access::RowError)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok")), security(), tag = "ops")]
async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Result<&'static str, AppError> {
    sqlx::query("SELECT 1")
        .execute(state.gate.db().reader())
        .await
        .map_err(|_| AppError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "database unreachable"))?;
    Ok("ok")
}

async fn openapi() -> ApiJson<utoipa::openapi::OpenApi> {
    ApiJson(ApiDoc::openapi())
}

async fn fallback() -> AppError {
    AppError::not_found("no such endpoint; the API is described at /api/v1/openapi.json")
}

async fn method_not_allowed() -> AppError {
    AppError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method")
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route("/auth/token", post(auth::token))
        .route("/auth/session", post(auth::session))
        .route("/auth/logout", post(auth::logout))
        .route("/me/mfa/enrol", post(auth::mfa_enrol))
        .route("/me/mfa/confirm", post(auth::mfa_confirm))
        .route("/me/mfa/verify", post(auth::mfa_verify))
        .route("/tokens", get(auth::tokens).post(auth::create_token))
        .route("/tokens/{id}", axum::routing::delete(auth::revoke_token))
        .route("/openapi.json", get(openapi))
        .route("/objects", get(schema::list).post(schema::add_object))
        .route("/objects/{object}", get(schema::get))
        .route("/objects/{object}/fields", post(schema::add_field))
        .route("/records/{object}", get(records::list).post(records::create))
        .route("/records/{object}/import", post(records::import))
        .route("/records/{object}/{id}", get(records::get).patch(records::update).delete(records::delete))
        .route("/records/{object}/{id}/reveal", post(records::reveal))
        .route("/records/{object}/{id}/history", get(records::history))
        .route("/roles", get(people::roles))
        .route("/roles/{name}", axum::routing::put(people::put_role).delete(people::delete_role))
        .route("/users", get(people::users).post(people::create_user))
        .route("/users/{id}", get(people::user).patch(people::update_user))
        .route("/teams", get(people::teams).post(people::create_team))
        .route("/me", get(people::me))
        .route("/me/activity", get(audit::mine))
        .route("/reports/inactive-users", get(people::inactive_users))
        .route("/reports/field-access", get(people::field_access))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/alert-rules", get(alerts::rules).put(alerts::set_rules))
        .route("/exports", get(exports::list).post(exports::request))
        .route("/exports/{id}/approve", post(exports::approve))
        .route("/exports/{id}/reject", post(exports::reject))
        .route("/exports/{id}/download", get(exports::download))
        .route("/keys", get(keys::status))
        .route("/keys/rotate", post(keys::rotate))
        .route("/audit", get(audit::query))
        .route("/audit/verify", get(audit::verify))
        .route("/plugins", get(plugins::list))
        .route("/plugins", post(plugins::install).layer(DefaultBodyLimit::max(plugins::COMPONENT_LIMIT * 4 / 3 + 1024 * 1024)))
        .route("/plugins/{name}", get(plugins::show).delete(plugins::uninstall))
        .route("/plugins/{name}/approve", post(plugins::approve))
        .route("/plugins/{name}/revoke", post(plugins::revoke))
        .route("/plugins/{name}/disable", post(plugins::disable))
        .route("/plugins/{name}/enable", post(plugins::enable))
        .route("/plugins/{name}/preview", post(plugins::preview))
        .route("/plugins/{name}/limits", axum::routing::put(plugins::set_limits))
        .route("/plugin-maxima", get(plugins::maxima).put(plugins::set_maxima))
        .route("/plugins/{name}/dead-letters", get(plugins::dead_letters))
        .route("/plugins/{name}/dead-letters/replay", post(plugins::replay));
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", api)
        .route("/plugins/{name}/{*rest}", axum::routing::any(plugins::route))
        .merge(crate::web::router())
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Spans name the method and path only: query strings can carry filter values.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
