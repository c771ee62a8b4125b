//! The home page: my leads, my deals, my tasks due, and for those who read the audit trail the
//! open alerts. Each list is one small keyset page read through the gate as the person.

use super::page::{Chrome, Section, WebError, render};
use super::records::{display, title_of};
use super::session::WebUser;
use crate::access::{Action, Effective, Filter, FilterOp, FilterValue, ListQuery, Sort, SystemPermission};
use crate::api::AppState;
use askama::Template;
use axum::extract::State;
use axum::response::Response;

const SHOWN: usize = 10;

/// One list on the home page.
struct Panel {
    id: &'static str,
    title: &'static str,
    /// The full list.
    href: String,
    rows: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    c: Chrome,
    panels: Vec<Panel>,
    alerts: Option<Vec<(String, String, String)>>,
}

fn eq(field: &str, value: &str) -> Filter {
    Filter { field: field.into(), op: FilterOp::Eq, value: FilterValue::Text(value.into()) }
}

/// The home page. A list appears only where the person's roles allow reading its object and the
/// fields it filters on, so the page never provokes a refusal.
pub async fn page(State(state): State<AppState>, u: WebUser) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let schema = state.gate.schema();
    let records = state.gate.records(&u.principal);
    let me = u.user.id.clone();
    let today = chrono::Utc::now().date_naive().to_string();
    let mut panels = Vec::new();
    let specs: [(&str, &str, &str, Vec<Filter>, Option<Sort>, &str); 3] = [
        ("my-leads", "my_leads", "lead", vec![eq("owner_id", &me)], None, "stage"),
        ("my-deals", "my_deals", "deal", vec![eq("owner_id", &me)], None, "stage"),
        (
            "tasks-due",
            "tasks_due",
            "activity",
            vec![eq("owner_id", &me), eq("done", "false"), Filter { field: "due_date".into(), op: FilterOp::Lte, value: FilterValue::Text(today.clone()) }],
            Some(Sort { field: "due_date".into(), descending: false }),
            "due_date",
        ),
    ];
    for (id, title, object, filters, sort, detail) in specs {
        let Some(obj) = schema.object(object) else { continue };
        let clear = |name: &str| name == "owner_id" || obj.field(name).is_some_and(|d| perms.field(obj, d).in_clear());
        let fields_clear = filters.iter().all(|f| clear(&f.field)) && sort.as_ref().is_none_or(|s| clear(&s.field));
        if !perms.may(obj, Action::Read) || !fields_clear {
            continue;
        }
        let href = format!("/records/{object}?{}", serde_urlencoded::to_string([("field", "owner_id"), ("op", "eq"), ("value", me.as_str())]).unwrap_or_default());
        let page = records.list(object, &ListQuery { filters, sort, limit: SHOWN, ..Default::default() }).await?;
        let rows = page.records.iter().map(|r| (format!("/records/{object}/{}", r.id), title_of(obj, r), r.fields.get(detail).map(display).unwrap_or_default())).collect();
        panels.push(Panel { id, title: u.lang.t(title), href, rows });
    }
    let alerts = if perms.has(SystemPermission::Audit) {
        // Shown only to those the gate lets read them, so the page never provokes a refusal.
        let open = state.gate.alerts(&u.principal, Some("open"), SHOWN).await?;
        Some(open.into_iter().map(|a| (a.created_at, a.rule, a.summary)).collect())
    } else {
        None
    };
    Ok(render(&HomePage { c: Chrome::signed_in(&u, u.lang.t("home_title"), Section::Home), panels, alerts }))
}
