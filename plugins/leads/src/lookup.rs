//! Reaching a record by id in a later invocation.
//!
//! The host honours only ids handed to this invocation. Lists are in id order with `after` an
//! id, so the page of one record right after the id's predecessor is that record, if the caller
//! may see it: a granted query, scoped like any other, that costs one host call instead of a
//! walk through every page.

use capcrm_plugin_sdk::{Collection, Record, Result};

/// A record id: a UUID in its hyphenated form, lower case.
pub fn parse_id(id: &str) -> Option<u128> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    if groups != [8, 4, 4, 4, 12] || hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// Formats a UUID the way the host writes ids.
pub fn format_id(n: u128) -> String {
    let h = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// The id just before `id`, for `after`; `None` for the smallest id.
pub fn predecessor(id: &str) -> Option<Option<String>> {
    let n = parse_id(id)?;
    Some(n.checked_sub(1).map(format_id))
}

/// The record `id` of `coll`, handed to this invocation; `None` if there is no such record, the
/// caller may not see it, or `id` is not an id.
pub fn fetch(coll: &Collection, id: &str) -> Result<Option<Record>> {
    let Some(after) = predecessor(id) else { return Ok(None) };
    let page = coll.list(&[], after.as_deref(), 1)?;
    let want = id.to_ascii_lowercase();
    Ok(page.records.into_iter().find(|r| r.id == want))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predecessors_sort_right_before_the_id() {
        let id = "01936f0e-8a4c-7d2e-9b1a-000000000100";
        let p = predecessor(id).unwrap().unwrap();
        assert_eq!(p, "01936f0e-8a4c-7d2e-9b1a-0000000000ff");
        assert!(p.as_str() < id, "text order is id order");
        assert_eq!(predecessor("01936f0e-8a4c-7d2e-9b1a-000000000000").unwrap().unwrap(), "01936f0e-8a4c-7d2e-9b19-ffffffffffff");
        assert_eq!(predecessor("00000000-0000-0000-0000-000000000000"), Some(None));
        assert_eq!(format_id(parse_id(id).unwrap()), id);
    }

    #[test]
    fn non_ids_are_refused() {
        for bad in ["", "lead-1", "01936f0e8a4c7d2e9b1a000000000100", "01936f0e-8a4c-7d2e-9b1a-00000000010g", "../../x"] {
            assert_eq!(predecessor(bad), None, "{bad}");
        }
    }
}
