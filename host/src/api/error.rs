//! One error type for every handler: precise for client mistakes, opaque for internals.

use crate::access::AccessError;
use crate::auth::AuthError;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (lockouts).
    pub retry_after: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code (`malformed_json`, `unknown_field`, `integrity_error`, ...).
    pub code: String,
    /// What went wrong, for a person. Never contains a field value.
    pub message: String,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError { status, code, message: message.into(), retry_after: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        AppError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // Logged once here; the response hides the detail.
            tracing::error!(code = self.code, error = %self.message, "request failed");
        }
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR && self.code == "internal_error" {
            "internal error; the server log has the details".to_string()
        } else {
            self.message
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message } };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs.max(1) as u64));
        }
        resp
    }
}

impl From<AccessError> for AppError {
    fn from(e: AccessError) -> Self {
        use crate::model::validate::ValidationError as V;
        let msg = e.to_string();
        match e {
            AccessError::UnknownObject(_) => AppError::new(StatusCode::NOT_FOUND, "unknown_object", msg),
            AccessError::NotFound { .. } => AppError::new(StatusCode::NOT_FOUND, "not_found", msg),
            AccessError::Denied(_) => AppError::new(StatusCode::FORBIDDEN, "forbidden", msg),
            AccessError::Invalid(V::UnknownField { .. }) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_field", msg),
            AccessError::Invalid(V::WrongType { .. }) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", msg),
            AccessError::Invalid(V::Required { .. }) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", msg),
            AccessError::BadRequest(_) => AppError::new(StatusCode::BAD_REQUEST, "bad_request", msg),
            AccessError::Conflict(_) => AppError::new(StatusCode::CONFLICT, "conflict", msg),
            AccessError::RateLimited(_) => AppError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", msg),
            AccessError::MfaRequired(_) => AppError::new(StatusCode::FORBIDDEN, "mfa_required", msg),
            AccessError::Integrity(_) => AppError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "integrity_error",
                "integrity error: stored data failed its authenticity check (altered or moved in the database); the event is in the audit trail",
            ),
            AccessError::Internal(_) => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", msg),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        let msg = e.to_string();
        match e {
            AuthError::BadCredentials | AuthError::BadToken => AppError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg),
            AuthError::WeakPassword(_) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", msg),
            AuthError::UserExists(_) => AppError::new(StatusCode::CONFLICT, "conflict", msg),
            AuthError::Throttled { retry_after } => {
                let mut e = AppError::new(StatusCode::TOO_MANY_REQUESTS, "locked_out", msg);
                e.retry_after = Some(retry_after);
                e
            }
            AuthError::MfaRequired => AppError::new(StatusCode::UNAUTHORIZED, "mfa_required", msg),
            AuthError::BadMfaCode => AppError::new(StatusCode::UNAUTHORIZED, "bad_mfa_code", msg),
            AuthError::IpNotAllowed => AppError::new(StatusCode::FORBIDDEN, "ip_not_allowed", msg),
            AuthError::Invalid(_) => AppError::new(StatusCode::BAD_REQUEST, "bad_request", msg),
            AuthError::Store(_) | AuthError::Hash(_) | AuthError::Key(_) => AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", msg),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                AppError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send the body as JSON with `Content-Type: application/json`")
            }
            JsonRejection::JsonSyntaxError(e) => AppError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {}", strip_values(&e.body_text()))),
            JsonRejection::JsonDataError(e) => AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", format!("the body does not have the expected shape: {}", strip_values(&e.body_text()))),
            JsonRejection::BytesRejection(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is larger than the limit (1 MiB)")
                } else {
                    AppError::new(e.status(), "bad_body", "the request body could not be read")
                }
            }
            other => AppError::new(other.status(), "bad_body", "the request body could not be read"),
        }
    }
}

/// serde's messages quote offending input values in double quotes (names go in backticks): drop them.
fn strip_values(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        if c == '"' {
            if !in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
            continue;
        }
        if !in_quote {
            out.push(c);
        }
    }
    out
}

/// A JSON body extractor whose rejections are [`AppError`]s in the common format.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_quoted_values() {
        let s = super::strip_values(r#"invalid type: string "canary-secret", expected a map at line 1"#);
        assert!(!s.contains("canary"), "{s}");
    }
}
