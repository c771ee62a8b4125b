//! The built-in objects: the fields a CRM user expects on day one.

use super::{Classification as C, FieldDef, FieldType as T, ObjectDef, SubjectMode};

fn f(name: &str, label: &str, field_type: T, classification: C) -> FieldDef {
    FieldDef {
        name: name.into(),
        label: label.into(),
        field_type,
        classification,
        required: false,
        blind_index: false,
        subject_link: false,
        custom: false,
        mask: None,
    }
}

fn text() -> T {
    T::Text { max_len: Some(500) }
}
fn long_text() -> T {
    T::Text { max_len: Some(20_000) }
}
fn options(list: &[&str]) -> T {
    T::Enum { options: list.iter().map(|s| s.to_string()).collect() }
}
fn reference(object: &str) -> T {
    T::Reference { object: object.into() }
}

trait FieldExt {
    fn required(self) -> Self;
    fn indexed(self) -> Self;
    fn subject_link(self) -> Self;
}
impl FieldExt for FieldDef {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn indexed(mut self) -> Self {
        self.blind_index = true;
        self
    }
    fn subject_link(mut self) -> Self {
        self.subject_link = true;
        self
    }
}

fn address(prefix_label: &str, class: C) -> Vec<FieldDef> {
    vec![
        f("address_street", &format!("{prefix_label}street"), text(), class),
        f("address_city", &format!("{prefix_label}city"), text(), class),
        f("address_region", &format!("{prefix_label}region"), text(), class),
        f("address_postal_code", &format!("{prefix_label}postal code"), text(), class),
        f("address_country", &format!("{prefix_label}country"), text(), C::Internal),
    ]
}

pub const LEAD_SOURCES: &[&str] =
    &["web_form", "referral", "event", "cold_call", "partner", "advertising", "api", "import"];
pub const LEAD_STAGES: &[&str] = &["new", "contacted", "qualified", "unqualified", "converted"];
pub const DEAL_STAGES: &[&str] =
    &["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"];
pub const ACTIVITY_KINDS: &[&str] = &["call", "email", "meeting", "note", "task"];
pub const INDUSTRIES: &[&str] = &[
    "software", "manufacturing", "retail", "finance", "healthcare", "education", "logistics",
    "energy", "media", "public_sector", "other",
];

pub fn objects() -> Vec<ObjectDef> {
    let mut contact = vec![
        f("first_name", "First name", text(), C::Personal),
        f("last_name", "Last name", text(), C::Personal).required(),
        f("email", "Email", T::Email, C::Personal).indexed(),
        f("phone", "Phone", T::Phone, C::Personal).indexed(),
        f("mobile", "Mobile", T::Phone, C::Personal).indexed(),
        f("national_id", "National ID number", text(), C::Sensitive).indexed(),
        f("birthday", "Birthday", T::Date, C::Sensitive),
    ];
    contact.extend(address("Address ", C::Personal));
    contact.extend([
        f("account", "Company", reference("account"), C::Internal),
        f("title", "Job title", text(), C::Internal),
        f("department", "Department", text(), C::Internal),
        f("preferred_language", "Preferred language", options(&["en", "zh", "de", "fr", "es", "ja"]), C::Internal),
        f("lifecycle_stage", "Lifecycle stage", options(&["subscriber", "lead", "opportunity", "customer", "former_customer"]), C::Internal),
        f("tags", "Tags", T::Tags, C::Internal),
        f("notes", "Notes", long_text(), C::Personal),
    ]);

    let mut account = vec![
        f("name", "Name", text(), C::Public).required(),
        f("domain", "Web domain", text(), C::Public),
        f("website", "Website", T::Url, C::Public),
        f("industry", "Industry", options(INDUSTRIES), C::Internal),
        f("employees", "Employees", T::Integer, C::Internal),
        f("annual_revenue", "Annual revenue", T::Number, C::Internal),
        f("phone", "Main phone", T::Phone, C::Internal),
    ];
    account.extend(address("", C::Internal));
    account.extend([
        f("parent", "Parent account", reference("account"), C::Internal),
        f("tags", "Tags", T::Tags, C::Internal),
    ]);

    let lead = vec![
        f("first_name", "First name", text(), C::Personal),
        f("last_name", "Last name", text(), C::Personal).required(),
        f("email", "Email", T::Email, C::Personal).indexed(),
        f("phone", "Phone", T::Phone, C::Personal).indexed(),
        f("company_name", "Company", text(), C::Internal),
        f("title", "Job title", text(), C::Internal),
        f("source", "Source", options(LEAD_SOURCES), C::Internal),
        f("stage", "Stage", options(LEAD_STAGES), C::Internal),
        f("score", "Score", T::Integer, C::Internal),
        f("territory", "Territory", text(), C::Internal),
        f("address_country", "Country", text(), C::Internal),
        f("tags", "Tags", T::Tags, C::Internal),
        f("notes", "Notes", long_text(), C::Personal),
    ];

    let deal = vec![
        f("name", "Name", text(), C::Internal).required(),
        f("account", "Account", reference("account"), C::Internal),
        f("contact", "Primary contact", reference("contact"), C::Internal),
        f("amount", "Amount", T::Number, C::Internal),
        f("currency", "Currency", options(&["CNY", "USD", "EUR", "GBP", "JPY"]), C::Internal),
        f("stage", "Stage", options(DEAL_STAGES), C::Internal),
        f("probability", "Probability (%)", T::Integer, C::Internal),
        f("close_date", "Expected close date", T::Date, C::Internal),
        f("tags", "Tags", T::Tags, C::Internal),
    ];

    let activity = vec![
        f("kind", "Kind", options(ACTIVITY_KINDS), C::Internal).required(),
        f("subject", "Subject", text(), C::Internal),
        f("body", "Content", long_text(), C::Personal),
        f("occurred_at", "When", T::Datetime, C::Internal),
        f("duration_minutes", "Duration (minutes)", T::Integer, C::Internal),
        f("due_date", "Due date", T::Date, C::Internal),
        f("done", "Done", T::Bool, C::Internal),
        f("contact", "Contact", reference("contact"), C::Internal).subject_link(),
        f("lead", "Lead", reference("lead"), C::Internal),
        f("account", "Account", reference("account"), C::Internal),
        f("deal", "Deal", reference("deal"), C::Internal),
    ];

    let consent = vec![
        f("contact", "Contact", reference("contact"), C::Internal).required().subject_link(),
        f("purpose", "Purpose", text(), C::Internal).required(),
        f("granted", "Granted", T::Bool, C::Internal).required(),
        f("source", "Source", text(), C::Internal),
        f("policy_version", "Policy version", text(), C::Internal),
        f("recorded_at", "Recorded at", T::Datetime, C::Internal),
        f("withdrawn_at", "Withdrawn at", T::Datetime, C::Internal),
    ];

    let obj = |name: &str, label: &str, subject_mode, fields| ObjectDef {
        name: name.into(),
        label: label.into(),
        subject_mode,
        custom: false,
        fields,
    };
    vec![
        obj("contact", "Contact", SubjectMode::Owns, contact),
        obj("account", "Account", SubjectMode::None, account),
        obj("lead", "Lead", SubjectMode::Owns, lead),
        obj("deal", "Deal", SubjectMode::None, deal),
        obj("activity", "Activity", SubjectMode::Inherits, activity),
        obj("consent", "Consent", SubjectMode::Inherits, consent),
    ]
}
