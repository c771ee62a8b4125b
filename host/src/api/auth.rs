//! Authentication as a type a handler asks for ([`Caller`]), sign-in and sign-out, the second
//! factor, and API tokens.

use super::AppState;
use super::error::{ApiJson, AppError};
use crate::access::Principal;
use crate::audit::{Actor, Event, Outcome};
use crate::auth::mfa::Enrolment;
use crate::auth::{AuthError, AuthUser, IssuedToken, TokenInfo, TokenScope};
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The authenticated caller of a request, as the access layer sees them.
pub struct Caller(pub Principal);

/// The caller with the token they came with (for endpoints about the token or the account).
pub struct Session(pub Principal, pub AuthUser);

pub(crate) fn request_id(parts: &Parts) -> Option<String> {
    parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(64).collect())
}

/// The client's address: the peer, or, when the peer is a configured trusted proxy, the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy. Without trusted
/// proxies the header is ignored, so a client cannot pick its own address.
pub(crate) fn client_ip(parts: &Parts, state: &AppState) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?;
    let trusted = |ip: &IpAddr| state.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    for hop in forwarded.split(',').rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The session cookie of the web UI (HttpOnly) and its CSRF companion (readable by the page).
pub const SESSION_COOKIE: &str = "capcrm_session";
pub const CSRF_COOKIE: &str = "capcrm_csrf";

/// The CSRF token of a session: derived from the session token (a keyed hash would add nothing,
/// since the session token itself is the secret), so nothing more is stored.
pub fn csrf_token(session_token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(format!("capcrm-csrf|{session_token}").as_bytes())[..20])
}

pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts.headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Whether `sent` is the CSRF token of the session `session_token` (compared in constant time).
pub(crate) fn csrf_matches(sent: &str, session_token: &str) -> bool {
    let expected = csrf_token(session_token);
    sent.len() == expected.len() && sent.bytes().zip(expected.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

/// The bearer token of a request: the `Authorization` header, or the UI's session cookie. A
/// cookie is sent by the browser on its own, so a request that changes something must also
/// carry the session's CSRF token in `X-CSRF-Token`.
fn bearer(parts: &Parts) -> Result<String, AppError> {
    if let Some(h) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let h = h.to_str().map_err(|_| AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the Authorization header must be `Bearer <token>`"))?;
        return h
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
            .ok_or_else(|| AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the Authorization header must be `Bearer <token>`"));
    }
    let Some(token) = cookie(parts, SESSION_COOKIE) else {
        return Err(AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", "send `Authorization: Bearer <token>` (POST /api/v1/auth/token issues one)"));
    };
    let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !csrf_matches(sent, &token) {
            return Err(AppError::new(StatusCode::FORBIDDEN, "csrf_failed", "a request that changes something needs the session's CSRF token in X-CSRF-Token"));
        }
    }
    Ok(token)
}

async fn resolve(parts: &mut Parts, state: &AppState) -> Result<(Principal, AuthUser), AppError> {
    let token = bearer(parts)?;
    principal_for(parts, state, token.trim()).await
}

/// The principal a token stands for on this request: the person's permissions, the address rules
/// checked (and a refusal audited), the request id and declared purpose attached.
pub(crate) async fn principal_for(parts: &Parts, state: &AppState, token: &str) -> Result<(Principal, AuthUser), AppError> {
    let user = state.auth.authenticate(token).await?;
    let perms = Arc::new(state.gate.permissions_of(&user.id).await?);
    // Address rules hold on every request, not only at sign-in.
    let ip = client_ip(parts, state);
    if !perms.ip_allowed(ip) {
        let ev = Event::new(&Actor::user(&user.username), "access.ip", Outcome::Denied)
            .request(request_id(parts).as_deref())
            .detail(format!("request from {} outside the allowed ranges", ip.map(|i| i.to_string()).unwrap_or_else(|| "an unknown address".into())));
        state.gate.audit_event(ev).await?;
        return Err(AppError::new(StatusCode::FORBIDDEN, "ip_not_allowed", "requests from this address are not allowed for this account"));
    }
    let purpose = parts
        .headers
        .get("x-capcrm-purpose")
        .and_then(|v| v.to_str().ok())
        .filter(|s| s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_ .".contains(c)))
        .map(str::to_string);
    let principal = Principal {
        actor: Actor::user(&user.username),
        user_id: Some(user.id.clone()),
        perms,
        scopes: user.scopes.clone().map(Arc::new),
        mfa_fresh: user.mfa_fresh(),
        request_id: request_id(parts),
        purpose,
        plugin: None,
    };
    Ok((principal, user))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (p, user) = resolve(parts, state).await?;
        if is_enrolment_only(&user) {
            return Err(AppError::new(StatusCode::FORBIDDEN, "mfa_enrolment_required", "enrol a second factor first (POST /api/v1/me/mfa/enrol)"));
        }
        Ok(Caller(p))
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (p, user) = resolve(parts, state).await?;
        Ok(Session(p, user))
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
    /// The current TOTP code, for accounts with a second factor.
    pub totp: Option<String>,
    /// A one-time recovery code instead of a TOTP code.
    pub recovery_code: Option<String>,
}

/// The answer to a sign-in: a session token, or, for a person whose role requires a second
/// factor they have not set up, a token good only for enrolling one.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    pub token: IssuedToken,
    /// True when the token only allows `POST /api/v1/me/mfa/enrol` and `/confirm`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrolment_required: bool,
}

/// Sign in: user name and password, plus a TOTP or recovery code where the account or its role
/// requires one. Failed attempts lock the account and the address out with backoff.
#[utoipa::path(post, path = "/api/v1/auth/token", request_body = TokenRequest,
    responses((status = 200, body = SignedIn), (status = 401, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)), tag = "auth")]
pub async fn token(State(state): State<AppState>, parts: Parts, ApiJson(req): ApiJson<TokenRequest>) -> Result<ApiJson<SignedIn>, AppError> {
    sign_in(&state, &parts, req).await.map(ApiJson)
}

/// The answer to a cookie sign-in: the CSRF token to send with every change.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CookieSession {
    pub csrf_token: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enrolment_required: bool,
}

