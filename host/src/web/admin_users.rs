//! Users and teams: the list, a new user with roles and teams (errors at the field), one user's
//! roles, teams and address ranges, disabling (with the records handed to someone else) and
//! enabling, resetting the second factor; the teams and a new team.

use crate::access::AccessError;
use crate::access::people::{NewUser, TeamInfo, UserChange, UserInfo, UserQuery};
use crate::api::AppState;
use crate::web::page::{Chrome, Section, WebError, render};
use crate::web::session::{SignedForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// A role one may give, for the checkboxes.
struct RoleChoice {
    name: String,
    description: String,
    checked: bool,
}

async fn role_choices(state: &AppState, u: &WebUser, chosen: &[String]) -> Result<Vec<RoleChoice>, WebError> {
    Ok(state.gate.roles(&u.principal).await?.into_iter().map(|r| RoleChoice { checked: chosen.contains(&r.name), name: r.name, description: r.description }).collect())
}

async fn team_choices(state: &AppState, u: &WebUser, chosen: &[String]) -> Result<Vec<(String, bool)>, WebError> {
    Ok(state.gate.teams(&u.principal).await?.into_iter().map(|t| (t.name.clone(), chosen.contains(&t.name))).collect())
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserInfo>,
    q: String,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    done: Option<String>,
    q: Option<String>,
    after: Option<String>,
}

const USERS_PER_PAGE: usize = 100;

/// A page of users (by name, optionally those whose name contains a term) with roles, teams,
/// state, second factor and last sign-in.
pub async fn list(State(state): State<AppState>, u: WebUser, Query(q): Query<UsersQuery>) -> Result<Response, WebError> {
    let term = q.q.unwrap_or_default();
    let page = state.gate.users_page(&u.principal, &UserQuery { after: q.after, search: Some(term.clone()), limit: USERS_PER_PAGE }).await?;
    let next = page.next.map(|after| {
        let mut pairs = vec![("after", after.as_str())];
        if !term.trim().is_empty() {
            pairs.push(("q", term.as_str()));
        }
        format!("/admin/users?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    });
    let c = Chrome::signed_in(&u, u.lang.t("adm_users"), Section::Admin).with_notice(q.done.as_deref());
    Ok(render(&UsersPage { c, users: page.users, q: term, next }))
}

#[derive(Template)]
#[template(path = "admin_user_new.html")]
struct NewUserPage {
    c: Chrome,
    username: String,
    roles: Vec<RoleChoice>,
    teams: Vec<(String, bool)>,
    errors: BTreeMap<&'static str, String>,
}

impl NewUserPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// The form for a new user.
pub async fn new_form(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    let roles = role_choices(&state, &u, &[]).await?;
    let teams = team_choices(&state, &u, &[]).await?;
    Ok(render(&NewUserPage { c: Chrome::signed_in(&u, u.lang.t("adm_new_user"), Section::Admin), username: String::new(), roles, teams, errors: BTreeMap::new() }))
}

/// Where on the user forms an error of the gate belongs.
fn user_error_field(e: &AccessError) -> Option<&'static str> {
    let m = match e {
        AccessError::BadRequest(m) | AccessError::Conflict(m) => m.as_str(),
        _ => return None,
    };
    if m.starts_with("password policy") {
        Some("password")
    } else if m.starts_with("a user name") || m.starts_with("a user named") {
        Some("username")
    } else if m.contains("role") {
        Some("roles")
    } else if m.starts_with("no team") {
        Some("teams")
    } else if m.starts_with("ip_allow") {
        Some("ip_allow")
    } else if m.contains("reassign") {
        Some("reassign_to")
    } else {
        None
    }
}

fn strings(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_string).collect()
}

/// Creates a user, or shows the form again with the errors at their fields (the password is
/// never sent back to the browser).
pub async fn create(State(state): State<AppState>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let username = form.text("username").unwrap_or_default();
    let password = form.get("password").unwrap_or("").to_string();
    let roles = strings(form.all("role"));
    let teams = strings(form.all("team"));
    let mut errors = BTreeMap::new();
    if username.is_empty() {
        errors.insert("username", u.lang.t("err_required").to_string());
    }
    if password.is_empty() {
        errors.insert("password", u.lang.t("err_required").to_string());
    } else if password.len() > 1024 {
        errors.insert("password", "the password is too long".to_string());
    }
    if roles.is_empty() {
        errors.insert("roles", u.lang.t("adm_err_no_role").to_string());
    }
    if errors.is_empty() {
        match state.gate.create_user(&u.principal, &state.auth, NewUser { username: username.clone(), password, roles: roles.clone(), teams: teams.clone() }).await {
            Ok(info) => return Ok(Redirect::to(&format!("/admin/users/{}?done=saved", info.id)).into_response()),
            Err(e) => match user_error_field(&e) {
                Some(field) => {
                    errors.insert(field, e.to_string());
                }
                None => return Err(e.into()),
            },
        }
    }
    let page = NewUserPage { c: Chrome::signed_in(&u, u.lang.t("adm_new_user"), Section::Admin), username, roles: role_choices(&state, &u, &roles).await?, teams: team_choices(&state, &u, &teams).await?, errors };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    c: Chrome,
    user: UserInfo,
    roles: Vec<RoleChoice>,
    teams: Vec<(String, bool)>,
    ip_allow: String,
    is_me: bool,
    errors: BTreeMap<&'static str, String>,
}

impl UserPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

/// The form's roles, teams and address ranges, when it comes back with errors.
struct Sent {
    roles: Vec<String>,
    teams: Vec<String>,
    ip_allow: String,
}

async fn user_page(state: &AppState, u: &WebUser, id: &str, sent: Option<Sent>, errors: BTreeMap<&'static str, String>, done: Option<&str>) -> Result<Response, WebError> {
    let user = state.gate.user(&u.principal, id).await?;
    let sent = sent.unwrap_or_else(|| Sent { roles: user.roles.clone(), teams: user.teams.clone(), ip_allow: user.ip_allow.join(", ") });
    let mut c = Chrome::signed_in(u, user.username.clone(), Section::Admin).with_notice(done);
    if done == Some("mfa_reset") {
        c.notice = Some(u.lang.t("adm_mfa_notice"));
    }
    let page = UserPage {
        c,
        roles: role_choices(state, u, &sent.roles).await?,
        teams: team_choices(state, u, &sent.teams).await?,
        ip_allow: sent.ip_allow,
        is_me: u.user.id == user.id,
        user,
        errors,
    };
    let status = if page.errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((status, render(&page)).into_response())
}

/// One user.
pub async fn show(State(state): State<AppState>, u: WebUser, Path(id): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    user_page(&state, &u, &id, None, BTreeMap::new(), q.done.as_deref()).await
}

/// Address ranges as typed: separated by commas, spaces or lines.
fn ranges(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\r', '\t']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Saves a user's roles, teams and address ranges.
pub async fn update(State(state): State<AppState>, Path(id): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let roles = strings(form.all("role"));
    let teams = strings(form.all("team"));
    let ip_text = form.get("ip_allow").unwrap_or("").to_string();
    let sent = Sent { roles: roles.clone(), teams: teams.clone(), ip_allow: ip_text.clone() };
    if roles.is_empty() {
        return user_page(&state, &u, &id, Some(sent), [("roles", u.lang.t("adm_err_no_role").to_string())].into(), None).await;
    }
    // The address ranges go along only when they changed, so the audit entry says what did.
    let current = state.gate.user(&u.principal, &id).await?;
    let ip_allow = Some(ranges(&ip_text)).filter(|r| *r != current.ip_allow);
    let change = UserChange { roles: Some(roles), teams: Some(teams), ip_allow, ..Default::default() };
    match state.gate.update_user(&u.principal, &state.auth, &id, change).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/users/{id}?done=saved")).into_response()),
        Err(e) => match user_error_field(&e) {
            Some(field) => user_page(&state, &u, &id, Some(sent), [(field, e.to_string())].into(), None).await,
            None => Err(e.into()),
        },
    }
}

/// Disable (optionally handing the records to another user), enable, or reset the second factor.
pub async fn act(State(state): State<AppState>, Path((id, action)): Path<(String, String)>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let (change, done) = match action.as_str() {
        "disable" => {
            // The heir is named as people know them; the access layer checks they are active.
            let reassign_to = match form.text("reassign_to") {
                None => None,
                Some(name) => match state.gate.user_named(&u.principal, name.trim()).await? {
                    Some(heir) => Some(heir.id),
                    None => return user_page(&state, &u, &id, None, [("disable", u.lang.t("adm_err_no_such_user").to_string())].into(), None).await,
                },
            };
            (UserChange { disabled: Some(true), reassign_to, ..Default::default() }, "saved")
        }
        "enable" => (UserChange { disabled: Some(false), ..Default::default() }, "saved"),
        "reset-mfa" => (UserChange { reset_mfa: Some(true), ..Default::default() }, "mfa_reset"),
        _ => return Err(WebError::not_found()),
    };
    match state.gate.update_user(&u.principal, &state.auth, &id, change).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/users/{id}?done={done}")).into_response()),
        Err(e @ (AccessError::BadRequest(_) | AccessError::Conflict(_))) => {
            // One's own page has no disable form: the reason goes above the state then.
            let field = if action == "disable" && id != u.user.id { "disable" } else { "state" };
            user_page(&state, &u, &id, None, [(field, e.to_string())].into(), None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
struct TeamsPage {
    c: Chrome,
    teams: Vec<TeamInfo>,
    name: String,
    error: Option<String>,
}

/// The teams and their members, and the form for a new team.
pub async fn teams(State(state): State<AppState>, u: WebUser, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    let teams = state.gate.teams(&u.principal).await?;
    Ok(render(&TeamsPage { c: Chrome::signed_in(&u, u.lang.t("adm_teams"), Section::Admin).with_notice(q.done.as_deref()), teams, name: String::new(), error: None }))
}

/// Creates a team, or shows the form again with the error at the name.
pub async fn create_team(State(state): State<AppState>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let name = form.get("name").unwrap_or("").to_string();
    let error = if name.trim().is_empty() {
        u.lang.t("err_required").to_string()
    } else {
        match state.gate.create_team(&u.principal, &name).await {
            Ok(_) => return Ok(Redirect::to("/admin/teams?done=saved").into_response()),
            Err(e @ (AccessError::BadRequest(_) | AccessError::Conflict(_))) => e.to_string(),
            Err(e) => return Err(e.into()),
        }
    };
    let teams = state.gate.teams(&u.principal).await?;
    let page = TeamsPage { c: Chrome::signed_in(&u, u.lang.t("adm_teams"), Section::Admin), teams, name, error: Some(error) };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}
