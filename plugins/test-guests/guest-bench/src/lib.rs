//! Handles an event with exactly one host call (`now`); the dispatch benchmark runs it.
//!
//! The same logic runs natively in the benchmark, so the difference is the cost of the sandbox:
//! instantiation, the call across the boundary and the host call.

use capcrm_plugin_sdk::{Event, Plugin, Result, capcrm_plugin, now};

struct Bench;

impl Plugin for Bench {
    fn on_event(event: Event) -> Result<()> {
        // The one host call, and a use of its result so it is not optimised away.
        let t = now();
        if t < event.occurred_at { Err(capcrm_plugin_sdk::Error::InvalidInput("clock went backwards".into())) } else { Ok(()) }
    }
}

capcrm_plugin!(Bench);