/// Sign in for the web UI: like `/auth/token`, but the session travels in an HttpOnly,
/// SameSite=Strict cookie (Secure unless the host is the local machine). A session cookie the
/// browser already had is revoked and replaced, never adopted, so a planted one is useless.
#[utoipa::path(post, path = "/api/v1/auth/session", request_body = TokenRequest,
    responses((status = 200, body = CookieSession), (status = 401, body = super::error::ErrorBody)), tag = "auth")]
pub async fn session(State(state): State<AppState>, parts: Parts, ApiJson(req): ApiJson<TokenRequest>) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    if let Some(old) = cookie(&parts, SESSION_COOKIE) {
        if let Ok(u) = state.auth.authenticate(&old).await {
            state.auth.revoke_token(&u.token_id, Some(&u.id)).await?;
        }
    }
    let signed = sign_in(&state, &parts, req).await?;
    let csrf = csrf_token(&signed.token.token);
    let body = CookieSession { csrf_token: csrf, expires_in: signed.token.expires_in, mfa_enrolment_required: signed.mfa_enrolment_required };
    let mut resp = ApiJson(body).into_response();
    set_session_cookies(&parts, &mut resp, &signed.token);
    Ok(resp)
}

/// `; Secure` unless the browser talks to the local machine (where a trial may run without TLS).
pub(crate) fn secure_attribute(parts: &Parts) -> &'static str {
    let host = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let local = ["localhost", "127.0.0.1", "[::1]"].iter().any(|l| host == *l || host.starts_with(&format!("{l}:")));
    if local { "" } else { "; Secure" }
}

/// Puts a session in the browser: the token in an HttpOnly cookie, its CSRF token in one the page
/// may read, both SameSite=Strict and living as long as the session; the answer is not cached.
pub(crate) fn set_session_cookies(parts: &Parts, resp: &mut axum::response::Response, token: &IssuedToken) {
    let secure = secure_attribute(parts);
    let max_age = token.expires_in;
    let csrf = csrf_token(&token.token);
    let h = resp.headers_mut();
    for c in [
        format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}", token.token),
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"),
    ] {
        // Tokens and their CSRF companions are URL-safe base64 and hex: always valid header values.
        h.append(axum::http::header::SET_COOKIE, axum::http::HeaderValue::from_str(&c).expect("cookie of token characters"));
    }
    h.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
}

/// Cookies that end the browser's session (and its CSRF companion).
pub(crate) fn clear_session_cookies(resp: &mut axum::response::Response) {
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        resp.headers_mut().append(axum::http::header::SET_COOKIE, axum::http::HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; SameSite=Strict")).expect("valid"));
    }
}

