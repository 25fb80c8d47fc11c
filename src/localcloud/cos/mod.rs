//! COS XML API (API-FACTS §5): buckets, objects and listing, routed by
//! `Host: {bucket-appid}.cos.{region}.myqcloud.com`, with q-sign verification and COS's XML
//! errors.
//!
//! Storage: bucket records in the `cos_buckets` table keyed by the full bucket name; object
//! metadata in `cos_objects` keyed `"{bucket}\0{key}"`, so a prefix scan pages through one
//! bucket in UTF-8 byte order; object bodies are blobs named `cos-{uuid}`. A PUT writes its
//! blob (fsync + rename) *before* the transaction that points at it commits, and deletes the
//! blob it replaced only after; a crash in between leaves an unreferenced blob, which
//! [`sweep_orphan_blobs`] removes at the next start.

mod auth;
mod header_case;
mod xml;

use std::collections::{BTreeMap, HashSet};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::LocalCloud;
use super::store::{Store, StoreError};
use crate::providers::tencent::cos_sign;

const BUCKETS: &str = "cos_buckets";
const OBJECTS: &str = "cos_objects";
const BLOB_PREFIX: &str = "cos-";

/// Largest object body accepted by a simple PUT (COS allows 5 GB; we hold bodies in memory).
const MAX_BODY: usize = 1 << 30;
/// COS's object key limit, in UTF-8 bytes.
const MAX_KEY_BYTES: usize = 850;
/// Records read per store scan while listing.
const SCAN_CHUNK: usize = 1000;

/// Stored headers, besides `Content-Type`, that GET/HEAD Object return as they were PUT.
const KEPT_HEADERS: [&str; 5] = [
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
struct BucketRecord {
    region: String,
    created_ms: i64,
}

/// An object's metadata as stored; the body is the blob `blob`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObjectRecord {
    size: u64,
    /// Hex MD5, unquoted.
    md5: String,
    content_type: String,
    last_modified_ms: i64,
    /// `x-cos-meta-*` and [`KEPT_HEADERS`], lowercase names.
    headers: BTreeMap<String, String>,
    blob: String,
}

/// A COS error: status, code and message; rendered as the `<Error>` document.
#[derive(Debug, Clone)]
pub(crate) struct CosError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl CosError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        CosError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn no_such_bucket() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
    }

    fn no_such_key() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    fn not_implemented(what: &str) -> Self {
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
struct Req {
    method: Method,
    bucket: String,
    region: String,
    /// Decoded object key; empty for bucket operations.
    key: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
}

impl Req {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Handles one COS request; every failure becomes a COS `<Error>` response.
pub async fn handle(cloud: &LocalCloud, bucket: (&str, &str), req: Request<Body>) -> Response {
    let request_id = new_request_id();
    let (parts, body) = req.into_parts();
    let is_head = parts.method == Method::HEAD;
    let method = parts.method.clone();
    let resource = format!(
        "{}.cos.{}.myqcloud.com{}",
        bucket.0,
        bucket.1,
        parts.uri.path()
    );
    let result = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(e) => Err(CosError::bad_request(
            "IncompleteBody",
            format!("The request body could not be read: {e}"),
        )),
        Ok(body) => {
            let (bucket, region) = (bucket.0.to_owned(), bucket.1.to_owned());
            let cloud = cloud.clone();
            // Store calls block (redb commits and blob files are fsync'd).
            tokio::task::spawn_blocking(move || {
                let req = decode(parts, bucket, region, body)?;
                serve(&cloud, req)
            })
            .await
            .unwrap_or_else(|e| {
                tracing::error!("cos handler failed: {e}");
                Err(CosError::internal("The request failed unexpectedly."))
            })
        }
    };
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("cos {method} {resource}: {} {}", e.code, e.message);
            error_response(&e, &resource, &request_id, is_head)
        }
    };
    tracing::debug!("cos {method} {resource} -> {}", response.status());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-cos-request-id", v);
    }
    response
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("tencent-cos"));
    response
        .extensions_mut()
        .extend(header_case::extensions().clone());
    response
}

