//! `capcrm backup` and `capcrm restore`: a consistent, encrypted copy of the whole database.
//!
//! A backup reads every table inside one snapshot transaction ([`Db::begin_snapshot`]), so it is
//! consistent while the server keeps writing, and streams the rows as JSON lines through the
//! encrypted envelope of [`stream`]:
//!
//! ```text
//! {"format":"capcrm-backup","version":1,"created_at":..,"backend":..,"migration":..,
//!  "root_key_version":..,"root_keys":[..],"counts":{..}}       header
//! {"t":"meta","r":["initialised_at","1700000000000000"]}       one line per row, tables in
//! ...                                                           foreign-key order
//! {"end":{"counts":{"meta":1,..}}}                              trailer
//! ```
//!
//! The stream key is `root_key.derive("backup-v1")` of the active root key version; that version
//! is in the public context of the envelope so a restore picks the right key from the key file.
//! Data keys stay wrapped by the root key and personal fields stay sealed by the data keys, so the
//! file holds no plaintext of personal fields and is useless without the key file.
//!
//! Sessions (`api_tokens`) are left out on purpose: a restored database makes everyone sign in.
//!
//! A restore checks the key before it creates anything, fills a new target, and then verifies what
//! arrived (root key check values, every active data key, the audit chain). `meta`, which marks a
//! database as initialised, is written last, so a restore killed half-way never leaves something
//! that passes for a working database. On any failure it removes what it created. Messages name
//! tables, columns and line numbers, never values.

pub mod scrub;
pub mod stream;

use crate::app::Settings;
use crate::audit::{Actor, Audit, Event, Outcome, verify_chain};
use crate::crypto::keystore::{AUDIT_CHAIN_KEY, KeyError, Keystore, WrappedKey};
use crate::crypto::{RootKeyring, SecretKey};
use crate::store::{Backend, Db, Location, SQLITE_FILE, StoreError, Tx, micros_to_rfc3339, now_micros};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use stream::{BackupReader, BackupWriter, SealedBackup};

pub use stream::BackupError as StreamError;

/// Name of the format inside the envelope.
pub const FORMAT: &str = "capcrm-backup";
/// Version of the line format inside the envelope.
pub const VERSION: u32 = 1;
/// HKDF info of the stream key, derived from a root key version.
const KEY_INFO: &str = "backup-v1";

/// Rows per multi-row INSERT at most; SQLite also caps the bound variables per statement.
const MAX_ROWS_PER_INSERT: usize = 500;
const SQLITE_MAX_VARIABLES: usize = 32766;
/// A batch is sent to the database once its encoded rows reach this size.
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Rows per restore transaction.
const ROWS_PER_COMMIT: u64 = 10_000;
/// Plaintext bytes handed to the encrypting writer at a time.
const WRITE_BUFFER: usize = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The encrypted envelope failed: wrong key, truncated, altered, or an I/O error on the file.
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("cannot open the backup with root key version {version} from the configured key source: {error}")]
    CannotOpen { version: i64, error: StreamError },
    #[error("{0} already exists; refusing to overwrite it")]
    OutputExists(PathBuf),
    #[error(
        "{0} exists: another backup to the same file is running, or an earlier one was interrupted; remove it and try again"
    )]
    PartialExists(PathBuf),
    #[error("cannot {action} {path}: {error}")]
    File { action: &'static str, path: PathBuf, error: io::Error },
    #[error("database error while {during}: {error}")]
    Database { during: String, error: sqlx::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    RootKey(String),
    #[error(
        "the database schema is at migration {found} but this capcrm build knows migration {expected}; back up with the capcrm build that runs this database"
    )]
    SourceSchema { found: i64, expected: i64 },
    #[error("the backup holds schema migration {found}; this capcrm build restores migration {expected} only")]
    BackupSchema { found: i64, expected: i64 },
    #[error("the backup file is malformed: {0}")]
    Malformed(String),
    #[error("the backup is incomplete: {0}")]
    Incomplete(String),
    #[error("refusing to restore into {target}: {reason}")]
    TargetInUse { target: String, reason: String },
    #[error("the restored data failed verification: {0}")]
    Verify(String),
    /// A restore failed after it had created its target; `cleanup` says what became of it.
    #[error("{cause}; {cleanup}")]
    Aborted { cause: Box<BackupError>, cleanup: String },
    #[error("internal error: {0}")]
    Internal(String),
}

type Result<T, E = BackupError> = std::result::Result<T, E>;

fn db_err(during: impl Into<String>) -> impl FnOnce(sqlx::Error) -> BackupError {
    let during = during.into();
    move |error| BackupError::Database { during, error }
}

/// Like [`db_err`] for the per-row path: nothing is allocated unless it fails.
fn reading(table: &'static str) -> impl FnOnce(sqlx::Error) -> BackupError {
    move |error| BackupError::Database { during: format!("reading table {table}"), error }
}

fn file_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |error| BackupError::File { action, path, error }
}

fn join_err(e: tokio::task::JoinError) -> BackupError {
    BackupError::Internal(format!("a backup worker thread failed: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// How a column is stored, from the migrations (INTEGER/BIGINT, TEXT or BLOB/BYTEA; NULL or NOT
/// NULL). Bytes travel as base64 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    NullText,
    Int,
    NullInt,
    Bytes,
}

struct Table {
    name: &'static str,
    order_by: &'static str,
    cols: &'static [(&'static str, Ty)],
}

impl Table {
    fn column_list(&self) -> String {
        self.cols.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }
    fn rows_per_insert(&self) -> usize {
        MAX_ROWS_PER_INSERT.min(SQLITE_MAX_VARIABLES / self.cols.len())
    }
}

use Ty::{Bytes, Int, NullInt, NullText, Text};

