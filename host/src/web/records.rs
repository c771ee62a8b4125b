//! Records: the objects one may read, a list per object (search, filter, keyset paging), the record
//! page (fields as the role shows them, reveal with a reason, related records, the activity
//! timeline, the change history), and forms to create and edit with errors at the field.
//!
//! Every read and write goes through the gate as the signed-in person; the policy decides which
//! fields appear, masked or in clear, and which may be written. The pages only lay out the answer.

use super::i18n::Lang;
use super::labels::{expected_value, field_label, object_label};
use super::page::{Chrome, Section, WebError, render};
use super::session::{Form, SignedForm, WebUser};
use crate::access::{Action, Change, Effective, FieldAccess, Filter, FilterOp, FilterValue, ListQuery, RecordView, Sort, WriteOptions};
use crate::api::AppState;
use crate::model::validate::{ValidationError, from_text};
use crate::model::{FieldDef, FieldType, ObjectDef};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Rows on a list page.
const PAGE_SIZE: usize = 50;
/// Columns on a list page (the record page shows every field).
const LIST_COLUMNS: usize = 6;
/// Records per related object on a record page.
const RELATED: usize = 10;

/// An object the person may read, for the index.
struct ObjectLink {
    name: String,
    label: String,
    custom: bool,
}

#[derive(Template)]
#[template(path = "objects.html")]
struct ObjectsPage {
    c: Chrome,
    objects: Vec<ObjectLink>,
}

/// The objects the person may read.
pub async fn objects(State(state): State<AppState>, u: WebUser) -> Response {
    let perms = Effective::of(&u.principal);
    let schema = state.gate.schema();
    let objects = schema.objects().filter(|o| perms.may(o, Action::Read)).map(|o| ObjectLink { name: o.name.clone(), label: object_label(u.lang, o), custom: o.custom }).collect();
    render(&ObjectsPage { c: Chrome::signed_in(&u, u.lang.t("records_title"), Section::Records), objects })
}

fn object_of(state: &AppState, perms: &Effective, name: &str) -> Result<ObjectDef, WebError> {
    // An object the person may not read looks like one that does not exist.
    match state.gate.schema().object(name) {
        Some(o) if perms.may(o, Action::Read) => Ok(o.clone()),
        _ => Err(WebError::not_found()),
    }
}

fn check_id(id: &str) -> Result<(), WebError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| WebError::not_found())
}

/// A value as text on a page. Escaping is the template's.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "✓".into() } else { "✗".into() },
        Value::Array(items) => items.iter().map(display).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// What a record is called on a page: its name, a person's name, an activity's subject.
