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
        add_user(&admin, "ana.web", PASSWORD, "sales", &[]);
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
        // The form comes back to the same address: wait for what the new page says, not the old.
        b.wait_text_containing("#login-error", "already used");
        wait_next_totp_step();
        let code = capcrm::auth::mfa::code_now(&secret).unwrap();
        sign_in(&b, &base, "ana.web", Some(&code));
        b.find("#whoami");
        assert_eq!(b.url(), format!("{base}/"));
        b.screenshot("home after totp");
        b.assert_only_from(&base);

        // An ended session: the next page says so at the sign-in form and comes back afterwards.
        let tokens = admin.get("/api/v1/tokens?all=true").body.as_array().cloned().unwrap();
        let ana = admin.get("/api/v1/users?q=ana.web").body["users"].as_array().cloned().unwrap().into_iter().find(|u| u["username"] == "ana.web").unwrap();
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
        let sam = add_user(&admin, "sam.web", PASSWORD, "sales", &["East"]);
        add_user(&admin, "mia.web", PASSWORD, "manager", &["East"]);
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
        b.wait_url(&format!("/records/contact/{id}"));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while b.try_find("#revealed-phone").is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(b.try_find("#revealed-phone").is_none() && !b.source().contains("7531"), "shown once, not kept: {}", b.url());

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

const CARD_MANIFEST: &str = r#"
name = "card"
version = "1.0.0"
author = "capcrm tests"
description = "A contact card page."
purpose = "Show a contact card to the colleague who asks"
routes = ["GET /card"]

[access.contact]
read = ["first_name", "last_name", "email", "phone", "title"]

[limits]
memory_mb = 32
timeout_ms = 2000
host_calls = 100
"#;

#[test]
fn an_admin_approves_part_of_a_pending_plugin_and_its_page_respects_it() {
    use base64::Engine as _;
    let wasm = std::fs::read(guest_wasm("guest-card")).unwrap();
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        let c = admin.create("contact", json!({"first_name": "Mei", "last_name": "Lin", "email": "mei.lin@example.com", "phone": "+86 138 0013 8000", "title": "Buyer"}));
        let id = c["id"].as_str().unwrap().to_string();
        let r = admin.post("/api/v1/plugins", &json!({"manifest": CARD_MANIFEST, "component_base64": base64::engine::general_purpose::STANDARD.encode(&wasm)}));
        assert_eq!(r.status, 201, "{}", r.text);
        let Some(b) = Browser::start(&format!("plugin-approval-{}", tag(backend)), "en") else { return };
        b.goto(&format!("{base}/login"));
        b.fill("#username", "admin");
        b.fill("#password", ADMIN_PASSWORD);
        let submit = b.find("#sign-in button[type=submit]");
        b.click(&submit);
        b.find("#whoami");

        // The pending version: what it asks for, and why.
        let nav = b.find("nav a[href='/admin']");
        b.click(&nav);
        let section = b.find("#admin-sections a[href='/admin/plugins']");
        b.click(&section);
        let link = b.find("#plugins tr[data-plugin=card] a");
        b.click(&link);
        b.wait_url("/admin/plugins/card");
        assert_eq!(b.text_of("[id='version-1.0.0'] .purpose"), "Show a contact card to the colleague who asks");
        let caps: Vec<String> = b.find_all("[id='decide-1.0.0'] input[name=cap]").iter().filter_map(|e| b.attr(e, "value")).collect();
        for want in ["read:contact.first_name", "read:contact.phone", "route:GET /card"] {
            assert!(caps.iter().any(|c| c == want), "{want} in {caps:?}");
        }
        b.screenshot("pending approval");

        // Leave the phone out, and preview on the real record what would cross.
        let phone = b.find("[id='decide-1.0.0'] input[value='read:contact.phone']");
        b.click(&phone);
        b.fill("[id='req-1.0.0']", &format!("GET /card?id={id}"));
        let preview = b.find("[id='decide-1.0.0'] button[value=preview]");
        b.click(&preview);
        let crossed = b.text_of("#preview .crossed");
        assert!(crossed.contains("first_name") && !crossed.contains("phone"), "{crossed}");
        assert!(b.text_of("#preview").contains("read:contact.phone"), "named as left out");
        assert!(!b.source().contains("0013"), "a preview shows names, never values");
        let still = b.find("[id='decide-1.0.0'] input[value='read:contact.phone']");
        assert!(b.attr(&still, "checked").is_none(), "the choice survives the preview");
        b.screenshot("preview without the phone");
        assert_eq!(admin.get(&format!("/plugins/card/card?id={id}")).status, 404, "a preview approves nothing");

        // Approve the rest.
        let approve = b.find("[id='decide-1.0.0'] button.approve");
        b.click(&approve);
        b.wait_url("done=saved");
        assert_eq!(b.text_of("#active-version"), "1.0.0");
        let granted = b.text_of("[id='version-1.0.0'] .granted");
        assert!(granted.contains("read:contact.first_name") && !granted.contains("phone"), "{granted}");
        b.screenshot("approved in part");
        let info = admin.get("/api/v1/plugins/card").body;
        let api_granted = info["versions"][0]["granted"].as_array().unwrap();
        assert!(!api_granted.iter().any(|g| g == "read:contact.phone") && api_granted.iter().any(|g| g == "read:contact.email"), "{info}");

        // The plugin's own page shows what it was granted and nothing more.
        b.goto(&format!("{base}/plugins/card/card?id={id}"));
        assert_eq!(b.text_of("#card-first_name td"), "Mei");
        assert_eq!(b.text_of("#card-email td"), "mei.lin@example.com");
        assert_eq!(b.text_of("#card-phone td"), "not granted");
        assert!(!b.source().contains("0013"));
        b.screenshot("plugin page respects the grant");
        b.assert_only_from(&base);
        let approvals = audit(&admin, "action=plugin.approve");
        assert_eq!(approvals.len(), 1, "{approvals:?}");
    }
}

