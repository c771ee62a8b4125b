//! The UI's two languages, English and Simplified Chinese: chosen by the browser's
//! `Accept-Language`, switchable with a cookie, and a table of every text in both.

use axum::http::HeaderMap;

/// The cookie that remembers a language chosen by hand.
pub const LANG_COOKIE: &str = "capcrm_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let c = code.trim().to_ascii_lowercase();
        if c == "en" || c.starts_with("en-") {
            Some(Lang::En)
        } else if c == "zh" || c.starts_with("zh-") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The language of a request: the cookie if set, else the browser's most preferred language
    /// that the UI speaks, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        let cookie = headers.get_all(axum::http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == LANG_COOKIE).then(|| Lang::parse(v)).flatten()
        });
        if let Some(l) = cookie {
            return l;
        }
        let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("");
            let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            if let Some(l) = Lang::parse(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    /// The text `key` in this language. Keys are checked against the templates by a test, so an
    /// unknown key is a programming error; it shows as itself rather than failing the page.
    pub fn t(self, key: &str) -> &'static str {
        match all_texts().find(|(k, _, _)| *k == key) {
            Some((_, en, zh)) => match self {
                Lang::En => en,
                Lang::ZhCn => zh,
            },
            None => {
                debug_assert!(false, "no text `{key}`");
                "?"
            }
        }
    }
}

/// Every text of the UI: this module's table and those of the page modules that keep their own.
pub fn all_texts() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    [TEXTS, super::admin::TEXTS, super::leads::TEXTS].into_iter().flatten()
}

