//! The leads pages over plain HTTP: the pipeline board (scope, columns, a page per column), moves
//! through the form (allowed, refused, forged), conversion, and the public capture form, in both
//! languages.

use crate::common::*;
use crate::webclient::Web;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PASSWORD: &str = "web leads passphrase";

/// A lead owned by `owner`, made through the API.
pub fn lead(admin: &Api, owner: &str, fields: Value) -> String {
    let r = admin.post("/api/v1/records/lead", &json!({"owner_id": owner, "fields": fields}));
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// The board's columns: stage to the column's HTML.
fn columns(body: &str) -> BTreeMap<String, String> {
    body.split("<section class=\"column\"")
        .skip(1)
        .map(|chunk| {
            let chunk = &chunk[..chunk.find("</section>").expect("a closed column")];
            let i = chunk.find("data-stage=\"").unwrap() + 12;
            (chunk[i..i + chunk[i..].find('"').unwrap()].to_string(), chunk.to_string())
        })
        .collect()
}

fn cards(column: &str) -> usize {
    column.matches("<li class=\"card\"").count()
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&")
}

/// The `href` of the element with `id` on a page.
fn href_of(body: &str, id: &str) -> Option<String> {
    let i = body.find(&format!("id=\"{id}\" href=\""))? + id.len() + 12;
    Some(unescape(&body[i..i + body[i..].find('"')?]))
}

fn stage(api: &Api, id: &str) -> Value {
    let r = api.get(&format!("/api/v1/records/lead/{id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["fields"]["stage"].clone()
}

#[test]
fn the_board_shows_ones_own_leads_by_stage_and_moves_and_converts_them() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "leads");
        let srv = inst.start();
        let admin = srv.client();
        let sid = add_user(&admin, "sid.leads", PASSWORD, "sales", &[]);
        let tom = add_user(&admin, "tom.leads", PASSWORD, "sales", &[]);
        add_user(&admin, "sue.support", PASSWORD, "support", &[]);
        let ada = lead(&admin, &sid, json!({"first_name": "Ada", "last_name": "Alpha", "email": "ada@example.com", "company_name": "Alpha Works", "stage": "new", "score": 90}));
        let bea = lead(&admin, &sid, json!({"first_name": "Bea", "last_name": "Beta", "email": "bea@example.com", "stage": "contacted", "score": 40}));
        let cy = lead(&admin, &sid, json!({"first_name": "Cy", "last_name": "Gamma", "email": "cy@example.com", "company_name": "Gamma Corp", "stage": "qualified", "score": 70}));
        let toms = lead(&admin, &tom, json!({"first_name": "Tomasz", "last_name": "Otherseller", "email": "tomasz@example.com", "stage": "new", "score": 99}));
        let parked: Vec<String> = (0..30).map(|i| lead(&admin, &sid, json!({"last_name": format!("Parked{i:02}"), "stage": "unqualified", "score": i}))).collect();
        let api = Api::login(&srv.base, "sid.leads", PASSWORD);

        let mut w = Web::new(&srv.base);
        assert_eq!(w.get("/leads").status, 303, "signed in only");
        w.sign_in("sid.leads", PASSWORD);
        let home = w.get("/");
        assert!(home.body.contains("href=\"/leads\""), "the navigation offers the board");
        let p = w.get("/leads");
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("<script src=\"/static/board.js\" defer></script>") && !home.body.contains("board.js"), "the board's script on the board only");
        assert_eq!(w.get("/static/board.js").status, 200);
        let cols = columns(&p.body);
        assert_eq!(cols.keys().collect::<Vec<_>>(), ["contacted", "converted", "new", "qualified", "unqualified"]);
        let needle = "<section class=\"column\" id=\"col-";
        let order: Vec<&str> = p.body.match_indices(needle).map(|(i, _)| &p.body[i + needle.len()..][..p.body[i + needle.len()..].find('"').unwrap()]).collect();
        assert_eq!(order, ["new", "contacted", "qualified", "unqualified", "converted"], "the plugin's pipeline order");
        for (id, col) in [(&ada, "new"), (&bea, "contacted"), (&cy, "qualified")] {
            assert!(cols[col].contains(&format!("id=\"lead-{id}\"")), "{id} in {col}");
            assert_eq!(cols.values().filter(|c| c.contains(&format!("id=\"lead-{id}\""))).count(), 1);
            assert!(cols[col].contains(&format!("href=\"/records/lead/{id}\"")));
        }
        assert!(cols["new"].contains("Ada Alpha") && cols["new"].contains("Alpha Works") && cols["new"].contains("<strong>90</strong>"), "name, company and score");
        assert!(!p.body.contains(&toms) && !p.body.contains("Otherseller"), "another seller's lead is not in scope");
        // A column is one page: 25 of the 30, highest score first, and a link to the rest.
        assert_eq!(cards(&cols["unqualified"]), 25);
        assert!(cols.values().all(|c| cards(c) <= 25));
        assert!(cols["unqualified"].contains("Parked29") && !cols["unqualified"].contains("Parked04"), "highest scores first");
        let more = href_of(&p.body, "more-unqualified").expect("a link to the rest of the column");
        assert!(more.starts_with("/records/lead?field=stage&op=eq&value=unqualified"), "{more}");
        assert!(href_of(&p.body, "more-new").is_none(), "no link where the column is whole");
        let rest = w.get(&more);
        assert_eq!(rest.status, 200, "{}", rest.body);
        assert_eq!(rest.body.matches("<tr><th scope=\"row\">").count(), 5, "the list goes on where the column stopped");
        assert!(rest.body.contains("Parked04") && !rest.body.contains("Parked29"));
        // Each card offers the moves the pipeline allows, and conversion while the lead is open.
        assert!(cols["new"].contains(&format!("<label for=\"to-{ada}\">")), "the move is labelled");
        assert!(cols["new"].contains("<option value=\"contacted\">") && !cols["new"].contains("<option value=\"qualified\">"));
        assert!(cols["qualified"].contains(&format!("href=\"/leads/{cy}/convert\"")) && !cols["unqualified"].contains("/convert\""));
        // Support reads no leads: no board in the navigation, none at its address.
        let mut sue = Web::new(&srv.base);
        sue.sign_in("sue.support", PASSWORD);
        assert!(!sue.get("/").body.contains("href=\"/leads\""));
        assert_eq!(sue.get("/leads").status, 404);

        // A move through the form: the stage changes, the history has it, the board says so.
        let csrf = w.csrf();
        let p = w.post(&format!("/leads/{ada}/stage"), &[("_csrf", &csrf), ("to", "contacted")], Some(&srv.base));
        assert_eq!(p.status, 303, "{}", p.body);
        assert_eq!(p.location.as_deref(), Some(format!("/leads?done=moved&lead={ada}#lead-{ada}").as_str()));
        assert_eq!(stage(&api, &ada), "contacted");
        let view = api.get(&format!("/plugins/leads/leads/one?id={ada}"));
        assert_eq!(view.status, 200, "{}", view.text);
        let moves = view.body["history"].as_array().unwrap();
        assert!(moves.iter().any(|m| m["from"] == "new" && m["to"] == "contacted"), "{}", view.text);
        let p = w.get(&format!("/leads?done=moved&lead={ada}"));
        assert!(p.body.contains("Lead moved.") && p.body.contains(&format!("data-focus=\"{ada}\"")));
        assert!(columns(&p.body)["contacted"].contains(&format!("id=\"lead-{ada}\"")));

        // A move the pipeline refuses comes back on the board with the plugin's reason.
        let before = api.get(&format!("/api/v1/records/lead/{cy}")).body["version"].clone();
        let p = w.post(&format!("/leads/{cy}/stage"), &[("_csrf", &csrf), ("to", "new")], None);
        assert_eq!(p.status, 409, "{}", p.body);
        assert!(p.body.contains("id=\"board-error\"") && p.body.contains("a lead that is qualified cannot become new"), "{}", p.body);
        assert!(columns(&p.body)["qualified"].contains(&format!("id=\"lead-{cy}\"")), "the board is shown again");
        let p = w.post(&format!("/leads/{cy}/stage"), &[("_csrf", &csrf), ("to", "converted")], None);
        assert_eq!(p.status, 409);
        assert!(p.body.contains("POST /leads/convert"), "converting is its own step");
        let p = w.post(&format!("/leads/{cy}/stage"), &[("_csrf", &csrf), ("to", "won")], None);
        assert_eq!(p.status, 400);
        assert_eq!(stage(&api, &cy), "qualified");
        assert_eq!(api.get(&format!("/api/v1/records/lead/{cy}")).body["version"], before, "nothing changed");
        // Forged moves change nothing: no token, another site, another seller's lead.
        let p = w.post(&format!("/leads/{bea}/stage"), &[("to", "qualified")], None);
        assert_eq!(p.status, 403);
        let p = w.post(&format!("/leads/{bea}/stage"), &[("_csrf", &csrf), ("to", "qualified")], Some("https://evil.example"));
        assert_eq!(p.status, 403);
        assert_eq!(stage(&api, &bea), "contacted");
        let p = w.post(&format!("/leads/{toms}/stage"), &[("_csrf", &csrf), ("to", "contacted")], None);
        assert_eq!(p.status, 404, "the plugin can do no more than the seller");
        assert_eq!(stage(&admin, &toms), "new");
        assert_eq!(w.post("/leads/not-an-id/stage", &[("_csrf", &csrf), ("to", "contacted")], None).status, 404);

        // Conversion: the form starts from the lead's company; a bad amount is refused at its field.
        let p = w.get(&format!("/leads/{cy}/convert"));
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("id=\"account_name\" name=\"account_name\" maxlength=\"500\" value=\"Gamma Corp\""), "{}", p.body);
        let deals = |api: &Api| api.get("/api/v1/records/deal?limit=100").body["records"].as_array().unwrap().clone();
        let p = w.post(&format!("/leads/{cy}/convert"), &[("_csrf", &csrf), ("account_name", "Gamma Corp"), ("deal_name", "Gamma pilot"), ("amount", "lots"), ("currency", "EUR")], None);
        assert_eq!(p.status, 422);
        assert!(p.body.contains("id=\"e-amount\"") && p.body.contains("value=\"Gamma pilot\""), "at the field, nothing lost");
        let p = w.post(&format!("/leads/{cy}/convert"), &[("_csrf", &csrf), ("amount", "-5")], None);
        assert_eq!(p.status, 422);
        let p = w.post(&format!("/leads/{cy}/convert"), &[("account_name", "Gamma Corp"), ("amount", "1200.5")], None);
        assert_eq!(p.status, 403, "without the token");
        assert!(deals(&api).is_empty(), "nothing made");
        assert_eq!(stage(&api, &cy), "qualified");
        let p = w.post(&format!("/leads/{cy}/convert"), &[("_csrf", &csrf), ("account_name", "Gamma Corp"), ("deal_name", "Gamma pilot"), ("amount", "1200.5"), ("currency", "EUR")], Some(&srv.base));
        assert_eq!(p.status, 303, "{}", p.body);
        let to = p.location.unwrap();
        let cid = to.strip_prefix("/records/contact/").and_then(|r| r.strip_suffix("?done=saved")).unwrap_or_else(|| panic!("{to}")).to_string();
        let contact = api.get(&format!("/api/v1/records/contact/{cid}"));
        assert_eq!(contact.status, 200, "{}", contact.text);
        assert_eq!((contact.body["fields"]["last_name"].as_str(), contact.body["fields"]["email"].as_str()), (Some("Gamma"), Some("cy@example.com")));
        let aid = contact.body["fields"]["account"].as_str().unwrap().to_string();
        assert_eq!(api.get(&format!("/api/v1/records/account/{aid}")).body["fields"]["name"], "Gamma Corp");
        let made = deals(&api);
        assert_eq!(made.len(), 1, "{made:?}");
        let f = &made[0]["fields"];
        assert_eq!((f["name"].as_str(), f["amount"].as_f64(), f["currency"].as_str(), f["contact"].as_str(), f["account"].as_str()), (Some("Gamma pilot"), Some(1200.5), Some("EUR"), Some(cid.as_str()), Some(aid.as_str())));
        assert_eq!(stage(&api, &cy), "converted");
        let p = w.get(&to);
        assert_eq!(p.status, 200);
        assert!(p.body.contains("Saved.") && p.body.contains("Gamma pilot"), "the contact's page, with the deal beside it");
        // Converted once: the form says so and links what was made; a second post is refused on it.
        let p = w.get(&format!("/leads/{cy}/convert"));
        assert!(p.body.contains("id=\"converted\"") && p.body.contains(&format!("href=\"/records/contact/{cid}\"")) && !p.body.contains("id=\"convert-form\""));
        let p = w.post(&format!("/leads/{cy}/convert"), &[("_csrf", &csrf), ("account_name", "Gamma Corp")], None);
        assert_eq!(p.status, 409);
        assert!(p.body.contains("id=\"form-error\"") && p.body.contains("a lead that is converted cannot be converted"), "{}", p.body);
        assert_eq!(deals(&api).len(), 1);
        let p = w.post(&format!("/leads/{}/convert", parked[0]), &[("_csrf", &csrf), ("account_name", "Parked Inc")], None);
        assert_eq!(p.status, 409);
        assert!(p.body.contains("a lead that is unqualified cannot be converted") && p.body.contains("value=\"Parked Inc\""));
        assert_eq!(w.get(&format!("/leads/{toms}/convert")).status, 404, "another seller's lead");
        let cols = columns(&w.get("/leads").body);
        assert!(cols["converted"].contains(&format!("id=\"lead-{cy}\"")));
        assert!(!cols["converted"].contains("<form class=\"move\"") && !cols["converted"].contains("/convert\""), "nothing leaves converted");

        // Every page in both languages.
        let pages = ["/leads".to_string(), format!("/leads/{bea}/convert"), format!("/leads/{cy}/convert")];
        for (accept, lang, word) in [("en-GB,en;q=0.9", "en", "Lead pipeline"), ("zh-CN,zh;q=0.9", "zh-CN", "线索管道")] {
            w.lang = accept;
            for path in &pages {
                let p = w.get(path);
                assert_eq!(p.status, 200, "{path} in {lang}: {}", p.body);
                assert!(p.body.contains(&format!("<html lang=\"{lang}\">")), "{path} in {lang}");
                assert!(!p.body.contains(">?<") && !p.body.contains("\"?\""), "{path} in {lang} lacks a text");
            }
            assert!(w.get("/leads").body.contains(word));
            let p = w.post(&format!("/leads/{cy}/stage"), &[("_csrf", &csrf), ("to", "new")], None);
            assert!(p.status == 409 && p.body.contains(&format!("<html lang=\"{lang}\">")), "a refusal in {lang}");
        }
    }
}

