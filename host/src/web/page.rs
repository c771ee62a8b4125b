//! What every page shares: the frame around it ([`Chrome`]: title, navigation, who is signed in,
//! the sign-out form, notices, the language switch) and errors shown as pages.

use super::i18n::Lang;
use super::session::WebUser;
use crate::access::{Action, Effective, SystemPermission};
use crate::api::error::AppError;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// One entry of the main navigation.
pub struct Nav {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame of a page.
pub struct Chrome {
    pub lang: Lang,
    pub title: String,
    pub csrf: String,
    pub username: Option<String>,
    pub nav: Vec<Nav>,
    /// The path of this page, for the language links to come back to.
    pub here: String,
    pub notice: Option<&'static str>,
}

/// The sections of the navigation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Records,
    Leads,
    Audit,
    Security,
    Admin,
    Privacy,
}

impl Chrome {
    /// The frame for a signed-in person: the navigation shows what their roles allow.
    pub fn signed_in(u: &WebUser, title: impl Into<String>, section: Section) -> Chrome {
        let l = u.lang;
        let perms = Effective::of(&u.principal);
        let mut nav = vec![
            Nav { href: "/", label: l.t("nav_home"), current: section == Section::Home },
            Nav { href: "/records", label: l.t("nav_records"), current: section == Section::Records },
        ];
        if super::leads::lead_object().is_some_and(|o| perms.may(o, Action::Read)) {
            nav.push(Nav { href: "/leads", label: l.t("nav_leads"), current: section == Section::Leads });
        }
        let audit_label = if perms.has(SystemPermission::Audit) { l.t("nav_audit") } else { l.t("nav_activity") };
        nav.push(Nav { href: "/audit", label: audit_label, current: section == Section::Audit });
        if perms.has(SystemPermission::SubjectExport) {
            nav.push(Nav { href: "/privacy/requests", label: l.t("nav_privacy"), current: section == Section::Privacy });
        }
        if super::admin::SECTIONS.iter().any(|(p, ..)| perms.has(*p)) {
            nav.push(Nav { href: "/admin", label: l.t("nav_admin"), current: section == Section::Admin });
        }
        nav.push(Nav { href: "/me/security", label: l.t("nav_security"), current: section == Section::Security });
        Chrome { lang: u.lang, title: title.into(), csrf: u.csrf.clone(), username: Some(u.user.username.clone()), nav, here: u.path.clone(), notice: None }
    }

    /// The frame for a page without a session (sign-in, errors).
    pub fn signed_out(lang: Lang, title: impl Into<String>, csrf: String, here: &str) -> Chrome {
        Chrome { lang, title: title.into(), csrf, username: None, nav: Vec::new(), here: here.to_string(), notice: None }
    }

    /// With the notice a redirect asked for (`?done=saved`).
    pub fn with_notice(mut self, done: Option<&str>) -> Chrome {
        self.notice = match done {
            Some("saved") => Some(self.lang.t("notice_saved")),
            Some("signed_out") => Some(self.lang.t("notice_signed_out")),
            Some("expired") => Some(self.lang.t("notice_expired")),
            Some("mfa_on") => Some(self.lang.t("notice_mfa_on")),
            _ => None,
        };
        self
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The `lang` attribute of the page.
    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    /// The link that switches to `code` and comes back to this page.
    pub fn lang_link(&self, code: &str) -> String {
        format!("/lang/{code}?{}", super::session::next_query(&self.here))
    }

    pub fn is_lang(&self, code: &str) -> bool {
        self.lang.code() == code
    }
}

/// Renders a page; a template that fails to render is an internal error.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => WebError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

/// An error to show as a page. It is rendered by the page middleware, which knows the language.
#[derive(Debug)]
pub struct WebError {
    pub status: StatusCode,
    pub message: String,
}

/// Carried from [`WebError::into_response`] to the middleware that renders it.
#[derive(Clone)]
pub struct PendingError(pub String);

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError { status, message: message.into() }
    }
    pub fn not_found() -> WebError {
        WebError::new(StatusCode::NOT_FOUND, "")
    }
    pub fn csrf() -> WebError {
        WebError::new(StatusCode::FORBIDDEN, "csrf")
    }
}

impl From<AppError> for WebError {
    fn from(e: AppError) -> Self {
        if e.status.is_server_error() {
            tracing::error!(code = e.code, error = %e.message, "page failed");
            return WebError::new(e.status, "");
        }
        WebError::new(e.status, e.message)
    }
}

impl From<crate::access::AccessError> for WebError {
    fn from(e: crate::access::AccessError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(PendingError(self.message));
        resp
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    c: Chrome,
    sentence: &'static str,
    detail: String,
}

/// The error page: a sentence in the page's language, and the detail the server gave (which
/// never holds a field value: error messages name fields, not contents).
pub fn render_error(lang: Lang, status: StatusCode, message: &str) -> Response {
    let key = match status {
        StatusCode::FORBIDDEN if message == "csrf" => "err_csrf",
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => "err_forbidden",
        StatusCode::NOT_FOUND => "err_not_found",
        s if s.is_server_error() => "err_internal",
        _ => "err_bad_request",
    };
    let detail = if message == "csrf" { String::new() } else { message.to_string() };
    let page = ErrorPage { c: Chrome::signed_out(lang, lang.t("error_title"), String::new(), "/"), sentence: lang.t(key), detail };
    let html = page.render().unwrap_or_else(|_| "error".into());
    (status, Html(html)).into_response()
}
