//! Plugin manifests: what a plugin asks for, as capabilities an administrator approves one by one.
//!
//! A capability is a short string, the unit of approval and of `--deny`:
//! `read:contact.first_name`, `masked:contact.email`, `write:contact.tags`, `create:contact`,
//! `delete:contact`, `event:record.created:contact`, `route:GET /hello`, `schedule:nightly`,
//! `notify:email`, `verify:email`, `storage`, `subject:find` (also `export`, `erase`, `hold`). Grants are
//! allow-lists: what is not named is not reachable.

use crate::access::{FieldAccess, PluginGrant, SubjectOp};
use crate::model::{Schema, is_valid_identifier};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is not valid TOML of a plugin manifest: {0}")]
    Syntax(String),
    #[error("manifest: {0}")]
    Invalid(String),
}

/// Upper bounds an administrator allows any plugin to ask for (or be given by an override). Kept
/// in the database, so every node enforces the same ones; an invocation runs with its plugin's
/// limits capped by the maxima in force when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitMaxima {
    pub memory_mb: u32,
    pub timeout_ms: u32,
    pub host_calls: u32,
    pub storage_bytes: u64,
}

impl Default for LimitMaxima {
    fn default() -> Self {
        LimitMaxima { memory_mb: 64, timeout_ms: 5_000, host_calls: 10_000, storage_bytes: 64 << 20 }
    }
}

/// What the engine itself can hold: maxima above these are refused (the pooling allocator
/// reserves `ENGINE_MAX_MEMORY_MB` per memory slot).
pub const ENGINE_LIMITS: LimitMaxima = LimitMaxima { memory_mb: 64, timeout_ms: 60_000, host_calls: 1_000_000, storage_bytes: 1 << 30 };

impl LimitMaxima {
    /// Each maximum must be at least 1 and within what the engine can hold.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let e = ENGINE_LIMITS;
        let checks = [
            ("memory_mb", u64::from(self.memory_mb), u64::from(e.memory_mb)),
            ("timeout_ms", u64::from(self.timeout_ms), u64::from(e.timeout_ms)),
            ("host_calls", u64::from(self.host_calls), u64::from(e.host_calls)),
            ("storage_bytes", self.storage_bytes, e.storage_bytes),
        ];
        for (name, v, max) in checks {
            if v == 0 || v > max {
                return Err(ManifestError::Invalid(format!("maximum {name} must be 1 to {max}")));
            }
        }
        Ok(())
    }
}

/// Limits an administrator set for one plugin, replacing what its manifest asks for (each within
/// the maxima). Unset ones keep the manifest's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    pub memory_mb: Option<u32>,
    pub timeout_ms: Option<u32>,
    pub host_calls: Option<u32>,
    pub storage_bytes: Option<u64>,
}

impl LimitOverrides {
    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }

    /// Each override must be at least 1 and within the maxima.
    pub fn validate(&self, maxima: &LimitMaxima) -> Result<(), ManifestError> {
        let checks = [
            ("memory_mb", self.memory_mb.map(u64::from), u64::from(maxima.memory_mb)),
            ("timeout_ms", self.timeout_ms.map(u64::from), u64::from(maxima.timeout_ms)),
            ("host_calls", self.host_calls.map(u64::from), u64::from(maxima.host_calls)),
            ("storage_bytes", self.storage_bytes, maxima.storage_bytes),
        ];
        for (name, v, max) in checks {
            if let Some(v) = v {
                if v == 0 || v > max {
                    return Err(ManifestError::Invalid(format!("{name} must be 1 to {max} (the administrator's maximum)")));
                }
            }
        }
        Ok(())
    }
}

/// The limits an invocation actually runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EffectiveLimits {
    pub memory_mb: u32,
    pub timeout_ms: u32,
    pub host_calls: u32,
    /// None when the plugin has no storage.
    pub storage_bytes: Option<u64>,
}

