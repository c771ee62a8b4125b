//! The host side of the contract: the WIT `Host` trait implementations, and only them.
//!
//! Every function reaches data through the access gate with the plugin's principal (its grant, and
//! the acting user where there is one) inside the invocation's shared transaction. Each call counts
//! against the invocation's host-call cap and checks the size of what crosses the boundary; host
//! functions bound their own work, since an epoch deadline does not interrupt host code.

use super::PluginError;
use crate::access::{AccessError, Action, Effective, Filter as GateFilter, FilterOp as GateOp, FilterValue, Gate, Identifier as GateIdentifier, Invocation, ListQuery, Principal, RecordView, WriteOptions};
use crate::audit::{Event, Outcome};
use std::collections::{BTreeSet, HashSet};
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
    with: { "capcrm:plugin/records.collection": Collection },
});

pub use capcrm::plugin::types::{Error as WitError, FieldValue, RecordData};
use capcrm::plugin::records::{Filter, FilterOp, Page};
use capcrm::plugin::storage::KeyPage;
use capcrm::plugin::subjects::{ErasureReceipt, Hold, Identifier, RecordPage as SubjectRecordPage, RecordRef, StoredPage, StoredValue, SubjectMatch};

/// Largest value (a field, a storage value, a message) a plugin may pass in one call.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// An open collection: the object it was opened for.
pub struct Collection {
    object: String,
}

/// Per-invocation state: fresh for every call into a plugin.
pub struct PluginState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: wasmtime::StoreLimits,
    pub(crate) gate: Gate,
    pub(crate) principal: Principal,
    pub(crate) invocation: Invocation,
    pub(crate) plugin: String,
    pub(crate) purpose: String,
    pub(crate) granted: BTreeSet<String>,
    pub(crate) storage_quota: Option<u64>,
    /// Record ids handed to the plugin in this invocation (event, query results, creations).
    pub(crate) handed: HashSet<String>,
    /// Subject ids handed to the plugin in this invocation (found, or of a handed record).
    pub(crate) handed_subjects: HashSet<String>,
    pub(crate) host_calls: u32,
    pub(crate) max_host_calls: u32,
    /// (object, field) pairs that crossed the boundary, for the test harness and the preview.
    pub(crate) touched: BTreeSet<(String, String)>,
    /// Denials returned to the plugin, for the test harness.
    pub(crate) denials: Vec<String>,
    /// What crossed the boundary, one line per field or key, names only (never values).
    pub(crate) log: Vec<String>,
    /// Lines the plugin logged (its own text), for the author's test harness only.
    pub(crate) plugin_logs: Vec<String>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// What one invocation is set up with; everything else in its state starts empty.
pub(crate) struct Setup {
    pub gate: Gate,
    pub principal: Principal,
    pub invocation: Invocation,
    pub plugin: String,
    pub granted: BTreeSet<String>,
    pub limits: super::manifest::EffectiveLimits,
    /// Record ids the invocation starts with (an event's record).
    pub handed: Vec<String>,
    /// The approved manifest's purpose, quoted in the host's verification messages.
    pub purpose: String,
}

/// A fresh store for one invocation: its own WASI context (which grants nothing), resource table,
/// memory and instance limits, host-call cap and epoch deadline. The one place an invocation's
/// sandbox is built, for the runtime and the dispatch benchmark alike.
pub(crate) fn new_store(engine: &wasmtime::Engine, s: Setup) -> wasmtime::Store<PluginState> {
    let timeout_ms = s.limits.timeout_ms;
    let state = PluginState {
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        limits: wasmtime::StoreLimitsBuilder::new()
            .memory_size(s.limits.memory_mb as usize * 1024 * 1024)
            // A componentize-py component alone starts dozens of core instances.
            .instances(64)
            .tables(16)
            .memories(4)
            .trap_on_grow_failure(true)
            .build(),
        gate: s.gate,
        principal: s.principal,
        invocation: s.invocation,
        plugin: s.plugin,
        purpose: s.purpose,
        granted: s.granted,
        storage_quota: s.limits.storage_bytes,
        handed: s.handed.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        handed_subjects: HashSet::new(),
        host_calls: 0,
        max_host_calls: s.limits.host_calls,
        touched: BTreeSet::new(),
        denials: Vec::new(),
        log: Vec::new(),
        plugin_logs: Vec::new(),
    };
    let mut store = wasmtime::Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    let ticks = (u64::from(timeout_ms) / super::engine::TICK.as_millis() as u64).max(1);
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

pub fn add_to_linker(linker: &mut Linker<PluginState>) -> Result<(), PluginError> {
    Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |s| s).map_err(|e| PluginError::Runtime(e.to_string()))
}

