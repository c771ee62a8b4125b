//! The data-subject request plugin (`plugins/dsr`): its legal clock's unit tests, and intake
//! through the real binary (public form, JSON and form posts, honeypot, tagging by subject).

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;

fn plugins_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins")
}

#[test]
fn the_legal_clock_passes_its_fixed_date_tests() {
    let out = nested_cargo(&plugins_dir(), &["test", "--locked", "-p", "capcrm-dsr", "--lib"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("gdpr_month_ends_and_weekends ... ok") && text.contains("ccpa_business_days_and_calendar_days ... ok"), "{text}");
}

#[test]
fn requests_are_taken_in_with_their_deadline() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let manifest = plugins_dir().join("dsr/plugin.toml");
        let out = inst.cli(&["plugin", "install", guest_wasm("capcrm-dsr").to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(inst.cli(&["plugin", "approve", "dsr"]).status.success());
        let srv = inst.start();
        let api = srv.client();
        let person = api.create("contact", json!({"last_name": "Requester", "email": "dsr.person@example.com"}));
        let http = reqwest::blocking::Client::new();
        let post = |ctype: &str, body: String| {
            let r = http.post(format!("{}/plugins/dsr/requests", srv.base)).header("content-type", ctype).body(body).send().unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().unwrap_or(Value::Null))
        };
        let (s, v) = post("application/json", json!({"regime": "gdpr", "kind": "erasure", "email": "dsr.person@example.com", "name": "R. Requester"}).to_string());
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["status"], "received");
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let respond_by = v["respond_by"].as_str().unwrap();
        assert!(respond_by > today.as_str() && respond_by.len() == 10, "a month from today, on a working day: {v}");
        let (s, v) = post("application/x-www-form-urlencoded", "regime=ccpa&kind=access&email=someone.else%40example.org".into());
        assert_eq!(s, 202, "{v}");
        assert!(v["acknowledge_by"].is_string(), "CCPA requests are acknowledged within 10 business days: {v}");
        let (s, _) = post("application/json", json!({"regime": "gdpr", "kind": "access", "email": "bot@example.com", "website": "http://spam"}).to_string());
        assert_eq!(s, 202, "a bot gets the same answer");
        let (s, v) = post("application/json", json!({"regime": "lgpd", "kind": "access", "email": "x@example.com"}).to_string());
        assert_eq!(s, 400, "{v}");
        let (s, _) = post("application/json", "{not json".into());
        assert_eq!(s, 400);

        let rows = inst.raw_query_strings("SELECT key, subject_id FROM plugin_storage WHERE plugin = 'dsr' ORDER BY key");
        assert_eq!(rows.len(), 2, "the bot's request is kept nowhere: {rows:?}");
        let tagged: Vec<_> = rows.iter().filter(|r| r[1].is_some()).collect();
        assert_eq!(tagged.len(), 1, "the known person's request is part of their data");
        assert_eq!(tagged[0][1].as_deref(), person["subject_id"].as_str());
        // The queue is for privacy officers; the host checks the route's permission.
        for (name, role) in [("officer", "privacy_officer"), ("seller", "sales")] {
            let r = api.post("/api/v1/users", &json!({"username": name, "password": "dsr test passphrase 5", "roles": [role]}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let officer = Api::login(&srv.base, "officer", "dsr test passphrase 5");
        let q = officer.get("/plugins/dsr/requests");
        assert_eq!(q.status, 200, "{}", q.text);
        let queue = q.body["requests"].as_array().unwrap();
        assert_eq!(queue.len(), 2, "{}", q.text);
        assert!(queue.iter().any(|e| e["regime"] == "gdpr" && e["kind"] == "erasure" && e["days_left"].as_i64().unwrap() >= 28));
        assert!(!q.text.contains("dsr.person@") && !q.text.contains("R. Requester"), "the queue leaves requesters out: {}", q.text);
        let seller = Api::login(&srv.base, "seller", "dsr test passphrase 5");
        let r = seller.get("/plugins/dsr/requests");
        assert_eq!(r.status, 403, "{}", r.text);
        let anonymous = http.get(format!("{}/plugins/dsr/requests", srv.base)).send().unwrap();
        assert_eq!(anonymous.status().as_u16(), 403);
        let refused = api.get("/api/v1/audit?action=plugin.route&outcome=denied&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(refused.iter().any(|e| e["actor"] == "seller"), "the refusal is on record");

        // The officer moves a request along; the law's one extension moves its deadline.
        let gdpr = queue.iter().find(|e| e["regime"] == "gdpr").unwrap().clone();
        let id = gdpr["id"].as_str().unwrap();
        let step = |to: &str| officer.post("/plugins/dsr/requests/transition", &json!({"id": id, "to": to, "note": "called the requester back"}));
        assert_eq!(step("completed").status, 409, "no skipping verification");
        let r = step("verifying");
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("verifying")), "{}", r.text);
        assert_eq!(seller.post("/plugins/dsr/requests/transition", &json!({"id": id, "to": "verified"})).status, 403);
        let r = officer.post("/plugins/dsr/requests/extend", &json!({"id": id, "reason": "complex request across five systems"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["extended"], true);
        assert!(r.body["respond_by"].as_str().unwrap() > gdpr["respond_by"].as_str().unwrap(), "two more months: {}", r.text);
        assert_eq!(officer.post("/plugins/dsr/requests/extend", &json!({"id": id, "reason": "again"})).status, 409, "one extension");
        assert_eq!(officer.post("/plugins/dsr/requests/transition", &json!({"id": "dsr-nope", "to": "verifying"})).status, 404);
        let moves = api.get("/api/v1/audit?action=plugin.note.dsr.status&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(moves.iter().any(|e| e["detail"].as_str().unwrap().contains("received -> verifying")));
        assert!(!moves.iter().any(|e| e.to_string().contains("called the requester back")), "notes stay out of the audit trail");
        let stored = inst.raw_query_strings("SELECT subject_id FROM plugin_storage WHERE plugin = 'dsr' AND subject_id IS NOT NULL");
        assert_eq!(stored.len(), 1, "a changed request stays tagged with its person");

        let notes = api.get("/api/v1/audit?action=plugin.note.dsr.received&limit=10").body["entries"].as_array().cloned().unwrap();
        assert_eq!(notes.len(), 2);
        assert!(!notes.iter().any(|n| n.to_string().contains("dsr.person@")), "no requester email in the audit trail");
        let finds = api.get("/api/v1/audit?action=subject.find&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(!finds.is_empty() && !finds.iter().any(|n| n.to_string().contains("dsr.person@")));
        drop(srv);
        assert!(inst.cli(&["audit", "verify"]).status.success());
    }
}
