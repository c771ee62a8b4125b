//! Requests and responses of the plugin's routes (the WIT `http` interface).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;

/// A request routed to the plugin: `method`, `path` (below `/plugins/{name}`), raw `query`,
/// `headers` and `body`.
pub use crate::bindings::exports::capcrm::plugin::http::Request;

/// The plugin's answer: `status`, `headers` and `body`. The host adds its own security headers.
pub use crate::bindings::exports::capcrm::plugin::http::Response;

impl Request {
    /// Whether this is `method` on exactly `path` (the query string does not count).
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path == path
    }

    /// The first value of query parameter `name`, percent-decoded (`+` as a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .trim_start_matches('?')
            .split('&')
            .find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k) == name).then(|| percent_decode(v))
            })
    }

    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The host's opaque name for the client (`x-capcrm-client`): a keyed digest of its address,
    /// the same for one client all day and different for every plugin. For rate limits; it
    /// reveals nothing of the address. `None` when the host does not know the client.
    pub fn client(&self) -> Option<&str> {
        self.header("x-capcrm-client")
    }

    /// The body decoded as JSON; [`Error::InvalidInput`](crate::Error::InvalidInput) if it does
    /// not fit `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `value` as a JSON body with `content-type: application/json`. Should `value` fail to
    /// serialise (a map with non-string keys), the answer is a 500 with no body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status)
                .with_header("content-type", "application/json")
                .with_body(body),
            Err(_) => Self::new(500),
        }
    }

    /// `text` as a `text/plain; charset=utf-8` body.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(text.into().into_bytes())
    }

    /// `404 Not Found` with a short text body; what [`Plugin::on_http`](crate::Plugin::on_http)
    /// answers by default.
    pub fn not_found() -> Self {
        Self::text(404, "not found")
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Reads a route's body as `T`: JSON, or a form post (`application/x-www-form-urlencoded`, each
/// field a string). The error says what is wrong (where the JSON breaks, an unknown or missing
/// field by name) and never repeats a value that was sent, which may be someone's address.
pub fn form_or_json<T: DeserializeOwned>(content_type: &str, body: &[u8]) -> core::result::Result<T, String> {
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let map = form_fields(body)?;
        return serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| describe_body_error("the form", &e));
    }
    serde_json::from_slice(body).map_err(|e| describe_body_error("the body", &e))
}

/// Describes why a body did not fit without quoting it: serde's own messages quote the value
/// they met. Field names are kept when they look like field names (a key of any other shape may
/// be anything the sender typed).
pub fn describe_body_error(what: &str, e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("{what} is malformed JSON at line {} column {}", e.line(), e.column()),
        Category::Data => {
            let m = e.to_string();
            let m = m.split(" at line ").next().unwrap_or_default();
            let named = m.split('`').nth(1).unwrap_or_default();
            let plain_name = !named.is_empty() && named.len() <= 40 && named.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if m.starts_with("unknown field") && !plain_name {
                format!("{what} does not fit: it has a field this route does not take")
            } else if m.starts_with("unknown field") || m.starts_with("missing field") || (m.starts_with('`') && plain_name) {
                // The last: a plugin's own deserializer naming the field it refuses.
                format!("{what} does not fit: {m}")
            } else {
                format!("{what} does not fit: a value has the wrong type for its field (text fields take a JSON string)")
            }
        }
        Category::Io => format!("{what} could not be read"),
    }
}

/// The fields of a form post (`application/x-www-form-urlencoded`) as a JSON object of strings,
/// ready for `serde_json::from_value` into the plugin's own type. Refuses a body that is not UTF-8.
pub fn form_fields(body: &[u8]) -> core::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = core::str::from_utf8(body).map_err(|_| "the form is not UTF-8".to_string())?;
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(percent_decode(k), serde_json::Value::String(percent_decode(v)));
    }
    Ok(map)
}

/// Decodes `application/x-www-form-urlencoded` text: `%XX` escapes, `+` as a space; a bad escape
/// stays as it is.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (
            bytes[i],
            bytes.get(i + 1).and_then(hex),
            bytes.get(i + 2).and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => Some(hi << 4 | lo),
            _ => None,
        };
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> Request {
        Request {
            method: "GET".into(),
            path: "/run".into(),
            query: query.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"{\"a\":1}".to_vec(),
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let r = request("id=01%2F90&name=Ada+L&flag");
        assert_eq!(r.query_param("id").as_deref(), Some("01/90"));
        assert_eq!(r.query_param("name").as_deref(), Some("Ada L"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert!(r.is("get", "/run"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.client(), None);
        assert_eq!(r.json::<serde_json::Value>().unwrap()["a"], 1);
    }

    #[test]
    fn json_response_has_content_type() {
        let r = Response::json(200, &serde_json::json!({"greeted": 3}));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"greeted\":3}");
        assert_eq!(
            r.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(Response::not_found().status, 404);
    }
}