fn to_wit(e: AccessError) -> WitError {
    match e {
        AccessError::Denied(m) => WitError::AccessDenied(m),
        AccessError::NotFound { .. } | AccessError::UnknownObject(_) => WitError::NotFound,
        AccessError::Invalid(v) => WitError::InvalidInput(v.to_string()),
        AccessError::BadRequest(m) => WitError::InvalidInput(m),
        AccessError::Conflict(m) => WitError::Conflict(m),
        AccessError::RateLimited(m) => WitError::QuotaExceeded(m),
        AccessError::MfaRequired(m) => WitError::AccessDenied(m),
        AccessError::Integrity(_) => WitError::Unavailable("stored data failed its integrity check".into()),
        AccessError::Internal(_) => WitError::Unavailable("the host could not complete the call".into()),
    }
}

impl PluginState {
    /// Counts a host call; past the cap every call fails.
    fn charge(&mut self) -> Result<(), WitError> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return Err(WitError::QuotaExceeded(format!("more than {} host calls in one invocation", self.max_host_calls)));
        }
        Ok(())
    }

    /// [`PluginState::charge`] for host functions that cannot return an error value: past the cap
    /// they trap, so a plugin looping on them is stopped by the cap, not only by its deadline.
    fn charge_or_trap(&mut self) -> wasmtime::Result<()> {
        self.charge().map_err(|_| wasmtime::Error::msg(format!("host-call limit exceeded: more than {} host calls in one invocation", self.max_host_calls)))
    }

    fn deny(&mut self, what: String) -> WitError {
        self.denials.push(what.clone());
        self.log.push(format!("denied        {what}"));
        WitError::AccessDenied(what)
    }

    fn note_error(&mut self, e: &WitError) {
        if let WitError::AccessDenied(m) = e {
            self.denials.push(m.clone());
            self.log.push(format!("denied        {m}"));
        }
    }

    fn data(&mut self, v: RecordView) -> Result<RecordData, WitError> {
        self.handed.insert(v.id.clone());
        if let Some(s) = &v.subject_id {
            self.handed_subjects.insert(s.clone());
        }
        let mut fields = Vec::with_capacity(v.fields.len());
        for (name, value) in v.fields {
            self.touched.insert((v.object.clone(), name.clone()));
            let how = if v.masked.contains(&name) { "read masked" } else { "read" };
            self.log.push(format!("{how:<13} {}/{} {name}", v.object, v.id));
            fields.push(FieldValue { name, value: value.to_string() });
        }
        Ok(RecordData { id: v.id, object: v.object, version: v.version as u64, fields, masked: v.masked, subject: v.subject_id })
    }

    fn parse_fields(&self, fields: Vec<FieldValue>) -> Result<serde_json::Map<String, serde_json::Value>, WitError> {
        let total: usize = fields.iter().map(|f| f.name.len() + f.value.len()).sum();
        if total > MAX_VALUE_BYTES {
            return Err(WitError::QuotaExceeded(format!("field values larger than {MAX_VALUE_BYTES} bytes")));
        }
        let mut map = serde_json::Map::new();
        for f in fields {
            let v: serde_json::Value = serde_json::from_str(&f.value)
                .map_err(|_| WitError::InvalidInput(format!("the value of `{}` is not JSON", f.name)))?;
            map.insert(f.name, v);
        }
        Ok(map)
    }

    fn check_handed(&mut self, id: &str) -> Result<(), WitError> {
        if self.handed.contains(&id.to_ascii_lowercase()) {
            Ok(())
        } else {
            Err(self.deny(format!("record {id} was not handed to this plugin in this invocation")))
        }
    }

    fn records(&self) -> crate::access::RecordAccess {
        self.gate.records_in(&self.principal, &self.invocation)
    }

    fn object_of(&self, c: &Resource<Collection>) -> wasmtime::Result<String> {
        Ok(self.table.get(c)?.object.clone())
    }

    async fn record_denial_event(&mut self, action: &str, detail: String) {
        let ev = Event::new(&self.principal.actor, action, Outcome::Denied).detail(detail).purpose(self.principal.purpose.as_deref());
        self.invocation.notes.lock().expect("notes lock").push(ev);
    }
}

impl capcrm::plugin::types::Host for PluginState {}

