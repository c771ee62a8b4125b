//! Tries the filesystem, a TCP socket and environment variables through WASI.
//!
//! `GET /run` (and any event, which logs the same summary) answers `{"fs": ..., "net": ...,
//! "env": ..., "env_count": n}`, each `"error: <message>"` or a value-free account of what worked
//! (`"read N bytes"`, `"connected"`, `"set (N chars)"`). Whether the host refuses this component
//! at link time or its calls fail depends on the WASI imports std pulls in for these calls.

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Event, Plugin, Request, Response, Result, capcrm_plugin, log};
use std::net::TcpStream;

fn probe() -> Value {
    let fs = match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => format!("read {} bytes", text.len()),
        Err(e) => format!("error: {e}"),
    };
    let net = match TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => "connected".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let env = match std::env::var("DATABASE_URL") {
        Ok(v) => format!("set ({} chars)", v.len()),
        Err(e) => format!("error: {e}"),
    };
    json!({ "fs": fs, "net": net, "env": env, "env_count": std::env::vars_os().count() })
}

struct WasiFs;

impl Plugin for WasiFs {
    fn on_event(_event: Event) -> Result<()> {
        log::warn!("wasi probe: {}", probe());
        Ok(())
    }

    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/run") {
            return Ok(Response::not_found());
        }
        Ok(Response::json(200, &probe()))
    }
}

capcrm_plugin!(WasiFs);