fn new_request_id() -> String {
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().simple().to_string())
}

fn error_response(e: &CosError, resource: &str, request_id: &str, is_head: bool) -> Response {
    let mut builder = Response::builder().status(e.status);
    if is_head {
        return builder
            .header(header::CONTENT_LENGTH, "0")
            .body(Body::empty())
            .unwrap_or_default();
    }
    let body = xml::render(&xml::ErrorBody {
        code: e.code,
        message: &e.message,
        resource,
        request_id,
        trace_id: request_id,
    });
    builder = builder
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, body.len());
    builder.body(Body::from(body)).unwrap_or_default()
}

/// Decodes the path (percent-encoded UTF-8) and the query (`+` is a space, as `requests`
/// encodes it).
fn decode(
    parts: axum::http::request::Parts,
    bucket: String,
    region: String,
    body: Bytes,
) -> Result<Req, CosError> {
    let invalid_uri = || CosError::bad_request("InvalidURI", "Couldn't parse the specified URI.");
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8()
        .map_err(|_| invalid_uri())?;
    let key = path.strip_prefix('/').unwrap_or(&path).to_owned();
    let mut query = Vec::new();
    for pair in parts.uri.query().unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| invalid_uri())
        };
        query.push((dec(k)?, dec(v)?));
    }
    Ok(Req {
        method: parts.method,
        bucket,
        region,
        key,
        query,
        headers: parts.headers,
        body,
    })
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Authenticates, checks the bucket name and ownership, and runs the operation.
fn serve(cloud: &LocalCloud, req: Req) -> Result<Response, CosError> {
    let path = format!("/{}", req.key);
    auth::verify(
        cloud.account(),
        &auth::Signed {
            method: req.method.as_str(),
            path: &path,
            query: &req.query,
            headers: &req.headers,
        },
        now_ms().div_euclid(1000),
    )?;
    let appid = bucket_appid(&req.bucket)?;
    if appid != cloud.account().appid {
        return Err(CosError::forbidden(
            "AccessDenied",
            "Access Denied. The bucket belongs to another account.",
        ));
    }
    check_params(&req)?;
    let store = cloud.store();
    if req.key.is_empty() {
        match req.method {
            Method::PUT => put_bucket(store, &req),
            Method::HEAD => head_bucket(store, &req),
            Method::DELETE => delete_bucket(store, &req),
            Method::GET => list_objects(store, &req, appid),
            Method::POST if req.param("delete").is_some() => delete_objects(store, &req),
            _ => Err(method_not_allowed()),
        }
    } else {
        if req.key.len() > MAX_KEY_BYTES {
            return Err(CosError::bad_request(
                "KeyTooLong",
                format!("Your key is too long; the limit is {MAX_KEY_BYTES} bytes."),
            ));
        }
        match req.method {
            Method::PUT => put_object(store, &req),
            Method::GET => get_object(store, &req, true),
            Method::HEAD => get_object(store, &req, false),
            Method::DELETE => delete_object(store, &req),
            _ => Err(method_not_allowed()),
        }
    }
}

fn method_not_allowed() -> CosError {
    CosError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

/// The APPID suffix of `name-appid`, once the whole name is checked against COS's rules.
fn bucket_appid(bucket: &str) -> Result<u64, CosError> {
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

/// Refuses sub-resources (`?acl`, `?uploads`, …) this emulator does not implement, rather than
/// misreading them as plain object or bucket operations.
fn check_params(req: &Req) -> Result<(), CosError> {
    const LIST: [&str; 5] = ["prefix", "delimiter", "marker", "max-keys", "encoding-type"];
    for (name, _) in &req.query {
        let ok = auth::is_auth_param(name)
            || (req.key.is_empty() && req.method == Method::GET && LIST.contains(&name.as_str()))
            || (!req.key.is_empty() && req.method == Method::GET && name.starts_with("response-"))
            || (req.key.is_empty() && req.method == Method::POST && name == "delete");
        if !ok {
            return Err(CosError::not_implemented(&format!(
                "the `{name}` parameter on {} {}",
                req.method,
                if req.key.is_empty() {
                    "Bucket"
                } else {
                    "Object"
                }
            )));
        }
    }
    if req.headers.contains_key("x-cos-copy-source") {
        return Err(CosError::not_implemented("PUT Object - Copy"));
    }
    Ok(())
}

fn bucket_record(store: &Store, req: &Req) -> Result<BucketRecord, CosError> {
    match store.get::<BucketRecord>(BUCKETS, &req.bucket)? {
        Some(b) if b.region == req.region => Ok(b),
        _ => Err(CosError::no_such_bucket()),
    }
}

fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, "0")
        .body(Body::empty())
        .unwrap_or_default()
}

