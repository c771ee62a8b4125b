//! The consent plugin (`plugins/consent`) through the real binary: double opt-in and withdrawal
//! proven by mailed codes, and their effect on a plugin whose grant depends on consent; staff
//! history and paper consent; the purpose list; malformed input; nothing personal in the audit
//! trail.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins")
}

#[test]
fn the_plugins_intake_and_purpose_rules_pass_their_unit_tests() {
    let out = nested_cargo(&plugins_dir(), &["test", "--locked", "-p", "capcrm-consent", "--lib"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("requests_are_checked_against_the_purpose_list ... ok") && text.contains("the_latest_decision_wins_and_a_refusal_wins_a_tie ... ok"), "{text}");
}

/// A campaign plugin that reaches only people who consent to marketing (the test guest that lists
/// contacts and reads one).
const MKT: &str = r#"name = "mkt"
version = "1.0.0"
author = "capcrm tests"
description = "Sends campaigns."
purpose = "Marketing campaigns to people who agreed to them"
routes = ["GET /run public"]
[access.contact]
read = ["first_name"]
consent = "marketing"
[limits]
memory_mb = 16
timeout_ms = 2000
host_calls = 100
"#;

fn install(inst: &Instance, wasm: &Path, manifest: &Path, name: &str) {
    let out = inst.cli(&["plugin", "install", wasm.to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = inst.cli(&["plugin", "approve", name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

struct Public {
    base: String,
    http: reqwest::blocking::Client,
}

impl Public {
    fn post(&self, path: &str, ctype: &str, body: String) -> (u16, Value) {
        let r = self.http.post(format!("{}/plugins/consent{path}", self.base)).header("content-type", ctype).body(body).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    }
    fn json(&self, path: &str, body: Value) -> (u16, Value) {
        self.post(path, "application/json", body.to_string())
    }
    /// What the campaign plugin answers about `id`: its status and the contacts it lists.
    fn campaign(&self, id: &str) -> (u16, Vec<String>) {
        let r = self.http.get(format!("{}/plugins/mkt/run?id={id}", self.base)).send().unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().unwrap_or(Value::Null);
        let listed = v["listed"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default();
        (status, listed)
    }
}

/// The consent records of one contact, as the administrator reads them.
fn records_of(api: &Api, contact: &str) -> Vec<Value> {
    let all = api.get("/api/v1/records/consent?limit=200");
    assert_eq!(all.status, 200, "{}", all.text);
    all.body["records"].as_array().unwrap().iter().filter(|r| r["fields"]["contact"] == contact).cloned().collect()
}

fn storage_rows(inst: &Instance) -> Vec<Vec<Option<String>>> {
    inst.raw_query_strings("SELECT key, subject_id FROM plugin_storage WHERE plugin = 'consent' ORDER BY key")
}

#[test]
fn double_opt_in_and_withdrawal_decide_what_a_consent_conditioned_plugin_reaches() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install(&inst, &guest_wasm("capcrm-consent"), &plugins_dir().join("consent/plugin.toml"), "consent");
        let mkt = inst.dir.path().join("mkt.toml");
        std::fs::write(&mkt, MKT).unwrap();
        install(&inst, &guest_wasm("guest-reader"), &mkt, "mkt");
        let maildir = tempfile::tempdir().unwrap();
        let mut serve = inst.command(&["serve", "--listen", "127.0.0.1:0", "--mail", &format!("dir:{}", maildir.path().display())]);
        serve.env("CAPCRM_MAIL_TICK_MS", "100");
        let srv = Server::start(serve);
        let api = srv.client();
        let public = Public { base: srv.base.clone(), http: reqwest::blocking::Client::new() };
        let ada_email = "ada.optin@example.com";
        let stranger = "nobody.here@example.org";
        let ada = api.create("contact", json!({"first_name": "Ada", "last_name": "Optin", "email": ada_email}));
        let ada_id = ada["id"].as_str().unwrap().to_string();
        let bo = api.create("contact", json!({"first_name": "Bo", "last_name": "Other", "email": "bo.other@example.com"}));
        let bo_id = bo["id"].as_str().unwrap().to_string();
        assert_ne!(public.campaign(&ada_id).0, 200, "nobody consents yet: the campaign cannot reach Ada");

        // Subscribe: a code goes out; the address waits tagged with Ada, the request without it.
        let (s, v) = public.json("/subscribe", json!({"email": ada_email, "purpose": "marketing", "policy_version": "2026-03"}));
        assert_eq!((s, v["status"].as_str()), (202, Some("code_sent")), "{v}");
        let sub = v["id"].as_str().unwrap().to_string();
        assert!(!v.to_string().contains(ada_email), "{v}");
        let rows = storage_rows(&inst);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0][0].as_deref(), Some(format!("pd/{sub}").as_str()));
        assert_eq!(rows[0][1].as_deref(), ada["subject_id"].as_str(), "the address is part of Ada's data");
        assert_eq!((rows[1][0].as_deref(), rows[1][1].as_deref()), (Some(format!("req/{sub}").as_str()), None));

        let code = wait_for_code(maildir.path(), ada_email);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let (s, v) = public.json("/subscribe/confirm", json!({"id": sub, "code": wrong}));
        assert_eq!(s, 400, "{v}");
        assert!(records_of(&api, &ada_id).is_empty(), "a wrong code records nothing");
        assert_ne!(public.campaign(&ada_id).0, 200);
        let (s, v) = public.json("/unsubscribe/confirm", json!({"id": sub, "code": code}));
        assert_eq!(s, 404, "a subscription is not confirmed as a withdrawal: {v}");
        let (s, v) = public.json("/subscribe/confirm", json!({"id": sub, "code": code}));
        assert_eq!((s, v["recorded"].as_bool(), v["records"].as_u64()), (200, Some(true), Some(1)), "{v}");
        let recs = records_of(&api, &ada_id);
        assert_eq!(recs.len(), 1, "{recs:?}");
        let f = &recs[0]["fields"];
        assert_eq!((f["purpose"].as_str(), f["granted"].as_bool(), f["policy_version"].as_str(), f["source"].as_str()), (Some("marketing"), Some(true), Some("2026-03"), Some("web form")), "{f}");
        assert!(f["recorded_at"].as_str().unwrap().starts_with(&chrono::Utc::now().format("%Y-%m-%d").to_string()), "{f}");
        assert_eq!(public.campaign(&ada_id), (200, vec![ada_id.clone()]), "Ada consents: the campaign lists her, and only her");
        assert!(storage_rows(&inst).is_empty(), "a confirmed request keeps nothing");
        assert_eq!(public.json("/subscribe/confirm", json!({"id": sub, "code": code})).0, 404, "once");

        // Withdraw by a form post: a refusal recorded now, and the campaign loses her.
        let (s, v) = public.post("/unsubscribe", "application/x-www-form-urlencoded", "email=ada.optin%40example.com&purpose=marketing".into());
        assert_eq!(s, 202, "{v}");
        let uns = v["id"].as_str().unwrap().to_string();
        assert!(uns.starts_with("uns-"), "{v}");
        let code = wait_for_code(maildir.path(), ada_email);
        let (s, v) = public.post("/unsubscribe/confirm", "application/x-www-form-urlencoded", format!("id={uns}&code={code}"));
        assert_eq!((s, v["granted"].as_bool()), (200, Some(false)), "{v}");
        let recs = records_of(&api, &ada_id);
        assert_eq!(recs.len(), 2);
        assert!(recs.iter().any(|r| r["fields"]["granted"] == false && r["fields"]["purpose"] == "marketing"), "{recs:?}");
        assert_ne!(public.campaign(&ada_id).0, 200, "Ada withdrew: the campaign cannot reach her");
        assert_ne!(public.campaign(&bo_id).0, 200, "nor Bo, who never agreed");

        // A stranger proves their address, and is told nothing was recorded.
        let consents_before = api.get("/api/v1/records/consent?limit=200").body["records"].as_array().unwrap().len();
        let (s, v) = public.json("/subscribe", json!({"email": stranger, "purpose": "newsletter", "policy_version": "2026-03", "source": "footer form"}));
        assert_eq!(s, 202, "the same answer for an unknown address: {v}");
        let id = v["id"].as_str().unwrap().to_string();
        assert!(storage_rows(&inst).iter().all(|r| r[1].is_none()), "nobody to tag the address with");
        let code = wait_for_code(maildir.path(), stranger);
        let (s, v) = public.json("/subscribe/confirm", json!({"id": id, "code": code}));
        assert_eq!((s, v["recorded"].as_bool()), (404, Some(false)), "{v}");
        assert!(v["error"].as_str().unwrap().contains("nothing was recorded"), "{v}");
        assert_eq!(api.get("/api/v1/records/consent?limit=200").body["records"].as_array().unwrap().len(), consents_before, "no record for a stranger");
        assert!(storage_rows(&inst).is_empty());

        // A bot filling the honeypot gets the usual answer; nothing is sent or kept.
        let mails = || inst.raw_query_strings("SELECT id FROM notification_outbox WHERE channel = 'verification'").len();
        let sent = mails();
        let (s, v) = public.json("/subscribe", json!({"email": "bot@example.com", "purpose": "marketing", "policy_version": "1", "website": "http://spam.example"}));
        assert_eq!((s, v["status"].as_str()), (202, Some("code_sent")), "{v}");
        assert!(v["id"].as_str().unwrap().starts_with("sub-"));
        let (s, _) = public.post("/unsubscribe", "application/x-www-form-urlencoded", "email=bot%40example.com&purpose=marketing&website=x".into());
        assert_eq!(s, 202);
        assert!(storage_rows(&inst).is_empty(), "the bot's requests are kept nowhere");
        assert_eq!(mails(), sent, "and no code was sent");

        // Malformed input: clear errors that repeat nothing typed.
        let (s, v) = public.post("/subscribe", "application/json", "{not json".into());
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().contains("malformed JSON"), "{v}");
        let (s, v) = public.json("/subscribe", json!({"email": ada_email, "purpose": "resale", "policy_version": "1"}));
        assert_eq!(s, 400);
        assert_eq!(v["error"], "`purpose` must be one of marketing, newsletter, profiling");
        let (s, v) = public.json("/subscribe", json!({"email": ada_email, "purpose": "marketing", "policy_version": "1", "age": 40}));
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().contains("unknown field `age`"), "{v}");
        let (s, v) = public.json("/subscribe", json!({"email": "not-an-address", "purpose": "marketing", "policy_version": "1"}));
        assert_eq!(s, 400);
        assert!(!v.to_string().contains("not-an-address"), "{v}");
        let (s, v) = public.json("/subscribe", json!({"email": ada_email, "purpose": "marketing"}));
        assert_eq!(s, 400, "the policy shown is required: {v}");
        assert_eq!(public.json("/unsubscribe/confirm", json!({"id": "../config", "code": "123456"})).0, 404);
        assert_eq!(public.json("/subscribe/confirm", json!({"id": sub})).0, 400);

        // Staff: the history and the decision in force, for those who may find people.
        let r = api.post("/api/v1/users", &json!({"username": "seller", "password": "consent test passphrase 5", "roles": ["sales"]}));
        assert_eq!(r.status, 201, "{}", r.text);
        let seller = Api::login(&srv.base, "seller", "consent test passphrase 5");
        assert_eq!(seller.get(&format!("/plugins/consent/consents?email={ada_email}")).status, 403);
        assert_eq!(seller.post("/plugins/consent/config", &json!({"purposes": ["x"]})).status, 403);
        let h = api.get("/plugins/consent/consents?email=ada.optin%40example.com");
        assert_eq!(h.status, 200, "{}", h.text);
        let people = h.body["people"].as_array().unwrap();
        assert_eq!(people.len(), 1, "{}", h.text);
        assert_eq!(people[0]["contacts"], json!([ada_id]));
        let history: Vec<bool> = people[0]["history"].as_array().unwrap().iter().map(|e| e["granted"].as_bool().unwrap()).collect();
        assert_eq!(history, vec![true, false], "consent, then withdrawal: {}", h.text);
        assert_eq!(people[0]["current"]["marketing"]["granted"], false, "{}", h.text);
        assert_eq!(api.get("/plugins/consent/consents?email=nope").status, 400);

        // Consent given by phone, recorded by staff, reaches the campaign like a confirmed one.
        let r = api.post("/plugins/consent/consents", &json!({"email": ada_email, "purpose": "marketing", "granted": true, "source": "phone call", "policy_version": "2026-04"}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(public.campaign(&ada_id), (200, vec![ada_id.clone()]));
        let r = api.post("/plugins/consent/consents", &json!({"email": stranger, "purpose": "marketing", "granted": true, "source": "phone call", "policy_version": "2026-04"}));
        assert_eq!(r.status, 404, "{}", r.text);
        let r = api.post("/plugins/consent/consents", &json!({"email": ada_email, "purpose": "marketing", "granted": "maybe", "source": "phone", "policy_version": "1"}));
        assert_eq!(r.status, 400, "{}", r.text);
        // A privacy officer finds people, reads their consent records and records a decision
        // given by phone (a withdrawal here).
        let r = api.post("/api/v1/users", &json!({"username": "officer", "password": "consent test passphrase 5", "roles": ["privacy_officer"]}));
        assert_eq!(r.status, 201, "{}", r.text);
        let officer = Api::login(&srv.base, "officer", "consent test passphrase 5");
        let r = officer.post("/plugins/consent/consents", &json!({"email": ada_email, "purpose": "marketing", "granted": false, "source": "phone call", "policy_version": "2026-04"}));
        assert_eq!(r.status, 201, "{}", r.text);
        let h = officer.get("/plugins/consent/consents?email=ada.optin%40example.com");
        assert_eq!(h.status, 200, "{}", h.text);
        assert_eq!(h.body["people"][0]["current"]["marketing"]["granted"], false, "{}", h.text);
        assert_eq!(h.body["people"][0]["history"].as_array().unwrap().len(), 4);
        let seller_pw = "consent test passphrase 6";
        assert_eq!(api.post("/api/v1/users", &json!({"username": "sales.rep", "password": seller_pw, "roles": ["sales"]})).status, 201);
        let seller = Api::login(&srv.base, "sales.rep", seller_pw);
        let r = seller.post("/plugins/consent/consents", &json!({"email": ada_email, "purpose": "marketing", "granted": true, "source": "phone call", "policy_version": "2026-04"}));
        assert_eq!(r.status, 403, "sales may not record consent: {}", r.text);

        // The purpose list is the administrator's.
        assert_eq!(api.post("/plugins/consent/config", &json!({"purposes": ["Marketing!"]})).status, 400);
        let r = api.post("/plugins/consent/config", &json!({"purposes": ["marketing", "events"]}));
        assert_eq!(r.status, 200, "{}", r.text);
        let p = public.http.get(format!("{}/plugins/consent/purposes", srv.base)).send().unwrap().json::<Value>().unwrap();
        assert_eq!(p["purposes"], json!(["marketing", "events"]));
        let (s, v) = public.json("/subscribe", json!({"email": ada_email, "purpose": "newsletter", "policy_version": "1"}));
        assert_eq!((s, v["error"].as_str()), (400, Some("`purpose` must be one of marketing, events")));
        let (s, v) = public.json("/unsubscribe", json!({"email": ada_email, "purpose": "newsletter"}));
        assert_eq!(s, 202, "a purpose taken off the list can still be withdrawn: {v}");
        let (s, _) = public.json("/unsubscribe", json!({"email": ada_email, "purpose": "resale"}));
        assert_eq!(s, 400, "one never offered is unknown");

        // Every step is on record, and no entry holds an address.
        let notes: Vec<String> = inst.raw_query_strings("SELECT action FROM audit_log WHERE action LIKE 'plugin.note.consent.%'").into_iter().map(|r| r[0].clone().unwrap()).collect();
        for a in ["subscribe_requested", "granted", "unsubscribe_requested", "withdrawn", "subscribe_unmatched", "history_read", "recorded", "config"] {
            assert!(notes.iter().any(|n| n == &format!("plugin.note.consent.{a}")), "no {a} note: {notes:?}");
        }
        let audit = inst.raw_query_strings("SELECT action, actor, object, record_id, fields, purpose, subject, detail FROM audit_log");
        for row in &audit {
            let text = format!("{row:?}");
            for email in [ada_email, stranger, "bot@example.com", "ada.optin%40"] {
                assert!(!text.contains(email), "an audit entry holds an address: {text}");
            }
        }
        assert!(!srv.log().contains(ada_email), "the server log holds no address");
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}
