//! Taking a request in: the form or JSON body, its checks, and the request id.

use crate::clock::Regime;

/// Kinds of request the plugin takes.
pub const KINDS: &[&str] = &["access", "rectification", "erasure", "restriction", "opt_out_of_sale"];

/// A request as the intake form sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intake {
    /// `gdpr`, `ccpa` or `pipl`.
    pub regime: String,
    /// One of [`KINDS`].
    pub kind: String,
    /// The requester's email, where the verification code will go.
    pub email: String,
    /// The requester's name, as they give it.
    pub name: String,
    /// What they ask for, in their words.
    pub details: String,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: String,
}

/// Why an intake is refused (the message goes back to the requester).
pub fn check(i: &Intake) -> std::result::Result<Regime, String> {
    let regime = Regime::parse(&i.regime).ok_or("`regime` must be gdpr, ccpa or pipl")?;
    if !KINDS.contains(&i.kind.as_str()) {
        return Err(format!("`kind` must be one of {}", KINDS.join(", ")));
    }
    let e = i.email.trim();
    let ok_email = e.len() <= 254 && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.') && !e.contains(char::is_whitespace));
    if !ok_email {
        return Err("`email` must be an email address".into());
    }
    if i.name.chars().count() > 200 || i.details.chars().count() > 5000 {
        return Err("`name` is at most 200 characters, `details` at most 5000".into());
    }
    Ok(regime)
}

pub use capcrm_plugin_sdk::form_or_json;

/// Parses an intake form or JSON body.
pub fn parse_intake(content_type: &str, body: &[u8]) -> std::result::Result<Intake, String> {
    form_or_json(content_type, body)
}

/// A short, stable id for a request: its receipt time and a hash of the requester.
pub fn request_id(received_micros: u64, email: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in email.to_lowercase().bytes().chain(received_micros.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("dsr-{received_micros}-{:08x}", h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intake_is_checked_and_forms_parse() {
        let good = Intake { regime: "GDPR".into(), kind: "erasure".into(), email: "ada@example.com".into(), ..Default::default() };
        assert_eq!(check(&good), Ok(Regime::Gdpr));
        assert!(check(&Intake { regime: "lgpd".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { kind: "delete_everything".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { email: "not an email".into(), ..good.clone() }).is_err());
        assert!(check(&Intake { email: "a@b".into(), ..good.clone() }).is_err());
        let form = parse_intake("application/x-www-form-urlencoded", b"regime=pipl&kind=access&email=li%40example.cn&name=Li+Na&website=").unwrap();
        assert_eq!((form.regime.as_str(), form.email.as_str(), form.name.as_str()), ("pipl", "li@example.cn", "Li Na"));
        assert!(parse_intake("application/json", br#"{"regime":"gdpr","surprise":1}"#).is_err(), "unknown fields are refused");
        assert_eq!(capcrm_plugin_sdk::percent_decode("100%25+sure%"), "100% sure%");
        assert_ne!(request_id(1, "a@b.example"), request_id(2, "a@b.example"));
        assert_eq!(request_id(1, "A@b.example"), request_id(1, "a@b.example"));
    }
}
