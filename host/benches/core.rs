//! capcrm core benchmark: the guarded record path against plain sqlx, measured in the same run, on
//! the same database, with the same pool settings.
//!
//! ```text
//! cargo bench -p capcrm --bench core -- [--contacts N] [--backend sqlite|postgres|both] [--iters K]
//! ```
//!
//! For each backend it seeds N contacts through capcrm (`create_many`) and N plaintext rows of the
//! same shape into a plain table of the same database, then measures, each side warmed up and then
//! interleaved in small alternating chunks so drift hits both sides alike:
//!
//! 1. create one contact (capcrm: validate, seal, blind-index, audit, own transaction) vs one INSERT;
//! 2. read by id (capcrm: access check, decrypt, read audited through the group-commit writer) vs a
//!    primary-key SELECT, sequentially and from concurrent tasks;
//! 3. a page of 50 in id order (capcrm `list`) vs `ORDER BY id LIMIT 50`;
//! 4. equality lookup of one email among N (capcrm blind index) vs an indexed plaintext column.
//!
//! It prints a markdown table (ratio = baseline time / capcrm time, i.e. capcrm's relative
//! throughput) and records it in BENCHMARKS.md at the repository root, one section per backend and
//! configuration. A seeded SQLite database is cached under `target/capcrm-bench/sqlite-<N>/` and
//! reused by later runs (`--fresh` re-seeds). PostgreSQL is seeded afresh into a uniquely named
//! database that is dropped at the end of the run.

use anyhow::{Context, Result, anyhow, bail};
use capcrm::access::{Filter, FilterOp, FilterValue, Identifier, ListQuery, Principal, RecordAccess, WriteOptions};
use capcrm::app::{App, Settings};
use capcrm::crypto::RootKeyring;
use capcrm::crypto::root::RootKeySource;
use capcrm::store::{Location, SQLITE_FILE};
use clap::{Parser, ValueEnum};
use serde_json::{Map, Value};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const ADMIN_USER: &str = "admin";
const ADMIN_PASSWORD: &str = "bench-password-123";
/// The plaintext baseline table, created by the bench in capcrm's own database.
const BASE_TABLE: &str = "bench_plain_contacts";
/// Seeded contacts whose ids are remembered for reads, pages and lookups.
const SAMPLE_TARGET: usize = 4096;
/// Operations per side before the sides swap (interleaving keeps drift from favouring one side).
const CHUNK: usize = 25;
/// Rows per multi-row INSERT when seeding the baseline (7 binds a row).
const BASE_ROWS_PER_STATEMENT: usize = 1000;

// ------------------------------------------------------------------------------------------------
// Command line

#[derive(Parser, Debug, Clone)]
#[command(name = "core", about = "capcrm guarded path vs plain sqlx, same run, same database")]
struct Args {
    /// Contacts to seed for reads, pages and the blind-index lookup.
    #[arg(long, default_value_t = 1_000_000)]
    contacts: usize,
    /// Which backend(s) to measure.
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    backend: BackendChoice,
    /// Measured operations per side and scenario (after warm-up).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Concurrent tasks for the concurrent read-by-id measurement.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Records per `create_many` call while seeding.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// `create_many` calls in flight while seeding (default: 2 on SQLite, 4 on PostgreSQL).
    #[arg(long)]
    seed_jobs: Option<usize>,
    /// Re-seed the cached SQLite database even if one exists for this N.
    #[arg(long)]
    fresh: bool,
    /// PostgreSQL server URL without a database, e.g. postgres://user@127.0.0.1:5432
    /// (default: try users root, then postgres, on 127.0.0.1:5432).
    #[arg(long, env = "CAPCRM_BENCH_PG")]
    pg_url: Option<String>,
    /// Where seeded SQLite databases are cached (default: <target>/capcrm-bench).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// The markdown file to record results in (default: BENCHMARKS.md at the repository root).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Print the table only; do not touch BENCHMARKS.md.
    #[arg(long)]
    no_write: bool,
    /// Also print where capcrm's time goes, statement by statement (from sqlx's statement log;
    /// collecting it costs a little on both sides, so use it for diagnosis, not for the figures).
    #[arg(long)]
    sql_profile: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sqlite => "SQLite",
            Kind::Postgres => "PostgreSQL",
        }
    }
    fn slug(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Statistics

/// Timings of one side of one scenario.
#[derive(Debug, Clone)]
struct Stats {
    ops: usize,
    /// Time per operation: the mean latency when sequential, wall time / operations when concurrent
    /// (so its inverse is the throughput either way).
    per_op: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn sequential(mut lat: Vec<Duration>) -> Stats {
        let total: Duration = lat.iter().sum();
        let per_op = total / lat.len().max(1) as u32;
        Stats::with(per_op, &mut lat)
    }
    fn concurrent(mut lat: Vec<Duration>, wall: Duration) -> Stats {
        let per_op = wall / lat.len().max(1) as u32;
        Stats::with(per_op, &mut lat)
    }
    fn with(per_op: Duration, lat: &mut [Duration]) -> Stats {
        lat.sort_unstable();
        Stats { ops: lat.len(), per_op, p50: percentile(lat, 0.50), p99: percentile(lat, 0.99) }
    }
    fn ops_per_sec(&self) -> f64 {
        1.0 / self.per_op.as_secs_f64().max(1e-12)
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// What design.md section 10 asks of a scenario.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// baseline time / capcrm time must reach this.
    MinRatio(f64),
    /// capcrm's p99 must stay under this many milliseconds.
    MaxP99Ms(f64, &'static str),
}

/// One row of the result table.
#[derive(Debug, Clone)]
struct Measurement {
    scenario: String,
    baseline: Stats,
    capcrm: Stats,
    target: Target,
    /// capcrm operations run, warm-up included (to spread the statement profile per operation).
    calls: usize,
}

impl Measurement {
    fn ratio(&self) -> f64 {
        self.baseline.per_op.as_secs_f64() / self.capcrm.per_op.as_secs_f64().max(1e-12)
    }
    fn target_text(&self) -> String {
        match self.target {
            Target::MinRatio(r) => format!("≥ {r:.2}"),
            Target::MaxP99Ms(ms, mark) => format!("p99 < {ms} ms{mark}"),
        }
    }
    fn passes(&self) -> bool {
        match self.target {
            Target::MinRatio(r) => self.ratio() >= r,
            Target::MaxP99Ms(ms, _) => self.capcrm.p99.as_secs_f64() * 1000.0 < ms,
        }
    }
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 { format!("{us:.1} µs") } else { format!("{:.2} ms", us / 1000.0) }
}

fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{:.1}s", d.as_secs_f64()) }
}

/// A cheap, stateless spread of operation numbers over the samples (splitmix64).
fn pick(k: usize, salt: u64, len: usize) -> usize {
    let mut z = (k as u64).wrapping_add(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % len.max(1) as u64) as usize
}

// ------------------------------------------------------------------------------------------------
// Measuring

/// Runs both sides sequentially: warm-up, then alternating chunks of `CHUNK` operations each.
/// Operation numbers are unique across both phases and shared by the two sides.
async fn measure_sequential(
    warmup: usize,
    iters: usize,
    mut baseline: impl AsyncFnMut(usize) -> Result<()>,
    mut capcrm: impl AsyncFnMut(usize) -> Result<()>,
) -> Result<(Stats, Stats)> {
    for k in 0..warmup {
        baseline(k).await.context("baseline (warm-up)")?;
        capcrm(k).await.context("capcrm (warm-up)")?;
    }
    let (mut b, mut c) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    let mut k = warmup;
    let mut round = 0usize;
    while b.len() < iters {
        let m = CHUNK.min(iters - b.len());
        let baseline_first = round % 2 == 0;
        for pass in 0..2 {
            let is_baseline = (pass == 0) == baseline_first;
            for j in 0..m {
                let t = Instant::now();
                if is_baseline {
                    baseline(k + j).await.context("baseline")?;
                    b.push(t.elapsed());
                } else {
                    capcrm(k + j).await.context("capcrm")?;
                    c.push(t.elapsed());
                }
            }
        }
        k += m;
        round += 1;
    }
    Ok((Stats::sequential(b), Stats::sequential(c)))
}

/// `total` operations spread over `tasks` concurrent tasks; returns per-op latencies and wall time.
async fn run_concurrent<F, Fut>(tasks: usize, total: usize, first_op: usize, op: F) -> Result<(Vec<Duration>, Duration)>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let per_task = total.div_ceil(tasks.max(1));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let op = op.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for j in 0..per_task {
                let t0 = Instant::now();
                op(first_op + t * per_task + j).await?;
                lat.push(t0.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        });
    }
    let mut all = Vec::with_capacity(per_task * tasks);
    while let Some(r) = set.join_next().await {
        all.extend(r.context("a benchmark task panicked")??);
    }
    Ok((all, start.elapsed()))
}

