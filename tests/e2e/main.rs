//! End-to-end tests: the real `capcrm` binary, over HTTP, on SQLite and on PostgreSQL.
//!
//! One test binary with modules (fewer link steps). Every scenario runs once per backend; the
//! PostgreSQL run is skipped, with a message saying why, when no server is reachable, unless
//! `CAPCRM_REQUIRE_POSTGRES=1` (set by `.ci/run`) makes that a failure.

mod common;

mod access;
mod api;
mod auth;
mod browser;
mod browser_admin;
mod browser_leads;
mod audit_chain;
mod canaries;
mod consent;
mod consent_plugin;
mod demo;
mod dsr;
mod durability;
mod exports;
mod leads;
mod plugins;
mod polyglot;
mod retention;
mod startup;
mod subjects;
mod web;
mod web_admin;
mod web_leads;
mod webclient;
mod webdriver;
