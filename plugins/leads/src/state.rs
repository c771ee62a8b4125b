//! What the plugin keeps about each lead, beside the record: its owner, stage history, touches,
//! the contact it duplicates and its conversion. Record ids, stages, times and user names only:
//! what people typed stays on the records. Kept at `lead/<id>`, tagged with the lead's person, so
//! their access export and erasure reach it.

use crate::scoring::Score;
use serde::{Deserialize, Serialize};

/// The most entries kept in a lead's history and touches (the oldest go first).
pub const MAX_ENTRIES: usize = 200;

/// One lead's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeadState {
    /// The lead's record id.
    pub id: String,
    /// The owner's user name.
    pub owner: Option<String>,
    /// How the owner was chosen: `territory`, `round_robin`, `manual` or `none`.
    pub assigned_by: String,
    /// Each stage move.
    pub history: Vec<Move>,
    /// Each submission that reached this lead (the first one and every merged one).
    pub touches: Vec<Touch>,
    /// The contact this person already is, found at capture.
    pub duplicate_of: Option<String>,
    /// The last score and why.
    pub score: Option<Score>,
    /// What the conversion made.
    pub converted: Option<Conversion>,
}

/// A stage move.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The stage before (`None` when the lead was made).
    pub from: Option<String>,
    /// The stage after.
    pub to: String,
    /// When, microseconds since the Unix epoch.
    pub at: u64,
    /// The seller's note, if any (kept here, never in the audit trail).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A submission that reached the lead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// When.
    pub at: u64,
    /// `form` or `api`.
    pub channel: String,
    /// The lead source it claimed.
    pub source: String,
    /// The activity that records it.
    pub activity: String,
}

/// The records a conversion made or reused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// The contact.
    pub contact: String,
    /// Whether the contact existed before (the lead duplicated it).
    pub existing_contact: bool,
    /// The account.
    pub account: String,
    /// The deal.
    pub deal: String,
    /// Activities moved over to the contact.
    pub activities: u32,
    /// When.
    pub at: u64,
}

impl LeadState {
    /// Records a stage move. `from` is the record's stage, which people may also change in
    /// the CRM itself, so it is not inferred from the history.
    pub fn record_move(&mut self, from: Option<&str>, to: &str, at: u64, note: &str) {
        self.history.push(Move { from: from.map(str::to_string), to: to.to_string(), at, note: note.to_string() });
        trim(&mut self.history);
    }

    /// Records a submission.
    pub fn record_touch(&mut self, touch: Touch) {
        self.touches.push(touch);
        trim(&mut self.touches);
    }
}

fn trim<T>(v: &mut Vec<T>) {
    if v.len() > MAX_ENTRIES {
        v.drain(..v.len() - MAX_ENTRIES);
    }
}

/// The round-robin counter: how many leads the round robin has handed out.
pub const TURN: &str = "assign/turn";

/// The storage key of a lead's state.
pub fn key(lead_id: &str) -> String {
    format!("lead/{lead_id}")
}

/// The storage key that files a lead under its owner, for reports: `owner/<owner>/<lead id>`.
pub fn owner_key(owner: &str, lead_id: &str) -> String {
    format!("owner/{owner}/{lead_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_latest_entries() {
        let mut s = LeadState::default();
        s.record_move(None, "new", 1, "");
        s.record_move(Some("new"), "contacted", 2, "left a voicemail");
        assert_eq!((s.history[1].from.as_deref(), s.history[1].to.as_str()), (Some("new"), "contacted"));
        for i in 0..(MAX_ENTRIES as u64 + 5) {
            s.record_move(Some("contacted"), "qualified", 10 + i, "");
        }
        assert_eq!(s.history.len(), MAX_ENTRIES);
        assert_eq!(s.history.last().unwrap().at, 10 + MAX_ENTRIES as u64 + 4);
    }
}
