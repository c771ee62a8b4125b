//! Administration pages: users, teams, roles and their field-permission matrix, keys, alerts and
//! held bulk exports.
//!
//! Every page reads and changes through the same gate calls as the REST API (`/api/v1/users`,
//! `/roles`, `/teams`, `/keys`, `/alerts`, `/exports`), as the signed-in administrator: the gate
//! checks the permission, refuses and audits what it does not allow, and audits every change.

#[path = "admin_ops.rs"]
mod ops;
#[path = "admin_roles.rs"]
mod roles;
#[path = "admin_users.rs"]
mod users;

use super::page::{Chrome, Section, WebError, render};
use super::session::WebUser;
use crate::access::{Effective, SystemPermission};
use crate::api::AppState;
use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

/// The sections of administration: the permission each needs, its page, its title and what it is for.
pub const SECTIONS: &[(SystemPermission, &str, &str, &str)] = &[
    (SystemPermission::Users, "/admin/users", "adm_users", "adm_users_hint"),
    (SystemPermission::Users, "/admin/teams", "adm_teams", "adm_teams_hint"),
    (SystemPermission::Users, "/admin/roles", "adm_roles", "adm_roles_hint"),
    (SystemPermission::Plugins, "/admin/plugins", "plugins_title", "adm_plugins_hint"),
    (SystemPermission::Keys, "/admin/keys", "adm_keys", "adm_keys_hint"),
    (SystemPermission::Audit, "/admin/alerts", "adm_alerts", "adm_alerts_hint"),
    (SystemPermission::ApproveExports, "/admin/exports", "adm_exports", "adm_exports_hint"),
];

/// The routes of these pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/users", get(users::list).post(users::create))
        .route("/admin/users/new", get(users::new_form))
        .route("/admin/users/{id}", get(users::show).post(users::update))
        .route("/admin/users/{id}/{action}", post(users::act))
        .route("/admin/teams", get(users::teams).post(users::create_team))
        .route("/admin/roles", get(roles::list).post(roles::create))
        .route("/admin/roles/{name}", get(roles::show).post(roles::save))
        .route("/admin/roles/{name}/delete", post(roles::delete))
        .route("/admin/keys", get(ops::keys))
        .route("/admin/keys/rotate", post(ops::rotate))
        .route("/admin/alerts", get(ops::alerts))
        .route("/admin/alerts/{id}/acknowledge", post(ops::acknowledge))
        .route("/admin/exports", get(ops::exports))
        .route("/admin/exports/{id}/{decision}", post(ops::decide))
}

/// A refusal for a page whose permission the person lacks (the gate refuses, and audits, the
/// calls behind the pages on its own; this is for pages that need no gate call to decide).
fn forbidden(what: &str) -> WebError {
    WebError::new(StatusCode::FORBIDDEN, format!("permission denied: {what}"))
}

/// One section on the index.
struct SectionLink {
    href: &'static str,
    title: &'static str,
    hint: &'static str,
}

#[derive(Template)]
#[template(path = "admin_index.html")]
struct IndexPage {
    c: Chrome,
    sections: Vec<SectionLink>,
}

/// The sections the person's permissions allow.
pub async fn index(u: WebUser) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let sections: Vec<SectionLink> = SECTIONS.iter().filter(|(p, ..)| perms.has(*p)).map(|(_, href, title, hint)| SectionLink { href, title: u.lang.t(title), hint: u.lang.t(hint) }).collect();
    if sections.is_empty() {
        return Err(forbidden("administration"));
    }
    Ok(render(&IndexPage { c: Chrome::signed_in(&u, u.lang.t("adm_title"), Section::Admin), sections }))
}

