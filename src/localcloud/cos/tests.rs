use super::bucket::*;
use super::object::*;
use super::*;
use crate::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY};
use crate::localcloud::{LocalCloud, Options};
use crate::providers::tencent::cos_sign;
use axum::http::{HeaderMap, StatusCode};
use std::collections::BTreeMap;

const BUCKET: &str = "chat-1250000000";
const REGION: &str = "ap-guangzhou";
const HOST: &str = "chat-1250000000.cos.ap-guangzhou.myqcloud.com";

fn open(dir: &std::path::Path) -> LocalCloud {
    let opts = Options::new(dir);
    LocalCloud::open(opts, "127.0.0.1:9000".parse().unwrap()).unwrap()
}

/// A request signed as the Python SDK signs it (host without the port), with `host` sent; left
/// unsigned when its path or query does not decode.
fn request(
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &'static [u8],
) -> Request<Body> {
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    sign(req)
}

/// `req` signed as the Python SDK signs it (its headers, host without the port); left unsigned
/// when its path or query does not decode.
fn sign(mut req: Request<Body>) -> Request<Body> {
    let method = req.method().as_str().to_owned();
    let method = method.as_str();
    let Ok(parts) = decode(
        Request::builder()
            .method(method)
            .uri(req.uri().clone())
            .body(())
            .unwrap()
            .into_parts()
            .0,
        String::new(),
        String::new(),
    ) else {
        return req;
    };
    let now = jiff::Timestamp::now().as_second();
    let auth = auth::sign_for_test(
        &auth::Signed {
            method,
            path: &format!("/{}", parts.key),
            query: &parts.query,
            headers: req.headers(),
        },
        DEFAULT_SECRET_ID,
        DEFAULT_SECRET_KEY,
        cos_sign::KeyTime::around(now, 600),
    );
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    req
}

