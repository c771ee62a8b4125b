//! Effective permissions: computed in one function, asked by the gate for every field and action.

use super::Principal;
use crate::model::{Classification, FieldDef, ObjectDef};

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

/// The permissions of one caller, derived once per request from their principal.
#[derive(Debug, Clone)]
pub struct Effective {
    admin: bool,
}

impl Effective {
    /// The single function that decides what a principal may do. Administrators hold every
    /// permission; everyone else holds none until roles grant it.
    pub fn of(principal: &Principal) -> Effective {
        Effective { admin: principal.is_admin }
    }

    pub fn may(&self, _object: Option<&ObjectDef>, _action: Action) -> bool {
        self.admin
    }

    pub fn field(&self, _object: &ObjectDef, field: &FieldDef) -> FieldAccess {
        if !self.admin {
            return FieldAccess::None;
        }
        match field.classification {
            Classification::Public | Classification::Internal | Classification::Personal | Classification::Sensitive => {
                FieldAccess::Write
            }
        }
    }
}
