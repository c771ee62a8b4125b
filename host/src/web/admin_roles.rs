//! Roles: the list (built-in ones read-only, with a copy to adapt), a new role, and per role the
//! field-permission matrix: for every object its record scope, actions, export limit, defaults by
//! classification, and for every field the access the role gives (none, masked, read, write) and
//! whether a masked value may be revealed; with the role's system permissions, second-factor
//! rules and address ranges. Saved through [`crate::access::Gate::put_role`], as `PUT
//! /api/v1/roles/{name}` does.
//!
//! The matrix shows what the role gives each field: the field's own entry in the grant if it has
//! one, else the grant's default for the field's classification, read through
//! [`Permissions::field`], the same function requests are decided by. Saving changes only what the
//! form changed: a cell left as it was keeps its origin (its own entry stays, a default-following
//! cell follows the default even if the default changed), a changed cell equal to its
//! classification's default goes back to following it, any other changed cell gets an entry of
//! its own. An object that only follows the `*` grant gets a grant of its own when anything in
//! its section changes.

use crate::access::{AccessError, Action, FieldAccess, ObjectGrant, Permissions, RecordScope, RoleDef, SystemPermission};
use crate::api::AppState;
use crate::model::{Classification, ObjectDef, Schema};
use crate::web::i18n::Lang;
use crate::web::page::{Chrome, Section, WebError, render};
use crate::web::session::{Form, SignedForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The `objects` key of the grant that covers every object not named.
const WILDCARD: &str = "*";

const ACCESS: [(FieldAccess, &str, &str); 4] = [
    (FieldAccess::None, "none", "adm_acc_none"),
    (FieldAccess::Masked, "masked", "adm_acc_masked"),
    (FieldAccess::Read, "read", "adm_acc_read"),
    (FieldAccess::Write, "write", "adm_acc_write"),
];
const SCOPES: [(RecordScope, &str, &str); 3] = [(RecordScope::Own, "own", "adm_scope_own"), (RecordScope::Team, "team", "adm_scope_team"), (RecordScope::All, "all", "adm_scope_all")];
const ACTIONS: [(Action, &str, &str); 5] = [
    (Action::Create, "create", "adm_act_create"),
    (Action::Read, "read", "adm_act_read"),
    (Action::Update, "update", "adm_act_update"),
    (Action::Delete, "delete", "adm_act_delete"),
    (Action::Export, "export", "adm_act_export"),
];
const CLASSES: [(Classification, &str, &str); 4] = [
    (Classification::Public, "public", "adm_cls_public"),
    (Classification::Internal, "internal", "adm_cls_internal"),
    (Classification::Personal, "personal", "adm_cls_personal"),
    (Classification::Sensitive, "sensitive", "adm_cls_sensitive"),
];
const SYSTEM: [(SystemPermission, &str, &str); 10] = [
    (SystemPermission::Audit, "audit", "adm_perm_audit"),
    (SystemPermission::Schema, "schema", "adm_perm_schema"),
    (SystemPermission::Users, "users", "adm_perm_users"),
    (SystemPermission::Plugins, "plugins", "adm_perm_plugins"),
    (SystemPermission::Keys, "keys", "adm_perm_keys"),
    (SystemPermission::SubjectFind, "subject_find", "adm_perm_subject_find"),
    (SystemPermission::SubjectExport, "subject_export", "adm_perm_subject_export"),
    (SystemPermission::SubjectErase, "subject_erase", "adm_perm_subject_erase"),
    (SystemPermission::SubjectHold, "subject_hold", "adm_perm_subject_hold"),
    (SystemPermission::ApproveExports, "approve_exports", "adm_perm_approve_exports"),
];

fn access_code(a: FieldAccess) -> &'static str {
    ACCESS.iter().find(|(x, ..)| *x == a).map(|(_, c, _)| *c).unwrap_or("none")
}
fn access_label(a: FieldAccess, l: Lang) -> &'static str {
    ACCESS.iter().find(|(x, ..)| *x == a).map(|(.., k)| l.t(k)).unwrap_or("")
}
fn parse_access(s: &str) -> Option<FieldAccess> {
    ACCESS.iter().find(|(_, c, _)| *c == s).map(|(a, ..)| *a)
}
fn class_label(c: Classification, l: Lang) -> &'static str {
    CLASSES.iter().find(|(x, ..)| *x == c).map(|(.., k)| l.t(k)).unwrap_or("")
}

