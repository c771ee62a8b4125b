//! Retention policies: what is kept how long, checked without the host so it can be unit-tested.

use serde::{Deserialize, Serialize};

/// Objects a policy may name: the ones the manifest grants.
pub const OBJECTS: &[&str] = &["lead", "contact"];

/// What happens to a record a policy selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The person is erased: their key is destroyed, so personal and sensitive fields are gone
    /// from the database and every backup, while internal fields (stage, amounts, dates) stay for
    /// counts and reports. The same erasure a data-subject request makes.
    Erase,
    /// The person is erased as above, then the record itself is deleted.
    Delete,
}

/// One policy, e.g. "erase leads untouched for two years" or "erase contacts with no activity
/// for five years".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// A short name: lower-case letters, digits, `-` and `_`.
    pub id: String,
    /// `lead` or `contact`.
    pub object: String,
    /// What happens to the records it selects.
    pub action: Action,
    /// Records not changed for this many days are candidates.
    pub untouched_days: u32,
    /// Contacts only: and no activity dated within this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_activity_days: Option<u32>,
    /// Only records in these stages (a lead's `stage`, a contact's `lifecycle_stage`); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// A disabled policy runs only as a dry run.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The shortest period a policy may keep records: a typo of `7` for `730` should not erase a
/// week's leads.
pub const MIN_DAYS: u32 = 30;
/// The longest period: a hundred years.
pub const MAX_DAYS: u32 = 36_500;

impl Policy {
    /// Why the policy cannot be stored, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > 40 || !self.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
            return Err("`id` must be 1 to 40 lower-case letters, digits, - and _".into());
        }
        if !OBJECTS.contains(&self.object.as_str()) {
            return Err(format!("`object` must be one of {}", OBJECTS.join(", ")));
        }
        for days in std::iter::once(self.untouched_days).chain(self.no_activity_days) {
            if !(MIN_DAYS..=MAX_DAYS).contains(&days) {
                return Err(format!("periods are {MIN_DAYS} to {MAX_DAYS} days"));
            }
        }
        if self.no_activity_days.is_some() && self.object != "contact" {
            return Err("`no_activity_days` applies to contacts (activities name a contact)".into());
        }
        if self.stages.len() > 20 || self.stages.iter().any(|s| s.is_empty() || s.len() > 60) {
            return Err("`stages` is at most 20 names".into());
        }
        Ok(())
    }

    /// The field holding the stage `stages` compares with.
    pub fn stage_field(&self) -> &'static str {
        if self.object == "lead" { "stage" } else { "lifecycle_stage" }
    }

    /// Whether a record in `stage` is in the policy's reach.
    pub fn stage_matches(&self, stage: Option<&str>) -> bool {
        self.stages.is_empty() || stage.is_some_and(|s| self.stages.iter().any(|w| w == s))
    }
}

/// The moment `days` before `now_micros`, as RFC 3339 (at midnight UTC, so a run's cut-off does not
/// move during the day).
pub fn cutoff(now_micros: u64, days: u32) -> String {
    let today = (now_micros / 86_400_000_000) as i64;
    capcrm_plugin_sdk::time::midnight(today - i64::from(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead_policy() -> Policy {
        Policy { id: "stale-leads".into(), object: "lead".into(), action: Action::Delete, untouched_days: 730, no_activity_days: None, stages: vec![], enabled: true }
    }

    #[test]
    fn policies_are_checked() {
        assert_eq!(lead_policy().check(), Ok(()));
        assert!(Policy { id: "Bad Id".into(), ..lead_policy() }.check().is_err());
        assert!(Policy { object: "deal".into(), ..lead_policy() }.check().is_err());
        assert!(Policy { untouched_days: 7, ..lead_policy() }.check().is_err(), "a week is too short to be meant");
        assert!(Policy { no_activity_days: Some(1825), ..lead_policy() }.check().is_err(), "activities name contacts");
        let contacts = Policy { id: "inactive".into(), object: "contact".into(), action: Action::Erase, untouched_days: 1825, no_activity_days: Some(1825), stages: vec![], enabled: true };
        assert_eq!(contacts.check(), Ok(()));
        let json = r#"{"id": "x", "object": "lead", "action": "erase", "untouched_days": 400, "color": "red"}"#;
        assert!(serde_json::from_str::<Policy>(json).is_err(), "unknown fields are refused");
    }

    #[test]
    fn stages_narrow_a_policy() {
        let p = Policy { stages: vec!["unqualified".into()], ..lead_policy() };
        assert!(p.stage_matches(Some("unqualified")) && !p.stage_matches(Some("qualified")) && !p.stage_matches(None));
        assert!(lead_policy().stage_matches(None), "no stages: every record");
        assert_eq!(p.stage_field(), "stage");
    }

    #[test]
    fn cutoffs_fall_on_midnight_across_leap_years() {
        // 2026-12-02 10:00 UTC: 730 days back is 2024-12-02, 30 days back 2026-11-02.
        let now = 1_796_205_600_000_000u64;
        assert_eq!(cutoff(now, 730), "2024-12-02T00:00:00Z");
        assert_eq!(cutoff(now, 30), "2026-11-02T00:00:00Z");
    }
}
