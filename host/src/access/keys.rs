//! Root keys as administrators see and rotate them: the same status and rotation as `capcrm keys
//! status` and `capcrm keys rotate`, for people with the `keys` permission, audited as `key.rotate`.

use super::{AccessError, Effective, Gate, Principal, Result, SystemPermission};
use crate::audit::{Event, Outcome};
use crate::crypto::CryptoError;
use crate::crypto::keystore::KeyError;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};

/// One root key version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RootKeyVersion {
    pub version: i64,
    /// active, retiring (a rotation is re-wrapping its data keys) or retired.
    pub state: String,
    /// Data keys wrapped under this version.
    pub data_keys: i64,
}

/// The outcome of a rotation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rotation {
    /// The root key version now active.
    pub version: i64,
    /// Data keys re-wrapped under it.
    pub rewrapped: u64,
}

/// One rotation at a time in this process.
static ROTATING: AtomicBool = AtomicBool::new(false);

struct RotationSlot;

impl RotationSlot {
    fn take() -> Option<RotationSlot> {
        ROTATING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| RotationSlot)
    }
}

impl Drop for RotationSlot {
    fn drop(&mut self) {
        ROTATING.store(false, Ordering::Release);
    }
}

impl Gate {
    async fn require_keys(&self, p: &Principal, action: &str) -> Result<()> {
        if Effective::of(p).has(SystemPermission::Keys) {
            return Ok(());
        }
        self.inner.deny(p, action, None, "managing keys needs the keys permission").await
    }

    /// Root key versions, their states and how many data keys each wraps.
    pub async fn key_status(&self, p: &Principal) -> Result<Vec<RootKeyVersion>> {
        self.require_keys(p, "key.status").await?;
        let rows = self.inner.keys.status(&self.inner.db).await?;
        Ok(rows.into_iter().map(|(version, state, data_keys)| RootKeyVersion { version, state, data_keys }).collect())
    }

    /// Rotates the root key online, as `capcrm keys rotate` does: a new version in the key file,
    /// every data key re-wrapped under it, the older versions retired (they stay in the key file
    /// for backups taken before). The work runs to its end even if the caller goes away, and is
    /// audited (`key.rotate`) as the caller's.
    pub async fn rotate_keys(&self, p: &Principal) -> Result<Rotation> {
        self.require_keys(p, "key.rotate").await?;
        let slot = RotationSlot::take().ok_or_else(|| AccessError::Conflict("a root key rotation is already running".into()))?;
        let gate = self.clone();
        let p = p.clone();
        let job = tokio::spawn(async move {
            let _slot = slot;
            let inner = &gate.inner;
            let result = inner.keys.rotate(&inner.db, |_| {}).await;
            let ev = match &result {
                Ok((version, n)) => Event::new(&p.actor, "key.rotate", Outcome::Allowed).detail(format!("root key version {version} active; {n} data keys re-wrapped")),
                Err(e) => Event::new(&p.actor, "key.rotate", Outcome::Failed).detail(format!("root key rotation failed: {e}")),
            };
            inner.audit.record(vec![ev.request(p.request_id.as_deref())]).await?;
            match result {
                Ok((version, rewrapped)) => Ok(Rotation { version, rewrapped }),
                // A key source capcrm cannot extend (CAPCRM_ROOT_KEY) is the administrator's to change.
                Err(KeyError::Crypto(CryptoError::RootKey(m))) => Err(AccessError::Conflict(format!("root key: {m}"))),
                Err(e) => Err(e.into()),
            }
        });
        job.await.map_err(|e| AccessError::Internal(format!("key rotation task: {e}")))?
    }
}
