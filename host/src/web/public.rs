//! Public pages for people who are not users of capcrm, meant to be embedded on a company's site
//! (in an iframe the site's origins may frame, see `CAPCRM_FRAME_ANCESTORS`): the data-subject
//! request form and its verification step, answered by the `dsr` plugin's public routes.
//!
//! There is no session here, so no CSRF token: nothing a forged post could do that the form itself
//! does not offer to anyone. The plugin rate-limits per client by the host's keyed digest of the
//! address, which the page passes on like `/plugins/dsr/requests` does.

use super::i18n::Lang;
use super::page::{Chrome, WebError, render};
use super::privacy::{DSR, call};
use super::session::read_form;
use crate::api::AppState;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The regimes and kinds of request the form offers (the plugin checks them again).
const REGIMES: [(&str, &str); 3] = [("gdpr", "GDPR (EU)"), ("ccpa", "CCPA (California)"), ("pipl", "PIPL (中国)")];
const KINDS: [&str; 5] = ["access", "rectification", "erasure", "restriction", "opt_out_of_sale"];

#[derive(Template)]
#[template(path = "public_dsr.html")]
struct FormPage {
    c: Chrome,
    regimes: Vec<(&'static str, &'static str)>,
    kinds: Vec<(&'static str, &'static str)>,
    regime: String,
    kind: String,
    email: String,
    name: String,
    details: String,
    error: Option<String>,
}

impl FormPage {
    fn new(lang: Lang) -> FormPage {
        let kinds = KINDS.iter().map(|k| (*k, lang.t(kind_key(k)))).collect();
        FormPage { c: Chrome::signed_out(lang, lang.t("dsr_public_title"), String::new(), "/public/requests"), regimes: REGIMES.to_vec(), kinds, regime: String::new(), kind: String::new(), email: String::new(), name: String::new(), details: String::new(), error: None }
    }
}

fn kind_key(kind: &str) -> &'static str {
    match kind {
        "access" => "kind_access",
        "rectification" => "kind_rectification",
        "erasure" => "kind_erasure",
        "restriction" => "kind_restriction",
        _ => "kind_opt_out",
    }
}

#[derive(Template)]
#[template(path = "public_verify.html")]
struct VerifyPage {
    c: Chrome,
    id: String,
    respond_by: String,
    verified: bool,
    error: Option<String>,
}

/// The request form.
pub async fn dsr_form(parts: Parts) -> Response {
    render(&FormPage::new(Lang::of(&parts.headers)))
}

fn client(state: &AppState, parts: &Parts) -> Option<String> {
    crate::api::auth::client_ip(parts, state).map(|ip| state.gate.client_digest(DSR, ip))
}

/// Takes a request in; the requester is then asked for the code sent to their address.
pub async fn dsr_submit(State(state): State<AppState>, req: Request) -> Result<Response, WebError> {
    let (parts, form) = read_form(req).await?;
    let lang = Lang::of(&parts.headers);
    let field = |k: &str| form.get(k).unwrap_or("").trim().to_string();
    let body = json!({"regime": field("regime"), "kind": field("kind"), "email": field("email"), "name": field("name"), "details": field("details"), "website": field("website")});
    let r = call(&state, None, "POST", "/requests", "", Some(&body), client(&state, &parts)).await?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if (200..300).contains(&r.status) {
        let page = VerifyPage { c: Chrome::signed_out(lang, lang.t("dsr_verify_title"), String::new(), "/public/requests"), id: v["id"].as_str().unwrap_or("").into(), respond_by: v["respond_by"].as_str().unwrap_or("").into(), verified: false, error: None };
        return Ok(render(&page));
    }
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if status.is_server_error() {
        return Err(WebError::new(status, ""));
    }
    let page = FormPage { regime: field("regime"), kind: field("kind"), email: field("email"), name: field("name"), details: field("details"), error: Some(v["error"].as_str().unwrap_or("").to_string()), ..FormPage::new(lang) };
    Ok((status, render(&page)).into_response())
}

/// The requester's code.
pub async fn dsr_verify(State(state): State<AppState>, req: Request) -> Result<Response, WebError> {
    let (parts, form) = read_form(req).await?;
    let lang = Lang::of(&parts.headers);
    let id = form.get("id").unwrap_or("").trim().to_string();
    let body = json!({"id": id, "code": form.get("code").unwrap_or("").trim()});
    let r = call(&state, None, "POST", "/requests/verify", "", Some(&body), client(&state, &parts)).await?;
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if status.is_server_error() {
        return Err(WebError::new(status, ""));
    }
    let ok = status.is_success();
    let error = (!ok).then(|| if status == StatusCode::BAD_REQUEST { lang.t("err_code_wrong").to_string() } else { v["error"].as_str().unwrap_or("").to_string() });
    let page = VerifyPage { c: Chrome::signed_out(lang, lang.t("dsr_verify_title"), String::new(), "/public/requests"), id, respond_by: form.get("respond_by").unwrap_or("").to_string(), verified: ok, error };
    Ok((if ok { StatusCode::OK } else { status }, render(&page)).into_response())
}
