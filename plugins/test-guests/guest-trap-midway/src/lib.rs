//! Updates three contacts, then panics; the host must roll all three updates back.
//!
//! `GET /run` (and any event) lists 3 contacts, updates each one's `tags` to `["trap-midway"]`
//! (every update succeeds: `tags` is writable), then panics with
//! `trap midway after 3 updates`. It never answers.

use capcrm_plugin_sdk::{
    Collection, Event, Fields, Plugin, Request, Response, Result, capcrm_plugin,
};

fn update_then_panic() -> Result<Response> {
    let contacts = Collection::open("contact")?;
    let mut updated = 0;
    for record in contacts.first(3)? {
        contacts.update(&record.id, Fields::new().set("tags", ["trap-midway"]))?;
        updated += 1;
    }
    panic!("trap midway after {updated} updates");
}

struct TrapMidway;

impl Plugin for TrapMidway {
    fn on_event(_event: Event) -> Result<()> {
        update_then_panic().map(drop)
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        update_then_panic()
    }
}

capcrm_plugin!(TrapMidway);
