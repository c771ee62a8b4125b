//! Retention policies as a capcrm plugin: personal data kept no longer than needed.
//!
//! A policy names an object (`lead` or `contact`), a period without change (`untouched_days`),
//! for contacts optionally a period without activity (`no_activity_days`), optionally the stages it
//! applies to, and an action: `erase` destroys the person's key (the erasure of a data-subject
//! request: personal and sensitive fields become unreadable everywhere, backups included, internal
//! ones stay) and `delete` erases and then deletes the record. A hold on the person (litigation, a
//! duty to keep) blocks both; the run reports it as an exception.
//!
//! Routes (each `needs subject_erase`, checked by the host against the person calling):
//!
//! - `GET /policies`; `POST /policies` (one policy, JSON; replaces the one with the same id);
//!   `POST /policies/remove` `{"id"}`.
//! - `POST /runs` `{"dry_run": bool, "policy"?: id}`: runs now. A dry run lists what would go and
//!   changes nothing; a real run acts, notes the run in the audit trail and keeps its report.
//! - `GET /runs`: the latest run reports, newest first.
//!
//! The scheduled job `sweep` runs every enabled policy hourly. One run handles at most
//! [`BATCH`] records a policy (the host bounds each invocation); the rest goes on the next run,
//! and the report says so. Reports hold record ids and counts, never who anyone is.

pub mod policy;

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Collection, Error, Filter, FilterOp, Plugin, Request, Response, Result, audit_note, capcrm_plugin, now, storage, subjects};
use policy::{Action, Policy, cutoff};

/// Records one run may act on per policy.
pub const BATCH: usize = 200;
/// Run reports kept.
const KEEP_RUNS: usize = 100;

struct Retention;

fn bad(status: u16, m: impl Into<String>) -> Result<Response> {
    Ok(Response::json(status, &json!({"error": m.into()})))
}

fn policies() -> Result<Vec<Policy>> {
    let mut out = Vec::new();
    for k in storage::all_keys("policy/", 1000)? {
        if let Some(p) = storage::get_json::<Policy>(&k)? {
            out.push(p);
        }
    }
    Ok(out)
}

