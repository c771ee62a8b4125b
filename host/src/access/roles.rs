//! Roles: what a person may do, per object (record scope, actions, export size) and per field
//! (none, masked, read, write). A user holds several roles; [`Permissions::union`] merges them once
//! per request, and [`super::policy::Effective`] reads only the merged result.
//!
//! Grants start closed: an object a role does not name (and no `*` entry covers) is unreachable,
//! a field its classification default and its own entry leave out is `none`.

use super::policy::FieldAccess;
use crate::model::{Classification, FieldDef, ObjectDef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Which records of an object a role reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordScope {
    /// Records the user owns.
    Own,
    /// Records owned by the user or anyone sharing a team with them.
    Team,
    /// Every record.
    All,
}

/// Actions on records of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectAction {
    Create,
    Read,
    Update,
    Delete,
    /// Export records (CSV, JSON) up to the role's `export_limit` without a second approval.
    Export,
}

/// Permissions outside any one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemPermission {
    /// Read and verify the audit trail.
    Audit,
    /// Custom objects and fields.
    Schema,
    /// Users, teams and roles.
    Users,
    /// Install, approve, revoke plugins.
    Plugins,
    /// Root key rotation and key status.
    Keys,
    /// Find people by identifier.
    SubjectFind,
    /// Export all of a person's data (access requests).
    SubjectExport,
    /// Erase a person (destroy their key).
    SubjectErase,
    /// Place and release holds that block erasure.
    SubjectHold,
    /// Approve another user's bulk export above their limit.
    ApproveExports,
}

/// A role's grant on one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectGrant {
    pub scope: RecordScope,
    pub actions: BTreeSet<ObjectAction>,
    /// Most records one export may carry without a second administrator's approval.
    #[serde(default)]
    pub export_limit: u64,
    /// Field access by classification, for fields without an entry in `fields`.
    #[serde(default)]
    pub classes: BTreeMap<Classification, FieldAccess>,
    /// Field access by field name; wins over `classes`.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldAccess>,
    /// Masked fields this role may reveal one at a time, with a reason (`*`: every masked field).
    #[serde(default)]
    pub reveal: BTreeSet<String>,
}

impl ObjectGrant {
    fn field(&self, f: &FieldDef) -> FieldAccess {
        self.fields.get(&f.name).or_else(|| self.classes.get(&f.classification)).copied().unwrap_or(FieldAccess::None)
    }
    fn may_reveal(&self, f: &FieldDef) -> bool {
        self.reveal.contains("*") || self.reveal.contains(&f.name)
    }
}

/// A role as stored and as administrators edit it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub name: String,
    pub description: String,
    /// Grants by object name; `*` covers every object not named (custom ones included).
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectGrant>,
    #[serde(default)]
    pub system: BTreeSet<SystemPermission>,
    /// Holders must sign in with a TOTP code.
    #[serde(default)]
    pub require_mfa: bool,
    /// A reveal needs a TOTP code checked in the last five minutes.
    #[serde(default)]
    pub reveal_requires_mfa: bool,
    /// Source addresses (CIDR) holders may work from; empty: anywhere.
    #[serde(default)]
    pub ip_allow: Vec<String>,
    /// Built-in roles ship with capcrm and cannot be changed (copy one to adapt it); ignored on
    /// input.
    #[serde(default)]
    pub builtin: bool,
}

impl RoleDef {
    fn grant(&self, object: &str) -> Option<&ObjectGrant> {
        self.objects.get(object).or_else(|| self.objects.get("*"))
    }

    /// Checks names and that a named object exists (`*` always does).
    pub fn validate(&self, schema: &crate::model::Schema) -> Result<(), String> {
        if !crate::model::is_valid_identifier(&self.name) {
            return Err(format!("role name `{}` must be lower-case letters, digits and _ (starting with a letter)", self.name));
        }
        if self.description.trim().is_empty() || self.description.chars().count() > 500 {
            return Err("`description` must be 1 to 500 characters".into());
        }
        for (object, g) in &self.objects {
            if object == "*" {
                continue;
            }
            let Some(def) = schema.object(object) else { return Err(format!("role names unknown object `{object}`")) };
            for f in g.fields.keys().chain(g.reveal.iter().filter(|r| *r != "*")) {
                if def.field(f).is_none() {
                    return Err(format!("role names unknown field `{f}` of object `{object}`"));
                }
            }
        }
        for cidr in &self.ip_allow {
            cidr.parse::<ipnet::IpNet>().map_err(|_| format!("ip_allow: `{cidr}` is not an address range like 10.0.0.0/8 or 2001:db8::/32"))?;
        }
        Ok(())
    }
}

