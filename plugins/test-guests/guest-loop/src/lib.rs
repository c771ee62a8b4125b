//! Loops forever; only the epoch deadline stops it.
//!
//! Triggered by `GET /run` and by any event; never answers.

use capcrm_plugin_sdk::{Event, Plugin, Request, Response, Result, capcrm_plugin};
use core::hint::black_box;

/// Never returns; `black_box` keeps the optimiser from reasoning the loop away.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

struct Loop;

impl Plugin for Loop {
    fn on_event(_event: Event) -> Result<()> {
        spin()
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        spin()
    }
}

capcrm_plugin!(Loop);