impl capcrm::plugin::records::Host for PluginState {}

impl capcrm::plugin::records::HostCollection for PluginState {
    async fn open(&mut self, object: String) -> wasmtime::Result<Result<Resource<Collection>, WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        // The one policy function decides, as for every other path to records.
        let schema = self.gate.schema();
        let granted = schema.object(&object).is_some_and(|o| Effective::of(&self.principal).may(o, Action::Read));
        if !granted {
            let what = format!("object `{}` was not granted", object.chars().take(60).collect::<String>());
            self.record_denial_event("plugin.open", what.clone()).await;
            return Ok(Err(self.deny(what)));
        }
        Ok(Ok(self.table.push(Collection { object })?))
    }

    async fn granted_fields(&mut self, c: Resource<Collection>) -> wasmtime::Result<Vec<String>> {
        self.charge_or_trap()?;
        let object = self.object_of(&c)?;
        Ok(self
            .principal
            .plugin
            .as_ref()
            .map(|g| g.fields.keys().filter(|(o, _)| *o == object).map(|(_, f)| f.clone()).collect())
            .unwrap_or_default())
    }

    async fn get(&mut self, c: Resource<Collection>, id: String) -> wasmtime::Result<Result<RecordData, WitError>> {
        let object = self.object_of(&c)?;
        if let Err(e) = self.charge().and_then(|_| self.check_handed(&id)) {
            if matches!(e, WitError::AccessDenied(_)) {
                self.record_denial_event("read", format!("{object} record not handed to the plugin")).await;
            }
            return Ok(Err(e));
        }
        let r = self.records().get(&object, &id).await.map_err(to_wit);
        Ok(match r {
            Ok(v) => self.data(v),
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        })
    }

    async fn list(&mut self, c: Resource<Collection>, filters: Vec<Filter>, after: Option<String>, limit: u32) -> wasmtime::Result<Result<Page, WitError>> {
        let object = self.object_of(&c)?;
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        if filters.len() > 10 || filters.iter().any(|f| f.value.len() > 4096) {
            return Ok(Err(WitError::InvalidInput("at most 10 filters of at most 4096 bytes".into())));
        }
        let mut gate_filters = Vec::with_capacity(filters.len());
        for f in filters {
            // Filter values are JSON of the field's type, like field values.
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&f.value) else {
                return Ok(Err(WitError::InvalidInput(format!("the filter value for `{}` is not JSON", f.field.chars().take(60).collect::<String>()))));
            };
            gate_filters.push(GateFilter {
                field: f.field,
                op: match f.op {
                    FilterOp::Eq => GateOp::Eq,
                    FilterOp::Gt => GateOp::Gt,
                    FilterOp::Gte => GateOp::Gte,
                    FilterOp::Lt => GateOp::Lt,
                    FilterOp::Lte => GateOp::Lte,
                },
                value: FilterValue::Json(value),
            });
        }
        let q = ListQuery { filters: gate_filters, search: None, sort: None, after, limit: limit.clamp(1, 200) as usize };
        let r = self.records().list(&object, &q).await.map_err(to_wit);
        Ok(match r {
            Ok(page) => {
                let mut records = Vec::with_capacity(page.records.len());
                for v in page.records {
                    match self.data(v) {
                        Ok(d) => records.push(d),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                Ok(Page { records, next: page.next })
            }
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        })
    }

    async fn create(&mut self, c: Resource<Collection>, fields: Vec<FieldValue>) -> wasmtime::Result<Result<RecordData, WitError>> {
        let object = self.object_of(&c)?;
        let map = match self.charge().and_then(|_| self.parse_fields(fields)) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let names: Vec<String> = map.keys().cloned().collect();
        let r = self.records().create(&object, &map, WriteOptions::default()).await.map_err(to_wit);
        if let Ok(v) = &r {
            self.log.push(format!("create        {object}/{} {}", v.id, names.join(",")));
        }
        Ok(match r {
            Ok(v) => self.data(v),
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        })
    }

    async fn update(&mut self, c: Resource<Collection>, id: String, fields: Vec<FieldValue>, expected_version: Option<u64>) -> wasmtime::Result<Result<RecordData, WitError>> {
        let object = self.object_of(&c)?;
        let map = match self.charge().and_then(|_| self.check_handed(&id)).and_then(|_| self.parse_fields(fields)) {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let opts = WriteOptions { owner_id: None, expected_version: expected_version.map(|v| v as i64), id: None };
        let names: Vec<String> = map.keys().cloned().collect();
        let r = self.records().update(&object, &id, &map, opts).await.map_err(to_wit);
        if r.is_ok() {
            self.log.push(format!("write         {object}/{id} {}", names.join(",")));
        }
        Ok(match r {
            Ok(v) => self.data(v),
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        })
    }

    async fn delete(&mut self, c: Resource<Collection>, id: String) -> wasmtime::Result<Result<(), WitError>> {
        let object = self.object_of(&c)?;
        if let Err(e) = self.charge().and_then(|_| self.check_handed(&id)) {
            return Ok(Err(e));
        }
        let r = self.records().delete(&object, &id, WriteOptions::default()).await.map_err(to_wit);
        if let Err(e) = &r {
            self.note_error(e);
        }
        Ok(r)
    }

    async fn assign(&mut self, c: Resource<Collection>, id: String, owner: String) -> wasmtime::Result<Result<RecordData, WitError>> {
        let object = self.object_of(&c)?;
        if let Err(e) = self.charge().and_then(|_| self.check_handed(&id)) {
            return Ok(Err(e));
        }
        if owner.len() > 200 {
            return Ok(Err(WitError::InvalidInput("a user name is at most 200 bytes".into())));
        }
        let r = self.records().assign(&object, &id, &owner).await.map_err(to_wit);
        if r.is_ok() {
            self.log.push(format!("assign        {object}/{id}"));
        }
        Ok(match r {
            Ok(v) => self.data(v),
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        })
    }

    async fn drop(&mut self, c: Resource<Collection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl capcrm::plugin::storage::Host for PluginState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, WitError>> {
        if let Err(e) = self.charge().and_then(|_| self.storage_granted()) {
            return Ok(Err(e));
        }
        let r = self.gate.plugin_storage_get(&self.invocation, &self.plugin, &key).await.map_err(to_wit);
        let found = match &r {
            Ok(Some(_)) => "found",
            Ok(None) => "none",
            Err(_) => "error",
        };
        self.log.push(format!("storage get   {key} ({found})"));
        Ok(r)
    }

    async fn set(&mut self, key: String, value: Vec<u8>, subject: Option<String>) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.charge().and_then(|_| self.storage_granted()) {
            return Ok(Err(e));
        }
        if key.is_empty() || key.len() > 512 || value.len() > MAX_VALUE_BYTES {
            return Ok(Err(WitError::InvalidInput(format!("keys are 1 to 512 bytes, values at most {MAX_VALUE_BYTES} bytes"))));
        }
        let used = match self.gate.plugin_storage_usage(&self.invocation, &self.plugin).await {
            Ok(u) => u,
            Err(e) => return Ok(Err(to_wit(e))),
        };
        let quota = self.storage_quota.unwrap_or(0) as i64;
        if used + (value.len() + key.len()) as i64 > quota {
            return Ok(Err(WitError::QuotaExceeded(format!("storage quota of {quota} bytes"))));
        }
        self.log.push(format!("storage set   {key} (subject {})", subject.as_deref().unwrap_or("none")));
        Ok(self.gate.plugin_storage_set(&self.invocation, &self.plugin, &key, &value, subject.as_deref()).await.map_err(to_wit))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.charge().and_then(|_| self.storage_granted()) {
            return Ok(Err(e));
        }
        self.log.push(format!("storage del   {key}"));
        Ok(self.gate.plugin_storage_delete(&self.invocation, &self.plugin, &key).await.map(|_| ()).map_err(to_wit))
    }

    async fn list_keys(&mut self, prefix: String, after: Option<String>, limit: u32) -> wasmtime::Result<Result<KeyPage, WitError>> {
        if let Err(e) = self.charge().and_then(|_| self.storage_granted()) {
            return Ok(Err(e));
        }
        if prefix.len() > 512 || after.as_ref().is_some_and(|a| a.len() > 512) {
            return Ok(Err(WitError::InvalidInput("keys and prefixes are at most 512 bytes".into())));
        }
        let r = self.gate.plugin_storage_keys(&self.invocation, &self.plugin, &prefix, after.as_deref(), limit).await.map_err(to_wit);
        self.log.push(format!("storage list  {prefix} ({} keys)", r.as_ref().map(|k| k.0.len()).unwrap_or(0)));
        Ok(r.map(|(keys, more)| {
            let next = if more { keys.last().cloned() } else { None };
            KeyPage { keys, next }
        }))
    }
}

impl PluginState {
    fn storage_granted(&mut self) -> Result<(), WitError> {
        if self.granted.contains("storage") {
            Ok(())
        } else {
            Err(self.deny("storage was not granted".into()))
        }
    }
}

impl capcrm::plugin::notify::Host for PluginState {
    async fn send_email(&mut self, to: capcrm::plugin::notify::Recipient, subject: String, body: String) -> wasmtime::Result<Result<String, WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        if !self.granted.contains("notify:email") {
            return Ok(Err(self.deny("notify:email was not granted".into())));
        }
        if let Err(e) = self.check_handed(&to.id) {
            return Ok(Err(e));
        }
        if subject.len() > 1000 || body.len() > 100_000 {
            return Ok(Err(WitError::InvalidInput("subject at most 1000 bytes, body at most 100000".into())));
        }
        // The recipient's field must be visible to the plugin (masked is enough: it never sees it).
        let schema = self.gate.schema();
        let visible = schema
            .object(&to.object)
            .and_then(|o| o.field(&to.field).map(|f| Effective::of(&self.principal).field(o, f).can_see()))
            .unwrap_or(false);
        if !visible {
            return Ok(Err(self.deny(format!("field `{}` of `{}` was not granted", to.field, to.object))));
        }
        self.log.push(format!("email         {}/{} {}", to.object, to.id, to.field));
        let r = self.gate.queue_email(&self.invocation, &self.plugin, &to.object, &to.id, &to.field, &subject, &body).await;
        Ok(r.map_err(to_wit))
    }
}

