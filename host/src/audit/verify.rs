//! Offline verification of the audit chain.

use super::{COLUMNS, Entry, GENESIS};
use crate::crypto::SecretKey;
use crate::store::Db;
use serde::Serialize;
use sqlx::Row;

/// The outcome of a verification: how many entries were checked and the first broken one, if any.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub entries: u64,
    pub intact: bool,
    /// The sequence number of the first entry that does not verify.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

impl VerifyReport {
    fn bad(entries: u64, seq: i64, problem: String) -> Self {
        VerifyReport { entries, intact: false, first_bad_seq: Some(seq), problem: Some(problem) }
    }
}

/// Walks the whole chain in sequence order, in pages, and checks every link and MAC and the head.
pub async fn verify_chain(db: &Db, key: &SecretKey) -> Result<VerifyReport, sqlx::Error> {
    let mut expected: i64 = 1;
    let mut prev = GENESIS.to_string();
    let mut count = 0u64;
    loop {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 5000"))
            .bind(expected)
            .fetch_all(db.reader())
            .await?;
        if rows.is_empty() {
            break;
        }
        for r in &rows {
            let e = Entry::from_row(r)?;
            if e.seq != expected {
                return Ok(VerifyReport::bad(
                    count,
                    expected,
                    format!("entry {expected} is missing (the next entry present is {})", e.seq),
                ));
            }
            if e.prev_hash != prev {
                return Ok(VerifyReport::bad(
                    count,
                    e.seq,
                    format!("entry {} does not follow entry {} (deleted, inserted or reordered)", e.seq, e.seq - 1),
                ));
            }
            if e.compute_hash(key) != e.hash {
                return Ok(VerifyReport::bad(count, e.seq, format!("entry {} was altered", e.seq)));
            }
            prev = e.hash;
            expected += 1;
            count += 1;
        }
    }
    let last = expected - 1;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_optional(db.reader()).await?;
    let (head_seq, head_hash): (i64, String) = match head {
        Some(r) => (r.try_get(0)?, r.try_get(1)?),
        None => (0, GENESIS.to_string()),
    };
    if head_seq != last || head_hash != prev {
        let first_bad = (last + 1).min(head_seq.max(1));
        return Ok(VerifyReport::bad(
            count,
            first_bad,
            format!("the chain ends at entry {last} but its head records entry {head_seq}: entries after {last} were deleted or the head was altered"),
        ));
    }
    Ok(VerifyReport { entries: count, intact: true, first_bad_seq: None, problem: None })
}
