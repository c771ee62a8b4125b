//! Consent as a capcrm plugin: double opt-in, withdrawal, and each person's history per purpose.
//!
//! Public routes (a company's web form, or any API client), JSON or form posts:
//!
//! - `GET /purposes`: `{"purposes": [...]}`, what a form may offer.
//! - `POST /subscribe` `{"email", "purpose", "policy_version", "source"?}`: the host mails a
//!   one-time code to the address; answers `202 {"id", "status": "code_sent"}` whether or not the
//!   address belongs to anyone in the CRM. A filled-in `website` field (a honeypot people do not
//!   see) gets the same answer, and nothing is sent or kept.
//! - `POST /subscribe/confirm` `{"id", "code"}`: on the right code the person is found by the
//!   address (`subjects.find`) and a `consent` record is created for each contact carrying it:
//!   granted, with the purpose, source, policy version and the time. An address that matches no
//!   contact records nothing (a consent record belongs to a contact; strangers are not added):
//!   `404 {"recorded": false, ...}`.
//! - `POST /unsubscribe` `{"email", "purpose"}`, then `POST /unsubscribe/confirm` `{"id", "code"}`:
//!   the same, recording a refusal (`granted = false`), which from that moment is the person's
//!   decision for the purpose.
//!
//! Staff routes (each `needs` a permission the host checks against the person; the plugin then
//! acts for them, so their own record permissions apply too):
//!
//! - `GET /consents?email=` (subject_find): per person with that address, the history of their
//!   consent records and, per purpose, the decision in force (the host's rule: [`history`]).
//! - `POST /consents` `{"email", "purpose", "granted", "source", "policy_version"}` (subject_find,
//!   and creating consent records): a decision given on paper or by phone.
//! - `GET /config`, `POST /config` `{"purposes": [...]}` (plugins): the purpose list; by default
//!   marketing, newsletter, profiling. A purpose that is not on the list is answered 400, except
//!   that one taken off it can still be withdrawn or refused (it is kept as `retired`).
//!
//! Storage: `req/<id>` holds a pending request without personal data (kind, purpose, policy
//! version, source, the host's challenge id, when); `pd/<id>` holds the address, tagged with the
//! person when the address already matched someone, so that their export and erasure reach it.
//! Both go once the code is entered, or within two hours when it never is (the `sweep` job; codes
//! expire after 30 minutes). `config` holds the purpose list. Audit notes carry request and record
//! ids, purposes and counts, never an address.

pub mod history;
pub mod intake;

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Collection, Error, Fields, Filter, Plugin, Request, Response, Result, audit_note, capcrm_plugin, now, storage, subjects, verification};
use history::{Entry, summary};
use intake::{Config, Confirm, PurposeList, Recorded, Subscribe, Unsubscribe, check_recorded, check_subscribe, check_unsubscribe, form_or_json, is_request_id, request_id};

/// A pending request this old is removed: its code expired long ago.
const PENDING_MICROS: u64 = 2 * 60 * 60 * 1_000_000;
/// Contacts one address may record consent for (the same person entered more than once).
const MAX_CONTACTS: usize = 20;

struct Consent;

/// A route's handler.
type Handler = fn(&Request) -> Result<Response>;

fn bad(status: u16, m: impl Into<String>) -> Result<Response> {
    Ok(Response::json(status, &json!({ "error": m.into() })))
}

fn content_type(r: &Request) -> String {
    r.header("content-type").unwrap_or("application/json").to_ascii_lowercase()
}

fn body<T: serde::de::DeserializeOwned>(r: &Request) -> std::result::Result<T, Result<Response>> {
    form_or_json(&content_type(r), &r.body).map_err(|m| bad(400, m))
}

fn config() -> Result<Config> {
    Ok(storage::get_json::<Config>("config")?.unwrap_or_default())
}

/// What a subscription or withdrawal starts as.
struct Pending<'a> {
    kind: &'a str,
    email: &'a str,
    purpose: &'a str,
    policy_version: &'a str,
    source: &'a str,
}

/// Sends the code and keeps the request; a honeypot hit gets the same answer and nothing else.
fn start(p: Pending, honeypot: bool) -> Result<Response> {
    let at = now();
    if honeypot {
        // A bot: an id of the usual shape, no code, nothing kept.
        let id = request_id(p.kind, at, &format!("{at}"));
        return Ok(Response::json(202, &json!({"id": id, "status": "code_sent"})));
    }
    let email = p.email.trim();
    let challenge = match verification::send_code(email) {
        Ok(c) => c,
        Err(Error::QuotaExceeded(_)) => return bad(429, "too many codes were sent to this address; try again in an hour"),
        // The approval left out `verify:email`: without a code nothing can be proven.
        Err(Error::AccessDenied(_)) => return bad(503, "codes cannot be sent: this form is not enabled"),
        Err(e) => return Err(e),
    };
    let id = request_id(p.kind, at, &challenge);
    // Tagged with the person when the address already matches one, so their export and erasure
    // reach it while it waits.
    let found = subjects::find_by_email(email)?;
    let subject = (found.len() == 1).then(|| found[0].subject.clone());
    storage::put_json(&format!("pd/{id}"), &json!({"email": email}), subject.as_deref())?;
    storage::put_json(
        &format!("req/{id}"),
        &json!({"id": id, "kind": p.kind, "purpose": p.purpose, "policy_version": p.policy_version, "source": p.source, "challenge": challenge, "at": at}),
        None,
    )?;
    audit_note(&format!("consent.{}_requested", p.kind_word()), &format!("{id}: purpose {}, code sent", p.purpose))?;
    Ok(Response::json(202, &json!({"id": id, "status": "code_sent"})))
}

