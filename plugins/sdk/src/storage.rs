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

pub use crate::bindings::capcrm::plugin::storage::KeyPage;

/// Up to `limit` keys (at most 1000) starting with `prefix`, in order: the first page.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>> {
    Ok(raw::list_keys(prefix, None, limit)?.keys)
}

/// One page of keys starting with `prefix` that come after `after` (the `next` of the previous
/// page). Loop until `next` is `None` to see every key:
///
/// ```rust,no_run
/// let mut after = None;
/// loop {
///     let page = capcrm_plugin_sdk::storage::list_keys_after("notes/", after.as_deref(), 500)?;
///     for key in &page.keys { /* ... */ }
///     match page.next { Some(n) => after = Some(n), None => break }
/// }
/// # Ok::<(), capcrm_plugin_sdk::Error>(())
/// ```
pub fn list_keys_after(prefix: &str, after: Option<&str>, limit: u32) -> Result<KeyPage> {
    raw::list_keys(prefix, after, limit)
}

/// Every key starting with `prefix`, page by page (stops at `max` keys).
pub fn all_keys(prefix: &str, max: usize) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    while out.len() < max {
        let page = raw::list_keys(prefix, after.as_deref(), 1000)?;
        out.extend(page.keys);
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    out.truncate(max);
    Ok(out)
}
