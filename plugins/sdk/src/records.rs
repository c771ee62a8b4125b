//! Records of the granted objects (the WIT `records` interface).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::capcrm::plugin::records as raw;
use crate::{Error, Result};

pub use crate::bindings::capcrm::plugin::records::{Filter, FilterOp, Page};
pub use crate::bindings::capcrm::plugin::types::FieldValue;

/// A record as the plugin may see it: only granted fields that have a value, masked ones listed in
/// `masked`. Field values are JSON text; [`Record::text`] and [`Record::json`] decode them.
pub type Record = crate::bindings::capcrm::plugin::types::RecordData;

/// The most records the host returns in one page.
pub const MAX_PAGE: u32 = 200;

/// An open view of one object, e.g. `contact`.
///
/// Opening checks the grant once; every method reaches only the granted fields, and only records
/// this invocation was handed (by its event, a query result or a creation). Dropping it closes it.
#[derive(Debug)]
pub struct Collection {
    inner: raw::Collection,
    object: String,
}

impl Collection {
    /// Opens `object` for this invocation; [`Error::AccessDenied`] if nothing of it was granted.
    pub fn open(object: &str) -> Result<Self> {
        Ok(Collection {
            inner: raw::Collection::open(object)?,
            object: object.to_owned(),
        })
    }

    /// The object this collection was opened for.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// The fields this plugin may read in clear, read masked, or write.
    pub fn granted_fields(&self) -> Vec<String> {
        self.inner.granted_fields()
    }

    /// Reads a record this invocation was handed; [`Error::NotFound`] for any other id.
    pub fn get(&self, id: &str) -> Result<Record> {
        self.inner.get(id)
    }

    /// One page of the records matching every filter, in id order. `after` is the `next` of the
    /// previous page; `limit` is capped at [`MAX_PAGE`]. The returned ids count as handed.
    pub fn list(&self, filters: &[Filter], after: Option<&str>, limit: u32) -> Result<Page> {
        self.inner.list(filters, after, limit.min(MAX_PAGE))
    }

    /// The first `limit` records (at most [`MAX_PAGE`]), unfiltered.
    pub fn first(&self, limit: u32) -> Result<Vec<Record>> {
        Ok(self.list(&[], None, limit)?.records)
    }

    /// The first page ([`MAX_PAGE`] records at most) of records matching every filter. Use
    /// [`Collection::list`] to go further.
    pub fn find(&self, filters: &[Filter]) -> Result<Vec<Record>> {
        Ok(self.list(filters, None, MAX_PAGE)?.records)
    }

    /// Records whose `field` equals `value` (first page): `coll.find_eq("email", "a@b.example")`.
    /// Works on encrypted fields too, through their blind index.
    pub fn find_eq(&self, field: &str, value: impl Serialize) -> Result<Vec<Record>> {
        self.find(&[Filter::eq(field, value)])
    }

    /// Creates a record from granted, writable fields.
    pub fn create(&self, fields: Fields) -> Result<Record> {
        self.inner.create(&fields.into_values()?)
    }

    /// Changes granted, writable fields of a handed record, whatever its current version.
    pub fn update(&self, id: &str, fields: Fields) -> Result<Record> {
        self.inner.update(id, &fields.into_values()?, None)
    }

    /// Like [`Collection::update`], but [`Error::Conflict`] unless the record is still at
    /// `version` (a [`Record`]'s `version` read earlier).
    pub fn update_if_version(&self, id: &str, fields: Fields, version: u64) -> Result<Record> {
        self.inner.update(id, &fields.into_values()?, Some(version))
    }

    /// Gives a handed record to a user, by user name, so their record scope reaches it (needs
    /// `assign = true` for the object in the manifest).
    pub fn assign(&self, id: &str, owner: &str) -> Result<Record> {
        self.inner.assign(id, owner)
    }

    /// Deletes a record this invocation was handed (needs `delete = true` in the manifest).
    pub fn delete(&self, id: &str) -> Result<()> {
        self.inner.delete(id)
    }

    /// The generated resource, for anything the wrapper does not cover.
    pub fn raw(&self) -> &raw::Collection {
        &self.inner
    }
}

impl Filter {
    /// `field` equals `value`.
    pub fn eq(field: &str, value: impl Serialize) -> Self {
        Self::new(field, FilterOp::Eq, value)
    }

    /// `field` is greater than `value`.
    pub fn gt(field: &str, value: impl Serialize) -> Self {
        Self::new(field, FilterOp::Gt, value)
    }

    /// `field` is greater than or equal to `value`.
    pub fn gte(field: &str, value: impl Serialize) -> Self {
        Self::new(field, FilterOp::Gte, value)
    }

    /// `field` is less than `value`.
    pub fn lt(field: &str, value: impl Serialize) -> Self {
        Self::new(field, FilterOp::Lt, value)
    }

    /// `field` is less than or equal to `value`.
    pub fn lte(field: &str, value: impl Serialize) -> Self {
        Self::new(field, FilterOp::Lte, value)
    }

    /// A condition on `field`; `value` is sent as JSON and must have the field's type
    /// (`Filter::gte("amount", 1000)`, `Filter::eq("email", "a@b.example")`), else the host
    /// answers [`Error::InvalidInput`]. A value that does not serialise becomes `null`, which the
    /// host refuses the same way.
    pub fn new(field: &str, op: FilterOp, value: impl Serialize) -> Self {
        Filter {
            field: field.to_owned(),
            op,
            value: serde_json::to_string(&value).unwrap_or_else(|_| "null".to_owned()),
        }
    }
}

