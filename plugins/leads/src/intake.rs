//! A submission, from the public form or the API: parsing (JSON or a form post) and checks.
//! Refusals name the field and the rule, never the value typed.

use crate::config::SOURCES;

/// The largest body taken; a web form's fields fit many times over.
pub const MAX_BODY: usize = 16 * 1024;

/// A submission as sent. Unknown fields are refused, so a form that drifted from the plugin is
/// noticed at once rather than losing what people typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Intake {
    /// Given name.
    pub first_name: String,
    /// Family name (required).
    pub last_name: String,
    /// Email address.
    pub email: String,
    /// Phone number.
    pub phone: String,
    /// The company they work for.
    pub company: String,
    /// Their job title.
    pub title: String,
    /// Their country, as they give it.
    pub country: String,
    /// What they wrote to us.
    pub message: String,
    /// Where the lead came from (API only; the public form is always `web_form`).
    pub source: String,
    /// The honeypot: hidden from people, filled in by bots.
    pub website: String,
}

/// A checked submission: trimmed, empty values gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lead {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// One of [`SOURCES`].
    pub source: String,
}

/// Where a submission came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The public web form.
    Form,
    /// The API, for a signed-in integration.
    Api,
}

/// Parses a JSON body or an `application/x-www-form-urlencoded` one.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Intake, String> {
    if body.len() > MAX_BODY {
        return Err(format!("the body is larger than {MAX_BODY} bytes"));
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return capcrm_plugin_sdk::form_or_json(content_type, body);
    }
    if !(content_type.is_empty() || content_type.starts_with("application/json")) {
        return Err("send application/json or application/x-www-form-urlencoded".into());
    }
    capcrm_plugin_sdk::form_or_json(content_type, body)
}

/// The host's rule for email fields, so a refusal comes before anything is written.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    !local.is_empty() && local.len() <= 64 && domain.len() <= 253 && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !s.chars().any(|c| c.is_whitespace() || c.is_control()) && !local.contains('@')
}

/// The host's rule for phone fields.
pub fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && !s[1.min(s.len())..].contains('+') && (5..=17).contains(&digits)
}

fn field(value: &str, name: &str, max: usize) -> Result<Option<String>, String> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(format!("`{name}` is at most {max} characters"));
    }
    if v.chars().any(|c| c.is_control() && !"\n\t\r".contains(c)) {
        return Err(format!("`{name}` has control characters"));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// Checks a submission that came in on `channel`.
pub fn check(i: &Intake, channel: Channel) -> Result<Lead, String> {
    let last_name = field(&i.last_name, "last_name", 200)?.ok_or("`last_name` is required")?;
    let email = field(&i.email, "email", 254)?;
    if email.as_deref().is_some_and(|e| !is_email(e)) {
        return Err("`email` must be an email address like name@example.com".into());
    }
    let phone = field(&i.phone, "phone", 40)?;
    if phone.as_deref().is_some_and(|p| !is_phone(p)) {
        return Err("`phone` must be a phone number of 5 to 17 digits (spaces, +, -, ( ) allowed)".into());
    }
    if email.is_none() && phone.is_none() {
        return Err("give `email` or `phone`, so that someone can answer".into());
    }
    let source = match (channel, i.source.trim()) {
        (Channel::Form, "" | "web_form") => "web_form".to_string(),
        (Channel::Form, _) => return Err("`source` is not for the web form: its leads come from web_form".into()),
        (Channel::Api, "") => "api".to_string(),
        (Channel::Api, s) if SOURCES.contains(&s) => s.to_string(),
        (Channel::Api, _) => return Err(format!("`source` must be one of {}", SOURCES.join(", "))),
    };
    Ok(Lead {
        first_name: field(&i.first_name, "first_name", 200)?,
        last_name,
        email,
        phone,
        company: field(&i.company, "company", 200)?,
        title: field(&i.title, "title", 200)?,
        country: field(&i.country, "country", 60)?,
        message: field(&i.message, "message", 5000)?,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Intake {
        Intake { last_name: "Lovelace".into(), email: "ada@example.com".into(), ..Default::default() }
    }

    #[test]
    fn json_and_form_posts_parse_alike() {
        let form = parse("application/x-www-form-urlencoded", b"first_name=Ada&last_name=Love+lace&email=ada%40example.com&website=").unwrap();
        assert_eq!((form.first_name.as_str(), form.last_name.as_str(), form.email.as_str()), ("Ada", "Love lace", "ada@example.com"));
        let json = parse("application/json; charset=utf-8", br#"{"last_name":"Lovelace","email":"ada@example.com"}"#).unwrap();
        assert_eq!(json, good());
        assert_eq!(capcrm_plugin_sdk::percent_decode("100%25+sure%"), "100% sure%");
    }

    #[test]
    fn malformed_unknown_and_oversized_bodies_are_refused_without_echoing_them() {
        let bad = parse("application/json", b"{\"last_name\": \"Secretname").unwrap_err();
        assert!(bad.contains("malformed JSON at line 1") && !bad.contains("Secretname"), "{bad}");
        let unknown = parse("application/json", br#"{"last_name":"x","regime":"gdpr"}"#).unwrap_err();
        assert!(unknown.contains("unknown field `regime`"), "{unknown}");
        let unknown_form = parse("application/x-www-form-urlencoded", b"last_name=x&shoe_size=44").unwrap_err();
        assert!(unknown_form.contains("unknown field `shoe_size`"), "{unknown_form}");
        let big = vec![b' '; MAX_BODY + 1];
        assert!(parse("application/json", &big).unwrap_err().contains("larger than"));
        assert!(parse("text/plain", b"hello").unwrap_err().contains("application/json"));
        let typed = parse("application/json", br#"{"last_name":"x","phone":4915112345}"#).unwrap_err();
        assert!(typed.contains("text") && !typed.contains("4915112345"), "{typed}");
    }

    #[test]
    fn checks_name_the_field_and_fix_the_source() {
        let ok = check(&good(), Channel::Form).unwrap();
        assert_eq!((ok.source.as_str(), ok.phone.clone(), ok.company.clone()), ("web_form", None, None));
        assert_eq!(check(&good(), Channel::Api).unwrap().source, "api");
        let api = check(&Intake { source: "referral".into(), ..good() }, Channel::Api).unwrap();
        assert_eq!(api.source, "referral");
        assert!(check(&Intake { source: "referral".into(), ..good() }, Channel::Form).is_err(), "the form cannot claim a better source");
        assert!(check(&Intake { source: "pigeon".into(), ..good() }, Channel::Api).unwrap_err().contains("`source`"));
        assert!(check(&Intake { last_name: "  ".into(), ..good() }, Channel::Form).unwrap_err().contains("last_name"));
        let e = check(&Intake { email: "not-an-address".into(), ..good() }, Channel::Form).unwrap_err();
        assert!(e.contains("`email`") && !e.contains("not-an-address"));
        assert!(check(&Intake { email: "".into(), phone: "+49 30 1234567".into(), ..good() }, Channel::Form).is_ok());
        assert!(check(&Intake { email: "".into(), ..good() }, Channel::Form).unwrap_err().contains("`email` or `phone`"));
        assert!(check(&Intake { phone: "call me".into(), ..good() }, Channel::Form).unwrap_err().contains("`phone`"));
        assert!(check(&Intake { message: "x".repeat(5001), ..good() }, Channel::Form).unwrap_err().contains("`message`"));
        assert!(check(&Intake { company: "Acme\u{0}".into(), ..good() }, Channel::Form).unwrap_err().contains("control"));
    }
}
