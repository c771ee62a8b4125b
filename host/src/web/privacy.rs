//! The privacy officer's pages: the data-subject request queue (regime, deadline, days left), one
//! request with its steps from verification to closing, the access bundle's download, erasure with
//! its exceptions and receipt, holds and extensions; and the consent records of a subject.
//!
//! Requests live in the `dsr` plugin. These pages call its routes as the signed-in person, through
//! the same runtime as `/plugins/dsr/...`: the host checks each route's permission against the
//! person before the plugin runs, and the plugin sees only what its grant allows.

use super::page::{Chrome, Section, WebError, render};
use super::session::{SignedForm, WebUser};
use crate::access::Principal;
use crate::api::AppState;
use crate::plugin::PluginResponse;
use super::plugin_call::json_of;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin that keeps data-subject requests.
pub const DSR: &str = "dsr";

/// Calls a route of the `dsr` plugin (see [`super::plugin_call::call`]).
pub async fn call(state: &AppState, acting: Option<&Principal>, method: &str, path: &str, query: &str, body: Option<&Value>, client: Option<String>) -> Result<PluginResponse, WebError> {
    super::plugin_call::call(state, DSR, acting, method, path, query, body, client).await
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A request in the queue.
struct QueueRow {
    id: String,
    regime: String,
    kind: String,
    status: String,
    received: String,
    respond_by: String,
    days_left: String,
    overdue: bool,
    extended: bool,
}

fn queue_row(v: &Value) -> QueueRow {
    QueueRow {
        id: s(&v["id"]),
        regime: s(&v["regime"]).to_uppercase(),
        kind: s(&v["kind"]),
        status: s(&v["status"]),
        received: s(&v["received"]),
        respond_by: s(&v["respond_by"]),
        days_left: s(&v["days_left"]),
        overdue: v["overdue"].as_bool().unwrap_or(false),
        extended: v["extended"].as_bool().unwrap_or(false),
    }
}

#[derive(Template)]
#[template(path = "dsr_queue.html")]
struct QueuePage {
    c: Chrome,
    rows: Vec<QueueRow>,
}

/// The queue, most urgent first.
pub async fn queue(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    let r = call(&state, Some(&u.principal), "GET", "/requests", "", None, None).await?;
    let v = json_of(&r)?;
    let rows = v["requests"].as_array().into_iter().flatten().map(queue_row).collect();
    Ok(render(&QueuePage { c: Chrome::signed_in(&u, u.lang.t("dsr_title"), Section::Privacy), rows }))
}

/// The steps of a request, in order (rejection aside).
const STEPS: [&str; 6] = ["received", "verifying", "verified", "in_progress", "completed", "closed"];

/// Where a request may go next from `status` (the plugin decides; the page offers these).
fn next_steps(status: &str) -> &'static [&'static str] {
    match status {
        "received" => &["verifying", "rejected"],
        "verifying" => &["rejected"],
        "verified" => &["in_progress", "rejected"],
        "in_progress" => &["completed", "rejected"],
        "completed" | "rejected" => &["closed"],
        _ => &[],
    }
}

/// A status in the page's language.
fn step_label(lang: super::i18n::Lang, status: &str) -> &'static str {
    match status {
        "received" => lang.t("step_received"),
        "verifying" => lang.t("step_verifying"),
        "verified" => lang.t("step_verified"),
        "in_progress" => lang.t("step_in_progress"),
        "completed" => lang.t("step_completed"),
        "closed" => lang.t("step_closed"),
        _ => lang.t("step_rejected"),
    }
}

