//! The first-party plugins the demo runs: installed from a built plugin workspace and approved
//! whole, as an administrator trying the product would.

use crate::access::Principal;
use crate::app::App;
use anyhow::{Context, bail};
use std::path::Path;

/// First-party plugins: name (and directory under `plugins/`) and the component's file stem.
pub const FIRST_PARTY: &[(&str, &str)] = &[
    ("dsr", "capcrm_dsr"),
    ("leads", "capcrm_leads"),
    ("consent", "capcrm_consent"),
    ("retention", "capcrm_retention"),
];

/// Where `cargo build --release --target wasm32-wasip2` in the plugin workspace puts components.
const BUILT: &str = "target/wasm32-wasip2/release";

/// Installs and approves each first-party plugin found in the plugin workspace `dir` whose
/// manifest's version is not installed yet. Returns `name version` of each one now running.
pub async fn install_first_party(app: &App, dir: &Path) -> anyhow::Result<Vec<String>> {
    let admin = Principal::system("demo");
    let reg = &app.plugins.registry;
    let mut running = Vec::new();
    for (name, stem) in FIRST_PARTY {
        let manifest_path = dir.join(name).join("plugin.toml");
        if !manifest_path.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest_path).with_context(|| format!("cannot read {}", manifest_path.display()))?;
        let manifest = crate::plugin::manifest::Manifest::parse(&text)?;
        let wasm = dir.join(BUILT).join(format!("{stem}.wasm"));
        if !wasm.exists() {
            bail!(
                "{} is missing: build the plugins first with `cargo build --release --target wasm32-wasip2 --manifest-path {}`",
                wasm.display(),
                dir.join("Cargo.toml").display()
            );
        }
        let installed = reg.show(name).await.ok();
        let has_version = installed.as_ref().is_some_and(|p| p.versions.iter().any(|v| v.version == manifest.version));
        if !has_version {
            let bytes = std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
            app.plugins.install(&admin, &bytes, &text).await.with_context(|| format!("installing {name}"))?;
            reg.approve(&admin, name, Some(&manifest.version), &[]).await.with_context(|| format!("approving {name}"))?;
        }
        running.push(format!("{name} {}", manifest.version));
    }
    Ok(running)
}
