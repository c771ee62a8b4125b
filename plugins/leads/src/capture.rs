//! Taking a checked submission in: de-duplication ([`crate::dedupe`]), then a new lead or another
//! touch on an existing one, each with an activity; then scoring and, for a new lead, assignment.

use capcrm_plugin_sdk::{Collection, Fields, Record, Result, audit_note, now, storage, subjects};
use serde::Serialize;

use crate::assign::assign;
use crate::config::Config;
use crate::dedupe::{Decision, collect, decide};
use crate::fields::{activity, lead};
use crate::intake::{Channel, Lead};
use crate::pipeline::{refresh_score, save_state, set_owner};
use crate::stages::OPEN;
use crate::state::{LeadState, TURN, Touch};
use capcrm_plugin_sdk::time::{date, rfc3339_seconds as rfc3339};

/// The tag of a lead whose person is already a contact.
pub const DUPLICATE_TAG: &str = "duplicate";
/// The longest notes field the host takes.
const MAX_NOTES: usize = 20_000;

/// What became of a submission (the API's answer; the public form says less).
#[derive(Debug, Clone, Serialize)]
pub struct Captured {
    /// The lead the submission is now part of.
    pub id: String,
    /// `created`, `merged` or `duplicate_of_contact`.
    pub outcome: &'static str,
    /// The contact the person already is.
    pub duplicate_of: Option<String>,
    /// The lead's score now.
    pub score: i64,
    /// The lead's owner.
    pub owner: Option<String>,
    /// The lead's territory, when a territory rule decided.
    pub territory: Option<String>,
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Form => "form",
            Channel::Api => "api",
        }
    }
}

/// Takes a submission in.
pub fn capture(l: &Lead, channel: Channel, cfg: &Config) -> Result<Captured> {
    let leads = Collection::open(lead::OBJECT)?;
    let mut refs = Vec::new();
    if let Some(e) = &l.email {
        refs.extend(subjects::find_by_email(e)?.into_iter().flat_map(|m| m.records));
    }
    if let Some(p) = &l.phone {
        refs.extend(subjects::find_by_phone(p)?.into_iter().flat_map(|m| m.records));
    }
    let found = collect(refs.iter().map(|r| (r.object.as_str(), r.id.as_str())));
    let mut open = Vec::new();
    for id in &found.leads {
        // Found records are handed to this invocation. One the acting person may not see is no
        // lead to merge into: a touch on it would fail.
        let Ok(r) = leads.get(id) else { continue };
        if r.text(lead::STAGE).is_none_or(|s| OPEN.contains(&s.as_str())) {
            open.push(r);
        }
    }
    let open_ids: Vec<String> = open.iter().map(|r| r.id.clone()).collect();
    match decide(&open_ids, &found.contacts) {
        Decision::Merge(id) => {
            let rec = open.iter().find(|r| r.id == id).expect("decided among these");
            merge(&leads, rec, l, channel, cfg)
        }
        Decision::DuplicateOf(contact) => create(&leads, l, channel, cfg, Some(contact)),
        Decision::New => create(&leads, l, channel, cfg, None),
    }
}

fn create(leads: &Collection, l: &Lead, channel: Channel, cfg: &Config, duplicate_of: Option<String>) -> Result<Captured> {
    let turn: u64 = storage::get_json(TURN)?.unwrap_or(0);
    let a = assign(&cfg.assignment, l.country.as_deref(), turn);
    let mut f = Fields::new().set(lead::LAST_NAME, &l.last_name).set(lead::SOURCE, &l.source).set(lead::STAGE, "new").set(lead::SCORE, 0);
    for (field, value) in optional_fields(l).into_iter().chain([(lead::TERRITORY, &a.territory)]) {
        if let Some(v) = value {
            f = f.set(field, v);
        }
    }
    if let Some(m) = &l.message {
        f = f.set(lead::NOTES, note_line(m, channel));
    }
    if duplicate_of.is_some() {
        f = f.set(lead::TAGS, [DUPLICATE_TAG]);
    }
    let rec = leads.create(f)?;
    let at = now();
    let mut state = LeadState { id: rec.id.clone(), assigned_by: a.by.to_string(), duplicate_of: duplicate_of.clone(), ..Default::default() };
    state.record_move(None, "new", at, "");
    state.record_touch(Touch { at, channel: channel.name().into(), source: l.source.clone(), activity: touch_activity(&rec.id, channel)? });
    let (rec, score) = refresh_score(leads, &rec, &cfg.scoring, Fields::new())?;
    state.score = Some(score.clone());
    if a.by == "round_robin" {
        storage::put_json(TURN, &(turn + 1), None)?;
    }
    if !set_owner(leads, &mut state, &rec, a.owner.clone())? {
        // The rules name somebody who is not (or no longer) a user: the lead waits unassigned.
        set_owner(leads, &mut state, &rec, None)?;
        state.assigned_by = "none".into();
        audit_note("leads.owner_unknown", &format!("lead {}: the assignment rules name no enabled user", rec.id))?;
    }
    save_state(&state, &rec)?;
    let how = match &duplicate_of {
        Some(c) => format!("new lead, duplicate of contact {c}"),
        None => "new lead".into(),
    };
    audit_note("leads.captured", &format!("lead {} from {} ({}): {how}; score {}; assigned by {}", rec.id, l.source, channel.name(), score.total, a.by))?;
    Ok(Captured {
        id: rec.id,
        outcome: if duplicate_of.is_some() { "duplicate_of_contact" } else { "created" },
        duplicate_of,
        score: score.total,
        owner: a.owner,
        territory: a.territory,
    })
}

