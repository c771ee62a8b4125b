//! The built-in objects' and fields' names in Simplified Chinese (their English labels are the
//! schema's). Custom objects and fields keep the label their administrator gave them.

use super::i18n::Lang;
use crate::model::{FieldDef, FieldType, ObjectDef};

/// Object name, Chinese label.
const OBJECTS: &[(&str, &str)] = &[("contact", "联系人"), ("account", "客户"), ("lead", "线索"), ("deal", "商机"), ("activity", "活动"), ("consent", "同意记录")];

/// Field name (on any built-in object), Chinese label; `object.field` where one object names a
/// field differently.
const FIELDS: &[(&str, &str)] = &[
    ("first_name", "名"),
    ("last_name", "姓"),
    ("email", "电子邮箱"),
    ("phone", "电话"),
    ("mobile", "手机"),
    ("national_id", "身份证号"),
    ("birthday", "生日"),
    ("address_street", "街道"),
    ("address_city", "城市"),
    ("address_region", "省/州"),
    ("address_postal_code", "邮编"),
    ("address_country", "国家/地区"),
    ("contact.account", "公司"),
    ("title", "职位"),
    ("department", "部门"),
    ("preferred_language", "首选语言"),
    ("lifecycle_stage", "生命周期阶段"),
    ("tags", "标签"),
    ("notes", "备注"),
    ("name", "名称"),
    ("domain", "网站域名"),
    ("website", "网站"),
    ("industry", "行业"),
    ("employees", "员工人数"),
    ("annual_revenue", "年收入"),
    ("account.phone", "总机"),
    ("parent", "上级客户"),
    ("company_name", "公司"),
    ("source", "来源"),
    ("stage", "阶段"),
    ("score", "评分"),
    ("territory", "区域"),
    ("lead.address_country", "国家/地区"),
    ("account", "客户"),
    ("deal.contact", "主要联系人"),
    ("amount", "金额"),
    ("currency", "币种"),
    ("probability", "赢单概率（%）"),
    ("close_date", "预计成交日期"),
    ("kind", "类型"),
    ("subject", "主题"),
    ("body", "内容"),
    ("occurred_at", "时间"),
    ("duration_minutes", "时长（分钟）"),
    ("due_date", "截止日期"),
    ("done", "已完成"),
    ("contact", "联系人"),
    ("lead", "线索"),
    ("deal", "商机"),
    ("purpose", "目的"),
    ("granted", "已同意"),
    ("policy_version", "政策版本"),
    ("recorded_at", "记录时间"),
    ("withdrawn_at", "撤回时间"),
];

/// The label of an object in the page's language.
pub fn object_label(lang: Lang, obj: &ObjectDef) -> String {
    if lang == Lang::ZhCn && !obj.custom {
        if let Some((_, zh)) = OBJECTS.iter().find(|(n, _)| *n == obj.name) {
            return zh.to_string();
        }
    }
    obj.label.clone()
}

/// The label of a field in the page's language.
pub fn field_label(lang: Lang, obj: &ObjectDef, def: &FieldDef) -> String {
    if lang == Lang::ZhCn && !def.custom {
        let qualified = format!("{}.{}", obj.name, def.name);
        let hit = FIELDS.iter().find(|(n, _)| *n == qualified).or_else(|| FIELDS.iter().find(|(n, _)| *n == def.name));
        if let Some((_, zh)) = hit {
            return zh.to_string();
        }
    }
    def.label.clone()
}

/// What a field expects, for the message at a field whose value was refused: the validator's
/// English words, or in Chinese the whole rule of the field's type (the validator names one broken
/// part of it).
pub fn expected_value(lang: Lang, def: &FieldDef, english: &str) -> String {
    if lang == Lang::En {
        return english.to_string();
    }
    match &def.field_type {
        FieldType::Text { max_len: Some(max) } => format!("不含控制字符、最多 {max} 个字符的文本"),
        FieldType::Text { max_len: None } => "不含控制字符的文本".to_string(),
        FieldType::Email => "电子邮箱地址，如 name@example.com".to_string(),
        FieldType::Phone => "5 到 17 位数字的电话号码（可含空格、+、-、括号）".to_string(),
        FieldType::Url => "http(s) 网址".to_string(),
        FieldType::Number => "数字".to_string(),
        FieldType::Integer => "整数".to_string(),
        FieldType::Date => "日期，格式 YYYY-MM-DD".to_string(),
        FieldType::Datetime => "RFC 3339 日期时间，如 2026-01-31T09:00:00Z".to_string(),
        FieldType::Bool => "是或否".to_string(),
        FieldType::Enum { options } => format!("以下之一：{}", options.join("、")),
        FieldType::Reference { object } => {
            let label = OBJECTS.iter().find(|(n, _)| n == object).map(|(_, zh)| zh.to_string()).unwrap_or_else(|| object.clone());
            format!("一条{label}记录的编号")
        }
        FieldType::Tags => "最多 50 个标签，每个为不超过 64 个字符的非空文本".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_object_and_field_has_a_chinese_label() {
        let schema = crate::model::Schema::builtin();
        for obj in schema.objects() {
            assert_ne!(object_label(Lang::ZhCn, obj), obj.label, "object {}", obj.name);
            assert_eq!(object_label(Lang::En, obj), obj.label);
            for f in &obj.fields {
                assert_ne!(field_label(Lang::ZhCn, obj, f), f.label, "{}.{} has no Chinese label", obj.name, f.name);
                assert_eq!(field_label(Lang::En, obj, f), f.label);
            }
        }
        assert_eq!(field_label(Lang::ZhCn, schema.object("account").unwrap(), schema.object("account").unwrap().field("phone").unwrap()), "总机");
    }

    #[test]
    fn a_refused_value_is_explained_in_the_page_language() {
        let schema = crate::model::Schema::builtin();
        for obj in schema.objects() {
            for f in &obj.fields {
                let english = match crate::model::validate::validate_value(f, &serde_json::json!({"not": "a value"})) {
                    Err(crate::model::validate::ValidationError::WrongType { expected, .. }) => expected,
                    other => panic!("{}.{} took an object: {other:?}", obj.name, f.name),
                };
                assert_eq!(expected_value(Lang::En, f, &english), english);
                let zh = expected_value(Lang::ZhCn, f, &english);
                assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{}.{}: {zh}", obj.name, f.name);
            }
        }
    }
}
