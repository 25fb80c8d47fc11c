//! The COS client against a mock server: signing, retries, the XML answers.

use super::*;
use crate::providers::tencent::http::tests::{ID, KEY, TOKEN, creds, fast_retries};
use crate::providers::tencent::{RateLimiter, TencentCloud};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BUCKET: &str = "chat-1250000000";
const REGION: &str = "ap-guangzhou";
const HOST: &str = "chat-1250000000.cos.ap-guangzhou.myqcloud.com";

async fn cos(server: &MockServer, token: bool) -> Cos {
    TencentCloud::with_options(
        creds(token),
        REGION,
        Some(Url::parse(&server.uri()).unwrap()),
        fast_retries(),
        RateLimiter::default(),
    )
    .unwrap()
    .cos()
}

/// Recomputes the COS signature of a received request over the names in `q-header-list`
/// and `q-url-param-list`, with the values as received.
fn verify_cos(req: &Request) {
    let auth = req.headers["authorization"].to_str().unwrap();
    let parsed = cos_sign::parse_authorization(auth).expect("q-sign Authorization");
    assert_eq!(parsed.secret_id, ID);
    let headers: Vec<(String, String)> = parsed
        .header_list
        .iter()
        .map(|name| {
            let value = req
                .headers
                .get(name.as_str())
                .unwrap_or_else(|| panic!("signed header {name} was not sent"))
                .to_str()
                .unwrap();
            (name.clone(), value.to_owned())
        })
        .collect();
    let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    let params: Vec<(String, String)> = parsed
        .url_param_list
        .iter()
        .map(|name| {
            let (k, v) = query
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase() == *name)
                .unwrap_or_else(|| panic!("signed parameter {name} was not sent"));
            (k.clone(), v.clone())
        })
        .collect();
    assert_eq!(params.len(), query.len(), "every parameter is signed");
    let path = percent_decode_str(req.url.path())
        .decode_utf8()
        .unwrap()
        .into_owned();
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let want = cos_sign::sign(
        &cos_sign::SignableRequest {
            method: req.method.as_str(),
            path: &path,
            params: &p,
            headers: &h,
        },
        ID,
        KEY,
        parsed.key_time,
    );
    assert_eq!(parsed.signature, want.signature, "COS signature of {path}");
    let now = jiff::Timestamp::now().as_second();
    assert!(parsed.key_time.start <= now && now <= parsed.key_time.end);
    assert!((parsed.key_time.end - now - SIGNATURE_LIFETIME_SECS).abs() < 60);
    assert!(parsed.header_list.contains(&"host".to_owned()));
    assert_eq!(
        req.headers["host"], HOST,
        "endpoint mode sends the bucket host"
    );
}

async fn verify_all(server: &MockServer) -> Vec<Request> {
    let received = server.received_requests().await.unwrap();
    for req in &received {
        verify_cos(req);
    }
    received
}