pub fn title_of(obj: &ObjectDef, r: &RecordView) -> String {
    let get = |k: &str| r.fields.get(k).map(display).filter(|s| !s.is_empty());
    let person = [get("first_name"), get("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let candidates = [get("name"), Some(person).filter(|s| !s.is_empty()), get("subject"), get("purpose"), get("kind")];
    if let Some(t) = candidates.into_iter().flatten().next() {
        return t;
    }
    // Else the first text the person sees, else the id.
    obj.fields
        .iter()
        .filter(|f| matches!(f.field_type, FieldType::Text { .. }))
        .find_map(|f| get(&f.name))
        .unwrap_or_else(|| format!("{} {}", obj.label, &r.id[..8]))
}

/// One cell or field as a page shows it.
struct Shown {
    name: String,
    label: String,
    text: String,
    masked: bool,
    /// Where the value points to another record: its page.
    link: Option<String>,
}

fn shown(lang: Lang, obj: &ObjectDef, def: &FieldDef, r: &RecordView) -> Shown {
    let v = r.fields.get(&def.name).cloned().unwrap_or(Value::Null);
    let link = match (&def.field_type, &v) {
        (FieldType::Reference { object }, Value::String(id)) if !r.masked.contains(&def.name) => Some(format!("/records/{object}/{id}")),
        _ => None,
    };
    Shown { name: def.name.clone(), label: field_label(lang, obj, def), text: display(&v), masked: r.masked.contains(&def.name), link }
}

/// A row of a list.
struct Row {
    href: String,
    title: String,
    cells: Vec<Shown>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    c: Chrome,
    object: String,
    label: String,
    columns: Vec<(String, String)>,
    rows: Vec<Row>,
    /// Fields one may filter on (read in clear), with their labels.
    filterable: Vec<(String, String)>,
    searchable: bool,
    q: String,
    field: String,
    op: String,
    value: String,
    next: Option<String>,
    paged: bool,
    may_create: bool,
    may_export: bool,
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    q: Option<String>,
    field: Option<String>,
    op: Option<String>,
    value: Option<String>,
    after: Option<String>,
    sort: Option<String>,
    done: Option<String>,
}

/// The fields of `obj` the person sees, in the schema's order.
fn visible<'a>(perms: &'a Effective, obj: &'a ObjectDef) -> impl Iterator<Item = &'a FieldDef> + 'a {
    obj.fields.iter().filter(move |f| perms.field(obj, f).can_see())
}

fn is_long(def: &FieldDef) -> bool {
    matches!(def.field_type, FieldType::Text { max_len } if max_len.is_none_or(|n| n > 500))
}

/// Whether a list's filter form (or the export of what it shows) asks for a filter: a field, and
/// a value, which "is empty" does without.
pub(super) fn form_asks_filter(field: &str, op: &str, value: &str) -> bool {
    !field.is_empty() && (!value.is_empty() || op == "empty")
}

/// A list of records: one page at a time, by keyset (never a count of the whole table).
pub async fn list(State(state): State<AppState>, u: WebUser, Path(object): Path<String>, Query(q): Query<ListParams>) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(&state, &perms, &object)?;
    let columns: Vec<&FieldDef> = visible(&perms, &obj).filter(|f| !is_long(f)).take(LIST_COLUMNS).collect();
    // Encrypted fields compare only through a blind index.
    let filterable: Vec<(String, String)> = obj
        .fields
        .iter()
        .filter(|f| perms.field(&obj, f).in_clear() && !is_long(f) && (!f.classification.is_encrypted() || f.blind_index))
        .map(|f| (f.name.clone(), field_label(u.lang, &obj, f)))
        .collect();
    let searchable = obj.fields.iter().any(|f| f.blind_index && f.classification.is_encrypted() && perms.field(&obj, f).in_clear());
    let mut query = ListQuery { limit: PAGE_SIZE, after: q.after.clone().filter(|a| !a.is_empty()), search: q.q.clone().filter(|s| !s.trim().is_empty()), ..Default::default() };
    let (field, op, value) = (q.field.clone().unwrap_or_default(), q.op.clone().unwrap_or_else(|| "eq".into()), q.value.clone().unwrap_or_default());
    if form_asks_filter(&field, &op, &value) {
        let op_parsed = FilterOp::parse(&op).ok_or_else(|| WebError::new(StatusCode::BAD_REQUEST, "unknown comparison"))?;
        query.filters.push(Filter { field: field.clone(), op: op_parsed, value: FilterValue::Text(value.clone()) });
    }
    if let Some(s) = q.sort.as_deref().filter(|s| !s.is_empty()) {
        let (name, descending) = s.strip_prefix('-').map(|n| (n, true)).unwrap_or((s, false));
        query.sort = Some(Sort { field: name.to_string(), descending });
    }
    let page = state.gate.records(&u.principal).list(&object, &query).await?;
    let rows = page
        .records
        .iter()
        .map(|r| Row { href: format!("/records/{object}/{}", r.id), title: title_of(&obj, r), cells: columns.iter().map(|d| shown(u.lang, &obj, d, r)).collect() })
        .collect();
    let next = page.next.map(|after| {
        let mut pairs = vec![("after", after)];
        for (k, v) in [("q", &q.q), ("field", &q.field), ("op", &q.op), ("value", &q.value), ("sort", &q.sort)] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                pairs.push((k, v.clone()));
            }
        }
        format!("/records/{object}?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
    });
    let page = ListPage {
        c: Chrome::signed_in(&u, object_label(u.lang, &obj), Section::Records).with_notice(q.done.as_deref()),
        label: object_label(u.lang, &obj),
        columns: columns.iter().map(|d| (d.name.clone(), field_label(u.lang, &obj, d))).collect(),
        rows,
        filterable,
        searchable,
        q: q.q.unwrap_or_default(),
        field,
        op,
        value,
        next,
        paged: query.after.is_some(),
        may_create: perms.may(&obj, Action::Create),
        may_export: perms.may(&obj, Action::Export),
        object,
    };
    Ok(render(&page))
}

