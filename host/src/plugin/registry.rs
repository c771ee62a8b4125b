//! Installed plugins: versions, manifests and the capabilities administrators approved.
//!
//! Install leaves a version pending. Approval grants all of its capabilities or all but the denied
//! ones. An upgrade that asks for nothing beyond the running version's grant is approved with that
//! grant; one that asks for more waits for an administrator while the approved version keeps running.

use super::PluginError;
use super::manifest::{EffectiveLimits, LimitMaxima, LimitOverrides, Manifest, diff, effective_limits};
use crate::access::{Effective, Gate, Principal, SystemPermission};
use crate::audit::{Event, Outcome};
use crate::store::now_micros;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::BTreeSet;

/// One version of a plugin as an administrator sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: String,
    /// pending, approved, superseded or rejected.
    pub status: String,
    pub code_hash: String,
    /// Everything the manifest asks for.
    pub requested: Vec<String>,
    /// What an administrator approved (empty while pending).
    pub granted: Vec<String>,
    /// Compared with the running version's grant: capabilities this version adds.
    pub adds: Vec<String>,
    /// Compared with the running version's grant: capabilities this version drops.
    pub drops: Vec<String>,
    pub approved_by: Option<String>,
    pub purpose: String,
    pub author: String,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    pub name: String,
    /// enabled, disabled or revoked.
    pub state: String,
    /// The version that runs, if any was approved.
    pub active_version: Option<String>,
    /// Limits an administrator set in place of the manifest's.
    pub limit_overrides: LimitOverrides,
    /// What the running version's invocations get: its manifest's limits, overridden, capped by
    /// the maxima.
    pub limits: Option<EffectiveLimits>,
    pub versions: Vec<VersionInfo>,
}

/// What the runtime needs to run the approved version.
#[derive(Debug, Clone)]
pub struct ActivePlugin {
    pub name: String,
    pub version: String,
    pub code_hash: String,
    /// The component's bytes, when they were loaded (the hot path leaves them in the database
    /// unless the compiled form is not cached in this process yet).
    pub component: Option<Vec<u8>>,
    pub manifest: Manifest,
    pub granted: BTreeSet<String>,
    /// The administrator's overrides of the manifest's limits.
    pub overrides: LimitOverrides,
    /// The maxima in force when this was read.
    pub maxima: LimitMaxima,
}

impl ActivePlugin {
    /// What an invocation of this version may use.
    pub fn limits(&self) -> EffectiveLimits {
        effective_limits(&self.manifest, &self.overrides, &self.maxima)
    }

    /// How the plugin appears as an actor in the audit trail.
    pub fn actor_name(&self) -> String {
        format!("{}@{} ({})", self.name, self.version, &self.code_hash[..19.min(self.code_hash.len())])
    }
}

