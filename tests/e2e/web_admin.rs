//! The administration pages over plain HTTP: users and teams through the forms (errors at the
//! field, nothing created by a bad form), refusals for everyone else, the role matrix editor
//! (what it saves is what the API reports and what a holder of the role sees), CSRF, key
//! rotation, alerts and held exports; every page in both languages.

use crate::common::*;
use crate::webclient::{Page, Web};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "lantern orchard quietly 42";

fn signed_in(base: &str, user: &str, password: &str) -> Web {
    let mut w = Web::new(base);
    let p = w.sign_in(user, password);
    assert_eq!(p.status, 303, "sign-in of {user}: {}", p.body);
    assert!(w.cookies.contains_key("capcrm_session"));
    w
}

fn user_named(admin: &Api, name: &str) -> Option<Value> {
    admin.get(&format!("/api/v1/users?q={name}")).body["users"].as_array().unwrap().iter().find(|u| u["username"] == name).cloned()
}

fn role_named(admin: &Api, name: &str) -> Option<Value> {
    admin.get("/api/v1/roles").body.as_array().unwrap().iter().find(|r| r["name"] == name).cloned()
}

/// Undoes the template's escaping of an attribute or text.
fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"").replace("&quot;", "\"").replace("&#39;", "'").replace("&#60;", "<").replace("&lt;", "<").replace("&#62;", ">").replace("&gt;", ">").replace("&#38;", "&").replace("&amp;", "&")
}

fn attrs(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches('<');
    rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('>') || rest.starts_with("/>") {
            return out;
        }
        let end = rest.find(|c: char| c == '=' || c.is_whitespace() || c == '>').unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        rest = &rest[end..];
        if let Some(r) = rest.strip_prefix("=\"") {
            let close = r.find('"').unwrap();
            out.push((name, Some(unescape(&r[..close]))));
            rest = &r[close + 1..];
        } else {
            out.push((name, None));
        }
    }
}

fn attr(a: &[(String, Option<String>)], name: &str) -> Option<String> {
    a.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone().unwrap_or_default())
}

/// The fields a browser sends for the form `id` of a page as it is (submit buttons left out).
fn form_fields(body: &str, id: &str) -> Vec<(String, String)> {
    let start = body.find(&format!("<form id=\"{id}\"")).unwrap_or_else(|| panic!("no form #{id}"));
    let form = &body[start..start + body[start..].find("</form>").expect("the form ends")];
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = form[i..].find('<') {
        let at = i + off;
        let end = at + form[at..].find('>').unwrap() + 1;
        let tag = &form[at..end];
        let name_of = |t: &str| t[1..].split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("").to_ascii_lowercase();
        let kind = name_of(tag);
        let a = attrs(tag);
        i = end;
        let Some(name) = attr(&a, "name") else { continue };
        if attr(&a, "disabled").is_some() {
            continue;
        }
        match kind.as_str() {
            "input" => {
                let t = attr(&a, "type").unwrap_or_else(|| "text".into());
                let value = attr(&a, "value").unwrap_or_default();
                match t.as_str() {
                    "checkbox" | "radio" => {
                        if attr(&a, "checked").is_some() {
                            out.push((name, if attr(&a, "value").is_some() { value } else { "on".into() }));
                        }
                    }
                    "submit" | "button" | "image" | "reset" => {}
                    _ => out.push((name, value)),
                }
            }
            "textarea" => {
                let close = form[end..].find("</textarea>").unwrap();
                out.push((name, unescape(&form[end..end + close])));
            }
            "select" => {
                let close = end + form[end..].find("</select>").unwrap();
                let mut first = None;
                let mut chosen = None;
                for opt in form[end..close].split("<option").skip(1) {
                    let tag_end = opt.find('>').unwrap();
                    let oa = attrs(&format!("<option{}", &opt[..=tag_end]));
                    let text = unescape(opt[tag_end + 1..].split('<').next().unwrap_or(""));
                    let v = attr(&oa, "value").unwrap_or(text);
                    if first.is_none() {
                        first = Some(v.clone());
                    }
                    if attr(&oa, "selected").is_some() {
                        chosen = Some(v);
                    }
                }
                out.push((name, chosen.or(first).unwrap_or_default()));
                i = close;
            }
            _ => {}
        }
    }
    out
}

