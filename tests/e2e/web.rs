//! The web UI over plain HTTP: headers, CSRF, redirects, escaping, validation, both languages,
//! and that a page shows no more than the same person reads through the API.

use crate::common::*;
use crate::webclient::Web;
use serde_json::json;

const PASSWORD: &str = "web test passphrase";

#[test]
fn pages_are_guarded_escaped_and_show_no_more_than_the_api() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let r = admin.post("/api/v1/users", &json!({"username": "sid.web", "password": PASSWORD, "roles": ["sales"]}));
        assert_eq!(r.status, 201, "{}", r.text);
        let sid = r.body["id"].as_str().unwrap().to_string();
        let mut fields = canary_contact("webpage");
        fields["first_name"] = json!("<script>alert('x')</script>");
        let r = admin.post("/api/v1/records/contact", &json!({"owner_id": sid, "fields": fields}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();

        // Without a session: to the sign-in form, with the page to come back to.
        let mut w = Web::new(&srv.base);
        let p = w.get("/records/contact");
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/login?next=%2Frecords%2Fcontact")));
        let p = w.get("/login");
        assert_eq!(p.status, 200);
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(p.headers["x-frame-options"], "DENY");
        assert!(!p.body.contains("<script>") && p.body.contains("<script src=\"/static/app.js\" defer></script>"), "no inline script");
        for asset in ["/static/app.css", "/static/app.js"] {
            assert_eq!(w.get(asset).status, 200, "{asset}");
        }
        assert_eq!(w.get("/static/../Cargo.toml").status, 404);

        // The sign-in form needs its CSRF token; a forged sign-in from elsewhere does nothing.
        let mut stranger = Web::new(&srv.base);
        let p = stranger.post("/login", &[("_csrf", "0"), ("username", "sid.web"), ("password", PASSWORD)], None);
        assert_eq!(p.status, 403);
        assert!(!stranger.cookies.contains_key("capcrm_session"));
        // Wrong password: the form again with the error, the user name kept, no session.
        let p = w.get("/login");
        let t = Web::form_token(&p.body);
        let p = w.post("/login", &[("_csrf", &t), ("username", "sid.web"), ("password", "not the password")], None);
        assert_eq!(p.status, 401);
        assert!(p.body.contains("Wrong user name or password") && p.body.contains("value=\"sid.web\""));
        assert!(!w.cookies.contains_key("capcrm_session"));
        // Back only to a page of this site.
        let p = w.get("/login");
        let t = Web::form_token(&p.body);
        let p = w.post("/login", &[("_csrf", &t), ("username", "sid.web"), ("password", PASSWORD), ("next", "//evil.example/")], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/")));
        assert!(w.cookies.contains_key("capcrm_session"));
        assert_eq!(w.get("/lang/en?next=https://evil.example/").location.as_deref(), Some("/"));

        // Hostile text is escaped; hidden and masked values are not on the page.
        let page = w.get(&format!("/records/contact/{id}"));
        assert_eq!(page.status, 200);
        assert!(page.body.contains("&#60;script&#62;alert(&#39;x&#39;)") && !page.body.contains("<script>alert"), "escaped: {}", &page.body[page.body.find("record-title").unwrap_or(0)..][..200]);
        assert!(page.body.contains("no-store") || page.headers["cache-control"] == "no-store");
        let api = Api::login(&srv.base, "sid.web", PASSWORD);
        let via_api = api.get(&format!("/api/v1/records/contact/{id}")).body;
        for canary in canary_strings("webpage") {
            let in_api = via_api.to_string().contains(&canary);
            assert_eq!(page.body.contains(&canary), in_api, "`{canary}` on the page ({}) as in the API ({in_api})", page.body.contains(&canary));
        }
        let list = w.get("/records/contact");
        for canary in canary_strings("webpage") {
            assert!(!list.body.contains(&canary) || via_api.to_string().contains(&canary), "`{canary}` on the list");
        }

        // What the explorer shows a person without the audit permission is their own trail, as the
        // API answers it; "my records" is a filter on the owner, in the API as on the home page.
        assert_eq!(api.get("/api/v1/audit?limit=5").status, 403);
        let mine = api.get("/api/v1/me/activity?action=read&limit=50");
        assert_eq!(mine.status, 200, "{}", mine.text);
        let entries = mine.body["entries"].as_array().unwrap();
        assert!(!entries.is_empty() && entries.iter().all(|e| e["actor"] == "sid.web" && e["action"] == "read"), "{entries:?}");
        assert_eq!(api.get("/api/v1/me/activity?actor=admin").status, 400);
        let explorer = w.get("/audit?action=read");
        assert_eq!(explorer.body.matches("<tr data-action=\"read\"").count(), entries.len().min(100));
        let owned = api.get(&format!("/api/v1/records/contact?filter.owner_id={sid}")).body;
        assert_eq!(owned["records"].as_array().unwrap().len(), 1);
        assert_eq!(api.get("/api/v1/records/contact?filter.owner_id.gt=a").status, 400);
        let none = admin.get(&format!("/api/v1/records/contact?filter.owner_id={}", uuid::Uuid::new_v4())).body;
        assert_eq!(none["records"].as_array().unwrap().len(), 0);

        // Forms need the session's CSRF token and this site's origin; a refused form changes nothing.
        let before = api.get(&format!("/api/v1/records/contact/{id}")).body["version"].clone();
        let p = w.post(&format!("/records/contact/{id}"), &[("version", "1"), ("title", "Changed")], None);
        assert_eq!(p.status, 403, "without the token");
        let csrf = w.csrf();
        let p = w.post(&format!("/records/contact/{id}"), &[("_csrf", &csrf), ("version", "1"), ("title", "Changed")], Some("https://evil.example"));
        assert_eq!(p.status, 403, "from another origin");
        assert_eq!(api.get(&format!("/api/v1/records/contact/{id}")).body["version"], before);
        // With both: saved, then an edit on top of an old version is refused, not lost.
        let p = w.post(&format!("/records/contact/{id}"), &[("_csrf", &csrf), ("version", "1"), ("title", "Changed")], Some(&srv.base));
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(api.get(&format!("/api/v1/records/contact/{id}")).body["fields"]["title"], "Changed");
        let p = w.post(&format!("/records/contact/{id}"), &[("_csrf", &csrf), ("version", "1"), ("title", "Lost update")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("changed this record meanwhile"));
        assert_eq!(api.get(&format!("/api/v1/records/contact/{id}")).body["fields"]["title"], "Changed");

        // Errors at the fields, every one at once; nothing created.
        let p = w.post("/records/deal", &[("_csrf", &csrf), ("amount", "lots"), ("probability", "1.5")], None);
        assert_eq!(p.status, 422, "{}", p.body);
        for field in ["amount", "probability", "name"] {
            assert!(p.body.contains(&format!("id=\"e-{field}\"")), "an error at `{field}`");
        }
        assert_eq!(api.get("/api/v1/records/deal").body["records"].as_array().unwrap().len(), 0);
        // In Chinese the rule of the field comes in Chinese too.
        let chosen = w.cookies.remove("capcrm_lang");
        w.lang = "zh-CN,zh;q=0.9";
        let p = w.post("/records/contact", &[("_csrf", &csrf), ("last_name", "Li"), ("email", "not-an-address")], None);
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("格式应为： 电子邮箱地址，如 name@example.com") && !p.body.contains("an email address"), "{}", p.body);
        w.lang = "en";
        if let Some(c) = chosen {
            w.cookies.insert("capcrm_lang".into(), c);
        }
        let p = w.post("/records/deal", &[("_csrf", &csrf), ("name", "Pilot"), ("amount", "1200.5")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        let deals = api.get("/api/v1/records/deal").body;
        assert_eq!(deals["records"][0]["fields"]["amount"], 1200.5);
        // A malformed or oversized form, and an unknown object, are refused with a page.
        let r = w.http.post(format!("{}/records/deal", srv.base)).header("cookie", w.cookie_header()).header("content-type", "application/json").body("{}").send().unwrap();
        assert_eq!(r.status(), 415);
        let big = "x".repeat(2 * 1024 * 1024);
        let p = w.post("/records/deal", &[("_csrf", &csrf), ("name", &big)], None);
        assert_eq!(p.status, 413);
        assert_eq!(w.get("/records/starship").status, 404);
        assert_eq!(w.get("/records/contact/not-a-uuid").status, 404);

        // Every page in both languages; the texts exist in each (a missing one fails the page).
        let pages = ["/", "/records", "/records/contact", &format!("/records/contact/{id}"), &format!("/records/contact/{id}/edit"), "/records/deal/new", "/audit", "/me/security"];
        w.assert_in_both_languages(&pages);
        // The language switch overrides the browser.
        let p = w.get("/lang/en?next=/audit");
        assert_eq!(p.location.as_deref(), Some("/audit"));
        assert!(w.get("/audit").body.contains("<html lang=\"en\">"));

        // Signing out ends the session everywhere.
        let session = w.cookies.get("capcrm_session").cloned().unwrap();
        let p = w.post("/logout", &[("_csrf", &csrf)], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/login?done=signed_out")));
        let replay = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let r = replay.get(format!("{}/records", srv.base)).header("cookie", format!("capcrm_session={session}")).send().unwrap();
        assert_eq!(r.status(), 303);
        assert!(r.headers()["location"].to_str().unwrap().contains("expired=1"));
    }
}

#[test]
fn csv_import_reports_each_refused_row_and_exports_obey_the_role_limit() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let role = json!({
            "name": "importer", "description": "Imports and exports contacts.",
            "objects": {"contact": {"scope": "all", "actions": ["create", "read", "export"], "export_limit": 2,
                "classes": {"public": "write", "internal": "write", "personal": "write", "sensitive": "masked"}}}
        });
        assert_eq!(admin.send("PUT", "/api/v1/roles/importer", Some(&role)).status, 200);
        for (name, r) in [("ima.web", "importer"), ("sal.web", "sales")] {
            let res = admin.post("/api/v1/users", &json!({"username": name, "password": PASSWORD, "roles": [r]}));
            assert_eq!(res.status, 201, "{}", res.text);
        }
        let mut w = Web::new(&srv.base);
        assert_eq!(w.sign_in("ima.web", PASSWORD).status, 303);
        let csrf = w.csrf();
        let form = w.get("/records/contact/import");
        assert_eq!(form.status, 200);
        assert!(form.body.contains("id=\"import-file\"") && form.body.contains("<progress"));

        // Good rows are kept; every refused row is reported with its line and field.
        let csv = "first_name,Last name,email,phone\nAda,Lovelace,ada@example.com,+44 20 7946 0001\nBad,Mail,not-an-email,\nNo,,nolast@example.com,\n\n\"Quoted, Name\",Smith,q.smith@example.com,\n";
        let p = w.post("/records/contact/import", &[("_csrf", &csrf), ("csv", csv)], None);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("<dd id=\"rows-read\">4</dd>") && p.body.contains("<dd id=\"rows-created\">2</dd>"), "{}", p.body);
        assert!(p.body.contains("<td>3</td><td>email</td>") && p.body.contains("<td>4</td><td>last_name</td>"), "{}", p.body);
        let api = Api::login(&srv.base, "ima.web", PASSWORD);
        let listed = api.get("/api/v1/records/contact?limit=50").body;
        let names: Vec<&str> = listed["records"].as_array().unwrap().iter().filter_map(|r| r["fields"]["first_name"].as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"Quoted, Name"));
        // A later part of a file (from the page's script) keeps the file's line numbers.
        let p = w.post("/records/contact/import", &[("_csrf", &csrf), ("csv", "first_name,last_name,email\nLate,Row,bad\n"), ("first_line", "251"), ("format", "json")], None);
        let report: serde_json::Value = serde_json::from_str(&p.body).unwrap();
        assert_eq!(report["errors"][0]["line"], 252, "{report}");
        // A header mistake refuses the whole import: nothing is created.
        for (header, status) in [("first_name,shoe_size", 400), ("last_name,national_id", 403)] {
            let p = w.post("/records/contact/import", &[("_csrf", &csrf), ("csv", &format!("{header}\nX,Y\n"))], None);
            assert_eq!(p.status, status, "{header}: {}", p.body);
        }
        assert_eq!(api.get("/api/v1/records/contact?limit=50").body["records"].as_array().unwrap().len(), 2);
        // The same import through the API.
        let r = api.send_raw("POST", "/api/v1/records/contact/import", Some("{}".into()), &[]);
        assert_eq!(r.status, 415, "JSON is not CSV: {}", r.text);
        let r = api.http.post(format!("{}/api/v1/records/contact/import", srv.base)).bearer_auth(&api.token).header("content-type", "text/csv").body("last_name,email\nViaApi,via.api@example.com\n").send().unwrap();
        assert_eq!(r.status(), 200);
        let report: serde_json::Value = r.json().unwrap();
        assert_eq!(report["created"].as_array().unwrap().len(), 1, "{report}");

        // Export within the limit: ready, downloadable once, as the person sees the records.
        let p = w.post("/records/contact/export", &[("_csrf", &csrf), ("field", "email"), ("op", "eq"), ("value", "ada@example.com")], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/exports?done=ready")), "{}", p.body);
        let page = w.get("/exports?done=ready");
        let at = page.body.find("/download\"").expect("a download link");
        let start = page.body[..at].rfind("/exports/").unwrap();
        let link = format!("{}/download", &page.body[start..at]);
        let d = w.get(&link);
        assert_eq!(d.status, 200);
        assert!(d.body.starts_with("id,") && d.body.contains("Lovelace") && !d.body.contains("Smith"), "{}", d.body);
        assert_ne!(w.get(&link).status, 200, "an export downloads once");
        // Above the limit (3 contacts, limit 2): held for a second administrator.
        let p = w.post("/records/contact/export", &[("_csrf", &csrf)], None);
        assert_eq!(p.location.as_deref(), Some("/exports?done=held"));
        let page = w.get("/exports?done=held");
        assert!(page.body.contains("data-status=\"pending_approval\""), "{}", page.body);
        // A role without export gets no export button, and a forged request is refused.
        let mut s = Web::new(&srv.base);
        s.sign_in("sal.web", PASSWORD);
        assert!(!s.get("/records/contact").body.contains("id=\"export\""));
        let sc = s.csrf();
        assert_eq!(s.post("/records/contact/export", &[("_csrf", &sc)], None).status, 403);
    }
}

#[test]
fn a_privacy_officer_reads_and_records_a_persons_consent() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "consent");
        let srv = inst.start();
        let admin = srv.client();
        let person = admin.create("contact", json!({"last_name": "Consenting", "email": "consent.person@example.com"}));
        for (name, role) in [("dpo.web", "privacy_officer"), ("seller.web", "sales")] {
            let r = admin.post("/api/v1/users", &json!({"username": name, "password": PASSWORD, "roles": [role]}));
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let mut w = Web::new(&srv.base);
        w.sign_in("dpo.web", PASSWORD);
        let p = w.get("/privacy/consents?email=consent.person@example.com");
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains(person["subject_id"].as_str().unwrap()), "the person is found");
        let csrf = w.csrf();
        let p = w.post("/privacy/consents", &[("_csrf", &csrf), ("email", "consent.person@example.com"), ("purpose", "newsletter"), ("granted", "true"), ("source", "letter of 2026-12-01"), ("policy_version", "v3")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        let p = w.get(p.location.as_deref().unwrap());
        assert!(p.body.contains("data-purpose=\"newsletter\" data-granted=\"true\""), "{}", p.body);
        let consents = admin.get(&format!("/api/v1/records/consent?filter.contact={}", person["id"].as_str().unwrap())).body;
        assert_eq!(consents["records"].as_array().unwrap().len(), 1, "{consents}");
        assert_eq!(consents["records"][0]["fields"]["policy_version"], "v3");
        // Withdrawn: the decision in force follows.
        let p = w.post("/privacy/consents", &[("_csrf", &csrf), ("email", "consent.person@example.com"), ("purpose", "newsletter"), ("granted", "false"), ("source", "phone call"), ("policy_version", "v3")], None);
        assert_eq!(p.status, 303);
        assert!(w.get("/privacy/consents?email=consent.person@example.com").body.contains("data-purpose=\"newsletter\" data-granted=\"false\""));
        // Bad input comes back with the plugin's message; others may not look.
        let p = w.get("/privacy/consents?email=not-an-address");
        assert_eq!(p.status, 400);
        assert!(p.body.contains("email address"), "{}", p.body);
        let mut s = Web::new(&srv.base);
        s.sign_in("seller.web", PASSWORD);
        assert_eq!(s.get("/privacy/consents?email=consent.person@example.com").status, 403);
        let sc = s.csrf();
        assert_eq!(s.post("/privacy/consents", &[("_csrf", &sc), ("email", "consent.person@example.com"), ("purpose", "newsletter"), ("granted", "true"), ("source", "x"), ("policy_version", "v3")], None).status, 403);
    }
}

