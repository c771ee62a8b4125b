//! Leads: the pipeline board by stage, conversion into contact, account and deal, and the public
//! lead capture form.
//!
//! The board lists leads through the gate as the signed-in person: one column per stage, each one
//! keyset page of the person's leads (highest score first where they read scores), with a link to
//! the rest; leads without a stage, which the plugin works as new, get a column of their own
//! while there are any. Moves and conversions are the `leads` plugin's (`POST /leads/stage`,
//! `POST /leads/convert`), called as the person, so the plugin's rules decide and the plugin can
//! do no more than the person could. Every move is a plain form post; `board.js` adds dragging
//! and keyboard moves on top, submitting the same form.
//!
//! The public form (`/public/lead`) has no session: it hands what people typed to the plugin's
//! public `POST /capture`, with the host's digest of the client for the plugin's rate limits, and
//! says thank you whatever became of it, as the plugin does.

use super::i18n::Lang;
use super::page::{Chrome, Section, WebError, render};
use super::plugin_call::{call, json_of};
use super::records::{display, title_of};
use super::session::{SignedForm, WebUser, read_form};
use crate::access::{Action, Effective, FieldAccess, Filter, FilterOp, FilterValue, ListQuery, Sort};
use crate::api::AppState;
use crate::model::{FieldType, ObjectDef};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

/// The plugin that works leads.
pub const LEADS: &str = "leads";
/// The object it works.
const LEAD: &str = "lead";
/// Leads per column on the board: one keyset page, never the whole table.
pub const COLUMN_PAGE: usize = 25;

/// The plugin's stages in pipeline order (`plugins/leads/src/stages.rs`; a test holds the two
/// together). Stages the schema adds beyond these follow them.
const PIPELINE: [&str; 5] = ["new", "contacted", "qualified", "unqualified", "converted"];

/// Where a lead at `from` may move by a stage move: the plugin's rules, offered by the page (the
/// plugin checks them again). `converted` is reached by converting, and nothing leaves it.
fn next_stages(from: &str) -> &'static [&'static str] {
    match from {
        "new" => &["contacted", "unqualified"],
        "contacted" => &["qualified", "unqualified"],
        "qualified" => &["contacted", "unqualified"],
        "unqualified" => &["new", "contacted"],
        _ => &[],
    }
}

/// Stages from which a lead may be converted (the plugin's `OPEN`).
fn may_convert_from(stage: &str) -> bool {
    ["new", "contacted", "qualified"].contains(&stage)
}

/// The built-in lead object, for the navigation's permission check (which goes by its name).
pub fn lead_object() -> Option<&'static ObjectDef> {
    static LEAD_DEF: std::sync::OnceLock<Option<ObjectDef>> = std::sync::OnceLock::new();
    LEAD_DEF.get_or_init(|| crate::model::Schema::builtin().object(LEAD).cloned()).as_ref()
}

/// A stage in the page's language; a stage the schema added shows as its name.
fn stage_label(lang: Lang, stage: &str) -> String {
    match stage {
        "new" => lang.t("leads_stage_new"),
        "contacted" => lang.t("leads_stage_contacted"),
        "qualified" => lang.t("leads_stage_qualified"),
        "unqualified" => lang.t("leads_stage_unqualified"),
        "converted" => lang.t("leads_stage_converted"),
        other => return other.to_string(),
    }
    .to_string()
}

/// The board's columns: the schema's stage options in the plugin's order, then any others.
fn column_stages(options: &[String]) -> Vec<String> {
    let mut v: Vec<String> = PIPELINE.iter().filter(|s| options.iter().any(|o| o == *s)).map(|s| s.to_string()).collect();
    v.extend(options.iter().filter(|o| !PIPELINE.contains(&o.as_str())).cloned());
    v
}

fn check_id(id: &str) -> Result<(), WebError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| WebError::not_found())
}

