//! What every COS operation shares: the tables and their records, the decoded request, the
//! error type and the small response builders. A leaf: the operation files (`bucket`, `object`,
//! `multipart`), signature checks (`auth`) and the HTTP entry (`mod.rs`) import it, it imports
//! none of them.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::localcloud::store::{Store, StoreError, Txn};

pub(super) const BUCKETS: &str = "cos_buckets";
pub(super) const OBJECTS: &str = "cos_objects";
pub(super) const BLOB_PREFIX: &str = "cos-";

/// Largest object body accepted by a simple PUT (COS allows 5 GB; we hold bodies in memory).
pub(super) const MAX_BODY: usize = 1 << 30;
/// COS's object key limit, in UTF-8 bytes.
pub(super) const MAX_KEY_BYTES: usize = 850;
/// Records read per store scan while listing.
pub(super) const SCAN_CHUNK: usize = 1000;

/// Stored headers, besides `Content-Type`, that GET/HEAD Object return as they were PUT.
pub(super) const KEPT_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// `Some(("bucket-appid", "region"))` when `host` (with or without a port) is a COS bucket host,
/// `{bucket}.cos.{region}.myqcloud.com` or `….tencentcos.cn`.
pub fn bucket_host(host: &str) -> Option<(&str, &str)> {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let rest = host
        .strip_suffix(".myqcloud.com")
        .or_else(|| host.strip_suffix(".tencentcos.cn"))?;
    let (bucket, region) = rest.split_once(".cos.")?;
    if bucket.is_empty() || region.is_empty() || region.contains('.') {
        return None;
    }
    Some((bucket, region))
}

/// A bucket as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct BucketRecord {
    pub(super) region: String,
    pub(super) created_ms: i64,
}

/// An object's metadata as stored; the body is the blob `blob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ObjectRecord {
    pub(super) size: u64,
    /// The ETag, unquoted: the body's hex MD5, or `{hex}-{parts}` for a multipart upload.
    pub(super) etag: String,
    pub(super) content_type: String,
    pub(super) last_modified_ms: i64,
    /// `x-cos-meta-*` and [`KEPT_HEADERS`], lowercase names; values byte for byte, one `char`
    /// per byte (see `object::raw_text`).
    pub(super) headers: BTreeMap<String, String>,
    pub(super) blob: String,
}

/// A COS error: status, code and message; rendered as the `<Error>` document.
#[derive(Debug, Clone)]
pub(super) struct CosError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl CosError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        CosError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(super) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(super) fn no_such_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
    }

    pub(super) fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    pub(super) fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("The local cloud does not implement {what}."),
        )
    }
}

impl From<StoreError> for CosError {
    fn from(e: StoreError) -> Self {
        tracing::error!("cos: {e}");
        CosError::internal("We encountered an internal error. Please try again.")
    }
}

/// One request, decoded.
#[derive(Debug)]
pub(super) struct Req {
    pub(super) method: Method,
    pub(super) bucket: String,
    pub(super) region: String,
    /// Decoded object key; empty for bucket operations.
    pub(super) key: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    /// A large PUT's body (object or part), written to a file as it arrived instead of into
    /// `body`.
    pub(super) spooled: Option<Spooled>,
}

/// A request body streamed to a temporary blob file (fsync'd), with its size and MD5.
#[derive(Debug)]
pub(super) struct Spooled {
    pub(super) path: std::path::PathBuf,
    pub(super) size: u64,
    pub(super) md5: [u8; 16],
}

impl Drop for Spooled {
    fn drop(&mut self) {
        // Renamed into place when the object was stored; otherwise nothing references it.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// PUTs (objects, parts) announcing more than this (or no length) stream their body to disk.
pub(super) const SPOOL_OVER: u64 = 8 * 1024 * 1024;

impl Req {
    /// The request without its body.
    pub(super) fn clone_head(&self) -> Req {
        Req {
            method: self.method.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            key: self.key.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            body: Bytes::new(),
            spooled: None,
        }
    }

    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

pub(super) fn method_not_allowed() -> CosError {
    CosError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

/// The APPID suffix of `name-appid`, once the whole name is checked against COS's rules.
pub(super) fn bucket_appid(bucket: &str) -> Result<u64, CosError> {
    let invalid = || {
        CosError::bad_request(
            "InvalidBucketName",
            "The specified bucket is not valid: use name-APPID with lowercase letters, digits and \
             '-'.",
        )
    };
    let (name, appid) = bucket.rsplit_once('-').ok_or_else(invalid)?;
    let name_ok = (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !name_ok || appid.is_empty() || !appid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    appid.parse().map_err(|_| invalid())
}

/// The request's bucket, if it exists in the request's region.
pub(super) fn bucket_record(store: &Store, req: &Req) -> Result<BucketRecord, CosError> {
    match store.get::<BucketRecord>(BUCKETS, &req.bucket)? {
        Some(b) if b.region == req.region => Ok(b),
        _ => Err(CosError::no_such_bucket()),
    }
}

/// Inside a write transaction: the request's bucket exists in the request's region.
pub(super) fn bucket_exists(tx: &mut Txn<'_>, req: &Req) -> Result<(), CosError> {
    match tx.get::<BucketRecord>(BUCKETS, &req.bucket)? {
        Some(b) if b.region == req.region => Ok(()),
        _ => Err(CosError::no_such_bucket()),
    }
}

/// A header value as text, for signing: UTF-8 when it is, else Latin-1 — what Python's
/// `http.client` puts on the wire for a non-ASCII `str`, which the SDK signed as that `str`.
pub(super) fn header_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// A 200 response carrying an XML document.
pub(super) fn xml_response(body: String) -> Result<Response, CosError> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .map_err(|e| CosError::internal(e.to_string()))
}

/// A bodiless response.
pub(super) fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .unwrap_or_default()
}

/// Listing `LastModified` format, `2026-11-25T19:36:13.000Z`.
pub(super) fn iso8601_ms(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!(
        "{}.{:03}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000)
    )
}
