//! The retention plugin (`plugins/retention`) through the real binary: policies per object, a dry
//! run that lists and changes nothing, a real run that erases and deletes through the same erasure
//! as a data-subject request, a hold reported as an exception, and every run on record.

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;

const DAY_MICROS: i64 = 86_400_000_000;

/// Makes a record look untouched for `days` (time passing, which a test cannot wait for).
fn age(inst: &Instance, id: &str, days: i64) {
    let then = chrono::Utc::now().timestamp_micros() - days * DAY_MICROS;
    assert_eq!(inst.raw_sql(&format!("UPDATE records SET updated_at = {then}, created_at = {then} WHERE id = '{id}'")), 1);
}

fn ids_with(report: &Value, result: &str) -> Vec<String> {
    let mut v: Vec<String> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["records"].as_array().unwrap().iter())
        .filter(|r| r["result"] == result)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// The policy checks and cut-offs, and the SDK's own tests (dates, forms, responses), run natively
/// in the plugin workspace: CI runs only this workspace's tests, so they are started from here.
#[test]
fn the_retention_rules_and_the_sdk_pass_their_unit_tests() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins");
    let out = nested_cargo(&plugins, &["test", "--locked", "-p", "capcrm-retention", "-p", "capcrm-plugin-sdk", "--lib"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for name in ["policies_are_checked ... ok", "cutoffs_fall_on_midnight_across_leap_years ... ok", "times_are_written_and_read_back ... ok"] {
        assert!(text.contains(name), "{name} missing: {text}");
    }
}

#[test]
fn retention_policies_erase_and_delete_what_is_due() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins/retention/plugin.toml");
        let out = inst.cli(&["plugin", "install", guest_wasm("capcrm-retention").to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(inst.cli(&["plugin", "approve", "retention"]).status.success());
        let srv = inst.start();
        let api = srv.client();
        for (name, role) in [("officer", "privacy_officer"), ("seller", "sales")] {
            let r = api.post("/api/v1/users", &json!({"username": name, "password": "retention passphrase 7", "roles": [role]}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let officer = Api::login(&srv.base, "officer", "retention passphrase 7");
        let seller = Api::login(&srv.base, "seller", "retention passphrase 7");

        let id = |v: Value| v["id"].as_str().unwrap().to_string();
        let stale_lead = id(api.create("lead", json!({"last_name": "Stalelead", "email": "stale.lead@example.com", "stage": "new"})));
        let qualified = id(api.create("lead", json!({"last_name": "Qualified", "stage": "qualified"})));
        let fresh_lead = id(api.create("lead", json!({"last_name": "Freshlead", "stage": "new"})));
        let idle = id(api.create("contact", json!({"last_name": "Idlecontact", "email": "idle@example.com", "lifecycle_stage": "former_customer"})));
        let active = id(api.create("contact", json!({"last_name": "Activecontact", "lifecycle_stage": "former_customer"})));
        let held = api.create("contact", json!({"last_name": "Heldcontact", "lifecycle_stage": "former_customer"}));
        let held_id = held["id"].as_str().unwrap().to_string();
        let recent = (chrono::Utc::now() - chrono::Duration::days(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        api.create("activity", json!({"kind": "call", "subject": "Renewal", "contact": active, "occurred_at": recent}));
        for (rid, days) in [(&stale_lead, 800), (&qualified, 800), (&idle, 2000), (&active, 2000), (&held_id, 2000)] {
            age(&inst, rid, days);
        }
        // A litigation hold on one person, as a privacy officer places it.
        let now = chrono::Utc::now().timestamp_micros();
        inst.raw_sql(&format!(
            "INSERT INTO subject_holds (id, subject_id, reason, placed_by, placed_at) VALUES ('hold-1', '{}', 'litigation', 'officer', {now})",
            held["subject_id"].as_str().unwrap()
        ));

        // Policies: only those who may erase people set them; bad ones are refused with the reason.
        let leads_policy = json!({"id": "stale-leads", "object": "lead", "action": "delete", "untouched_days": 730, "stages": ["new", "unqualified"]});
        assert_eq!(seller.post("/plugins/retention/policies", &leads_policy).status, 403);
        let r = officer.post("/plugins/retention/policies", &json!({"id": "x", "object": "lead", "action": "delete", "untouched_days": 7}));
        assert_eq!(r.status, 400, "{}", r.text);
        let r = officer.post("/plugins/retention/policies", &json!({"id": "x", "object": "lead", "action": "shred", "untouched_days": 700}));
        assert_eq!(r.status, 400, "{}", r.text);
        let r = officer.post("/plugins/retention/policies", &json!({"id": "x", "object": "deal", "action": "delete", "untouched_days": 700}));
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(officer.post("/plugins/retention/policies", &leads_policy).status, 200);
        let contacts_policy = json!({"id": "inactive-contacts", "object": "contact", "action": "erase", "untouched_days": 1825, "no_activity_days": 1825});
        assert_eq!(officer.post("/plugins/retention/policies", &contacts_policy).status, 200);
        assert_eq!(officer.get("/plugins/retention/policies").body["policies"].as_array().unwrap().len(), 2);

        // A dry run lists what would go and changes nothing.
        let dry = officer.post("/plugins/retention/runs", &json!({"dry_run": true}));
        assert_eq!(dry.status, 200, "{}", dry.text);
        let mut expected = vec![stale_lead.clone(), idle.clone(), held_id.clone()];
        expected.sort();
        assert_eq!(ids_with(&dry.body, "would_go"), expected, "{}", dry.text);
        assert_eq!(api.get(&format!("/api/v1/records/lead/{stale_lead}")).status, 200, "a dry run deletes nothing");
        assert!(officer.get("/plugins/retention/runs").body["runs"].as_array().unwrap().is_empty(), "dry runs keep no report");

        // The real run (by an administrator, who may also delete leads): the stale lead goes, the
        // idle contact is erased, the held one stays.
        let run = api.post("/plugins/retention/runs", &json!({}));
        assert_eq!(run.status, 200, "{}", run.text);
        assert_eq!(ids_with(&run.body, "deleted"), vec![stale_lead.clone()], "{}", run.text);
        assert_eq!(ids_with(&run.body, "erased"), vec![idle.clone()], "{}", run.text);
        assert_eq!(ids_with(&run.body, "blocked"), vec![held_id.clone()], "{}", run.text);
        assert_eq!(api.get(&format!("/api/v1/records/lead/{stale_lead}")).status, 404);
        let erased = api.get(&format!("/api/v1/records/contact/{idle}"));
        assert!(!erased.text.contains("Idlecontact") && !erased.text.contains("idle@example.com"), "{}", erased.text);
        assert_eq!(erased.body["fields"]["lifecycle_stage"], "former_customer", "internal fields stay for reports");
        assert!(api.get(&format!("/api/v1/records/contact/{held_id}")).text.contains("Heldcontact"), "a hold wins");
        assert!(api.get(&format!("/api/v1/records/contact/{active}")).text.contains("Activecontact"), "recent activity keeps a contact");
        assert!(api.get(&format!("/api/v1/records/lead/{qualified}")).text.contains("Qualified"), "stages narrow a policy");
        assert!(api.get(&format!("/api/v1/records/lead/{fresh_lead}")).text.contains("Freshlead"));
        let found = api.get("/api/v1/records/lead?email=stale.lead@example.com");
        assert!(!found.text.contains("Stalelead"), "{}", found.text);

        // The same selection through the REST API: leads untouched for two years.
        let cut = (chrono::Utc::now() - chrono::Duration::days(730)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let old = api.get(&format!("/api/v1/records/lead?filter.updated_at.lt={cut}"));
        let old_ids: Vec<&str> = old.body["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert_eq!(old_ids, vec![qualified.as_str()], "{}", old.text);
        assert_eq!(api.get("/api/v1/records/lead?filter.updated_at.lt=yesterday").status, 400);

        let runs = officer.get("/plugins/retention/runs").body["runs"].as_array().cloned().unwrap();
        assert_eq!(runs.len(), 1);
        let notes = api.get("/api/v1/audit?action=plugin.note.retention.run&limit=10").body["entries"].as_array().cloned().unwrap();
        assert_eq!(notes.len(), 2, "one note per policy run: {notes:?}");
        assert!(notes.iter().any(|n| n["detail"].as_str().unwrap().contains("1 blocked by a hold")), "{notes:?}");
        let erasures = api.get("/api/v1/audit?action=subject.erase&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(erasures.iter().filter(|e| e["outcome"] == "allowed").count() >= 2, "the lead's person and the idle contact: {erasures:?}");
        // A second run finds nothing new to do (the held contact stays blocked).
        let again = officer.post("/plugins/retention/runs", &json!({"policy": "stale-leads"}));
        assert_eq!(again.status, 200, "{}", again.text);
        assert!(ids_with(&again.body, "deleted").is_empty(), "{}", again.text);
        assert_eq!(officer.post("/plugins/retention/runs", &json!({"policy": "nope"})).status, 404);
        assert_eq!(officer.post("/plugins/retention/runs", &json!({"dry": true})).status, 400, "unknown fields are refused");
        drop(srv);
        assert!(inst.cli(&["audit", "verify"]).status.success());
    }
}