impl capcrm::plugin::verification::Host for PluginState {
    async fn send_code(&mut self, email: String) -> wasmtime::Result<Result<String, WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        if !self.granted.contains("verify:email") {
            return Ok(Err(self.deny("verify:email was not granted".into())));
        }
        if email.len() > 254 {
            return Ok(Err(WitError::InvalidInput("an address is at most 254 bytes".into())));
        }
        let r = self.gate.open_challenge(&self.invocation, &self.plugin, &self.purpose, &email).await;
        if let Ok(id) = &r {
            self.log.push(format!("verify send   {id}"));
        }
        Ok(r.map_err(to_wit))
    }

    async fn check_code(&mut self, challenge: String, code: String) -> wasmtime::Result<Result<bool, WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        if !self.granted.contains("verify:email") {
            return Ok(Err(self.deny("verify:email was not granted".into())));
        }
        if challenge.len() > 100 || code.len() > 20 {
            return Ok(Err(WitError::InvalidInput("no such challenge or code".into())));
        }
        let r = self.gate.check_challenge(&self.invocation, &self.plugin, &challenge, &code).await;
        self.log.push(format!("verify check  {challenge}"));
        Ok(r.map_err(to_wit))
    }
}

impl capcrm::plugin::host::Host for PluginState {
    async fn log(&mut self, level: capcrm::plugin::host::Level, message: String) -> wasmtime::Result<()> {
        self.charge_or_trap()?;
        // Plugin text may hold the values the plugin was granted, so it never reaches the host's
        // log: the log records that the plugin wrote a line; the text is kept with the
        // invocation's trace, which only `capcrm plugin test` (an author's tool) prints.
        tracing::debug!(plugin = %self.plugin, level = ?level, bytes = message.len(), "plugin log line");
        if self.plugin_logs.len() < 100 {
            let msg: String = message.chars().take(500).filter(|c| !c.is_control()).collect();
            self.plugin_logs.push(format!("{level:?}: {msg}"));
        }
        Ok(())
    }

