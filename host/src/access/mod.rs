//! The access layer: the single path to customer data.
//!
//! Storage is reachable only through a [`Gate`], which takes the caller ([`Principal`]) and hands
//! back a [`RecordAccess`] narrowed to that caller's effective permissions ([`policy::Effective`]).
//! Every method of the handle checks the policy, validates, encrypts or decrypts through
//! [`crate::crypto`], masks, and writes its audit entry through [`crate::audit`]: changes in the same
//! transaction, reads before the data is returned, denials always. There is no other way to a record.

pub mod alerts;
pub mod consent;
pub mod exports;
pub mod keys;
mod mask;
pub mod people;
pub mod policy;
pub mod roles;
pub mod outbox;
mod plugin_store;
mod records;
mod schema_admin;
pub mod verification;

pub use policy::{Action, Effective, FieldAccess, PluginGrant, RecordScope, SubjectOp, SystemPermission};
pub use roles::{ObjectGrant, Permissions, RoleDef};
pub use records::subjects::{ErasureReceipt, Hold, Identifier, StoredPage, StoredValue, SubjectMatch};
pub use records::import::{ImportReport, RowError};
pub use records::{Change, Filter, FilterOp, FilterValue, ListQuery, Sort, RecordAccess, RecordPage, RecordView, WriteOptions};

use crate::audit::{Actor, Audit, AuditError, AuditFilter, AuditPage, Event, Outcome};
use crate::crypto::keystore::{BLIND_INDEX_KEY, KeyError, Keystore};
use crate::crypto::{BlindIndexer, ClientDigester, CryptoError};
use crate::model::Schema;
use crate::model::validate::ValidationError;
use crate::store::{Db, StoreError};
use std::sync::{Arc, RwLock};

/// Who is asking: a person, the host, or a plugin (on its own grant or acting for a person), with
/// the request it belongs to.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub user_id: Option<String>,
    /// The person's merged roles (everything, for the host itself).
    pub perms: Arc<Permissions>,
    /// An API token's scopes, which narrow the person's permissions; `None` for a session.
    pub scopes: Option<Arc<std::collections::BTreeSet<crate::auth::TokenScope>>>,
    /// Whether the caller passed a TOTP check in the last minutes (step-up for reveals).
    pub mfa_fresh: bool,
    pub request_id: Option<String>,
    pub purpose: Option<String>,
    /// Set when a plugin acts: its grant narrows whatever the person (or the host) may do.
    pub plugin: Option<Arc<policy::PluginGrant>>,
}

impl Principal {
    /// The host itself (demo seeding, maintenance): acts with full rights and is audited as `system`.
    pub fn system(component: &str) -> Principal {
        Principal {
            actor: Actor::system(component),
            user_id: None,
            perms: Arc::new(Permissions::everything()),
            scopes: None,
            mfa_fresh: false,
            request_id: None,
            purpose: None,
            plugin: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("unknown object `{0}`")]
    UnknownObject(String),
    #[error("no {object} record with id {id}")]
    NotFound { object: String, id: String },
    #[error("permission denied: {0}")]
    Denied(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// Too many of something in a period (verification codes, say).
    #[error("{0}")]
    RateLimited(String),
    /// The action needs a fresh second factor.
    #[error("{0}")]
    MfaRequired(String),
    /// Stored data failed authentication: altered, moved or swapped in the database.
    #[error("integrity error: {0}")]
    Integrity(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        AccessError::Internal(e.to_string())
    }
}
impl From<sqlx::Error> for AccessError {
    fn from(e: sqlx::Error) -> Self {
        AccessError::Internal(format!("database: {e}"))
    }
}
impl From<AuditError> for AccessError {
    fn from(e: AuditError) -> Self {
        AccessError::Internal(e.to_string())
    }
}
impl From<KeyError> for AccessError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Crypto(CryptoError::Integrity(m)) => AccessError::Integrity(m),
            other => AccessError::Internal(other.to_string()),
        }
    }
}
impl From<CryptoError> for AccessError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Integrity(m) | CryptoError::Malformed(m) => AccessError::Integrity(m),
            other => AccessError::Internal(other.to_string()),
        }
    }
}

pub type Result<T, E = AccessError> = std::result::Result<T, E>;

pub(crate) struct GateInner {
    pub(crate) db: Db,
    pub(crate) keys: Arc<Keystore>,
    pub(crate) audit: Audit,
    pub(crate) index: BlindIndexer,
    client: ClientDigester,
    schema: RwLock<Arc<Schema>>,
}

/// A plugin invocation's shared transaction and the value-free entries it has gathered.
#[derive(Clone)]
pub struct Invocation {
    pub(crate) tx: Arc<tokio::sync::Mutex<Option<crate::store::Tx>>>,
    pub(crate) notes: Arc<std::sync::Mutex<Vec<Event>>>,
}

/// The gate to customer data. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gate")
    }
}

impl Gate {
    pub async fn open(db: Db, keys: Arc<Keystore>, audit: Audit) -> Result<Gate> {
        let index_root = keys.system_key(db.reader(), BLIND_INDEX_KEY).await?;
        let schema = schema_admin::load_schema(&db).await?;
        Ok(Gate {
            inner: Arc::new(GateInner {
                db,
                keys,
                audit,
                index: BlindIndexer::new(&index_root.key),
                client: ClientDigester::new(&index_root.key),
                schema: RwLock::new(Arc::new(schema)),
            }),
        })
    }

