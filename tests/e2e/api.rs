//! The REST API: records, filters, pagination, schema, and every kind of bad input.

use crate::common::*;
use serde_json::json;

#[test]
fn records_crud_filters_and_pagination() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();

        let acct = api.create("account", json!({"name": "Northwind Logistics GmbH", "employees": 120, "industry": "logistics"}));
        let acct_id = acct["id"].as_str().unwrap();
        let c = api.create(
            "contact",
            json!({"first_name": "Li", "last_name": "Wang", "email": "Li.Wang@Example.CN", "phone": "+86 138 1234 5678",
                   "account": acct_id, "tags": ["vip"], "birthday": "1990-02-03"}),
        );
        let id = c["id"].as_str().unwrap();
        assert!(c["subject_id"].is_string(), "a contact is a data subject: {c}");
        assert_eq!(c["version"], 1);

        // Read by id.
        let r = api.get(&format!("/api/v1/records/contact/{id}"));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["fields"]["email"], "Li.Wang@Example.CN");
        assert_eq!(r.body["fields"]["account"], acct_id);

        // Update with optimistic concurrency.
        let r = api.send_raw("PATCH", &format!("/api/v1/records/contact/{id}"), Some(json!({"fields": {"title": "CTO"}}).to_string()), &[("if-match", "1")]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["version"], 2);
        let r = api.send_raw("PATCH", &format!("/api/v1/records/contact/{id}"), Some(json!({"fields": {"title": "CEO"}}).to_string()), &[("if-match", "1")]);
        assert_eq!(r.status, 409, "stale If-Match must conflict: {}", r.text);
        // Clearing a field and changing an indexed one.
        let r = api.patch(&format!("/api/v1/records/contact/{id}"), &json!({"fields": {"birthday": null, "email": "li@new.example.cn"}}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body["fields"].get("birthday").is_none());

        // Blind-index equality on an encrypted field, normalised.
        let r = api.get("/api/v1/records/contact?filter.email=LI@NEW.example.cn");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1);
        let r = api.get("/api/v1/records/contact?filter.email=li.wang@example.cn");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 0, "the old email's index entry must be gone");
        let r = api.get("/api/v1/records/contact?filter.phone=%2B86%20138-1234-5678");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "phone matches whatever the punctuation: {}", r.text);

        // Range filters on plain fields, equality on a plain field.
        for (i, amount) in [100.0, 2500.0, 9000.0].iter().enumerate() {
            api.create("deal", json!({"name": format!("Deal {i}"), "amount": amount, "account": acct_id, "stage": "proposal"}));
        }
        let r = api.get("/api/v1/records/deal?filter.amount.gte=2500");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 2, "{}", r.text);
        let r = api.get("/api/v1/records/deal?filter.amount.gt=2500&filter.stage=proposal");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "{}", r.text);
        let r = api.get("/api/v1/records/account?filter.employees.lt=100");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 0);
        // "Is empty" on plain fields of any type: text, number, enum; and records nobody owns.
        api.create("deal", json!({"name": "Deal without an amount", "account": acct_id}));
        let r = api.get("/api/v1/records/deal?filter.amount.empty=");
        let names: Vec<&str> = r.body["records"].as_array().unwrap().iter().map(|d| d["fields"]["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Deal without an amount"], "{}", r.text);
        let r = api.get("/api/v1/records/deal?filter.stage.empty=&sort=-stage");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "an empty filter on the sort field: {}", r.text);
        let r = api.get("/api/v1/records/deal?filter.stage.empty=anything&filter.amount.gte=0");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 0, "the value of an empty filter is ignored: {}", r.text);
        let r = api.get("/api/v1/records/account?filter.owner_id.empty=");
        assert_eq!((r.status, r.body["records"].as_array().map(Vec::len)), (200, Some(0)), "its creator owns the account: {}", r.text);

        // Keyset pagination visits every record once.
        for i in 0..7 {
            api.create("lead", json!({"last_name": format!("Lead{i}"), "source": "web_form"}));
        }
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/records/lead?limit=3&after={a}"),
                None => "/api/v1/records/lead?limit=3".into(),
            };
            let r = api.get(&path);
            assert_eq!(r.status, 200, "{}", r.text);
            for rec in r.body["records"].as_array().unwrap() {
                seen.push(rec["fields"]["last_name"].as_str().unwrap().to_string());
            }
            match r.body["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        assert_eq!(seen, (0..7).map(|i| format!("Lead{i}")).collect::<Vec<_>>());

        // Activities inherit the contact's subject.
        let act = api.create("activity", json!({"kind": "call", "contact": id, "body": "Discussed renewal"}));
        assert_eq!(act["subject_id"], c["subject_id"]);

        // Delete.
        assert_eq!(api.delete(&format!("/api/v1/records/activity/{}", act["id"].as_str().unwrap())).status, 204);
        assert_eq!(api.get(&format!("/api/v1/records/activity/{}", act["id"].as_str().unwrap())).status, 404);
        drop(srv);
    }
}

