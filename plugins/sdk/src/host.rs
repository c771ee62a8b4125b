//! Notes, logs and the clock (the WIT `host` interface).

use crate::Result;
use crate::bindings::capcrm::plugin::host as raw;

/// Adds an entry to the audit trail under the plugin's name.
///
/// `action` is a short verb (`greeted`), `detail` value-free text (`contact 0190…`): record ids
/// are fine, field values are not.
pub fn audit_note(action: &str, detail: &str) -> Result<()> {
    raw::audit_note(action, detail)
}

/// The current time, microseconds since the Unix epoch, from the host's clock.
pub fn now() -> u64 {
    raw::now()
}

/// Lines in the host log, attributed to the plugin.
///
/// ```rust,no_run
/// use capcrm_plugin_sdk::log;
/// # let id = "0190";
/// log::info!("greeted contact {id}");
/// log::warn!("retrying after {} ms", 50);
/// ```
///
/// Never log field values: the log is read by operators who may not see customer data.
pub mod log {
    pub use crate::bindings::capcrm::plugin::host::Level;

    /// Writes one line at `level`; the macros below format and call this.
    pub fn write(level: Level, message: &str) {
        super::raw::log(level, message)
    }

    #[doc(inline)]
    pub use crate::{
        __capcrm_log_debug as debug, __capcrm_log_error as error, __capcrm_log_info as info,
        __capcrm_log_warn as warn,
    };
}

/// Logs a line at debug level: `log::debug!("format {}", args)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __capcrm_log_debug {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Debug, &$crate::__private::format!($($arg)+))
    };
}

/// Logs a line at info level: `log::info!("format {}", args)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __capcrm_log_info {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Info, &$crate::__private::format!($($arg)+))
    };
}

/// Logs a line at warn level: `log::warn!("format {}", args)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __capcrm_log_warn {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Warn, &$crate::__private::format!($($arg)+))
    };
}

/// Logs a line at error level: `log::error!("format {}", args)`.
#[doc(hidden)]
#[macro_export]
macro_rules! __capcrm_log_error {
    ($($arg:tt)+) => {
        $crate::log::write($crate::log::Level::Error, &$crate::__private::format!($($arg)+))
    };
}
