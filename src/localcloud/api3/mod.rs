//! API 3.0 control plane of the local cloud: SCF (`scf`, 2018-04-16), API Gateway
//! (`apigateway`, 2018-08-08) and CAM's GetUserAppId (`cam`, 2019-01-16), behind the cloud's
//! request checks and in its envelope (API-FACTS §1).
//!
//! One request goes through, in order:
//! 1. routing: only `POST /` is API 3.0; another path gets HTTP 404 with a JSON error envelope,
//!    another method on `/` gets `UnsupportedProtocol` (we do not emulate the GET form);
//! 2. the latency profile's round trip for the action (`tokio::time::sleep`);
//! 3. authentication, exactly as the cloud: `Authorization` parsed
//!    (`AuthFailure.InvalidAuthorization`; only `SignedHeaders=content-type;host`, which every
//!    official SDK signs, is accepted), `X-TC-Timestamp` within 300 s of now and its UTC date
//!    equal to the credential-scope date (`AuthFailure.SignatureExpire`), the SecretId and the
//!    `X-TC-Token` of temporary credentials (`AuthFailure.SecretIdNotFound`,
//!    `AuthFailure.TokenFailure`), then the TC3 signature recomputed with the client's own
//!    signer over the *received* body bytes, `Host` and `Content-Type`
//!    (`AuthFailure.SignatureFailure`). The service is the credential scope's; an unknown one is
//!    `NoSuchProduct`;
//! 4. the action: `InvalidAction` (unknown for that service, including real actions this
//!    emulator does not implement), `NoSuchVersion`, `MissingParameter` (`X-TC-Region` for SCF
//!    and API Gateway), `InvalidParameter` (body not a JSON object, wrong types);
//! 5. fault injection (see [`super::faults`]), never before step 4;
//! 6. the action itself, on the blocking pool (the store commits durably with fsync).
//!
//! Every answer is in the envelope of [`error`]: HTTP 200, `Content-Type: application/json`.

pub mod apigateway;
pub mod cam;
pub mod error;
pub mod scf;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use error::ApiError;

use super::LocalCloud;
use super::account::AuthError;
use super::faults::{FailKind, Fault};
pub(crate) use super::model::clock::now_millis;
use crate::providers::tencent::tc3;

/// Largest accepted body: the cloud's 10 MB limit for TC3-signed POSTs (API-FACTS §1.1).
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// Allowed clock skew between `X-TC-Timestamp` and our clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Handles one API 3.0 request (anything `dispatch` did not send to COS).
pub async fn handle(cloud: &LocalCloud, req: Request<Body>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = req.into_parts();
    if parts.uri.path() != "/" {
        let err = ApiError::new(
            "ResourceNotFound",
            format!(
                "the local cloud serves nothing at {} {}",
                parts.method,
                parts.uri.path()
            ),
        );
        return error::failure_with_status(StatusCode::NOT_FOUND, &err, &request_id);
    }
    if parts.method != Method::POST {
        let err = ApiError::new(
            "UnsupportedProtocol",
            format!(
                "the local cloud accepts API 3.0 requests as POST / with a JSON body, not {}",
                parts.method
            ),
        );
        return error::failure(&err, &request_id);
    }
    // A declared length over the limit is refused before waiting for a byte of it.
    let declared_over = crate::localcloud::serve::declared_length(&parts.headers)
        .is_some_and(|n| n > MAX_BODY as u64);
    let read = if declared_over {
        Err(())
    } else {
        axum::body::to_bytes(body, MAX_BODY).await.map_err(drop)
    };
    let body = match read {
        Ok(b) => b,
        Err(_) => {
            let err = ApiError::new(
                "RequestSizeLimitExceeded",
                format!(
                    "the request body could not be read: over {MAX_BODY} bytes, or it stopped \
                     arriving"
                ),
            );
            return error::failure(&err, &request_id);
        }
    };

    let action_name = header_str(&parts.headers, "x-tc-action").unwrap_or_default();
    let delay = cloud.options().latency.round_trip(action_name);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let now_ms = now_millis();
    let routed = match authenticate_and_route(cloud, &parts.headers, &body, now_ms / 1000) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(action = action_name, code = %e.code, "api3 request refused");
            return error::failure(&e, &request_id);
        }
    };

    let fault = cloud.faults().decide();
    if let Fault::Fail(kind) = fault {
        let err = fault_error(routed.service, &routed.action, kind);
        tracing::debug!(action = routed.action, code = %err.code, "injected fault");
        return error::failure(&err, &request_id);
    }

    let ctx = Ctx {
        cloud: cloud.clone(),
        region: routed.region,
        action: routed.action,
        params: routed.params,
        now_ms,
    };
    let service = routed.service;
    let result = tokio::task::spawn_blocking(move || {
        let r = service.call(&ctx);
        (ctx.action, r)
    })
    .await;
    if fault == Fault::LoseResponse {
        tracing::debug!("injected fault: response dropped after the action");
        return dropped_response();
    }
    match result {
        Ok((action, Ok(fields))) => {
            tracing::debug!(action, "api3 ok");
            error::success(fields, &request_id)
        }
        Ok((action, Err(e))) => {
            tracing::debug!(action, code = %e.code, "api3 error");
            error::failure(&e, &request_id)
        }
        Err(join) => error::failure(
            &ApiError::internal(format!("the local cloud failed: {join}")),
            &request_id,
        ),
    }
}

