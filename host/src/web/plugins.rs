//! Plugin administration: the installed plugins, and per plugin its pending approvals with each
//! requested capability and the stated purpose, a preview of what it would see on real records,
//! approval of all or part, the capability diff of an upgrade, revoke, disable and enable, and the
//! dead-lettered events with replay. Everything goes through the same registry calls as
//! `/api/v1/plugins`, which check the administrator's permission and audit the decision.

use super::page::{Chrome, Section, WebError, render};
use super::session::{Form, SignedForm, WebUser};
use crate::access::{Effective, SystemPermission};
use crate::api::AppState;
use crate::api::error::AppError;
use crate::plugin::PreviewRun;
use crate::plugin::harness::Step;
use crate::plugin::registry::{PluginInfo, VersionInfo};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

fn require(u: &WebUser) -> Result<(), WebError> {
    if Effective::of(&u.principal).has(SystemPermission::Plugins) {
        Ok(())
    } else {
        Err(WebError::new(StatusCode::FORBIDDEN, "permission denied: plugin administration"))
    }
}

#[derive(Template)]
#[template(path = "plugins.html")]
struct PluginsPage {
    c: Chrome,
    plugins: Vec<PluginInfo>,
}

/// The installed plugins.
pub async fn list(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    require(&u)?;
    let plugins = state.plugins.registry.list().await.map_err(AppError::from)?;
    Ok(render(&PluginsPage { c: Chrome::signed_in(&u, u.lang.t("plugins_title"), Section::Admin), plugins }))
}

/// A capability as a person reads it: what kind of access, to what.
pub struct Capability {
    pub code: String,
    pub kind: &'static str,
    pub target: String,
}

/// Describes a capability string of a manifest (`read:contact.phone`, `route:GET /x`, ...).
pub fn describe(code: &str, lang: super::i18n::Lang) -> Capability {
    let (kind, target) = code.split_once(':').unwrap_or((code, ""));
    let key = match kind {
        "read" => "cap_read",
        "masked" => "cap_masked",
        "write" => "cap_write",
        "create" => "cap_create",
        "delete" => "cap_delete",
        "assign" => "cap_assign",
        "consent" => "cap_consent",
        "event" => "cap_event",
        "route" => "cap_route",
        "schedule" => "cap_schedule",
        "notify" => "cap_notify",
        "verify" => "cap_verify",
        "subject" => "cap_subject",
        "storage" => "cap_storage",
        _ => "cap_other",
    };
    Capability { code: code.to_string(), kind: lang.t(key), target: target.to_string() }
}

/// A version as the page shows it.
struct VersionView {
    v: VersionInfo,
    requested: Vec<Capability>,
    adds: Vec<Capability>,
    drops: Vec<Capability>,
    /// The routes a preview can ask (`GET` routes of the manifest).
    get_routes: Vec<String>,
    /// Capabilities shown unticked (those left out of the preview just run).
    unticked: Vec<String>,
}

impl VersionView {
    fn ticked(&self, code: &str) -> bool {
        !self.unticked.iter().any(|c| c == code)
    }
}

#[derive(Template)]
#[template(path = "plugin.html")]
struct PluginPage {
    c: Chrome,
    info: PluginInfo,
    versions: Vec<VersionView>,
    dead: Vec<crate::plugin::dispatch::DeadLetter>,
    /// The last preview: its version, the capabilities left out, and the runs.
    preview: Option<(String, Vec<String>, Vec<PreviewRun>)>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn plugin_page(state: &AppState, u: &WebUser, name: &str, preview: Option<(String, Vec<String>, Vec<PreviewRun>)>, done: Option<&str>) -> Result<Response, WebError> {
    require(u)?;
    let info = state.plugins.registry.show(name).await.map_err(AppError::from)?;
    let dead = state.plugins.registry.dead_letters(name).await.map_err(AppError::from)?;
    let versions = info
        .versions
        .iter()
        .map(|v| VersionView {
            requested: v.requested.iter().map(|c| describe(c, u.lang)).collect(),
            adds: v.adds.iter().map(|c| describe(c, u.lang)).collect(),
            drops: v.drops.iter().map(|c| describe(c, u.lang)).collect(),
            get_routes: v.requested.iter().filter_map(|c| c.strip_prefix("route:GET ")).map(|r| r.split_whitespace().next().unwrap_or(r).to_string()).collect(),
            unticked: preview.as_ref().filter(|(pv, _, _)| *pv == v.version).map(|(_, deny, _)| deny.clone()).unwrap_or_default(),
            v: v.clone(),
        })
        .collect();
    let c = Chrome::signed_in(u, info.name.clone(), Section::Admin).with_notice(done);
    Ok(render(&PluginPage { c, info, versions, dead, preview }))
}

/// One plugin.
pub async fn show(State(state): State<AppState>, u: WebUser, Path(name): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    plugin_page(&state, &u, &name, None, q.done.as_deref()).await
}

/// The capabilities of `version` an administrator left unticked.
async fn denied(state: &AppState, name: &str, version: &str, form: &Form) -> Result<Vec<String>, WebError> {
    let info = state.plugins.registry.show(name).await.map_err(AppError::from)?;
    let v = info.versions.iter().find(|v| v.version == version).ok_or_else(WebError::not_found)?;
    let ticked = form.all("cap");
    Ok(v.requested.iter().filter(|c| !ticked.contains(&c.as_str())).cloned().collect())
}

/// Approves a version with the ticked capabilities (all or part), or previews it with them.
pub async fn decide(State(state): State<AppState>, Path(name): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    require(&u)?;
    let version = form.text("version").ok_or_else(|| WebError::new(StatusCode::BAD_REQUEST, "which version?"))?;
    let deny = denied(&state, &name, &version, &form).await?;
    match form.get("do") {
        Some("approve") => {
            state.plugins.registry.approve(&u.principal, &name, Some(&version), &deny).await.map_err(AppError::from)?;
            Ok(Redirect::to(&format!("/admin/plugins/{name}?done=saved")).into_response())
        }
        Some("preview") => {
            let mut steps = Vec::new();
            if let Some(r) = form.text("request") {
                let r = if r.starts_with('/') { format!("GET {r}") } else { r };
                steps.push(Step::Request(r.chars().take(500).collect()));
            }
            if let Some(e) = form.text("event") {
                steps.push(Step::Event(e.chars().take(200).collect()));
            }
            if steps.is_empty() {
                return Err(WebError::new(StatusCode::BAD_REQUEST, "name a request or an event to preview"));
            }
            let runs = state.plugins.preview(&u.principal, &name, Some(&version), &deny, &steps).await.map_err(AppError::from)?;
            plugin_page(&state, &u, &name, Some((version, deny, runs)), None).await
        }
        _ => Err(WebError::new(StatusCode::BAD_REQUEST, "approve or preview?")),
    }
}

/// Revoke, disable, enable, or replay the dead letters.
pub async fn act(State(state): State<AppState>, Path((name, action)): Path<(String, String)>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    require(&u)?;
    let r = &state.plugins.registry;
    match action.as_str() {
        "revoke" => r.revoke(&u.principal, &name).await.map(|_| ()),
        "disable" => r.disable(&u.principal, &name).await.map(|_| ()),
        "enable" => r.enable(&u.principal, &name).await.map(|_| ()),
        "replay" => r.replay(&u.principal, &name, None).await.map(|_| ()),
        _ => return Err(WebError::not_found()),
    }
    .map_err(AppError::from)?;
    Ok(Redirect::to(&format!("/admin/plugins/{name}?done=saved")).into_response())
}
