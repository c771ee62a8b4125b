//! Web UI page benchmark: the pages people open most, each against the REST API call that reads
//! the same records, through the real binary over loopback HTTP, interleaved in one run on a demo
//! database of N contacts (with their accounts, leads, deals and activities).
//!
//!     cargo bench -p capcrm --bench pages [-- --contacts N (default 1000000)] [--iters K (default 200)] [--fresh]
//!
//! The seeded database is cached under `target/capcrm-bench/pages-<N>/` (`--fresh` re-seeds). Prints
//! a markdown table: median and 95th percentile per page and per API call, and
//! ratio = API time / page time (1.0 = the page costs what its API call costs; below 1, what the
//! page adds: templates, related records, history, navigation).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "pages bench passphrase";

struct Args {
    contacts: usize,
    iters: usize,
    fresh: bool,
}

fn args() -> Args {
    let mut a = Args { contacts: 1_000_000, iters: 200, fresh: false };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--contacts" => a.contacts = it.next().and_then(|v| v.parse().ok()).expect("--contacts N"),
            "--iters" => a.iters = it.next().and_then(|v| v.parse().ok()).expect("--iters K"),
            "--fresh" => a.fresh = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("target"))
}

/// Starts `capcrm demo` on the cached data directory (seeding it the first time) and answers the
/// server process and its base URL.
fn start(dir: &std::path::Path, contacts: usize) -> (Child, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_capcrm"))
        .args(["--data-dir", &dir.join("data").display().to_string(), "--key-file", &dir.join("root.key").display().to_string()])
        .args(["demo", "--contacts", &contacts.to_string(), "--listen", "127.0.0.1:0"])
        .env("CAPCRM_ADMIN_PASSWORD", PASSWORD)
        .env("CAPCRM_DEMO_PASSWORD", PASSWORD)
        .env("CAPCRM_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start capcrm demo");
    let out = child.stdout.take().unwrap();
    let mut base = None;
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("capcrm listening on ") {
            base = Some(rest.split_whitespace().next().unwrap_or_default().to_string());
            break;
        }
    }
    (child, base.expect("the server printed its address"), started.elapsed())
}

struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
    cookie: String,
}