/// The API 3.0 services we emulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Serverless Cloud Function.
    Scf,
    /// API Gateway.
    Apigateway,
    /// CAM (only GetUserAppId).
    Cam,
}

impl Service {
    /// The service of a credential scope.
    pub fn from_scope(name: &str) -> Option<Self> {
        match name {
            "scf" => Some(Service::Scf),
            "apigateway" => Some(Service::Apigateway),
            "cam" => Some(Service::Cam),
            _ => None,
        }
    }

    /// The API version it speaks.
    pub fn version(self) -> &'static str {
        match self {
            Service::Scf => "2018-04-16",
            Service::Apigateway => "2018-08-08",
            Service::Cam => "2019-01-16",
        }
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            Service::Scf => scf::ACTIONS,
            Service::Apigateway => apigateway::ACTIONS,
            Service::Cam => cam::ACTIONS,
        }
    }

    fn needs_region(self) -> bool {
        self != Service::Cam
    }

    fn call(self, ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
        match self {
            Service::Scf => scf::call(ctx),
            Service::Apigateway => apigateway::call(ctx),
            Service::Cam => cam::call(ctx),
        }
    }
}

/// One authenticated, routed action.
#[derive(Debug)]
struct Routed {
    service: Service,
    action: String,
    region: String,
    params: Value,
}

/// What an action handler gets.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) cloud: LocalCloud,
    /// `X-TC-Region` (empty for CAM).
    pub(crate) region: String,
    pub(crate) action: String,
    /// The body, a JSON object.
    pub(crate) params: Value,
    /// When the request was accepted, Unix milliseconds.
    pub(crate) now_ms: i64,
}

impl Ctx {
    /// The parameters as `T`; type mismatches are `InvalidParameter`.
    pub(crate) fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        T::deserialize(&self.params)
            .map_err(|e| ApiError::invalid(format!("invalid parameters for {}: {e}", self.action)))
    }

    /// Unix seconds.
    pub(crate) fn now_secs(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }
}

/// A JSON object literal as a map (`obj(json!({...}))`).
pub(crate) fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        other => {
            let mut m = Map::new();
            m.insert("Result".into(), other);
            m
        }
    }
}

/// `Some(v)` or `MissingParameter` naming `name`.
pub(crate) fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::missing(name))
}

