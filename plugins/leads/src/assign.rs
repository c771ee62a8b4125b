//! Who gets a lead: the first territory rule whose countries include the lead's, else the next
//! owner in the round-robin turn, else nobody (the lead waits in the unassigned queue).

use crate::config::AssignmentRules;
use serde::Serialize;

/// The outcome of the rules for one lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// The owner's user name.
    pub owner: Option<String>,
    /// The territory, when a territory rule decided.
    pub territory: Option<String>,
    /// `territory`, `round_robin` or `none`.
    pub by: &'static str,
}

/// Applies the rules. `turn` is the round-robin counter; the caller stores `turn + 1` when the
/// answer came from the round robin, so the next lead goes to the next owner.
pub fn assign(rules: &AssignmentRules, country: Option<&str>, turn: u64) -> Assignment {
    let country = country.map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty());
    let claims = |c: &String| rules.territories.iter().find(|r| r.countries.iter().any(|rc| rc.trim().to_lowercase() == *c));
    if let Some(rule) = country.as_ref().and_then(claims) {
        return Assignment { owner: Some(rule.owner.clone()), territory: Some(rule.territory.clone()), by: "territory" };
    }
    if rules.round_robin.is_empty() {
        return Assignment { owner: None, territory: None, by: "none" };
    }
    let i = (turn % rules.round_robin.len() as u64) as usize;
    Assignment { owner: Some(rules.round_robin[i].clone()), territory: None, by: "round_robin" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TerritoryRule;

    fn rules() -> AssignmentRules {
        AssignmentRules {
            round_robin: vec!["alice".into(), "bob".into(), "chen".into()],
            territories: vec![
                TerritoryRule { countries: vec!["DE".into(), "Germany".into(), "AT".into()], territory: "dach".into(), owner: "dieter".into() },
                TerritoryRule { countries: vec!["CN".into()], territory: "china".into(), owner: "chen".into() },
            ],
        }
    }

    #[test]
    fn territory_rules_come_first_and_compare_without_case() {
        let a = assign(&rules(), Some(" germany "), 0);
        assert_eq!((a.owner.as_deref(), a.territory.as_deref(), a.by), (Some("dieter"), Some("dach"), "territory"));
        assert_eq!(assign(&rules(), Some("cn"), 7).owner.as_deref(), Some("chen"));
    }

    #[test]
    fn round_robin_takes_turns_for_the_rest() {
        let owners: Vec<_> = (0..4).map(|t| assign(&rules(), Some("FR"), t).owner.unwrap()).collect();
        assert_eq!(owners, ["alice", "bob", "chen", "alice"]);
        assert_eq!(assign(&rules(), None, 1).by, "round_robin");
        assert_eq!(assign(&rules(), Some(""), 1).owner.as_deref(), Some("bob"), "a blank country is no country");
    }

    #[test]
    fn without_rules_a_lead_stays_unassigned() {
        let a = assign(&AssignmentRules::default(), Some("DE"), 3);
        assert_eq!((a.owner, a.territory, a.by), (None, None, "none"));
    }
}
