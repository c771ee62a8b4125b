//! A contact card as an HTML page, for the browser tests of approval.
//!
//! - `GET /card?id=<id>`: the contact's name, email, phone and job title, each shown as the host
//!   hands it over (in clear or masked) or as "not granted" when the plugin may not read it. The
//!   host hands a plugin only records it listed, so the card finds the contact by paging through
//!   the list (a test guest's shortcut; a real plugin would filter on a field).

use capcrm_plugin_sdk::{Collection, Plugin, Request, Response, Result, capcrm_plugin};

struct Card;

/// The fields the card would like to show.
const WANTED: [(&str, &str); 5] = [("first_name", "First name"), ("last_name", "Last name"), ("email", "Email"), ("phone", "Phone"), ("title", "Job title")];

/// Text made safe for HTML.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

impl Plugin for Card {
    fn on_http(request: Request) -> Result<Response> {
        if !request.is("GET", "/card") {
            return Ok(Response::not_found());
        }
        let Some(id) = request.query_param("id") else {
            return Ok(Response::text(400, "missing query parameter: id"));
        };
        let contacts = Collection::open("contact")?;
        let granted = contacts.granted_fields();
        let mut after: Option<String> = None;
        let mut found = None;
        for _ in 0..20 {
            let page = contacts.list(&[], after.as_deref(), 100)?;
            found = page.records.into_iter().find(|r| r.id == id);
            if found.is_some() || page.next.is_none() {
                break;
            }
            after = page.next;
        }
        let Some(record) = found else { return Ok(Response::text(404, "no such contact")) };
        let mut rows = String::new();
        for (field, label) in WANTED {
            let cell = if !granted.iter().any(|g| g == field) {
                "<em class=\"not-granted\">not granted</em>".to_string()
            } else {
                let masked = record.masked.iter().any(|m| m == field);
                let value = escape(&record.text(field).unwrap_or_default());
                if masked { format!("<span class=\"masked\">{value}</span>") } else { value }
            };
            rows.push_str(&format!("<tr id=\"card-{field}\"><th>{label}</th><td>{cell}</td></tr>"));
        }
        let page = format!("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Contact card</title></head><body><h1>Contact card</h1><table id=\"card\">{rows}</table></body></html>");
        Ok(Response::new(200).with_header("content-type", "text/html; charset=utf-8").with_body(page.into_bytes()))
    }
}

capcrm_plugin!(Card);