/// Every page, in both languages: it answers, says its language, and names no resource on another
/// server (scripts, styles, images, forms and links all stay on this one).
#[test]
fn every_page_works_in_both_languages_and_fetches_nothing_from_elsewhere() {
    for backend in backends() {
        let inst = Instance::new(backend);
        for name in ["dsr", "consent", "leads"] {
            install_first_party(&inst, name);
        }
        let srv = inst.start();
        let admin = srv.client();
        let c = admin.create("contact", json!({"last_name": "Everypage", "email": "every.page@example.com"}));
        let id = c["id"].as_str().unwrap().to_string();
        admin.create("activity", json!({"kind": "call", "subject": "First call", "contact": id, "occurred_at": "2026-11-30T10:00:00Z"}));
        let http = reqwest::blocking::Client::new();
        let r: serde_json::Value = http.post(format!("{}/plugins/dsr/requests", srv.base)).json(&json!({"regime": "gdpr", "kind": "access", "email": "every.page@example.com"})).send().unwrap().json().unwrap();
        let request = r["id"].as_str().unwrap().to_string();
        let lead = admin.create("lead", json!({"last_name": "Pipeline", "company_name": "Everypage Ltd", "stage": "qualified"}));
        let lead = lead["id"].as_str().unwrap().to_string();
        let admin_id = admin.get("/api/v1/me").body["user_id"].as_str().unwrap().to_string();
        let mut w = Web::new(&srv.base);
        assert_eq!(w.sign_in("admin", ADMIN_PASSWORD).status, 303);
        let mut stranger = Web::new(&srv.base);
        let pages: Vec<(bool, String)> = [
            "/", "/records", "/records/contact", &format!("/records/contact/{id}"), &format!("/records/contact/{id}/edit"), "/records/contact/new",
            "/records/contact/import", "/records/activity", "/exports", "/audit", "/audit?action=read", "/me/security", "/me/mfa/setup", "/admin/plugins",
            "/admin/plugins/dsr", "/privacy/requests", &format!("/privacy/requests/{request}"), "/privacy/consents", "/privacy/consents?email=every.page@example.com",
            "/leads", &format!("/leads/{lead}/convert"), &format!("/records/lead/{lead}"),
            "/admin", "/admin/users", "/admin/users/new", &format!("/admin/users/{admin_id}"), "/admin/teams", "/admin/roles", "/admin/roles/manager",
            "/admin/keys", "/admin/alerts", "/admin/exports",
        ]
        .iter()
        .map(|p| (true, p.to_string()))
        .chain(["/login", "/public/requests", "/public/lead"].iter().map(|p| (false, p.to_string())))
        .collect();
        let outside = |body: &str| -> Option<String> {
            for attr in ["src=\"", "href=\"", "action=\"", "url("] {
                for (i, _) in body.match_indices(attr) {
                    let v = &body[i + attr.len()..];
                    if v.starts_with("http:") || v.starts_with("https:") || v.starts_with("//") {
                        return Some(v.chars().take(80).collect());
                    }
                }
            }
            None
        };
        for (lang, accept) in [("en", "en-US,en;q=0.9"), ("zh-CN", "zh-CN,zh;q=0.9,en;q=0.5")] {
            w.lang = accept;
            stranger.lang = accept;
            for (signed_in, path) in &pages {
                let p = if *signed_in { w.get(path) } else { stranger.get(path) };
                assert_eq!(p.status, 200, "{path} in {lang}: {}", p.body);
                assert!(p.body.contains(&format!("<html lang=\"{lang}\">")), "{path} in {lang}");
                assert!(outside(&p.body).is_none(), "{path} names {:?}", outside(&p.body));
                assert!(p.headers["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"), "{path}");
            }
        }
        assert!(w.get(&format!("/records/lead/{lead}")).body.contains(&format!("href=\"/leads/{lead}/convert\"")), "a lead's page leads to its conversion");
        for asset in ["/static/app.css", "/static/app.js", "/static/board.js"] {
            let body = w.get(asset).body;
            assert!(outside(&body).is_none() && !body.contains("@import") && !body.contains("fetch(\"http"), "{asset} reaches outside");
        }
    }
}

