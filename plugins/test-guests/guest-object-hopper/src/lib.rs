//! Tries to open the ungranted objects `account` and `lead`.
//!
//! `GET /run` (and any event) makes, in this order: `open("account")`, `open("lead")`,
//! `open("contact")`; for each that opens, it also lists one record. Answers `{"errors": [debug
//! text of each error], "succeeded": [calls that returned Ok]}`; a sound host gives two
//! `Error::AccessDenied(..)` and `succeeded` `["open contact", "list contact"]`. The event path
//! logs the counts and returns `Ok`.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{
    Collection, Error, Event, Plugin, Request, Response, Result, capcrm_plugin, log,
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

fn hop() -> Report {
    let mut report = Report::default();
    for object in ["account", "lead", "contact"] {
        if let Some(collection) = report.check(&format!("open {object}"), Collection::open(object))
        {
            report.check(&format!("list {object}"), collection.first(1));
        }
    }
    report
}

struct ObjectHopper;

impl Plugin for ObjectHopper {
    fn on_event(_event: Event) -> Result<()> {
        let report = hop();
        log::warn!(
            "object hopper: {} errors, {} succeeded",
            report.errors.len(),
            report.succeeded.len()
        );
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let report = hop();
        Ok(Response::json(
            200,
            &json!({ "errors": report.errors, "succeeded": report.succeeded }),
        ))
    }
}

capcrm_plugin!(ObjectHopper);