fn set(fields: &mut [(String, String)], name: &str, value: &str) {
    let slot = fields.iter_mut().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no field `{name}` on the form"));
    slot.1 = value.to_string();
}

fn post_fields(w: &mut Web, path: &str, fields: &[(String, String)]) -> Page {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    w.post(path, &pairs, None)
}

#[test]
fn admins_manage_users_and_teams_through_the_forms_and_others_are_refused() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let admin_id = user_named(&admin, "admin").unwrap()["id"].as_str().unwrap().to_string();
        let mut w = signed_in(&srv.base, "admin", ADMIN_PASSWORD);

        // The index offers every section an administrator has; the navigation has one Admin entry.
        let p = w.get("/admin");
        assert_eq!(p.status, 200, "{}", p.body);
        for href in ["/admin/users", "/admin/teams", "/admin/roles", "/admin/plugins", "/admin/keys", "/admin/alerts", "/admin/exports"] {
            assert!(p.body.contains(&format!("data-section=\"{href}\"")), "{href} on the index");
        }
        assert!(p.body.contains("<a href=\"/admin\" aria-current=\"page\">Admin</a>"), "the Admin entry, current");
        assert!(!p.body.contains("href=\"/admin/plugins\" aria-current"), "no separate Plugins entry");

        // Teams: created through the form; a second one of the same name is refused at the name.
        let t = w.csrf();
        let p = w.post("/admin/teams", &[("_csrf", &t), ("name", "North")], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/teams?done=saved")), "{}", p.body);
        let p = w.post("/admin/teams", &[("_csrf", &t), ("name", "North")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-name\"") && p.body.contains("already exists") && p.body.contains("value=\"North\""), "{}", p.body);
        assert_eq!(admin.get("/api/v1/teams").body.as_array().unwrap().len(), 1);

        // A weak password comes back at its field, with everything else as sent; nobody is created.
        let p = w.get("/admin/users/new");
        assert_eq!(p.status, 200);
        let token = Web::form_token(&p.body);
        let weak = w.post("/admin/users", &[("_csrf", &token), ("username", "wendy"), ("password", "short"), ("role", "sales"), ("team", "North")], None);
        assert_eq!(weak.status, 422, "{}", weak.body);
        assert!(weak.body.contains("id=\"e-password\"") && weak.body.contains("password policy"), "{}", weak.body);
        assert!(weak.body.contains("aria-invalid=\"true\"") && weak.body.contains("value=\"wendy\""));
        assert!(weak.body.contains("name=\"role\" value=\"sales\" checked") && weak.body.contains("name=\"team\" value=\"North\" checked"), "choices kept");
        assert!(!weak.body.contains("value=\"short\""), "the password is not sent back");
        assert!(user_named(&admin, "wendy").is_none(), "no user from a refused form");
        // Without a role, and with a name taken: errors at those fields.
        let p = w.post("/admin/users", &[("_csrf", &token), ("username", "wendy"), ("password", PASSWORD)], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-roles\""));
        let p = w.post("/admin/users", &[("_csrf", &token), ("username", "admin"), ("password", PASSWORD), ("role", "sales")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-username\"") && p.body.contains("already exists"), "{}", p.body);
        // A forged form (no token, or another site) creates nobody.
        let p = w.post("/admin/users", &[("username", "mallory"), ("password", PASSWORD), ("role", "admin")], None);
        assert_eq!(p.status, 403);
        let p = w.post("/admin/users", &[("_csrf", &token), ("username", "mallory"), ("password", PASSWORD), ("role", "admin")], Some("https://evil.example"));
        assert_eq!(p.status, 403);
        assert!(user_named(&admin, "mallory").is_none());

        // Created through the form: the user exists as the API reports, and can sign in.
        let p = w.post("/admin/users", &[("_csrf", &token), ("username", "wendy"), ("password", PASSWORD), ("role", "sales"), ("team", "North")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        let wendy = user_named(&admin, "wendy").expect("wendy exists");
        let wid = wendy["id"].as_str().unwrap().to_string();
        assert_eq!(p.location.as_deref(), Some(format!("/admin/users/{wid}?done=saved").as_str()));
        assert_eq!((wendy["roles"].clone(), wendy["teams"].clone()), (json!(["sales"]), json!(["North"])));
        let mut ww = signed_in(&srv.base, "wendy", PASSWORD);
        assert!(w.get("/admin/users").body.contains("data-user=\"wendy\""));
        // The list finds users by part of their name and pages by name, as the API does.
        let found = w.get("/admin/users?q=END");
        assert!(found.body.contains("data-user=\"wendy\"") && !found.body.contains("data-user=\"admin\""), "search by part of the name, any case");
        assert!(w.get("/admin/users?q=nobody-such").body.contains("id=\"no-users\""));
        assert!(w.get("/admin/users?q=%25").body.contains("id=\"no-users\""), "a wildcard searches for itself");
        let first = admin.get("/api/v1/users?limit=1");
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(first.body["users"][0]["username"], "admin");
        let after = first.body["next"].as_str().expect("a next page").to_string();
        let second = admin.get(&format!("/api/v1/users?limit=1&after={after}"));
        assert_eq!(second.body["users"][0]["username"], "wendy");
        assert!(second.body["next"].is_null(), "two users, two pages: {}", second.text);
        assert_eq!(admin.get(&format!("/api/v1/users/{wid}")).body["username"], "wendy");
        for bad in ["/api/v1/users?limit=0", "/api/v1/users?limit=501", "/api/v1/users?colour=red"] {
            assert_eq!(admin.get(bad).status, 400, "{bad}");
        }
        assert_eq!(admin.get("/api/v1/users/00000000-0000-0000-0000-000000000000").status, 404);

        // Someone without administration permissions gets refusals, and no Admin entry.
        let home = ww.get("/");
        assert_eq!(home.status, 200);
        assert!(!home.body.contains("href=\"/admin\""), "no Admin entry for sales");
        let custom = json!({"name": "helper", "description": "Helps.", "objects": {}, "system": []});
        assert_eq!(admin.send("PUT", "/api/v1/roles/helper", Some(&custom)).status, 200);
        let pages = ["/admin", "/admin/users", "/admin/users/new", &format!("/admin/users/{wid}"), "/admin/teams", "/admin/roles", "/admin/roles?from=sales", "/admin/roles/sales", "/admin/roles/helper", "/admin/keys", "/admin/alerts", "/admin/exports", "/admin/plugins"];
        for path in pages {
            let p = ww.get(path);
            assert_eq!(p.status, 403, "{path} for sales: {}", p.body);
            assert!(p.body.contains("You do not have permission"), "{path}");
        }
        let wt = ww.csrf();
        let p = ww.post("/admin/users", &[("_csrf", &wt), ("username", "sneaky"), ("password", PASSWORD), ("role", "admin")], None);
        assert_eq!(p.status, 403);
        let p = ww.post(&format!("/admin/users/{wid}"), &[("_csrf", &wt), ("role", "admin")], None);
        assert_eq!(p.status, 403);
        assert!(user_named(&admin, "sneaky").is_none());
        assert_eq!(user_named(&admin, "wendy").unwrap()["roles"], json!(["sales"]), "no one gives themselves a role");
        let denied = admin.get("/api/v1/audit?actor=wendy&outcome=denied&limit=50").body["entries"].as_array().cloned().unwrap_or_default();
        assert!(denied.iter().any(|e| e["action"] == "user.create"), "the refusal is audited: {denied:?}");

        // Roles and teams change through the user's page.
        let p = w.post(&format!("/admin/users/{wid}"), &[("_csrf", &token), ("role", "support"), ("role", "sales"), ("ip_allow", "")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        let now = user_named(&admin, "wendy").unwrap();
        assert_eq!((now["roles"].clone(), now["teams"].clone()), (json!(["sales", "support"]), json!([])));
        let p = w.post(&format!("/admin/users/{wid}"), &[("_csrf", &token), ("role", "sales"), ("ip_allow", "not-a-range")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-ip_allow\"") && p.body.contains("value=\"not-a-range\""), "{}", p.body);
        assert_eq!(user_named(&admin, "wendy").unwrap()["roles"], json!(["sales", "support"]), "a refused form changes nothing");
        let p = w.post(&format!("/admin/users/{wid}"), &[("_csrf", &token)], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-roles\""));

        // Disabling hands the records to another user and ends the sessions; enabling brings back
        // the sign-in.
        let r = admin.post("/api/v1/records/contact", &json!({"owner_id": wid, "fields": {"last_name": "Owned", "email": "owned@example.com"}}));
        assert_eq!(r.status, 201, "{}", r.text);
        let contact = r.body["id"].as_str().unwrap().to_string();
        let page = w.get(&format!("/admin/users/{wid}"));
        assert!(page.body.contains("id=\"f-reassign_to\""), "the heir is asked for");
        let p = w.post(&format!("/admin/users/{wid}/disable"), &[("_csrf", &token), ("reassign_to", "nobody-such")], None);
        assert_eq!(p.status, 422, "an unknown heir is refused at the field");
        assert!(p.body.contains("id=\"e-disable\"") && p.body.contains("There is no user of that name"), "{}", p.body);
        assert_eq!(user_named(&admin, "wendy").unwrap()["disabled"], false, "nothing changed");
        let p = w.post(&format!("/admin/users/{wid}/disable"), &[("_csrf", &token), ("reassign_to", "admin")], None);
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(user_named(&admin, "wendy").unwrap()["disabled"], true);
        assert_eq!(admin.get(&format!("/api/v1/records/contact/{contact}")).body["owner_id"], admin_id.as_str());
        let p = ww.get("/records");
        assert_eq!(p.status, 303, "the session ended");
        let mut again = Web::new(&srv.base);
        assert_ne!(again.sign_in("wendy", PASSWORD).status, 303, "a disabled user cannot sign in");
        let p = w.post(&format!("/admin/users/{admin_id}/disable"), &[("_csrf", &token)], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-disable\"") || p.body.contains("id=\"e-state\""), "one cannot disable oneself: {}", p.body);
        assert_eq!(user_named(&admin, "admin").unwrap()["disabled"], false);
        let p = w.post(&format!("/admin/users/{wid}/enable"), &[("_csrf", &token)], None);
        assert_eq!(p.status, 303);
        assert_eq!(user_named(&admin, "wendy").unwrap()["disabled"], false);
        signed_in(&srv.base, "wendy", PASSWORD);

        // A lost authenticator: the second factor is reset from the user's page.
        let api = Api::login(&srv.base, "wendy", PASSWORD);
        let e = api.post("/api/v1/me/mfa/enrol", &json!({}));
        assert_eq!(e.status, 200, "{}", e.text);
        let code = capcrm::auth::mfa::code_now(e.body["secret"].as_str().unwrap()).unwrap();
        assert_eq!(api.post("/api/v1/me/mfa/confirm", &json!({ "code": code })).status, 200);
        assert_eq!(user_named(&admin, "wendy").unwrap()["mfa_enabled"], true);
        let page = w.get(&format!("/admin/users/{wid}"));
        assert!(page.body.contains("id=\"reset-mfa\"") && page.body.contains("id=\"user-mfa\" data-on=\"true\""));
        let p = w.post(&format!("/admin/users/{wid}/reset-mfa"), &[("_csrf", &token)], None);
        assert_eq!(p.status, 303);
        assert_eq!(user_named(&admin, "wendy").unwrap()["mfa_enabled"], false);
        assert!(w.get(&format!("/admin/users/{wid}?done=mfa_reset")).body.contains("The second factor was removed."));

        // Every page in both languages.
        let pages = ["/admin", "/admin/users", "/admin/users/new", &format!("/admin/users/{wid}"), "/admin/teams", "/admin/roles", "/admin/roles?from=manager", "/admin/roles/sales", "/admin/roles/helper", "/admin/keys", "/admin/alerts", "/admin/exports"];
        w.assert_in_both_languages(&pages);
        assert!(w.get("/admin").body.contains(">管理</a>"));
    }
}

