//! A lead's score: points for its source, for each scored field it has, and for its activities,
//! kept within 0 to 100. The parts are kept with the total so a seller can see why.

use crate::config::ScoringRules;
use serde::{Deserialize, Serialize};

/// What the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts<'a> {
    /// The lead's source.
    pub source: &'a str,
    /// Names of the lead's fields that have a value.
    pub filled: Vec<&'a str>,
    /// Activities on the lead.
    pub activities: u32,
}

/// A score and the rules that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// 0 to 100.
    pub total: i64,
    /// One line per rule that gave points, e.g. `("source:referral", 30)`.
    pub parts: Vec<(String, i64)>,
}

/// Applies the rules.
pub fn score(rules: &ScoringRules, facts: &Facts) -> Score {
    let mut parts = Vec::new();
    if let Some(p) = rules.source.get(facts.source).filter(|p| **p != 0) {
        parts.push((format!("source:{}", facts.source), i64::from(*p)));
    }
    for (field, p) in &rules.fields {
        if *p != 0 && facts.filled.contains(&field.as_str()) {
            parts.push((format!("field:{field}"), i64::from(*p)));
        }
    }
    let activity = (i64::from(facts.activities) * i64::from(rules.per_activity)).min(i64::from(rules.max_activity_points));
    if activity != 0 {
        parts.push((format!("activities:{}", facts.activities), activity));
    }
    let total = parts.iter().map(|(_, p)| p).sum::<i64>().clamp(0, 100);
    Score { total, parts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_reward_source_fields_and_activity() {
        let rules = ScoringRules::default();
        let bare = score(&rules, &Facts { source: "web_form", filled: vec!["email"], activities: 1 });
        assert_eq!(bare.total, 15 + 5 + 5);
        assert_eq!(bare.parts, vec![("source:web_form".into(), 15), ("field:email".into(), 5), ("activities:1".into(), 5)]);
        let rich = score(&rules, &Facts { source: "referral", filled: vec!["email", "phone", "company_name", "title"], activities: 2 });
        assert_eq!(rich.total, 30 + 5 + 10 + 15 + 10 + 10);
        assert!(rich.total > bare.total);
        let again = score(&rules, &Facts { activities: 3, ..Facts { source: "web_form", filled: vec!["email"], activities: 0 } });
        assert_eq!(again.total, bare.total + 10, "each touch bumps the score");
    }

    #[test]
    fn activity_points_are_capped_and_totals_kept_within_0_and_100() {
        let rules = ScoringRules::default();
        let busy = score(&rules, &Facts { source: "import", filled: vec![], activities: 40 });
        assert_eq!(busy.total, 25, "at most max_activity_points from activities");
        let mut harsh = ScoringRules::default();
        harsh.source.insert("cold_call".into(), -100);
        assert_eq!(score(&harsh, &Facts { source: "cold_call", filled: vec!["email"], activities: 0 }).total, 0);
        let mut generous = ScoringRules::default();
        generous.fields.insert("first_name".into(), 100);
        let all = vec!["first_name", "email", "phone", "company_name", "title", "address_country"];
        assert_eq!(score(&generous, &Facts { source: "referral", filled: all, activities: 9 }).total, 100);
        assert_eq!(score(&rules, &Facts { source: "carrier_pigeon", filled: vec![], activities: 0 }).total, 0, "an unknown source earns nothing");
    }
}
