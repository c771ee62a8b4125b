//! Proof that a requester controls an email address (the WIT `verification` interface).
//!
//! The host draws the code and writes the message; the plugin only keeps the challenge id it is
//! given and later asks whether the code a person typed matches. Needs `"email"` in the manifest's
//! `verification` (capability `verify:email`).
//!
//! A wrong code counts against the challenge only if the invocation commits: answer a wrong code
//! with an ordinary response (a 4xx), not an error, so that five wrong tries close the challenge.

use crate::Result;
use crate::bindings::capcrm::plugin::verification as raw;

/// Sends a one-time code to `email`; returns the challenge id.
pub fn send_code(email: &str) -> Result<String> {
    raw::send_code(email)
}

/// Whether `code` answers the challenge. True at most once; an expired, used or failed challenge
/// is an [`crate::Error::Conflict`].
pub fn check_code(challenge: &str, code: &str) -> Result<bool> {
    raw::check_code(challenge, code)
}
