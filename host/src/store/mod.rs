//! Storage: one connection layer over SQLite (the embedded default) and PostgreSQL (the scale path).
//!
//! Both backends are reached through sqlx's `Any` driver with SQL written once where the dialects
//! agree (`$1` placeholders work on both); the few places where they differ ask [`Backend`]. Each
//! backend has its own migration folder. Nothing outside the crypto, audit and access layers should
//! need more than [`Db::begin_write`] and [`Db::reader`].

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Setup(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// A data directory holding `capcrm.db` (SQLite).
    DataDir(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

impl Location {
    pub fn describe(&self) -> String {
        match self {
            Location::DataDir(d) => format!("SQLite database in {}", d.display()),
            Location::Postgres(url) => format!("PostgreSQL at {}", redact_url(url)),
        }
    }
}

/// Hides the password of a database URL before it is printed.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub const SQLITE_FILE: &str = "capcrm.db";

/// A handle on the database: a pool for reads and a pool for write transactions.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    read: AnyPool,
    /// On SQLite a single connection: writes serialise in process instead of spinning on the file
    /// lock. On PostgreSQL the same pool as reads.
    write: AnyPool,
}

impl Db {
    /// Opens the database. `create` allows a missing SQLite file to be created (only `init` does).
    pub async fn open(location: &Location, create: bool) -> Result<Db> {
        sqlx::any::install_default_drivers();
        match location {
            Location::DataDir(dir) => {
                let file = dir.join(SQLITE_FILE);
                if !create && !file.exists() {
                    return Err(StoreError::Setup(format!(
                        "no capcrm database in {}: run `capcrm init --data-dir {}` first",
                        dir.display(),
                        dir.display()
                    )));
                }
                if create {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Setup(format!("cannot create data directory {}: {e}", dir.display())))?;
                    restrict_dir(dir);
                }
                let url = format!("sqlite://{}?mode={}", file.display(), if create { "rwc" } else { "rw" });
                let opts = AnyConnectOptions::from_str(&url)?;
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(0)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL lets readers run beside the writer; synchronous=FULL makes every
                                // acknowledged commit durable across a crash or power loss.
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute("PRAGMA synchronous = FULL").await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                conn.execute("PRAGMA busy_timeout = 15000").await?;
                                Ok(())
                            })
                        })
                };
                let write = pool(1).connect_with(opts.clone()).await?;
                let read = pool(8).connect_with(opts).await?;
                Ok(Db { backend: Backend::Sqlite, read, write })
            }
            Location::Postgres(url) => {
                let opts = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::Setup(format!("cannot connect to {}: {e}", redact_url(url))))?;
                Ok(Db { backend: Backend::Postgres, read: pool.clone(), write: pool })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date. Callers check the root key first, so a wrong key writes nothing.
    pub async fn migrate(&self) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&mut *conn).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&mut *conn).await?,
        }
        Ok(())
    }

    /// Whether `capcrm init` has run against this database.
    pub async fn is_initialised(&self) -> Result<bool> {
        let exists_sql = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            Backend::Postgres => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'meta'",
        };
        let n: i64 = sqlx::query_scalar(exists_sql).fetch_one(&self.read).await?;
        if n == 0 {
            return Ok(false);
        }
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'initialised_at'")
            .fetch_optional(&self.read)
            .await?;
        Ok(v.is_some())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`), so a
    /// transaction that reads before it writes can never fail half-way on a lock upgrade.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        })
    }

    /// A read-only snapshot transaction (for backups and consistent multi-table reads).
    pub async fn begin_snapshot(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.read.begin_with("BEGIN DEFERRED").await?,
            Backend::Postgres => {
                self.read.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?
            }
        })
    }

    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// ` FOR UPDATE` where the backend supports row locks; SQLite's write lock already serialises.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
    /// ` FOR SHARE` on PostgreSQL, nothing on SQLite.
    pub fn for_share(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR SHARE",
        }
    }

    /// SQL that extracts a top-level JSON member of a TEXT column as text.
    pub fn json_text(&self, column: &str, key: &str) -> String {
        debug_assert!(crate::model::is_valid_identifier(key));
        match self.backend {
            Backend::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Backend::Postgres => format!("(({column})::jsonb ->> '{key}')"),
        }
    }
    /// A text expression compared byte by byte on both backends (PostgreSQL's default collation
    /// would order differently from SQLite's).
    pub fn sortable_text(&self, expr: &str) -> String {
        match self.backend {
            Backend::Sqlite => expr.to_string(),
            Backend::Postgres => format!("({expr} COLLATE \"C\")"),
        }
    }
    /// SQL that extracts a top-level JSON member as a number (for range filters).
    pub fn json_number(&self, column: &str, key: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("CAST(json_extract({column}, '$.{key}') AS REAL)"),
            Backend::Postgres => format!("((({column})::jsonb ->> '{key}')::double precision)"),
        }
    }

    /// Flushes SQLite's WAL into the main file (after a restore, before a file copy).
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.write).await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Microseconds since the Unix epoch: the one time format in the database.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

pub fn micros_to_rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://h/db"), "postgres://h/db");
    }
}

/// A bind value for SQL assembled at run time (filters); placeholders are numbered in push order.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
    Real(f64),
}

/// Collects WHERE clauses and their arguments, numbering placeholders `$1, $2, ...`.
#[derive(Debug, Default)]
pub struct Conditions {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    /// Adds `<sql_lhs> <op> $n`. `sql_lhs` and `op` must come from code, never from input.
    pub fn push(&mut self, sql_lhs: &str, op: &str, arg: Arg) {
        self.args.push(arg);
        self.clauses.push(format!("{sql_lhs} {op} ${}", self.args.len()));
    }
    /// Adds a clause without arguments (`x IS NULL`). It must come from code, never from input.
    pub fn push_clause(&mut self, sql: &str) {
        self.clauses.push(sql.to_string());
    }
    /// Adds a clause with one placeholder written as `{}` in `template`.
    pub fn push_template(&mut self, template: &str, arg: Arg) {
        self.args.push(arg);
        self.clauses.push(template.replace("{}", &format!("${}", self.args.len())));
    }
    /// Adds a clause with several placeholders written as `{}` in `template`, in order.
    pub fn push_many(&mut self, template: &str, args: Vec<Arg>) {
        let mut out = String::new();
        let mut parts = template.split("{}");
        out.push_str(parts.next().unwrap_or_default());
        for (part, arg) in parts.zip(args) {
            self.args.push(arg);
            out.push_str(&format!("${}", self.args.len()));
            out.push_str(part);
        }
        self.clauses.push(out);
    }

    /// Adds `<sql_lhs> IN ($n, ...)`; an empty list matches nothing.
    pub fn push_in(&mut self, sql_lhs: &str, values: Vec<String>) {
        if values.is_empty() {
            self.clauses.push("1 = 0".into());
            return;
        }
        let mut marks = Vec::with_capacity(values.len());
        for v in values {
            self.args.push(Arg::Text(v));
            marks.push(format!("${}", self.args.len()));
        }
        self.clauses.push(format!("{sql_lhs} IN ({})", marks.join(", ")));
    }
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.clone()),
                Arg::Int(i) => q.bind(*i),
                Arg::Real(f) => q.bind(*f),
            };
        }
        q
    }
}

impl Db {
    /// SQL that yields 'true' or 'false' for a JSON boolean member.
    pub fn json_bool(&self, column: &str, key: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!(
                "(CASE json_type({column}, '$.{key}') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
            ),
            Backend::Postgres => format!("(({column})::jsonb ->> '{key}')"),
        }
    }
}
