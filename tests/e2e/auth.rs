//! Sign-in through the real binary: lockout with backoff, a role that requires TOTP, recovery
//! codes and replayed codes, sessions (idle timeout, sign-out, no fixation), scoped and expiring
//! API tokens, and address allow-lists (at sign-in, on every request, behind a trusted proxy).

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

const PASSWORD: &str = "auth test passphrase 7";

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

fn sign_in(base: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    let mut rb = http().post(format!("{base}/api/v1/auth/token")).json(&body);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let text = r.text().unwrap();
    let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if let Some(s) = retry {
        body["retry_after_header"] = json!(s);
    }
    Reply { status, body, text }
}

fn with_token(base: &str, token: &str) -> Api {
    Api { base: base.into(), token: token.into(), http: http() }
}

fn add_user(admin: &Api, name: &str, roles: &[&str]) -> String {
    let r = admin.post("/api/v1/users", &json!({"username": name, "password": PASSWORD, "roles": roles}));
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

#[test]
fn brute_force_is_throttled_and_on_record() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        add_user(&admin, "target", &["sales"]);
        for i in 0..5 {
            let r = sign_in(&srv.base, json!({"username": "target", "password": format!("wrong guess {i}")}), &[]);
            assert_eq!(r.status, 401, "{}", r.text);
        }
        // Locked now: even the right password is refused until the lock runs out.
        let r = sign_in(&srv.base, json!({"username": "target", "password": PASSWORD}), &[]);
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "locked_out");
        let secs: i64 = r.body["retry_after_header"].as_str().unwrap().parse().unwrap();
        assert!((1..=15).contains(&secs), "{secs}");
        // Another account is not affected by this one's lock.
        add_user(&admin, "bystander", &["sales"]);
        let r = sign_in(&srv.base, json!({"username": "bystander", "password": PASSWORD}), &[]);
        assert_eq!(r.status, 200, "{}", r.text);
        let denied = admin.get("/api/v1/audit?action=login&outcome=denied&limit=100").body["entries"].as_array().cloned().unwrap();
        assert!(denied.iter().filter(|e| e["actor"] == "target").count() >= 6);
        assert!(denied.iter().any(|e| e["detail"].as_str().unwrap().contains("locked out")));
        assert!(!denied.iter().any(|e| e.to_string().contains("wrong guess")), "passwords never reach the audit trail");
        assert!(!srv.log().contains("wrong guess"), "nor the log");
    }
}