pub(crate) async fn sign_in(state: &AppState, parts: &Parts, req: TokenRequest) -> Result<SignedIn, AppError> {
    if req.username.len() > 200 || req.password.len() > 1024 || req.totp.as_ref().is_some_and(|t| t.len() > 20) || req.recovery_code.as_ref().is_some_and(|t| t.len() > 40) {
        return Err(AppError::bad_request("user name, password or code too long"));
    }
    let rid = request_id(parts);
    let ip = client_ip(parts, state);
    let actor = Actor::user(&req.username);
    let audit = |outcome: Outcome, detail: String| Event::new(&actor, "login", outcome).request(rid.as_deref()).detail(detail);
    let from = ip.map(|i| format!(" from {i}")).unwrap_or_default();
    let candidate = match state.auth.check_password(&req.username, &req.password, ip).await {
        Ok(c) => c,
        Err(e) => {
            let why = match &e {
                AuthError::Throttled { .. } => "locked out after repeated failures",
                _ => "bad credentials",
            };
            state.gate.audit_event(audit(Outcome::Denied, format!("{why}{from}"))).await?;
            return Err(e.into());
        }
    };
    let perms = state.gate.permissions_of(&candidate.id).await?;
    if !perms.ip_allowed(ip) {
        state.gate.audit_event(audit(Outcome::Denied, format!("address not allowed{from}"))).await?;
        return Err(AuthError::IpNotAllowed.into());
    }
    let needs_mfa = candidate.totp_enabled || perms.require_mfa();
    let mut mfa_passed = false;
    if needs_mfa {
        if !candidate.totp_enabled {
            // The role requires a second factor and there is none yet: a token for enrolling only.
            let t = state.auth.issue_enrolment(&candidate).await?;
            state.gate.audit_event(audit(Outcome::Allowed, format!("enrolment token issued (second factor required){from}"))).await?;
            return Ok(SignedIn { token: t, mfa_enrolment_required: true });
        }
        match state.auth.mfa_check(&candidate.id, req.totp.as_deref(), req.recovery_code.as_deref()).await {
            Ok(true) => mfa_passed = true,
            Ok(false) => {
                state.auth.count_failure(&candidate.username, ip).await?;
                state.gate.audit_event(audit(Outcome::Denied, format!("wrong second factor{from}"))).await?;
                return Err(AuthError::BadMfaCode.into());
            }
            Err(AuthError::MfaRequired) => {
                state.gate.audit_event(audit(Outcome::Denied, format!("second factor missing{from}"))).await?;
                return Err(AuthError::MfaRequired.into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let t = state.auth.issue_session(&candidate, mfa_passed, ip).await?;
    let how = if mfa_passed { "session issued with a second factor" } else { "session issued" };
    state.gate.audit_event(audit(Outcome::Allowed, format!("{how}{from}"))).await?;
    Ok(SignedIn { token: t, mfa_enrolment_required: false })
}

/// Sign out: the token used for this request stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204)), tag = "auth")]
pub async fn logout(State(state): State<AppState>, Session(p, user): Session) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    state.auth.revoke_token(&user.token_id, Some(&user.id)).await?;
    state.gate.audit_event(Event::new(&p.actor, "logout", Outcome::Allowed).request(p.request_id.as_deref())).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(&mut resp);
    Ok(resp)
}

/// Start enrolling a TOTP second factor: the secret and its QR code (shown once).
#[utoipa::path(post, path = "/api/v1/me/mfa/enrol", responses((status = 200, body = Enrolment)), tag = "auth")]
pub async fn mfa_enrol(State(state): State<AppState>, Session(p, user): Session) -> Result<ApiJson<Enrolment>, AppError> {
    Ok(ApiJson(enrol_begin(&state, &p, &user).await?))
}

/// Starts (or restarts) a TOTP enrolment for the signed-in person, audited.
pub(crate) async fn enrol_begin(state: &AppState, p: &Principal, user: &AuthUser) -> Result<Enrolment, AppError> {
    let e = state.auth.mfa_begin(&user.id, &user.username).await?;
    state.gate.audit_event(Event::new(&p.actor, "mfa.enrol", Outcome::Allowed).request(p.request_id.as_deref()).detail("enrolment started")).await?;
    Ok(e)
}

/// Finishes an enrolment with a first code, audited either way; an enrolment-only token is
/// revoked, so the person signs in again with the new factor. Answers the recovery codes.
pub(crate) async fn enrol_confirm(state: &AppState, p: &Principal, user: &AuthUser, code: &str) -> Result<Vec<String>, AppError> {
    match state.auth.mfa_confirm(&user.id, code).await {
        Ok(codes) => {
            state.gate.audit_event(Event::new(&p.actor, "mfa.enrol", Outcome::Allowed).request(p.request_id.as_deref()).detail("second factor enabled")).await?;
            if is_enrolment_only(user) {
                state.auth.revoke_token(&user.token_id, Some(&user.id)).await?;
            }
            Ok(codes)
        }
        Err(e) => {
            state.gate.audit_event(Event::new(&p.actor, "mfa.enrol", Outcome::Denied).request(p.request_id.as_deref()).detail("wrong code")).await?;
            Err(e.into())
        }
    }
}

/// Whether the token is good for enrolling a second factor only.
pub(crate) fn is_enrolment_only(user: &AuthUser) -> bool {
    user.scopes.as_ref().is_some_and(|s| s.contains(&TokenScope::MfaEnrol))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The current six-digit TOTP code.
    pub code: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// One-time codes for when the authenticator is lost; shown once, stored only as hashes.
    pub recovery_codes: Vec<String>,
}

/// Finish enrolment with a first code; answers the recovery codes. Sign in again afterwards.
#[utoipa::path(post, path = "/api/v1/me/mfa/confirm", request_body = CodeRequest, responses((status = 200, body = RecoveryCodes)), tag = "auth")]
pub async fn mfa_confirm(State(state): State<AppState>, Session(p, user): Session, ApiJson(req): ApiJson<CodeRequest>) -> Result<ApiJson<RecoveryCodes>, AppError> {
    Ok(ApiJson(RecoveryCodes { recovery_codes: enrol_confirm(&state, &p, &user, &req.code).await? }))
}

/// A fresh TOTP check for this session (some roles require one shortly before a reveal).
#[utoipa::path(post, path = "/api/v1/me/mfa/verify", request_body = CodeRequest, responses((status = 204)), tag = "auth")]
pub async fn mfa_verify(State(state): State<AppState>, Session(p, user): Session, ApiJson(req): ApiJson<CodeRequest>) -> Result<StatusCode, AppError> {
    let r = state.auth.mfa_step_up(&user.id, &user.token_id, &req.code).await;
    let outcome = if r.is_ok() { Outcome::Allowed } else { Outcome::Denied };
    state.gate.audit_event(Event::new(&p.actor, "mfa.verify", outcome).request(p.request_id.as_deref())).await?;
    r?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for, e.g. `nightly ERP sync`.
    pub name: String,
    /// Any of `records:read`, `records:write`, `records:export`, `audit:read`, `admin`.
    pub scopes: BTreeSet<TokenScope>,
    /// Days until it expires (at most 366).
    pub expires_in_days: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: String,
    #[serde(flatten)]
    pub token: IssuedToken,
}

/// Issue an API token for a machine, narrowed to scopes and never more than the person may do.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = NewToken, responses((status = 201, body = CreatedToken)), tag = "auth")]
pub async fn create_token(State(state): State<AppState>, Session(p, user): Session, ApiJson(req): ApiJson<NewToken>) -> Result<(StatusCode, ApiJson<CreatedToken>), AppError> {
    if user.kind != crate::auth::TokenKind::Session || user.scopes.is_some() {
        return Err(AppError::new(StatusCode::FORBIDDEN, "forbidden", "API tokens are issued to signed-in people, not to other tokens"));
    }
    let (id, token) = state.auth.create_api_token(&user.id, &req.name, &req.scopes, req.expires_in_days).await?;
    let scopes: Vec<String> = req.scopes.iter().map(|s| serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()).collect();
    let ev = Event::new(&p.actor, "token.create", Outcome::Allowed).request(p.request_id.as_deref()).detail(format!("token {id} `{}` scopes {}", req.name.chars().take(100).collect::<String>(), scopes.join(",")));
    state.gate.audit_event(ev).await?;
    Ok((StatusCode::CREATED, ApiJson(CreatedToken { id, token })))
}

/// The caller's tokens and sessions (administrators: `?all=true` for everyone's).
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = Vec<TokenInfo>)), tag = "auth")]
pub async fn tokens(State(state): State<AppState>, Caller(p): Caller, axum::extract::RawQuery(q): axum::extract::RawQuery) -> Result<ApiJson<Vec<TokenInfo>>, AppError> {
    let all = q.as_deref() == Some("all=true");
    if all && !crate::access::Effective::of(&p).has(crate::access::SystemPermission::Users) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "forbidden", "permission denied: managing users"));
    }
    Ok(ApiJson(state.auth.tokens(if all { None } else { p.user_id.as_deref() }).await?))
}

/// Revoke a token or session: one's own, or anyone's for administrators.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", params(("id" = String, Path)), responses((status = 204)), tag = "auth")]
pub async fn revoke_token(State(state): State<AppState>, Caller(p): Caller, Path(id): Path<String>) -> Result<StatusCode, AppError> {
    let admin = crate::access::Effective::of(&p).has(crate::access::SystemPermission::Users);
    let owner = if admin { None } else { p.user_id.as_deref() };
    if !state.auth.revoke_token(&id, owner).await? {
        return Err(AppError::not_found("no such active token of yours"));
    }
    state.gate.audit_event(Event::new(&p.actor, "token.revoke", Outcome::Allowed).request(p.request_id.as_deref()).detail(format!("token {}", id.chars().take(64).collect::<String>()))).await?;
    Ok(StatusCode::NO_CONTENT)
}
