//! Object operations: PUT/GET/HEAD/DELETE Object and multi-object delete. Bodies are blobs
//! written before the metadata that points at them commits.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use md5::{Digest, Md5};

use super::common::{
    BLOB_PREFIX, BUCKETS, BucketRecord, CosError, KEPT_HEADERS, MAX_KEY_BYTES, OBJECTS,
    ObjectRecord, Req, bucket_exists, bucket_record, empty, iso8601_ms, now_ms, xml_response,
};
use super::xml;
use crate::localcloud::store::Store;

/// The `cos_objects` key of `key` in `bucket`.
pub(super) fn object_id(bucket: &str, key: &str) -> String {
    format!("{bucket}\0{key}")
}

/// `PUT /<key>`: stores the body (checked against `Content-MD5`), content type and
/// metadata; 200 with the quoted MD5 as `ETag`.
pub(super) fn put_object(store: &Store, req: &Req) -> Result<Response, CosError> {
    let md5 = checked_md5(req)?;
    bucket_record(store, req)?;
    let (content_type, headers) = object_metadata(req);
    let size = req
        .spooled
        .as_ref()
        .map_or(req.body.len() as u64, |s| s.size);
    let record = ObjectRecord {
        size,
        etag: hex::encode(md5),
        content_type,
        last_modified_ms: now_ms(),
        headers,
        blob: new_blob_name(),
    };
    match &req.spooled {
        Some(spooled) => store_object_with(store, req, &record, |store| {
            store.put_blob_file(&record.blob, &spooled.path).map(|_| ())
        })?,
        None => store_object(store, req, &record, &req.body)?,
    }
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", record.etag)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// A fresh, unique object blob name.
pub(super) fn new_blob_name() -> String {
    format!("{BLOB_PREFIX}{}", uuid::Uuid::new_v4().simple())
}

/// Makes `record` (whose blob will hold `body`) the request's object: the blob is durable
/// before the metadata that points at it commits, and the blob it replaces goes after.
pub(super) fn store_object(
    store: &Store,
    req: &Req,
    record: &ObjectRecord,
    body: &[u8],
) -> Result<(), CosError> {
    store_object_with(store, req, record, |store| {
        store.put_blob(&record.blob, body).map(|_| ())
    })
}

/// [`store_object`] with the blob written by `write_blob` (durably, before the commit).
fn store_object_with(
    store: &Store,
    req: &Req,
    record: &ObjectRecord,
    write_blob: impl FnOnce(&Store) -> Result<(), crate::localcloud::store::StoreError>,
) -> Result<(), CosError> {
    write_blob(store)?;
    let id = object_id(&req.bucket, &req.key);
    let committed = store.write(|tx| -> Result<Option<ObjectRecord>, CosError> {
        bucket_exists(tx, req)?;
        let old = tx.get::<ObjectRecord>(OBJECTS, &id)?;
        tx.put(OBJECTS, &id, record)?;
        Ok(old)
    });
    match committed {
        Ok(old) => {
            if let Some(old) = old {
                store.delete_blob(&old.blob);
            }
            Ok(())
        }
        Err(e) => {
            store.delete_blob(&record.blob);
            Err(e)
        }
    }
}

/// `PUT /<key>` with `x-cos-copy-source: {bucket}.cos.{region}.myqcloud.com/{key}`: copies an
/// object of this account; `x-cos-metadata-directive: Replaced` takes the content type and
/// metadata from this request instead of the source.
pub(super) fn copy_object(store: &Store, req: &Req, appid: u64) -> Result<Response, CosError> {
    let source = req
        .headers
        .get("x-cos-copy-source")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let (src_bucket, src_region, src_key) = parse_copy_source(&source).ok_or_else(|| {
        CosError::bad_request(
            "InvalidArgument",
            "x-cos-copy-source must be <bucket-appid>.cos.<region>.myqcloud.com/<key>.",
        )
    })?;
    if super::common::bucket_appid(&src_bucket)? != appid {
        return Err(CosError::forbidden(
            "AccessDenied",
            "Access Denied. The source bucket belongs to another account.",
        ));
    }
    let replace = req
        .headers
        .get("x-cos-metadata-directive")
        .is_some_and(|d| d.as_bytes().eq_ignore_ascii_case(b"Replaced"));
    if !replace && src_bucket == req.bucket && src_key == req.key {
        return Err(CosError::bad_request(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata.",
        ));
    }
    bucket_record(store, req)?;
    match store.get::<BucketRecord>(BUCKETS, &src_bucket)? {
        Some(b) if b.region == src_region => {}
        _ => return Err(CosError::no_such_bucket()),
    }
    let src: ObjectRecord = store
        .get(OBJECTS, &object_id(&src_bucket, &src_key))?
        .ok_or_else(CosError::no_such_key)?;
    // A source replaced or deleted since we read its metadata is gone, as far as we know.
    let body = std::fs::read(store.blob_path(&src.blob)).map_err(|_| CosError::no_such_key())?;
    let (content_type, headers) = if replace {
        object_metadata(req)
    } else {
        (src.content_type, src.headers)
    };
    let record = ObjectRecord {
        size: body.len() as u64,
        etag: hex::encode(Md5::digest(&body)),
        content_type,
        last_modified_ms: now_ms(),
        headers,
        blob: new_blob_name(),
    };
    store_object(store, req, &record, &body)?;
    let xml = xml::render(&xml::CopyObjectResult {
        etag: format!("\"{}\"", record.etag),
        last_modified: iso8601_ms(record.last_modified_ms),
    });
    xml_response(xml)
}

/// `(bucket, region, key)` of an `x-cos-copy-source` value (optionally with a scheme, a
/// `?versionId=`, and the key percent-encoded).
pub(super) fn parse_copy_source(source: &str) -> Option<(String, String, String)> {
    let source = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"))
        .unwrap_or(source);
    let (host, path) = source.split_once('/')?;
    let (bucket, region) = super::common::bucket_host(host)?;
    let path = path.split_once("?versionId=").map_or(path, |(p, _)| p);
    let key = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!key.is_empty()).then(|| (bucket.to_owned(), region.to_owned(), key))
}