#[test]
fn the_matrix_editor_saves_what_the_api_reports_and_the_role_holder_sees() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        let mut w = signed_in(&srv.base, "admin", ADMIN_PASSWORD);
        let token = w.csrf();

        // Built-in roles are shown, not edited; a save forged for one is refused.
        let p = w.get("/admin/roles");
        assert!(p.body.contains("data-role=\"support\" data-builtin=\"true\""));
        let p = w.get("/admin/roles/support");
        assert_eq!(p.status, 200);
        assert!(!p.body.contains("id=\"role-form\"") && p.body.contains("href=\"/admin/roles?from=support#new-role\""), "read-only, with a copy");
        assert!(p.body.contains("<tr data-field=\"phone\" data-access=\"read\""), "support reads phones");
        let p = w.post("/admin/roles/support", &[("_csrf", &token), ("description", "Mine now")], None);
        assert_eq!(p.status, 409);
        assert_ne!(role_named(&admin, "support").unwrap()["description"], "Mine now");

        // A copy to adapt: the name is checked at its field.
        let p = w.get("/admin/roles?from=support");
        let desc = role_named(&admin, "support").unwrap()["description"].as_str().unwrap().to_string();
        assert!(p.body.contains("<option value=\"support\" selected>"), "the source chosen");
        assert_eq!(form_fields(&p.body, "role-new").iter().find(|(k, _)| k == "description").map(|(_, v)| v.clone()), Some(desc.clone()));
        for (bad, why) in [("Bad Name", "Lower-case letters"), ("support", "exists already"), ("", "Required")] {
            let p = w.post("/admin/roles", &[("_csrf", &token), ("from", "support"), ("name", bad), ("description", "x")], None);
            assert_eq!(p.status, 422, "{bad}");
            assert!(p.body.contains("id=\"e-name\"") && p.body.contains(why), "{bad}: {}", p.body);
        }
        let p = w.post("/admin/roles", &[("_csrf", &token), ("from", "support"), ("name", "phone_masked"), ("description", "Support, with phone numbers masked")], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/roles/phone_masked?done=saved")), "{}", p.body);
        let copied = role_named(&admin, "phone_masked").expect("the copy");
        assert_eq!(copied["objects"], role_named(&admin, "support").unwrap()["objects"], "a faithful copy");
        assert_eq!(copied["builtin"], false);

        // Saved without a change, the role stays exactly as it was.
        let page = w.get("/admin/roles/phone_masked");
        assert_eq!(page.status, 200);
        let fields = form_fields(&page.body, "role-form");
        assert!(fields.iter().any(|(k, v)| k == "cell.contact.phone" && v == "read"), "{fields:?}");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &fields);
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(role_named(&admin, "phone_masked").unwrap(), copied, "an unchanged form changes nothing");

        // A forged form without the token changes nothing.
        let mut forged = fields.clone();
        forged.retain(|(k, _)| k != "_csrf");
        set(&mut forged, "cell.contact.phone", "write");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &forged);
        assert_eq!(p.status, 403);
        assert_eq!(role_named(&admin, "phone_masked").unwrap(), copied);

        // Errors at their fields, nothing saved, nothing typed lost.
        let mut bad = fields.clone();
        set(&mut bad, "limit.contact", "lots");
        set(&mut bad, "cell.contact.email", "none");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &bad);
        assert_eq!(p.status, 422, "{}", p.body);
        assert!(p.body.contains("id=\"e-limit-contact\"") && p.body.contains("value=\"lots\""), "{}", p.body);
        assert!(p.body.contains("<tr data-field=\"email\" data-access=\"none\""), "the changed cell as sent");
        let mut bad = fields.clone();
        set(&mut bad, "ip_allow", "nowhere");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &bad);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-ip_allow\""), "{}", p.body);
        assert_eq!(role_named(&admin, "phone_masked").unwrap(), copied);

        // One cell to masked: exactly that entry is added, and the page shows where it comes from.
        let mut edit = fields.clone();
        set(&mut edit, "cell.contact.phone", "masked");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &edit);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/roles/phone_masked?done=saved")), "{}", p.body);
        let saved = role_named(&admin, "phone_masked").unwrap();
        assert_eq!(saved["objects"]["contact"]["fields"], json!({"phone": "masked"}));
        assert_eq!(saved["objects"]["contact"]["classes"], copied["objects"]["contact"]["classes"]);
        assert_eq!(saved["objects"]["account"], copied["objects"]["account"]);
        let page = w.get("/admin/roles/phone_masked?done=saved");
        assert!(page.body.contains("<tr data-field=\"phone\" data-access=\"masked\" data-own-entry=\"true\""), "{}", page.body);
        assert!(page.body.contains("<tr data-field=\"email\" data-access=\"read\" data-own-entry=\"false\""));
        assert!(page.body.contains("Saved."));
        let audit = admin.get("/api/v1/audit?action=role.put&limit=10").body["entries"].as_array().cloned().unwrap();
        assert!(audit.iter().any(|e| e["actor"] == "admin" && e["detail"].as_str().unwrap_or("").contains("phone_masked")));

        // A holder of the role sees the phone masked, in the API and on the record page.
        add_user(&admin, "mia", PASSWORD, "phone_masked", &[]);
        let r = admin.post("/api/v1/records/contact", &json!({"fields": canary_contact("matrix")}));
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_string();
        let mia = Api::login(&srv.base, "mia", PASSWORD);
        let rec = mia.get(&format!("/api/v1/records/contact/{id}"));
        assert_eq!(rec.status, 200, "{}", rec.text);
        assert!(rec.body["masked"].as_array().unwrap().iter().any(|m| m == "phone"), "{}", rec.text);
        assert_eq!(rec.body["fields"]["email"], "canary.matrix@example.com");
        assert!(!rec.text.contains("139 7531"), "{}", rec.text);
        let shown_phone = rec.body["fields"]["phone"].as_str().unwrap().to_string();
        let mut wm = signed_in(&srv.base, "mia", PASSWORD);
        let page = wm.get(&format!("/records/contact/{id}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let at = page.body.find("data-field=\"phone\"").expect("the phone on the page");
        let phone_html = &page.body[at..at + page.body[at..].find("</div>").unwrap()];
        assert!(phone_html.contains("class=\"value masked\"") && phone_html.contains(&shown_phone), "{phone_html}");
        assert!(!page.body.contains("139 7531") && page.body.contains("canary.matrix@example.com"));

        // Someone replaced the role meanwhile: the save is refused instead of undoing that.
        let page = w.get("/admin/roles/phone_masked");
        let mut stale = form_fields(&page.body, "role-form");
        let mut changed = role_named(&admin, "phone_masked").unwrap();
        changed["description"] = json!("Changed through the API");
        assert_eq!(admin.send("PUT", "/api/v1/roles/phone_masked", Some(&changed)).status, 200);
        set(&mut stale, "cell.contact.email", "none");
        let p = post_fields(&mut w, "/admin/roles/phone_masked", &stale);
        assert_eq!(p.status, 409);
        assert!(p.body.contains("changed this role meanwhile") && p.body.contains("Changed through the API"), "{}", p.body);
        assert_eq!(role_named(&admin, "phone_masked").unwrap(), changed);

        // Deleting: refused at the form while someone holds the role, then done.
        let p = w.post("/admin/roles/phone_masked/delete", &[("_csrf", &token)], None);
        assert_eq!(p.status, 409);
        assert!(p.body.contains("id=\"e-delete\"") && p.body.contains("hold"), "{}", p.body);
        let mia_id = user_named(&admin, "mia").unwrap()["id"].as_str().unwrap().to_string();
        assert_eq!(admin.patch(&format!("/api/v1/users/{mia_id}"), &json!({"roles": ["sales"]})).status, 200);
        let p = w.post("/admin/roles/phone_masked/delete", &[("_csrf", &token)], None);
        assert_eq!(p.status, 303);
        assert!(role_named(&admin, "phone_masked").is_none());
    }
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

