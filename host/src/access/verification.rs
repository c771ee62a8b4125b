//! One-time codes that prove a requester controls an email address (the contract's
//! `verification` interface).
//!
//! The host draws the code and writes the message; the plugin learns only the challenge id and,
//! later, whether a code matched. The address and the code are sealed with the plugin's key; the
//! outbox message that carries the code is emptied once it has been sent. Limits bound what a
//! plugin can do with it: 30 challenges per plugin and 3 per address (compared by blind index) in
//! any hour, five wrong codes per challenge, 30 minutes to answer.

use super::plugin_store::key_owner;
use super::{AccessError, Gate, Invocation, Result};
use crate::crypto::keystore::WrappedKey;
use crate::store::now_micros;
use rand::RngCore;
use sqlx::Row;

/// How long a code can be used.
pub const CHALLENGE_TTL_MICROS: i64 = 30 * 60 * 1_000_000;
/// Wrong codes a challenge takes before it fails.
pub const MAX_ATTEMPTS: i64 = 5;
/// Challenges one plugin may open per hour.
pub const PER_PLUGIN_PER_HOUR: i64 = 30;
/// Challenges one address may receive per hour.
pub const PER_ADDRESS_PER_HOUR: i64 = 3;
const HOUR_MICROS: i64 = 3_600 * 1_000_000;

