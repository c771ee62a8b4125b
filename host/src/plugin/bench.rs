//! Hooks for the dispatch benchmark (`cargo bench --bench dispatch`); not an API.
//!
//! They run the real engine, linker and host state, but keep one invocation open for all calls,
//! so that what is measured is the sandbox (instantiation, the call across the boundary, one host
//! call) rather than the database transaction every real invocation also has.

use super::engine::PluginEngine;
use super::host::{Plugin, PluginPre, PluginState};
use super::{PluginError, PluginRuntime, registry};
use crate::access::{Gate, Invocation, Principal};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;

pub struct DispatchBench {
    engine: Arc<PluginEngine>,
    pre: PluginPre<PluginState>,
    gate: Gate,
    invocation: Invocation,
}

/// An instance kept across calls.
pub struct Warm {
    store: Store<PluginState>,
    plugin: Plugin,
}

fn event() -> super::host::exports::capcrm::plugin::events::Event {
    super::host::exports::capcrm::plugin::events::Event {
        id: "bench".into(),
        kind: "record.created".into(),
        object: "contact".into(),
        record_id: "bench".into(),
        changed_fields: vec!["first_name".into()],
        occurred_at: 1,
    }
}

impl DispatchBench {
    pub async fn new(runtime: &Arc<PluginRuntime>, gate: Gate, wasm: &[u8]) -> Result<DispatchBench, PluginError> {
        let hash = registry::code_hash(wasm);
        let component = runtime.engine.compile(wasm, &hash)?;
        let pre = runtime.pre(&hash, &component)?;
        let invocation = gate.begin_invocation().await?;
        Ok(DispatchBench { engine: runtime.engine.clone(), pre, gate, invocation })
    }

    /// The store a real invocation gets (the same constructor), with a deadline and host-call
    /// cap out of the way of the measurement.
    fn store(&self) -> Store<PluginState> {
        super::host::new_store(
            &self.engine.engine,
            super::host::Setup {
                gate: self.gate.clone(),
                principal: Principal::system("bench"),
                invocation: self.invocation.clone(),
                plugin: "bench".into(),
                granted: Default::default(),
                limits: super::manifest::EffectiveLimits { memory_mb: 16, timeout_ms: 60_000, host_calls: u32::MAX, storage_bytes: None },
                handed: vec!["bench".into()],
                purpose: "benchmark".into(),
            },
        )
    }

    /// One event through a fresh instance, as every real dispatch does.
    pub async fn fresh_call(&self) -> Result<(), PluginError> {
        let mut store = self.store();
        let plugin = self.pre.instantiate_async(&mut store).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        let r = plugin.capcrm_plugin_events().call_handle(&mut store, &event()).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        r.map_err(|e| PluginError::Failed(format!("{e:?}")))
    }

    /// [`DispatchBench::fresh_call`] in its three phases: building the store (state, WASI context,
    /// limits), instantiating, and the call itself.
    pub async fn fresh_call_phases(&self) -> Result<[Duration; 3], PluginError> {
        let t0 = Instant::now();
        let mut store = self.store();
        let t1 = Instant::now();
        let plugin = self.pre.instantiate_async(&mut store).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        let t2 = Instant::now();
        let r = plugin.capcrm_plugin_events().call_handle(&mut store, &event()).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        let t3 = Instant::now();
        r.map_err(|e| PluginError::Failed(format!("{e:?}")))?;
        drop(store);
        Ok([t1 - t0, t2 - t1, t3 - t2])
    }

    pub async fn warm(&self) -> Result<Warm, PluginError> {
        let mut store = self.store();
        let plugin = self.pre.instantiate_async(&mut store).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        Ok(Warm { store, plugin })
    }

    /// One event through an instance that already exists.
    pub async fn warm_call(w: &mut Warm) -> Result<(), PluginError> {
        w.store.set_epoch_deadline(60_000 / super::engine::TICK.as_millis() as u64);
        let r = w.plugin.capcrm_plugin_events().call_handle(&mut w.store, &event()).await.map_err(|e| PluginError::Runtime(e.to_string()))?;
        r.map_err(|e| PluginError::Failed(format!("{e:?}")))
    }

    /// Start-up of one plugin from the compiled cache: load the compiled component and build its
    /// `InstancePre`, as a node does when it first meets a plugin version.
    pub fn startup_from_cache(&self, wasm: &[u8]) -> Result<Duration, PluginError> {
        let hash = registry::code_hash(wasm);
        let t = Instant::now();
        let c = self.engine.compile(wasm, &hash)?;
        let ip = self.engine.linker.instantiate_pre(&c).map_err(|e| PluginError::Runtime(e.to_string()))?;
        PluginPre::new(ip).map_err(|e| PluginError::Runtime(e.to_string()))?;
        Ok(t.elapsed())
    }

    /// Compiling the component from scratch (what the cache saves).
    pub fn compile_uncached(&self, wasm: &[u8]) -> Result<Duration, PluginError> {
        let t = Instant::now();
        wasmtime::component::Component::new(&self.engine.engine, wasm).map_err(|e| PluginError::Runtime(e.to_string()))?;
        Ok(t.elapsed())
    }

    pub async fn finish(self) -> Result<(), PluginError> {
        let ev = crate::audit::Event::new(&crate::audit::Actor::system("bench"), "bench", crate::audit::Outcome::Allowed);
        self.gate.abort_invocation(&self.invocation, ev).await?;
        Ok(())
    }
}