/// The key versions as the keys page lists them: (version, state, data keys).
fn page_versions(body: &str) -> Vec<(i64, String, i64)> {
    body.split("<tr data-version=\"")
        .skip(1)
        .map(|row| {
            let version = row[..row.find('"').unwrap()].parse().unwrap();
            let s = row.find("data-state=\"").unwrap() + 12;
            let state = row[s..s + row[s..].find('"').unwrap()].to_string();
            let c = row.find("class=\"count\">").unwrap() + 14;
            let count = row[c..c + row[c..].find('<').unwrap()].parse().unwrap();
            (version, state, count)
        })
        .collect()
}

fn api_versions(api: &Api) -> Vec<(i64, String, i64)> {
    let r = api.get("/api/v1/keys");
    assert_eq!(r.status, 200, "{}", r.text);
    r.body.as_array().unwrap().iter().map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap().to_string(), v["data_keys"].as_i64().unwrap())).collect()
}

#[test]
fn keys_alerts_and_held_exports_from_the_pages() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.env("CAPCRM_ALERT_TICK_MS", "200");
        let srv = Server::start(cmd);
        let admin = srv.client();
        let mut w = signed_in(&srv.base, "admin", ADMIN_PASSWORD);
        let token = w.csrf();
        let contact = admin.create("contact", canary_contact("keys"))["id"].as_str().unwrap().to_string();

        // Keys: the page and the API give the same answer; only the keys permission sees them.
        add_user(&admin, "sam", PASSWORD, "sales", &[]);
        let sam = Api::login(&srv.base, "sam", PASSWORD);
        assert_eq!(sam.get("/api/v1/keys").status, 403);
        assert_eq!(sam.post("/api/v1/keys/rotate", &json!({})).status, 403);
        let before = api_versions(&admin);
        assert_eq!(before.len(), 1);
        assert_eq!((before[0].0, before[0].1.as_str()), (1, "active"));
        let page = w.get("/admin/keys");
        assert_eq!(page.status, 200);
        assert_eq!(page_versions(&page.body), before);
        // A forged rotation does nothing.
        assert_eq!(w.post("/admin/keys/rotate", &[], None).status, 403);
        assert_eq!(api_versions(&admin), before);
        // Rotated from the page: a new active version wrapping every data key, the old one retired.
        let p = w.post("/admin/keys/rotate", &[("_csrf", &token)], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/keys?done=rotated")), "{}", p.body);
        let after = api_versions(&admin);
        assert_eq!(after, vec![(1, "retired".to_string(), 0), (2, "active".to_string(), before[0].2)], "{after:?}");
        let page = w.get("/admin/keys?done=rotated");
        assert_eq!(page_versions(&page.body), after);
        assert!(page.body.contains("The root key was rotated"));
        let rotations = admin.get("/api/v1/audit?action=key.rotate&limit=5").body["entries"].as_array().cloned().unwrap();
        assert!(rotations.iter().any(|e| e["actor"] == "admin" && e["outcome"] == "allowed" && e["detail"].as_str().unwrap().contains("version 2")), "{rotations:?}");
        // Rotated through the API too: the page follows.
        let r = admin.post("/api/v1/keys/rotate", &json!({}));
        assert_eq!((r.status, r.body["version"].as_i64()), (200, Some(3)), "{}", r.text);
        assert_eq!(page_versions(&w.get("/admin/keys").body), api_versions(&admin));
        assert_eq!(admin.get(&format!("/api/v1/records/contact/{contact}")).body["fields"]["email"], "canary.keys@example.com");
        let spec = admin.get("/api/v1/openapi.json").body;
        assert!(spec["paths"]["/api/v1/keys"]["get"].is_object() && spec["paths"]["/api/v1/keys/rotate"]["post"].is_object(), "the key endpoints are described");

        // A held export: over the requester's limit, raising an alert.
        let role = json!({
            "name": "exporter", "description": "Exports contacts.",
            "objects": {"contact": {"scope": "all", "actions": ["read", "export"], "export_limit": 3,
                "classes": {"public": "read", "internal": "read", "personal": "read", "sensitive": "masked"}}},
            "system": ["approve_exports"]
        });
        assert_eq!(admin.send("PUT", "/api/v1/roles/exporter", Some(&role)).status, 200);
        add_user(&admin, "ex1", PASSWORD, "exporter", &[]);
        add_user(&admin, "admin2", PASSWORD, "admin", &[]);
        for i in 0..4 {
            admin.create("contact", json!({"last_name": format!("Plain{i}"), "email": format!("plain{i}@example.com")}));
        }
        let ex1 = Api::login(&srv.base, "ex1", PASSWORD);
        let r = ex1.post("/api/v1/exports", &json!({"object": "contact", "format": "csv"}));
        assert_eq!(r.status, 202, "{}", r.text);
        let held = r.body["id"].as_str().unwrap().to_string();

        // The requester sees it held, and the gate refuses their own approval, at that export.
        let mut we = signed_in(&srv.base, "ex1", PASSWORD);
        let page = we.get("/admin/exports");
        assert_eq!(page.status, 200, "{}", page.body);
        let at = page.body.find(&format!("<tr data-export=\"{held}\" data-status=\"pending_approval\">")).expect("the held export");
        let row = &page.body[at..at + page.body[at..].find("</tr>").unwrap()];
        assert!(row.contains(">ex1</th>") && row.contains("<td>contact</td>") && row.contains("class=\"count\">5<"), "{row}");
        let et = we.csrf();
        let p = we.post(&format!("/admin/exports/{held}/approve"), &[("_csrf", &et)], None);
        assert_eq!(p.status, 403, "{}", p.body);
        assert!(p.body.contains(&format!("id=\"e-export-{held}\"")) && p.body.contains("another person"), "{}", p.body);
        assert_eq!(ex1.get("/api/v1/exports").body[0]["status"], "pending_approval");
        // A second administrator approves it.
        let mut w2 = signed_in(&srv.base, "admin2", PASSWORD);
        let t2 = w2.csrf();
        let p = w2.post(&format!("/admin/exports/{held}/approve"), &[("_csrf", &t2)], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/exports?done=decided")), "{}", p.body);
        let mine = ex1.get("/api/v1/exports").body[0].clone();
        assert_eq!((mine["status"].as_str(), mine["decided_by"].as_str()), (Some("approved"), Some("admin2")));
        let page = w2.get("/admin/exports?done=decided");
        assert!(page.body.contains(&format!("<tr data-export=\"{held}\" data-status=\"approved\">")) && page.body.contains("The decision is saved."));
        let p = w2.post(&format!("/admin/exports/{held}/reject"), &[("_csrf", &t2)], None);
        assert_eq!(p.status, 409, "decided already");
        assert!(p.body.contains("id=\"export-error\""));
        assert_eq!(ex1.get(&format!("/api/v1/exports/{held}/download")).status, 200);

        // The alert the hold raised: on the page, acknowledged from it, as the API then says.
        let alert = wait_for("the held-export alert", || admin.get("/api/v1/alerts?status=open").body.as_array().unwrap().iter().find(|a| a["rule"] == "export_held").cloned());
        let aid = alert["id"].as_str().unwrap().to_string();
        let page = w.get("/admin/alerts");
        assert_eq!(page.status, 200);
        assert!(page.body.contains(&format!("<tr data-alert=\"{aid}\" data-rule=\"export_held\">")), "{}", page.body);
        assert!(page.body.contains("id=\"alert-rules\""), "an administrator reads the rules");
        assert_eq!(w.post(&format!("/admin/alerts/{aid}/acknowledge"), &[], None).status, 403, "forged");
        assert_eq!(sam.get("/api/v1/alerts").status, 403);
        let p = w.post(&format!("/admin/alerts/{aid}/acknowledge"), &[("_csrf", &token)], None);
        assert_eq!((p.status, p.location.as_deref()), (303, Some("/admin/alerts?done=acknowledged")));
        let acked = admin.get("/api/v1/alerts?status=acknowledged").body.as_array().unwrap().iter().find(|a| a["id"] == aid.as_str()).cloned().expect("acknowledged");
        assert_eq!(acked["acknowledged_by"], "admin");
        let page = w.get("/admin/alerts?done=acknowledged");
        let acked_at = page.body.find("id=\"acknowledged-alerts\"").expect("the acknowledged list");
        assert!(page.body[acked_at..].contains(&format!("data-alert=\"{aid}\"")));
        assert!(!page.body[..acked_at].contains(&format!("data-alert=\"{aid}\"")), "no longer open");
        let p = w.post(&format!("/admin/alerts/{aid}/acknowledge"), &[("_csrf", &token)], None);
        assert_eq!(p.status, 404);
        assert!(p.body.contains("id=\"alert-error\""));

        // After a restart the data is readable with the rotated keys.
        drop(srv);
        let srv = inst.start();
        let admin = srv.client();
        assert_eq!(admin.get(&format!("/api/v1/records/contact/{contact}")).body["fields"]["national_id"], "CANARYIDkeys");
        assert_eq!(api_versions(&admin).last().map(|v| (v.0, v.1.clone())), Some((3, "active".to_string())));
    }
}