/// Every backed-up table, in foreign-key order (a restore inserts them in this order).
///
/// `api_tokens` is deliberately not here: a restored database must make every user sign in again,
/// and a copy of live session tokens in a backup file would be one more thing to steal.
const TABLES: &[Table] = &[
    Table { name: "meta", order_by: "key", cols: &[("key", Text), ("value", Text)] },
    Table {
        name: "root_keys",
        order_by: "version",
        cols: &[("version", Int), ("check_value", Text), ("state", Text), ("created_at", Int), ("retired_at", NullInt)],
    },
    Table {
        name: "data_keys",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("scope", Text),
            ("owner", Text),
            ("version", Int),
            ("root_version", Int),
            ("wrapped", NullText),
            ("state", Text),
            ("created_at", Int),
            ("destroyed_at", NullInt),
        ],
    },
    Table { name: "subjects", order_by: "id", cols: &[("id", Text), ("key_id", Text), ("created_at", Int)] },
    Table {
        name: "custom_objects",
        order_by: "name",
        cols: &[("name", Text), ("definition", Text), ("created_at", Int)],
    },
    Table {
        name: "custom_fields",
        order_by: "object, name",
        cols: &[("object", Text), ("name", Text), ("definition", Text), ("created_at", Int)],
    },
    Table {
        name: "users",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("username", Text),
            ("password_hash", Text),
            ("is_admin", Int),
            ("disabled", Int),
            ("created_at", Int),
            ("last_login_at", NullInt),
            ("totp_sealed", NullText),
            ("totp_enabled", Int),
            ("ip_allow", NullText),
            ("totp_last_step", Int),
        ],
    },
    Table { name: "mfa_recovery_codes", order_by: "user_id, code_hash", cols: &[("user_id", Text), ("code_hash", Text), ("used_at", NullInt)] },
    // Roles and teams (migration 0006).
    Table { name: "roles", order_by: "name", cols: &[("name", Text), ("definition", Text), ("created_at", Int), ("updated_at", Int)] },
    Table { name: "user_roles", order_by: "user_id, role", cols: &[("user_id", Text), ("role", Text)] },
    Table { name: "teams", order_by: "id", cols: &[("id", Text), ("name", Text), ("created_at", Int)] },
    Table { name: "team_members", order_by: "team_id, user_id", cols: &[("team_id", Text), ("user_id", Text)] },
    Table {
        name: "records",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("object", Text),
            ("subject_id", NullText),
            ("key_id", Text),
            ("owner_id", NullText),
            ("version", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("plain", Text),
            ("sealed", Text),
        ],
    },
    Table {
        name: "blind_index",
        order_by: "object, field, digest, record_id",
        cols: &[("object", Text), ("field", Text), ("digest", Text), ("record_id", Text)],
    },
    Table {
        name: "audit_log",
        order_by: "seq",
        cols: &[
            ("seq", Int),
            ("at", Int),
            ("actor_kind", Text),
            ("actor", Text),
            ("action", Text),
            ("object", NullText),
            ("record_id", NullText),
            ("fields", Text),
            ("purpose", NullText),
            ("outcome", Text),
            ("request_id", NullText),
            ("subject", NullText),
            ("detail", NullText),
            ("prev_hash", Text),
            ("hash", Text),
        ],
    },
    Table { name: "audit_head", order_by: "id", cols: &[("id", Int), ("seq", Int), ("hash", Text)] },
    // Exports and alerts (migration 0008).
    Table {
        name: "export_requests",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("requested_by", Text),
            ("object", Text),
            ("format", Text),
            ("query_sealed", Text),
            ("key_id", Text),
            ("record_count", Int),
            ("limit_at_request", Int),
            ("status", Text),
            ("decided_by", NullText),
            ("decided_at", NullInt),
            ("created_at", Int),
            ("expires_at", Int),
            ("downloaded_at", NullInt),
        ],
    },
    Table {
        name: "alerts",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("rule", Text),
            ("actor", Text),
            ("summary", Text),
            ("audit_seqs", Text),
            ("status", Text),
            ("created_at", Int),
            ("acknowledged_by", NullText),
            ("acknowledged_at", NullInt),
            ("delivery_state", Text),
            ("delivery_attempts", Int),
            ("next_delivery_at", Int),
            ("dedupe_key", Text),
        ],
    },
    Table { name: "alert_cursor", order_by: "id", cols: &[("id", Int), ("last_seq", Int)] },
    Table { name: "known_addresses", order_by: "username, address", cols: &[("username", Text), ("address", Text), ("first_seen", Int)] },
    // Data-subject holds and erasure receipts (migration 0005).
    Table {
        name: "subject_holds",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("subject_id", Text),
            ("reason", Text),
            ("placed_by", Text),
            ("placed_at", Int),
            ("released_by", NullText),
            ("released_at", NullInt),
        ],
    },
    Table {
        name: "subject_erasures",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("subject_id", Text),
            ("erased_by", Text),
            ("reason", Text),
            ("erased_at", Int),
            ("records", Int),
            ("stored_values", Int),
            ("index_entries", Int),
        ],
    },
    // Consent now, per person and purpose (migration 0010), kept from the consent records.
    Table {
        name: "subject_consents",
        order_by: "subject_id, purpose",
        cols: &[
            ("subject_id", Text),
            ("purpose", Text),
            ("granted", Int),
            ("record_id", Text),
            ("decided_at", Int),
            ("updated_at", Int),
        ],
    },
    // Plugins (migration 0002): definitions, components, their sealed storage and outbox.
    Table {
        name: "plugins",
        order_by: "name",
        cols: &[("name", Text), ("state", Text), ("active_version", NullText), ("created_at", Int), ("limit_overrides", NullText)],
    },
    Table {
        name: "plugin_versions",
        order_by: "name, version",
        cols: &[
            ("name", Text),
            ("version", Text),
            ("code_hash", Text),
            ("component", Bytes),
            ("manifest", Text),
            ("status", Text),
            ("granted", NullText),
            ("approved_by", NullText),
            ("approved_at", NullInt),
            ("installed_at", Int),
        ],
    },
    Table {
        name: "plugin_storage",
        order_by: "plugin, key",
        cols: &[
            ("plugin", Text),
            ("key", Text),
            ("sealed", Text),
            ("key_id", Text),
            ("subject_id", NullText),
            ("size", Int),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "notification_outbox",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("plugin", Text),
            ("channel", Text),
            ("object", Text),
            ("record_id", Text),
            ("field", Text),
            ("sealed", Text),
            ("key_id", Text),
            ("state", Text),
            ("created_at", Int),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("sent_at", NullInt),
            ("last_error", NullText),
        ],
    },
    Table {
        name: "verification_challenges",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("plugin", Text),
            ("address_sealed", Text),
            ("address_index", Text),
            ("key_id", Text),
            ("code_sealed", Text),
            ("purpose", Text),
            ("attempts", Int),
            ("state", Text),
            ("created_at", Int),
            ("expires_at", Int),
        ],
    },
    Table {
        name: "plugin_schedules",
        order_by: "plugin, job",
        cols: &[
            ("plugin", Text),
            ("job", Text),
            ("next_run_at", Int),
            ("lease_until", Int),
            ("last_run_at", NullInt),
            ("last_error", NullText),
        ],
    },
    Table {
        name: "record_events",
        order_by: "id",
        cols: &[
            ("id", Text),
            ("kind", Text),
            ("object", Text),
            ("record_id", Text),
            ("changed_fields", Text),
            ("source_plugin", NullText),
            ("occurred_at", Int),
            ("fanned_out", Int),
        ],
    },
    Table {
        name: "event_deliveries",
        order_by: "event_id, plugin",
        cols: &[
            ("event_id", Text),
            ("plugin", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("lease_until", Int),
            ("last_error", NullText),
            ("delivered_at", NullInt),
        ],
    },
];

/// Every table the migrations create, children before parents (the order to drop them in).
const CREATED_TABLES: &[&str] = &[
    "plugin_schedules",
    "event_deliveries",
    "record_events",
    "verification_challenges",
    "notification_outbox",
    "plugin_storage",
    "plugin_versions",
    "plugins",
    "api_tokens",
    "blind_index",
    "records",
    "subject_consents",
    "subject_erasures",
    "subject_holds",
    "subjects",
    "data_keys",
    "root_keys",
    "meta",
    "custom_fields",
    "custom_objects",
    "audit_log",
    "audit_head",
    "known_addresses",
    "alert_cursor",
    "alerts",
    "export_requests",
    "login_throttle",
    "mfa_recovery_codes",
    "team_members",
    "teams",
    "user_roles",
    "roles",
    "users",
    "_sqlx_migrations",
];

/// The newest migration this build carries for a backend.
fn built_migration(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Pulls the next row of a sqlx row stream (sqlx streams are `futures` streams; the trait's
/// methods are callable on the boxed stream without naming the crate).
macro_rules! next_row {
    ($stream:ident) => {
        std::future::poll_fn(|cx| $stream.as_mut().poll_next(cx)).await
    };
}

// ---------------------------------------------------------------------------------------------
// Lines of the format

/// The public, unauthenticated context of the envelope: only what is needed to pick the key.
#[derive(Serialize, Deserialize)]
struct Context {
    format: String,
    root_key_version: i64,
    /// When the newest erasure the file holds happened (0: none): a scrub that finds the ledger
    /// no newer leaves the file alone without decrypting it.
    #[serde(default)]
    erasures_through: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RootKeyCheck {
    version: i64,
    state: String,
    check_value: String,
}

/// The first line inside the envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    created_at: String,
    backend: String,
    /// The latest version in `_sqlx_migrations`.
    migration: i64,
    root_key_version: i64,
    /// Every root key version of the source, so a restore can check its key file up front.
    root_keys: Vec<RootKeyCheck>,
    /// Rows per table, counted inside the snapshot.
    counts: BTreeMap<String, u64>,
    /// When later erasures were last carried into the file ([`scrub`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scrubbed_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Trailer {
    counts: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct RowOut<'a> {
    t: &'a str,
    r: &'a [Value],
}

#[derive(Serialize)]
struct EndOut<'a> {
    end: &'a Trailer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    t: Option<String>,
    r: Option<Vec<Value>>,
    end: Option<Trailer>,
}

// ---------------------------------------------------------------------------------------------
// Backup

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    pub file: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// Rows per table, in the order they were written.
    pub tables: Vec<(String, u64)>,
    pub root_key_version: i64,
    pub migration: i64,
    pub created_at: String,
}

impl fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backup complete: {} rows, {} bytes, {} (root key version {})",
            self.rows,
            self.bytes,
            self.file.display(),
            self.root_key_version
        )
    }
}

enum Chunk {
    Data(Vec<u8>),
    /// Everything was sent: seal the final chunk. Without it the file restores as truncated.
    Done,
}

/// Removes the `.partial` file unless the backup completed.
struct PartialGuard(Option<PathBuf>);
impl Drop for PartialGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