#[test]
fn leads_without_a_stage_have_a_column_of_their_own_and_are_worked_as_new() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "leads");
        let srv = inst.start();
        let admin = srv.client();
        let max = add_user(&admin, "max.leads", PASSWORD, "manager", &[]);
        let staged = lead(&admin, &max, json!({"last_name": "Staged", "stage": "new", "score": 50}));
        let mut w = Web::new(&srv.base);
        w.sign_in("max.leads", PASSWORD);
        let p = w.get("/leads");
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(!p.body.contains("id=\"col-unset\""), "no such column while every lead has a stage");

        // Leads made without a stage (an import, the API, the record form) are not lost to the board.
        let bare: Vec<String> = (0..27).map(|i| lead(&admin, &max, json!({"last_name": format!("Bare{i:02}"), "score": i}))).collect();
        let p = w.get("/leads");
        let cols = columns(&p.body);
        let unset = &cols[""];
        assert!(p.body.find("id=\"col-unset\"").unwrap() < p.body.find("id=\"col-new\"").unwrap(), "first on the board");
        assert!(unset.contains("No stage yet"), "{unset}");
        assert_eq!(cards(unset), 25, "one page, as every column");
        assert!(unset.contains("Bare26") && !unset.contains("Bare01") && !unset.contains("Staged"), "highest score first, only leads without a stage");
        assert!(!cols["new"].contains("Bare"), "not counted twice");
        // The plugin works them as new: the moves and the conversion a new lead has.
        let first = &bare[26];
        assert!(unset.contains(&format!("<select id=\"to-{first}\" name=\"to\"><option value=\"contacted\">")) && unset.contains(&format!("href=\"/leads/{first}/convert\"")), "{unset}");
        let more = href_of(&p.body, "more-unset").expect("a link to the rest");
        assert!(more.starts_with("/records/lead?field=stage&op=empty&value=&sort=-score&after="), "{more}");
        let rest = w.get(&more);
        assert_eq!(rest.status, 200, "{}", rest.body);
        assert_eq!(rest.body.matches("<tr><th scope=\"row\">").count(), 2, "the list goes on where the column stopped");
        assert!(rest.body.contains("Bare00") && rest.body.contains("Bare01") && !rest.body.contains("Bare02"));
        let all = w.get("/records/lead?field=stage&op=empty");
        assert!(all.body.contains("<option value=\"empty\" selected>is empty</option>"), "the list's filter says what it shows");
        assert!(all.body.contains("Bare13") && !all.body.contains("Staged"));

        // Moved from the board like a new lead.
        let csrf = w.csrf();
        let r = w.post(&format!("/leads/{first}/stage"), &[("_csrf", &csrf), ("to", "contacted")], None);
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(stage(&admin, first), "contacted");
        assert!(columns(&w.get("/leads").body)["contacted"].contains(&format!("id=\"lead-{first}\"")));

        // The export of the filtered list holds what the list holds.
        let r = w.post("/records/lead/export", &[("_csrf", &csrf), ("field", "stage"), ("op", "empty"), ("value", "")], None);
        assert_eq!((r.status, r.location.as_deref()), (303, Some("/exports?done=ready")), "{}", r.body);
        let page = w.get("/exports?done=ready");
        let at = page.body.find("/download\"").expect("a download link");
        let start = page.body[..at].rfind("/exports/").unwrap();
        let csv = w.get(&format!("{}/download", &page.body[start..at]));
        assert_eq!(csv.status, 200);
        assert_eq!(csv.body.matches("Bare").count(), 26, "{}", csv.body);
        assert!(!csv.body.contains("Staged") && !csv.body.contains(first.as_str()), "{}", csv.body);
        // Through the API, the filter needs no value.
        let r = admin.post("/api/v1/exports", &json!({"object": "lead", "format": "json", "filters": [{"field": "stage", "op": "empty"}]}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(columns(&w.get("/leads").body)["new"].contains(&format!("id=\"lead-{staged}\"")));

        // Both languages.
        w.lang = "zh-CN,zh;q=0.9";
        let p = w.get("/leads");
        assert!(p.body.contains("未设阶段（按新线索处理）"), "{}", p.body);
        assert!(w.get("/records/lead?field=stage&op=empty").body.contains("<option value=\"empty\" selected>为空</option>"));
    }
}

