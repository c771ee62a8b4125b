//! The harness: backends, a server process, an HTTP client, and direct database access for
//! tampering the way an attacker with database access would.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "e2e operator passphrase";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_capcrm")
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

fn pg_base() -> String {
    std::env::var("CAPCRM_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn pg_reachable() -> bool {
    std::net::TcpStream::connect_timeout(&"127.0.0.1:5432".parse().unwrap(), Duration::from_secs(1)).is_ok()
        || std::env::var("CAPCRM_TEST_POSTGRES").is_ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run a scenario on.
pub fn backends() -> Vec<Backend> {
    if pg_reachable() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else if std::env::var("CAPCRM_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("CAPCRM_REQUIRE_POSTGRES=1 but PostgreSQL is not reachable at 127.0.0.1:5432");
    } else {
        eprintln!("skipped: PostgreSQL part of this test (PostgreSQL not reachable at 127.0.0.1:5432; set CAPCRM_TEST_POSTGRES to a server URL to run it)");
        vec![Backend::Sqlite]
    }
}

/// A fresh, initialised capcrm instance (its own data directory or its own PostgreSQL database).
pub struct Instance {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    pub pg_db: Option<String>,
}

impl Instance {
    pub fn new(backend: Backend) -> Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let key_file = dir.path().join("root.key");
        let pg_db = (backend == Backend::Postgres).then(|| {
            let name = format!("capcrm_t_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE {name}"));
            name
        });
        let inst = Instance { backend, dir, data_dir, key_file, pg_db };
        let out = inst.cli(&["init", "--admin-password", ADMIN_PASSWORD]);
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        inst
    }

    /// An empty target of the same kind that shares this instance's key file: where a backup of
    /// this instance is restored.
    pub fn empty_like(&self) -> Instance {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("restored");
        let pg_db = (self.backend == Backend::Postgres).then(|| {
            let name = format!("capcrm_t_{}", uuid::Uuid::new_v4().simple());
            pg_admin(&format!("CREATE DATABASE {name}"));
            name
        });
        Instance { backend: self.backend, dir, data_dir, key_file: self.key_file.clone(), pg_db }
    }

    pub fn database_url(&self) -> Option<String> {
        self.pg_db.as_ref().map(|db| format!("{}/{db}", pg_base()))
    }

    /// Arguments that select this instance's storage and key.
    pub fn location_args(&self) -> Vec<String> {
        let mut a = vec!["--data-dir".into(), self.data_dir.display().to_string()];
        if let Some(url) = self.database_url() {
            a.push("--database-url".into());
            a.push(url);
        }
        a.push("--key-file".into());
        a.push(self.key_file.display().to_string());
        a
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(self.location_args()).args(args).env_remove("CAPCRM_ROOT_KEY").env("CAPCRM_LOG", "capcrm=debug,tower_http=debug,info");
        c
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command(args).stdin(Stdio::null()).output().expect("run capcrm")
    }

    pub fn start(&self) -> Server {
        Server::start(self.command(&["serve", "--listen", "127.0.0.1:0"]))
    }

    /// A direct connection to the database, bypassing capcrm: what a database administrator has.
    pub fn raw_sql(&self, sql: &str) -> u64 {
        let url = self.raw_url();
        block_on(async move {
            sqlx::any::install_default_drivers();
            use sqlx::Connection;
            let mut c = sqlx::AnyConnection::connect(&url).await.expect("connect");
            sqlx::query(sql).execute(&mut c).await.expect("raw sql").rows_affected()
        })
    }

    pub fn raw_query_strings(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let url = self.raw_url();
        block_on(async move {
            sqlx::any::install_default_drivers();
            use sqlx::{Connection, Row};
            let mut c = sqlx::AnyConnection::connect(&url).await.expect("connect");
            let rows = sqlx::query(sql).fetch_all(&mut c).await.expect("raw query");
            rows.iter()
                .map(|r| (0..r.len()).map(|i| r.try_get::<Option<String>, _>(i).expect("text column")).collect())
                .collect()
        })
    }

    fn raw_url(&self) -> String {
        match self.database_url() {
            Some(u) => u,
            None => format!("sqlite://{}?mode=rw", self.data_dir.join("capcrm.db").display()),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(db) = &self.pg_db {
            let _ = std::panic::catch_unwind(|| pg_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")));
        }
    }
}

pub fn pg_admin(sql: &str) {
    let url = format!("{}/postgres", pg_base());
    let sql = sql.to_string();
    block_on(async move {
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("connect to PostgreSQL");
        sqlx::query(&sql).execute(&mut c).await.expect("admin sql");
    });
}

/// A running server process; its output is collected for log checks.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn server");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let mut r = BufReader::new(stderr);
            let mut buf = [0u8; 4096];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        s = String::from_utf8_lossy(&buf[..n]).into_owned();
                        l2.lock().unwrap().push_str(&s);
                    }
                }
            }
            drop(s);
        });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let l3 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l3.lock().unwrap().push_str(&line);
                l3.lock().unwrap().push('\n');
                if let Some(rest) = line.strip_prefix("capcrm listening on ") {
                    let url = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send(url);
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start: {}", log.lock().unwrap());
            }
        };
        let s = Server { child, base, log };
        s.wait_healthy();
        s
    }

    fn wait_healthy(&self) {
        let c = reqwest::blocking::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if c.get(format!("{}/healthz", self.base)).send().map(|r| r.status().is_success()).unwrap_or(false) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server never became healthy");
    }

    pub fn client(&self) -> Api {
        Api::login(&self.base, "admin", ADMIN_PASSWORD)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.log()
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return self.log();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

/// A server a test forgets to stop is killed with it, so no process outlives the test run.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A small authenticated HTTP client.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub fn login(base: &str, user: &str, password: &str) -> Api {
        let http = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let r = http.post(format!("{base}/api/v1/auth/token")).json(&json!({"username": user, "password": password})).send().expect("login");
        assert_eq!(r.status(), 200, "login failed");
        let v: Value = r.json().unwrap();
        Api { base: base.into(), token: v["token"].as_str().unwrap().into(), http }
    }

    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        self.send_raw(method, path, body.map(|b| b.to_string()), &[])
    }

    pub fn send_raw(&self, method: &str, path: &str, body: Option<String>, headers: &[(&str, &str)]) -> Reply {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(m, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().expect("request");
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send("PATCH", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None)
    }

    /// Creates a record and returns its JSON; panics unless 201.
    pub fn create(&self, object: &str, fields: Value) -> Value {
        let r = self.post(&format!("/api/v1/records/{object}"), &json!({ "fields": fields }));
        assert_eq!(r.status, 201, "create {object}: {}", r.text);
        r.body
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
    }
    out
}

