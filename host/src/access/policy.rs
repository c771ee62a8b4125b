//! Effective permissions: computed in one function, asked by the gate for every field and action.

use super::Principal;
use crate::model::{Classification, FieldDef, ObjectDef};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a caller may do with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// Actions on an object as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Export,
    /// Change the schema: custom objects and fields.
    Configure,
    /// Read the audit trail.
    Audit,
}

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
}

impl PluginGrant {
    fn object_granted(&self, object: &str) -> bool {
        self.fields.keys().any(|(o, _)| o == object) || self.create.contains(object) || self.delete.contains(object)
    }
}

/// The permissions of one caller, derived once per request from their principal.
#[derive(Debug, Clone)]
pub struct Effective {
    admin: bool,
    plugin: Option<Arc<PluginGrant>>,
}

impl Effective {
    /// The single function that decides what a principal may do: the person's own permissions
    /// (administrators hold every permission; everyone else none until roles grant it), intersected,
    /// for a plugin, with what the administrator granted it.
    pub fn of(principal: &Principal) -> Effective {
        Effective { admin: principal.is_admin, plugin: principal.plugin.clone() }
    }

    pub fn may(&self, object: Option<&ObjectDef>, action: Action) -> bool {
        let person = self.admin;
        match (&self.plugin, object) {
            (None, _) => person,
            (Some(g), Some(o)) => {
                person
                    && match action {
                        Action::Read | Action::Update => g.object_granted(&o.name),
                        Action::Create => g.create.contains(&o.name),
                        Action::Delete => g.delete.contains(&o.name),
                        Action::Export | Action::Configure | Action::Audit => false,
                    }
            }
            // Plugins never configure the schema or read the audit trail.
            (Some(_), None) => false,
        }
    }

    /// Whether the caller may perform a data-subject operation: for people, administrators (roles
    /// refine this); for a plugin, only what its grant names, and never more than the person.
    pub fn may_subject(&self, op: SubjectOp) -> bool {
        let person = self.admin;
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
        let person = if !self.admin {
            FieldAccess::None
        } else {
            match field.classification {
                Classification::Public | Classification::Internal | Classification::Personal | Classification::Sensitive => {
                    FieldAccess::Write
                }
            }
        };
        match &self.plugin {
            None => person,
            Some(g) => person.min(g.fields.get(&(object.name.clone(), field.name.clone())).copied().unwrap_or(FieldAccess::None)),
        }
    }
}
