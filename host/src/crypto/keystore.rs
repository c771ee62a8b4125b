//! The key lifecycle in the database: root key versions, wrapped data keys, rotation.
//!
//! Data keys are wrapped (AES-256-GCM) under a root key version; the associated data binds the
//! wrapped key to its id and versions. Rotation wraps every data key again under a new root version
//! without touching a single record, so it runs online.

use super::{CryptoError, DataKey, RootKey, RootKeyring, SecretKey, open, seal};
use crate::store::{Backend, Db, StoreError, Tx, now_micros};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use sqlx::Row;
use std::sync::RwLock;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
impl From<sqlx::Error> for KeyError {
    fn from(e: sqlx::Error) -> Self {
        KeyError::Store(StoreError::Sqlx(e))
    }
}

pub type Result<T, E = KeyError> = std::result::Result<T, E>;

/// Names of the system keys created at `init`.
pub const BLIND_INDEX_KEY: &str = "blind-index";
pub const AUDIT_CHAIN_KEY: &str = "audit-chain";

/// A data key row as stored: enough to unwrap it.
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub id: String,
    pub version: i64,
    pub root_version: i64,
    pub wrapped: Option<String>,
    pub destroyed: bool,
}

impl WrappedKey {
    /// Reads `id, version, root_version, wrapped, state` from five consecutive columns.
    pub fn from_row(r: &sqlx::any::AnyRow, first: usize) -> Result<WrappedKey, sqlx::Error> {
        Ok(WrappedKey {
            id: r.try_get(first)?,
            version: r.try_get(first + 1)?,
            root_version: r.try_get(first + 2)?,
            wrapped: r.try_get(first + 3)?,
            destroyed: r.try_get::<String, _>(first + 4)? == "destroyed",
        })
    }
}

fn wrap_aad(id: &str, version: i64, root_version: i64) -> Vec<u8> {
    format!("capcrm-dk-v1|{id}|{version}|{root_version}").into_bytes()
}

/// Root keys in memory plus the database rows they protect.
#[derive(Debug)]
pub struct Keystore {
    ring: RwLock<RootKeyring>,
    backend: Backend,
}

impl Keystore {
    pub fn new(ring: RootKeyring, backend: Backend) -> Self {
        Keystore { ring: RwLock::new(ring), backend }
    }

    fn root(&self, version: i64) -> Result<RootKey> {
        if let Some(k) = self.ring.read().expect("keyring lock").get(version) {
            return Ok(k.clone());
        }
        // Another process may have rotated: the key file can hold a version we have not read yet.
        let mut ring = self.ring.write().expect("keyring lock");
        ring.reload()?;
        ring.get(version).cloned().ok_or_else(|| {
            CryptoError::RootKey(format!("root key version {version} is not in the configured key source")).into()
        })
    }