/// Whether `needle` occurs in `hay` (bytes), also as UTF-16LE, which some tools write.
pub fn contains_bytes(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    hay.windows(n.len()).any(|w| w == n)
}

/// A contact with a planted canary in every personal and sensitive field.
pub fn canary_contact(tag: &str) -> Value {
    json!({
        "first_name": format!("Canaryfirst{tag}"),
        "last_name": format!("Canarylast{tag}"),
        "email": format!("canary.{tag}@example.com"),
        "phone": "+86 139 7531 8642",
        "mobile": "+1 415 555 0199",
        "national_id": format!("CANARYID{tag}"),
        "birthday": "1987-06-05",
        "address_street": format!("Canarystreet {tag}"),
        "address_city": format!("Canarycity{tag}"),
        "address_postal_code": "CANARY-PC",
        "notes": format!("Canarynotes{tag}"),
        "title": "Buyer"
    })
}

/// The canary strings planted by [`canary_contact`] (the parts distinctive enough to grep).
pub fn canary_strings(tag: &str) -> Vec<String> {
    vec![
        format!("Canaryfirst{tag}"),
        format!("Canarylast{tag}"),
        format!("canary.{tag}@example.com"),
        "139 7531 8642".into(),
        "415 555 0199".into(),
        format!("CANARYID{tag}"),
        "1987-06-05".into(),
        format!("Canarystreet {tag}"),
        format!("Canarycity{tag}"),
        "CANARY-PC".into(),
        format!("Canarynotes{tag}"),
    ]
}

/// Runs cargo in `dir` without the outer build's settings.
pub fn nested_cargo(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, _) in std::env::vars() {
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || k.starts_with("RUSTC") || k == "RUSTFLAGS" {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir).args(args).output().expect("run cargo")
}

/// Builds the plugin workspace (SDK and test guests) for wasm32-wasip2 once per test run and
/// returns the path of one guest's component.
pub fn guest_wasm(crate_name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let plugins = root.join("plugins");
        let target = plugins.join("target");
        let out = nested_cargo(
            &plugins,
            &["build", "--release", "--locked", "--target", "wasm32-wasip2", "--target-dir", target.to_str().unwrap()],
        );
        if !out.status.success() {
            return Err(format!(
                "building the test guests failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(plugins.join("target/wasm32-wasip2/release"))
    });
    match dir {
        Ok(d) => d.join(format!("{}.wasm", crate_name.replace('-', "_"))),
        Err(e) => panic!("{e}"),
    }
}

/// Installs the first-party plugin `plugins/<name>` (its crate is `capcrm-<name>`) and approves
/// everything its manifest asks for.
pub fn install_first_party(inst: &Instance, name: &str) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join(format!("plugins/{name}/plugin.toml"));
    let out = inst.cli(&["plugin", "install", guest_wasm(&format!("capcrm-{name}")).to_str().unwrap(), "--manifest", manifest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(inst.cli(&["plugin", "approve", name]).status.success());
}

/// Starts the server with a mail pickup directory, which the outbox fills every 100 ms.
pub fn start_with_mail(inst: &Instance) -> (Server, tempfile::TempDir) {
    let maildir = tempfile::tempdir().unwrap();
    let mut serve = inst.command(&["serve", "--listen", "127.0.0.1:0", "--mail", &format!("dir:{}", maildir.path().display())]);
    serve.env("CAPCRM_MAIL_TICK_MS", "100");
    (Server::start(serve), maildir)
}

/// Creates a person with one role (and teams) through the API; answers their id.
pub fn add_user(admin: &Api, name: &str, password: &str, role: &str, teams: &[&str]) -> String {
    let r = admin.post("/api/v1/users", &json!({"username": name, "password": password, "roles": [role], "teams": teams}));
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Waits for the host's message to `to` in the mail pickup directory and reads the code out of it.
pub fn wait_for_code(dir: &Path, to: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if !raw.contains(to) {
                continue;
            }
            if let Some(code) = code_in(&raw) {
                // Taken: a later code to the same address is then the only one left.
                let _ = std::fs::remove_file(entry.path());
                return code;
            }
            // A base64 body: decode it and look again.
            let body = raw.split("\r\n\r\n").nth(1).unwrap_or_default().replace(['\r', '\n'], "");
            use base64::Engine as _;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body.trim()) {
                if let Some(code) = code_in(&String::from_utf8_lossy(&bytes)) {
                    let _ = std::fs::remove_file(entry.path());
                    return code;
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "no verification message to {to} in {}", dir.display());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub fn code_in(text: &str) -> Option<String> {
    let at = text.find("verification code is ")? + "verification code is ".len();
    let digits: String = text[at..].chars().take(6).collect();
    (digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}
