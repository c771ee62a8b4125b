//! Consent as a condition of a plugin's grant, enforced by the host: a plugin granted contacts for
//! a purpose reaches only the people who consent to it now, through every path.

use crate::common::*;
use serde_json::{Value, json};

fn manifest(extra: &str, object: &str) -> String {
    format!(
        r#"name = "mkt"
version = "1.0.0"
author = "capcrm tests"
description = "Sends campaigns."
purpose = "Marketing campaigns to people who agreed to them"
routes = ["GET /run public"]
events = ["record.updated:{object}"]
[access.{object}]
read = ["first_name"]
write = ["tags"]
{extra}
[limits]
memory_mb = 16
timeout_ms = 2000
host_calls = 100
"#
    )
}

fn consent(api: &Api, contact: &str, purpose: &str, granted: bool, at: &str) -> String {
    let c = api.create(
        "consent",
        json!({"contact": contact, "purpose": purpose, "granted": granted, "source": "web form", "policy_version": "2026-03", "recorded_at": at}),
    );
    c["id"].as_str().unwrap().to_string()
}

fn run(srv: &Server, id: &str) -> (u16, Value) {
    let r = reqwest::blocking::get(format!("{}/plugins/mkt/run?id={id}", srv.base)).unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn listed(srv: &Server, any_id: &str) -> Vec<String> {
    let (_, v) = run(srv, any_id);
    let mut ids: Vec<String> = v["listed"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn a_grant_for_a_purpose_reaches_only_people_who_consent() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let m = inst.dir.path().join("mkt.toml");
        let wasm = guest_wasm("guest-reader");
        let install = |text: String| {
            std::fs::write(&m, text).unwrap();
            inst.cli(&["plugin", "install", wasm.to_str().unwrap(), "--manifest", m.to_str().unwrap()])
        };
        let out = install(manifest(r#"consent = "marketing""#, "account").replace("first_name", "name").replace("record.updated:account", "record.created:account"));
        assert!(!out.status.success(), "accounts are about no person");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot depend on consent"), "{}", String::from_utf8_lossy(&out.stderr));
        let out = install(manifest(r#"consent = "Marketing!""#, "contact"));
        assert!(!out.status.success());
        let out = install(manifest(r#"consent = "marketing""#, "contact"));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let shown = String::from_utf8_lossy(&inst.cli(&["plugin", "show", "mkt"]).stdout).to_string();
        assert!(shown.contains("consent:contact=marketing"), "the approver sees the condition: {shown}");
        let out = inst.cli(&["plugin", "approve", "mkt", "--deny", "consent:contact=marketing"]);
        assert!(!out.status.success(), "a condition cannot be left out");
        assert!(inst.cli(&["plugin", "approve", "mkt"]).status.success());

        let srv = inst.start();
        let api = srv.client();
        let person = |n: &str| api.create("contact", json!({"first_name": n, "last_name": "Consent", "email": format!("{n}@example.com")}))["id"].as_str().unwrap().to_string();
        let (ada, bo, cy) = (person("ada"), person("bo"), person("cy"));
        consent(&api, &ada, "marketing", true, "2026-03-01T10:00:00Z");
        let bo_consent = consent(&api, &bo, "marketing", true, "2026-03-01T10:00:00Z");
        consent(&api, &cy, "newsletter", true, "2026-03-01T10:00:00Z");
        // Bo withdraws: the same record, stamped.
        let r = api.patch(&format!("/api/v1/records/consent/{bo_consent}"), &json!({"fields": {"withdrawn_at": "2026-03-05T09:00:00Z"}}));
        assert_eq!(r.status, 200, "{}", r.text);

        assert_eq!(listed(&srv, &ada), vec![ada.clone()], "only Ada consents to marketing");
        let (s, v) = run(&srv, &ada);
        assert_eq!((s, v["record"]["fields"]["first_name"].as_str()), (200, Some("ada")), "{v}");
        let (s, _) = run(&srv, &bo);
        assert_ne!(s, 200, "Bo withdrew: the plugin cannot reach him");
        let (s, _) = run(&srv, &cy);
        assert_ne!(s, 200, "Cy agreed to the newsletter, not to marketing");
        assert_eq!(api.get("/api/v1/records/contact?limit=10").body["records"].as_array().unwrap().len(), 3, "people are not conditioned");

        // Ada withdraws by a later record; Cy agrees to marketing.
        consent(&api, &ada, "marketing", false, "2026-04-01T10:00:00Z");
        consent(&api, &cy, "marketing", true, "2026-04-02T10:00:00Z");
        assert_eq!(listed(&srv, &cy), vec![cy.clone()]);
        // An older consent recorded later changes nothing: the latest decision wins.
        consent(&api, &ada, "marketing", true, "2026-03-15T10:00:00Z");
        assert_eq!(listed(&srv, &cy), vec![cy.clone()]);
        // Deleting the record that decided brings back the one before it.
        let cy_again = api.get(&format!("/api/v1/records/consent?limit=50")).body["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["fields"]["contact"] == cy.as_str() && r["fields"]["purpose"] == "marketing")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(api.delete(&format!("/api/v1/records/consent/{cy_again}")).status, 204);
        assert!(listed(&srv, &ada).is_empty(), "nobody consents to marketing now");

        // Events: the plugin hears only of changes to people who consent (Cy, again); it tags them.
        consent(&api, &cy, "marketing", true, "2026-05-01T10:00:00Z");
        for id in [&ada, &bo, &cy] {
            let r = api.patch(&format!("/api/v1/records/contact/{id}"), &json!({"fields": {"title": "Buyer"}}));
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let tags = |id: &str| api.get(&format!("/api/v1/records/contact/{id}")).body["fields"]["tags"].clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while tags(&cy) != json!(["seen"]) {
            assert!(std::time::Instant::now() < deadline, "the event about Cy never arrived: {}", srv.log());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let deliveries = inst.raw_query_strings("SELECT e.record_id FROM event_deliveries d JOIN record_events e ON e.id = d.event_id WHERE d.plugin = 'mkt'");
        assert!(deliveries.iter().all(|r| r[0].as_deref() == Some(cy.as_str())), "no event about anyone else: {deliveries:?}");
        assert_eq!(tags(&ada), Value::Null);
        assert_eq!(tags(&bo), Value::Null);

        drop(srv);
        assert!(inst.cli(&["audit", "verify"]).status.success());
    }
}
