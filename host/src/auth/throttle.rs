//! Lockout with exponential backoff after failed sign-ins, per account and per source address,
//! kept in the database so that every node enforces the same counts.
//!
//! An account is locked after 5 consecutive failures, an address after 20 within the window: for
//! 15 s, and each further failure doubles the lock, up to 15 minutes. A success clears the account's count
//! (not the address's: one valid account must not launder an address guessing at others).

use super::{AuthError, Result};
use crate::store::{Db, StoreError, now_micros};
use sqlx::Row;
use std::net::IpAddr;

const ACCOUNT_FREE: i64 = 5;
const ADDRESS_FREE: i64 = 20;
const MAX_LOCK_SECS: i64 = 15 * 60;
/// Failures older than this no longer count.
const WINDOW_SECS: i64 = 60 * 60;

/// The throttle keys of a sign-in: the account and, when known, the source address.
pub fn keys(username: &str, source: Option<IpAddr>) -> Vec<String> {
    let mut k = vec![format!("u:{}", username.to_lowercase().chars().take(200).collect::<String>())];
    if let Some(ip) = source {
        k.push(format!("ip:{ip}"));
    }
    k
}

fn free_failures(key: &str) -> i64 {
    if key.starts_with("ip:") { ADDRESS_FREE } else { ACCOUNT_FREE }
}

/// The lock after `failures` failures: none within the free allowance, then 15 s, 30 s, 60 s, ...
pub fn lock_secs(key: &str, failures: i64) -> i64 {
    let over = failures - free_failures(key);
    if over < 0 { 0 } else { (15i64 << over.min(20)).min(MAX_LOCK_SECS) }
}

/// Refuses while any key is locked (one statement for all of them).
pub async fn check(db: &Db, keys: &[String]) -> Result<()> {
    let now = now_micros();
    let marks: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!("SELECT MAX(locked_until) FROM login_throttle WHERE key IN ({})", marks.join(", "));
    let mut q = sqlx::query_scalar::<_, Option<i64>>(&sql);
    for k in keys {
        q = q.bind(k.clone());
    }
    if let Some(u) = q.fetch_one(db.reader()).await?.filter(|u| *u > now) {
        return Err(AuthError::Throttled { retry_after: ((u - now) / 1_000_000).max(1) });
    }
    Ok(())
}

/// Counts a failure against every key and locks those past their allowance.
pub async fn failed(db: &Db, keys: &[String]) -> Result<()> {
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    for k in keys {
        let row = sqlx::query(&format!("SELECT failures, updated_at FROM login_throttle WHERE key = $1{}", db.for_update()))
            .bind(k.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let failures = match row {
            Some(r) if now - r.try_get::<i64, _>(1)? < WINDOW_SECS * 1_000_000 => r.try_get::<i64, _>(0)? + 1,
            _ => 1,
        };
        let until = now + lock_secs(k, failures) * 1_000_000;
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, updated_at = excluded.updated_at",
        )
        .bind(k.clone())
        .bind(failures)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Clears the account's count after a complete sign-in.
pub async fn succeeded(db: &Db, keys: &[String]) -> Result<()> {
    let mut tx = db.begin_write().await?;
    for k in keys.iter().filter(|k| k.starts_with("u:")) {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(k.clone()).execute(&mut *tx).await?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_allowance_and_is_capped() {
        assert_eq!(lock_secs("u:ada", 4), 0);
        assert_eq!(lock_secs("u:ada", 5), 15);
        assert_eq!(lock_secs("u:ada", 6), 30);
        assert_eq!(lock_secs("u:ada", 9), 240);
        assert_eq!(lock_secs("u:ada", 40), MAX_LOCK_SECS);
        assert_eq!(lock_secs("ip:10.0.0.1", 19), 0);
        assert_eq!(lock_secs("ip:10.0.0.1", 21), 30);
        assert_eq!(keys("Ada", Some("10.0.0.1".parse().unwrap())), vec!["u:ada".to_string(), "ip:10.0.0.1".to_string()]);
    }
}