#[test]
fn bad_inputs_get_clear_errors_and_change_nothing() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let api = srv.client();
        let code = |r: &Reply| r.body["error"]["code"].as_str().unwrap_or_default().to_string();

        let r = api.send_raw("POST", "/api/v1/records/contact", Some("{\"fields\": {".into()), &[]);
        assert_eq!((r.status, code(&r).as_str()), (400, "malformed_json"), "{}", r.text);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": "x"}, "colour": "red"}));
        assert_eq!(r.status, 422, "unknown top-level key: {}", r.text);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": "x", "shoe_size": 42}}));
        assert_eq!((r.status, code(&r).as_str()), (422, "unknown_field"), "{}", r.text);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": "x", "email": "not-an-email-CANARYBAD"}}));
        assert_eq!((r.status, code(&r).as_str()), (422, "invalid_value"), "{}", r.text);
        assert!(!r.text.contains("CANARYBAD"), "errors never echo values: {}", r.text);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"first_name": "x"}}));
        assert_eq!((r.status, code(&r).as_str()), (422, "missing_field"));
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": 5}}));
        assert_eq!(r.status, 422);
        let r = api.post("/api/v1/records/contact", &json!({"fields": {"last_name": "x", "account": uuid::Uuid::new_v4().to_string()}}));
        assert_eq!(r.status, 400, "reference to nothing: {}", r.text);
        let r = api.post("/api/v1/records/starship", &json!({"fields": {}}));
        assert_eq!((r.status, code(&r).as_str()), (404, "unknown_object"));
        let big = json!({"fields": {"last_name": "x", "notes": "a".repeat(1024 * 1024 + 1000)}});
        let r = api.post("/api/v1/records/contact", &big);
        assert_eq!((r.status, code(&r).as_str()), (413, "body_too_large"), "{}", r.text);
        let r = api.send_raw("POST", "/api/v1/records/contact", None, &[]);
        assert!(r.status == 400 || r.status == 415, "{}", r.status);
        let r = api.get("/api/v1/records/contact/not-a-uuid");
        assert_eq!(r.status, 400);
        let r = api.get(&format!("/api/v1/records/contact/{}", uuid::Uuid::new_v4()));
        assert_eq!((r.status, code(&r).as_str()), (404, "not_found"));
        let r = api.get("/api/v1/records/contact?filter.notes=x");
        assert_eq!(r.status, 400, "an encrypted field without a blind index cannot be filtered: {}", r.text);
        let r = api.get("/api/v1/records/contact?filter.email.gt=a");
        assert_eq!(r.status, 400);
        let r = api.get("/api/v1/records/contact?filter.email.empty=");
        assert_eq!(r.status, 400, "whether an encrypted field has a value is not indexed: {}", r.text);
        assert!(r.text.contains("not indexed"), "{}", r.text);
        let r = api.get("/api/v1/records/contact?filter.created_at.empty=");
        assert_eq!(r.status, 400, "{}", r.text);
        let r = api.get("/api/v1/records/contact?filter.email.like=a");
        assert_eq!(r.status, 400);
        assert!(r.text.contains("eq, gt, gte, lt, lte, empty"), "the error names the operators: {}", r.text);
        let r = api.get("/api/v1/records/contact?colour=red");
        assert_eq!(r.status, 400);
        let r = api.get("/api/v1/records/contact?limit=100000");
        assert_eq!(r.status, 400);
        let r = api.get("/api/v1/nowhere");
        assert_eq!(r.status, 404);
        assert!(r.body["error"]["message"].is_string());

        // Authentication.
        let anon = reqwest::blocking::Client::new();
        let r = anon.get(format!("{}/api/v1/records/contact", srv.base)).send().unwrap();
        assert_eq!(r.status(), 401);
        let r = anon.get(format!("{}/api/v1/records/contact", srv.base)).bearer_auth("cap_forged").send().unwrap();
        assert_eq!(r.status(), 401);
        let r = anon.post(format!("{}/api/v1/auth/token", srv.base)).json(&json!({"username": "admin", "password": "wrong password!"})).send().unwrap();
        assert_eq!(r.status(), 401);

        // Nothing was written by any of the above.
        let r = api.get("/api/v1/records/contact");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 0, "{}", r.text);
        // Denied logins are on record.
        let r = api.get("/api/v1/audit?action=login&outcome=denied");
        assert_eq!(r.body["entries"].as_array().unwrap().len(), 1, "{}", r.text);
    }
}

