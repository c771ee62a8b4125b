//! The web UI in a real browser (headless Chromium over WebDriver) against the real binary, on
//! each backend. Every step leaves a screenshot under `target/tmp/browser-screenshots/`.

use crate::common::*;
use crate::webdriver::Browser;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "browser test passphrase";

fn tag(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn add_user(admin: &Api, name: &str, role: &str, teams: &[&str]) -> String {
    let r = admin.post("/api/v1/users", &json!({"username": name, "password": PASSWORD, "roles": [role], "teams": teams}));
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Signs in through the form; `code` is the authentication code, if any.
fn sign_in(b: &Browser, base: &str, user: &str, code: Option<&str>) {
    if !b.url().contains("/login") {
        b.goto(&format!("{base}/login"));
    }
    b.fill("#username", user);
    b.fill("#password", PASSWORD);
    if let Some(c) = code {
        b.fill("#code", c);
    }
    let submit = b.find("#sign-in button[type=submit]");
    b.click(&submit);
}

fn sign_out(b: &Browser) {
    let button = b.find("#sign-out button");
    b.click(&button);
    b.wait_url("/login");
}

fn wait_next_totp_step() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    std::thread::sleep(Duration::from_secs(30 - now % 30 + 1));
}

fn audit(admin: &Api, query: &str) -> Vec<Value> {
    let r = admin.get(&format!("/api/v1/audit?{query}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sign_in_with_totp_enrolment_recovery_and_an_ended_session() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        add_user(&admin, "ana.web", "sales", &[]);
        let Some(b) = Browser::start(&format!("sign-in-{}", tag(backend)), "en") else { return };

        // A page without a session goes to the sign-in form, and back there afterwards.
        b.goto(&format!("{base}/records/contact"));
        b.wait_url("/login?next=%2Frecords%2Fcontact");
        assert!(b.try_find("#sign-out").is_none());
        b.screenshot("sign-in form");
        b.assert_only_from(&base);
        sign_in(&b, &base, "ana.web", None);
        b.wait_url("/records/contact");
        assert_eq!(b.text_of("#whoami"), "ana.web");

        // Enrolment: a QR code and the secret, a wrong code refused at the field, then recovery codes.
        b.goto(&format!("{base}/me/security"));
        assert_eq!(b.attr(&b.find("#mfa-state"), "data-on").as_deref(), Some("false"));
        let setup = b.find("#mfa-setup");
        b.click(&setup);
        let begin = b.find("#mfa-begin button");
        b.click(&begin);
        let secret = b.text_of("#secret");
        assert!(secret.len() >= 16, "{secret}");
        assert!(b.attr(&b.find("#qr"), "src").unwrap().starts_with("data:image/svg+xml;base64,"));
        b.screenshot("enrolment qr code");
        b.fill("#code", "000000");
        let confirm = b.find("#mfa-confirm button");
        b.click(&confirm);
        b.find("#code-error");
        assert_eq!(b.text_of("#secret"), secret, "the same secret is shown again");
        assert_eq!(b.attr(&b.find("#code"), "aria-invalid").as_deref(), Some("true"));
        b.screenshot("wrong code at the field");
        let code = capcrm::auth::mfa::code_now(&secret).unwrap();
        b.fill("#code", &code);
        let confirm = b.find("#mfa-confirm button");
        b.click(&confirm);
        b.find("#recovery-codes");
        let codes: Vec<String> = b.find_all("#recovery-codes code").iter().map(|e| b.text(e)).collect();
        assert_eq!(codes.len(), 10, "{codes:?}");
        b.screenshot("recovery codes");
        b.goto(&format!("{base}/me/security"));
        assert_eq!(b.attr(&b.find("#mfa-state"), "data-on").as_deref(), Some("true"));
        sign_out(&b);
        assert!(b.text_of(".notice").contains("signed out"));

        // Now the password alone is not enough; the code is asked for at its field.
        sign_in(&b, &base, "ana.web", None);
        let err = b.text_of("#login-error");
        assert!(err.contains("authenticator"), "{err}");
        assert_eq!(b.attr(&b.find("#code"), "aria-invalid").as_deref(), Some("true"));
        b.screenshot("code needed");
        sign_in(&b, &base, "ana.web", Some(&code));
        assert!(b.text_of("#login-error").contains("already used"), "a code works once");
        wait_next_totp_step();
        let code = capcrm::auth::mfa::code_now(&secret).unwrap();
        sign_in(&b, &base, "ana.web", Some(&code));
        b.find("#whoami");
        assert_eq!(b.url(), format!("{base}/"));
        b.screenshot("home after totp");
        b.assert_only_from(&base);

        // An ended session: the next page says so at the sign-in form and comes back afterwards.
        let tokens = admin.get("/api/v1/tokens?all=true").body.as_array().cloned().unwrap();
        let ana = admin.get("/api/v1/users").body.as_array().cloned().unwrap().into_iter().find(|u| u["username"] == "ana.web").unwrap();
        for t in tokens.iter().filter(|t| t["user_id"] == ana["id"] && t["revoked"] == false) {
            assert_eq!(admin.delete(&format!("/api/v1/tokens/{}", t["id"].as_str().unwrap())).status, 204);
        }
        b.goto(&format!("{base}/records"));
        b.wait_url("expired=1");
        assert!(b.text_of(".notice").contains("session ended"), "{}", b.source());
        b.screenshot("session ended");
        sign_in(&b, &base, "ana.web", Some(&codes[0]));
        b.wait_url("/records");
        b.find("#objects");

        let logins = audit(&admin, "action=login&actor=ana.web&limit=50");
        assert!(logins.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("second factor missing")), "{logins:?}");
        assert!(logins.iter().any(|e| e["detail"].as_str().unwrap_or("").contains("with a second factor")), "{logins:?}");
    }
}

#[test]
fn a_masked_phone_stays_masked_for_sales_and_a_manager_reveals_it_with_a_reason() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        assert_eq!(admin.post("/api/v1/teams", &json!({"name": "East"})).status, 201);
        let sam = add_user(&admin, "sam.web", "sales", &["East"]);
        add_user(&admin, "mia.web", "manager", &["East"]);
        let r = admin.post("/api/v1/records/contact", &json!({"owner_id": sam, "fields": {"first_name": "Lei", "last_name": "Zhao", "phone": "+86 139 7531 8642", "email": "zhao.lei@example.com"}}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let Some(b) = Browser::start(&format!("reveal-{}", tag(backend)), "en") else { return };

        // Sales: masked in the list and on the record, no reveal, and a forged reveal is refused.
        sign_in(&b, &base, "sam.web", None);
        b.find("#whoami");
        b.goto(&format!("{base}/records/contact"));
        let cell = b.find("#records td[data-field=phone]");
        assert_eq!(b.attr(&cell, "class").as_deref(), Some("masked"));
        assert!(!b.text(&cell).contains("7531"), "{}", b.text(&cell));
        b.screenshot("sales list masked");
        let link = b.find("#records tbody th a");
        b.click(&link);
        b.wait_url(&id);
        let phone = b.text_of("[data-field=phone] .value");
        assert!(phone.ends_with("8642") && !phone.contains("7531"), "{phone}");
        assert!(b.try_find("#reveal-phone").is_none(), "sales may not reveal");
        assert!(!b.source().contains("7531"));
        b.screenshot("sales record masked");
        b.script(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
             for (const [k, v] of [['_csrf', document.querySelector('#sign-out input[name=_csrf]').value], ['field', 'phone'], ['reason', 'just curious']]) {
               const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
             document.body.appendChild(f); f.submit();",
            json!([format!("/records/contact/{id}/reveal")]),
        );
        b.find("#error");
        assert!(b.text_of("#error").contains("permission"));
        assert!(!b.source().contains("7531"));
        b.screenshot("sales reveal refused");
        let denied = audit(&admin, "action=reveal&outcome=denied&actor=sam.web");
        assert_eq!(denied.len(), 1, "{denied:?}");
        b.goto(&format!("{base}/"));
        sign_out(&b);

        // The manager reveals it with a reason, once.
        sign_in(&b, &base, "mia.web", None);
        b.find("#whoami");
        b.goto(&format!("{base}/records/contact/{id}"));
        assert!(!b.text_of("[data-field=phone] .value").contains("7531"));
        let summary = b.find("[data-field=phone] details summary");
        b.click(&summary);
        // Three spaces pass the browser's own check (minlength) but not the server's.
        b.fill("#reason-phone", "   ");
        let submit = b.find("#reveal-phone button");
        b.click(&submit);
        assert!(b.text_of("#reveal-phone .error").contains("reason"), "a reason of 3 to 200 characters");
        b.fill("#reason-phone", "returning a call");
        let submit = b.find("#reveal-phone button");
        b.click(&submit);
        assert_eq!(b.text_of("#revealed-phone"), "+86 139 7531 8642");
        b.screenshot("manager revealed");
        b.goto(&format!("{base}/records/contact/{id}"));
        assert!(b.try_find("#revealed-phone").is_none() && !b.source().contains("7531"), "shown once, not kept");

        // And finds the reveal in the audit explorer (their own activity).
        let nav = b.find("nav a[href='/audit']");
        b.click(&nav);
        b.wait_url("/audit");
        b.fill("#a-action", "reveal");
        let apply = b.find("#audit-filter button[type=submit]");
        b.click(&apply);
        b.wait_url("action=reveal");
        let rows = b.find_all("#audit tbody tr");
        assert_eq!(rows.len(), 1, "{}", b.source());
        let row = b.text(&rows[0]);
        assert!(row.contains("returning a call") && row.contains("phone") && row.contains("mia.web"), "{row}");
        assert!(!b.source().contains("7531"));
        b.screenshot("manager audit explorer");
        b.assert_only_from(&base);

        // The same page in Simplified Chinese.
        let zh = b.find("footer a[hreflang=zh-CN]");
        b.click(&zh);
        b.wait_url("action=reveal");
        let html = b.find("html");
        assert_eq!(b.attr(&html, "lang").as_deref(), Some("zh-CN"));
        assert_eq!(b.text_of("h1"), "我的操作记录");
        assert_eq!(b.find_all("#audit tbody tr").len(), 1);
        b.screenshot("audit explorer in chinese");
    }
}