fn eq(field: &str, value: &str) -> Filter {
    Filter { field: field.into(), op: FilterOp::Eq, value: FilterValue::Text(value.into()) }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A lead on the board.
struct Card {
    id: String,
    title: String,
    company: String,
    score: String,
    /// Where it may move: stage and label.
    next: Vec<(String, String)>,
    /// The same stages, space-separated, for the script.
    next_list: String,
    may_convert: bool,
}

/// One stage of the board.
struct Column {
    /// The stage its cards are at; empty for leads without one.
    stage: String,
    /// For the column's element ids.
    key: String,
    label: String,
    cards: Vec<Card>,
    /// The rest of the column, on the records list, from where the board stopped.
    more: Option<String>,
}

#[derive(Template)]
#[template(path = "leads_board.html")]
struct BoardPage {
    c: Chrome,
    columns: Vec<Column>,
    error: Option<String>,
    /// The card to put the keyboard on (the one just moved, or whose move was refused).
    focus: String,
    may_move: bool,
}

#[derive(Deserialize, Default)]
pub struct BoardParams {
    done: Option<String>,
    lead: Option<String>,
}

/// The pipeline board.
pub async fn board(State(state): State<AppState>, u: WebUser, Query(q): Query<BoardParams>) -> Result<Response, WebError> {
    let mut c = Chrome::signed_in(&u, u.lang.t("leads_board_title"), Section::Leads);
    if q.done.as_deref() == Some("moved") {
        c.notice = Some(u.lang.t("leads_moved"));
    }
    let focus = q.lead.filter(|id| check_id(id).is_ok()).unwrap_or_default();
    board_page(&state, &u, c, None, focus).await
}

async fn board_page(state: &AppState, u: &WebUser, c: Chrome, error: Option<String>, focus: String) -> Result<Response, WebError> {
    let perms = Effective::of(&u.principal);
    let schema = state.gate.schema();
    let obj = schema.object(LEAD).filter(|o| perms.may(o, Action::Read)).ok_or_else(WebError::not_found)?;
    // The columns filter on the stage, which the person must read in clear (as the API asks).
    let stage_def = obj
        .field("stage")
        .filter(|d| perms.field(obj, d).in_clear())
        .ok_or_else(|| WebError::new(StatusCode::FORBIDDEN, "permission denied: the board needs the stage of leads, which your roles do not show"))?;
    let options = match &stage_def.field_type {
        FieldType::Enum { options } => options.clone(),
        _ => Vec::new(),
    };
    let by_score = obj.field("score").is_some_and(|d| perms.field(obj, d).in_clear());
    let may_move = perms.may(obj, Action::Update) && perms.field(obj, stage_def) == FieldAccess::Write;
    let may_convert = may_move && schema.object("deal").is_some_and(|d| perms.may(d, Action::Create));
    let records = state.gate.records(&u.principal);
    let mut columns = Vec::new();
    // Leads created without a stage (by import, the API or a form) come first, in a column of
    // their own shown only when there are some; the plugin works them as new.
    for stage in std::iter::once(String::new()).chain(column_stages(&options)) {
        let unset = stage.is_empty();
        let (filter, op) = if unset {
            (Filter { field: "stage".into(), op: FilterOp::Empty, value: FilterValue::Text(String::new()) }, "empty")
        } else {
            (eq("stage", &stage), "eq")
        };
        let worked_as = if unset { "new" } else { stage.as_str() };
        let sort = by_score.then(|| Sort { field: "score".into(), descending: true });
        let page = records.list(LEAD, &ListQuery { filters: vec![filter], sort, limit: COLUMN_PAGE, ..Default::default() }).await?;
        if unset && page.records.is_empty() {
            continue;
        }
        let next: Vec<(String, String)> = if may_move { next_stages(worked_as).iter().filter(|s| options.iter().any(|o| o == *s)).map(|s| (s.to_string(), stage_label(u.lang, s))).collect() } else { Vec::new() };
        let cards = page
            .records
            .iter()
            .map(|r| Card {
                id: r.id.clone(),
                title: title_of(obj, r),
                company: r.fields.get("company_name").map(display).unwrap_or_default(),
                score: r.fields.get("score").map(display).unwrap_or_default(),
                next_list: next.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(" "),
                next: next.clone(),
                may_convert: may_convert && may_convert_from(worked_as),
            })
            .collect();
        let more = page.next.map(|after| {
            let mut pairs = vec![("field", "stage".to_string()), ("op", op.into()), ("value", stage.clone())];
            if by_score {
                pairs.push(("sort", "-score".into()));
            }
            pairs.push(("after", after));
            format!("/records/lead?{}", serde_urlencoded::to_string(pairs).unwrap_or_default())
        });
        let (key, label) = if unset { ("unset".to_string(), u.lang.t("leads_stage_unset").to_string()) } else { (stage.clone(), stage_label(u.lang, &stage)) };
        columns.push(Column { label, key, stage, cards, more });
    }
    let status = if error.is_some() { StatusCode::CONFLICT } else { StatusCode::OK };
    Ok((status, render(&BoardPage { c, columns, error, focus, may_move })).into_response())
}

/// Moves a lead to another stage through the plugin; a move its rules refuse comes back on the
/// board with the plugin's reason, and changes nothing.
pub async fn move_stage(State(state): State<AppState>, Path(id): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    check_id(&id)?;
    let mut body = json!({ "id": id, "to": form.text("to").unwrap_or_default() });
    if let Some(note) = form.text("note") {
        body["note"] = json!(note);
    }
    let r = call(&state, LEADS, Some(&u.principal), "POST", "/leads/stage", "", Some(&body), None).await?;
    match json_of(&r) {
        Ok(_) => Ok(Redirect::to(&format!("/leads?done=moved&lead={id}#lead-{id}")).into_response()),
        Err(e) if e.status == StatusCode::CONFLICT || e.status == StatusCode::BAD_REQUEST => {
            let status = e.status;
            let c = Chrome::signed_in(&u, u.lang.t("leads_board_title"), Section::Leads);
            let message = format!("{} {}", u.lang.t("leads_move_refused"), e.message);
            let page = board_page(&state, &u, c, Some(message), id).await?;
            Ok((status, page).into_response())
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "leads_convert.html")]
struct ConvertPage {
    c: Chrome,
    id: String,
    lead_title: String,
    stage: String,
    /// What an earlier conversion made: contact, account, deal.
    converted: Option<(String, String, String)>,
    account_name: String,
    deal_name: String,
    amount: String,
    currency: String,
    currencies: Vec<String>,
    account_error: Option<String>,
    deal_error: Option<String>,
    amount_error: Option<String>,
    currency_error: Option<String>,
    error: Option<String>,
}

impl ConvertPage {
    fn show_form(&self) -> bool {
        self.converted.is_none() || self.error.is_some()
    }
}

/// The lead as the person reads it, and the plugin's view of it.
async fn lead_for_convert(state: &AppState, u: &WebUser, id: &str) -> Result<ConvertPage, WebError> {
    check_id(id)?;
    let perms = Effective::of(&u.principal);
    let schema = state.gate.schema();
    let obj = schema.object(LEAD).filter(|o| perms.may(o, Action::Read)).ok_or_else(WebError::not_found)?;
    let r = state.gate.records(&u.principal).get(LEAD, id).await?;
    let view = json_of(&call(state, LEADS, Some(&u.principal), "GET", "/leads/one", &serde_urlencoded::to_string([("id", id)]).unwrap_or_default(), None, None).await?)?;
    let stage = view["stage"].as_str().unwrap_or("new").to_string();
    let converted = view["converted"].as_object().map(|o| (text(&o["contact"]), text(&o["account"]), text(&o["deal"])));
    let currencies = match schema.object("deal").and_then(|d| d.field("currency")).map(|f| &f.field_type) {
        Some(FieldType::Enum { options }) => options.clone(),
        _ => Vec::new(),
    };
    let lead_title = title_of(obj, &r);
    Ok(ConvertPage {
        c: Chrome::signed_in(u, format!("{} · {lead_title}", u.lang.t("leads_convert_title")), Section::Leads),
        id: id.to_string(),
        lead_title,
        stage: stage_label(u.lang, &stage),
        converted,
        account_name: r.fields.get("company_name").map(display).unwrap_or_default(),
        deal_name: String::new(),
        amount: String::new(),
        currency: String::new(),
        currencies,
        account_error: None,
        deal_error: None,
        amount_error: None,
        currency_error: None,
        error: None,
    })
}

/// The conversion form: account name from the lead's company, deal name, amount, currency.
pub async fn convert_form(State(state): State<AppState>, u: WebUser, Path(id): Path<String>) -> Result<Response, WebError> {
    Ok(render(&lead_for_convert(&state, &u, &id).await?))
}

/// Converts through the plugin: contact, account and deal in one step, then the new contact's
/// page. A refusal comes back on the form with what was typed.
pub async fn convert_submit(State(state): State<AppState>, Path(id): Path<String>, SignedForm(u, form): SignedForm) -> Result<Response, WebError> {
    let mut page = lead_for_convert(&state, &u, &id).await?;
    let field = |k: &str| form.get(k).unwrap_or("").trim().to_string();
    page.account_name = field("account_name");
    page.deal_name = field("deal_name");
    page.amount = field("amount");
    page.currency = field("currency");
    let too_long = |s: &str| s.chars().count() > 500;
    if too_long(&page.account_name) {
        page.account_error = Some(u.lang.t("leads_err_too_long").into());
    }
    if too_long(&page.deal_name) {
        page.deal_error = Some(u.lang.t("leads_err_too_long").into());
    }
    let amount = if page.amount.is_empty() {
        None
    } else {
        match page.amount.parse::<f64>() {
            Ok(a) if a.is_finite() && a >= 0.0 => Some(a),
            _ => {
                page.amount_error = Some(u.lang.t("leads_err_amount").into());
                None
            }
        }
    };
    if !page.currency.is_empty() && !page.currencies.contains(&page.currency) {
        page.currency_error = Some(u.lang.t("leads_err_currency").into());
    }
    if page.account_error.is_some() || page.deal_error.is_some() || page.amount_error.is_some() || page.currency_error.is_some() {
        page.error = Some(u.lang.t("leads_fix_errors").into());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    }
    let mut body = json!({ "id": id });
    for (k, v) in [("account_name", &page.account_name), ("deal_name", &page.deal_name), ("currency", &page.currency)] {
        if !v.is_empty() {
            body[k] = json!(v);
        }
    }
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    // A conversion the host refuses half-way is rolled back whole and answered as the plugin's
    // failure, with the reason: that, too, goes back on the form.
    let (status, message) = match call(&state, LEADS, Some(&u.principal), "POST", "/leads/convert", "", Some(&body), None).await {
        Ok(r) => match json_of(&r) {
            Ok(v) => {
                let contact = text(&v["contact"]);
                check_id(&contact).map_err(|_| WebError::new(StatusCode::BAD_GATEWAY, "the plugin did not name the contact"))?;
                return Ok(Redirect::to(&format!("/records/contact/{contact}?done=saved")).into_response());
            }
            Err(e) => (e.status, e.message),
        },
        Err(e) if e.status == StatusCode::BAD_GATEWAY && !e.message.is_empty() => (e.status, e.message),
        Err(e) => return Err(e),
    };
    if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN || (status.is_server_error() && status != StatusCode::BAD_GATEWAY) {
        return Err(WebError::new(status, message));
    }
    // The plugin names the field it refuses in backticks (or by its name).
    let slot = if message.contains("amount") {
        Some(&mut page.amount_error)
    } else if message.contains("currency") {
        Some(&mut page.currency_error)
    } else if message.contains("account_name") {
        Some(&mut page.account_error)
    } else if message.contains("deal_name") {
        Some(&mut page.deal_error)
    } else {
        None
    };
    match slot {
        Some(s) => {
            *s = Some(message);
            page.error = Some(u.lang.t("leads_fix_errors").into());
        }
        None => page.error = Some(format!("{} {message}", u.lang.t("leads_convert_refused"))),
    }
    Ok((status, render(&page)).into_response())
}

/// One input of the public form.
struct PublicInput {
    name: &'static str,
    label: &'static str,
    /// text, email, tel or textarea
    kind: &'static str,
    autocomplete: &'static str,
    max: usize,
    required: bool,
    hint: Option<&'static str>,
    value: String,
    error: Option<String>,
}

/// The fields of the public form, as the plugin's `POST /capture` names them.
const PUBLIC_FIELDS: [(&str, &str, &str, usize, bool); 8] = [
    ("first_name", "text", "given-name", 200, false),
    ("last_name", "text", "family-name", 200, true),
    ("email", "email", "email", 254, false),
    ("phone", "tel", "tel", 40, false),
    ("company", "text", "organization", 200, false),
    ("title", "text", "organization-title", 200, false),
    ("country", "text", "country-name", 60, false),
    ("message", "textarea", "off", 5000, false),
];

fn public_label(lang: Lang, name: &str) -> &'static str {
    match name {
        "first_name" => lang.t("leads_first_name"),
        "last_name" => lang.t("leads_last_name"),
        "email" => lang.t("leads_email"),
        "phone" => lang.t("leads_phone"),
        "company" => lang.t("leads_company"),
        "title" => lang.t("leads_job_title"),
        "country" => lang.t("leads_country"),
        _ => lang.t("leads_message"),
    }
}

#[derive(Template)]
#[template(path = "public_lead.html")]
struct PublicPage {
    c: Chrome,
    inputs: Vec<PublicInput>,
    error: Option<String>,
    thanks: bool,
}

impl PublicPage {
    fn new(lang: Lang, values: impl Fn(&str) -> String) -> PublicPage {
        let inputs = PUBLIC_FIELDS
            .iter()
            .map(|(name, kind, autocomplete, max, required)| PublicInput {
                name,
                label: public_label(lang, name),
                kind,
                autocomplete,
                max: *max,
                required: *required,
                hint: (*name == "email").then(|| lang.t("leads_reach_hint")),
                value: values(name),
                error: None,
            })
            .collect();
        PublicPage { c: Chrome::signed_out(lang, lang.t("leads_public_title"), String::new(), "/public/lead"), inputs, error: None, thanks: false }
    }
}

/// The public lead form.
pub async fn public_form(parts: Parts) -> Response {
    render(&PublicPage::new(Lang::of(&parts.headers), |_| String::new()))
}

/// The field a refusal of the plugin names (its first word in backticks), and the sentence for
/// it in the page's language where there is one.
fn public_refusal(lang: Lang, message: &str) -> (Option<&'static str>, String) {
    let named = message.split('`').nth(1).and_then(|n| PUBLIC_FIELDS.iter().map(|f| f.0).find(|f| *f == n));
    let localized = match named {
        Some("last_name") if message.contains("required") => Some(lang.t("leads_err_last_name")),
        Some("email") if message.contains("`phone`") => Some(lang.t("leads_err_reach")),
        Some("email") if message.contains("must be") => Some(lang.t("leads_err_email")),
        Some("phone") if message.contains("must be") => Some(lang.t("leads_err_phone")),
        _ => None,
    };
    (named, localized.map(str::to_string).unwrap_or_else(|| message.to_string()))
}

/// Hands a submission to the plugin, then says thank you; a refused one comes back with what was
/// typed and the reason at its field; too many from one place are asked to wait.
pub async fn public_submit(State(state): State<AppState>, req: Request) -> Result<Response, WebError> {
    let (parts, form) = read_form(req).await?;
    let lang = Lang::of(&parts.headers);
    let field = |k: &str| form.get(k).unwrap_or("").to_string();
    let mut body = json!({ "website": field("website") });
    for (name, ..) in PUBLIC_FIELDS {
        body[name] = json!(field(name));
    }
    let client = crate::api::auth::client_ip(&parts, &state).map(|ip| state.gate.client_digest(LEADS, ip));
    let mut page = PublicPage::new(lang, |k| field(k));
    let (status, message, retry) = match call(&state, LEADS, None, "POST", "/capture", "", Some(&body), client).await {
        Ok(r) if (200..300).contains(&r.status) => {
            let mut thanks = PublicPage::new(lang, |_| String::new());
            thanks.thanks = true;
            thanks.c.title = lang.t("leads_thanks_title").to_string();
            return Ok(render(&thanks));
        }
        Ok(r) => {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, v["error"].as_str().unwrap_or("").to_string(), v["retry_after_seconds"].as_u64())
        }
        // The host's own cap on anonymous calls answers before the plugin does.
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => (e.status, String::new(), None),
        Err(e) => return Err(e),
    };
    if status.is_server_error() {
        return Err(WebError::new(status, ""));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        page.error = Some(lang.t("leads_err_later").to_string());
    } else {
        let (named, sentence) = public_refusal(lang, &message);
        match named.and_then(|n| page.inputs.iter_mut().find(|i| i.name == n)) {
            Some(input) => {
                input.error = Some(sentence);
                page.error = Some(lang.t("leads_fix_errors").to_string());
            }
            None => page.error = Some(if sentence.is_empty() { lang.t("leads_fix_errors").to_string() } else { sentence }),
        }
    }
    let mut resp = (status, render(&page)).into_response();
    if let Some(wait) = retry.and_then(|w| HeaderValue::from_str(&w.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, wait);
    }
    Ok(resp)
}

