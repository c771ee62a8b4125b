//! The leads board in a real browser (headless Chromium over WebDriver): a seller drags a lead to
//! the next stage, and moves another with the keyboard alone; both checked through the API. Every
//! step leaves a screenshot under `target/tmp/browser-screenshots/`.

use crate::common::*;
use crate::web_leads::lead;
use crate::webdriver::Browser;
use serde_json::{Value, json};

const PASSWORD: &str = "browser leads passphrase";

const SPACE: &str = " ";
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";
const LEFT: &str = "\u{E012}";
const RIGHT: &str = "\u{E014}";

fn stage(api: &Api, id: &str) -> Value {
    api.get(&format!("/api/v1/records/lead/{id}")).body["fields"]["stage"].clone()
}

fn active_id(b: &Browser) -> String {
    b.script("return document.activeElement ? document.activeElement.id : '';", json!([])).as_str().unwrap_or_default().to_string()
}

#[test]
fn a_seller_moves_one_lead_by_dragging_and_another_by_keyboard_alone() {
    for backend in backends() {
        let inst = Instance::new(backend);
        install_first_party(&inst, "leads");
        let srv = inst.start();
        let base = srv.base.clone();
        let admin = srv.client();
        let sid = add_user(&admin, "sid.board", PASSWORD, "sales", &[]);
        let dana = lead(&admin, &sid, json!({"first_name": "Dana", "last_name": "Drag", "company_name": "Drag Ltd", "email": "dana@example.com", "stage": "new", "score": 50}));
        let kai = lead(&admin, &sid, json!({"first_name": "Kai", "last_name": "Keys", "email": "kai@example.com", "stage": "new", "score": 40}));
        let api = Api::login(&base, "sid.board", PASSWORD);
        let tag = if backend == Backend::Sqlite { "sqlite" } else { "postgres" };
        let Some(b) = Browser::start(&format!("leads-board-{tag}"), "en") else { return };

        b.goto(&format!("{base}/login?next=%2Fleads"));
        b.fill("#username", "sid.board");
        b.fill("#password", PASSWORD);
        let submit = b.find("#sign-in button[type=submit]");
        b.click(&submit);
        b.wait_url("/leads");
        b.find(&format!("#col-new #lead-{dana}"));
        assert!(b.attr(&b.find("#board-help"), "hidden").is_none(), "the script shows its keyboard help");
        assert_eq!(b.attr(&b.find("#board-live"), "aria-live").as_deref(), Some("assertive"));
        b.screenshot("board");
        b.assert_only_from(&base);

        // Dragging onto a column the pipeline does not allow: nothing is sent, and it says why.
        let grip = b.find(&format!("#lead-{kai} .score"));
        b.drag(&grip, &b.find("#col-qualified"));
        assert!(b.text_of("#board-live").contains("Kai Keys cannot move here"), "{}", b.text_of("#board-live"));
        assert!(b.url().ends_with("/leads"));
        assert_eq!(stage(&api, &kai), "new");

        // Dragging onto the next column moves the lead.
        let grip = b.find(&format!("#lead-{dana} .score"));
        b.drag(&grip, &b.find("#col-contacted"));
        b.find(&format!("#col-contacted #lead-{dana}"));
        assert!(b.text_of(".notice").contains("Lead moved"));
        assert_eq!(stage(&api, &dana), "contacted");
        b.screenshot("dragged to contacted");

        // The keyboard alone: Tab to the card, Space picks it up, arrows choose, Escape cancels.
        b.goto(&format!("{base}/leads"));
        b.find("#board.enhanced");
        let mut tabs = 0;
        while active_id(&b) != format!("lead-{kai}") {
            assert!(tabs < 60, "Tab never reached the card (at `{}`)", active_id(&b));
            b.keys(TAB);
            tabs += 1;
        }
        b.keys(SPACE);
        assert!(b.text_of("#board-live").contains("Picked up Kai Keys from New"), "{}", b.text_of("#board-live"));
        b.keys(RIGHT);
        assert_eq!(b.text_of("#board-live"), "Contacted: Kai Keys may move here.");
        assert!(b.attr(&b.find("#col-contacted"), "class").unwrap().contains("drop-ok"));
        b.screenshot("keyboard over contacted");
        b.keys(ESCAPE);
        assert!(b.text_of("#board-live").contains("cancelled"));
        assert!(!b.attr(&b.find("#col-contacted"), "class").unwrap().contains("drop-ok"));
        assert_eq!(stage(&api, &kai), "new");
        // Again, past a column it may not enter (Enter there moves nothing), back, and drop.
        b.keys(SPACE);
        b.keys(RIGHT);
        b.keys(RIGHT);
        assert_eq!(b.text_of("#board-live"), "Qualified: Kai Keys cannot move here.");
        b.keys(ENTER);
        assert_eq!(stage(&api, &kai), "new");
        b.keys(LEFT);
        b.keys(ENTER);
        b.find(&format!("#col-contacted #lead-{kai}"));
        assert_eq!(stage(&api, &kai), "contacted");
        assert_eq!(active_id(&b), format!("lead-{kai}"), "the keyboard stays on the card that moved");
        b.screenshot("keyboard moved to contacted");
        let view = api.get(&format!("/plugins/leads/leads/one?id={kai}"));
        assert!(view.body["history"].as_array().unwrap().iter().any(|m| m["from"] == "new" && m["to"] == "contacted"), "{}", view.text);
        b.assert_only_from(&base);
    }
}
