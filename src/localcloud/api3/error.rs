//! The API 3.0 envelope: every answer is HTTP 200 with `Content-Type: application/json` exactly
//! (API-FACTS §1.4: anything else makes the Python SDK ignore errors) and a body
//! `{"Response": {..., "RequestId": "<uuid>"}}` or
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use crate::localcloud::store::StoreError;

/// The exact content type of every API 3.0 answer.
pub const JSON: &str = "application/json";

/// An API 3.0 error: the cloud's code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Dotted error code, e.g. `ResourceNotFound.Function`.
    pub code: Cow<'static, str>,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`. Values the message quotes in backticks (what the
    /// client sent: a `FunctionName`, a path) are cut to [`MAX_ECHO`] characters, and the whole
    /// message to [`MAX_MESSAGE`]: a 10 MB parameter is not sent back whole.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: shorten(message.into()),
        }
    }

    /// `MissingParameter`, naming the parameter.
    pub fn missing(name: &str) -> Self {
        ApiError::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{name}`."),
        )
    }

    /// `InvalidParameter`, for bodies and values of the wrong shape.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new("InvalidParameter", message)
    }

    /// `InternalError`.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new("InternalError", message)
    }
}

/// Longest value echoed inside an error message, in characters.
pub const MAX_ECHO: usize = 64;
/// Longest error message, in characters.
pub const MAX_MESSAGE: usize = 1024;

/// `message` with every backtick-quoted value over [`MAX_ECHO`] characters cut (with `…` and
/// the full length), then the whole over [`MAX_MESSAGE`] cut.
fn shorten(message: String) -> String {
    if message.len() <= MAX_ECHO {
        return message;
    }
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE + 64));
    let mut parts = message.split('`');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for (i, part) in parts.enumerate() {
        out.push('`');
        // Odd pieces (0, 2, … after the first) are inside backticks.
        if i % 2 == 0 && part.chars().count() > MAX_ECHO {
            let cut: String = part.chars().take(MAX_ECHO).collect();
            out.push_str(&format!("{cut}… ({} bytes)", part.len()));
        } else {
            out.push_str(part);
        }
    }
    if out.chars().count() > MAX_MESSAGE {
        out = out.chars().take(MAX_MESSAGE).collect();
        out.push('…');
    }
    out
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("local cloud store: {e}");
        ApiError::internal(format!("internal error in the local cloud: {e}"))
    }
}

/// The success envelope: `fields` plus `RequestId`.
pub fn success(mut fields: Map<String, Value>, request_id: &str) -> Response {
    fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
    respond(StatusCode::OK, json!({ "Response": fields }))
}

/// The error envelope, HTTP 200 as the cloud does.
pub fn failure(err: &ApiError, request_id: &str) -> Response {
    failure_with_status(StatusCode::OK, err, request_id)
}

/// The error envelope with another HTTP status (only for requests that are not API 3.0 at all).
pub fn failure_with_status(status: StatusCode, err: &ApiError, request_id: &str) -> Response {
    respond(
        status,
        json!({ "Response": {
            "Error": { "Code": err.code, "Message": err.message },
            "RequestId": request_id,
        }}),
    )
}

fn respond(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, JSON)
        .body(Body::from(body.to_string()))
        .expect("static headers are valid")
}
