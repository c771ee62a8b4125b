//! Leads as a capcrm plugin: capture, de-duplication, scoring, assignment, stages, conversion.
//!
//! Capture:
//!
//! - `POST /capture` (public): a company's web form, JSON or a form post with `first_name`,
//!   `last_name` (required), `email` and/or `phone`, `company`, `title`, `country`, `message`.
//!   Always answers `202 {"status": "received"}`, whatever became of it, so the form tells
//!   nobody whether a person is in the CRM. A filled-in `website` (a honeypot people do not see)
//!   gets the same answer and nothing is kept. Rate-limited per client and overall
//!   ([`ratelimit`]): `429` with `retry_after_seconds`.
//! - `POST /leads` (needs `subject_find`): the same for an integration acting as a user, with
//!   any `source`; answers what happened (`created`, `merged`, `duplicate_of_contact`), the
//!   lead's id, score and owner. De-duplication compares the person with everyone in the CRM,
//!   which is what the `subject_find` permission is for.
//!
//! Every submission is de-duplicated by blind index ([`dedupe`]), put on the lead's timeline as
//! an activity, scored ([`scoring`]) and a new lead is assigned ([`assign`]).
//!
//! Working leads (signed-in users; the plugin can do no more than they can):
//!
//! - `GET /leads/one?id=`: stage, score and its parts, owner, territory, history, touches.
//! - `POST /leads/stage {"id", "to", "note"?}`: moves along the pipeline ([`stages`]).
//! - `POST /leads/assign {"id", "owner"?}`: to an owner, or by the rules again.
//! - `POST /leads/rescore {"id"}`; scores also follow new activities on a lead (an event).
//! - `POST /leads/convert {"id", "account_name"?, "deal_name"?, "amount"?, "currency"?}`:
//!   contact, account and deal in one step ([`convert`]).
//! - `GET /reports`: leads by source, stage and owner, and the conversion rate ([`report`]).
//!
//! Administrators (`plugins` permission): `GET /config` and `PUT /config` ([`config`]).
//!
//! Storage: `config`; `lead/<id>` ([`state`], tagged with the lead's person); `owner/<owner>/<id>`
//! for reports; `assign/turn`; `rl/...` counters, pruned hourly by the `prune` job.

pub mod assign;
pub mod capture;
pub mod config;
pub mod convert;
pub mod dedupe;
pub mod fields;
pub mod intake;
pub mod lookup;
pub mod pipeline;
pub mod ratelimit;
pub mod report;
pub mod scoring;
pub mod stages;
pub mod state;

use capcrm_plugin_sdk::serde_json::{self, json};
use capcrm_plugin_sdk::{Collection, Error, Event, Plugin, Request, Response, Result, audit_note, capcrm_plugin, now, storage};
use config::Config;
use fields::lead;
use intake::{Channel, MAX_BODY, check, parse};
use std::collections::BTreeMap;

/// A route's answer.
pub type Answer = Result<Response>;

/// A refusal with a JSON `{"error"}` body.
pub fn bad(status: u16, m: impl Into<String>) -> Answer {
    Ok(Response::json(status, &json!({ "error": m.into() })))
}

fn content_type(r: &Request) -> String {
    r.header("content-type").unwrap_or("application/json").to_ascii_lowercase()
}

/// The body as JSON of `T` (unknown fields refused), or the answer that says what to send.
pub fn json_body<T: serde::de::DeserializeOwned>(r: &Request, shape: &str) -> std::result::Result<T, Answer> {
    if r.body.len() > MAX_BODY {
        return Err(bad(413, format!("the body is larger than {MAX_BODY} bytes")));
    }
    serde_json::from_slice(&r.body).map_err(|e| bad(400, format!("send {shape}: {}", capcrm_plugin_sdk::describe_body_error("the body", &e))))
}

/// The settings in force.
pub fn settings() -> Result<Config> {
    Ok(storage::get_json(config::KEY)?.unwrap_or_default())
}

fn received() -> Response {
    Response::json(202, &json!({ "status": "received" }))
}

