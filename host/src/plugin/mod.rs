//! The plugin runtime: business features as sandboxed WebAssembly components.
//!
//! - [`manifest`]: what a plugin asks for, as capabilities.
//! - [`registry`]: install, approve (all or part), upgrade, revoke, disable, uninstall.
//! - [`engine`]: engine settings, compiled-component cache, import checks.
//! - [`host`]: the WIT host functions, each going through the access gate.
//!
//! Every invocation gets a fresh instance, a memory limit, an epoch deadline, a host-call cap and
//! one database transaction that commits only if the plugin returns normally.

#[doc(hidden)]
pub mod bench;
pub mod dispatch;
pub mod engine;
pub mod harness;
pub mod host;
pub mod manifest;
pub mod public_cap;
pub mod registry;

use crate::access::{AccessError, Gate, Principal};
use crate::audit::{Actor, AuditError, Event, Outcome};
use crate::store::StoreError;
use engine::PluginEngine;
use host::{PluginPre, PluginState};
use manifest::{Manifest, grant_of};
use registry::{ActivePlugin, Registry};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("permission denied: {0}")]
    Denied(String),
    /// The plugin's public routes reached the host's cap for this minute; retry after the seconds.
    #[error("too many requests to the public routes of plugin {0}; try again in {1} s")]
    RateLimited(String, u64),
    /// The plugin trapped, ran out of time or memory, or broke a limit; its writes were rolled back.
    #[error("the plugin failed: {0}")]
    Failed(String),
    #[error("plugin runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Access(#[from] AccessError),
}
impl From<sqlx::Error> for PluginError {
    fn from(e: sqlx::Error) -> Self {
        PluginError::Runtime(format!("database: {e}"))
    }
}
impl From<StoreError> for PluginError {
    fn from(e: StoreError) -> Self {
        PluginError::Runtime(e.to_string())
    }
}
impl From<AuditError> for PluginError {
    fn from(e: AuditError) -> Self {
        PluginError::Runtime(e.to_string())
    }
}

/// The audit action of previews; invocations under it always roll back.
const PREVIEW: &str = "plugin.preview";

/// Largest response body a plugin route may return.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// One step of a preview: its outcome and what crossed the boundary (names and ids only).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PreviewRun {
    pub step: String,
    pub outcome: String,
    pub crossed: Vec<String>,
    pub denials: Vec<String>,
}

/// An HTTP request routed to a plugin.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct PluginResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What an invocation touched, for the test harness and previews.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub touched: Vec<(String, String)>,
    pub denials: Vec<String>,
    pub host_calls: u32,
    /// One line per field or key that crossed the boundary, names only.
    pub log: Vec<String>,
    /// What the plugin itself logged (its own text; shown only by the test harness).
    pub plugin_logs: Vec<String>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginRuntime")
    }
}

pub struct PluginRuntime {
    engine: Arc<PluginEngine>,
    pub registry: Registry,
    gate: Gate,
    loaded: Mutex<HashMap<String, PluginPre<PluginState>>>,
    /// Caps anonymous requests to public routes, per plugin.
    pub public_cap: public_cap::PublicCap,
}

impl PluginRuntime {
    pub fn new(gate: Gate, cache_dir: Option<std::path::PathBuf>) -> Result<Arc<PluginRuntime>, PluginError> {
        Ok(Arc::new(PluginRuntime {
            engine: PluginEngine::new(cache_dir)?,
            registry: Registry::new(gate.clone()),
            gate,
            loaded: Mutex::new(HashMap::new()),
            public_cap: public_cap::PublicCap::default(),
        }))
    }

    /// Validates a manifest and a component (compiles it, checks its imports) and installs it.
    pub async fn install(&self, p: &Principal, component: &[u8], manifest_text: &str) -> Result<registry::PluginInfo, PluginError> {
        let manifest = Manifest::parse(manifest_text)?;
        manifest.validate(&self.gate.schema(), &self.registry.maxima().await?)?;
        let hash = registry::code_hash(component);
        let compiled = self.engine.compile(component, &hash)?;
        self.engine.check_imports(&compiled)?;
        self.pre(&hash, &compiled)?;
        self.registry.install(p, component, manifest_text, &manifest).await
    }

    fn pre(&self, hash: &str, component: &wasmtime::component::Component) -> Result<PluginPre<PluginState>, PluginError> {
        if let Some(p) = self.loaded.lock().expect("loaded lock").get(hash) {
            return Ok(p.clone());
        }
        let ip = self
            .engine
            .linker
            .instantiate_pre(component)
            .map_err(|e| PluginError::Invalid(format!("the component does not fit the capcrm:plugin contract: {e}")))?;
        let pre = PluginPre::new(ip).map_err(|e| PluginError::Invalid(format!("the component does not export the plugin world: {e}")))?;
        self.loaded.lock().expect("loaded lock").insert(hash.to_string(), pre.clone());
        Ok(pre)
    }