/// Both sides with `tasks` concurrent tasks: a short warm-up, then two rounds in alternating order.
async fn measure_concurrent<FB, FBF, FC, FCF>(tasks: usize, total: usize, baseline: FB, capcrm: FC) -> Result<(Stats, Stats)>
where
    FB: Fn(usize) -> FBF + Clone + Send + Sync + 'static,
    FBF: Future<Output = Result<()>> + Send + 'static,
    FC: Fn(usize) -> FCF + Clone + Send + Sync + 'static,
    FCF: Future<Output = Result<()>> + Send + 'static,
{
    let warm = tasks * 4;
    run_concurrent(tasks, warm, 0, baseline.clone()).await.context("baseline (warm-up)")?;
    run_concurrent(tasks, warm, 0, capcrm.clone()).await.context("capcrm (warm-up)")?;
    let half = total.div_ceil(2);
    let (mut bl, mut cl) = (Vec::new(), Vec::new());
    let (mut bw, mut cw) = (Duration::ZERO, Duration::ZERO);
    for round in 0..2 {
        let first = warm + round * half;
        let order = if round == 0 { [true, false] } else { [false, true] };
        for is_baseline in order {
            if is_baseline {
                let (l, w) = run_concurrent(tasks, half, first, baseline.clone()).await.context("baseline")?;
                bl.extend(l);
                bw += w;
            } else {
                let (l, w) = run_concurrent(tasks, half, first, capcrm.clone()).await.context("capcrm")?;
                cl.extend(l);
                cw += w;
            }
        }
    }
    Ok((Stats::concurrent(bl, bw), Stats::concurrent(cl, cw)))
}

// ------------------------------------------------------------------------------------------------
// Test data

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
    "Radia", "Tim", "Sophie", "Linus", "Hedy", "John", "Mei", "Li", "Anita", "Niklaus",
];
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton",
    "Ritchie", "Perlman", "Berners-Lee", "Wilson", "Torvalds", "Lamarr", "McCarthy", "Zhang", "Wang",
    "Borg", "Wirth",
];
const TITLES: &[&str] = &[
    "Engineer", "Head of Sales", "CTO", "Buyer", "Analyst", "Office Manager", "CFO", "Consultant",
];

