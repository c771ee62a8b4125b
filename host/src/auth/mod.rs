//! Accounts, password hashing, sign-in (with lockout and a second factor) and bearer tokens.
//!
//! Passwords are hashed with Argon2id at OWASP's recommended parameters on the blocking pool, behind
//! a semaphore so that a burst of logins cannot starve the runtime. Tokens are random 256-bit values;
//! only their SHA-256 is stored, so a copy of the database yields no usable token. Two kinds exist:
//! sessions for people (idle and absolute timeouts, every permission of the person) and API tokens
//! for machines (named, expiring, narrowed to scopes). Failed sign-ins lock the account and the
//! source address out with exponential backoff ([`throttle`]); TOTP is in [`mfa`].

pub mod mfa;
pub mod throttle;

use crate::store::{Db, StoreError, now_micros};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeSet;
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
    #[error("too many failed sign-ins; try again in {retry_after} s")]
    Throttled { retry_after: i64 },
    #[error("this account needs a TOTP code (`totp`) or a recovery code (`recovery_code`)")]
    MfaRequired,
    #[error("the TOTP or recovery code is wrong or was already used")]
    BadMfaCode,
    #[error("sign-in from this address is not allowed for this account")]
    IpNotAllowed,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key: {0}")]
    Key(String),
    #[error("password hashing: {0}")]
    Hash(String),
}
impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::Store(StoreError::Sqlx(e))
    }
}
impl From<crate::crypto::keystore::KeyError> for AuthError {
    fn from(e: crate::crypto::keystore::KeyError) -> Self {
        AuthError::Key(e.to_string())
    }
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;

/// What an API token may be used for; a session (a signed-in person) is not narrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub enum TokenScope {
    /// Read records.
    #[serde(rename = "records:read")]
    RecordsRead,
    /// Create, change and delete records (and read them).
    #[serde(rename = "records:write")]
    RecordsWrite,
    /// Export records.
    #[serde(rename = "records:export")]
    RecordsExport,
    /// Read the audit trail.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Everything else the person may do: users, roles, plugins, schema, keys, data subjects.
    #[serde(rename = "admin")]
    Admin,
    /// Only enrolling a second factor (issued to a person whose role requires one).
    #[serde(rename = "mfa:enrol")]
    MfaEnrol,
}

/// The kind of a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Api,
}

/// A signed-in user and the token they came with. Their permissions come from their roles
/// (`Gate::permissions_of`), narrowed by the token's scopes.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
    pub token_id: String,
    pub kind: TokenKind,
    /// `None` for a session: every permission of the person.
    pub scopes: Option<BTreeSet<TokenScope>>,
    /// When this session last passed a TOTP check (microseconds).
    pub mfa_at: Option<i64>,
}

impl AuthUser {
    /// Whether a TOTP check happened within the last five minutes (step-up for reveals).
    pub fn mfa_fresh(&self) -> bool {
        self.mfa_at.is_some_and(|t| now_micros() - t < 5 * 60 * 1_000_000)
    }
}

/// A user whose password checked out, before the second factor and address checks.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: String,
    pub username: String,
    pub totp_enabled: bool,
}

/// A freshly issued token: shown once, never stored in clear.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub token_type: &'static str,
    /// Seconds until expiry.
    pub expires_in: i64,
}

/// An API token as its owner (or an administrator) sees it; never the token itself.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    /// `session` or `api`.
    pub kind: String,
    pub scopes: Vec<TokenScope>,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

fn argon2() -> Argon2<'static> {
    // OWASP (2024): Argon2id, m = 19 MiB, t = 2, p = 1.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid params"))
}

/// A few passwords every attacker tries first; refused whatever their length.
const COMMON_PASSWORDS: &[&str] = &[
    "password1234", "123456789012", "qwertyuiopas", "passwordpassword", "letmeinletmein", "iloveyouiloveyou",
    "administrator", "changemechangeme", "welcome12345", "abc123abc123",
];

/// Rules for a password chosen by a person: 12 to 256 characters, not the user name, not a
/// well-known password, not one character repeated.
pub fn check_password_policy(password: &str, username: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 12 {
        return Err(AuthError::WeakPassword("at least 12 characters".into()));
    }
    if n > 256 {
        return Err(AuthError::WeakPassword("at most 256 characters".into()));
    }
    let lower = password.to_lowercase();
    if lower.contains(&username.to_lowercase()) && !username.is_empty() {
        return Err(AuthError::WeakPassword("must not contain the user name".into()));
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(AuthError::WeakPassword("a well-known password".into()));
    }
    let distinct: BTreeSet<char> = password.chars().collect();
    if distinct.len() < 4 {
        return Err(AuthError::WeakPassword("at least 4 different characters".into()));
    }
    Ok(())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("cap_{}", B64URL.encode(raw))
}

