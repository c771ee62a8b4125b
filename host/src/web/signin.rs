//! Signing in and out, the language switch, and the second factor: the security page and
//! enrolment by QR code with recovery codes.

use super::i18n::{LANG_COOKIE, Lang};
use super::page::{Chrome, Section, WebError, render};
use super::session::{PRE_SESSION_COOKIE, PreSessionForm, SessionForm, WebUser, local_path, new_pre_session_secret, pre_session_csrf, session_of};
use crate::api::AppState;
use crate::api::auth::{SESSION_COOKIE, TokenRequest, clear_session_cookies, cookie, enrol_begin, enrol_confirm, is_enrolment_only, secure_attribute, set_session_cookies, sign_in};
use crate::audit::{Event, Outcome};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    c: Chrome,
    next: String,
    username: String,
    error: Option<&'static str>,
    code_wanted: bool,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    done: Option<String>,
}

/// The sign-in form. A pre-session cookie holds the secret behind its CSRF token, so a sign-in
/// cannot be forced from another site.
pub async fn login_page(State(state): State<AppState>, parts: Parts, Query(q): Query<LoginQuery>) -> Response {
    let next = local_path(q.next.as_deref().unwrap_or("/"));
    if let Ok(u) = session_of(&parts, &state).await {
        if !is_enrolment_only(&u.user) {
            return Redirect::to(&next).into_response();
        }
    }
    let lang = Lang::of(&parts.headers);
    let (secret, fresh) = match cookie(&parts, PRE_SESSION_COOKIE).filter(|s| s.len() >= 32 && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())) {
        Some(s) => (s, false),
        None => (new_pre_session_secret(), true),
    };
    let done = if q.expired.is_some() { Some("expired") } else { q.done.as_deref() };
    let page = LoginPage { c: Chrome::signed_out(lang, lang.t("sign_in"), pre_session_csrf(&secret), &parts.uri.to_string()).with_notice(done), next, username: String::new(), error: None, code_wanted: false };
    let mut resp = render(&page);
    if fresh {
        let c = format!("{PRE_SESSION_COOKIE}={secret}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{}", secure_attribute(&parts));
        resp.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&c).expect("hex"));
    }
    resp
}

/// Signs in with password and, where the account has one, the second factor in the same form.
/// A person whose role requires a second factor they lack gets an enrolment-only session and is
/// sent to set one up.
pub async fn login(State(state): State<AppState>, PreSessionForm(parts, form): PreSessionForm) -> Response {
    let lang = Lang::of(&parts.headers);
    let next = local_path(form.get("next").unwrap_or("/"));
    let username = form.get("username").unwrap_or("").trim().to_string();
    let code = form.text("code").map(|c| c.replace(' ', ""));
    let is_totp = code.as_ref().is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
    let req = TokenRequest {
        username: username.clone(),
        password: form.get("password").unwrap_or("").to_string(),
        totp: code.clone().filter(|_| is_totp),
        recovery_code: code.filter(|_| !is_totp),
    };
    // A session the browser already had is ended, never adopted.
    if let Some(old) = cookie(&parts, SESSION_COOKIE) {
        if let Ok(u) = state.auth.authenticate(&old).await {
            let _ = state.auth.revoke_token(&u.token_id, Some(&u.id)).await;
        }
    }
    match sign_in(&state, &parts, req).await {
        Ok(signed) => {
            let to = if signed.mfa_enrolment_required { "/me/mfa/setup".to_string() } else { next };
            let mut resp = Redirect::to(&to).into_response();
            set_session_cookies(&parts, &mut resp, &signed.token);
            resp
        }
        Err(e) if e.status.is_server_error() => WebError::from(e).into_response(),
        Err(e) => {
            let (key, code_wanted) = match e.code {
                "mfa_required" => ("err_code_needed", true),
                "bad_mfa_code" => ("err_code_wrong", true),
                "locked_out" => ("err_locked", false),
                "ip_not_allowed" => ("err_ip", false),
                _ => ("err_credentials", false),
            };
            let secret = cookie(&parts, PRE_SESSION_COOKIE).unwrap_or_default();
            let page = LoginPage { c: Chrome::signed_out(lang, lang.t("sign_in"), pre_session_csrf(&secret), "/login"), next, username, error: Some(lang.t(key)), code_wanted };
            (e.status, render(&page)).into_response()
        }
    }
}

