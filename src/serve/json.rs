//! JSON bodies, byte for byte what the CLI prints with `--json`: pretty, with a final newline.

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub fn json_body(value: &impl serde::Serialize) -> Bytes {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| {
        serde_json::json!({"error": format!("cannot encode JSON: {e}")}).to_string()
    });
    text.push('\n');
    Bytes::from(text)
}

pub fn json_response(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"error": "...", "code": "..."}` with the given status, for failures that have no report
/// to show: a stable `code` for programs, a short `error` for people. Never a path, a host, a
/// user or a database name: those stay in the server's log.
pub fn json_error(status: StatusCode, code: &'static str, error: &str) -> Response {
    json_response(status, json_body(&error_body(code, error)))
}

pub fn error_body(code: &'static str, error: &str) -> serde_json::Value {
    serde_json::json!({ "error": error, "code": code })
}