impl Pending<'_> {
    fn kind_word(&self) -> &'static str {
        kind_word(self.kind)
    }
}

fn kind_word(kind: &str) -> &'static str {
    if kind == "sub" { "subscribe" } else { "unsubscribe" }
}

fn subscribe(r: &Request) -> Result<Response> {
    let s: Subscribe = match body(r) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let honeypot = !s.website.is_empty();
    if let Err(m) = check_subscribe(&s, &config()?) {
        return bad(400, m);
    }
    let source = if s.source.trim().is_empty() { "web form" } else { s.source.trim() };
    start(Pending { kind: "sub", email: &s.email, purpose: &s.purpose, policy_version: s.policy_version.trim(), source }, honeypot)
}

fn unsubscribe(r: &Request) -> Result<Response> {
    let u: Unsubscribe = match body(r) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let honeypot = !u.website.is_empty();
    if let Err(m) = check_unsubscribe(&u, &config()?) {
        return bad(400, m);
    }
    start(Pending { kind: "uns", email: &u.email, purpose: &u.purpose, policy_version: "", source: "web form" }, honeypot)
}

/// The contact records carrying `email`, at most [`MAX_CONTACTS`]; their ids are handed to this
/// invocation by the find.
fn contacts_of(email: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for m in subjects::find_by_email(email.trim())? {
        for r in m.records.iter().filter(|r| r.object == "contact") {
            if out.len() < MAX_CONTACTS && !out.iter().any(|(_, id): &(String, String)| id == &r.id) {
                out.push((m.subject.clone(), r.id.clone()));
            }
        }
    }
    Ok(out)
}

/// Creates one consent record per contact; returns their ids.
fn record(contacts: &[(String, String)], purpose: &str, granted: bool, source: &str, policy_version: &str) -> Result<Vec<String>> {
    let coll = Collection::open("consent")?;
    let at = capcrm_plugin_sdk::time::rfc3339(now());
    let mut ids = Vec::new();
    for (_, contact) in contacts {
        let mut f = Fields::new().set("contact", contact).set("purpose", purpose).set("granted", granted).set("source", source).set("recorded_at", &at);
        if !policy_version.is_empty() {
            f = f.set("policy_version", policy_version);
        }
        ids.push(coll.create(f)?.id);
    }
    Ok(ids)
}

fn confirm(r: &Request, kind: &str) -> Result<Response> {
    let c: Confirm = match body(r) {
        Ok(c) => c,
        Err(e) => return e,
    };
    if !is_request_id(kind, &c.id) {
        return bad(404, "no such request");
    }
    let (req_key, pd_key) = (format!("req/{}", c.id), format!("pd/{}", c.id));
    let Some(req) = storage::get_json::<Value>(&req_key)? else { return bad(404, "no such request (it was confirmed, or it expired)") };
    let Some(challenge) = req["challenge"].as_str() else { return bad(409, "no code was sent for this request") };
    match verification::check_code(challenge, c.code.trim()) {
        Ok(true) => {}
        // An ordinary answer, so the host keeps the count of wrong codes.
        Ok(false) => return bad(400, "the code does not match"),
        Err(Error::Conflict(m)) => return bad(409, m),
        Err(e) => return Err(e),
    }
    let email = storage::get_json::<Value>(&pd_key)?.and_then(|v| v["email"].as_str().map(str::to_string));
    // The address is no longer needed, whatever comes next.
    storage::delete(&pd_key)?;
    storage::delete(&req_key)?;
    let purpose = req["purpose"].as_str().unwrap_or_default();
    let word = kind_word(kind);
    let contacts = match email {
        Some(e) => contacts_of(&e)?,
        // Erased while it waited: the address went with the person.
        None => Vec::new(),
    };
    if contacts.is_empty() {
        audit_note(&format!("consent.{word}_unmatched"), &format!("{}: code matched, no contact has the address; nothing recorded", c.id))?;
        return Ok(Response::json(
            404,
            &json!({"id": c.id, "recorded": false, "error": "the address is confirmed, but no contact in our records has it, so nothing was recorded"}),
        ));
    }
    let granted = kind == "sub";
    let ids = record(&contacts, purpose, granted, req["source"].as_str().unwrap_or("web form"), req["policy_version"].as_str().unwrap_or_default())?;
    audit_note(&format!("consent.{}", if granted { "granted" } else { "withdrawn" }), &format!("{}: purpose {purpose}, consent record(s) {}", c.id, ids.join(", ")))?;
    Ok(Response::json(200, &json!({"id": c.id, "recorded": true, "purpose": purpose, "granted": granted, "records": ids.len()})))
}