/// The merged permissions of one person: the union of their roles (a field gets the highest
/// level any role gives it, an object the widest scope), plus who they are for record scopes.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    /// The host itself: every permission, every record.
    everything: bool,
    roles: Vec<Arc<RoleDef>>,
    system: BTreeSet<SystemPermission>,
    /// The user's id and those sharing a team with them (themselves included), for `own` and
    /// `team` scopes.
    pub user_id: Option<String>,
    pub team_peers: BTreeSet<String>,
    /// Address ranges of the roles (`None`: some role admits any address) and of the user.
    role_ranges: Option<Vec<ipnet::IpNet>>,
    user_ranges: Vec<ipnet::IpNet>,
}

fn ranges(list: &[String]) -> Vec<ipnet::IpNet> {
    list.iter().filter_map(|c| c.parse().ok()).collect()
}

impl Permissions {
    /// The host itself (seeding, maintenance, plugins acting on their own grant).
    pub fn everything() -> Permissions {
        Permissions { everything: true, ..Default::default() }
    }

    /// No permission at all.
    pub fn nothing() -> Permissions {
        Permissions::default()
    }

    /// The union of a user's roles, with the user's own address ranges.
    pub fn union(roles: Vec<Arc<RoleDef>>, user_id: Option<String>, team_peers: BTreeSet<String>, user_ip_allow: &[String]) -> Permissions {
        let system = roles.iter().flat_map(|r| r.system.iter().copied()).collect();
        let role_ranges = (!roles.is_empty() && roles.iter().all(|r| !r.ip_allow.is_empty())).then(|| roles.iter().flat_map(|r| ranges(&r.ip_allow)).collect());
        Permissions { everything: false, roles, system, user_id, team_peers, role_ranges, user_ranges: ranges(user_ip_allow) }
    }

    pub fn role_names(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.name.clone()).collect()
    }

    pub fn is_everything(&self) -> bool {
        self.everything
    }

    pub fn has(&self, p: SystemPermission) -> bool {
        self.everything || self.system.contains(&p)
    }

    /// The widest scope any role gives on the object, if any role covers it.
    pub fn scope(&self, object: &str) -> Option<RecordScope> {
        if self.everything {
            return Some(RecordScope::All);
        }
        self.roles.iter().filter_map(|r| r.grant(object)).map(|g| g.scope).max()
    }

    pub fn may(&self, object: &str, action: ObjectAction) -> bool {
        self.everything || self.roles.iter().filter_map(|r| r.grant(object)).any(|g| g.actions.contains(&action))
    }

    pub fn field(&self, object: &ObjectDef, field: &FieldDef) -> FieldAccess {
        if self.everything {
            return FieldAccess::Write;
        }
        self.roles.iter().filter_map(|r| r.grant(&object.name)).map(|g| g.field(field)).max().unwrap_or(FieldAccess::None)
    }

    /// Whether some role that shows the field masked lets the holder reveal it.
    pub fn may_reveal(&self, object: &ObjectDef, field: &FieldDef) -> bool {
        self.everything || self.roles.iter().filter_map(|r| r.grant(&object.name)).any(|g| g.field(field).can_see() && g.may_reveal(field))
    }

    /// Whether a reveal needs a fresh TOTP check (any role that allows it asks for one).
    pub fn reveal_requires_mfa(&self) -> bool {
        self.roles.iter().any(|r| r.reveal_requires_mfa)
    }

    pub fn require_mfa(&self) -> bool {
        self.roles.iter().any(|r| r.require_mfa)
    }

    /// The largest export of the object any role allows without approval.
    pub fn export_limit(&self, object: &str) -> u64 {
        if self.everything {
            return u64::MAX;
        }
        self.roles.iter().filter_map(|r| r.grant(object)).filter(|g| g.actions.contains(&ObjectAction::Export)).map(|g| g.export_limit).max().unwrap_or(0)
    }

    /// Whether the user may work from `ip`: their own list and their roles' lists must both admit
    /// it. An empty list admits any address, a role without a list admits any address, and an
    /// unknown address passes only where no list applies.
    pub fn ip_allowed(&self, ip: Option<std::net::IpAddr>) -> bool {
        if self.everything {
            return true;
        }
        let admits = |nets: &[ipnet::IpNet]| ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)));
        let roles_ok = self.role_ranges.as_deref().is_none_or(admits);
        let user_ok = self.user_ranges.is_empty() || admits(&self.user_ranges);
        roles_ok && user_ok
    }
}