/// A group of related records on a record page.
struct Related {
    label: String,
    /// The list of all of them, filtered on the reference.
    href: String,
    rows: Vec<(String, String)>,
}

/// One field on the record page.
struct FieldRow {
    shown: Shown,
    may_reveal: bool,
    /// The value in clear, right after a reveal.
    revealed: Option<String>,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    c: Chrome,
    object: String,
    label: String,
    id: String,
    title: String,
    owner: String,
    created: String,
    updated: String,
    version: i64,
    erased: bool,
    fields: Vec<FieldRow>,
    related: Vec<Related>,
    timeline: Vec<(String, String, String)>,
    history: Vec<Change>,
    may_edit: bool,
    /// The field whose reveal form failed, and why.
    reveal_error: Option<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    done: Option<String>,
}

/// The record page.
pub async fn show(State(state): State<AppState>, u: WebUser, Path((object, id)): Path<(String, String)>, Query(q): Query<ShowParams>) -> Result<Response, WebError> {
    record_page(&state, &u, &object, &id, None, None, q.done.as_deref()).await
}

async fn record_page(state: &AppState, u: &WebUser, object: &str, id: &str, revealed: Option<(String, Value)>, reveal_error: Option<(String, String)>, done: Option<&str>) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(state, &perms, object)?;
    check_id(id)?;
    let records = state.gate.records(&u.principal);
    let r = records.get(object, id).await?;
    let fields = visible(&perms, &obj)
        .map(|d| {
            let s = shown(u.lang, &obj, d, &r);
            let may_reveal = s.masked && perms.may_reveal(&obj, d);
            let revealed = revealed.as_ref().filter(|(f, _)| *f == d.name).map(|(_, v)| display(v));
            FieldRow { shown: s, may_reveal, revealed }
        })
        .collect();
    let (related, timeline) = related_of(state, u, &perms, &obj, id).await?;
    let history = records.history(object, id, None, 20).await?;
    let page = RecordPage {
        c: Chrome::signed_in(u, title_of(&obj, &r), Section::Records).with_notice(done),
        label: object_label(u.lang, &obj),
        title: title_of(&obj, &r),
        // People's names are for those who manage users; one's own is one's own.
        owner: match r.owner_id.as_deref() {
            Some(o) if Some(o) == u.principal.user_id.as_deref() => u.user.username.clone(),
            other => other.unwrap_or_default().to_string(),
        },
        created: r.created_at.clone(),
        updated: r.updated_at.clone(),
        version: r.version,
        erased: r.erased,
        fields,
        related,
        timeline,
        history,
        may_edit: perms.may(&obj, Action::Update),
        reveal_error,
        object: object.to_string(),
        id: id.to_string(),
    };
    Ok(render(&page))
}

/// Records of other objects that point at this one, where the person may read them and the
/// reference in clear; activities form the timeline, newest first.
async fn related_of(state: &AppState, u: &WebUser, perms: &Effective, obj: &ObjectDef, id: &str) -> Result<(Vec<Related>, Vec<(String, String, String)>), WebError> {
    let schema = state.gate.schema();
    let records = state.gate.records(&u.principal);
    let mut related = Vec::new();
    let mut timeline = Vec::new();
    for other in schema.objects().filter(|o| perms.may(o, Action::Read)) {
        for f in other.fields.iter().filter(|f| matches!(&f.field_type, FieldType::Reference { object } if *object == obj.name) && perms.field(other, f).in_clear()) {
            let mut q = ListQuery { limit: RELATED, filters: vec![Filter { field: f.name.clone(), op: FilterOp::Eq, value: FilterValue::Text(id.to_string()) }], ..Default::default() };
            let when = other.field("occurred_at").filter(|w| other.name == "activity" && perms.field(other, w).in_clear());
            if when.is_some() {
                q.sort = Some(Sort { field: "occurred_at".into(), descending: true });
            }
            let page = records.list(&other.name, &q).await?;
            if page.records.is_empty() {
                continue;
            }
            if when.is_some() {
                timeline.extend(page.records.iter().map(|r| {
                    let at = r.fields.get("occurred_at").map(display).unwrap_or_default();
                    (format!("/records/{}/{}", other.name, r.id), at, title_of(other, r))
                }));
            } else {
                let href = format!("/records/{}?{}", other.name, serde_urlencoded::to_string([("field", f.name.as_str()), ("op", "eq"), ("value", id)]).unwrap_or_default());
                let label = if other.fields.iter().filter(|g| matches!(&g.field_type, FieldType::Reference { object } if *object == obj.name)).count() > 1 {
                    format!("{} ({})", object_label(u.lang, other), field_label(u.lang, other, f))
                } else {
                    object_label(u.lang, other)
                };
                related.push(Related { label, href, rows: page.records.iter().map(|r| (format!("/records/{}/{}", other.name, r.id), title_of(other, r))).collect() });
            }
        }
    }
    Ok((related, timeline))
}