/// The six fields of seeded contact `i`; deterministic, so a cached database needs no value list.
fn contact_fields(i: usize) -> [(&'static str, String); 6] {
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    [
        ("first_name", first.to_string()),
        ("last_name", last.to_string()),
        ("email", seeded_email(i)),
        ("phone", format!("+1 555 {:03} {:04}", (i / 10_000) % 1000, i % 10_000)),
        ("national_id", format!("NID{i:010}")),
        ("title", TITLES[i % TITLES.len()].to_string()),
    ]
}

fn seeded_email(i: usize) -> String {
    format!("contact{i}@example.com")
}

/// Fields of a contact created during the create scenario (never collides with seeded emails).
fn created_fields(run: &str, k: usize) -> [(&'static str, String); 6] {
    let mut f = contact_fields(k);
    f[2].1 = format!("new-{run}-{k}@example.org");
    f[4].1 = format!("NEW{k:010}");
    f
}

fn as_input(fields: &[(&'static str, String); 6]) -> Map<String, Value> {
    fields.iter().map(|(k, v)| ((*k).to_string(), Value::String(v.clone()))).collect()
}

/// A seeded contact whose ids on both sides are remembered.
#[derive(Debug, Clone)]
struct Sample {
    i: usize,
    capcrm_id: String,
    baseline_id: String,
}

fn sample_step(n: usize) -> usize {
    (n / SAMPLE_TARGET).max(1)
}

fn write_samples(path: &Path, samples: &[Sample]) -> Result<()> {
    let mut s = String::new();
    for x in samples {
        let _ = writeln!(s, "{}\t{}\t{}", x.i, x.capcrm_id, x.baseline_id);
    }
    std::fs::write(path, s).with_context(|| format!("cannot write {}", path.display()))
}

fn read_samples(path: &Path) -> Result<Vec<Sample>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut p = l.split('\t');
            let bad = || anyhow!("malformed line in {}: {l}", path.display());
            Ok(Sample {
                i: p.next().ok_or_else(bad)?.parse().map_err(|_| bad())?,
                capcrm_id: p.next().ok_or_else(bad)?.to_string(),
                baseline_id: p.next().ok_or_else(bad)?.to_string(),
            })
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// The plain sqlx baseline

/// Plain sqlx pools on the same database, configured like capcrm's own (`store::Db::open`).
struct Baseline {
    write: AnyPool,
    read: AnyPool,
}

const BASE_COLUMNS: &str = "id, first_name, last_name, email, phone, national_id, title";

impl Baseline {
    /// Same file, same PRAGMAs (WAL, synchronous=FULL, foreign keys, busy timeout), same pool sizes
    /// (one writer connection, eight readers) and timeouts as capcrm's SQLite store.
    async fn sqlite(file: &Path) -> Result<Baseline> {
        let url = format!("sqlite://{}?mode=rw", file.display());
        let opts = AnyConnectOptions::from_str(&url).with_context(|| format!("bad SQLite URL {url}"))?;
        let pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 15000").await?;
                        Ok(())
                    })
                })
        };
        let write = pool(1).connect_with(opts.clone()).await.context("cannot open the baseline SQLite writer")?;
        let read = pool(8).connect_with(opts).await.context("cannot open the baseline SQLite readers")?;
        Ok(Baseline { write, read })
    }

    /// One pool of 16, as capcrm's PostgreSQL store.
    async fn postgres(url: &str) -> Result<Baseline> {
        let opts = AnyConnectOptions::from_str(url).context("bad PostgreSQL URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .context("cannot open the baseline PostgreSQL pool")?;
        Ok(Baseline { write: pool.clone(), read: pool })
    }

    async fn create_table(&self) -> Result<()> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {BASE_TABLE} (id TEXT PRIMARY KEY, first_name TEXT, last_name TEXT NOT NULL, \
             email TEXT, phone TEXT, national_id TEXT, title TEXT)"
        );
        sqlx::query(&sql).execute(&self.write).await.context("cannot create the baseline table")?;
        let idx = format!("CREATE INDEX IF NOT EXISTS {BASE_TABLE}_email ON {BASE_TABLE} (email)");
        sqlx::query(&idx).execute(&self.write).await.context("cannot index the baseline table")?;
        Ok(())
    }

    async fn insert(&self, id: String, f: &[(&'static str, String); 6]) -> Result<()> {
        let sql = format!("INSERT INTO {BASE_TABLE} ({BASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let mut q = sqlx::query(&sql).bind(id);
        for (_, v) in f {
            q = q.bind(v.clone());
        }
        q.execute(&self.write).await?;
        Ok(())
    }

    async fn get(&self, id: &str) -> Result<BaseRow> {
        let sql = format!("SELECT {BASE_COLUMNS} FROM {BASE_TABLE} WHERE id = $1");
        let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&self.read).await?;
        BaseRow::from_row(&row.ok_or_else(|| anyhow!("baseline row {id} is missing"))?)
    }

    async fn page_after(&self, after: &str, limit: usize) -> Result<Vec<BaseRow>> {
        let sql = format!("SELECT {BASE_COLUMNS} FROM {BASE_TABLE} WHERE id > $1 ORDER BY id LIMIT {limit}");
        let rows = sqlx::query(&sql).bind(after.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(BaseRow::from_row).collect()
    }

    async fn by_email(&self, email: &str) -> Result<Vec<BaseRow>> {
        let sql = format!("SELECT {BASE_COLUMNS} FROM {BASE_TABLE} WHERE email = $1");
        let rows = sqlx::query(&sql).bind(email.to_string()).fetch_all(&self.read).await?;
        rows.iter().map(BaseRow::from_row).collect()
    }

    async fn count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {BASE_TABLE}")).fetch_one(&self.read).await?)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let n = sqlx::query(&format!("DELETE FROM {BASE_TABLE} WHERE id = $1")).bind(id.to_string()).execute(&self.write).await?.rows_affected();
        if n != 1 {
            bail!("baseline delete of {id} removed {n} rows");
        }
        Ok(())
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// A decoded baseline row (decoded like capcrm decodes, so neither side skips that work).
#[allow(dead_code)]
struct BaseRow {
    id: String,
    first_name: Option<String>,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    national_id: Option<String>,
    title: Option<String>,
}

impl BaseRow {
    fn from_row(r: &sqlx::any::AnyRow) -> Result<BaseRow> {
        Ok(BaseRow {
            id: r.try_get(0)?,
            first_name: r.try_get(1)?,
            last_name: r.try_get(2)?,
            email: r.try_get(3)?,
            phone: r.try_get(4)?,
            national_id: r.try_get(5)?,
            title: r.try_get(6)?,
        })
    }
}

// ------------------------------------------------------------------------------------------------
// One backend under test

struct Bench {
    kind: Kind,
    records: Arc<RecordAccess>,
    base: Arc<Baseline>,
    samples: Arc<Vec<Sample>>,
    /// Tag for values created in this run.
    run: String,
}

/// How the seeded data came to be.
#[derive(Debug, Clone)]
enum Seeding {
    Fresh { n: usize, capcrm: Duration, baseline: Duration, jobs: usize, batch: usize },
    Cached { note: String },
}

impl Seeding {
    fn describe(&self) -> String {
        match self {
            Seeding::Fresh { n, capcrm, baseline, jobs, batch } => format!(
                "seeded {} contacts: capcrm `create_many` {} contacts/s ({} in {}, {jobs} call(s) of {batch} in flight); \
                 plain sqlx multi-row INSERT {} rows/s ({})",
                fmt_int(*n as u64),
                fmt_int((*n as f64 / capcrm.as_secs_f64().max(1e-9)) as u64),
                fmt_int(*n as u64),
                fmt_elapsed(*capcrm),
                fmt_int((*n as f64 / baseline.as_secs_f64().max(1e-9)) as u64),
                fmt_elapsed(*baseline),
            ),
            Seeding::Cached { note } => note.clone(),
        }
    }
    fn marker_line(&self) -> String {
        format!("{} — {}", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"), self.describe())
    }
}

/// Progress on stderr, at most every two seconds.
struct Progress {
    label: String,
    total: usize,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(label: String, total: usize) -> Progress {
        eprintln!("{label}: 0 / {}", fmt_int(total as u64));
        let now = Instant::now();
        Progress { label, total, start: now, last: now }
    }
    fn update(&mut self, done: usize) {
        if self.last.elapsed() < Duration::from_secs(2) && done < self.total {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 { (self.total - done) as f64 / rate } else { 0.0 };
        eprintln!(
            "{}: {} / {} ({} /s, {} elapsed, ETA {})",
            self.label,
            fmt_int(done as u64),
            fmt_int(self.total as u64),
            fmt_int(rate as u64),
            fmt_elapsed(self.start.elapsed()),
            fmt_elapsed(Duration::from_secs_f64(eta)),
        );
    }
}

/// Seeds N contacts through capcrm in `create_many` batches, `jobs` calls in flight.
/// Returns the ids of the sampled contacts, by contact number.
async fn seed_capcrm(kind: Kind, records: Arc<RecordAccess>, n: usize, batch: usize, jobs: usize) -> Result<(Vec<(usize, String)>, Duration)> {
    let step = sample_step(n);
    let batch = batch.max(1);
    let mut progress = Progress::new(format!("[{}] seeding capcrm contacts", kind.slug()), n);
    let start = Instant::now();
    let mut set = JoinSet::new();
    let mut next = 0usize;
    let mut done = 0usize;
    let mut sampled = Vec::new();
    loop {
        while set.len() < jobs.max(1) && next < n {
            let (from, to) = (next, (next + batch).min(n));
            next = to;
            let records = records.clone();
            set.spawn(async move {
                let inputs: Vec<_> = (from..to).map(|i| (as_input(&contact_fields(i)), WriteOptions::default())).collect();
                let ids = records
                    .create_many("contact", &inputs)
                    .await
                    .with_context(|| format!("create_many of contacts {from}..{to}"))?;
                if ids.len() != to - from {
                    bail!("create_many returned {} ids for {} contacts", ids.len(), to - from);
                }
                let picked: Vec<(usize, String)> =
                    ids.into_iter().enumerate().map(|(j, id)| (from + j, id)).filter(|(i, _)| i % step == 0).collect();
                Ok((to - from, picked))
            });
        }
        let Some(r) = set.join_next().await else { break };
        let (count, picked) = r.context("a seeding task panicked")??;
        done += count;
        sampled.extend(picked);
        progress.update(done);
    }
    sampled.sort_by_key(|(i, _)| *i);
    Ok((sampled, start.elapsed()))
}

/// Seeds N plaintext rows of the same shape with multi-row INSERTs, ten statements a transaction.
async fn seed_baseline(kind: Kind, base: &Baseline, n: usize) -> Result<(Vec<(usize, String)>, Duration)> {
    let step = sample_step(n);
    let mut progress = Progress::new(format!("[{}] seeding plain sqlx rows", kind.slug()), n);
    let start = Instant::now();
    let mut sampled = Vec::new();
    let mut i = 0usize;
    while i < n {
        let mut tx = base.write.begin().await?;
        for _ in 0..10 {
            if i >= n {
                break;
            }
            let rows = BASE_ROWS_PER_STATEMENT.min(n - i);
            let mut sql = format!("INSERT INTO {BASE_TABLE} ({BASE_COLUMNS}) VALUES ");
            for r in 0..rows {
                if r > 0 {
                    sql.push(',');
                }
                let b = r * 7;
                let _ = write!(sql, "(${},${},${},${},${},${},${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7);
            }
            let mut q = sqlx::query(&sql);
            for r in 0..rows {
                let id = uuid::Uuid::now_v7().to_string();
                if (i + r) % step == 0 {
                    sampled.push((i + r, id.clone()));
                }
                q = q.bind(id);
                for (_, v) in contact_fields(i + r) {
                    q = q.bind(v);
                }
            }
            q.execute(&mut *tx).await?;
            i += rows;
        }
        tx.commit().await?;
        progress.update(i);
    }
    Ok((sampled, start.elapsed()))
}

fn join_samples(capcrm: Vec<(usize, String)>, baseline: Vec<(usize, String)>) -> Result<Vec<Sample>> {
    if capcrm.len() != baseline.len() {
        bail!("sample mismatch: {} capcrm ids, {} baseline ids", capcrm.len(), baseline.len());
    }
    capcrm
        .into_iter()
        .zip(baseline)
        .map(|((i, c), (j, b))| {
            if i != j {
                bail!("sample mismatch at contact {i}/{j}");
            }
            Ok(Sample { i, capcrm_id: c, baseline_id: b })
        })
        .collect()
}

async fn seed_both(kind: Kind, args: &Args, records: &Arc<RecordAccess>, base: &Baseline) -> Result<(Vec<Sample>, Seeding)> {
    let jobs = args.seed_jobs.unwrap_or(match kind {
        Kind::Sqlite => 2,
        Kind::Postgres => 4,
    });
    let (cs, ct) = seed_capcrm(kind, records.clone(), args.contacts, args.batch, jobs).await?;
    let (bs, bt) = seed_baseline(kind, base, args.contacts).await?;
    let seeding = Seeding::Fresh { n: args.contacts, capcrm: ct, baseline: bt, jobs, batch: args.batch };
    eprintln!("[{}] {}", kind.slug(), seeding.describe());
    Ok((join_samples(cs, bs)?, seeding))
}

fn new_key_file(path: &Path) -> Result<RootKeySource> {
    RootKeyring::create_file(path).with_context(|| format!("cannot create root key file {}", path.display()))?;
    Ok(RootKeySource::File(path.to_path_buf()))
}

fn principal() -> Principal {
    Principal::system("bench")
}

// ------------------------------------------------------------------------------------------------
// Scenarios

impl Bench {
    fn warmup(iters: usize) -> usize {
        (iters / 10).clamp(10, 100)
    }

    /// 1. One contact with six fields, each side its own transaction.
    async fn scenario_create(&self, iters: usize) -> Result<Measurement> {
        let (records, base, run) = (&self.records, &self.base, &self.run);
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| base.insert(uuid::Uuid::now_v7().to_string(), &created_fields(run, k)).await,
            async |k| {
                let view = records.create("contact", &as_input(&created_fields(run, k)), WriteOptions::default()).await?;
                if view.fields.len() != 6 {
                    bail!("capcrm create echoed {} fields, expected 6", view.fields.len());
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: "create contact (6 fields)".into(),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MinRatio(0.65),
        })
    }

    /// 2a. Read one seeded contact by id, one request at a time.
    async fn scenario_get_sequential(&self, iters: usize) -> Result<Measurement> {
        let (records, base, samples) = (&self.records, &self.base, &self.samples);
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| check_base_get(base, &samples[pick(k, 1, samples.len())]).await,
            async |k| check_capcrm_get(records, &samples[pick(k, 1, samples.len())]).await,
        )
        .await?;
        Ok(Measurement {
            scenario: "read by id, sequential".into(),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MinRatio(0.5),
        })
    }

    /// 2b. Read by id from `tasks` concurrent tasks (throughput): the audit group commit amortises.
    async fn scenario_get_concurrent(&self, iters: usize, tasks: usize) -> Result<Measurement> {
        let total = iters.max(tasks * 32);
        let (records, base, samples) = (self.records.clone(), self.base.clone(), self.samples.clone());
        let s2 = samples.clone();
        let (b, c) = measure_concurrent(
            tasks,
            total,
            move |k| {
                let (base, samples) = (base.clone(), samples.clone());
                async move { check_base_get(&base, &samples[pick(k, 2, samples.len())]).await }
            },
            move |k| {
                let (records, samples) = (records.clone(), s2.clone());
                async move { check_capcrm_get(&records, &samples[pick(k, 2, samples.len())]).await }
            },
        )
        .await?;
        Ok(Measurement {
            scenario: format!("read by id, {tasks} concurrent tasks"),
            calls: c.ops + tasks * 4,
            baseline: b,
            capcrm: c,
            target: Target::MinRatio(0.5),
        })
    }

    /// 3. A page of 50 contacts in id order, starting after a random seeded contact.
    async fn scenario_list_page(&self, iters: usize) -> Result<Measurement> {
        let (records, base) = (&self.records, &self.base);
        let n = self.samples.iter().map(|s| s.i).max().unwrap_or(0) + 1;
        // Start far enough from the end that every page is full.
        let starts: Vec<&Sample> = self.samples.iter().filter(|s| s.i + 60 < n).collect();
        if starts.is_empty() {
            bail!("too few contacts for a 50-row page: seed at least 100");
        }
        let starts = &starts;
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| {
                let s = starts[pick(k, 3, starts.len())];
                let rows = base.page_after(&s.baseline_id, 50).await?;
                if rows.len() != 50 {
                    bail!("baseline page has {} rows, expected 50", rows.len());
                }
                Ok(())
            },
            async |k| {
                let s = starts[pick(k, 3, starts.len())];
                let q = ListQuery { filters: Vec::new(), search: None, sort: None, after: Some(s.capcrm_id.clone()), limit: 50 };
                let page = records.list("contact", &q).await?;
                if page.records.len() != 50 {
                    bail!("capcrm page has {} records, expected 50", page.records.len());
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: "list page of 50".into(),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MaxP99Ms(50.0, "¹"),
        })
    }

    /// 4. Equality lookup of one email among N contacts (capcrm: blind index).
    async fn scenario_email_lookup(&self, iters: usize, n: usize) -> Result<Measurement> {
        let (records, base, samples) = (&self.records, &self.base, &self.samples);
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| {
                let s = &samples[pick(k, 4, samples.len())];
                let rows = base.by_email(&seeded_email(s.i)).await?;
                if rows.len() != 1 || rows[0].id != s.baseline_id {
                    bail!("baseline lookup of contact {} found {} row(s)", s.i, rows.len());
                }
                Ok(())
            },
            async |k| {
                let s = &samples[pick(k, 4, samples.len())];
                let filter = Filter { field: "email".into(), op: FilterOp::Eq, value: FilterValue::Text(seeded_email(s.i)) };
                let q = ListQuery { filters: vec![filter], search: None, sort: None, after: None, limit: 50 };
                let page = records.list("contact", &q).await?;
                if page.records.len() != 1 || page.records[0].id != s.capcrm_id {
                    bail!("capcrm lookup of contact {} found {} record(s)", s.i, page.records.len());
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: format!("email lookup among {}", fmt_int(n as u64)),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MaxP99Ms(10.0, "²"),
        })
    }

    /// 5. Find a person by email among N contacts, as a DSR does (capcrm: blind index, every
    /// indexed email field, subject ids handed back) vs the plaintext indexed lookup.
    async fn scenario_subject_find(&self, iters: usize, n: usize) -> Result<Measurement> {
        let (records, base, samples) = (&self.records, &self.base, &self.samples);
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| {
                let s = &samples[pick(k, 5, samples.len())];
                let rows = base.by_email(&seeded_email(s.i)).await?;
                if rows.len() != 1 {
                    bail!("baseline lookup of contact {} found {} row(s)", s.i, rows.len());
                }
                Ok(())
            },
            async |k| {
                let s = &samples[pick(k, 5, samples.len())];
                let found = records.find_subjects(&Identifier::Email(seeded_email(s.i))).await?;
                if found.len() != 1 || !found[0].records.iter().any(|(_, id)| *id == s.capcrm_id) {
                    bail!("capcrm find of contact {} found {} subject(s)", s.i, found.len());
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: format!("DSR: find a subject among {}", fmt_int(n as u64)),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MaxP99Ms(10.0, "²"),
        })
    }

    /// 6. Export every record of one person (capcrm: the subject's records by index, every field
    /// decrypted, audited as an export) vs reading the plaintext row by id.
    async fn scenario_subject_export(&self, iters: usize, n: usize) -> Result<Measurement> {
        let (records, base, samples) = (&self.records, &self.base, &self.samples);
        let mut subjects = Vec::with_capacity(samples.len());
        for s in samples.iter() {
            let view = records.get("contact", &s.capcrm_id).await?;
            subjects.push(view.subject_id.ok_or_else(|| anyhow!("seeded contact {} has no subject", s.i))?);
        }
        let subjects = &subjects;
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| check_base_get(base, &samples[pick(k, 6, samples.len())]).await,
            async |k| {
                let at = pick(k, 6, samples.len());
                let page = records.export_subject_records(&subjects[at], None, 200).await?;
                let email = seeded_email(samples[at].i);
                if page.records.len() != 1 || page.records[0].fields.get("email").and_then(Value::as_str) != Some(email.as_str()) {
                    bail!("capcrm export of contact {} returned {} record(s)", samples[at].i, page.records.len());
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: format!("DSR: export a subject among {}", fmt_int(n as u64)),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MaxP99Ms(10.0, "²"),
        })
    }

    /// 7. Erase one person (capcrm: key destroyed, sealed values, index entries and plugin values
    /// dropped, receipt and audit entry, one transaction) vs deleting the plaintext row. Each side
    /// erases contacts created for it just before, so the seeded ones stay for the next run.
    async fn scenario_subject_erase(&self, iters: usize, n: usize) -> Result<Measurement> {
        let (records, base, run) = (&self.records, &self.base, &self.run);
        let total = Self::warmup(iters) + iters;
        let (mut mine, mut theirs) = (Vec::with_capacity(total), Vec::with_capacity(total));
        for k in 0..total {
            let fields = created_fields(&format!("{run}-erase"), k);
            let view = records.create("contact", &as_input(&fields), WriteOptions::default()).await?;
            mine.push(view.subject_id.ok_or_else(|| anyhow!("a created contact has no subject"))?);
            let id = uuid::Uuid::now_v7().to_string();
            base.insert(id.clone(), &fields).await?;
            theirs.push(id);
        }
        let (mine, theirs) = (&mine, &theirs);
        let (b, c) = measure_sequential(
            Self::warmup(iters),
            iters,
            async |k| base.delete(&theirs[k]).await,
            async |k| {
                let receipt = records.erase_subject(&mine[k], "benchmark").await?;
                if receipt.records != 1 {
                    bail!("capcrm erased {} records, expected 1", receipt.records);
                }
                Ok(())
            },
        )
        .await?;
        Ok(Measurement {
            scenario: format!("DSR: erase a subject among {}", fmt_int(n as u64)),
            calls: c.ops + Self::warmup(iters),
            baseline: b,
            capcrm: c,
            target: Target::MaxP99Ms(10.0, "²"),
        })
    }

    async fn run_all(&self, args: &Args) -> Result<(Vec<Measurement>, String)> {
        let k = self.kind.slug();
        let mut out = Vec::new();
        let mut profile = String::new();
        let mut done = |m: Measurement, out: &mut Vec<Measurement>| {
            if args.sql_profile {
                profile.push_str(&sql_profile::report(self.kind, &m));
            }
            out.push(m);
            sql_profile::reset();
        };
        sql_profile::reset();
        eprintln!("[{k}] 1/8 create ({} ops a side)", args.iters);
        done(self.scenario_create(args.iters).await.context("create scenario")?, &mut out);
        eprintln!("[{k}] 2/8 read by id, sequential");
        done(self.scenario_get_sequential(args.iters).await.context("sequential read scenario")?, &mut out);
        eprintln!("[{k}] 3/8 read by id, {} concurrent tasks", args.concurrency);
        done(self.scenario_get_concurrent(args.iters, args.concurrency).await.context("concurrent read scenario")?, &mut out);
        eprintln!("[{k}] 4/8 list page of 50");
        done(self.scenario_list_page(args.iters).await.context("list scenario")?, &mut out);
        eprintln!("[{k}] 5/8 email lookup");
        done(self.scenario_email_lookup(args.iters, args.contacts).await.context("lookup scenario")?, &mut out);
        eprintln!("[{k}] 6/8 DSR: find a subject");
        done(self.scenario_subject_find(args.iters, args.contacts).await.context("subject find scenario")?, &mut out);
        eprintln!("[{k}] 7/8 DSR: export a subject");
        done(self.scenario_subject_export(args.iters, args.contacts).await.context("subject export scenario")?, &mut out);
        eprintln!("[{k}] 8/8 DSR: erase a subject");
        done(self.scenario_subject_erase(args.iters, args.contacts).await.context("subject erase scenario")?, &mut out);
        Ok((out, profile))
    }
}

async fn check_base_get(base: &Baseline, s: &Sample) -> Result<()> {
    let row = base.get(&s.baseline_id).await?;
    if row.email.as_deref() != Some(seeded_email(s.i).as_str()) {
        bail!("baseline row {} has the wrong email", s.baseline_id);
    }
    Ok(())
}

async fn check_capcrm_get(records: &RecordAccess, s: &Sample) -> Result<()> {
    let view = records.get("contact", &s.capcrm_id).await?;
    if view.fields.get("email").and_then(Value::as_str) != Some(seeded_email(s.i).as_str()) {
        bail!("capcrm record {} has the wrong email", s.capcrm_id);
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Backends

/// What one backend produced.
struct Report {
    kind: Kind,
    contacts: usize,
    iters: usize,
    seeding: Seeding,
    notes: Vec<String>,
    measurements: Vec<Measurement>,
    /// The statement profile, when asked for (printed, not recorded).
    profile: String,
}

fn target_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        // <target>/<profile>/deps/core-<hash>
        if let Some(t) = exe.parent().filter(|d| d.ends_with("deps")).and_then(Path::parent).and_then(Path::parent) {
            return t.to_path_buf();
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

async fn bench_sqlite(args: &Args) -> Result<Report> {
    let kind = Kind::Sqlite;
    let cache = args.cache_dir.clone().unwrap_or_else(|| target_dir().join("capcrm-bench"));
    let dir = cache.join(format!("sqlite-{}", args.contacts));
    let (data, key, marker, samples_file) =
        (dir.join("data"), dir.join("root.key"), dir.join("seeded"), dir.join("samples.tsv"));
    let mut cached = !args.fresh && marker.exists() && samples_file.exists() && data.join(SQLITE_FILE).exists();
    let settings = Settings { location: Location::DataDir(data.clone()), root_key: RootKeySource::File(key.clone()) };
    let mut app = None;
    if cached {
        eprintln!("[sqlite] reusing the seeded database in {} (pass --fresh to re-seed)", dir.display());
        match App::open(&settings).await {
            Ok(a) => app = Some(a),
            Err(e) => {
                // An older database the current schema or migrations no longer accept.
                eprintln!("[sqlite] the cached database cannot be opened ({e:#}); re-seeding it");
                cached = false;
            }
        }
    }
    let app = match app {
        Some(a) => a,
        None => {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let init = Settings { location: Location::DataDir(data.clone()), root_key: new_key_file(&key)? };
            eprintln!("[sqlite] initialising a new database in {}", data.display());
            App::init(&init, ADMIN_USER, ADMIN_PASSWORD).await.context("capcrm init (SQLite)")?;
            App::open(&settings).await.context("capcrm open (SQLite)")?
        }
    };
    let records = Arc::new(app.gate.records(&principal()));
    let base = Arc::new(Baseline::sqlite(&data.join(SQLITE_FILE)).await?);
    base.create_table().await?;

    let (samples, seeding) = if cached {
        let note = std::fs::read_to_string(&marker).unwrap_or_default();
        let seeding = Seeding::Cached { note: format!("cached database reused (seeded {})", note.trim()) };
        (read_samples(&samples_file)?, seeding)
    } else {
        let (samples, seeding) = seed_both(kind, args, &records, &base).await?;
        write_samples(&samples_file, &samples)?;
        std::fs::write(&marker, seeding.marker_line()).with_context(|| format!("cannot write {}", marker.display()))?;
        (samples, seeding)
    };

    let mut notes = Vec::new();
    let version: String = sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&base.read).await?;
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&base.read).await?;
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&base.read).await?;
    if sync != 2 || journal != "wal" {
        bail!("baseline pool is not configured like capcrm's (synchronous={sync}, journal_mode={journal})");
    }
    notes.push(format!(
        "SQLite {version}, both sides on one file ({}), journal_mode=WAL, synchronous=FULL; pools: 1 writer + 8 readers each",
        data.join(SQLITE_FILE).display()
    ));
    notes.push(format!("baseline table holds {} rows", fmt_int(base.count().await? as u64)));

    let bench = Bench { kind, records, base: base.clone(), samples: Arc::new(samples), run: run_tag() };
    let load_before = loadavg();
    let result = bench.run_all(args).await;
    notes.push(load_note(&load_before));
    base.close().await;
    app.db.close().await;
    let (measurements, profile) = result?;
    Ok(Report { kind, contacts: args.contacts, iters: args.iters, seeding, notes, measurements, profile })
}

/// The 1-minute load average (the machine may be shared; the figures should say so).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn load_note(before: &str) -> String {
    format!("1-minute load average {before} before the measurements, {} after", loadavg())
}

fn run_tag() -> String {
    format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp())
}

/// Finds a PostgreSQL server we may create databases on; returns its URL (without a database).
async fn pg_server(args: &Args) -> Result<(String, AnyPool), String> {
    sqlx::any::install_default_drivers();
    let candidates = match &args.pg_url {
        Some(u) => vec![u.trim_end_matches('/').to_string()],
        None => vec!["postgres://root@127.0.0.1:5432".to_string(), "postgres://postgres@127.0.0.1:5432".to_string()],
    };
    let mut errors = Vec::new();
    for server in candidates {
        let url = format!("{server}/postgres");
        let opts = match AnyConnectOptions::from_str(&url) {
            Ok(o) => o,
            Err(e) => {
                errors.push(format!("{}: {e}", capcrm::store::redact_url(&server)));
                continue;
            }
        };
        match AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(5)).connect_with(opts).await {
            Ok(pool) => return Ok((server, pool)),
            Err(e) => errors.push(format!("{}: {e}", capcrm::store::redact_url(&server))),
        }
    }
    Err(errors.join("; "))
}

async fn bench_postgres(args: &Args, server: &str, admin: &AnyPool) -> Result<Report> {
    let name = format!("capcrm_bench_{}_{}", args.contacts, run_tag().replace('-', "_"));
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .with_context(|| format!("cannot create database {name}"))?;
    eprintln!("[postgres] created database {name} (dropped at the end of the run)");
    let keydir = tempfile::tempdir().context("cannot create a temporary directory for the root key")?;
    let result = bench_postgres_in(args, &format!("{server}/{name}"), keydir.path()).await;
    match admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await {
        Ok(_) => eprintln!("[postgres] dropped database {name}"),
        Err(e) => eprintln!("[postgres] could not drop database {name}: {e}; drop it by hand"),
    }
    result
}

async fn bench_postgres_in(args: &Args, url: &str, keydir: &Path) -> Result<Report> {
    let kind = Kind::Postgres;
    let settings = Settings { location: Location::Postgres(url.to_string()), root_key: new_key_file(&keydir.join("root.key"))? };
    App::init(&settings, ADMIN_USER, ADMIN_PASSWORD).await.context("capcrm init (PostgreSQL)")?;
    let app = App::open(&settings).await.context("capcrm open (PostgreSQL)")?;
    let records = Arc::new(app.gate.records(&principal()));
    let base = Arc::new(Baseline::postgres(url).await?);
    let run = async {
        base.create_table().await?;
        let (samples, seeding) = seed_both(kind, args, &records, &base).await?;
        let show = async |what: &str| -> Result<String> {
            let row = sqlx::query(&format!("SHOW {what}")).fetch_one(&base.read).await?;
            Ok(row.try_get::<String, _>(0)?)
        };
        let mut notes = vec![format!(
            "PostgreSQL {}, both sides in one database, fsync={}, synchronous_commit={}; one pool of 16 each",
            show("server_version").await?,
            show("fsync").await?,
            show("synchronous_commit").await?,
        )];
        // Fresh statistics after the bulk load, as a DBA would run (both sides' tables).
        sqlx::query("ANALYZE").execute(&base.write).await?;
        let bench = Bench { kind, records: records.clone(), base: base.clone(), samples: Arc::new(samples), run: run_tag() };
        let load_before = loadavg();
        let (measurements, profile) = bench.run_all(args).await?;
        notes.push(load_note(&load_before));
        Ok::<_, anyhow::Error>(Report { kind, contacts: args.contacts, iters: args.iters, seeding, notes, measurements, profile })
    }
    .await;
    base.close().await;
    app.db.close().await;
    run
}

// ------------------------------------------------------------------------------------------------
// Where the time goes: sqlx logs every statement it runs (target `sqlx::query`, with its elapsed
// time); a tracing layer sums them by statement text. BEGIN and COMMIT on SQLite are not logged
// (sqlx runs them inside its connection worker), so their time, the fsync included, lands in the
// remainder together with pool waits, crypto and channel hops.

mod sql_profile {
    use super::{BASE_TABLE, Kind, Measurement, fmt_dur};
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::{Layer, filter};

    type Table = HashMap<String, (u64, f64)>;
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();

    fn table() -> &'static Mutex<Table> {
        TABLE.get_or_init(|| Mutex::new(HashMap::new()))
    }

    #[derive(Default)]
    struct Fields {
        statement: String,
        summary: String,
        secs: f64,
    }
    impl Visit for Fields {
        fn record_str(&mut self, f: &Field, v: &str) {
            match f.name() {
                "db.statement" => self.statement = v.to_string(),
                "summary" => self.summary = v.to_string(),
                _ => {}
            }
        }
        fn record_f64(&mut self, f: &Field, v: f64) {
            if f.name() == "elapsed_secs" {
                self.secs = v;
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    struct Collector;
    impl<S: tracing::Subscriber> Layer<S> for Collector {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            let mut f = Fields::default();
            event.record(&mut f);
            let text = if f.statement.trim().is_empty() { f.summary } else { f.statement };
            let mut key: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if key.len() > 100 {
                let mut cut = 100;
                while !key.is_char_boundary(cut) {
                    cut -= 1;
                }
                key.truncate(cut);
                key.push('…');
            }
            if let Ok(mut t) = table().lock() {
                let e = t.entry(key).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += f.secs;
            }
        }
    }

    pub fn install() {
        let layer = Collector.with_filter(filter::filter_fn(|m| m.target() == "sqlx::query"));
        let subscriber = tracing_subscriber::registry().with(layer);
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            eprintln!("warning: a tracing subscriber is already installed; --sql-profile is off");
        }
    }

    pub fn reset() {
        if let Ok(mut t) = table().lock() {
            t.clear();
        }
    }

    /// capcrm's statements during one scenario, per capcrm operation, biggest first.
    pub fn report(kind: Kind, m: &Measurement) -> String {
        let rows: Vec<(String, u64, f64)> = match table().lock() {
            Ok(t) => t.iter().filter(|(k, _)| !k.contains(BASE_TABLE)).map(|(k, (n, s))| (k.clone(), *n, *s)).collect(),
            Err(_) => return String::new(),
        };
        let mut rows = rows;
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        let calls = m.calls.max(1) as f64;
        let logged: f64 = rows.iter().map(|r| r.2).sum::<f64>() / calls;
        let mut s = String::new();
        let _ = writeln!(s, "#### {} — {}: capcrm statements per operation ({} operations)", kind.name(), m.scenario, m.calls);
        let _ = writeln!(s);
        let _ = writeln!(s, "| calls/op | time/op | statement |");
        let _ = writeln!(s, "|---:|---:|---|");
        for (k, n, secs) in rows.iter().take(12) {
            let _ = writeln!(s, "| {:.2} | {} | `{}` |", *n as f64 / calls, fmt_dur(Duration::from_secs_f64(secs / calls)), k.replace('|', "\\|"));
        }
        let _ = writeln!(
            s,
            "\nlogged statements: {} per operation; operation mean: {}; the rest (BEGIN/COMMIT and fsync on SQLite, \
             pool waits, crypto, task hops): {}\n",
            fmt_dur(Duration::from_secs_f64(logged)),
            fmt_dur(m.capcrm.per_op),
            fmt_dur(m.capcrm.per_op.saturating_sub(Duration::from_secs_f64(logged))),
        );
        s
    }
}

// ------------------------------------------------------------------------------------------------
// Output

struct Machine {
    nproc: usize,
    cpu: String,
    mem: String,
    kernel: String,
    date: String,
    command: String,
}

impl Machine {
    fn collect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_string))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
            .map(|kb| format!("{:.1} GiB RAM", kb as f64 / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown RAM".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| format!("Linux {}", s.trim())).unwrap_or_default();
        let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
        let mut command = "cargo bench -p capcrm --bench core".to_string();
        if !args.is_empty() {
            command.push_str(" -- ");
            command.push_str(&args.join(" "));
        }
        Machine {
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu,
            mem,
            kernel,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            command,
        }
    }
    fn describe(&self) -> String {
        format!("nproc {}, {}, {}, {}", self.nproc, self.cpu, self.mem, self.kernel)
    }
}

fn render_report(r: &Report, m: &Machine) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### {} — {} contacts, {} iterations a side", r.kind.name(), fmt_int(r.contacts as u64), r.iters);
    let _ = writeln!(s);
    let _ = writeln!(s, "- Command: `{}`", m.command);
    let _ = writeln!(s, "- Date: {}; machine: {}", m.date, m.describe());
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(s, "- Seeding: {}", r.seeding.describe());
    let _ = writeln!(s);
    let _ = writeln!(s, "| Scenario | plain sqlx mean | plain sqlx p99 | capcrm mean | capcrm p99 | ratio | target | result |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---|---|");
    for x in &r.measurements {
        let conc = x.scenario.contains("concurrent");
        let mean = |st: &Stats| {
            if conc { format!("{} ({} ops/s)", fmt_dur(st.per_op), fmt_int(st.ops_per_sec() as u64)) } else { fmt_dur(st.per_op) }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            x.scenario,
            mean(&x.baseline),
            fmt_dur(x.baseline.p99),
            mean(&x.capcrm),
            fmt_dur(x.capcrm.p99),
            x.ratio(),
            x.target_text(),
            if x.passes() { "pass" } else { "**miss**" },
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "ratio = plain sqlx time / capcrm time per operation (capcrm's relative throughput); for concurrent rows \
         \"mean\" is wall time / operations. p50: {}.",
        r.measurements
            .iter()
            .map(|x| format!("{} {} vs {} (n = {} / {})", x.scenario, fmt_dur(x.baseline.p50), fmt_dur(x.capcrm.p50), x.baseline.ops, x.capcrm.ops))
            .collect::<Vec<_>>()
            .join("; ")
    );
    s
}

const FOOTNOTES: &str = "¹ design.md's list target is for HTTP at 500 requests/s; here it is the in-process, sequential p99.  \n\
² design.md's DSR target (find one subject among 1,000,000 contacts, p99 under 10 ms); only meaningful at N = 1,000,000.\n";

const HEADER: &str = "# Benchmarks\n\n\
Produced by `host/benches/core.rs`; see the method notes above the results when editing this file by hand.\n\n";

/// Records a report in the markdown file: replaces the section for the same backend and
/// configuration, or appends one.
fn record(path: &Path, r: &Report, m: &Machine) -> Result<()> {
    let key = format!("{} contacts={} iters={}", r.kind.slug(), r.contacts, r.iters);
    let (open, close) = (format!("<!-- bench-run: {key} -->"), format!("<!-- /bench-run: {key} -->"));
    let section = format!("{open}\n{}\n{FOOTNOTES}{close}\n", render_report(r, m));
    let mut doc = std::fs::read_to_string(path).unwrap_or_else(|_| HEADER.to_string());
    match (doc.find(&open), doc.find(&close)) {
        (Some(a), Some(b)) if b > a => {
            let end = b + close.len();
            let end = if doc[end..].starts_with('\n') { end + 1 } else { end };
            doc.replace_range(a..end, &section);
        }
        _ => {
            if !doc.ends_with("\n\n") {
                doc.push('\n');
            }
            doc.push_str(&section);
        }
    }
    std::fs::write(path, doc).with_context(|| format!("cannot write {}", path.display()))
}

async fn run(args: Args) -> Result<()> {
    if args.contacts < 100 {
        bail!("--contacts must be at least 100");
    }
    if args.iters == 0 || args.concurrency == 0 {
        bail!("--iters and --concurrency must be positive");
    }
    if args.sql_profile {
        sql_profile::install();
    }
    let machine = Machine::collect();
    eprintln!("capcrm core benchmark: {}", machine.command);
    eprintln!("machine: {}", machine.describe());
    let mut reports = Vec::new();
    let mut skipped = Vec::new();
    if matches!(args.backend, BackendChoice::Sqlite | BackendChoice::Both) {
        reports.push(bench_sqlite(&args).await.context("SQLite benchmark")?);
    }
    if matches!(args.backend, BackendChoice::Postgres | BackendChoice::Both) {
        match pg_server(&args).await {
            Ok((server, admin)) => {
                let r = bench_postgres(&args, &server, &admin).await.context("PostgreSQL benchmark");
                admin.close().await;
                reports.push(r?);
            }
            Err(why) => {
                let msg = format!("PostgreSQL was skipped: no server reachable ({why})");
                eprintln!("{msg}");
                skipped.push(msg);
            }
        }
    }
    let output = args.output.clone().unwrap_or_else(|| repo_root().join("BENCHMARKS.md"));
    println!();
    for r in &reports {
        println!("{}", render_report(r, &machine));
        if !r.profile.is_empty() {
            println!("{}", r.profile);
        }
        if !args.no_write {
            record(&output, r, &machine)?;
        }
    }
    print!("{FOOTNOTES}");
    for s in &skipped {
        println!("\n{s}");
    }
    if !args.no_write && !reports.is_empty() {
        println!("\nrecorded in {}", output.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
