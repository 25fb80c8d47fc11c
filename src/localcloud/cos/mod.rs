//! COS XML API (API-FACTS §5): buckets, objects and listing, routed by
//! `Host: {bucket-appid}.cos.{region}.myqcloud.com`, with q-sign verification and COS's XML
//! errors.
//!
//! Storage: bucket records in the `cos_buckets` table keyed by the full bucket name; object
//! metadata in `cos_objects` keyed `"{bucket}\0{key}"`, so a prefix scan pages through one
//! bucket in UTF-8 byte order; object bodies are blobs named `cos-{uuid}`. A PUT writes its
//! blob (fsync + rename) *before* the transaction that points at it commits, and deletes the
//! blob it replaced only after; a crash in between leaves an unreferenced blob, which
//! [`sweep_orphan_blobs`] removes at the next start. Multipart uploads keep their parts in
//! `cos_uploads`/`cos_parts` (see `multipart`).

mod auth;
mod bucket;
mod common;
mod header_case;
mod multipart;
mod object;
mod xml;

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Request, header};
use axum::response::Response;
use base64::Engine;
use percent_encoding::percent_decode_str;

pub use common::bucket_host;
use common::*;

use super::account::Account;
use super::store::{Store, StoreError};

/// The COS surface: what it reads and writes (the store's COS tables and blobs) and whom it
/// answers (the account's keys), given when the local cloud is built.
#[derive(Debug, Clone)]
pub struct Cos {
    store: Store,
    account: Arc<Account>,
}

impl Cos {
    /// COS over `store`, answering `account`'s signatures.
    pub fn new(store: Store, account: Arc<Account>) -> Self {
        Cos { store, account }
    }

    /// Handles one COS request to `bucket` (`("name-appid", "region")`, from [`bucket_host`]);
    /// every failure becomes a COS `<Error>` response.
    pub async fn handle(&self, bucket: (&str, &str), req: Request<Body>) -> Response {
        handle(self, bucket, req).await
    }
}

async fn handle(cos: &Cos, bucket: (&str, &str), req: Request<Body>) -> Response {
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
    let declared = crate::localcloud::serve::declared_length(&parts.headers);
    let result = async {
        let mut req = decode(parts, bucket.0.to_owned(), bucket.1.to_owned())?;
        // The signature covers no body bytes: check it, and the bucket's owner, before reading
        // (let alone buffering) a body nobody authorised.
        let (check, account) = (req.clone_head(), cos.account.clone());
        tokio::task::spawn_blocking(move || authorize(&account, &check))
            .await
            .map_err(|e| {
                tracing::error!("cos handler failed: {e}");
                CosError::internal("The request failed unexpectedly.")
            })??;
        if declared.is_some_and(|n| n > MAX_BODY as u64) {
            // Refused before reading it, as COS does.
            return Err(CosError::bad_request(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ));
        }
        let incomplete = |e: &dyn std::fmt::Display| {
            CosError::bad_request(
                "IncompleteBody",
                format!("The request body could not be read: {e}"),
            )
        };
        // A large object or part goes to disk as it arrives, not into memory first.
        let data_put = req.method == Method::PUT
            && !req.key.is_empty()
            && !req.headers.contains_key("x-cos-copy-source");
        if data_put && declared.is_none_or(|n| n > SPOOL_OVER) {
            req.spooled = Some(spool(&cos.store, body).await?);
        } else {
            req.body = axum::body::to_bytes(body, MAX_BODY)
                .await
                .map_err(|e| incomplete(&e))?;
        }
        let store = cos.store.clone();
        // Store calls block (redb commits and blob files are fsync'd).
        tokio::task::spawn_blocking(move || serve(&store, req))
            .await
            .unwrap_or_else(|e| {
                tracing::error!("cos handler failed: {e}");
                Err(CosError::internal("The request failed unexpectedly."))
            })
    }
    .await;
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
    if let Ok(v) = HeaderValue::from_str(&object::rfc1123(now_ms())) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
        .extensions_mut()
        .extend(header_case::extensions().clone());
    response
}

/// Streams `body` into a new temporary blob file, hashing it on the way; at most [`MAX_BODY`].
async fn spool(store: &Store, body: Body) -> Result<Spooled, CosError> {
    use futures_util::StreamExt;
    use md5::Digest;
    use tokio::io::AsyncWriteExt;
    let path = store.blob_path(&format!("{}.part", object::new_blob_name()));
    let failed = |e: std::io::Error| {
        tracing::error!("cos: writing {}: {e}", path.display());
        CosError::internal("We encountered an internal error. Please try again.")
    };
    let mut file =
        tokio::fs::File::from_std(crate::secret::private_file().open(&path).map_err(failed)?);
    // From here on the guard removes the file on every early return.
    let mut spooled = Spooled {
        path: path.clone(),
        size: 0,
        md5: [0; 16],
    };
    let mut md5 = md5::Md5::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            CosError::bad_request(
                "IncompleteBody",
                format!("The request body could not be read: {e}"),
            )
        })?;
        spooled.size += chunk.len() as u64;
        if spooled.size > MAX_BODY as u64 {
            return Err(CosError::bad_request(
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            ));
        }
        md5.update(&chunk);
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.sync_all().await.map_err(failed)?;
    spooled.md5 = md5.finalize().into();
    Ok(spooled)
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
) -> Result<Req, CosError> {
    let invalid_uri = || CosError::bad_request("InvalidURI", "Couldn't parse the specified URI.");
    let path = percent_decode_str(parts.uri.path())
        .decode_utf8()
        .map_err(|_| invalid_uri())?;
    let key = path.strip_prefix('/').unwrap_or(&path).to_owned();
    // NUL separates the parts of our table keys; COS keys never need it.
    if key.contains('\0') {
        return Err(invalid_uri());
    }
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
        body: Bytes::new(),
        spooled: None,
    })
}

