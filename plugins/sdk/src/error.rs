//! The contract's error type, with a few helpers.

/// Why the host refused or could not complete a call (the WIT `error` variant).
///
/// Policy failures ([`Error::AccessDenied`], [`Error::NotFound`], [`Error::QuotaExceeded`], ...)
/// are ordinary values: a plugin may inspect them and carry on. Returning one from
/// [`Plugin::on_event`](crate::Plugin::on_event) makes the host retry the event later.
///
/// `Display` prints the variant and its message, e.g. `Error::AccessDenied("contact.last_name")`.
pub use crate::bindings::capcrm::plugin::types::Error;

/// `Result` with the contract's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    /// The WIT name of the variant: `access-denied`, `not-found`, `quota-exceeded`,
    /// `invalid-input`, `conflict` or `unavailable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::AccessDenied(_) => "access-denied",
            Error::NotFound => "not-found",
            Error::QuotaExceeded(_) => "quota-exceeded",
            Error::InvalidInput(_) => "invalid-input",
            Error::Conflict(_) => "conflict",
            Error::Unavailable(_) => "unavailable",
        }
    }

    /// The message the variant carries (empty for [`Error::NotFound`]).
    pub fn message(&self) -> &str {
        match self {
            Error::NotFound => "",
            Error::AccessDenied(m)
            | Error::QuotaExceeded(m)
            | Error::InvalidInput(m)
            | Error::Conflict(m)
            | Error::Unavailable(m) => m,
        }
    }

    /// Whether the host refused the call for lack of a grant.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AccessDenied(_))
    }

    /// An [`Error::InvalidInput`] with the given message; handy in `map_err`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput(message.into())
    }
}

impl From<serde_json::Error> for Error {
    /// JSON that does not (de)serialise is invalid input. The message names the line and column,
    /// never the offending text.
    fn from(e: serde_json::Error) -> Self {
        Error::InvalidInput(format!(
            "JSON: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}
