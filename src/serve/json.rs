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

/// `{"error": "..."}` with the given status, for failures that have no report to show.
pub fn json_error(status: StatusCode, error: &str) -> Response {
    json_response(status, json_body(&serde_json::json!({ "error": error })))
}
