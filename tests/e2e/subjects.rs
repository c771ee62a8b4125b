//! Data-subject operations through a plugin (the WIT `subjects` interface): find by blind index,
//! access export, holds, and erasure by destroying the subject's key. Each is its own capability;
//! each use and each refusal is in the audit trail.

use crate::common::*;
use serde_json::{Value, json};

const MANIFEST: &str = r#"name = "subjects"
version = "1.0.0"
author = "capcrm tests"
description = "Finds, exports, holds and erases data subjects."
purpose = "Answering data-subject requests"
routes = ["GET /run public"]
subjects = ["find", "export", "erase", "hold"]
[access.contact]
read = ["first_name"]
[storage]
quota_bytes = 4096
[limits]
memory_mb = 16
timeout_ms = 2000
host_calls = 500
"#;

fn run(srv: &Server, query: &str) -> Value {
    let http = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let r = http.get(format!("{}/plugins/subjects/run?{query}", srv.base)).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "plugin call {query}");
    r.json().unwrap()
}

fn audit(api: &Api, query: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/audit?limit=1000&{query}")).body["entries"].as_array().cloned().unwrap_or_default()
}

fn by_plugin(entries: &[Value]) -> Vec<Value> {
    entries.iter().filter(|e| e["actor"].as_str().unwrap_or("").starts_with("subjects@")).cloned().collect()
}

