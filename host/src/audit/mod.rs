//! The audit trail: the only module that writes audit entries.
//!
//! Entries are appended to a chain: each entry's MAC (HMAC-SHA256 under the audit chain key, itself a
//! data key wrapped by the root key) covers its own content and the previous entry's MAC, and the head
//! of the chain lives in `audit_head`. Editing, deleting or reordering any entry breaks the chain at
//! that entry. Changes append their entries inside their own transaction ([`Audit::append`]); reads,
//! denials and logins go through a group-committing writer ([`Audit::record`]) that batches concurrent
//! entries into one transaction and answers only once they are durable. Values never enter an entry:
//! only field names. Subjects appear as pseudonyms (see [`crate::crypto::DataKey::pseudonym`]).

mod query;
mod verify;

pub use query::{AuditFilter, AuditPage, query};
pub use verify::{VerifyReport, verify_chain};

use crate::crypto::SecretKey;
use crate::store::{Db, StoreError, Tx, now_micros};
use serde::Serialize;
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit writer has stopped")]
    WriterGone,
}
impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        AuditError::Store(StoreError::Sqlx(e))
    }
}
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// user, plugin, system or anonymous
    pub kind: String,
    /// The user name, plugin name@version, or system component.
    pub name: String,
}

impl Actor {
    pub fn user(name: &str) -> Self {
        Actor { kind: "user".into(), name: name.into() }
    }
    pub fn system(component: &str) -> Self {
        Actor { kind: "system".into(), name: component.into() }
    }
    pub fn anonymous() -> Self {
        Actor { kind: "anonymous".into(), name: "-".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied,
    Failed,
}
impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// An entry before it is chained. Never put a field value in here.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor: Actor,
    pub action: String,
    pub object: Option<String>,
    pub record_id: Option<String>,
    pub fields: Vec<String>,
    pub purpose: Option<String>,
    pub outcome: Outcome,
    pub request_id: Option<String>,
    /// The subject's pseudonym, never the subject id.
    pub subject: Option<String>,
    /// A short, value-free note (an error class, a count).
    pub detail: Option<String>,
}

impl Event {
    pub fn new(actor: &Actor, action: &str, outcome: Outcome) -> Self {
        Event {
            actor: actor.clone(),
            action: action.into(),
            object: None,
            record_id: None,
            fields: Vec::new(),
            purpose: None,
            outcome,
            request_id: None,
            subject: None,
            detail: None,
        }
    }
    pub fn object(mut self, object: &str) -> Self {
        self.object = Some(object.into());
        self
    }
    pub fn record(mut self, id: &str) -> Self {
        self.record_id = Some(id.into());
        self
    }
    pub fn fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }
    pub fn subject(mut self, pseudonym: Option<String>) -> Self {
        self.subject = pseudonym;
        self
    }
    pub fn request(mut self, request_id: Option<&str>) -> Self {
        self.request_id = request_id.map(str::to_string);
        self
    }
    pub fn purpose(mut self, purpose: Option<&str>) -> Self {
        self.purpose = purpose.map(str::to_string);
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A chained entry as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub seq: i64,
    /// Microseconds since the Unix epoch.
    pub at: i64,
    pub actor_kind: String,
    pub actor: String,
    pub action: String,
    pub object: Option<String>,
    pub record_id: Option<String>,
    pub fields: Vec<String>,
    pub purpose: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

pub const GENESIS: &str = "genesis";

impl Entry {
    /// The MAC over this entry's content and its predecessor's MAC.
    pub fn compute_hash(&self, key: &SecretKey) -> String {
        let fields = self.fields.join(",");
        let seq = self.seq.to_string();
        let at = self.at.to_string();
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "\u{0}".into());
        let parts: Vec<String> = vec![
            seq,
            at,
            self.actor_kind.clone(),
            self.actor.clone(),
            self.action.clone(),
            opt(&self.object),
            opt(&self.record_id),
            fields,
            opt(&self.purpose),
            self.outcome.clone(),
            opt(&self.request_id),
            opt(&self.subject),
            opt(&self.detail),
            self.prev_hash.clone(),
        ];
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
        hex::encode(key.mac(&refs))
    }

    pub(crate) fn from_row(r: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
        let fields: String = r.try_get("fields")?;
        Ok(Entry {
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            actor_kind: r.try_get("actor_kind")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            object: r.try_get("object")?,
            record_id: r.try_get("record_id")?,
            fields: if fields.is_empty() { Vec::new() } else { fields.split(',').map(str::to_string).collect() },
            purpose: r.try_get("purpose")?,
            outcome: r.try_get("outcome")?,
            request_id: r.try_get("request_id")?,
            subject: r.try_get("subject")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        })
    }
}

pub(crate) const COLUMNS: &str =
    "seq, at, actor_kind, actor, action, object, record_id, fields, purpose, outcome, request_id, subject, detail, prev_hash, hash";

type Pending = (Vec<Event>, oneshot::Sender<Result<()>>);

/// The audit writer.
#[derive(Clone, Debug)]
pub struct Audit {
    db: Db,
    key: SecretKey,
    batcher: mpsc::Sender<Pending>,
}

impl Audit {
    /// Starts the group-commit writer task (needs a tokio runtime).
    pub fn start(db: Db, key: SecretKey) -> Audit {
        let (batcher, rx) = mpsc::channel::<Pending>(4096);
        let writer = Audit { db: db.clone(), key: key.clone(), batcher: batcher.clone() };
        tokio::spawn(group_commit(writer.clone(), rx));
        writer
    }