    async fn load(&self, active: &ActivePlugin) -> Result<PluginPre<PluginState>, PluginError> {
        if let Some(p) = self.loaded.lock().expect("loaded lock").get(&active.code_hash) {
            return Ok(p.clone());
        }
        let bytes = match &active.component {
            Some(b) => b.clone(),
            None => self.registry.component(&active.name, &active.version).await?,
        };
        let c = self.engine.compile(&bytes, &active.code_hash)?;
        self.engine.check_imports(&c)?;
        self.pre(&active.code_hash, &c)
    }

    fn principal(active: &ActivePlugin, acting: Option<&Principal>) -> Principal {
        let actor = Actor { kind: "plugin".into(), name: active.actor_name() };
        Principal {
            actor,
            user_id: acting.and_then(|a| a.user_id.clone()),
            // Acting for a person, the plugin can do no more than that person; on its own, no more
            // than its grant.
            perms: acting.map(|a| a.perms.clone()).unwrap_or_else(|| std::sync::Arc::new(crate::access::Permissions::everything())),
            scopes: acting.and_then(|a| a.scopes.clone()),
            mfa_fresh: false,
            request_id: acting.and_then(|a| a.request_id.clone()),
            purpose: Some(active.manifest.purpose.clone()),
            plugin: Some(grant_of(&active.actor_name(), &active.granted)),
        }
    }

    async fn active(&self, name: &str) -> Result<ActivePlugin, PluginError> {
        self.registry
            .active(name)
            .await?
            .ok_or_else(|| PluginError::NotFound(format!("no approved, enabled plugin named `{name}`")))
    }

    /// Runs one invocation: fresh instance, limits, shared transaction; commits only on success.
    async fn invoke<T>(
        &self,
        active: &ActivePlugin,
        acting: Option<&Principal>,
        handed: Vec<String>,
        what: &str,
        call: impl AsyncFnOnce(&host::Plugin, &mut wasmtime::Store<PluginState>) -> wasmtime::Result<Result<T, host::WitError>>,
    ) -> (Result<T, PluginError>, Trace) {
        let dry_run = what == PREVIEW;
        match self.invoke_inner(active, acting, handed, what, dry_run, call).await {
            Ok((r, t)) => (r, t),
            Err(e) => (Err(e), Trace::default()),
        }
    }

    async fn invoke_inner<T>(
        &self,
        active: &ActivePlugin,
        acting: Option<&Principal>,
        handed: Vec<String>,
        what: &str,
        dry_run: bool,
        call: impl AsyncFnOnce(&host::Plugin, &mut wasmtime::Store<PluginState>) -> wasmtime::Result<Result<T, host::WitError>>,
    ) -> Result<(Result<T, PluginError>, Trace), PluginError> {
        let pre = self.load(active).await?;
        let principal = Self::principal(active, acting);
        let limits = active.limits();
        let invocation = self.gate.begin_invocation().await?;
        let mut store = host::new_store(
            &self.engine.engine,
            host::Setup {
                gate: self.gate.clone(),
                principal: principal.clone(),
                invocation: invocation.clone(),
                plugin: active.name.clone(),
                granted: active.granted.clone(),
                limits,
                handed,
                purpose: active.manifest.purpose.clone(),
            },
        );
        let outcome = async {
            let instance = pre.instantiate_async(&mut store).await?;
            call(&instance, &mut store).await
        }
        .await;
        let st = store.data();
        let trace = Trace {
            touched: st.touched.iter().cloned().collect(),
            denials: st.denials.clone(),
            host_calls: st.host_calls,
            log: st.log.clone(),
            plugin_logs: st.plugin_logs.clone(),
        };
        drop(store);
        let event = |outcome: Outcome, detail: String| {
            Event::new(&principal.actor, what, outcome).detail(detail).purpose(principal.purpose.as_deref()).request(principal.request_id.as_deref())
        };
        match outcome {
            Ok(Ok(v)) if dry_run => {
                // A preview never keeps what the plugin wrote; what it read stays on record.
                self.gate.abort_invocation(&invocation, event(Outcome::Allowed, format!("preview, rolled back; {} host calls", trace.host_calls))).await?;
                Ok((Ok(v), trace))
            }
            Ok(Ok(v)) => {
                self.gate.commit_invocation(&invocation, vec![event(Outcome::Allowed, format!("{} host calls", trace.host_calls))]).await?;
                Ok((Ok(v), trace))
            }
            Ok(Err(e)) => {
                let msg = format!("returned an error: {e:?}");
                self.gate.abort_invocation(&invocation, event(Outcome::Failed, msg.chars().take(300).collect())).await?;
                Ok((Err(PluginError::Failed(format!("{} {}", active.name, msg.chars().take(300).collect::<String>()))), trace))
            }
            Err(trap) => {
                let why = classify(&trap);
                tracing::warn!(plugin = %active.name, "plugin invocation failed: {why}");
                self.gate.abort_invocation(&invocation, event(Outcome::Failed, why.clone())).await?;
                Ok((Err(PluginError::Failed(why)), trace))
            }
        }
    }

