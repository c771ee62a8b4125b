//! Carrying erasures into backups taken before them.
//!
//! A backup holds every data key wrapped by the root key, so a backup taken before an erasure
//! could still open the erased person's fields with the key file. Scrubbing rewrites such a file
//! the way the live erasure changed the database ([`crate::access`]'s `erase_subject`): the
//! subject's data key is destroyed (its wrapped copy removed), the sealed values of its records
//! are dropped, and so are its blind-index entries, its present consents, the verification codes
//! sent to its addresses, the values plugins kept about it and the messages queued to it; the erasure receipt is added. What is left of the subject in the file is
//! what is left in the live database.
//!
//! The rewrite is sealed under a fresh stream salt, synced, and renamed over the old file, so a
//! crash leaves either the old file or the new one, never half of each. Backups in the catalogue
//! directory ([`crate::app::Settings::backup_dir`]) are scrubbed by the server after every erasure;
//! others by `capcrm scrub-backups FILE`.
//!
//! Which erasures a file has seen is in its public context (`erasures_through`, the time of the
//! newest one), so deciding that a file needs no work reads 60-odd bytes, not the file.

use super::stream::{BackupWriter, SealedBackup};
use super::{
    BackupError, Context, EndOut, FORMAT, Header, KEY_INFO, Line, Lines, Result, RowOut, TABLES, Trailer, file_err,
    open_partial,
};
use crate::crypto::RootKeyring;
use crate::crypto::root::RootKeySource;
use crate::store::{Db, micros_to_rfc3339, now_micros};
use serde_json::Value;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file name ending of a backup in the catalogue.
pub const EXTENSION: &str = "backup";

/// A `.scrub` file older than this is left over from a crash, not another node at work.
const STALE_PARTIAL: Duration = Duration::from_secs(600);

/// One erasure of the live database: its receipt row (in `subject_erasures` column order) and
/// the key it destroyed.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub receipt: Vec<Value>,
    pub subject_id: String,
    pub key_id: String,
    pub erased_at: i64,
}

/// Every erasure of the database, oldest first.
pub async fn ledger(db: &Db) -> Result<Vec<Erasure>> {
    let rows = sqlx::query(
        "SELECT e.id, e.subject_id, e.erased_by, e.reason, e.erased_at, e.records, e.stored_values, e.index_entries, s.key_id \
         FROM subject_erasures e JOIN subjects s ON s.id = e.subject_id ORDER BY e.erased_at, e.id",
    )
    .fetch_all(db.reader())
    .await
    .map_err(super::db_err("reading the erasure ledger"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let get_s = |i: usize| r.try_get::<String, _>(i).map_err(super::db_err("reading the erasure ledger"));
        let get_i = |i: usize| r.try_get::<i64, _>(i).map_err(super::db_err("reading the erasure ledger"));
        let erased_at = get_i(4)?;
        out.push(Erasure {
            receipt: vec![
                Value::String(get_s(0)?),
                Value::String(get_s(1)?),
                Value::String(get_s(2)?),
                Value::String(get_s(3)?),
                Value::from(erased_at),
                Value::from(get_i(5)?),
                Value::from(get_i(6)?),
                Value::from(get_i(7)?),
            ],
            subject_id: get_s(1)?,
            key_id: get_s(8)?,
            erased_at,
        });
    }
    Ok(out)
}

/// What a scrub did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubSummary {
    pub file: PathBuf,
    /// Erasures newly carried into the file (subjects the backup holds and had not seen erased).
    pub erasures: u64,
    /// Rows dropped, per table.
    pub dropped: BTreeMap<String, u64>,
    /// False when the file had already seen every erasure and was left alone.
    pub rewritten: bool,
}

impl std::fmt::Display for ScrubSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.rewritten {
            return write!(f, "{}: already holds every erasure", self.file.display());
        }
        let dropped: Vec<String> = self.dropped.iter().filter(|(_, n)| **n > 0).map(|(t, n)| format!("{n} {t}")).collect();
        write!(
            f,
            "{}: carried {} erasure(s) into the backup (their keys destroyed){}",
            self.file.display(),
            self.erasures,
            if dropped.is_empty() { String::new() } else { format!("; dropped {}", dropped.join(", ")) }
        )
    }
}

