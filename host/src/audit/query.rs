//! The questions a privacy officer asks of the audit trail.

use super::{COLUMNS, Entry};
use crate::store::{Arg, Conditions, Db};
use serde::Serialize;

/// A filter over audit entries; every part is optional and they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The pseudonym of a subject (the caller derives it from the subject's key).
    pub subject: Option<String>,
    pub actor: Option<String>,
    /// user, plugin, system or anonymous.
    pub actor_kind: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub object: Option<String>,
    pub record_id: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub from: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub to: Option<i64>,
    /// Newest first: only entries with a smaller sequence number.
    pub before_seq: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<Entry>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

pub async fn query(db: &Db, f: &AuditFilter) -> Result<AuditPage, sqlx::Error> {
    let mut c = Conditions::default();
    let text = |c: &mut Conditions, col: &str, v: &Option<String>| {
        if let Some(v) = v {
            c.push(col, "=", Arg::Text(v.clone()));
        }
    };
    text(&mut c, "subject", &f.subject);
    text(&mut c, "actor", &f.actor);
    text(&mut c, "actor_kind", &f.actor_kind);
    text(&mut c, "action", &f.action);
    text(&mut c, "outcome", &f.outcome);
    text(&mut c, "object", &f.object);
    text(&mut c, "record_id", &f.record_id);
    if let Some(v) = f.from {
        c.push("at", ">=", Arg::Int(v));
    }
    if let Some(v) = f.to {
        c.push("at", "<", Arg::Int(v));
    }
    if let Some(v) = f.before_seq {
        c.push("seq", "<", Arg::Int(v));
    }
    let limit = f.limit.clamp(1, 1000);
    let sql = format!("SELECT {COLUMNS} FROM audit_log{} ORDER BY seq DESC LIMIT {}", c.where_sql(), limit + 1);
    let rows = c.bind(sqlx::query(&sql)).fetch_all(db.reader()).await?;
    let mut entries = rows.iter().map(Entry::from_row).collect::<Result<Vec<_>, _>>()?;
    let next_before = if entries.len() as i64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(AuditPage { entries, next_before })
}