/// The body's MD5, checked against `Content-MD5` when the request sent one.
pub(super) fn checked_md5(req: &Req) -> Result<[u8; 16], CosError> {
    let md5: [u8; 16] = match &req.spooled {
        Some(s) => s.md5,
        None => Md5::digest(&req.body).into(),
    };
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
    Ok(md5)
}

/// The `Content-Type` (default `application/octet-stream`) and the kept headers
/// (`x-cos-meta-*`, [`KEPT_HEADERS`]) a PUT or an initiated upload gives the object, byte for
/// byte.
pub(super) fn object_metadata(req: &Req) -> (String, BTreeMap<String, String>) {
    let raw = |name: &str| req.headers.get(name).map(|v| raw_text(v.as_bytes()));
    let headers = req
        .headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| n.starts_with("x-cos-meta-") || KEPT_HEADERS.contains(n))
        .filter_map(|n| Some((n.to_owned(), raw(n)?)))
        .collect();
    let content_type = raw("content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
    (content_type, headers)
}

/// Header bytes kept losslessly in a JSON string: one `char` per byte (Latin-1), whatever
/// encoding the client used.
pub(super) fn raw_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The bytes [`raw_text`] kept.
pub(super) fn raw_bytes(text: &str) -> Vec<u8> {
    text.chars().filter_map(|c| u8::try_from(c).ok()).collect()
}

/// `Last-Modified` format, `Wed, 25 Nov 2026 19:36:13 GMT`.
pub(super) fn rfc1123(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `GET /<key>` and, without the body, `HEAD /<key>`: honours one byte range, `If-Match`,
/// `If-None-Match` and `response-*` overrides.
pub(super) fn get_object(store: &Store, req: &Req, with_body: bool) -> Result<Response, CosError> {
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
    let etag = format!("\"{}\"", record.etag);
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
    // `response-*` parameters override what was stored (as UTF-8 bytes).
    let mut headers = record.headers.clone();
    headers.insert("content-type".to_owned(), record.content_type.clone());
    for name in KEPT_HEADERS.iter().chain(&["content-type"]) {
        if let Some(v) = req.param(&format!("response-{name}")) {
            headers.insert((*name).to_owned(), raw_text(v.as_bytes()));
        }
    }
    for (name, value) in &headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&raw_bytes(value)),
        ) {
            builder = builder.header(n, v);
        }
    }
    builder
        .body(Body::from(body))
        .map_err(|e| CosError::internal(e.to_string()))
}

/// Whether an `If-Match`/`If-None-Match` list names `etag` (or is `*`).
pub(super) fn etag_listed(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|t| {
        t == "*" || t == etag || t.strip_prefix("W/") == Some(etag) || format!("\"{t}\"") == etag
    })
}

/// A single `bytes=` range of an object of `size` bytes, as inclusive `(first, last)`; `None`
/// when the header is to be ignored (malformed or several ranges, as RFC 9110 allows), `Err`
/// when it cannot be satisfied.
pub(super) fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
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

/// `DELETE /<key>`: 204, whether or not the key existed.
pub(super) fn delete_object(store: &Store, req: &Req) -> Result<Response, CosError> {
    delete_keys(store, req, std::slice::from_ref(&req.key))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Deletes `keys` (missing ones are fine) in one transaction, then their blobs.
pub(super) fn delete_keys(store: &Store, req: &Req, keys: &[String]) -> Result<(), CosError> {
    let old = store.write(|tx| -> Result<Vec<ObjectRecord>, CosError> {
        bucket_exists(tx, req)?;
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
pub(super) fn delete_objects(store: &Store, req: &Req) -> Result<Response, CosError> {
    let malformed = || {
        CosError::bad_request(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published \
             schema.",
        )
    };
    checked_md5(req)?;
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
    xml_response(body)
}
