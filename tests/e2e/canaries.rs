//! Plaintext of personal and sensitive fields reaches no disk, no log, no dump, no error message.

use crate::common::*;
use serde_json::json;

#[test]
fn canaries_appear_nowhere_in_plaintext() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let tag = format!("{}", uuid::Uuid::new_v4().simple())[..8].to_string();
        let mut ids = Vec::new();
        for i in 0..3 {
            let c = api.create("contact", canary_contact(&format!("{tag}{i}")));
            ids.push(c["id"].as_str().unwrap().to_string());
            api.create("activity", json!({"kind": "note", "contact": c["id"], "body": format!("Canarybody{tag}{i}")}));
        }
        api.create("lead", json!({"last_name": format!("Canarylast{tag}L"), "email": format!("canary.{tag}L@example.com")}));
        // The values travel through every path: reads, lists, filters in the query string, updates,
        // and rejected writes whose error must not echo them.
        for id in &ids {
            assert_eq!(api.get(&format!("/api/v1/records/contact/{id}")).status, 200);
        }
        let r = api.get(&format!("/api/v1/records/contact?filter.email=canary.{tag}0@example.com"));
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "{}", r.text);
        let r = api.patch(&format!("/api/v1/records/contact/{}", ids[0]), &json!({"fields": {"notes": format!("Canaryupdate{tag}")}}));
        assert_eq!(r.status, 200);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": format!("Canaryreject{tag}"), "email": format!("Canarybademail{tag}")}}));
        assert_eq!(r.status, 422);
        assert!(!r.text.contains(&tag), "an error echoed a value: {}", r.text);
        let r = api.send_raw("POST", "/api/v1/records/contact", Some(format!("{{\"fields\": {{\"last_name\": \"Canarysyntax{tag}\", ")), &[]);
        assert_eq!(r.status, 400);
        assert!(!r.text.contains(&tag), "an error echoed a value: {}", r.text);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": ["Canarytype", tag.clone()]}}));
        assert_eq!(r.status, 422);
        assert!(!r.text.contains(&tag), "an error echoed a value: {}", r.text);

        let log = srv.stop();
        let mut needles = Vec::new();
        for i in 0..3 {
            needles.extend(canary_strings(&format!("{tag}{i}")));
            needles.push(format!("Canarybody{tag}{i}"));
        }
        needles.push(format!("Canarylast{tag}L"));
        needles.push(format!("Canaryupdate{tag}"));
        needles.push(format!("Canaryreject{tag}"));
        needles.push(format!("Canarybademail{tag}"));
        needles.push(format!("Canarysyntax{tag}"));

        assert!(log.contains("request"), "the server logged at debug level (the check below must mean something)");
        for n in &needles {
            assert!(!log.contains(n.as_str()), "server log contains canary {n}");
        }
        match backend {
            Backend::Sqlite => {
                let files = files_under(&inst.data_dir);
                assert!(files.iter().any(|f| f.ends_with("capcrm.db")));
                for f in files {
                    let bytes = std::fs::read(&f).unwrap();
                    for n in &needles {
                        assert!(!contains_bytes(&bytes, n), "{} contains canary {n}", f.display());
                    }
                }
            }
            Backend::Postgres => {
                let url = inst.database_url().unwrap();
                let out = std::process::Command::new("pg_dump").arg(&url).output().expect("pg_dump (install postgresql-client)");
                assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
                assert!(out.stdout.len() > 10_000, "the dump holds the data");
                for n in &needles {
                    assert!(!contains_bytes(&out.stdout, n), "pg_dump contains canary {n}");
                }
            }
        }
    }
}

#[test]
fn swapped_ciphertexts_fail_with_an_integrity_error() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let a = api.create("contact", json!({"last_name": "Alpha", "email": "alpha@example.com", "phone": "+1 202 555 0101"}));
        let b = api.create("contact", json!({"last_name": "Bravo", "email": "bravo@example.com", "phone": "+1 202 555 0102"}));
        let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
        let sealed = |id: &str| inst.raw_query_strings(&format!("SELECT sealed FROM records WHERE id = '{id}'"))[0][0].clone().unwrap();
        let (sa, sb) = (sealed(a_id), sealed(b_id));

        // Between records (with their keys): each now holds the other's ciphertexts.
        inst.raw_sql(&format!("UPDATE records SET sealed = '{sb}' WHERE id = '{a_id}'"));
        inst.raw_sql(&format!("UPDATE records SET sealed = '{sa}' WHERE id = '{b_id}'"));
        for id in [a_id, b_id] {
            let r = api.get(&format!("/api/v1/records/contact/{id}"));
            assert_eq!(r.body["error"]["code"], "integrity_error", "{}", r.text);
            assert!(r.status >= 400);
            assert!(!r.text.contains("bravo") && !r.text.contains("alpha"), "{}", r.text);
        }
        let r = api.get("/api/v1/records/contact");
        assert_eq!(r.body["error"]["code"], "integrity_error", "lists fail too: {}", r.text);

        // Between fields of one record.
        inst.raw_sql(&format!("UPDATE records SET sealed = '{sa}' WHERE id = '{a_id}'"));
        inst.raw_sql(&format!("UPDATE records SET sealed = '{sb}' WHERE id = '{b_id}'"));
        assert_eq!(api.get(&format!("/api/v1/records/contact/{a_id}")).status, 200, "restored ciphertexts read again");
        let mut m: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&sa).unwrap();
        let (e, p) = (m["email"].clone(), m["phone"].clone());
        m.insert("email".into(), p);
        m.insert("phone".into(), e);
        inst.raw_sql(&format!("UPDATE records SET sealed = '{}' WHERE id = '{a_id}'", serde_json::Value::Object(m)));
        let r = api.get(&format!("/api/v1/records/contact/{a_id}"));
        assert_eq!(r.body["error"]["code"], "integrity_error", "{}", r.text);

        // The failures are in the audit trail, and the chain still verifies.
        let r = api.get("/api/v1/audit?outcome=failed");
        assert!(r.body["entries"].as_array().unwrap().len() >= 3, "{}", r.text);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}