/// An erasure request through the privacy officer's pages: a hold blocks it and is shown as its
/// exception; released, the erasure goes through and its receipt is on the request.
#[test]
fn an_erasure_is_blocked_by_a_hold_then_carried_out_with_its_receipt() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "dsr");
        let (srv, maildir) = start_with_mail(&inst);
        let admin = srv.client();
        let person = admin.create("contact", json!({"last_name": "Forgetme", "email": "forget.me@example.com", "phone": "+49 30 1234567"}));
        add_user(&admin, "dpo2.web", PASSWORD, "privacy_officer", &[]);

        // The requester, through the public pages.
        let mut public = Web::new(&srv.base);
        let p = public.post("/public/requests", &[("regime", "gdpr"), ("kind", "erasure"), ("email", "forget.me@example.com"), ("name", "F. Me"), ("website", "")], None);
        assert_eq!(p.status, 200, "{}", p.body);
        let at = p.body.find("id=\"reference\">").unwrap() + 15;
        let reference = p.body[at..at + p.body[at..].find('<').unwrap()].to_string();
        let respond_by = p.body.split("name=\"respond_by\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let p = public.post("/public/requests/verify", &[("id", &reference), ("code", "000000"), ("respond_by", &respond_by)], None);
        assert_eq!(p.status, 400, "a wrong code");
        let code = wait_for_code(maildir.path(), "forget.me@example.com");
        let p = public.post("/public/requests/verify", &[("id", &reference), ("code", &code), ("respond_by", &respond_by)], None);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("id=\"verified\""));
        // The public form refuses nonsense with its message and keeps what was typed.
        let p = public.post("/public/requests", &[("regime", "lgpd"), ("kind", "erasure"), ("email", "forget.me@example.com")], None);
        assert_eq!(p.status, 400);
        assert!(p.body.contains("regime") && p.body.contains("value=\"forget.me@example.com\""), "{}", p.body);

        let mut w = Web::new(&srv.base);
        w.sign_in("dpo2.web", PASSWORD);
        let csrf = w.csrf();
        let page = format!("/privacy/requests/{reference}");
        let act = |w: &mut Web, action: &str, extra: &[(&str, &str)]| {
            let mut form = vec![("_csrf", csrf.as_str())];
            form.extend_from_slice(extra);
            w.post(&format!("{page}/{action}"), &form, None)
        };
        assert_eq!(act(&mut w, "hold", &[("reason", "litigation hold 2026-17")]).status, 303);
        let p = w.get(&page);
        assert!(p.body.contains("litigation hold 2026-17"), "the hold is listed");
        let p = act(&mut w, "erase", &[("reason", "requested by the person")]);
        assert_eq!(p.status, 409, "blocked: {}", p.body);
        assert!(p.body.contains("id=\"step-error\"") && p.body.contains("id=\"exceptions\"") && p.body.contains("litigation hold 2026-17"), "{}", p.body);
        assert_eq!(admin.get(&format!("/api/v1/records/contact/{}", person["id"].as_str().unwrap())).status, 200, "nothing erased");
        let hold = p.body.split("name=\"hold\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        assert_eq!(act(&mut w, "release", &[("hold", &hold)]).status, 303);
        let p = w.get(&page);
        assert!(!p.body.contains("name=\"hold\" value=\""), "no hold left to release");
        let p = act(&mut w, "erase", &[("reason", "requested by the person")]);
        assert_eq!(p.status, 303, "{}", p.body);
        let p = w.get(&page);
        assert!(p.body.contains("id=\"receipt\"") && p.body.contains("<dd id=\"request-status\">completed</dd>"), "{}", p.body);
        assert!(!p.body.contains("forget.me@example.com"), "the requester's details went with the person");
        let r = admin.get(&format!("/api/v1/records/contact/{}", person["id"].as_str().unwrap()));
        assert!(r.status == 404 || r.body["erased"] == true, "erased: {}", r.text);
    }
}

