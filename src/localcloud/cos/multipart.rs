//! Multipart upload, which the SDK's `upload_file` uses for anything over one part (1 MB by
//! default): initiate, upload parts, list parts and uploads, complete, abort.
//!
//! Uploads live in `cos_uploads` keyed `"{bucket}\0{key}\0{upload_id}"` (so one scan lists a
//! bucket's uploads by key, oldest first: ids start with the time); parts in `cos_parts` keyed
//! `"{upload_id}\0{part:05}"`, each part's body a blob. Completing concatenates the listed parts
//! into a new object blob, commits the object and drops the upload in one transaction, then
//! deletes the part blobs.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::common::{
    CosError, OBJECTS, ObjectRecord, Req, bucket_exists, bucket_record, empty, iso8601_ms, now_ms,
    xml_response,
};
use super::object::{checked_md5, new_blob_name, object_id, object_metadata};
use super::xml;
use crate::localcloud::store::{Store, StoreError};
use crate::providers::tencent::cos_sign;

/// Table of uploads in progress.
pub(super) const UPLOADS: &str = "cos_uploads";
/// Table of uploaded parts.
pub(super) const PARTS: &str = "cos_parts";

/// COS's smallest part, except the last.
const MIN_PART: u64 = 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;

/// An upload in progress: what the object will carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UploadRecord {
    content_type: String,
    headers: BTreeMap<String, String>,
    initiated_ms: i64,
}

/// One uploaded part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PartRecord {
    size: u64,
    /// Hex MD5, unquoted.
    md5: String,
    last_modified_ms: i64,
    pub(super) blob: String,
}

fn upload_id_key(bucket: &str, key: &str, upload_id: &str) -> String {
    format!("{bucket}\0{key}\0{upload_id}")
}

fn part_key(upload_id: &str, number: u32) -> String {
    format!("{upload_id}\0{number:05}")
}

fn no_such_upload() -> CosError {
    CosError::new(
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified multipart upload does not exist.",
    )
}

fn upload_id_param(req: &Req) -> &str {
    req.param("uploadId").unwrap_or_default()
}

/// The upload named by the request, if it exists.
fn upload(store: &Store, req: &Req) -> Result<UploadRecord, CosError> {
    let id = upload_id_param(req);
    store
        .get(UPLOADS, &upload_id_key(&req.bucket, &req.key, id))?
        .ok_or_else(no_such_upload)
}

/// `POST /<key>?uploads`: starts an upload; the object's content type and metadata are taken
/// now, as COS does.
pub(super) fn initiate(store: &Store, req: &Req) -> Result<Response, CosError> {
    let now = now_ms();
    let upload_id = format!(
        "{now:013}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..19]
    );
    let (content_type, headers) = object_metadata(req);
    store.write(|tx| -> Result<(), CosError> {
        bucket_exists(tx, req)?;
        tx.put(
            UPLOADS,
            &upload_id_key(&req.bucket, &req.key, &upload_id),
            &UploadRecord {
                content_type,
                headers,
                initiated_ms: now,
            },
        )?;
        Ok(())
    })?;
    xml_response(xml::render(&xml::InitiateMultipartUploadResult {
        bucket: req.bucket.clone(),
        key: req.key.clone(),
        upload_id,
    }))
}