/// How long sessions and tokens live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A session ends this long after it was issued, whatever happens.
    pub session_absolute_secs: i64,
    /// A session ends after this long without a request.
    pub session_idle_secs: i64,
    /// The longest an API token may be issued for.
    pub api_token_max_days: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        let idle = std::env::var("CAPCRM_SESSION_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30 * 60);
        Lifetimes { session_absolute_secs: 12 * 3600, session_idle_secs: idle, api_token_max_days: 366 }
    }
}

#[derive(Clone, Debug)]
pub struct Auth {
    db: Db,
    keys: Arc<crate::crypto::keystore::Keystore>,
    permits: Arc<Semaphore>,
    pub lifetimes: Lifetimes,
}

impl Auth {
    pub fn new(db: Db, keys: Arc<crate::crypto::keystore::Keystore>) -> Self {
        Auth { db, keys, permits: Arc::new(Semaphore::new(2)), lifetimes: Lifetimes::default() }
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

    /// Checks a user name and password, under the lockout rules: a locked account or address is
    /// refused before the password is even looked at, and every failure counts against both.
    /// Unknown users cost the same hash as known ones, so timing does not tell which names exist.
    pub async fn check_password(&self, username: &str, password: &str, source: Option<std::net::IpAddr>) -> Result<Candidate> {
        let keys = throttle::keys(username, source);
        throttle::check(&self.db, &keys).await?;
        let row = sqlx::query("SELECT id, username, password_hash, disabled, totp_enabled FROM users WHERE username = $1")
            .bind(username.to_string())
            .fetch_optional(self.db.reader())
            .await?;
        let Some(row) = row else {
            let _ = self.verify_password(password, DUMMY_HASH.to_string()).await;
            throttle::failed(&self.db, &keys).await?;
            return Err(AuthError::BadCredentials);
        };
        let hash: String = row.try_get(2)?;
        let disabled = row.try_get::<i64, _>(3)? != 0;
        if !self.verify_password(password, hash).await? || disabled {
            throttle::failed(&self.db, &keys).await?;
            return Err(AuthError::BadCredentials);
        }
        Ok(Candidate {
            id: row.try_get(0)?,
            username: row.try_get(1)?,
            totp_enabled: row.try_get::<i64, _>(4)? != 0,
        })
    }

    /// A failed second factor counts like a failed password.
    pub async fn count_failure(&self, username: &str, source: Option<std::net::IpAddr>) -> Result<()> {
        throttle::failed(&self.db, &throttle::keys(username, source)).await
    }

    /// Issues a session for a user who passed every check; clears the account's failures.
    pub async fn issue_session(&self, c: &Candidate, mfa_passed: bool, source: Option<std::net::IpAddr>) -> Result<IssuedToken> {
        throttle::succeeded(&self.db, &throttle::keys(&c.username, source)).await?;
        let ttl = self.lifetimes.session_absolute_secs;
        let (token, _) = self.insert_token(&c.id, "session", None, None, ttl, mfa_passed).await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2").bind(now_micros()).bind(c.id.clone()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(IssuedToken { token, token_type: "Bearer", expires_in: ttl })
    }

    /// A short-lived token good only for enrolling a second factor, for a person whose role
    /// requires one and who has none yet.
    pub async fn issue_enrolment(&self, c: &Candidate) -> Result<IssuedToken> {
        let scopes: BTreeSet<TokenScope> = [TokenScope::MfaEnrol].into();
        let (token, _) = self.insert_token(&c.id, "session", Some("MFA enrolment"), Some(&scopes), 10 * 60, false).await?;
        Ok(IssuedToken { token, token_type: "Bearer", expires_in: 10 * 60 })
    }

    async fn insert_token(&self, user_id: &str, kind: &str, name: Option<&str>, scopes: Option<&BTreeSet<TokenScope>>, ttl_secs: i64, mfa: bool) -> Result<(String, String)> {
        let token = new_token();
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, token_hash, created_at, expires_at, kind, name, scopes, last_used_at, mfa_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4, $9)",
        )
        .bind(id.clone())
        .bind(user_id.to_string())
        .bind(hash_token(&token))
        .bind(now)
        .bind(now + ttl_secs * 1_000_000)
        .bind(kind.to_string())
        .bind(name.map(str::to_string))
        .bind(scopes.map(|s| serde_json::to_string(s).expect("serialises")))
        .bind(mfa.then_some(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((token, id))
    }

    /// Issues an API token for a machine: named, narrowed to scopes, expiring within the maximum.
    pub async fn create_api_token(&self, user_id: &str, name: &str, scopes: &BTreeSet<TokenScope>, days: i64) -> Result<(String, IssuedToken)> {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(AuthError::Invalid("a token name is 1 to 100 characters".into()));
        }
        if scopes.is_empty() || scopes.contains(&TokenScope::MfaEnrol) {
            return Err(AuthError::Invalid("name at least one scope of records:read, records:write, records:export, audit:read, admin".into()));
        }
        if days < 1 || days > self.lifetimes.api_token_max_days {
            return Err(AuthError::Invalid(format!("a token lives 1 to {} days", self.lifetimes.api_token_max_days)));
        }
        let ttl = days * 86_400;
        let (token, id) = self.insert_token(user_id, "api", Some(name.trim()), Some(scopes), ttl, false).await?;
        Ok((id, IssuedToken { token, token_type: "Bearer", expires_in: ttl }))
    }