/// Backs up the whole database into `out` (which must not exist), encrypted under a key derived
/// from the active root key version. Consistent while the server writes: every table is read in
/// one snapshot transaction. Shows a progress bar on stderr when `progress` is set and stderr is a
/// terminal.
pub async fn backup(db: &Db, keys: &RootKeyring, out: &Path, progress: bool) -> Result<BackupSummary> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(BackupError::OutputExists(out.to_path_buf()));
    }
    let partial = partial_path(out);
    let mut tx = db.begin_snapshot().await?;

    // The first read fixes the snapshot (SQLite); everything below sees the same state.
    let migration: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("reading the schema version"))?;
    let migration = migration.unwrap_or(0);
    let expected = built_migration(db.backend());
    if migration != expected {
        return Err(BackupError::SourceSchema { found: migration, expected });
    }

    let rows = sqlx::query("SELECT version, state, check_value FROM root_keys ORDER BY version")
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("reading the root key versions"))?;
    let mut root_keys = Vec::with_capacity(rows.len());
    for r in &rows {
        root_keys.push(RootKeyCheck {
            version: r.try_get(0).map_err(db_err("reading the root key versions"))?,
            state: r.try_get(1).map_err(db_err("reading the root key versions"))?,
            check_value: r.try_get(2).map_err(db_err("reading the root key versions"))?,
        });
    }
    let active =
        root_keys.iter().rev().find(|k| k.state == "active").ok_or_else(|| {
            BackupError::RootKey("the database has no active root key version: run `capcrm init`".into())
        })?;
    let root = keys.get(active.version).ok_or_else(|| {
        BackupError::RootKey(format!(
            "the active root key version {} is not in the configured key source",
            active.version
        ))
    })?;
    if root.check_value() != active.check_value {
        return Err(BackupError::RootKey(format!(
            "the configured root key version {} does not match this database (wrong key file or CAPCRM_ROOT_KEY?)",
            active.version
        )));
    }
    let root_key_version = active.version;
    let stream_key = root.key.derive(KEY_INFO);

    let mut counts = BTreeMap::new();
    for t in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", t.name))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err(format!("counting the rows of {}", t.name)))?;
        counts.insert(t.name.to_string(), n as u64);
    }
    let total: u64 = counts.values().sum();
    let created_at = micros_to_rfc3339(now_micros());
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        created_at: created_at.clone(),
        backend: backend_name(db.backend()).into(),
        migration,
        root_key_version,
        root_keys,
        counts,
        scrubbed_at: None,
    };
    // Erasures inside the snapshot are in the file already; only later ones need a scrub.
    let erasures_through: Option<i64> = sqlx::query_scalar("SELECT MAX(erased_at) FROM subject_erasures")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("reading the erasure ledger"))?;
    let context = serde_json::to_vec(&Context {
        format: FORMAT.into(),
        root_key_version,
        erasures_through: erasures_through.unwrap_or(0),
    })
    .expect("context serialises");

    let file = open_partial(&partial)?;
    let mut guard = PartialGuard(Some(partial.clone()));
    let (sender, receiver) = tokio::sync::mpsc::channel::<Chunk>(4);
    let writer = tokio::task::spawn_blocking(move || write_stream(file, stream_key, context, receiver));

    let bar = progress_bar(progress, total, "backing up");
    let produced = async {
        let mut buf = Vec::with_capacity(WRITE_BUFFER + 64 * 1024);
        serde_json::to_writer(&mut buf, &header).expect("header serialises");
        buf.push(b'\n');
        let mut written = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            bar.set_message(t.name);
            let sql = format!("SELECT {} FROM {} ORDER BY {}", t.column_list(), t.name, t.order_by);
            let mut rows = sqlx::query(&sql).fetch(&mut *tx);
            let mut n = 0u64;
            let mut values = Vec::with_capacity(t.cols.len());
            while let Some(row) = next_row!(rows) {
                let row = row.map_err(reading(t.name))?;
                values.clear();
                row_values(&row, t, &mut values).map_err(reading(t.name))?;
                serde_json::to_writer(&mut buf, &RowOut { t: t.name, r: &values }).expect("JSON values serialise");
                buf.push(b'\n');
                n += 1;
                bar.inc(1);
                if buf.len() >= WRITE_BUFFER {
                    let full = std::mem::replace(&mut buf, Vec::with_capacity(WRITE_BUFFER + 64 * 1024));
                    if sender.send(Chunk::Data(full)).await.is_err() {
                        // The writer stopped; its own error is reported below.
                        return Ok(written);
                    }
                }
            }
            written.push((t.name.to_string(), n));
        }
        let trailer = Trailer { counts: written.iter().cloned().collect() };
        serde_json::to_writer(&mut buf, &EndOut { end: &trailer }).expect("trailer serialises");
        buf.push(b'\n');
        if sender.send(Chunk::Data(buf)).await.is_ok() {
            let _ = sender.send(Chunk::Done).await;
        }
        Ok::<_, BackupError>(written)
    }
    .await;
    drop(sender);
    bar.finish_and_clear();
    let write_result = writer.await.map_err(join_err)?;
    let _ = tx.rollback().await;
    let written = produced?;
    let file = write_result?;
    drop(file);

    // Same snapshot, so the counts taken up front must match what was streamed.
    for (name, n) in &written {
        if header.counts.get(name) != Some(n) {
            return Err(BackupError::Internal(format!(
                "table {name}: counted {} rows but read {n} inside the same snapshot",
                header.counts.get(name).copied().unwrap_or_default()
            )));
        }
    }
    publish(&partial, out)?;
    guard.0 = None;
    let bytes = std::fs::metadata(out).map_err(file_err("read the size of", out))?.len();
    Ok(BackupSummary {
        file: out.to_path_buf(),
        rows: written.iter().map(|(_, n)| n).sum(),
        bytes,
        tables: written,
        root_key_version,
        migration,
        created_at,
    })
}

/// `capcrm backup`: opens the database named by `settings` without changing its schema, checks
/// the root key, records the backup in the audit trail (before any data leaves, like every other
/// read), and writes the backup.
pub async fn run_backup(settings: &Settings, out: &Path, progress: bool) -> Result<BackupSummary> {
    if std::fs::symlink_metadata(out).is_ok() {
        return Err(BackupError::OutputExists(out.to_path_buf()));
    }
    let ring = RootKeyring::load(settings.root_key.clone()).map_err(|e| BackupError::RootKey(e.to_string()))?;
    let db = Db::open(&settings.location, false).await?;
    let result = async {
        if !db.is_initialised().await? {
            return Err(BackupError::Store(StoreError::Setup(format!(
                "{} is not initialised: nothing to back up",
                settings.location.describe()
            ))));
        }
        let keys = Keystore::new(ring.clone(), db.backend());
        keys.verify_root(&db).await.map_err(|e| BackupError::RootKey(e.to_string()))?;
        let chain =
            keys.system_key(db.reader(), AUDIT_CHAIN_KEY).await.map_err(|e| BackupError::RootKey(e.to_string()))?;
        let audit = Audit::start(db.clone(), chain.key);
        let ev = Event::new(&Actor::system("cli"), "backup.create", Outcome::Allowed).detail("full encrypted backup");
        audit
            .record(vec![ev])
            .await
            .map_err(|e| BackupError::Internal(format!("cannot record the backup in the audit trail: {e}")))?;
        backup(&db, &ring, out, progress).await
    }
    .await;
    db.close().await;
    result
}

fn open_partial(partial: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(partial).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            BackupError::PartialExists(partial.to_path_buf())
        } else {
            BackupError::File { action: "create", path: partial.to_path_buf(), error: e }
        }
    })
}

/// Seals everything the producer sends; fsyncs the file once the final chunk is out.
fn write_stream(
    file: std::fs::File,
    key: SecretKey,
    context: Vec<u8>,
    mut chunks: tokio::sync::mpsc::Receiver<Chunk>,
) -> Result<std::fs::File> {
    let mut w = BackupWriter::new(BufWriter::with_capacity(1 << 20, file), key.expose(), &context)?;
    drop(key);
    loop {
        match chunks.blocking_recv() {
            Some(Chunk::Data(buf)) => w.write_all(&buf).map_err(StreamError::from)?,
            Some(Chunk::Done) => break,
            // The producer failed: leave the stream unfinished (it would restore as truncated).
            None => return Err(BackupError::Internal("the backup was abandoned".into())),
        }
    }
    let file = w.finish()?.into_inner().map_err(|e| StreamError::Io(e.into_error()))?;
    file.sync_all().map_err(StreamError::Io)?;
    Ok(file)
}

/// Moves the finished `.partial` file to its name without ever replacing an existing file.
fn publish(partial: &Path, out: &Path) -> Result<()> {
    match std::fs::hard_link(partial, out) {
        Ok(()) => {
            std::fs::remove_file(partial).map_err(file_err("remove", partial))?;
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(BackupError::OutputExists(out.to_path_buf())),
        // A file system without hard links: check, then rename.
        Err(_) => {
            if std::fs::symlink_metadata(out).is_ok() {
                return Err(BackupError::OutputExists(out.to_path_buf()));
            }
            std::fs::rename(partial, out).map_err(file_err("rename the finished backup to", out))?;
        }
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The values of one row as JSON, typed by the table's column list.
fn row_values(row: &AnyRow, t: &Table, out: &mut Vec<Value>) -> Result<(), sqlx::Error> {
    for (i, (_, ty)) in t.cols.iter().enumerate() {
        out.push(match ty {
            Text | NullText => row.try_get::<Option<String>, _>(i)?.map_or(Value::Null, Value::String),
            Int | NullInt => row.try_get::<Option<i64>, _>(i)?.map_or(Value::Null, Value::from),
            Bytes => Value::String(B64.encode(row.try_get::<Vec<u8>, _>(i)?)),
        });
    }
    Ok(())
}

fn progress_bar(show: bool, total: u64, what: &'static str) -> indicatif::ProgressBar {
    if !show || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{msg:14}} [{{bar:40}}] {{human_pos}}/{{human_len}} rows ({{eta}})"
    ))
    .expect("valid template")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

// ---------------------------------------------------------------------------------------------
// Restore

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    pub target: String,
    /// Rows per table, in restore order.
    pub tables: Vec<(String, u64)>,
    pub rows: u64,
    pub data_keys_verified: u64,
    pub chain_entries_verified: u64,
    /// When the backup was taken, and from which backend.
    pub backup_created_at: String,
    pub source_backend: String,
}

