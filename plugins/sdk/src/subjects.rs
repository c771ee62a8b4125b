//! Data subjects (the people records are about) as a whole: find by identifier, access export,
//! erasure, holds (the WIT `subjects` interface).
//!
//! Each operation is its own capability in the manifest (`subjects = ["find", "export", "erase",
//! "hold"]`). A subject id is usable once the invocation was handed it: returned by [`find`], or as
//! the `subject` of a record it read.
//!
//! ```rust,no_run
//! use capcrm_plugin_sdk::subjects;
//! for person in subjects::find_by_email("ada@example.com")? {
//!     let records = subjects::export_records(&person.subject)?;
//!     let kept = subjects::export_stored(&person.subject)?;
//!     // ... build the access bundle ...
//! #   let _ = (records, kept);
//! }
//! # Ok::<(), capcrm_plugin_sdk::Error>(())
//! ```

use crate::bindings::capcrm::plugin::subjects as raw;
use crate::{Record, Result};

pub use raw::{ErasureReceipt, Hold, Identifier, RecordPage, RecordRef, StoredPage, StoredValue, SubjectMatch};

/// The most records an export page holds.
pub const MAX_EXPORT_PAGE: u32 = 200;

/// Subjects whose records carry an identifier (compared by blind index; at most 100).
pub fn find(who: &Identifier) -> Result<Vec<SubjectMatch>> {
    raw::find(who)
}

/// Subjects with this email address on any blind-indexed email field.
pub fn find_by_email(email: &str) -> Result<Vec<SubjectMatch>> {
    raw::find(&Identifier::Email(email.to_owned()))
}

/// Subjects with this phone number on any blind-indexed phone field.
pub fn find_by_phone(phone: &str) -> Result<Vec<SubjectMatch>> {
    raw::find(&Identifier::Phone(phone.to_owned()))
}

/// One page of the subject's records, every field in clear.
pub fn export_records_page(subject: &str, after: Option<&str>, limit: u32) -> Result<RecordPage> {
    raw::export_records(subject, after, limit.min(MAX_EXPORT_PAGE))
}

/// Every record of the subject, page by page.
pub fn export_records(subject: &str) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = raw::export_records(subject, after.as_deref(), MAX_EXPORT_PAGE)?;
        out.extend(page.records);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Every value plugins keep about the subject, page by page.
pub fn export_stored(subject: &str) -> Result<Vec<StoredValue>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = raw::export_stored(subject, after.as_deref(), 100)?;
        out.extend(page.values);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Erases the subject (destroys its key); `reason` is value-free text kept with the receipt.
/// [`Error::Conflict`](crate::Error::Conflict) while a hold is in place.
pub fn erase(subject: &str, reason: &str) -> Result<ErasureReceipt> {
    raw::erase(subject, reason)
}

/// Places a hold that blocks the subject's erasure; returns its id.
pub fn place_hold(subject: &str, reason: &str) -> Result<String> {
    raw::place_hold(subject, reason)
}

/// Releases a hold.
pub fn release_hold(subject: &str, hold_id: &str) -> Result<()> {
    raw::release_hold(subject, hold_id)
}

/// The holds in place on the subject.
pub fn holds(subject: &str) -> Result<Vec<Hold>> {
    raw::holds(subject)
}