fn put_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
    store.write(|tx| -> Result<(), CosError> {
        if tx.get::<BucketRecord>(BUCKETS, &req.bucket)?.is_some() {
            return Err(CosError::new(
                StatusCode::CONFLICT,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already \
                 own it.",
            ));
        }
        tx.put(
            BUCKETS,
            &req.bucket,
            &BucketRecord {
                region: req.region.clone(),
                created_ms: now_ms(),
            },
        )?;
        Ok(())
    })?;
    Ok(empty(StatusCode::OK))
}

fn head_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
    let bucket = bucket_record(store, req)?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&bucket.region) {
        resp.headers_mut().insert("x-cos-bucket-region", v);
    }
    Ok(resp)
}

fn delete_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
    let prefix = format!("{}\0", req.bucket);
    store.write(|tx| -> Result<(), CosError> {
        match tx.get::<BucketRecord>(BUCKETS, &req.bucket)? {
            Some(b) if b.region == req.region => {}
            _ => return Err(CosError::no_such_bucket()),
        }
        if tx.any_with_prefix(OBJECTS, &prefix)? {
            return Err(CosError::new(
                StatusCode::CONFLICT,
                "BucketNotEmpty",
                "The bucket you tried to delete is not empty.",
            ));
        }
        tx.delete(BUCKETS, &req.bucket)?;
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn object_id(bucket: &str, key: &str) -> String {
    format!("{bucket}\0{key}")
}

fn put_object(store: &Store, req: &Req) -> Result<Response, CosError> {
    let md5 = Md5::digest(&req.body);
    if let Some(want) = req.headers.get("content-md5") {
        let want = base64::engine::general_purpose::STANDARD
            .decode(want.as_bytes())
            .map_err(|_| {
                CosError::bad_request(
                    "InvalidDigest",
                    "The Content-MD5 you specified is not valid.",
                )
            })?;
        if want.as_slice() != md5.as_slice() {
            return Err(CosError::bad_request(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    bucket_record(store, req)?;
    let text = |name: &str| {
        req.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let headers: BTreeMap<String, String> = req
        .headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| n.starts_with("x-cos-meta-") || KEPT_HEADERS.contains(n))
        .filter_map(|n| Some((n.to_owned(), text(n)?)))
        .collect();
    let record = ObjectRecord {
        size: req.body.len() as u64,
        md5: hex::encode(md5),
        content_type: text("content-type").unwrap_or_else(|| "application/octet-stream".to_owned()),
        last_modified_ms: now_ms(),
        headers,
        blob: format!("{BLOB_PREFIX}{}", uuid::Uuid::new_v4().simple()),
    };

    // The body is durable before the metadata that points at it commits.
    store.put_blob(&record.blob, &req.body)?;
    let id = object_id(&req.bucket, &req.key);
    let committed = store.write(|tx| -> Result<Option<ObjectRecord>, CosError> {
        match tx.get::<BucketRecord>(BUCKETS, &req.bucket)? {
            Some(b) if b.region == req.region => {}
            _ => return Err(CosError::no_such_bucket()),
        }
        let old = tx.get::<ObjectRecord>(OBJECTS, &id)?;
        tx.put(OBJECTS, &id, &record)?;
        Ok(old)
    });
    match committed {
        Ok(old) => {
            if let Some(old) = old {
                store.delete_blob(&old.blob);
            }
        }
        Err(e) => {
            store.delete_blob(&record.blob);
            return Err(e);
        }
    }
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", record.md5)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

fn rfc1123(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn iso8601_ms(ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!(
        "{}.{:03}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ms.rem_euclid(1000)
    )
}

fn get_object(store: &Store, req: &Req, with_body: bool) -> Result<Response, CosError> {
    bucket_record(store, req)?;
    let id = object_id(&req.bucket, &req.key);
    // A concurrent PUT may replace the object and delete its old blob between our metadata read
    // and our open; reading the metadata again then finds the new blob.
    let mut attempts = 0;
    let (record, body) = loop {
        let record = store
            .get::<ObjectRecord>(OBJECTS, &id)?
            .ok_or_else(CosError::no_such_key)?;
        if !with_body {
            break (record, Vec::new());
        }
        match std::fs::read(store.blob_path(&record.blob)) {
            Ok(body) => break (record, body),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(e) => {
                tracing::error!("cos: reading blob {}: {e}", record.blob);
                return Err(CosError::internal("The object's data could not be read."));
            }
        }
    };
    let etag = format!("\"{}\"", record.md5);
    let last_modified = rfc1123(record.last_modified_ms);
    let condition = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(tags) = condition("if-match")
        && !etag_listed(tags, &etag)
    {
        return Err(CosError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the preconditions you specified did not hold.",
        ));
    }
    if let Some(tags) = condition("if-none-match")
        && etag_listed(tags, &etag)
    {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, &etag)
            .header(header::LAST_MODIFIED, &last_modified)
            .body(Body::empty())
            .map_err(|e| CosError::internal(e.to_string()));
    }
    let range = match condition("range").and_then(|r| parse_range(r, record.size)) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(())) => {
            return Err(CosError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable.",
            ));
        }
    };
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, last_modified)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-cos-storage-class", "STANDARD");
    let body = match range {
        Some((first, last)) => {
            builder = builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_LENGTH, last - first + 1)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {first}-{last}/{}", record.size),
                );
            if with_body {
                // In range: first <= last < size == body.len().
                body[first as usize..=last as usize].to_vec()
            } else {
                body
            }
        }
        None => {
            builder = builder
                .status(StatusCode::OK)
                .header(header::CONTENT_LENGTH, record.size);
            body
        }
    };
    let content_type = req
        .param("response-content-type")
        .unwrap_or(&record.content_type);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        builder = builder.header(header::CONTENT_TYPE, v);
    }
    let mut headers = record.headers.clone();
    for name in KEPT_HEADERS {
        if let Some(v) = req.param(&format!("response-{name}")) {
            headers.insert(name.to_owned(), v.to_owned());
        }
    }
    for (name, value) in &headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder = builder.header(n, v);
        }
    }
    builder
        .body(Body::from(body))
        .map_err(|e| CosError::internal(e.to_string()))
}