impl Record {
    /// The raw JSON text of `field`, if granted and set.
    pub fn raw_value(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.value.as_str())
    }

    /// `field` as text: a JSON string without its quotes, any other value as its JSON text
    /// (`42`, `true`, `["a"]`); `None` if the field is absent (not granted, or no value) or null.
    /// A masked field gives its masked form, e.g. `a***@example.com`.
    pub fn text(&self, field: &str) -> Option<String> {
        let raw = self.raw_value(field)?;
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::String(s)) => Some(s),
            Ok(Value::Null) => None,
            Ok(other) => Some(other.to_string()),
            Err(_) => Some(raw.to_owned()),
        }
    }

    /// `field` as a JSON value; `None` if it is absent or not valid JSON.
    pub fn json(&self, field: &str) -> Option<Value> {
        serde_json::from_str(self.raw_value(field)?).ok()
    }

    /// `field` decoded into `T`: `Ok(None)` if absent, [`Error::InvalidInput`] if it does not fit.
    pub fn decode<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>> {
        match self.raw_value(field) {
            None => Ok(None),
            Some(raw) => Ok(Some(serde_json::from_str(raw)?)),
        }
    }

    /// Whether `field` was handed out masked rather than in clear.
    pub fn is_masked(&self, field: &str) -> bool {
        self.masked.iter().any(|m| m == field)
    }

    /// The fields as a JSON object of name to value (raw text kept as a string if it is not
    /// valid JSON).
    pub fn to_json(&self) -> serde_json::Map<String, Value> {
        self.fields
            .iter()
            .map(|f| {
                let v = serde_json::from_str(&f.value)
                    .unwrap_or_else(|_| Value::String(f.value.clone()));
                (f.name.clone(), v)
            })
            .collect()
    }
}

/// Field changes for [`Collection::create`] and [`Collection::update`], each value serialised to
/// JSON text:
///
/// ```rust
/// use capcrm_plugin_sdk::Fields;
/// let changes = Fields::new().set("stage", "qualified").set("score", 42).set("tags", ["vip"]);
/// assert_eq!(changes.len(), 3);
/// ```
///
/// Setting a field twice keeps the last value. A value that fails to serialise makes the call that
/// uses the builder return [`Error::InvalidInput`], so the builder itself never fails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    values: Vec<FieldValue>,
    error: Option<Error>,
}

impl Fields {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `field` to `value`, serialised to JSON (`"qualified"`, `42`, `["vip"]`, `null`).
    pub fn set(mut self, field: &str, value: impl Serialize) -> Self {
        match serde_json::to_string(&value) {
            Ok(json) => self.put(field, json),
            Err(e) => {
                self.error.get_or_insert(Error::from(e));
            }
        }
        self
    }

    /// Sets `field` to JSON text given as is; the host validates it.
    pub fn set_raw(mut self, field: &str, json: impl Into<String>) -> Self {
        self.put(field, json.into());
        self
    }

    fn put(&mut self, field: &str, value: String) {
        match self.values.iter_mut().find(|f| f.name == field) {
            Some(existing) => existing.value = value,
            None => self.values.push(FieldValue {
                name: field.to_owned(),
                value,
            }),
        }
    }

    /// How many fields are set.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The field values as the contract takes them, or the first serialisation error.
    pub fn into_values(self) -> Result<Vec<FieldValue>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[(&str, &str)], masked: &[&str]) -> Record {
        Record {
            id: "r1".into(),
            object: "contact".into(),
            version: 1,
            fields: fields
                .iter()
                .map(|(n, v)| FieldValue {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            masked: masked.iter().map(|m| (*m).into()).collect(),
            subject: None,
        }
    }

    #[test]
    fn filters_carry_json_of_the_value() {
        assert_eq!(Filter::eq("email", "a@b.example").value, "\"a@b.example\"");
        assert_eq!(Filter::gte("amount", 1000).value, "1000");
        assert_eq!(Filter::eq("active", true).value, "true");
    }

    #[test]
    fn text_unquotes_strings_and_renders_other_values() {
        let r = record(
            &[
                ("email", "\"a***@example.com\""),
                ("score", "42"),
                ("gone", "null"),
            ],
            &["email"],
        );
        assert_eq!(r.text("email").as_deref(), Some("a***@example.com"));
        assert_eq!(r.text("score").as_deref(), Some("42"));
        assert_eq!(r.text("gone"), None);
        assert_eq!(r.text("absent"), None);
        assert!(r.is_masked("email") && !r.is_masked("score"));
        assert_eq!(r.json("score"), Some(serde_json::json!(42)));
        assert_eq!(r.decode::<u32>("score"), Ok(Some(42)));
        assert!(r.decode::<u32>("email").is_err());
    }

    #[test]
    fn fields_serialise_and_replace() {
        let f = Fields::new()
            .set("stage", "new")
            .set("tags", ["a", "b"])
            .set("stage", "qualified");
        let values = f.into_values().unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0].value, "\"qualified\"");
        assert_eq!(values[1].value, "[\"a\",\"b\"]");
    }

    #[test]
    fn fields_keep_the_first_serialisation_error() {
        let mut bad = std::collections::HashMap::new();
        bad.insert(vec![1u8], 1);
        let f = Fields::new().set("x", bad);
        assert_eq!(f.into_values().unwrap_err().kind(), "invalid-input");
    }
}
