//! The audit explorer: entries by subject, actor, action, outcome, object, record and time, newest
//! first, a page at a time; chain verification; export of the selection as CSV. People without the
//! audit permission see their own activity here (the same entries `/api/v1/me/activity` answers).

use super::page::{Chrome, Section, WebError, render};
use super::session::{SignedForm, WebUser};
use crate::access::{Effective, SystemPermission};
use crate::api::AppState;
use crate::audit::{AuditFilter, AuditPage, Entry, Event, Outcome, VerifyReport};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Entries on one page of the explorer.
const PAGE: i64 = 100;
/// Entries in one CSV export.
const EXPORT_MAX: i64 = 1000;

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    subject: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    object: String,
    #[serde(default)]
    record: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` input), UTC.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(|s| s.chars().take(200).collect())
}

/// A time from a `datetime-local` input (taken as UTC) or RFC 3339, in microseconds.
fn time(s: &str, name: &str) -> Result<Option<i64>, WebError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(Some(d.timestamp_micros()));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Ok(Some(d.and_utc().timestamp_micros()));
        }
    }
    Err(WebError::new(StatusCode::BAD_REQUEST, format!("`{name}` must be a date and time like 2026-01-31T09:00")))
}

impl AuditQuery {
    fn filter(&self, limit: i64) -> Result<AuditFilter, WebError> {
        Ok(AuditFilter {
            subject: None,
            actor_kind: None,
            actor: opt(&self.actor),
            action: opt(&self.action),
            outcome: opt(&self.outcome),
            object: opt(&self.object),
            record_id: opt(&self.record),
            from: time(&self.from, "from")?,
            to: time(&self.to, "to")?,
            before_seq: self.before,
            limit,
        })
    }

    /// The query string of this selection (for paging and export links).
    fn query_string(&self, before: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = [("subject", &self.subject), ("actor", &self.actor), ("action", &self.action), ("outcome", &self.outcome), ("object", &self.object), ("record", &self.record), ("from", &self.from), ("to", &self.to)]
            .into_iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k, v.clone()))
            .collect();
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// Everything, for auditors; one's own entries for everyone else.
async fn fetch(state: &AppState, u: &WebUser, q: &AuditQuery, limit: i64) -> Result<(AuditPage, bool), WebError> {
    let all = Effective::of(&u.principal).has(SystemPermission::Audit);
    let filter = q.filter(limit)?;
    let page = if all {
        state.gate.audit_log(&u.principal, filter, opt(&q.subject).as_deref()).await?
    } else {
        state.gate.my_activity(&u.principal, filter).await?
    };
    Ok((page, all))
}

/// An entry as a row.
struct Line {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    object: String,
    record: Option<(String, String)>,
    fields: String,
    purpose: String,
    outcome: String,
    detail: String,
}

fn line(e: &Entry) -> Line {
    let object = e.object.clone().unwrap_or_default();
    Line {
        seq: e.seq,
        at: crate::store::micros_to_rfc3339(e.at),
        actor: if e.actor_kind == "user" { e.actor.clone() } else { format!("{} ({})", e.actor, e.actor_kind) },
        action: e.action.clone(),
        record: e.record_id.clone().filter(|_| !object.is_empty() && !object.contains('*')).map(|r| (format!("/records/{object}/{r}"), r.chars().take(8).collect())),
        object,
        fields: e.fields.join(", "),
        purpose: e.purpose.clone().unwrap_or_default(),
        outcome: e.outcome.clone(),
        detail: e.detail.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditExplorer {
    c: Chrome,
    all: bool,
    q: AuditQuery,
    lines: Vec<Line>,
    next: Option<String>,
    export: String,
    report: Option<VerifyReport>,
}

async fn explorer_page(state: &AppState, u: &WebUser, q: AuditQuery, report: Option<VerifyReport>) -> Result<Response, WebError> {
    let (page, all) = fetch(state, u, &q, PAGE).await?;
    let title = if all { u.lang.t("audit_title") } else { u.lang.t("activity_title") };
    let next = page.next_before.map(|b| format!("/audit?{}", q.query_string(Some(b))));
    let export = format!("/audit/export?{}", q.query_string(None));
    Ok(render(&AuditExplorer { c: Chrome::signed_in(u, title, Section::Audit), all, lines: page.entries.iter().map(line).collect(), next, export, q, report }))
}

/// The explorer.
pub async fn explorer(State(state): State<AppState>, u: WebUser, Query(q): Query<AuditQuery>) -> Result<Response, WebError> {
    explorer_page(&state, &u, q, None).await
}

/// Verifies the whole chain and shows the answer above the explorer.
pub async fn verify(State(state): State<AppState>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    let report = state.gate.verify_audit(&u.principal).await?;
    explorer_page(&state, &u, AuditQuery::default(), Some(report)).await
}

/// The selection as CSV (at most 1,000 entries, newest first). The export itself is audited.
pub async fn export(State(state): State<AppState>, u: WebUser, Query(q): Query<AuditQuery>) -> Result<Response, WebError> {
    let (page, _) = fetch(&state, &u, &q, EXPORT_MAX).await?;
    let mut out = String::from("seq,at,actor_kind,actor,action,object,record_id,fields,purpose,outcome,request_id,subject,detail\n");
    for e in &page.entries {
        let cells = [
            e.seq.to_string(),
            crate::store::micros_to_rfc3339(e.at),
            e.actor_kind.clone(),
            e.actor.clone(),
            e.action.clone(),
            e.object.clone().unwrap_or_default(),
            e.record_id.clone().unwrap_or_default(),
            e.fields.join(" "),
            e.purpose.clone().unwrap_or_default(),
            e.outcome.clone(),
            e.request_id.clone().unwrap_or_default(),
            e.subject.clone().unwrap_or_default(),
            e.detail.clone().unwrap_or_default(),
        ];
        out.push_str(&cells.into_iter().map(|c| crate::api::exports::csv_cell(&serde_json::Value::String(c))).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    let ev = Event::new(&u.principal.actor, "audit.export", Outcome::Allowed).request(u.principal.request_id.as_deref()).detail(format!("{} entries as CSV", page.entries.len()));
    state.gate.audit_event(ev).await?;
    let mut resp = out.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"capcrm-audit.csv\""));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_come_from_datetime_inputs_or_rfc3339() {
        assert_eq!(time("2026-01-31T09:00", "from").unwrap(), Some(1_769_850_000_000_000));
        assert_eq!(time("2026-01-31T09:00:00Z", "from").unwrap(), Some(1_769_850_000_000_000));
        assert!(time("yesterday", "from").is_err());
        assert_eq!(time(" ", "from").unwrap(), None);
    }
}
