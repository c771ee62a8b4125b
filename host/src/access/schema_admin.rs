//! Custom objects and fields: stored in the database, merged over the built-in schema.

use super::policy::{Effective, SystemPermission};
use super::{AccessError, Gate, Principal, Result};
use crate::audit::{Event, Outcome};
use crate::model::{FieldDef, FieldType, ObjectDef, Schema, SubjectMode, is_valid_identifier};
use crate::store::{Db, now_micros};
use sqlx::Row;

/// Built-in schema plus everything admins added.
pub(crate) async fn load_schema(db: &Db) -> Result<Schema> {
    let mut schema = Schema::builtin();
    let rows = sqlx::query("SELECT definition FROM custom_objects ORDER BY created_at, name").fetch_all(db.reader()).await?;
    for r in rows {
        let def: String = r.try_get(0)?;
        let o: ObjectDef = serde_json::from_str(&def).map_err(|e| AccessError::Internal(format!("stored custom object: {e}")))?;
        schema.insert_object(o);
    }
    let rows = sqlx::query("SELECT object, definition FROM custom_fields ORDER BY created_at, name").fetch_all(db.reader()).await?;
    for r in rows {
        let object: String = r.try_get(0)?;
        let def: String = r.try_get(1)?;
        let f: FieldDef = serde_json::from_str(&def).map_err(|e| AccessError::Internal(format!("stored custom field: {e}")))?;
        schema.add_field(&object, f);
    }
    Ok(schema)
}

fn check_field(schema: &Schema, object: &str, subject_mode: SubjectMode, f: &FieldDef) -> Result<()> {
    let bad = |m: String| Err(AccessError::BadRequest(m));
    if !is_valid_identifier(&f.name) {
        return bad(format!("field name `{}` must be lower-case letters, digits and _ (starting with a letter, at most 48)", f.name));
    }
    match &f.mask {
        Some(crate::model::MaskFormat::Pattern { pattern }) if pattern.is_empty() || pattern.chars().count() > 64 || !pattern.contains('*') => {
            return bad(format!("field `{}`: a mask pattern is 1 to 64 characters with at least one `*`", f.name));
        }
        Some(crate::model::MaskFormat::Edges { head, tail }) if u16::from(*head) + u16::from(*tail) > 16 => {
            return bad(format!("field `{}`: a mask shows at most 16 characters", f.name));
        }
        _ => {}
    }
    if f.label.trim().is_empty() || f.label.chars().count() > 100 {
        return bad(format!("field `{}` needs a label of 1 to 100 characters", f.name));
    }
    match &f.field_type {
        FieldType::Reference { object: target } if schema.object(target).is_none() && target != object => {
            return bad(format!("field `{}` refers to unknown object `{target}`", f.name));
        }
        FieldType::Enum { options } if options.is_empty() || options.iter().any(|o| o.is_empty() || o.len() > 100) => {
            return bad(format!("enum field `{}` needs non-empty options of at most 100 characters", f.name));
        }
        _ => {}
    }
    if f.blind_index && !matches!(f.field_type, FieldType::Text { .. } | FieldType::Email | FieldType::Phone) {
        return bad(format!("field `{}`: blind indexes are for text, email and phone fields", f.name));
    }
    if f.blind_index && !f.classification.is_encrypted() {
        return bad(format!("field `{}`: only personal or sensitive fields need a blind index; plain fields filter directly", f.name));
    }
    if f.subject_link {
        let FieldType::Reference { object: target } = &f.field_type else {
            return bad(format!("field `{}`: a subject link must be a reference", f.name));
        };
        let owns = schema.object(target).map(|o| o.subject_mode == SubjectMode::Owns).unwrap_or(false);
        if subject_mode != SubjectMode::Inherits || !owns {
            return bad(format!(
                "field `{}`: a subject link is a reference from an object whose records inherit their subject to an object whose records are people",
                f.name
            ));
        }
    }
    Ok(())
}

