//! Pages that present a first-party plugin's work (requests, leads) call its routes here, as the
//! signed-in person, through the same runtime as `/plugins/{name}/...`: the host checks each
//! route's permission before the plugin runs, and the plugin can do no more than the person.

use super::page::WebError;
use crate::access::Principal;
use crate::api::AppState;
use crate::api::error::AppError;
use crate::plugin::{PluginRequest, PluginResponse};
use axum::http::StatusCode;
use serde_json::Value;

/// Calls `method path?query` of `plugin` with a JSON body, for `acting` (or as a public request
/// when `None`, with the host's digest of the client for the plugin's rate limits).
#[allow(clippy::too_many_arguments)]
pub async fn call(state: &AppState, plugin: &str, acting: Option<&Principal>, method: &str, path: &str, query: &str, body: Option<&Value>, client: Option<String>) -> Result<PluginResponse, WebError> {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(client.map(|c| (crate::api::plugins::CLIENT_HEADER.to_string(), c)));
    let req = PluginRequest { method: method.into(), path: path.into(), query: query.into(), headers, body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default() };
    Ok(state.plugins.http(plugin, req, acting).await.map_err(AppError::from)?)
}

/// The JSON of a plugin's answer, or its `{"error": ...}` message as a page error.
pub fn json_of(r: &PluginResponse) -> Result<Value, WebError> {
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    if (200..300).contains(&r.status) {
        Ok(v)
    } else {
        let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
        Err(WebError::new(status, v["error"].as_str().unwrap_or("the plugin refused").to_string()))
    }
}
