//! Calls the host 1,000,000 times in a tight loop; the host-call budget must stop it.
//!
//! - `GET /run` (and any event): `now()` 1,000,000 times. `now` cannot return an error, so a host
//!   that enforces its budget has to trap; if the loop ends, answers `{"calls": 1000000}`.
//! - `GET /run?via=storage`: `storage::get("spam")` up to 1,000,000 times, stopping at the first
//!   error; answers `{"calls": <successful calls>, "errors": [debug text]}`.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{Event, Plugin, Request, Response, Result, capcrm_plugin, now, storage};
use core::hint::black_box;

const CALLS: u32 = 1_000_000;

fn spam_now() -> u32 {
    for _ in 0..CALLS {
        black_box(now());
    }
    CALLS
}

struct HostSpam;

impl Plugin for HostSpam {
    fn on_event(_event: Event) -> Result<()> {
        spam_now();
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        if request.query_param("via").as_deref() != Some("storage") {
            return Ok(Response::json(200, &json!({ "calls": spam_now() })));
        }
        let mut calls = 0u32;
        let mut errors = Vec::new();
        while calls < CALLS {
            match storage::get("spam") {
                Ok(value) => {
                    black_box(value);
                    calls += 1;
                }
                Err(e) => {
                    errors.push(format!("{e:?}"));
                    break;
                }
            }
        }
        Ok(Response::json(
            200,
            &json!({ "calls": calls, "errors": errors }),
        ))
    }
}

capcrm_plugin!(HostSpam);
