//! A small W3C WebDriver client over the suite's HTTP client, driving Debian's headless Chromium
//! through `chromedriver`. The browser tests need a dozen commands (navigate, find, click, type,
//! read, run a script, screenshot), which are plain JSON over HTTP; a client library would add a
//! second HTTP stack to the build for no more than that.
//!
//! Without Chromium and ChromeDriver the browser tests say they were skipped and why, unless
//! `CAPCRM_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs both) makes that a failure.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Where the screenshots of a scenario go (kept after the run as its artefacts).
pub fn artefact_dir(scenario: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots").join(scenario);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// One Chromium, driven over WebDriver, with its own empty profile.
pub struct Browser {
    driver: Child,
    endpoint: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
    shots: PathBuf,
    step: std::cell::Cell<u32>,
}

/// An element on the page.
#[derive(Clone, Debug)]
pub struct El(String);

impl Browser {
    /// A browser with a fresh profile, or `None` (with the reason printed) where there is none.
    pub fn start(scenario: &str, lang: &str) -> Option<Browser> {
        let chromium = find_binary("CAPCRM_CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find_binary("CAPCRM_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver_bin)) = (chromium, driver) else {
            if std::env::var("CAPCRM_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("CAPCRM_REQUIRE_BROWSER=1 but Chromium or ChromeDriver is missing (apt-get install chromium chromium-driver)");
            }
            eprintln!("skipped: browser test `{scenario}` (no Chromium and ChromeDriver at /usr/bin; install the Debian packages chromium and chromium-driver, or set CAPCRM_CHROMIUM and CAPCRM_CHROMEDRIVER)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_bin).arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start chromedriver");
        let endpoint = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{endpoint}/status")).send().ok().and_then(|r| r.json::<Value>().ok()).is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1000".into(),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args, "prefs": {"intl.accept_languages": lang}},
        }}});
        let r: Value = http.post(format!("{endpoint}/session")).json(&caps).send().expect("new session").json().expect("session json");
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}")).to_string();
        Some(Browser { driver, endpoint, session, http, _profile: profile, shots: artefact_dir(scenario), step: std::cell::Cell::new(0) })
    }

    fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let url = format!("{}/session/{}{path}", self.endpoint, self.session);
        let mut rb = self.http.request(method, url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().expect("webdriver request");
        let ok = r.status().is_success();
        let v: Value = r.json().unwrap_or(Value::Null);
        if ok { Ok(v["value"].clone()) } else { Err(v["value"].clone()) }
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None).unwrap().as_str().unwrap_or_default().to_string()
    }

    pub fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None).unwrap().as_str().unwrap_or_default().to_string()
    }

    /// The first element matching a CSS selector, if any.
    pub fn try_find(&self, css: &str) -> Option<El> {
        self.cmd(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).ok().and_then(|v| v[ELEMENT].as_str().map(|s| El(s.to_string())))
    }

    /// The first element matching `css`, waiting up to ten seconds for it.
    pub fn find(&self, css: &str) -> El {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("missing {css}"));
                panic!("no element `{css}` on {} (screenshot {}):\n{}", self.url(), shot.display(), self.source());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn find_all(&self, css: &str) -> Vec<El> {
        let v = self.post("/elements", json!({"using": "css selector", "value": css}));
        v.as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str().map(|s| El(s.to_string()))).collect()
    }

    pub fn click(&self, e: &El) {
        self.post(&format!("/element/{}/click", e.0), json!({}));
    }

    pub fn clear(&self, e: &El) {
        self.post(&format!("/element/{}/clear", e.0), json!({}));
    }

    /// Types into an element, as keystrokes.
    pub fn type_into(&self, e: &El, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }));
    }

    /// Fills the field `css` with `text` (cleared first).
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.clear(&e);
        self.type_into(&e, text);
    }

    pub fn text(&self, e: &El) -> String {
        self.cmd(reqwest::Method::GET, &format!("/element/{}/text", e.0), None).unwrap().as_str().unwrap_or_default().to_string()
    }

    /// The text of the first element matching `css`, found again if the page was replaced between
    /// finding and reading it (a form that redirects to the same address).
    pub fn text_of(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.find(css);
            match self.cmd(reqwest::Method::GET, &format!("/element/{}/text", e.0), None) {
                Ok(v) => return v.as_str().unwrap_or_default().to_string(),
                Err(err) if Instant::now() < deadline && err["error"] == "stale element reference" => std::thread::sleep(Duration::from_millis(100)),
                Err(err) => panic!("reading `{css}`: {err}"),
            }
        }
    }

    /// Waits until the text of `css` is `expected` (after a form that comes back to the same page).
    pub fn wait_text(&self, css: &str, expected: &str) {
        self.wait_text_where(css, expected, |now| now == expected)
    }

    /// Waits until the text of `css` contains `part`.
    pub fn wait_text_containing(&self, css: &str, part: &str) {
        self.wait_text_where(css, part, |now| now.contains(part))
    }

    fn wait_text_where(&self, css: &str, expected: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = self.text_of(css);
            if done(&now) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("waiting for {css}"));
                panic!("`{css}` says {now:?}, not {expected:?} (screenshot {})", shot.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn attr(&self, e: &El, name: &str) -> Option<String> {
        self.cmd(reqwest::Method::GET, &format!("/element/{}/attribute/{name}", e.0), None).ok().and_then(|v| v.as_str().map(str::to_string))
    }

    /// Runs a script in the page and answers its return value.
    pub fn script(&self, body: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": body, "args": args}))
    }

    /// Runs an asynchronous script: it finishes by calling its last argument with the result.
    pub fn script_async(&self, body: &str, args: Value) -> Value {
        self.post("/execute/async", json!({"script": body, "args": args}))
    }

    /// Presses keys on the focused element (`\u{E007}` is Enter, `\u{E004}` Tab).
    pub fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys.chars().flat_map(|c| [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})]).collect();
        self.post("/actions", json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}));
    }

    /// Drags `from` onto `to` with the mouse: press on the first, move in steps, release on the
    /// second (pointer events, as a person's mouse makes them).
    pub fn drag(&self, from: &El, to: &El) {
        let at = |e: &El| json!({ ELEMENT: e.0 });
        let steps = json!([
            {"type": "pointerMove", "origin": at(from), "x": 0, "y": 0},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "origin": "pointer", "x": 8, "y": 8, "duration": 100},
            {"type": "pointerMove", "origin": at(to), "x": 0, "y": 0, "duration": 400},
            {"type": "pointerUp", "button": 0},
        ]);
        self.post("/actions", json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": steps}]}));
    }

    /// Waits until the page's URL contains `part`.
    pub fn wait_url(&self, part: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.url().contains(part) {
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("waiting for {part}"));
                panic!("the browser is at {} instead of …{part}… (screenshot {}):\n{}", self.url(), shot.display(), self.source());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot of the page as the scenario's next artefact and answers its path.
    pub fn screenshot(&self, step: &str) -> PathBuf {
        use base64::Engine as _;
        let n = self.step.get() + 1;
        self.step.set(n);
        let name: String = step.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let path = self.shots.join(format!("{n:02}-{name}.png"));
        if let Ok(v) = self.cmd(reqwest::Method::GET, "/screenshot", None) {
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()) {
                let _ = std::fs::write(&path, png);
            }
        }
        path
    }

    /// Every resource the page loaded (the document, styles, scripts, images), from the
    /// browser's own timing records.
    pub fn resources(&self) -> Vec<String> {
        let v = self.script("return [location.href].concat(performance.getEntriesByType('resource').map(e => e.name));", json!([]));
        v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
    }

    /// Asserts the page asked nothing of any server but `base`.
    pub fn assert_only_from(&self, base: &str) {
        for r in self.resources() {
            assert!(r.starts_with(base) || r.starts_with("data:"), "the page at {} fetched {r} from outside {base}", self.url());
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.endpoint, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