/// The lead fields a submission may carry or leave out, paired with what it carried.
fn optional_fields(l: &Lead) -> [(&'static str, &Option<String>); 6] {
    [
        (lead::FIRST_NAME, &l.first_name),
        (lead::EMAIL, &l.email),
        (lead::PHONE, &l.phone),
        (lead::COMPANY_NAME, &l.company),
        (lead::TITLE, &l.title),
        (lead::ADDRESS_COUNTRY, &l.country),
    ]
}

/// Another submission of a person with an open lead: an activity, blanks filled in, a new score.
fn merge(leads: &Collection, rec: &Record, l: &Lead, channel: Channel, cfg: &Config) -> Result<Captured> {
    let mut fill = Fields::new();
    for (field, value) in optional_fields(l) {
        if let (None, Some(v)) = (rec.raw_value(field), value) {
            fill = fill.set(field, v);
        }
    }
    // Notes the acting person sees masked cannot be appended to without overwriting them.
    if let (Some(m), false) = (&l.message, rec.is_masked(lead::NOTES)) {
        fill = fill.set(lead::NOTES, appended(rec.text(lead::NOTES), &note_line(m, channel)));
    }
    let mut state: LeadState = storage::get_json(&crate::state::key(&rec.id))?.unwrap_or_else(|| LeadState { id: rec.id.clone(), ..Default::default() });
    let at = now();
    state.record_touch(Touch { at, channel: channel.name().into(), source: l.source.clone(), activity: touch_activity(&rec.id, channel)? });
    let (rec, score) = refresh_score(leads, rec, &cfg.scoring, fill)?;
    state.score = Some(score.clone());
    save_state(&state, &rec)?;
    audit_note("leads.captured", &format!("lead {} from {} ({}): merged as touch {}; score {}", rec.id, l.source, channel.name(), state.touches.len(), score.total))?;
    Ok(Captured {
        id: rec.id.clone(),
        outcome: "merged",
        duplicate_of: state.duplicate_of.clone(),
        score: score.total,
        owner: state.owner.clone(),
        territory: rec.text(lead::TERRITORY),
    })
}

/// The activity that puts a submission on the lead's timeline; it carries no value the person
/// typed (their message goes to the lead's notes, sealed with their data).
fn touch_activity(lead_id: &str, channel: Channel) -> Result<String> {
    let what = match channel {
        Channel::Form => "Web form submission",
        Channel::Api => "Submission through the API",
    };
    let acts = Collection::open(activity::OBJECT)?;
    let f = Fields::new().set(activity::KIND, "note").set(activity::SUBJECT, what).set(activity::OCCURRED_AT, rfc3339(now())).set(activity::LEAD, lead_id);
    Ok(acts.create(f)?.id)
}

fn note_line(message: &str, channel: Channel) -> String {
    format!("[{} {}] {message}", date(now()), channel.name())
}

/// `old` and `line` as one notes text; past the host's length the oldest text goes.
pub fn appended(old: Option<String>, line: &str) -> String {
    let all = match old {
        Some(o) if !o.is_empty() => format!("{o}\n{line}"),
        _ => line.to_string(),
    };
    let n = all.chars().count();
    if n <= MAX_NOTES { all } else { all.chars().skip(n - MAX_NOTES).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_grow_and_keep_within_the_hosts_length() {
        assert_eq!(appended(None, "a"), "a");
        assert_eq!(appended(Some("a".into()), "b"), "a\nb");
        let long = appended(Some("x".repeat(MAX_NOTES)), "newest");
        assert_eq!(long.chars().count(), MAX_NOTES);
        assert!(long.ends_with("\nnewest"));
    }
}
