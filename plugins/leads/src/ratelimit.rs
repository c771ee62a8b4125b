//! The public form's rate limits: per client in an hour, and for all clients together in a
//! minute. A client is the opaque digest the host passes in `x-capcrm-client` (a keyed hash of
//! the address, per plugin and day): the plugin counts without ever seeing an address. Requests
//! without it share one bucket.

use capcrm_plugin_sdk::{Error, Result, storage};
use serde::{Deserialize, Serialize};

use crate::config::RateLimit;

const MINUTE: u64 = 60_000_000;
const HOUR: u64 = 60 * MINUTE;
/// Where per-client counters live.
pub const CLIENT_PREFIX: &str = "rl/client/";
const ALL: &str = "rl/all";

/// Submissions counted in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The window's number (time divided by its length).
    pub n: u64,
    /// Submissions taken in it.
    pub count: u32,
}

/// Counts one submission in window `n`; `false` when the window is full (then nothing changes).
pub fn hit(prev: Option<Window>, n: u64, limit: u32) -> (Window, bool) {
    let w = prev.filter(|w| w.n == n).unwrap_or(Window { n, count: 0 });
    if w.count >= limit {
        return (w, false);
    }
    (Window { n, count: w.count + 1 }, true)
}

/// The client's bucket: the host's digest if it looks like one, else the shared one.
pub fn client_key(header: Option<&str>) -> String {
    match header {
        Some(d) if (16..=64).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_hexdigit()) => format!("{CLIENT_PREFIX}{}", d.to_ascii_lowercase()),
        _ => format!("{CLIENT_PREFIX}unknown"),
    }
}

/// Counts a submission; `Some(seconds)` to wait when a limit is reached. Nothing is counted for a
/// refused submission, so a client held back by the overall cap keeps its own allowance.
pub fn admit(client: Option<&str>, limits: RateLimit, now: u64) -> Result<Option<u64>> {
    let ckey = client_key(client);
    let (cw, ok) = hit(storage::get_json(&ckey)?, now / HOUR, limits.per_client_per_hour);
    if !ok {
        return Ok(Some(wait(now, HOUR)));
    }
    let (aw, ok) = hit(storage::get_json(ALL)?, now / MINUTE, limits.all_clients_per_minute);
    if !ok {
        return Ok(Some(wait(now, MINUTE)));
    }
    storage::put_json(&ckey, &cw, None)?;
    storage::put_json(ALL, &aw, None)?;
    Ok(None)
}

fn wait(now: u64, len: u64) -> u64 {
    (len - now % len).div_ceil(1_000_000)
}

/// Whether a client's counter can go: its hour is over (or it is unreadable).
pub fn stale(w: Option<Window>, now: u64) -> bool {
    w.is_none_or(|w| w.n < now / HOUR)
}

/// Removes counters of past hours; returns how many.
pub fn prune(now: u64) -> Result<u32> {
    let mut removed = 0;
    for key in storage::all_keys(CLIENT_PREFIX, 2000)? {
        let w = match storage::get_json::<Window>(&key) {
            Ok(w) => w,
            // A value that no longer decodes is as good as gone.
            Err(Error::InvalidInput(_)) => None,
            Err(e) => return Err(e),
        };
        if stale(w, now) {
            storage::delete(&key)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_fills_up_and_the_next_one_starts_empty() {
        let (w, ok) = hit(None, 7, 2);
        assert!(ok && w.count == 1);
        let (w, ok) = hit(Some(w), 7, 2);
        assert!(ok && w.count == 2);
        let (w, ok) = hit(Some(w), 7, 2);
        assert!(!ok && w.count == 2, "a full window refuses and does not grow");
        let (w, ok) = hit(Some(w), 8, 2);
        assert!(ok && w == Window { n: 8, count: 1 });
    }

    #[test]
    fn counters_of_past_hours_are_stale() {
        let now = 10 * HOUR + 5;
        assert!(stale(Some(Window { n: 9, count: 4 }), now));
        assert!(!stale(Some(Window { n: 10, count: 4 }), now), "this hour's counter stays");
        assert!(stale(None, now));
    }

    #[test]
    fn only_digests_name_a_bucket() {
        assert_eq!(client_key(Some("00ff00ff00ff00ff00ff00ff00ff00ff")), "rl/client/00ff00ff00ff00ff00ff00ff00ff00ff");
        assert_eq!(client_key(Some("203.0.113.9")), "rl/client/unknown", "an address is never a key");
        assert_eq!(client_key(Some("../../config")), "rl/client/unknown");
        assert_eq!(client_key(None), "rl/client/unknown");
        assert_eq!(wait(HOUR + 1_500_000, MINUTE), 59);
    }
}