#[test]
fn a_privacy_officer_carries_a_request_from_the_public_form_to_the_export_download() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "dsr");
        let (srv, maildir) = start_with_mail(&inst);
        let base = srv.base.clone();
        let admin = srv.client();
        let person = admin.create("contact", json!({"first_name": "Wen", "last_name": "Requester", "email": "wen.requester@example.com", "phone": "+86 137 1234 5678"}));
        add_user(&admin, "maria.web", PASSWORD, "privacy_officer", &[]);
        // The requester's browser speaks Chinese: the public form does too.
        let Some(b) = Browser::start(&format!("dsr-{}", tag(backend)), "zh-CN") else { return };

        b.goto(&format!("{base}/public/requests"));
        assert_eq!(b.text_of("h1"), "您的数据：提交请求");
        assert_eq!(b.attr(&b.find("html"), "lang").as_deref(), Some("zh-CN"));
        b.assert_only_from(&base);
        let pipl = b.find("#regime option[value=pipl]");
        b.click(&pipl);
        let access = b.find("#kind option[value=access]");
        b.click(&access);
        b.fill("#email", "wen.requester@example.com");
        b.fill("#name", "Wen R.");
        b.screenshot("public request form");
        let send = b.find("#dsr-form button[type=submit]");
        b.click(&send);
        let reference = b.text_of("#reference");
        assert!(reference.starts_with("dsr-"), "{reference}");
        b.screenshot("verification step");
        b.fill("#code", "000000");
        let confirm = b.find("#dsr-verify button");
        b.click(&confirm);
        b.find("#code-error");
        let code = wait_for_code(maildir.path(), "wen.requester@example.com");
        b.fill("#code", &code);
        let confirm = b.find("#dsr-verify button");
        b.click(&confirm);
        b.find("#verified");
        b.screenshot("request confirmed");

        // The privacy officer finds it in the queue with its law, deadline and days left.
        let en = b.find("footer a[hreflang=en]");
        b.click(&en);
        b.goto(&format!("{base}/login"));
        b.fill("#username", "maria.web");
        b.fill("#password", PASSWORD);
        let submit = b.find("#sign-in button[type=submit]");
        b.click(&submit);
        let nav = b.find("nav a[href='/privacy/requests']");
        b.click(&nav);
        let row = b.find(&format!("#dsr-queue tr[data-request='{reference}']"));
        let text = b.text(&row);
        assert!(text.contains("PIPL") && text.contains("access") && text.contains("verified"), "{text}");
        let days: i64 = b.text(&b.find(&format!("#dsr-queue tr[data-request='{reference}'] .days-left"))).trim().parse().unwrap();
        assert!((14..=25).contains(&days), "PIPL gives 15 working days: {days}");
        assert!(!b.source().contains("wen.requester@example.com"), "the queue leaves the requester out");
        b.screenshot("queue");
        let link = b.find(&format!("#dsr-queue tr[data-request='{reference}'] a"));
        b.click(&link);
        b.wait_url(&format!("/privacy/requests/{reference}"));
        assert_eq!(b.text_of("#request-status"), "verified");
        assert_eq!(b.text_of("#steps [aria-current=step]"), "Verified");
        assert!(b.text_of("#requester").contains("wen.requester@example.com"));
        b.screenshot("request page");

        // Build the bundle and download it: one person's records, nobody else's.
        let build = b.find("#export button");
        b.click(&build);
        b.wait_url("done=saved");
        b.wait_text("#request-status", "in_progress");
        let href = b.attr(&b.find("#download"), "href").unwrap().trim_start_matches(base.as_str()).to_string();
        b.screenshot("bundle ready");
        let got = b.script_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(async r => {
               const bytes = new Uint8Array(await r.arrayBuffer());
               const text = new TextDecoder('latin1').decode(bytes);
               done({status: r.status, type: r.headers.get('content-type'), disposition: r.headers.get('content-disposition'),
                     zip: bytes[0] === 0x50 && bytes[1] === 0x4b, email: text.includes('wen.requester@example.com'), id: text.includes(arguments[1])});
             }).catch(e => done({error: String(e)}));",
            json!([href, person["id"]]),
        );
        assert_eq!(got["status"], 200, "{got}");
        assert_eq!(got["type"], "application/zip");
        assert!(got["disposition"].as_str().unwrap().contains(&format!("{reference}.zip")), "{got}");
        assert_eq!((got["zip"].as_bool(), got["email"].as_bool(), got["id"].as_bool()), (Some(true), Some(true), Some(true)), "{got}");

        // Completed and closed.
        let to = b.find("#to option[value=completed]");
        b.click(&to);
        let apply = b.find("#transition button");
        b.click(&apply);
        // The form comes back to the same address: wait for the page to say so.
        b.wait_text("#request-status", "completed");
        let to = b.find("#to option[value=closed]");
        b.click(&to);
        let apply = b.find("#transition button");
        b.click(&apply);
        b.wait_text("#request-status", "closed");
        b.screenshot("closed");
        b.assert_only_from(&base);
        let notes = audit(&admin, "action=plugin.note.dsr.bundle");
        assert!(!notes.is_empty(), "the bundle is on record");
        // Someone without the permission gets neither the queue nor the download.
        add_user(&admin, "sales.web", PASSWORD, "sales", &[]);
        sign_out(&b);
        sign_in(&b, &base, "sales.web", None);
        b.find("#whoami");
        assert!(b.try_find("nav a[href='/privacy/requests']").is_none());
        for path in ["/privacy/requests".to_string(), format!("/privacy/requests/{reference}"), href.clone()] {
            b.goto(&format!("{base}{path}"));
            assert!(b.text_of("#error").contains("permission"), "{path}: {}", b.source());
        }
        b.screenshot("refused to sales");
    }
}