/// Authenticates the request (q-sign over method, path, query and headers: never the body) and
/// checks the bucket name and its owner.
fn authorize(account: &Account, req: &Req) -> Result<u64, CosError> {
    let path = format!("/{}", req.key);
    auth::verify(
        account,
        &auth::Signed {
            method: req.method.as_str(),
            path: &path,
            query: &req.query,
            headers: &req.headers,
        },
        now_ms().div_euclid(1000),
    )?;
    let appid = bucket_appid(&req.bucket)?;
    if appid != account.appid {
        return Err(CosError::forbidden(
            "AccessDenied",
            "Access Denied. The bucket belongs to another account.",
        ));
    }
    Ok(appid)
}

/// Runs the operation of a request [`authorize`] accepted.
fn serve(store: &Store, req: Req) -> Result<Response, CosError> {
    let appid = bucket_appid(&req.bucket)?;
    check_params(&req)?;
    if req.key.is_empty() {
        match req.method {
            Method::PUT => bucket::put_bucket(store, &req),
            Method::HEAD => bucket::head_bucket(store, &req),
            Method::DELETE => bucket::delete_bucket(store, &req),
            Method::GET if req.param("uploads").is_some() => {
                multipart::list_uploads(store, &req, appid)
            }
            Method::GET => bucket::list_objects(store, &req, appid),
            Method::POST if req.param("delete").is_some() => object::delete_objects(store, &req),
            _ => Err(method_not_allowed()),
        }
    } else {
        if req.key.len() > MAX_KEY_BYTES {
            return Err(CosError::bad_request(
                "KeyTooLong",
                format!("Your key is too long; the limit is {MAX_KEY_BYTES} bytes."),
            ));
        }
        let multipart = req.param("uploadId").is_some();
        match req.method {
            Method::POST if req.param("uploads").is_some() => multipart::initiate(store, &req),
            Method::POST if multipart => multipart::complete(store, &req),
            Method::PUT if multipart => multipart::upload_part(store, &req),
            Method::GET if multipart => multipart::list_parts(store, &req, appid),
            Method::DELETE if multipart => multipart::abort(store, &req),
            Method::PUT if req.headers.contains_key("x-cos-copy-source") => {
                object::copy_object(store, &req, appid)
            }
            Method::PUT => object::put_object(store, &req),
            Method::GET => object::get_object(store, &req, true),
            Method::HEAD => object::get_object(store, &req, false),
            Method::DELETE => object::delete_object(store, &req),
            _ => Err(method_not_allowed()),
        }
    }
}

/// Refuses sub-resources (`?acl`, `?cors`, `?tagging`, …) this emulator does not implement,
/// rather than misreading them as plain object or bucket operations.
fn check_params(req: &Req) -> Result<(), CosError> {
    let bucket = req.key.is_empty();
    let has = |p: &str| req.param(p).is_some();
    let allowed: &[&str] = match req.method {
        Method::GET if bucket && has("uploads") => &[
            "uploads",
            "prefix",
            "delimiter",
            "key-marker",
            "upload-id-marker",
            "max-uploads",
            "encoding-type",
        ],
        Method::GET if bucket => &["prefix", "delimiter", "marker", "max-keys", "encoding-type"],
        Method::POST if bucket => &["delete"],
        Method::GET if has("uploadId") => &[
            "uploadId",
            "part-number-marker",
            "max-parts",
            "encoding-type",
        ],
        Method::PUT if has("uploadId") => &["uploadId", "partNumber"],
        Method::POST => &["uploads", "uploadId"],
        Method::DELETE => &["uploadId"],
        _ => &[],
    };
    for (name, _) in &req.query {
        let ok = auth::is_auth_param(name)
            || allowed.contains(&name.as_str())
            || (!bucket && req.method == Method::GET && name.starts_with("response-"));
        if !ok {
            return Err(CosError::not_implemented(&format!(
                "the `{name}` parameter on {} {}",
                req.method,
                if bucket { "Bucket" } else { "Object" }
            )));
        }
    }
    if req.headers.contains_key("x-cos-copy-source")
        && (bucket || req.method != Method::PUT || has("uploadId"))
    {
        return Err(CosError::not_implemented(
            "x-cos-copy-source here (only PUT Object - Copy)",
        ));
    }
    Ok(())
}

/// The body of object `key` in `bucket` (full name, `name-appid`) in `region`, `None` when the
/// bucket (in that region) or the object does not exist. For SCF, which reads a function's code
/// package from COS when CreateFunction/UpdateFunctionCode names one; nothing is written.
pub fn object_body(
    store: &Store,
    bucket: &str,
    region: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    match store.get::<BucketRecord>(BUCKETS, bucket)? {
        Some(b) if b.region == region => {}
        _ => return Ok(None),
    }
    let Some(record) = store.get::<ObjectRecord>(OBJECTS, &object::object_id(bucket, key))? else {
        return Ok(None);
    };
    let path = store.blob_path(&record.blob);
    match std::fs::read(&path) {
        Ok(body) => Ok(Some(body)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io { path, source }),
    }
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
    referenced.extend(multipart::part_blobs(store)?);
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
