//! Data-subject requests (GDPR, CCPA, PIPL) as a capcrm plugin.
//!
//! This version takes requests in and starts their legal clock:
//!
//! - `POST /requests` (public, for a company's web form or an API client): `{"regime": "gdpr" |
//!   "ccpa" | "pipl", "kind": "access" | "rectification" | "erasure" | "restriction" |
//!   "opt_out_of_sale", "email": "...", "name": "...", "details": "..."}` (JSON, or a form post).
//!   A filled-in `website` field (a honeypot people do not see) is answered like a success and
//!   kept nowhere. Answers `202 {"id", "status": "received", "respond_by", "acknowledge_by"}`.
//!
//! - `GET /requests` (privacy officers: the route needs the `subject_export` permission, which the
//!   host checks): the queue, oldest first, with each request's regime, kind, status, deadlines
//!   and days left; requesters' details stay out of it.
//!
//! - `POST /requests/transition` (privacy officers) `{"id", "to", "note"?}`: moves a request along
//!   received → verifying → verified → in_progress → completed → closed, or to rejected (from any
//!   open status) and then closed; any other move is a 409. Every move is kept in the request's
//!   history and noted in the audit trail (without the note's text).
//! - `POST /requests/extend` (privacy officers) `{"id", "reason"}`: applies the regime's one
//!   extension; the deadline in force becomes the extended one.
//!
//! The request is kept in the plugin's storage held by the host, tagged with the person it is
//! about when their email finds exactly one subject (`subject:find`, compared by blind index), so
//! that their own access export and erasure include it. Deadlines come from [`clock`].

pub mod clock;

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Plugin, Request, Response, Result, audit_note, capcrm_plugin, now, storage, subjects};
use clock::{ClockSettings, Date, Regime, deadlines};

/// Kinds of request the plugin takes.
pub const KINDS: &[&str] = &["access", "rectification", "erasure", "restriction", "opt_out_of_sale"];

/// A request as the intake form sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intake {
    /// `gdpr`, `ccpa` or `pipl`.
    pub regime: String,
    /// One of [`KINDS`].
    pub kind: String,
    /// The requester's email, where the verification code will go.
    pub email: String,
    /// The requester's name, as they give it.
    pub name: String,
    /// What they ask for, in their words.
    pub details: String,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: String,
}

/// Why an intake is refused (the message goes back to the requester).
pub fn check(i: &Intake) -> std::result::Result<Regime, String> {
    let regime = Regime::parse(&i.regime).ok_or("`regime` must be gdpr, ccpa or pipl")?;
    if !KINDS.contains(&i.kind.as_str()) {
        return Err(format!("`kind` must be one of {}", KINDS.join(", ")));
    }
    let e = i.email.trim();
    let ok_email = e.len() <= 254 && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !e.contains(char::is_whitespace));
    if !ok_email {
        return Err("`email` must be an email address".into());
    }
    if i.name.chars().count() > 200 || i.details.chars().count() > 5000 {
        return Err("`name` is at most 200 characters, `details` at most 5000".into());
    }
    Ok(regime)
}

/// Parses a JSON body or an `application/x-www-form-urlencoded` one.
pub fn parse_intake(content_type: &str, body: &[u8]) -> std::result::Result<Intake, String> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).map_err(|_| "the form is not UTF-8".to_string())?;
        let mut map = capcrm_plugin_sdk::serde_json::Map::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(url_decode(k), Value::String(url_decode(v)));
        }
        return capcrm_plugin_sdk::serde_json::from_value(Value::Object(map)).map_err(|e| format!("the form does not fit: {e}"));
    }
    capcrm_plugin_sdk::serde_json::from_slice(body).map_err(|e| format!("the body does not fit: {e}"))
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A short, stable id for a request: its receipt time and a hash of the requester.
fn request_id(received_micros: u64, email: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in email.to_lowercase().bytes().chain(received_micros.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("dsr-{received_micros}-{:08x}", h as u32)
}

struct Dsr;

/// Statuses a request moves through.
pub const STATUSES: &[&str] = &["received", "verifying", "verified", "in_progress", "completed", "rejected", "closed"];

/// Whether a request may move from `from` to `to`.
pub fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("received", "verifying")
            | ("verifying", "verified")
            | ("verified", "in_progress")
            | ("in_progress", "completed")
            | ("completed", "closed")
            | ("rejected", "closed")
    ) || (to == "rejected" && !matches!(from, "completed" | "rejected" | "closed"))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Transition {
    id: String,
    to: String,
    #[serde(default)]
    note: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    id: String,
    reason: String,
}

fn bad(status: u16, m: impl Into<String>) -> Result<Response> {
    Ok(Response::json(status, &json!({ "error": m.into() })))
}