/// An option of a `<select>`.
pub struct Opt {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn access_options(a: FieldAccess, l: Lang) -> Vec<Opt> {
    ACCESS.iter().map(|(x, c, k)| Opt { value: c, label: l.t(k), selected: *x == a }).collect()
}

/// A checkbox.
pub struct Check {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

/// One field of an object, as the role gives it.
pub struct CellView {
    pub field: String,
    pub label: String,
    pub class: Classification,
    pub class_label: &'static str,
    pub access: FieldAccess,
    /// `none`, `masked`, `read` or `write`.
    pub code: &'static str,
    pub access_label: &'static str,
    pub options: Vec<Opt>,
    /// The grant has an entry for this field (else the classification's default applies).
    pub own_entry: bool,
    /// Named in the grant's reveal list.
    pub reveal: bool,
    /// Whether a holder may in fact reveal it (it shows masked, and the list names it or `*`).
    pub reveals: bool,
}

/// A classification's default in a grant.
pub struct ClassView {
    pub code: &'static str,
    pub label: &'static str,
    pub class: Classification,
    pub access: FieldAccess,
    pub access_label: &'static str,
    pub options: Vec<Opt>,
}

/// One section of the matrix: an object, or the `*` grant.
pub struct ObjView {
    /// The key in the role's `objects` and in the form's field names (`scope.<key>`).
    pub key: String,
    /// The same, usable in an element id.
    pub id: String,
    pub label: String,
    pub wildcard: bool,
    /// The role has an entry under this key.
    pub own: bool,
    /// For an object without an entry: whether the `*` grant covers it.
    pub follows_all: bool,
    pub scope: RecordScope,
    pub scope_options: Vec<Opt>,
    pub actions: BTreeSet<Action>,
    pub action_checks: Vec<Check>,
    /// Without the read action the fields are out of reach whatever their cells say.
    pub reads: bool,
    pub export_limit: u64,
    /// The export limit as the form shows it (what was typed, after an error).
    pub limit_text: String,
    pub classes: Vec<ClassView>,
    pub cells: Vec<CellView>,
    /// `*` is in the reveal list.
    pub reveal_all: bool,
    /// The `*` grant's entries by field name (shown, kept as they are).
    pub name_entries: Vec<(String, &'static str)>,
}

impl ObjView {
    fn class_access(&self, c: Classification) -> FieldAccess {
        self.classes.iter().find(|x| x.class == c).map(|x| x.access).unwrap_or(FieldAccess::None)
    }
    /// The reveal list as the form shows it: `*` and the ticked fields.
    fn reveal_shown(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self.cells.iter().filter(|c| c.reveal).map(|c| c.field.clone()).collect();
        if self.reveal_all {
            s.insert(WILDCARD.into());
        }
        s
    }
}

fn id_of(key: &str) -> String {
    if key == WILDCARD { "_all".into() } else { key.to_string() }
}

/// A role holding only `g` on `obj`: what it gives is decided by the same code as every request.
fn one_grant_perms(g: &ObjectGrant, obj: &ObjectDef) -> Permissions {
    let role = RoleDef {
        name: "probe".into(),
        description: String::new(),
        objects: [(obj.name.clone(), g.clone())].into(),
        system: BTreeSet::new(),
        require_mfa: false,
        reveal_requires_mfa: false,
        ip_allow: Vec::new(),
        builtin: false,
    };
    Permissions::union(vec![Arc::new(role)], None, BTreeSet::new(), &[])
}

fn empty_grant() -> ObjectGrant {
    ObjectGrant { scope: RecordScope::Own, actions: BTreeSet::new(), export_limit: 0, classes: BTreeMap::new(), fields: BTreeMap::new(), reveal: BTreeSet::new() }
}

/// The `*` grant as it applies to one object: its entries by field name and its reveal list
/// narrowed to the object's fields (so the result validates), everything else as it is.
fn narrowed(w: &ObjectGrant, obj: &ObjectDef) -> ObjectGrant {
    let mut g = w.clone();
    g.fields.retain(|name, _| obj.field(name).is_some());
    g.reveal.retain(|name| name == WILDCARD || obj.field(name).is_some());
    g
}

fn section(key: &str, label: String, grant: Option<&ObjectGrant>, own: bool, follows_all: bool, obj: Option<&ObjectDef>, l: Lang) -> ObjView {
    let empty = empty_grant();
    let g = grant.unwrap_or(&empty);
    let classes = CLASSES
        .iter()
        .map(|(c, code, k)| {
            let a = g.classes.get(c).copied().unwrap_or(FieldAccess::None);
            ClassView { code, label: l.t(k), class: *c, access: a, access_label: access_label(a, l), options: access_options(a, l) }
        })
        .collect();
    let cells = match obj {
        Some(obj) => {
            let perms = one_grant_perms(g, obj);
            obj.fields
                .iter()
                .map(|f| {
                    let a = perms.field(obj, f);
                    CellView {
                        field: f.name.clone(),
                        label: f.label.clone(),
                        class: f.classification,
                        class_label: class_label(f.classification, l),
                        access: a,
                        code: access_code(a),
                        access_label: access_label(a, l),
                        options: access_options(a, l),
                        own_entry: g.fields.contains_key(&f.name),
                        reveal: g.reveal.contains(&f.name),
                        reveals: a == FieldAccess::Masked && perms.may_reveal(obj, f),
                    }
                })
                .collect()
        }
        None => Vec::new(),
    };
    ObjView {
        key: key.to_string(),
        id: id_of(key),
        label,
        wildcard: obj.is_none(),
        own,
        follows_all,
        scope: g.scope,
        scope_options: SCOPES.iter().map(|(s, c, k)| Opt { value: c, label: l.t(k), selected: *s == g.scope }).collect(),
        actions: g.actions.clone(),
        reads: g.actions.contains(&Action::Read),
        action_checks: ACTIONS.iter().map(|(a, c, k)| Check { value: c, label: l.t(k), checked: g.actions.contains(a) }).collect(),
        export_limit: g.export_limit,
        limit_text: g.export_limit.to_string(),
        classes,
        cells,
        reveal_all: g.reveal.contains(WILDCARD),
        name_entries: if obj.is_none() { g.fields.iter().map(|(n, a)| (n.clone(), access_label(*a, l))).collect() } else { Vec::new() },
    }
}

/// The matrix of a role: the `*` grant, then every object of the schema.
pub fn sections(role: &RoleDef, schema: &Schema, l: Lang) -> Vec<ObjView> {
    let wildcard = role.objects.get(WILDCARD);
    let mut out = vec![section(WILDCARD, l.t("adm_all_objects").to_string(), wildcard, wildcard.is_some(), false, None, l)];
    for obj in schema.objects() {
        let own = role.objects.get(&obj.name);
        let shown = own.cloned().or_else(|| wildcard.map(|w| narrowed(w, obj)));
        out.push(section(&obj.name, obj.label.clone(), shown.as_ref(), own.is_some(), own.is_none() && wildcard.is_some(), Some(obj), l));
    }
    out
}

/// Errors of a role form, by the form field they belong to (`_form` for the whole form).
pub type Errors = BTreeMap<String, String>;

/// Address ranges as typed: separated by commas, spaces or lines.
fn ranges(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n', '\r', '\t']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The role the form describes, made from the stored role by applying what the form changed.
pub fn apply(stored: &RoleDef, schema: &Schema, form: &Form, l: Lang) -> (RoleDef, Errors) {
    let mut errors = Errors::new();
    let mut new = stored.clone();
    new.description = form.get("description").unwrap_or("").trim().to_string();
    new.require_mfa = form.get("require_mfa").is_some();
    new.reveal_requires_mfa = form.get("reveal_requires_mfa").is_some();
    let ticked = form.all("system");
    new.system = SYSTEM.iter().filter(|(_, c, _)| ticked.contains(c)).map(|(p, ..)| *p).collect();
    new.ip_allow = ranges(form.get("ip_allow").unwrap_or(""));
    for s in sections(stored, schema, l) {
        let k = &s.key;
        let Some(scope_text) = form.get(&format!("scope.{k}")) else {
            // Not on the form that was sent (an object added since): left as it is.
            continue;
        };
        let posted_own = form.get(&format!("own.{k}")).is_some();
        if s.own && !posted_own {
            new.objects.remove(k);
            continue;
        }
        let scope = SCOPES.iter().find(|(_, c, _)| *c == scope_text).map(|(sc, ..)| *sc).unwrap_or(s.scope);
        let acts = form.all(&format!("action.{k}"));
        let actions: BTreeSet<Action> = ACTIONS.iter().filter(|(_, c, _)| acts.contains(c)).map(|(a, ..)| *a).collect();
        let limit_key = format!("limit.{k}");
        let limit_text = form.get(&limit_key).unwrap_or("").trim();
        let export_limit = if limit_text.is_empty() {
            0
        } else {
            match limit_text.parse::<u64>() {
                Ok(n) => n,
                Err(_) => {
                    errors.insert(limit_key, l.t("adm_err_number").to_string());
                    s.export_limit
                }
            }
        };
        let classes: BTreeMap<Classification, FieldAccess> =
            CLASSES.iter().map(|(c, code, _)| (*c, form.get(&format!("class.{k}.{code}")).and_then(parse_access).unwrap_or(s.class_access(*c)))).collect();
        let cells: Vec<(&CellView, FieldAccess)> = s.cells.iter().map(|c| (c, form.get(&format!("cell.{k}.{}", c.field)).and_then(parse_access).unwrap_or(c.access))).collect();
        let displayable = |name: &str| name == WILDCARD || s.cells.iter().any(|c| c.field == name);
        let reveal: BTreeSet<String> = form.all(&format!("reveal.{k}")).into_iter().filter(|n| displayable(n)).map(str::to_string).collect();
        let changed = scope != s.scope
            || actions != s.actions
            || export_limit != s.export_limit
            || classes.iter().any(|(c, a)| *a != s.class_access(*c))
            || cells.iter().any(|(c, a)| *a != c.access)
            || reveal != s.reveal_shown();
        if !s.own && !posted_own && !changed {
            continue;
        }
        let mut g = match (stored.objects.get(k), stored.objects.get(WILDCARD), schema.object(k)) {
            (Some(own), ..) => own.clone(),
            (None, Some(w), Some(obj)) => narrowed(w, obj),
            _ => empty_grant(),
        };
        g.scope = scope;
        g.actions = actions;
        g.export_limit = export_limit;
        for (c, a) in &classes {
            if *a != s.class_access(*c) {
                if *a == FieldAccess::None {
                    g.classes.remove(c);
                } else {
                    g.classes.insert(*c, *a);
                }
            }
        }
        for (cell, a) in cells {
            if a != cell.access {
                let default = g.classes.get(&cell.class).copied().unwrap_or(FieldAccess::None);
                if a == default {
                    g.fields.remove(&cell.field);
                } else {
                    g.fields.insert(cell.field.clone(), a);
                }
            }
        }
        g.reveal.retain(|n| !displayable(n));
        g.reveal.extend(reveal);
        new.objects.insert(k.clone(), g);
    }
    (new, errors)
}

/// Identifies the stored version of a role, so that a save on top of a version someone else
/// replaced meanwhile is refused instead of undoing their change.
pub fn fingerprint(role: &RoleDef) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(serde_json::to_string(role).unwrap_or_default().as_bytes())[..16])
}

/// Where on the role form an error of the gate belongs.
fn role_error_field(m: &str) -> &'static str {
    if m.starts_with("`description`") {
        "description"
    } else if m.starts_with("ip_allow") {
        "ip_allow"
    } else if m.starts_with("role name") {
        "name"
    } else {
        "_form"
    }
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// A role in the list.
struct RoleRow {
    name: String,
    description: String,
    builtin: bool,
    holders: usize,
}

#[derive(Template)]
#[template(path = "admin_roles.html")]
struct RolesPage {
    c: Chrome,
    roles: Vec<RoleRow>,
    /// The form for a new role: its name, description, the role it starts from, and errors.
    name: String,
    description: String,
    from: String,
    errors: Errors,
}

impl RolesPage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
}

async fn roles_page(state: &AppState, u: &WebUser, roles: Vec<RoleDef>, form: (String, String, String), errors: Errors, done: Option<&str>) -> Result<Response, WebError> {
    let held = state.gate.role_holders(&u.principal).await?;
    let roles = roles.into_iter().map(|r| RoleRow { holders: held.get(&r.name).copied().unwrap_or(0), name: r.name, description: r.description, builtin: r.builtin }).collect();
    let (name, description, from) = form;
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = RolesPage { c: Chrome::signed_in(u, u.lang.t("adm_roles"), Section::Admin).with_notice(done), roles, name, description, from, errors };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    done: Option<String>,
    /// Prefills the new role's form with a copy of this role.
    from: Option<String>,
}

/// Every role (the built-in ones, then those administrators added) and the form for a new one,
/// empty or a copy of another (`?from=<role>`).
pub async fn list(State(state): State<AppState>, u: WebUser, Query(q): Query<ListQuery>) -> Result<Response, WebError> {
    let roles = state.gate.roles(&u.principal).await?;
    let base = roles.iter().find(|r| Some(r.name.as_str()) == q.from.as_deref());
    let form = (String::new(), base.map(|r| r.description.clone()).unwrap_or_default(), base.map(|r| r.name.clone()).unwrap_or_default());
    roles_page(&state, &u, roles, form, Errors::new(), q.done.as_deref()).await
}

/// Creates a role, empty or as a copy of another, then opens its matrix.
pub async fn create(State(state): State<AppState>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let roles = state.gate.roles(&u.principal).await?;
    let name = form.text("name").unwrap_or_default();
    let description = form.text("description").unwrap_or_default();
    let from = form.text("from").unwrap_or_default();
    let mut errors = Errors::new();
    if name.is_empty() {
        errors.insert("name".into(), u.lang.t("err_required").into());
    } else if !crate::model::is_valid_identifier(&name) {
        errors.insert("name".into(), u.lang.t("adm_role_name_hint").into());
    } else if roles.iter().any(|r| r.name == name) {
        errors.insert("name".into(), u.lang.t("adm_err_role_exists").into());
    }
    if description.is_empty() {
        errors.insert("description".into(), u.lang.t("err_required").into());
    }
    let base = match roles.iter().find(|r| r.name == from) {
        Some(r) => r.clone(),
        None if from.is_empty() => RoleDef { name: String::new(), description: String::new(), objects: BTreeMap::new(), system: BTreeSet::new(), require_mfa: false, reveal_requires_mfa: false, ip_allow: Vec::new(), builtin: false },
        None => {
            errors.insert("from".into(), format!("no role named `{}`", from.chars().take(48).collect::<String>()));
            roles[0].clone()
        }
    };
    if errors.is_empty() {
        let def = RoleDef { name: name.clone(), description: description.clone(), builtin: false, ..base };
        match state.gate.put_role(&u.principal, def).await {
            Ok(r) => return Ok(Redirect::to(&format!("/admin/roles/{}?done=saved", r.name)).into_response()),
            Err(AccessError::BadRequest(m) | AccessError::Conflict(m)) => {
                errors.insert(role_error_field(&m).into(), m);
            }
            Err(e) => return Err(e.into()),
        }
    }
    roles_page(&state, &u, roles, (name, description, from), errors, None).await
}

#[derive(Template)]
#[template(path = "admin_role.html")]
struct RolePage {
    c: Chrome,
    role: RoleDef,
    editable: bool,
    holders: usize,
    fingerprint: String,
    objects: Vec<ObjView>,
    system: Vec<Check>,
    ip_allow: String,
    errors: Errors,
}

impl RolePage {
    fn error(&self, field: &str) -> Option<&String> {
        self.errors.get(field)
    }
    fn limit_error(&self, o: &ObjView) -> Option<&String> {
        self.errors.get(&format!("limit.{}", o.key))
    }
}

async fn stored_role(state: &AppState, u: &WebUser, name: &str) -> Result<RoleDef, WebError> {
    state.gate.roles(&u.principal).await?.into_iter().find(|r| r.name == name).ok_or_else(WebError::not_found)
}

/// The role page. `shown` is what the form shows (the stored role, or a draft that came back with
/// errors); the fingerprint is always the stored role's.
#[allow(clippy::too_many_arguments)]
async fn role_page(state: &AppState, u: &WebUser, stored: &RoleDef, shown: &RoleDef, form: Option<&Form>, errors: Errors, status: StatusCode, done: Option<&str>) -> Result<Response, WebError> {
    let l = u.lang;
    let mut objects = sections(shown, &state.gate.schema(), l);
    if let Some(form) = form {
        // What was typed into a limit that did not parse, to correct it.
        for o in objects.iter_mut().filter(|o| errors.contains_key(&format!("limit.{}", o.key))) {
            o.limit_text = form.get(&format!("limit.{}", o.key)).unwrap_or("").to_string();
        }
    }
    let held = state.gate.role_holders(&u.principal).await?.get(&stored.name).copied().unwrap_or(0);
    let page = RolePage {
        c: Chrome::signed_in(u, stored.name.clone(), Section::Admin).with_notice(done),
        editable: !stored.builtin,
        holders: held,
        fingerprint: fingerprint(stored),
        objects,
        system: SYSTEM.iter().map(|(p, c, k)| Check { value: c, label: l.t(k), checked: shown.system.contains(p) }).collect(),
        ip_allow: shown.ip_allow.join(", "),
        role: shown.clone(),
        errors,
    };
    Ok((status, render(&page)).into_response())
}

/// One role and its matrix (read-only for built-in roles).
pub async fn show(State(state): State<AppState>, u: WebUser, Path(name): Path<String>, Query(q): Query<DoneQuery>) -> Result<Response, WebError> {
    let stored = stored_role(&state, &u, &name).await?;
    role_page(&state, &u, &stored, &stored, None, Errors::new(), StatusCode::OK, q.done.as_deref()).await
}

/// Saves the matrix: the stored role with what the form changed, unless someone replaced the
/// role since the form was made.
pub async fn save(State(state): State<AppState>, Path(name): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let stored = stored_role(&state, &u, &name).await?;
    if stored.builtin {
        return Err(WebError::new(StatusCode::CONFLICT, format!("`{name}` is a built-in role; copy it to adapt it")));
    }
    if form.get("fingerprint") != Some(fingerprint(&stored).as_str()) {
        let errors = [("_form".to_string(), u.lang.t("adm_err_changed").to_string())].into();
        return role_page(&state, &u, &stored, &stored, None, errors, StatusCode::CONFLICT, None).await;
    }
    let (draft, mut errors) = apply(&stored, &state.gate.schema(), &form, u.lang);
    if draft.description.is_empty() {
        errors.insert("description".into(), u.lang.t("err_required").into());
    }
    if errors.is_empty() {
        match state.gate.put_role(&u.principal, draft.clone()).await {
            Ok(_) => return Ok(Redirect::to(&format!("/admin/roles/{name}?done=saved")).into_response()),
            Err(AccessError::BadRequest(m) | AccessError::Conflict(m)) => {
                errors.insert(role_error_field(&m).into(), m);
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.contains_key("_form") {
        errors.insert("_form".into(), u.lang.t("fix_errors").into());
    }
    role_page(&state, &u, &stored, &draft, Some(&form), errors, StatusCode::UNPROCESSABLE_ENTITY, None).await
}

/// Deletes a role administrators added; refused (and said so on the page) while someone holds it.
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>, SignedForm(u, _): SignedForm) -> Result<Response, WebError> {
    match state.gate.delete_role(&u.principal, &name).await {
        Ok(()) => Ok(Redirect::to("/admin/roles?done=saved").into_response()),
        Err(AccessError::Conflict(m)) => {
            let stored = stored_role(&state, &u, &name).await?;
            role_page(&state, &u, &stored, &stored, None, [("delete".to_string(), m)].into(), StatusCode::CONFLICT, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::roles::builtin;

    /// The form a browser sends for the page of `role`, as the template lays it out.
    fn form_of(role: &RoleDef, schema: &Schema) -> Vec<(String, String)> {
        let mut f = vec![("description".to_string(), role.description.clone()), ("ip_allow".into(), role.ip_allow.join(", "))];
        if role.require_mfa {
            f.push(("require_mfa".into(), "on".into()));
        }
        if role.reveal_requires_mfa {
            f.push(("reveal_requires_mfa".into(), "on".into()));
        }
        for (p, c, _) in SYSTEM {
            if role.system.contains(&p) {
                f.push(("system".into(), c.into()));
            }
        }
        for s in sections(role, schema, Lang::En) {
            let k = &s.key;
            if s.own {
                f.push((format!("own.{k}"), "on".into()));
            }
            f.push((format!("scope.{k}"), SCOPES.iter().find(|(x, ..)| *x == s.scope).unwrap().1.into()));
            for ch in s.action_checks.iter().filter(|c| c.checked) {
                f.push((format!("action.{k}"), ch.value.into()));
            }
            f.push((format!("limit.{k}"), s.limit_text.clone()));
            for c in &s.classes {
                f.push((format!("class.{k}.{}", c.code), access_code(c.access).into()));
            }
            if s.reveal_all {
                f.push((format!("reveal.{k}"), "*".into()));
            }
            for c in &s.cells {
                f.push((format!("cell.{k}.{}", c.field), access_code(c.access).into()));
                if c.reveal {
                    f.push((format!("reveal.{k}"), c.field.clone()));
                }
            }
        }
        f
    }

    fn set(f: &mut Vec<(String, String)>, name: &str, value: &str) {
        let slot = f.iter_mut().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no `{name}` on the form"));
        slot.1 = value.to_string();
    }

    fn role(name: &str) -> RoleDef {
        let mut r = builtin().into_iter().find(|r| r.name == name).unwrap();
        r.builtin = false;
        r.name = format!("{name}_copy");
        r
    }

    fn access_of(r: &RoleDef, schema: &Schema, object: &str, field: &str) -> FieldAccess {
        let o = schema.object(object).unwrap();
        Permissions::union(vec![Arc::new(r.clone())], None, BTreeSet::new(), &[]).field(o, o.field(field).unwrap())
    }

    #[test]
    fn an_unchanged_form_saves_the_role_exactly_as_it_was() {
        let schema = Schema::builtin();
        let mut odd = role("sales");
        // An entry equal to the classification's default, entries by name in `*`, a reveal list
        // naming a field: all kept as they are.
        odd.objects.get_mut("contact").unwrap().fields.insert("email".into(), FieldAccess::Write);
        let mut w = empty_grant();
        w.fields.insert("phone".into(), FieldAccess::Masked);
        w.reveal.insert("phone".into());
        w.classes.insert(Classification::Public, FieldAccess::Read);
        w.actions.insert(Action::Read);
        odd.objects.insert("*".into(), w);
        odd.ip_allow = vec!["10.0.0.0/8".into()];
        odd.require_mfa = true;
        for r in [role("admin"), role("manager"), role("sales"), role("support"), role("privacy_officer"), role("auditor"), odd] {
            let (after, errors) = apply(&r, &schema, &Form(form_of(&r, &schema)), Lang::En);
            assert!(errors.is_empty(), "{errors:?}");
            assert_eq!(after, r, "{} changed without a change on the form", r.name);
        }
    }

    #[test]
    fn a_changed_cell_gets_its_own_entry_and_goes_back_to_the_default_when_set_to_it() {
        let schema = Schema::builtin();
        let r = role("support");
        assert_eq!(access_of(&r, &schema, "contact", "email"), FieldAccess::Read);
        let mut f = form_of(&r, &schema);
        set(&mut f, "cell.contact.email", "masked");
        let (after, errors) = apply(&r, &schema, &Form(f), Lang::En);
        assert!(errors.is_empty());
        let g = &after.objects["contact"];
        assert_eq!(g.fields.get("email"), Some(&FieldAccess::Masked));
        assert_eq!(g.fields.len(), 1, "only the changed cell: {:?}", g.fields);
        assert_eq!(access_of(&after, &schema, "contact", "email"), FieldAccess::Masked);
        assert_eq!(after.objects["account"], r.objects["account"]);
        // Set back to the personal default: the entry goes, the cell follows the default again.
        let mut f = form_of(&after, &schema);
        set(&mut f, "cell.contact.email", "read");
        let (again, _) = apply(&after, &schema, &Form(f), Lang::En);
        assert_eq!(again, r);
    }

    #[test]
    fn cells_following_a_default_follow_its_change_and_own_entries_stay() {
        let schema = Schema::builtin();
        let r = role("sales");
        let mut f = form_of(&r, &schema);
        // Personal: write -> read. Email follows it; phone has its own entry (masked) and keeps it.
        set(&mut f, "class.contact.personal", "read");
        let (after, _) = apply(&r, &schema, &Form(f), Lang::En);
        assert_eq!(access_of(&after, &schema, "contact", "email"), FieldAccess::Read);
        assert_eq!(access_of(&after, &schema, "contact", "phone"), FieldAccess::Masked);
        assert!(!after.objects["contact"].fields.contains_key("email"));
        // Changing the default and a cell of it in one go: the cell keeps the value chosen.
        let mut f = form_of(&r, &schema);
        set(&mut f, "class.contact.personal", "read");
        set(&mut f, "cell.contact.email", "none");
        let (after, _) = apply(&r, &schema, &Form(f), Lang::En);
        assert_eq!(access_of(&after, &schema, "contact", "email"), FieldAccess::None);
        assert_eq!(access_of(&after, &schema, "contact", "first_name"), FieldAccess::Read);
    }

    #[test]
    fn an_object_following_the_wildcard_gets_its_own_grant_only_when_changed() {
        let schema = Schema::builtin();
        let r = role("admin");
        assert_eq!(r.objects.keys().collect::<Vec<_>>(), ["*"]);
        let mut f = form_of(&r, &schema);
        set(&mut f, "cell.deal.amount", "read");
        let (after, errors) = apply(&r, &schema, &Form(f), Lang::En);
        assert!(errors.is_empty());
        assert_eq!(after.objects.keys().collect::<Vec<_>>(), ["*", "deal"], "only the changed object");
        let deal = &after.objects["deal"];
        assert_eq!(deal.scope, r.objects["*"].scope);
        assert_eq!(deal.actions, r.objects["*"].actions);
        assert_eq!(deal.classes, r.objects["*"].classes);
        assert_eq!(deal.fields, [("amount".to_string(), FieldAccess::Read)].into());
        after.validate(&schema).unwrap();
        assert_eq!(access_of(&after, &schema, "deal", "amount"), FieldAccess::Read);
        assert_eq!(access_of(&after, &schema, "deal", "name"), FieldAccess::Write);
        // Unticking the object's grant: it follows `*` again.
        let mut f: Vec<(String, String)> = form_of(&after, &schema);
        f.retain(|(k, _)| k != "own.deal");
        let (back, _) = apply(&after, &schema, &Form(f), Lang::En);
        assert_eq!(back, r);
    }

    #[test]
    fn scope_actions_limits_reveal_and_system_permissions_are_saved() {
        let schema = Schema::builtin();
        let r = role("sales");
        let mut f = form_of(&r, &schema);
        set(&mut f, "scope.contact", "team");
        f.retain(|(k, v)| !(k == "action.contact" && v == "update"));
        f.push(("action.contact".into(), "export".into()));
        set(&mut f, "limit.contact", "25");
        set(&mut f, "cell.contact.national_id", "masked");
        f.push(("reveal.contact".into(), "national_id".into()));
        f.push(("system".into(), "audit".into()));
        f.push(("reveal_requires_mfa".into(), "on".into()));
        let (after, errors) = apply(&r, &schema, &Form(f), Lang::En);
        assert!(errors.is_empty());
        let g = &after.objects["contact"];
        assert_eq!(g.scope, RecordScope::Team);
        assert_eq!(g.actions, [Action::Create, Action::Read, Action::Export].into());
        assert_eq!(g.export_limit, 25);
        assert_eq!(g.reveal, ["national_id".to_string()].into());
        assert!(after.system.contains(&SystemPermission::Audit) && after.reveal_requires_mfa);
        let c = schema.object("contact").unwrap();
        assert!(Permissions::union(vec![Arc::new(after.clone())], None, BTreeSet::new(), &[]).may_reveal(c, c.field("national_id").unwrap()));
        // A limit that is not a number is an error at its field, and nothing else is lost.
        let mut f = form_of(&r, &schema);
        set(&mut f, "limit.deal", "lots");
        set(&mut f, "cell.deal.amount", "read");
        let (draft, errors) = apply(&r, &schema, &Form(f), Lang::En);
        assert!(errors.contains_key("limit.deal"), "{errors:?}");
        assert_eq!(draft.objects["deal"].fields.get("amount"), Some(&FieldAccess::Read));
    }

    #[test]
    fn the_fingerprint_follows_the_definition() {
        let a = role("sales");
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.description.push('!');
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
