//! Conversion: one lead becomes a contact (or reuses the contact it duplicates), an account (or
//! the contact's, or one of the same name) and a deal, and the lead's activities move over.
//!
//! All or nothing: the host runs an invocation in one transaction that commits only when the
//! plugin returns normally. Everything that can be refused is checked before the first write;
//! a failure after it (the host refusing a value, say) is returned as an error, so the host
//! rolls back every record this conversion made or changed and answers that the plugin failed,
//! with the reason. The lead stays as it was and can be converted again.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{Collection, Fields, Filter, MAX_PAGE, Record, Request, Response, Result, audit_note, now, storage};

use crate::fields::{account, activity, contact, deal, lead};
use crate::lookup::fetch;
use crate::pipeline::save_state;
use crate::stages::may_convert;
use crate::state::{Conversion, LeadState, key};
use crate::{Answer, bad, json_body};

/// The most activities moved over in one conversion.
const MAX_ACTIVITIES: usize = 1000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Convert {
    id: String,
    /// The account's name; the lead's company by default.
    #[serde(default)]
    account_name: Option<String>,
    /// The deal's name; `<account>: new business` by default.
    #[serde(default)]
    deal_name: Option<String>,
    #[serde(default)]
    amount: Option<f64>,
    /// Checked by the host against its schema's options.
    #[serde(default)]
    currency: Option<String>,
}

/// `POST /leads/convert`.
pub fn convert(r: &Request) -> Answer {
    let c: Convert = match json_body(r, "{\"id\", \"account_name\"?, \"deal_name\"?, \"amount\"?, \"currency\"?}") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let leads = Collection::open(lead::OBJECT)?;
    let Some(rec) = fetch(&leads, &c.id)? else { return bad(404, "no such lead (or not one you may see)") };
    let stage = rec.text(lead::STAGE).unwrap_or_else(|| "new".into());
    if !may_convert(&stage) {
        return bad(409, format!("a lead that is {stage} cannot be converted"));
    }
    if c.amount.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return bad(400, "`amount` must be a number of at least 0");
    }
    let mut state: LeadState = storage::get_json(&key(&rec.id))?.unwrap_or_else(|| LeadState { id: rec.id.clone(), ..Default::default() });
    let contacts = Collection::open(contact::OBJECT)?;
    let existing = match &state.duplicate_of {
        Some(cid) => fetch(&contacts, cid)?,
        None => None,
    };
    let existing_account = existing.as_ref().and_then(|c| c.text(contact::ACCOUNT));
    let account_name = c.account_name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).or_else(|| rec.text(lead::COMPANY_NAME));
    if existing_account.is_none() && account_name.is_none() {
        return bad(400, "the lead has no company: give `account_name`");
    }
    let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.chars().count() > 500);
    if long(&account_name) || long(&c.deal_name) {
        return bad(400, "`account_name` and `deal_name` are at most 500 characters");
    }

    // From here on, errors propagate: the host then rolls the whole conversion back.
    let accounts = Collection::open(account::OBJECT)?;
    let account_id = match existing_account {
        Some(a) => a,
        None => {
            let name = account_name.clone().expect("checked above");
            match accounts.find_eq(account::NAME, &name)?.into_iter().next() {
                Some(a) => a.id,
                None => {
                    let mut f = Fields::new().set(account::NAME, &name);
                    if let Some(country) = rec.text(lead::ADDRESS_COUNTRY) {
                        f = f.set(account::ADDRESS_COUNTRY, country);
                    }
                    accounts.create(f)?.id
                }
            }
        }
    };
    let (contact_id, existing_contact) = match &existing {
        Some(found) => {
            let mut f = Fields::new().set(contact::LIFECYCLE_STAGE, "opportunity");
            if found.text(contact::ACCOUNT).is_none() {
                f = f.set(contact::ACCOUNT, &account_id);
            }
            (contacts.update(&found.id, f)?.id, true)
        }
        None => (contacts.create(contact_fields(&rec, &account_id))?.id, false),
    };
    let deals = Collection::open(deal::OBJECT)?;
    let deal_name = c.deal_name.unwrap_or_else(|| format!("{}: new business", account_name.as_deref().unwrap_or("Account")));
    let mut f = Fields::new().set(deal::NAME, deal_name).set(deal::ACCOUNT, &account_id).set(deal::CONTACT, &contact_id).set(deal::STAGE, "qualification");
    if let Some(a) = c.amount {
        f = f.set(deal::AMOUNT, a);
    }
    if let Some(cur) = c.currency {
        f = f.set(deal::CURRENCY, cur);
    }
    let deal_id = deals.create(f)?.id;
    let moved = relink_activities(&rec.id, &contact_id, &account_id, &deal_id)?;
    let rec = leads.update(&rec.id, Fields::new().set(lead::STAGE, "converted"))?;
    let at = now();
    state.record_move(Some(&stage), "converted", at, "");
    state.converted = Some(Conversion { contact: contact_id.clone(), existing_contact, account: account_id.clone(), deal: deal_id.clone(), activities: moved, at });
    save_state(&state, &rec)?;
    audit_note(
        "leads.converted",
        &format!("lead {} -> {} contact {contact_id}, account {account_id}, deal {deal_id}; {moved} activities moved", rec.id, if existing_contact { "existing" } else { "new" }),
    )?;
    Ok(Response::json(200, &json!({
        "id": rec.id, "contact": contact_id, "existing_contact": existing_contact, "account": account_id, "deal": deal_id, "activities": moved,
    })))
}

/// The new contact: the lead's person, their company's account, at the opportunity stage.
fn contact_fields(rec: &Record, account_id: &str) -> Fields {
    let mut f = Fields::new().set(contact::ACCOUNT, account_id).set(contact::LIFECYCLE_STAGE, "opportunity");
    for (from, to) in [
        (lead::FIRST_NAME, contact::FIRST_NAME),
        (lead::LAST_NAME, contact::LAST_NAME),
        (lead::EMAIL, contact::EMAIL),
        (lead::PHONE, contact::PHONE),
        (lead::TITLE, contact::TITLE),
        (lead::ADDRESS_COUNTRY, contact::ADDRESS_COUNTRY),
        (lead::NOTES, contact::NOTES),
    ] {
        // A value the acting person sees masked is not theirs to copy: the contact goes without.
        if rec.is_masked(from) {
            continue;
        }
        // Raw JSON as the host gave it: the same type, so it passes the same checks.
        if let Some(raw) = rec.raw_value(from) {
            f = f.set_raw(to, raw);
        }
    }
    f
}

/// Points the lead's activities at the contact, account and deal too; returns how many.
fn relink_activities(lead_id: &str, contact_id: &str, account_id: &str, deal_id: &str) -> Result<u32> {
    let acts = Collection::open(activity::OBJECT)?;
    let filter = [Filter::eq(activity::LEAD, lead_id)];
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    while ids.len() < MAX_ACTIVITIES {
        let page = acts.list(&filter, after.as_deref(), MAX_PAGE)?;
        ids.extend(page.records.into_iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    for id in &ids {
        acts.update(id, Fields::new().set(activity::CONTACT, contact_id).set(activity::ACCOUNT, account_id).set(activity::DEAL, deal_id))?;
    }
    Ok(ids.len() as u32)
}
