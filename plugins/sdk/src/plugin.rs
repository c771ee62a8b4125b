//! The [`Plugin`] trait and the adapter [`capcrm_plugin!`](crate::capcrm_plugin) exports.

use core::marker::PhantomData;

use crate::bindings::exports::capcrm::plugin::{events, http, jobs};
use crate::{Error, Request, Response, Result};

/// Something that happened to a record: `id` (unique; de-duplicate by it), `kind`
/// (`record.created`, `record.updated`, `record.deleted`), `object`, `record_id` (handed to this
/// invocation), `changed_fields` (names only) and `occurred_at` (microseconds since the epoch).
pub use crate::bindings::exports::capcrm::plugin::events::Event;

impl Event {
    /// Whether this event is `kind` (e.g. `record.created`) on `object` (e.g. `contact`).
    pub fn is(&self, kind: &str, object: &str) -> bool {
        self.kind == kind && self.object == object
    }
}

/// A capcrm plugin. Implement the entry points you use and export the type with
/// [`capcrm_plugin!`](crate::capcrm_plugin); the others keep their defaults.
///
/// Each call runs in a fresh instance with its own deadline, memory and host-call budget: keep no
/// state between calls except in [`storage`](crate::storage). A panic or trap ends the call, and
/// the host rolls back every record change the call made.
pub trait Plugin {
    /// Handles one event the manifest subscribes to. An error makes the host retry later, so
    /// return one only for failures that may pass ([`Error::Unavailable`], a
    /// [`Error::Conflict`]). Default: ignore the event.
    fn on_event(event: Event) -> Result<()> {
        let _ = event;
        Ok(())
    }

    /// Answers one request on a route the manifest declares. An error is answered by the host
    /// with a status that fits the variant. Default: [`Response::not_found`].
    fn on_http(request: Request) -> Result<Response> {
        let _ = request;
        Ok(Response::not_found())
    }

    /// Runs the scheduled job `name` from the manifest's `schedules`. Default:
    /// `Err(Error::InvalidInput("no such job"))`.
    fn run_job(name: &str) -> Result<()> {
        let _ = name;
        Err(Error::InvalidInput("no such job".to_owned()))
    }
}

/// Implements the generated export traits for any [`Plugin`]. Not public API.
#[doc(hidden)]
pub struct Export<P>(PhantomData<P>);

impl<P: Plugin> events::Guest for Export<P> {
    fn handle(event: Event) -> Result<()> {
        P::on_event(event)
    }
}

impl<P: Plugin> http::Guest for Export<P> {
    fn handle(req: Request) -> Result<Response> {
        P::on_http(req)
    }
}

impl<P: Plugin> jobs::Guest for Export<P> {
    fn run(job: String) -> Result<()> {
        P::run_job(&job)
    }
}

/// Type check used by [`capcrm_plugin!`](crate::capcrm_plugin) off wasm. Not public API.
#[doc(hidden)]
pub fn assert_plugin<P: Plugin>() {}