    async fn audit_note(&mut self, action: String, detail: String) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        if action.is_empty() || action.len() > 64 || detail.len() > 500 {
            return Ok(Err(WitError::InvalidInput("action 1 to 64 bytes, detail at most 500".into())));
        }
        let ev = Event::new(&self.principal.actor, &format!("plugin.note.{action}"), Outcome::Allowed)
            .detail(detail)
            .purpose(self.principal.purpose.as_deref());
        self.invocation.notes.lock().expect("notes lock").push(ev);
        self.log.push(format!("audit         {action}"));
        Ok(Ok(()))
    }

    async fn now(&mut self) -> wasmtime::Result<u64> {
        self.charge_or_trap()?;
        Ok(crate::store::now_micros() as u64)
    }
}

impl PluginState {
    /// A subject id must have been handed to the plugin in this invocation.
    async fn check_subject(&mut self, subject: &str) -> Result<(), WitError> {
        if self.handed_subjects.contains(&subject.to_ascii_lowercase()) {
            return Ok(());
        }
        self.record_denial_event("subject", "a subject that was not handed to the plugin".into()).await;
        Err(self.deny("subject was not handed to this plugin in this invocation".into()))
    }

    /// The common prologue of subject calls: the host-call cap and the handed check.
    async fn subject_call(&mut self, subject: &str) -> Result<(), WitError> {
        self.charge()?;
        self.check_subject(subject).await
    }