impl fmt::Display for RestoreSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "restored {} rows into {} (backup of {} taken {})",
            self.rows, self.target, self.source_backend, self.backup_created_at
        )?;
        for (t, n) in &self.tables {
            writeln!(f, "  {t:<15} {n:>10}")?;
        }
        writeln!(
            f,
            "verified: root key, {} data keys unwrap, audit chain intact ({} entries)",
            self.data_keys_verified, self.chain_entries_verified
        )?;
        write!(f, "sessions were not restored: every user signs in again")
    }
}

/// One value ready to bind.
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Vec<u8>),
}

struct Batch {
    table: usize,
    rows: Vec<Vec<Cell>>,
}

/// The decrypted line stream. Lines come only from authenticated chunks; the end of the stream
/// (and so its completeness) is known only when `next` returns `None`.
struct Lines {
    inner: BufReader<BackupReader<BufReader<std::fs::File>>>,
    buf: Vec<u8>,
    line: u64,
}

impl Lines {
    fn next(&mut self) -> Result<Option<&[u8]>> {
        self.buf.clear();
        let n = self.inner.read_until(b'\n', &mut self.buf).map_err(StreamError::from)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() != Some(&b'\n') {
            return Err(BackupError::Malformed(format!("line {} is not terminated", self.line)));
        }
        Ok(Some(&self.buf[..n - 1]))
    }

    /// The next row or the trailer, parsed, its table named in [`TABLES`]: the one reader of the
    /// line format after the header (restore and scrub both go through it).
    fn next_line(&mut self) -> Result<Line> {
        let line = self.line + 1;
        let Some(bytes) = self.next()? else {
            return Err(BackupError::Incomplete("the stream ended without its trailer line".into()));
        };
        let len = bytes.len();
        match serde_json::from_slice::<LineIn>(bytes).map_err(|e| json_problem(line, &e))? {
            LineIn { t: Some(name), r: Some(values), end: None } => {
                let table = TABLES
                    .iter()
                    .position(|t| t.name == name)
                    .ok_or_else(|| BackupError::Malformed(format!("line {line}: unknown table `{name}`")))?;
                Ok(Line::Row { table, values, line, len })
            }
            LineIn { t: None, r: None, end: Some(trailer) } => Ok(Line::End(trailer)),
            _ => Err(BackupError::Malformed(format!("line {line} is neither a row nor the trailer"))),
        }
    }

    /// After the trailer: nothing may follow (the final chunk is authenticated only then).
    fn expect_end(&mut self) -> Result<()> {
        if self.next()?.is_some() {
            return Err(BackupError::Malformed(format!("line {} follows the trailer", self.line)));
        }
        Ok(())
    }
}

/// One line of the format after the header.
enum Line {
    /// A row of `TABLES[table]`: its values, line number and size in bytes.
    Row { table: usize, values: Vec<Value>, line: u64, len: usize },
    End(Trailer),
}

/// A serde_json error without its message (which can quote the input).
fn json_problem(line: u64, e: &serde_json::Error) -> BackupError {
    let what = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "is not valid JSON",
        _ => "does not have the expected shape",
    };
    BackupError::Malformed(format!("line {line} {what} (column {})", e.column()))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn to_cells(line: u64, t: &Table, values: Vec<Value>) -> Result<Vec<Cell>> {
    if values.len() != t.cols.len() {
        return Err(BackupError::Malformed(format!(
            "line {line}: a {} row has {} values, expected {}",
            t.name,
            values.len(),
            t.cols.len()
        )));
    }
    let mut out = Vec::with_capacity(values.len());
    for (v, (col, ty)) in values.into_iter().zip(t.cols) {
        let bad = |v: &Value| {
            let expected = match ty {
                Text => "text",
                NullText => "text or null",
                Int => "an integer",
                NullInt => "an integer or null",
                Bytes => "base64 bytes",
            };
            BackupError::Malformed(format!(
                "line {line}: column {}.{col} holds a {} value where {expected} belongs",
                t.name,
                kind_of(v)
            ))
        };
        out.push(match (ty, v) {
            (Text | NullText, Value::String(s)) => Cell::Text(Some(s)),
            (NullText, Value::Null) => Cell::Text(None),
            (Int | NullInt, Value::Number(n)) => {
                Cell::Int(Some(n.as_i64().ok_or_else(|| bad(&Value::Number(n.clone())))?))
            }
            (NullInt, Value::Null) => Cell::Int(None),
            (Bytes, Value::String(s)) => Cell::Bytes(B64.decode(&s).map_err(|_| bad(&Value::String(String::new())))?),
            (_, v) => return Err(bad(&v)),
        });
    }
    Ok(out)
}

/// Reads the row lines after the header, checks their order and shape, and sends them in batches
/// sized for one INSERT each. Returns the trailer once the end of the stream is authenticated.
fn read_rows(mut lines: Lines, batches: tokio::sync::mpsc::Sender<Batch>) -> Result<Trailer> {
    let mut current: Option<usize> = None;
    let mut pending: Vec<Vec<Cell>> = Vec::new();
    let mut pending_bytes = 0usize;
    let gone = || BackupError::Internal("the restore stopped reading".into());
    let trailer = loop {
        match lines.next_line()? {
            Line::Row { table: idx, values, line: line_no, len } => {
                if current.is_some_and(|c| idx < c) {
                    return Err(BackupError::Malformed(format!("line {line_no}: table {} out of order", TABLES[idx].name)));
                }
                if current != Some(idx) {
                    if let Some(c) = current.filter(|_| !pending.is_empty()) {
                        batches
                            .blocking_send(Batch { table: c, rows: std::mem::take(&mut pending) })
                            .map_err(|_| gone())?;
                    }
                    pending_bytes = 0;
                    current = Some(idx);
                }
                let t = &TABLES[idx];
                pending.push(to_cells(line_no, t, values)?);
                pending_bytes += len;
                if pending.len() >= t.rows_per_insert() || pending_bytes >= MAX_BATCH_BYTES {
                    batches
                        .blocking_send(Batch { table: idx, rows: std::mem::take(&mut pending) })
                        .map_err(|_| gone())?;
                    pending_bytes = 0;
                }
            }
            Line::End(trailer) => break trailer,
        }
    };
    if let Some(c) = current.filter(|_| !pending.is_empty()) {
        batches.blocking_send(Batch { table: c, rows: pending }).map_err(|_| gone())?;
    }
    lines.expect_end()?;
    Ok(trailer)
}

/// Where a restore writes, and how to take it back.
enum Target {
    Sqlite { dir: PathBuf, created_dir: bool },
    /// `before`: every table of the schema before the restore; the restore created the rest.
    Postgres { location: Location, before: Vec<String> },
}

const SQLITE_FILES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

impl Target {
    /// Checks that the target is new and empty, then opens (for SQLite: creates) it.
    async fn prepare(location: &Location) -> Result<(Target, Db)> {
        match location {
            Location::DataDir(dir) => {
                for suffix in SQLITE_FILES {
                    let f = dir.join(format!("{SQLITE_FILE}{suffix}"));
                    if std::fs::symlink_metadata(&f).is_ok() {
                        return Err(BackupError::TargetInUse {
                            target: location.describe(),
                            reason: format!("{} already exists; restore into a new data directory", f.display()),
                        });
                    }
                }
                let created_dir = std::fs::symlink_metadata(dir).is_err();
                let target = Target::Sqlite { dir: dir.clone(), created_dir };
                match Db::open(location, true).await {
                    Ok(db) => Ok((target, db)),
                    Err(e) => {
                        target.remove_sqlite_files();
                        Err(e.into())
                    }
                }
            }
            Location::Postgres(_) => {
                let db = Db::open(location, false).await?;
                let refuse = |reason: String| BackupError::TargetInUse { target: location.describe(), reason };
                let checked = async {
                    if db.is_initialised().await? {
                        return Err(refuse("it is an initialised capcrm database".into()));
                    }
                    let before = all_tables(&db).await?;
                    let ours: Vec<&str> =
                        before.iter().map(String::as_str).filter(|n| CREATED_TABLES.contains(n)).collect();
                    if !ours.is_empty() {
                        return Err(refuse(format!(
                            "it already has capcrm tables ({}); restore into an empty database",
                            ours.join(", ")
                        )));
                    }
                    Ok(before)
                }
                .await;
                match checked {
                    Ok(before) => Ok((Target::Postgres { location: location.clone(), before }, db)),
                    Err(e) => {
                        db.close().await;
                        Err(e)
                    }
                }
            }
        }
    }