    pub fn chain_key(&self) -> &SecretKey {
        &self.key
    }

    /// Appends entries inside the caller's transaction: they commit or roll back with the change.
    pub async fn append(&self, tx: &mut Tx, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // The head, and when its entry was stamped (read in the same statement).
        let head = sqlx::query(&format!(
            "SELECT seq, hash, (SELECT at FROM audit_log WHERE audit_log.seq = audit_head.seq) FROM audit_head WHERE id = 1{}",
            self.db.for_update()
        ))
        .fetch_optional(&mut **tx)
        .await?;
        let (mut seq, mut prev, last_at): (i64, String, Option<i64>) = match head {
            Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
            None => {
                sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)")
                    .bind(GENESIS)
                    .execute(&mut **tx)
                    .await?;
                (0, GENESIS.to_string(), None)
            }
        };
        // Time never goes backwards along the chain (a clock stepped back, a node whose clock is
        // behind another's): an entry is stamped no earlier than the one before it. A time
        // window is then one range of sequence numbers, which is how the explorer reads it.
        let at = now_micros().max(last_at.unwrap_or(i64::MIN));
        let mut entries = Vec::with_capacity(events.len());
        for ev in events {
            seq += 1;
            let mut e = Entry {
                seq,
                at,
                actor_kind: ev.actor.kind,
                actor: ev.actor.name,
                action: ev.action,
                object: ev.object,
                record_id: ev.record_id,
                fields: ev.fields,
                purpose: ev.purpose,
                outcome: ev.outcome.as_str().to_string(),
                request_id: ev.request_id,
                subject: ev.subject,
                detail: ev.detail,
                prev_hash: prev,
                hash: String::new(),
            };
            e.hash = e.compute_hash(&self.key);
            prev = e.hash.clone();
            entries.push(e);
        }
        // One multi-row INSERT per chunk: the database round trip is the cost to save.
        for chunk in entries.chunks(64) {
            let mut sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ");
            for i in 0..chunk.len() {
                let b = i * 15;
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                sql.push_str(&(1..=15).map(|j| format!("${}", b + j)).collect::<Vec<_>>().join(","));
                sql.push(')');
            }
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.seq)
                    .bind(e.at)
                    .bind(e.actor_kind.clone())
                    .bind(e.actor.clone())
                    .bind(e.action.clone())
                    .bind(e.object.clone())
                    .bind(e.record_id.clone())
                    .bind(e.fields.join(","))
                    .bind(e.purpose.clone())
                    .bind(e.outcome.clone())
                    .bind(e.request_id.clone())
                    .bind(e.subject.clone())
                    .bind(e.detail.clone())
                    .bind(e.prev_hash.clone())
                    .bind(e.hash.clone());
            }
            q.execute(&mut **tx).await?;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(prev)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records entries that accompany no change (reads, denials, logins). Returns once they are
    /// durable, so data never leaves before its read is on record.
    pub async fn record(&self, events: Vec<Event>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        self.batcher.send((events, tx)).await.map_err(|_| AuditError::WriterGone)?;
        rx.await.map_err(|_| AuditError::WriterGone)?
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

async fn group_commit(audit: Audit, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let events: Vec<Event> = batch.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
        let result = async {
            let mut tx = audit.db.begin_write().await?;
            audit.append(&mut tx, events).await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok::<(), AuditError>(())
        }
        .await;
        let failure = result.as_ref().err().map(|e| e.to_string());
        if let Some(msg) = &failure {
            tracing::error!(error = %msg, "audit batch failed");
        }
        for (_, reply) in batch {
            let r = match &failure {
                None => Ok(()),
                Some(msg) => Err(AuditError::Store(StoreError::Setup(format!("audit write failed: {msg}")))),
            };
            let _ = reply.send(r);
        }
    }
}
