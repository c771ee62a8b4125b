//! Validation of field values against the schema.
//!
//! Error messages name the field and what was expected, never the value: a rejected value may be
//! personal data, and errors end up in logs and HTTP responses.

use super::{FieldDef, FieldType, ObjectDef};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("unknown field `{field}` on object `{object}`")]
    UnknownField { object: String, field: String },
    #[error("field `{field}` must be {expected}")]
    WrongType { field: String, expected: String },
    #[error("field `{field}` is required")]
    Required { field: String },
}

/// Whether a write creates a record (required fields must be present) or patches one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Update,
}

/// Validated, normalised values keyed by field name; `Value::Null` means "clear this field" on update.
pub type CleanFields = BTreeMap<String, Value>;

pub fn validate_fields(
    object: &ObjectDef,
    input: &Map<String, Value>,
    mode: WriteMode,
) -> Result<CleanFields, ValidationError> {
    let mut out = CleanFields::new();
    for (name, value) in input {
        let def = object.field(name).ok_or_else(|| ValidationError::UnknownField {
            object: object.name.clone(),
            field: name.clone(),
        })?;
        if value.is_null() {
            if def.required {
                return Err(ValidationError::Required { field: name.clone() });
            }
            if mode == WriteMode::Update {
                out.insert(name.clone(), Value::Null);
            }
            continue;
        }
        out.insert(name.clone(), validate_value(def, value)?);
    }
    if mode == WriteMode::Create {
        if let Some(missing) = object.fields.iter().find(|f| f.required && !out.contains_key(&f.name)) {
            return Err(ValidationError::Required { field: missing.name.clone() });
        }
    }
    Ok(out)
}

/// The value that text typed by a person (a form input, a CSV cell) means for a field: numbers
/// and booleans parsed, tags split on commas, then validated like any other value. `None` for
/// empty text (booleans: anything but `true` is false). The error says what was expected.
pub fn from_text(def: &FieldDef, raw: &str) -> Result<Option<Value>, String> {
    let raw = raw.trim();
    if raw.is_empty() && !matches!(def.field_type, FieldType::Bool) {
        return Ok(None);
    }
    let v = match &def.field_type {
        FieldType::Number => Value::from(raw.parse::<f64>().map_err(|_| "a number".to_string())?),
        FieldType::Integer => Value::from(raw.parse::<i64>().map_err(|_| "a whole number".to_string())?),
        FieldType::Bool => Value::Bool(matches!(raw.to_ascii_lowercase().as_str(), "true" | "yes" | "1")),
        FieldType::Tags => Value::Array(raw.split(',').map(str::trim).filter(|t| !t.is_empty()).map(|t| Value::String(t.to_string())).collect()),
        _ => Value::String(raw.to_string()),
    };
    validate_value(def, &v).map(Some).map_err(|e| match e {
        ValidationError::WrongType { expected, .. } => expected,
        other => other.to_string(),
    })
}

fn wrong(def: &FieldDef, expected: impl Into<String>) -> ValidationError {
    ValidationError::WrongType { field: def.name.clone(), expected: expected.into() }
}