/// The newest erasure a backup file has seen, from its public context (no key needed).
pub fn erasures_through(file: &Path) -> Result<i64> {
    let f = std::fs::File::open(file).map_err(file_err("open", file))?;
    let sealed = SealedBackup::parse(BufReader::with_capacity(4096, f))?;
    Ok(parse_context(sealed.unverified_context())?.erasures_through)
}

fn parse_context(bytes: &[u8]) -> Result<Context> {
    let c: Context = serde_json::from_slice(bytes)
        .map_err(|_| BackupError::Malformed("the public header is not a capcrm backup context".into()))?;
    if c.format != FORMAT {
        return Err(BackupError::Malformed("the public header names another format".into()));
    }
    Ok(c)
}

/// What the first pass learns: which erasures apply, and which rows they touch.
#[derive(Default)]
struct Plan {
    /// Subject id → the erasure that applies to it.
    subjects: HashMap<String, usize>,
    keys: HashSet<String>,
    /// Record id → its subject, for the subjects above.
    records: HashMap<String, String>,
    /// Blind-index digests of those records, which also name the person's verification challenges.
    digests: HashSet<String>,
    /// Rows the rewrite drops, per table; receipts it adds.
    dropped: BTreeMap<String, u64>,
    added_receipts: Vec<usize>,
}

/// One decision per row, shared by both passes so they cannot disagree.
enum RowFate {
    Keep,
    Drop,
    /// Keep with these changes.
    Change,
}

impl Plan {
    fn fate(&self, table: &str, r: &mut [Value], ledger: &[Erasure], apply: bool) -> RowFate {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match table {
            "data_keys" => match text(&r[0]).filter(|id| self.keys.contains(id)) {
                Some(id) => {
                    if apply {
                        let at = ledger.iter().find(|e| e.key_id == id).map_or_else(now_micros, |e| e.erased_at);
                        r[5] = Value::Null;
                        r[6] = Value::String("destroyed".into());
                        r[8] = Value::from(at);
                    }
                    RowFate::Change
                }
                None => RowFate::Keep,
            },
            "records" => match text(&r[2]).and_then(|s| self.subjects.get(&s).copied()) {
                Some(e) => {
                    if apply {
                        r[5] = Value::from(r[5].as_i64().unwrap_or(0) + 1);
                        r[7] = Value::from(ledger[e].erased_at);
                        r[9] = Value::String("{}".into());
                    }
                    RowFate::Change
                }
                None => RowFate::Keep,
            },
            "blind_index" if text(&r[3]).is_some_and(|id| self.records.contains_key(&id)) => RowFate::Drop,
            "plugin_storage" if text(&r[4]).is_some_and(|s| self.subjects.contains_key(&s)) => RowFate::Drop,
            "subject_consents" if text(&r[0]).is_some_and(|s| self.subjects.contains_key(&s)) => RowFate::Drop,
            "verification_challenges" if text(&r[3]).is_some_and(|d| self.digests.contains(&d)) => RowFate::Drop,
            "notification_outbox"
                if r[8].as_str() == Some("queued") && text(&r[4]).is_some_and(|id| self.records.contains_key(&id)) =>
            {
                RowFate::Drop
            }
            _ => RowFate::Keep,
        }
    }
}

fn open_lines(file: &Path, ring: &RootKeyring) -> Result<(Lines, Header, Context)> {
    super::open_backup(file, ring)
}

/// Reads every row line, calling `each(table, values)`; returns the trailer.
fn for_each_row(lines: &mut Lines, mut each: impl FnMut(&str, Vec<Value>) -> Result<()>) -> Result<Trailer> {
    loop {
        match lines.next_line()? {
            Line::Row { table, values, line, .. } => {
                let t = &TABLES[table];
                if values.len() != t.cols.len() {
                    return Err(BackupError::Malformed(format!("line {line}: a {} row has {} values", t.name, values.len())));
                }
                each(t.name, values)?;
            }
            Line::End(trailer) => {
                lines.expect_end()?;
                return Ok(trailer);
            }
        }
    }
}

