//! Accounts, password hashing and bearer tokens.
//!
//! Passwords are hashed with Argon2id at OWASP's recommended parameters on the blocking pool, behind
//! a semaphore so that a burst of logins cannot starve the runtime. Tokens are random 256-bit values;
//! only their SHA-256 is stored, so a copy of the database yields no usable token.

use crate::store::{Db, StoreError, now_micros};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("missing, expired or revoked token")]
    BadToken,
    #[error("password policy: {0}")]
    WeakPassword(String),
    #[error("a user named `{0}` already exists")]
    UserExists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing: {0}")]
    Hash(String),
}
impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Store(StoreError::Sqlx(e))
    }
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// A signed-in user; their permissions come from their roles (`Gate::permissions_of`).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
}

/// A freshly issued token: shown once, never stored in clear.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub token_type: &'static str,
    /// Seconds until expiry.
    pub expires_in: i64,
}

fn argon2() -> Argon2<'static> {
    // OWASP (2024): Argon2id, m = 19 MiB, t = 2, p = 1.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid params"))
}

/// Minimum rules for a password chosen by a person.
pub fn check_password_policy(password: &str, username: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 12 {
        return Err(AuthError::WeakPassword("at least 12 characters".into()));
    }
    if n > 256 {
        return Err(AuthError::WeakPassword("at most 256 characters".into()));
    }
    if password.to_lowercase().contains(&username.to_lowercase()) && !username.is_empty() {
        return Err(AuthError::WeakPassword("must not contain the user name".into()));
    }
    Ok(())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Clone, Debug)]
pub struct Auth {
    db: Db,
    permits: Arc<Semaphore>,
    token_ttl_secs: i64,
}

impl Auth {
    pub fn new(db: Db) -> Self {
        Auth { db, permits: Arc::new(Semaphore::new(2)), token_ttl_secs: 12 * 3600 }
    }

    pub async fn hash_password(&self, password: &str) -> Result<String> {
        let _permit = self.permits.acquire().await.map_err(|e| AuthError::Hash(e.to_string()))?;
        let pw = zeroize::Zeroizing::new(password.to_string());
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2().hash_password(pw.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| AuthError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    async fn verify_password(&self, password: &str, hash: String) -> Result<bool> {
        let _permit = self.permits.acquire().await.map_err(|e| AuthError::Hash(e.to_string()))?;
        let pw = zeroize::Zeroizing::new(password.to_string());
        tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| AuthError::Hash(e.to_string()))?;
            Ok(argon2().verify_password(pw.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    /// Creates a user inside the caller's transaction (so `init` is all or nothing).
    pub async fn create_user(&self, tx: &mut crate::store::Tx, username: &str, password: &str, is_admin: bool) -> Result<String> {
        check_password_policy(password, username)?;
        let hash = self.hash_password(password).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let res = sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id.clone())
        .bind(username.to_string())
        .bind(hash)
        .bind(i64::from(is_admin))
        .bind(0i64)
        .bind(now_micros())
        .execute(&mut **tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(AuthError::UserExists(username.into()));
        }
        Ok(id)
    }

    /// Checks a user name and password and issues a bearer token. Unknown users cost the same
    /// hash as known ones, so timing does not tell which user names exist.
    pub async fn issue_token(&self, username: &str, password: &str) -> Result<(AuthUser, IssuedToken)> {
        let row = sqlx::query("SELECT id, username, password_hash, is_admin, disabled FROM users WHERE username = $1")
            .bind(username.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        let Some(row) = row else {
            let _ = self.verify_password(password, DUMMY_HASH.to_string()).await;
            return Err(AuthError::BadCredentials);
        };
        let hash: String = row.try_get(2)?;
        let disabled = row.try_get::<i64, _>(4)? != 0;
        if !self.verify_password(password, hash).await? || disabled {
            return Err(AuthError::BadCredentials);
        }
        let user = AuthUser { id: row.try_get(0)?, username: row.try_get(1)? };
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = format!("cap_{}", B64URL.encode(raw));
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("INSERT INTO api_tokens (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(user.id.clone())
            .bind(hash_token(&token))
            .bind(now)
            .bind(now + self.token_ttl_secs * 1_000_000)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2").bind(now).bind(user.id.clone()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((user, IssuedToken { token, token_type: "Bearer", expires_in: self.token_ttl_secs }))
    }

    /// Resolves a bearer token to its user; disabled users and expired or revoked tokens fail.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser> {
        if !token.starts_with("cap_") || token.len() > 100 {
            return Err(AuthError::BadToken);
        }
        let row = sqlx::query(
            "SELECT u.id, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled = 0",
        )
        .bind(hash_token(token))
        .bind(now_micros())
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(AuthError::BadToken)?;
        Ok(AuthUser { id: row.try_get(0)?, username: row.try_get(1)? })
    }
}

/// A valid Argon2id hash of a random password, verified against when a user name is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J4moa2MM0/6uf3HbY2Tf5Fux8JIBTwIhmhxGRE2yGmQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_password_policy("short", "bob").is_err());
        assert!(check_password_policy("bob-is-my-password", "bob").is_err());
        assert!(check_password_policy("correct horse battery", "bob").is_ok());
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