#[tokio::test]
async fn bucket_lifecycle_in_endpoint_mode() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(header("host", HOST))
        .respond_with(ResponseTemplate::new(404).insert_header("x-cos-request-id", "r1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("HEAD"))
        .respond_with(
            ResponseTemplate::new(200).insert_header("x-cos-bucket-region", "ap-shanghai"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/"))
        .respond_with(ResponseTemplate::new(409).set_body_string(
            "<Error><Code>BucketAlreadyOwnedByYou</Code><Message>m</Message></Error>",
        ))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/"))
        .respond_with(
            ResponseTemplate::new(409)
                .insert_header("x-cos-request-id", "rid-9")
                .set_body_string(
                    "<Error><Code>BucketNotEmpty</Code><Message>not empty</Message></Error>",
                ),
        )
        .mount(&server)
        .await;
    let cos = cos(&server, false).await;
    assert_eq!(cos.head_bucket(BUCKET, REGION).await.unwrap(), None);
    assert_eq!(
        cos.head_bucket(BUCKET, REGION).await.unwrap(),
        Some(BucketRegion("ap-shanghai".into()))
    );
    assert!(!cos.put_bucket(BUCKET, REGION).await.unwrap());
    let err = cos.delete_bucket(BUCKET, REGION).await.unwrap_err();
    assert_eq!(err.error_code(), Some("BucketNotEmpty"));
    assert_eq!(err.request_id(), Some("rid-9"));
    assert_eq!(err.http_status(), Some(409));
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "cos DeleteBucket chat-1250000000 failed: HTTP 409 BucketNotEmpty: not empty \
         (RequestId rid-9)"
    );
    let received = verify_all(&server).await;
    let put = received.iter().find(|r| r.method == Method::PUT).unwrap();
    assert_eq!(put.headers["content-length"], "0", "signed as the SDK does");
    let delete = received
        .iter()
        .find(|r| r.method == Method::DELETE)
        .unwrap();
    assert_eq!(delete.headers["content-length"], "0");
}

#[tokio::test]
async fn objects_round_trip_with_md5_and_unicode_keys() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/%E6%B6%88%E6%81%AF/%E4%B8%80%20%E4%BA%8C.txt"))
        .and(header("content-type", "text/plain"))
        .respond_with(ResponseTemplate::new(200).insert_header("ETag", "\"abc\""))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/%E6%B6%88%E6%81%AF/%E4%B8%80%20%E4%BA%8C.txt"))
        .respond_with(ResponseTemplate::new(200).set_body_string("hello"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/missing"))
        .respond_with(
            ResponseTemplate::new(404).set_body_string("<Error><Code>NoSuchKey</Code></Error>"),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let cos = cos(&server, true).await;
    let key = "消息/一 二.txt";
    let etag = cos
        .put_object(
            BUCKET,
            REGION,
            key,
            Bytes::from_static(b"hello"),
            "text/plain",
        )
        .await
        .unwrap();
    assert_eq!(etag.as_deref(), Some("\"abc\""));
    assert_eq!(
        cos.get_object(BUCKET, REGION, key).await.unwrap().unwrap(),
        Bytes::from_static(b"hello")
    );
    assert_eq!(
        cos.get_object(BUCKET, REGION, "missing").await.unwrap(),
        None
    );
    cos.delete_object(BUCKET, REGION, key).await.unwrap();
    let received = verify_all(&server).await;
    let put = &received[0];
    assert_eq!(
        put.url.path(),
        "/%E6%B6%88%E6%81%AF/%E4%B8%80%20%E4%BA%8C.txt"
    );
    assert_eq!(put.headers["content-md5"], "XUFAKrxLKna5cZ2REBfFkg==");
    assert_eq!(&put.body[..], b"hello");
    for req in &received {
        assert_eq!(req.headers["x-cos-security-token"], TOKEN);
        let auth = req.headers["authorization"].to_str().unwrap();
        assert!(
            auth.contains("x-cos-security-token"),
            "token is signed: {auth}"
        );
    }
}

#[tokio::test]
async fn listing_decodes_keys_and_follows_markers() {
    let server = MockServer::start().await;
    let page = |keys: &[&str], truncated: bool, next: Option<&str>| {
        let contents: String = keys
            .iter()
            .map(|k| {
                format!(
                    "<Contents><Key>{k}</Key><LastModified>2020-12-10T03:37:30.000Z\
                     </LastModified><ETag>&quot;e&quot;</ETag><Size>3</Size></Contents>"
                )
            })
            .collect();
        let next = next
            .map(|n| format!("<NextMarker>{n}</NextMarker>"))
            .unwrap_or_default();
        ResponseTemplate::new(200).set_body_string(format!(
            "<ListBucketResult><Name>{BUCKET}</Name><EncodingType>url</EncodingType>\
             <Prefix>conn%2F</Prefix><IsTruncated>{truncated}</IsTruncated>{next}{contents}\
             </ListBucketResult>"
        ))
    };
    Mock::given(method("GET"))
        .and(query_param("marker", ""))
        .and(query_param("prefix", "conn/"))
        .and(query_param("encoding-type", "url"))
        .and(query_param("max-keys", "1000"))
        .respond_with(page(
            &["conn%2Fa", "conn%2Fb%20c"],
            true,
            Some("conn%2Fb%20c"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("marker", "conn/b c"))
        .respond_with(page(&["conn%2Fd"], false, None))
        .expect(1)
        .mount(&server)
        .await;
    let cos = cos(&server, false).await;
    let all = cos.list_all(BUCKET, REGION, "conn/").await.unwrap();
    let keys: Vec<&str> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["conn/a", "conn/b c", "conn/d"]);
    assert_eq!(all[0].etag, "\"e\"");
    assert_eq!(all[0].size, 3);
    verify_all(&server).await;
}

#[tokio::test]
async fn retries_slow_down_but_not_auth_failures() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/k"))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<Error><Code>SlowDown</Code></Error>"),
        )
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/k"))
        .respond_with(ResponseTemplate::new(200).set_body_string("v"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/denied"))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            "<Error><Code>SignatureDoesNotMatch</Code><RequestId>x</RequestId></Error>",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let cos = cos(&server, false).await;
    assert_eq!(
        cos.get_object(BUCKET, REGION, "k").await.unwrap().unwrap(),
        Bytes::from_static(b"v")
    );
    let err = cos.get_object(BUCKET, REGION, "denied").await.unwrap_err();
    assert!(err.is_auth_failure(), "{err}");
    assert_eq!(err.request_id(), Some("x"));
    assert_eq!(err.attempts(), 1);
    let shown = format!("{err} {err:?} {cos:?}");
    assert!(!shown.contains(KEY), "{shown}");
    verify_all(&server).await;
}

proptest::proptest! {
    /// The path the server decodes is the path that was signed, for any key without `.`/`..`
    /// segments (URL parsing must not rewrite it).
    #[test]
    fn url_path_decodes_back_to_the_signed_key(key in "[a-zA-Z0-9 ._~!$&'()*+,;=:@%/?#\\-消息]{0,24}") {
        proptest::prop_assume!(!key.split('/').any(|s| s == "." || s == ".."));
        let cloud = TencentCloud::new(creds(false), REGION, None).unwrap();
        let url = cloud.cos().url(HOST, Some(&key), &[("marker", key.clone())]).unwrap();
        let decoded = percent_decode_str(url.path()).decode_utf8().unwrap();
        proptest::prop_assert_eq!(decoded, format!("/{key}"));
        let marker = url.query_pairs().find(|(k, _)| k == "marker").unwrap().1.into_owned();
        proptest::prop_assert_eq!(marker, key);
    }
}

#[test]
fn urls_use_the_bucket_host_without_endpoint() {
    let cloud = TencentCloud::new(creds(false), REGION, None).unwrap();
    let url = cloud
        .cos()
        .url(HOST, Some("a/b c"), &[("prefix", "x/y".into())])
        .unwrap();
    assert_eq!(
        url.as_str(),
        "https://chat-1250000000.cos.ap-guangzhou.myqcloud.com/a/b%20c?prefix=x%2Fy"
    );
    assert!(cloud.cos().url(HOST, Some("a/../b"), &[]).is_err());
}