/// Every consent record of one contact, page by page.
fn consents_of(coll: &Collection, contact: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = coll.list(&[Filter::eq("contact", contact)], after.as_deref(), 200)?;
        out.extend(page.records.into_iter().map(|r| Entry { fields: r.to_json(), id: r.id }));
        match page.next {
            Some(n) if out.len() < 10_000 => after = Some(n),
            _ => return Ok(out),
        }
    }
}

fn read_consents(r: &Request) -> Result<Response> {
    let email = r.query_param("email").unwrap_or_default();
    if !intake::valid_email(&email) {
        return bad(400, "`email` must be an email address");
    }
    let contacts = contacts_of(&email)?;
    let coll = Collection::open("consent")?;
    let mut people: Vec<(String, Vec<String>, Vec<Entry>)> = Vec::new();
    for (subject, contact) in contacts {
        let entries = consents_of(&coll, &contact)?;
        match people.iter_mut().find(|p| p.0 == subject) {
            Some(p) => {
                p.1.push(contact);
                p.2.extend(entries);
            }
            None => people.push((subject, vec![contact], entries)),
        }
    }
    let records: usize = people.iter().map(|p| p.2.len()).sum();
    audit_note("consent.history_read", &format!("{} person(s), {records} consent record(s)", people.len()))?;
    let out: Vec<Value> = people
        .into_iter()
        .map(|(subject, contacts, entries)| {
            let mut v = summary(entries);
            v["subject"] = json!(subject);
            v["contacts"] = json!(contacts);
            v
        })
        .collect();
    Ok(Response::json(200, &json!({ "people": out })))
}

fn record_for(r: &Request) -> Result<Response> {
    let rec: Recorded = match body(r) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Err(m) = check_recorded(&rec, &config()?) {
        return bad(400, m);
    }
    let contacts = contacts_of(&rec.email)?;
    if contacts.is_empty() {
        return bad(404, "no contact has this address: create the contact first");
    }
    let ids = match record(&contacts, &rec.purpose, rec.granted, rec.source.trim(), rec.policy_version.trim()) {
        Ok(ids) => ids,
        Err(Error::AccessDenied(_)) => return bad(403, "you may not create consent records"),
        Err(e) => return Err(e),
    };
    audit_note(
        "consent.recorded",
        &format!("purpose {}, {}, consent record(s) {}", rec.purpose, if rec.granted { "granted" } else { "refused" }, ids.join(", ")),
    )?;
    Ok(Response::json(201, &json!({"recorded": true, "purpose": rec.purpose, "granted": rec.granted, "records": ids})))
}

fn set_config(r: &Request) -> Result<Response> {
    let list: PurposeList = match body(r) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(m) = Config::check(&list) {
        return bad(400, m);
    }
    let c = config()?.replaced_by(list);
    storage::put_json("config", &c, None)?;
    audit_note("consent.config", &format!("purposes: {}; retired: {}", c.purposes.join(", "), c.retired.join(", ")))?;
    Ok(Response::json(200, &c))
}

/// Removes requests whose code was never entered.
fn sweep() -> Result<()> {
    let cutoff = now().saturating_sub(PENDING_MICROS);
    let mut removed = 0;
    for key in storage::all_keys("req/", 10_000)? {
        let at = storage::get_json::<Value>(&key)?.and_then(|v| v["at"].as_u64()).unwrap_or(0);
        if at < cutoff {
            storage::delete(&key)?;
            storage::delete(&format!("pd/{}", &key["req/".len()..]))?;
            removed += 1;
        }
    }
    // An address whose request is gone (erasure takes `pd/` values only; this is the other way).
    for key in storage::all_keys("pd/", 10_000)? {
        if storage::get(&format!("req/{}", &key["pd/".len()..]))?.is_none() {
            storage::delete(&key)?;
            removed += 1;
        }
    }
    if removed > 0 {
        audit_note("consent.swept", &format!("{removed} unconfirmed request value(s) removed"))?;
    }
    Ok(())
}

impl Plugin for Consent {
    fn on_http(request: Request) -> Result<Response> {
        let routes: [(&str, &str, Handler); 9] = [
            ("GET", "/purposes", |_| Ok(Response::json(200, &json!({"purposes": config()?.purposes})))),
            ("POST", "/subscribe", subscribe),
            ("POST", "/subscribe/confirm", |r| confirm(r, "sub")),
            ("POST", "/unsubscribe", unsubscribe),
            ("POST", "/unsubscribe/confirm", |r| confirm(r, "uns")),
            ("GET", "/consents", read_consents),
            ("POST", "/consents", record_for),
            ("GET", "/config", |_| Ok(Response::json(200, &config()?))),
            ("POST", "/config", set_config),
        ];
        match routes.iter().find(|(m, p, _)| request.is(m, p)) {
            Some((_, _, handler)) => handler(&request),
            None => Ok(Response::not_found()),
        }
    }

    fn run_job(name: &str) -> Result<()> {
        match name {
            "sweep" => sweep(),
            _ => Err(Error::InvalidInput("no such job".into())),
        }
    }
}

capcrm_plugin!(Consent);
