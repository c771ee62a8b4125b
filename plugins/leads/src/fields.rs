//! Every field the plugin touches, per object, and how. The manifest asks for exactly these: a
//! test below holds `plugin.toml` to [`USED`], and each entry to a use in the code, so a field
//! asked for and never used (or used and never asked for) fails the build's tests.
//!
//! The names mirror the host's built-in objects (`host/src/model/builtin.rs`).

/// How the plugin uses a field. `Write` includes reading it in clear (the host's levels are
/// ordered), so a field the plugin both reads and writes is listed once, as `Write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Read in clear, never written.
    Read,
    /// Written (and read).
    Write,
}

/// Fields of `lead`.
pub mod lead {
    /// The object.
    pub const OBJECT: &str = "lead";
    /// Copied to the contact at conversion; counted by scoring.
    pub const FIRST_NAME: &str = "first_name";
    /// Required by the host.
    pub const LAST_NAME: &str = "last_name";
    /// Blind-indexed: the de-duplication key.
    pub const EMAIL: &str = "email";
    /// Blind-indexed: the second de-duplication key.
    pub const PHONE: &str = "phone";
    /// Becomes the account's name at conversion.
    pub const COMPANY_NAME: &str = "company_name";
    /// Copied to the contact.
    pub const TITLE: &str = "title";
    /// Where the lead came from (an option of the host's `LEAD_SOURCES`).
    pub const SOURCE: &str = "source";
    /// The pipeline stage.
    pub const STAGE: &str = "stage";
    /// The rules' result.
    pub const SCORE: &str = "score";
    /// Set by a territory rule.
    pub const TERRITORY: &str = "territory";
    /// What territory rules match on.
    pub const ADDRESS_COUNTRY: &str = "address_country";
    /// `duplicate` marks a lead of a person who is already a contact.
    pub const TAGS: &str = "tags";
    /// Messages people send with the form, dated; sealed with the lead's person, so they go
    /// with an erasure (an activity about a lead alone would not).
    pub const NOTES: &str = "notes";
}

/// Fields of `contact`.
pub mod contact {
    /// The object.
    pub const OBJECT: &str = "contact";
    /// From the lead.
    pub const FIRST_NAME: &str = "first_name";
    /// From the lead.
    pub const LAST_NAME: &str = "last_name";
    /// From the lead.
    pub const EMAIL: &str = "email";
    /// From the lead.
    pub const PHONE: &str = "phone";
    /// From the lead.
    pub const TITLE: &str = "title";
    /// From the lead.
    pub const ADDRESS_COUNTRY: &str = "address_country";
    /// The account made (or found) at conversion; an existing contact's is kept.
    pub const ACCOUNT: &str = "account";
    /// Becomes `opportunity` at conversion.
    pub const LIFECYCLE_STAGE: &str = "lifecycle_stage";
    /// The lead's notes, carried over at conversion.
    pub const NOTES: &str = "notes";
}

/// Fields of `account`.
pub mod account {
    /// The object.
    pub const OBJECT: &str = "account";
    /// The company's name; an account of the same name is reused.
    pub const NAME: &str = "name";
    /// From the lead.
    pub const ADDRESS_COUNTRY: &str = "address_country";
}

/// Fields of `deal`.
pub mod deal {
    /// The object.
    pub const OBJECT: &str = "deal";
    /// Given at conversion, or made from the company's name.
    pub const NAME: &str = "name";
    /// The converted lead's account.
    pub const ACCOUNT: &str = "account";
    /// The converted lead's contact.
    pub const CONTACT: &str = "contact";
    /// Optional, given at conversion.
    pub const AMOUNT: &str = "amount";
    /// Optional, given at conversion (the host's schema decides the options).
    pub const CURRENCY: &str = "currency";
    /// Starts at `qualification`.
    pub const STAGE: &str = "stage";
}

/// Fields of `activity`.
pub mod activity {
    /// The object.
    pub const OBJECT: &str = "activity";
    /// `note` for a submission.
    pub const KIND: &str = "kind";
    /// Names the channel of a submission (no value a person typed).
    pub const SUBJECT: &str = "subject";
    /// When the submission came in.
    pub const OCCURRED_AT: &str = "occurred_at";
    /// The lead an activity is about: what scoring counts and conversion relinks.
    pub const LEAD: &str = "lead";
    /// Set at conversion.
    pub const CONTACT: &str = "contact";
    /// Set at conversion.
    pub const ACCOUNT: &str = "account";
    /// Set at conversion.
    pub const DEAL: &str = "deal";
}