/// Whether an `If-Match`/`If-None-Match` list names `etag` (or is `*`).
fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| {
        t == "*" || t == etag || t.strip_prefix("W/") == Some(etag) || format!("\"{t}\"") == etag
    })
}

/// A single `bytes=` range of an object of `size` bytes, as inclusive `(first, last)`; `None`
/// when the header is to be ignored (malformed or several ranges, as RFC 9110 allows), `Err`
/// when it cannot be satisfied.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let n: u64 = last.parse().ok()?;
        if n == 0 || size == 0 {
            return Some(Err(()));
        }
        return Some(Ok((size.saturating_sub(n), size - 1)));
    }
    let first: u64 = first.parse().ok()?;
    let last = match last {
        "" => u64::MAX,
        l => l.parse().ok()?,
    };
    if last < first {
        return None;
    }
    if first >= size {
        return Some(Err(()));
    }
    Some(Ok((first, last.min(size - 1))))
}

fn delete_object(store: &Store, req: &Req) -> Result<Response, CosError> {
    delete_keys(store, req, std::slice::from_ref(&req.key))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Deletes `keys` (missing ones are fine) in one transaction, then their blobs.
fn delete_keys(store: &Store, req: &Req, keys: &[String]) -> Result<(), CosError> {
    let old = store.write(|tx| -> Result<Vec<ObjectRecord>, CosError> {
        match tx.get::<BucketRecord>(BUCKETS, &req.bucket)? {
            Some(b) if b.region == req.region => {}
            _ => return Err(CosError::no_such_bucket()),
        }
        let mut old = Vec::new();
        for key in keys {
            let id = object_id(&req.bucket, key);
            if let Some(record) = tx.get::<ObjectRecord>(OBJECTS, &id)? {
                tx.delete(OBJECTS, &id)?;
                old.push(record);
            }
        }
        Ok(old)
    })?;
    for record in old {
        store.delete_blob(&record.blob);
    }
    Ok(())
}

/// `POST /?delete`: up to 1000 keys in a `<Delete>` document.
fn delete_objects(store: &Store, req: &Req) -> Result<Response, CosError> {
    let malformed = || {
        CosError::bad_request(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published \
             schema.",
        )
    };
    if let Some(want) = req.headers.get("content-md5") {
        let md5 = Md5::digest(&req.body);
        if base64::engine::general_purpose::STANDARD
            .encode(md5)
            .as_bytes()
            != want.as_bytes()
        {
            return Err(CosError::bad_request(
                "BadDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let text = std::str::from_utf8(&req.body).map_err(|_| malformed())?;
    let doc: xml::DeleteRequest = quick_xml::de::from_str(text).map_err(|_| malformed())?;
    if doc.objects.is_empty() || doc.objects.len() > 1000 {
        return Err(malformed());
    }
    let quiet = doc
        .quiet
        .as_deref()
        .is_some_and(|q| q.eq_ignore_ascii_case("true"));
    let mut result = xml::DeleteResult::default();
    let mut keys = Vec::new();
    for object in doc.objects {
        if object.key.is_empty() {
            result.errors.push(xml::DeleteError {
                key: object.key,
                code: "InvalidArgument",
                message: "The key is empty.",
            });
        } else if object.key.len() > MAX_KEY_BYTES {
            result.errors.push(xml::DeleteError {
                key: object.key,
                code: "KeyTooLong",
                message: "Your key is too long; the limit is 850 bytes.",
            });
        } else {
            keys.push(object.key);
        }
    }
    delete_keys(store, req, &keys)?;
    if !quiet {
        result.deleted = keys.into_iter().map(|key| xml::Deleted { key }).collect();
    }
    let body = xml::render(&result);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .map_err(|e| CosError::internal(e.to_string()))
}

/// One entry of a listing page, in key order.
#[derive(Debug)]
enum Entry {
    Object(String, ObjectRecord),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Object(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// GET Bucket parameters, validated.
#[derive(Debug)]
struct ListQuery<'a> {
    prefix: &'a str,
    delimiter: Option<&'a str>,
    marker: &'a str,
    max_keys: usize,
}

/// The page of `q` in `bucket`: entries strictly after the marker, common prefixes rolled up,
/// at most `max_keys`; and whether more follow.
fn list_page(
    store: &Store,
    bucket: &str,
    q: &ListQuery<'_>,
) -> Result<(Vec<Entry>, bool), StoreError> {
    let base = format!("{bucket}\0");
    let scan_prefix = format!("{base}{}", q.prefix);
    let mut after = (!q.marker.is_empty()).then(|| format!("{base}{}", q.marker));
    let mut out: Vec<Entry> = Vec::new();
    let mut last_prefix: Option<String> = None;
    if q.max_keys == 0 {
        return Ok((out, false));
    }
    loop {
        let page: Vec<(String, ObjectRecord)> =
            store.scan(OBJECTS, &scan_prefix, after.as_deref(), SCAN_CHUNK)?;
        let full = page.len() == SCAN_CHUNK;
        let Some(last_id) = page.last().map(|(id, _)| id.clone()) else {
            return Ok((out, false));
        };
        after = Some(last_id);
        // The common prefix the page's last key rolls up into, if any.
        let mut tail_prefix: Option<String> = None;
        for (id, record) in page {
            let key = &id[base.len()..];
            let rolled = q.delimiter.and_then(|d| {
                key[q.prefix.len()..]
                    .find(d)
                    .map(|i| &key[..q.prefix.len() + i + d.len()])
            });
            let entry = match rolled {
                Some(p) if last_prefix.as_deref() == Some(p) || p <= q.marker => {
                    // Already returned (here or on an earlier page).
                    tail_prefix = Some(p.to_owned());
                    continue;
                }
                Some(p) => {
                    last_prefix = Some(p.to_owned());
                    tail_prefix = Some(p.to_owned());
                    Entry::Prefix(p.to_owned())
                }
                None => {
                    tail_prefix = None;
                    Entry::Object(key.to_owned(), record)
                }
            };
            if out.len() == q.max_keys {
                return Ok((out, true));
            }
            out.push(entry);
        }
        if !full {
            return Ok((out, false));
        }
        if let Some(p) = tail_prefix {
            // Skip the rest of that common prefix in one seek instead of reading it (keys of a
            // sorted scan roll up into non-decreasing prefixes).
            after = Some(format!("{base}{p}\u{10FFFF}"));
        }
    }
}

fn list_objects(store: &Store, req: &Req, appid: u64) -> Result<Response, CosError> {
    let invalid = |m: &str| CosError::bad_request("InvalidArgument", m.to_owned());
    let max_keys = match req.param("max-keys").unwrap_or("") {
        "" => 1000,
        s => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| invalid("max-keys must be an integer between 0 and 1000."))?,
    };
    let url = match req.param("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => return Err(invalid("encoding-type must be url.")),
    };
    let q = ListQuery {
        prefix: req.param("prefix").unwrap_or(""),
        delimiter: req.param("delimiter").filter(|d| !d.is_empty()),
        marker: req.param("marker").unwrap_or(""),
        max_keys,
    };
    bucket_record(store, req)?;
    let (entries, truncated) = list_page(store, &req.bucket, &q)?;
    let enc = |s: &str| {
        if url {
            cos_sign::encode_path(s)
        } else {
            s.to_owned()
        }
    };
    let owner = appid.to_string();
    let next_marker = if truncated {
        entries.last().map(|e| enc(e.name()))
    } else {
        None
    };
    let mut doc = xml::ListBucketResult {
        name: req.bucket.clone(),
        encoding_type: url.then(|| "url".to_owned()),
        prefix: enc(q.prefix),
        marker: enc(q.marker),
        max_keys,
        delimiter: req.param("delimiter").map(str::to_owned),
        is_truncated: truncated,
        next_marker,
        common_prefixes: Vec::new(),
        contents: Vec::new(),
    };
    for entry in entries {
        match entry {
            Entry::Prefix(p) => doc
                .common_prefixes
                .push(xml::CommonPrefix { prefix: enc(&p) }),
            Entry::Object(key, r) => doc.contents.push(xml::Contents {
                key: enc(&key),
                last_modified: iso8601_ms(r.last_modified_ms),
                etag: format!("\"{}\"", r.md5),
                size: r.size,
                owner: xml::Owner {
                    id: owner.clone(),
                    display_name: owner.clone(),
                },
                storage_class: "STANDARD",
            }),
        }
    }
    let body = xml::render(&doc);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .map_err(|e| CosError::internal(e.to_string()))
}

/// Removes object blobs no committed metadata points at: left by a crash between a PUT's blob
/// write and its commit, or between a commit and the deletion of the blob it replaced. Call
/// before serving.
pub fn sweep_orphan_blobs(store: &Store) -> Result<usize, StoreError> {
    let dir = store.blob_path("");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(source) => return Err(StoreError::Io { path: dir, source }),
    };
    let mut referenced = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, ObjectRecord)> =
            store.scan(OBJECTS, "", after.as_deref(), SCAN_CHUNK)?;
        let full = page.len() == SCAN_CHUNK;
        after = page.last().map(|(id, _)| id.clone());
        referenced.extend(page.into_iter().map(|(_, r)| r.blob));
        if !full {
            break;
        }
    }
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(BLOB_PREFIX) && !referenced.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
