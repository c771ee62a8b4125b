//! People and access through the real HTTP API: for each seeded role, each object, each field
//! class and each read path, what is visible, masked or refused; record scopes (own, team, all)
//! and ids of other teams' records; reveal with a reason; disabling a user.
//!
//! The expected outcomes are written out here, independently of the role definitions in the
//! host, so that a change to a role that widens access fails this test.

use crate::common::*;
use serde_json::{Value, json};

/// What a caller gets for one field of a record they can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Clear,
    Masked,
    Hidden,
}
use Seen::{Clear, Hidden, Masked};

const PASSWORD: &str = "matrix test passphrase 42";

struct World {
    users: Vec<(&'static str, Api, String)>,
    contact_east: String,
    contact_west: String,
    lead_east: String,
    deal_east: String,
    account: String,
    activity_east: String,
}

impl World {
    fn api(&self, who: &str) -> &Api {
        &self.users.iter().find(|(n, _, _)| *n == who).unwrap().1
    }
    fn id(&self, who: &str) -> &str {
        &self.users.iter().find(|(n, _, _)| *n == who).unwrap().2
    }
}

fn setup(srv: &Server) -> World {
    let admin = srv.client();
    for t in ["east", "west"] {
        let r = admin.post("/api/v1/teams", &json!({ "name": t }));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let people: [(&str, &str, &[&str]); 6] = [
        ("sales_e", "sales", &["east"]),
        ("sales_w", "sales", &["west"]),
        ("mgr_e", "manager", &["east"]),
        ("support1", "support", &[]),
        ("dpo", "privacy_officer", &[]),
        ("aud", "auditor", &[]),
    ];
    let mut users = vec![("admin", admin.clone(), String::new())];
    for (name, role, teams) in people {
        let r = admin.post("/api/v1/users", &json!({"username": name, "password": PASSWORD, "roles": [role], "teams": teams}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        users.push((name, Api::login(&srv.base, name, PASSWORD), id));
    }
    let owner = |n: &str| users.iter().find(|(u, _, _)| *u == n).unwrap().2.clone();
    let create = |object: &str, fields: Value, owner_id: &str| -> String {
        let r = admin.post(&format!("/api/v1/records/{object}"), &json!({"fields": fields, "owner_id": owner_id}));
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    };
    let contact_east = create("contact", canary_contact("EAST"), &owner("sales_e"));
    let contact_west = create("contact", canary_contact("WEST"), &owner("sales_w"));
    let lead_east = create("lead", json!({"last_name": "Leadlast", "email": "lead.east@example.com", "phone": "+1 415 555 0101", "stage": "new"}), &owner("sales_e"));
    let account = {
        let r = admin.create("account", json!({"name": "Acme Industrial", "annual_revenue": 1200000}));
        r["id"].as_str().unwrap().to_string()
    };
    let deal_east = create("deal", json!({"name": "Acme renewal", "amount": 50000, "account": account}), &owner("sales_e"));
    let activity_east = create("activity", json!({"kind": "call", "body": "Canarycallbody EAST", "contact": contact_east}), &owner("sales_e"));
    World { users, contact_east, contact_west, lead_east, deal_east, account, activity_east }
}

fn seen(record: &Value, field: &str) -> Seen {
    let masked = record["masked"].as_array().is_some_and(|m| m.iter().any(|f| f == field));
    match (record["fields"].get(field), masked) {
        (None, _) => Hidden,
        (Some(_), true) => Masked,
        (Some(_), false) => Clear,
    }
}

/// The canary value of a contact field planted by `canary_contact(tag)`.
fn canary(field: &str, tag: &str) -> String {
    match field {
        "last_name" => format!("Canarylast{tag}"),
        "national_id" => format!("CANARYID{tag}"),
        "phone" => "139 7531 8642".into(),
        "email" => format!("canary.{tag}@example.com"),
        "title" => "Buyer".into(),
        other => panic!("no canary for {other}"),
    }
}

/// Contact fields by class: internal, personal, personal (masked for sales roles), sensitive.
const CONTACT_FIELDS: [&str; 5] = ["title", "last_name", "email", "phone", "national_id"];

/// (role user, reaches the east contact, how the role shows contacts' [title, last_name, email,
/// phone, national_id]).
fn contact_matrix() -> Vec<(&'static str, bool, [Seen; 5])> {
    vec![
        ("admin", true, [Clear, Clear, Clear, Clear, Clear]),
        ("mgr_e", true, [Clear, Clear, Clear, Masked, Masked]),
        ("sales_e", true, [Clear, Clear, Clear, Masked, Hidden]),
        ("sales_w", false, [Clear, Clear, Clear, Masked, Hidden]),
        ("support1", true, [Clear, Clear, Clear, Clear, Hidden]),
        ("dpo", true, [Clear, Clear, Clear, Clear, Masked]),
        ("aud", false, [Hidden; 5]),
    ]
}

#[test]
fn permission_matrix_over_every_read_path() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let w = setup(&srv);
        let ce = &w.contact_east;

        for (who, reaches, expect) in contact_matrix() {
            let api = w.api(who);
            // Read by id.
            let r = api.get(&format!("/api/v1/records/contact/{ce}"));
            if !reaches {
                assert!(r.status == 404 || r.status == 403, "{who} must not read another team's contact: {} {}", r.status, r.text);
                assert!(!r.text.contains("EAST"), "{who}: the refusal holds no value: {}", r.text);
            } else {
                assert_eq!(r.status, 200, "{who}: {}", r.text);
                for (f, e) in CONTACT_FIELDS.iter().zip(expect) {
                    assert_eq!(seen(&r.body, f), e, "{who} reads contact.{f} by id: {}", r.text);
                    if e != Clear {
                        assert!(!r.text.contains(&canary(f, "EAST")), "{who}: {f} value leaks: {}", r.text);
                    }
                }
            }
            // List: the record is there exactly when the scope reaches it, with the same fields.
            let r = api.get("/api/v1/records/contact?limit=200");
            if who == "aud" {
                assert_eq!(r.status, 403, "{who} lists no contacts: {}", r.text);
            } else {
                assert_eq!(r.status, 200, "{who}: {}", r.text);
                let listed = r.body["records"].as_array().unwrap();
                let found = listed.iter().find(|x| x["id"] == ce.as_str());
                assert_eq!(found.is_some(), reaches, "{who} lists the east contact");
                if let Some(x) = found {
                    for (f, e) in CONTACT_FIELDS.iter().zip(expect) {
                        assert_eq!(seen(x, f), e, "{who} lists contact.{f}");
                    }
                }
                let west_listed = listed.iter().any(|x| x["id"] == w.contact_west.as_str());
                assert_eq!(west_listed, matches!(who, "admin" | "support1" | "dpo" | "sales_w"), "{who} lists the west contact");
                for f in ["phone", "national_id"] {
                    if !matches!(who, "admin" | "support1" | "dpo") || (f == "national_id" && who != "admin") {
                        assert!(!r.text.contains(&canary(f, "EAST")) && !r.text.contains(&canary(f, "WEST")), "{who}: {f} leaks in a list");
                    }
                }
            }
            // Filters: only on fields read in clear (a filter on a masked or hidden field is an
            // oracle), and never past the record scope.
            for (i, f) in CONTACT_FIELDS.iter().enumerate() {
                if *f == "title" || *f == "last_name" {
                    continue;
                }
                let value = match *f {
                    "phone" => "+86 139 7531 8642".to_string(),
                    other => canary(other, "EAST"),
                };
                let q: String = url_encode(&value);
                let r = api.get(&format!("/api/v1/records/contact?filter.{f}={q}"));
                let clear = expect[i] == Clear;
                if who == "aud" {
                    assert_eq!(r.status, 403, "{who} filters contact.{f}");
                } else if clear {
                    assert_eq!(r.status, 200, "{who} filters on contact.{f}: {}", r.text);
                    let hits = r.body["records"].as_array().unwrap();
                    assert_eq!(hits.iter().any(|x| x["id"] == ce.as_str()), reaches, "{who} finds by {f} only within scope");
                } else {
                    assert_eq!(r.status, 403, "{who} may not filter on contact.{f}: {}", r.text);
                    assert!(!r.text.contains(&value), "the refusal does not echo the value");
                }
            }
        }

        // Other objects: scope and object grants.
        let objects: [(&str, &String, &[&str]); 4] = [
            ("lead", &w.lead_east, &["admin", "mgr_e", "sales_e", "dpo"]),
            ("deal", &w.deal_east, &["admin", "mgr_e", "sales_e", "dpo"]),
            ("account", &w.account, &["admin", "mgr_e", "sales_e", "sales_w", "support1", "dpo"]),
            ("activity", &w.activity_east, &["admin", "mgr_e", "sales_e", "support1", "dpo"]),
        ];
        for (object, id, readers) in objects {
            for (who, api, _) in &w.users {
                let r = api.get(&format!("/api/v1/records/{object}/{id}"));
                let ok = readers.contains(who);
                assert_eq!(r.status == 200, ok, "{who} reads {object}: {} {}", r.status, r.text);
                if !ok {
                    assert!(r.status == 403 || r.status == 404, "{who} {object}: {}", r.status);
                }
            }
        }
        // The activity's body is personal: hidden from nobody who reads it, except as their role says.
        let act = w.api("sales_e").get(&format!("/api/v1/records/activity/{}", w.activity_east));
        assert_eq!(seen(&act.body, "body"), Clear);
        // Account phone is internal: sales read it; nobody reaches the lead's phone unmasked but admin and dpo.
        let lead = w.api("sales_e").get(&format!("/api/v1/records/lead/{}", w.lead_east));
        assert_eq!(seen(&lead.body, "phone"), Masked, "{}", lead.text);
        assert!(!lead.text.contains("555 0101"));

        // The audit trail: auditors, privacy officers and admins; nobody else.
        for (who, api, _) in &w.users {
            let r = api.get("/api/v1/audit?limit=5");
            assert_eq!(r.status == 200, matches!(*who, "admin" | "dpo" | "aud"), "{who} reads the audit trail: {}", r.status);
            let v = api.get("/api/v1/audit/verify");
            assert_eq!(v.status == 200, matches!(*who, "admin" | "dpo" | "aud"), "{who} verifies the chain");
        }
        let all = w.api("aud").get("/api/v1/audit?limit=1000");
        assert!(!all.text.contains("EAST") && !all.text.contains("139 7531"), "audit entries hold no values");

        // Reveal: managers may, with a reason, and the reveal is on record; sales may not.
        let r = w.api("sales_e").post(&format!("/api/v1/records/contact/{ce}/reveal"), &json!({"field": "phone", "reason": "returning a call"}));
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(!r.text.contains("8642"));
        let r = w.api("mgr_e").post(&format!("/api/v1/records/contact/{ce}/reveal"), &json!({"field": "phone", "reason": ""}));
        assert_eq!(r.status, 400, "a reveal needs a reason: {}", r.text);
        let r = w.api("mgr_e").post(&format!("/api/v1/records/contact/{ce}/reveal"), &json!({"field": "phone", "reason": "customer escalation 7781"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["value"], "+86 139 7531 8642");
        let r = w.api("mgr_e").post(&format!("/api/v1/records/contact/{}/reveal", w.contact_west), &json!({"field": "phone", "reason": "curious"}));
        assert_eq!(r.status, 404, "no reveal past the record scope: {}", r.text);
        let r = w.api("dpo").post(&format!("/api/v1/records/contact/{ce}/reveal"), &json!({"field": "national_id", "reason": "identity check for DSR-12"}));
        assert_eq!(r.body["value"], "CANARYIDEAST", "{}", r.text);
        let reveals = w.api("aud").get("/api/v1/audit?action=reveal&limit=50").body["entries"].as_array().cloned().unwrap();
        assert_eq!(reveals.iter().filter(|e| e["outcome"] == "allowed").count(), 2, "{reveals:?}");
        assert!(reveals.iter().any(|e| e["actor"] == "mgr_e" && e["detail"].as_str().unwrap().contains("customer escalation 7781") && e["fields"] == json!(["phone"])));
        assert!(reveals.iter().any(|e| e["actor"] == "sales_e" && e["outcome"] == "denied"));

        // Writes follow the same scopes: another team's record is not found.
        let r = w.api("sales_w").patch(&format!("/api/v1/records/contact/{ce}"), &json!({"fields": {"title": "Hijacked"}}));
        assert_eq!(r.status, 404, "{}", r.text);
        let r = w.api("sales_w").delete(&format!("/api/v1/records/contact/{ce}"));
        assert_eq!(r.status, 403, "sales may not delete: {}", r.text);
        let r = w.api("support1").patch(&format!("/api/v1/records/contact/{ce}"), &json!({"fields": {"title": "Changed"}}));
        assert_eq!(r.status, 403, "{}", r.text);
        let r = w.api("sales_e").patch(&format!("/api/v1/records/contact/{ce}"), &json!({"fields": {"national_id": "X999"}}));
        assert_eq!(r.status, 403, "no write to a hidden field: {}", r.text);
        let r = w.api("sales_e").patch(&format!("/api/v1/records/contact/{ce}"), &json!({"fields": {"title": "Head buyer"}}));
        assert_eq!(r.status, 200, "{}", r.text);
        // Handing a record to someone outside one's own scope is refused.
        let r = w.api("sales_e").post("/api/v1/records/contact", &json!({"fields": {"last_name": "Gift"}, "owner_id": w.id("sales_w")}));
        assert_eq!(r.status, 403, "{}", r.text);
        let r = w.api("mgr_e").patch(&format!("/api/v1/records/contact/{ce}"), &json!({"fields": {}, "owner_id": w.id("sales_w")}));
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(w.api("admin").get(&format!("/api/v1/records/contact/{ce}")).body["owner_id"], w.id("sales_e"));

        // Search by identifier: only fields the caller reads in clear take part, within scope.
        let searches: [(&str, &str, &[&str]); 3] = [
            ("email", "canary.EAST@example.com", &["admin", "mgr_e", "sales_e", "support1", "dpo"]),
            ("phone", "+86 139 7531 8642", &["admin", "support1", "dpo"]),
            ("national_id", "CANARYIDEAST", &["admin"]),
        ];
        for (label, term, finders) in searches {
            for (who, api, _) in &w.users {
                let r = api.get(&format!("/api/v1/records/contact?q={}", url_encode(term)));
                if *who == "aud" {
                    assert_eq!(r.status, 403);
                    continue;
                }
                assert_eq!(r.status, 200, "{who} searches: {}", r.text);
                let found = r.body["records"].as_array().unwrap().iter().any(|x| x["id"] == ce.as_str());
                assert_eq!(found, finders.contains(who), "{who} finds the east contact by {label}");
            }
        }

        // Change history: who changed what, naming only fields the caller may see.
        for (who, api, _) in &w.users {
            let r = api.get(&format!("/api/v1/records/contact/{ce}/history"));
            match *who {
                "aud" => assert_eq!(r.status, 403, "{who}"),
                "sales_w" => assert_eq!(r.status, 404, "{who}: {}", r.text),
                _ => {
                    assert_eq!(r.status, 200, "{who}: {}", r.text);
                    let changes = r.body["changes"].as_array().unwrap();
                    assert_eq!(changes.iter().map(|c| c["action"].as_str().unwrap()).collect::<Vec<_>>(), vec!["update", "create"], "{who}: {}", r.text);
                    assert_eq!(changes[0]["actor"], "sales_e");
                    assert_eq!(changes[0]["fields"], json!(["title"]));
                    let created: Vec<&str> = changes[1]["fields"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
                    assert_eq!(created.contains(&"national_id"), matches!(*who, "admin" | "mgr_e" | "dpo"), "{who} sees national_id named: {created:?}");
                    assert!(!r.text.contains("EAST"), "history holds no values");
                }
            }
        }

        // Administration is for administrators.
        for (who, api, _) in &w.users {
            let r = api.get("/api/v1/users");
            assert_eq!(r.status == 200, *who == "admin", "{who} lists users");
            let r = api.get("/api/v1/plugins");
            assert_eq!(r.status == 200, *who == "admin", "{who} lists plugins");
        }
        // Exports: only roles with the export action, within their scope, fields as they see them.
        for (who, api, _) in &w.users {
            let r = api.post("/api/v1/exports", &json!({"object": "contact", "format": "csv"}));
            let may = matches!(*who, "admin" | "mgr_e");
            assert_eq!(r.status == 201, may, "{who} exports contacts: {} {}", r.status, r.text);
            if !may {
                assert_eq!(r.status, 403, "{who}: {}", r.text);
                continue;
            }
            let id = r.body["id"].as_str().unwrap();
            let csv = api.get(&format!("/api/v1/exports/{id}/download")).text;
            assert!(csv.contains("CanarylastEAST"), "{who}: {csv}");
            assert_eq!(csv.contains("CanarylastWEST"), *who == "admin", "{who} exports within scope");
            assert_eq!(csv.contains("CANARYIDEAST"), *who == "admin", "{who}: national_id as the role shows it");
            assert_eq!(csv.contains("139 7531 8642"), *who == "admin", "{who}: phone as the role shows it");
        }

        // A plugin acting for a person sees no more than that person: their record scope and
        // their fields, intersected with its grant (it was granted national_id; sales have none).
        let manifest = inst.dir.path().join("reader.toml");
        std::fs::write(&manifest, r#"name = "reader"
version = "1.0.0"
author = "capcrm tests"
description = "Reads a contact for the signed-in user."
purpose = "Testing plugins acting for people"
routes = ["GET /run"]
[access.contact]
read = ["first_name", "national_id"]
masked = ["email"]
"#).unwrap();
        let out = inst.cli(&["plugin", "install", guest_wasm("guest-reader").to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(inst.cli(&["plugin", "approve", "reader"]).status.success());
        let via = |who: &str| w.api(who).get(&format!("/plugins/reader/run?id={ce}"));
        let r = via("sales_e");
        assert_eq!(r.status, 200, "{}", r.text);
        let fields = r.body["record"]["fields"].as_object().unwrap();
        assert_eq!(fields["first_name"], "CanaryfirstEAST");
        assert!(fields.get("national_id").is_none(), "the person's own access bounds the plugin: {}", r.text);
        assert_eq!(r.body["record"]["masked"], json!(["email"]));
        assert!(!r.text.contains("CANARYIDEAST") && !r.text.contains("canary.EAST@"), "{}", r.text);
        let r = via("admin");
        assert_eq!(r.body["record"]["fields"]["national_id"], "CANARYIDEAST", "{}", r.text);
        let r = via("sales_w");
        assert_ne!(r.status, 200, "another team's contact is out of reach through a plugin too: {}", r.text);
        assert!(!r.text.contains("EAST"), "{}", r.text);
        let listed = via("sales_w");
        assert!(!listed.text.contains(ce.as_str()) || listed.status != 200);

        let denied = w.api("aud").get("/api/v1/audit?outcome=denied&limit=1000").body["entries"].as_array().cloned().unwrap();
        assert!(denied.iter().any(|e| e["actor"] == "sales_w" && e["detail"] == "outside the caller's record scope"), "IDOR attempts are on record");
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn disabling_a_user_ends_every_session_at_once() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let r = admin.post("/api/v1/users", &json!({"username": "leaver", "password": PASSWORD, "roles": ["sales"]}));
        assert_eq!(r.status, 201, "{}", r.text);
        let leaver_id = r.body["id"].as_str().unwrap().to_string();
        let r = admin.post("/api/v1/users", &json!({"username": "heir", "password": PASSWORD, "roles": ["sales"]}));
        let heir_id = r.body["id"].as_str().unwrap().to_string();
        let heir = Api::login(&srv.base, "heir", PASSWORD);
        // Two sessions of the leaver, and a record they own.
        let t1 = Api::login(&srv.base, "leaver", PASSWORD);
        let t2 = Api::login(&srv.base, "leaver", PASSWORD);
        let rec = t1.create("contact", json!({"last_name": "Customer of the leaver"}));
        let rec_id = rec["id"].as_str().unwrap();
        assert_eq!(heir.get(&format!("/api/v1/records/contact/{rec_id}")).status, 404, "not the heir's yet");
        assert_eq!(t2.get("/api/v1/records/contact?limit=1").status, 200);

        let r = admin.patch(&format!("/api/v1/users/{leaver_id}"), &json!({"disabled": true, "reassign_to": heir_id}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["disabled"], true);
        for t in [&t1, &t2] {
            let r = t.get("/api/v1/records/contact?limit=1");
            assert_eq!(r.status, 401, "every token of a disabled user fails at once: {}", r.text);
        }
        let http = reqwest::blocking::Client::new();
        let r = http.post(format!("{}/api/v1/auth/token", srv.base)).json(&json!({"username": "leaver", "password": PASSWORD})).send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "and no new one is issued");
        let got = heir.get(&format!("/api/v1/records/contact/{rec_id}"));
        assert_eq!(got.status, 200, "the records went to the heir: {}", got.text);
        // Nobody but an administrator changes users; a user cannot disable themselves.
        let r = heir.patch(&format!("/api/v1/users/{heir_id}"), &json!({"roles": ["admin"]}));
        assert_eq!(r.status, 403, "{}", r.text);
        let me = admin.get("/api/v1/me").body;
        let r = admin.patch(&format!("/api/v1/users/{}", me["user_id"].as_str().unwrap()), &json!({"disabled": true}));
        assert_eq!(r.status, 400, "{}", r.text);
        // The same for operators, from the command line.
        let mut add = inst.command(&["user", "add", "cli_made", "--role", "support", "--team", "Ops"]);
        add.env("CAPCRM_NEW_PASSWORD", PASSWORD);
        let out = add.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD), "a given password is not echoed");
        let cli_user = Api::login(&srv.base, "cli_made", PASSWORD);
        assert_eq!(cli_user.get("/api/v1/records/contact?limit=1").status, 200);
        let listed = String::from_utf8(inst.cli(&["user", "list"]).stdout).unwrap();
        assert!(listed.contains("cli_made") && listed.contains("support") && listed.contains("Ops"), "{listed}");
        assert!(inst.cli(&["user", "disable", "cli_made"]).status.success());
        assert_eq!(cli_user.get("/api/v1/me").status, 401);
        assert!(!inst.cli(&["user", "disable", "nobody_here"]).status.success());

        // Reports: accounts unused for a while, and who can see which sensitive field.
        let r = admin.get("/api/v1/reports/inactive-users?days=1");
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body.as_array().unwrap().is_empty(), "everyone here is new: {}", r.text);
        inst.raw_sql(&format!("UPDATE users SET last_login_at = 1, created_at = 1 WHERE id = '{heir_id}'"));
        let r = admin.get("/api/v1/reports/inactive-users?days=30");
        let names: Vec<&str> = r.body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["heir"], "disabled accounts are not listed, dormant ones are: {}", r.text);
        let r = admin.get("/api/v1/reports/field-access");
        assert_eq!(r.status, 200, "{}", r.text);
        let nid = r.body.as_array().unwrap().iter().find(|e| e["object"] == "contact" && e["field"] == "national_id").unwrap().clone();
        let viewers: Vec<&str> = nid["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        assert_eq!(viewers, vec!["admin"], "sales and support see no national id, the leaver is disabled: {nid}");
        assert_eq!(heir.get("/api/v1/reports/field-access").status, 403);
        let updates = admin.get("/api/v1/audit?action=user.update&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(updates.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("token(s) revoked")), "{updates:?}");
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success());
    }
}

#[test]
fn sorting_pages_in_order_and_obeys_field_access() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let w = setup(&srv);
        let admin = w.api("admin");
        for (i, amount) in [Some(5.0), Some(1.0), Some(3.5), None, Some(2.0), Some(40.0), Some(1.0)].into_iter().enumerate() {
            let stage = ["proposal", "negotiation", "closed_won"][i % 3];
            let mut fields = json!({"name": format!("Sorted deal {i}"), "stage": stage, "currency": "JPY"});
            if let Some(a) = amount {
                fields["amount"] = json!(a);
            }
            admin.create("deal", fields);
        }
        let collect = |api: &Api, sort: &str| -> Vec<Value> {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let mut path = format!("/api/v1/records/deal?sort={sort}&limit=2&filter.currency=JPY");
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                let r = api.get(&path);
                assert_eq!(r.status, 200, "{}", r.text);
                out.extend(r.body["records"].as_array().unwrap().iter().map(|x| x["fields"]["amount"].clone()));
                match r.body["next"].as_str() {
                    Some(n) => after = Some(n.to_string()),
                    None => return out,
                }
            }
        };
        assert_eq!(collect(admin, "amount"), vec![json!(1.0), json!(1.0), json!(2.0), json!(3.5), json!(5.0), json!(40.0), Value::Null]);
        assert_eq!(collect(admin, "-amount"), vec![json!(40.0), json!(5.0), json!(3.5), json!(2.0), json!(1.0), json!(1.0), Value::Null]);
        let stages = {
            let r = admin.get("/api/v1/records/deal?sort=stage&limit=200&filter.currency=JPY");
            r.body["records"].as_array().unwrap().iter().map(|x| x["fields"]["stage"].as_str().unwrap().to_string()).collect::<Vec<_>>()
        };
        let mut sorted = stages.clone();
        sorted.sort();
        assert_eq!(stages, sorted, "text sorts the same on both backends");

        // Sorting is an oracle like filtering: only on fields read in clear, never on ciphertext.
        let cases: [(&str, &str, u16); 6] = [
            ("sales_e", "title", 200),
            ("sales_e", "phone", 403),
            ("sales_e", "national_id", 403),
            ("sales_e", "last_name", 400),
            ("admin", "national_id", 400),
            ("mgr_e", "-phone", 403),
        ];
        for (who, sort, status) in cases {
            let r = w.api(who).get(&format!("/api/v1/records/contact?sort={sort}"));
            assert_eq!(r.status, status, "{who} sorts contacts by {sort}: {}", r.text);
        }
        let r = admin.get("/api/v1/records/deal?sort=amount&after=notacursor");
        assert_eq!(r.status, 400, "{}", r.text);

        // A custom field with a masking pattern of its own, seen masked by a manager.
        let field = json!({"name": "loyalty_id", "label": "Loyalty card", "type": {"kind": "text", "max_len": 40}, "classification": "sensitive",
                           "mask": {"kind": "pattern", "pattern": "##-****"}});
        let r = admin.post("/api/v1/objects/contact/fields", &field);
        assert_eq!(r.status, 201, "{}", r.text);
        let bad = admin.post("/api/v1/objects/contact/fields", &json!({"name": "bad_mask", "label": "x", "type": {"kind": "text"}, "classification": "sensitive", "mask": {"kind": "pattern", "pattern": "####"}}));
        assert_eq!(bad.status, 400, "a pattern that hides nothing is refused: {}", bad.text);
        let r = admin.post("/api/v1/records/contact", &json!({"fields": {"last_name": "Loyal", "loyalty_id": "LC-778899"}, "owner_id": w.id("sales_e")}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap();
        let seen_by_mgr = w.api("mgr_e").get(&format!("/api/v1/records/contact/{id}"));
        assert_eq!(seen_by_mgr.body["fields"]["loyalty_id"], "LC-•••••••", "{}", seen_by_mgr.text);
        let seen_by_sales = w.api("sales_e").get(&format!("/api/v1/records/contact/{id}"));
        assert!(seen_by_sales.body["fields"].get("loyalty_id").is_none(), "{}", seen_by_sales.text);
    }
}
