//! The audit chain: tampering of any kind is detected and named; the privacy officer's questions.

use crate::common::*;
use serde_json::json;

fn verify(inst: &Instance) -> (bool, String) {
    let out = inst.cli(&["audit", "verify"]);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn tampering_is_detected_and_named() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        for i in 0..4 {
            let c = api.create("contact", json!({"last_name": format!("Audited{i}"), "email": format!("a{i}@example.com")}));
            api.get(&format!("/api/v1/records/contact/{}", c["id"].as_str().unwrap()));
        }
        srv.stop();
        let (ok, msg) = verify(&inst);
        assert!(ok, "intact chain passes: {msg}");
        let last: i64 = inst.raw_query_strings("SELECT CAST(MAX(seq) AS TEXT) FROM audit_log")[0][0].clone().unwrap().parse().unwrap();
        assert!(last >= 9);

        inst.raw_sql("CREATE TABLE audit_saved AS SELECT * FROM audit_log");
        inst.raw_sql("CREATE TABLE head_saved AS SELECT * FROM audit_head");
        let reset = || {
            inst.raw_sql("DELETE FROM audit_log");
            inst.raw_sql("INSERT INTO audit_log SELECT * FROM audit_saved");
            inst.raw_sql("DELETE FROM audit_head");
            inst.raw_sql("INSERT INTO audit_head SELECT * FROM head_saved");
            let (ok, msg) = verify(&inst);
            assert!(ok, "restored chain passes again: {msg}");
        };
        let cases: Vec<(&str, Vec<String>, String)> = vec![
            ("edit", vec!["UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3".into()], "entry 3".into()),
            ("edit outcome", vec!["UPDATE audit_log SET outcome = 'denied' WHERE seq = 5".into()], "entry 5".into()),
            ("delete", vec!["DELETE FROM audit_log WHERE seq = 4".into()], "entry 4".into()),
            (
                "reorder",
                vec![
                    "UPDATE audit_log SET seq = -1 WHERE seq = 2".into(),
                    "UPDATE audit_log SET seq = 2 WHERE seq = 3".into(),
                    "UPDATE audit_log SET seq = 3 WHERE seq = -1".into(),
                ],
                "entry 2".into(),
            ),
            ("truncate tail", vec![format!("DELETE FROM audit_log WHERE seq = {last}")], format!("entry {last}")),
            (
                "forged append",
                vec![
                    format!(
                        "INSERT INTO audit_log (seq, at, actor_kind, actor, action, fields, outcome, prev_hash, hash) \
                         SELECT {n}, at, 'user', 'admin', 'read', '', 'allowed', hash, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' FROM audit_log WHERE seq = {last}",
                        n = last + 1
                    ),
                    format!("UPDATE audit_head SET seq = {}, hash = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'", last + 1),
                ],
                format!("entry {}", last + 1),
            ),
        ];
        for (name, sqls, expect) in cases {
            for s in &sqls {
                inst.raw_sql(s);
            }
            let (ok, msg) = verify(&inst);
            assert!(!ok, "{name}: verify must fail ({backend:?})");
            assert!(msg.contains(&expect), "{name}: message must name {expect}: {msg}");
            reset();
        }
    }
}

#[test]
fn privacy_officer_questions() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let x = api.create("contact", json!({"last_name": "Subject X", "email": "x@example.com"}));
        let y = api.create("contact", json!({"last_name": "Subject Y"}));
        let xid = x["id"].as_str().unwrap();
        api.get(&format!("/api/v1/records/contact/{xid}"));
        api.patch(&format!("/api/v1/records/contact/{xid}"), &json!({"fields": {"title": "Director"}}));
        api.create("activity", json!({"kind": "call", "contact": xid, "body": "call notes"}));
        api.get(&format!("/api/v1/records/contact/{}", y["id"].as_str().unwrap()));

        // Everything about subject X: create, read, update of the contact and the activity's creation.
        let r = api.get(&format!("/api/v1/audit?subject={}", x["subject_id"].as_str().unwrap()));
        assert_eq!(r.status, 200, "{}", r.text);
        let entries = r.body["entries"].as_array().unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        for a in ["create", "read", "update"] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
        assert_eq!(entries.iter().filter(|e| e["object"] == "activity").count(), 1);
        assert!(entries.iter().all(|e| e["record_id"] != y["id"]), "nothing about Y");
        assert!(!r.text.contains("Subject X"), "entries never hold values");
        assert!(entries.iter().all(|e| e["subject"].as_str().unwrap().starts_with("ps_")), "subjects appear as pseudonyms");

        // Everything actor admin did in a time range.
        let from = "2000-01-01T00:00:00Z";
        let to = (chrono::Utc::now() + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let r = api.get(&format!("/api/v1/audit?actor=admin&from={from}&to={to}&limit=1000"));
        assert!(r.body["entries"].as_array().unwrap().len() >= 6, "{}", r.text);
        let r = api.get("/api/v1/audit?actor=admin&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z");
        assert_eq!(r.body["entries"].as_array().unwrap().len(), 0);
        // All denials; all exports (none yet).
        let r = api.get("/api/v1/audit?outcome=denied");
        assert_eq!(r.status, 200);
        let r = api.get("/api/v1/audit?action=export");
        assert_eq!(r.body["entries"].as_array().unwrap().len(), 0);
        // Paging newest first.
        let r = api.get("/api/v1/audit?limit=2");
        let before = r.body["next_before"].as_i64().unwrap();
        let r2 = api.get(&format!("/api/v1/audit?limit=2&before={before}"));
        assert!(r2.body["entries"][0]["seq"].as_i64().unwrap() < before);
        let r = api.get("/api/v1/audit?from=yesterday");
        assert_eq!(r.status, 400);
        let r = api.get("/api/v1/audit/verify");
        assert_eq!(r.body["intact"], true, "{}", r.text);
    }
}

