//! API 3.0 control plane of the local cloud: SCF (`scf`, 2018-04-16), API Gateway
//! (`apigateway`, 2018-08-08), CAM's GetUserAppId (`cam`, 2019-01-16) and the tag service's
//! actions on SCF functions (`tag`, 2018-08-13), behind the cloud's
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
//! 6. the action itself, on the blocking pool (the store commits durably with fsync); Invoke
//!    reads the function on the blocking pool and awaits the runtime on the async one.
//!
//! Every answer is in the envelope of [`error`]: HTTP 200, `Content-Type: application/json`.

pub mod apigateway;
pub mod cam;
mod context;
pub mod error;
pub mod scf;
pub mod tag;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value};

use context::Ctx;
pub use context::Plane;
pub use error::ApiError;

use super::account::AuthError;
use super::faults::{FailKind, Fault};
use super::model::clock::now_millis;
use crate::providers::tencent::tc3;

/// Largest accepted body: the cloud's 10 MB limit for TC3-signed POSTs (API-FACTS §1.1).
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// Allowed clock skew between `X-TC-Timestamp` and our clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Handles one API 3.0 request (anything `dispatch` did not send to COS).
pub async fn handle(plane: &Arc<Plane>, req: Request<Body>) -> Response {
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
    let delay = plane.latency.round_trip(action_name);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let now_ms = now_millis();
    let routed = match authenticate_and_route(plane, &parts.headers, &body, now_ms / 1000) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(action = action_name, code = %e.code, "api3 request refused");
            return error::failure(&e, &request_id);
        }
    };

    let fault = plane.faults.decide();
    if let Fault::Fail(kind) = fault {
        let err = fault_error(routed.service, &routed.action, kind);
        tracing::debug!(action = routed.action, code = %err.code, "injected fault");
        return error::failure(&err, &request_id);
    }

    let ctx = Ctx {
        plane: plane.clone(),
        region: routed.region,
        action: routed.action,
        params: routed.params,
        now_ms,
    };
    let service = routed.service;
    let result = if service == Service::Scf && scf::is_async(&ctx.action) {
        // Invoke awaits the function runtime; its store reads go to the blocking pool inside.
        let action = ctx.action.clone();
        Ok((action, scf::call_async(ctx).await))
    } else {
        tokio::task::spawn_blocking(move || {
            let r = service.call(&ctx);
            (ctx.action, r)
        })
        .await
    };
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
    /// Tags (SCF functions' tags).
    Tag,
}

impl Service {
    /// The service of a credential scope.
    pub fn from_scope(name: &str) -> Option<Self> {
        match name {
            "scf" => Some(Service::Scf),
            "apigateway" => Some(Service::Apigateway),
            "cam" => Some(Service::Cam),
            "tag" => Some(Service::Tag),
            _ => None,
        }
    }

    /// The service whose API version is `version` (each of ours has its own).
    pub fn from_version(version: &str) -> Option<Self> {
        [
            Service::Scf,
            Service::Apigateway,
            Service::Cam,
            Service::Tag,
        ]
        .into_iter()
        .find(|s| s.version() == version)
    }

    /// The API version it speaks.
    pub fn version(self) -> &'static str {
        match self {
            Service::Scf => "2018-04-16",
            Service::Apigateway => "2018-08-08",
            Service::Cam => "2019-01-16",
            Service::Tag => "2018-08-13",
        }
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            Service::Scf => scf::ACTIONS,
            Service::Apigateway => apigateway::ACTIONS,
            Service::Cam => cam::ACTIONS,
            Service::Tag => tag::ACTIONS,
        }
    }

    fn needs_region(self) -> bool {
        !matches!(self, Service::Cam | Service::Tag)
    }

    fn call(self, ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
        match self {
            Service::Scf => scf::call(ctx),
            Service::Apigateway => apigateway::call(ctx),
            Service::Cam => cam::call(ctx),
            Service::Tag => tag::call(ctx),
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

fn authenticate_and_route(
    plane: &Plane,
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
    // The product: the credential scope's service, or, when that is none we serve, the one
    // X-TC-Version names. The Node.js SDK takes the scope's service from the endpoint's first
    // label (`127` for `127.0.0.1:PORT`); the cloud picks the product by host, which here is
    // one for every product.
    let service = Service::from_scope(&parsed.service)
        .or_else(|| header_str(headers, "x-tc-version").and_then(Service::from_version))
        .ok_or_else(|| {
            ApiError::new(
                "NoSuchProduct",
                format!("the local cloud has no product `{}`", parsed.service),
            )
        })?;
    let token = header_str(headers, "x-tc-token").filter(|t| !t.is_empty());
    let key = plane
        .account
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
    let signed_with = |host: &str| {
        let signable = tc3::SignableRequest {
            service: &parsed.service,
            host,
            content_type: header_str(headers, "content-type").unwrap_or_default(),
            payload: if unsigned { b"UNSIGNED-PAYLOAD" } else { body },
            timestamp,
        };
        let expected = tc3::sign(&signable, &parsed.secret_id, key.expose());
        constant_time_eq(expected.signature.as_bytes(), parsed.signature.as_bytes())
    };
    // The host as sent, or without its port: the Python SDK signs `host:port`, the Node.js SDK
    // signs the name alone while sending `Host: name:port`.
    let host = header_str(headers, "host").unwrap_or_default();
    let without_port = host
        .rsplit_once(':')
        .filter(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok())
        .map(|(name, _)| name);
    if !signed_with(host) && !without_port.is_some_and(signed_with) {
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
            Service::Cam | Service::Tag => ApiError::internal("Internal error (injected fault)."),
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

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
