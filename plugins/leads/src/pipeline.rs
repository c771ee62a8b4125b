//! Working a lead: its score, owner and stage, each kept with the lead's state and each change
//! noted in the audit trail (ids, stages and user names; never a value a person typed).

use capcrm_plugin_sdk::serde_json::{Value, json};
use capcrm_plugin_sdk::{Collection, Fields, Filter, Record, Result, audit_note, now, storage};

use crate::assign::assign;
use crate::config::{Config, SCORABLE, ScoringRules, valid_owner};
use crate::fields::{activity, lead};
use crate::lookup::fetch;
use crate::scoring::{Facts, Score, score};
use crate::stages::{Refusal, STAGES, check_move};
use crate::state::{LeadState, TURN, key, owner_key};
use crate::{Answer, bad, json_body};

/// Activities counted for a score: one page; the rules cap what activities earn long before.
const MAX_COUNTED: u32 = 200;

/// Activities about a lead.
pub fn activity_count(lead_id: &str) -> Result<u32> {
    let acts = Collection::open(activity::OBJECT)?;
    Ok(acts.list(&[Filter::eq(activity::LEAD, lead_id)], None, MAX_COUNTED)?.records.len() as u32)
}

/// Scores a lead with `changes` applied, and writes both; returns the lead as written.
pub fn refresh_score(leads: &Collection, rec: &Record, rules: &ScoringRules, changes: Fields) -> Result<(Record, Score)> {
    let pending: Vec<String> = changes.clone().into_values()?.into_iter().map(|f| f.name).collect();
    let filled: Vec<&str> = SCORABLE.iter().copied().filter(|f| rec.raw_value(f).is_some() || pending.iter().any(|p| p == f)).collect();
    let source = rec.text(lead::SOURCE).unwrap_or_default();
    let s = score(rules, &Facts { source: &source, filled, activities: activity_count(&rec.id)? });
    let rec = leads.update(&rec.id, changes.set(lead::SCORE, s.total))?;
    Ok((rec, s))
}

/// Keeps a lead's state, tagged with its person.
pub fn save_state(state: &LeadState, rec: &Record) -> Result<()> {
    storage::put_json(&key(&rec.id), state, rec.subject.as_deref())
}