/// Signs out: the session stops working at once, on this browser and any copy of its cookie.
pub async fn logout(State(state): State<AppState>, SessionForm(u, _): SessionForm) -> Result<Response, WebError> {
    state.auth.revoke_token(&u.user.token_id, Some(&u.user.id)).await.map_err(crate::api::error::AppError::from)?;
    state.gate.audit_event(Event::new(&u.principal.actor, "logout", Outcome::Allowed).request(u.principal.request_id.as_deref())).await?;
    let mut resp = Redirect::to("/login?done=signed_out").into_response();
    clear_session_cookies(&mut resp);
    Ok(resp)
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Switches the language and goes back to the page.
pub async fn set_lang(Path(code): Path<String>, parts: Parts, Query(q): Query<NextQuery>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return WebError::not_found().into_response();
    };
    let mut resp = Redirect::to(&local_path(q.next.as_deref().unwrap_or("/"))).into_response();
    let c = format!("{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000{}", lang.code(), secure_attribute(&parts));
    resp.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&c).expect("ascii"));
    resp
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    c: Chrome,
    mfa_on: bool,
}

/// The person's own security settings: whether the second factor is on, and setting it up.
pub async fn security(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    let mfa_on = state.auth.mfa_enabled(&u.user.id).await.map_err(crate::api::error::AppError::from)?;
    Ok(render(&SecurityPage { c: Chrome::signed_in(&u, u.lang.t("security_title"), Section::Security), mfa_on }))
}

/// A secret to scan and a code to confirm it with.
struct Scan {
    qr_data_url: String,
    secret: String,
    error: bool,
}

/// The end of enrolment: the recovery codes, shown once.
struct Codes {
    codes: Vec<String>,
    /// The enrolment-only session ended: the person signs in again with the new factor.
    signed_out: bool,
}

/// Enrolment in three steps: start (neither set), scan, codes.
#[derive(Template)]
#[template(path = "mfa_setup.html")]
struct SetupPage {
    c: Chrome,
    required: bool,
    scan: Option<Scan>,
    codes: Option<Codes>,
}

impl SetupPage {
    fn new(u: &WebUser) -> SetupPage {
        SetupPage { c: setup_chrome(u), required: is_enrolment_only(&u.user), scan: None, codes: None }
    }
}

fn setup_chrome(u: &WebUser) -> Chrome {
    let c = Chrome::signed_in(u, u.lang.t("mfa_set_up"), Section::Security);
    if is_enrolment_only(&u.user) {
        // An enrolment-only session can go nowhere else yet.
        Chrome { nav: Vec::new(), ..c }
    } else {
        c
    }
}

/// The start of enrolment (for any session, enrolment-only included).
pub async fn mfa_setup_page(State(state): State<AppState>, parts: Parts) -> Response {
    let u = match session_of(&parts, &state).await {
        Ok(u) => u,
        Err(b) => return b.into_response(),
    };
    render(&SetupPage::new(&u))
}

/// `step=begin` creates a secret and shows it; `step=confirm` turns it on with a first code and
/// shows the recovery codes. An enrolment-only session ends there: the person signs in again.
pub async fn mfa_setup(State(state): State<AppState>, SessionForm(u, form): SessionForm) -> Result<Response, WebError> {
    match form.get("step") {
        Some("begin") => {
            let e = enrol_begin(&state, &u.principal, &u.user).await?;
            let qr_data_url = format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(e.qr_svg.as_bytes()));
            Ok(render(&SetupPage { scan: Some(Scan { qr_data_url, secret: e.secret, error: false }), ..SetupPage::new(&u) }))
        }
        Some("confirm") => {
            let code = form.text("code").unwrap_or_default();
            match enrol_confirm(&state, &u.principal, &u.user, &code).await {
                Ok(codes) => {
                    let signed_out = is_enrolment_only(&u.user);
                    let mut resp = render(&SetupPage { codes: Some(Codes { codes, signed_out }), ..SetupPage::new(&u) });
                    if signed_out {
                        clear_session_cookies(&mut resp);
                    }
                    Ok(resp)
                }
                Err(e) if e.status.is_client_error() => {
                    // The secret stays as it was begun: show it again with the error at the code.
                    let secret = form.text("secret").unwrap_or_default();
                    let qr_data_url = form.text("qr").filter(|q| q.starts_with("data:image/svg+xml;base64,")).unwrap_or_default();
                    let resp = render(&SetupPage { scan: Some(Scan { qr_data_url, secret, error: true }), ..SetupPage::new(&u) });
                    Ok((StatusCode::UNPROCESSABLE_ENTITY, resp).into_response())
                }
                Err(e) => Err(e.into()),
            }
        }
        _ => Err(WebError::new(StatusCode::BAD_REQUEST, "unknown step")),
    }
}
