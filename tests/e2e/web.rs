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
        w.cookies.remove("capcrm_lang");
        for lang in ["en", "zh-CN"] {
            w.lang = if lang == "en" { "en-GB,en;q=0.9" } else { "zh-CN,zh;q=0.9" };
            for path in pages {
                let p = w.get(path);
                assert_eq!(p.status, 200, "{path} in {lang}: {}", p.body);
                assert!(p.body.contains(&format!("<html lang=\"{lang}\">")), "{path} in {lang}");
                assert!(!p.body.contains(">?<"), "{path} in {lang} lacks a text");
            }
        }
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