/// `PUT /<key>?partNumber=N&uploadId=ID`: stores (or replaces) one part.
pub(super) fn upload_part(store: &Store, req: &Req) -> Result<Response, CosError> {
    let number: u32 = req
        .param("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            CosError::bad_request(
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
        })?;
    let md5 = checked_md5(req)?;
    let upload_key = upload_id_key(&req.bucket, &req.key, upload_id_param(req));
    let part = PartRecord {
        size: req
            .spooled
            .as_ref()
            .map_or(req.body.len() as u64, |s| s.size),
        md5: hex::encode(md5),
        last_modified_ms: now_ms(),
        blob: new_blob_name(),
    };
    match &req.spooled {
        Some(spooled) => store.put_blob_file(&part.blob, &spooled.path)?,
        None => store.put_blob(&part.blob, &req.body)?,
    };
    let committed = store.write(|tx| -> Result<Option<PartRecord>, CosError> {
        if tx.get::<UploadRecord>(UPLOADS, &upload_key)?.is_none() {
            return Err(no_such_upload());
        }
        let key = part_key(upload_id_param(req), number);
        let old = tx.get::<PartRecord>(PARTS, &key)?;
        tx.put(PARTS, &key, &part)?;
        Ok(old)
    });
    match committed {
        Ok(old) => {
            if let Some(old) = old {
                store.delete_blob(&old.blob);
            }
        }
        Err(e) => {
            store.delete_blob(&part.blob);
            return Err(e);
        }
    }
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", part.md5)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `GET /<key>?uploadId=ID`: the parts uploaded so far, in order, paged by part number.
pub(super) fn list_parts(store: &Store, req: &Req, appid: u64) -> Result<Response, CosError> {
    let invalid = |m: &str| CosError::bad_request("InvalidArgument", m.to_owned());
    let max_parts = match req.param("max-parts").unwrap_or("") {
        "" => 1000,
        s => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| invalid("max-parts must be an integer between 0 and 1000."))?,
    };
    let marker: u32 = match req.param("part-number-marker").unwrap_or("") {
        "" => 0,
        s => s
            .parse()
            .map_err(|_| invalid("part-number-marker must be an integer."))?,
    };
    let url = url_encoding(req)?;
    upload(store, req)?;
    let id = upload_id_param(req);
    let prefix = format!("{id}\0");
    let after = (marker > 0).then(|| part_key(id, marker));
    let mut parts: Vec<(String, PartRecord)> =
        store.scan(PARTS, &prefix, after.as_deref(), max_parts + 1)?;
    let truncated = parts.len() > max_parts;
    parts.truncate(max_parts);
    let number = |k: &str| k[prefix.len()..].parse::<u32>().unwrap_or_default();
    let owner = xml::Owner::of(appid);
    xml_response(xml::render(&xml::ListPartsResult {
        bucket: req.bucket.clone(),
        encoding_type: url.then(|| "url".to_owned()),
        key: encode_if(url, &req.key),
        upload_id: id.to_owned(),
        initiator: owner.clone(),
        owner,
        storage_class: "STANDARD",
        part_number_marker: marker,
        next_part_number_marker: parts.last().map(|(k, _)| number(k)).unwrap_or(marker),
        max_parts,
        is_truncated: truncated,
        parts: parts
            .iter()
            .map(|(k, p)| xml::Part {
                part_number: number(k),
                last_modified: iso8601_ms(p.last_modified_ms),
                etag: format!("\"{}\"", p.md5),
                size: p.size,
            })
            .collect(),
    }))
}

