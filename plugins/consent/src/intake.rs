//! What people and staff send: form or JSON bodies, their checks, the purpose list, request ids.
//!
//! Every message here goes back to the sender or into an error body, so none repeats a value the
//! sender typed: a wrong email address is "not an email address", never the address.

use capcrm_plugin_sdk::serde_json::Value;
use serde::Deserialize as _;

/// Purposes offered when the administrator has not set a list.
pub const DEFAULT_PURPOSES: &[&str] = &["marketing", "newsletter", "profiling"];

/// The most purposes a list may hold (each one a line on a form).
pub const MAX_PURPOSES: usize = 50;

/// A request to consent, from the public form.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Subscribe {
    /// Where the code goes, and how the person is found once it is entered.
    pub email: String,
    /// One of the configured purposes.
    pub purpose: String,
    /// The version of the policy the person was shown.
    pub policy_version: String,
    /// Where the consent was given (`web form` when left out).
    pub source: String,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: String,
}

/// A request to withdraw, from the public form.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Unsubscribe {
    /// Where the code goes.
    pub email: String,
    /// One of the configured purposes.
    pub purpose: String,
    /// The honeypot.
    pub website: String,
}

/// The code a person received, for the request it answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The request id `POST /subscribe` or `POST /unsubscribe` answered.
    pub id: String,
    /// The six digits from the message.
    pub code: String,
}

/// A decision staff record for someone (given on paper, by phone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// The person's address, to find them by.
    pub email: String,
    /// One of the configured purposes.
    pub purpose: String,
    /// Consent (`true`) or refusal (`false`).
    #[serde(deserialize_with = "bool_or_text")]
    pub granted: bool,
    /// How it was given, e.g. `phone call` or `signed form`.
    pub source: String,
    /// The version of the policy the person agreed to or refused.
    pub policy_version: String,
}

/// The purpose list an administrator sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeList {
    /// Purposes people may consent to from now on.
    pub purposes: Vec<String>,
}

/// The purposes in use, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// Purposes people may consent to.
    pub purposes: Vec<String>,
    /// Purposes taken off the list: nobody consents to them any more, but whoever did may still
    /// withdraw (withdrawing must stay as easy as consenting was).
    #[serde(default)]
    pub retired: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config { purposes: DEFAULT_PURPOSES.iter().map(|p| p.to_string()).collect(), retired: Vec::new() }
    }
}

impl Config {
    /// Why a list is refused: empty, too long, a name the host would not take, or a repeat.
    pub fn check(list: &PurposeList) -> Result<(), String> {
        let purposes = &list.purposes;
        if purposes.is_empty() || purposes.len() > MAX_PURPOSES {
            return Err(format!("`purposes` holds 1 to {MAX_PURPOSES} names"));
        }
        for (i, p) in purposes.iter().enumerate() {
            if !valid_purpose(p) {
                return Err(format!("purpose {} must be 1 to 64 lower-case letters, digits, - and _", i + 1));
            }
            if purposes[..i].contains(p) {
                return Err(format!("purpose `{p}` is listed twice"));
            }
        }
        Ok(())
    }

    /// The configuration after the administrator sets `list`: what leaves the list is retired, what
    /// comes back is offered again.
    pub fn replaced_by(&self, list: PurposeList) -> Config {
        let mut retired: Vec<String> = self.retired.iter().chain(&self.purposes).filter(|p| !list.purposes.contains(p)).cloned().collect();
        retired.sort();
        retired.dedup();
        Config { purposes: list.purposes, retired }
    }

    /// `purpose` if it is offered; otherwise the message naming the list.
    pub fn purpose<'a>(&self, purpose: &'a str) -> Result<&'a str, String> {
        if self.purposes.iter().any(|p| p == purpose) {
            Ok(purpose)
        } else {
            Err(format!("`purpose` must be one of {}", self.purposes.join(", ")))
        }
    }

    /// `purpose` if it may be withdrawn or refused: offered now, or once.
    pub fn refusable<'a>(&self, purpose: &'a str) -> Result<&'a str, String> {
        if self.retired.iter().any(|p| p == purpose) { Ok(purpose) } else { self.purpose(purpose) }
    }
}

