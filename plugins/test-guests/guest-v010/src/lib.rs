//! A plugin built against contract 0.1.0 (`wit/archive/0.1.0`), as a plugin compiled before 0.1.1
//! existed was: the host must keep loading it, granting and denying it as before.
//!
//! - `GET /count`: lists up to 10 contacts and answers `{"listed": n, "granted": [fields]}`.
//! - `GET /note`: writes an audit note through the 0.1.0 `host` import; answers `{"noted": true}`.

#![allow(missing_docs)]

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit/archive/0.1.0",
});

use capcrm::plugin::host;
use capcrm::plugin::records::Collection;
use capcrm::plugin::types::Error;
use exports::capcrm::plugin::{events, http, jobs};

struct V010;

fn json(status: u16, body: String) -> http::Response {
    http::Response { status, headers: vec![("content-type".into(), "application/json".into())], body: body.into_bytes() }
}

impl http::Guest for V010 {
    fn handle(req: http::Request) -> Result<http::Response, Error> {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/count") => {
                let contacts = Collection::open("contact")?;
                let page = contacts.list(&[], None, 10)?;
                let granted: Vec<String> = contacts.granted_fields().iter().map(|f| format!("\"{f}\"")).collect();
                Ok(json(200, format!("{{\"listed\":{},\"granted\":[{}]}}", page.records.len(), granted.join(","))))
            }
            ("GET", "/note") => {
                host::audit_note("v010.note", "built against 0.1.0")?;
                Ok(json(200, "{\"noted\":true}".into()))
            }
            _ => Ok(json(404, "{\"error\":\"not found\"}".into())),
        }
    }
}

impl events::Guest for V010 {
    fn handle(_event: events::Event) -> Result<(), Error> {
        Ok(())
    }
}

impl jobs::Guest for V010 {
    fn run(_job: String) -> Result<(), Error> {
        Ok(())
    }
}

export!(V010);