/// Carries every erasure of `ledger` that `file` has not seen into it, in place. Blocking: run it
/// off the async runtime.
pub fn scrub_file(file: &Path, ring: &RootKeyring, ledger: &[Erasure]) -> Result<ScrubSummary> {
    let newest = ledger.iter().map(|e| e.erased_at).max().unwrap_or(0);
    let unchanged = || ScrubSummary { file: file.to_path_buf(), erasures: 0, dropped: BTreeMap::new(), rewritten: false };

    // Pass 1: which of the ledger's subjects the backup holds and has not seen erased, and their rows.
    let (mut lines, header, context) = open_lines(file, ring)?;
    if context.erasures_through >= newest {
        return Ok(unchanged());
    }
    let by_subject: HashMap<&str, usize> = ledger.iter().enumerate().map(|(i, e)| (e.subject_id.as_str(), i)).collect();
    let mut plan = Plan::default();
    let mut seen_receipts = HashSet::new();
    let mut index_of: Vec<(String, String)> = Vec::new();
    for_each_row(&mut lines, |table, values| {
        let text = |i: usize| values[i].as_str().unwrap_or_default().to_string();
        match table {
            "subjects" => {
                if let Some(&i) = by_subject.get(text(0).as_str()) {
                    plan.subjects.insert(text(0), i);
                    plan.keys.insert(ledger[i].key_id.clone());
                }
            }
            "records" if plan.subjects.contains_key(&text(2)) => {
                plan.records.insert(text(0), text(2));
            }
            "blind_index" if plan.records.contains_key(&text(3)) => {
                index_of.push((text(2), text(3)));
            }
            "subject_erasures" => {
                seen_receipts.insert(text(1));
            }
            _ => {}
        }
        Ok(())
    })?;
    // Subjects the backup had already seen erased need nothing; the rest get their receipt.
    plan.subjects.retain(|s, _| !seen_receipts.contains(s));
    let subjects = &plan.subjects;
    plan.records.retain(|_, s| subjects.contains_key(s));
    plan.digests = index_of.into_iter().filter(|(_, rec)| plan.records.contains_key(rec)).map(|(d, _)| d).collect();
    plan.keys = plan.subjects.values().map(|&i| ledger[i].key_id.clone()).collect();
    let mut added: Vec<usize> = plan.subjects.values().copied().collect();
    added.sort_unstable();
    plan.added_receipts = added;

    // Count what pass 2 will drop, with the same decisions it will take.
    let (mut lines, _, _) = open_lines(file, ring)?;
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    for_each_row(&mut lines, |table, mut values| {
        if let RowFate::Drop = plan.fate(table, &mut values, ledger, false) {
            *dropped.entry(table.to_string()).or_default() += 1;
        }
        Ok(())
    })?;
    plan.dropped = dropped;

    let mut counts = header.counts.clone();
    for (t, n) in &plan.dropped {
        if let Some(c) = counts.get_mut(t) {
            *c = c.saturating_sub(*n);
        }
    }
    *counts.entry("subject_erasures".into()).or_default() += plan.added_receipts.len() as u64;
    let new_header = Header { counts: counts.clone(), scrubbed_at: Some(micros_to_rfc3339(now_micros())), ..header };
    let new_context = Context { erasures_through: newest, ..context };

    // Pass 2: write the scrubbed copy beside the file, then move it over the file.
    let partial = scrub_partial(file);
    let out = claim_partial(&partial)?;
    let written = (|| {
        let root = ring.get(new_context.root_key_version).expect("checked when the file was opened");
        let key = root.key.derive(KEY_INFO);
        let context_bytes = serde_json::to_vec(&new_context).expect("context serialises");
        let mut w = BackupWriter::new(BufWriter::with_capacity(1 << 20, out), key.expose(), &context_bytes)?;
        drop(key);
        emit(&mut w, &new_header)?;
        let erasures_idx = TABLES.iter().position(|t| t.name == "subject_erasures").expect("a backed-up table");
        let mut receipts_out = false;
        let mut out_counts: BTreeMap<String, u64> = BTreeMap::new();
        let (mut lines, _, _) = open_lines(file, ring)?;
        let trailer = for_each_row(&mut lines, |table, mut values| {
            let idx = TABLES.iter().position(|t| t.name == table).expect("known table");
            if !receipts_out && idx > erasures_idx {
                for &i in &plan.added_receipts {
                    emit(&mut w, &RowOut { t: "subject_erasures", r: &ledger[i].receipt })?;
                }
                receipts_out = true;
            }
            if let RowFate::Drop = plan.fate(table, &mut values, ledger, true) {
                return Ok(());
            }
            *out_counts.entry(table.to_string()).or_default() += 1;
            emit(&mut w, &RowOut { t: table, r: &values })
        })?;
        if !receipts_out {
            for &i in &plan.added_receipts {
                emit(&mut w, &RowOut { t: "subject_erasures", r: &ledger[i].receipt })?;
            }
        }
        let mut end_counts = trailer.counts.clone();
        for (t, n) in &plan.dropped {
            if let Some(c) = end_counts.get_mut(t) {
                *c = c.saturating_sub(*n);
            }
        }
        *end_counts.entry("subject_erasures".into()).or_default() += plan.added_receipts.len() as u64;
        if end_counts != counts {
            return Err(BackupError::Internal("the scrubbed counts disagree between header and trailer".into()));
        }
        emit(&mut w, &EndOut { end: &Trailer { counts: end_counts } })?;
        let f = w.finish()?.into_inner().map_err(|e| super::StreamError::Io(e.into_error()))?;
        f.sync_all().map_err(super::StreamError::Io)?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, file).map_err(file_err("move the scrubbed backup over", file))?;
    if let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(ScrubSummary { file: file.to_path_buf(), erasures: plan.added_receipts.len() as u64, dropped: plan.dropped, rewritten: true })
}

/// Writes one line of the format.
fn emit<W: Write>(w: &mut W, v: &impl serde::Serialize) -> Result<()> {
    let mut line = serde_json::to_vec(v).expect("backup lines serialise");
    line.push(b'\n');
    w.write_all(&line).map_err(super::StreamError::from)?;
    Ok(())
}

fn scrub_partial(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(".scrub");
    PathBuf::from(s)
}

/// Creates the scrub's working file; one left by a crash long ago is removed first, one that is
/// fresh means another scrub of the same file is running.
fn claim_partial(partial: &Path) -> Result<std::fs::File> {
    if let Ok(meta) = std::fs::metadata(partial)
        && meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > STALE_PARTIAL)
    {
        let _ = std::fs::remove_file(partial);
    }
    open_partial(partial)
}