#[test]
fn custom_fields_and_objects_through_api_and_cli() {
    for backend in backends() {
        let inst = Instance::new(backend);
        // A custom object through the CLI, before the server starts.
        let def = json!({"name": "ticket", "label": "Support ticket", "subject_mode": "inherits", "custom": true, "fields": [
            {"name": "contact", "label": "Contact", "type": {"kind": "reference", "object": "contact"}, "classification": "internal", "subject_link": true, "required": true},
            {"name": "summary", "label": "Summary", "type": {"kind": "text", "max_len": 200}, "classification": "internal"},
            {"name": "complaint", "label": "Complaint", "type": {"kind": "text", "max_len": 5000}, "classification": "personal"}
        ]});
        let out = inst.cli(&["schema", "add-object", &def.to_string()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = inst.cli(&["schema", "add-object", &def.to_string()]);
        assert!(!out.status.success(), "a second object of the same name is refused");

        let srv = inst.start();
        let api = srv.client();
        let r = api.post(
            "/api/v1/objects/contact/fields",
            &json!({"name": "loyalty_id", "label": "Loyalty card", "type": {"kind": "text", "max_len": 40}, "classification": "personal", "blind_index": true}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let r = api.post("/api/v1/objects/contact/fields", &json!({"name": "loyalty_id", "label": "again", "type": {"kind": "bool"}, "classification": "internal"}));
        assert_eq!(r.status, 409);
        let r = api.post("/api/v1/objects/contact/fields", &json!({"name": "Bad Name", "label": "x", "type": {"kind": "bool"}, "classification": "internal"}));
        assert_eq!(r.status, 400);
        let r = api.post("/api/v1/objects/contact/fields", &json!({"name": "x", "label": "x", "type": {"kind": "teleport"}, "classification": "internal"}));
        assert_eq!(r.status, 422);

        let c = api.create("contact", json!({"last_name": "Zhao", "loyalty_id": "LC-778899"}));
        let r = api.get("/api/v1/records/contact?filter.loyalty_id=lc778899");
        assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "custom blind index: {}", r.text);
        let t = api.create("ticket", json!({"contact": c["id"], "summary": "Invoice", "complaint": "Charged twice"}));
        assert_eq!(t["subject_id"], c["subject_id"]);
        let r = api.get("/api/v1/objects/ticket");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["fields"].as_array().unwrap().len(), 3);

        let r = api.get("/api/v1/openapi.json");
        assert_eq!(r.status, 200);
        for p in ["/api/v1/records/{object}", "/api/v1/records/{object}/{id}", "/api/v1/audit", "/api/v1/auth/token", "/api/v1/objects"] {
            assert!(r.body["paths"].get(p).is_some(), "OpenAPI lacks {p}");
        }
    }
}
