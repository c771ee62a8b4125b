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
    // A time window becomes the range of sequence numbers it covers, found at its two ends
    // through `audit_at` (entries are stamped in chain order, see `Audit::append`), so a page of a
    // window reads the first entries of one range rather than every entry of the window.
    let ends = [
        (f.from, ">=", "SELECT seq FROM audit_log WHERE at >= $1 ORDER BY at, seq LIMIT 1", ">="),
        (f.to, "<", "SELECT seq FROM audit_log WHERE at < $1 ORDER BY at DESC, seq DESC LIMIT 1", "<="),
    ];
    for (at, at_op, end_sql, seq_op) in ends {
        let Some(at) = at else { continue };
        c.push("at", at_op, Arg::Int(at));
        match sqlx::query_scalar::<_, i64>(end_sql).bind(at).fetch_optional(db.reader()).await? {
            Some(seq) => c.push("seq", seq_op, Arg::Int(seq)),
            // No entry on this side of the end: the window is empty.
            None => return Ok(AuditPage { entries: Vec::new(), next_before: None }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, Event, Outcome};

    /// An entry written after one stamped later than the clock (a node whose clock was ahead) is
    /// stamped no earlier than it, and a time window still finds exactly its entries.
    #[tokio::test]
    async fn time_never_goes_backwards_along_the_chain_and_a_window_is_a_range() {
        let (_tmp, app) = crate::app::test_app().await;
        let (db, audit) = (&app.db, app.gate.audit());
        let who = &Actor::system("clock-test");
        let append = |action: &'static str| async move {
            let mut tx = db.begin_write().await.unwrap();
            audit.append(&mut tx, vec![Event::new(who, action, Outcome::Allowed)]).await.unwrap();
            tx.commit().await.unwrap();
            sqlx::query_as::<_, (i64, i64)>("SELECT seq, at FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_one(db.reader()).await.unwrap()
        };
        let (early_seq, early_at) = append("test.early").await;
        let ahead = early_at + 3_600_000_000;
        let (ahead_seq, _) = append("test.ahead").await;
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query("UPDATE audit_log SET at = $1 WHERE seq = $2").bind(ahead).bind(ahead_seq).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let (after_seq, after_at) = append("test.after").await;
        assert!(after_at >= ahead, "stamped no earlier than the entry before it");

        let window = |from: Option<i64>, to: Option<i64>| async move {
            let f = AuditFilter { actor: Some("clock-test".into()), from, to, limit: 10, ..Default::default() };
            query(db, &f).await.unwrap().entries.iter().map(|e| e.seq).collect::<Vec<_>>()
        };
        assert_eq!(window(Some(ahead), None).await, [after_seq, ahead_seq]);
        assert_eq!(window(None, Some(ahead)).await, [early_seq]);
        assert_eq!(window(Some(early_at), Some(early_at + 1)).await, [early_seq]);
        assert_eq!(window(Some(after_at + 1), None).await, Vec::<i64>::new(), "nothing after the last entry");
        assert_eq!(window(None, Some(early_at)).await, Vec::<i64>::new(), "nothing of this actor before the first");
        app.db.close().await;
    }
}
