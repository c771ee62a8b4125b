//! Data-subject requests (GDPR, CCPA, PIPL) as a capcrm plugin.
//!
//! Public routes (a company's web form, or any API client):
//!
//! - `POST /requests` `{"regime": "gdpr" | "ccpa" | "pipl", "kind": "access" | "rectification" |
//!   "erasure" | "restriction" | "opt_out_of_sale", "email", "name"?, "details"?}` (JSON or a form
//!   post). Starts the legal clock and has the host send a one-time code to the address given
//!   (`verify:email`). A filled-in `website` field (a honeypot people do not see) is answered like
//!   a success and kept nowhere. Answers `202 {"id", "status", "respond_by", "acknowledge_by"}`,
//!   the same whether or not the address belongs to anyone in the CRM.
//! - `POST /requests/verify` `{"id", "code"}`: the requester's code; `verified` on a match.
//! - `POST /requests/resend` `{"id"}`: a new code (the host limits how many).
//!
//! Privacy officers' routes (each `needs` a permission the host checks against the person):
//!
//! - `POST /requests/record` (subject_export): a request staff took in (phone, letter, desk), with
//!   `verification_note` saying how they checked the requester's identity; it starts verified.
//! - `GET /requests` (subject_export): the queue, most urgent first, without requesters' details.
//! - `GET /requests/one?id=` (subject_export): one request with the requester's details.
//! - `POST /requests/transition` `{"id", "to", "note"?}` (subject_export): received → verifying →
//!   verified → in_progress → completed → closed, or rejected (from any open status) → closed.
//!   `verified` comes only from the requester's code when a code was sent.
//! - `POST /requests/extend` `{"id", "reason"}` (subject_export): the regime's one extension.
//! - `POST /requests/export` `{"id"}` (subject_export): builds the access bundle ([`bundle`]) of
//!   every record of the person and everything plugins keep about them.
//! - `GET /requests/bundle?id=` (subject_export): downloads it (`application/zip`).
//! - `POST /requests/hold` `{"id", "reason"}`, `POST /requests/release` `{"id", "hold"}`
//!   (subject_hold): a legal hold or retention duty on the person, which blocks erasure.
//! - `POST /requests/erase` `{"id", "reason"}` (subject_erase): erases the person by destroying
//!   their key; a hold stops it and is recorded as the request's exception; success keeps the
//!   host's receipt with the request.
//! - `POST /requests/rectified` `{"id", "records": [{"object", "id"}], "note"?}` (subject_export):
//!   the officer corrected these records of the person (through the records API, as their own
//!   audited updates; the plugin writes no field); the request keeps which, at which version.
//! - `POST /requests/apply` `{"id"}` (subject_export): carries out an opt-out of sale (a consent
//!   refusal of `sale` for each of the person's contacts) or a restriction (refusals of `sale` and
//!   of every purpose the person decided on), which the host enforces on consent-conditioned
//!   plugins; the officer must be allowed to create consent records.
//! - `GET /reports?from=&to=` (subject_export): per regime, requests and deadlines met and missed.
//!
//! A scheduled job, `reminders`, notes in the audit trail the days before each deadline
//! ([`clock::ClockSettings::remind_days_before`]) and every day past it.
//!
//! Storage: `req/<id>` holds the request without personal data (statuses, deadlines, the subject
//! id, receipt), so it outlives an erasure; `pd/<id>` holds what the requester typed and
//! `bundle/<id>/<n>` the bundle, both tagged with the person so that their own export and erasure
//! reach them. Closing a request removes both.

pub mod bundle;
pub mod clock;
pub mod intake;
pub mod report;
pub mod request;

use capcrm_plugin_sdk::serde_json::{self, Value, json};
use capcrm_plugin_sdk::{Error, Plugin, Request, Response, Result, audit_note, capcrm_plugin, now, storage, subjects, verification};
use clock::{ClockSettings, Date, deadlines};
use intake::{check, form_or_json, parse_intake, request_id};
use request::{STATUSES, may_move, queue_entry};

/// Bundle bytes per storage value (the host takes at most 1 MiB per value).
const CHUNK: usize = 900 * 1024;
/// The largest bundle: what one plugin response may carry, with room for headers.
const MAX_BUNDLE: usize = 7 << 20;

