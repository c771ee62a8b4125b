//! Messages sent through the host's outbox (the WIT `notify` interface).

use crate::Result;
use crate::bindings::capcrm::plugin::notify as raw;

pub use crate::bindings::capcrm::plugin::notify::Recipient;

/// Queues an email to the address in `field` of a handed record (`object`, `id`); the plugin never
/// sees the address unless it was granted. Returns the outbox id. Needs `"email"` in the
/// manifest's `notifications`.
pub fn send_email(
    object: &str,
    id: &str,
    field: &str,
    subject: &str,
    body: &str,
) -> Result<String> {
    let to = Recipient {
        object: object.to_owned(),
        id: id.to_owned(),
        field: field.to_owned(),
    };
    raw::send_email(&to, subject, body)
}
