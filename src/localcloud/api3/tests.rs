//! The control plane's envelope, routing and authentication, through a whole local cloud.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::*;
use crate::localcloud::account::KeyPair;
use crate::localcloud::{LocalCloud, Options};

fn cloud(dir: &std::path::Path) -> LocalCloud {
    let opts = Options::new(dir);
    LocalCloud::open(opts, "127.0.0.1:9000".parse().unwrap()).unwrap()
}

/// A request signed like the SDK does, with `key` as the SecretKey.
fn signed(service: &str, action: &str, body: &'static str, key: &str) -> Request<Body> {
    signed_as(service, "127.0.0.1:9000", action, body, key)
}

/// [`signed`], with `signed_host` in the signature (the `Host` sent is `127.0.0.1:9000`).
fn signed_as(
    service: &str,
    signed_host: &str,
    action: &str,
    body: &'static str,
    key: &str,
) -> Request<Body> {
    let ts = now_millis() / 1000;
    let keys = KeyPair::default_pair();
    let sig = tc3::sign(
        &tc3::SignableRequest {
            service,
            host: signed_host,
            content_type: "application/json",
            payload: body.as_bytes(),
            timestamp: ts,
        },
        &keys.secret_id,
        key,
    );
    let version = Service::from_scope(service)
        .or_else(|| {
            let action_service = if action == "GetUserAppId" {
                "cam"
            } else {
                "scf"
            };
            Service::from_scope(action_service)
        })
        .map_or("x", Service::version);
    Request::post("/")
        .header("host", "127.0.0.1:9000")
        .header("content-type", "application/json")
        .header("x-tc-action", action)
        .header("x-tc-version", version)
        .header("x-tc-timestamp", ts.to_string())
        .header("x-tc-region", "ap-guangzhou")
        .header("authorization", sig.authorization)
        .body(Body::from(body))
        .unwrap()
}

async fn answer(resp: Response) -> (StatusCode, String, Value) {
    let status = resp.status();
    let ct = resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, ct, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn answers_are_json_envelopes_with_the_exact_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path());
    let key = KeyPair::default_pair().secret_key;

    let (st, ct, v) =
        answer(handle(c.api3(), signed("cam", "GetUserAppId", "{}", key.expose())).await).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(v["Response"]["AppId"], 1_250_000_000);
    assert!(v["Response"]["RequestId"].as_str().unwrap().len() == 36);

    let (st, ct, v) =
        answer(handle(c.api3(), signed("scf", "ListFunctions", "{}", "wrong")).await).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(
        v["Response"]["Error"]["Code"],
        "AuthFailure.SignatureFailure"
    );

    let req = Request::get("/favicon.ico").body(Body::empty()).unwrap();
    let (st, ct, v) = answer(handle(c.api3(), req).await).await;
    assert_eq!(
        (st, ct.as_str()),
        (StatusCode::NOT_FOUND, "application/json")
    );
    assert_eq!(v["Response"]["Error"]["Code"], "ResourceNotFound");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_an_invalid_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path());
    let key = KeyPair::default_pair().secret_key;
    let (_, _, v) = answer(
        handle(
            c.api3(),
            signed("scf", "GetFunction", "{oops", key.expose()),
        )
        .await,
    )
    .await;
    assert_eq!(v["Response"]["Error"]["Code"], "InvalidParameter");
    let (_, _, v) =
        answer(handle(c.api3(), signed("scf", "Frobnicate", "{}", key.expose())).await).await;
    assert_eq!(v["Response"]["Error"]["Code"], "InvalidAction");
}

#[tokio::test]
async fn a_huge_parameter_is_not_echoed_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path());
    let key = KeyPair::default_pair().secret_key;
    let name = "a-".repeat(4_000_000);
    let body: &'static str = Box::leak(format!("{{\"FunctionName\":\"{name}\"}}").into());
    let (_, _, v) =
        answer(handle(c.api3(), signed("scf", "GetFunction", body, key.expose())).await).await;
    let message = v["Response"]["Error"]["Message"].as_str().unwrap();
    assert!(message.len() < 2048, "{} bytes echoed", message.len());
    assert!(message.contains("8000000 bytes"), "{message}");
}

#[tokio::test]
async fn the_node_sdks_scope_and_host_are_accepted_as_the_cloud_accepts_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = cloud(dir.path());
    let key = KeyPair::default_pair().secret_key;
    let code = |v: &Value| v["Response"]["Error"]["Code"].as_str().map(str::to_owned);
    // (scope's service, host in the signature) → the error code, if any.
    let rows: &[(&str, &str, Option<&str>)] = &[
        ("scf", "127.0.0.1:9000", None),
        // The Node.js SDK: the endpoint's first label as the service, the host without its port.
        ("127", "127.0.0.1:9000", None),
        ("scf", "127.0.0.1", None),
        ("127", "127.0.0.1", None),
        // Another host is another request.
        (
            "scf",
            "127.0.0.2:9000",
            Some("AuthFailure.SignatureFailure"),
        ),
        (
            "scf",
            "127.0.0.1:9001",
            Some("AuthFailure.SignatureFailure"),
        ),
    ];
    for (service, host, want) in rows {
        let req = signed_as(service, host, "ListFunctions", "{}", key.expose());
        let (_, _, v) = answer(handle(c.api3(), req).await).await;
        assert_eq!(
            code(&v).as_deref(),
            *want,
            "{service} signed for {host}: {v}"
        );
    }
    // A scope naming no product, and a version naming none either.
    let mut req = signed_as("127", "127.0.0.1:9000", "ListFunctions", "{}", key.expose());
    req.headers_mut()
        .insert("x-tc-version", "2020-01-01".parse().unwrap());
    let (_, _, v) = answer(handle(c.api3(), req).await).await;
    assert_eq!(code(&v).as_deref(), Some("NoSuchProduct"), "{v}");
}