#[test]
fn a_role_that_requires_totp_cannot_sign_in_without_the_code() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        // A role of one's own: manager, but with a second factor required, and a fresh one for reveals.
        let mut role = admin.get("/api/v1/roles").body.as_array().unwrap().iter().find(|r| r["name"] == "manager").unwrap().clone();
        role["name"] = json!("secure_manager");
        role["require_mfa"] = json!(true);
        role["reveal_requires_mfa"] = json!(true);
        let r = admin.send("PUT", "/api/v1/roles/secure_manager", Some(&role));
        assert_eq!(r.status, 200, "{}", r.text);
        let careful_id = add_user(&admin, "careful", &["secure_manager"]);
        let r = admin.post("/api/v1/records/contact", &json!({"fields": {"last_name": "Caller", "phone": "+1 415 555 0123"}, "owner_id": careful_id}));
        assert_eq!(r.status, 201, "{}", r.text);
        let contact = r.body["id"].as_str().unwrap().to_string();

        // First sign-in: only a token for enrolling.
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD}), &[]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["mfa_enrolment_required"], true);
        let enrol = with_token(&srv.base, r.body["token"].as_str().unwrap());
        let r = enrol.get("/api/v1/records/contact?limit=1");
        assert_eq!(r.status, 403, "an enrolment token reads nothing: {}", r.text);
        assert_eq!(r.body["error"]["code"], "mfa_enrolment_required");
        let e = enrol.post("/api/v1/me/mfa/enrol", &json!({}));
        assert_eq!(e.status, 200, "{}", e.text);
        assert!(e.body["qr_svg"].as_str().unwrap().starts_with("<?xml") || e.body["qr_svg"].as_str().unwrap().contains("<svg"));
        assert!(e.body["otpauth_url"].as_str().unwrap().starts_with("otpauth://totp/"));
        let secret = e.body["secret"].as_str().unwrap().to_string();
        let bad = enrol.post("/api/v1/me/mfa/confirm", &json!({"code": "000000"}));
        assert_eq!(bad.status, 401, "{}", bad.text);
        let code = capcrm::auth::mfa::code_now(&secret).unwrap();
        let ok = enrol.post("/api/v1/me/mfa/confirm", &json!({ "code": code }));
        assert_eq!(ok.status, 200, "{}", ok.text);
        let recovery: Vec<String> = ok.body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        assert_eq!(recovery.len(), 10);
        assert_eq!(enrol.get("/api/v1/me").status, 401, "the enrolment token ends with enrolment");
        // The secret is sealed at rest.
        let stored = inst.raw_query_strings("SELECT totp_sealed FROM users WHERE username = 'careful'");
        assert!(!stored[0][0].clone().unwrap().contains(&secret));

        // Without the code: refused. With a wrong one, or the one already used: refused.
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD}), &[]);
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (401, Some("mfa_required")), "{}", r.text);
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD, "totp": "123456"}), &[]);
        assert_eq!(r.status, 401, "{}", r.text);
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD, "totp": code}), &[]);
        assert_eq!(r.status, 401, "a code is accepted once: {}", r.text);
        // A recovery code works once.
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD, "recovery_code": recovery[0]}), &[]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.body.get("mfa_enrolment_required").is_none());
        let session = with_token(&srv.base, r.body["token"].as_str().unwrap());
        let reveal = || session.post(&format!("/api/v1/records/contact/{contact}/reveal"), &json!({"field": "phone", "reason": "call back the customer"}));
        assert_eq!(reveal().status, 200, "just signed in with a second factor: fresh");
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD, "recovery_code": recovery[0]}), &[]);
        assert_eq!(r.status, 401, "{}", r.text);
        // Five minutes later a reveal asks for a fresh code; the next time step's code gives it.
        inst.raw_sql(&format!("UPDATE api_tokens SET mfa_at = 1 WHERE user_id = '{careful_id}'"));
        let r = reveal();
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("mfa_required")), "{}", r.text);
        let wait_next_step = || {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            std::thread::sleep(Duration::from_secs(30 - now % 30 + 1));
        };
        wait_next_step();
        let step_up = capcrm::auth::mfa::code_now(&secret).unwrap();
        assert_eq!(session.post("/api/v1/me/mfa/verify", &json!({"code": "999999"})).status, 401);
        assert_eq!(session.post("/api/v1/me/mfa/verify", &json!({ "code": step_up })).status, 204);
        let r = reveal();
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["value"], "+1 415 555 0123");
        // The next time step's code signs in.
        wait_next_step();
        let next = capcrm::auth::mfa::code_now(&secret).unwrap();
        let r = sign_in(&srv.base, json!({"username": "careful", "password": PASSWORD, "totp": next}), &[]);
        assert_eq!(r.status, 200, "{}", r.text);
        let logins = admin.get("/api/v1/audit?action=login&limit=100").body["entries"].as_array().cloned().unwrap();
        assert!(logins.iter().any(|e| e["actor"] == "careful" && e["detail"].as_str().unwrap().contains("second factor missing")));
        assert!(logins.iter().any(|e| e["actor"] == "careful" && e["detail"].as_str().unwrap().contains("with a second factor")));
        assert!(!logins.iter().any(|e| e.to_string().contains(&secret)));
    }
}