/// The host's rule for a purpose name (so that a grant `consent = "..."` can name the same one):
/// 1 to 64 lower-case ASCII letters, digits, `-` and `_`.
pub fn valid_purpose(p: &str) -> bool {
    (1..=64).contains(&p.len()) && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether `e` (trimmed) looks like an address a code can be mailed to.
pub fn valid_email(e: &str) -> bool {
    let e = e.trim();
    e.len() <= 254
        && !e.contains(char::is_whitespace)
        && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
}

/// A short free-text field: `required` ones must not be blank; none longer than `max` characters
/// or holding control characters (they end up in records staff read).
pub fn check_text(name: &str, value: &str, max: usize, required: bool) -> Result<(), String> {
    let v = value.trim();
    if required && v.is_empty() {
        return Err(format!("`{name}` is required"));
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(format!("`{name}` is at most {max} characters, without control characters"));
    }
    Ok(())
}

/// Checks a subscription against the purpose list.
pub fn check_subscribe(s: &Subscribe, config: &Config) -> Result<(), String> {
    if !valid_email(&s.email) {
        return Err("`email` must be an email address".into());
    }
    config.purpose(&s.purpose)?;
    check_text("policy_version", &s.policy_version, 64, true)?;
    check_text("source", &s.source, 200, false)
}

/// Checks a withdrawal against the purpose list.
pub fn check_unsubscribe(u: &Unsubscribe, config: &Config) -> Result<(), String> {
    if !valid_email(&u.email) {
        return Err("`email` must be an email address".into());
    }
    config.refusable(&u.purpose).map(|_| ())
}

/// Checks a decision staff record.
pub fn check_recorded(r: &Recorded, config: &Config) -> Result<(), String> {
    if !valid_email(&r.email) {
        return Err("`email` must be an email address".into());
    }
    if r.granted { config.purpose(&r.purpose)? } else { config.refusable(&r.purpose)? };
    check_text("source", &r.source, 200, true)?;
    check_text("policy_version", &r.policy_version, 64, true)
}

/// A form post sends `granted=true` as text; JSON sends a boolean. Either is taken.
fn bool_or_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(serde::de::Error::custom("`granted` must be true or false")),
    }
}
pub use capcrm_plugin_sdk::form_or_json;