/// An upgrade that asks for more shows what it adds before anyone approves it; revoke, disable and
/// enable act at once.
#[test]
fn a_plugin_upgrade_shows_its_capability_diff_and_revoke_disable_enable_act() {
    use base64::Engine as _;
    let wasm = base64::engine::general_purpose::STANDARD.encode(std::fs::read(guest_wasm("guest-card")).unwrap());
    let manifest = |version: &str, extra: &str| {
        format!("name = \"card\"\nversion = \"{version}\"\nauthor = \"t\"\ndescription = \"d\"\npurpose = \"Show contact cards\"\nroutes = [\"GET /card\"]\n\n[access.contact]\nread = [\"first_name\", \"last_name\"{extra}]\n")
    };
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let c = admin.create("contact", json!({"first_name": "Up", "last_name": "Grade", "email": "up.grade@example.com"}));
        assert_eq!(admin.post("/api/v1/plugins", &json!({"manifest": manifest("1.0.0", ""), "component_base64": wasm})).status, 201);
        assert_eq!(admin.post("/api/v1/plugins/card/approve", &json!({})).status, 200);
        assert_eq!(admin.post("/api/v1/plugins", &json!({"manifest": manifest("1.1.0", ", \"email\""), "component_base64": wasm})).status, 201);
        let mut w = Web::new(&srv.base);
        w.sign_in("admin", ADMIN_PASSWORD);
        let p = w.get("/admin/plugins/card");
        assert_eq!(p.status, 200);
        let pending = &p.body[p.body.find("id=\"version-1.1.0\"").unwrap()..];
        let adds = &pending[pending.find("class=\"adds\"").expect("the diff is shown")..];
        assert!(adds[..adds.find("</ul>").unwrap()].contains("read:contact.email"), "{pending}");
        assert!(!adds[..adds.find("</ul>").unwrap()].contains("first_name"), "only what is new");
        // The running version keeps its grant until the upgrade is approved.
        let card = |w: &mut Web| w.get(&format!("/plugins/card/card?id={}", c["id"].as_str().unwrap()));
        assert!(card(&mut w).body.contains("<tr id=\"card-email\"><th>Email</th><td><em class=\"not-granted\">"));
        let csrf = w.csrf();
        for (action, state) in [("disable", "disabled"), ("enable", "enabled")] {
            let p = w.post(&format!("/admin/plugins/card/{action}"), &[("_csrf", &csrf)], None);
            assert_eq!(p.status, 303, "{action}");
            assert!(w.get("/admin/plugins/card").body.contains(&format!("<dd id=\"plugin-state\">{state}</dd>")), "{action}");
            assert_eq!(card(&mut w).status == 200, state == "enabled", "{action}");
        }
        assert_eq!(w.post("/admin/plugins/card/revoke", &[("_csrf", &csrf)], None).status, 303);
        assert_ne!(card(&mut w).status, 200, "revoked: its next call is refused");
        assert_eq!(w.post("/admin/plugins/card/uninstall-everything", &[("_csrf", &csrf)], None).status, 404);
        let actions: Vec<String> = admin.get("/api/v1/audit?limit=100").body["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
        for a in ["plugin.disable", "plugin.enable", "plugin.revoke"] {
            assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
        }
    }
}

