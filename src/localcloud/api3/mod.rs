//! API 3.0 control plane. SKELETON: the api3 helper fills this in.

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};

use super::LocalCloud;

/// Handles one API 3.0 request.
pub async fn handle(_cloud: &LocalCloud, _req: Request<Body>) -> Response {
    axum::http::StatusCode::NOT_FOUND.into_response()
}
