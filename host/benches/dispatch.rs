//! Plugin dispatch benchmark: an event handled through a fresh instance with one host call,
//! against the same logic as a native Rust function and against an already-instantiated instance;
//! and plugin start-up from the compiled cache. Ratios and differences are measured in one run.
//!
//!     cargo bench -p capcrm --bench dispatch [-- --iters N]
//!
//! Prints a markdown table and records it in BENCHMARKS.md between the `dispatch-bench` markers.

use capcrm::app::{App, Settings};
use capcrm::crypto::RootKeyring;
use capcrm::crypto::root::RootKeySource;
use capcrm::plugin::bench::DispatchBench;
use capcrm::store::Location;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn build_guest() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    let mut cmd = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (k, _) in std::env::vars() {
        if (k.starts_with("CARGO_") && k != "CARGO_HOME") || k.starts_with("RUSTC") || k == "RUSTFLAGS" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(&plugins)
        .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "-p", "guest-bench"])
        .env("CARGO_TARGET_DIR", plugins.join("target"))
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "building guest-bench failed: {}", String::from_utf8_lossy(&out.stderr));
    plugins.join("target/wasm32-wasip2/release/guest_bench.wasm")
}

/// The guest's logic, natively: one call for the time, one comparison.
#[inline(never)]
fn native_handler(occurred_at: u64) -> Result<(), String> {
    let t = capcrm::store::now_micros() as u64;
    if t < occurred_at { Err("clock went backwards".into()) } else { Ok(()) }
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    Stats { mean, p50: v[v.len() / 2], p99: v[(v.len() * 99 / 100).min(v.len() - 1)] }
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iters: usize = args.iter().position(|a| a == "--iters").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let wasm_path = build_guest();
    let wasm = std::fs::read(&wasm_path).expect("read guest");
    let dir = std::env::temp_dir().join(format!("capcrm-dispatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = Settings { location: Location::DataDir(dir.join("data")), root_key: RootKeySource::File(dir.join("root.key")) };
    RootKeyring::create_file(&dir.join("root.key")).unwrap();
    App::init(&settings, "admin", "bench-password-123").await.unwrap();
    let app = App::open(&settings).await.unwrap();
    let bench = DispatchBench::new(&app.plugins, app.gate.clone(), &wasm).await.unwrap();

    // Warm up every path.
    for _ in 0..200 {
        native_handler(1).unwrap();
        bench.fresh_call().await.unwrap();
    }
    let mut warm = bench.warm().await.unwrap();
    for _ in 0..200 {
        DispatchBench::warm_call(&mut warm).await.unwrap();
    }

    // Interleaved in chunks so background load hits all three alike.
    let (mut native, mut fresh, mut hot) = (Vec::with_capacity(iters), Vec::with_capacity(iters), Vec::with_capacity(iters));
    let chunk = 100;
    for _ in 0..iters / chunk {
        for _ in 0..chunk {
            let t = Instant::now();
            black_box(native_handler(black_box(1))).unwrap();
            native.push(t.elapsed());
        }
        for _ in 0..chunk {
            let t = Instant::now();
            bench.fresh_call().await.unwrap();
            fresh.push(t.elapsed());
        }
        for _ in 0..chunk {
            let t = Instant::now();
            DispatchBench::warm_call(&mut warm).await.unwrap();
            hot.push(t.elapsed());
        }
    }
    let mut phases = [Duration::ZERO; 3];
    for _ in 0..iters {
        let p = bench.fresh_call_phases().await.unwrap();
        for i in 0..3 {
            phases[i] += p[i];
        }
    }
    let phase_mean = |i: usize| us(phases[i] / iters as u32);
    let startup: Vec<Duration> = (0..50).map(|_| bench.startup_from_cache(&wasm).unwrap()).collect();
    let compile: Vec<Duration> = (0..3).map(|_| bench.compile_uncached(&wasm).unwrap()).collect();
    drop(warm);
    bench.finish().await.unwrap();
    app.db.close().await;
    let _ = std::fs::remove_dir_all(&dir);

    let (n, f, h, s, c) = (stats(native), stats(fresh), stats(hot), stats(startup), stats(compile));
    let over_fresh = f.mean.saturating_sub(n.mean);
    let over_warm = h.mean.saturating_sub(n.mean);
    let verdict = |ok: bool| if ok { "pass" } else { "**miss**" };
    let nproc = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut table = String::new();
    table.push_str(&format!(
        "### Plugin dispatch ({iters} events a path, interleaved; guest `plugins/test-guests/guest-bench`, {} bytes)\n\n",
        wasm.len()
    ));
    table.push_str(&format!("- Command: `cargo bench -p capcrm --bench dispatch -- --iters {iters}`; nproc {nproc}\n\n"));
    table.push_str("| Path | mean | p50 | p99 | over native (mean) | target | result |\n|---|---:|---:|---:|---:|---|---|\n");
    table.push_str(&format!("| native Rust function | {} | {} | {} | – | – | – |\n", us(n.mean), us(n.p50), us(n.p99)));
    table.push_str(&format!(
        "| fresh instance + one host call | {} | {} | {} | {} | ≤ 15 µs more | {} |\n",
        us(f.mean), us(f.p50), us(f.p99), us(over_fresh), verdict(over_fresh <= Duration::from_micros(15))
    ));
    table.push_str(&format!(
        "| warm instance + one host call | {} | {} | {} | {} | ≤ 2 µs more | {} |\n",
        us(h.mean), us(h.p50), us(h.p99), us(over_warm), verdict(over_warm <= Duration::from_micros(2))
    ));
    table.push_str(&format!(
        "| start-up of one plugin from the compiled cache | {} | {} | {} | – | < 5 ms a plugin | {} |\n",
        us(s.mean), us(s.p50), us(s.p99), verdict(s.p99 < Duration::from_millis(5))
    ));
    table.push_str(&format!("| compile without the cache (for scale) | {} | {} | {} | – | – | – |\n", us(c.mean), us(c.p50), us(c.p99)));
    table.push_str(&format!(
        "\nWhere a fresh-instance call goes (means over {iters} more calls): store and state {}, instantiation {}, the call with its host call {}.\n",
        phase_mean(0),
        phase_mean(1),
        phase_mean(2)
    ));
    table.push_str("\nThe sandbox only: one invocation stays open for all calls, so no database transaction is in these figures (every real dispatch also commits one).\n");
    println!("{table}");

    let md = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&md).unwrap_or_else(|_| "# Benchmarks\n".into());
    let (start, end) = ("<!-- dispatch-bench -->", "<!-- /dispatch-bench -->");
    let section = format!("{start}\n{table}{end}");
    let updated = match (existing.find(start), existing.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &existing[..a], section, &existing[b + end.len()..]),
        _ => format!("{}\n\n{}\n", existing.trim_end(), section),
    };
    std::fs::write(&md, updated).unwrap();
}