/// Custom objects and fields are pages like any other: listed, created with errors at the field,
/// shown, related to the record they point at, and named as their administrator named them.
#[test]
fn custom_objects_and_fields_have_their_pages() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let def = json!({"name": "ticket", "label": "Support ticket", "subject_mode": "inherits", "custom": true, "fields": [
            {"name": "contact", "label": "Contact", "type": {"kind": "reference", "object": "contact"}, "classification": "internal", "subject_link": true, "required": true},
            {"name": "summary", "label": "Summary", "type": {"kind": "text", "max_len": 200}, "classification": "internal"},
            {"name": "urgency", "label": "Urgency", "type": {"kind": "integer"}, "classification": "internal"}
        ]});
        assert_eq!(admin.post("/api/v1/objects", &def).status, 201);
        let field = json!({"name": "loyalty_id", "label": "Loyalty card", "type": {"kind": "text", "max_len": 40}, "classification": "personal", "blind_index": true});
        assert_eq!(admin.post("/api/v1/objects/contact/fields", &field).status, 201);
        let c = admin.create("contact", json!({"last_name": "Custom", "loyalty_id": "LC-7731"}));
        let cid = c["id"].as_str().unwrap().to_string();
        let mut w = Web::new(&srv.base);
        w.sign_in("admin", ADMIN_PASSWORD);
        assert!(w.get("/records").body.contains("data-object=\"ticket\""), "listed with the built-in ones");
        let csrf = w.csrf();
        let p = w.post("/records/ticket", &[("_csrf", &csrf), ("contact", &cid), ("summary", "Printer on fire"), ("urgency", "very")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-urgency\"") && p.body.contains("value=\"Printer on fire\""), "the error at its field, the rest kept");
        let p = w.post("/records/ticket", &[("_csrf", &csrf), ("contact", &cid), ("summary", "Printer on fire"), ("urgency", "3")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        let ticket = w.get(p.location.as_deref().unwrap());
        assert!(ticket.body.contains("Printer on fire") && ticket.body.contains(&format!("href=\"/records/contact/{cid}\"")), "the reference links to its contact");
        let contact = w.get(&format!("/records/contact/{cid}"));
        assert!(contact.body.contains("Support ticket") && contact.body.contains("Printer on fire"), "the contact's page lists its tickets");
        assert!(contact.body.contains("Loyalty card") && contact.body.contains("LC-7731"), "the custom field on the record");
        // Found by its blind-indexed custom field; named as given in both languages.
        assert!(w.get("/records/contact?q=LC-7731").body.contains(&cid));
        w.lang = "zh-CN";
        let zh = w.get("/records/ticket");
        assert!(zh.body.contains("<html lang=\"zh-CN\">") && zh.body.contains("Support ticket"));
    }
}
