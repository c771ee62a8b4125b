//! Plugin-owned storage: values sealed like record fields (with the subject's key when a value is
//! about a subject, otherwise with the plugin's own key), inside the invocation's transaction.

use super::{AccessError, Gate, Invocation, Result};
use crate::crypto::keystore::WrappedKey;
use crate::store::now_micros;
use base64::Engine as _;
use sqlx::Row;

/// The invocation's transaction, if it is still open.
async fn open_tx(inv: &Invocation) -> Result<tokio::sync::MutexGuard<'_, Option<crate::store::Tx>>> {
    let g = inv.tx.lock().await;
    if g.is_none() {
        return Err(AccessError::Internal("the invocation has already finished".into()));
    }
    Ok(g)
}

/// The owner name of a plugin's own data key.
pub(super) fn key_owner(plugin: &str) -> String {
    format!("plugin:{plugin}")
}

impl Gate {
    /// Bytes a plugin stores now (for its quota).
    pub async fn plugin_storage_usage(&self, inv: &Invocation, plugin: &str) -> Result<i64> {
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        {
            let n: Option<i64> = sqlx::query_scalar("SELECT CAST(SUM(size) AS BIGINT) FROM plugin_storage WHERE plugin = $1")
                .bind(plugin.to_string())
                .fetch_one(&mut **tx)
                .await?;
            Ok(n.unwrap_or(0))
        }
    }

    pub async fn plugin_storage_get(&self, inv: &Invocation, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let keys = self.inner.keys.clone();
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        {
            let row = sqlx::query(
                "SELECT s.sealed, k.id, k.version, k.root_version, k.wrapped, k.state FROM plugin_storage s \
                 JOIN data_keys k ON k.id = s.key_id WHERE s.plugin = $1 AND s.key = $2",
            )
            .bind(plugin.to_string())
            .bind(key.to_string())
            .fetch_optional(&mut **tx)
            .await?;
            let Some(r) = row else { return Ok(None) };
            let w = WrappedKey::from_row(&r, 1)?;
            if w.destroyed {
                return Ok(None);
            }
            let dk = keys.unwrap(&w)?;
            let v = dk.open_field("plugin_storage", plugin, key, &r.try_get::<String, _>(0)?)?;
            let b64 = v.as_str().unwrap_or_default();
            Ok(Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| AccessError::Integrity("plugin value is not base64".into()))?,
            ))
        }
    }

    /// Stores a value; `subject` (a subject id) makes the value part of that person's data.
    pub async fn plugin_storage_set(&self, inv: &Invocation, plugin: &str, key: &str, value: &[u8], subject: Option<&str>) -> Result<()> {
        let inner = self.inner.clone();
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        {
            let dk = match subject {
                Some(sid) => {
                    let exists: Option<String> = sqlx::query_scalar("SELECT key_id FROM subjects WHERE id = $1")
                        .bind(sid.to_string())
                        .fetch_optional(&mut **tx)
                        .await?;
                    if exists.is_none() {
                        return Err(AccessError::BadRequest("unknown subject".into()));
                    }
                    super::records::subject_key_in(&inner, tx, sid).await?
                }
                None => inner.keys.object_key(tx, &key_owner(plugin)).await?,
            };
            let b64 = serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(value));
            let sealed = dk.seal_field("plugin_storage", plugin, key, &b64);
            sqlx::query("DELETE FROM plugin_storage WHERE plugin = $1 AND key = $2")
                .bind(plugin.to_string())
                .bind(key.to_string())
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO plugin_storage (plugin, key, sealed, key_id, subject_id, size, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(plugin.to_string())
            .bind(key.to_string())
            .bind(sealed)
            .bind(dk.id.clone())
            .bind(subject.map(str::to_string))
            .bind((value.len() + key.len()) as i64)
            .bind(now_micros())
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    }

    pub async fn plugin_storage_delete(&self, inv: &Invocation, plugin: &str, key: &str) -> Result<bool> {
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        {
            let n = sqlx::query("DELETE FROM plugin_storage WHERE plugin = $1 AND key = $2")
                .bind(plugin.to_string())
                .bind(key.to_string())
                .execute(&mut **tx)
                .await?
                .rows_affected();
            Ok(n > 0)
        }
    }

    /// Keys starting with `prefix`, after `after` (exclusive), in order: one page of at most
    /// `limit` (capped at 1000) and whether more follow.
    pub async fn plugin_storage_keys(&self, inv: &Invocation, plugin: &str, prefix: &str, after: Option<&str>, limit: u32) -> Result<(Vec<String>, bool)> {
        let limit = limit.clamp(1, 1000) as usize;
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        // Prefix match without LIKE, so `%` and `_` in keys mean themselves.
        let upper = format!("{prefix}\u{10FFFF}");
        let mut keys: Vec<String> = sqlx::query_scalar(
            "SELECT key FROM plugin_storage WHERE plugin = $1 AND key >= $2 AND key < $3 AND key > $4 ORDER BY key LIMIT $5",
        )
        .bind(plugin.to_string())
        .bind(prefix.to_string())
        .bind(upper)
        .bind(after.unwrap_or("").to_string())
        .bind((limit + 1) as i64)
        .fetch_all(&mut **tx)
        .await?;
        let more = keys.len() > limit;
        keys.truncate(limit);
        Ok((keys, more))
    }
}

impl Gate {
    /// Queues an email for a record's email field. The address is resolved at delivery, by the
    /// host; subject and body are sealed with the plugin's key.
    #[allow(clippy::too_many_arguments)]
    pub async fn queue_email(&self, inv: &Invocation, plugin: &str, object: &str, record_id: &str, field: &str, subject: &str, body: &str) -> Result<String> {
        let inner = self.inner.clone();
        let schema = self.schema();
        let is_email = schema
            .object(object)
            .and_then(|o| o.field(field))
            .is_some_and(|f| f.field_type == crate::model::FieldType::Email);
        if !is_email {
            return Err(AccessError::BadRequest(format!("`{object}.{field}` is not an email field")));
        }
        let mut guard = open_tx(inv).await?;
        let tx = guard.as_mut().expect("open_tx checked");
        {
            let id = uuid::Uuid::now_v7().to_string();
            let dk = inner.keys.object_key(tx, &key_owner(plugin)).await?;
            let sealed = dk.seal_field("notification_outbox", &id, "message", &serde_json::json!({"subject": subject, "body": body}));
            sqlx::query(
                "INSERT INTO notification_outbox (id, plugin, channel, object, record_id, field, sealed, key_id, state, created_at) \
                 VALUES ($1, $2, 'email', $3, $4, $5, $6, $7, 'queued', $8)",
            )
            .bind(id.clone())
            .bind(plugin.to_string())
            .bind(object.to_string())
            .bind(record_id.to_string())
            .bind(field.to_string())
            .bind(sealed)
            .bind(dk.id.clone())
            .bind(now_micros())
            .execute(&mut **tx)
            .await?;
            Ok(id)
        }
    }
}
