//! The plugin's settings: scoring rules, assignment rules and the public form's rate limits.
//! Kept in plugin storage under [`KEY`], changed only through the administrators' route, and
//! checked as a whole before they replace the old ones.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the settings live in plugin storage.
pub const KEY: &str = "config";

/// The lead sources of the host's built-in schema (`LEAD_SOURCES`).
pub const SOURCES: &[&str] = &["web_form", "referral", "event", "cold_call", "partner", "advertising", "api", "import"];

/// Lead fields whose being filled in may earn points.
pub const SCORABLE: &[&str] = &["first_name", "email", "phone", "company_name", "title", "address_country"];

/// Everything that can be configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How a lead's score is computed.
    pub scoring: ScoringRules,
    /// Who gets a new lead.
    pub assignment: AssignmentRules,
    /// How many submissions the public form takes.
    pub rate_limit: RateLimit,
}

/// Points per source, per field filled in, per activity; the sum is kept within 0 to 100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringRules {
    /// Points for where the lead came from; a source not named earns none.
    pub source: BTreeMap<String, i32>,
    /// Points for each of these fields that has a value.
    pub fields: BTreeMap<String, i32>,
    /// Points per activity on the lead (each submission is one).
    pub per_activity: i32,
    /// The most points activities may earn together.
    pub max_activity_points: i32,
}

/// Territory rules first (the lead's country decides), then a turn among the round-robin owners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssignmentRules {
    /// Owners (user names) who take turns with leads no territory rule claims.
    pub round_robin: Vec<String>,
    /// Country to territory and owner, checked in order.
    pub territories: Vec<TerritoryRule>,
}

/// Leads from these countries belong to a territory and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerritoryRule {
    /// Countries as leads give them (`DE`, `Germany`), compared without case.
    pub countries: Vec<String>,
    /// Written to the lead's `territory`.
    pub territory: String,
    /// The owner of the territory's leads.
    pub owner: String,
}

/// Limits of the public form: per client (the host's keyed digest of the address) and overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Submissions one client may make in an hour.
    pub per_client_per_hour: u32,
    /// Submissions all clients together may make in a minute.
    pub all_clients_per_minute: u32,
}

impl Default for ScoringRules {
    /// People who were referred or met in person convert best; a filled-in company and title show
    /// a business interest; every further touch shows intent.
    fn default() -> Self {
        let source = [("referral", 30), ("partner", 25), ("event", 20), ("web_form", 15), ("api", 10), ("advertising", 10), ("cold_call", 5), ("import", 0)];
        let fields = [("company_name", 15), ("title", 10), ("phone", 10), ("email", 5), ("address_country", 5)];
        ScoringRules {
            source: source.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            per_activity: 5,
            max_activity_points: 25,
        }
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { per_client_per_hour: 10, all_clients_per_minute: 120 }
    }
}

/// An owner is a user name: letters, digits, `.`, `_`, `-` and `@`, at most 64.
pub fn valid_owner(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

impl Config {
    /// Why the settings cannot be taken, naming the part (never a value a person typed).
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.scoring;
        for (name, pts) in &s.source {
            if !SOURCES.contains(&name.as_str()) {
                return Err(format!("scoring.source: unknown source `{}`; sources are {}", clip(name), SOURCES.join(", ")));
            }
            points("scoring.source", *pts)?;
        }
        for (name, pts) in &s.fields {
            if !SCORABLE.contains(&name.as_str()) {
                return Err(format!("scoring.fields: `{}` cannot be scored; fields are {}", clip(name), SCORABLE.join(", ")));
            }
            points("scoring.fields", *pts)?;
        }
        if !(0..=50).contains(&s.per_activity) || !(0..=100).contains(&s.max_activity_points) {
            return Err("scoring.per_activity must be 0 to 50 and scoring.max_activity_points 0 to 100".into());
        }
        let a = &self.assignment;
        if a.round_robin.len() > 100 || a.territories.len() > 200 {
            return Err("assignment: at most 100 round-robin owners and 200 territory rules".into());
        }
        if let Some(o) = a.round_robin.iter().find(|o| !valid_owner(o)) {
            return Err(format!("assignment.round_robin: `{}` is not a user name", clip(o)));
        }
        for (i, t) in a.territories.iter().enumerate() {
            let country_ok = |c: &String| !c.trim().is_empty() && c.chars().count() <= 60;
            if t.countries.is_empty() || t.countries.len() > 300 || !t.countries.iter().all(country_ok) {
                return Err(format!("assignment.territories[{i}]: 1 to 300 countries of at most 60 characters"));
            }
            if t.territory.trim().is_empty() || t.territory.chars().count() > 100 || !valid_owner(&t.owner) {
                return Err(format!("assignment.territories[{i}]: a territory name of 1 to 100 characters and a user name as owner"));
            }
        }
        let r = self.rate_limit;
        if !(1..=10_000).contains(&r.per_client_per_hour) || !(1..=100_000).contains(&r.all_clients_per_minute) {
            return Err("rate_limit.per_client_per_hour must be 1 to 10000 and rate_limit.all_clients_per_minute 1 to 100000".into());
        }
        Ok(())
    }
}

fn points(part: &str, pts: i32) -> Result<(), String> {
    if (-100..=100).contains(&pts) { Ok(()) } else { Err(format!("{part}: points are -100 to 100")) }
}

/// Settings text is an administrator's, but it is echoed back short all the same.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use capcrm_plugin_sdk::serde_json::{self, json};

    #[test]
    fn defaults_are_valid_and_partial_settings_fill_in_from_them() {
        assert_eq!(Config::default().validate(), Ok(()));
        let c: Config = serde_json::from_value(json!({"rate_limit": {"per_client_per_hour": 3}})).unwrap();
        assert_eq!(c.rate_limit.per_client_per_hour, 3);
        assert_eq!(c.rate_limit.all_clients_per_minute, 120);
        assert_eq!(c.scoring, ScoringRules::default());
    }

    #[test]
    fn bad_settings_are_refused_with_the_part_named() {
        let with = |v| serde_json::from_value::<Config>(v).unwrap().validate().unwrap_err();
        assert!(with(json!({"scoring": {"source": {"carrier_pigeon": 5}}})).contains("unknown source"));
        assert!(with(json!({"scoring": {"fields": {"national_id": 5}}})).contains("cannot be scored"));
        assert!(with(json!({"scoring": {"source": {"referral": 500}}})).contains("-100 to 100"));
        assert!(with(json!({"assignment": {"round_robin": ["alice", "bob smith"]}})).contains("not a user name"));
        assert!(with(json!({"assignment": {"territories": [{"countries": [], "territory": "x", "owner": "a"}]}})).contains("territories[0]"));
        assert!(with(json!({"rate_limit": {"per_client_per_hour": 0}})).contains("rate_limit"));
        assert!(serde_json::from_value::<Config>(json!({"scoring": {"bonus": 1}})).is_err(), "unknown keys are refused");
    }
}
