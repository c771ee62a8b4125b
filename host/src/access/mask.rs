//! Masked display of values a caller may know exist but not read in clear.

use crate::model::{FieldDef, FieldType, MaskFormat};
use serde_json::Value;

const DOT: char = '•';

/// The format a field is masked with: its own, or one derived from its type and name.
pub fn format_of(def: &FieldDef) -> MaskFormat {
    if let Some(m) = &def.mask {
        return m.clone();
    }
    match &def.field_type {
        FieldType::Phone => MaskFormat::LastFour,
        FieldType::Email => MaskFormat::Email,
        _ if def.name.contains("national_id") || def.name.ends_with("_id_number") || def.name.contains("passport") => MaskFormat::Edges { head: 2, tail: 2 },
        _ if def.name == "last_name" || def.name == "family_name" => MaskFormat::FamilyName,
        _ if def.name.ends_with("name") && !def.name.contains("company") => MaskFormat::Edges { head: 1, tail: 0 },
        FieldType::Date => MaskFormat::Pattern { pattern: "****-**-**".into() },
        _ => MaskFormat::Edges { head: 1, tail: 0 },
    }
}

/// The masked form of a value. It never reveals more than its format documents.
pub fn mask(def: &FieldDef, value: &Value) -> Value {
    let Some(s) = value.as_str() else { return Value::String("•••".into()) };
    Value::String(apply(&format_of(def), s))
}

fn hidden(n: usize) -> String {
    std::iter::repeat_n(DOT, n.max(3)).collect()
}

fn apply(format: &MaskFormat, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    match format {
        MaskFormat::Full => hidden(chars.len()),
        MaskFormat::LastFour => {
            let digits: Vec<char> = chars.iter().copied().filter(char::is_ascii_digit).collect();
            if digits.len() <= 4 {
                return hidden(4);
            }
            let tail: String = digits[digits.len() - 4..].iter().collect();
            format!("•••• {tail}")
        }
        MaskFormat::Email => match s.split_once('@') {
            Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or(DOT)),
            None => hidden(3),
        },
        MaskFormat::Edges { head, tail } => {
            let (h, t) = (*head as usize, *tail as usize);
            // At least as many hidden as shown, or nothing is shown.
            if chars.len() < 2 * (h + t) || chars.len() <= h + t {
                return hidden(chars.len());
            }
            let mid = chars.len() - h - t;
            format!("{}{}{}", chars[..h].iter().collect::<String>(), hidden(mid), chars[chars.len() - t..].iter().collect::<String>())
        }
        MaskFormat::FamilyName => {
            let words: Vec<&str> = s.split_whitespace().collect();
            if words.len() > 1 {
                format!("{} {}", hidden(3), words[words.len() - 1])
            } else if chars.first().is_some_and(|c| is_cjk(*c)) && chars.len() > 1 {
                format!("{}{}", chars[0], hidden(chars.len() - 1))
            } else {
                s.to_string()
            }
        }
        MaskFormat::Pattern { pattern } => {
            let mut out = String::new();
            let mut it = chars.iter();
            for p in pattern.chars() {
                match p {
                    '#' => out.push(*it.next().unwrap_or(&DOT)),
                    '*' => {
                        it.next();
                        out.push(DOT);
                    }
                    other => {
                        // A literal in the pattern stands for the value's character at that place.
                        it.next();
                        out.push(other);
                    }
                }
            }
            if it.next().is_some() {
                out.push_str("•••");
            }
            out
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
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
        assert_eq!(mask(c.field("last_name").unwrap(), &json!("Lovelace")), json!("Lovelace"), "a family-name field keeps the family name");
        assert_eq!(mask(c.field("first_name").unwrap(), &json!("Ada")), json!("A•••"));
        assert_eq!(mask(c.field("national_id").unwrap(), &json!("AB12")), json!("••••"), "too short to show anything");
        assert_eq!(mask(c.field("phone").unwrap(), &json!("123")), json!("••••"));
    }

    #[test]
    fn formats() {
        assert_eq!(apply(&MaskFormat::FamilyName, "Ada King Lovelace"), "••• Lovelace");
        assert_eq!(apply(&MaskFormat::FamilyName, "王小明"), "王•••");
        assert_eq!(apply(&MaskFormat::Full, "secret"), "••••••");
        assert_eq!(apply(&MaskFormat::Pattern { pattern: "##-****-#".into() }, "AB-1234-Z"), "AB-••••-Z");
        assert_eq!(apply(&MaskFormat::Pattern { pattern: "##**".into() }, "ABCDEFG"), "AB•••••");
        assert_eq!(apply(&MaskFormat::Edges { head: 3, tail: 0 }, "LOY-99182"), "LOY••••••");
    }
}
