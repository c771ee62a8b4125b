//! The leads report: counts by source, stage and owner, and the conversion rate.

use capcrm_plugin_sdk::serde_json::{Value, json};
use std::collections::BTreeMap;

/// One lead as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its source (`unknown` if none).
    pub source: String,
    /// Its stage.
    pub stage: String,
    /// Its owner (`unassigned` if none).
    pub owner: String,
}

/// Builds the report. The conversion rate is converted leads over all leads, in percent with one
/// decimal; `null` when there are none. Leads marked unqualified count in the base: they were
/// leads that did not convert.
pub fn report(rows: &[Row]) -> Value {
    let mut by_source: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_stage: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_owner: BTreeMap<&str, u64> = BTreeMap::new();
    for r in rows {
        *by_source.entry(&r.source).or_default() += 1;
        *by_stage.entry(&r.stage).or_default() += 1;
        *by_owner.entry(&r.owner).or_default() += 1;
    }
    let total = rows.len() as u64;
    let converted = by_stage.get("converted").copied().unwrap_or(0);
    let rate = (total > 0).then(|| (converted as f64 * 1000.0 / total as f64).round() / 10.0);
    json!({
        "total": total,
        "converted": converted,
        "conversion_rate_percent": rate,
        "by_source": by_source,
        "by_stage": by_stage,
        "by_owner": by_owner,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &str, stage: &str, owner: &str) -> Row {
        Row { source: source.into(), stage: stage.into(), owner: owner.into() }
    }

    #[test]
    fn counts_and_rate() {
        let r = report(&[row("web_form", "converted", "alice"), row("web_form", "new", "bob"), row("referral", "unqualified", "alice")]);
        assert_eq!(r["total"], 3);
        assert_eq!(r["by_source"], json!({"web_form": 2, "referral": 1}));
        assert_eq!(r["by_stage"], json!({"converted": 1, "new": 1, "unqualified": 1}));
        assert_eq!(r["by_owner"], json!({"alice": 2, "bob": 1}));
        assert_eq!(r["conversion_rate_percent"], 33.3);
        assert!(report(&[])["conversion_rate_percent"].is_null());
    }
}
