//! Alerts as people who read the audit trail see and acknowledge them: the one place that decides
//! who may (the `audit` permission), for the API, the alerts page and the home page's panel.

use super::{AccessError, Effective, Gate, Principal, Result, SystemPermission};
use crate::alerts::{Alert, AlertError};

impl From<AlertError> for AccessError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Invalid(m) => AccessError::BadRequest(m),
            other => AccessError::Internal(other.to_string()),
        }
    }
}

const WHAT: &str = "alerts are for people who read the audit trail";

impl Gate {
    async fn require_audit(&self, p: &Principal, action: &str) -> Result<()> {
        if Effective::of(p).has(SystemPermission::Audit) {
            return Ok(());
        }
        self.inner.deny(p, action, None, WHAT).await
    }

    /// Alerts newest first, of one status (`open`, `acknowledged`) or all, at most `limit`.
    pub async fn alerts(&self, p: &Principal, status: Option<&str>, limit: usize) -> Result<Vec<Alert>> {
        self.require_audit(p, "alert.list").await?;
        Ok(crate::alerts::list(&self.inner.db, status, limit).await?)
    }

    /// Marks an open alert as seen and handled; false when no open alert has that id.
    pub async fn acknowledge_alert(&self, p: &Principal, id: &str) -> Result<bool> {
        self.require_audit(p, "alert.acknowledge").await?;
        Ok(crate::alerts::acknowledge(&self.inner.db, &self.inner.audit, &p.actor, id).await?)
    }
}