    fn remove_sqlite_files(&self) -> Vec<String> {
        let Target::Sqlite { dir, created_dir } = self else { return Vec::new() };
        let mut problems = Vec::new();
        for suffix in SQLITE_FILES {
            let f = dir.join(format!("{SQLITE_FILE}{suffix}"));
            match std::fs::remove_file(&f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("could not delete {}: {e}", f.display())),
            }
        }
        if *created_dir && problems.is_empty() {
            let _ = std::fs::remove_dir(dir);
        }
        problems
    }

    /// Takes back what the restore created; returns what an operator needs to know about it.
    async fn discard(&self, db: Db) -> String {
        db.close().await;
        match self {
            Target::Sqlite { dir, .. } => {
                let problems = self.remove_sqlite_files();
                if problems.is_empty() {
                    format!("the partially restored database in {} was removed", dir.display())
                } else {
                    format!("{}; delete these files by hand", problems.join("; "))
                }
            }
            Target::Postgres { location, before } => {
                // A fresh connection: whatever the failed restore held open is gone with its pool.
                // One statement drops every table the restore created, so dependencies among them
                // need no CASCADE (which could reach beyond them).
                let mut drop_sql = format!("DROP TABLE IF EXISTS {}", CREATED_TABLES.join(", "));
                let dropped = async {
                    let db = Db::open(location, false).await?;
                    let r = async {
                        let created: Vec<String> =
                            all_tables(&db).await?.into_iter().filter(|t| !before.contains(t)).collect();
                        if created.is_empty() {
                            return Ok(());
                        }
                        drop_sql = format!("DROP TABLE IF EXISTS {}", created.join(", "));
                        sqlx::query(&drop_sql).execute(db.reader()).await.map_err(db_err("dropping restored tables"))?;
                        Ok::<_, BackupError>(())
                    }
                    .await;
                    db.close().await;
                    r
                }
                .await;
                match dropped {
                    Ok(()) => "the tables the restore created were dropped".into(),
                    Err(e) => {
                        format!("could not drop the tables the restore created ({e}); drop them by hand: {drop_sql};")
                    }
                }
            }
        }
    }
}

/// Every table of the database (SQLite) or of its current schema (PostgreSQL).
async fn all_tables(db: &Db) -> Result<Vec<String>> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    sqlx::query_scalar(sql).fetch_all(db.reader()).await.map_err(db_err("listing the tables of the target"))
}

/// Restores the backup `from` into the new target named by `settings` (a data directory without a
/// database, or a PostgreSQL database without capcrm tables), using the root key of `settings`.
/// The key is checked before anything is created; after the rows are in, the root key, every
/// active data key and the audit chain are verified. On failure everything the restore created is
/// removed and the error says so.
/// Opens a backup file: picks the root key version its public context names, unlocks the stream
/// (which authenticates the first chunk) and reads the header line. Blocking.
fn open_backup(file: &Path, ring: &RootKeyring) -> Result<(Lines, Header, Context)> {
    let f = std::fs::File::open(file).map_err(file_err("open", file))?;
    let sealed = SealedBackup::parse(BufReader::with_capacity(1 << 20, f))?;
    let context: Context = serde_json::from_slice(sealed.unverified_context())
        .map_err(|_| BackupError::Malformed("the public header is not a capcrm backup context".into()))?;
    if context.format != FORMAT {
        return Err(BackupError::Malformed("the public header names another format".into()));
    }
    let version = context.root_key_version;
    let root = ring.get(version).ok_or_else(|| {
        BackupError::RootKey(format!(
            "the backup was made under root key version {version}, which the configured key source does not hold"
        ))
    })?;
    let key = root.key.derive(KEY_INFO);
    let reader = sealed.unlock(key.expose()).map_err(|error| BackupError::CannotOpen { version, error })?;
    let mut lines = Lines { inner: BufReader::with_capacity(1 << 16, reader), buf: Vec::new(), line: 0 };
    let first = lines.next()?.ok_or_else(|| BackupError::Malformed("the stream is empty".into()))?;
    let header: Header = serde_json::from_slice(first).map_err(|e| json_problem(1, &e))?;
    Ok((lines, header, context))
}

pub async fn restore(from: &Path, settings: &Settings, progress: bool) -> Result<RestoreSummary> {
    let ring = RootKeyring::load(settings.root_key.clone()).map_err(|e| BackupError::RootKey(e.to_string()))?;
    let (path, r2) = (from.to_path_buf(), ring.clone());
    let (lines, header, context) = tokio::task::spawn_blocking(move || open_backup(&path, &r2)).await.map_err(join_err)??;
    check_header(&header, context.root_key_version, &ring, &settings.location)?;

    let (target, db) = Target::prepare(&settings.location).await?;
    match fill_and_verify(&db, lines, &header, &ring, progress).await {
        Ok((tables, data_keys, chain)) => {
            let finished = async {
                db.checkpoint().await?;
                Ok::<_, BackupError>(())
            }
            .await;
            if let Err(e) = finished {
                let cleanup = target.discard(db).await;
                return Err(BackupError::Aborted { cause: Box::new(e), cleanup });
            }
            db.close().await;
            Ok(RestoreSummary {
                target: settings.location.describe(),
                rows: tables.iter().map(|(_, n)| n).sum(),
                tables,
                data_keys_verified: data_keys,
                chain_entries_verified: chain,
                backup_created_at: header.created_at.clone(),
                source_backend: header.backend.clone(),
            })
        }
        Err(e) => {
            let cleanup = target.discard(db).await;
            Err(BackupError::Aborted { cause: Box::new(e), cleanup })
        }
    }
}

fn check_header(h: &Header, version: i64, ring: &RootKeyring, target: &Location) -> Result<()> {
    if h.format != FORMAT {
        return Err(BackupError::Malformed("the header names another format".into()));
    }
    if h.version != VERSION {
        return Err(BackupError::Malformed(format!(
            "line format version {} is not supported (this build reads {VERSION})",
            h.version
        )));
    }
    if h.root_key_version != version {
        return Err(BackupError::Malformed(
            "the header and the public context disagree on the root key version".into(),
        ));
    }
    let backend = match target {
        Location::DataDir(_) => Backend::Sqlite,
        Location::Postgres(_) => Backend::Postgres,
    };
    let expected = built_migration(backend);
    if h.migration != expected {
        return Err(BackupError::BackupSchema { found: h.migration, expected });
    }
    for k in h.root_keys.iter().filter(|k| k.state != "retired") {
        let Some(key) = ring.get(k.version) else {
            return Err(BackupError::RootKey(format!(
                "the backup's data keys need root key version {} ({}), which the configured key source does not hold",
                k.version, k.state
            )));
        };
        if key.check_value() != k.check_value {
            return Err(BackupError::RootKey(format!(
                "root key version {} in the configured key source is not the one this backup's data keys are wrapped under",
                k.version
            )));
        }
    }
    for t in TABLES {
        if !h.counts.contains_key(t.name) {
            return Err(BackupError::Malformed(format!("the header has no row count for table {}", t.name)));
        }
    }
    Ok(())
}