/// A request id: `sub-` or `uns-`, the time it was taken in and a hash of what only the host
/// knows (the challenge id), so the id says nothing about the address.
pub fn request_id(kind: &str, micros: u64, salt: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in salt.bytes().chain(micros.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{kind}-{micros}-{:08x}", h as u32)
}

/// Whether `id` has the shape [`request_id`] gives for `kind` (anything else is not looked up).
pub fn is_request_id(kind: &str, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(kind).and_then(|r| r.strip_prefix('-')) else { return false };
    let Some((micros, hash)) = rest.split_once('-') else { return false };
    !micros.is_empty() && micros.len() <= 20 && micros.bytes().all(|b| b.is_ascii_digit()) && hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub() -> Subscribe {
        Subscribe { email: "ada@example.com".into(), purpose: "marketing".into(), policy_version: "2026-03".into(), ..Default::default() }
    }

    #[test]
    fn json_and_form_bodies_parse_into_the_same_request() {
        let json: Subscribe = form_or_json("application/json", br#"{"email":"ada@example.com","purpose":"marketing","policy_version":"2026-03"}"#).unwrap();
        let form: Subscribe = form_or_json("application/x-www-form-urlencoded; charset=utf-8", b"email=ada%40example.com&purpose=marketing&policy_version=2026-03&website=").unwrap();
        assert_eq!(json, sub());
        assert_eq!(form, sub());
        let spaced: Subscribe = form_or_json("application/x-www-form-urlencoded", b"email=a%40b.example&source=paper+form").unwrap();
        assert_eq!(spaced.source, "paper form");
    }

    #[test]
    fn malformed_bodies_are_refused_without_echoing_values() {
        let e = form_or_json::<Subscribe>("application/json", b"{not json").unwrap_err();
        assert!(e.contains("malformed JSON"), "{e}");
        let e = form_or_json::<Subscribe>("application/json", br#"{"email":"ada@example.com","surprise":1}"#).unwrap_err();
        assert!(e.contains("unknown field `surprise`"), "{e}");
        let e = form_or_json::<Subscribe>("application/json", br#"{"email":["ada@example.com"],"purpose":"secret.value@example.org"}"#).unwrap_err();
        assert!(!e.contains("example"), "the message repeats no value: {e}");
        let e = form_or_json::<Recorded>("application/json", br#"{"email":"ada@example.com","purpose":"marketing","granted":"yes please","source":"phone","policy_version":"1"}"#).unwrap_err();
        assert!(e.contains("`granted` must be true or false") && !e.contains("yes please"), "{e}");
        let e = form_or_json::<Subscribe>("application/json", br#"{"ada@example.com":"1"}"#).unwrap_err();
        assert!(e.contains("a field this route does not take") && !e.contains("example"), "{e}");
        let e = form_or_json::<Confirm>("application/json", br#"{"id":"sub-1-00000000"}"#).unwrap_err();
        assert!(e.contains("missing field `code`"), "{e}");
        let r: Recorded = form_or_json("application/x-www-form-urlencoded", b"email=a%40b.example&purpose=marketing&granted=false&source=phone&policy_version=1").unwrap();
        assert!(!r.granted);
    }

    #[test]
    fn requests_are_checked_against_the_purpose_list() {
        let config = Config::default();
        assert_eq!(check_subscribe(&sub(), &config), Ok(()));
        let e = check_subscribe(&Subscribe { purpose: "resale".into(), ..sub() }, &config).unwrap_err();
        assert_eq!(e, "`purpose` must be one of marketing, newsletter, profiling");
        assert!(check_subscribe(&Subscribe { purpose: "Marketing".into(), ..sub() }, &config).is_err(), "names are exact");
        assert!(check_subscribe(&Subscribe { email: "not an email".into(), ..sub() }, &config).is_err());
        assert!(check_subscribe(&Subscribe { email: "a@b".into(), ..sub() }, &config).is_err());
        assert!(check_subscribe(&Subscribe { email: "a@b@c.example".into(), ..sub() }, &config).is_err());
        assert!(check_subscribe(&Subscribe { policy_version: " ".into(), ..sub() }, &config).is_err(), "the policy shown is required");
        assert!(check_subscribe(&Subscribe { source: "x".repeat(201), ..sub() }, &config).is_err());
        assert!(check_subscribe(&Subscribe { source: "line\nbreak".into(), ..sub() }, &config).is_err());
        let custom = Config::default().replaced_by(PurposeList { purposes: vec!["events".into()] });
        assert!(check_subscribe(&sub(), &custom).is_err(), "marketing is not on this list");
        assert_eq!(check_unsubscribe(&Unsubscribe { email: "ada@example.com".into(), purpose: "events".into(), website: String::new() }, &custom), Ok(()));
        let rec = Recorded { email: "ada@example.com".into(), purpose: "newsletter".into(), granted: true, source: String::new(), policy_version: "1".into() };
        assert!(check_recorded(&rec, &config).is_err(), "staff say how consent was given");
        assert_eq!(check_recorded(&Recorded { source: "phone call".into(), ..rec }, &config), Ok(()));
    }

    #[test]
    fn purpose_lists_take_the_hosts_names_once_each() {
        let list = |p: &[&str]| PurposeList { purposes: p.iter().map(|s| s.to_string()).collect() };
        assert_eq!(Config::check(&list(DEFAULT_PURPOSES)), Ok(()));
        assert!(Config::check(&list(&[])).is_err());
        assert!(Config::check(&list(&["marketing", "marketing"])).is_err());
        assert!(Config::check(&list(&["Marketing!"])).is_err());
        let many: Vec<String> = (0..=MAX_PURPOSES).map(|i| format!("p{i}")).collect();
        assert!(Config::check(&PurposeList { purposes: many }).is_err());
        assert!(valid_purpose("email-newsletter_2") && !valid_purpose("") && !valid_purpose(&"x".repeat(65)) && !valid_purpose("a b"));
    }

    #[test]
    fn a_purpose_taken_off_the_list_can_still_be_withdrawn() {
        let list = |p: &[&str]| PurposeList { purposes: p.iter().map(|s| s.to_string()).collect() };
        let c = Config::default().replaced_by(list(&["marketing", "events"]));
        assert_eq!(c.retired, vec!["newsletter".to_string(), "profiling".to_string()]);
        let ada = |purpose: &str| Unsubscribe { email: "ada@example.com".into(), purpose: purpose.into(), website: String::new() };
        assert_eq!(check_unsubscribe(&ada("newsletter"), &c), Ok(()), "whoever consented may withdraw");
        assert!(check_unsubscribe(&ada("resale"), &c).is_err(), "a purpose never offered is unknown");
        assert!(check_subscribe(&Subscribe { purpose: "newsletter".into(), ..sub() }, &c).is_err(), "nobody consents to it any more");
        let rec = Recorded { email: "ada@example.com".into(), purpose: "profiling".into(), granted: false, source: "letter".into(), policy_version: "1".into() };
        assert_eq!(check_recorded(&rec, &c), Ok(()));
        assert!(check_recorded(&Recorded { granted: true, ..rec }, &c).is_err());
        let back = c.replaced_by(list(&["newsletter"]));
        assert_eq!((back.purposes, back.retired), (vec!["newsletter".to_string()], vec!["events".to_string(), "marketing".to_string(), "profiling".to_string()]));
    }

    #[test]
    fn request_ids_are_checked_by_shape() {
        let id = request_id("sub", 1_764_000_000_000_000, "challenge-1");
        assert!(is_request_id("sub", &id), "{id}");
        assert!(!is_request_id("uns", &id), "a subscription is not a withdrawal");
        assert_ne!(id, request_id("sub", 1_764_000_000_000_000, "challenge-2"));
        assert!(!is_request_id("sub", "sub-1-xyz") && !is_request_id("sub", "sub--00000000") && !is_request_id("sub", "../config"));
    }
}