/// Texts of these pages (see [`super::i18n`]).
pub static TEXTS: &[(&str, &str, &str)] = &[
    ("nav_admin", "Admin", "管理"),
    ("adm_title", "Administration", "系统管理"),
    ("adm_users", "Users", "用户"),
    ("adm_users_hint", "Accounts, their roles and teams; disable, enable, reset a second factor.", "账户及其角色和团队；停用、启用、重置第二因素。"),
    ("adm_teams", "Teams", "团队"),
    ("adm_teams_hint", "Teams group people: a team scope reaches the records of everyone in the team.", "团队将人员分组：团队范围可访问团队中每个人的记录。"),
    ("adm_roles", "Roles", "角色"),
    ("adm_roles_hint", "What each role may do with each object and field.", "每个角色对每个对象和字段可以做什么。"),
    ("adm_plugins_hint", "Installed plugins, their approvals and grants.", "已安装的插件及其审批和授权。"),
    ("adm_keys", "Keys", "密钥"),
    ("adm_keys_hint", "Root key versions and rotation.", "根密钥版本与轮换。"),
    ("adm_alerts", "Alerts", "警报"),
    ("adm_alerts_hint", "Alerts raised by the rules over the audit trail.", "根据审计日志规则触发的警报。"),
    ("adm_exports", "Held exports", "待审批导出"),
    ("adm_exports_hint", "Bulk exports above the requester's limit, waiting for a second administrator.", "超出申请人限额、等待另一位管理员审批的批量导出。"),
    // Users and teams.
    ("adm_new_user", "New user", "新建用户"),
    ("adm_create_user", "Create the user", "创建用户"),
    ("adm_password_hint", "At least 12 characters, not containing the user name. The person can change it after signing in.", "至少 12 个字符，且不包含用户名。此人登录后可以修改。"),
    ("adm_username_hint", "Letters, digits, “.”, “-”, “_” or “@”; at most 64.", "字母、数字、“.”、“-”、“_”或“@”，最多 64 个字符。"),
    ("adm_roles_of_user", "Roles", "角色"),
    ("adm_teams_of_user", "Teams", "团队"),
    ("adm_no_teams", "No team yet.", "尚无团队。"),
    ("adm_state", "State", "状态"),
    ("adm_active", "active", "正常"),
    ("adm_disabled", "disabled", "已停用"),
    ("adm_mfa", "Second factor", "第二因素"),
    ("adm_last_login", "Last sign-in", "上次登录"),
    ("adm_never", "never", "从未"),
    ("adm_ip_allow", "Address ranges", "允许的地址范围"),
    ("adm_ip_allow_hint", "CIDR ranges this user may work from, separated by commas, on top of their roles' lists; empty: anywhere.", "此用户可以使用的 CIDR 地址范围，以逗号分隔，在其角色的列表之外另行限制；留空表示不限。"),
    ("adm_memberships", "Roles, teams and addresses", "角色、团队与地址"),
    ("adm_disable", "Disable the user", "停用用户"),
    ("adm_disable_hint", "Every session and token of the user ends at once.", "该用户的所有会话和令牌立即失效。"),
    ("adm_disable_confirm", "Disable this user? Every session and token of theirs ends at once.", "确定停用此用户吗？其所有会话和令牌将立即失效。"),
    ("adm_reassign", "Hand their records to", "将其记录转交给"),
    ("adm_reassign_hint", "A username; leave empty and they keep owning their records.", "填写用户名；留空则记录仍归其所有。"),
    ("adm_err_no_such_user", "There is no user of that name.", "没有该用户名的用户。"),
    ("adm_search_users", "Find users", "查找用户"),
    ("adm_search_users_hint", "Part of a username.", "用户名的一部分。"),
    ("adm_no_users", "No user matches.", "没有匹配的用户。"),
    ("adm_enable", "Enable the user", "启用用户"),
    ("adm_reset_mfa", "Reset the second factor", "重置第二因素"),
    ("adm_reset_mfa_hint", "For a lost device: the user enrols a new one at their next sign-in.", "用于设备丢失：用户在下次登录时重新绑定。"),
    ("adm_reset_mfa_confirm", "Remove this user's second factor?", "确定移除此用户的第二因素吗？"),
    ("adm_err_no_role", "Choose at least one role.", "请至少选择一个角色。"),
    ("adm_new_team", "New team", "新建团队"),
    ("adm_create_team", "Create the team", "创建团队"),
    ("adm_members", "Members", "成员"),
    ("adm_team_name", "Team name", "团队名称"),
    ("adm_mfa_notice", "The second factor was removed.", "第二因素已移除。"),
    // Roles.
    ("adm_builtin", "built-in", "内置"),
    ("adm_holders", "Held by", "持有人数"),
    ("adm_new_role", "New role", "新建角色"),
    ("adm_copy_role", "Copy to adapt", "复制后修改"),
    ("adm_builtin_hint", "Built-in roles ship with capcrm and cannot be changed. Copy one to adapt it.", "内置角色随 capcrm 提供，不能修改。可复制后再修改。"),
    ("adm_role_name", "Role name", "角色名称"),
    ("adm_role_name_hint", "Lower-case letters, digits and _, starting with a letter.", "小写字母、数字和下划线，以字母开头。"),
    ("adm_description", "Description", "描述"),
    ("adm_start_from", "Start from", "基于"),
    ("adm_empty_role", "An empty role (no access)", "空角色（无任何权限）"),
    ("adm_create_role", "Create the role", "创建角色"),
    ("adm_err_role_exists", "A role with this name exists already.", "已存在同名角色。"),
    ("adm_copy_of", "Copy of", "复制自"),
    ("adm_system", "System permissions", "系统权限"),
    ("adm_require_mfa", "Holders must sign in with a second factor", "持有人必须使用第二因素登录"),
    ("adm_reveal_mfa", "A reveal needs a second factor checked in the last five minutes", "查看明文需要在五分钟内验证过第二因素"),
    ("adm_role_ip_hint", "CIDR ranges holders may work from, separated by commas; empty: anywhere.", "持有人可以使用的 CIDR 地址范围，以逗号分隔；留空表示不限。"),
    ("adm_matrix", "Objects and fields", "对象与字段"),
    ("adm_matrix_hint", "Each cell is the access this role gives to the field. A cell equal to its classification's default follows the default; any other value is set for that field alone. Changing anything in a section gives the object a grant of its own.", "每个单元格是此角色对该字段的访问级别。与其分类默认值相同的单元格跟随默认值；其他值仅对该字段单独设置。修改某一部分中的任何内容，都会为该对象建立单独的授权。"),
    ("adm_all_objects", "All other objects (*)", "其他所有对象（*）"),
    ("adm_own_grant", "This role has a grant on this object", "此角色对该对象有单独授权"),
    ("adm_all_grant", "This role has a grant on every object not listed with its own", "此角色对所有未单独授权的对象有授权"),
    ("adm_follows_all", "No grant of its own: follows “All other objects”.", "无单独授权：跟随“其他所有对象”。"),
    ("adm_no_grant", "No grant: holders cannot reach this object.", "无授权：持有人无法访问此对象。"),
    ("adm_scope", "Records", "记录范围"),
    ("adm_scope_own", "their own", "本人的"),
    ("adm_scope_team", "their teams'", "所在团队的"),
    ("adm_scope_all", "all", "全部"),
    ("adm_actions", "Actions", "操作"),
    ("adm_act_create", "create", "创建"),
    ("adm_act_read", "read", "读取"),
    ("adm_act_update", "update", "修改"),
    ("adm_act_delete", "delete", "删除"),
    ("adm_act_export", "export", "导出"),
    ("adm_no_read_hint", "Without the read action, holders reach none of these fields, whatever the cells say.", "没有读取操作时，无论单元格如何设置，持有人都无法访问这些字段。"),
    ("adm_export_limit", "Export limit without approval", "无需审批的导出上限"),
    ("adm_class_defaults", "Defaults by classification", "按分类的默认值"),
    ("adm_cls_public", "public", "公开"),
    ("adm_cls_internal", "internal", "内部"),
    ("adm_cls_personal", "personal", "个人"),
    ("adm_cls_sensitive", "sensitive", "敏感"),
    ("adm_access", "Access", "访问级别"),
    ("adm_acc_none", "none", "无"),
    ("adm_acc_masked", "masked", "掩码"),
    ("adm_acc_read", "read", "只读"),
    ("adm_acc_write", "write", "读写"),
    ("adm_classification", "Classification", "分类"),
    ("adm_source", "Set by", "来源"),
    ("adm_src_class", "classification", "分类默认"),
    ("adm_src_field", "this field", "单独设置"),
    ("adm_may_reveal", "May reveal", "可查看明文"),
    ("adm_reveal_all", "May reveal every masked field, with a reason", "可凭理由查看所有掩码字段的明文"),
    ("adm_field_overrides", "Set by field name on every object", "按字段名称对所有对象设置"),
    ("adm_save_role", "Save the role", "保存角色"),
    ("adm_delete_role", "Delete the role", "删除角色"),
    ("adm_delete_role_confirm", "Delete this role?", "确定删除此角色吗？"),
    ("adm_err_changed", "Someone changed this role meanwhile; your changes were not saved. This is the role as it is now.", "在此期间有人修改了此角色，您的修改未保存。以下是该角色的当前内容。"),
    ("adm_err_number", "A whole number, 0 or more.", "请输入 0 或更大的整数。"),
    ("adm_perm_audit", "Read and verify the audit trail", "读取并验证审计日志"),
    ("adm_perm_schema", "Custom objects and fields", "自定义对象和字段"),
    ("adm_perm_users", "Users, teams and roles", "用户、团队和角色"),
    ("adm_perm_plugins", "Install, approve and revoke plugins", "安装、审批和撤销插件"),
    ("adm_perm_keys", "Root key status and rotation", "根密钥状态与轮换"),
    ("adm_perm_subject_find", "Find people by identifier", "按标识查找个人"),
    ("adm_perm_subject_export", "Export all of a person's data", "导出个人的全部数据"),
    ("adm_perm_subject_erase", "Erase a person", "删除个人数据"),
    ("adm_perm_subject_hold", "Place and release legal holds", "设置和解除法律保留"),
    ("adm_perm_approve_exports", "Approve others' exports above their limit", "审批他人超出限额的导出"),
    // Keys.
    ("adm_keys_title", "Root keys", "根密钥"),
    ("adm_key_version", "Version", "版本"),
    ("adm_key_state", "State", "状态"),
    ("adm_key_wraps", "Data keys it wraps", "其封装的数据密钥"),
    ("adm_rotate", "Rotate the root key now", "立即轮换根密钥"),
    ("adm_rotate_hint", "A new version becomes active and every data key is re-wrapped under it; records are not rewritten. Older versions stay in the key file: backups taken before the rotation need them.", "新版本将成为活动版本，所有数据密钥都会用它重新封装；记录本身不会重写。旧版本仍保留在密钥文件中：轮换之前的备份需要它们。"),
    ("adm_rotate_confirm", "Rotate the root key now?", "确定立即轮换根密钥吗？"),
    ("adm_rotated", "The root key was rotated: the new version is active and the older ones are retired.", "根密钥已轮换：新版本已启用，旧版本已停用。"),
    // Alerts.
    ("adm_open_alerts", "Open alerts", "未处理的警报"),
    ("adm_acked_alerts", "Acknowledged alerts", "已确认的警报"),
    ("adm_rule", "Rule", "规则"),
    ("adm_summary", "Summary", "摘要"),
    ("adm_entries", "Audit entries", "审计条目"),
    ("adm_delivery", "Delivery", "投递"),
    ("adm_acked_by", "Acknowledged by", "确认人"),
    ("adm_acknowledge", "Acknowledge", "确认"),
    ("adm_alert_acked", "The alert is acknowledged.", "警报已确认。"),
    ("adm_alert_rules", "Alert rules", "警报规则"),
    ("adm_webhook", "Webhook", "Webhook"),
    ("adm_none", "none", "无"),
    ("adm_rule_bulk_read", "Bulk reads by one person", "单人批量读取"),
    ("adm_rule_denials", "Bursts of refusals", "集中出现的拒绝"),
    ("adm_rule_hours", "Work outside the hours", "工作时间以外的操作"),
    ("adm_rule_new_address", "A sign-in from a new address", "从新地址登录"),
    ("adm_rule_watched", "Watched audit actions", "监控的审计操作"),
    ("adm_on", "on", "开"),
    ("adm_off", "off", "关"),
    ("adm_threshold", "entries within", "条，时间窗口"),
    ("adm_minutes", "minutes", "分钟"),
    ("adm_hours", "hours", "时"),
    ("adm_utc_offset", "UTC offset (minutes)", "UTC 偏移（分钟）"),
    // Exports.
    ("adm_held", "Waiting for approval", "等待审批"),
    ("adm_decided", "Recent exports", "最近的导出"),
    ("adm_requested_by", "Requested by", "申请人"),
    ("adm_records", "Records", "记录数"),
    ("adm_limit", "Their limit", "其限额"),
    ("adm_format", "Format", "格式"),
    ("adm_decided_by", "Decided by", "审批人"),
    ("adm_approve_export", "Approve", "批准"),
    ("adm_reject_export", "Reject", "拒绝"),
    ("adm_no_held", "No export is waiting.", "没有等待审批的导出。"),
    ("adm_export_decided", "The decision is saved.", "审批结果已保存。"),
];