#[derive(Template)]
#[template(path = "dsr_request.html")]
struct RequestPage {
    c: Chrome,
    r: QueueRow,
    acknowledge_by: String,
    requester: Vec<(&'static str, String)>,
    /// Each step: its label, whether it is behind, whether it is the current one.
    steps: Vec<(&'static str, bool, bool)>,
    /// Where the request may go next: status and label.
    next: Vec<(&'static str, &'static str)>,
    history: Vec<(String, String, String)>,
    exceptions: Vec<String>,
    receipt: Vec<(String, String)>,
    bundle: Option<Vec<(String, String)>>,
    bundle_ready: bool,
    holds: Vec<(String, String)>,
    error: Option<String>,
}

async fn request_page(state: &AppState, u: &WebUser, id: &str, error: Option<String>, done: Option<&str>) -> Result<Response, WebError> {
    let r = call(state, Some(&u.principal), "GET", "/requests/one", &serde_urlencoded::to_string([("id", id)]).unwrap_or_default(), None, None).await?;
    let v = json_of(&r)?;
    let row = queue_row(&v);
    let current = STEPS.iter().position(|st| *st == row.status);
    let steps = STEPS.iter().enumerate().map(|(i, st)| (step_label(u.lang, st), current.is_some_and(|c| i < c), current == Some(i))).collect();
    let when = |m: &Value| m.as_i64().map(crate::store::micros_to_rfc3339).unwrap_or_else(|| s(m));
    let history = v["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let what = match h["released_hold"].as_str() {
                Some(hold) => format!("{} {hold}", u.lang.t("release")),
                None => s(&h["status"]),
            };
            (when(&h["at"]), what, s(&h["note"]))
        })
        .collect();
    // Each blocked step names the holds (or the reason) that stopped it.
    let exceptions = v["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["blocked_by"].as_array().cloned().unwrap_or_default().into_iter().map(move |b| format!("{} ({}): {}", s(&e["step"]), when(&e["at"]), s(&b["reason"]))))
        .collect();
    let receipt = v["receipt"].as_object().map(|o| o.iter().map(|(k, x)| (k.clone(), if k == "erased_at" { when(x) } else { s(x) })).collect()).unwrap_or_default();
    let bundle_ready = v["bundle"].is_object() && v["bundle"]["removed"] != json!(true);
    let bundle = v["bundle"].as_object().map(|o| {
        ["generated_at", "bytes", "records", "plugin_values", "sha256"].iter().filter_map(|k| o.get(*k).map(|x| (k.to_string(), if *k == "generated_at" { when(x) } else { s(x) }))).collect()
    });
    // Holds placed through this request and not released since.
    let released: Vec<String> = v["history"].as_array().into_iter().flatten().filter_map(|h| h["released_hold"].as_str().map(str::to_string)).collect();
    let holds = v["holds_placed"].as_array().into_iter().flatten().filter(|h| !released.iter().any(|r| h["hold"].as_str() == Some(r.as_str()))).map(|h| (s(&h["hold"]), s(&h["reason"]))).collect();
    let requester = [(u.lang.t("email"), "email"), (u.lang.t("name"), "name"), (u.lang.t("details"), "details")].into_iter().map(|(label, k)| (label, s(&v["requester"][k]))).filter(|(_, x)| !x.is_empty()).collect();
    let page = RequestPage {
        c: Chrome::signed_in(u, row.id.clone(), Section::Privacy).with_notice(done),
        acknowledge_by: s(&v["acknowledge_by"]),
        next: next_steps(&row.status).iter().map(|st| (*st, step_label(u.lang, st))).collect(),
        r: row,
        requester,
        steps,
        history,
        exceptions,
        receipt,
        bundle,
        bundle_ready,
        holds,
        error,
    };
    Ok(render(&page))
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// One request.
pub async fn request(State(state): State<AppState>, u: WebUser, Path(id): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    request_page(&state, &u, &id, None, q.done.as_deref()).await
}

/// A step on a request: the form's fields as the plugin route's JSON body.
pub async fn act(State(state): State<AppState>, Path((id, action)): Path<(String, String)>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let keys: &[&str] = match action.as_str() {
        "transition" => &["to", "note"],
        "extend" | "hold" | "erase" => &["reason"],
        "release" => &["hold"],
        "export" | "apply" => &[],
        _ => return Err(WebError::not_found()),
    };
    let mut body = json!({ "id": id });
    for k in keys {
        body[*k] = json!(form.get(k).unwrap_or("").trim());
    }
    let r = call(&state, Some(&u.principal), "POST", &format!("/requests/{action}"), "", Some(&body), None).await?;
    match json_of(&r) {
        Ok(_) => Ok(Redirect::to(&format!("/privacy/requests/{}?done=saved", urlencode(&id))).into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN && e.status != StatusCode::NOT_FOUND => {
            let status = e.status;
            let page = request_page(&state, &u, &id, Some(e.message), None).await?;
            Ok((status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap_or_default().trim_start_matches('=').to_string()
}

/// The access bundle of a request, as a download.
pub async fn bundle(State(state): State<AppState>, u: WebUser, Path(id): Path<String>) -> Result<Response, WebError> {
    let r = call(&state, Some(&u.principal), "GET", "/requests/bundle", &serde_urlencoded::to_string([("id", id.as_str())]).unwrap_or_default(), None, None).await?;
    if r.status != 200 {
        return Err(json_of(&r).err().unwrap_or_else(WebError::not_found));
    }
    let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let mut resp = r.body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&format!("attachment; filename=\"{name}.zip\"")).expect("ascii"));
    Ok(resp)
}

/// The plugin that keeps consent decisions and their history.
pub const CONSENT: &str = "consent";

/// One person's consent as the page shows it.
struct ConsentPerson {
    subject: String,
    contacts: Vec<String>,
    /// Purpose, granted, since, the deciding record.
    current: Vec<(String, bool, String, String)>,
    /// Purpose, granted, source, policy version, recorded at, withdrawn at.
    history: Vec<(String, bool, String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "consents.html")]
struct ConsentsPage {
    c: Chrome,
    email: String,
    people: Option<Vec<ConsentPerson>>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ConsentQuery {
    email: Option<String>,
    done: Option<String>,
}

async fn consents_page(state: &AppState, u: &WebUser, email: &str, error: Option<String>, done: Option<&str>) -> Result<Response, WebError> {
    let people = if email.is_empty() {
        None
    } else {
        let q = serde_urlencoded::to_string([("email", email)]).unwrap_or_default();
        let r = super::plugin_call::call(state, CONSENT, Some(&u.principal), "GET", "/consents", &q, None, None).await?;
        let v = json_of(&r)?;
        Some(
            v["people"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| ConsentPerson {
                    subject: s(&p["subject"]),
                    contacts: p["contacts"].as_array().into_iter().flatten().map(s).collect(),
                    current: p["current"].as_object().into_iter().flatten().map(|(purpose, d)| (purpose.clone(), d["granted"].as_bool().unwrap_or(false), s(&d["since"]), s(&d["record"]))).collect(),
                    history: p["history"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|h| (s(&h["purpose"]), h["granted"].as_bool().unwrap_or(false), s(&h["source"]), s(&h["policy_version"]), s(&h["recorded_at"]), s(&h["withdrawn_at"])))
                        .collect(),
                })
                .collect(),
        )
    };
    let c = Chrome::signed_in(u, u.lang.t("consent_title"), Section::Privacy).with_notice(done);
    Ok(render(&ConsentsPage { c, email: email.to_string(), people, error }))
}

/// The consent records of the people with an email address, and the decision in force per purpose.
pub async fn consents(State(state): State<AppState>, u: WebUser, Query(q): Query<ConsentQuery>) -> Result<Response, WebError> {
    let email = q.email.unwrap_or_default().trim().to_string();
    match consents_page(&state, &u, &email, None, q.done.as_deref()).await {
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let page = consents_page(&state, &u, "", Some(e.message), None).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        other => other,
    }
}

/// Records a decision given on paper or by phone.
pub async fn record_consent(State(state): State<AppState>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let email = form.get("email").unwrap_or("").trim().to_string();
    let body = json!({
        "email": email,
        "purpose": form.get("purpose").unwrap_or("").trim(),
        "granted": form.get("granted") == Some("true"),
        "source": form.get("source").unwrap_or("").trim(),
        "policy_version": form.get("policy_version").unwrap_or("").trim(),
    });
    let r = super::plugin_call::call(&state, CONSENT, Some(&u.principal), "POST", "/consents", "", Some(&body), None).await?;
    match json_of(&r) {
        Ok(_) => Ok(Redirect::to(&format!("/privacy/consents?{}", serde_urlencoded::to_string([("email", email.as_str()), ("done", "saved")]).unwrap_or_default())).into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            Ok((status, consents_page(&state, &u, &email, Some(e.message), None).await?).into_response())
        }
        Err(e) => Err(e),
    }
}