/// Runs the migrations on the target, inserts every row, checks the counts and verifies the keys
/// and the audit chain. Returns (rows per table, data keys verified, chain entries verified).
async fn fill_and_verify(
    db: &Db,
    lines: Lines,
    header: &Header,
    ring: &RootKeyring,
    progress: bool,
) -> Result<(Vec<(String, u64)>, u64, u64)> {
    // sqlx's migrator future is not `Send` (a higher-ranked `Acquire` bound), which would make
    // `restore` impossible to spawn; it runs on a blocking thread instead.
    let target = db.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(target.migrate())).await.map_err(join_err)??;
    let total: u64 = header.counts.values().sum();
    let bar = progress_bar(progress, total, "restoring");

    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(4);
    let reader = tokio::task::spawn_blocking(move || read_rows(lines, sender));
    let mut inserted = vec![0u64; TABLES.len()];
    // `meta` (which holds `initialised_at`) goes in last, after verification: a restore that is
    // killed half-way never leaves a database that passes for an initialised one.
    let mut meta_rows: Vec<Vec<Cell>> = Vec::new();
    let inserting = async {
        let mut tx: Option<Tx> = None;
        let mut since_commit = 0u64;
        while let Some(batch) = receiver.recv().await {
            let t = &TABLES[batch.table];
            bar.set_message(t.name);
            let n = batch.rows.len() as u64;
            if t.name == "meta" {
                meta_rows.extend(batch.rows);
                inserted[batch.table] += n;
                bar.inc(n);
                continue;
            }
            let open = match &mut tx {
                Some(open) => open,
                None => tx.insert(db.begin_write().await?),
            };
            if let Err(e) = insert_rows(open, t, batch.rows).await {
                if let Some(open) = tx.take() {
                    let _ = open.rollback().await;
                }
                return Err(e);
            }
            inserted[batch.table] += n;
            since_commit += n;
            bar.inc(n);
            if since_commit >= ROWS_PER_COMMIT {
                if let Some(open) = tx.take() {
                    open.commit().await.map_err(db_err("committing restored rows"))?;
                }
                since_commit = 0;
            }
        }
        if let Some(open) = tx.take() {
            open.commit().await.map_err(db_err("committing restored rows"))?;
        }
        Ok::<_, BackupError>(())
    }
    .await;
    // Stop the reader if inserting failed, then hear what it has to say.
    drop(receiver);
    bar.finish_and_clear();
    let trailer = reader.await.map_err(join_err)?;
    inserting?;
    let trailer = trailer?;

    let mut tables = Vec::with_capacity(TABLES.len());
    for (t, &n) in TABLES.iter().zip(&inserted) {
        let in_trailer = trailer.counts.get(t.name).copied();
        let in_header = header.counts.get(t.name).copied();
        if in_trailer != Some(n) || in_header != Some(n) {
            return Err(BackupError::Incomplete(format!(
                "table {}: the backup announced {} rows and its trailer {}, but {n} arrived",
                t.name,
                in_header.map_or("no".into(), |c| c.to_string()),
                in_trailer.map_or("no".into(), |c| c.to_string())
            )));
        }
        tables.push((t.name.to_string(), n));
    }
    if let Some(extra) = trailer.counts.keys().find(|k| !TABLES.iter().any(|t| t.name == k.as_str())) {
        return Err(BackupError::Malformed(format!("the trailer counts an unknown table `{extra}`")));
    }

    let keys = Keystore::new(ring.clone(), db.backend());
    keys.verify_root(db).await.map_err(|e| BackupError::Verify(format!("root keys: {e}")))?;
    let data_keys = verify_data_keys(db, &keys).await?;
    let chain_key = keys
        .system_key(db.reader(), AUDIT_CHAIN_KEY)
        .await
        .map_err(|e| BackupError::Verify(format!("the audit chain key: {e}")))?;
    let report = verify_chain(db, &chain_key.key).await.map_err(db_err("verifying the audit chain"))?;
    if !report.intact {
        return Err(BackupError::Verify(format!(
            "the audit chain is broken at entry {}: {}",
            report.first_bad_seq.unwrap_or_default(),
            report.problem.unwrap_or_default()
        )));
    }

    let meta = TABLES.iter().find(|t| t.name == "meta").expect("meta is a backed-up table");
    let mut tx = db.begin_write().await?;
    while !meta_rows.is_empty() {
        let rest = meta_rows.split_off(meta_rows.len().min(meta.rows_per_insert()));
        insert_rows(&mut tx, meta, std::mem::replace(&mut meta_rows, rest)).await?;
    }
    tx.commit().await.map_err(db_err("committing restored rows"))?;
    Ok((tables, data_keys, report.entries))
}

async fn insert_rows(tx: &mut Tx, t: &Table, rows: Vec<Vec<Cell>>) -> Result<()> {
    let width = t.cols.len();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", t.name, t.column_list());
    for i in 0..rows.len() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('(');
        for j in 0..width {
            if j > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(i * width + j + 1).to_string());
        }
        sql.push(')');
    }
    let full = rows.len() == t.rows_per_insert();
    let mut q = sqlx::query(&sql).persistent(full);
    for row in rows {
        for cell in row {
            q = match cell {
                Cell::Text(v) => q.bind(v),
                Cell::Bytes(v) => q.bind(v),
                Cell::Int(v) => q.bind(v),
            };
        }
    }
    q.execute(&mut **tx).await.map_err(db_err(format!("inserting into {}", t.name)))?;
    Ok(())
}

