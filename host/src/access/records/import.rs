//! CSV import: rows become records through the same checked, sealed, audited `create` as any
//! other write, one row at a time, so a bad row is reported and the good ones are kept.
//!
//! The header names the columns by field name or label (case-insensitive). A column that names no
//! field, or one the caller may not write, refuses the whole import before any row is read: a
//! mistake in the header should not half-import a file. Each row's cells are read as a person's
//! text for their field's type ([`from_text`]); every error of a row is reported with its line.

use super::super::policy::{Action, FieldAccess};
use super::super::{AccessError, Result};
use super::{RecordAccess, WriteOptions};
use crate::audit::{Event, Outcome};
use crate::model::validate::{ValidationError, from_text};
use serde::Serialize;
use serde_json::Map;

/// The most rows one import call takes (larger files are sent in parts).
pub const MAX_ROWS: usize = 5000;

/// One problem with one row.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RowError {
    /// The line of the file, counting the header as line 1 (plus the caller's offset).
    pub line: u64,
    /// The field, when the problem is one cell's.
    pub field: Option<String>,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct ImportReport {
    /// Data rows read (blank rows are skipped and not counted).
    pub rows: u64,
    /// The ids of the records created, in row order.
    pub created: Vec<String>,
    pub errors: Vec<RowError>,
}

impl RecordAccess {
    /// Imports CSV text into `object`. `first_line` is the line number of the header in the whole
    /// file (1, or more when a large file comes in parts that each repeat the header).
    pub async fn import_csv(&self, object: &str, text: &str, first_line: u64) -> Result<ImportReport> {
        let obj = self.object(object)?;
        if !self.perms.may(&obj, Action::Create) {
            return self.deny("import", object, format!("may not create {object} records")).await;
        }
        let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let header = reader.headers().map_err(|e| AccessError::BadRequest(format!("the CSV header cannot be read: {e}")))?.clone();
        let mut columns = Vec::new();
        for name in header.iter() {
            let def = obj
                .fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name) || f.label.eq_ignore_ascii_case(name))
                .ok_or_else(|| AccessError::BadRequest(format!("the column `{}` names no field of {object}", name.chars().take(60).collect::<String>())))?;
            if self.perms.field(&obj, def) != FieldAccess::Write {
                return self.deny("import", object, format!("no write access to field `{}` of {object}", def.name)).await;
            }
            if columns.iter().any(|c: &&crate::model::FieldDef| c.name == def.name) {
                return Err(AccessError::BadRequest(format!("the field `{}` has two columns", def.name)));
            }
            columns.push(def);
        }
        let mut report = ImportReport::default();
        for (i, row) in reader.records().enumerate() {
            let line = first_line + 1 + i as u64;
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(RowError { line, field: None, message: format!("the row cannot be read: {e}") });
                    continue;
                }
            };
            if row.iter().all(|c| c.is_empty()) {
                continue;
            }
            report.rows += 1;
            if report.rows as usize > MAX_ROWS {
                return Err(AccessError::BadRequest(format!("at most {MAX_ROWS} rows per import; send the rest in another part")));
            }
            if row.len() > columns.len() {
                report.errors.push(RowError { line, field: None, message: format!("{} cells for {} columns", row.len(), columns.len()) });
                continue;
            }
            let mut fields = Map::new();
            let mut bad = false;
            for (def, cell) in columns.iter().zip(row.iter()) {
                match from_text(def, cell) {
                    Ok(Some(v)) => {
                        fields.insert(def.name.clone(), v);
                    }
                    Ok(None) => {}
                    Err(expected) => {
                        bad = true;
                        report.errors.push(RowError { line, field: Some(def.name.clone()), message: format!("expected {expected}") });
                    }
                }
            }
            for def in obj.fields.iter().filter(|f| f.required && !fields.contains_key(&f.name)) {
                if !report.errors.iter().any(|e| e.line == line && e.field.as_deref() == Some(&def.name)) {
                    bad = true;
                    report.errors.push(RowError { line, field: Some(def.name.clone()), message: "required".into() });
                }
            }
            if bad {
                continue;
            }
            match self.create(object, &fields, WriteOptions::default()).await {
                Ok(r) => report.created.push(r.id),
                Err(AccessError::Invalid(e)) => {
                    let field = match &e {
                        ValidationError::Required { field } | ValidationError::WrongType { field, .. } | ValidationError::UnknownField { field, .. } => Some(field.clone()),
                    };
                    report.errors.push(RowError { line, field, message: e.to_string() });
                }
                Err(e @ (AccessError::BadRequest(_) | AccessError::Conflict(_))) => report.errors.push(RowError { line, field: None, message: e.to_string() }),
                Err(e) => return Err(e),
            }
        }
        let ev = Event::new(&self.principal.actor, "import", Outcome::Allowed)
            .object(object)
            .request(self.principal.request_id.as_deref())
            .detail(format!("{} rows read, {} records created, {} rows refused", report.rows, report.created.len(), report.errors.iter().map(|e| e.line).collect::<std::collections::BTreeSet<_>>().len()));
        self.inner.audit.record(vec![ev]).await?;
        Ok(report)
    }
}