#[test]
fn a_csv_file_is_imported_in_parts_with_progress_and_a_report_of_refused_rows() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        let Some(b) = Browser::start(&format!("import-{}", tag(backend)), "en") else { return };
        // 600 rows, two of them bad: three parts of 250.
        let mut csv = String::from("first_name,last_name,email\n");
        for i in 1..=600 {
            match i {
                7 => csv.push_str("Bad,Email,not-an-email\n"),
                420 => csv.push_str("No,,nolast@example.com\n"),
                _ => csv.push_str(&format!("Person{i},\"Family, {i}\",p{i}@example.com\n")),
            }
        }
        let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
        std::fs::write(file.path(), &csv).unwrap();
        b.goto(&format!("{base}/login"));
        b.fill("#username", "admin");
        b.fill("#password", ADMIN_PASSWORD);
        let submit = b.find("#sign-in button[type=submit]");
        b.click(&submit);
        b.find("#whoami");
        b.goto(&format!("{base}/records/contact"));
        let link = b.find("#import-link");
        b.click(&link);
        let input = b.find("#import-file");
        b.type_into(&input, &file.path().display().to_string());
        b.screenshot("file chosen");
        let go = b.find("#import button[type=submit]");
        b.click(&go);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while b.try_find("#import-report:not([hidden])").is_none() {
            assert!(std::time::Instant::now() < deadline, "the import did not finish: {}", b.source());
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(b.attr(&b.find("#import-progress"), "value").as_deref(), Some("600"));
        assert_eq!(b.text_of("#rows-read"), "600");
        assert_eq!(b.text_of("#rows-created"), "598");
        let errors: Vec<String> = b.find_all("#row-errors tbody tr").iter().map(|r| b.text(r)).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].starts_with("8") && errors[0].contains("email"), "{errors:?}");
        assert!(errors[1].starts_with("421") && errors[1].contains("last_name"), "{errors:?}");
        b.screenshot("import report");
        let imports = audit(&admin, "action=import");
        assert_eq!(imports.len(), 3, "one entry per part: {imports:?}");
        let page = admin.get("/api/v1/records/contact?filter.email=p599@example.com").body;
        assert_eq!(page["records"][0]["fields"]["last_name"], "Family, 599");
    }
}