#[test]
fn the_public_lead_form_captures_a_lead_for_its_owner_in_both_languages() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "leads");
        let srv = inst.start();
        let admin = srv.client();
        add_user(&admin, "sid.public", PASSWORD, "sales", &[]);
        let rules = json!({"assignment": {"round_robin": ["sid.public"]}, "rate_limit": {"per_client_per_hour": 3, "all_clients_per_minute": 100}});
        let r = admin.send("PUT", "/plugins/leads/config", Some(&rules));
        assert_eq!(r.status, 200, "{}", r.text);
        let leads = |admin: &Api| admin.get("/api/v1/records/lead?limit=100").body["records"].as_array().unwrap().clone();

        // Without a session, embeddable by this site only (by default), no inline style.
        let mut w = Web::new(&srv.base);
        let p = w.get("/public/lead");
        assert_eq!(p.status, 200, "{}", p.body);
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(p.headers.get("x-frame-options").is_none());
        assert!(p.body.contains("<div class=\"hp\" aria-hidden=\"true\"><label for=\"website\">") && !p.body.contains("style="), "the honeypot is hidden by the style sheet");
        for field in ["first_name", "last_name", "email", "phone", "company", "title", "country", "message"] {
            assert!(p.body.contains(&format!("<label for=\"{field}\">")), "{field} is labelled");
        }
        assert!(!p.body.contains("name=\"_csrf\"") && !p.body.contains("id=\"sign-out\""));

        // A bot fills in the honeypot: thanked, nothing kept (and not counted against the limit).
        let p = w.post("/public/lead", &[("last_name", "Bot"), ("email", "bot@example.com"), ("website", "http://spam.example")], None);
        assert_eq!(p.status, 200);
        assert!(p.body.contains("id=\"thanks\""));
        assert!(leads(&admin).is_empty());
        // A refusal at its field, with what was typed.
        let p = w.post("/public/lead", &[("first_name", "Pat"), ("last_name", ""), ("email", "pat@example.com"), ("website", "")], None);
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(p.body.contains("id=\"e-last_name\"") && p.body.contains("Please give your last name.") && p.body.contains("value=\"pat@example.com\""), "{}", p.body);
        let p = w.post(
            "/public/lead",
            &[("first_name", "Pat"), ("last_name", "Public"), ("email", "pat@example.com"), ("company", "Pat & Co"), ("country", "FR"), ("message", "Ten seats, please"), ("website", "")],
            None,
        );
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("id=\"thanks\"") && p.body.contains("We have your message"));
        let all = leads(&admin);
        assert_eq!(all.len(), 1, "{all:?}");
        let pat = all[0]["id"].as_str().unwrap().to_string();
        assert_eq!((all[0]["fields"]["source"].as_str(), all[0]["fields"]["stage"].as_str()), (Some("web_form"), Some("new")));

        // In Chinese: the form, its refusal and its thanks.
        w.lang = "zh-CN,zh;q=0.9";
        let p = w.get("/public/lead");
        assert!(p.body.contains("<html lang=\"zh-CN\">") && p.body.contains("联系我们") && !p.body.contains(">?<"));
        let p = w.post("/public/lead", &[("last_name", "王"), ("first_name", "芳"), ("phone", "+86 139 1234 5678"), ("website", "")], None);
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(p.body.contains("<html lang=\"zh-CN\">") && p.body.contains("感谢您的留言"));
        // Past the plugin's limit for one client: try again later, in the page's language.
        let p = w.post("/public/lead", &[("last_name", "Late"), ("email", "late@example.com"), ("website", "")], None);
        assert_eq!(p.status, 429, "{}", p.body);
        assert!(p.body.contains("请稍后再试") && p.body.contains("value=\"late@example.com\""), "{}", p.body);
        assert!(p.headers.get("retry-after").is_some());
        w.lang = "en";
        let p = w.post("/public/lead", &[("last_name", "Late"), ("email", "late@example.com"), ("website", "")], None);
        assert_eq!(p.status, 429);
        assert!(p.body.contains("Please try again later."));
        assert_eq!(leads(&admin).len(), 2);

        // The lead is on its owner's board, in the first column.
        let mut sid = Web::new(&srv.base);
        sid.sign_in("sid.public", PASSWORD);
        let board = sid.get("/leads");
        let cols = columns(&board.body);
        assert!(cols["new"].contains(&format!("id=\"lead-{pat}\"")) && cols["new"].contains("Pat Public") && cols["new"].contains("Pat &#38; Co"), "{}", cols["new"]);
        let log = srv.log();
        assert!(!log.contains("pat@example.com") && !log.contains("Ten seats"), "nothing typed in the log");
    }
}
