//! The COS client: the bucket and object operations the deployer needs (API-FACTS §5).
//!
//! Addressing is virtual-host style, `https://{bucket}.cos.{region}.myqcloud.com/{key}`. With an
//! endpoint (the local cloud) the request connects to the endpoint but still carries **and
//! signs** `Host: {bucket}.cos.{region}.myqcloud.com`, like the official SDK's IP/Port mode.
//! Requests are signed with [`cos_sign`] over the headers the SDK signs (`host`,
//! `content-length`, `content-type`, `content-md5`, `x-cos-*`) and every query parameter, valid
//! from one minute ago to an hour ahead. Retries (5xx, `SlowDown`, transport) and the rate limit
//! are those of the API 3.0 transport.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use url::Url;

use super::cos_sign::{self, KeyTime};
use super::cos_xml;
use super::error::Error;
use super::http::{Shared, host_with_port};

/// How long a signature stays valid.
const SIGNATURE_LIFETIME_SECS: i64 = 3600;

/// The COS client; cheap to clone (shares the HTTP client and rate limiter).
#[derive(Debug, Clone)]
pub struct Cos {
    shared: Arc<Shared>,
}

/// The region HEAD Bucket reported (`x-cos-bucket-region`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRegion(pub String);

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// The key, decoded.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag as sent (quoted hex MD5 for simple uploads).
    pub etag: String,
    /// ISO 8601, e.g. `2020-12-10T03:37:30.000Z`.
    pub last_modified: String,
}

/// One page of GET Bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The objects, in key order.
    pub keys: Vec<ObjectSummary>,
    /// Whether more objects follow.
    pub is_truncated: bool,
    /// The marker for the next page, when truncated (decoded).
    pub next_marker: Option<String>,
}

/// `{bucket}.cos.{region}.myqcloud.com`.
pub fn bucket_host(bucket: &str, region: &str) -> String {
    format!("{bucket}.cos.{region}.myqcloud.com")
}

/// Bodies up to this size go up in one PUT Object; larger ones as a multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// The size of each part of a multipart upload but the last (COS takes 1 MB to 5 GB).
pub const PART_SIZE: usize = 4 * 1024 * 1024;

/// How many parts of one upload are sent at once.
pub const PARTS_IN_FLIGHT: usize = 3;

/// One request, before signing.
struct CosRequest<'a> {
    op: &'static str,
    method: Method,
    bucket: &'a str,
    region: &'a str,
    key: Option<&'a str>,
    params: Vec<(&'static str, String)>,
    content_type: Option<&'a str>,
    content_md5: Option<String>,
    body: Option<Bytes>,
}

impl<'a> CosRequest<'a> {
    fn new(op: &'static str, method: Method, bucket: &'a str, region: &'a str) -> Self {
        CosRequest {
            op,
            method,
            bucket,
            region,
            key: None,
            params: Vec::new(),
            content_type: None,
            content_md5: None,
            body: None,
        }
    }

    fn resource(&self) -> String {
        match self.key {
            Some(key) => format!("{}/{key}", self.bucket),
            None => self.bucket.to_owned(),
        }
    }
}

/// A successful (< 400) answer.
struct CosResponse {
    headers: HeaderMap,
    body: Bytes,
}

