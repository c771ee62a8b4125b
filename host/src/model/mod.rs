//! The metadata-driven data model: objects, fields, types and classifications.
//!
//! Built-in objects are defined in [`builtin`]; admins add custom objects and fields, which are
//! stored in the database and merged with the built-ins into one [`Schema`]. Every write is validated
//! against the schema in [`validate`] before it reaches the access layer's encryption step.

pub mod builtin;
pub mod validate;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How sensitive a field is. Drives encryption at rest, masking and (later) retention and export rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Fine to show anyone with access to the object (a company's name).
    Public,
    /// Business data, not about a person (a deal amount).
    Internal,
    /// Identifies or describes a person: encrypted at rest, audited on read.
    Personal,
    /// Special category or high-risk personal data: encrypted, audited, masked unless clear read is granted.
    Sensitive,
}

impl Classification {
    /// Personal and sensitive values are sealed with the subject's data key and never stored in clear.
    pub fn is_encrypted(self) -> bool {
        matches!(self, Classification::Personal | Classification::Sensitive)
    }
}

/// The type of a field; every write is checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldType {
    Text { max_len: Option<u32> },
    Email,
    Phone,
    Url,
    Number,
    Integer,
    Date,
    Datetime,
    Bool,
    Enum { options: Vec<String> },
    /// A reference to a record of another object, by id.
    Reference { object: String },
    /// A set of short labels.
    Tags,
}

impl FieldType {
    /// Whether values of this type can be compared with `<`/`>` (range filters on plain fields).
    pub fn is_ordered(&self) -> bool {
        matches!(self, FieldType::Number | FieldType::Integer | FieldType::Date | FieldType::Datetime)
    }
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Url => "url",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Bool => "bool",
            FieldType::Enum { .. } => "enum",
            FieldType::Reference { .. } => "reference",
            FieldType::Tags => "tags",
        }
    }
}

/// One field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub classification: Classification,
    #[serde(default)]
    pub required: bool,
    /// Keep a keyed HMAC of the normalised value so equality filters work on an encrypted field.
    #[serde(default)]
    pub blind_index: bool,
    /// For references: this reference names the person the record belongs to (its subject id is inherited).
    #[serde(default)]
    pub subject_link: bool,
    #[serde(default)]
    pub custom: bool,
    /// How the value is shown to someone who may see it only masked; by default derived from the
    /// type and name (phones keep the last four digits, emails the first letter and the domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskFormat>,
}

/// A masked display format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MaskFormat {
    /// Every character hidden.
    Full,
    /// Only the last four digits (phone numbers).
    LastFour,
    /// The first letter of the local part and the whole domain (`w•••@example.cn`).
    Email,
    /// The first `head` and last `tail` characters (national ids); values too short to hide
    /// anything in between are hidden whole.
    Edges { head: u8, tail: u8 },
    /// A person's family name kept, the rest hidden: the last word of a Western name, the first
    /// character of a Chinese one, or the whole value in a family-name field.
    FamilyName,
    /// A pattern over the value's characters: `#` shows the character at that place, `*` hides
    /// it, any other pattern character is written as is; characters beyond the pattern are hidden.
    Pattern { pattern: String },
}

/// How a record of an object relates to a data subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectMode {
    /// Each record is a person: creating one creates a new data subject (contact, lead).
    Owns,
    /// Records inherit the subject of the record named by their `subject_link` reference (activity, consent).
    Inherits,
    /// Records do not belong to a person (account, deal).
    None,
}

/// An object (a record type) and its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub subject_mode: SubjectMode,
    pub custom: bool,
    pub fields: Vec<FieldDef>,
}

impl ObjectDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
    pub fn subject_link(&self) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.subject_link)
    }
}

/// The whole model: built-in objects plus the custom objects and fields stored in the database.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    objects: BTreeMap<String, ObjectDef>,
}

impl Schema {
    pub fn builtin() -> Self {
        let mut s = Schema::default();
        for o in builtin::objects() {
            s.objects.insert(o.name.clone(), o);
        }
        s
    }
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects.get(name)
    }
    pub fn objects(&self) -> impl Iterator<Item = &ObjectDef> {
        self.objects.values()
    }
    pub fn insert_object(&mut self, o: ObjectDef) {
        self.objects.insert(o.name.clone(), o);
    }
    pub fn add_field(&mut self, object: &str, f: FieldDef) -> bool {
        match self.objects.get_mut(object) {
            Some(o) => {
                o.fields.push(f);
                true
            }
            None => false,
        }
    }
}

/// Names of objects and fields: lower-case ASCII, digits and underscores, starting with a letter.
/// User names: 1 to 64 ASCII letters, digits, `.`, `-`, `_` or `@` (an email address works).
pub fn is_valid_username(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c))
}

pub fn is_valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 48
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}