/// Shows one masked field in clear with a reason, where the role allows it; the gate refuses
/// (and audits the refusal) otherwise. The value appears on this one answer, which is not cached.
pub async fn reveal(State(state): State<AppState>, Path((object, id)): Path<(String, String)>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    check_id(&id)?;
    let field = form.text("field").unwrap_or_default();
    let reason = form.get("reason").unwrap_or("").to_string();
    match state.gate.records(&u.principal).reveal(&object, &id, &field, &reason, u.principal.mfa_fresh).await {
        Ok(v) => record_page(&state, &u, &object, &id, Some((field, v)), None, None).await,
        Err(crate::access::AccessError::BadRequest(m)) => {
            let resp = record_page(&state, &u, &object, &id, None, Some((field, m)), None).await?;
            Ok((StatusCode::BAD_REQUEST, resp).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// One input of a form.
struct Input {
    name: String,
    label: String,
    /// text, email, tel, url, number, date, checkbox, select, textarea
    kind: &'static str,
    step: &'static str,
    value: String,
    checked: bool,
    options: Vec<String>,
    required: bool,
    hint: &'static str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "record_form.html")]
struct FormPage {
    c: Chrome,
    object: String,
    label: String,
    /// The record being edited; `None` for a new one.
    id: Option<String>,
    version: i64,
    inputs: Vec<Input>,
    /// Fields shown but not writable (masked or read-only), for context.
    fixed: Vec<Shown>,
    error: Option<&'static str>,
}

fn input_of(lang: Lang, obj: &ObjectDef, def: &FieldDef, value: Option<&Value>, raw: Option<&str>, error: Option<String>) -> Input {
    let (kind, step, hint) = match &def.field_type {
        FieldType::Email => ("email", "", ""),
        FieldType::Phone => ("tel", "", ""),
        FieldType::Url => ("url", "", ""),
        FieldType::Number => ("number", "any", ""),
        FieldType::Integer => ("number", "1", ""),
        FieldType::Date => ("date", "", ""),
        FieldType::Datetime => ("text", "", "2026-01-31T09:00:00Z"),
        FieldType::Bool => ("checkbox", "", ""),
        FieldType::Enum { .. } => ("select", "", ""),
        FieldType::Reference { .. } => ("text", "", "UUID"),
        FieldType::Tags => ("text", "", "a, b, c"),
        FieldType::Text { .. } if is_long(def) => ("textarea", "", ""),
        FieldType::Text { .. } => ("text", "", ""),
    };
    let text = raw.map(str::to_string).unwrap_or_else(|| value.map(display).unwrap_or_default());
    let text = if matches!(def.field_type, FieldType::Tags) && raw.is_none() { value.and_then(Value::as_array).map(|a| a.iter().map(display).collect::<Vec<_>>().join(", ")).unwrap_or_default() } else { text };
    Input {
        name: def.name.clone(),
        label: field_label(lang, obj, def),
        kind,
        step,
        checked: matches!(value, Some(Value::Bool(true))) || raw == Some("true"),
        value: text,
        options: match &def.field_type {
            FieldType::Enum { options } => options.clone(),
            _ => Vec::new(),
        },
        required: def.required,
        hint,
        error,
    }
}

/// The fields of a submitted form: values by field, errors by field (all of them at once).
fn read_fields(obj: &ObjectDef, writable: &[&FieldDef], form: &Form, creating: bool, lang: super::i18n::Lang) -> (Map<String, Value>, BTreeMap<String, String>) {
    let mut values = Map::new();
    let mut errors = BTreeMap::new();
    for def in writable {
        // A checkbox sends nothing when unticked; the form puts a hidden "false" before it.
        let raw = form.all(&def.name).last().copied();
        let Some(raw) = raw else { continue };
        match from_text(def, raw) {
            Ok(Some(v)) => {
                values.insert(def.name.clone(), v);
            }
            Ok(None) if def.required => {
                errors.insert(def.name.clone(), lang.t("err_required").to_string());
            }
            Ok(None) => {
                if !creating {
                    values.insert(def.name.clone(), Value::Null);
                }
            }
            Err(expected) => {
                errors.insert(def.name.clone(), format!("{} {}", lang.t("err_expected"), expected_value(lang, def, &expected)));
            }
        }
    }
    if creating {
        let missing: Vec<String> = obj.fields.iter().filter(|f| f.required && !values.contains_key(&f.name) && !errors.contains_key(&f.name)).map(|f| f.name.clone()).collect();
        for name in missing {
            errors.insert(name, lang.t("err_required").to_string());
        }
    }
    (values, errors)
}

fn writable<'a>(perms: &Effective, obj: &'a ObjectDef) -> Vec<&'a FieldDef> {
    obj.fields.iter().filter(|f| perms.field(obj, f) == FieldAccess::Write).collect()
}

/// The form for a new record.
pub async fn new_form(State(state): State<AppState>, u: WebUser, Path(object): Path<String>) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(&state, &perms, &object)?;
    if !perms.may(&obj, Action::Create) {
        return Err(WebError::new(StatusCode::FORBIDDEN, format!("permission denied: may not create {object} records")));
    }
    let inputs = writable(&perms, &obj).into_iter().map(|d| input_of(u.lang, &obj, d, None, None, None)).collect();
    Ok(render(&FormPage { c: Chrome::signed_in(&u, u.lang.t("new_record"), Section::Records), label: object_label(u.lang, &obj), object, id: None, version: 0, inputs, fixed: Vec::new(), error: None }))
}

/// Creates a record from the form, or shows the form again with errors at the fields.
pub async fn create(State(state): State<AppState>, Path(object): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(&state, &perms, &object)?;
    let w = writable(&perms, &obj);
    let (values, errors) = read_fields(&obj, &w, &form, true, u.lang);
    if errors.is_empty() {
        match state.gate.records(&u.principal).create(&object, &values, WriteOptions::default()).await {
            Ok(r) => return Ok(Redirect::to(&format!("/records/{object}/{}?done=saved", r.id)).into_response()),
            Err(crate::access::AccessError::Invalid(e)) => return refill(&u, &obj, None, 0, &w, &form, validation_errors(&obj, e, u.lang), None, None),
            Err(e) => return Err(e.into()),
        }
    }
    refill(&u, &obj, None, 0, &w, &form, errors, None, None)
}

fn validation_errors(obj: &ObjectDef, e: ValidationError, lang: super::i18n::Lang) -> BTreeMap<String, String> {
    match e {
        ValidationError::Required { field } => [(field, lang.t("err_required").to_string())].into(),
        ValidationError::WrongType { field, expected } => {
            let expected = match obj.field(&field) {
                Some(def) => expected_value(lang, def, &expected),
                None => expected,
            };
            [(field, format!("{} {expected}", lang.t("err_expected")))].into()
        }
        ValidationError::UnknownField { field, .. } => [(field, lang.t("err_bad_request").to_string())].into(),
    }
}

/// The form again, as sent, with the errors at their fields (422).
#[allow(clippy::too_many_arguments)]
fn refill(u: &WebUser, obj: &ObjectDef, id: Option<String>, version: i64, w: &[&FieldDef], form: &Form, mut errors: BTreeMap<String, String>, record: Option<&RecordView>, error: Option<&'static str>) -> Result<Response, WebError> {
    let inputs = w.iter().map(|d| input_of(u.lang, obj, d, None, Some(form.all(&d.name).last().copied().unwrap_or("")), errors.remove(&d.name))).collect();
    let fixed = record.map(|r| fixed_fields(u, obj, r)).unwrap_or_default();
    let title = if id.is_some() { u.lang.t("edit") } else { u.lang.t("new_record") };
    let page = FormPage { c: Chrome::signed_in(u, title, Section::Records), object: obj.name.clone(), label: object_label(u.lang, obj), id, version, inputs, fixed, error: Some(error.unwrap_or(u.lang.t("fix_errors"))) };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

fn fixed_fields(u: &WebUser, obj: &ObjectDef, r: &RecordView) -> Vec<Shown> {
    let perms = Effective::of(&u.principal);
    visible(&perms, obj).filter(|d| perms.field(obj, d) != FieldAccess::Write).map(|d| shown(u.lang, obj, d, r)).collect()
}

/// The form to edit a record: the fields the person may write, the others shown for context.
pub async fn edit_form(State(state): State<AppState>, u: WebUser, Path((object, id)): Path<(String, String)>) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(&state, &perms, &object)?;
    check_id(&id)?;
    if !perms.may(&obj, Action::Update) {
        return Err(WebError::new(StatusCode::FORBIDDEN, format!("permission denied: may not change {object} records")));
    }
    let r = state.gate.records(&u.principal).get(&object, &id).await?;
    let inputs = writable(&perms, &obj).into_iter().map(|d| input_of(u.lang, &obj, d, r.fields.get(&d.name), None, None)).collect();
    let page = FormPage { c: Chrome::signed_in(&u, u.lang.t("edit"), Section::Records), label: object_label(u.lang, &obj), fixed: fixed_fields(&u, &obj, &r), object, id: Some(id), version: r.version, inputs, error: None };
    Ok(render(&page))
}

/// Saves an edit on top of the version the form was made from; a change made meanwhile by
/// someone else is not overwritten.
pub async fn update(State(state): State<AppState>, Path((object, id)): Path<(String, String)>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let obj = object_of(&state, &perms, &object)?;
    check_id(&id)?;
    let w = writable(&perms, &obj);
    let version: i64 = form.get("version").and_then(|v| v.parse().ok()).ok_or_else(|| WebError::new(StatusCode::BAD_REQUEST, "the form lacks the record's version"))?;
    let (values, errors) = read_fields(&obj, &w, &form, false, u.lang);
    let records = state.gate.records(&u.principal);
    if !errors.is_empty() {
        let r = records.get(&object, &id).await?;
        return refill(&u, &obj, Some(id), version, &w, &form, errors, Some(&r), None);
    }
    match records.update(&object, &id, &values, WriteOptions { expected_version: Some(version), ..Default::default() }).await {
        Ok(_) => Ok(Redirect::to(&format!("/records/{object}/{id}?done=saved")).into_response()),
        Err(crate::access::AccessError::Invalid(e)) => {
            let r = records.get(&object, &id).await?;
            refill(&u, &obj, Some(id), version, &w, &form, validation_errors(&obj, e, u.lang), Some(&r), None)
        }
        Err(crate::access::AccessError::Conflict(_)) => {
            let r = records.get(&object, &id).await?;
            refill(&u, &obj, Some(id), r.version, &w, &form, BTreeMap::new(), Some(&r), Some(u.lang.t("err_conflict")))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;

    #[test]
    fn form_text_becomes_typed_values_or_the_reason_it_cannot() {
        let s = Schema::builtin();
        let deal = s.object("deal").unwrap();
        let amount = deal.field("amount").unwrap();
        assert_eq!(from_text(amount, " 1200.5 "), Ok(Some(Value::from(1200.5))));
        assert_eq!(from_text(amount, "lots"), Err("a number".to_string()));
        assert_eq!(from_text(amount, ""), Ok(None));
        let tags = deal.field("tags").unwrap();
        assert_eq!(from_text(tags, "a, b,,c"), Ok(Some(serde_json::json!(["a", "b", "c"]))));
        let stage = deal.field("stage").unwrap();
        assert!(from_text(stage, "no-such-stage").is_err());
        let contact = s.object("contact").unwrap();
        assert!(from_text(contact.field("email").unwrap(), "not an email").is_err());
        let done = s.object("activity").unwrap().field("done").unwrap();
        assert_eq!(from_text(done, "false"), Ok(Some(Value::Bool(false))));
    }

    #[test]
    fn every_error_of_a_form_is_reported_at_its_field() {
        let s = Schema::builtin();
        let deal = s.object("deal").unwrap();
        let w: Vec<&FieldDef> = deal.fields.iter().collect();
        let form = Form(vec![("amount".into(), "x".into()), ("probability".into(), "1.5".into())]);
        let (_, errors) = read_fields(deal, &w, &form, true, super::super::i18n::Lang::En);
        assert!(errors.contains_key("amount") && errors.contains_key("probability"), "{errors:?}");
        assert!(errors.contains_key("name"), "the required name is missing: {errors:?}");
    }
}