    /// Serves a request to one of the plugin's routes.
    pub async fn http(&self, name: &str, req: PluginRequest, acting: Option<&Principal>) -> Result<PluginResponse, PluginError> {
        self.http_traced(name, req, acting).await.0
    }

    /// [`PluginRuntime::http`], also returning what crossed the boundary.
    pub async fn http_traced(&self, name: &str, req: PluginRequest, acting: Option<&Principal>) -> (Result<PluginResponse, PluginError>, Trace) {
        let active = match self.active(name).await {
            Ok(a) => a,
            Err(e) => return (Err(e), Trace::default()),
        };
        let route = format!("{} {}", req.method, req.path);
        let public = format!("route:{route} public");
        let private = format!("route:{route}");
        let needs_prefix = format!("route:{route} needs ");
        // A route may require a permission of the person it acts for; the host checks it, so a
        // plugin's officer-only pages stay officer-only whatever the plugin does.
        let needs: Option<manifest::RoutePermission> = active.granted.iter().find_map(|c| c.strip_prefix(&needs_prefix)).and_then(manifest::RoutePermission::parse);
        let allowed = active.granted.contains(&public)
            || (acting.is_some() && active.granted.contains(&private))
            || match (&needs, acting) {
                (Some(perm), Some(p)) => crate::access::Effective::of(p).has(perm.0),
                _ => false,
            };
        if !allowed {
            let err = if let (Some(perm), Some(p)) = (&needs, acting) {
                let ev = Event::new(&p.actor, "plugin.route", Outcome::Denied)
                    .request(p.request_id.as_deref())
                    .detail(format!("{route} of plugin {name} needs the {} permission", perm.name()));
                if let Err(e) = self.gate.audit_event(ev).await {
                    return (Err(e.into()), Trace::default());
                }
                PluginError::Denied(format!("{route} of plugin {name} needs the {} permission", perm.name()))
            } else if active.granted.contains(&private) || needs.is_some() {
                PluginError::Denied(format!("{route} of plugin {name} needs a signed-in user"))
            } else {
                PluginError::NotFound(format!("plugin {name} has no approved route {route}"))
            };
            return (Err(err), Trace::default());
        }
        // Only anonymous calls count: signed-in ones are bounded by their sign-in.
        if acting.is_none()
            && let Err(wait) = self.public_cap.admit(name, crate::store::now_micros())
        {
            return (Err(PluginError::RateLimited(name.to_string(), wait)), Trace::default());
        }
        let wit_req = host::exports::capcrm::plugin::http::Request {
            method: req.method,
            path: req.path,
            query: req.query,
            headers: req.headers,
            body: req.body,
        };
        let (r, trace) = self
            .invoke(&active, acting, Vec::new(), "plugin.http", async |p, store| p.capcrm_plugin_http().call_handle(store, &wit_req).await)
            .await;
        let r = r.and_then(|resp| {
            if resp.body.len() > MAX_RESPONSE_BYTES {
                return Err(PluginError::Failed(format!("the response is larger than {MAX_RESPONSE_BYTES} bytes")));
            }
            Ok(PluginResponse { status: resp.status, headers: resp.headers, body: resp.body })
        });
        (r, trace)
    }
}

impl PluginRuntime {
    /// Delivers one event to a plugin's handler; the event's record is handed to it.
    pub async fn event(&self, name: &str, ev: &dispatch::RecordEvent) -> Result<(), PluginError> {
        self.event_traced(name, ev).await.0
    }

    /// [`PluginRuntime::event`], also returning what crossed the boundary.
    pub async fn event_traced(&self, name: &str, ev: &dispatch::RecordEvent) -> (Result<(), PluginError>, Trace) {
        let active = match self.active(name).await {
            Ok(a) => a,
            Err(e) => return (Err(e), Trace::default()),
        };
        if !active.granted.contains(&format!("event:{}:{}", ev.kind, ev.object)) {
            return (Err(PluginError::Denied(format!("{name} is no longer granted {} events of {}", ev.kind, ev.object))), Trace::default());
        }
        let wit_ev = host::exports::capcrm::plugin::events::Event {
            id: ev.id.clone(),
            kind: ev.kind.clone(),
            object: ev.object.clone(),
            record_id: ev.record_id.clone(),
            changed_fields: ev.changed_fields.clone(),
            occurred_at: ev.occurred_at as u64,
        };
        let handed = if ev.kind == "record.deleted" { Vec::new() } else { vec![ev.record_id.clone()] };
        self.invoke(&active, None, handed, "plugin.event", async |p, store| p.capcrm_plugin_events().call_handle(store, &wit_ev).await)
            .await
    }