/// Loads a request for a change; keeps it tagged with its person when written back.
fn load(id: &str) -> Result<Option<(String, Value)>> {
    if !id.starts_with("dsr-") || id.len() > 80 {
        return Ok(None);
    }
    let key = format!("req/{id}");
    Ok(storage::get_json::<Value>(&key)?.map(|v| (key, v)))
}

fn save(key: &str, v: &Value) -> Result<()> {
    storage::put_json(key, v, v["subject"].as_str())
}

fn transition(request: &Request) -> Result<Response> {
    let Ok(t) = request.json::<Transition>() else { return bad(400, "send {\"id\", \"to\", \"note\"}") };
    if !STATUSES.contains(&t.to.as_str()) || t.note.chars().count() > 1000 {
        return bad(400, format!("`to` must be one of {}; a note is at most 1000 characters", STATUSES.join(", ")));
    }
    let Some((key, mut v)) = load(&t.id)? else { return bad(404, "no such request") };
    let from = v["status"].as_str().unwrap_or("received").to_string();
    if !may_move(&from, &t.to) {
        return bad(409, format!("a request that is {from} cannot become {}", t.to));
    }
    let at = now();
    v["status"] = json!(t.to);
    if let Some(h) = v["history"].as_array_mut() {
        h.push(json!({"status": t.to, "at": at, "note": t.note}));
    }
    save(&key, &v)?;
    audit_note("dsr.status", &format!("{}: {from} -> {}", t.id, t.to))?;
    Ok(Response::json(200, &queue_entry(&v, Date::from_micros(at, 0))))
}

fn extend(request: &Request) -> Result<Response> {
    let Ok(e) = request.json::<Extension>() else { return bad(400, "send {\"id\", \"reason\"}") };
    if e.reason.trim().is_empty() || e.reason.chars().count() > 500 {
        return bad(400, "an extension needs a reason of at most 500 characters");
    }
    let Some((key, mut v)) = load(&e.id)? else { return bad(404, "no such request") };
    if v["extended"].as_bool() == Some(true) {
        return bad(409, "the request was already extended; the law allows one extension");
    }
    if matches!(v["status"].as_str(), Some("completed" | "rejected" | "closed")) {
        return bad(409, "a finished request is not extended");
    }
    let at = now();
    v["extended"] = json!(true);
    if let Some(h) = v["history"].as_array_mut() {
        h.push(json!({"extended": true, "at": at, "reason": e.reason}));
    }
    save(&key, &v)?;
    let entry = queue_entry(&v, Date::from_micros(at, 0));
    audit_note("dsr.extend", &format!("{}: respond by {}", e.id, entry["respond_by"].as_str().unwrap_or("?")))?;
    Ok(Response::json(200, &entry))
}

/// One line of the queue: no requester details.
pub fn queue_entry(stored: &Value, today: Date) -> Value {
    let deadline = |k: &str| stored["deadlines"][k].as_object().and_then(|o| Some(Date::new(o.get("year")?.as_i64()? as i32, o.get("month")?.as_u64()? as u8, o.get("day")?.as_u64()? as u8)?));
    let extended = stored["extended"].as_bool().unwrap_or(false);
    let due = deadline(if extended { "extended_by" } else { "respond_by" });
    json!({
        "id": stored["id"],
        "regime": stored["regime"],
        "kind": stored["kind"],
        "status": stored["status"],
        "received": stored["received"],
        "acknowledge_by": deadline("acknowledge_by").map(|d| d.to_string()),
        "respond_by": due.map(|d| d.to_string()),
        "extended": extended,
        "days_left": due.map(|d| today.days_until(d)),
        "overdue": due.is_some_and(|d| today.days_until(d) < 0),
    })
}

fn queue() -> Result<Response> {
    let today = Date::from_micros(now(), 0);
    let mut entries = Vec::new();
    for key in storage::all_keys("req/", 10_000)? {
        if let Some(v) = storage::get_json::<Value>(&key)? {
            entries.push(queue_entry(&v, today));
        }
    }
    entries.sort_by(|a, b| a["respond_by"].as_str().cmp(&b["respond_by"].as_str()));
    Ok(Response::json(200, &json!({ "requests": entries })))
}