/// The manifest's limits, replaced by the administrator's overrides, capped by the maxima: the
/// one place that decides what an invocation may use.
pub fn effective_limits(manifest: &Manifest, overrides: &LimitOverrides, maxima: &LimitMaxima) -> EffectiveLimits {
    let asked = manifest.limits();
    EffectiveLimits {
        memory_mb: overrides.memory_mb.unwrap_or(asked.memory_mb).clamp(1, maxima.memory_mb),
        timeout_ms: overrides.timeout_ms.unwrap_or(asked.timeout_ms).clamp(1, maxima.timeout_ms),
        host_calls: overrides.host_calls.unwrap_or(asked.host_calls).clamp(1, maxima.host_calls),
        storage_bytes: manifest
            .storage
            .as_ref()
            .map(|st| overrides.storage_bytes.unwrap_or(st.quota_bytes).min(maxima.storage_bytes)),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ObjectAccess {
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub masked: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
    #[serde(default)]
    pub create: bool,
    #[serde(default)]
    pub delete: bool,
    /// May give records to users (`assign:<object>`), e.g. a lead to the salesperson it goes to.
    #[serde(default)]
    pub assign: bool,
    /// A purpose (e.g. `marketing`): the plugin reaches only records of people who consent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub name: String,
    pub every_minutes: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StorageRequest {
    pub quota_bytes: u64,
}

/// Resource limits a plugin asks for (within the administrator's maxima).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub memory_mb: u32,
    pub timeout_ms: u32,
    pub host_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_mb: 16, timeout_ms: 500, host_calls: 1_000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub author: String,
    pub description: String,
    /// The purpose of the processing, shown to administrators and recorded with every audit entry.
    pub purpose: String,
    #[serde(default)]
    pub access: BTreeMap<String, ObjectAccess>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    #[serde(default)]
    pub notifications: Vec<String>,
    /// Proofs of control the host runs for the plugin: `email` (one-time codes, `verify:email`).
    #[serde(default)]
    pub verification: Vec<String>,
    #[serde(default)]
    pub storage: Option<StorageRequest>,
    /// Operations on data subjects: `find`, `export`, `erase`, `hold`.
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub limits: Option<Limits>,
}

pub const EVENT_KINDS: &[&str] = &["record.created", "record.updated", "record.deleted"];

/// A permission a route requires of the person it acts for (`<METHOD> /path needs <permission>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePermission(pub crate::access::SystemPermission);

impl RoutePermission {
    /// `audit`, `subject_export`, ... (the system permissions' names).
    pub fn parse(s: &str) -> Option<RoutePermission> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok().map(RoutePermission)
    }
    pub fn name(&self) -> String {
        serde_json::to_value(self.0).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        toml::from_str(text).map_err(|e| ManifestError::Syntax(e.message().to_string()))
    }

    pub fn limits(&self) -> Limits {
        self.limits.unwrap_or_default()
    }

    /// Checks names, objects, fields, events, routes and limits against the schema and maxima.
    pub fn validate(&self, schema: &Schema, maxima: &LimitMaxima) -> Result<(), ManifestError> {
        let bad = |m: String| Err(ManifestError::Invalid(m));
        if !is_valid_identifier(&self.name) {
            return bad(format!("plugin name `{}` must be lower-case letters, digits and _ (starting with a letter)", self.name));
        }
        let v: Vec<&str> = self.version.split('.').collect();
        if v.len() != 3 || v.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return bad(format!("version `{}` must be MAJOR.MINOR.PATCH", self.version));
        }
        for (label, text, max) in [("author", &self.author, 200), ("description", &self.description, 2000), ("purpose", &self.purpose, 500)] {
            if text.trim().is_empty() || text.chars().count() > max {
                return bad(format!("`{label}` must be 1 to {max} characters"));
            }
        }
        for (object, acc) in &self.access {
            let Some(def) = schema.object(object) else {
                return bad(format!("access names unknown object `{object}`"));
            };
            for f in acc.read.iter().chain(&acc.masked).chain(&acc.write) {
                if def.field(f).is_none() {
                    return bad(format!("access names unknown field `{f}` of object `{object}`"));
                }
            }
            if let Some(p) = &acc.consent {
                if !crate::access::consent::valid_purpose(p) {
                    return bad(format!("consent purpose `{p}` of `{object}` must be 1 to 64 lower-case letters, digits, - and _"));
                }
                if def.subject_mode == crate::model::SubjectMode::None {
                    return bad(format!("`{object}` records are about no person, so access to them cannot depend on consent"));
                }
            }
        }
        for e in &self.events {
            let Some((kind, object)) = e.rsplit_once(':') else {
                return bad(format!("event `{e}` must be `<kind>:<object>`, e.g. record.created:contact"));
            };
            if !EVENT_KINDS.contains(&kind) {
                return bad(format!("event kind `{kind}` is not one of {}", EVENT_KINDS.join(", ")));
            }
            if schema.object(object).is_none() {
                return bad(format!("event `{e}` names unknown object `{object}`"));
            }
        }
        for r in &self.routes {
            // `<METHOD> /path`, answered for signed-in users (the plugin acts for them), or
            // `<METHOD> /path public`, answered for anyone (the plugin acts on its own grant).
            let parts: Vec<&str> = r.split(' ').collect();
            if let [_, _, "needs", perm] = parts.as_slice() {
                if RoutePermission::parse(perm).is_none() {
                    return bad(format!("route `{r}` needs an unknown permission `{perm}`"));
                }
            }
            let ok = match parts.as_slice() {
                [m, path] | [m, path, "public"] | [m, path, "needs", _] => {
                    METHODS.contains(m)
                        && path.starts_with('/')
                        && !path.contains("..")
                        && path.len() <= 200
                        && path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.".contains(c))
                }
                _ => false,
            };
            if !ok {
                return bad(format!(
                    "route `{r}` must be `<METHOD> /path`, `<METHOD> /path public` or `<METHOD> /path needs <permission>`, with a method of {}",
                    METHODS.join(", ")
                ));
            }
        }
        for s in &self.schedules {
            if !is_valid_identifier(&s.name) || s.every_minutes == 0 {
                return bad(format!("schedule `{}` needs an identifier name and every_minutes > 0", s.name));
            }
        }
        for n in &self.notifications {
            if n != "email" {
                return bad(format!("notification channel `{n}` is not supported (email is)"));
            }
        }
        for v in &self.verification {
            if v != "email" {
                return bad(format!("verification `{v}` is not supported (email is)"));
            }
        }
        for op in &self.subjects {
            if SubjectOp::parse(op).is_none() {
                let all: Vec<&str> = SubjectOp::ALL.iter().map(|o| o.name()).collect();
                return bad(format!("subject operation `{op}` is not one of {}", all.join(", ")));
            }
        }
        let l = self.limits();
        if l.memory_mb == 0 || l.memory_mb > maxima.memory_mb {
            return bad(format!("limits.memory_mb must be 1 to {}", maxima.memory_mb));
        }
        if l.timeout_ms == 0 || l.timeout_ms > maxima.timeout_ms {
            return bad(format!("limits.timeout_ms must be 1 to {}", maxima.timeout_ms));
        }
        if l.host_calls == 0 || l.host_calls > maxima.host_calls {
            return bad(format!("limits.host_calls must be 1 to {}", maxima.host_calls));
        }
        if let Some(s) = &self.storage {
            if s.quota_bytes > maxima.storage_bytes {
                return bad(format!("storage.quota_bytes must be at most {}", maxima.storage_bytes));
            }
        }
        Ok(())
    }

    /// Every capability the manifest asks for.
    pub fn capabilities(&self) -> BTreeSet<String> {
        let mut caps = BTreeSet::new();
        for (object, acc) in &self.access {
            for f in &acc.read {
                caps.insert(format!("read:{object}.{f}"));
            }
            for f in &acc.masked {
                caps.insert(format!("masked:{object}.{f}"));
            }
            for f in &acc.write {
                caps.insert(format!("write:{object}.{f}"));
            }
            if acc.create {
                caps.insert(format!("create:{object}"));
            }
            if acc.delete {
                caps.insert(format!("delete:{object}"));
            }
            if let Some(p) = &acc.consent {
                caps.insert(format!("consent:{object}={p}"));
            }
            if acc.assign {
                caps.insert(format!("assign:{object}"));
            }
        }
        caps.extend(self.events.iter().map(|e| format!("event:{e}")));
        caps.extend(self.routes.iter().map(|r| format!("route:{r}")));
        caps.extend(self.schedules.iter().map(|s| format!("schedule:{}", s.name)));
        caps.extend(self.notifications.iter().map(|n| format!("notify:{n}")));
        caps.extend(self.verification.iter().map(|v| format!("verify:{v}")));
        if self.storage.is_some() {
            caps.insert("storage".into());
        }
        caps.extend(self.subjects.iter().map(|o| format!("subject:{o}")));
        caps
    }
}

