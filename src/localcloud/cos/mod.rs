//! COS XML API. SKELETON: the COS helper fills this in.

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};

use super::LocalCloud;

/// `Some("bucket-appid", "region")` when `host` is a COS bucket host.
pub fn bucket_host(host: &str) -> Option<(&str, &str)> {
    let host = host.split(':').next()?;
    let rest = host.strip_suffix(".myqcloud.com")?;
    let (bucket, region) = rest.split_once(".cos.")?;
    Some((bucket, region))
}

/// Handles one COS request.
pub async fn handle(_cloud: &LocalCloud, _bucket: (&str, &str), _req: Request<Body>) -> Response {
    axum::http::StatusCode::NOT_FOUND.into_response()
}
