//! The plugin's own key-value data, held by the host (the WIT `storage` interface).
//!
//! Values count against the manifest's `storage.quota_bytes`; a write past it returns
//! [`Error::QuotaExceeded`](crate::Error::QuotaExceeded). Tag a value with the subject id it is
//! about, when known, so that a person's access export and erasure reach it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::bindings::capcrm::plugin::storage as raw;

/// Reads the bytes at `key`; `Ok(None)` if there is none.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    raw::get(key)
}

/// Writes `value` at `key`, replacing what was there; `subject` is the subject id it is about.
pub fn put(key: &str, value: &[u8], subject: Option<&str>) -> Result<()> {
    raw::set(key, value, subject)
}

/// Reads the JSON value at `key`; `Ok(None)` if there is none,
/// [`Error::InvalidInput`](crate::Error::InvalidInput) if it does not decode into `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    match raw::get(key)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

/// Writes `value` as JSON at `key`; `subject` is the subject id it is about.
pub fn put_json<T: Serialize + ?Sized>(key: &str, value: &T, subject: Option<&str>) -> Result<()> {
    raw::set(key, &serde_json::to_vec(value)?, subject)
}

/// Removes the value at `key` (nothing happens if there is none).
pub fn delete(key: &str) -> Result<()> {
    raw::delete(key)
}

/// Up to `limit` keys starting with `prefix`, in order.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>> {
    raw::list_keys(prefix, limit)
}
