//! Effective permissions: computed in one function, asked by the gate for every field and action.

use super::Principal;
use super::roles::Permissions;
use crate::auth::TokenScope;
use crate::model::{FieldDef, ObjectDef};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a caller may do with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    None,
    Masked,
    Read,
    Write,
}

impl FieldAccess {
    pub fn can_see(self) -> bool {
        self >= FieldAccess::Masked
    }
    pub fn in_clear(self) -> bool {
        self >= FieldAccess::Read
    }
}

/// Actions on records of an object.
pub use super::roles::ObjectAction as Action;
pub use super::roles::{RecordScope, SystemPermission};

/// Operations on a data subject as a whole, each its own capability (`subject:find`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectOp {
    /// Look people up by a blind-indexed identifier.
    Find,
    /// Read every record of a person, every field in clear (access requests).
    Export,
    /// Destroy a person's key (erasure).
    Erase,
    /// Place and release holds that block erasure.
    Hold,
}

impl SubjectOp {
    pub const ALL: [SubjectOp; 4] = [SubjectOp::Find, SubjectOp::Export, SubjectOp::Erase, SubjectOp::Hold];

    pub fn name(self) -> &'static str {
        match self {
            SubjectOp::Find => "find",
            SubjectOp::Export => "export",
            SubjectOp::Erase => "erase",
            SubjectOp::Hold => "hold",
        }
    }

    pub fn parse(s: &str) -> Option<SubjectOp> {
        SubjectOp::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// What an administrator approved for one plugin version: an allow-list. A field or object that is
/// not named is not reachable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginGrant {
    /// `name@version`.
    pub plugin: String,
    /// (object, field) -> access. Only `Masked`, `Read` and `Write` appear.
    pub fields: BTreeMap<(String, String), FieldAccess>,
    /// Objects the plugin may create records of.
    pub create: BTreeSet<String>,
    /// Objects the plugin may delete records of.
    pub delete: BTreeSet<String>,
    /// Operations on data subjects.
    pub subjects: BTreeSet<SubjectOp>,
    /// Object -> the purpose its records' people must consent to for the plugin to reach them.
    pub consent: BTreeMap<String, String>,
    /// Objects whose records the plugin may give to a user (`assign:<object>`).
    pub assign: BTreeSet<String>,
}

impl PluginGrant {
    fn object_granted(&self, object: &str) -> bool {
        self.fields.keys().any(|(o, _)| o == object) || self.create.contains(object) || self.delete.contains(object)
    }
}

/// The permissions of one caller, derived once per request from their principal.
#[derive(Debug, Clone)]
pub struct Effective {
    person: Arc<Permissions>,
    scopes: Option<Arc<BTreeSet<TokenScope>>>,
    plugin: Option<Arc<PluginGrant>>,
}

impl Effective {
    /// The single function that decides what a principal may do: the union of the person's roles
    /// (the host itself holds everything), narrowed by an API token's scopes, intersected, for a
    /// plugin, with what the administrator granted it. Every check below reads only this.
    pub fn of(principal: &Principal) -> Effective {
        Effective { person: principal.perms.clone(), scopes: principal.scopes.clone(), plugin: principal.plugin.clone() }
    }

    /// Whether the token (if it is an API token) carries one of `any`.
    fn scoped(&self, any: &[TokenScope]) -> bool {
        self.scopes.as_ref().is_none_or(|s| any.iter().any(|a| s.contains(a)))
    }

    pub fn may(&self, object: &ObjectDef, action: Action) -> bool {
        let scoped = match action {
            Action::Read => self.scoped(&[TokenScope::RecordsRead, TokenScope::RecordsWrite]),
            Action::Create | Action::Update | Action::Delete => self.scoped(&[TokenScope::RecordsWrite]),
            Action::Export => self.scoped(&[TokenScope::RecordsExport]),
        };
        let person = scoped && self.person.may(&object.name, action);
        match &self.plugin {
            None => person,
            Some(g) => {
                person
                    && match action {
                        Action::Read | Action::Update => g.object_granted(&object.name),
                        Action::Create => g.create.contains(&object.name),
                        Action::Delete => g.delete.contains(&object.name),
                        // Exports are people's: a plugin exports a subject through `subject:export`.
                        Action::Export => false,
                    }
            }
        }
    }

