//! A request's statuses and its line in the queue.

use crate::clock::Date;
use capcrm_plugin_sdk::serde_json::{Value, json};

/// Statuses a request moves through.
pub const STATUSES: &[&str] = &["received", "verifying", "verified", "in_progress", "completed", "rejected", "closed"];

/// Whether a request may move from `from` to `to`.
pub fn may_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("received", "verifying")
            | ("verifying", "verified")
            | ("received", "verified")
            | ("verified", "in_progress")
            | ("in_progress", "completed")
            | ("completed", "closed")
            | ("rejected", "closed")
    ) || (to == "rejected" && !matches!(from, "completed" | "rejected" | "closed"))
}

/// One line of the queue: no requester details.
pub fn queue_entry(stored: &Value, today: Date) -> Value {
    let extended = stored["extended"].as_bool().unwrap_or(false);
    let due = crate::report::due(stored);
    let open = !crate::report::finished(stored["status"].as_str().unwrap_or(""));
    json!({
        "id": stored["id"],
        "regime": stored["regime"],
        "kind": stored["kind"],
        "status": stored["status"],
        "received": stored["received"],
        "acknowledge_by": crate::report::deadline(stored, "acknowledge_by").map(|d| d.to_string()),
        "respond_by": due.map(|d| d.to_string()),
        "extended": extended,
        "days_left": due.filter(|_| open).map(|d| today.days_until(d)),
        "overdue": open && due.is_some_and(|d| today.days_until(d) < 0),
        "finished_on": stored["finished_on"],
        "erased": stored["receipt"].is_object(),
        "blocked": stored["exceptions"].as_array().is_some_and(|e| !e.is_empty()) && !stored["receipt"].is_object(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ClockSettings, Regime, deadlines};

    #[test]
    fn statuses_move_only_forward_or_to_rejected() {
        assert!(may_move("received", "verifying") && may_move("verifying", "verified") && may_move("in_progress", "completed"));
        assert!(!may_move("received", "completed"), "no skipping verification");
        assert!(!may_move("verifying", "in_progress"), "no skipping verification");
        assert!(!may_move("closed", "received") && !may_move("completed", "in_progress"));
        assert!(may_move("verifying", "rejected") && may_move("rejected", "closed"));
        assert!(!may_move("completed", "rejected") && !may_move("closed", "rejected"));
    }

    #[test]
    fn queue_entries_count_days_and_leave_the_requester_out() {
        let received = Date::parse("2026-12-02").unwrap();
        let dl = deadlines(Regime::Pipl, received, &ClockSettings::default());
        let stored = json!({"id": "dsr-1", "regime": "pipl", "kind": "access", "status": "received", "received": "2026-12-02",
                            "deadlines": dl, "email": "li@example.cn", "name": "Li Na"});
        let e = queue_entry(&stored, Date::parse("2026-12-20").unwrap());
        assert_eq!(e["respond_by"], "2026-12-23");
        assert_eq!(e["days_left"], 3);
        assert_eq!(e["overdue"], false);
        assert!(!e.to_string().contains("li@example.cn") && !e.to_string().contains("Li Na"));
        let late = queue_entry(&stored, Date::parse("2026-12-28").unwrap());
        assert_eq!((late["days_left"].as_i64(), late["overdue"].as_bool()), (Some(-5), Some(true)));
        let mut ext = stored.clone();
        ext["extended"] = json!(true);
        assert_eq!(queue_entry(&ext, Date::parse("2026-12-20").unwrap())["respond_by"], "2027-01-13");
        let mut done = stored.clone();
        done["status"] = json!("completed");
        let d = queue_entry(&done, Date::parse("2026-12-28").unwrap());
        assert_eq!((d["overdue"].as_bool(), d["days_left"].is_null()), (Some(false), true), "a finished request is not overdue");
    }
}