fn take_in(r: &Request, channel: Channel) -> Answer {
    if r.body.len() > MAX_BODY {
        return bad(413, format!("the body is larger than {MAX_BODY} bytes"));
    }
    let submitted = match parse(&content_type(r), &r.body) {
        Ok(i) => i,
        Err(m) => return bad(400, m),
    };
    let cfg = settings()?;
    if channel == Channel::Form {
        if !submitted.website.trim().is_empty() {
            // A bot: it learns nothing from the answer, and nothing is kept.
            return Ok(received());
        }
        if let Some(wait) = ratelimit::admit(r.client(), cfg.rate_limit, now())? {
            return Ok(Response::json(429, &json!({ "error": "too many submissions; try again later", "retry_after_seconds": wait })));
        }
    } else if !submitted.website.is_empty() {
        return bad(400, "`website` is the web form's honeypot; leave it out");
    }
    let checked = match check(&submitted, channel) {
        Ok(l) => l,
        Err(m) => return bad(400, m),
    };
    let captured = capture::capture(&checked, channel, &cfg)?;
    match channel {
        Channel::Form => Ok(received()),
        Channel::Api => Ok(Response::json(if captured.outcome == "merged" { 200 } else { 201 }, &captured)),
    }
}

fn get_config() -> Answer {
    Ok(Response::json(200, &settings()?))
}

fn put_config(r: &Request) -> Answer {
    let new: Config = match json_body(r, "the settings: {\"scoring\", \"assignment\", \"rate_limit\"}") {
        Ok(c) => c,
        Err(e) => return e,
    };
    if let Err(m) = new.validate() {
        return bad(400, m);
    }
    let old = settings()?;
    let mut changed = Vec::new();
    if old.scoring != new.scoring {
        changed.push("scoring");
    }
    if old.assignment != new.assignment {
        changed.push("assignment");
    }
    if old.rate_limit != new.rate_limit {
        changed.push("rate_limit");
    }
    storage::put_json(config::KEY, &new, None)?;
    if !changed.is_empty() {
        audit_note("leads.config", &format!("settings changed: {}", changed.join(", ")))?;
    }
    Ok(Response::json(200, &new))
}

/// The most leads a report reads.
const MAX_REPORTED: usize = 10_000;

/// Counts the leads the acting person may see; owners come from the plugin's own filing.
fn reports() -> Answer {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for k in storage::all_keys("owner/", 4 * MAX_REPORTED)? {
        if let Some((owner, id)) = k.strip_prefix("owner/").and_then(|r| r.split_once('/')) {
            owners.insert(id.to_string(), owner.to_string());
        }
    }
    let leads = Collection::open(lead::OBJECT)?;
    let mut rows = Vec::new();
    let mut after: Option<String> = None;
    while rows.len() < MAX_REPORTED {
        let page = leads.list(&[], after.as_deref(), capcrm_plugin_sdk::MAX_PAGE)?;
        for r in &page.records {
            rows.push(report::Row {
                source: r.text(lead::SOURCE).unwrap_or_else(|| "unknown".into()),
                stage: r.text(lead::STAGE).unwrap_or_else(|| "new".into()),
                owner: owners.get(&r.id).cloned().unwrap_or_else(|| "unassigned".into()),
            });
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok(Response::json(200, &report::report(&rows)))
}

struct Leads;

impl Plugin for Leads {
    fn on_http(r: Request) -> Result<Response> {
        let (m, p) = (r.method.to_ascii_uppercase(), r.path.as_str());
        match (m.as_str(), p) {
            ("POST", "/capture") => take_in(&r, Channel::Form),
            ("POST", "/leads") => take_in(&r, Channel::Api),
            ("GET", "/leads/one") => pipeline::one(&r),
            ("POST", "/leads/stage") => pipeline::move_stage(&r),
            ("POST", "/leads/assign") => pipeline::reassign(&r, &settings()?),
            ("POST", "/leads/rescore") => pipeline::rescore(&r, &settings()?),
            ("POST", "/leads/convert") => convert::convert(&r),
            ("GET", "/reports") => reports(),
            ("GET", "/config") => get_config(),
            ("PUT", "/config") => put_config(&r),
            _ => Ok(Response::not_found()),
        }
    }

    fn on_event(e: Event) -> Result<()> {
        if e.is("record.created", fields::activity::OBJECT) {
            pipeline::on_activity(&e.record_id, &settings()?)?;
        }
        Ok(())
    }

    fn run_job(name: &str) -> Result<()> {
        match name {
            "prune" => ratelimit::prune(now()).map(|_| ()),
            _ => Err(Error::InvalidInput("no such job".into())),
        }
    }
}

capcrm_plugin!(Leads);