impl Cos {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Cos { shared }
    }

    /// HEAD Bucket: the bucket's region, or `None` when it does not exist (404).
    pub async fn head_bucket(
        &self,
        bucket: &str,
        region: &str,
    ) -> Result<Option<BucketRegion>, Error> {
        let req = CosRequest::new("HeadBucket", Method::HEAD, bucket, region);
        match self.send(req).await {
            Ok(resp) => {
                let reported = resp
                    .headers
                    .get("x-cos-bucket-region")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .unwrap_or(region);
                Ok(Some(BucketRegion(reported.to_owned())))
            }
            Err(e) if e.http_status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PUT Bucket. `Ok(true)` when created, `Ok(false)` when we already own it
    /// (409 `BucketAlreadyOwnedByYou`).
    pub async fn put_bucket(&self, bucket: &str, region: &str) -> Result<bool, Error> {
        let mut req = CosRequest::new("PutBucket", Method::PUT, bucket, region);
        req.body = Some(Bytes::new());
        match self.send(req).await {
            Ok(_) => Ok(true),
            Err(e) if e.error_code() == Some("BucketAlreadyOwnedByYou") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// DELETE Bucket (it must be empty). `Ok(false)` when it did not exist (404).
    pub async fn delete_bucket(&self, bucket: &str, region: &str) -> Result<bool, Error> {
        let req = CosRequest::new("DeleteBucket", Method::DELETE, bucket, region);
        match self.send(req).await {
            Ok(_) => Ok(true),
            Err(e) if e.http_status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// GET Bucket, one page of at most `max_keys` (≤ 1000) objects under `prefix`, strictly
    /// after `marker` (empty for the first page). Keys come back decoded.
    pub async fn list_objects(
        &self,
        bucket: &str,
        region: &str,
        prefix: &str,
        marker: &str,
        max_keys: u32,
    ) -> Result<ListPage, Error> {
        let mut req = CosRequest::new("ListObjects", Method::GET, bucket, region);
        // The parameters the official SDK always sends, even empty.
        req.params = vec![
            ("prefix", prefix.to_owned()),
            ("delimiter", String::new()),
            ("marker", marker.to_owned()),
            ("max-keys", max_keys.min(1000).to_string()),
            ("encoding-type", "url".to_owned()),
        ];
        let resp = self.send(req).await?;
        let text = String::from_utf8_lossy(&resp.body);
        let request_id = request_id(&resp.headers);
        let result = cos_xml::list_bucket_result(&text)
            .map_err(|e| Error::decode("cos", "ListObjects", request_id, e))?;
        let encoded = result.encoding_type.as_deref() == Some("url");
        let decode = |s: &str| {
            if encoded {
                percent_decode_str(s).decode_utf8_lossy().into_owned()
            } else {
                s.to_owned()
            }
        };
        let keys: Vec<ObjectSummary> = result
            .contents
            .into_iter()
            .map(|c| ObjectSummary {
                key: decode(&c.key),
                size: c.size,
                etag: c.etag,
                last_modified: c.last_modified,
            })
            .collect();
        let next_marker = if result.is_truncated {
            // COS sends NextMarker whenever truncated; fall back to the last key like S3.
            result
                .next_marker
                .as_deref()
                .filter(|m| !m.is_empty())
                .map(decode)
                .or_else(|| keys.last().map(|k| k.key.clone()))
        } else {
            None
        };
        Ok(ListPage {
            keys,
            is_truncated: result.is_truncated,
            next_marker,
        })
    }

    /// Every object under `prefix`, following the markers.
    pub async fn list_all(
        &self,
        bucket: &str,
        region: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectSummary>, Error> {
        let mut all = Vec::new();
        let mut marker = String::new();
        loop {
            let page = self
                .list_objects(bucket, region, prefix, &marker, 1000)
                .await?;
            all.extend(page.keys);
            match page.next_marker {
                // A marker that does not advance would loop forever.
                Some(next) if page.is_truncated && next > marker => marker = next,
                _ => return Ok(all),
            }
        }
    }

    /// Deletes every object under `prefix`; returns how many were deleted. A missing bucket
    /// counts as empty.
    pub async fn delete_all(
        &self,
        bucket: &str,
        region: &str,
        prefix: &str,
    ) -> Result<usize, Error> {
        let objects = match self.list_all(bucket, region, prefix).await {
            Ok(objects) => objects,
            Err(e) if e.http_status() == Some(404) => return Ok(0),
            Err(e) => return Err(e),
        };
        for object in &objects {
            self.delete_object(bucket, region, &object.key).await?;
        }
        Ok(objects.len())
    }

    /// PUT Object with `Content-Type` and `Content-MD5`; returns the ETag, if sent.
    pub async fn put_object(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<Option<String>, Error> {
        let mut req = CosRequest::new("PutObject", Method::PUT, bucket, region);
        req.key = Some(key);
        req.content_type = Some(content_type);
        req.content_md5 =
            Some(base64::engine::general_purpose::STANDARD.encode(Md5::digest(&body)));
        req.body = Some(body);
        let resp = self.send(req).await?;
        Ok(resp
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// GET Object; `None` when the key does not exist (404 `NoSuchKey`). A missing bucket is an
    /// error.
    pub async fn get_object(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
    ) -> Result<Option<Bytes>, Error> {
        let mut req = CosRequest::new("GetObject", Method::GET, bucket, region);
        req.key = Some(key);
        match self.send(req).await {
            Ok(resp) => Ok(Some(resp.body)),
            Err(e) if e.http_status() == Some(404) && e.error_code() != Some("NoSuchBucket") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// DELETE Object; a missing key is not an error.
    pub async fn delete_object(&self, bucket: &str, region: &str, key: &str) -> Result<(), Error> {
        let mut req = CosRequest::new("DeleteObject", Method::DELETE, bucket, region);
        req.key = Some(key);
        match self.send(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.error_code() == Some("NoSuchKey") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// HEAD Object: the object's size, or `None` when the key does not exist (404).
    pub async fn head_object(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
    ) -> Result<Option<u64>, Error> {
        let mut req = CosRequest::new("HeadObject", Method::HEAD, bucket, region);
        req.key = Some(key);
        match self.send(req).await {
            Ok(resp) => Ok(Some(
                resp.headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            Err(e) if e.http_status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uploads `body` as `key`: one PUT Object up to [`MULTIPART_THRESHOLD`], else a multipart
    /// upload of [`PART_SIZE`] parts, [`PARTS_IN_FLIGHT`] at a time (aborted if a part fails for
    /// good). `progress` gets the bytes uploaded so far after each part.
    pub async fn upload(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        body: Bytes,
        content_type: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<(), Error> {
        if body.len() <= MULTIPART_THRESHOLD {
            self.put_object(bucket, region, key, body.clone(), content_type)
                .await?;
            progress(body.len() as u64);
            return Ok(());
        }
        let mut req = CosRequest::new("InitiateMultipartUpload", Method::POST, bucket, region);
        req.key = Some(key);
        req.params = vec![("uploads", String::new())];
        req.content_type = Some(content_type);
        let resp = self.send(req).await?;
        let upload_id = cos_xml::initiate_multipart_upload_result(&String::from_utf8_lossy(
            &resp.body,
        ))
        .map_err(|e| {
            Error::setup(format!(
                "COS answered InitiateMultipartUpload for {bucket}/{key} with a body we cannot \
                 read: {e}"
            ))
        })?
        .upload_id;
        match self
            .upload_parts(bucket, region, key, &upload_id, &body, progress)
            .await
        {
            Ok(parts) => {
                let mut req =
                    CosRequest::new("CompleteMultipartUpload", Method::POST, bucket, region);
                req.key = Some(key);
                req.params = vec![("uploadId", upload_id)];
                req.content_type = Some("application/xml");
                req.body = Some(Bytes::from(cos_xml::complete_multipart_upload(&parts)));
                self.send(req).await?;
                Ok(())
            }
            Err(e) => {
                let mut req =
                    CosRequest::new("AbortMultipartUpload", Method::DELETE, bucket, region);
                req.key = Some(key);
                req.params = vec![("uploadId", upload_id)];
                if let Err(abort) = self.send(req).await {
                    tracing::debug!(error = %abort, "abort of a failed multipart upload failed");
                }
                Err(e)
            }
        }
    }

    /// UploadPart for each [`PART_SIZE`] slice of `body`; the parts' numbers and ETags, in order.
    async fn upload_parts(
        &self,
        bucket: &str,
        region: &str,
        key: &str,
        upload_id: &str,
        body: &Bytes,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Vec<(u32, String)>, Error> {
        use futures_util::stream::{StreamExt, TryStreamExt};
        let done = std::sync::atomic::AtomicU64::new(0);
        let slices: Vec<(u32, Bytes)> = (0..body.len())
            .step_by(PART_SIZE)
            .zip(1u32..)
            .map(|(start, number)| {
                (
                    number,
                    body.slice(start..(start + PART_SIZE).min(body.len())),
                )
            })
            .collect();
        let done = &done;
        futures_util::stream::iter(slices)
            .map(|(number, part)| async move {
                let len = part.len() as u64;
                let mut req = CosRequest::new("UploadPart", Method::PUT, bucket, region);
                req.key = Some(key);
                req.params = vec![
                    ("partNumber", number.to_string()),
                    ("uploadId", upload_id.to_owned()),
                ];
                req.content_md5 =
                    Some(base64::engine::general_purpose::STANDARD.encode(Md5::digest(&part)));
                req.body = Some(part);
                let resp = self.send(req).await?;
                let etag = resp
                    .headers
                    .get(http::header::ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::setup(format!(
                            "COS sent no ETag for part {number} of {bucket}/{key}"
                        ))
                    })?;
                let so_far = done.fetch_add(len, std::sync::atomic::Ordering::Relaxed) + len;
                progress(so_far);
                Ok::<_, Error>((number, etag))
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await
    }

    /// Sends with retries; any status ≥ 400 becomes an [`Error`].
    async fn send(&self, req: CosRequest<'_>) -> Result<CosResponse, Error> {
        let retry = self.shared.retry;
        let req = &req;
        retry
            .run(true, |attempt| async move {
                self.shared.limiter.acquire().await;
                let started = tokio::time::Instant::now();
                let result = self.attempt(req).await;
                tracing::debug!(
                    service = "cos",
                    action = req.op,
                    attempt,
                    ms = started.elapsed().as_millis() as u64,
                    status = result
                        .as_ref()
                        .err()
                        .and_then(Error::http_status)
                        .unwrap_or(200),
                    "cos call"
                );
                result
            })
            .await
    }

    async fn attempt(&self, req: &CosRequest<'_>) -> Result<CosResponse, Error> {
        let host = bucket_host(req.bucket, req.region);
        let decoded_path = format!("/{}", req.key.unwrap_or(""));
        let url = self.url(&host, req.key, &req.params)?;
        let creds = &self.shared.credentials;

        // The headers we send, all of which the SDK signs.
        let mut headers: Vec<(&str, String)> = vec![("host", host.clone())];
        if let Some(ct) = req.content_type {
            headers.push(("content-type", ct.to_owned()));
        }
        if let Some(md5) = &req.content_md5 {
            headers.push(("content-md5", md5.clone()));
        }
        if matches!(req.method, Method::PUT | Method::POST | Method::DELETE) {
            let len = req.body.as_ref().map_or(0, Bytes::len);
            headers.push(("content-length", len.to_string()));
        }
        if let Some(token) = &creds.token {
            headers.push(("x-cos-security-token", token.expose().to_owned()));
        }
        debug_assert!(headers.iter().all(|(n, _)| cos_sign::is_signed_header(n)));

        let now = jiff::Timestamp::now().as_second();
        let signed_headers: Vec<(&str, &str)> =
            headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let signed_params: Vec<(&str, &str)> =
            req.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let signature = cos_sign::sign(
            &cos_sign::SignableRequest {
                method: req.method.as_str(),
                path: &decoded_path,
                params: &signed_params,
                headers: &signed_headers,
            },
            &creds.secret_id,
            creds.secret_key.expose(),
            KeyTime::around(now, SIGNATURE_LIFETIME_SECS),
        );

        let header_value = |v: &str, sensitive: bool| {
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| Error::setup(format!("invalid header value for cos {}", req.op)))?;
            value.set_sensitive(sensitive);
            Ok::<_, Error>(value)
        };
        let big = matches!(req.op, "PutObject" | "GetObject" | "UploadPart");
        let mut builder = self
            .shared
            .http
            .request(req.method.clone(), url)
            .timeout(Duration::from_secs(if big { 600 } else { 60 }))
            .header(
                http::header::AUTHORIZATION,
                header_value(&signature.authorization, true)?,
            );
        for (name, value) in &headers {
            let sensitive = *name == "x-cos-security-token";
            builder = builder.header(*name, header_value(value, sensitive)?);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| Error::transport("cos", req.op, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::transport("cos", req.op, e))?;
        if status.as_u16() >= 400 {
            let parsed = cos_xml::error_body(&String::from_utf8_lossy(&body)).unwrap_or_default();
            // A HEAD answer has no body to name the error: a 400 to a request that carried a
            // session token is COS's `InvalidToken` (400; a bad signature or key is a 403), so
            // it is reported as the credential failure it is (exit 3), not a bare "HTTP 400".
            let code = parsed.code.or_else(|| {
                (req.method == Method::HEAD && status.as_u16() == 400 && creds.token.is_some())
                    .then(|| "InvalidToken".to_owned())
            });
            return Err(Error::cos(
                req.op,
                req.resource(),
                status.as_u16(),
                code,
                parsed.message,
                request_id(&headers).or(parsed.request_id),
            ));
        }
        Ok(CosResponse { headers, body })
    }

    /// The URL to connect to: the bucket host, or the endpoint in local-cloud mode.
    fn url(&self, host: &str, key: Option<&str>, params: &[(&str, String)]) -> Result<Url, Error> {
        let base = match &self.shared.endpoint {
            Some(endpoint) => format!(
                "{}://{}",
                endpoint.scheme(),
                host_with_port(endpoint).unwrap_or_default()
            ),
            None => format!("https://{host}"),
        };
        let mut url = format!("{base}/{}", encode_key(key.unwrap_or(""))?);
        if !params.is_empty() {
            let query: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{}={}", cos_sign::encode(k), cos_sign::encode(v)))
                .collect();
            url.push('?');
            url.push_str(&query.join("&"));
        }
        Url::parse(&url).map_err(|e| Error::setup(format!("invalid COS URL for {host}: {e}")))
    }
}

/// The request path of a key: percent-encoded with `/` kept. Keys with `.` or `..` segments
/// are refused: URL normalisation would rewrite the path that was signed.
fn encode_key(key: &str) -> Result<String, Error> {
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::setup(format!(
            "invalid COS object key {key:?}: `.` and `..` path segments are not supported"
        )));
    }
    Ok(cos_sign::encode_path(key))
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-cos-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
#[path = "cos_tests.rs"]
mod tests;
