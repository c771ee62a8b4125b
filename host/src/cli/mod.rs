//! The `capcrm` command line. `main.rs` hands over to [`main`]; each command is a few lines that
//! call into the library.

mod serve;

use crate::app::{App, Settings};
use crate::crypto::RootKeyring;
use crate::crypto::root::RootKeySource;
use crate::store::Location;
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "capcrm", version, about = "A CRM engine whose customer data is protected by construction")]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct GlobalArgs {
    /// A TOML configuration file (keys: data_dir, database_url, key_file, listen, tls_cert, tls_key).
    #[arg(long, global = true, env = "CAPCRM_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for the embedded SQLite database [default: ./capcrm-data].
    #[arg(long, global = true, env = "CAPCRM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Use PostgreSQL instead of SQLite (postgres://user@host/db).
    #[arg(long, global = true, env = "CAPCRM_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Root key file (mode 0600) [default: <data-dir>.root.key beside the data directory].
    /// The key may instead come from CAPCRM_ROOT_KEY.
    #[arg(long, global = true, env = "CAPCRM_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The backup catalogue: `capcrm backup` writes here by default, and the server carries every
    /// erasure into the backups here [default with SQLite: <data-dir>.backups beside the data
    /// directory; with PostgreSQL: none].
    #[arg(long, global = true, env = "CAPCRM_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    key_file: Option<PathBuf>,
    backup_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the database, the root key (if none is given) and the first admin account.
    Init(InitArgs),
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Initialise if needed, seed realistic demo data, and run the server.
    Demo(serve::DemoArgs),
    /// Root key operations.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Audit trail operations.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Custom objects and fields.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// People: users with roles and teams (the same as `/api/v1/users`, for operators).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Plugins: install, inspect, approve all or part, revoke, disable, uninstall.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Write an encrypted, consistent backup of the whole database (the server may keep running).
    /// Sessions are not included: after a restore every user signs in again.
    Backup {
        /// The backup file to create; an existing file is never overwritten. Default: a new file
        /// in the backup catalogue, where later erasures reach it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Carry every erasure into backups taken before it (their copies of the erased subjects'
    /// keys are destroyed): the files named, or every backup in the catalogue. The server does
    /// this for the catalogue by itself; this is for copies kept elsewhere.
    ScrubBackups {
        /// Backup files; none: every backup in the catalogue.
        files: Vec<PathBuf>,
    },
    /// Restore a backup into a new data directory or an empty PostgreSQL database, then verify
    /// the keys and the audit chain. Needs the root key the backup was made under.
    Restore {
        /// The backup file to read.
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Args, Debug)]
struct InitArgs {
    /// User name of the first admin.
    #[arg(long, default_value = "admin")]
    admin_user: String,
    /// Password of the first admin; generated and printed once if not given.
    #[arg(long, env = "CAPCRM_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Add a root key version and re-wrap every data key under it, online. Records are not rewritten.
    Rotate,
    /// Show root key versions, their states and how many data keys each wraps.
    Status,
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check the whole chain; exits 0 when intact, 1 naming the first bad entry otherwise.
    Verify,
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Print the objects and fields (or one object) as JSON.
    Show { object: Option<String> },
    /// Add a custom field: `capcrm schema add-field contact '{"name":"vip_level","label":"VIP level","type":{"kind":"integer"},"classification":"internal"}'`
    AddField { object: String, definition: String },
    /// Add a custom object from its JSON definition (name, label, subject_mode, custom, fields).
    AddObject { definition: String },
}

#[derive(Subcommand, Debug)]
enum PluginCommand {
    /// Store a component and its manifest as a new version, pending approval.
    Install {
        /// The component (.wasm built for wasm32-wasip2).
        wasm: PathBuf,
        /// The manifest (plugin.toml).
        #[arg(long)]
        manifest: PathBuf,
    },
    /// List installed plugins.
    List,
    /// Print exactly what a plugin asks for, what was granted, and what a pending upgrade adds.
    Show { name: String },
    /// Approve a pending version: everything it asks for, or all but the `--deny`ed capabilities.
    Approve {
        name: String,
        /// A specific version (default: the newest pending one).
        #[arg(long)]
        version: Option<String>,
        /// A capability to leave out, e.g. `read:contact.email` (repeatable).
        #[arg(long = "deny")]
        deny: Vec<String>,
    },
    /// Withdraw the grant; the next call is refused.
    Revoke { name: String },
    /// Stop running the plugin, keeping its grant.
    Disable { name: String },
    /// Run a disabled plugin again.
    Enable { name: String },
    /// Remove the plugin, its versions and its stored data.
    Uninstall { name: String },
    /// Run a plugin against a throwaway store loaded from fixtures, its manifest approved in full,
    /// and report every field and key it touched. Events run first, then requests, then jobs, each
    /// in the order given. Exits 1 on a trap, an error, or an unexpected (or missing) denial.
    Test {
        #[arg(long)]
        wasm: PathBuf,
        #[arg(long)]
        manifest: PathBuf,
        /// JSON: {"<object>": [{"id": "<uuid>", "fields": {...}}]}
        #[arg(long)]
        fixtures: Option<PathBuf>,
        /// `<kind>:<object>:<fixture id>` (repeatable).
        #[arg(long = "event")]
        events: Vec<String>,
        /// `"<METHOD> <path>[?<query>]"` (repeatable).
        #[arg(long = "request")]
        requests: Vec<String>,
        /// A scheduled job name (repeatable).
        #[arg(long = "job")]
        jobs: Vec<String>,
        /// `<object>` or `<object>.<field>` the plugin is expected to be denied (repeatable).
        #[arg(long = "expect-denied")]
        expect_denied: Vec<String>,
    },
    /// Run a version before approving it, against the real records, always rolled back, and show
    /// which fields of which records would cross the boundary (names and ids only).
    Preview {
        name: String,
        #[arg(long)]
        version: Option<String>,
        /// Preview as if this capability were denied (repeatable).
        #[arg(long = "deny")]
        deny: Vec<String>,
        /// `<kind>:<object>:<record id>` (repeatable).
        #[arg(long = "event")]
        events: Vec<String>,
        /// `"<METHOD> <path>[?<query>]"` (repeatable).
        #[arg(long = "request")]
        requests: Vec<String>,
        /// A scheduled job name (repeatable).
        #[arg(long = "job")]
        jobs: Vec<String>,
    },
    /// Events that failed every delivery attempt to the plugin.
    DeadLetters { name: String },
    /// Queue dead-lettered events again (all, or one with --event).
    Replay {
        name: String,
        #[arg(long)]
        event: Option<String>,
    },
    /// Show, or change, the maxima that cap every plugin's limits (install refuses manifests
    /// asking for more; running plugins are capped from their next call). Unset flags keep
    /// their current value.
    Maxima {
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Set one plugin's limits in place of what its manifest asks for (each within the maxima);
    /// `--clear` goes back to the manifest's.
    Limits {
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
        #[arg(long, conflicts_with_all = ["memory_mb", "timeout_ms", "host_calls", "storage_bytes"])]
        clear: bool,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user. The password comes from the environment variable named by
    /// `--password-env` (default CAPCRM_NEW_PASSWORD), or is generated and printed once.
    Add {
        username: String,
        /// A role (repeatable): admin, manager, sales, support, privacy_officer, auditor, or your own.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A team (repeatable); created if it does not exist.
        #[arg(long = "team")]
        teams: Vec<String>,
        #[arg(long, default_value = "CAPCRM_NEW_PASSWORD")]
        password_env: String,
    },
    /// Every user with roles, teams and state.
    List,
    /// Disable a user: every session and token ends at once; `--reassign-to` hands over their records.
    Disable {
        username: String,
        #[arg(long)]
        reassign_to: Option<String>,
    },
    /// Enable a disabled user again.
    Enable { username: String },
    /// Remove a user's second factor (a lost device); they enrol again at the next sign-in.
    ResetMfa { username: String },
}

#[derive(clap::Args, Debug, Default)]
struct LimitArgs {
    /// Linear memory, in MiB.
    #[arg(long)]
    memory_mb: Option<u32>,
    /// Wall-clock deadline of one invocation, in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// Host calls one invocation may make.
    #[arg(long)]
    host_calls: Option<u32>,
    /// Plugin storage quota, in bytes.
    #[arg(long)]
    storage_bytes: Option<u64>,
}

impl LimitArgs {
    fn is_empty(&self) -> bool {
        self.memory_mb.is_none() && self.timeout_ms.is_none() && self.host_calls.is_none() && self.storage_bytes.is_none()
    }
}

fn print_maxima(m: &crate::plugin::manifest::LimitMaxima) {
    println!("plugin limit maxima: memory_mb {} timeout_ms {} host_calls {} storage_bytes {}", m.memory_mb, m.timeout_ms, m.host_calls, m.storage_bytes);
}

fn print_plugin(info: &crate::plugin::registry::PluginInfo) {
    println!("plugin {} ({}), running version: {}", info.name, info.state, info.active_version.as_deref().unwrap_or("none"));
    if let Some(l) = &info.limits {
        let storage = l.storage_bytes.map(|b| format!(" storage_bytes {b}")).unwrap_or_default();
        let set = if info.limit_overrides.is_empty() { "" } else { " (set by an administrator)" };
        println!("  limits: memory_mb {} timeout_ms {} host_calls {}{storage}{set}", l.memory_mb, l.timeout_ms, l.host_calls);
    }
    for v in &info.versions {
        println!("\n  version {} [{}] {}", v.version, v.status, v.code_hash);
        println!("  author:  {}\n  purpose: {}\n  about:   {}", v.author, v.purpose, v.description);
        println!("  asks for:");
        for c in &v.requested {
            let mark = if v.granted.contains(c) { "granted" } else if v.status == "pending" { "pending" } else { "not granted" };
            println!("    {c:<48} {mark}");
        }
        if !v.adds.is_empty() {
            println!("  adds beyond the running grant: {}", v.adds.join(", "));
        }
        if !v.drops.is_empty() {
            println!("  no longer asks for: {}", v.drops.join(", "));
        }
    }
}

/// Resolved settings plus the file config for commands that need more.
struct Resolved {
    settings: Settings,
    /// The backup catalogue, if there is one.
    backup_dir: Option<PathBuf>,
    file: FileConfig,
    data_dir: PathBuf,
    key_file: Option<PathBuf>,
}

fn resolve(g: &GlobalArgs) -> anyhow::Result<Resolved> {
    let file: FileConfig = match &g.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("cannot read config file {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let data_dir = g.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("capcrm-data"));
    let database_url = g.database_url.clone().or(file.database_url.clone());
    let location = match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Location::Postgres(url),
        Some(_) => bail!("--database-url must start with postgres:// (SQLite is the default: use --data-dir)"),
        None => Location::DataDir(data_dir.clone()),
    };
    let env_key = std::env::var("CAPCRM_ROOT_KEY").ok().filter(|s| !s.trim().is_empty());
    let key_file = g.key_file.clone().or(file.key_file.clone());
    let (root_key, key_file) = match (env_key, key_file) {
        (Some(_), Some(_)) => bail!("both CAPCRM_ROOT_KEY and a key file are set: choose one"),
        (Some(k), None) => (RootKeySource::Env(zeroize::Zeroizing::new(k)), None),
        (None, Some(f)) => (RootKeySource::File(f.clone()), Some(f)),
        (None, None) => {
            let f = Settings::default_key_file(&data_dir);
            (RootKeySource::File(f.clone()), Some(f))
        }
    };
    let backup_dir = g.backup_dir.clone().or(file.backup_dir.clone()).or_else(|| match &location {
        Location::DataDir(d) => Some(Settings::default_backup_dir(d)),
        Location::Postgres(_) => None,
    });
    Ok(Resolved { settings: Settings { location, root_key }, backup_dir, file, data_dir, key_file })
}

/// Creates a directory readable by its owner only (backups are encrypted, but their names and
/// sizes are nobody else's business either).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).with_context(|| format!("cannot create the backup catalogue {}", dir.display()))
}

pub(crate) fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// `init`: creates the key file when none exists, then the database. Returns the admin password
/// when it was generated.
async fn init(r: &Resolved, admin_user: &str, password: Option<String>) -> anyhow::Result<Option<String>> {
    if let (RootKeySource::File(path), true) = (&r.settings.root_key, r.key_file.as_ref().is_some_and(|p| !p.exists())) {
        RootKeyring::create_file(path)?;
        eprintln!("created root key file {} (mode 0600): keep it apart from the data and its backups", path.display());
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(generate_password);
    App::init(&r.settings, admin_user, &password).await?;
    Ok(generated.then_some(password))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let r = resolve(&cli.global)?;
    match cli.command {
        Command::Init(a) => {
            let generated = init(&r, &a.admin_user, a.admin_password).await?;
            println!("initialised {}", r.settings.location.describe());
            if let Some(pw) = generated {
                println!("admin user: {}\nadmin password (shown once): {pw}", a.admin_user);
            }
        }
        Command::Serve(a) => serve::serve(&r, a).await?,
        Command::Demo(a) => serve::demo(&r, a).await?,
        Command::Keys { command } => {
            let app = App::open(&r.settings).await?;
            match command {
                KeysCommand::Rotate => {
                    let (version, n) = app.keys.rotate(&app.db, |done| eprint!("\rre-wrapped {done} data keys")).await?;
                    eprintln!();
                    let ev = crate::audit::Event::new(&crate::audit::Actor::system("cli"), "key.rotate", crate::audit::Outcome::Allowed)
                        .detail(format!("root key version {version} active; {n} data keys re-wrapped"));
                    app.gate.audit_event(ev).await?;
                    println!("root key version {version} is active; {n} data keys re-wrapped; older versions retired");
                    println!("older versions stay in the key file: backups taken before this rotation need them");
                }
                KeysCommand::Status => {
                    for (v, state, n) in app.keys.status(&app.db).await? {
                        println!("root key v{v}: {state}, wraps {n} data keys");
                    }
                }
            }
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let app = App::open(&r.settings).await?;
            let report = crate::audit::verify_chain(&app.db, app.gate.audit().chain_key()).await?;
            if report.intact {
                println!("audit chain intact: {} entries verified", report.entries);
            } else {
                println!(
                    "audit chain BROKEN at entry {}: {}",
                    report.first_bad_seq.unwrap_or_default(),
                    report.problem.unwrap_or_default()
                );
                return Ok(ExitCode::from(1));
            }
        }
        Command::Plugin { command } => return plugin_command(&r, command).await,
        Command::User { command } => user_command(&r, command).await?,
        Command::Schema { command } => {
            let app = App::open(&r.settings).await?;
            let admin = crate::access::Principal::system("cli");
            match command {
                SchemaCommand::Show { object } => {
                    let schema = app.gate.schema();
                    let out = match object {
                        Some(o) => serde_json::to_string_pretty(schema.object(&o).with_context(|| format!("unknown object `{o}`"))?)?,
                        None => serde_json::to_string_pretty(&schema.objects().collect::<Vec<_>>())?,
                    };
                    println!("{out}");
                }
                SchemaCommand::AddField { object, definition } => {
                    let def = serde_json::from_str(&definition).context("the field definition is not valid JSON of a field")?;
                    let o = app.gate.add_custom_field(&admin, &object, def).await?;
                    println!("{}", serde_json::to_string_pretty(&o)?);
                }
                SchemaCommand::AddObject { definition } => {
                    let def = serde_json::from_str(&definition).context("the object definition is not valid JSON of an object")?;
                    let o = app.gate.add_custom_object(&admin, def).await?;
                    println!("{}", serde_json::to_string_pretty(&o)?);
                }
            }
        }
        Command::Backup { out } => {
            let out = match (out, &r.backup_dir) {
                (Some(o), _) => o,
                (None, Some(dir)) => {
                    create_private_dir(dir)?;
                    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                    dir.join(format!("capcrm-{stamp}.{}", crate::backup::scrub::EXTENSION))
                }
                (None, None) => bail!("name the backup file with --out, or set a backup catalogue with --backup-dir"),
            };
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            println!("{}", crate::backup::run_backup(&r.settings, &out, progress).await?);
        }
        Command::ScrubBackups { files } => {
            let files = match (files.is_empty(), &r.backup_dir) {
                (false, _) => files,
                (true, Some(dir)) => crate::backup::scrub::catalogue(dir)?,
                (true, None) => bail!("name the backup files, or set a backup catalogue with --backup-dir"),
            };
            let ring = RootKeyring::load(r.settings.root_key.clone())?;
            let db = crate::store::Db::open(&r.settings.location, false).await?;
            let ledger = crate::backup::scrub::ledger(&db).await;
            db.close().await;
            let ledger = ledger?;
            for f in files {
                println!("{}", crate::backup::scrub::scrub_blocking(f, ring.clone(), ledger.clone()).await?);
            }
        }
        Command::Restore { from } => {
            let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
            println!("{}", crate::backup::restore(&from, &r.settings, progress).await?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn plugin_test(
    wasm: &std::path::Path,
    manifest: &std::path::Path,
    fixtures: Option<&std::path::Path>,
    steps: Vec<crate::plugin::harness::Step>,
    expect_denied: &[String],
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let text = std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let fixtures = match fixtures {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        None => "{}".into(),
    };
    let report = crate::plugin::harness::run(&bytes, &text, &fixtures, &steps, expect_denied).await?;
    for l in &report.lines {
        println!("{l}");
    }
    println!("{} passed, {} failed", report.passed, report.failed);
    Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn user_command(r: &Resolved, command: UserCommand) -> anyhow::Result<()> {
    use crate::access::people::{NewUser, UserChange};
    let app = App::open(&r.settings).await?;
    let op = crate::access::Principal::system("cli");
    let id_of = |users: &[crate::access::people::UserInfo], name: &str| -> anyhow::Result<String> {
        users.iter().find(|u| u.username == name).map(|u| u.id.clone()).ok_or_else(|| anyhow::anyhow!("no user named `{name}`"))
    };
    match command {
        UserCommand::Add { username, roles, teams, password_env } => {
            let given = std::env::var(&password_env).ok();
            let password = given.clone().unwrap_or_else(generate_password);
            let existing = app.gate.teams(&op).await?;
            for t in &teams {
                if !existing.iter().any(|e| &e.name == t) {
                    app.gate.create_team(&op, t).await?;
                }
            }
            let u = app.gate.create_user(&op, &app.auth, NewUser { username, password: password.clone(), roles, teams }).await?;
            println!("created {} ({}) with roles {}", u.username, u.id, u.roles.join(", "));
            if given.is_none() {
                println!("password (shown once): {password}");
            }
        }
        UserCommand::List => {
            for u in app.gate.users(&op).await? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                let mfa = if u.mfa_enabled { ", TOTP" } else { "" };
                println!(
                    "{:<24} {state}{mfa}  roles: {}  teams: {}  last sign-in: {}",
                    u.username,
                    u.roles.join(","),
                    if u.teams.is_empty() { "-".to_string() } else { u.teams.join(",") },
                    u.last_login_at.as_deref().unwrap_or("never")
                );
            }
        }
        UserCommand::Disable { username, reassign_to } => {
            let users = app.gate.users(&op).await?;
            let id = id_of(&users, &username)?;
            let to = reassign_to.as_deref().map(|n| id_of(&users, n)).transpose()?;
            app.gate.update_user(&op, &app.auth, &id, UserChange { disabled: Some(true), reassign_to: to, ..Default::default() }).await?;
            println!("disabled {username}; every session and token is revoked");
        }
        UserCommand::Enable { username } => {
            let id = id_of(&app.gate.users(&op).await?, &username)?;
            app.gate.update_user(&op, &app.auth, &id, UserChange { disabled: Some(false), ..Default::default() }).await?;
            println!("enabled {username}");
        }
        UserCommand::ResetMfa { username } => {
            let id = id_of(&app.gate.users(&op).await?, &username)?;
            app.gate.update_user(&op, &app.auth, &id, UserChange { reset_mfa: Some(true), ..Default::default() }).await?;
            println!("removed the second factor of {username}; they enrol again at the next sign-in");
        }
    }
    app.db.close().await;
    Ok(())
}

async fn plugin_command(r: &Resolved, command: PluginCommand) -> anyhow::Result<ExitCode> {
    if let PluginCommand::Test { wasm, manifest, fixtures, events, requests, jobs, expect_denied } = command {
        use crate::plugin::harness::Step;
        let steps: Vec<Step> = events
            .into_iter()
            .map(Step::Event)
            .chain(requests.into_iter().map(Step::Request))
            .chain(jobs.into_iter().map(Step::Job))
            .collect();
        return plugin_test(&wasm, &manifest, fixtures.as_deref(), steps, &expect_denied).await;
    }
    let app = App::open(&r.settings).await?;
    let admin = crate::access::Principal::system("cli");
    let reg = &app.plugins.registry;
    match command {
        PluginCommand::Install { wasm, manifest } => {
            let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            let text = std::fs::read_to_string(&manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
            print_plugin(&app.plugins.install(&admin, &bytes, &text).await?);
        }
        PluginCommand::List => {
            for p in reg.list().await? {
                let pending = p.versions.iter().filter(|v| v.status == "pending").count();
                println!("{:<24} {:<9} running {:<10} {pending} pending", p.name, p.state, p.active_version.as_deref().unwrap_or("-"));
            }
        }
        PluginCommand::Show { name } => print_plugin(&reg.show(&name).await?),
        PluginCommand::Approve { name, version, deny } => print_plugin(&reg.approve(&admin, &name, version.as_deref(), &deny).await?),
        PluginCommand::Revoke { name } => print_plugin(&reg.revoke(&admin, &name).await?),
        PluginCommand::Disable { name } => print_plugin(&reg.disable(&admin, &name).await?),
        PluginCommand::Enable { name } => print_plugin(&reg.enable(&admin, &name).await?),
        PluginCommand::Uninstall { name } => {
            reg.uninstall(&admin, &name).await?;
            println!("uninstalled {name}");
        }
        PluginCommand::DeadLetters { name } => {
            for d in reg.dead_letters(&name).await? {
                println!("{} {} {} {} after {} attempts: {}", d.event.id, d.event.kind, d.event.object, d.event.record_id, d.attempts, d.last_error.unwrap_or_default());
            }
        }
        PluginCommand::Replay { name, event } => {
            println!("requeued {} deliveries", reg.replay(&admin, &name, event.as_deref()).await?);
        }
        PluginCommand::Preview { name, version, deny, events, requests, jobs } => {
            use crate::plugin::harness::Step;
            let steps: Vec<Step> = events
                .into_iter()
                .map(Step::Event)
                .chain(requests.into_iter().map(Step::Request))
                .chain(jobs.into_iter().map(Step::Job))
                .collect();
            for run in app.plugins.preview(&admin, &name, version.as_deref(), &deny, &steps).await? {
                println!("{}: {}", run.step, run.outcome);
                for l in run.crossed {
                    println!("  {l}");
                }
            }
        }
        PluginCommand::Maxima { limits } => {
            let mut m = reg.maxima().await?;
            if !limits.is_empty() {
                m.memory_mb = limits.memory_mb.unwrap_or(m.memory_mb);
                m.timeout_ms = limits.timeout_ms.unwrap_or(m.timeout_ms);
                m.host_calls = limits.host_calls.unwrap_or(m.host_calls);
                m.storage_bytes = limits.storage_bytes.unwrap_or(m.storage_bytes);
                m = reg.set_maxima(&admin, m).await?;
            }
            print_maxima(&m);
        }
        PluginCommand::Limits { name, limits, clear } => {
            let o = if clear {
                crate::plugin::manifest::LimitOverrides::default()
            } else {
                let mut o = reg.show(&name).await?.limit_overrides;
                o.memory_mb = limits.memory_mb.or(o.memory_mb);
                o.timeout_ms = limits.timeout_ms.or(o.timeout_ms);
                o.host_calls = limits.host_calls.or(o.host_calls);
                o.storage_bytes = limits.storage_bytes.or(o.storage_bytes);
                o
            };
            print_plugin(&reg.set_limits(&admin, &name, o).await?);
        }
        PluginCommand::Test { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAPCRM_LOG").unwrap_or_else(|_| "capcrm=info,tower_http=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
