//! `/api/v1/keys`: root key versions and online rotation (people with the `keys` permission).

use super::AppState;
use super::auth::Caller;
use super::error::{ApiJson, AppError};
use crate::access::keys::{RootKeyVersion, Rotation};
use axum::extract::State;

/// Root key versions, their states (active, retiring, retired) and how many data keys each wraps.
#[utoipa::path(get, path = "/api/v1/keys", responses((status = 200, body = Vec<RootKeyVersion>), (status = 403, body = super::error::ErrorBody)), tag = "keys")]
pub async fn status(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Vec<RootKeyVersion>>, AppError> {
    Ok(ApiJson(s.gate.key_status(&p).await?))
}

/// Rotate the root key now, as `capcrm keys rotate` does: a new version becomes active, every data
/// key is re-wrapped under it, older versions are retired (they stay in the key file for older
/// backups). 409 while another rotation runs, or when the root key comes from `CAPCRM_ROOT_KEY`.
#[utoipa::path(post, path = "/api/v1/keys/rotate", responses((status = 200, body = Rotation), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)), tag = "keys")]
pub async fn rotate(State(s): State<AppState>, Caller(p): Caller) -> Result<ApiJson<Rotation>, AppError> {
    Ok(ApiJson(s.gate.rotate_keys(&p).await?))
}