impl Client {
    fn sign_in(base: &str, user: &str) -> Client {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let body = serde_json::json!({"username": user, "password": PASSWORD});
        let r = http.post(format!("{base}/api/v1/auth/token")).json(&body).send().unwrap();
        let status = r.status();
        let token: Value = r.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "signing in as {user}: {status} {token}");
        let r = http.post(format!("{base}/api/v1/auth/session")).json(&body).send().unwrap();
        let cookie = r.headers().get_all("set-cookie").iter().filter_map(|c| c.to_str().ok()?.split(';').next().map(str::to_string)).collect::<Vec<_>>().join("; ");
        Client { http, base: base.into(), token: token["token"].as_str().expect("signed in").into(), cookie }
    }

    /// One page (cookie session) or API call (bearer token); checks the answer and its size.
    fn get(&self, path: &str, page: bool) -> Duration {
        let t = Instant::now();
        let rb = self.http.get(format!("{}{path}", self.base));
        let rb = if page { rb.header("cookie", &self.cookie) } else { rb.bearer_auth(&self.token) };
        let r = rb.send().unwrap();
        let status = r.status();
        let body = r.bytes().unwrap();
        let took = t.elapsed();
        assert!(status.is_success() && !body.is_empty(), "{path}: {status}");
        took
    }
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let a = args();
    let dir = target_dir().join("capcrm-bench").join(format!("pages-{}", a.contacts));
    if a.fresh {
        let _ = std::fs::remove_dir_all(&dir);
    }
    std::fs::create_dir_all(&dir).unwrap();
    eprintln!("[pages] demo database with {} contacts in {} (seeded on first use)", a.contacts, dir.display());
    let (mut server, base, ready) = start(&dir, a.contacts);
    eprintln!("[pages] server ready in {:.1} s", ready.as_secs_f64());

    let admin = Client::sign_in(&base, "admin");
    let sales = Client::sign_in(&base, "li.na");
    // A contact in the middle of the table, and one of its emails, found through the API.
    let data = capcrm::demo::generate::generate(42, a.contacts);
    let mid = &data.contacts[a.contacts / 2];
    let email = mid.fields["email"].as_str().expect("demo contacts have an email").to_string();
    drop(data);
    let q = serde_urlencoded::to_string([("q", email.as_str())]).unwrap();
    let found: Value = admin.http.get(format!("{base}/api/v1/records/contact?{q}")).bearer_auth(&admin.token).send().unwrap().json().unwrap();
    let id = found["records"][0]["id"].as_str().expect("the middle contact is found").to_string();
    let me: Value = sales.http.get(format!("{base}/api/v1/me")).bearer_auth(&sales.token).send().unwrap().json().unwrap();
    let sales_id = me["user_id"].as_str().unwrap().to_string();

    type Case<'a> = (&'a str, &'a Client, String, String);
    let cases: Vec<Case> = vec![
        ("home (sales: my leads, deals, tasks)", &sales, "/".into(), format!("/api/v1/records/lead?filter.owner_id={sales_id}&limit=10")),
        ("lead board (sales: a column of 25 per stage)", &sales, "/leads".into(), "/api/v1/records/lead?filter.stage=new&sort=-score&limit=25".into()),
        ("contact list, first page", &admin, "/records/contact".into(), "/api/v1/records/contact?limit=50".into()),
        ("contact list, a page in the middle", &admin, format!("/records/contact?after={id}"), format!("/api/v1/records/contact?limit=50&after={id}")),
        ("search by email", &admin, format!("/records/contact?{q}"), format!("/api/v1/records/contact?{q}")),
        ("record page (related, timeline, history)", &admin, format!("/records/contact/{id}"), format!("/api/v1/records/contact/{id}")),
        ("audit explorer, first page", &admin, "/audit".into(), "/api/v1/audit?limit=100".into()),
        // The seeding's actor wrote every record: the busiest actor there is.
        ("audit explorer, by the busiest actor", &admin, "/audit?actor=demo".into(), "/api/v1/audit?actor=demo&limit=100".into()),
        ("audit explorer, a window of the whole history", &admin, "/audit?from=2000-01-01T00:00&to=2100-01-01T00:00".into(), "/api/v1/audit?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=100".into()),
    ];
    let mut rows = Vec::new();
    for (name, who, page, api) in &cases {
        for _ in 0..(a.iters / 10).clamp(3, 20) {
            who.get(page, true);
            who.get(api, false);
        }
        let (mut pt, mut at) = (Vec::new(), Vec::new());
        for i in 0..a.iters {
            // Alternate which goes first.
            if i % 2 == 0 {
                pt.push(who.get(page, true));
                at.push(who.get(api, false));
            } else {
                at.push(who.get(api, false));
                pt.push(who.get(page, true));
            }
        }
        let (p50, p95, a50, a95) = (percentile(&mut pt, 0.5), percentile(&mut pt, 0.95), percentile(&mut at, 0.5), percentile(&mut at, 0.95));
        rows.push(format!("| {name} | {} | {} | {} | {} | {:.2} |", ms(p50), ms(p95), ms(a50), ms(a95), a50.as_secs_f64() / p50.as_secs_f64()));
        eprintln!("[pages] {name}: page {} ms, API {} ms", ms(p50), ms(a50));
    }
    let _ = server.kill();
    let _ = server.wait();
    println!("\n### Pages at {} contacts (SQLite, {} requests each)\n", a.contacts, a.iters);
    println!("| page | page p50 ms | page p95 ms | API p50 ms | API p95 ms | ratio (API / page) |");
    println!("|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
