//! A cap on anonymous requests to each plugin's public routes, checked before an instance is
//! made: whatever a plugin does about its own clients, a flood at its public form costs this node
//! at most the cap in instances and transactions a minute. Counted per node, in fixed minutes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

/// The default cap, per plugin and node: `CAPCRM_PLUGIN_PUBLIC_PER_MINUTE` replaces it.
pub const DEFAULT_PER_MINUTE: u32 = 600;

const MINUTE: i64 = 60_000_000;

#[derive(Debug)]
pub struct PublicCap {
    per_minute: AtomicU32,
    /// Plugin name to (minute, requests in it). Only approved plugins' names reach it.
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Default for PublicCap {
    fn default() -> Self {
        PublicCap { per_minute: AtomicU32::new(DEFAULT_PER_MINUTE), windows: Mutex::new(HashMap::new()) }
    }
}

impl PublicCap {
    /// Sets the cap (at least 1).
    pub fn set_per_minute(&self, n: u32) {
        self.per_minute.store(n.max(1), Ordering::Relaxed);
    }

    /// Counts one request to `plugin` at `now` (microseconds); `Err(seconds to wait)` past the cap.
    pub fn admit(&self, plugin: &str, now: i64) -> Result<(), u64> {
        let limit = self.per_minute.load(Ordering::Relaxed);
        let minute = now.div_euclid(MINUTE);
        let mut w = self.windows.lock().expect("public cap lock");
        let e = w.entry(plugin.to_string()).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        if e.1 >= limit {
            if e.1 == limit {
                // Once a minute, not once a request: a flood must not flood the log.
                tracing::warn!(plugin, limit, "public routes of the plugin reached their cap for this minute");
                e.1 += 1;
            }
            return Err(((MINUTE - now.rem_euclid(MINUTE)) as u64).div_ceil(1_000_000));
        }
        e.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plugin_gets_the_cap_each_minute() {
        let cap = PublicCap::default();
        cap.set_per_minute(2);
        let t = 10 * MINUTE + 15_000_000;
        assert_eq!(cap.admit("leads", t), Ok(()));
        assert_eq!(cap.admit("leads", t + 1), Ok(()));
        assert_eq!(cap.admit("leads", t + 2), Err(45), "the rest of the minute");
        assert_eq!(cap.admit("leads", t + 3), Err(45), "and stays refused");
        assert_eq!(cap.admit("dsr", t + 4), Ok(()), "another plugin has its own");
        assert_eq!(cap.admit("leads", 11 * MINUTE), Ok(()), "a new minute starts afresh");
        cap.set_per_minute(0);
        assert_eq!(cap.admit("other", t), Ok(()), "the cap is at least one");
        assert!(cap.admit("other", t).is_err());
    }
}