impl Plugin for Dsr {
    fn on_http(request: Request) -> Result<Response> {
        if request.is("GET", "/requests") {
            return queue();
        }
        if request.is("POST", "/requests/transition") {
            return transition(&request);
        }
        if request.is("POST", "/requests/extend") {
            return extend(&request);
        }
        if !request.is("POST", "/requests") {
            return Ok(Response::not_found());
        }
        let ctype = request.header("content-type").unwrap_or("application/json").to_ascii_lowercase();
        let intake = match parse_intake(&ctype, &request.body) {
            Ok(i) => i,
            Err(m) => return Ok(Response::json(400, &json!({ "error": m }))),
        };
        let regime = match check(&intake) {
            Ok(r) => r,
            Err(m) => return Ok(Response::json(400, &json!({ "error": m }))),
        };
        let received_micros = now();
        let id = request_id(received_micros, &intake.email);
        let received = Date::from_micros(received_micros, 0);
        let dl = deadlines(regime, received, &ClockSettings::default());
        let answer = json!({
            "id": id,
            "status": "received",
            "respond_by": dl.respond_by.to_string(),
            "acknowledge_by": dl.acknowledge_by.map(|d| d.to_string()),
        });
        if !intake.website.is_empty() {
            // A bot: it learns nothing from the answer, and nothing is kept.
            return Ok(Response::json(202, &answer));
        }
        let found = subjects::find_by_email(intake.email.trim())?;
        let subject = (found.len() == 1).then(|| found[0].subject.clone());
        let stored = json!({
            "id": id,
            "regime": intake.regime.to_ascii_lowercase(),
            "kind": intake.kind,
            "status": "received",
            "received": received.to_string(),
            "received_micros": received_micros,
            "deadlines": dl,
            "email": intake.email.trim(),
            "name": intake.name,
            "details": intake.details,
            "subject": subject,
            "history": [{"status": "received", "at": received_micros}],
        });
        storage::put_json(&format!("req/{id}"), &stored, subject.as_deref())?;
        audit_note("dsr.received", &format!("{id}: {} {} request, respond by {}", intake.regime.to_ascii_lowercase(), intake.kind, dl.respond_by))?;
        Ok(Response::json(202, &answer))
    }
}

capcrm_plugin!(Dsr);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_is_checked_and_forms_parse() {
        let good = Intake { regime: "GDPR".into(), kind: "erasure".into(), email: "ada@example.com".into(), ..Default::default() };
        assert_eq!(check(&good), Ok(Regime::Gdpr));
        assert!(check(&Intake { regime: "lgpd".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { kind: "delete_everything".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { email: "not an email".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { email: "a@b".into(), ..good.clone() }).is_err());
        let form = parse_intake("application/x-www-form-urlencoded", b"regime=pipl&kind=access&email=li%40example.cn&name=Li+Na&website=").unwrap();
        assert_eq!((form.regime.as_str(), form.email.as_str(), form.name.as_str()), ("pipl", "li@example.cn", "Li Na"));
        assert!(parse_intake("application/json", br#"{"regime":"gdpr","surprise":1}"#).is_err(), "unknown fields are refused");
        assert_eq!(url_decode("100%25+sure%"), "100% sure%");
        assert_ne!(request_id(1, "a@b.example"), request_id(2, "a@b.example"));
        assert_eq!(request_id(1, "A@b.example"), request_id(1, "a@b.example"));
    }

    #[test]
    fn statuses_move_only_forward_or_to_rejected() {
        assert!(may_move("received", "verifying") && may_move("verifying", "verified") && may_move("in_progress", "completed"));
        assert!(!may_move("received", "completed"), "no skipping verification");
        assert!(!may_move("closed", "received") && !may_move("completed", "in_progress"));
        assert!(may_move("verifying", "rejected") && may_move("rejected", "closed"));
        assert!(!may_move("completed", "rejected") && !may_move("closed", "rejected"));
    }

    #[test]
    fn queue_entries_count_days_and_leave_the_requester_out() {
        let received = Date::parse("2026-12-02").unwrap();
        let dl = deadlines(Regime::Pipl, received, &ClockSettings::default());
        let stored = json!({"id": "dsr-1", "regime": "pipl", "kind": "access", "status": "received", "received": "2026-12-02",
                            "deadlines": dl, "email": "li@example.cn", "name": "Li Na"});
        let e = queue_entry(&stored, Date::parse("2026-12-20").unwrap());
        assert_eq!(e["respond_by"], "2026-12-23");
        assert_eq!(e["days_left"], 3);
        assert_eq!(e["overdue"], false);
        assert!(!e.to_string().contains("li@example.cn") && !e.to_string().contains("Li Na"));
        let late = queue_entry(&stored, Date::parse("2026-12-28").unwrap());
        assert_eq!((late["days_left"].as_i64(), late["overdue"].as_bool()), (Some(-5), Some(true)));
        let mut ext = stored.clone();
        ext["extended"] = json!(true);
        assert_eq!(queue_entry(&ext, Date::parse("2026-12-20").unwrap())["respond_by"], "2027-01-13");
    }
}
