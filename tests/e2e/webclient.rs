//! A browser-like HTTP client for the web UI's tests: keeps cookies, follows no redirects, sends a
//! chosen `Accept-Language`.

#![allow(dead_code)]

use std::collections::BTreeMap;

/// A browser-like client without a browser: keeps cookies, follows no redirects.
pub struct Web {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub cookies: BTreeMap<String, String>,
    pub lang: &'static str,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Web {
    pub fn new(base: &str) -> Web {
        // No pooled connections: a refused oversized body ends its connection.
        let http = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).danger_accept_invalid_certs(true).pool_max_idle_per_host(0).build().unwrap();
        Web { base: base.into(), http, cookies: BTreeMap::new(), lang: "en" }
    }

    fn keep(&mut self, r: &reqwest::blocking::Response) {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if v.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), v.into());
            }
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn done(&mut self, r: reqwest::blocking::Response) -> Page {
        self.keep(&r);
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        let headers = r.headers().clone();
        Page { status, location, headers, body: r.text().unwrap_or_default() }
    }

    pub fn get(&mut self, path: &str) -> Page {
        let r = self.http.get(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).header("accept-language", self.lang).send().unwrap();
        self.done(r)
    }

    pub fn post(&mut self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut rb = self.http.post(format!("{}{path}", self.base)).header("cookie", self.cookie_header()).header("accept-language", self.lang).form(form);
        if let Some(o) = origin {
            rb = rb.header("origin", o);
        }
        let r = rb.send().unwrap();
        self.done(r)
    }

    pub fn csrf(&self) -> String {
        self.cookies.get("capcrm_csrf").cloned().unwrap_or_default()
    }

    /// The value of a hidden `_csrf` input on a page.
    pub fn form_token(body: &str) -> String {
        let i = body.find("name=\"_csrf\" value=\"").expect("a form with a CSRF token") + 20;
        body[i..i + body[i..].find('"').unwrap()].to_string()
    }

    /// Signs in through the form (no second factor) and answers the redirect.
    pub fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let page = self.get("/login");
        let token = Web::form_token(&page.body);
        self.post("/login", &[("_csrf", &token), ("username", user), ("password", password), ("next", "/")], None)
    }

    /// Every page answers in English and in Simplified Chinese, says its language, and lacks no text.
    pub fn assert_in_both_languages(&mut self, pages: &[&str]) {
        self.cookies.remove("capcrm_lang");
        for lang in ["en", "zh-CN"] {
            self.lang = if lang == "en" { "en-GB,en;q=0.9" } else { "zh-CN,zh;q=0.9" };
            for path in pages {
                let p = self.get(path);
                assert_eq!(p.status, 200, "{path} in {lang}: {}", p.body);
                assert!(p.body.contains(&format!("<html lang=\"{lang}\">")), "{path} in {lang}");
                assert!(!p.body.contains(">?<") && !p.body.contains("\"?\""), "{path} in {lang} lacks a text");
            }
        }
    }
}