fn authenticate_and_route(
    cloud: &LocalCloud,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Routed, ApiError> {
    let invalid_auth = |why: &str| {
        ApiError::new(
            "AuthFailure.InvalidAuthorization",
            format!("Authorization header is malformed: {why}"),
        )
    };
    let auth = header_str(headers, "authorization").ok_or_else(|| invalid_auth("missing"))?;
    let parsed = tc3::parse_authorization(auth).ok_or_else(|| {
        invalid_auth("expected `TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`")
    })?;
    if parsed.signed_headers != tc3::SIGNED_HEADERS {
        return Err(invalid_auth("SignedHeaders must be `content-type;host`"));
    }
    let ts_text =
        header_str(headers, "x-tc-timestamp").ok_or_else(|| ApiError::missing("X-TC-Timestamp"))?;
    let timestamp: i64 = ts_text.trim().parse().map_err(|_| {
        ApiError::invalid(format!(
            "X-TC-Timestamp `{ts_text}` is not a Unix time in seconds"
        ))
    })?;
    if (now - timestamp).abs() > MAX_SKEW_SECS {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired, timestamp {timestamp} is more than {MAX_SKEW_SECS} seconds from the server time {now}."
            ),
        ));
    }
    let date = tc3::utc_date(timestamp);
    if parsed.date != date {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "The credential date {} does not match the UTC date {date} of the timestamp.",
                parsed.date
            ),
        ));
    }
    let service = Service::from_scope(&parsed.service).ok_or_else(|| {
        ApiError::new(
            "NoSuchProduct",
            format!("the local cloud has no product `{}`", parsed.service),
        )
    })?;
    let token = header_str(headers, "x-tc-token").filter(|t| !t.is_empty());
    let key = cloud
        .account()
        .secret_for(&parsed.secret_id, token, now)
        .map_err(|e| match e {
            AuthError::SecretIdNotFound => {
                ApiError::new("AuthFailure.SecretIdNotFound", e.to_string())
            }
            AuthError::TokenFailure | AuthError::TokenExpired => {
                ApiError::new("AuthFailure.TokenFailure", e.to_string())
            }
        })?;
    let unsigned = header_str(headers, "x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD");
    let signable = tc3::SignableRequest {
        service: &parsed.service,
        host: header_str(headers, "host").unwrap_or_default(),
        content_type: header_str(headers, "content-type").unwrap_or_default(),
        payload: if unsigned { b"UNSIGNED-PAYLOAD" } else { body },
        timestamp,
    };
    let expected = tc3::sign(&signable, &parsed.secret_id, key.expose());
    if !constant_time_eq(expected.signature.as_bytes(), parsed.signature.as_bytes()) {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }

    let action =
        header_str(headers, "x-tc-action").ok_or_else(|| ApiError::missing("X-TC-Action"))?;
    if !service.actions().contains(&action) {
        return Err(ApiError::new(
            "InvalidAction",
            format!(
                "The action `{action}` is not supported by the local cloud's {} ({}).",
                parsed.service,
                service.version()
            ),
        ));
    }
    let version =
        header_str(headers, "x-tc-version").ok_or_else(|| ApiError::missing("X-TC-Version"))?;
    if version != service.version() {
        return Err(ApiError::new(
            "NoSuchVersion",
            format!(
                "The API version `{version}` does not exist for {}; use {}.",
                parsed.service,
                service.version()
            ),
        ));
    }
    let region = header_str(headers, "x-tc-region").unwrap_or_default();
    if service.needs_region() {
        if region.is_empty() {
            return Err(ApiError::missing("X-TC-Region"));
        }
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ApiError::new(
                "UnsupportedRegion",
                format!("The region `{region}` is not supported."),
            ));
        }
    }
    let content_type = header_str(headers, "content-type").unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::invalid(format!(
            "the local cloud only accepts `Content-Type: application/json` bodies, got `{content_type}`"
        )));
    }
    let params: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?
    };
    if !params.is_object() {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    Ok(Routed {
        service,
        action: action.to_owned(),
        region: region.to_owned(),
        params,
    })
}

