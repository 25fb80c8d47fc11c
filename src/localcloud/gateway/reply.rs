//! The gateway's own answers: the errNo values and the `{"errNo":N,"errMsg":"…"}` reply (the
//! table in the module docs of [`super`]). A leaf every gateway file imports.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// errNo: no such connection (never was, or closed).
pub const ERR_CONNECTION_NOT_FOUND: i64 = 1;
/// errNo: the connection's outbound queue overflowed; it is being closed.
pub const ERR_QUEUE_FULL: i64 = 2;
/// errNo: malformed request.
pub const ERR_BAD_REQUEST: i64 = 3;
/// errNo: no such API / no released WebSocket API at that URL.
pub const ERR_NO_API: i64 = 4;
/// errNo: the register function failed or answered nonsense.
pub const ERR_BACKEND: i64 = 5;
/// errNo: too many connections on the API.
pub const ERR_LIMIT: i64 = 6;
/// errNo: the local cloud itself failed.
pub const ERR_INTERNAL: i64 = 7;

/// `{"errNo":N,"errMsg":"…"}` with `status`.
pub(crate) fn reply(status: StatusCode, err_no: i64, err_msg: impl Into<String>) -> Response {
    let body = json!({ "errNo": err_no, "errMsg": err_msg.into() }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
