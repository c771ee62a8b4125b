//! The delivery side of the notification outbox: claiming due messages, opening them with their
//! recipient's address, and recording how each attempt went.
//!
//! Addresses are resolved here, at delivery, and only here: a record's email field (opened with
//! the record's subject key, so an erased subject's message cannot go out), or a verification
//! challenge's sealed address. Once a message has gone its sealed text is removed: the outbox keeps
//! that a message went, never what it said.

use super::{AccessError, Gate, Result};
use crate::audit::{Actor, Event, Outcome};
use crate::crypto::keystore::WrappedKey;
use crate::store::now_micros;
use sqlx::Row;

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 8;

/// A message ready for the transport. Holds an address and text in clear: never log it.
pub struct OutgoingMail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail").field("id", &self.id).field("attempts", &self.attempts).finish_non_exhaustive()
    }
}

/// Why a message could not be opened for delivery (value-free).
#[derive(Debug)]
enum Unsendable {
    /// The record, its field or its key is gone (deleted, erased): the message can never go.
    RecipientGone,
}

/// Delay before the next attempt: 30 s, doubling, at most an hour.
pub fn backoff_micros(attempts: i64) -> i64 {
    let secs = 30i64.saturating_mul(1 << attempts.clamp(0, 7));
    secs.min(3_600) * 1_000_000
}

impl Gate {
    /// Claims up to `limit` due messages for `lease_micros` (so another node leaves them alone)
    /// and opens them. Messages whose recipient is gone are marked failed on the way.
    pub async fn outbox_claim(&self, limit: i64, lease_micros: i64) -> Result<Vec<OutgoingMail>> {
        let now = now_micros();
        let db = &self.inner.db;
        let due = sqlx::query(
            "SELECT id, next_attempt_at FROM notification_outbox WHERE state = 'queued' AND next_attempt_at <= $1 \
             ORDER BY created_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
        let mut out = Vec::new();
        for r in due {
            let id: String = r.try_get(0)?;
            let seen: i64 = r.try_get(1)?;
            // Ours only if nobody moved it since we looked.
            let mut tx = db.begin_write().await?;
            let claimed = sqlx::query("UPDATE notification_outbox SET next_attempt_at = $1 WHERE id = $2 AND state = 'queued' AND next_attempt_at = $3")
                .bind(now + lease_micros)
                .bind(id.clone())
                .bind(seen)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            tx.commit().await?;
            if !claimed {
                continue;
            }
            match self.open_message(&id).await? {
                Ok(m) => out.push(m),
                Err(Unsendable::RecipientGone) => self.outbox_give_up(&id, "recipient_gone").await?,
            }
        }
        Ok(out)
    }

    async fn open_message(&self, id: &str) -> Result<Result<OutgoingMail, Unsendable>> {
        let keys = &self.inner.keys;
        let db = self.inner.db.reader();
        let r = sqlx::query(
            "SELECT o.channel, o.object, o.record_id, o.field, o.sealed, o.attempts, k.id, k.version, k.root_version, k.wrapped, k.state \
             FROM notification_outbox o JOIN data_keys k ON k.id = o.key_id WHERE o.id = $1",
        )
        .bind(id.to_string())
        .fetch_one(db)
        .await?;
        let (channel, object, record_id, field): (String, String, String, String) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let message_key = WrappedKey::from_row(&r, 6)?;
        if message_key.destroyed {
            return Ok(Err(Unsendable::RecipientGone));
        }
        let message = keys.unwrap(&message_key)?.open_field("notification_outbox", id, "message", &r.try_get::<String, _>(4)?)?;
        let to = match channel.as_str() {
            "verification" => {
                let c = sqlx::query(
                    "SELECT c.address_sealed, k.id, k.version, k.root_version, k.wrapped, k.state FROM verification_challenges c \
                     JOIN data_keys k ON k.id = c.key_id WHERE c.id = $1",
                )
                .bind(record_id.clone())
                .fetch_optional(db)
                .await?;
                let Some(c) = c else { return Ok(Err(Unsendable::RecipientGone)) };
                let k = WrappedKey::from_row(&c, 1)?;
                if k.destroyed {
                    return Ok(Err(Unsendable::RecipientGone));
                }
                keys.unwrap(&k)?.open_field("verification_challenges", &record_id, "address", &c.try_get::<String, _>(0)?)?
            }
            "email" => {
                let rec = sqlx::query(
                    "SELECT r.plain, r.sealed, k.id, k.version, k.root_version, k.wrapped, k.state FROM records r \
                     JOIN data_keys k ON k.id = r.key_id WHERE r.id = $1 AND r.object = $2",
                )
                .bind(record_id.clone())
                .bind(object.clone())
                .fetch_optional(db)
                .await?;
                let Some(rec) = rec else { return Ok(Err(Unsendable::RecipientGone)) };
                let plain: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&rec.try_get::<String, _>(0)?).unwrap_or_default();
                let sealed: std::collections::BTreeMap<String, String> = serde_json::from_str(&rec.try_get::<String, _>(1)?).unwrap_or_default();
                match (plain.get(&field), sealed.get(&field)) {
                    (Some(v), _) => v.clone(),
                    (None, Some(ct)) => {
                        let k = WrappedKey::from_row(&rec, 2)?;
                        if k.destroyed {
                            return Ok(Err(Unsendable::RecipientGone));
                        }
                        keys.unwrap(&k)?.open_field(&object, &record_id, &field, ct)?
                    }
                    (None, None) => return Ok(Err(Unsendable::RecipientGone)),
                }
            }
            other => return Err(AccessError::Internal(format!("outbox message {id} has unknown channel `{other}`"))),
        };
        let text = |k: &str| message.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        Ok(Ok(OutgoingMail { id: id.to_string(), to: to.as_str().unwrap_or_default().to_string(), subject: text("subject"), body: text("body"), attempts: r.try_get(5)? }))
    }

    /// Records a delivered message and forgets its text.
    pub async fn outbox_sent(&self, id: &str) -> Result<()> {
        let mut tx = self.inner.db.begin_write().await?;
        sqlx::query("UPDATE notification_outbox SET state = 'sent', sealed = '', sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(now_micros())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let e = Event::new(&Actor::system("mail"), "notify.sent", Outcome::Allowed).object("notification_outbox").record(id);
        self.inner.audit.append(&mut tx, vec![e]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt (`error` is a value-free class) and schedules the next one, or
    /// gives the message up after [`MAX_ATTEMPTS`].
    pub async fn outbox_failed(&self, id: &str, attempts_before: i64, error: &str) -> Result<()> {
        let attempts = attempts_before + 1;
        if attempts >= MAX_ATTEMPTS {
            return self.outbox_give_up(id, error).await;
        }
        let mut tx = self.inner.db.begin_write().await?;
        sqlx::query("UPDATE notification_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4 AND state = 'queued'")
            .bind(attempts)
            .bind(now_micros() + backoff_micros(attempts))
            .bind(error.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn outbox_give_up(&self, id: &str, error: &str) -> Result<()> {
        let mut tx = self.inner.db.begin_write().await?;
        sqlx::query("UPDATE notification_outbox SET state = 'failed', sealed = '', attempts = attempts + 1, last_error = $1 WHERE id = $2")
            .bind(error.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let e = Event::new(&Actor::system("mail"), "notify.failed", Outcome::Failed).object("notification_outbox").record(id).detail(error);
        self.inner.audit.append(&mut tx, vec![e]).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(super::backoff_micros(1), 60_000_000);
        assert_eq!(super::backoff_micros(2), 120_000_000);
        assert_eq!(super::backoff_micros(20), 3_600_000_000);
    }
}