/// The retryable error a faulted call fails with before acting.
fn fault_error(service: Service, action: &str, kind: FailKind) -> ApiError {
    match kind {
        FailKind::Throttled => ApiError::new(
            "RequestLimitExceeded",
            "The number of requests exceeds the frequency limit (injected fault).",
        ),
        FailKind::Internal => ApiError::internal("Internal error (injected fault)."),
        FailKind::Busy => match service {
            Service::Apigateway if action.contains("Api") => ApiError::new(
                "FailedOperation.ApiInOperation",
                "The API is being operated on, please retry later (injected fault).",
            ),
            Service::Apigateway => ApiError::new(
                "FailedOperation.ServiceInOperation",
                "The service is being operated on, please retry later (injected fault).",
            ),
            Service::Scf => ApiError::new(
                "InternalError.System",
                "Internal system error, please retry later (injected fault).",
            ),
            Service::Cam => ApiError::internal("Internal error (injected fault)."),
        },
    }
}

/// A response whose body fails at once: hyper aborts the connection, so the client sees a
/// transport error after the action took effect.
fn dropped_response() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other(
            "injected fault: response dropped",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, error::JSON)
        .body(Body::from_stream(stream))
        .expect("static headers are valid")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// ISO 8601 UTC (`2024-12-17T09:52:48Z`), the form API Gateway uses for `CreatedTime`.
pub(crate) fn iso_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `{prefix}-` and eight random lowercase letters and digits (`service-0c96l2bo`).
pub(crate) fn random_id(prefix: &str) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..8)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::account::KeyPair;
    use crate::localcloud::{ApigwMode, Options};

    fn cloud(dir: &std::path::Path) -> LocalCloud {
        let opts = Options {
            data_dir: dir.to_owned(),
            appid: 1_250_000_000,
            credentials: KeyPair::default_pair(),
            latency: Default::default(),
            faults: Default::default(),
            apigw: ApigwMode::Available,
            allow_hosts: Vec::new(),
            serve: Default::default(),
        };
        LocalCloud::open(opts, "127.0.0.1:9000".parse().unwrap()).unwrap()
    }

    /// A request signed like the SDK does, with `key` as the SecretKey.
    fn signed(service: &str, action: &str, body: &'static str, key: &str) -> Request<Body> {
        let ts = now_millis() / 1000;
        let keys = KeyPair::default_pair();
        let sig = tc3::sign(
            &tc3::SignableRequest {
                service,
                host: "127.0.0.1:9000",
                content_type: "application/json",
                payload: body.as_bytes(),
                timestamp: ts,
            },
            &keys.secret_id,
            key,
        );
        let version = Service::from_scope(service).map_or("x", Service::version);
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
            answer(handle(&c, signed("cam", "GetUserAppId", "{}", key.expose())).await).await;
        assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
        assert_eq!(v["Response"]["AppId"], 1_250_000_000);
        assert!(v["Response"]["RequestId"].as_str().unwrap().len() == 36);

        let (st, ct, v) =
            answer(handle(&c, signed("scf", "ListFunctions", "{}", "wrong")).await).await;
        assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
        assert_eq!(
            v["Response"]["Error"]["Code"],
            "AuthFailure.SignatureFailure"
        );

        let req = Request::get("/favicon.ico").body(Body::empty()).unwrap();
        let (st, ct, v) = answer(handle(&c, req).await).await;
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
        let (_, _, v) =
            answer(handle(&c, signed("scf", "GetFunction", "{oops", key.expose())).await).await;
        assert_eq!(v["Response"]["Error"]["Code"], "InvalidParameter");
        let (_, _, v) =
            answer(handle(&c, signed("scf", "Frobnicate", "{}", key.expose())).await).await;
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
            answer(handle(&c, signed("scf", "GetFunction", body, key.expose())).await).await;
        let message = v["Response"]["Error"]["Message"].as_str().unwrap();
        assert!(message.len() < 2048, "{} bytes echoed", message.len());
        assert!(message.contains("8000000 bytes"), "{message}");
    }

    #[test]
    fn times_use_the_clouds_formats() {
        assert_eq!(
            crate::providers::tencent::time::format(1_700_000_000),
            "2023-11-15 06:13:20"
        );
        assert_eq!(iso_time(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ids_have_the_clouds_shape() {
        let id = random_id("service");
        assert_eq!(id.len(), "service-".len() + 8);
        assert!(
            id[8..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
    }
}
