//! `capcrm demo`, the README's first command: demo people in every seeded role own the demo's
//! records, and each sees what their role allows.

use crate::common::*;

const DEMO_PASSWORD: &str = "demo people passphrase 9";

#[test]
fn demo_people_see_what_their_roles_allow() {
    let inst = Instance::new(Backend::Sqlite);
    guest_wasm("capcrm-dsr");
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("plugins");
    let mut cmd = inst.command(&["demo", "--contacts", "60", "--listen", "127.0.0.1:0", "--plugins", plugins.to_str().unwrap()]);
    cmd.env("CAPCRM_DEMO_PASSWORD", DEMO_PASSWORD);
    let srv = Server::start(cmd);
    assert!(srv.log().contains("li.na (sales)"), "the banner names the demo people: {}", srv.log());
    let list = |user: &str| -> Vec<serde_json::Value> {
        let api = Api::login(&srv.base, user, DEMO_PASSWORD);
        let r = api.get("/api/v1/records/contact?limit=200");
        assert_eq!(r.status, 200, "{user}: {}", r.text);
        r.body["records"].as_array().unwrap().clone()
    };
    let li = list("li.na");
    let james = list("james.smith");
    let wang = list("wang.fang");
    let chen = list("chen.jie");
    assert!(!li.is_empty() && !james.is_empty());
    assert_eq!(li.len() + james.len(), 60, "every demo contact belongs to one of the two sales people");
    let li_owner = li[0]["owner_id"].as_str().unwrap();
    assert!(li.iter().all(|c| c["owner_id"] == li_owner), "sales see their own records only");
    assert_eq!(wang.len(), li.len(), "the East manager sees the East team's records");
    assert!(wang.iter().all(|c| c["masked"].as_array().is_some_and(|m| m.iter().any(|f| f == "phone")) || c["fields"].get("phone").is_none()));
    assert_eq!(chen.len(), 60, "support reads every customer");
    let kim = Api::login(&srv.base, "kim.auditor", DEMO_PASSWORD);
    assert_eq!(kim.get("/api/v1/records/contact?limit=1").status, 403);
    assert_eq!(kim.get("/api/v1/audit?limit=1").status, 200);
    // The first-party plugins run: the public request form answers, the privacy officer's queue too.
    assert!(srv.log().contains("first-party plugins: dsr"), "{}", srv.log());
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/plugins/dsr/requests", srv.base))
        .json(&serde_json::json!({"regime": "pipl", "kind": "access", "email": "someone@example.cn"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let maria = Api::login(&srv.base, "maria.garcia", DEMO_PASSWORD);
    let q = maria.get("/plugins/dsr/requests");
    assert_eq!(q.status, 200, "{}", q.text);
    assert_eq!(q.body["requests"].as_array().map(Vec::len), Some(1), "{}", q.text);
    drop(srv);
    // A second start finds them installed and leaves them be.
    let mut again = inst.command(&["demo", "--contacts", "60", "--listen", "127.0.0.1:0", "--plugins", plugins.to_str().unwrap()]);
    again.env("CAPCRM_DEMO_PASSWORD", DEMO_PASSWORD);
    let srv = Server::start(again);
    assert!(srv.log().contains("first-party plugins: dsr"), "{}", srv.log());
    let listed = String::from_utf8_lossy(&inst.cli(&["plugin", "list"]).stdout).to_string();
    assert_eq!(listed.matches("dsr").count(), 1, "{listed}");
}
