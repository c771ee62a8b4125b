//! A person's consent records read as history, and what they decide now.
//!
//! The rule is the host's (`host/src/access/consent.rs`), so that what staff read here is what
//! conditions plugins' grants: a record with `withdrawn_at` refuses from that moment; otherwise it
//! decides `granted` at `recorded_at`; the latest decision per purpose wins, and at the same
//! moment a refusal wins. A record without either time (the host falls back to when it was
//! written, which a plugin is not shown) counts as the oldest.

use capcrm_plugin_sdk::time::parse_rfc3339;
use capcrm_plugin_sdk::serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// One consent record as the history lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The consent record's id.
    pub id: String,
    /// Its fields (contact, purpose, granted, source, policy_version, recorded_at, withdrawn_at).
    pub fields: Map<String, Value>,
}

/// What one record decides: (purpose, consents, when in microseconds).
pub fn decision(fields: &Map<String, Value>) -> Option<(String, bool, i64)> {
    let purpose = fields.get("purpose")?.as_str()?.trim().to_ascii_lowercase();
    let at = |name: &str| fields.get(name).and_then(Value::as_str).and_then(parse_rfc3339);
    if let Some(w) = at("withdrawn_at") {
        return Some((purpose, false, w));
    }
    let granted = fields.get("granted").and_then(Value::as_bool).unwrap_or(false);
    Some((purpose, granted, at("recorded_at").unwrap_or(i64::MIN)))
}

/// Per purpose, the record that decides now: (consents, when, record id).
pub fn current(entries: &[Entry]) -> BTreeMap<String, (bool, i64, String)> {
    let mut now: BTreeMap<String, (bool, i64, String)> = BTreeMap::new();
    for e in entries {
        let Some((purpose, granted, at)) = decision(&e.fields) else { continue };
        let replace = match now.get(&purpose) {
            None => true,
            Some((g, t, _)) => at > *t || (at == *t && *g && !granted),
        };
        if replace {
            now.insert(purpose, (granted, at, e.id.clone()));
        }
    }
    now
}

/// The history oldest first (by decision time, then id), and the current state per purpose.
pub fn summary(mut entries: Vec<Entry>) -> Value {
    let state = current(&entries);
    entries.sort_by_key(|e| (decision(&e.fields).map_or(i64::MIN, |d| d.2), e.id.clone()));
    let history: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = Value::Object(e.fields.clone());
            v["id"] = json!(e.id);
            v
        })
        .collect();
    let now: Map<String, Value> = state
        .into_iter()
        .map(|(purpose, (granted, _, id))| {
            let fields = &entries.iter().find(|e| e.id == id).expect("decided by one of them").fields;
            let since = fields.get("withdrawn_at").or_else(|| fields.get("recorded_at")).cloned().unwrap_or(Value::Null);
            (purpose, json!({"granted": granted, "since": since, "record": id}))
        })
        .collect();
    json!({"history": history, "current": now})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, v: Value) -> Entry {
        Entry { id: id.into(), fields: v.as_object().unwrap().clone() }
    }

    #[test]
    fn the_latest_decision_wins_and_a_refusal_wins_a_tie() {
        let entries = vec![
            entry("c1", json!({"purpose": "marketing", "granted": true, "recorded_at": "2026-03-01T10:00:00Z"})),
            entry("c2", json!({"purpose": "marketing", "granted": false, "recorded_at": "2026-03-01T10:00:00.000001Z"})),
            entry("c3", json!({"purpose": "newsletter", "granted": true, "recorded_at": "2026-03-01T10:00:00Z"})),
            entry("c4", json!({"purpose": "newsletter", "granted": false, "recorded_at": "2026-03-01T11:00:00+01:00"})),
            entry("c5", json!({"purpose": "profiling", "granted": true, "recorded_at": "2026-03-01T10:00:00Z", "withdrawn_at": "2026-03-02T10:00:00Z"})),
            entry("c6", json!({"purpose": "profiling", "granted": true, "recorded_at": "2026-03-01T12:00:00Z"})),
        ];
        let now = current(&entries);
        assert_eq!(now["marketing"], (false, 1_772_359_200_000_001, "c2".into()), "a microsecond later is later");
        assert!(!now["newsletter"].0, "the same instant in another zone: the refusal wins");
        assert_eq!((now["profiling"].0, now["profiling"].2.as_str()), (false, "c5"), "a withdrawal speaks for when it was withdrawn");
        let s = summary(entries);
        assert_eq!(s["current"]["profiling"], json!({"granted": false, "since": "2026-03-02T10:00:00Z", "record": "c5"}));
        let order: Vec<&str> = s["history"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
        assert_eq!(order, ["c1", "c3", "c4", "c2", "c6", "c5"], "oldest decision first");
    }

    #[test]
    fn records_without_a_time_or_purpose() {
        let entries = vec![
            entry("old", json!({"purpose": "marketing", "granted": true})),
            entry("new", json!({"purpose": "marketing", "granted": false, "recorded_at": "2026-01-01T00:00:00Z"})),
            entry("none", json!({"granted": true})),
        ];
        let now = current(&entries);
        assert_eq!(now.len(), 1, "no purpose, no decision");
        assert_eq!(now["marketing"].2, "new");
        assert!(current(&entries[..1])["marketing"].0, "a decision without a time still decides when it is the only one");
    }
}
