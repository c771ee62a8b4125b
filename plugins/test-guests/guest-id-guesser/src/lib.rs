//! Tries to get and update a record id it was not handed in this invocation.
//!
//! - `GET /run?id=<id>`: without listing anything, `get(id)`, then `update` its `tags` to
//!   `["guessed"]`. `GET /run` with no `id` uses the id saved by the last event instead (a handed
//!   id must not outlive its invocation).
//! - Event: saves the event's record id under storage key `last-event-record` (no subject).
//!
//! Answers `{"id": <id used>, "errors": [debug text of each error], "succeeded": [calls that
//! returned Ok]}`; a sound host gives two `Error::NotFound` (or `Error::AccessDenied(..)`) and an
//! empty `succeeded`. With no id at all: 400.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{
    Collection, Error, Event, Fields, Plugin, Request, Response, Result, capcrm_plugin, storage,
};

const SAVED: &str = "last-event-record";

#[derive(Default)]
struct Report {
    errors: Vec<String>,
    succeeded: Vec<String>,
}

impl Report {
    fn check<T>(&mut self, call: &str, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(v) => {
                self.succeeded.push(call.to_owned());
                Some(v)
            }
            Err(e) => {
                self.errors.push(format!("{e:?}"));
                None
            }
        }
    }
}

struct IdGuesser;

impl Plugin for IdGuesser {
    fn on_event(event: Event) -> Result<()> {
        storage::put_json(SAVED, &event.record_id, None)
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let id = match request.query_param("id") {
            Some(id) => id,
            None => match storage::get_json::<String>(SAVED)? {
                Some(id) => id,
                None => {
                    return Ok(Response::text(
                        400,
                        "no id given and none saved by an event",
                    ));
                }
            },
        };
        let contacts = Collection::open("contact")?;
        let mut report = Report::default();
        report.check("get", contacts.get(&id));
        report.check(
            "update tags",
            contacts.update(&id, Fields::new().set("tags", ["guessed"])),
        );
        Ok(Response::json(
            200,
            &json!({ "id": id, "errors": report.errors, "succeeded": report.succeeded }),
        ))
    }
}

capcrm_plugin!(IdGuesser);
