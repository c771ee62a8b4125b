//! The web UI: server-rendered pages for the people who use capcrm, built into the binary.
//!
//! Pages are askama templates (compiled, every value HTML-escaped) with one small script and one
//! style sheet served from here, so nothing is fetched from anywhere else and no front-end build is
//! needed. Every page reads and writes through the same [`crate::access::Gate`] as the REST API,
//! as the signed-in person, so a page can show nothing that person could not read through the API.
//! Forms carry the session's CSRF token ([`session`]); every answer carries a strict
//! Content-Security-Policy without inline script.

pub mod admin;
pub mod audit;
pub mod home;
pub mod i18n;
pub mod labels;
pub mod leads;
pub mod page;
pub mod plugin_call;
pub mod plugins;
pub mod privacy;
pub mod public;
pub mod records;
pub mod session;
pub mod signin;
pub mod transfer;

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
        .route("/records/{object}/import", get(transfer::import_form).post(transfer::import))
        .route("/records/{object}/export", post(transfer::export))
        .route("/exports", get(transfer::exports))
        .route("/exports/{id}/download", get(transfer::download))
        .route("/records/{object}/{id}", get(records::show).post(records::update))
        .route("/records/{object}/{id}/edit", get(records::edit_form))
        .route("/records/{object}/{id}/reveal", post(records::reveal))
        .route("/audit", get(audit::explorer))
        .route("/audit/export", get(audit::export))
        .route("/audit/verify", post(audit::verify))
        .route("/admin/plugins", get(plugins::list))
        .route("/admin/plugins/{name}", get(plugins::show).post(plugins::decide))
        .route("/admin/plugins/{name}/{action}", post(plugins::act))
        .route("/privacy/requests", get(privacy::queue))
        .route("/privacy/consents", get(privacy::consents).post(privacy::record_consent))
        .route("/privacy/requests/{id}", get(privacy::request))
        .route("/privacy/requests/{id}/bundle", get(privacy::bundle))
        .route("/privacy/requests/{id}/{action}", post(privacy::act))
        .route("/public/requests", get(public::dsr_form).post(public::dsr_submit))
        .route("/public/requests/verify", post(public::dsr_verify))
        .route("/static/{file}", get(asset))
        .merge(admin::routes())
        .merge(leads::routes())
        .layer(axum::middleware::from_fn(page_headers))
}

/// Security headers on every page, and the rendering of errors in the page's language.
async fn page_headers(req: Request, next: Next) -> Response {
    let lang = i18n::Lang::of(req.headers());
    let public = req.uri().path().starts_with("/public/");
    let mut resp = next.run(req).await;
    if let Some(pending) = resp.extensions_mut().remove::<page::PendingError>() {
        let status = resp.status();
        resp = page::render_error(lang, status, &pending.0);
    }
    let h = resp.headers_mut();
    if public {
        // Public forms may be framed by the sites named in CAPCRM_FRAME_ANCESTORS.
        h.insert(header::CONTENT_SECURITY_POLICY, public_csp().clone());
    } else {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// The origins that may embed the public forms, from `CAPCRM_FRAME_ANCESTORS` (space-separated,
/// e.g. `https://www.example.com`); by default only this server itself. A value with anything but
/// origin characters is ignored (and said so in the log) rather than let into the header.
pub fn frame_ancestors() -> String {
    let configured = std::env::var("CAPCRM_FRAME_ANCESTORS").unwrap_or_default();
    let ok = configured.split_whitespace().all(|o| o == "'self'" || ((o.starts_with("https://") || o.starts_with("http://")) && o.chars().all(|c| c.is_ascii_alphanumeric() || ":/.-*".contains(c))));
    if configured.trim().is_empty() {
        "'self'".into()
    } else if ok {
        configured.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        tracing::warn!("CAPCRM_FRAME_ANCESTORS holds something other than origins; the public forms may be framed by this server only");
        "'self'".into()
    }
}

fn public_csp() -> &'static HeaderValue {
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        let csp = PAGE_CSP.replace("frame-ancestors 'none'", &format!("frame-ancestors {}", frame_ancestors()));
        HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(PAGE_CSP))
    })
}

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");
const BOARD_JS: &str = include_str!("../../static/board.js");

/// The style sheet and the script: part of the binary, so the UI needs nothing from outside.
async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "board.js" => (BOARD_JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut resp = body.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}
