//! What to do with a submission whose person may already be in the CRM.
//!
//! The host compares blind indexes of the email and the phone and hands back record references
//! only; no other person's values reach the plugin. Then:
//!
//! - the person has an open lead (new, contacted, qualified): the submission is another touch on
//!   the oldest such lead (an activity, a higher score, blank fields filled in): no second lead;
//! - else the person is a contact: a new lead is made, tagged `duplicate` and linked to the
//!   contact, so the seller sees who it is, and converting it reuses that contact instead of
//!   making a second one;
//! - else: a new lead.

/// References found by identifier, by object, each list in id order (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// Lead ids.
    pub leads: Vec<String>,
    /// Contact ids.
    pub contacts: Vec<String>,
}

/// Sorts references into [`Matches`]; other objects are ignored, repeats dropped.
pub fn collect<'a>(refs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Matches {
    let mut m = Matches::default();
    for (object, id) in refs {
        match object {
            "lead" => m.leads.push(id.to_string()),
            "contact" => m.contacts.push(id.to_string()),
            _ => {}
        }
    }
    for v in [&mut m.leads, &mut m.contacts] {
        v.sort();
        v.dedup();
    }
    m
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Another touch on this open lead.
    Merge(String),
    /// A new lead, linked to this contact.
    DuplicateOf(String),
    /// A new lead.
    New,
}

/// Decides, given the matched leads that are still open (oldest first) and the matched contacts.
pub fn decide(open_leads: &[String], contacts: &[String]) -> Decision {
    if let Some(l) = open_leads.first() {
        return Decision::Merge(l.clone());
    }
    match contacts.first() {
        Some(c) => Decision::DuplicateOf(c.clone()),
        None => Decision::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_sorted_by_object_and_repeats_dropped() {
        let m = collect([("lead", "b"), ("contact", "c2"), ("lead", "a"), ("lead", "b"), ("activity", "x"), ("contact", "c1")]);
        assert_eq!(m.leads, ["a", "b"]);
        assert_eq!(m.contacts, ["c1", "c2"]);
    }

    #[test]
    fn an_open_lead_wins_then_a_contact() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(decide(&s(&["l1", "l2"]), &s(&["c1"])), Decision::Merge("l1".into()), "the oldest open lead");
        assert_eq!(decide(&[], &s(&["c1", "c2"])), Decision::DuplicateOf("c1".into()));
        assert_eq!(decide(&[], &[]), Decision::New);
    }
}