/// Texts of every page: key, English, Simplified Chinese. A row cannot lack a language.
pub static TEXTS: &[(&str, &str, &str)] = &[
    ("app", "capcrm", "capcrm"),
    ("skip", "Skip to content", "跳到正文"),
    ("nav_main", "Main", "主导航"),
    ("nav_home", "Home", "首页"),
    ("nav_records", "Records", "记录"),
    ("nav_audit", "Audit trail", "审计日志"),
    ("nav_activity", "My activity", "我的操作记录"),
    ("nav_security", "Security", "安全"),
    ("signed_in_as", "Signed in as", "当前用户"),
    ("sign_out", "Sign out", "退出登录"),
    ("language", "Language", "语言"),
    ("sign_in", "Sign in", "登录"),
    ("sign_in_title", "Sign in to capcrm", "登录 capcrm"),
    ("username", "User name", "用户名"),
    ("password", "Password", "密码"),
    ("code", "Authentication code", "验证码"),
    ("code_hint", "The six digits from your authenticator app, or a recovery code. Leave empty if your account has no second factor.", "身份验证器应用中的六位数字，或一个恢复码。如果账户未启用双重验证，请留空。"),
    ("err_credentials", "Wrong user name or password.", "用户名或密码错误。"),
    ("err_code_needed", "This account needs the code from your authenticator app.", "此账户需要身份验证器应用中的验证码。"),
    ("err_code_wrong", "That code is wrong or was already used.", "验证码错误或已被使用。"),
    ("err_locked", "Too many failed sign-ins. Try again later.", "登录失败次数过多，请稍后再试。"),
    ("err_ip", "Sign-in from this address is not allowed for this account.", "此账户不允许从该地址登录。"),
    ("notice_expired", "Your session ended. Sign in again to continue.", "会话已结束，请重新登录。"),
    ("notice_signed_out", "You are signed out.", "您已退出登录。"),
    ("notice_saved", "Saved.", "已保存。"),
    ("notice_mfa_on", "Your second factor is on. Sign in again with a code.", "双重验证已启用，请使用验证码重新登录。"),
    ("security_title", "Security", "安全设置"),
    ("mfa", "Second factor (TOTP)", "双重验证（TOTP）"),
    ("mfa_on", "On: sign-ins need a code from your authenticator app.", "已启用：登录需要身份验证器应用中的验证码。"),
    ("mfa_off", "Off.", "未启用。"),
    ("mfa_required", "Your role requires a second factor: set one up to continue.", "您的角色要求启用双重验证，请先完成设置。"),
    ("mfa_set_up", "Set up a second factor", "设置双重验证"),
    ("mfa_restart", "Start again with a new secret", "使用新密钥重新开始"),
    ("mfa_scan", "Scan this QR code with an authenticator app, or type the secret into it. Then enter the code it shows.", "用身份验证器应用扫描二维码，或手动输入密钥，然后输入应用显示的验证码。"),
    ("mfa_secret", "Secret", "密钥"),
    ("mfa_confirm", "Turn on", "启用"),
    ("mfa_codes", "Recovery codes", "恢复码"),
    ("mfa_codes_hint", "Keep these somewhere safe. Each works once if you lose your authenticator; they are not shown again.", "请妥善保存。丢失身份验证器时每个恢复码可使用一次；它们不会再次显示。"),
    ("mfa_continue", "Sign in with the new factor", "使用新的验证方式登录"),
    ("home_title", "Home", "首页"),
    ("my_leads", "My leads", "我的线索"),
    ("my_deals", "My deals", "我的商机"),
    ("tasks_due", "Tasks due", "待办任务"),
    ("open_alerts", "Open alerts", "未处理的警报"),
    ("none_yet", "Nothing here.", "暂无内容。"),
    ("see_all", "See all", "查看全部"),
    ("records_title", "Records", "记录"),
    ("objects", "Objects", "对象"),
    ("custom", "custom", "自定义"),
    ("search", "Search", "搜索"),
    ("search_hint", "An exact email, phone or identifier.", "完整的邮箱、电话或标识号。"),
    ("filter", "Filter", "筛选"),
    ("field", "Field", "字段"),
    ("value", "Value", "值"),
    ("op_eq", "is", "等于"),
    ("op_gt", "greater than", "大于"),
    ("op_lt", "less than", "小于"),
    ("op_empty", "is empty", "为空"),
    ("apply", "Apply", "应用"),
    ("clear", "Clear", "清除"),
    ("next_page", "Next page", "下一页"),
    ("first_page", "First page", "第一页"),
    ("new_record", "New record", "新建记录"),
    ("edit", "Edit", "编辑"),
    ("save", "Save", "保存"),
    ("cancel", "Cancel", "取消"),
    ("open", "Open", "打开"),
    ("masked", "masked", "已遮蔽"),
    ("reveal", "Reveal", "显示"),
    ("reveal_reason", "Reason for revealing", "显示原因"),
    ("reveal_hint", "Kept in the audit trail with the reveal.", "原因将与本次显示一起记入审计日志。"),
    ("revealed", "Shown once; the reveal is in the audit trail.", "仅显示一次；本次显示已记入审计日志。"),
    ("erased", "This person's personal data was erased.", "此人的个人数据已被删除。"),
    ("details", "Details", "详情"),
    ("related", "Related records", "相关记录"),
    ("timeline", "Activity timeline", "活动时间线"),
    ("history", "Change history", "变更历史"),
    ("owner", "Owner", "负责人"),
    ("created", "Created", "创建时间"),
    ("updated", "Updated", "更新时间"),
    ("version", "Version", "版本"),
    ("yes", "Yes", "是"),
    ("no", "No", "否"),
    ("empty", "(empty)", "（空）"),
    ("fix_errors", "Some fields need attention.", "部分字段需要修改。"),
    ("err_required", "Required.", "必填。"),
    ("err_expected", "Expected:", "格式应为："),
    ("err_conflict", "Someone changed this record meanwhile. Reload it and apply your change again.", "该记录已被他人修改。请重新加载后再次修改。"),
    ("audit_title", "Audit trail", "审计日志"),
    ("activity_title", "My activity", "我的操作记录"),
    ("activity_hint", "Everything you read, changed, revealed or exported, and what was refused.", "您查看、修改、显示或导出的所有内容，以及被拒绝的操作。"),
    ("subject", "Data subject", "数据主体"),
    ("actor", "Actor", "操作者"),
    ("action", "Action", "操作"),
    ("outcome", "Outcome", "结果"),
    ("object", "Object", "对象"),
    ("record", "Record", "记录"),
    ("from", "From", "开始"),
    ("to", "To", "结束"),
    ("when", "When", "时间"),
    ("fields", "Fields", "字段"),
    ("purpose", "Purpose", "目的"),
    ("detail", "Detail", "说明"),
    ("any", "any", "全部"),
    ("verify_chain", "Verify the chain", "校验日志链"),
    ("chain_ok", "The audit chain is intact.", "审计日志链完整。"),
    ("chain_bad", "The audit chain is broken at entry", "审计日志链在此条目处断裂："),
    ("entries", "entries", "条"),
    ("export_csv", "Export (CSV)", "导出（CSV）"),
    ("error_title", "Something went wrong", "出现问题"),
    ("err_forbidden", "You do not have permission for this.", "您没有执行此操作的权限。"),
    ("err_not_found", "There is no such page or record.", "没有这个页面或记录。"),
    ("err_bad_request", "The request could not be used.", "无法处理该请求。"),
    ("err_csrf", "This form has expired. Go back, reload the page and try again.", "表单已过期。请返回并刷新页面后重试。"),
    ("err_internal", "An internal error occurred; the server log has the details.", "发生内部错误，详情见服务器日志。"),
    ("back_home", "Back to the home page", "返回首页"),
    ("nav_plugins", "Plugins", "插件"),
    ("plugins_title", "Plugins", "插件"),
    ("plugin_state", "State", "状态"),
    ("active_version", "Running version", "运行版本"),
    ("versions", "Versions", "版本"),
    ("pending", "Awaiting approval", "待批准"),
    ("purpose_stated", "Stated purpose", "声明的用途"),
    ("author", "Author", "作者"),
    ("requested", "Requested capabilities", "申请的权限"),
    ("granted", "Granted", "已授予"),
    ("approve_hint", "Untick what you do not grant: the plugin then runs with the rest.", "取消勾选不予授予的权限，插件将以其余权限运行。"),
    ("approve", "Approve the ticked capabilities", "批准已勾选的权限"),
    ("preview", "Preview on real records", "在真实记录上预览"),
    ("preview_hint", "Runs this version with the ticked capabilities against real records and rolls everything back; shows which fields would cross.", "以已勾选的权限在真实记录上运行此版本并全部回滚，显示哪些字段会被传给插件。"),
    ("preview_request", "Request (e.g. GET /card?id=…)", "请求（例如 GET /card?id=…）"),
    ("preview_event", "Event (kind:object:record id)", "事件（类型:对象:记录 ID）"),
    ("preview_result", "Preview", "预览结果"),
    ("left_out", "Left out", "未授予"),
    ("crossed", "Crossed the boundary", "传给插件的内容"),
    ("refused", "Refused", "被拒绝"),
    ("upgrade_adds", "This version asks for more than the running one", "此版本申请的权限多于运行版本"),
    ("upgrade_drops", "This version no longer asks for", "此版本不再申请"),
    ("revoke", "Revoke", "撤销"),
    ("disable", "Disable", "停用"),
    ("enable", "Enable", "启用"),
    ("revoke_confirm", "Revoke this plugin's grant? Its next call is refused.", "撤销此插件的授权？其下一次调用将被拒绝。"),
    ("dead_letters", "Dead-lettered events", "投递失败的事件"),
    ("attempts", "Attempts", "尝试次数"),
    ("last_error", "Last error", "最后的错误"),
    ("replay", "Deliver them again", "重新投递"),
    ("no_plugins", "No plugin is installed.", "尚未安装插件。"),
    ("cap_read", "Read in clear", "读取明文"),
    ("cap_masked", "Read masked", "读取遮蔽值"),
    ("cap_write", "Write", "写入"),
    ("cap_create", "Create records of", "创建记录："),
    ("cap_delete", "Delete records of", "删除记录："),
    ("cap_assign", "Assign records of", "分配记录："),
    ("cap_consent", "Only people who consent to", "仅限同意以下用途的人："),
    ("cap_event", "Receive events", "接收事件"),
    ("cap_route", "Answer web requests", "响应网页请求"),
    ("cap_schedule", "Run on a schedule", "定时运行"),
    ("cap_notify", "Send notifications", "发送通知"),
    ("cap_verify", "Verify requesters by", "验证请求者："),
    ("cap_subject", "Data subjects:", "数据主体："),
    ("cap_storage", "Its own storage", "自有存储"),
    ("cap_other", "Other", "其他"),
    ("nav_privacy", "Privacy requests", "隐私请求"),
    ("dsr_title", "Data-subject requests", "数据主体请求"),
    ("dsr_none", "No request is waiting.", "没有待处理的请求。"),
    ("regime", "Law", "法规"),
    ("kind", "Request", "请求类型"),
    ("status", "Status", "状态"),
    ("received", "Received", "收到日期"),
    ("respond_by", "Answer by", "答复期限"),
    ("acknowledge_by", "Acknowledge by", "确认期限"),
    ("days_left", "Days left", "剩余天数"),
    ("overdue", "overdue", "已逾期"),
    ("extended", "extended", "已延期"),
    ("requester", "Requester", "请求人"),
    ("steps", "Steps", "步骤"),
    ("step_received", "Received", "已收到"),
    ("step_verifying", "Verifying the requester", "验证请求人"),
    ("step_verified", "Verified", "已验证"),
    ("step_in_progress", "In progress", "处理中"),
    ("step_completed", "Completed", "已完成"),
    ("step_closed", "Closed", "已关闭"),
    ("step_rejected", "Rejected", "已拒绝"),
    ("move_to", "Move to", "转到"),
    ("note", "Note", "备注"),
    ("reason", "Reason", "原因"),
    ("extend", "Extend the deadline", "延长期限"),
    ("build_bundle", "Build the access bundle", "生成访问数据包"),
    ("download_bundle", "Download the access bundle", "下载访问数据包"),
    ("bundle", "Access bundle", "访问数据包"),
    ("erase", "Erase this person", "删除此人的数据"),
    ("erase_confirm", "Erase every record of this person? This cannot be undone.", "删除此人的所有记录？此操作无法撤销。"),
    ("exceptions", "Exceptions", "例外情况"),
    ("receipt", "Erasure receipt", "删除回执"),
    ("hold", "Place a legal hold", "设置法律保留"),
    ("holds", "Holds", "保留"),
    ("release", "Release", "解除"),
    ("apply_choice", "Carry out the opt-out or restriction", "执行退出或限制"),
    ("dsr_public_title", "Your data: make a request", "您的数据：提交请求"),
    ("dsr_public_intro", "Ask for a copy of the data we hold about you, its correction or erasure, a restriction, or an opt-out of sale. We send a code to your email address to confirm it is yours.", "您可以请求获取我们持有的关于您的数据副本、更正或删除数据、限制处理或退出出售。我们会向您的邮箱发送验证码以确认邮箱属于您。"),
    ("email", "Email address", "电子邮箱"),
    ("your_name", "Your name (optional)", "姓名（可选）"),
    ("details_optional", "Anything that helps us find your data (optional)", "有助于我们查找您数据的信息（可选）"),
    ("send_request", "Send the request", "提交请求"),
    ("kind_access", "A copy of my data", "获取我的数据副本"),
    ("kind_rectification", "Correct my data", "更正我的数据"),
    ("kind_erasure", "Erase my data", "删除我的数据"),
    ("kind_restriction", "Restrict the use of my data", "限制使用我的数据"),
    ("kind_opt_out", "Do not sell or share my data", "不得出售或共享我的数据"),
    ("dsr_verify_title", "Confirm your request", "确认您的请求"),
    ("dsr_check_mail", "We sent a code to your email address. Enter it here to confirm the request.", "我们已向您的邮箱发送验证码，请在此输入以确认请求。"),
    ("dsr_verified", "Thank you: your request is confirmed. We will answer by", "谢谢，您的请求已确认。我们将在此日期前答复："),
    ("dsr_reference", "Reference", "参考编号"),
    ("confirm", "Confirm", "确认"),
    ("name", "Name", "姓名"),
    ("import", "Import CSV", "导入 CSV"),
    ("import_title", "Import records", "导入记录"),
    ("import_intro", "The first row names the columns, by field name or label. Each row becomes a record; rows with errors are reported and the others kept.", "第一行是列名（字段名或标签）。每行生成一条记录；有错误的行会列出，其余行照常导入。"),
    ("import_columns", "Columns you may fill", "您可以填写的列"),
    ("import_file", "CSV file", "CSV 文件"),
    ("import_paste", "Or paste the rows", "或粘贴数据行"),
    ("import_start", "Import", "导入"),
    ("import_progress", "Progress", "进度"),
    ("import_done", "Import finished", "导入完成"),
    ("rows_read", "Rows read", "读取行数"),
    ("records_created", "Records created", "已创建记录"),
    ("rows_refused", "Refused rows", "被拒绝的行"),
    ("line", "Line", "行号"),
    ("message", "Problem", "问题"),
    ("export", "Export CSV", "导出 CSV"),
    ("exports_title", "Exports", "导出"),
    ("export_ready", "Your export is ready: download it below (once, within a day).", "导出已就绪：请在下方下载（限一次，一天内有效）。"),
    ("export_held", "The export is larger than your role allows: it waits for a second administrator's approval.", "导出数量超出您的角色限额，需等待另一位管理员批准。"),
    ("download", "Download", "下载"),
    ("records_count", "Records", "记录数"),
    ("limit", "Limit", "限额"),
    ("requested_by", "Requested by", "申请人"),
    ("consent_title", "Consent", "同意记录"),
    ("consent_nobody", "Nobody in the CRM has that email address.", "CRM 中没有使用该邮箱的人。"),
    ("consent_in_force", "Decisions in force", "当前有效的决定"),
    ("consent_decision", "Decision", "决定"),
    ("consent_granted", "granted", "同意"),
    ("consent_refused", "refused or withdrawn", "拒绝或撤回"),
    ("consent_since", "Since", "自"),
    ("consent_source", "Source", "来源"),
    ("consent_policy", "Policy version", "政策版本"),
    ("consent_recorded", "Recorded", "记录时间"),
    ("consent_withdrawn", "Withdrawn", "撤回时间"),
    ("consent_record", "Record a decision given on paper or by phone", "记录书面或电话形式的决定"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_browser_chooses_unless_a_cookie_says_otherwise() {
        assert_eq!(Lang::of(&headers(&[])), Lang::En);
        assert_eq!(Lang::of(&headers(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])), Lang::ZhCn);
        assert_eq!(Lang::of(&headers(&[("accept-language", "de-DE, en;q=0.5, zh;q=0.7")])), Lang::ZhCn);
        assert_eq!(Lang::of(&headers(&[("accept-language", "fr, en-GB;q=0.2")])), Lang::En);
        assert_eq!(Lang::of(&headers(&[("accept-language", "zh;q=0")])), Lang::En, "q=0 means not acceptable");
        assert_eq!(Lang::of(&headers(&[("accept-language", "zh-CN"), ("cookie", "a=b; capcrm_lang=en")])), Lang::En);
        assert_eq!(Lang::of(&headers(&[("cookie", "capcrm_lang=zh-CN")])), Lang::ZhCn);
        assert_eq!(Lang::of(&headers(&[("cookie", "capcrm_lang=xx"), ("accept-language", "zh")])), Lang::ZhCn, "a bad cookie is ignored");
    }

    #[test]
    fn keys_are_unique_and_every_key_used_exists() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, en, zh) in all_texts() {
            assert!(seen.insert(*k), "text `{k}` twice");
            assert!(!en.is_empty() && !zh.is_empty(), "text `{k}` lacks a language");
        }
        // Every `.t("...")` in the templates and the web module's code names a text.
        let dirs = [concat!(env!("CARGO_MANIFEST_DIR"), "/templates"), concat!(env!("CARGO_MANIFEST_DIR"), "/src/web")];
        let mut used = 0;
        for dir in dirs {
            for entry in std::fs::read_dir(dir).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for (i, _) in text.match_indices(".t(\"") {
                    let rest = &text[i + 4..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                        used += 1;
                        assert!(seen.contains(key), "`{key}` is used but has no text");
                    }
                }
            }
        }
        assert!(used > 50, "the scan found the uses ({used})");
    }
}