impl Gate {
    fn require_configure(&self, p: &Principal) -> bool {
        Effective::of(p).has(SystemPermission::Schema)
    }

    /// Adds a custom field to an object (built-in or custom). Audited as `schema.add_field`.
    pub async fn add_custom_field(&self, p: &Principal, object: &str, mut f: FieldDef) -> Result<ObjectDef> {
        if !self.require_configure(p) {
            return self.inner.deny(p, "schema.add_field", Some(object), "changing the schema").await;
        }
        f.custom = true;
        let schema = load_schema(self.db()).await?;
        let obj = schema.object(object).ok_or_else(|| AccessError::UnknownObject(object.into()))?;
        if obj.field(&f.name).is_some() {
            return Err(AccessError::Conflict(format!("object `{object}` already has a field `{}`", f.name)));
        }
        if f.subject_link && obj.subject_link().is_some() {
            return Err(AccessError::BadRequest(format!("object `{object}` already has a subject link")));
        }
        check_field(&schema, object, obj.subject_mode, &f)?;
        let mut tx = self.db().begin_write().await?;
        let inserted = sqlx::query("INSERT INTO custom_fields (object, name, definition, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(object.to_string())
            .bind(f.name.clone())
            .bind(serde_json::to_string(&f).expect("serialises"))
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        if inserted.rows_affected() == 0 {
            return Err(AccessError::Conflict(format!("object `{object}` already has a field `{}`", f.name)));
        }
        let ev = Event::new(&p.actor, "schema.add_field", Outcome::Allowed)
            .object(object)
            .fields(vec![f.name.clone()])
            .request(p.request_id.as_deref());
        self.inner.audit.append(&mut tx, vec![ev]).await?;
        tx.commit().await?;
        let fresh = load_schema(self.db()).await?;
        let out = fresh.object(object).cloned().expect("object exists");
        self.inner.set_schema(fresh);
        Ok(out)
    }

    /// Adds a custom object. Audited as `schema.add_object`.
    pub async fn add_custom_object(&self, p: &Principal, mut o: ObjectDef) -> Result<ObjectDef> {
        if !self.require_configure(p) {
            return self.inner.deny(p, "schema.add_object", Some(&o.name), "changing the schema").await;
        }
        o.custom = true;
        if !is_valid_identifier(&o.name) {
            return Err(AccessError::BadRequest(format!("object name `{}` must be lower-case letters, digits and _", o.name)));
        }
        let schema = load_schema(self.db()).await?;
        if schema.object(&o.name).is_some() {
            return Err(AccessError::Conflict(format!("an object `{}` already exists", o.name)));
        }
        if o.fields.is_empty() || o.fields.len() > 200 {
            return Err(AccessError::BadRequest("a custom object needs 1 to 200 fields".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &mut o.fields {
            f.custom = true;
            if !seen.insert(f.name.clone()) {
                return Err(AccessError::BadRequest(format!("field `{}` is defined twice", f.name)));
            }
            check_field(&schema, &o.name, o.subject_mode, f)?;
        }
        let links = o.fields.iter().filter(|f| f.subject_link).count();
        if links > 1 || (o.subject_mode == SubjectMode::Inherits && links == 0) {
            return Err(AccessError::BadRequest(
                "an object whose records inherit their subject needs exactly one subject-link reference".into(),
            ));
        }
        let mut tx = self.db().begin_write().await?;
        sqlx::query("INSERT INTO custom_objects (name, definition, created_at) VALUES ($1, $2, $3)")
            .bind(o.name.clone())
            .bind(serde_json::to_string(&o).expect("serialises"))
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        let ev = Event::new(&p.actor, "schema.add_object", Outcome::Allowed)
            .object(&o.name)
            .fields(o.fields.iter().map(|f| f.name.clone()).collect())
            .request(p.request_id.as_deref());
        self.inner.audit.append(&mut tx, vec![ev]).await?;
        tx.commit().await?;
        self.inner.set_schema(load_schema(self.db()).await?);
        Ok(o)
    }
}