/// Every (object, field, use) of the plugin.
pub const USED: &[(&str, &str, Use)] = &[
    (lead::OBJECT, lead::FIRST_NAME, Use::Write),
    (lead::OBJECT, lead::LAST_NAME, Use::Write),
    (lead::OBJECT, lead::EMAIL, Use::Write),
    (lead::OBJECT, lead::PHONE, Use::Write),
    (lead::OBJECT, lead::COMPANY_NAME, Use::Write),
    (lead::OBJECT, lead::TITLE, Use::Write),
    (lead::OBJECT, lead::SOURCE, Use::Write),
    (lead::OBJECT, lead::STAGE, Use::Write),
    (lead::OBJECT, lead::SCORE, Use::Write),
    (lead::OBJECT, lead::TERRITORY, Use::Write),
    (lead::OBJECT, lead::ADDRESS_COUNTRY, Use::Write),
    (lead::OBJECT, lead::TAGS, Use::Write),
    (lead::OBJECT, lead::NOTES, Use::Write),
    (contact::OBJECT, contact::FIRST_NAME, Use::Write),
    (contact::OBJECT, contact::LAST_NAME, Use::Write),
    (contact::OBJECT, contact::EMAIL, Use::Write),
    (contact::OBJECT, contact::PHONE, Use::Write),
    (contact::OBJECT, contact::TITLE, Use::Write),
    (contact::OBJECT, contact::ADDRESS_COUNTRY, Use::Write),
    (contact::OBJECT, contact::ACCOUNT, Use::Write),
    (contact::OBJECT, contact::LIFECYCLE_STAGE, Use::Write),
    (contact::OBJECT, contact::NOTES, Use::Write),
    (account::OBJECT, account::NAME, Use::Write),
    (account::OBJECT, account::ADDRESS_COUNTRY, Use::Write),
    (deal::OBJECT, deal::NAME, Use::Write),
    (deal::OBJECT, deal::ACCOUNT, Use::Write),
    (deal::OBJECT, deal::CONTACT, Use::Write),
    (deal::OBJECT, deal::AMOUNT, Use::Write),
    (deal::OBJECT, deal::CURRENCY, Use::Write),
    (deal::OBJECT, deal::STAGE, Use::Write),
    (activity::OBJECT, activity::KIND, Use::Write),
    (activity::OBJECT, activity::SUBJECT, Use::Write),
    (activity::OBJECT, activity::OCCURRED_AT, Use::Write),
    (activity::OBJECT, activity::LEAD, Use::Write),
    (activity::OBJECT, activity::CONTACT, Use::Write),
    (activity::OBJECT, activity::ACCOUNT, Use::Write),
    (activity::OBJECT, activity::DEAL, Use::Write),
];

/// Objects the plugin creates records of.
pub const CREATES: &[&str] = &[lead::OBJECT, contact::OBJECT, account::OBJECT, deal::OBJECT, activity::OBJECT];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The code outside this file, where each field must be used.
    const CODE: &[&str] = &[
        include_str!("lib.rs"),
        include_str!("capture.rs"),
        include_str!("convert.rs"),
        include_str!("lookup.rs"),
        include_str!("pipeline.rs"),
        include_str!("report.rs"),
    ];

    fn manifest() -> toml::Table {
        include_str!("../plugin.toml").parse().expect("plugin.toml is TOML")
    }

    fn names(t: &toml::Table, key: &str) -> BTreeSet<String> {
        t.get(key)
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|v| v.as_str().expect("field names are strings").to_owned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_manifest_asks_for_exactly_the_fields_the_code_uses() {
        let m = manifest();
        let access = m["access"].as_table().expect("[access.*] tables");
        let objects: BTreeSet<&str> = USED.iter().map(|(o, _, _)| *o).collect();
        assert_eq!(access.keys().map(String::as_str).collect::<BTreeSet<_>>(), objects, "objects asked for");
        for (object, t) in access {
            let t = t.as_table().expect("an object's access is a table");
            let want = |u: Use| USED.iter().filter(|(o, _, x)| o == object && *x == u).map(|(_, f, _)| f.to_string()).collect::<BTreeSet<_>>();
            assert_eq!(names(t, "read"), want(Use::Read), "read fields of {object}");
            assert_eq!(names(t, "write"), want(Use::Write), "write fields of {object}");
            assert!(names(t, "masked").is_empty(), "{object}: the plugin uses no masked field");
            let create = t.get("create").and_then(|v| v.as_bool()).unwrap_or(false);
            assert_eq!(create, CREATES.contains(&object.as_str()), "create of {object}");
            assert_ne!(t.get("delete").and_then(|v| v.as_bool()), Some(true), "{object}: the plugin deletes nothing");
        }
    }

    #[test]
    fn every_listed_field_is_used_in_the_code() {
        for (object, field, _) in USED {
            let path = format!("{object}::{}", field.to_uppercase());
            assert!(CODE.iter().any(|src| src.contains(&path)), "`{path}` is granted but no code uses it");
        }
        for object in CREATES {
            let path = format!("{object}::OBJECT");
            assert!(CODE.iter().any(|src| src.contains(&path)), "`{path}` is created but no code opens it");
        }
    }
}
