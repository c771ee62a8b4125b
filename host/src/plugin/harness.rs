//! `capcrm plugin test`: runs a plugin in the real runtime against a throwaway store loaded from
//! fixtures, with the manifest's grants approved in full, and reports everything that crossed the
//! boundary (names only). It fails on traps, error returns, denials the author did not expect, and
//! expected denials that did not happen.

use super::dispatch::RecordEvent;
use super::{PluginError, PluginRequest, Trace};
use crate::access::{Principal, WriteOptions};
use crate::app::{App, Settings};
use crate::crypto::RootKeyring;
use crate::crypto::root::RootKeySource;
use crate::store::Location;
use std::collections::BTreeMap;

/// One thing to run, in the order given.
#[derive(Debug, Clone)]
pub enum Step {
    /// `<kind>:<object>:<fixture id>`
    Event(String),
    /// `<METHOD> <path>[?<query>]`
    Request(String),
    Job(String),
}

#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

type Fixtures = BTreeMap<String, Vec<Fixture>>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    id: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

fn matches_expected(denial: &str, expected: &[String]) -> bool {
    expected.iter().any(|e| match e.split_once('.') {
        Some((o, f)) => denial.contains(o) && denial.contains(f),
        None => denial.contains(e.as_str()),
    })
}

pub async fn run(wasm: &[u8], manifest: &str, fixtures_json: &str, steps: &[Step], expect_denied: &[String]) -> Result<Report, PluginError> {
    let fixtures: Fixtures =
        serde_json::from_str(fixtures_json).map_err(|e| PluginError::Invalid(format!("fixtures: {e}")))?;
    let dir = tempfile_dir()?;
    let settings = Settings {
        location: Location::DataDir(dir.join("data")),
        root_key: RootKeySource::File(dir.join("root.key")),
    };
    RootKeyring::create_file(&dir.join("root.key"))?;
    let pw = format!("throwaway-{}", uuid::Uuid::new_v4());
    App::init(&settings, "harness", &pw).await.map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
    let app = App::open(&settings).await.map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
    let system = Principal::system("plugin-test");
    let mut fields_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (object, list) in &fixtures {
        for f in list {
            let opts = WriteOptions { id: Some(f.id.clone()), ..Default::default() };
            app.gate.records(&system).create(object, &f.fields, opts).await.map_err(|e| PluginError::Invalid(format!("fixture {}: {e}", f.id)))?;
            fields_of.insert(f.id.to_ascii_lowercase(), f.fields.keys().cloned().collect());
        }
    }
    let info = app.plugins.install(&system, wasm, manifest).await?;
    let name = info.name.clone();
    app.plugins.registry.approve(&system, &name, None, &[]).await?;

    let mut report = Report::default();
    let mut seen_denials: Vec<String> = Vec::new();
    for step in steps {
        let (label, outcome, trace): (String, Result<String, PluginError>, Trace) = match step {
            Step::Event(spec) => {
                let id = spec.rsplit(':').next().unwrap_or_default().to_ascii_lowercase();
                let ev = parse_event(spec, fields_of.get(&id).cloned().unwrap_or_default())?;
                let (r, t) = app.plugins.event_traced(&name, &ev).await;
                (format!("event {spec}"), r.map(|_| "ok".to_string()), t)
            }
            Step::Request(spec) => {
                let req = parse_request(spec);
                let (r, t) = app.plugins.http_traced(&name, req, Some(&system)).await;
                let shown = r.map(|resp| {
                    let body = String::from_utf8_lossy(&resp.body);
                    format!("{} {}", resp.status, body.chars().take(200).collect::<String>())
                });
                (format!("request {spec}"), shown, t)
            }
            Step::Job(job) => {
                let (r, t) = app.plugins.job_traced(&name, job).await;
                (format!("job {job}"), r.map(|_| "ok".to_string()), t)
            }
        };
        let unexpected: Vec<&String> = trace.denials.iter().filter(|d| !matches_expected(d, expect_denied)).collect();
        let ok = outcome.is_ok() && unexpected.is_empty();
        match &outcome {
            Ok(o) => report.lines.push(format!("{label}: {o}")),
            Err(e) => report.lines.push(format!("{label}: FAILED: {e}")),
        }
        for l in &trace.log {
            report.lines.push(format!("  {l}"));
        }
        for l in &trace.plugin_logs {
            report.lines.push(format!("  log           {l}"));
        }
        for d in unexpected {
            report.lines.push(format!("  unexpected denial: {d}"));
        }
        seen_denials.extend(trace.denials.iter().cloned());
        if ok {
            report.passed += 1;
        } else {
            report.failed += 1;
        }
    }
    for e in expect_denied {
        if !seen_denials.iter().any(|d| matches_expected(d, std::slice::from_ref(e))) {
            report.lines.push(format!("expected denial of {e} did not happen"));
            report.failed += 1;
        }
    }
    app.db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

/// `<kind>:<object>:<record id>` as an event.
pub fn parse_event(spec: &str, changed_fields: Vec<String>) -> Result<RecordEvent, PluginError> {
    let mut parts = spec.rsplitn(2, ':');
    let id = parts.next().unwrap_or_default().to_ascii_lowercase();
    let (kind, object) = parts
        .next()
        .and_then(|r| r.rsplit_once(':'))
        .ok_or_else(|| PluginError::Invalid(format!("event `{spec}` must be <kind>:<object>:<record id>")))?;
    Ok(RecordEvent {
        id: uuid::Uuid::now_v7().to_string(),
        kind: kind.to_string(),
        object: object.to_string(),
        record_id: id,
        changed_fields,
        occurred_at: crate::store::now_micros(),
    })
}

/// `<METHOD> <path>[?<query>]` as a request without headers or body.
pub fn parse_request(spec: &str) -> PluginRequest {
    let (method, target) = spec.split_once(' ').unwrap_or(("GET", spec));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    PluginRequest { method: method.to_string(), path: path.to_string(), query: query.to_string(), headers: Vec::new(), body: Vec::new() }
}

fn tempfile_dir() -> Result<std::path::PathBuf, PluginError> {
    let dir = std::env::temp_dir().join(format!("capcrm-plugin-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| PluginError::Runtime(format!("cannot create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir)
}

impl From<crate::crypto::CryptoError> for PluginError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        PluginError::Runtime(e.to_string())
    }
}
