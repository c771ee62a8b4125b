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
        install_first_party(&inst, "dsr");
        let (srv, maildir) = start_with_mail(&inst);
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
        // Both requesters were mailed; once the outbox has delivered them, no message text stays.
        wait_for_code(maildir.path(), "someone.else@example.org");
        let sent = wait_until_delivered(&inst);
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

/// Installs and approves the DSR plugin on `inst`.
fn install_dsr(inst: &Instance) {
    let manifest = plugins_dir().join("dsr/plugin.toml");
    let out = inst.cli(&["plugin", "install", guest_wasm("capcrm-dsr").to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(inst.cli(&["plugin", "approve", "dsr"]).status.success());
}

/// A person's access request, verified with the code the host mailed; returns its id.
fn verified_request(base: &str, maildir: &Path, kind: &str, email: &str) -> String {
    let http = reqwest::blocking::Client::new();
    let r = http.post(format!("{base}/plugins/dsr/requests")).json(&json!({"regime": "gdpr", "kind": kind, "email": email})).send().unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_string();
    let code = wait_for_code(maildir, email);
    let r = http.post(format!("{base}/plugins/dsr/requests/verify")).json(&json!({"id": id, "code": code})).send().unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().unwrap());
    id
}

/// Restores `file` into a new target, checks its audit chain, and returns what its admin reads of
/// each record: the whole answer, as text.
fn read_restored(inst: &Instance, file: &Path, records: &[(&str, &str)]) -> Vec<String> {
    let target = inst.empty_like();
    let out = target.cli(&["restore", "--from", file.to_str().unwrap()]);
    assert!(out.status.success(), "restore: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let out = target.cli(&["audit", "verify"]);
    assert!(out.status.success(), "the restored chain verifies: {}", String::from_utf8_lossy(&out.stdout));
    let srv = target.start();
    let api = srv.client();
    records
        .iter()
        .map(|(object, id)| {
            let r = api.get(&format!("/api/v1/records/{object}/{id}"));
            assert_eq!(r.status, 200, "{}", r.text);
            r.text
        })
        .collect()
}

#[test]
fn an_access_bundle_holds_one_person_and_an_erasure_reaches_every_copy() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_dsr(&inst);
        let maildir = tempfile::tempdir().unwrap();
        let catalogue = inst.dir.path().join("catalogue");
        let mut serve = inst.command(&["serve", "--listen", "127.0.0.1:0", "--mail", &format!("dir:{}", maildir.path().display())]);
        serve.env("CAPCRM_MAIL_TICK_MS", "100").env("CAPCRM_BACKUP_DIR", &catalogue).env("CAPCRM_SCRUB_TICK_MS", "200");
        let srv = Server::start(serve);
        let api = srv.client();
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let alice_tag = format!("a{tag}");
        let alice = api.create("contact", canary_contact(&alice_tag));
        let alice_id = alice["id"].as_str().unwrap().to_string();
        let alice_email = format!("canary.{alice_tag}@example.com");
        let call = api.create("activity", json!({"kind": "call", "subject": "Intro call", "body": format!("Alicecall{tag}"), "contact": alice_id}));
        let call_id = call["id"].as_str().unwrap().to_string();
        let bob = api.create("contact", json!({"last_name": format!("Boblast{tag}"), "email": format!("bob.{tag}@example.com"), "phone": "+44 20 7946 0321", "notes": format!("Bobnotes{tag}")}));
        let bob_id = bob["id"].as_str().unwrap().to_string();
        let mut alice_canaries = canary_strings(&alice_tag);
        alice_canaries.push(format!("Alicecall{tag}"));
        let bob_canaries = [format!("Boblast{tag}"), format!("bob.{tag}@example.com"), "7946 0321".to_string(), format!("Bobnotes{tag}")];
        let r = api.post("/api/v1/users", &json!({"username": "officer", "password": "dsr test passphrase 5", "roles": ["privacy_officer"]}));
        assert_eq!(r.status, 201, "{}", r.text);
        let officer = Api::login(&srv.base, "officer", "dsr test passphrase 5");

        // Two backups before any erasure: one in the catalogue, one copied elsewhere.
        let out = inst.command(&["backup"]).env("CAPCRM_BACKUP_DIR", &catalogue).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let in_catalogue: Vec<_> = std::fs::read_dir(&catalogue).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(in_catalogue.len(), 1, "{in_catalogue:?}");
        let catalogued = in_catalogue[0].clone();
        let catalogued_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&catalogued).unwrap());
        let elsewhere = inst.dir.path().join("offsite-copy.bin");
        assert!(inst.cli(&["backup", "--out", elsewhere.to_str().unwrap()]).status.success());

        // Access: the bundle holds Alice's records, her activity included, and nothing of Bob.
        let access = verified_request(&srv.base, maildir.path(), "access", &alice_email);
        let r = officer.post("/plugins/dsr/requests/export", &json!({"id": access}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["bundle"]["records"], 2, "the contact and its activity: {}", r.text);
        let zip = officer.get(&format!("/plugins/dsr/requests/bundle?id={access}"));
        assert_eq!(zip.status, 200, "{}", zip.text);
        for f in ["manifest.json", "records.json", "records/contact.csv", "records/activity.csv"] {
            assert!(zip.text.contains(f), "the bundle lists {f}");
        }
        for c in &alice_canaries {
            assert!(zip.text.contains(c.as_str()), "the bundle holds Alice's {c}");
        }
        for c in &bob_canaries {
            assert!(!zip.text.contains(c.as_str()), "the bundle holds nothing of Bob ({c})");
        }

        // Rectification, taken in by staff on the phone: it starts verified (no code), the officer
        // corrects the record where it lives, and the request keeps which record at which version.
        let r = officer.post("/plugins/dsr/requests/record", &json!({"regime": "pipl", "kind": "rectification", "email": alice_email, "details": "my job title is wrong"}));
        assert_eq!(r.status, 400, "how the identity was checked is required: {}", r.text);
        let r = officer.post(
            "/plugins/dsr/requests/record",
            &json!({"regime": "pipl", "kind": "rectification", "email": alice_email, "details": "my job title is wrong", "verification_note": "called back on the number on file"}),
        );
        assert_eq!((r.status, r.body["status"].as_str()), (202, Some("verified")), "{}", r.text);
        let rect = r.body["id"].as_str().unwrap().to_string();
        let fixed = api.patch(&format!("/api/v1/records/contact/{alice_id}"), &json!({"fields": {"title": "Head of Purchasing"}}));
        assert_eq!(fixed.status, 200, "{}", fixed.text);
        let r = officer.post("/plugins/dsr/requests/rectified", &json!({"id": rect, "records": [{"object": "contact", "id": bob_id}]}));
        assert_eq!(r.status, 409, "Bob's record is not the requester's: {}", r.text);
        let r = officer.post("/plugins/dsr/requests/rectified", &json!({"id": rect, "records": [{"object": "contact", "id": alice_id}], "note": "title corrected"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["rectified"][0]["version"], fixed.body["version"], "{}", r.text);
        assert_eq!(officer.post("/plugins/dsr/requests/rectified", &json!({"id": access, "records": [{"object": "contact", "id": alice_id}]})).status, 409, "an access request is not a rectification");

        // An opt-out of sale and a restriction are carried out as consent refusals, which the
        // host enforces on every plugin granted people for a purpose.
        api.create("consent", json!({"contact": alice_id, "purpose": "marketing", "granted": true, "source": "web form", "policy_version": "1", "recorded_at": "2026-01-05T10:00:00Z"}));
        let staff = |kind: &str| {
            let r = officer.post("/plugins/dsr/requests/record", &json!({"regime": "ccpa", "kind": kind, "email": alice_email, "verification_note": "account holder on a recorded line"}));
            assert_eq!(r.status, 202, "{}", r.text);
            r.body["id"].as_str().unwrap().to_string()
        };
        let opt_out = staff("opt_out_of_sale");
        let r = officer.post("/plugins/dsr/requests/apply", &json!({"id": opt_out}));
        assert_eq!((r.status, r.body["refusals"].as_i64()), (200, Some(1)), "{}", r.text);
        let now_consents = |purpose: &str| inst.raw_query_strings(&format!("SELECT CAST(granted AS TEXT) FROM subject_consents WHERE purpose = '{purpose}'"));
        assert_eq!(now_consents("sale"), vec![vec![Some("0".to_string())]], "she refuses sale now");
        assert_eq!(now_consents("marketing"), vec![vec![Some("1".to_string())]], "an opt-out of sale leaves marketing");
        let restrict = staff("restriction");
        let r = officer.post("/plugins/dsr/requests/apply", &json!({"id": restrict}));
        assert_eq!((r.status, r.body["refusals"].as_i64()), (200, Some(2)), "{}", r.text);
        assert_eq!(now_consents("marketing"), vec![vec![Some("0".to_string())]], "a restriction refuses every purpose she decided on");
        assert_eq!(officer.post("/plugins/dsr/requests/apply", &json!({"id": access})).status, 409, "an access request is not applied");

        // Erasure: a legal hold blocks it, and the exception is kept on the request.
        let erasure = verified_request(&srv.base, maildir.path(), "erasure", &alice_email);
        let r = officer.post("/plugins/dsr/requests/hold", &json!({"id": erasure, "reason": "litigation hold, case 2026-17"}));
        assert_eq!(r.status, 200, "{}", r.text);
        let hold = r.body["hold"].as_str().unwrap().to_string();
        let r = officer.post("/plugins/dsr/requests/erase", &json!({"id": erasure, "reason": "GDPR article 17 request"}));
        assert_eq!(r.status, 409, "{}", r.text);
        assert!(r.body["exceptions"][0]["reason"].as_str().unwrap().contains("litigation"), "{}", r.text);
        let one = officer.get(&format!("/plugins/dsr/requests/one?id={erasure}"));
        assert_eq!(one.body["exceptions"].as_array().map(Vec::len), Some(1), "{}", one.text);
        let still = api.get(&format!("/api/v1/records/contact/{alice_id}"));
        assert!(still.text.contains(&format!("Canaryfirst{alice_tag}")), "held, so still there: {}", still.text);
        let r = officer.post("/plugins/dsr/requests/release", &json!({"id": erasure, "hold": hold}));
        assert_eq!(r.status, 200, "{}", r.text);
        let r = officer.post("/plugins/dsr/requests/erase", &json!({"id": erasure, "reason": "GDPR article 17 request"}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["status"], "completed");
        // The contact, her activity and her four consent records (given, refused twice for sale, once
        // for marketing).
        assert!(r.body["receipt"]["id"].is_string() && r.body["receipt"]["records"] == 6, "{}", r.text);

        let challenges = inst.raw_query_strings("SELECT id FROM verification_challenges");
        assert!(challenges.is_empty(), "the codes sent to her went with her: {challenges:?}");

        // No path returns Alice's personal fields: the API, the plugin, an export.
        let gone = |text: &str, what: &str| {
            for c in &alice_canaries {
                assert!(!text.contains(c.as_str()), "{what} still shows {c}: {text}");
            }
        };
        for (object, id) in [("contact", &alice_id), ("activity", &call_id)] {
            let r = api.get(&format!("/api/v1/records/{object}/{id}"));
            gone(&r.text, "the API");
        }
        gone(&api.get("/api/v1/records/contact?limit=200").text, "the list");
        let b = api.get(&format!("/api/v1/records/contact/{bob_id}"));
        assert!(b.text.contains(&format!("Bobnotes{tag}")), "Bob is untouched: {}", b.text);
        let r = officer.post("/plugins/dsr/requests/export", &json!({"id": access}));
        assert_eq!(r.status, 409, "the plugin finds nobody: {}", r.text);
        let r = officer.get(&format!("/plugins/dsr/requests/bundle?id={access}"));
        assert!(r.status == 410 || r.status == 404, "the old bundle went with her: {}", r.text);
        gone(&r.text, "the bundle route");
        let r = api.post("/api/v1/exports", &json!({"object": "contact", "format": "csv"}));
        assert_eq!(r.status, 201, "{}", r.text);
        let csv = api.get(&format!("/api/v1/exports/{}/download", r.body["id"].as_str().unwrap()));
        assert!(csv.text.contains(&format!("Bobnotes{tag}")), "the export works: {}", csv.text);
        gone(&csv.text, "an export");
        if backend == Backend::Sqlite {
            for f in files_under(&inst.data_dir) {
                let bytes = std::fs::read(&f).unwrap();
                for c in &alice_canaries {
                    assert!(!contains_bytes(&bytes, c), "{} holds {c}", f.display());
                }
            }
        }

        // The copy kept elsewhere still opens her fields until it is scrubbed (so the checks
        // below can fail); the catalogue's copy the server scrubs by itself.
        let before = read_restored(&inst, &elsewhere, &[("contact", &alice_id)]);
        assert!(before[0].contains(&format!("Canarynotes{alice_tag}")), "an unscrubbed copy still reads: {}", before[0]);
        let out = inst.cli(&["scrub-backups", elsewhere.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("carried 1 erasure"), "{}", String::from_utf8_lossy(&out.stdout));
        let again = inst.cli(&["scrub-backups", elsewhere.to_str().unwrap()]);
        assert!(String::from_utf8_lossy(&again.stdout).contains("already holds every erasure"), "{}", String::from_utf8_lossy(&again.stdout));
        // The server rewrites the catalogue's file (a new inode) without being asked.
        use std::os::unix::fs::MetadataExt as _;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::fs::metadata(&catalogued).unwrap().ino() == catalogued_inode {
            assert!(std::time::Instant::now() < deadline, "the server did not scrub the catalogue: {}", srv.log());
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let out = inst.command(&["scrub-backups"]).env("CAPCRM_BACKUP_DIR", &catalogue).output().unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("already holds every erasure"), "{}", String::from_utf8_lossy(&out.stdout));
        for file in [&catalogued, &elsewhere] {
            let bytes = std::fs::read(file).unwrap();
            for c in &alice_canaries {
                assert!(!contains_bytes(&bytes, c), "{} holds {c} in plaintext", file.display());
            }
            let read = read_restored(&inst, file, &[("contact", &alice_id), ("activity", &call_id), ("contact", &bob_id)]);
            gone(&read[0], "a restored backup");
            gone(&read[1], "a restored backup");
            assert!(read[2].contains(&format!("Bobnotes{tag}")), "the rest of the backup restores: {}", read[2]);
        }
        let erasures = api.get("/api/v1/audit?action=subject.erase&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(erasures.iter().any(|e| e["outcome"] == "allowed"), "{erasures:?}");
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Waits until the outbox marks every verification message sent (the pickup file is written just
/// before the row is updated), and returns the rows' states and sealed texts.
fn wait_until_delivered(inst: &Instance) -> Vec<Vec<Option<String>>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows = inst.raw_query_strings("SELECT state, sealed FROM notification_outbox WHERE channel = 'verification'");
        if rows.iter().all(|r| r[0].as_deref() == Some("sent")) || std::time::Instant::now() > deadline {
            assert!(rows.iter().all(|r| r[0].as_deref() == Some("sent")), "every code was delivered: {rows:?}");
            return rows;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