    /// Checks, without writing anything, that the configured root key opens this database.
    pub async fn verify_root(&self, db: &Db) -> Result<()> {
        let rows = sqlx::query("SELECT version, check_value, state FROM root_keys ORDER BY version")
            .fetch_all(db.reader())
            .await?;
        if rows.is_empty() {
            return Err(CryptoError::RootKey("the database has no root key registered: run `capcrm init`".into()).into());
        }
        for row in rows {
            let version: i64 = row.try_get(0)?;
            let check: String = row.try_get(1)?;
            let state: String = row.try_get(2)?;
            if state == "retired" {
                continue;
            }
            let key = self.root(version).map_err(|_| {
                CryptoError::RootKey(format!(
                    "root key version {version} ({state}) is missing from the configured key source; refusing to start"
                ))
            })?;
            if key.check_value() != check {
                return Err(CryptoError::RootKey(format!(
                    "the configured root key version {version} does not match this database (wrong key file or CAPCRM_ROOT_KEY?); refusing to start"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Registers the first root key version and creates the system keys. Runs inside `init`'s transaction.
    pub async fn initialise(&self, tx: &mut Tx) -> Result<()> {
        let root = self.ring.read().expect("keyring lock").newest().clone();
        sqlx::query("INSERT INTO root_keys (version, check_value, state, created_at) VALUES ($1, $2, 'active', $3)")
            .bind(root.version)
            .bind(root.check_value())
            .bind(now_micros())
            .execute(&mut **tx)
            .await?;
        for name in [BLIND_INDEX_KEY, AUDIT_CHAIN_KEY] {
            self.create_key(tx, "system", name, &uuid::Uuid::new_v4().to_string()).await?;
        }
        Ok(())
    }

    /// The root version new data keys are wrapped under. On PostgreSQL the row is share-locked until
    /// the transaction ends, so a rotation cannot retire it while this transaction wraps a key.
    async fn active_root(&self, tx: &mut Tx, db_lock: &str) -> Result<RootKey> {
        let sql = format!("SELECT version FROM root_keys WHERE state = 'active' ORDER BY version DESC LIMIT 1{db_lock}");
        // On PostgreSQL, a rotation that commits while this statement waits for the row lock makes
        // the re-checked row no longer active, and the new version is not in this statement's
        // snapshot: zero rows. The next statement sees the new version.
        for _ in 0..5 {
            if let Some(version) = sqlx::query_scalar::<_, i64>(&sql).fetch_optional(&mut **tx).await? {
                return self.root(version);
            }
        }
        Err(CryptoError::RootKey("no active root key version in the database".into()).into())
    }

    /// Creates and stores a new data key; returns it in clear.
    pub async fn create_key(&self, tx: &mut Tx, scope: &str, owner: &str, id: &str) -> Result<DataKey> {
        let lock = if self.backend == Backend::Postgres { " FOR SHARE" } else { "" };
        let root = self.active_root(tx, lock).await?;
        let key = DataKey { id: id.to_string(), version: 1, key: SecretKey::generate() };
        let wrapped = B64.encode(seal(&root.key, &wrap_aad(&key.id, key.version, root.version), key.key.expose()));
        sqlx::query(
            "INSERT INTO data_keys (id, scope, owner, version, root_version, wrapped, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(&key.id)
        .bind(scope)
        .bind(owner)
        .bind(key.version)
        .bind(root.version)
        .bind(wrapped)
        .bind(now_micros())
        .execute(&mut **tx)
        .await?;
        Ok(key)
    }

    /// The key for records of an object that have no subject, created on first use.
    pub async fn object_key(&self, tx: &mut Tx, object: &str) -> Result<DataKey> {
        if let Some(w) = fetch_key(&mut **tx, "object", object).await? {
            return self.unwrap(&w);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.create_key(tx, "object", object, &id).await
    }

    /// Loads a system key (blind-index root, audit chain key) in clear.
    pub async fn system_key<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(&self, exec: E, name: &str) -> Result<DataKey> {
        let w = fetch_key(exec, "system", name)
            .await?
            .ok_or_else(|| CryptoError::RootKey(format!("system key `{name}` is missing: the database was not initialised")))?;
        self.unwrap(&w)
    }

    /// Unwraps a data key; a destroyed key is an error of its own (the data was erased).
    pub fn unwrap(&self, w: &WrappedKey) -> Result<DataKey> {
        let wrapped = match (&w.wrapped, w.destroyed) {
            (Some(wr), false) => wr,
            _ => return Err(CryptoError::Destroyed(w.id.clone()).into()),
        };
        let root = self.root(w.root_version)?;
        let bytes = B64
            .decode(wrapped)
            .map_err(|_| CryptoError::Malformed(format!("wrapped key {} is not base64", w.id)))?;
        let plain = zeroize::Zeroizing::new(
            open(&root.key, &wrap_aad(&w.id, w.version, w.root_version), &bytes)
                .map_err(|_| CryptoError::Integrity(format!("data key {} does not authenticate", w.id)))?,
        );
        Ok(DataKey { id: w.id.clone(), version: w.version, key: SecretKey::from_slice(&plain)? })
    }

    /// Rotates the root key online: appends a new version to the key file, makes it active, re-wraps
    /// every data key in batches (each its own transaction), then retires the old versions. Records
    /// are never rewritten. Returns (new version, number of keys re-wrapped).
    pub async fn rotate(&self, db: &Db, mut progress: impl FnMut(u64)) -> Result<(i64, u64)> {
        let new = {
            let mut ring = self.ring.write().expect("keyring lock");
            ring.reload()?;
            ring.add_version()?
        };
        let mut tx = db.begin_write().await?;
        sqlx::query("INSERT INTO root_keys (version, check_value, state, created_at) VALUES ($1, $2, 'active', $3)")
            .bind(new.version)
            .bind(new.check_value())
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        // On PostgreSQL this waits for every transaction that is wrapping a key under the old version.
        sqlx::query("UPDATE root_keys SET state = 'retiring' WHERE state = 'active' AND version <> $1")
            .bind(new.version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;

        let mut done = 0u64;
        loop {
            let mut tx = db.begin_write().await?;
            let rows = sqlx::query(&format!(
                "SELECT id, version, root_version, wrapped FROM data_keys \
                 WHERE root_version <> $1 AND state = 'active' ORDER BY id LIMIT 500{}",
                db.for_update()
            ))
            .bind(new.version)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.rollback().await.map_err(StoreError::from)?;
                break;
            }
            for row in &rows {
                let w = WrappedKey {
                    id: row.try_get(0)?,
                    version: row.try_get(1)?,
                    root_version: row.try_get(2)?,
                    wrapped: row.try_get(3)?,
                    destroyed: false,
                };
                let key = self.unwrap(&w)?;
                let rewrapped =
                    B64.encode(seal(&new.key, &wrap_aad(&w.id, w.version, new.version), key.key.expose()));
                sqlx::query("UPDATE data_keys SET wrapped = $1, root_version = $2 WHERE id = $3 AND root_version = $4")
                    .bind(rewrapped)
                    .bind(new.version)
                    .bind(&w.id)
                    .bind(w.root_version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            done += rows.len() as u64;
            progress(done);
        }
        let mut tx = db.begin_write().await?;
        sqlx::query("UPDATE root_keys SET state = 'retired', retired_at = $1 WHERE state = 'retiring'")
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((new.version, done))
    }

    /// Root key versions and their states, for `capcrm keys status`.
    pub async fn status(&self, db: &Db) -> Result<Vec<(i64, String, i64)>> {
        let rows = sqlx::query(
            "SELECT r.version, r.state, (SELECT COUNT(*) FROM data_keys d WHERE d.root_version = r.version AND d.state = 'active') \
             FROM root_keys r ORDER BY r.version",
        )
        .fetch_all(db.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    }
}

async fn fetch_key<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    exec: E,
    scope: &str,
    owner: &str,
) -> Result<Option<WrappedKey>> {
    let row = sqlx::query(
        "SELECT id, version, root_version, wrapped, state FROM data_keys WHERE scope = $1 AND owner = $2 ORDER BY version DESC LIMIT 1",
    )
    .bind(scope)
    .bind(owner)
    .fetch_optional(exec)
    .await?;
    row.map(|r| WrappedKey::from_row(&r, 0)).transpose().map_err(Into::into)
}