async fn send(cloud: &LocalCloud, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let host = req.headers()["host"].to_str().unwrap().to_owned();
    let target = bucket_host(&host).unwrap();
    let resp = cloud.cos().handle(target, req).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn bucket_hosts_are_recognised_with_or_without_a_port() {
    for (host, want) in [
        (HOST, Some((BUCKET, REGION))),
        (
            "chat-1250000000.cos.ap-guangzhou.myqcloud.com:9000",
            Some((BUCKET, REGION)),
        ),
        (
            "b-1.cos.ap-shanghai.tencentcos.cn",
            Some(("b-1", "ap-shanghai")),
        ),
        ("cos.ap-guangzhou.myqcloud.com", None),
        ("127.0.0.1:9000", None),
        ("scf.tencentcloudapi.com", None),
    ] {
        assert_eq!(bucket_host(host), want, "{host}");
    }
}

#[test]
fn bucket_names_need_a_valid_name_and_an_appid() {
    assert_eq!(bucket_appid("chat-1250000000").unwrap(), 1_250_000_000);
    assert_eq!(bucket_appid("a-b-c-1").unwrap(), 1);
    for bad in [
        "chat", "Chat-1", "-x-1", "x--1", "chat-12a", "chat-", "a_b-1",
    ] {
        assert_eq!(
            bucket_appid(bad).unwrap_err().code,
            "InvalidBucketName",
            "{bad}"
        );
    }
}

#[tokio::test]
async fn host_is_accepted_signed_with_or_without_the_port_and_errors_are_cos_xml() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    let with_port = format!("{HOST}:9000");
    // sign_for_test drops the port, as the SDK does; the request still carries it.
    let (status, headers, _) = send(&cloud, request("PUT", &with_port, "/", "", b"")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("x-cos-request-id"));

    let (status, headers, body) = send(
        &cloud,
        request("GET", HOST, "/%E6%B6%88%E6%81%AF/a", "", b""),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "application/xml");
    let rid = headers["x-cos-request-id"].to_str().unwrap();
    assert!(body.starts_with("<?xml version='1.0' encoding='utf-8' ?>\n<Error>"));
    assert!(body.contains("<Code>NoSuchKey</Code>"));
    assert!(body.contains(&format!("<Resource>{HOST}/%E6%B6%88%E6%81%AF/a</Resource>")));
    assert!(body.contains(&format!("<RequestId>{rid}</RequestId>")));

    let (status, _, body) = send(&cloud, request("HEAD", HOST, "/nope", "", b"")).await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, ""));

    // A signed request whose body differs from what was signed still verifies (COS does not sign
    // bodies), but a changed path does not.
    let mut req = request("GET", HOST, "/a", "", b"");
    *req.uri_mut() = "/b".parse().unwrap();
    let (status, _, body) = send(&cloud, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn signed_query_parameters_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    send(&cloud, request("PUT", HOST, "/", "", b"")).await;
    let (status, _, body) = send(
        &cloud,
        request("GET", HOST, "/", "prefix=a+b&max-keys=5", b""),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("<Prefix>a b</Prefix><Marker/><MaxKeys>5</MaxKeys>"),
        "{body}"
    );
    let mut req = request("GET", HOST, "/", "prefix=a&max-keys=5", b"");
    *req.uri_mut() = "/?prefix=b&max-keys=5".parse().unwrap();
    let (status, _, _) = send(&cloud, req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = send(&cloud, request("GET", HOST, "/", "acl", b"")).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{body}");
}

#[tokio::test]
async fn a_crash_between_blob_write_and_commit_leaves_no_object() {
    let dir = tempfile::tempdir().unwrap();
    {
        let cloud = open(dir.path());
        send(&cloud, request("PUT", HOST, "/", "", b"")).await;
        let (status, _, _) = send(&cloud, request("PUT", HOST, "/kept", "", b"kept")).await;
        assert_eq!(status, StatusCode::OK);
        // What put_object does up to the commit, then "crashes": the blob is durable, the
        // metadata never committed.
        cloud.store().put_blob("cos-interrupted", b"half").unwrap();
        std::fs::write(cloud.store().blob_path("cos-partial.tmp"), b"torn").unwrap();
    }
    let cloud = open(dir.path());
    let (status, _, body) = send(&cloud, request("GET", HOST, "/interrupted", "", b"")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, _, list) = send(&cloud, request("GET", HOST, "/", "", b"")).await;
    assert!(
        list.contains("<Key>kept</Key>") && list.matches("<Key>").count() == 1,
        "{list}"
    );
    let (status, _, body) = send(&cloud, request("GET", HOST, "/kept", "", b"")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "kept"));
    // Reopening swept the orphans, and only them.
    let blobs: Vec<String> = std::fs::read_dir(cloud.store().blob_path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
}

fn put_keys(store: &Store, bucket: &str, keys: &[&str]) {
    store
        .write(|tx| -> Result<(), StoreError> {
            tx.put(
                BUCKETS,
                bucket,
                &BucketRecord {
                    region: REGION.into(),
                    created_ms: 0,
                },
            )?;
            for k in keys {
                tx.put(
                    OBJECTS,
                    &object_id(bucket, k),
                    &ObjectRecord {
                        size: 0,
                        etag: String::new(),
                        content_type: String::new(),
                        last_modified_ms: 0,
                        headers: BTreeMap::new(),
                        blob: String::new(),
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn listing_rolls_up_prefixes_pages_and_resumes_after_markers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut keys: Vec<String> = (0..2500).map(|i| format!("big/{i:05}")).collect();
    keys.extend(
        ["a", "b/1", "b/2", "c", "d/x/1", "d/y", "e"]
            .iter()
            .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_keys(&store, "x-1", &refs);
    put_keys(&store, "w-1", &["a", "zz"]); // another bucket, never listed
    let names = |prefix: &str, delimiter: Option<&str>, marker: &str, max_keys: usize| {
        list_names(&store, prefix, delimiter, marker, max_keys)
    };
    let top = ["a", "b/", "big/", "c", "d/", "e"];
    assert_eq!(
        names("", Some("/"), "", 1000),
        (top.map(String::from).to_vec(), false)
    );
    // Every page boundary, resuming from NextMarker, yields the same sequence.
    for page in 1..=6 {
        let (mut seen, mut marker) = (Vec::new(), String::new());
        loop {
            let (got, truncated) = names("", Some("/"), &marker, page);
            assert!(got.len() <= page);
            seen.extend(got.iter().cloned());
            if !truncated {
                break;
            }
            marker = got.last().unwrap().clone();
        }
        assert_eq!(seen, top, "page size {page}");
    }
    assert_eq!(
        names("d/", Some("/"), "", 10),
        (vec!["d/x/".to_owned(), "d/y".to_owned()], false)
    );
    let (big, truncated) = names("big/", None, "big/00999", 1000);
    assert!(truncated);
    assert_eq!((big[0].as_str(), big.len()), ("big/01000", 1000));
    assert_eq!(names("", None, "", 0), (vec![], false));
    assert_eq!(names("zzz", None, "", 10), (vec![], false));
    assert_eq!(names("", None, "d/y", 10), (vec!["e".to_owned()], false));
}

fn list_names(
    store: &Store,
    prefix: &str,
    delimiter: Option<&str>,
    marker: &str,
    max_keys: usize,
) -> (Vec<String>, bool) {
    let q = ListQuery {
        prefix,
        delimiter,
        marker,
        max_keys,
    };
    let (entries, truncated) = list_page(store, "x-1", &q).unwrap();
    (
        entries.iter().map(|e| e.name().to_owned()).collect(),
        truncated,
    )
}

#[test]
fn ranges_follow_rfc_9110() {
    assert_eq!(parse_range("bytes=0-0", 10), Some(Ok((0, 0))));
    assert_eq!(parse_range("bytes=2-", 10), Some(Ok((2, 9))));
    assert_eq!(parse_range("bytes=5-100", 10), Some(Ok((5, 9))));
    assert_eq!(parse_range("bytes=-3", 10), Some(Ok((7, 9))));
    assert_eq!(parse_range("bytes=-30", 10), Some(Ok((0, 9))));
    assert_eq!(parse_range("bytes=10-", 10), Some(Err(())));
    assert_eq!(parse_range("bytes=-0", 10), Some(Err(())));
    assert_eq!(parse_range("bytes=0-1,4-5", 10), None);
    assert_eq!(parse_range("bytes=5-2", 10), None);
    assert_eq!(parse_range("items=0-1", 10), None);
    assert!(etag_listed("\"abc\", \"def\"", "\"def\""));
    assert!(etag_listed("*", "\"x\""));
    assert!(!etag_listed("\"abc\"", "\"def\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overwrites_keep_one_object_and_one_blob() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    send(&cloud, request("PUT", HOST, "/", "", b"")).await;
    const BODIES: [&[u8]; 4] = [b"one", b"two", b"three", b"four"];
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let cloud = cloud.clone();
            tokio::spawn(async move {
                send(&cloud, request("PUT", HOST, "/same", "", BODIES[i % 4])).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().0, StatusCode::OK);
    }
    let (status, _, body) = send(&cloud, request("GET", HOST, "/same", "", b"")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(BODIES.contains(&body.as_bytes()), "{body}");
    let blobs = std::fs::read_dir(cloud.store().blob_path(""))
        .unwrap()
        .count();
    assert_eq!(blobs, 1);
    assert_eq!(
        send(&cloud, request("DELETE", HOST, "/same", "", b""))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        std::fs::read_dir(cloud.store().blob_path(""))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn copy_sources_are_parsed_like_the_sdk_writes_them() {
    assert_eq!(
        parse_copy_source("chat-1250000000.cos.ap-guangzhou.myqcloud.com/%E6%B6%88%E6%81%AF/a%20b"),
        Some((BUCKET.into(), REGION.into(), "消息/a b".into()))
    );
    assert_eq!(
        parse_copy_source("http://b-1.cos.r.myqcloud.com/k?versionId=x"),
        Some(("b-1".into(), "r".into(), "k".into()))
    );
    assert_eq!(parse_copy_source("b-1.cos.r.myqcloud.com/"), None);
    assert_eq!(parse_copy_source("example.com/k"), None);
}

mod never_crashes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever arrives on a bucket host, signed or not, the answer is a COS response with a
        /// request id, never a panic or a dropped connection.
        #[test]
        fn any_request_gets_a_cos_answer(
            method in prop::sample::select(vec!["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
            path in proptest::collection::vec(any::<u8>(), 0..40),
            query in "[a-zA-Z=&%0-9+-]{0,30}",
            auth in prop::option::of("[ -~]{0,120}"),
            body in proptest::collection::vec(any::<u8>(), 0..64),
            signed in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let cloud = open(dir.path());
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let path = format!("/{}", percent_encoding::percent_encode(&path, percent_encoding::NON_ALPHANUMERIC));
            let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            let Ok(uri) = uri.parse::<axum::http::Uri>() else { return Ok(()) };
            let (status, headers, _) = rt.block_on(async {
                send(&cloud, request("PUT", HOST, "/", "", b"")).await;
                let mut req = if signed {
                    request(method, HOST, uri.path(), uri.query().unwrap_or(""), b"")
                } else {
                    Request::builder().method(method).uri(uri.clone()).header("host", HOST)
                        .body(Body::empty()).unwrap()
                };
                *req.body_mut() = Body::from(body);
                if let Some(a) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
                    req.headers_mut().insert("authorization", a);
                }
                send(&cloud, req).await
            });
            prop_assert!(headers.contains_key("x-cos-request-id"));
            prop_assert!(status.as_u16() >= 200 && status.as_u16() < 600);
            prop_assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}

#[tokio::test]
async fn latin1_header_bytes_verify_as_text_and_come_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    send(&cloud, request("PUT", HOST, "/", "", b"")).await;
    // What http.client sends for the str "café": one byte per char; the signer saw the str.
    let now = jiff::Timestamp::now().as_second();
    let auth = cos_sign::sign(
        &cos_sign::SignableRequest {
            method: "PUT",
            path: "/k",
            params: &[],
            headers: &[
                ("host", HOST),
                ("content-length", "1"),
                ("x-cos-meta-a", "café"),
            ],
        },
        DEFAULT_SECRET_ID,
        DEFAULT_SECRET_KEY,
        cos_sign::KeyTime::around(now, 600),
    );
    let req = Request::builder()
        .method("PUT")
        .uri("/k")
        .header("host", HOST)
        .header("content-length", "1")
        .header("x-cos-meta-a", HeaderValue::from_bytes(b"caf\xe9").unwrap())
        .header("authorization", auth.authorization)
        .body(Body::from("x"))
        .unwrap();
    let (status, _, body) = send(&cloud, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, headers, _) = send(&cloud, request("GET", HOST, "/k", "", b"")).await;
    assert_eq!(headers["x-cos-meta-a"].as_bytes(), b"caf\xe9");
}

/// A large simple PUT goes to disk as it arrives: half-way through the body, the bytes so far
/// are already in a file under `blobs/`, not in memory; the object then reads back whole.
#[tokio::test]
async fn a_large_put_streams_its_body_to_disk_as_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    send(&cloud, request("PUT", HOST, "/", "", b"")).await;
    let half = 10 * 1024 * 1024;
    let data: Vec<u8> = (0..2 * half).map(|i| (i % 251) as u8).collect();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let req = Request::builder()
        .method("PUT")
        .uri("/big")
        .header("host", HOST)
        .header("content-length", data.len())
        .body(Body::from_stream(stream))
        .unwrap();
    let req = sign(req);
    let put = tokio::spawn({
        let cloud = cloud.clone();
        async move { send(&cloud, req).await }
    });
    tx.send(Bytes::copy_from_slice(&data[..half]))
        .await
        .unwrap();
    let blobs = dir.path().join("blobs");
    let spooled = |min: u64| {
        std::fs::read_dir(&blobs).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".part")
                && e.metadata().is_ok_and(|m| m.len() >= min)
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !spooled(half as u64) {
        assert!(
            std::time::Instant::now() < deadline,
            "half the body sent, nothing on disk yet"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tx.send(Bytes::copy_from_slice(&data[half..]))
        .await
        .unwrap();
    drop(tx);
    let (status, headers, body) = put.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let etag = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&data))
    );
    assert_eq!(headers["etag"], etag.as_str());
    assert!(!spooled(0), "temporary file left behind");

    let resp = cloud
        .cos()
        .handle((BUCKET, REGION), request("GET", HOST, "/big", "", b""))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let got = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the object reads back whole");
}

/// Large parts go to disk as they arrive too, and completing joins them file to file: the
/// object reads back whole, with the multipart ETag.
#[tokio::test]
async fn large_multipart_parts_are_spooled_and_joined_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = open(dir.path());
    send(&cloud, request("PUT", HOST, "/", "", b"")).await;
    let (status, _, body) = send(&cloud, request("POST", HOST, "/mp", "uploads", b"")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body
        .split("<UploadId>")
        .nth(1)
        .and_then(|r| r.split("</UploadId>").next())
        .unwrap()
        .to_owned();
    let first: &'static [u8] = Box::leak(vec![1u8; 9 * 1024 * 1024].into_boxed_slice());
    let second: &'static [u8] = b"the end";
    let mut etags = Vec::new();
    for (n, part) in [(1, first), (2, second)] {
        let query = format!("partNumber={n}&uploadId={id}");
        let (status, headers, body) = send(&cloud, request("PUT", HOST, "/mp", &query, part)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        etags.push(headers["etag"].to_str().unwrap().to_owned());
    }
    let xml: &'static str = Box::leak(
        format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
            etags[0], etags[1]
        )
        .into_boxed_str(),
    );
    let query = format!("uploadId={id}");
    let (status, _, body) =
        send(&cloud, request("POST", HOST, "/mp", &query, xml.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = cloud
        .cos()
        .handle((BUCKET, REGION), request("GET", HOST, "/mp", "", b""))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["etag"].to_str().unwrap().ends_with("-2\""));
    let got = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(got.len(), first.len() + second.len());
    assert!(got[..first.len()] == *first && got[first.len()..] == *second);
    let leftovers = std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .count();
    assert_eq!(leftovers, 0);
}
