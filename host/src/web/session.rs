//! Who is signed in to a page, and the forms they send.
//!
//! The session is the API's cookie session (`capcrm_session`, HttpOnly, SameSite=Strict). A page
//! that needs a person asks for [`WebUser`]: without a session it sends the browser to the sign-in
//! page and back afterwards; with an ended one it says so there. A form that changes something is
//! read with [`SignedForm`], which refuses it unless it carries the session's CSRF token and, when
//! the browser names an origin, comes from this site.

use super::i18n::Lang;
use super::page::WebError;
use crate::access::Principal;
use crate::api::AppState;
use crate::api::auth::{SESSION_COOKIE, cookie, csrf_matches, csrf_token, is_enrolment_only, principal_for};
use crate::auth::AuthUser;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

/// The cookie holding the secret behind the sign-in form's CSRF token, before there is a session.
pub const PRE_SESSION_COOKIE: &str = "capcrm_presession";

/// A path on this site to go back to after signing in; anything else (another host, a scheme,
/// `//evil`) becomes the home page, so the sign-in page cannot be used to send people elsewhere.
pub fn local_path(next: &str) -> String {
    let ok = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && next.len() <= 2000 && !next.chars().any(|c| c.is_control());
    if ok { next.to_string() } else { "/".to_string() }
}

/// `?next=<path>` for a link back to `path`.
pub fn next_query(path: &str) -> String {
    serde_urlencoded::to_string([("next", path)]).unwrap_or_default()
}

/// A signed-in person on a page.
pub struct WebUser {
    pub principal: Principal,
    pub user: AuthUser,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    pub lang: Lang,
    /// The page's path and query (to come back to after switching language).
    pub path: String,
}

/// Why a page could not be shown to the browser as it is.
pub enum Bounce {
    /// No session, or one that ended: to the sign-in page, and back here afterwards.
    SignIn { next: String, expired: bool },
    /// The session may only enrol a second factor.
    Enrol,
    Error(WebError),
}

impl IntoResponse for Bounce {
    fn into_response(self) -> Response {
        match self {
            Bounce::SignIn { next, expired } => {
                let mut to = format!("/login?{}", next_query(&next));
                if expired {
                    to.push_str("&expired=1");
                }
                let mut resp = Redirect::to(&to).into_response();
                if expired {
                    crate::api::auth::clear_session_cookies(&mut resp);
                }
                resp
            }
            Bounce::Enrol => Redirect::to("/me/mfa/setup").into_response(),
            Bounce::Error(e) => e.into_response(),
        }
    }
}

fn path_of(parts: &Parts) -> String {
    parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into())
}

/// The session of a request, any scope (enrolment-only included).
pub async fn session_of(parts: &Parts, state: &AppState) -> Result<WebUser, Bounce> {
    let path = path_of(parts);
    let back = if parts.method == axum::http::Method::GET { path.clone() } else { "/".to_string() };
    let Some(token) = cookie(parts, SESSION_COOKIE) else {
        return Err(Bounce::SignIn { next: back, expired: false });
    };
    match principal_for(parts, state, &token).await {
        Ok((principal, user)) => Ok(WebUser { principal, user, csrf: csrf_token(&token), lang: Lang::of(&parts.headers), path }),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Err(Bounce::SignIn { next: back, expired: true }),
        Err(e) => Err(Bounce::Error(e.into())),
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = Bounce;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let u = session_of(parts, state).await?;
        if is_enrolment_only(&u.user) {
            return Err(Bounce::Enrol);
        }
        Ok(u)
    }
}

/// The fields of a submitted form, in order.
#[derive(Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first value of `name`, trimmed, empty as `None`.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
    }
    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Refuses a form that a browser says comes from another site (`Origin` differs from `Host`).
fn same_origin(parts: &Parts) -> Result<(), WebError> {
    let Some(origin) = parts.headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = parts.headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) { Ok(()) } else { Err(WebError::csrf()) }
}

/// Reads an `application/x-www-form-urlencoded` body (at most [`crate::api::BODY_LIMIT`] bytes and
/// 2,000 fields).
pub async fn read_form(req: Request) -> Result<(Parts, Form), WebError> {
    let (parts, body) = req.into_parts();
    same_origin(&parts)?;
    let kind = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !kind.starts_with("application/x-www-form-urlencoded") {
        return Err(WebError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "forms are sent as application/x-www-form-urlencoded"));
    }
    let bytes = axum::body::to_bytes(body, crate::api::BODY_LIMIT).await.map_err(|_| WebError::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is larger than 1 MiB"))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| WebError::new(StatusCode::BAD_REQUEST, "the form is malformed"))?;
    if fields.len() > 2000 {
        return Err(WebError::new(StatusCode::BAD_REQUEST, "the form has too many fields"));
    }
    Ok((parts, Form(fields)))
}

/// A form from a signed-in person, with the session's CSRF token checked.
pub struct SignedForm(pub WebUser, pub Form);

impl FromRequest<AppState> for SignedForm {
    type Rejection = Bounce;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, form) = read_form(req).await.map_err(Bounce::Error)?;
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        check_csrf(&parts, &form)?;
        Ok(SignedForm(user, form))
    }
}

/// A form from any session, enrolment-only included (setting up the second factor, signing out).
pub struct SessionForm(pub WebUser, pub Form);

impl FromRequest<AppState> for SessionForm {
    type Rejection = Bounce;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, form) = read_form(req).await.map_err(Bounce::Error)?;
        let user = session_of(&parts, state).await?;
        check_csrf(&parts, &form)?;
        Ok(SessionForm(user, form))
    }
}

fn check_csrf(parts: &Parts, form: &Form) -> Result<(), Bounce> {
    let token = cookie(parts, SESSION_COOKIE).unwrap_or_default();
    if csrf_matches(form.get("_csrf").unwrap_or(""), &token) { Ok(()) } else { Err(Bounce::Error(WebError::csrf())) }
}

/// The CSRF token of the sign-in form: derived from the pre-session cookie's secret.
pub fn pre_session_csrf(secret: &str) -> String {
    csrf_token(&format!("presession|{secret}"))
}

/// A new pre-session secret.
pub fn new_pre_session_secret() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

/// The sign-in form, with its CSRF token checked against the pre-session cookie.
pub struct PreSessionForm(pub Parts, pub Form);

impl FromRequest<AppState> for PreSessionForm {
    type Rejection = Bounce;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, form) = read_form(req).await.map_err(Bounce::Error)?;
        let secret = cookie(&parts, PRE_SESSION_COOKIE).unwrap_or_default();
        if secret.len() < 32 || !csrf_matches(form.get("_csrf").unwrap_or(""), &format!("presession|{secret}")) {
            return Err(Bounce::Error(WebError::csrf()));
        }
        Ok(PreSessionForm(parts, form))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_come_back_after_sign_in() {
        assert_eq!(local_path("/records/contact?after=x"), "/records/contact?after=x");
        for bad in ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", "records", "/a\nb"] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn the_pre_session_token_is_its_own() {
        let s = new_pre_session_secret();
        assert_ne!(pre_session_csrf(&s), csrf_token(&s), "not the token a session of the same value would have");
        assert!(csrf_matches(&pre_session_csrf(&s), &format!("presession|{s}")));
    }
}
