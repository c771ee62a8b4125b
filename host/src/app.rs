//! Wiring: opens the database, checks the root key, starts the audit writer and the gate.

use crate::access::{Gate, Principal};
use crate::audit::{Audit, Event, Outcome};
use crate::auth::Auth;
use crate::crypto::keystore::{AUDIT_CHAIN_KEY, Keystore};
use crate::crypto::root::RootKeySource;
use crate::crypto::RootKeyring;
use crate::store::{Db, Location, now_micros};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the data and the root key are.
#[derive(Debug, Clone)]
pub struct Settings {
    pub location: Location,
    pub root_key: RootKeySource,
}

impl Settings {
    /// Compiled plugin components are cached here (keyed by content hash and engine settings).
    pub fn plugin_cache_dir(&self) -> PathBuf {
        match &self.location {
            Location::DataDir(d) => d.join("plugin-cache"),
            Location::Postgres(_) => std::env::temp_dir().join("capcrm-plugin-cache"),
        }
    }

    /// The default backup catalogue sits beside the data directory too: a copy of the data
    /// directory should not carry its backups, nor a lost disk take both.
    pub fn default_backup_dir(data_dir: &std::path::Path) -> PathBuf {
        beside(data_dir, "backups")
    }

    /// The default key file sits beside the data directory, not inside it, so that a copy of the
    /// data directory does not carry the key that opens it.
    pub fn default_key_file(data_dir: &std::path::Path) -> PathBuf {
        beside(data_dir, "root.key")
    }
}

/// `<data-dir>.<suffix>` next to the data directory.
fn beside(data_dir: &std::path::Path, suffix: &str) -> PathBuf {
    let name = data_dir.file_name().and_then(|s| s.to_str()).unwrap_or("capcrm-data");
    data_dir.with_file_name(format!("{name}.{suffix}"))
}

/// A running host: everything a server or a command needs.
#[derive(Clone, Debug)]
pub struct App {
    pub db: Db,
    pub keys: Arc<Keystore>,
    pub gate: Gate,
    pub auth: Auth,
    pub plugins: Arc<crate::plugin::PluginRuntime>,
}

impl App {
    /// Opens an initialised database. The root key is checked before anything is written, so a
    /// wrong or missing key leaves the database untouched.
    pub async fn open(settings: &Settings) -> anyhow::Result<App> {
        let db = Db::open(&settings.location, false).await?;
        if !db.is_initialised().await? {
            bail!("{} is not initialised: run `capcrm init` first", settings.location.describe());
        }
        let ring = RootKeyring::load(settings.root_key.clone()).context("cannot load the root key")?;
        let keys = Arc::new(Keystore::new(ring, db.backend()));
        keys.verify_root(&db).await?;
        db.migrate().await.context("cannot bring the database schema up to date")?;
        crate::access::consent::build_once(&db).await.context("cannot index the consent records")?;
        let audit_key = keys.system_key(db.reader(), AUDIT_CHAIN_KEY).await?;
        let audit = Audit::start(db.clone(), audit_key.key);
        let gate = Gate::open(db.clone(), keys.clone(), audit).await?;
        let plugins = crate::plugin::PluginRuntime::new(gate.clone(), Some(settings.plugin_cache_dir()))?;
        Ok(App { auth: Auth::new(db.clone(), keys.clone()), db, keys, gate, plugins })
    }

    /// Whether the configured database exists and `init` has run on it. Creates nothing.
    pub async fn is_initialised(settings: &Settings) -> anyhow::Result<bool> {
        if let Location::DataDir(d) = &settings.location {
            if !d.join(crate::store::SQLITE_FILE).exists() {
                return Ok(false);
            }
        }
        let db = Db::open(&settings.location, false).await?;
        let done = db.is_initialised().await?;
        db.close().await;
        Ok(done)
    }

    /// Creates the schema, registers the root key, creates the system keys and the first admin,
    /// all in one transaction. Refuses an initialised database.
    pub async fn init(settings: &Settings, admin_user: &str, admin_password: &str) -> anyhow::Result<()> {
        crate::auth::check_password_policy(admin_password, admin_user).context("the admin password is too weak")?;
        let ring = RootKeyring::load(settings.root_key.clone()).context("cannot load the root key")?;
        let db = Db::open(&settings.location, true).await?;
        if db.is_initialised().await? {
            bail!("{} is already initialised", settings.location.describe());
        }
        db.migrate().await?;
        let keys = Arc::new(Keystore::new(ring, db.backend()));
        let mut tx = db.begin_write().await?;
        keys.initialise(&mut tx).await?;
        let audit_key = keys.system_key(&mut *tx, AUDIT_CHAIN_KEY).await?;
        let auth = Auth::new(db.clone(), keys.clone());
        let admin_id = auth.create_user(&mut tx, admin_user, admin_password, true).await?;
        sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, 'admin')").bind(admin_id).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ('initialised_at', $1)")
            .bind(now_micros().to_string())
            .execute(&mut *tx)
            .await?;
        let audit = Audit::start(db.clone(), audit_key.key);
        let system = Principal::system("init");
        let ev = Event::new(&system.actor, "system.init", Outcome::Allowed).detail(format!("admin account `{admin_user}` created"));
        audit.append(&mut tx, vec![ev]).await?;
        tx.commit().await?;
        db.close().await;
        Ok(())
    }
}

/// A fresh embedded host in a temporary folder, for tests that need the whole of it (the folder
/// goes when the returned guard does).
#[cfg(test)]
pub async fn test_app() -> (tempfile::TempDir, App) {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("root.key");
    RootKeyring::create_file(&key).unwrap();
    let settings = Settings { location: Location::DataDir(tmp.path().join("data")), root_key: RootKeySource::File(key) };
    App::init(&settings, "admin", "correct-horse-battery-staple").await.unwrap();
    let app = App::open(&settings).await.unwrap();
    (tmp, app)
}
