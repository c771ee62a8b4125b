//! The per-regime report: requests received, open and finished, deadlines met and missed.
//!
//! A request meets its deadline when it finished (completed or rejected) on or before the
//! deadline in force (the extended one after an extension); it misses it when it finished later,
//! or is still open after it.

use crate::clock::Date;
use capcrm_plugin_sdk::serde_json::{Value, json};
use std::collections::BTreeMap;

/// One of a stored request's deadlines (`acknowledge_by`, `respond_by`, `extended_by`).
pub fn deadline(stored: &Value, key: &str) -> Option<Date> {
    let o = stored["deadlines"][key].as_object()?;
    Date::new(o.get("year")?.as_i64()? as i32, o.get("month")?.as_u64()? as u8, o.get("day")?.as_u64()? as u8)
}

/// The deadline in force of a stored request.
pub fn due(stored: &Value) -> Option<Date> {
    deadline(stored, if stored["extended"].as_bool() == Some(true) { "extended_by" } else { "respond_by" })
}

/// Whether a status is final for the clock.
pub fn finished(status: &str) -> bool {
    matches!(status, "completed" | "rejected" | "closed")
}

#[derive(Default)]
struct Line {
    received: u64,
    open: u64,
    completed: u64,
    rejected: u64,
    met: u64,
    missed: u64,
    open_overdue: u64,
    extended: u64,
    kinds: BTreeMap<String, u64>,
}

/// The report over stored requests received in `[from, to]` (inclusive dates; none = all).
pub fn report(requests: &[Value], today: Date, from: Option<Date>, to: Option<Date>) -> Value {
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for regime in ["gdpr", "ccpa", "pipl"] {
        lines.insert(regime.into(), Line::default());
    }
    for r in requests {
        let Some(received) = r["received"].as_str().and_then(Date::parse) else { continue };
        if from.is_some_and(|f| received < f) || to.is_some_and(|t| received > t) {
            continue;
        }
        let line = lines.entry(r["regime"].as_str().unwrap_or("unknown").to_string()).or_default();
        line.received += 1;
        *line.kinds.entry(r["kind"].as_str().unwrap_or("unknown").to_string()).or_default() += 1;
        if r["extended"].as_bool() == Some(true) {
            line.extended += 1;
        }
        let status = r["status"].as_str().unwrap_or("received");
        let due = due(r);
        let finished_on = r["finished_on"].as_str().and_then(Date::parse);
        match (finished(status), finished_on, due) {
            (true, Some(on), Some(d)) => {
                if on <= d { line.met += 1 } else { line.missed += 1 }
            }
            (false, _, Some(d)) if today > d => {
                line.missed += 1;
                line.open_overdue += 1;
            }
            _ => {}
        }
        if !finished(status) {
            line.open += 1;
        }
        if r["outcome"].as_str() == Some("completed") || status == "completed" {
            line.completed += 1;
        }
        if r["outcome"].as_str() == Some("rejected") || status == "rejected" {
            line.rejected += 1;
        }
    }
    let regimes: Vec<Value> = lines
        .into_iter()
        .map(|(regime, l)| {
            json!({
                "regime": regime, "received": l.received, "open": l.open, "completed": l.completed,
                "rejected": l.rejected, "extended": l.extended, "deadlines_met": l.met,
                "deadlines_missed": l.missed, "open_overdue": l.open_overdue, "by_kind": l.kinds,
            })
        })
        .collect();
    json!({ "as_of": today.to_string(), "from": from.map(|d| d.to_string()), "to": to.map(|d| d.to_string()), "regimes": regimes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ClockSettings, Regime, deadlines};

    fn request(regime: Regime, received: &str, status: &str, finished_on: Option<&str>, extended: bool) -> Value {
        let dl = deadlines(regime, Date::parse(received).unwrap(), &ClockSettings::default());
        json!({"regime": regime.name(), "kind": "access", "received": received, "status": status, "deadlines": dl,
               "extended": extended, "finished_on": finished_on, "outcome": if status == "closed" { json!("completed") } else { Value::Null }})
    }

    #[test]
    fn met_and_missed_are_counted_per_regime() {
        let today = Date::parse("2027-03-01").unwrap();
        let rs = vec![
            // GDPR, received 2026-12-02, due 2027-01-02: finished in time, late, and extended in time.
            request(Regime::Gdpr, "2026-12-02", "completed", Some("2026-12-20"), false),
            request(Regime::Gdpr, "2026-12-02", "closed", Some("2027-01-20"), false),
            request(Regime::Gdpr, "2026-12-02", "completed", Some("2027-01-20"), true),
            // CCPA still open long after its 45 days.
            request(Regime::Ccpa, "2026-12-02", "in_progress", None, false),
            // PIPL open, not yet due.
            request(Regime::Pipl, "2027-02-25", "verified", None, false),
        ];
        let r = report(&rs, today, None, None);
        let line = |name: &str| r["regimes"].as_array().unwrap().iter().find(|l| l["regime"] == name).unwrap().clone();
        let g = line("gdpr");
        assert_eq!((g["received"].as_u64(), g["deadlines_met"].as_u64(), g["deadlines_missed"].as_u64()), (Some(3), Some(2), Some(1)));
        assert_eq!((g["completed"].as_u64(), g["extended"].as_u64(), g["open"].as_u64()), (Some(3), Some(1), Some(0)));
        let c = line("ccpa");
        assert_eq!((c["open"].as_u64(), c["open_overdue"].as_u64(), c["deadlines_missed"].as_u64()), (Some(1), Some(1), Some(1)));
        let p = line("pipl");
        assert_eq!((p["open"].as_u64(), p["deadlines_missed"].as_u64()), (Some(1), Some(0)));
        // A window on the receipt date.
        let only_feb = report(&rs, today, Date::parse("2027-02-01"), None);
        assert_eq!(only_feb["regimes"][0]["received"], 0);
        assert_eq!(only_feb["regimes"].as_array().unwrap().iter().map(|l| l["received"].as_u64().unwrap()).sum::<u64>(), 1);
    }
}