/// Texts of these pages (see [`super::i18n`]).
pub static TEXTS: &[(&str, &str, &str)] = &[
    ("nav_leads", "Leads", "线索"),
    ("leads_board_title", "Lead pipeline", "线索管道"),
    ("leads_board_intro", "Your leads by stage, highest score first. Move a lead with its form, by dragging its card to another column, or from the keyboard.", "按阶段列出您的线索，评分高的在前。可用卡片上的表单移动线索，也可将卡片拖到另一列，或使用键盘。"),
    ("leads_board_help", "Keyboard: focus a card and press Space to pick it up, the arrow keys to choose a column, Enter to drop it there, Escape to cancel.", "键盘操作：聚焦卡片后按空格键拿起，用方向键选择列，按回车键放下，按 Esc 键取消。"),
    ("leads_stage_new", "New", "新线索"),
    ("leads_stage_contacted", "Contacted", "已联系"),
    ("leads_stage_qualified", "Qualified", "已确认"),
    ("leads_stage_unqualified", "Unqualified", "不合格"),
    ("leads_stage_converted", "Converted", "已转化"),
    ("leads_stage_unset", "No stage yet (worked as new)", "未设阶段（按新线索处理）"),
    ("leads_column_empty", "No leads here.", "此阶段暂无线索。"),
    ("leads_more", "More in this stage", "查看此阶段更多线索"),
    ("leads_score", "Score", "评分"),
    ("leads_company", "Company", "公司"),
    ("leads_move_to", "Move to", "移至"),
    ("leads_move", "Move", "移动"),
    ("leads_moved", "Lead moved.", "线索已移动。"),
    ("leads_move_refused", "That move was refused:", "无法移动："),
    ("leads_convert", "Convert", "转化"),
    ("leads_js_picked", "Picked up {lead} from {from}. Arrow keys choose a column, Enter drops, Escape cancels.", "已拿起 {lead}（当前在 {from}）。用方向键选择列，按回车键放下，按 Esc 键取消。"),
    ("leads_js_over", "{stage}: {lead} may move here.", "{stage}：{lead} 可以移到这里。"),
    ("leads_js_over_no", "{stage}: {lead} cannot move here.", "{stage}：{lead} 不能移到这里。"),
    ("leads_js_moving", "Moving {lead} to {stage}…", "正在将 {lead} 移至 {stage}……"),
    ("leads_js_cancelled", "Move of {lead} cancelled.", "已取消移动 {lead}。"),
    ("leads_convert_title", "Convert lead", "转化线索"),
    ("leads_convert_intro", "Converting makes a contact of this person, an account of their company and a deal, in one step; the lead's activities move over to them.", "转化会一次性创建联系人、公司账户和商机，并将线索的活动转移过去。"),
    ("leads_stage", "Stage", "阶段"),
    ("leads_account_name", "Account name", "账户名称"),
    ("leads_account_hint", "An account of this name is reused if there is one.", "如已有同名账户，将直接使用。"),
    ("leads_deal_name", "Deal name", "商机名称"),
    ("leads_deal_hint", "Leave empty for “<account>: new business”.", "留空则为“<账户>: new business”。"),
    ("leads_amount", "Amount", "金额"),
    ("leads_currency", "Currency", "币种"),
    ("leads_no_currency", "(none)", "（无）"),
    ("leads_convert_button", "Convert into contact, account and deal", "转化为联系人、账户和商机"),
    ("leads_already_converted", "This lead was converted.", "此线索已转化。"),
    ("leads_open_contact", "Contact", "联系人"),
    ("leads_open_account", "Account", "账户"),
    ("leads_open_deal", "Deal", "商机"),
    ("leads_back_to_board", "Back to the pipeline", "返回线索管道"),
    ("leads_convert_refused", "The conversion was refused:", "无法转化："),
    ("leads_fix_errors", "Some fields need attention.", "部分字段需要修改。"),
    ("leads_err_amount", "Enter a number of at least 0, like 1200 or 1200.50.", "请输入不小于 0 的数字，例如 1200 或 1200.50。"),
    ("leads_err_currency", "Choose one of the listed currencies.", "请从列表中选择币种。"),
    ("leads_err_too_long", "At most 500 characters.", "最多 500 个字符。"),
    ("leads_public_title", "Get in touch", "联系我们"),
    ("leads_public_intro", "Tell us how to reach you and what you need, and someone from our team will answer.", "请留下联系方式和您的需求，我们的团队会尽快回复您。"),
    ("leads_first_name", "First name", "名"),
    ("leads_last_name", "Last name", "姓"),
    ("leads_email", "Email", "电子邮箱"),
    ("leads_phone", "Phone", "电话"),
    ("leads_job_title", "Job title", "职位"),
    ("leads_country", "Country", "国家或地区"),
    ("leads_message", "How can we help?", "需要什么帮助？"),
    ("leads_reach_hint", "An email address or a phone number, so that we can answer.", "请填写电子邮箱或电话号码，以便我们回复。"),
    ("leads_required", "required", "必填"),
    ("leads_send", "Send", "提交"),
    ("leads_thanks_title", "Thank you", "感谢您的留言"),
    ("leads_thanks", "We have your message and will be in touch soon.", "我们已收到您的信息，会尽快与您联系。"),
    ("leads_err_last_name", "Please give your last name.", "请填写您的姓。"),
    ("leads_err_reach", "Please give an email address or a phone number.", "请填写电子邮箱或电话号码。"),
    ("leads_err_email", "That does not look like an email address (name@example.com).", "电子邮箱格式不正确（例如 name@example.com）。"),
    ("leads_err_phone", "A phone number has 5 to 17 digits; spaces, +, - and ( ) are fine.", "电话号码应为 5 到 17 位数字，可包含空格、+、- 和括号。"),
    ("leads_err_later", "Too many messages came from here just now. Please try again later.", "此处提交次数过多，请稍后再试。"),
];

