//! The web UI: server-rendered pages for the people who use capcrm, built into the binary.
//!
//! Pages are askama templates (compiled, every value HTML-escaped) with one small script and one
//! style sheet served from here, so nothing is fetched from anywhere else and no front-end build is
//! needed. Every page reads and writes through the same [`crate::access::Gate`] as the REST API,
//! as the signed-in person, so a page can show nothing that person could not read through the API.
//! Forms carry the session's CSRF token ([`session`]); every answer carries a strict
//! Content-Security-Policy without inline script.

pub mod audit;
pub mod home;
pub mod i18n;
pub mod page;
pub mod records;
pub mod session;
pub mod signin;

use crate::api::AppState;
use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// Scripts and styles only from this server, no inline script, no plugins, no framing.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages. Merged into the application router beside `/api/v1` and `/plugins`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/login", get(signin::login_page).post(signin::login))
        .route("/logout", post(signin::logout))
        .route("/lang/{code}", get(signin::set_lang))
        .route("/me/security", get(signin::security))
        .route("/me/mfa/setup", get(signin::mfa_setup_page).post(signin::mfa_setup))
        .route("/records", get(records::objects))
        .route("/records/{object}", get(records::list).post(records::create))
        .route("/records/{object}/new", get(records::new_form))
        .route("/records/{object}/{id}", get(records::show).post(records::update))
        .route("/records/{object}/{id}/edit", get(records::edit_form))
        .route("/records/{object}/{id}/reveal", post(records::reveal))
        .route("/audit", get(audit::explorer))
        .route("/audit/export", get(audit::export))
        .route("/audit/verify", post(audit::verify))
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::from_fn(page_headers))
}

/// Security headers on every page, and the rendering of errors in the page's language.
async fn page_headers(req: Request, next: Next) -> Response {
    let lang = i18n::Lang::of(req.headers());
    let mut resp = next.run(req).await;
    if let Some(pending) = resp.extensions_mut().remove::<page::PendingError>() {
        let status = resp.status();
        resp = page::render_error(lang, status, &pending.0);
    }
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");

/// The style sheet and the script: part of the binary, so the UI needs nothing from outside.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}