/// The access-layer grant for a set of approved capabilities.
pub fn grant_of(plugin: &str, caps: &BTreeSet<String>) -> Arc<PluginGrant> {
    let mut g = PluginGrant { plugin: plugin.to_string(), ..Default::default() };
    for c in caps {
        let Some((kind, rest)) = c.split_once(':') else { continue };
        let level = match kind {
            "read" => FieldAccess::Read,
            "masked" => FieldAccess::Masked,
            "write" => FieldAccess::Write,
            "create" => {
                g.create.insert(rest.to_string());
                continue;
            }
            "delete" => {
                g.delete.insert(rest.to_string());
                continue;
            }
            "subject" => {
                g.subjects.extend(SubjectOp::parse(rest));
                continue;
            }
            "assign" => {
                g.assign.insert(rest.to_string());
                continue;
            }
            "consent" => {
                if let Some((o, p)) = rest.split_once('=') {
                    g.consent.insert(o.to_string(), p.to_string());
                }
                continue;
            }
            _ => continue,
        };
        if let Some((o, f)) = rest.split_once('.') {
            let e = g.fields.entry((o.to_string(), f.to_string())).or_insert(level);
            *e = (*e).max(level);
        }
    }
    Arc::new(g)
}

/// What an upgrade asks for beyond (and no longer asks for compared with) an approved grant.
pub fn diff(old: &BTreeSet<String>, new: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (new.difference(old).cloned().collect(), old.difference(new).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = r#"
name = "hello"
version = "0.1.0"
author = "Example"
description = "Greets."
purpose = "Welcome notes"
events = ["record.created:contact"]
routes = ["GET /hello"]
subjects = ["find"]
[access.contact]
read = ["first_name"]
masked = ["email"]
[storage]
quota_bytes = 1000
"#;

    #[test]
    fn capabilities_and_grant() {
        let m = Manifest::parse(HELLO).unwrap();
        m.validate(&Schema::builtin(), &LimitMaxima::default()).unwrap();
        let caps = m.capabilities();
        assert!(caps.contains("read:contact.first_name") && caps.contains("masked:contact.email"));
        assert!(caps.contains("event:record.created:contact") && caps.contains("route:GET /hello") && caps.contains("storage"));
        assert!(caps.contains("subject:find") && !caps.contains("subject:erase"));
        let g = grant_of("hello@0.1.0", &caps);
        assert_eq!(g.fields.get(&("contact".into(), "email".into())), Some(&FieldAccess::Masked));
        assert!(g.create.is_empty());
        assert_eq!(g.subjects.iter().copied().collect::<Vec<_>>(), vec![SubjectOp::Find]);
        assert!(g.assign.is_empty() && g.consent.is_empty(), "nothing asked, nothing granted");
        let m = Manifest::parse(&HELLO.replace("[access.contact]", "[access.contact]\nassign = true\nconsent = \"marketing\"")).unwrap();
        let caps = m.capabilities();
        assert!(caps.contains("assign:contact") && caps.contains("consent:contact=marketing"), "{caps:?}");
        let g = grant_of("hello@0.1.0", &caps);
        assert!(g.assign.contains("contact") && g.consent.get("contact").map(String::as_str) == Some("marketing"));
        let m = Manifest::parse(&HELLO.replace("[\"find\"]", "[\"shred_everything\"]")).unwrap();
        assert!(m.validate(&Schema::builtin(), &LimitMaxima::default()).unwrap_err().to_string().contains("shred_everything"));
    }

    #[test]
    fn rejects_unknown_objects_fields_and_keys() {
        let s = Schema::builtin();
        let max = LimitMaxima::default();
        let m = Manifest::parse(&HELLO.replace("[access.contact]", "[access.starship]")).unwrap();
        assert!(m.validate(&s, &max).unwrap_err().to_string().contains("unknown object `starship`"));
        let m = Manifest::parse(&HELLO.replace("\"first_name\"", "\"shoe_size\"")).unwrap();
        assert!(m.validate(&s, &max).unwrap_err().to_string().contains("unknown field `shoe_size`"));
        assert!(Manifest::parse(&format!("{HELLO}\nsecret_wish = 1")).is_err());
        let m = Manifest::parse(&format!("{HELLO}\n[limits]\nmemory_mb = 100000\ntimeout_ms = 1\nhost_calls = 1")).unwrap();
        assert!(m.validate(&s, &max).is_err());
        for bad_route in ["GET", "FETCH /x", "GET x", "GET /a/../b", "GET /x private", "GET /x y public"] {
            let m = Manifest::parse(&HELLO.replace("GET /hello", bad_route)).unwrap();
            assert!(m.validate(&s, &max).is_err(), "{bad_route}");
        }
        let m = Manifest::parse(&HELLO.replace("GET /hello", "POST /form public")).unwrap();
        assert!(m.validate(&s, &max).is_ok());
        let m = Manifest::parse(&HELLO.replace("GET /hello", "GET /queue needs subject_export")).unwrap();
        assert!(m.validate(&s, &max).is_ok());
        let m = Manifest::parse(&HELLO.replace("GET /hello", "GET /queue needs root")).unwrap();
        assert!(m.validate(&s, &max).unwrap_err().to_string().contains("unknown permission `root`"));
    }

    #[test]
    fn limits_are_overridden_then_capped_by_the_maxima() {
        let m = Manifest::parse(&format!("{HELLO}\n[limits]\nmemory_mb = 32\ntimeout_ms = 2000\nhost_calls = 500")).unwrap();
        let max = LimitMaxima::default();
        let none = LimitOverrides::default();
        assert_eq!(
            effective_limits(&m, &none, &max),
            EffectiveLimits { memory_mb: 32, timeout_ms: 2000, host_calls: 500, storage_bytes: Some(1000) }
        );
        let o = LimitOverrides { timeout_ms: Some(50), storage_bytes: Some(10), ..Default::default() };
        let e = effective_limits(&m, &o, &max);
        assert_eq!((e.timeout_ms, e.storage_bytes, e.memory_mb), (50, Some(10), 32));
        // Maxima lowered after install still bind the running plugin.
        let low = LimitMaxima { memory_mb: 8, timeout_ms: 100, host_calls: 20, storage_bytes: 5 };
        assert_eq!(
            effective_limits(&m, &none, &low),
            EffectiveLimits { memory_mb: 8, timeout_ms: 100, host_calls: 20, storage_bytes: Some(5) }
        );
        assert!(LimitOverrides { timeout_ms: Some(101), ..Default::default() }.validate(&low).is_err());
        assert!(LimitOverrides { host_calls: Some(0), ..Default::default() }.validate(&low).is_err());
        assert!(o.validate(&max).is_ok());
        assert!(LimitMaxima { memory_mb: 65, ..max }.validate().is_err(), "above what the engine reserves");
        assert!(LimitMaxima { timeout_ms: 0, ..max }.validate().is_err());
        assert!(max.validate().is_ok());
    }

    #[test]
    fn diff_shows_what_an_upgrade_adds() {
        let a: BTreeSet<String> = ["read:contact.first_name".to_string()].into();
        let b: BTreeSet<String> = ["read:contact.first_name".to_string(), "read:contact.email".to_string()].into();
        assert_eq!(diff(&a, &b), (vec!["read:contact.email".to_string()], vec![]));
    }
}
