//! The built-in objects' and fields' names in Simplified Chinese (their English labels are the
//! schema's). Custom objects and fields keep the label their administrator gave them.

use super::i18n::Lang;
use crate::model::{FieldDef, ObjectDef};

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
}
