//! The role matrix in a real browser (headless Chromium over WebDriver), with the keyboard only:
//! one cell is changed with the arrow keys and saved with Enter. Screenshots under
//! `target/tmp/browser-screenshots/`.

use crate::common::*;
use crate::webdriver::Browser;
use serde_json::json;

const ARROW_UP: &str = "\u{E013}";
const ENTER: &str = "\u{E007}";

fn tag(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

fn focused_id(b: &Browser) -> String {
    b.script("return document.activeElement && document.activeElement.id;", json!([])).as_str().unwrap_or_default().to_string()
}

#[test]
fn a_matrix_cell_is_changed_and_saved_with_the_keyboard() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        let support = admin.get("/api/v1/roles").body.as_array().unwrap().iter().find(|r| r["name"] == "support").cloned().unwrap();
        let role = json!({"name": "desk", "description": "The front desk.", "objects": support["objects"], "system": []});
        let r = admin.send("PUT", "/api/v1/roles/desk", Some(&role));
        assert_eq!(r.status, 200, "{}", r.text);
        let before = r.body.clone();
        let Some(b) = Browser::start(&format!("admin-matrix-{}", tag(backend)), "en") else { return };

        b.goto(&format!("{base}/admin/roles/desk"));
        b.wait_url("/login");
        b.fill("#username", "admin");
        b.fill("#password", ADMIN_PASSWORD);
        let submit = b.find("#sign-in button[type=submit]");
        b.click(&submit);
        b.wait_url("/admin/roles/desk");
        b.find("#matrix-contact");
        b.screenshot("role matrix");
        b.assert_only_from(&base);

        // The cell is a labelled select: its own label, and the object and column named for
        // screen readers.
        let cell = b.find("#cell-contact-phone");
        assert_eq!(b.attr(&cell, "aria-labelledby").as_deref(), Some("gh-contact cl-contact-phone ch-contact"));
        assert!(b.try_find("label[for=cell-contact-phone]").is_some());
        let name = b.script(
            "const el = document.getElementById('cell-contact-phone'); return el.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id).textContent.trim()).join(' ');",
            json!([]),
        );
        let name = name.as_str().unwrap_or_default().to_string();
        assert!(name.contains("Phone") && name.contains("Access"), "the cell's accessible name: {name}");

        // Focus the cell, move up one level with the arrow key (read -> masked), save with Enter.
        b.script("document.getElementById('cell-contact-phone').focus();", json!([]));
        assert_eq!(focused_id(&b), "cell-contact-phone");
        assert_eq!(b.script("return document.activeElement.value;", json!([])), json!("read"));
        b.keys(ARROW_UP);
        assert_eq!(b.script("return document.getElementById('cell-contact-phone').value;", json!([])), json!("masked"));
        b.screenshot("cell changed with the arrow key");
        b.keys(ENTER);
        b.wait_url("done=saved");
        b.find(".notice");
        let row = b.find("#matrix-contact tr[data-field=phone]");
        assert_eq!(b.attr(&row, "data-access").as_deref(), Some("masked"));
        assert_eq!(b.attr(&row, "data-own-entry").as_deref(), Some("true"));
        b.screenshot("saved");

        // Saved as that one change, as the API reports.
        let after = admin.get("/api/v1/roles").body.as_array().unwrap().iter().find(|r| r["name"] == "desk").cloned().unwrap();
        assert_eq!(after["objects"]["contact"]["fields"], json!({"phone": "masked"}));
        let mut expected = before.clone();
        expected["objects"]["contact"]["fields"] = json!({"phone": "masked"});
        assert_eq!(after, expected, "nothing else changed");

        // The other sections, as the administrator sees them.
        for (path, marker, shot) in [("/admin", "#admin-sections", "admin index"), ("/admin/users", "#users", "users"), ("/admin/roles", "#role-new", "roles"), ("/admin/keys", "#key-versions", "keys"), ("/admin/alerts", "#alert-rules", "alerts")] {
            b.goto(&format!("{base}{path}"));
            b.find(marker);
            b.screenshot(shot);
            b.assert_only_from(&base);
        }
    }
}
