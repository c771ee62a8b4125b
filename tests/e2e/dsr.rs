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
        let maildir = tempfile::tempdir().unwrap();
        let mut serve = inst.command(&["serve", "--listen", "127.0.0.1:0", "--mail", &format!("dir:{}", maildir.path().display())]);
        serve.env("CAPCRM_MAIL_TICK_MS", "100");
        let srv = Server::start(serve);
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
        assert_eq!(v["status"], "verifying", "a code goes to the address given: {v}");
        let first_id = v["id"].as_str().unwrap().to_string();
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
        assert_eq!(rows.len(), 4, "a request and its requester's details, twice; the bot's request is kept nowhere: {rows:?}");
        let tagged: Vec<_> = rows.iter().filter(|r| r[1].is_some()).collect();
        assert_eq!(tagged.len(), 1, "the known person's details are part of their data");
        assert!(tagged[0][0].as_deref().unwrap().starts_with("pd/"), "{rows:?}");

        // The host mails the code (in its own words); a wrong code is refused, the right one verifies.
        let code = wait_for_code(maildir.path(), "dsr.person@example.com");
        let verify = |code: &str| {
            let r = http.post(format!("{}/plugins/dsr/requests/verify", srv.base)).json(&json!({"id": first_id, "code": code})).send().unwrap();
            r.status().as_u16()
        };
        let wrong = if code == "000000" { "111111" } else { "000000" };
        assert_eq!(verify(wrong), 400);
        assert_eq!(verify(&code), 200);
        assert_eq!(verify(&code), 409, "a request is verified once");
        let sent = inst.raw_query_strings("SELECT state, sealed FROM notification_outbox WHERE channel = 'verification'");
        assert!(sent.iter().all(|r| r[1].as_deref() == Some("")), "a sent message's text is gone from the outbox: {sent:?}");
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
        assert_eq!(step("completed").status, 409, "no skipping a step");
        let r = step("in_progress");
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("in_progress")), "{}", r.text);
        let ccpa = queue.iter().find(|e| e["regime"] == "ccpa").unwrap()["id"].as_str().unwrap().to_string();
        let r = officer.post("/plugins/dsr/requests/transition", &json!({"id": ccpa, "to": "verified"}));
        assert_eq!(r.status, 409, "only the requester's code verifies: {}", r.text);
        assert_eq!(seller.post("/plugins/dsr/requests/transition", &json!({"id": id, "to": "completed"})).status, 403);
        let r = officer.post("/plugins/dsr/requests/extend", &json!({"id": id, "reason": "complex request across five systems"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["extended"], true);
        assert!(r.body["respond_by"].as_str().unwrap() > gdpr["respond_by"].as_str().unwrap(), "two more months: {}", r.text);
        assert_eq!(officer.post("/plugins/dsr/requests/extend", &json!({"id": id, "reason": "again"})).status, 409, "one extension");
        assert_eq!(officer.post("/plugins/dsr/requests/transition", &json!({"id": "dsr-nope", "to": "verifying"})).status, 404);
        let moves = api.get("/api/v1/audit?action=plugin.note.dsr.status&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(moves.iter().any(|e| e["detail"].as_str().unwrap().contains("verified -> in_progress")), "{moves:?}");
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

/// Waits for the host's message to `to` in the mail pickup directory and reads the code out of it.
fn wait_for_code(dir: &Path, to: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if !raw.contains(to) {
                continue;
            }
            if let Some(code) = code_in(&raw) {
                return code;
            }
            // A base64 body: decode it and look again.
            let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().replace(['\r', '\n'], "");
            use base64::Engine as _;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) {
                if let Some(code) = code_in(&String::from_utf8_lossy(&bytes)) {
                    return code;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "no verification message to {to} in {}", dir.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn code_in(text: &str) -> Option<String> {
    let at = text.find("verification code is ")? + "verification code is ".len();
    let digits: String = text[at..].chars().take(6).collect();
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}