/// Gives the lead to `owner` (or to nobody), filing it under them for reports.
/// Gives the lead to `owner` (a user name) or to nobody. The record itself becomes the owner's,
/// so a salesperson who sees only their own records sees it. Returns false, changing nothing,
/// when no enabled user has that name.
pub fn set_owner(leads: &Collection, state: &mut LeadState, rec: &Record, owner: Option<String>) -> Result<bool> {
    if let Some(new) = &owner {
        match leads.assign(&rec.id, new) {
            Ok(_) => {}
            Err(capcrm_plugin_sdk::Error::InvalidInput(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    if let Some(old) = &state.owner {
        storage::delete(&owner_key(old, &rec.id))?;
    }
    if let Some(new) = &owner {
        storage::put(&owner_key(new, &rec.id), b"", rec.subject.as_deref())?;
    }
    state.owner = owner;
    Ok(true)
}

/// A lead the acting person may see, with its state (made up from the record if the lead was
/// created outside the plugin).
fn load(id: &str) -> Result<Option<(Collection, Record, LeadState)>> {
    let leads = Collection::open(lead::OBJECT)?;
    let Some(rec) = fetch(&leads, id)? else { return Ok(None) };
    let state = storage::get_json(&key(&rec.id))?.unwrap_or_else(|| LeadState { id: rec.id.clone(), assigned_by: "none".into(), ..Default::default() });
    Ok(Some((leads, rec, state)))
}

fn no_lead() -> Answer {
    bad(404, "no such lead (or not one you may see)")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StageMove {
    id: String,
    to: String,
    #[serde(default)]
    note: String,
}

/// `POST /leads/stage {"id", "to", "note"?}`.
pub fn move_stage(r: &capcrm_plugin_sdk::Request) -> Answer {
    let m: StageMove = match json_body(r, "{\"id\", \"to\", \"note\"?}") {
        Ok(m) => m,
        Err(e) => return e,
    };
    if m.note.chars().count() > 1000 {
        return bad(400, "a note is at most 1000 characters");
    }
    let Some((leads, rec, mut state)) = load(&m.id)? else { return no_lead() };
    let from = rec.text(lead::STAGE).unwrap_or_else(|| "new".into());
    match check_move(&from, &m.to) {
        Ok(()) => {}
        Err(Refusal::Unknown) => return bad(400, format!("`to` must be one of {}", STAGES.join(", "))),
        Err(Refusal::ConvertFirst) => return bad(409, "a lead becomes converted by POST /leads/convert"),
        Err(Refusal::NotAllowed) => return bad(409, format!("a lead that is {from} cannot become {}", m.to)),
    }
    let rec = leads.update(&rec.id, Fields::new().set(lead::STAGE, &m.to))?;
    state.record_move(Some(&from), &m.to, now(), &m.note);
    save_state(&state, &rec)?;
    audit_note("leads.stage", &format!("lead {}: {from} -> {}", rec.id, m.to))?;
    Ok(capcrm_plugin_sdk::Response::json(200, &view_of(&rec, &state)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Reassign {
    id: String,
    #[serde(default)]
    owner: Option<String>,
}

/// `POST /leads/assign {"id", "owner"?}`: to a named owner, or by the rules again.
pub fn reassign(r: &capcrm_plugin_sdk::Request, cfg: &Config) -> Answer {
    let a: Reassign = match json_body(r, "{\"id\", \"owner\"?}") {
        Ok(a) => a,
        Err(e) => return e,
    };
    if a.owner.as_deref().is_some_and(|o| !valid_owner(o)) {
        return bad(400, "`owner` must be a user name");
    }
    let Some((leads, mut rec, mut state)) = load(&a.id)? else { return no_lead() };
    let (owner, by) = match a.owner {
        Some(o) => (Some(o), "manual"),
        None => {
            // A new turn only when the round robin answers, as at capture.
            let turn: u64 = storage::get_json(TURN)?.unwrap_or(0);
            let got = assign(&cfg.assignment, rec.text(lead::ADDRESS_COUNTRY).as_deref(), turn);
            if got.by == "round_robin" {
                storage::put_json(TURN, &(turn + 1), None)?;
            }
            if let Some(t) = &got.territory {
                rec = leads.update(&rec.id, Fields::new().set(lead::TERRITORY, t))?;
            }
            (got.owner, got.by)
        }
    };
    if !set_owner(&leads, &mut state, &rec, owner)? {
        return bad(400, "no enabled user has that user name");
    }
    state.assigned_by = by.to_string();
    save_state(&state, &rec)?;
    audit_note("leads.assigned", &format!("lead {} to {} ({by})", rec.id, state.owner.as_deref().unwrap_or("nobody")))?;
    Ok(capcrm_plugin_sdk::Response::json(200, &view_of(&rec, &state)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdOnly {
    id: String,
}

/// `POST /leads/rescore {"id"}`: after the rules changed, say.
pub fn rescore(r: &capcrm_plugin_sdk::Request, cfg: &Config) -> Answer {
    let a: IdOnly = match json_body(r, "{\"id\"}") {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some((leads, rec, mut state)) = load(&a.id)? else { return no_lead() };
    let (rec, s) = refresh_score(&leads, &rec, &cfg.scoring, Fields::new())?;
    state.score = Some(s);
    save_state(&state, &rec)?;
    Ok(capcrm_plugin_sdk::Response::json(200, &view_of(&rec, &state)))
}

/// A new activity on a lead: its score follows.
pub fn on_activity(activity_id: &str, cfg: &Config) -> Result<()> {
    let acts = Collection::open(activity::OBJECT)?;
    let Some(lead_id) = acts.get(activity_id)?.text(activity::LEAD) else { return Ok(()) };
    let Some((leads, rec, mut state)) = load(&lead_id)? else { return Ok(()) };
    let (rec, s) = refresh_score(&leads, &rec, &cfg.scoring, Fields::new())?;
    state.score = Some(s);
    save_state(&state, &rec)
}

/// `GET /leads/one?id=`.
pub fn one(r: &capcrm_plugin_sdk::Request) -> Answer {
    let id = r.query_param("id").unwrap_or_default();
    let Some((_, rec, state)) = load(&id)? else { return no_lead() };
    Ok(capcrm_plugin_sdk::Response::json(200, &view_of(&rec, &state)))
}

/// A lead's pipeline view: ids, stages, score and owner; no value a person typed.
pub fn view_of(rec: &Record, state: &LeadState) -> Value {
    json!({
        "id": rec.id,
        "stage": rec.text(lead::STAGE),
        "source": rec.text(lead::SOURCE),
        "score": rec.json(lead::SCORE),
        "score_parts": state.score.as_ref().map(|s| &s.parts),
        "territory": rec.text(lead::TERRITORY),
        "owner": state.owner,
        "assigned_by": state.assigned_by,
        "duplicate_of": state.duplicate_of,
        "history": state.history,
        "touches": state.touches,
        "converted": state.converted,
    })
}
