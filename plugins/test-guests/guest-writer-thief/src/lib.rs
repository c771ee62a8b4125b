//! Tries to update a read-only field and to create a contact and a `deal`, none of them granted.
//!
//! `GET /run` (on the first listed contact; an event, on the event's record) makes, in this order:
//! 1. `update` `first_name` to `"Mallory"`,
//! 2. `update` `email` to `"mallory@evil.example"`,
//! 3. `create` a contact with `tags = ["forged"]`,
//! 4. `open("deal")`, and if that succeeds, `create` a deal with `name = "forged"`.
//!
//! Answers `{"errors": [debug text of each error], "succeeded": [calls that returned Ok]}`; a sound
//! host gives four `Error::AccessDenied(..)` and an empty `succeeded`. The event path logs the
//! counts and returns `Ok`.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{
    Collection, Error, Event, Fields, Plugin, Request, Response, Result, capcrm_plugin, log,
};

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

fn forge(id: Option<String>) -> Result<Report> {
    let contacts = Collection::open("contact")?;
    let id = match id {
        Some(id) => id,
        None => contacts
            .first(1)?
            .into_iter()
            .next()
            .map(|r| r.id)
            .unwrap_or_default(),
    };
    let mut report = Report::default();
    report.check(
        "update first_name",
        contacts.update(&id, Fields::new().set("first_name", "Mallory")),
    );
    report.check(
        "update email",
        contacts.update(&id, Fields::new().set("email", "mallory@evil.example")),
    );
    report.check(
        "create contact",
        contacts.create(Fields::new().set("tags", ["forged"])),
    );
    if let Some(deals) = report.check("open deal", Collection::open("deal")) {
        report.check(
            "create deal",
            deals.create(Fields::new().set("name", "forged")),
        );
    }
    Ok(report)
}

struct WriterThief;

impl Plugin for WriterThief {
    fn on_event(event: Event) -> Result<()> {
        let report = forge(Some(event.record_id))?;
        log::warn!(
            "writer thief: {} errors, {} succeeded",
            report.errors.len(),
            report.succeeded.len()
        );
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let report = forge(None)?;
        Ok(Response::json(
            200,
            &json!({ "errors": report.errors, "succeeded": report.succeeded }),
        ))
    }
}

capcrm_plugin!(WriterThief);
