//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew either
//! way), with one-time recovery codes.
//!
//! The shared secret is sealed like a personal field (AES-256-GCM under the `user_mfa` key, bound
//! to the user), never stored or logged in clear. A code is accepted once: the last accepted
//! time step is kept, and an older or equal step is refused.

use super::{Auth, AuthError, Result, hash_token};
use crate::store::{StoreError, now_micros};
use base64::Engine as _;
use rand::RngCore;
use serde_json::Value;
use sqlx::Row;
use totp_rs::{Builder, Totp};

/// What a person needs to add the account to an authenticator app.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The secret in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_url: String,
    /// The QR code as an SVG image.
    pub qr_svg: String,
}

const KEY_OWNER: &str = "user_mfa";

fn totp(secret: Vec<u8>, username: &str) -> Result<Totp> {
    Builder::new()
        .with_secret(secret)
        .with_account_name(username.to_string())
        .with_issuer(Some("capcrm"))
        .build()
        .map_err(|e| AuthError::Invalid(format!("TOTP: {e}")))
}

/// The current code for a secret (for tests and tools that hold the secret).
pub fn code_now(secret_base32: &str) -> Option<String> {
    let bytes = totp_rs::Secret::try_from_base32(secret_base32).ok()?.as_bytes().to_vec();
    let t = totp(bytes, "x").ok()?;
    Some(t.generate(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs()).to_string())
}

impl Auth {
    /// Whether the person's second factor is on.
    pub async fn mfa_enabled(&self, user_id: &str) -> Result<bool> {
        let on: Option<i64> = sqlx::query_scalar("SELECT totp_enabled FROM users WHERE id = $1").bind(user_id.to_string()).fetch_optional(self.db.reader()).await?;
        Ok(on.unwrap_or(0) != 0)
    }

    /// Starts (or restarts) enrolment: a new secret, sealed, not yet enabled.
    pub async fn mfa_begin(&self, user_id: &str, username: &str) -> Result<Enrolment> {
        let mut raw = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let t = totp(raw.clone(), username)?;
        let b32 = totp_rs::Secret::from(raw).to_base32();
        let url = t.to_url().map_err(|e| AuthError::Invalid(format!("TOTP: {e}")))?;
        let qr = qrcode::QrCode::new(url.as_bytes()).map_err(|e| AuthError::Invalid(format!("QR code: {e}")))?;
        let svg = qr.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build();
        let mut tx = self.db.begin_write().await?;
        let key = self.keys.object_key(&mut tx, KEY_OWNER).await?;
        let sealed = key.seal_field("users", user_id, "totp", &Value::String(b32.clone()));
        let n = sqlx::query("UPDATE users SET totp_sealed = $1 WHERE id = $2 AND totp_enabled = 0")
            .bind(sealed)
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(AuthError::Invalid("a second factor is already enabled; an administrator can reset it".into()));
        }
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Enrolment { secret: b32, otpauth_url: url, qr_svg: svg })
    }

    /// The user's secret, unsealed, and the last step accepted.
    async fn secret_of(&self, tx: &mut crate::store::Tx, user_id: &str) -> Result<Option<(Vec<u8>, String, i64, bool)>> {
        let row = sqlx::query(&format!("SELECT totp_sealed, username, totp_last_step, totp_enabled FROM users WHERE id = $1{}", self.db.for_update()))
            .bind(user_id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        let Some(r) = row else { return Ok(None) };
        let Some(sealed) = r.try_get::<Option<String>, _>(0)? else { return Ok(None) };
        let key = self.keys.object_key(tx, KEY_OWNER).await?;
        let b32 = key.open_field("users", user_id, "totp", &sealed).map_err(|e| AuthError::Key(e.to_string()))?;
        let bytes = totp_rs::Secret::try_from_base32(b32.as_str().unwrap_or_default())
            .ok()
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| AuthError::Key("stored TOTP secret is malformed".into()))?;
        Ok(Some((bytes, r.try_get(1)?, r.try_get(2)?, r.try_get::<i64, _>(3)? != 0)))
    }

    /// Checks a code and, if it is good and newer than the last one accepted, records its step.
    async fn accept_code(&self, user_id: &str, code: &str, require_enabled: bool) -> Result<bool> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Ok(false);
        }
        let mut tx = self.db.begin_write().await?;
        let Some((secret, username, last_step, enabled)) = self.secret_of(&mut tx, user_id).await? else { return Ok(false) };
        if require_enabled && !enabled {
            return Ok(false);
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let Some(step) = totp(secret, &username)?.check(&code, now) else { return Ok(false) };
        if step as i64 <= last_step {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2").bind(step as i64).bind(user_id.to_string()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// Confirms enrolment with a first code; returns ten recovery codes, shown once.
    pub async fn mfa_confirm(&self, user_id: &str, code: &str) -> Result<Vec<String>> {
        if !self.accept_code(user_id, code, false).await? {
            return Err(AuthError::BadMfaCode);
        }
        let mut codes = Vec::with_capacity(10);
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1").bind(user_id.to_string()).execute(&mut *tx).await?;
        for _ in 0..10 {
            let mut raw = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw).to_lowercase().replace(['-', '_'], "x");
            let code = format!("{}-{}", &code[..6], &code[6..12]);
            sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id.to_string())
                .bind(hash_token(&code))
                .execute(&mut *tx)
                .await?;
            codes.push(code);
        }
        sqlx::query("UPDATE users SET totp_enabled = 1 WHERE id = $1").bind(user_id.to_string()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(codes)
    }

    /// Checks a second factor at sign-in: a TOTP code, or else a recovery code (used up).
    pub async fn mfa_check(&self, user_id: &str, totp: Option<&str>, recovery: Option<&str>) -> Result<bool> {
        if let Some(c) = totp {
            return self.accept_code(user_id, c, true).await;
        }
        let Some(rc) = recovery else { return Err(AuthError::MfaRequired) };
        let rc = rc.trim().to_lowercase();
        let mut tx = self.db.begin_write().await?;
        let n = sqlx::query("UPDATE mfa_recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now_micros())
            .bind(user_id.to_string())
            .bind(hash_token(&rc))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await.map_err(StoreError::from)?;
        Ok(n == 1)
    }

    /// A fresh TOTP check for a signed-in session (step-up before a reveal).
    pub async fn mfa_step_up(&self, user_id: &str, token_id: &str, code: &str) -> Result<()> {
        if !self.accept_code(user_id, code, true).await? {
            return Err(AuthError::BadMfaCode);
        }
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE api_tokens SET mfa_at = $1 WHERE id = $2").bind(now_micros()).bind(token_id.to_string()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// Removes a user's second factor (an administrator's reset, after a lost device).
    pub async fn mfa_reset(&self, user_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE users SET totp_sealed = NULL, totp_enabled = 0 WHERE id = $1").bind(user_id.to_string()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1").bind(user_id.to_string()).execute(&mut *tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(())
    }
}