pub fn code_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn caps_from(text: Option<String>) -> BTreeSet<String> {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// Where the maxima live in `meta`.
const MAXIMA_KEY: &str = "plugin.limit_maxima";

/// The maxima as stored (absent: the defaults). A row that does not parse falls back to the
/// defaults rather than lifting every limit.
fn maxima_from(text: Option<String>) -> LimitMaxima {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

fn overrides_from(text: Option<String>) -> LimitOverrides {
    text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// A scalar subquery for the maxima, so the hot path reads them in the same statement as the plugin.
const MAXIMA_SQL: &str = "(SELECT value FROM meta WHERE key = 'plugin.limit_maxima')";

#[derive(Clone)]
pub struct Registry {
    pub(crate) gate: Gate,
}

impl Registry {
    pub fn new(gate: Gate) -> Self {
        Registry { gate }
    }

    /// The limit maxima in force.
    pub async fn maxima(&self) -> Result<LimitMaxima, PluginError> {
        let v: Option<String> = sqlx::query_scalar(&format!("SELECT {MAXIMA_SQL}")).fetch_one(self.gate.db().reader()).await?;
        Ok(maxima_from(v))
    }

    /// Sets the maxima every plugin's limits are capped by, on every node from its next call.
    /// Plugins already installed keep running, with their limits capped.
    pub async fn set_maxima(&self, p: &Principal, m: LimitMaxima) -> Result<LimitMaxima, PluginError> {
        self.require_admin(p, "plugin.maxima", "(all)").await?;
        m.validate()?;
        let mut tx = self.gate.db().begin_write().await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(MAXIMA_KEY)
            .bind(serde_json::to_string(&m).expect("serialises"))
            .execute(&mut *tx)
            .await?;
        let detail = format!("memory_mb {} timeout_ms {} host_calls {} storage_bytes {}", m.memory_mb, m.timeout_ms, m.host_calls, m.storage_bytes);
        self.audit(&mut tx, p, "plugin.maxima", detail).await?;
        tx.commit().await?;
        Ok(m)
    }

    /// Sets (or, with all fields unset, clears) one plugin's limits in place of its manifest's.
    pub async fn set_limits(&self, p: &Principal, name: &str, o: LimitOverrides) -> Result<PluginInfo, PluginError> {
        self.require_admin(p, "plugin.limits", name).await?;
        o.validate(&self.maxima().await?)?;
        let mut tx = self.gate.db().begin_write().await?;
        let value = (!o.is_empty()).then(|| serde_json::to_string(&o).expect("serialises"));
        let n = sqlx::query("UPDATE plugins SET limit_overrides = $1 WHERE name = $2")
            .bind(value.clone())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(PluginError::NotFound(format!("no plugin named `{name}`")));
        }
        self.audit(&mut tx, p, "plugin.limits", format!("{name}: {}", value.as_deref().unwrap_or("manifest limits"))).await?;
        tx.commit().await?;
        self.show(name).await
    }

    async fn require_admin(&self, p: &Principal, action: &str, name: &str) -> Result<(), PluginError> {
        if Effective::of(p).has(SystemPermission::Plugins) {
            return Ok(());
        }
        let ev = Event::new(&p.actor, action, Outcome::Denied).detail(format!("plugin {name}")).request(p.request_id.as_deref());
        self.gate.audit_event(ev).await?;
        Err(PluginError::Denied("managing plugins needs an administrator".into()))
    }

    async fn audit(&self, tx: &mut crate::store::Tx, p: &Principal, action: &str, detail: String) -> Result<(), PluginError> {
        let ev = Event::new(&p.actor, action, Outcome::Allowed).detail(detail).request(p.request_id.as_deref());
        self.gate.audit().append(tx, vec![ev]).await?;
        Ok(())
    }

    /// Stores a component and its manifest as a new version. `checked` is the manifest already
    /// validated and the component already compiled and import-checked by the runtime.
    pub async fn install(&self, p: &Principal, component: &[u8], manifest_text: &str, manifest: &Manifest) -> Result<PluginInfo, PluginError> {
        self.require_admin(p, "plugin.install", &manifest.name).await?;
        let hash = code_hash(component);
        let requested = manifest.capabilities();
        let db = self.gate.db();
        let mut tx = db.begin_write().await?;
        let existing = sqlx::query("SELECT 1 FROM plugin_versions WHERE name = $1 AND version = $2")
            .bind(manifest.name.clone())
            .bind(manifest.version.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Err(PluginError::Conflict(format!(
                "{} {} is already installed; bump the version to install a new build",
                manifest.name, manifest.version
            )));
        }
        sqlx::query("INSERT INTO plugins (name, state, active_version, created_at) VALUES ($1, 'enabled', NULL, $2) ON CONFLICT (name) DO NOTHING")
            .bind(manifest.name.clone())
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        // An upgrade within the running grant keeps that grant, narrowed to what it asks for.
        let active = self.active_grant(&mut tx, &manifest.name).await?;
        let (status, granted) = match active {
            Some(old) if requested.is_subset(&old) => ("approved", Some(requested.clone())),
            _ => ("pending", None),
        };
        sqlx::query(
            "INSERT INTO plugin_versions (name, version, code_hash, component, manifest, status, granted, approved_by, approved_at, installed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(manifest.name.clone())
        .bind(manifest.version.clone())
        .bind(hash.clone())
        .bind(component.to_vec())
        .bind(manifest_text.to_string())
        .bind(status)
        .bind(granted.as_ref().map(|g| serde_json::to_string(g).expect("serialises")))
        .bind(granted.as_ref().map(|_| "(upgrade within the approved grant)".to_string()))
        .bind(granted.as_ref().map(|_| now_micros()))
        .bind(now_micros())
        .execute(&mut *tx)
        .await?;
        if status == "approved" {
            self.activate(&mut tx, &manifest.name, &manifest.version).await?;
        }
        self.audit(&mut tx, p, "plugin.install", format!("{} {} {hash} {status}", manifest.name, manifest.version)).await?;
        tx.commit().await?;
        self.show(&manifest.name).await
    }

    async fn active_grant(&self, tx: &mut crate::store::Tx, name: &str) -> Result<Option<BTreeSet<String>>, PluginError> {
        let row = sqlx::query(
            "SELECT v.granted FROM plugins p JOIN plugin_versions v ON v.name = p.name AND v.version = p.active_version WHERE p.name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        Ok(match row {
            Some(r) => Some(caps_from(r.try_get(0)?)),
            None => None,
        })
    }

    async fn activate(&self, tx: &mut crate::store::Tx, name: &str, version: &str) -> Result<(), PluginError> {
        sqlx::query("UPDATE plugin_versions SET status = 'superseded' WHERE name = $1 AND status = 'approved' AND version <> $2")
            .bind(name.to_string())
            .bind(version.to_string())
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE plugins SET active_version = $1, state = 'enabled' WHERE name = $2")
            .bind(version.to_string())
            .bind(name.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Everything about a plugin, including what each version asks for and adds.
    pub async fn show(&self, name: &str) -> Result<PluginInfo, PluginError> {
        let db = self.gate.db();
        let row = sqlx::query(&format!("SELECT state, active_version, limit_overrides, {MAXIMA_SQL} FROM plugins WHERE name = $1"))
            .bind(name.to_string())
            .fetch_optional(db.reader())
            .await?
            .ok_or_else(|| PluginError::NotFound(format!("no plugin named `{name}`")))?;
        let state: String = row.try_get(0)?;
        let active_version: Option<String> = row.try_get(1)?;
        let limit_overrides = overrides_from(row.try_get(2)?);
        let maxima = maxima_from(row.try_get(3)?);
        let mut limits = None;
        let rows = sqlx::query(
            "SELECT version, status, code_hash, manifest, granted, approved_by FROM plugin_versions WHERE name = $1 ORDER BY installed_at",
        )
        .bind(name.to_string())
        .fetch_all(db.reader())
        .await?;
        let mut versions = Vec::new();
        let mut active_grant = BTreeSet::new();
        for r in &rows {
            let v: String = r.try_get(0)?;
            if Some(&v) == active_version.as_ref() {
                active_grant = caps_from(r.try_get(4)?);
            }
        }
        for r in rows {
            let manifest_text: String = r.try_get(3)?;
            let m = Manifest::parse(&manifest_text)?;
            if active_version.as_deref() == Some(r.try_get::<String, _>(0)?.as_str()) {
                limits = Some(effective_limits(&m, &limit_overrides, &maxima));
            }
            let requested = m.capabilities();
            let granted = caps_from(r.try_get(4)?);
            let (adds, drops) = diff(&active_grant, &requested);
            versions.push(VersionInfo {
                version: r.try_get(0)?,
                status: r.try_get(1)?,
                code_hash: r.try_get(2)?,
                requested: requested.into_iter().collect(),
                granted: granted.into_iter().collect(),
                adds,
                drops,
                approved_by: r.try_get(5)?,
                purpose: m.purpose,
                author: m.author,
                description: m.description,
            });
        }
        Ok(PluginInfo { name: name.to_string(), state, active_version, limit_overrides, limits, versions })
    }

    pub async fn list(&self) -> Result<Vec<PluginInfo>, PluginError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM plugins ORDER BY name").fetch_all(self.gate.db().reader()).await?;
        let mut out = Vec::new();
        for n in names {
            out.push(self.show(&n).await?);
        }
        Ok(out)
    }

    /// Approves a version (the newest pending one by default), all of it or all but `deny`.
    pub async fn approve(&self, p: &Principal, name: &str, version: Option<&str>, deny: &[String]) -> Result<PluginInfo, PluginError> {
        self.require_admin(p, "plugin.approve", name).await?;
        let db = self.gate.db();
        let mut tx = db.begin_write().await?;
        let row = match version {
            Some(v) => sqlx::query("SELECT version, manifest FROM plugin_versions WHERE name = $1 AND version = $2")
                .bind(name.to_string())
                .bind(v.to_string())
                .fetch_optional(&mut *tx)
                .await?,
            None => sqlx::query("SELECT version, manifest FROM plugin_versions WHERE name = $1 AND status = 'pending' ORDER BY installed_at DESC LIMIT 1")
                .bind(name.to_string())
                .fetch_optional(&mut *tx)
                .await?,
        }
        .ok_or_else(|| PluginError::NotFound(format!("no pending version of `{name}` to approve")))?;
        let version: String = row.try_get(0)?;
        let manifest = Manifest::parse(&row.try_get::<String, _>(1)?)?;
        let requested = manifest.capabilities();
        for d in deny {
            // A condition narrows the grant: leaving it out would widen it.
            if d.starts_with("consent:") {
                return Err(PluginError::Invalid(format!(
                    "`{d}` is a condition on what {name} reaches, not a capability: it cannot be left out (deny the object's fields instead)"
                )));
            }
            if !requested.contains(d) {
                return Err(PluginError::Invalid(format!(
                    "`{d}` is not a capability {name} {version} asks for; it asks for: {}",
                    requested.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let granted: BTreeSet<String> = requested.iter().filter(|c| !deny.contains(c)).cloned().collect();
        sqlx::query("UPDATE plugin_versions SET status = 'approved', granted = $1, approved_by = $2, approved_at = $3 WHERE name = $4 AND version = $5")
            .bind(serde_json::to_string(&granted).expect("serialises"))
            .bind(p.actor.name.clone())
            .bind(now_micros())
            .bind(name.to_string())
            .bind(version.clone())
            .execute(&mut *tx)
            .await?;
        self.activate(&mut tx, name, &version).await?;
        let detail = if deny.is_empty() {
            format!("{name} {version}: all {} capabilities", granted.len())
        } else {
            format!("{name} {version}: {} capabilities, denied {}", granted.len(), deny.join(", "))
        };
        self.audit(&mut tx, p, "plugin.approve", detail).await?;
        tx.commit().await?;
        self.show(name).await
    }

    async fn set_state(&self, p: &Principal, name: &str, state: &str, action: &str) -> Result<PluginInfo, PluginError> {
        self.require_admin(p, action, name).await?;
        let mut tx = self.gate.db().begin_write().await?;
        let n = sqlx::query("UPDATE plugins SET state = $1 WHERE name = $2")
            .bind(state.to_string())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(PluginError::NotFound(format!("no plugin named `{name}`")));
        }
        if state == "revoked" {
            // A revoked plugin needs a fresh approval: its grant is withdrawn, not paused.
            sqlx::query("UPDATE plugin_versions SET status = 'rejected', granted = NULL WHERE name = $1 AND status = 'approved'")
                .bind(name.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE plugins SET active_version = NULL WHERE name = $1").bind(name.to_string()).execute(&mut *tx).await?;
        }
        self.audit(&mut tx, p, action, name.to_string()).await?;
        tx.commit().await?;
        self.show(name).await
    }

    /// Withdraws the grant; the next call is refused.
    pub async fn revoke(&self, p: &Principal, name: &str) -> Result<PluginInfo, PluginError> {
        self.set_state(p, name, "revoked", "plugin.revoke").await
    }
    pub async fn disable(&self, p: &Principal, name: &str) -> Result<PluginInfo, PluginError> {
        self.set_state(p, name, "disabled", "plugin.disable").await
    }
    pub async fn enable(&self, p: &Principal, name: &str) -> Result<PluginInfo, PluginError> {
        self.set_state(p, name, "enabled", "plugin.enable").await
    }

    /// Removes a plugin, its versions and its stored data.
    pub async fn uninstall(&self, p: &Principal, name: &str) -> Result<(), PluginError> {
        self.require_admin(p, "plugin.uninstall", name).await?;
        let mut tx = self.gate.db().begin_write().await?;
        sqlx::query("DELETE FROM plugin_storage WHERE plugin = $1").bind(name.to_string()).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM plugin_versions WHERE name = $1").bind(name.to_string()).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM plugins WHERE name = $1").bind(name.to_string()).execute(&mut *tx).await?.rows_affected();
        if n == 0 {
            return Err(PluginError::NotFound(format!("no plugin named `{name}`")));
        }
        self.audit(&mut tx, p, "plugin.uninstall", name.to_string()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The stored component of a version.
    pub async fn component(&self, name: &str, version: &str) -> Result<Vec<u8>, PluginError> {
        sqlx::query_scalar("SELECT component FROM plugin_versions WHERE name = $1 AND version = $2")
            .bind(name.to_string())
            .bind(version.to_string())
            .fetch_optional(self.gate.db().reader())
            .await?
            .ok_or_else(|| PluginError::NotFound(format!("{name} {version} is not installed")))
    }

    /// One version (the newest pending one by default), whatever its status, for previews.
    pub async fn version(&self, name: &str, version: Option<&str>) -> Result<ActivePlugin, PluginError> {
        let row = match version {
            Some(v) => sqlx::query(&format!(
                "SELECT v.version, v.code_hash, v.component, v.manifest, v.granted, p.limit_overrides, {MAXIMA_SQL} \
                 FROM plugin_versions v JOIN plugins p ON p.name = v.name WHERE v.name = $1 AND v.version = $2"
            ))
                .bind(name.to_string())
                .bind(v.to_string())
                .fetch_optional(self.gate.db().reader())
                .await?,
            None => sqlx::query(&format!(
                "SELECT v.version, v.code_hash, v.component, v.manifest, v.granted, p.limit_overrides, {MAXIMA_SQL} \
                 FROM plugin_versions v JOIN plugins p ON p.name = v.name WHERE v.name = $1 AND v.status = 'pending' ORDER BY v.installed_at DESC LIMIT 1"
            ))
            .bind(name.to_string())
            .fetch_optional(self.gate.db().reader())
            .await?,
        }
        .ok_or_else(|| PluginError::NotFound(format!("no such version of `{name}` (or nothing pending)")))?;
        Ok(ActivePlugin {
            name: name.to_string(),
            version: row.try_get(0)?,
            code_hash: row.try_get(1)?,
            component: Some(row.try_get(2)?),
            manifest: Manifest::parse(&row.try_get::<String, _>(3)?)?,
            granted: caps_from(row.try_get(4)?),
            overrides: overrides_from(row.try_get(5)?),
            maxima: maxima_from(row.try_get(6)?),
        })
    }

    /// The approved, enabled version that runs, if any.
    pub async fn active(&self, name: &str) -> Result<Option<ActivePlugin>, PluginError> {
        let row = sqlx::query(&format!(
            "SELECT v.version, v.code_hash, NULL, v.manifest, v.granted, p.limit_overrides, {MAXIMA_SQL} FROM plugins p \
             JOIN plugin_versions v ON v.name = p.name AND v.version = p.active_version \
             WHERE p.name = $1 AND p.state = 'enabled' AND v.status = 'approved'"
        ))
        .bind(name.to_string())
        .fetch_optional(self.gate.db().reader())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(ActivePlugin {
            name: name.to_string(),
            version: r.try_get(0)?,
            code_hash: r.try_get(1)?,
            component: None,
            manifest: Manifest::parse(&r.try_get::<String, _>(3)?)?,
            granted: caps_from(r.try_get(4)?),
            overrides: overrides_from(r.try_get(5)?),
            maxima: maxima_from(r.try_get(6)?),
        }))
    }
}