/// `POST /<key>?uploadId=ID`: joins the listed parts into the object.
pub(super) fn complete(store: &Store, req: &Req) -> Result<Response, CosError> {
    let malformed = || {
        CosError::bad_request(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published \
             schema.",
        )
    };
    let text = std::str::from_utf8(&req.body).map_err(|_| malformed())?;
    let doc: xml::CompleteMultipartUpload =
        quick_xml::de::from_str(text).map_err(|_| malformed())?;
    if doc.parts.is_empty() {
        return Err(malformed());
    }
    if doc
        .parts
        .windows(2)
        .any(|w| w[0].part_number >= w[1].part_number)
    {
        return Err(CosError::bad_request(
            "InvalidPartOrder",
            "The list of parts was not in ascending order.",
        ));
    }
    let upload = upload(store, req)?;
    let id = upload_id_param(req);
    let invalid_part = |n: u32| {
        CosError::bad_request(
            "InvalidPart",
            format!("Part {n} has not been uploaded, or its ETag does not match."),
        )
    };
    // The parts are joined file to file, never all in memory.
    let joined = store.blob_path(&format!("{}.part", new_blob_name()));
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| StoreError::Io { path, source }
    };
    let mut out = crate::secret::private_file()
        .open(&joined)
        .map_err(io(&joined))?;
    let cleanup = JoinedFile(joined.clone());
    let mut size = 0u64;
    let mut md5s = Vec::new();
    let last = doc.parts.len() - 1;
    for (i, listed) in doc.parts.iter().enumerate() {
        let part: PartRecord = store
            .get(PARTS, &part_key(id, listed.part_number))?
            .ok_or_else(|| invalid_part(listed.part_number))?;
        if listed.etag.trim().trim_matches('"') != part.md5 {
            return Err(invalid_part(listed.part_number));
        }
        if i < last && part.size < MIN_PART {
            return Err(CosError::bad_request(
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.",
            ));
        }
        let path = store.blob_path(&part.blob);
        let mut from = std::fs::File::open(&path).map_err(io(&path))?;
        size += std::io::copy(&mut from, &mut out).map_err(io(&joined))?;
        md5s.extend_from_slice(&hex::decode(&part.md5).unwrap_or_default());
    }
    let etag = format!("{}-{}", hex::encode(Md5::digest(&md5s)), doc.parts.len());
    out.sync_all().map_err(io(&joined))?;
    drop(out);
    let record = ObjectRecord {
        size,
        etag: etag.clone(),
        content_type: upload.content_type,
        last_modified_ms: now_ms(),
        headers: upload.headers,
        blob: new_blob_name(),
    };
    store.put_blob_file(&record.blob, &joined)?;
    drop(cleanup);
    let upload_key = upload_id_key(&req.bucket, &req.key, id);
    let object_key = object_id(&req.bucket, &req.key);
    let committed = store.write(|tx| {
        bucket_exists(tx, req)?;
        if tx.get::<UploadRecord>(UPLOADS, &upload_key)?.is_none() {
            return Err(no_such_upload());
        }
        tx.delete(UPLOADS, &upload_key)?;
        let parts: Vec<(String, PartRecord)> = tx.take_prefix(PARTS, &format!("{id}\0"))?;
        let old = tx.get::<ObjectRecord>(OBJECTS, &object_key)?;
        tx.put(OBJECTS, &object_key, &record)?;
        Ok::<_, CosError>((parts, old))
    });
    let (parts, old) = match committed {
        Ok(done) => done,
        Err(e) => {
            store.delete_blob(&record.blob);
            return Err(e);
        }
    };
    for (_, part) in parts {
        store.delete_blob(&part.blob);
    }
    if let Some(old) = old {
        store.delete_blob(&old.blob);
    }
    xml_response(xml::render(&xml::CompleteMultipartUploadResult {
        location: format!(
            "{}.cos.{}.myqcloud.com/{}",
            req.bucket,
            req.region,
            cos_sign::encode_path(&req.key)
        ),
        bucket: req.bucket.clone(),
        key: req.key.clone(),
        etag: format!("\"{etag}\""),
    }))
}

