//! Engine settings in one place: pooling allocator, epoch deadlines, memory limits, and a
//! compiled-component cache on disk keyed by content hash and engine settings.

use super::PluginError;
use super::host::PluginState;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const TICK: Duration = Duration::from_millis(5);

/// The WASI interfaces a plugin may import. Everything else outside `capcrm:plugin` (filesystem,
/// sockets, HTTP) is refused at install, before the component ever runs.
const ALLOWED_WASI: &[&str] =
    &["wasi:io/", "wasi:cli/environment", "wasi:cli/exit", "wasi:cli/stdin", "wasi:cli/stdout", "wasi:cli/stderr", "wasi:cli/terminal-", "wasi:clocks/", "wasi:random/"];

pub struct PluginEngine {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    fingerprint: String,
}

impl PluginEngine {
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Arc<PluginEngine>, PluginError> {
        let mut config = Config::new();
        // Component-model async doubles the cost of every call and is not used by the contract.
        config.concurrency_support(false);
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64);
        pool.total_core_instances(1024);
        pool.total_memories(128);
        pool.total_tables(128);
        pool.max_memory_size((super::manifest::ENGINE_LIMITS.memory_mb as usize) << 20);
        // Reuse of a slot is the cost of a fresh instance: resetting memory with `madvise` and
        // faulting the pages back in on the next call was two thirds of it. Keeping the first
        // pages resident and resetting only those the last instance touched (found with the
        // PAGEMAP_SCAN ioctl, Linux 6.7+; other systems fall back to `madvise`) cut a fresh
        // instance with one host call from about 27 µs to 9 µs (BENCHMARKS.md). Every slot is
        // still returned to its initial contents before it is used again.
        pool.linear_memory_keep_resident(256 << 10);
        pool.table_keep_resident(64 << 10);
        pool.async_stack_keep_resident(64 << 10);
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| PluginError::Runtime(format!("cannot create the engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| PluginError::Runtime(e.to_string()))?;
        super::host::add_to_linker(&mut linker)?;
        let fingerprint = {
            let mut h = Sha256::new();
            h.update(env!("CARGO_PKG_VERSION"));
            h.update(b"wasmtime-48;epoch;pooling;async");
            let mut std_hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut std_hasher);
            h.update(std::hash::Hasher::finish(&std_hasher).to_be_bytes());
            hex::encode(&h.finalize()[..8])
        };
        let ticker = engine.weak();
        // An OS thread, so that the deadline fires even when the async runtime is busy.
        std::thread::Builder::new()
            .name("capcrm-epoch".into())
            .spawn(move || {
                while let Some(e) = ticker.upgrade() {
                    e.increment_epoch();
                    drop(e);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(|e| PluginError::Runtime(format!("cannot start the epoch ticker: {e}")))?;
        if let Some(d) = &cache_dir {
            let _ = std::fs::create_dir_all(d);
        }
        Ok(Arc::new(PluginEngine { engine, linker, cache_dir, fingerprint }))
    }

    /// Compiles a component, or loads its compiled form from the cache.
    pub fn compile(&self, bytes: &[u8], code_hash: &str) -> Result<Component, PluginError> {
        let cached = self.cache_dir.as_ref().map(|d| d.join(format!("{}-{}.cwasm", code_hash.trim_start_matches("sha256:"), self.fingerprint)));
        if let Some(path) = &cached {
            if path.exists() {
                // Safety-free: `deserialize_file` is unsafe because a file could be forged; the
                // cache lives in the data directory (mode 0700) and is keyed by the content hash.
                if let Ok(c) = load_cached(&self.engine, path) {
                    return Ok(c);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Invalid(format!("not a valid WebAssembly component: {e}")))?;
        if let (Some(path), Ok(ser)) = (&cached, component.serialize()) {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, ser).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
        Ok(component)
    }

    /// Refuses components that import anything beyond the contract and harmless WASI.
    pub fn check_imports(&self, component: &Component) -> Result<(), PluginError> {
        let ty = component.component_type();
        for (name, _) in ty.imports(&self.engine) {
            let ok = name.starts_with("capcrm:plugin/") || ALLOWED_WASI.iter().any(|p| name.starts_with(p));
            if !ok {
                return Err(PluginError::Invalid(format!(
                    "the component imports `{name}`, which plugins may not use (no filesystem, sockets or network)"
                )));
            }
        }
        Ok(())
    }
}

#[allow(unsafe_code)]
fn load_cached(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Component::serialize` of this engine configuration (the
    // name carries the engine fingerprint) into the host's own cache directory.
    unsafe { Component::deserialize_file(engine, path) }
}
