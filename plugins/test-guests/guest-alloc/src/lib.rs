//! Grows a `Vec` without bound; only the memory limit stops it.
//!
//! Triggered by `GET /run` and by any event. The failed growth aborts, which traps.

use capcrm_plugin_sdk::{Event, Plugin, Request, Response, Result, capcrm_plugin};
use core::hint::black_box;

/// Appends 64 KiB at a time forever; each doubling of the `Vec` asks the host for more memory.
fn hog() -> ! {
    let chunk = [0xA5u8; 64 * 1024];
    let mut hoard: Vec<u8> = Vec::new();
    loop {
        hoard.extend_from_slice(black_box(&chunk));
        black_box(&mut hoard);
    }
}

struct Alloc;

impl Plugin for Alloc {
    fn on_event(_event: Event) -> Result<()> {
        hog()
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        hog()
    }
}

capcrm_plugin!(Alloc);
