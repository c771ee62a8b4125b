//! Well behaved: lists contacts, reads one it was handed, tags an event's record as seen.
//!
//! - `GET /run?id=<id>`: lists contacts (limit 5), then `get(id)`; the id must be one of those
//!   listed. Answers `{"listed": [ids], "granted": [fields], "record": {"id", "object",
//!   "version", "fields": {name: value}, "masked": [names]}}`. An error from the host is returned
//!   as the call's error; a missing `id` is a 400.
//! - `GET /residue`: counts its calls in a static and checks a static buffer for the marks an
//!   earlier call left; answers `{"calls": n, "residue": bool}`. A fresh instance per invocation
//!   answers `{"calls": 1, "residue": false}` every time.
//! - Event on a record: updates its `tags` to `["seen"]`.

use capcrm_plugin_sdk::serde_json::json;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use capcrm_plugin_sdk::{
    Collection, Event, Fields, Plugin, Request, Response, Result, capcrm_plugin, log,
};

struct Reader;

static CALLS: AtomicU32 = AtomicU32::new(0);
static MARKS: [AtomicU8; 64] = [const { AtomicU8::new(0) }; 64];

fn residue() -> Response {
    let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    let residue = MARKS.iter().any(|m| m.load(Ordering::SeqCst) != 0);
    for m in &MARKS {
        m.store(0xAB, Ordering::SeqCst);
    }
    Response::json(200, &json!({ "calls": calls, "residue": residue }))
}

impl Plugin for Reader {
    fn on_event(event: Event) -> Result<()> {
        let records = Collection::open(&event.object)?;
        records.update(&event.record_id, Fields::new().set("tags", ["seen"]))?;
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if request.is("GET", "/residue") {
            return Ok(residue());
        }
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let Some(id) = request.query_param("id") else {
            return Ok(Response::text(400, "missing query parameter: id"));
        };
        let contacts = Collection::open("contact")?;
        let listed: Vec<String> = contacts.first(5)?.into_iter().map(|r| r.id).collect();
        let record = contacts.get(&id)?;
        // A careless plugin logging a value it was granted: the host keeps it out of its log.
        log::info!("read contact {} named {}", record.id, record.text("first_name").unwrap_or_default());
        Ok(Response::json(
            200,
            &json!({
                "listed": listed,
                "granted": contacts.granted_fields(),
                "record": {
                    "id": record.id,
                    "object": record.object,
                    "version": record.version,
                    "fields": record.to_json(),
                    "masked": record.masked,
                },
            }),
        ))
    }
}

capcrm_plugin!(Reader);