    /// Permissions outside any object. Plugins never hold them: they do not configure the
    /// schema, manage users or plugins, or read the audit trail.
    pub fn has(&self, p: SystemPermission) -> bool {
        let scoped = match p {
            SystemPermission::Audit => self.scoped(&[TokenScope::AuditRead]),
            _ => self.scoped(&[TokenScope::Admin]),
        };
        self.plugin.is_none() && scoped && self.person.has(p)
    }

    /// Which records of the object the caller reaches (`None`: none at all).
    pub fn scope(&self, object: &str) -> Option<RecordScope> {
        self.person.scope(object)
    }

    /// Whether a record owned by `owner` is within the caller's scope on the object.
    pub fn owns_in_scope(&self, object: &str, owner: Option<&str>) -> bool {
        match self.scope(object) {
            Some(RecordScope::All) => true,
            Some(RecordScope::Team) => owner.is_some_and(|o| self.person.team_peers.contains(o) || self.person.user_id.as_deref() == Some(o)),
            Some(RecordScope::Own) => owner.is_some() && owner == self.person.user_id.as_deref(),
            None => false,
        }
    }

    /// Whether the caller may give records of `object` to a user: people with the right to update
    /// them may; a plugin needs `assign:<object>` as well.
    pub fn may_assign(&self, object: &ObjectDef) -> bool {
        self.may(object, Action::Update) && self.plugin.as_ref().is_none_or(|g| g.assign.contains(&object.name))
    }

    /// The purpose a plugin's grant on `object` is conditioned on: it reaches only the records of
    /// people who consent to it now. People's own access is never conditioned this way.
    pub fn consent_purpose(&self, object: &str) -> Option<&str> {
        self.plugin.as_ref().and_then(|g| g.consent.get(object)).map(String::as_str)
    }

    /// The owners whose records an `own` or `team` scope reaches (`None` for `all`).
    pub fn scope_owners(&self, object: &str) -> Option<Vec<String>> {
        match self.scope(object) {
            Some(RecordScope::All) => None,
            Some(RecordScope::Team) => {
                let mut v: Vec<String> = self.person.team_peers.iter().cloned().collect();
                if let Some(me) = &self.person.user_id {
                    if !v.contains(me) {
                        v.push(me.clone());
                    }
                }
                Some(v)
            }
            Some(RecordScope::Own) => Some(self.person.user_id.iter().cloned().collect()),
            None => Some(Vec::new()),
        }
    }

    /// Whether the caller may see a masked field's value once, with a reason.
    pub fn may_reveal(&self, object: &ObjectDef, field: &FieldDef) -> bool {
        self.plugin.is_none() && self.field(object, field) == FieldAccess::Masked && self.person.may_reveal(object, field)
    }

    /// The largest export of the object that needs no second approval.
    pub fn export_limit(&self, object: &str) -> u64 {
        self.person.export_limit(object)
    }

    pub fn permissions(&self) -> &Permissions {
        &self.person
    }

    /// Whether the caller may perform a data-subject operation: for people, the matching system
    /// permission; for a plugin, only what its grant names, and never more than the person.
    pub fn may_subject(&self, op: SubjectOp) -> bool {
        let person = self.scoped(&[TokenScope::Admin]) && self.person.has(match op {
            SubjectOp::Find => SystemPermission::SubjectFind,
            SubjectOp::Export => SystemPermission::SubjectExport,
            SubjectOp::Erase => SystemPermission::SubjectErase,
            SubjectOp::Hold => SystemPermission::SubjectHold,
        });
        match &self.plugin {
            None => person,
            Some(g) => person && g.subjects.contains(&op),
        }
    }

    /// Access to a field in a subject's access export: every field in clear for a caller who may
    /// export the subject (the export is the person's own data, whole), nothing otherwise.
    pub fn export_field(&self, _object: &ObjectDef, _field: &FieldDef) -> FieldAccess {
        if self.may_subject(SubjectOp::Export) { FieldAccess::Read } else { FieldAccess::None }
    }

    pub fn field(&self, object: &ObjectDef, field: &FieldDef) -> FieldAccess {
        let mut person = self.person.field(object, field);
        if !self.scoped(&[TokenScope::RecordsWrite]) {
            person = person.min(FieldAccess::Read);
        }
        match &self.plugin {
            None => person,
            Some(g) => person.min(g.fields.get(&(object.name.clone(), field.name.clone())).copied().unwrap_or(FieldAccess::None)),
        }
    }
}