/// Checks one value and returns its normalised form.
pub fn validate_value(def: &FieldDef, value: &Value) -> Result<Value, ValidationError> {
    match &def.field_type {
        FieldType::Text { max_len } => {
            let s = value.as_str().ok_or_else(|| wrong(def, "a string"))?;
            if let Some(max) = max_len {
                if s.chars().count() > *max as usize {
                    return Err(wrong(def, format!("a string of at most {max} characters")));
                }
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
                return Err(wrong(def, "a string without control characters"));
            }
            Ok(Value::String(s.to_string()))
        }
        FieldType::Email => {
            let s = value.as_str().ok_or_else(|| wrong(def, "an email address"))?.trim();
            if !is_email(s) {
                return Err(wrong(def, "an email address like name@example.com"));
            }
            Ok(Value::String(s.to_string()))
        }
        FieldType::Phone => {
            let s = value.as_str().ok_or_else(|| wrong(def, "a phone number"))?.trim();
            let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
            let ok_chars = s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
            let plus_ok = !s[1.min(s.len())..].contains('+');
            if !(ok_chars && plus_ok && (5..=17).contains(&digits)) {
                return Err(wrong(def, "a phone number of 5 to 17 digits (spaces, +, -, ( ) allowed)"));
            }
            Ok(Value::String(s.to_string()))
        }
        FieldType::Url => {
            let s = value.as_str().ok_or_else(|| wrong(def, "a URL"))?.trim();
            let ok = (s.starts_with("https://") || s.starts_with("http://"))
                && s.len() <= 2048
                && s.len() > "https://".len() - 1
                && !s.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(wrong(def, "an http(s) URL"));
            }
            Ok(Value::String(s.to_string()))
        }
        FieldType::Number => match value.as_f64() {
            Some(n) if n.is_finite() => Ok(value.clone()),
            _ => Err(wrong(def, "a number")),
        },
        FieldType::Integer => match value.as_i64() {
            Some(n) => Ok(Value::from(n)),
            None => Err(wrong(def, "an integer")),
        },
        FieldType::Date => {
            let s = value.as_str().ok_or_else(|| wrong(def, "a date YYYY-MM-DD"))?;
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| wrong(def, "a date YYYY-MM-DD"))
        }
        FieldType::Datetime => {
            let s = value.as_str().ok_or_else(|| wrong(def, "an RFC 3339 date-time"))?;
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| {
                    Value::String(
                        d.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    )
                })
                .map_err(|_| wrong(def, "an RFC 3339 date-time like 2026-01-31T09:00:00Z"))
        }
        FieldType::Bool => value.as_bool().map(Value::Bool).ok_or_else(|| wrong(def, "true or false")),
        FieldType::Enum { options } => {
            let s = value.as_str().ok_or_else(|| wrong(def, "a string"))?;
            if options.iter().any(|o| o == s) {
                Ok(Value::String(s.to_string()))
            } else {
                Err(wrong(def, format!("one of: {}", options.join(", "))))
            }
        }
        FieldType::Reference { object } => {
            let s = value.as_str().ok_or_else(|| wrong(def, format!("the id of a {object} record")))?;
            if uuid::Uuid::parse_str(s).is_err() {
                return Err(wrong(def, format!("the id of a {object} record")));
            }
            Ok(Value::String(s.to_ascii_lowercase()))
        }
        FieldType::Tags => {
            let arr = value.as_array().ok_or_else(|| wrong(def, "an array of tags"))?;
            let mut tags: Vec<String> = Vec::with_capacity(arr.len());
            for t in arr {
                match t.as_str() {
                    Some(s) if !s.trim().is_empty() && s.chars().count() <= 64 => {
                        let s = s.trim().to_string();
                        if !tags.contains(&s) {
                            tags.push(s);
                        }
                    }
                    _ => return Err(wrong(def, "an array of non-empty strings of at most 64 characters")),
                }
            }
            if tags.len() > 50 {
                return Err(wrong(def, "at most 50 tags"));
            }
            Ok(Value::from(tags))
        }
    }
}

/// The rule an email field's value must meet.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && domain.len() <= 253
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !local.contains('@')
}

/// The normalised form a blind index is computed over: equal for values a person would call equal.
pub fn normalise_for_index(field_type: &FieldType, value: &str) -> String {
    match field_type {
        FieldType::Email => value.trim().to_lowercase(),
        FieldType::Phone => {
            let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
            digits
        }
        _ => value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;
    use serde_json::json;

    fn contact() -> ObjectDef {
        Schema::builtin().object("contact").unwrap().clone()
    }

    #[test]
    fn accepts_a_good_contact_and_normalises() {
        let input = json!({"last_name": "王", "email": " Wang@Example.com ", "birthday": "1990-02-03",
                           "tags": ["vip", "vip", "beta"]});
        let out = validate_fields(&contact(), input.as_object().unwrap(), WriteMode::Create).unwrap();
        assert_eq!(out["email"], json!("Wang@Example.com"));
        assert_eq!(out["tags"], json!(["vip", "beta"]));
    }

    #[test]
    fn rejects_without_echoing_the_value() {
        let input = json!({"last_name": "x", "email": "canary-not-an-email"});
        let err = validate_fields(&contact(), input.as_object().unwrap(), WriteMode::Create).unwrap_err();
        assert!(!err.to_string().contains("canary"), "{err}");
        assert!(err.to_string().contains("email"));
    }

    #[test]
    fn unknown_required_and_types() {
        let c = contact();
        let unknown = json!({"last_name": "x", "shoe_size": 42});
        assert!(matches!(
            validate_fields(&c, unknown.as_object().unwrap(), WriteMode::Create),
            Err(ValidationError::UnknownField { .. })
        ));
        let missing = json!({"first_name": "x"});
        assert_eq!(
            validate_fields(&c, missing.as_object().unwrap(), WriteMode::Create),
            Err(ValidationError::Required { field: "last_name".into() })
        );
        // An update may omit required fields but not clear them.
        assert!(validate_fields(&c, missing.as_object().unwrap(), WriteMode::Update).is_ok());
        let clear = json!({"last_name": null});
        assert!(validate_fields(&c, clear.as_object().unwrap(), WriteMode::Update).is_err());
        for bad in [json!({"birthday": "1990-13-01"}), json!({"phone": "12"}), json!({"phone": "1+2345678"}),
                    json!({"account": "not-a-uuid"}), json!({"lifecycle_stage": "alien"}), json!({"tags": [1]})] {
            assert!(validate_fields(&c, bad.as_object().unwrap(), WriteMode::Update).is_err(), "{bad}");
        }
    }

    #[test]
    fn index_normalisation() {
        assert_eq!(normalise_for_index(&FieldType::Email, " A@B.com"), "a@b.com");
        assert_eq!(normalise_for_index(&FieldType::Phone, "+86 138-1234 5678"), "8613812345678");
        assert_eq!(normalise_for_index(&FieldType::Text { max_len: None }, "11010 519491231002x"), "11010519491231002X");
    }
}
