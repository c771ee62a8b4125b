//! Recurses without bound; the stack overflow must trap.
//!
//! - `GET /run` (and any event): plain recursion, which exhausts the wasm call stack (the host's
//!   `max_wasm_stack`): a stack-overflow trap.
//! - `GET /run?shadow=1`: each frame also keeps an array in the shadow stack in linear memory;
//!   that stack (1 MiB, placed first) runs below address 0: an out-of-bounds memory trap.
//!
//! Never answers.

use capcrm_plugin_sdk::{Event, Plugin, Request, Response, Result, capcrm_plugin};
use core::hint::black_box;

/// Recursion the optimiser cannot turn into a loop: `black_box` hides both the exit condition
/// (never met) and the result of the inner call.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    black_box(dive(depth + 1)).wrapping_add(depth)
}

/// Like [`dive`], but each frame's array escapes through `black_box`, so it lives in the shadow
/// stack in linear memory.
#[inline(never)]
fn dive_shadow(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(depth) == u64::MAX {
        return frame[0];
    }
    black_box(dive_shadow(depth + 1)).wrapping_add(black_box(frame)[1])
}

struct Recurse;

impl Plugin for Recurse {
    fn on_event(_event: Event) -> Result<()> {
        black_box(dive(0));
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        let depth = match request.query_param("shadow") {
            Some(_) => dive_shadow(0),
            None => dive(0),
        };
        Ok(Response::text(200, format!("returned from depth {depth}")))
    }
}

capcrm_plugin!(Recurse);