#[test]
fn sessions_tokens_and_address_rules() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let mut cmd = inst.command(&["serve", "--listen", "127.0.0.1:0"]);
        cmd.env("CAPCRM_SESSION_IDLE_SECS", "5");
        let srv = Server::start(cmd);
        let admin = srv.client();
        let uid = add_user(&admin, "worker", &["sales"]);

        // Every sign-in gets a fresh random token (nothing a caller supplies becomes a session);
        // signing out ends exactly that session.
        let a = Api::login(&srv.base, "worker", PASSWORD);
        let b = Api::login(&srv.base, "worker", PASSWORD);
        assert_ne!(a.token, b.token);
        assert_eq!(a.post("/api/v1/auth/logout", &json!({})).status, 204);
        assert_eq!(a.get("/api/v1/me").status, 401);
        assert_eq!(b.get("/api/v1/me").status, 200);
        // Idle for longer than the idle timeout: the session is over.
        std::thread::sleep(Duration::from_secs(7));
        assert_eq!(b.get("/api/v1/me").status, 401, "idle timeout");

        // API tokens: scoped, and never more than the person.
        let admin = srv.client();
        let me = Api::login(&srv.base, "worker", PASSWORD);
        let r = me.post("/api/v1/tokens", &json!({"name": "reporting", "scopes": ["records:read"], "expires_in_days": 30}));
        assert_eq!(r.status, 201, "{}", r.text);
        let token_id = r.body["id"].as_str().unwrap().to_string();
        let machine = with_token(&srv.base, r.body["token"].as_str().unwrap());
        assert_eq!(machine.get("/api/v1/records/contact?limit=1").status, 200);
        let w = machine.post("/api/v1/records/contact", &json!({"fields": {"last_name": "Nope"}}));
        assert_eq!(w.status, 403, "a read-only token does not write: {}", w.text);
        assert_eq!(machine.post("/api/v1/tokens", &json!({"name": "x", "scopes": ["admin"], "expires_in_days": 1})).status, 403, "tokens do not mint tokens");
        let r = me.post("/api/v1/tokens", &json!({"name": "forever", "scopes": ["records:read"], "expires_in_days": 5000}));
        assert_eq!(r.status, 400, "{}", r.text);
        let r = me.post("/api/v1/tokens", &json!({"name": "odd", "scopes": ["root"], "expires_in_days": 1}));
        assert_eq!(r.status, 422, "{}", r.text);
        let adm = admin.post("/api/v1/tokens", &json!({"name": "ops", "scopes": ["records:read", "audit:read"], "expires_in_days": 1}));
        let ops = with_token(&srv.base, adm.body["token"].as_str().unwrap());
        assert_eq!(ops.get("/api/v1/audit?limit=1").status, 200);
        assert_eq!(ops.get("/api/v1/users").status, 403, "admin work needs the admin scope");
        // Expiry and revocation.
        let listed = me.get("/api/v1/tokens").body;
        assert!(listed.as_array().unwrap().iter().any(|t| t["id"] == token_id.as_str() && t["kind"] == "api"), "{listed}");
        assert!(!listed.to_string().contains(&machine.token), "listings never show a token");
        assert_eq!(me.delete(&format!("/api/v1/tokens/{token_id}")).status, 204);
        assert_eq!(machine.get("/api/v1/records/contact?limit=1").status, 401, "revoked");
        inst.raw_sql("UPDATE api_tokens SET expires_at = 1 WHERE name = 'ops'");
        assert_eq!(ops.get("/api/v1/audit?limit=1").status, 401, "expired");

        // Address rules: at sign-in, and on every request.
        let r = admin.patch(&format!("/api/v1/users/{uid}"), &json!({"ip_allow": ["10.0.0.0/8"]}));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(me.get("/api/v1/me").status, 403, "a session from outside the list stops at once");
        let r = sign_in(&srv.base, json!({"username": "worker", "password": PASSWORD}), &[]);
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("ip_not_allowed")), "{}", r.text);
        // A forwarded address from an untrusted peer is ignored...
        let r = sign_in(&srv.base, json!({"username": "worker", "password": PASSWORD}), &[("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(r.status, 403, "{}", r.text);
        let r = admin.patch(&format!("/api/v1/users/{uid}"), &json!({"ip_allow": ["10.0.0.0/8", "nonsense"]}));
        assert_eq!(r.status, 400, "{}", r.text);
        let denied = admin.get("/api/v1/audit?outcome=denied&limit=100").body["entries"].as_array().cloned().unwrap();
        assert!(denied.iter().any(|e| e["action"] == "access.ip"), "the blocked request is on record");
        assert!(denied.iter().any(|e| e["action"] == "login" && e["detail"].as_str().unwrap().contains("address not allowed")));
        srv.stop();
        // Behind a configured reverse proxy, its `X-Forwarded-For` names the client.
        let srv = Server::start(inst.command(&["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", "127.0.0.1/32"]));
        let r = sign_in(&srv.base, json!({"username": "worker", "password": PASSWORD}), &[("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(r.status, 200, "{}", r.text);
        let worker = with_token(&srv.base, r.body["token"].as_str().unwrap());
        let r = worker.send_raw("GET", "/api/v1/me", None, &[("x-forwarded-for", "192.168.9.9")]);
        assert_eq!(r.status, 403, "each request is checked with its own forwarded address: {}", r.text);
        let r = sign_in(&srv.base, json!({"username": "worker", "password": PASSWORD}), &[("x-forwarded-for", "192.168.9.9, 10.1.2.3")]);
        assert_eq!(r.status, 200, "the right-most untrusted hop counts, not what the client wrote first: {}", r.text);
        drop(srv);
        let out = inst.cli(&["audit", "verify"]);
        assert!(out.status.success());
    }
}

#[test]
fn cookie_sessions_need_csrf_and_cannot_be_fixed() {
    for backend in backends() {
        let inst = Instance::new(backend);
        let srv = inst.start();
        let admin = srv.client();
        add_user(&admin, "browser", &["sales"]);
        let http = reqwest::blocking::Client::new();
        // A session id planted by an attacker before sign-in is never adopted.
        let planted = "cap_attackerchosenvalueattackerchosenvalue000";
        let r = http
            .post(format!("{}/api/v1/auth/session", srv.base))
            .header("cookie", format!("capcrm_session={planted}"))
            .json(&json!({"username": "browser", "password": PASSWORD}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let body: Value = r.json().unwrap();
        let session = cookies.iter().find(|c| c.starts_with("capcrm_session=")).unwrap().clone();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(session.contains(attr), "{attr} in {session}");
        }
        let csrf_cookie = cookies.iter().find(|c| c.starts_with("capcrm_csrf=")).unwrap();
        assert!(!csrf_cookie.contains("HttpOnly"), "the page reads the CSRF token");
        let token = session.trim_start_matches("capcrm_session=").split(';').next().unwrap().to_string();
        assert_ne!(token, planted);
        let csrf = body["csrf_token"].as_str().unwrap().to_string();
        let jar = format!("capcrm_session={token}");
        let get = |path: &str| http.get(format!("{}{path}", srv.base)).header("cookie", &jar).send().unwrap().status().as_u16();
        assert_eq!(get("/api/v1/me"), 200, "the cookie signs requests in");
        let planted_jar = format!("capcrm_session={planted}");
        assert_eq!(http.get(format!("{}/api/v1/me", srv.base)).header("cookie", planted_jar).send().unwrap().status().as_u16(), 401);
        // A change needs the CSRF token; a cross-site form cannot know it.
        let post = |csrf: Option<&str>| {
            let mut rb = http.post(format!("{}/api/v1/records/contact", srv.base)).header("cookie", &jar).json(&json!({"fields": {"last_name": "Forged"}}));
            if let Some(c) = csrf {
                rb = rb.header("x-csrf-token", c);
            }
            let r = rb.send().unwrap();
            (r.status().as_u16(), r.text().unwrap())
        };
        let (s, t) = post(None);
        assert_eq!(s, 403, "{t}");
        assert!(t.contains("csrf_failed"));
        assert_eq!(post(Some("0000000000000000000000000000000000000000")).0, 403);
        assert_eq!(post(Some(&csrf)).0, 201);
        // Signing out ends the cookie session and clears the cookies.
        let r = http.post(format!("{}/api/v1/auth/logout", srv.base)).header("cookie", &jar).header("x-csrf-token", &csrf).send().unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert!(r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("capcrm_session=;")));
        assert_eq!(get("/api/v1/me"), 401);
        let forged = admin.get("/api/v1/records/contact?limit=200").body["records"].as_array().unwrap().iter().filter(|r| r["fields"]["last_name"] == "Forged").count();
        assert_eq!(forged, 1, "only the request with the CSRF token wrote");
    }
}