    /// Tokens of one user (or of everyone, for `None`), newest first.
    pub async fn tokens(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>> {
        let sql = format!(
            "SELECT id, user_id, name, kind, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_tokens{} ORDER BY created_at DESC LIMIT 500",
            if user_id.is_some() { " WHERE user_id = $1" } else { "" }
        );
        let mut q = sqlx::query(&sql);
        if let Some(u) = user_id {
            q = q.bind(u.to_string());
        }
        let rows = q.fetch_all(self.db.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    kind: r.try_get(3)?,
                    scopes: r.try_get::<Option<String>, _>(4)?.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default(),
                    created_at: crate::store::micros_to_rfc3339(r.try_get(5)?),
                    expires_at: crate::store::micros_to_rfc3339(r.try_get(6)?),
                    last_used_at: r.try_get::<Option<i64>, _>(7)?.map(crate::store::micros_to_rfc3339),
                    revoked: r.try_get::<Option<i64>, _>(8)?.is_some(),
                })
            })
            .collect()
    }

    /// Revokes a token; `owner` limits it to that user's tokens. Returns whether one was revoked.
    pub async fn revoke_token(&self, id: &str, owner: Option<&str>) -> Result<bool> {
        let sql = format!(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL{}",
            if owner.is_some() { " AND user_id = $3" } else { "" }
        );
        let mut q = sqlx::query(&sql).bind(now_micros()).bind(id.to_string());
        if let Some(o) = owner {
            q = q.bind(o.to_string());
        }
        let mut tx = self.db.begin_write().await?;
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await.map_err(StoreError::from)?;
        Ok(n > 0)
    }

    /// Resolves a bearer token to its user: disabled users, expired, revoked and idle sessions
    /// fail. A session's idle clock is pushed forward at most once a minute, so reads stay reads.
    pub async fn authenticate(&self, token: &str) -> Result<AuthUser> {
        if !token.starts_with("cap_") || token.len() > 100 {
            return Err(AuthError::BadToken);
        }
        let now = now_micros();
        let row = sqlx::query(
            "SELECT u.id, u.username, t.id, t.kind, t.scopes, t.last_used_at, t.mfa_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.disabled = 0",
        )
        .bind(hash_token(token))
        .bind(now)
        .fetch_optional(self.db.reader())
        .await?
        .ok_or(AuthError::BadToken)?;
        let token_id: String = row.try_get(2)?;
        let kind = if row.try_get::<String, _>(3)? == "api" { TokenKind::Api } else { TokenKind::Session };
        let last_used: Option<i64> = row.try_get(5)?;
        if kind == TokenKind::Session {
            let idle = self.lifetimes.session_idle_secs * 1_000_000;
            if last_used.is_some_and(|t| now - t > idle) {
                self.revoke_token(&token_id, None).await?;
                return Err(AuthError::BadToken);
            }
        }
        // Pushed forward at most every minute (or every half idle period, if that is shorter).
        let refresh = (self.lifetimes.session_idle_secs * 500_000).min(60_000_000);
        if last_used.is_none_or(|t| now - t > refresh) {
            let mut tx = self.db.begin_write().await?;
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2").bind(now).bind(token_id.clone()).execute(&mut *tx).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(AuthUser {
            id: row.try_get(0)?,
            username: row.try_get(1)?,
            token_id,
            kind,
            scopes: row.try_get::<Option<String>, _>(4)?.and_then(|s| serde_json::from_str(&s).ok()),
            mfa_at: row.try_get(6)?,
        })
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
        assert!(check_password_policy("Password1234", "bob").is_err(), "well-known");
        assert!(check_password_policy("aaaaaaaaaaaaaaaa", "bob").is_err(), "one character");
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
