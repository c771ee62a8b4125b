//! `hello`: greets new contacts.
//!
//! - On `record.created` of a contact, reads `first_name` (granted in clear) and `email` (granted
//!   masked), stores a greeting note under `greeted/<record id>` and adds an audit note.
//! - `GET /hello` answers `{"greeted": <number of notes>}`.
//!
//! The pure parts (key naming, greeting text, the answer's shape) are plain functions with unit
//! tests that run on the build machine (`cargo test`); [`capcrm_plugin!`] exports the plugin only
//! when building for wasm32.

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{
    Collection, Event, Plugin, Request, Response, Result, audit_note, capcrm_plugin, log, now,
    storage,
};
use serde::{Deserialize, Serialize};

/// Storage prefix of the greeting notes: one key per greeted contact.
pub const GREETED_PREFIX: &str = "greeted/";

/// The most notes `GET /hello` counts (it pages through the keys 1,000 at a time); the 64 KiB
/// quota holds far fewer notes than this anyway.
pub const COUNT_LIMIT: usize = 10_000;

/// What the plugin stores per greeted contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// The greeting.
    pub text: String,
    /// When it was written, microseconds since the Unix epoch.
    pub at: u64,
}

/// The storage key of the note about record `record_id`.
pub fn greeted_key(record_id: &str) -> String {
    format!("{GREETED_PREFIX}{record_id}")
}

/// The greeting for a contact. The email arrives masked (`a***@example.com`): the plugin was
/// granted only that, and it is enough to tell the reader where the welcome goes.
pub fn greeting(first_name: Option<&str>, masked_email: Option<&str>) -> String {
    let name = first_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("there");
    match masked_email {
        Some(email) => format!("Hello {name}, welcome aboard! We will write to {email}."),
        None => format!("Hello {name}, welcome aboard!"),
    }
}

/// The body of `GET /hello`.
pub fn count_body(greeted: usize) -> Value {
    json!({ "greeted": greeted })
}

struct Hello;

impl Plugin for Hello {
    fn on_event(event: Event) -> Result<()> {
        if !event.is("record.created", "contact") {
            return Ok(());
        }
        let key = greeted_key(&event.record_id);
        if storage::get(&key)?.is_some() {
            // Events may arrive more than once: greet once.
            return Ok(());
        }
        let contacts = Collection::open("contact")?;
        let contact = contacts.get(&event.record_id)?;
        let note = Note {
            text: greeting(
                contact.text("first_name").as_deref(),
                contact.text("email").as_deref(),
            ),
            at: now(),
        };
        // Tagged with the contact's subject: the note is about the person, so their access export
        // and erasure reach it without this plugin's help.
        storage::put_json(&key, &note, contact.subject.as_deref())?;
        audit_note("greeted", &format!("contact {}", contact.id))?;
        log::info!("greeted contact {}", contact.id);
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/hello") {
            return Ok(Response::not_found());
        }
        let greeted = storage::all_keys(GREETED_PREFIX, COUNT_LIMIT)?.len();
        Ok(Response::json(200, &count_body(greeted)))
    }
}

capcrm_plugin!(Hello);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_the_prefix() {
        let key = greeted_key("0192f1c4-7b3a-7c41-9a55-3e1f2b6d8a01");
        assert_eq!(key, "greeted/0192f1c4-7b3a-7c41-9a55-3e1f2b6d8a01");
        assert!(key.starts_with(GREETED_PREFIX));
    }

    #[test]
    fn greeting_uses_what_was_granted() {
        assert_eq!(
            greeting(Some("Ada"), Some("a***@example.com")),
            "Hello Ada, welcome aboard! We will write to a***@example.com."
        );
        assert_eq!(greeting(None, None), "Hello there, welcome aboard!");
        assert_eq!(greeting(Some("  "), None), "Hello there, welcome aboard!");
    }

    #[test]
    fn count_body_is_the_documented_json() {
        assert_eq!(count_body(3).to_string(), r#"{"greeted":3}"#);
    }

    #[test]
    fn notes_round_trip_as_json() {
        let note = Note {
            text: greeting(Some("Ada"), None),
            at: 1_700_000_000_000_000,
        };
        let json = capcrm_plugin_sdk::serde_json::to_string(&note).unwrap();
        assert_eq!(
            capcrm_plugin_sdk::serde_json::from_str::<Note>(&json).unwrap(),
            note
        );
    }
}