    /// Runs a version that is not (or not yet) approved, as if its capabilities minus `deny` were
    /// granted, against real records, and always rolls back: what an administrator sees before
    /// approving. Returns, per step, the outcome and every field and record that crossed the
    /// boundary (names and ids only).
    pub async fn preview(
        &self,
        p: &Principal,
        name: &str,
        version: Option<&str>,
        deny: &[String],
        steps: &[harness::Step],
    ) -> Result<Vec<PreviewRun>, PluginError> {
        if !crate::access::Effective::of(p).has(crate::access::SystemPermission::Plugins) {
            return Err(PluginError::Denied("previewing plugins needs an administrator".into()));
        }
        let mut candidate = self.registry.version(name, version).await?;
        candidate.granted = candidate.manifest.capabilities().into_iter().filter(|c| !deny.contains(c)).collect();
        let mut runs = Vec::new();
        for step in steps {
            let (label, r, trace) = match step {
                harness::Step::Event(spec) => {
                    let ev = harness::parse_event(spec, Vec::new())?;
                    let wit_ev = host::exports::capcrm::plugin::events::Event {
                        id: ev.id.clone(),
                        kind: ev.kind.clone(),
                        object: ev.object.clone(),
                        record_id: ev.record_id.clone(),
                        changed_fields: ev.changed_fields.clone(),
                        occurred_at: ev.occurred_at as u64,
                    };
                    let (r, t) = self
                        .invoke(&candidate, Some(p), vec![ev.record_id.clone()], PREVIEW, async |pl, store| {
                            pl.capcrm_plugin_events().call_handle(store, &wit_ev).await
                        })
                        .await;
                    (format!("event {spec}"), r.map(|_| "ok".to_string()), t)
                }
                harness::Step::Request(spec) => {
                    let req = harness::parse_request(spec);
                    let wit_req = host::exports::capcrm::plugin::http::Request {
                        method: req.method,
                        path: req.path,
                        query: req.query,
                        headers: Vec::new(),
                        body: Vec::new(),
                    };
                    let (r, t) = self
                        .invoke(&candidate, Some(p), Vec::new(), PREVIEW, async |pl, store| pl.capcrm_plugin_http().call_handle(store, &wit_req).await)
                        .await;
                    (format!("request {spec}"), r.map(|resp| format!("{}", resp.status)), t)
                }
                harness::Step::Job(job) => {
                    let job = job.clone();
                    let (r, t) = self
                        .invoke(&candidate, Some(p), Vec::new(), PREVIEW, async |pl, store| pl.capcrm_plugin_jobs().call_run(store, &job).await)
                        .await;
                    (format!("job {job}"), r.map(|_| "ok".to_string()), t)
                }
            };
            runs.push(PreviewRun {
                step: label,
                outcome: match r {
                    Ok(o) => o,
                    Err(e) => format!("failed: {e}"),
                },
                crossed: trace.log,
                denials: trace.denials,
            });
        }
        Ok(runs)
    }

    /// Runs a scheduled job of the plugin.
    pub async fn job_traced(&self, name: &str, job: &str) -> (Result<(), PluginError>, Trace) {
        let active = match self.active(name).await {
            Ok(a) => a,
            Err(e) => return (Err(e), Trace::default()),
        };
        if !active.granted.contains(&format!("schedule:{job}")) {
            return (Err(PluginError::Denied(format!("{name} has no approved schedule `{job}`"))), Trace::default());
        }
        let job = job.to_string();
        self.invoke(&active, None, Vec::new(), "plugin.job", async |p, store| p.capcrm_plugin_jobs().call_run(store, &job).await).await
    }
}

/// Names why an invocation stopped, for the audit trail and the caller.
fn classify(e: &wasmtime::Error) -> String {
    if let Some(t) = e.downcast_ref::<wasmtime::Trap>() {
        return match t {
            wasmtime::Trap::Interrupt => "deadline exceeded (the plugin ran too long)".into(),
            wasmtime::Trap::StackOverflow => "stack overflow".into(),
            wasmtime::Trap::UnreachableCodeReached => "trap: unreachable (a panic or abort in the plugin)".into(),
            other => format!("trap: {other}"),
        };
    }
    let text = format!("{e:#}");
    if let Some(limit) = text.lines().find(|l| l.contains("host-call limit exceeded")) {
        return limit.trim().chars().take(200).collect();
    }
    if text.contains("growing memory") || text.contains("memory") && text.contains("limit") {
        return "memory limit exceeded".into();
    }
    format!("failed: {}", text.chars().take(200).collect::<String>())
}
