//! Write capcrm plugins in Rust.
//!
//! A capcrm plugin is a WebAssembly component built against the `capcrm:plugin@0.1.2` contract
//! (`wit/plugin.wit`). This crate wraps the generated bindings so that the common things take one
//! line, and exports a plugin from one trait impl and one macro:
//!
//! - [`Plugin`]: implement only what you use: [`Plugin::on_event`], [`Plugin::on_http`],
//!   [`Plugin::run_job`]; the others have harmless defaults. [`capcrm_plugin!`] exports the type.
//! - [`Collection`]: records of one object, e.g. `Collection::open("contact")?`; [`Record`] reads
//!   fields ([`Record::text`], [`Record::json`]); [`Fields`] builds changes.
//! - [`storage`]: the plugin's own key-value data ([`storage::put_json`], [`storage::get_json`]).
//! - [`subjects`]: people as a whole: [`subjects::find_by_email`], [`subjects::export_records`],
//!   [`subjects::erase`], holds.
//! - [`log`] (`log::info!` and friends), [`audit_note`], [`now`], [`notify::send_email`].
//! - [`Error`] is the contract's error variant; [`Result`] defaults to it.
//!
//! Everything the host hands out is already narrowed to the plugin's grant: a field that was not
//! granted is simply absent from a [`Record`], and a call outside the grant returns
//! [`Error::AccessDenied`]. Record ids are usable only in the invocation that was handed them (by
//! the event, a query result or a creation).
//!
//! # Example
//!
//! A complete plugin: it greets new contacts and answers `GET /count`. Build it with
//! `cargo build --release --target wasm32-wasip2`; the `cdylib` it produces is the component.
//!
//! ```rust,no_run
//! use capcrm_plugin_sdk::{
//!     Collection, Error, Event, Fields, Plugin, Request, Response, Result, audit_note,
//!     capcrm_plugin, log, now, storage,
//! };
//!
//! struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn on_event(event: Event) -> Result<()> {
//!         if !event.is("record.created", "contact") {
//!             return Ok(());
//!         }
//!         let contacts = Collection::open("contact")?;
//!         let contact = contacts.get(&event.record_id)?;
//!         let name = contact.text("first_name").unwrap_or_else(|| "there".into());
//!         storage::put_json(
//!             &format!("greeted/{}", contact.id),
//!             &serde_json::json!({ "text": format!("Hello {name}!"), "at": now() }),
//!             None,
//!         )?;
//!         contacts.update(&contact.id, Fields::new().set("stage", "welcomed"))?;
//!         audit_note("greeted", &format!("contact {}", contact.id))?;
//!         log::info!("greeted contact {}", contact.id);
//!         Ok(())
//!     }
//!
//!     fn on_http(request: Request) -> Result<Response> {
//!         match (request.method.as_str(), request.path.as_str()) {
//!             ("GET", "/count") => {
//!                 let keys = storage::list_keys("greeted/", 1000)?;
//!                 Ok(Response::json(200, &serde_json::json!({ "greeted": keys.len() })))
//!             }
//!             _ => Ok(Response::not_found()),
//!         }
//!     }
//!
//!     fn run_job(name: &str) -> Result<()> {
//!         match name {
//!             "nightly" => Ok(()),
//!             _ => Err(Error::InvalidInput(format!("no such job: {name}"))),
//!         }
//!     }
//! }
//!
//! capcrm_plugin!(Greeter);
//! ```
//!
//! # Building and testing off wasm
//!
//! The imports exist only inside the host. On another target this crate still compiles, so the
//! pure logic of a plugin can be unit-tested with a plain `cargo test`, and [`capcrm_plugin!`]
//! expands to nothing but a type check; calling an import there is a link error.

mod error;
mod host;
mod http;
pub mod time;
pub mod notify;
mod plugin;
mod records;
pub mod storage;
pub mod subjects;
pub mod verification;

/// The raw bindings generated from `wit/plugin.wit`. Prefer the wrappers at the crate root; these
/// are public because [`capcrm_plugin!`] expands to code that names them.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        additional_derives: [PartialEq, Eq],
        pub_export_macro: true,
        export_macro_name: "__export_plugin_world",
        default_bindings_module: "capcrm_plugin_sdk::bindings",
    });
}

pub use error::{Error, Result};
pub use host::{audit_note, log, now};
pub use http::{Request, Response, describe_body_error, form_fields, form_or_json, percent_decode};
pub use plugin::{Event, Plugin};
pub use records::{Collection, FieldValue, Fields, Filter, FilterOp, MAX_PAGE, Page, Record};

/// `serde_json`, re-exported so a plugin can use `json!` and `Value` without its own dependency.
pub use serde_json;

/// Exports a type implementing [`Plugin`] as the component's `events`, `http` and `jobs`.
///
/// Call it once per plugin crate, at module level:
///
/// ```rust,no_run
/// struct MyPlugin;
/// impl capcrm_plugin_sdk::Plugin for MyPlugin {}
/// capcrm_plugin_sdk::capcrm_plugin!(MyPlugin);
/// ```
///
/// On targets other than `wasm32` it only checks that the type implements [`Plugin`], so that
/// `cargo test` on the build machine links without the host's imports.
#[macro_export]
macro_rules! capcrm_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __CapcrmPluginExport = $crate::__private::Export<$plugin>;
            $crate::bindings::__export_plugin_world!(
                __CapcrmPluginExport with_types_in $crate::bindings
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = $crate::__private::assert_plugin::<$plugin>;
    };
}

/// Not public API: used by [`capcrm_plugin!`] and the logging macros.
#[doc(hidden)]
pub mod __private {
    pub use crate::plugin::{Export, assert_plugin};
    pub use std::format;
}
