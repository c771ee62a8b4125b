//! Exports and alerts through the real binary: exports obey field permissions and the role's
//! limit; one above the limit is held until another person approves it and raises an alert;
//! alert rules over the audit trail (held exports, bursts of refusals, new sign-in addresses,
//! work outside the hours) raise alerts linked to their entries and reach a webhook.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "export test passphrase 3";

/// A webhook receiver: every POST body it gets, answered 200.
fn webhook() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            g.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn alerts(api: &Api) -> Vec<Value> {
    api.get("/api/v1/alerts").body.as_array().cloned().unwrap_or_default()
}

fn download(api: &Api, id: &str) -> (u16, String) {
    let r = api.get(&format!("/api/v1/exports/{id}/download"));
    (r.status, r.text)
}

#[test]
fn exports_are_limited_held_approved_and_alerted() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", "127.0.0.1/32"]);
        cmd.env("CAPCRM_ALERT_TICK_MS", "200");
        let srv = Server::start(cmd);
        let admin = srv.client();
        let (hook, received) = webhook();
        let now_hour = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 3600 % 24) as u8;
        let (start, end) = if now_hour < 22 { (now_hour + 1, now_hour + 2) } else { (0, 1) };
        let rules = json!({
            "webhook_url": hook,
            "bulk_read": {"enabled": true, "threshold": 1000, "window_minutes": 10},
            "denial_burst": {"enabled": true, "threshold": 5, "window_minutes": 5},
            "working_hours": {"enabled": false, "start_hour": start, "end_hour": end, "utc_offset_minutes": 0},
            "new_address": true
        });
        let r = admin.send("PUT", "/api/v1/alert-rules", Some(&rules));
        assert_eq!(r.status, 200, "{}", r.text);
        let bad = admin.send("PUT", "/api/v1/alert-rules", Some(&json!({"webhook_url": "ftp://nowhere", "bulk_read": rules["bulk_read"], "denial_burst": rules["denial_burst"], "working_hours": rules["working_hours"], "new_address": true})));
        assert_eq!(bad.status, 422, "{}", bad.text);

        // A role that may export up to 3 contacts without approval, and approve others' exports.
        let role = json!({
            "name": "exporter", "description": "Exports contacts.",
            "objects": {"contact": {"scope": "all", "actions": ["read", "export"], "export_limit": 3,
                "classes": {"public": "read", "internal": "read", "personal": "read", "sensitive": "masked"}}},
            "system": ["approve_exports"]
        });
        assert_eq!(admin.send("PUT", "/api/v1/roles/exporter", Some(&role)).status, 200);
        for u in ["ex1", "sales1"] {
            let roles = if u == "ex1" { json!(["exporter"]) } else { json!(["sales"]) };
            let r = admin.post("/api/v1/users", &json!({"username": u, "password": PASSWORD, "roles": roles}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        admin.create("contact", canary_contact("EXP"));
        for i in 0..4 {
            admin.create("contact", json!({"last_name": format!("Plain{i}"), "email": format!("plain{i}@example.com"), "title": "=HYPERLINK(\"http://evil\")"}));
        }
        // Sign-ins from two addresses (through the trusted proxy): the second is new.
        let login_from = |ip: &str| {
            let r = reqwest::blocking::Client::new()
                .post(format!("{}/api/v1/auth/token", srv.base))
                .header("x-forwarded-for", ip)
                .json(&json!({"username": "ex1", "password": PASSWORD}))
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: Value = r.json().unwrap();
            Api { base: srv.base.clone(), token: v["token"].as_str().unwrap().into(), http: reqwest::blocking::Client::new() }
        };
        let _first = login_from("10.9.9.9");
        let ex1 = login_from("10.9.9.8");

        // Within the limit: ready at once, fields as the role shows them, downloadable once.
        let r = ex1.post("/api/v1/exports", &json!({"object": "contact", "format": "csv", "filters": [{"field": "email", "value": "canary.EXP@example.com"}]}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["status"], "ready");
        let id = r.body["id"].as_str().unwrap().to_string();
        let (status, csv) = download(&ex1, &id);
        assert_eq!(status, 200, "{csv}");
        let header = csv.lines().next().unwrap();
        assert!(header.starts_with("id,") && header.contains(",email,") && header.contains("national_id"), "{header}");
        assert!(csv.contains("canary.EXP@example.com") && csv.contains("CanarylastEXP"), "{csv}");
        assert!(!csv.contains("CANARYIDEXP"), "a masked field is exported masked: {csv}");
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert_eq!(download(&ex1, &id).0, 409, "an export is downloaded once");
        let stored = inst.raw_query_strings("SELECT query_sealed FROM export_requests");
        assert!(!stored.iter().flatten().flatten().any(|q| q.contains("canary.EXP")), "the query's filter value is sealed");
        // People without the export permission cannot export at all.
        let sales = Api::login(&srv.base, "sales1", PASSWORD);
        assert_eq!(sales.post("/api/v1/exports", &json!({"object": "contact", "format": "csv"})).status, 403);

        // Above the limit: held, not downloadable, not approvable by the requester.
        let r = ex1.post("/api/v1/exports", &json!({"object": "contact", "format": "json"}));
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!((r.body["status"].as_str(), r.body["record_count"].as_i64(), r.body["limit"].as_i64()), (Some("pending_approval"), Some(5), Some(3)));
        let held = r.body["id"].as_str().unwrap().to_string();
        assert_eq!(download(&ex1, &held).0, 409);
        let own = ex1.post(&format!("/api/v1/exports/{held}/approve"), &json!({}));
        assert_eq!(own.status, 403, "{}", own.text);
        // The hold raises an alert linked to its audit entry, delivered to the webhook.
        let alert = wait_for("the held-export alert", || alerts(&admin).into_iter().find(|a| a["rule"] == "export_held"));
        let seq = alert["audit_seqs"][0].as_i64().unwrap();
        let entry = admin.get(&format!("/api/v1/audit?before={}&limit=1", seq + 1)).body["entries"][0].clone();
        assert_eq!((entry["seq"].as_i64(), entry["action"].as_str()), (Some(seq), Some("export.held")), "{entry}");
        wait_for("the webhook delivery", || received.lock().unwrap().iter().any(|b| b.contains("export_held")).then_some(()));
        // Another administrator approves; the requester downloads.
        let r = admin.post(&format!("/api/v1/exports/{held}/approve"), &json!({}));
        assert_eq!(r.status, 200, "{}", r.text);
        let (status, body) = download(&ex1, &held);
        assert_eq!(status, 200, "{body}");
        let rows: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 5);
        assert!(!body.contains("CANARYIDEXP"));
        let exported = admin.get("/api/v1/audit?action=export&limit=100").body["entries"].as_array().cloned().unwrap();
        assert_eq!(exported.iter().filter(|e| e["actor"] == "ex1").count(), 6, "one export entry per record handed out");
        assert!(!admin.get("/api/v1/audit?action=export.approve&limit=5").body["entries"].as_array().unwrap().is_empty());

        // A burst of refusals, and a sign-in from a new address.
        for _ in 0..6 {
            assert_eq!(sales.get("/api/v1/users").status, 403);
        }
        let burst = wait_for("the denial-burst alert", || alerts(&admin).into_iter().find(|a| a["rule"] == "denial_burst" && a["actor"] == "sales1"));
        assert!(burst["audit_seqs"].as_array().unwrap().len() >= 5);
        let new_addr = wait_for("the new-address alert", || alerts(&admin).into_iter().find(|a| a["rule"] == "new_address"));
        assert!(new_addr["summary"].as_str().unwrap().contains("10.9.9.8"), "{new_addr}");
        assert!(!alerts(&admin).iter().any(|a| a["summary"].as_str().unwrap().contains("10.9.9.9")), "the first address is the baseline");

        // Work outside the hours.
        let mut hours = rules.clone();
        hours["working_hours"]["enabled"] = json!(true);
        assert_eq!(admin.send("PUT", "/api/v1/alert-rules", Some(&hours)).status, 200);
        assert_eq!(ex1.get("/api/v1/records/contact?limit=5").status, 200);
        wait_for("the outside-hours alert", || alerts(&admin).into_iter().find(|a| a["rule"] == "outside_hours" && a["actor"] == "ex1"));

        // Acknowledging; nothing in alerts or webhook bodies carries a value.
        let id = alert["id"].as_str().unwrap();
        assert_eq!(admin.post(&format!("/api/v1/alerts/{id}/acknowledge"), &json!({})).status, 204);
        assert_eq!(admin.get("/api/v1/alerts?status=open").body.as_array().unwrap().iter().filter(|a| a["id"] == id).count(), 0);
        assert_eq!(sales.get("/api/v1/alerts").status, 403);
        let all = admin.get("/api/v1/alerts").text + &received.lock().unwrap().join("\n");
        for c in canary_strings("EXP") {
            assert!(!all.contains(&c), "{c} in an alert");
        }
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}