/// The backups of a catalogue directory, oldest name first.
pub fn catalogue(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::File { action: "list", path: dir.to_path_buf(), error: e }),
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == EXTENSION) && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Scrubs every backup of the catalogue that has not seen the newest erasure.
pub async fn scrub_catalogue(db: &Db, ring: &RootKeyring, dir: &Path) -> Result<Vec<ScrubSummary>> {
    let ledger = ledger(db).await?;
    let newest = ledger.iter().map(|e| e.erased_at).max().unwrap_or(0);
    let mut out = Vec::new();
    for file in catalogue(dir)? {
        if erasures_through(&file)? >= newest {
            continue;
        }
        out.push(scrub_blocking(file, ring.clone(), ledger.clone()).await?);
    }
    Ok(out)
}

/// [`scrub_file`] on a blocking thread.
pub async fn scrub_blocking(file: PathBuf, ring: RootKeyring, ledger: Vec<Erasure>) -> Result<ScrubSummary> {
    tokio::task::spawn_blocking(move || scrub_file(&file, &ring, &ledger)).await.map_err(super::join_err)?
}

/// The server's loop: after each erasure, carries it into the catalogue's backups. A failure is
/// logged (naming the file, never a value) and retried on the next tick.
/// The key source is read on every tick, so a root key rotated by another node is picked up.
pub async fn run(db: Db, source: RootKeySource, dir: PathBuf, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let pass = async {
            let ring = RootKeyring::load(source.clone()).map_err(|e| BackupError::RootKey(e.to_string()))?;
            scrub_catalogue(&db, &ring, &dir).await
        };
        match pass.await {
            Ok(done) => {
                for s in done {
                    tracing::info!(file = %s.file.display(), erasures = s.erasures, "erasures carried into a backup");
                }
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "scrubbing the backup catalogue failed"),
        }
    }
}