    fn finish<T>(&mut self, r: Result<T, AccessError>) -> Result<T, WitError> {
        r.map_err(|e| {
            let e = to_wit(e);
            self.note_error(&e);
            e
        })
    }
}

impl capcrm::plugin::subjects::Host for PluginState {
    async fn find(&mut self, who: Identifier) -> wasmtime::Result<Result<Vec<SubjectMatch>, WitError>> {
        if let Err(e) = self.charge() {
            return Ok(Err(e));
        }
        let (label, who) = match who {
            Identifier::Email(v) => ("email", GateIdentifier::Email(v)),
            Identifier::Phone(v) => ("phone", GateIdentifier::Phone(v)),
            Identifier::Field((f, v)) => ("field", GateIdentifier::Field(f, v)),
        };
        let r = self.records().find_subjects(&who).await;
        let r = self.finish(r);
        Ok(r.map(|found| {
            self.log.push(format!("subject find  by {label} ({} found)", found.len()));
            found
                .into_iter()
                .map(|m| {
                    self.handed_subjects.insert(m.subject.clone());
                    let records = m
                        .records
                        .into_iter()
                        .map(|(object, id)| {
                            self.handed.insert(id.clone());
                            RecordRef { object, id }
                        })
                        .collect();
                    SubjectMatch { subject: m.subject, records }
                })
                .collect()
        }))
    }

    async fn export_records(&mut self, subject: String, after: Option<String>, limit: u32) -> wasmtime::Result<Result<SubjectRecordPage, WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().export_subject_records(&subject, after.as_deref(), limit as usize).await;
        let page = match self.finish(r) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let mut records = Vec::with_capacity(page.records.len());
        for v in page.records {
            self.log.push(format!("export        {}/{} ({} fields)", v.object, v.id, v.fields.len()));
            match self.data(v) {
                Ok(d) => records.push(d),
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(SubjectRecordPage { records, next: page.next }))
    }

    async fn export_stored(&mut self, subject: String, after: Option<String>, limit: u32) -> wasmtime::Result<Result<StoredPage, WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().export_subject_stored(&subject, after.as_deref(), limit as usize).await;
        Ok(self.finish(r).map(|p| {
            self.log.push(format!("export        stored values ({})", p.values.len()));
            StoredPage {
                values: p.values.into_iter().map(|v| StoredValue { plugin: v.plugin, key: v.key, value: v.value }).collect(),
                next: p.next,
            }
        }))
    }

    async fn erase(&mut self, subject: String, reason: String) -> wasmtime::Result<Result<ErasureReceipt, WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().erase_subject(&subject, &reason).await;
        Ok(self.finish(r).map(|r| {
            self.log.push(format!("erase         subject ({} records)", r.records));
            ErasureReceipt {
                id: r.id,
                subject: r.subject,
                erased_at: r.erased_at as u64,
                records: r.records as u32,
                stored_values: r.stored_values as u32,
                index_entries: r.index_entries as u32,
            }
        }))
    }

    async fn place_hold(&mut self, subject: String, reason: String) -> wasmtime::Result<Result<String, WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().place_hold(&subject, &reason).await;
        self.log.push("hold          placed".into());
        Ok(self.finish(r))
    }

    async fn release_hold(&mut self, subject: String, hold_id: String) -> wasmtime::Result<Result<(), WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().release_hold(&subject, &hold_id).await;
        self.log.push("hold          released".into());
        Ok(self.finish(r))
    }

    async fn holds(&mut self, subject: String) -> wasmtime::Result<Result<Vec<Hold>, WitError>> {
        if let Err(e) = self.subject_call(&subject).await {
            return Ok(Err(e));
        }
        let r = self.records().subject_holds(&subject).await;
        Ok(self.finish(r).map(|hs| {
            hs.into_iter().map(|h| Hold { id: h.id, reason: h.reason, placed_by: h.placed_by, placed_at: h.placed_at as u64 }).collect()
        }))
    }
}