/// The routes of these pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/leads", get(board))
        .route("/leads/{id}/stage", axum::routing::post(move_stage))
        .route("/leads/{id}/convert", get(convert_form).post(convert_submit))
        .route("/public/lead", get(public_form).post(public_submit))
}

// The plugin's own stage rules, compiled here for the test that holds the page's table to them.
#[cfg(test)]
#[path = "../../../plugins/leads/src/stages.rs"]
mod plugin_stages;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_offers_exactly_the_moves_the_plugin_allows() {
        assert_eq!(PIPELINE.as_slice(), plugin_stages::STAGES, "the plugin's order");
        for from in plugin_stages::STAGES {
            for to in plugin_stages::STAGES {
                assert_eq!(next_stages(from).contains(to), plugin_stages::check_move(from, to).is_ok(), "{from} -> {to}");
            }
            assert_eq!(may_convert_from(from), plugin_stages::may_convert(from), "convert from {from}");
        }
        assert_eq!(crate::model::builtin::LEAD_STAGES, plugin_stages::STAGES, "the schema's stages are the plugin's");
    }

    #[test]
    fn columns_follow_the_pipeline_then_the_schemas_own_stages() {
        let opts: Vec<String> = ["converted", "nurture", "new", "qualified"].iter().map(|s| s.to_string()).collect();
        assert_eq!(column_stages(&opts), ["new", "qualified", "converted", "nurture"]);
        assert_eq!(stage_label(Lang::ZhCn, "contacted"), "已联系");
        assert_eq!(stage_label(Lang::En, "nurture"), "nurture");
    }

    #[test]
    fn a_refusal_of_the_public_form_lands_at_its_field_in_the_pages_language() {
        assert_eq!(public_refusal(Lang::ZhCn, "`last_name` is required"), (Some("last_name"), "请填写您的姓。".to_string()));
        assert_eq!(public_refusal(Lang::En, "give `email` or `phone`, so that someone can answer").0, Some("email"));
        let (f, s) = public_refusal(Lang::En, "`message` is at most 5000 characters");
        assert_eq!((f, s.as_str()), (Some("message"), "`message` is at most 5000 characters"));
        assert_eq!(public_refusal(Lang::En, "send application/json").0, None);
    }
}
