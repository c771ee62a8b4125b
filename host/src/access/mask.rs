//! Masked display of values a caller may know exist but not read in clear.

use crate::model::{FieldDef, FieldType};
use serde_json::Value;

/// The masked form of a value. It never reveals more than the documented part of the value.
pub fn mask(def: &FieldDef, value: &Value) -> Value {
    let Some(s) = value.as_str() else { return Value::String("•••".into()) };
    Value::String(match &def.field_type {
        FieldType::Phone => {
            let digits: Vec<char> = s.chars().filter(|c| c.is_ascii_digit()).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("•••• {tail}")
        }
        FieldType::Email => match s.split_once('@') {
            Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
            None => "•••".into(),
        },
        _ if def.name.contains("national_id") || def.name.ends_with("_id_number") => {
            let chars: Vec<char> = s.chars().collect();
            if chars.len() <= 6 {
                "•".repeat(chars.len())
            } else {
                let head: String = chars[..2].iter().collect();
                let tail: String = chars[chars.len() - 2..].iter().collect();
                format!("{head}{}{tail}", "•".repeat(chars.len() - 4))
            }
        }
        FieldType::Date => "••••-••-••".into(),
        _ => {
            let first = s.chars().next().map(|c| c.to_string()).unwrap_or_default();
            format!("{first}•••")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;
    use serde_json::json;

    #[test]
    fn masks_keep_only_the_documented_part() {
        let s = Schema::builtin();
        let c = s.object("contact").unwrap();
        assert_eq!(mask(c.field("phone").unwrap(), &json!("+86 138 1234 5678")), json!("•••• 5678"));
        assert_eq!(mask(c.field("email").unwrap(), &json!("wang@example.cn")), json!("w•••@example.cn"));
        assert_eq!(mask(c.field("national_id").unwrap(), &json!("110105199001011234")), json!("11••••••••••••••34"));
        assert_eq!(mask(c.field("birthday").unwrap(), &json!("1990-01-01")), json!("••••-••-••"));
    }
}