/// `DELETE /<key>?uploadId=ID`: drops the upload and its parts.
pub(super) fn abort(store: &Store, req: &Req) -> Result<Response, CosError> {
    let id = upload_id_param(req);
    let upload_key = upload_id_key(&req.bucket, &req.key, id);
    let parts = store.write(|tx| {
        if !tx.delete(UPLOADS, &upload_key)? {
            return Err(no_such_upload());
        }
        Ok::<_, CosError>(tx.take_prefix::<PartRecord>(PARTS, &format!("{id}\0"))?)
    })?;
    for (_, part) in parts {
        store.delete_blob(&part.blob);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Inside a bucket deletion: drops every upload in the bucket and returns their part blobs.
pub(super) fn abort_all(
    tx: &mut crate::localcloud::store::Txn<'_>,
    bucket: &str,
) -> Result<Vec<String>, StoreError> {
    let uploads: Vec<(String, UploadRecord)> = tx.take_prefix(UPLOADS, &format!("{bucket}\0"))?;
    let mut blobs = Vec::new();
    for (key, _) in uploads {
        let id = key.rsplit('\0').next().unwrap_or_default();
        let parts: Vec<(String, PartRecord)> = tx.take_prefix(PARTS, &format!("{id}\0"))?;
        blobs.extend(parts.into_iter().map(|(_, p)| p.blob));
    }
    Ok(blobs)
}

/// `GET /?uploads`: uploads in progress, by key then age, after `key-marker` /
/// `upload-id-marker`.
pub(super) fn list_uploads(store: &Store, req: &Req, appid: u64) -> Result<Response, CosError> {
    let invalid = |m: &str| CosError::bad_request("InvalidArgument", m.to_owned());
    let max_uploads = match req.param("max-uploads").unwrap_or("") {
        "" => 1000,
        s => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| invalid("max-uploads must be an integer between 1 and 1000."))?,
    };
    if req.param("delimiter").is_some_and(|d| !d.is_empty()) {
        return Err(CosError::not_implemented(
            "a delimiter when listing multipart uploads",
        ));
    }
    let url = url_encoding(req)?;
    bucket_record(store, req)?;
    let prefix = req.param("prefix").unwrap_or_default();
    let key_marker = req.param("key-marker").unwrap_or_default();
    let id_marker = req.param("upload-id-marker").unwrap_or_default();
    let base = format!("{}\0", req.bucket);
    let after = match (key_marker, id_marker) {
        ("", _) => None,
        // Upload ids are ASCII, so this sorts after every id of `key_marker`.
        (k, "") => Some(format!("{base}{k}\0\u{10FFFF}")),
        (k, id) => Some(format!("{base}{k}\0{id}")),
    };
    let mut uploads: Vec<(String, UploadRecord)> = store.scan(
        UPLOADS,
        &format!("{base}{prefix}"),
        after.as_deref(),
        max_uploads + 1,
    )?;
    let truncated = uploads.len() > max_uploads;
    uploads.truncate(max_uploads);
    let split = |k: &str| {
        let (key, id) = k[base.len()..].rsplit_once('\0').unwrap_or_default();
        (key.to_owned(), id.to_owned())
    };
    let owner = xml::Owner::of(appid);
    let last = uploads.last().map(|(k, _)| split(k));
    xml_response(xml::render(&xml::ListMultipartUploadsResult {
        bucket: req.bucket.clone(),
        encoding_type: url.then(|| "url".to_owned()),
        key_marker: encode_if(url, key_marker),
        upload_id_marker: id_marker.to_owned(),
        next_key_marker: last
            .as_ref()
            .filter(|_| truncated)
            .map(|(k, _)| encode_if(url, k)),
        next_upload_id_marker: last.filter(|_| truncated).map(|(_, id)| id),
        max_uploads,
        is_truncated: truncated,
        prefix: encode_if(url, prefix),
        uploads: uploads
            .iter()
            .map(|(k, u)| {
                let (key, upload_id) = split(k);
                xml::Upload {
                    key: encode_if(url, &key),
                    upload_id,
                    storage_class: "STANDARD",
                    initiator: owner.clone(),
                    owner: owner.clone(),
                    initiated: iso8601_ms(u.initiated_ms),
                }
            })
            .collect(),
    }))
}

fn url_encoding(req: &Req) -> Result<bool, CosError> {
    match req.param("encoding-type") {
        None => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(CosError::bad_request(
            "InvalidArgument",
            "encoding-type must be url.",
        )),
    }
}

fn encode_if(url: bool, s: &str) -> String {
    if url {
        cos_sign::encode_path(s)
    } else {
        s.to_owned()
    }
}

/// Blobs the parts table references, for the orphan sweep.
pub(super) fn part_blobs(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut blobs = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, PartRecord)> = store.scan(PARTS, "", after.as_deref(), 1000)?;
        let full = page.len() == 1000;
        after = page.last().map(|(k, _)| k.clone());
        blobs.extend(page.into_iter().map(|(_, p)| p.blob));
        if !full {
            return Ok(blobs);
        }
    }
}

/// Removes a half-joined object file on an early return (once renamed into place, the path is
/// gone and this does nothing).
struct JoinedFile(std::path::PathBuf);

impl Drop for JoinedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
