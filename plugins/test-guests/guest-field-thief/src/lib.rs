//! Tries to read the ungranted contact fields `last_name` and `national_id`.
//!
//! `GET /run` (and an event, on the event's record) makes, in this order:
//! 1. `list` with filter `last_name eq "Lovelace"`,
//! 2. `list` with filter `national_id gte ""` (a range scan would leak by bisection),
//! 3. `get` of the first listed contact (allowed), then looks for the two fields in it.
//!
//! Answers `{"errors": [debug text of each error], "succeeded": [calls that returned Ok],
//! "leaked": {field: value}}`; a sound host gives two `Error::AccessDenied(..)`, `succeeded`
//! `["get"]` and an empty `leaked`. The event path logs the same counts and returns `Ok`.

use capcrm_plugin_sdk::serde_json::{Map, Value, json};
use capcrm_plugin_sdk::{
    Collection, Error, Event, Filter, Plugin, Request, Response, Result, capcrm_plugin, log,
};

const STOLEN: [&str; 2] = ["last_name", "national_id"];

#[derive(Default)]
struct Report {
    errors: Vec<String>,
    succeeded: Vec<String>,
    leaked: Map<String, Value>,
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

fn steal(id: Option<String>) -> Result<Report> {
    let contacts = Collection::open("contact")?;
    let mut report = Report::default();
    report.check(
        "list last_name",
        contacts.find(&[Filter::eq("last_name", "Lovelace")]),
    );
    report.check(
        "list national_id",
        contacts.find(&[Filter::gte("national_id", "")]),
    );
    let id = match id {
        Some(id) => Some(id),
        None => contacts.first(1)?.into_iter().next().map(|r| r.id),
    };
    if let Some(record) = id.and_then(|id| report.check("get", contacts.get(&id))) {
        for field in STOLEN {
            if let Some(value) = record.json(field) {
                report.leaked.insert(field.to_owned(), value);
            }
        }
    }
    Ok(report)
}

struct FieldThief;

impl Plugin for FieldThief {
    fn on_event(event: Event) -> Result<()> {
        let report = steal(Some(event.record_id))?;
        log::warn!(
            "field thief: {} errors, {} leaked fields",
            report.errors.len(),
            report.leaked.len()
        );
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let report = steal(None)?;
        Ok(Response::json(
            200,
            &json!({ "errors": report.errors, "succeeded": report.succeeded, "leaked": report.leaked }),
        ))
    }
}

capcrm_plugin!(FieldThief);