fn grant(scope: RecordScope, actions: &[ObjectAction], export_limit: u64, classes: &[(Classification, FieldAccess)]) -> ObjectGrant {
    ObjectGrant {
        scope,
        actions: actions.iter().copied().collect(),
        export_limit,
        classes: classes.iter().copied().collect(),
        fields: BTreeMap::new(),
        reveal: BTreeSet::new(),
    }
}

/// The roles capcrm ships with.
pub fn builtin() -> Vec<RoleDef> {
    use Classification::{Internal, Personal, Public, Sensitive};
    use FieldAccess::{Masked, None as NoAccess, Read, Write};
    use ObjectAction::{Create, Delete, Export, Read as R, Update};
    use SystemPermission as S;
    let all_write = [(Public, Write), (Internal, Write), (Personal, Write), (Sensitive, Write)];
    let role = |name: &str, description: &str, objects: Vec<(&str, ObjectGrant)>, system: &[SystemPermission]| RoleDef {
        name: name.into(),
        description: description.into(),
        objects: objects.into_iter().map(|(o, g)| (o.to_string(), g)).collect(),
        system: system.iter().copied().collect(),
        require_mfa: false,
        reveal_requires_mfa: false,
        ip_allow: Vec::new(),
        builtin: true,
    };

    let admin = role(
        "admin",
        "Administers capcrm: every record and field, users, roles, plugins, keys and the audit trail.",
        vec![("*", grant(RecordScope::All, &[Create, R, Update, Delete, Export], 1_000_000, &all_write))],
        &[S::Audit, S::Schema, S::Users, S::Plugins, S::Keys, S::SubjectFind, S::SubjectExport, S::SubjectErase, S::SubjectHold, S::ApproveExports],
    );

    // Phone numbers are masked for managers (who may reveal them) and for sales.
    let phones = |mut g: ObjectGrant, fields: &[&str]| {
        g.fields.extend(fields.iter().map(|f| (f.to_string(), Masked)));
        g
    };
    // Managers see their teams' work; phone numbers and sensitive fields stay masked, with reveal.
    let mut mgr = grant(RecordScope::Team, &[Create, R, Update, Delete, Export], 500, &[(Public, Write), (Internal, Write), (Personal, Write), (Sensitive, Masked)]);
    mgr.reveal.insert("*".into());
    let manager = role(
        "manager",
        "Leads a sales or support team: the team's records, masked phone numbers and sensitive fields that can be revealed with a reason.",
        vec![
            ("contact", phones(mgr.clone(), &["phone", "mobile"])),
            ("lead", phones(mgr.clone(), &["phone"])),
            ("deal", mgr.clone()),
            ("activity", mgr),
            ("account", grant(RecordScope::All, &[Create, R, Update, Export], 500, &all_write)),
            ("consent", grant(RecordScope::Team, &[R], 0, &[(Internal, Read)])),
        ],
        &[S::ApproveExports],
    );

    // Sales people work their own records; they see phone numbers masked and no sensitive fields.
    let own = grant(RecordScope::Own, &[Create, R, Update], 0, &[(Public, Write), (Internal, Write), (Personal, Write), (Sensitive, NoAccess)]);
    let sales = role(
        "sales",
        "Works their own leads, contacts, deals and activities; phone numbers masked, sensitive fields hidden.",
        vec![
            ("contact", phones(own.clone(), &["phone", "mobile"])),
            ("lead", phones(own.clone(), &["phone"])),
            ("deal", own.clone()),
            ("activity", own),
            ("account", grant(RecordScope::All, &[Create, R, Update], 0, &[(Public, Write), (Internal, Write)])),
            ("consent", grant(RecordScope::Own, &[R], 0, &[(Internal, Read)])),
        ],
        &[],
    );

    // Support reads every customer to answer them, and logs activities; no exports.
    let support_read = grant(RecordScope::All, &[R], 0, &[(Public, Read), (Internal, Read), (Personal, Read), (Sensitive, NoAccess)]);
    let support = role(
        "support",
        "Answers customers: reads every contact and account, logs activities; sensitive fields hidden, no exports.",
        vec![
            ("contact", support_read.clone()),
            ("account", support_read.clone()),
            ("activity", grant(RecordScope::All, &[Create, R, Update], 0, &[(Public, Write), (Internal, Write), (Personal, Write)])),
            ("consent", grant(RecordScope::All, &[R], 0, &[(Internal, Read)])),
        ],
        &[],
    );

    // Privacy officers handle data-subject requests: they read people's records in full (to
    // answer access requests), erase and hold, record consent decisions (an opt-out, a withdrawal
    // by letter), and read the audit trail; they change nothing else.
    let mut dpo = grant(RecordScope::All, &[R], 0, &[(Public, Read), (Internal, Read), (Personal, Read), (Sensitive, Masked)]);
    dpo.reveal.insert("*".into());
    let dpo_consent = grant(RecordScope::All, &[Create, R, Update], 0, &[(Public, Write), (Internal, Write)]);
    let privacy_officer = role(
        "privacy_officer",
        "Runs data-subject requests (access, rectification, erasure, opt-outs) and reads the audit trail; records consent decisions; sensitive fields masked, revealable with a reason.",
        vec![("*", dpo), ("consent", dpo_consent)],
        &[S::Audit, S::SubjectFind, S::SubjectExport, S::SubjectErase, S::SubjectHold],
    );

    let auditor = role("auditor", "Reads and verifies the audit trail (which holds no field values); no customer records.", vec![], &[S::Audit]);

    vec![admin, manager, sales, support, privacy_officer, auditor]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Schema;

    fn perms(names: &[&str]) -> Permissions {
        let roles = builtin().into_iter().filter(|r| names.contains(&r.name.as_str())).map(Arc::new).collect();
        Permissions::union(roles, Some("u1".into()), ["u1".to_string()].into(), &[])
    }

    #[test]
    fn builtin_roles_validate() {
        let s = Schema::builtin();
        for r in builtin() {
            r.validate(&s).unwrap_or_else(|e| panic!("{}: {e}", r.name));
        }
    }

    #[test]
    fn union_takes_the_highest_level_and_widest_scope() {
        let s = Schema::builtin();
        let c = s.object("contact").unwrap();
        let sales = perms(&["sales"]);
        assert_eq!(sales.field(c, c.field("phone").unwrap()), FieldAccess::Masked);
        assert_eq!(sales.field(c, c.field("email").unwrap()), FieldAccess::Write);
        assert_eq!(sales.field(c, c.field("national_id").unwrap()), FieldAccess::None);
        assert!(!sales.may_reveal(c, c.field("phone").unwrap()));
        assert_eq!(sales.scope("contact"), Some(RecordScope::Own));
        assert_eq!(sales.scope("starship"), None, "an object no role names is closed");
        let both = perms(&["sales", "support"]);
        assert_eq!(both.scope("contact"), Some(RecordScope::All));
        assert_eq!(both.field(c, c.field("phone").unwrap()), FieldAccess::Read, "support reads phones in clear");
        assert!(both.may("activity", ObjectAction::Create) && !both.may("contact", ObjectAction::Delete));
        let mgr = perms(&["manager"]);
        assert!(mgr.may_reveal(c, c.field("phone").unwrap()));
        assert_eq!(mgr.export_limit("contact"), 500);
        assert_eq!(sales.export_limit("contact"), 0);
        assert!(!perms(&["auditor"]).may("contact", ObjectAction::Read));
        assert!(perms(&["auditor"]).has(SystemPermission::Audit));
        assert!(!perms(&[]).has(SystemPermission::Audit));
    }

    #[test]
    fn ip_lists_admit_only_their_ranges() {
        let mut r = builtin().remove(2);
        r.ip_allow = vec!["10.1.0.0/16".into(), "2001:db8::/32".into()];
        let p = Permissions::union(vec![Arc::new(r.clone())], None, BTreeSet::new(), &[]);
        assert!(p.ip_allowed("10.1.2.3".parse().ok()));
        assert!(!p.ip_allowed("10.2.0.1".parse().ok()));
        assert!(p.ip_allowed("2001:db8::1".parse().ok()));
        assert!(!p.ip_allowed("192.168.0.1".parse().ok()));
        assert!(!p.ip_allowed(None), "an unknown address fails a list");
        let user_too = Permissions::union(vec![Arc::new(r)], None, BTreeSet::new(), &["10.1.2.0/24".to_string()]);
        assert!(user_too.ip_allowed("10.1.2.3".parse().ok()) && !user_too.ip_allowed("10.1.9.9".parse().ok()), "both lists must admit");
        assert!(Permissions::union(Vec::new(), None, BTreeSet::new(), &[]).ip_allowed(None));
    }
}