#[test]
fn find_export_hold_and_erase_subjects() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let m = inst.dir.path().join("subjects.toml");
        std::fs::write(&m, MANIFEST).unwrap();
        let out = inst.cli(&["plugin", "install", guest_wasm("guest-subjects").to_str().unwrap(), "--manifest", m.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let shown = String::from_utf8(inst.cli(&["plugin", "show", "subjects"]).stdout).unwrap();
        for cap in ["subject:find", "subject:export", "subject:erase", "subject:hold"] {
            assert!(shown.contains(cap), "show lists {cap}: {shown}");
        }
        // Everything but erasure, first.
        let out = inst.cli(&["plugin", "approve", "subjects", "--deny", "subject:erase"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        let srv = inst.start();
        let api = srv.client();
        let a = api.create("contact", canary_contact("SUBA"));
        let a_id = a["id"].as_str().unwrap().to_string();
        let a_subject = a["subject_id"].as_str().unwrap().to_string();
        let activity = api.create("activity", json!({"kind": "call", "body": "Canarycall SUBA", "contact": a_id}));
        assert_eq!(activity["subject_id"], a_subject.as_str(), "an activity inherits its contact's subject");
        // The same person as a lead: a subject of its own, found by the same email.
        let lead = api.create("lead", json!({"last_name": "CanarylastSUBA", "email": "Canary.SUBA@example.com"}));
        let b = api.create("contact", json!({"first_name": "Bystander", "last_name": "Keepme", "email": "keep.me@example.com"}));
        let b_subject = b["subject_id"].as_str().unwrap().to_string();
        let email = "canary.SUBA%40example.com";

        // Find: both subjects carrying the email, and nobody else.
        let found = run(&srv, &format!("op=find&email={email}"));
        let matches = found["matches"].as_array().unwrap_or_else(|| panic!("{found}"));
        let subjects: Vec<&str> = matches.iter().map(|m| m["subject"].as_str().unwrap()).collect();
        assert_eq!(matches.len(), 2, "{found}");
        assert!(subjects.contains(&a_subject.as_str()) && subjects.contains(&lead["subject_id"].as_str().unwrap()), "{found}");
        assert!(!found.to_string().contains(&b_subject));
        // Found records count as handed: the plugin reads them with its (narrow) contact grant.
        let read = run(&srv, &format!("op=read&email={email}"));
        assert!(read.to_string().contains("CanaryfirstSUBA") && !read.to_string().contains("CanarylastSUBA"), "{read}");

        // Export: every record of the subject, every field in clear, plugin data included.
        let stored = run(&srv, &format!("op=remember&email={email}"));
        assert!(stored.get("error").is_none(), "{stored}");
        let export = run(&srv, &format!("op=export&email={email}"));
        let text = export.to_string();
        for s in ["CanarylastSUBA", "CANARYIDSUBA", "Canarycall SUBA", "remembered about this person", &a_id, activity["id"].as_str().unwrap()] {
            assert!(text.contains(s), "export holds {s}: {text}");
        }
        assert!(!text.contains("Bystander") && !text.contains("keep.me"), "nobody else's data: {text}");
        let exports = by_plugin(&audit(&api, "action=export"));
        assert!(exports.len() >= 4, "each exported record is an export entry: {exports:?}");
        assert!(exports.iter().all(|e| !e.to_string().contains("CanarylastSUBA")), "entries hold no values");

        // Erasure was not granted: refused, audited, nothing changed.
        let refused = run(&srv, &format!("op=erase&email={email}&reason=DSR-1"));
        assert!(refused["error"].as_str().unwrap_or("").contains("AccessDenied"), "{refused}");
        assert!(!by_plugin(&audit(&api, "outcome=denied")).is_empty());
        assert_eq!(api.get(&format!("/api/v1/records/contact/{a_id}")).body["fields"]["last_name"], "CanarylastSUBA");

        // Granted now, but a hold blocks it until released.
        let r = api.post("/api/v1/plugins/subjects/approve", &json!({"version": "1.0.0"}));
        assert_eq!(r.status, 200, "{}", r.text);
        let held = run(&srv, &format!("op=hold&email={email}&reason=Litigation%20LIT-7"));
        assert!(held.get("error").is_none(), "{held}");
        let blocked = run(&srv, &format!("op=erase&email={email}&reason=DSR-1"));
        assert!(blocked["error"].as_str().unwrap_or("").contains("Conflict"), "{blocked}");
        assert!(blocked["error"].as_str().unwrap().contains("hold"), "{blocked}");
        let denied_erasures: Vec<Value> = audit(&api, "action=subject.erase&outcome=denied");
        assert!(!denied_erasures.is_empty(), "a blocked erasure is on record");
        assert_eq!(api.get(&format!("/api/v1/records/contact/{a_id}")).body["fields"]["last_name"], "CanarylastSUBA");
        let released = run(&srv, &format!("op=release&email={email}"));
        assert_eq!(released["matches"][0]["released"], 1, "{released}");

        // A subject the plugin was never handed is refused, even with the grant.
        let sneaky = run(&srv, &format!("op=erase-unhanded&subject={b_subject}&reason=oops"));
        assert!(sneaky["error"].as_str().unwrap_or("").contains("AccessDenied"), "{sneaky}");

        // Erase.
        let erased = run(&srv, &format!("op=erase&email={email}&reason=DSR-1"));
        let receipts = erased["matches"].as_array().unwrap_or_else(|| panic!("{erased}"));
        assert_eq!(receipts.len(), 2, "{erased}");
        let ra = receipts.iter().find(|r| r["subject"] == a_subject.as_str()).unwrap();
        assert_eq!(ra["records"], 2, "contact and activity: {ra}");
        assert_eq!(ra["stored_values"], 1, "{ra}");
        assert!(ra["index_entries"].as_u64().unwrap() >= 3, "email, phone, mobile, national id: {ra}");

        // No path returns the personal fields any more.
        let now = api.get(&format!("/api/v1/records/contact/{a_id}"));
        assert_eq!(now.status, 200);
        assert_eq!(now.body["erased"], true, "{}", now.text);
        for f in ["first_name", "last_name", "email", "national_id", "birthday", "notes"] {
            assert!(now.body["fields"].get(f).is_none(), "{f} is gone: {}", now.text);
        }
        assert_eq!(now.body["fields"]["title"], "Buyer", "non-personal fields stay");
        let act = api.get(&format!("/api/v1/records/activity/{}", activity["id"].as_str().unwrap()));
        assert!(!act.text.contains("Canarycall"), "{}", act.text);
        let by_email = api.get("/api/v1/records/contact?filter.email=canary.SUBA@example.com");
        assert_eq!(by_email.body["records"].as_array().unwrap().len(), 0, "no blind index left: {}", by_email.text);
        let again = run(&srv, &format!("op=find&email={email}"));
        assert_eq!(again["matches"].as_array().unwrap().len(), 0, "{again}");
        let upd = api.patch(&format!("/api/v1/records/contact/{a_id}"), &json!({"fields": {"first_name": "Back"}}));
        assert_eq!(upd.status, 409, "an erased subject cannot be written again: {}", upd.text);
        let keys = inst.raw_query_strings(&format!(
            "SELECT k.state, k.wrapped FROM subjects s JOIN data_keys k ON k.id = s.key_id WHERE s.id = '{a_subject}'"
        ));
        assert_eq!(keys, vec![vec![Some("destroyed".to_string()), None]], "the key is gone");
        let left = inst.raw_query_strings(&format!("SELECT key FROM plugin_storage WHERE subject_id = '{a_subject}'"));
        assert!(left.is_empty(), "plugin values about the person are gone");

        // The bystander is untouched.
        let still = api.get(&format!("/api/v1/records/contact/{}", b["id"].as_str().unwrap()));
        assert_eq!(still.body["fields"]["first_name"], "Bystander");
        assert!(still.body.get("erased").is_none());

        let erasures = audit(&api, "action=subject.erase&outcome=allowed");
        assert_eq!(erasures.len(), 2, "{erasures:?}");
        assert!(erasures.iter().all(|e| !e["subject"].is_null() && !e.to_string().contains("canary")));
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(api.get("/api/v1/records/contact?limit=1").status, 200, "the host still serves");
        drop(srv);
    }
}