struct Dsr;

fn bad(status: u16, m: impl Into<String>) -> Result<Response> {
    Ok(Response::json(status, &json!({ "error": m.into() })))
}

fn content_type(r: &Request) -> String {
    r.header("content-type").unwrap_or("application/json").to_ascii_lowercase()
}

/// Loads a request for a change.
fn load(id: &str) -> Result<Option<(String, Value)>> {
    if !id.starts_with("dsr-") || id.len() > 80 {
        return Ok(None);
    }
    let key = format!("req/{id}");
    Ok(storage::get_json::<Value>(&key)?.map(|v| (key, v)))
}

/// Requests carry no personal data, so they are kept untagged and outlive an erasure.
fn save(key: &str, v: &Value) -> Result<()> {
    storage::put_json(key, v, None)
}

fn today() -> Date {
    Date::from_micros(now(), 0)
}

/// Moves a request to `to`, keeping the move in its history.
fn set_status(v: &mut Value, to: &str, note: &str) {
    let at = now();
    v["status"] = json!(to);
    if matches!(to, "completed" | "rejected") {
        v["finished_on"] = json!(Date::from_micros(at, 0).to_string());
        v["outcome"] = json!(to);
    }
    if let Some(h) = v["history"].as_array_mut() {
        h.push(json!({"status": to, "at": at, "note": note}));
    }
}

fn push(v: &mut Value, list: &str, entry: Value) {
    if !v[list].is_array() {
        v[list] = json!([]);
    }
    v[list].as_array_mut().expect("just made an array").push(entry);
}

/// The requester's details, while they are kept.
fn details(id: &str) -> Result<Option<Value>> {
    storage::get_json::<Value>(&format!("pd/{id}"))
}

