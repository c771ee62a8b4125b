//! Data-subject operations through the `subjects` interface, one per request:
//! `GET /run?op=<op>&email=<address>[&reason=<text>][&subject=<id>]`.
//!
//! - `find`: the subjects with that email, `{"matches": [{"subject", "records": [[object, id]]}]}`.
//! - `remember`: stores `note/<subject>` tagged with each found subject.
//! - `export`: every record and stored value of each found subject, in clear.
//! - `hold` / `release`: places a hold on each found subject / releases every hold.
//! - `erase`: erases each found subject; `{"receipts": [...]}`.
//! - `erase-unhanded`: erases `subject` without finding it first (the host must refuse).
//! - `read`: reads each found record through a granted `contact` collection.
//!
//! A host error comes back as `{"error": "<Debug of the error>"}` with status 200, so the test
//! sees exactly what the plugin saw.

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Collection, Plugin, Request, Response, Result, capcrm_plugin, storage, subjects};

struct Subjects;

fn run(op: &str, email: &str, reason: &str, subject: &str) -> Result<Value> {
    if op == "erase-unhanded" {
        let r = subjects::erase(subject, reason)?;
        return Ok(json!({"receipt": r.id}));
    }
    let found = subjects::find_by_email(email)?;
    let mut out = Vec::new();
    for m in &found {
        let item = match op {
            "find" => json!({"subject": m.subject, "records": m.records.iter().map(|r| json!([r.object, r.id])).collect::<Vec<_>>()}),
            "remember" => {
                storage::put(&format!("note/{}", m.subject), b"remembered about this person", Some(&m.subject))?;
                json!({"subject": m.subject})
            }
            "export" => {
                let records: Vec<Value> = subjects::export_records(&m.subject)?
                    .into_iter()
                    .map(|r| json!({"object": r.object, "id": r.id, "fields": r.to_json()}))
                    .collect();
                let stored: Vec<Value> = subjects::export_stored(&m.subject)?
                    .into_iter()
                    .map(|v| json!({"plugin": v.plugin, "key": v.key, "value": String::from_utf8_lossy(&v.value)}))
                    .collect();
                json!({"subject": m.subject, "records": records, "stored": stored})
            }
            "hold" => json!({"subject": m.subject, "hold": subjects::place_hold(&m.subject, reason)?}),
            "release" => {
                let holds = subjects::holds(&m.subject)?;
                for h in &holds {
                    subjects::release_hold(&m.subject, &h.id)?;
                }
                json!({"subject": m.subject, "released": holds.len()})
            }
            "erase" => {
                let r = subjects::erase(&m.subject, reason)?;
                json!({"subject": r.subject, "receipt": r.id, "records": r.records, "stored_values": r.stored_values, "index_entries": r.index_entries})
            }
            "read" => {
                let contacts = Collection::open("contact")?;
                let mut read = Vec::new();
                for r in m.records.iter().filter(|r| r.object == "contact") {
                    read.push(Value::Object(contacts.get(&r.id)?.to_json()));
                }
                json!({"subject": m.subject, "read": read})
            }
            other => return Ok(json!({"error": format!("unknown op {other}")})),
        };
        out.push(item);
    }
    Ok(json!({"matches": out}))
}

impl Plugin for Subjects {
    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let p = |n: &str| request.query_param(n).unwrap_or_default();
        let body = match run(&p("op"), &p("email"), &p("reason"), &p("subject")) {
            Ok(v) => v,
            Err(e) => json!({"error": format!("{e:?}")}),
        };
        Ok(Response::json(200, &body))
    }
}

capcrm_plugin!(Subjects);