fn put_policy(request: &Request) -> Result<Response> {
    let p: Policy = match request.json() {
        Ok(p) => p,
        Err(e) => return bad(400, format!("send one policy as JSON: {}", e.message())),
    };
    if let Err(m) = p.check() {
        return bad(400, m);
    }
    storage::put_json(&format!("policy/{}", p.id), &p, None)?;
    audit_note("retention.policy", &format!("{}: {:?} {} untouched {} days", p.id, p.action, p.object, p.untouched_days))?;
    Ok(Response::json(200, &p))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdOnly {
    id: String,
}

fn remove_policy(request: &Request) -> Result<Response> {
    let r: IdOnly = match request.json() {
        Ok(r) => r,
        Err(e) => return bad(400, format!("send {{\"id\"}}: {}", e.message())),
    };
    if storage::get(&format!("policy/{}", r.id))?.is_none() {
        return bad(404, "no such policy");
    }
    storage::delete(&format!("policy/{}", r.id))?;
    audit_note("retention.policy_removed", &r.id)?;
    Ok(Response::json(200, &json!({"removed": r.id})))
}

/// A record a policy selected, and what became of it.
struct Outcome {
    id: String,
    result: &'static str,
    note: Option<String>,
}

/// Whether the contact had an activity dated after `since`.
fn active_since(activities: &Collection, contact: &str, since: &str) -> Result<bool> {
    let page = activities.list(&[Filter::eq("contact", contact), Filter::new("occurred_at", FilterOp::Gt, since)], None, 1)?;
    Ok(!page.records.is_empty())
}

/// Applies one policy: selects up to [`BATCH`] records and, unless `dry_run`, acts on them.
fn apply(p: &Policy, dry_run: bool, now_us: u64) -> Result<Value> {
    let records = Collection::open(&p.object)?;
    let activities = if p.no_activity_days.is_some() { Some(Collection::open("activity")?) } else { None };
    let untouched_before = cutoff(now_us, p.untouched_days);
    let active_after = p.no_activity_days.map(|d| cutoff(now_us, d));
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut after: Option<String> = None;
    let mut more = false;
    'pages: loop {
        let page = records.list(&[Filter::new("updated_at", FilterOp::Lt, &untouched_before)], after.as_deref(), 100)?;
        for r in &page.records {
            if !p.stage_matches(r.text(p.stage_field()).as_deref()) {
                continue;
            }
            if let (Some(acts), Some(since)) = (&activities, &active_after) {
                if active_since(acts, &r.id, since)? {
                    continue;
                }
            }
            if outcomes.len() == BATCH {
                more = true;
                break 'pages;
            }
            outcomes.push(act(p, &records, r, dry_run)?);
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let count = |what: &str| outcomes.iter().filter(|o| o.result == what).count();
    let (erased, deleted, blocked, would) = (count("erased"), count("deleted"), count("blocked"), count("would_go"));
    if !dry_run {
        audit_note(
            "retention.run",
            &format!("policy {}: {erased} erased, {deleted} deleted, {blocked} blocked by a hold{}", p.id, if more { "; more next run" } else { "" }),
        )?;
    }
    Ok(json!({
        "policy": p.id,
        "object": p.object,
        "action": p.action,
        "untouched_before": untouched_before,
        "no_activity_since": active_after,
        "selected": outcomes.len(),
        "would_go": would,
        "erased": erased,
        "deleted": deleted,
        "blocked": blocked,
        "more": more,
        "records": outcomes.iter().map(|o| json!({"id": o.id, "result": o.result, "note": o.note})).collect::<Vec<_>>(),
    }))
}

fn act(p: &Policy, records: &Collection, r: &capcrm_plugin_sdk::Record, dry_run: bool) -> Result<Outcome> {
    let out = |result, note: Option<String>| Ok(Outcome { id: r.id.clone(), result, note });
    if dry_run {
        return out("would_go", None);
    }
    if let Some(subject) = &r.subject {
        match subjects::erase(subject, &format!("retention policy {}", p.id)) {
            Ok(_) => {}
            Err(e) if e.is_access_denied() => return out("denied", Some(e.message().to_string())),
            Err(Error::Conflict(m)) if m.contains("hold") => return out("blocked", Some(m)),
            // Erased before (another record of the same person, or a request): nothing is left to erase.
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    match p.action {
        Action::Erase => out("erased", None),
        Action::Delete => match records.delete(&r.id) {
            Ok(()) => out("deleted", None),
            // The person running the policy may erase people but not delete these records: the
            // personal data is gone all the same, the empty record stays.
            Err(e) if e.is_access_denied() => out("erased", Some("the record stays: the caller may not delete it".into())),
            Err(e) => Err(e),
        },
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    policy: Option<String>,
}

/// Runs the chosen policies (every one, or one by id); keeps the report of a real run.
fn run(dry_run: bool, only: Option<&str>, trigger: &str) -> Result<std::result::Result<Value, String>> {
    let all = policies()?;
    let chosen: Vec<&Policy> = all.iter().filter(|p| only.is_none_or(|id| p.id == id)).filter(|p| dry_run || only.is_some() || p.enabled).collect();
    if let Some(id) = only {
        if chosen.is_empty() {
            return Ok(Err(format!("no policy `{id}`")));
        }
        if !dry_run && !chosen[0].enabled {
            return Ok(Err(format!("policy `{id}` is disabled: run it dry, or enable it")));
        }
    }
    let now_us = now();
    let mut results = Vec::new();
    for p in chosen {
        results.push(apply(p, dry_run, now_us)?);
    }
    let results_empty = results.is_empty();
    let report = json!({"at": now_us, "dry_run": dry_run, "trigger": trigger, "policies": results});
    // A sweep with no policy to run keeps no report: it would bury the ones that did something.
    if !dry_run && !results_empty {
        storage::put_json(&format!("run/{now_us:020}"), &report, None)?;
        let mut runs = storage::all_keys("run/", 10_000)?;
        runs.sort();
        while runs.len() > KEEP_RUNS {
            storage::delete(&runs.remove(0))?;
        }
    }
    Ok(Ok(report))
}

fn run_route(request: &Request) -> Result<Response> {
    let r: RunRequest = if request.body.is_empty() {
        RunRequest { dry_run: false, policy: None }
    } else {
        match request.json() {
            Ok(r) => r,
            Err(e) => return bad(400, format!("send {{\"dry_run\", \"policy\"?}}: {}", e.message())),
        }
    };
    match run(r.dry_run, r.policy.as_deref(), "on demand")? {
        Ok(report) => Ok(Response::json(200, &report)),
        Err(m) => bad(404, m),
    }
}

fn runs() -> Result<Response> {
    let mut keys = storage::all_keys("run/", 10_000)?;
    keys.sort();
    keys.reverse();
    let mut out = Vec::new();
    for k in keys.iter().take(50) {
        if let Some(v) = storage::get_json::<Value>(k)? {
            out.push(v);
        }
    }
    Ok(Response::json(200, &json!({"runs": out})))
}

impl Plugin for Retention {
    fn on_http(request: Request) -> Result<Response> {
        if request.is("GET", "/policies") {
            return Ok(Response::json(200, &json!({"policies": policies()?})));
        }
        if request.is("POST", "/policies") {
            return put_policy(&request);
        }
        if request.is("POST", "/policies/remove") {
            return remove_policy(&request);
        }
        if request.is("POST", "/runs") {
            return run_route(&request);
        }
        if request.is("GET", "/runs") {
            return runs();
        }
        Ok(Response::not_found())
    }

    fn run_job(name: &str) -> Result<()> {
        match name {
            "sweep" => run(false, None, "schedule").map(|_| ()),
            _ => Err(Error::InvalidInput("no such job".into())),
        }
    }
}

capcrm_plugin!(Retention);