    /// What a plugin's route is told of the client in `x-capcrm-client`: an opaque digest of its
    /// address under a host-held key, per plugin and UTC day ([`ClientDigester`]), never the
    /// address itself.
    pub fn client_digest(&self, plugin: &str, ip: std::net::IpAddr) -> String {
        self.inner.client.digest(plugin, ip, crate::store::now_micros().div_euclid(86_400_000_000))
    }

    /// The record handle for one caller: the only way to read or change records.
    pub fn records(&self, principal: &Principal) -> RecordAccess {
        RecordAccess::new(self.inner.clone(), principal.clone(), Effective::of(principal), records::Scope::Own)
    }

    /// Starts an invocation: a transaction that every handle made with [`Gate::records_in`] shares,
    /// committed or rolled back as a whole.
    pub async fn begin_invocation(&self) -> Result<Invocation> {
        let tx = self.inner.db.begin_write().await?;
        Ok(Invocation {
            tx: Arc::new(tokio::sync::Mutex::new(Some(tx))),
            notes: Arc::new(std::sync::Mutex::new(Vec::new())),
        })
    }

    /// A record handle whose work joins the invocation's transaction.
    pub fn records_in(&self, principal: &Principal, invocation: &Invocation) -> RecordAccess {
        RecordAccess::new(
            self.inner.clone(),
            principal.clone(),
            Effective::of(principal),
            records::Scope::Shared(invocation.clone()),
        )
    }

    /// Commits an invocation with the entries of its reads and denials.
    pub async fn commit_invocation(&self, invocation: &Invocation, extra: Vec<Event>) -> Result<()> {
        let mut tx = invocation
            .tx
            .lock()
            .await
            .take()
            .ok_or_else(|| AccessError::Internal("the invocation has already finished".into()))?;
        let mut notes: Vec<Event> = std::mem::take(&mut *invocation.notes.lock().expect("notes lock"));
        notes.extend(extra);
        self.inner.audit.append(&mut tx, notes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Rolls an invocation back. Its reads, denials and the failure itself stay on record: what a
    /// plugin saw before it failed is still "who saw what".
    pub async fn abort_invocation(&self, invocation: &Invocation, failure: Event) -> Result<()> {
        if let Some(tx) = invocation.tx.lock().await.take() {
            tx.rollback().await?;
        }
        let mut notes: Vec<Event> = std::mem::take(&mut *invocation.notes.lock().expect("notes lock"));
        notes.push(failure);
        Ok(self.inner.audit.record(notes).await?)
    }

    pub fn schema(&self) -> Arc<Schema> {
        self.inner.schema()
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Audit entries, for callers allowed to read the audit trail. A subject is named by its subject
    /// id and looked up by its pseudonym, which only exists while the subject's key does.
    pub async fn audit_log(&self, principal: &Principal, mut filter: AuditFilter, subject_id: Option<&str>) -> Result<AuditPage> {
        let perms = Effective::of(principal);
        if !perms.has(SystemPermission::Audit) {
            self.inner.deny(principal, "audit.query", None, "reading the audit trail").await?;
        }
        if let Some(sid) = subject_id {
            filter.subject = Some(records::subject_pseudonym(&self.inner, sid).await?);
        }
        Ok(crate::audit::query(&self.inner.db, &filter).await?)
    }

    /// The caller's own audit entries: what they read, changed, revealed, exported or were refused.
    /// Everyone may see their own trail (it holds no field values); subjects are not searchable here.
    pub async fn my_activity(&self, principal: &Principal, mut filter: AuditFilter) -> Result<AuditPage> {
        if principal.user_id.is_none() || principal.plugin.is_some() {
            return self.inner.deny(principal, "audit.query", None, "reading one's own activity (people only)").await;
        }
        filter.actor = Some(principal.actor.name.clone());
        filter.actor_kind = Some(principal.actor.kind.clone());
        filter.subject = None;
        Ok(crate::audit::query(&self.inner.db, &filter).await?)
    }

    /// Verifies the whole audit chain, for callers allowed to read the audit trail.
    pub async fn verify_audit(&self, principal: &Principal) -> Result<crate::audit::VerifyReport> {
        if !Effective::of(principal).has(SystemPermission::Audit) {
            return self.inner.deny(principal, "audit.verify", None, "reading the audit trail").await;
        }
        Ok(crate::audit::verify_chain(&self.inner.db, self.inner.audit.chain_key()).await?)
    }

    /// Writes an audit entry for an event outside the record path (login, key operation).
    pub async fn audit_event(&self, event: Event) -> Result<()> {
        Ok(self.inner.audit.record(vec![event]).await?)
    }

    pub fn audit(&self) -> &Audit {
        &self.inner.audit
    }
}

impl GateInner {
    pub(crate) fn schema(&self) -> Arc<Schema> {
        self.schema.read().expect("schema lock").clone()
    }
    pub(crate) fn set_schema(&self, s: Schema) {
        *self.schema.write().expect("schema lock") = Arc::new(s);
    }

    /// Records a denial and returns the error for it.
    pub(crate) async fn deny<T>(&self, p: &Principal, action: &str, object: Option<&str>, what: &str) -> Result<T> {
        let mut ev = Event::new(&p.actor, action, Outcome::Denied)
            .request(p.request_id.as_deref())
            .purpose(p.purpose.as_deref())
            .detail(what.to_string());
        if let Some(o) = object {
            ev = ev.object(o);
        }
        self.audit.record(vec![ev]).await?;
        Err(AccessError::Denied(what.to_string()))
    }
}