/// Hands this invocation the request's person again: the host honours a subject id only once it
/// was found in the same invocation, so a stored id alone reaches nobody.
fn hand_subject(id: &str, stored: &Value) -> Result<Option<String>> {
    let Some(pd) = details(id)? else { return Ok(None) };
    let Some(email) = pd["email"].as_str() else { return Ok(None) };
    let found = subjects::find_by_email(email)?;
    let want = stored["subject"].as_str();
    Ok(found.iter().find(|m| Some(m.subject.as_str()) == want).or(if found.len() == 1 { found.first() } else { None }).map(|m| m.subject.clone()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdOnly {
    id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Code {
    id: String,
    code: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WithReason {
    id: String,
    reason: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Release {
    id: String,
    hold: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Transition {
    id: String,
    to: String,
    #[serde(default)]
    note: String,
}

fn body<T: serde::de::DeserializeOwned>(r: &Request, shape: &str) -> std::result::Result<T, Result<Response>> {
    form_or_json(&content_type(r), &r.body).map_err(|e| bad(400, format!("send {shape}: {e}")))
}

fn reason_ok(reason: &str) -> bool {
    !reason.trim().is_empty() && reason.chars().count() <= 500
}

fn take_in(request: &Request) -> Result<Response> {
    let intake = match parse_intake(&content_type(request), &request.body) {
        Ok(i) => i,
        Err(m) => return bad(400, m),
    };
    register(intake, None)
}

/// A request staff took in by phone, letter or at the desk, with how they checked who the
/// requester is. It starts verified: no code is sent.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffIntake {
    regime: String,
    kind: String,
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    details: String,
    /// How the requester's identity was checked, e.g. "passport seen at the front desk".
    verification_note: String,
}

fn record_staff_intake(request: &Request) -> Result<Response> {
    let s: StaffIntake = match body(request, "{\"regime\", \"kind\", \"email\", \"name\"?, \"details\"?, \"verification_note\"}") {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !reason_ok(&s.verification_note) {
        return bad(400, "say in `verification_note` (at most 500 characters) how the requester's identity was checked");
    }
    let intake = intake::Intake { regime: s.regime, kind: s.kind, email: s.email, name: s.name, details: s.details, website: String::new() };
    register(intake, Some(s.verification_note))
}

/// Registers a request: checks it, starts its clock, and either sends the requester a code or,
/// when staff checked the requester's identity (`staff_check`), marks it verified.
fn register(intake: intake::Intake, staff_check: Option<String>) -> Result<Response> {
    let regime = match check(&intake) {
        Ok(r) => r,
        Err(m) => return bad(400, m),
    };
    let received_micros = now();
    let id = request_id(received_micros, &intake.email);
    let received = Date::from_micros(received_micros, 0);
    let dl = deadlines(regime, received, &ClockSettings::default());
    let answer = |status: &str| {
        json!({
            "id": id,
            "status": status,
            "respond_by": dl.respond_by.to_string(),
            "acknowledge_by": dl.acknowledge_by.map(|d| d.to_string()),
        })
    };
    if !intake.website.is_empty() {
        // A bot: it learns nothing from the answer, and nothing is kept.
        return Ok(Response::json(202, &answer("verifying")));
    }
    let email = intake.email.trim().to_string();
    let challenge = match &staff_check {
        Some(_) => None,
        None => match verification::send_code(&email) {
            Ok(c) => Some(c),
            Err(Error::QuotaExceeded(_)) => return bad(429, "too many codes were sent to this address; try again in an hour"),
            // Not granted: an officer verifies the requester another way.
            Err(Error::AccessDenied(_)) => None,
            Err(e) => return Err(e),
        },
    };
    let found = subjects::find_by_email(&email)?;
    let subject = (found.len() == 1).then(|| found[0].subject.clone());
    let mut stored = json!({
        "id": id,
        "regime": regime.name(),
        "kind": intake.kind,
        "status": "received",
        "received": received.to_string(),
        "received_micros": received_micros,
        "deadlines": dl,
        "extended": false,
        "subject": subject,
        "challenge": challenge,
        "history": [{"status": "received", "at": received_micros}],
        "exceptions": [],
    });
    if challenge.is_some() {
        set_status(&mut stored, "verifying", "code sent");
    }
    if let Some(note) = &staff_check {
        stored["taken_in_by_staff"] = json!(true);
        set_status(&mut stored, "verified", &format!("identity checked by staff: {note}"));
    }
    storage::put_json(&format!("pd/{id}"), &json!({"email": email, "name": intake.name, "details": intake.details}), subject.as_deref())?;
    save(&format!("req/{id}"), &stored)?;
    audit_note("dsr.received", &format!("{id}: {} {} request, respond by {}", regime.name(), intake.kind, dl.respond_by))?;
    if staff_check.is_some() {
        audit_note("dsr.verified", &format!("{id}: identity checked by staff"))?;
    }
    Ok(Response::json(202, &answer(stored["status"].as_str().unwrap_or("received"))))
}

fn verify(request: &Request) -> Result<Response> {
    let c: Code = match body(request, "{\"id\", \"code\"}") {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some((key, mut v)) = load(&c.id)? else { return bad(404, "no such request") };
    if v["status"] != "verifying" {
        return bad(409, "this request is not waiting for a code");
    }
    let Some(challenge) = v["challenge"].as_str().map(str::to_string) else { return bad(409, "no code was sent for this request") };
    match verification::check_code(&challenge, &c.code) {
        Ok(true) => {
            set_status(&mut v, "verified", "code matched");
            save(&key, &v)?;
            audit_note("dsr.verified", &format!("{}: the requester's code matched", c.id))?;
            Ok(Response::json(200, &json!({"id": c.id, "status": "verified"})))
        }
        // An ordinary answer, so the host keeps the count of wrong codes.
        Ok(false) => bad(400, "the code does not match"),
        Err(Error::Conflict(m)) => bad(409, m),
        Err(e) => Err(e),
    }
}

fn resend(request: &Request) -> Result<Response> {
    let r: IdOnly = match body(request, "{\"id\"}") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some((key, mut v)) = load(&r.id)? else { return bad(404, "no such request") };
    if v["status"] != "verifying" {
        return bad(409, "this request is not waiting for a code");
    }
    let Some(email) = details(&r.id)?.and_then(|d| d["email"].as_str().map(str::to_string)) else { return bad(409, "the requester's details are gone") };
    match verification::send_code(&email) {
        Ok(c) => {
            v["challenge"] = json!(c);
            save(&key, &v)?;
            Ok(Response::json(202, &json!({"id": r.id, "status": "verifying"})))
        }
        Err(Error::QuotaExceeded(_)) => bad(429, "too many codes were sent to this address; try again in an hour"),
        Err(e) => Err(e),
    }
}

fn transition(request: &Request) -> Result<Response> {
    let t: Transition = match body(request, "{\"id\", \"to\", \"note\"}") {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !STATUSES.contains(&t.to.as_str()) || t.note.chars().count() > 1000 {
        return bad(400, format!("`to` must be one of {}; a note is at most 1000 characters", STATUSES.join(", ")));
    }
    let Some((key, mut v)) = load(&t.id)? else { return bad(404, "no such request") };
    let from = v["status"].as_str().unwrap_or("received").to_string();
    if !may_move(&from, &t.to) {
        return bad(409, format!("a request that is {from} cannot become {}", t.to));
    }
    if t.to == "verified" && v["challenge"].is_string() {
        return bad(409, "a request becomes verified when the requester enters the code sent to them");
    }
    set_status(&mut v, &t.to, &t.note);
    if t.to == "closed" {
        forget_requester(&t.id, &mut v)?;
    }
    save(&key, &v)?;
    audit_note("dsr.status", &format!("{}: {from} -> {}", t.id, t.to))?;
    Ok(Response::json(200, &queue_entry(&v, today())))
}

/// Data minimisation at closing: the requester's details and the bundle go.
fn forget_requester(id: &str, v: &mut Value) -> Result<()> {
    storage::delete(&format!("pd/{id}"))?;
    for k in storage::all_keys(&format!("bundle/{id}/"), 1000)? {
        storage::delete(&k)?;
    }
    if v["bundle"].is_object() {
        v["bundle"]["removed"] = json!(true);
    }
    Ok(())
}

fn extend(request: &Request) -> Result<Response> {
    let e: WithReason = match body(request, "{\"id\", \"reason\"}") {
        Ok(e) => e,
        Err(r) => return r,
    };
    if !reason_ok(&e.reason) {
        return bad(400, "an extension needs a reason of at most 500 characters");
    }
    let Some((key, mut v)) = load(&e.id)? else { return bad(404, "no such request") };
    if v["extended"].as_bool() == Some(true) {
        return bad(409, "the request was already extended; the law allows one extension");
    }
    if report::finished(v["status"].as_str().unwrap_or("")) {
        return bad(409, "a finished request is not extended");
    }
    let at = now();
    v["extended"] = json!(true);
    push(&mut v, "history", json!({"extended": true, "at": at, "reason": e.reason}));
    save(&key, &v)?;
    let entry = queue_entry(&v, Date::from_micros(at, 0));
    audit_note("dsr.extend", &format!("{}: respond by {}", e.id, entry["respond_by"].as_str().unwrap_or("?")))?;
    Ok(Response::json(200, &entry))
}

fn all_requests() -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for key in storage::all_keys("req/", 10_000)? {
        if let Some(v) = storage::get_json::<Value>(&key)? {
            out.push(v);
        }
    }
    Ok(out)
}

fn queue() -> Result<Response> {
    let today = today();
    let mut entries: Vec<Value> = all_requests()?.iter().map(|v| queue_entry(v, today)).collect();
    entries.sort_by(|a, b| a["respond_by"].as_str().cmp(&b["respond_by"].as_str()));
    Ok(Response::json(200, &json!({ "requests": entries })))
}

fn one(request: &Request) -> Result<Response> {
    let id = request.query_param("id").unwrap_or_default();
    let Some((_, v)) = load(&id)? else { return bad(404, "no such request") };
    let mut out = queue_entry(&v, today());
    for k in ["history", "exceptions", "receipt", "bundle", "reminders", "holds_placed", "rectified", "applied", "taken_in_by_staff"] {
        out[k] = v[k].clone();
    }
    out["requester"] = details(&id)?.unwrap_or(Value::Null);
    Ok(Response::json(200, &out))
}

/// Kinds of request each step serves, and the statuses it may start from.
fn ready_for(v: &Value, kind: &str) -> std::result::Result<(), String> {
    if v["kind"] != kind {
        return Err(format!("this is a{} {} request", if v["kind"].as_str().is_some_and(|k| k.starts_with(['a', 'e', 'o'])) { "n" } else { "" }, v["kind"].as_str().unwrap_or("?")));
    }
    match v["status"].as_str() {
        Some("verified" | "in_progress") => Ok(()),
        Some("received" | "verifying") => Err("the requester is not verified yet".into()),
        Some(s) => Err(format!("the request is {s}")),
        None => Err("the request has no status".into()),
    }
}

fn export(request: &Request) -> Result<Response> {
    let r: IdOnly = match body(request, "{\"id\"}") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some((key, mut v)) = load(&r.id)? else { return bad(404, "no such request") };
    if let Err(m) = ready_for(&v, "access") {
        return bad(409, m);
    }
    let Some(subject) = hand_subject(&r.id, &v)? else {
        return bad(409, "the requester's address matches nobody in the CRM: answer that no data about them is held");
    };
    let records: Vec<bundle::ExportedRecord> = subjects::export_records(&subject)?
        .into_iter()
        .map(|rec| bundle::ExportedRecord {
            object: rec.object,
            id: rec.id,
            fields: rec.fields.into_iter().map(|f| (f.name, serde_json::from_str(&f.value).unwrap_or(Value::String(f.value)))).collect(),
        })
        .collect();
    let stored: Vec<bundle::ExportedValue> = subjects::export_stored(&subject)?
        .into_iter()
        // Earlier bundles are copies of the same data, not data of their own.
        .filter(|s| !(s.plugin == "dsr" && s.key.starts_with("bundle/")))
        .map(|s| bundle::ExportedValue { plugin: s.plugin, key: s.key, value: s.value })
        .collect();
    let info = bundle::BundleInfo { request: r.id.clone(), regime: v["regime"].as_str().unwrap_or("").into(), subject: subject.clone(), generated_at: today().to_string() };
    let built = match bundle::build(&info, &records, &stored) {
        Ok(b) => b,
        Err(m) => return bad(500, format!("the bundle could not be written: {m}")),
    };
    if built.zip.len() > MAX_BUNDLE {
        return bad(413, format!("the bundle is {} bytes, more than the {MAX_BUNDLE} one download may carry", built.zip.len()));
    }
    for k in storage::all_keys(&format!("bundle/{}/", r.id), 1000)? {
        storage::delete(&k)?;
    }
    let chunks: Vec<&[u8]> = built.zip.chunks(CHUNK).collect();
    for (i, c) in chunks.iter().enumerate() {
        storage::put(&format!("bundle/{}/{i:04}", r.id), c, Some(&subject))?;
    }
    v["bundle"] = json!({"generated_at": now(), "bytes": built.zip.len(), "sha256": built.sha256, "chunks": chunks.len(), "files": built.files, "records": records.len(), "plugin_values": stored.len()});
    if v["status"] == "verified" {
        set_status(&mut v, "in_progress", "access bundle prepared");
    }
    save(&key, &v)?;
    audit_note("dsr.bundle", &format!("{}: {} records and {} plugin values", r.id, records.len(), stored.len()))?;
    Ok(Response::json(200, &json!({"id": r.id, "status": v["status"], "bundle": v["bundle"]})))
}

fn download(request: &Request) -> Result<Response> {
    let id = request.query_param("id").unwrap_or_default();
    let Some((_, v)) = load(&id)? else { return bad(404, "no such request") };
    if !v["bundle"].is_object() || v["bundle"]["removed"] == true {
        return bad(404, "no bundle has been prepared for this request");
    }
    let mut zip = Vec::new();
    for k in storage::all_keys(&format!("bundle/{id}/"), 1000)? {
        zip.extend(storage::get(&k)?.unwrap_or_default());
    }
    use sha2::Digest as _;
    let sha: String = sha2::Sha256::digest(&zip).iter().map(|b| format!("{b:02x}")).collect();
    if zip.is_empty() || Some(sha.as_str()) != v["bundle"]["sha256"].as_str() {
        return bad(410, "the bundle is gone (the person was erased, or the request closed); prepare it again");
    }
    audit_note("dsr.bundle_downloaded", &format!("{id}: {} bytes", zip.len()))?;
    Ok(Response::new(200)
        .with_header("content-type", "application/zip")
        .with_header("content-disposition", &format!("attachment; filename=\"{id}.zip\""))
        .with_body(zip))
}

fn hold(request: &Request) -> Result<Response> {
    let h: WithReason = match body(request, "{\"id\", \"reason\"}") {
        Ok(h) => h,
        Err(r) => return r,
    };
    if !reason_ok(&h.reason) {
        return bad(400, "a hold needs a reason of at most 500 characters");
    }
    let Some((key, mut v)) = load(&h.id)? else { return bad(404, "no such request") };
    let Some(subject) = hand_subject(&h.id, &v)? else { return bad(409, "the request's person is not known (or was erased)") };
    let hold = subjects::place_hold(&subject, &h.reason)?;
    push(&mut v, "holds_placed", json!({"hold": hold, "at": now(), "reason": h.reason}));
    save(&key, &v)?;
    audit_note("dsr.hold", &format!("{}: hold {hold} placed", h.id))?;
    Ok(Response::json(200, &json!({"id": h.id, "hold": hold})))
}

fn release(request: &Request) -> Result<Response> {
    let r: Release = match body(request, "{\"id\", \"hold\"}") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some((key, mut v)) = load(&r.id)? else { return bad(404, "no such request") };
    let Some(subject) = hand_subject(&r.id, &v)? else { return bad(409, "the request's person is not known (or was erased)") };
    match subjects::release_hold(&subject, &r.hold) {
        Ok(()) => {}
        Err(Error::NotFound) => return bad(404, "no such hold on this person"),
        Err(e) => return Err(e),
    }
    push(&mut v, "history", json!({"released_hold": r.hold, "at": now()}));
    save(&key, &v)?;
    audit_note("dsr.release", &format!("{}: hold {} released", r.id, r.hold))?;
    Ok(Response::json(200, &json!({"id": r.id, "released": r.hold})))
}

/// Records why an erasure did not happen, and answers 409 with the exceptions.
fn blocked(key: &str, v: &mut Value, id: &str, exceptions: Vec<Value>) -> Result<Response> {
    let entry = json!({"at": now(), "step": "erasure", "blocked_by": exceptions});
    push(v, "exceptions", entry.clone());
    save(key, v)?;
    audit_note("dsr.erasure_blocked", &format!("{id}: {} hold(s) in place", entry["blocked_by"].as_array().map_or(0, Vec::len)))?;
    Ok(Response::json(409, &json!({"error": "erasure is blocked by a hold on this person", "exceptions": entry["blocked_by"]})))
}

fn erase(request: &Request) -> Result<Response> {
    let e: WithReason = match body(request, "{\"id\", \"reason\"}") {
        Ok(e) => e,
        Err(r) => return r,
    };
    if !reason_ok(&e.reason) {
        return bad(400, "an erasure needs a reason of at most 500 characters");
    }
    let Some((key, mut v)) = load(&e.id)? else { return bad(404, "no such request") };
    if let Err(m) = ready_for(&v, "erasure") {
        return bad(409, m);
    }
    let Some(subject) = hand_subject(&e.id, &v)? else {
        return bad(409, "the requester's address matches nobody in the CRM: there is nothing to erase");
    };
    let holds = subjects::holds(&subject)?;
    if !holds.is_empty() {
        let ex = holds.into_iter().map(|h| json!({"hold": h.id, "reason": h.reason, "placed_at": h.placed_at})).collect();
        return blocked(&key, &mut v, &e.id, ex);
    }
    let receipt = match subjects::erase(&subject, &e.reason) {
        Ok(r) => r,
        // A hold placed a moment ago.
        Err(Error::Conflict(m)) => return blocked(&key, &mut v, &e.id, vec![json!({"reason": m})]),
        Err(err) => return Err(err),
    };
    v["receipt"] = json!({
        "id": receipt.id, "subject": receipt.subject, "erased_at": receipt.erased_at, "records": receipt.records,
        "stored_values": receipt.stored_values, "index_entries": receipt.index_entries,
    });
    // The requester's details went with the person; the bundle, if any, too.
    if v["bundle"].is_object() {
        v["bundle"]["removed"] = json!(true);
    }
    set_status(&mut v, "completed", "erased");
    save(&key, &v)?;
    audit_note("dsr.erased", &format!("{}: receipt {}, {} records", e.id, receipt.id, receipt.records))?;
    Ok(Response::json(200, &json!({"id": e.id, "status": "completed", "receipt": v["receipt"]})))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rectified {
    id: String,
    /// The records that were corrected, `{"object", "id"}` each.
    records: Vec<RecordRef>,
    #[serde(default)]
    note: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordRef {
    object: String,
    id: String,
}

/// Closes the work of a rectification request. The officer corrects the fields where they live
/// (the records API, under their own permissions, validated and audited as their updates): the
/// plugin is granted no field and writes none. Here the request records which of the person's
/// records were corrected, at which version; a record that is not the person's is refused.
fn rectified(request: &Request) -> Result<Response> {
    let r: Rectified = match body(request, "{\"id\", \"records\": [{\"object\", \"id\"}], \"note\"?}") {
        Ok(r) => r,
        Err(r) => return r,
    };
    if r.records.is_empty() || r.records.len() > 100 || r.note.chars().count() > 1000 {
        return bad(400, "name 1 to 100 corrected records; a note is at most 1000 characters");
    }
    let Some((key, mut v)) = load(&r.id)? else { return bad(404, "no such request") };
    if let Err(m) = ready_for(&v, "rectification") {
        return bad(409, m);
    }
    let Some(subject) = hand_subject(&r.id, &v)? else {
        return bad(409, "the requester's address matches nobody in the CRM: there is nothing to correct");
    };
    let theirs = subjects::export_records(&subject)?;
    let mut corrected = Vec::new();
    for want in &r.records {
        match theirs.iter().find(|t| t.object == want.object && t.id == want.id) {
            Some(t) => corrected.push(json!({"object": t.object, "id": t.id, "version": t.version})),
            None => return bad(409, format!("{} {} is not a record of the requester", want.object, want.id)),
        }
    }
    push(&mut v, "rectified", json!({"at": now(), "records": corrected, "note": r.note}));
    set_status(&mut v, "completed", "rectified");
    save(&key, &v)?;
    audit_note("dsr.rectified", &format!("{}: {} record(s) corrected", r.id, corrected.len()))?;
    Ok(Response::json(200, &json!({"id": r.id, "status": "completed", "rectified": corrected})))
}

/// The purpose an opt-out of sale (CCPA) refuses.
pub const SALE: &str = "sale";

/// Carries out an opt-out of sale or a restriction of processing through consent records, which
/// the host enforces: a plugin granted people for a purpose reaches only those who consent to it.
/// An opt-out refuses `sale` for each of the person's contacts; a restriction refuses `sale` and
/// every purpose the person ever decided on. People (staff) still see the records; only
/// processing for those purposes stops. Acts for the officer, who must be allowed to create
/// consent records.
fn apply(request: &Request) -> Result<Response> {
    let r: IdOnly = match body(request, "{\"id\"}") {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Some((key, mut v)) = load(&r.id)? else { return bad(404, "no such request") };
    let kind = v["kind"].as_str().unwrap_or_default().to_string();
    if kind != "opt_out_of_sale" && kind != "restriction" {
        return bad(409, "only an opt-out of sale or a restriction is carried out this way");
    }
    if let Err(m) = ready_for(&v, &kind) {
        return bad(409, m);
    }
    let Some(subject) = hand_subject(&r.id, &v)? else {
        return bad(409, "the requester's address matches nobody in the CRM: there is nothing to restrict");
    };
    let theirs = subjects::export_records(&subject)?;
    let contacts: Vec<&str> = theirs.iter().filter(|t| t.object == "contact").map(|t| t.id.as_str()).collect();
    if contacts.is_empty() {
        return bad(409, "the person has no contact record to attach the decision to");
    }
    let mut purposes = vec![SALE.to_string()];
    if kind == "restriction" {
        for t in theirs.iter().filter(|t| t.object == "consent") {
            if let Some(p) = t.fields.iter().find(|f| f.name == "purpose").and_then(|f| serde_json::from_str::<String>(&f.value).ok()) {
                if !purposes.contains(&p) {
                    purposes.push(p);
                }
            }
        }
    }
    let consents = match capcrm_plugin_sdk::Collection::open("consent") {
        Ok(c) => c,
        Err(e) if e.is_access_denied() => return bad(403, "you may not record consent decisions"),
        Err(e) => return Err(e),
    };
    let at = capcrm_plugin_sdk::time::rfc3339(now());
    let mut made = 0;
    for c in &contacts {
        for p in &purposes {
            let fields = capcrm_plugin_sdk::Fields::new()
                .set("contact", c)
                .set("purpose", p)
                .set("granted", false)
                .set("source", format!("data-subject request {}", r.id))
                .set("policy_version", "dsr")
                .set("recorded_at", &at);
            match consents.create(fields) {
                Ok(_) => made += 1,
                Err(e) if e.is_access_denied() => return bad(403, "you may not record consent decisions"),
                Err(e) => return Err(e),
            }
        }
    }
    push(&mut v, "applied", json!({"at": now(), "purposes": purposes, "contacts": contacts.len()}));
    set_status(&mut v, "completed", if kind == "restriction" { "processing restricted" } else { "opted out of sale" });
    save(&key, &v)?;
    audit_note("dsr.applied", &format!("{}: {kind}, {made} consent refusal(s) recorded", r.id))?;
    Ok(Response::json(200, &json!({"id": r.id, "status": "completed", "purposes": purposes, "refusals": made})))
}

fn reports(request: &Request) -> Result<Response> {
    let date = |name: &str| request.query_param(name).filter(|s| !s.is_empty()).map(|s| Date::parse(&s).ok_or(name.to_string()));
    let (from, to) = match (date("from").transpose(), date("to").transpose()) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(n), _) | (_, Err(n)) => return bad(400, format!("`{n}` must be a date, YYYY-MM-DD")),
    };
    Ok(Response::json(200, &report::report(&all_requests()?, today(), from, to)))
}

/// The daily reminders: each configured number of days before the deadline, then every day past.
fn reminders() -> Result<()> {
    let today = today();
    let settings = ClockSettings::default();
    for key in storage::all_keys("req/", 10_000)? {
        let Some(mut v) = storage::get_json::<Value>(&key)? else { continue };
        if report::finished(v["status"].as_str().unwrap_or("")) {
            continue;
        }
        let Some(due) = report::due(&v) else { continue };
        let Some(left) = clock::reminder_due(due, today, &settings) else { continue };
        let mark = if left < 0 { format!("overdue {today}") } else { format!("{left} days before") };
        if v["reminders"].as_array().is_some_and(|r| r.iter().any(|m| m == &json!(mark))) {
            continue;
        }
        push(&mut v, "reminders", json!(mark));
        save(&key, &v)?;
        let id = v["id"].as_str().unwrap_or("?").to_string();
        let what = if left < 0 { format!("{} days overdue", -left) } else { format!("{left} days left") };
        audit_note("dsr.reminder", &format!("{id}: {what}, due {due}"))?;
    }
    Ok(())
}

impl Plugin for Dsr {
    fn on_http(request: Request) -> Result<Response> {
        let routes: [(&str, &str, fn(&Request) -> Result<Response>); 16] = [
            ("POST", "/requests/apply", apply),
            ("POST", "/requests", take_in),
            ("POST", "/requests/record", record_staff_intake),
            ("POST", "/requests/rectified", rectified),
            ("POST", "/requests/verify", verify),
            ("POST", "/requests/resend", resend),
            ("GET", "/requests", |_| queue()),
            ("GET", "/requests/one", one),
            ("POST", "/requests/transition", transition),
            ("POST", "/requests/extend", extend),
            ("POST", "/requests/export", export),
            ("GET", "/requests/bundle", download),
            ("POST", "/requests/hold", hold),
            ("POST", "/requests/release", release),
            ("POST", "/requests/erase", erase),
            ("GET", "/reports", reports),
        ];
        match routes.iter().find(|(m, p, _)| request.is(m, p)) {
            Some((_, _, handler)) => handler(&request),
            None => Ok(Response::not_found()),
        }
    }

    fn run_job(name: &str) -> Result<()> {
        match name {
            "reminders" => reminders(),
            _ => Err(Error::InvalidInput("no such job".into())),
        }
    }
}

capcrm_plugin!(Dsr);