const TABLE: &str = "verification_challenges";
/// How long a challenge row is kept (the rate limits look back one hour).
const KEEP_CHALLENGES_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A six-digit code from the operating system's generator, without modulo bias.
fn draw_code() -> String {
    loop {
        let mut b = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let n = u32::from_be_bytes(b);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// The message a requester receives, in the host's words (English and Simplified Chinese). The
/// plugin contributes nothing to it but the approved purpose of its manifest.
pub fn message(purpose: &str, challenge: &str, code: &str) -> (String, String) {
    let subject = format!("Your verification code: {code} / 您的验证码：{code}");
    let body = format!(
        "Your verification code is {code}.\n\
         It was requested for: {purpose} (reference {challenge}).\n\
         It expires in 30 minutes. If you did not ask for it, ignore this message.\n\n\
         您的验证码是 {code}。\n\
         用途：{purpose}（编号 {challenge}）。\n\
         验证码 30 分钟内有效。如果这不是您本人的请求，请忽略本邮件。\n"
    );
    (subject, body)
}

fn valid_address(email: &str) -> bool {
    email.trim().len() <= 254 && crate::model::validate::is_email(email.trim())
}

impl Gate {
    /// Opens a challenge for `email` and queues the host's message with the code. Returns the
    /// challenge id.
    pub async fn open_challenge(&self, inv: &Invocation, plugin: &str, purpose: &str, email: &str) -> Result<String> {
        if !valid_address(email) {
            return Err(AccessError::BadRequest("not an email address".into()));
        }
        let normalised = crate::model::validate::normalise_for_index(&crate::model::FieldType::Email, email.trim());
        let address_index = self.inner.index.digest("email", &normalised);
        let now = now_micros();
        let inner = self.inner.clone();
        let mut guard = inv.tx.lock().await;
        let Some(tx) = guard.as_mut() else { return Err(AccessError::Internal("the invocation has already finished".into())) };
        let recent = |col: &'static str, v: String| {
            sqlx::query_scalar::<_, i64>(match col {
                "plugin" => "SELECT COUNT(*) FROM verification_challenges WHERE plugin = $1 AND created_at > $2",
                _ => "SELECT COUNT(*) FROM verification_challenges WHERE address_index = $1 AND created_at > $2",
            })
            .bind(v)
            .bind(now - HOUR_MICROS)
        };
        // Data minimisation: a challenge is needed for its 30 minutes and the hour the limits
        // count; after a day its sealed address and code go, whoever's they were.
        sqlx::query("DELETE FROM verification_challenges WHERE created_at < $1")
            .bind(now - KEEP_CHALLENGES_MICROS)
            .execute(&mut **tx)
            .await?;
        if recent("plugin", plugin.to_string()).fetch_one(&mut **tx).await? >= PER_PLUGIN_PER_HOUR {
            return Err(AccessError::RateLimited(format!("at most {PER_PLUGIN_PER_HOUR} verification codes per hour")));
        }
        if recent("address", address_index.clone()).fetch_one(&mut **tx).await? >= PER_ADDRESS_PER_HOUR {
            return Err(AccessError::RateLimited(format!("at most {PER_ADDRESS_PER_HOUR} verification codes per address and hour")));
        }
        let id = format!("vc-{}", uuid::Uuid::now_v7().simple());
        let code = draw_code();
        let dk = inner.keys.object_key(tx, &key_owner(plugin)).await?;
        let address_sealed = dk.seal_field(TABLE, &id, "address", &serde_json::json!(email.trim()));
        let code_sealed = dk.seal_field(TABLE, &id, "code", &serde_json::json!(code));
        sqlx::query(
            "INSERT INTO verification_challenges (id, plugin, address_sealed, address_index, key_id, code_sealed, purpose, attempts, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 'open', $8, $9)",
        )
        .bind(id.clone())
        .bind(plugin.to_string())
        .bind(address_sealed)
        .bind(address_index)
        .bind(dk.id.clone())
        .bind(code_sealed)
        .bind(purpose.chars().take(200).collect::<String>())
        .bind(now)
        .bind(now + CHALLENGE_TTL_MICROS)
        .execute(&mut **tx)
        .await?;
        let (subject, body) = message(purpose, &id, &code);
        let message_id = uuid::Uuid::now_v7().to_string();
        let sealed = dk.seal_field("notification_outbox", &message_id, "message", &serde_json::json!({"subject": subject, "body": body}));
        // The recipient is the challenge's sealed address, resolved at delivery.
        sqlx::query(
            "INSERT INTO notification_outbox (id, plugin, channel, object, record_id, field, sealed, key_id, state, created_at) \
             VALUES ($1, $2, 'verification', $3, $4, 'address', $5, $6, 'queued', $7)",
        )
        .bind(message_id)
        .bind(plugin.to_string())
        .bind(TABLE)
        .bind(id.clone())
        .bind(sealed)
        .bind(dk.id.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }

    /// Checks a code against one of the plugin's challenges: true once, on the right code.
    pub async fn check_challenge(&self, inv: &Invocation, plugin: &str, id: &str, code: &str) -> Result<bool> {
        let keys = self.inner.keys.clone();
        let mut guard = inv.tx.lock().await;
        let Some(tx) = guard.as_mut() else { return Err(AccessError::Internal("the invocation has already finished".into())) };
        let row = sqlx::query(
            "SELECT c.code_sealed, c.attempts, c.state, c.expires_at, k.id, k.version, k.root_version, k.wrapped, k.state \
             FROM verification_challenges c JOIN data_keys k ON k.id = c.key_id WHERE c.id = $1 AND c.plugin = $2",
        )
        .bind(id.to_string())
        .bind(plugin.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        let Some(r) = row else { return Err(AccessError::NotFound { object: TABLE.into(), id: id.into() }) };
        let (attempts, state, expires_at): (i64, String, i64) = (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        match state.as_str() {
            "passed" => return Err(AccessError::Conflict("the code was already used".into())),
            "failed" => return Err(AccessError::Conflict("too many wrong codes; ask for a new one".into())),
            _ if now_micros() > expires_at => return Err(AccessError::Conflict("the code expired; ask for a new one".into())),
            _ => {}
        }
        let dk = keys.unwrap(&WrappedKey::from_row(&r, 4)?)?;
        let expected = dk.open_field(TABLE, id, "code", &r.try_get::<String, _>(0)?)?;
        let expected = expected.as_str().unwrap_or_default().as_bytes().to_vec();
        let given = code.trim().as_bytes();
        let matches = given.len() == expected.len() && given.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        let (new_state, new_attempts) = match (matches, attempts + 1 >= MAX_ATTEMPTS) {
            (true, _) => ("passed", attempts),
            (false, true) => ("failed", attempts + 1),
            (false, false) => ("open", attempts + 1),
        };
        sqlx::query("UPDATE verification_challenges SET state = $1, attempts = $2 WHERE id = $3")
            .bind(new_state)
            .bind(new_attempts)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::BTreeSet<String> = (0..50).map(|_| draw_code()).collect();
        assert!(codes.iter().all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())));
        assert!(codes.len() > 40, "50 draws should rarely collide");
    }

    #[test]
    fn the_message_is_the_hosts_and_carries_the_code() {
        let (subject, body) = message("Answering data-subject requests", "vc-1", "042917");
        assert!(subject.contains("042917") && body.contains("042917") && body.contains("vc-1"));
        assert!(body.contains("验证码"));
    }

    #[test]
    fn addresses_are_checked() {
        assert!(valid_address("ada@example.com"));
        assert!(!valid_address("ada@example") && !valid_address("a b@example.com") && !valid_address("@example.com"));
        assert!(!valid_address("a@b@example.com"));
    }
}
