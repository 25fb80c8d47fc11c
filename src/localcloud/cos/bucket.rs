//! Bucket operations: PUT/HEAD/DELETE Bucket and GET Bucket (the listing, with prefixes,
//! delimiters and marker paging).

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use super::common::{
    BUCKETS, BucketRecord, CosError, OBJECTS, ObjectRecord, Req, SCAN_CHUNK, bucket_exists,
    bucket_record, empty, iso8601_ms, now_ms, xml_response,
};
use super::xml;
use crate::localcloud::store::{Store, StoreError};
use crate::providers::tencent::cos_sign;

/// `PUT /`: creates the bucket; creating it again is `BucketAlreadyOwnedByYou`.
pub(super) fn put_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
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

/// `HEAD /`: 200 with `x-cos-bucket-region`, or a bodiless 404.
pub(super) fn head_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
    let bucket = bucket_record(store, req)?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&bucket.region) {
        resp.headers_mut().insert("x-cos-bucket-region", v);
    }
    Ok(resp)
}

/// `DELETE /`: 204; the bucket must be empty.
pub(super) fn delete_bucket(store: &Store, req: &Req) -> Result<Response, CosError> {
    let prefix = format!("{}\0", req.bucket);
    store
        .write(|tx| -> Result<Vec<String>, CosError> {
            bucket_exists(tx, req)?;
            if tx.any_with_prefix(OBJECTS, &prefix)? {
                return Err(CosError::new(
                    StatusCode::CONFLICT,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty.",
                ));
            }
            tx.delete(BUCKETS, &req.bucket)?;
            // Uploads never completed go with the bucket.
            Ok(super::multipart::abort_all(tx, &req.bucket)?)
        })
        .map(|blobs| blobs.iter().for_each(|b| store.delete_blob(b)))?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// One entry of a listing page, in key order.
#[derive(Debug)]
pub(super) enum Entry {
    Object(String, ObjectRecord),
    Prefix(String),
}

impl Entry {
    pub(super) fn name(&self) -> &str {
        match self {
            Entry::Object(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// GET Bucket parameters, validated.
#[derive(Debug)]
pub(super) struct ListQuery<'a> {
    pub(super) prefix: &'a str,
    pub(super) delimiter: Option<&'a str>,
    pub(super) marker: &'a str,
    pub(super) max_keys: usize,
}

/// The page of `q` in `bucket`: entries strictly after the marker, common prefixes rolled up,
/// at most `max_keys`; and whether more follow.
pub(super) fn list_page(
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

/// `GET /`: one page of the listing as `ListBucketResult`.
pub(super) fn list_objects(store: &Store, req: &Req, appid: u64) -> Result<Response, CosError> {
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
                etag: format!("\"{}\"", r.etag),
                size: r.size,
                owner: xml::Owner::of(appid),
                storage_class: "STANDARD",
            }),
        }
    }
    let body = xml::render(&doc);
    xml_response(body)
}
