//! The leads plugin (`plugins/leads`): its unit tests, and a lead's whole life through the real
//! binary: public form and API capture, de-duplication against a contact and a lead, scoring,
//! assignment, stages, conversion (and its rollback), reports, honeypot, rate limits, malformed
//! input, and an audit trail that holds no personal data and verifies.

use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

fn plugins_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins")
}

#[test]
fn the_leads_rules_pass_their_unit_tests() {
    let out = nested_cargo(&plugins_dir(), &["test", "--locked", "-p", "capcrm-leads", "--lib"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for name in ["the_manifest_asks_for_exactly_the_fields_the_code_uses", "default_rules_reward_source_fields_and_activity", "round_robin_takes_turns_for_the_rest", "the_pipeline_moves_one_step_at_a_time"] {
        assert!(text.contains(&format!("{name} ... ok")), "{name}: {text}");
    }
}

/// Posts to the public form as the client at `addr` (the server trusts the local proxy).
fn form(srv: &Server, addr: &str, ctype: &str, body: impl Into<String>) -> (u16, Value, String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/plugins/leads/capture", srv.base))
        .header("content-type", ctype)
        .header("x-forwarded-for", addr)
        .body(body.into())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn records(api: &Api, object: &str, query: &str) -> Vec<Value> {
    let r = api.get(&format!("/api/v1/records/{object}?limit=200{query}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["records"].as_array().cloned().unwrap()
}

fn lead_by_email<'a>(leads: &'a [Value], email: &str) -> &'a Value {
    leads.iter().find(|l| l["fields"]["email"] == email).unwrap_or_else(|| panic!("no lead of {email} in {leads:?}"))
}

fn audit(api: &Api, action: &str) -> Vec<Value> {
    api.get(&format!("/api/v1/audit?action={action}&limit=100")).body["entries"].as_array().cloned().unwrap_or_default()
}

fn install(inst: &Instance) {
    let manifest = plugins_dir().join("leads/plugin.toml");
    let out = inst.cli(&["plugin", "install", guest_wasm("capcrm-leads").to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(inst.cli(&["plugin", "approve", "leads"]).status.success());
}

#[test]
fn the_host_caps_anonymous_calls_to_a_plugins_public_routes() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install(&inst);
        let mut serve = inst.command(&["serve", "--listen", "127.0.0.1:0"]);
        serve.env("CAPCRM_PLUGIN_PUBLIC_PER_MINUTE", "3");
        let srv = Server::start(serve);
        // Seven calls span at most one minute boundary, so one minute sees four of them.
        let http = reqwest::blocking::Client::new();
        let replies: Vec<(u16, Option<String>, String)> = (0..7)
            .map(|_| {
                let r = http.post(format!("{}/plugins/leads/capture", srv.base)).header("content-type", "application/json").body("{}").send().unwrap();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                (r.status().as_u16(), retry, r.text().unwrap_or_default())
            })
            .collect();
        assert!(replies[..3].iter().all(|(s, _, t)| *s == 400 && t.contains("last_name")), "the plugin answers up to the cap: {replies:?}");
        let capped: Vec<_> = replies.iter().filter(|(s, _, _)| *s == 429).collect();
        assert!(!capped.is_empty(), "{replies:?}");
        assert!(capped.iter().all(|(_, retry, t)| retry.as_deref().is_some_and(|w| (1..=60).contains(&w.parse::<u32>().unwrap())) && t.contains("rate_limited")), "{capped:?}");
        // Signed-in calls are not counted.
        let api = srv.client();
        for _ in 0..5 {
            assert_eq!(api.get("/plugins/leads/reports").status, 200);
        }
    }
}

#[test]
fn a_lead_is_captured_deduplicated_scored_assigned_worked_and_converted() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install(&inst);
        let srv = Server::start(inst.command(&["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", "127.0.0.1/32"]));
        let api = srv.client();
        for name in ["seller", "alice", "bob", "dieter"] {
            let r = api.post("/api/v1/users", &json!({"username": name, "password": "leads test passphrase 7", "roles": ["sales"]}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let seller = Api::login(&srv.base, "seller", "leads test passphrase 7");
        let dieter = Api::login(&srv.base, "dieter", "leads test passphrase 7");

        // Rules: DACH leads to dieter, everyone else in turn to alice and bob; a small per-client limit.
        let rules = json!({
            "assignment": {"round_robin": ["alice", "bob"], "territories": [{"countries": ["DE", "Germany", "AT"], "territory": "dach", "owner": "dieter"}]},
            "rate_limit": {"per_client_per_hour": 4, "all_clients_per_minute": 1000},
        });
        assert_eq!(seller.send("PUT", "/plugins/leads/config", Some(&rules)).status, 403, "the rules are for plugin administrators");
        let r = api.send("PUT", "/plugins/leads/config", Some(&json!({"scoring": {"source": {"carrier_pigeon": 5}}})));
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.text.contains("unknown source"), "{}", r.text);
        let r = api.send("PUT", "/plugins/leads/config", Some(&rules));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["scoring"]["per_activity"], 5, "unnamed parts keep their defaults: {}", r.text);

        let known = api.create("contact", json!({"last_name": "Known", "email": "known.person@example.com"}));
        let known_id = known["id"].as_str().unwrap();

        // The public form: a new person, a known contact (a form post), the first person again.
        let grace = json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "company": "Navy Labs", "title": "CTO", "country": "DE", "message": "We need fifty seats"});
        let (s, v, _) = form(&srv, "203.0.113.10", "application/json", grace.to_string());
        assert_eq!((s, v.clone()), (202, json!({"status": "received"})));
        let (s, v2, _) = form(&srv, "203.0.113.10", "application/x-www-form-urlencoded", "last_name=Known&email=known.person%40example.com&country=FR");
        assert_eq!((s, &v2), (202, &v), "the form tells nobody whether the person is known");
        let again = json!({"last_name": "Hopper", "email": "GRACE@example.com", "phone": "+49 30 1234567", "message": "Following up on seats"});
        let (s, v3, _) = form(&srv, "203.0.113.20", "application/json", again.to_string());
        assert_eq!((s, &v3), (202, &v));

        // The honeypot: the same answer, nothing kept.
        let before = inst.raw_query_strings("SELECT key FROM plugin_storage WHERE plugin = 'leads' ORDER BY key");
        let (s, v4, _) = form(&srv, "203.0.113.66", "application/json", json!({"last_name": "Bot", "email": "bot@example.com", "website": "http://spam.example"}).to_string());
        assert_eq!((s, &v4), (202, &v));
        assert_eq!(inst.raw_query_strings("SELECT key FROM plugin_storage WHERE plugin = 'leads' ORDER BY key"), before, "a bot leaves no trace");

        let leads = records(&api, "lead", "");
        assert_eq!(leads.len(), 2, "the second submission of the same person merged; the bot made none: {leads:?}");
        let hopper = lead_by_email(&leads, "grace@example.com");
        let hopper_id = hopper["id"].as_str().unwrap().to_string();
        let f = &hopper["fields"];
        assert_eq!((f["source"].as_str(), f["stage"].as_str(), f["territory"].as_str()), (Some("web_form"), Some("new"), Some("dach")));
        assert_eq!(f["phone"], "+49 30 1234567", "the merge filled in the blank phone");
        assert_eq!(f["company_name"], "Navy Labs", "and left what was there");
        let notes = f["notes"].as_str().unwrap();
        assert!(notes.contains("We need fifty seats") && notes.contains("Following up on seats"), "both messages on the lead: {notes}");
        // web_form 15 + company 15 + title 10 + phone 10 + email 5 + country 5 + two touches 10.
        assert_eq!(f["score"], 70, "{hopper}");
        let view = api.get(&format!("/plugins/leads/leads/one?id={hopper_id}"));
        assert_eq!(view.status, 200, "{}", view.text);
        assert_eq!((view.body["owner"].as_str(), view.body["assigned_by"].as_str()), (Some("dieter"), Some("territory")));
        assert_eq!(view.body["touches"].as_array().unwrap().len(), 2);
        assert!(view.body["score_parts"].to_string().contains("activities:2"), "{}", view.text);
        assert!(!view.text.contains("grace@") && !view.text.contains("fifty seats"), "the pipeline view holds no typed value: {}", view.text);

        let person = lead_by_email(&leads, "known.person@example.com");
        let person_id = person["id"].as_str().unwrap().to_string();
        assert_eq!(person["fields"]["tags"], json!(["duplicate"]), "{person}");
        assert_eq!(person["fields"]["score"], 15 + 5 + 5 + 5);
        let pview = api.get(&format!("/plugins/leads/leads/one?id={person_id}")).body;
        assert_eq!((pview["duplicate_of"].as_str(), pview["owner"].as_str()), (Some(known_id), Some("alice")), "{pview}");
        assert_eq!(records(&api, "activity", &format!("&filter.lead={hopper_id}")).len(), 2, "each submission is on the timeline");

        // The API: for integrations that may look people up; a seller may not.
        let hedy = json!({"last_name": "Lamarr", "email": "hedy@example.com", "company": "Film Co", "source": "referral", "country": "US"});
        let r = seller.post("/plugins/leads/leads", &hedy);
        assert_eq!(r.status, 403, "{}", r.text);
        let r = api.post("/plugins/leads/leads", &hedy);
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!((r.body["outcome"].as_str(), r.body["owner"].as_str()), (Some("created"), Some("bob")), "alice had the last turn: {}", r.text);
        assert_eq!(r.body["score"], 30 + 15 + 5 + 5 + 5);
        let lamarr_id = r.body["id"].as_str().unwrap().to_string();
        let r = api.post("/plugins/leads/leads", &json!({"last_name": "Hopper", "phone": "+49 (30) 123-4567", "source": "event"}));
        assert_eq!((r.status, r.body["outcome"].as_str(), r.body["id"].as_str()), (200, Some("merged"), Some(hopper_id.as_str())), "found by phone: {}", r.text);
        assert_eq!(r.body["score"], 75);
        let r = api.post("/plugins/leads/leads", &json!({"last_name": "X", "email": "x@example.com", "source": "pigeon"}));
        assert_eq!(r.status, 400, "{}", r.text);

        // Malformed input, each answered with what to fix and nothing of what was sent.
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", "{\"last_name\": \"Secretname");
        assert_eq!(s, 400, "{t}");
        assert!(t.contains("malformed JSON") && !t.contains("Secretname"), "{t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", json!({"last_name": "x", "email": "x@example.com", "regime": "gdpr"}).to_string());
        assert_eq!(s, 400, "{t}");
        assert!(t.contains("unknown field `regime`"), "{t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/x-www-form-urlencoded", "last_name=x&email=x%40example.com&shoe_size=44");
        assert!(s == 400 && t.contains("unknown field `shoe_size`"), "{s} {t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", json!({"last_name": "x", "message": "y".repeat(20_000)}).to_string());
        assert_eq!(s, 413, "{t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", json!({"last_name": "Nomail"}).to_string());
        assert!(s == 400 && t.contains("`email` or `phone`"), "{s} {t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", json!({"last_name": "x", "email": "no-at-sign"}).to_string());
        assert!(s == 400 && t.contains("`email`") && !t.contains("no-at-sign"), "{s} {t}");
        let (s, _, t) = form(&srv, "203.0.113.40", "application/json", json!({"last_name": "x", "email": "x@example.com", "source": "partner"}).to_string());
        assert!(s == 400 && t.contains("`source`"), "the form cannot pick a better-scoring source: {s} {t}");

        // Rate limits: four an hour per client, then 429; another client is not held back.
        let rater = json!({"last_name": "Rater", "email": "rate@example.com"}).to_string();
        for i in 0..4 {
            let (s, _, t) = form(&srv, "198.51.100.7", "application/json", rater.clone());
            assert_eq!(s, 202, "submission {i}: {t}");
        }
        let (s, v, t) = form(&srv, "198.51.100.7", "application/json", rater.clone());
        assert_eq!(s, 429, "{t}");
        assert!(v["retry_after_seconds"].as_u64().is_some_and(|w| (1..=3600).contains(&w)), "{t}");
        let (s, _, t) = form(&srv, "198.51.100.8", "application/json", rater.clone());
        assert_eq!(s, 202, "per client: {t}");
        let rl = inst.raw_query_strings("SELECT key FROM plugin_storage WHERE plugin = 'leads' AND key LIKE 'rl/%'");
        assert!(rl.iter().all(|k| !k[0].as_deref().unwrap().contains("198.51") && !k[0].as_deref().unwrap().contains("203.0")), "the plugin never sees an address: {rl:?}");
        assert!(rl.len() >= 4, "one bucket per client: {rl:?}");
        // The overall cap: at most one a minute, whoever sends it.
        let r = api.send("PUT", "/plugins/leads/config", Some(&json!({"assignment": rules["assignment"], "rate_limit": {"per_client_per_hour": 4, "all_clients_per_minute": 1}})));
        assert_eq!(r.status, 200, "{}", r.text);
        let statuses: Vec<u16> = (0..3).map(|i| form(&srv, &format!("192.0.2.{}", 10 + i), "application/json", rater.clone()).0).collect();
        assert!(statuses.contains(&429) && statuses.iter().all(|s| [202, 429].contains(s)), "{statuses:?}");
        assert_eq!(api.send("PUT", "/plugins/leads/config", Some(&rules)).status, 200);

        // New scoring rules apply on a rescore; the rules again give the next round-robin turn.
        let referrals = json!({"scoring": {"source": {"referral": 50}}, "assignment": rules["assignment"], "rate_limit": rules["rate_limit"]});
        assert_eq!(api.send("PUT", "/plugins/leads/config", Some(&referrals)).status, 200);
        let r = api.post("/plugins/leads/leads/rescore", &json!({"id": lamarr_id}));
        assert_eq!((r.status, r.body["score"].as_i64()), (200, Some(50 + 15 + 5 + 5 + 5)), "{}", r.text);
        assert_eq!(api.send("PUT", "/plugins/leads/config", Some(&rules)).status, 200);
        assert!(audit(&api, "plugin.note.leads.config").iter().any(|e| e["detail"] == "settings changed: scoring"));
        let owners: Vec<String> = (0..2)
            .map(|_| api.post("/plugins/leads/leads/assign", &json!({"id": lamarr_id})).body["owner"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(owners, ["bob", "alice"], "turns 3 and 4 of alice, bob");

        // Working leads acts for the person: a seller reaches none of these leads (they own none);
        // the lead assigned to dieter is his record, which his own-records scope reaches.
        let r = seller.post("/plugins/leads/leads/stage", &json!({"id": hopper_id, "to": "contacted"}));
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(seller.get("/plugins/leads/reports").body["total"], 0);
        assert_eq!(seller.get(&format!("/api/v1/records/lead/{hopper_id}")).status, 404);
        let his = dieter.get(&format!("/api/v1/records/lead/{hopper_id}"));
        assert_eq!(his.status, 200, "{}", his.text);
        assert_eq!(dieter.get("/plugins/leads/reports").body["total"], 1, "his own lead");
        let r = api.post("/plugins/leads/leads/assign", &json!({"id": lamarr_id, "owner": "nobody_here"}));
        assert_eq!(r.status, 400, "{}", r.text);

        // Stages: one step at a time, each move in the history and the audit trail.
        let stage = |to: &str, note: &str| api.post("/plugins/leads/leads/stage", &json!({"id": hopper_id, "to": to, "note": note}));
        assert_eq!(stage("qualified", "").status, 409, "no skipping contact");
        assert_eq!(stage("contacted", "called the CTO at home").status, 200);
        let r = stage("qualified", "");
        assert_eq!((r.status, r.body["stage"].as_str()), (200, Some("qualified")), "{}", r.text);
        let moves: Vec<_> = r.body["history"].as_array().unwrap().iter().map(|m| m["to"].as_str().unwrap().to_string()).collect();
        assert_eq!(moves, ["new", "contacted", "qualified"]);
        assert_eq!(stage("converted", "").status, 409, "conversion is its own step");
        assert_eq!(stage("won", "").status, 400);
        assert_eq!(api.post("/plugins/leads/leads/stage", &json!({"id": "0190aaaa-0000-7000-8000-000000000000", "to": "contacted"})).status, 404);
        let notes = audit(&api, "plugin.note.leads.stage");
        assert!(notes.iter().any(|e| e["detail"].as_str().unwrap().contains(&format!("{hopper_id}: new -> contacted"))), "{notes:?}");
        assert!(!notes.iter().any(|e| e.to_string().contains("called the CTO")), "notes stay out of the audit trail");

        // Reassignment by hand, and an activity a seller logs raises the score (an event).
        let r = api.post("/plugins/leads/leads/assign", &json!({"id": person_id, "owner": "bob"}));
        assert_eq!((r.status, r.body["owner"].as_str(), r.body["assigned_by"].as_str()), (200, Some("bob"), Some("manual")), "{}", r.text);
        api.create("activity", json!({"kind": "call", "subject": "Intro call", "lead": hopper_id}));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let score = records(&api, "lead", "").iter().find(|l| l["id"] == hopper_id.as_str()).unwrap()["fields"]["score"].clone();
            if score == 80 {
                break;
            }
            assert!(Instant::now() < deadline, "the score did not follow the new activity: {score}");
            std::thread::sleep(Duration::from_millis(200));
        }

        // A conversion the host refuses half-way is rolled back whole.
        let counts = |api: &Api| ["contact", "account", "deal"].map(|o| records(api, o, "").len());
        let start = counts(&api);
        let r = api.post("/plugins/leads/leads/convert", &json!({"id": hopper_id, "amount": 50000, "currency": "XYZ"}));
        assert_eq!(r.status, 502, "{}", r.text);
        assert!(r.text.contains("currency"), "the reason is given: {}", r.text);
        assert_eq!(counts(&api), start, "no contact, account or deal left behind");
        assert_eq!(api.get(&format!("/plugins/leads/leads/one?id={hopper_id}")).body["stage"], "qualified");
        assert_eq!(api.post("/plugins/leads/leads/convert", &json!({"id": hopper_id, "probability": 90})).status, 400, "unknown fields are refused");

        let r = api.post("/plugins/leads/leads/convert", &json!({"id": hopper_id, "amount": 50000, "currency": "EUR"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.body["existing_contact"].as_bool(), r.body["activities"].as_u64()), (Some(false), Some(4)), "{}", r.text);
        let (cid, aid, did) = (r.body["contact"].as_str().unwrap(), r.body["account"].as_str().unwrap(), r.body["deal"].as_str().unwrap());
        let contact = records(&api, "contact", "").into_iter().find(|c| c["id"] == cid).expect("the new contact");
        assert_eq!((contact["fields"]["email"].as_str(), contact["fields"]["account"].as_str()), (Some("grace@example.com"), Some(aid)));
        assert_eq!(contact["fields"]["lifecycle_stage"], "opportunity");
        let account = records(&api, "account", "").into_iter().find(|a| a["id"] == aid).unwrap();
        assert_eq!(account["fields"]["name"], "Navy Labs");
        let deal = records(&api, "deal", "").into_iter().find(|d| d["id"] == did).unwrap();
        assert_eq!((deal["fields"]["account"].as_str(), deal["fields"]["contact"].as_str(), deal["fields"]["amount"].as_f64()), (Some(aid), Some(cid), Some(50000.0)));
        let acts = records(&api, "activity", &format!("&filter.lead={hopper_id}"));
        assert_eq!(acts.len(), 4);
        assert!(acts.iter().all(|a| a["fields"]["contact"] == cid && a["fields"]["deal"] == did), "activities relinked: {acts:?}");
        assert_eq!(api.post("/plugins/leads/leads/convert", &json!({"id": hopper_id})).status, 409, "converted once");

        // The known contact's lead converts onto that contact: no second contact.
        let contacts_before = records(&api, "contact", "").len();
        let r = api.post("/plugins/leads/leads/convert", &json!({"id": person_id}));
        assert!(r.status == 400 && r.text.contains("account_name"), "no company to name the account after: {}", r.text);
        let r = api.post("/plugins/leads/leads/convert", &json!({"id": person_id, "account_name": "Known Household", "deal_name": "Home office"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!((r.body["existing_contact"].as_bool(), r.body["contact"].as_str()), (Some(true), Some(known_id)), "{}", r.text);
        assert_eq!(records(&api, "contact", "").len(), contacts_before);

        // Reports: four leads (Hopper, Known, Lamarr, Rater), two converted.
        let r = api.get("/plugins/leads/reports");
        assert_eq!(r.status, 200, "{}", r.text);
        let rep = &r.body;
        assert_eq!((rep["total"].as_u64(), rep["converted"].as_u64(), rep["conversion_rate_percent"].as_f64()), (Some(4), Some(2), Some(50.0)), "{rep}");
        assert_eq!(rep["by_source"], json!({"web_form": 3, "referral": 1}));
        assert_eq!(rep["by_stage"], json!({"converted": 2, "new": 2}));
        assert_eq!(rep["by_owner"], json!({"dieter": 1, "bob": 1, "alice": 2}), "Rater had alice's turn, Lamarr came to her, Known moved to bob");

        // Nothing anyone typed reached the audit trail or the log; the plugin's state is the person's.
        let all = api.get("/api/v1/audit?limit=1000").text;
        for typed in ["grace@example.com", "Hopper", "fifty seats", "known.person@", "+49 30", "Navy Labs"] {
            assert!(!all.contains(typed), "`{typed}` in the audit trail");
            assert!(!srv.log().contains(typed), "`{typed}` in the log");
        }
        assert!(audit(&api, "plugin.note.leads.converted").iter().any(|e| e["detail"].as_str().unwrap().contains(&format!("lead {hopper_id} -> new contact {cid}"))));
        let state = inst.raw_query_strings(&format!("SELECT subject_id FROM plugin_storage WHERE plugin = 'leads' AND key = 'lead/{hopper_id}'"));
        assert_eq!(state.len(), 1);
        assert_eq!(state[0][0].as_deref(), hopper["subject_id"].as_str(), "a lead's state goes with its person's export and erasure");
        // The hourly prune runs clean and keeps this hour's counters.
        let counters = || inst.raw_query_strings("SELECT key FROM plugin_storage WHERE plugin = 'leads' AND key LIKE 'rl/client/%' ORDER BY key");
        let live = counters();
        let last_run = || inst.raw_query_strings("SELECT CAST(last_run_at AS TEXT), last_error FROM plugin_schedules WHERE plugin = 'leads' AND job = 'prune'");
        let first = last_run();
        assert_eq!(first.len(), 1, "the job is scheduled: {first:?}");
        inst.raw_sql("UPDATE plugin_schedules SET next_run_at = 0 WHERE plugin = 'leads' AND job = 'prune'");
        let deadline = Instant::now() + Duration::from_secs(20);
        while last_run() == first {
            assert!(Instant::now() < deadline, "the prune job did not run again");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(last_run()[0][1], None, "{:?}", last_run());
        assert_eq!(counters(), live);
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