/// Unwraps every active data key with the configured root key.
async fn verify_data_keys(db: &Db, keys: &Keystore) -> Result<u64> {
    let mut rows =
        sqlx::query("SELECT id, version, root_version, wrapped FROM data_keys WHERE state = 'active' ORDER BY id")
            .fetch(db.reader());
    let mut n = 0u64;
    while let Some(row) = next_row!(rows) {
        let row = row.map_err(db_err("reading data keys"))?;
        let decode = |e: sqlx::Error| BackupError::Database { during: "reading data keys".into(), error: e };
        let w = WrappedKey {
            id: row.try_get(0).map_err(decode)?,
            version: row.try_get(1).map_err(decode)?,
            root_version: row.try_get(2).map_err(decode)?,
            wrapped: row.try_get(3).map_err(decode)?,
            destroyed: false,
        };
        keys.unwrap(&w).map_err(|e: KeyError| {
            BackupError::Verify(format!("data key {} (root key version {}) does not unwrap: {e}", w.id, w.root_version))
        })?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Principal, WriteOptions};
    use crate::app::App;
    use crate::crypto::root::RootKeySource;
    use serde_json::json;
    use std::time::Duration;

    const CANARY: &str = "Zqcanary-backup-1";
    const PASSWORD: &str = "correct-horse-battery-staple";

    trait KeyFile {
        fn root_key_file(&self) -> &Path;
    }
    impl KeyFile for Settings {
        fn root_key_file(&self) -> &Path {
            match &self.root_key {
                RootKeySource::File(p) => p,
                RootKeySource::Env(_) => unreachable!("tests use key files"),
            }
        }
    }

    fn settings_in(dir: &Path, key: &Path) -> Settings {
        Settings { location: Location::DataDir(dir.to_path_buf()), root_key: RootKeySource::File(key.to_path_buf()) }
    }

    /// An initialised SQLite database with `n` contacts (the first carries the canary) and one
    /// signed-in session. Returns its settings and the canary record's id.
    async fn seeded(tmp: &Path, n: usize) -> (Settings, String) {
        let key = tmp.join("root.key");
        RootKeyring::create_file(&key).unwrap();
        let settings = settings_in(&tmp.join("data"), &key);
        App::init(&settings, "admin", PASSWORD).await.unwrap();
        let app = App::open(&settings).await.unwrap();
        let records = app.gate.records(&Principal::system("test"));
        let first = json!({"first_name": "Ada", "last_name": CANARY, "email": "zq.canary@example.com"});
        let id = records.create("contact", first.as_object().unwrap(), WriteOptions::default()).await.unwrap().id;
        for i in 1..n {
            let c = json!({
                "first_name": format!("Person{i}"),
                "last_name": format!("Lastname-{i:04}"),
                "email": format!("person{i}@example.com"),
                "notes": "n".repeat(600),
            });
            records.create("contact", c.as_object().unwrap(), WriteOptions::default()).await.unwrap();
        }
        let admin = app.auth.check_password("admin", PASSWORD, None).await.unwrap();
        app.auth.issue_session(&admin, false, None).await.unwrap();
        app.db.close().await;
        (settings, id)
    }

    fn contains(hay: &[u8], needle: &str) -> bool {
        hay.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// The decrypted lines of a backup, for inspection.
    fn plaintext(file: &Path, key_file: &Path) -> Vec<u8> {
        let ring = RootKeyring::load(RootKeySource::File(key_file.to_path_buf())).unwrap();
        let sealed = SealedBackup::parse(std::fs::File::open(file).unwrap()).unwrap();
        let ctx: Context = serde_json::from_slice(sealed.unverified_context()).unwrap();
        let key = ring.get(ctx.root_key_version).unwrap().key.derive(KEY_INFO);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut sealed.unlock(key.expose()).unwrap(), &mut out).unwrap();
        out
    }

    async fn read_canary(settings: &Settings, id: &str) {
        let app = App::open(settings).await.unwrap();
        let view = app.gate.records(&Principal::system("test")).get("contact", id).await.unwrap();
        assert_eq!(view.fields["last_name"], json!(CANARY));
        let report = verify_chain(&app.db, app.gate.audit().chain_key()).await.unwrap();
        assert!(report.intact, "{report:?}");
        let tokens: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens").fetch_one(app.db.reader()).await.unwrap();
        assert_eq!(tokens, 0, "sessions are never restored");
        app.db.close().await;
    }

    #[tokio::test]
    async fn scrub_destroys_an_erased_subjects_key_in_an_earlier_backup() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, id) = seeded(tmp.path(), 3).await;
        let file = tmp.path().join("before.backup");
        run_backup(&settings, &file, false).await.unwrap();
        let ring = RootKeyring::load(settings.root_key.clone()).unwrap();

        let app = App::open(&settings).await.unwrap();
        let records = app.gate.records(&Principal::system("test"));
        let subject = records.get("contact", &id).await.unwrap().subject_id.unwrap();
        let key_id: String = sqlx::query_scalar("SELECT key_id FROM subjects WHERE id = $1")
            .bind(subject.clone())
            .fetch_one(app.db.reader())
            .await
            .unwrap();
        let nothing = scrub::scrub_file(&file, &ring, &scrub::ledger(&app.db).await.unwrap()).unwrap();
        assert!(!nothing.rewritten, "no erasure yet: the file is left alone");
        records.erase_subject(&subject, "test erasure").await.unwrap();
        let ledger = scrub::ledger(&app.db).await.unwrap();
        app.db.close().await;

        let key_line = |plain: &[u8]| {
            String::from_utf8_lossy(plain)
                .lines()
                .find(|l| l.starts_with(r#"{"t":"data_keys""#) && l.contains(&key_id))
                .unwrap()
                .to_string()
        };
        let before = plaintext(&file, settings.root_key_file());
        assert!(key_line(&before).contains("\"active\""), "the copy holds the key wrapped: {}", key_line(&before));

        // A scrub that finds a fresh working file (another scrub at work) changes nothing.
        let partial = tmp.path().join("before.backup.scrub");
        std::fs::write(&partial, b"busy").unwrap();
        assert!(matches!(scrub::scrub_file(&file, &ring, &ledger), Err(BackupError::PartialExists(_))));
        assert_eq!(plaintext(&file, settings.root_key_file()), before);
        std::fs::remove_file(&partial).unwrap();

        let done = scrub::scrub_file(&file, &ring, &ledger).unwrap();
        assert!(done.rewritten && done.erasures == 1, "{done}");
        assert!(done.dropped.get("blind_index").copied().unwrap_or(0) >= 1, "{done}");
        let after = plaintext(&file, settings.root_key_file());
        let line = key_line(&after);
        assert!(line.contains("null,\"destroyed\""), "the wrapped key is gone: {line}");
        assert!(String::from_utf8_lossy(&after).contains(r#"{"t":"subject_erasures""#), "the receipt travels with the file");
        assert!(!partial.exists());
        let again = scrub::scrub_file(&file, &ring, &ledger).unwrap();
        assert!(!again.rewritten, "{again}");

        // The scrubbed file restores, its chain verifies, and the person's fields are gone.
        let restored = settings_in(&tmp.path().join("restored"), settings.root_key_file());
        restore(&file, &restored, false).await.unwrap();
        let app = App::open(&restored).await.unwrap();
        let view = app.gate.records(&Principal::system("test")).get("contact", &id).await.unwrap();
        assert!(view.fields.get("last_name").is_none(), "{:?}", view.fields);
        assert!(verify_chain(&app.db, app.gate.audit().chain_key()).await.unwrap().intact);
        app.db.close().await;
    }

    #[tokio::test]
    async fn sqlite_round_trip_keeps_personal_data_sealed() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, id) = seeded(tmp.path(), 3).await;
        // A plugin component: bytes travel as base64 and come back identical.
        let component: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let db = Db::open(&settings.location, false).await.unwrap();
        sqlx::query("INSERT INTO plugins (name, state, active_version, created_at) VALUES ('p', 'enabled', '1.0.0', 1)")
            .execute(db.reader())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO plugin_versions (name, version, code_hash, component, manifest, status, installed_at) \
             VALUES ('p', '1.0.0', 'h', $1, '{}', 'approved', 1)",
        )
        .bind(component.clone())
        .execute(db.reader())
        .await
        .unwrap();
        db.close().await;

        let out = tmp.path().join("full.capbk");
        let summary = run_backup(&settings, &out, false).await.unwrap();
        assert!(summary.rows > 0 && summary.bytes > 0);
        assert_eq!(summary.tables.iter().find(|(t, _)| t == "records").unwrap().1, 3);
        assert!(!partial_path(&out).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        }

        // The canary is neither in the file nor in the decrypted stream: it stays sealed by its data key.
        let bytes = std::fs::read(&out).unwrap();
        assert!(!contains(&bytes, CANARY));
        let key_file = tmp.path().join("root.key");
        let plain = plaintext(&out, &key_file);
        assert!(!contains(&plain, CANARY));
        assert!(!contains(&plain, "zq.canary@example.com"));
        assert!(!contains(&plain, "api_tokens"));
        assert!(plain.starts_with(b"{\"format\":\"capcrm-backup\""));

        // Never overwrites.
        let again = backup(
            &Db::open(&settings.location, false).await.unwrap(),
            &RootKeyring::load(settings.root_key.clone()).unwrap(),
            &out,
            false,
        )
        .await;
        assert!(matches!(again, Err(BackupError::OutputExists(_))), "{again:?}");

        let target = settings_in(&tmp.path().join("restored"), &key_file);
        let restored = restore(&out, &target, false).await.unwrap();
        assert_eq!(restored.rows, summary.rows);
        assert_eq!(restored.tables, summary.tables);
        assert!(restored.chain_entries_verified >= 4, "{restored}");
        assert!(restored.data_keys_verified >= 5, "{restored}");
        read_canary(&target, &id).await;
        let db = Db::open(&target.location, false).await.unwrap();
        let restored_component: Vec<u8> =
            sqlx::query_scalar("SELECT component FROM plugin_versions").fetch_one(db.reader()).await.unwrap();
        assert_eq!(restored_component, component);
        db.close().await;

        // The restored copy is now initialised: a second restore into it is refused and leaves it alone.
        let err = restore(&out, &target, false).await.unwrap_err();
        assert!(matches!(err, BackupError::TargetInUse { .. }), "{err}");
        read_canary(&target, &id).await;
        // So is the source.
        let err = restore(&out, &settings, false).await.unwrap_err();
        assert!(matches!(err, BackupError::TargetInUse { .. }), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backups_taken_while_writing_are_consistent() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, _) = seeded(tmp.path(), 20).await;
        let key_file = tmp.path().join("root.key");
        let app = App::open(&settings).await.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (gate, stop) = (app.gate.clone(), stop.clone());
            tokio::spawn(async move {
                let records = gate.records(&Principal::system("test"));
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let c = json!({"last_name": format!("Concurrent-{n}"), "notes": "x".repeat(2000)});
                    records.create("contact", c.as_object().unwrap(), WriteOptions::default()).await.unwrap();
                    n += 1;
                }
                n
            })
        };
        let ring = RootKeyring::load(settings.root_key.clone()).unwrap();
        let mut files = Vec::new();
        for i in 0..3 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let out = tmp.path().join(format!("live-{i}.capbk"));
            backup(&app.db, &ring, &out, false).await.unwrap();
            files.push(out);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.await.unwrap();
        assert!(written > 0);
        app.db.close().await;
        // Each backup restores, and its audit chain ends exactly at its recorded head.
        for (i, out) in files.iter().enumerate() {
            let target = settings_in(&tmp.path().join(format!("r{i}")), &key_file);
            let r = restore(out, &target, false).await.unwrap();
            let records = r.tables.iter().find(|(t, _)| t == "records").unwrap().1;
            assert!(records >= 20, "{r}");
        }
    }

    #[tokio::test]
    async fn damage_in_the_source_is_caught_on_the_way_in() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, _) = seeded(tmp.path(), 2).await;
        let key_file = tmp.path().join("root.key");
        let ring = RootKeyring::load(settings.root_key.clone()).unwrap();
        let db = Db::open(&settings.location, false).await.unwrap();
        let target_dir = tmp.path().join("target");

        // A quietly edited audit entry: the backup copies it faithfully, the restore refuses it.
        sqlx::query("UPDATE audit_log SET detail = 'edited' WHERE seq = 2").execute(db.reader()).await.unwrap();
        let out = tmp.path().join("edited.capbk");
        backup(&db, &ring, &out, false).await.unwrap();
        let err = restore(&out, &settings_in(&target_dir, &key_file), false).await.unwrap_err();
        assert!(
            matches!(&err, BackupError::Aborted { cause, .. } if matches!(**cause, BackupError::Verify(_))),
            "{err:?}"
        );
        assert!(err.to_string().contains("audit chain is broken at entry 2"), "{err}");
        assert!(!target_dir.exists());

        // A data key that no longer unwraps.
        let id: String = sqlx::query_scalar("SELECT id FROM data_keys WHERE scope = 'subject' LIMIT 1")
            .fetch_one(db.reader())
            .await
            .unwrap();
        sqlx::query("UPDATE data_keys SET wrapped = (SELECT wrapped FROM data_keys WHERE scope = 'system' LIMIT 1) WHERE id = $1")
            .bind(&id)
            .execute(db.reader())
            .await
            .unwrap();
        let out = tmp.path().join("swapped.capbk");
        backup(&db, &ring, &out, false).await.unwrap();
        let err = restore(&out, &settings_in(&target_dir, &key_file), false).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("data key {id}")) && err.to_string().contains("was removed"),
            "{err}"
        );
        assert!(!target_dir.exists());
        db.close().await;
    }

    #[tokio::test]
    async fn wrong_key_fails_before_anything_is_created() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, _) = seeded(tmp.path(), 1).await;
        let out = tmp.path().join("b.capbk");
        run_backup(&settings, &out, false).await.unwrap();
        let other_key = tmp.path().join("other.key");
        RootKeyring::create_file(&other_key).unwrap();
        let target_dir = tmp.path().join("target");
        let err = restore(&out, &settings_in(&target_dir, &other_key), false).await.unwrap_err();
        assert!(
            matches!(err, BackupError::CannotOpen { version: 1, error: StreamError::WrongKeyOrCorrupt }),
            "{err:?}"
        );
        assert!(err.to_string().contains("wrong root key"), "{err}");
        assert!(!target_dir.exists());

        // A wrong key is also refused at backup time, before a file is written.
        let wrong = RootKeyring::load(RootKeySource::File(other_key)).unwrap();
        let db = Db::open(&settings.location, false).await.unwrap();
        let err = backup(&db, &wrong, &tmp.path().join("c.capbk"), false).await.unwrap_err();
        assert!(matches!(err, BackupError::RootKey(_)), "{err}");
        assert!(!tmp.path().join("c.capbk").exists() && !tmp.path().join("c.capbk.partial").exists());
        db.close().await;
    }

    #[tokio::test]
    async fn truncated_backup_fails_and_leaves_no_target() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, _) = seeded(tmp.path(), 120).await;
        let out = tmp.path().join("b.capbk");
        run_backup(&settings, &out, false).await.unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert!(bytes.len() > 2 * stream::CHUNK_SIZE, "the backup must span several chunks");
        let key_file = tmp.path().join("root.key");

        // Cut in the middle: the rows of the first chunks arrive, then the end is missing.
        let cut = tmp.path().join("cut.capbk");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let target_dir = tmp.path().join("target");
        let err = restore(&cut, &settings_in(&target_dir, &key_file), false).await.unwrap_err();
        match &err {
            BackupError::Aborted { cause, cleanup } => {
                assert!(matches!(**cause, BackupError::Stream(StreamError::Truncated)), "{cause:?}");
                assert!(cleanup.contains("was removed"), "{cleanup}");
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(!target_dir.exists(), "no target is left behind");

        // Cut inside the first chunk: refused before a target exists.
        std::fs::write(&cut, &bytes[..1000]).unwrap();
        let err = restore(&cut, &settings_in(&target_dir, &key_file), false).await.unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(!target_dir.exists());

        // Into an existing, empty data directory: the directory stays, the files go.
        std::fs::create_dir(&target_dir).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
        let err = restore(&cut, &settings_in(&target_dir, &key_file), false).await.unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        assert_eq!(std::fs::read_dir(&target_dir).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn column_lists_match_the_sqlite_migrations() {
        let tmp = tempfile::tempdir().unwrap();
        let db = Db::open(&Location::DataDir(tmp.path().join("d")), true).await.unwrap();
        db.migrate().await.unwrap();
        let mut tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(db.reader())
            .await
            .unwrap();
        tables.sort();
        let mut expected: Vec<String> = CREATED_TABLES.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(tables, expected, "a new table needs a place in TABLES (or a reason to be left out)");
        for t in TABLES {
            let rows = sqlx::query(&format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{}') ORDER BY cid",
                t.name
            ))
            .fetch_all(db.reader())
            .await
            .unwrap();
            let actual: Vec<(String, Ty)> = rows
                .iter()
                .map(|r| {
                    let name: String = r.get(0);
                    let ty: String = r.get(1);
                    // Primary key columns are never NULL in practice (an INTEGER one is the rowid).
                    let not_null = r.get::<i64, _>(2) != 0 || r.get::<i64, _>(3) != 0;
                    let ty = match (ty.as_str(), not_null) {
                        ("TEXT", true) => Text,
                        ("TEXT", false) => NullText,
                        ("INTEGER", true) => Int,
                        ("INTEGER", false) => NullInt,
                        ("BLOB", true) => Bytes,
                        (other, _) => panic!("{}.{name}: unexpected type {other}", t.name),
                    };
                    (name, ty)
                })
                .collect();
            let listed: Vec<(String, Ty)> = t.cols.iter().map(|(c, ty)| (c.to_string(), *ty)).collect();
            assert_eq!(actual, listed, "columns of {}", t.name);
        }
        db.close().await;
    }

    // ---- PostgreSQL ----

    async fn pg_admin() -> Option<(sqlx::AnyPool, String)> {
        sqlx::any::install_default_drivers();
        for user in ["root", "postgres"] {
            let base = format!("postgres://{user}@127.0.0.1:5432");
            let admin_url = format!("{base}/postgres");
            let connect = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&admin_url);
            if let Ok(Ok(pool)) = tokio::time::timeout(Duration::from_secs(5), connect).await {
                return Some((pool, base));
            }
        }
        None
    }

    #[tokio::test]
    async fn postgres_round_trip() {
        let Some((admin, base)) = pg_admin().await else {
            println!("skipped: PostgreSQL not reachable at 127.0.0.1:5432");
            return;
        };
        let name = format!("capcrm_bk_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        let url = format!("{base}/{name}");
        // App::init/App::open futures are not Send (sqlx's migrator), so the body runs on a
        // blocking thread of this runtime; a panic comes back through the join handle.
        let handle = tokio::runtime::Handle::current();
        let body = tokio::task::spawn_blocking(move || handle.block_on(postgres_body(url)));
        let outcome = body.await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await.unwrap();
        admin.close().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn pg_tables(location: &Location) -> Vec<String> {
        let db = Db::open(location, false).await.unwrap();
        let t = all_tables(&db).await.unwrap();
        db.close().await;
        t
    }

    /// The public futures can run on any runtime thread (`tokio::spawn`).
    #[allow(dead_code)]
    fn futures_are_send(p: &'static Path, s: &'static Settings, db: &'static Db, r: &'static RootKeyring) {
        fn is_send<T: Send>(_: T) {}
        is_send(backup(db, r, p, false));
        is_send(run_backup(s, p, false));
        is_send(restore(p, s, false));
    }

    async fn postgres_body(url: String) {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, id) = seeded(tmp.path(), 120).await;
        let key_file = tmp.path().join("root.key");
        let out = tmp.path().join("b.capbk");
        run_backup(&settings, &out, false).await.unwrap();
        let pg =
            Settings { location: Location::Postgres(url.clone()), root_key: RootKeySource::File(key_file.clone()) };

        // A truncated backup: the tables the restore created are dropped again.
        let bytes = std::fs::read(&out).unwrap();
        let cut = tmp.path().join("cut.capbk");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = restore(&cut, &pg, false).await.unwrap_err();
        assert!(err.to_string().contains("truncated") && err.to_string().contains("dropped"), "{err}");
        assert!(pg_tables(&pg.location).await.is_empty());

        let restored = restore(&out, &pg, false).await.unwrap();
        assert_eq!(restored.tables.iter().find(|(t, _)| t == "records").unwrap().1, 120);
        read_canary(&pg, &id).await;

        // The column lists match the PostgreSQL migrations too.
        let db = Db::open(&pg.location, false).await.unwrap();
        for t in TABLES {
            let rows = sqlx::query(
                "SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(t.name)
            .fetch_all(db.reader())
            .await
            .unwrap();
            let actual: Vec<(String, Ty)> = rows
                .iter()
                .map(|r| {
                    let ty = match (r.get::<String, _>(1).as_str(), r.get::<String, _>(2).as_str()) {
                        ("text", "NO") => Text,
                        ("text", "YES") => NullText,
                        ("bigint", "NO") => Int,
                        ("bigint", "YES") => NullInt,
                        ("bytea", "NO") => Bytes,
                        (other, _) => panic!("{}: unexpected type {other}", t.name),
                    };
                    (r.get(0), ty)
                })
                .collect();
            let listed: Vec<(String, Ty)> = t.cols.iter().map(|(c, ty)| (c.to_string(), *ty)).collect();
            assert_eq!(actual, listed, "columns of {}", t.name);
        }

        // An initialised PostgreSQL target is refused and left alone.
        let err = restore(&out, &pg, false).await.unwrap_err();
        assert!(matches!(err, BackupError::TargetInUse { .. }), "{err}");

        // And back: PostgreSQL as the source, a new SQLite directory as the target.
        let ring = RootKeyring::load(pg.root_key.clone()).unwrap();
        let from_pg = tmp.path().join("from-pg.capbk");
        let summary = backup(&db, &ring, &from_pg, false).await.unwrap();
        db.close().await;
        assert!(!contains(&std::fs::read(&from_pg).unwrap(), CANARY));
        let back = settings_in(&tmp.path().join("back"), &key_file);
        let restored = restore(&from_pg, &back, false).await.unwrap();
        assert_eq!(restored.source_backend, "postgres");
        assert_eq!(restored.tables, summary.tables);
        read_canary(&back, &id).await;
    }
}
