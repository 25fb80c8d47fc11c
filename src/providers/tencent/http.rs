//! The API 3.0 transport: one generic [`ApiClient::call`] that signs (TC3), sends, retries and
//! maps the `{"Response": …}` envelope into typed results or a typed [`Error`].
//!
//! Also home to what every Tencent client shares: [`client`] (the one place a `reqwest::Client`
//! is built, after installing the rustls `ring` provider), the [`RetryPolicy`] (full-jitter
//! exponential backoff) and the [`RateLimiter`] (a token bucket shared by clones). Sleeps use
//! `tokio::time`, so tests can `tokio::time::pause()`.
//!
//! Nothing here logs request or response bodies: they can carry function environment variables.

use std::fmt;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use http::HeaderValue;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::credentials::Credentials;
use super::error::Error;
use super::tc3;

/// `User-Agent` and `X-TC-RequestClient` value.
const USER_AGENT: &str = concat!("chatstack/", env!("CARGO_PKG_VERSION"));
/// The content type we send and sign.
const CONTENT_TYPE: &str = "application/json";

pub use super::endpoint::is_loopback;

/// Builds the HTTP client every Tencent request goes through: rustls with the `ring` provider
/// (installed idempotently), a 10 s connect timeout, pooled keep-alive connections.
pub fn client() -> Result<reqwest::Client, Error> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider was installed first (by a test or a library), which is
        // just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::setup(format!("cannot initialise the HTTP client: {e}")))
}

/// An API 3.0 service: its name in the host and credential scope, and its API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Serverless Cloud Function, `scf` 2018-04-16.
    Scf,
    /// API Gateway, `apigateway` 2018-08-08.
    ApiGateway,
    /// Cloud Access Management, `cam` 2019-01-16.
    Cam,
    /// Tags, `tag` 2018-08-13.
    Tag,
}

impl Service {
    /// The service name (`scf`), used in the host and the credential scope.
    pub fn name(self) -> &'static str {
        match self {
            Service::Scf => "scf",
            Service::ApiGateway => "apigateway",
            Service::Cam => "cam",
            Service::Tag => "tag",
        }
    }

    /// The API version sent in `X-TC-Version`.
    pub fn version(self) -> &'static str {
        match self {
            Service::Scf => "2018-04-16",
            Service::ApiGateway => "2018-08-08",
            Service::Cam => "2019-01-16",
            Service::Tag => "2018-08-13",
        }
    }

    /// `{service}.tencentcloudapi.com`.
    pub fn default_host(self) -> String {
        format!("{}.tencentcloudapi.com", self.name())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `X-TC-Language`: the language of error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// `en-US` (our default: chatstack's own messages are English).
    #[default]
    EnUs,
    /// `zh-CN` (the official SDKs' default).
    ZhCn,
}

impl Language {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::EnUs => "en-US",
            Language::ZhCn => "zh-CN",
        }
    }
}

/// Retry schedule for retryable errors: full-jitter exponential backoff.
///
/// Attempt `n` (1-based) that fails retryably sleeps a uniform random time in
/// `0..=min(max_delay, base_delay * 2^(n-1))`, up to `max_attempts` attempts in total and never
/// past `max_elapsed` since the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first.
    pub max_attempts: u32,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff ceiling after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// A full-jitter delay after failed attempt `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }

    /// Runs `op(attempt)` until it succeeds, fails for good, or the policy is exhausted. Only
    /// errors with [`Error::is_retryable`] are retried, and when `resend_if_unknown` is false
    /// not those whose outcome is unknown ([`Error::is_outcome_unknown`]: the request may have
    /// been applied). The error returned records the attempts.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        resend_if_unknown: bool,
        mut op: F,
    ) -> Result<T, Error>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let delay = self.delay(attempt);
                    let out_of_time = started.elapsed() + delay > self.max_elapsed;
                    let unsafe_resend = !resend_if_unknown && e.is_outcome_unknown();
                    if !e.is_retryable()
                        || unsafe_resend
                        || attempt >= self.max_attempts
                        || out_of_time
                    {
                        return Err(e.with_attempts(attempt));
                    }
                    tracing::debug!(
                        service = e.service(),
                        action = e.action(),
                        attempt,
                        code = e.error_code().unwrap_or(""),
                        delay_ms = delay.as_millis() as u64,
                        "retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// A token bucket limiting requests per second; clones share the bucket.
///
/// Tencent documents 100 requests/s per API for most actions (less for some); we stay well
/// below with a default of 50/s and a burst of 20.
#[derive(Clone)]
pub struct RateLimiter(Arc<Mutex<Bucket>>);

struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `rate` requests per second on average, up to `burst` at once.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter(Arc::new(Mutex::new(Bucket {
            rate: rate.max(0.001),
            burst,
            tokens: burst,
            last: Instant::now(),
        })))
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                // A std Mutex: the lock is never held across an await.
                let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let refill = now.duration_since(b.last).as_secs_f64() * b.rate;
                b.tokens = (b.tokens + refill).min(b.burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / b.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(50.0, 20)
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("RateLimiter")
            .field("rate", &b.rate)
            .field("burst", &b.burst)
            .finish()
    }
}

/// What every client built from one [`super::TencentCloud`] shares.
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) credentials: Credentials,
    pub(crate) region: String,
    pub(crate) endpoint: Option<Url>,
    pub(crate) language: Language,
    pub(crate) limiter: RateLimiter,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint.as_ref().map(Url::as_str))
            .field("language", &self.language)
            .field("limiter", &self.limiter)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// `host[:port]` of a URL, the port only when it is explicit.
pub(crate) fn host_with_port(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// Checks an `--endpoint` URL: http or https with a host.
pub(crate) fn check_endpoint(endpoint: &Url) -> Result<(), Error> {
    if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
        return Err(Error::setup(format!(
            "invalid endpoint {endpoint}: expected http://HOST:PORT or https://HOST"
        )));
    }
    Ok(())
}

/// What [`ApiClient::new`] needs.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The key pair (and token).
    pub credentials: Credentials,
    /// `X-TC-Region`, e.g. `ap-guangzhou`.
    pub region: String,
    /// Send every request to this base URL (the local cloud) instead of
    /// `https://{service}.tencentcloudapi.com/`; the signed host is this URL's `host:port`.
    pub endpoint: Option<Url>,
    /// `X-TC-Language`.
    pub language: Language,
}

/// The API 3.0 client; cheap to clone (clones share the HTTP client and the rate limiter).
#[derive(Clone, Debug)]
pub struct ApiClient {
    shared: Arc<Shared>,
}

impl ApiClient {
    /// A client with its own HTTP client, rate limiter and the default retry policy.
    pub fn new(config: ApiConfig) -> Result<Self, Error> {
        if let Some(endpoint) = &config.endpoint {
            check_endpoint(endpoint)?;
        }
        Ok(ApiClient {
            shared: Arc::new(Shared {
                http: client()?,
                credentials: config.credentials,
                region: config.region,
                endpoint: config.endpoint,
                language: config.language,
                limiter: RateLimiter::default(),
                retry: RetryPolicy::default(),
            }),
        })
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        ApiClient { shared }
    }

    /// The same client with another retry policy (tests use millisecond delays).
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        let s = &self.shared;
        ApiClient {
            shared: Arc::new(Shared {
                http: s.http.clone(),
                credentials: s.credentials.clone(),
                region: s.region.clone(),
                endpoint: s.endpoint.clone(),
                language: s.language,
                limiter: s.limiter.clone(),
                retry,
            }),
        }
    }

    /// The region requests are sent for.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The URL a request for `service` goes to, and the `Host` it carries and signs.
    fn target(&self, service: Service) -> (Url, String) {
        match &self.shared.endpoint {
            Some(endpoint) => {
                let host = host_with_port(endpoint).unwrap_or_default();
                (endpoint.clone(), host)
            }
            None => {
                let host = service.default_host();
                let url = Url::parse(&format!("https://{host}/")).expect("static URL is valid");
                (url, host)
            }
        }
    }

    /// Calls `action` on `service` with `req` as the JSON body, returning the `Response` object
    /// deserialized as `Resp`. Retries throttling, internal and busy errors and transport
    /// failures per the retry policy, re-signing each attempt.
    pub async fn call<Req, Resp>(
        &self,
        service: Service,
        action: &str,
        req: &Req,
    ) -> Result<Resp, Error>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let body = bytes::Bytes::from(serde_json::to_vec(req).map_err(|e| {
            Error::setup(format!("cannot encode the {service} {action} request: {e}"))
        })?);
        let (url, host) = self.target(service);
        // A synchronous Invoke may legitimately take up to 300 s (API-FACTS §2.5).
        let timeout = if action == "Invoke" {
            Duration::from_secs(330)
        } else {
            Duration::from_secs(120)
        };
        let retry = self.shared.retry;
        retry
            .run(is_safe_to_resend(action), |attempt| {
                let body = body.clone();
                let (url, host) = (url.clone(), host.as_str());
                async move {
                    self.shared.limiter.acquire().await;
                    let started = Instant::now();
                    let result = self
                        .attempt(service, action, url, host, body, timeout)
                        .await;
                    tracing::debug!(
                        service = service.name(),
                        action,
                        attempt,
                        ms = started.elapsed().as_millis() as u64,
                        ok = result.is_ok(),
                        code = result
                            .as_ref()
                            .err()
                            .and_then(|e| e.error_code())
                            .unwrap_or(""),
                        "api call"
                    );
                    result
                }
            })
            .await
    }

    async fn attempt<Resp: DeserializeOwned>(
        &self,
        service: Service,
        action: &str,
        url: Url,
        host: &str,
        body: bytes::Bytes,
        timeout: Duration,
    ) -> Result<Resp, Error> {
        let name = service.name();
        let creds = &self.shared.credentials;
        let timestamp = jiff::Timestamp::now().as_second();
        let signature = tc3::sign(
            &tc3::SignableRequest {
                service: name,
                host,
                content_type: CONTENT_TYPE,
                payload: &body,
                timestamp,
            },
            &creds.secret_id,
            creds.secret_key.expose(),
        );
        let header = |v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| Error::setup(format!("invalid header value for {name} {action}")))
        };
        let mut authorization = header(&signature.authorization)?;
        authorization.set_sensitive(true);
        let mut request = self
            .shared
            .http
            .post(url)
            .timeout(timeout)
            .header(http::header::HOST, header(host)?)
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(http::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", header(action)?)
            .header("X-TC-Version", service.version())
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", header(&self.shared.region)?)
            .header("X-TC-Language", self.shared.language.as_str())
            .header("X-TC-RequestClient", USER_AGENT);
        if let Some(token) = &creds.token {
            let mut value = header(token.expose())?;
            value.set_sensitive(true);
            request = request.header("X-TC-Token", value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| Error::transport(name, action, e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(Error::status(name, action, status.as_u16(), None));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::transport(name, action, e))?;
        parse_envelope(name, action, &bytes)
    }
}

/// Whether an action may be sent again when the outcome of the previous attempt is unknown
/// (transport failure, HTTP 5xx). Not for actions that would do the work twice: CreateService
/// and CreateApi create a second resource (names are not unique), and Invoke runs the function
/// again. For those the error goes back to the caller, which should look for the resource
/// (by tag or name) before trying again. Creates keyed by name (CreateFunction, PUT Bucket) and
/// updates/deletes are safe: a repeat fails with "already exists"/"not found"/"busy".
fn is_safe_to_resend(action: &str) -> bool {
    !matches!(action, "CreateService" | "CreateApi" | "Invoke")
}

/// Maps `{"Response": {...}}` to `Resp`, or `{"Response": {"Error": {...}}}` to an [`Error`].
pub(crate) fn parse_envelope<Resp: DeserializeOwned>(
    service: &'static str,
    action: &str,
    bytes: &[u8],
) -> Result<Resp, Error> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        #[serde(rename = "Response")]
        response: serde_json::Value,
    }
    #[derive(serde::Deserialize)]
    struct ApiError {
        #[serde(rename = "Code", default)]
        code: String,
        #[serde(rename = "Message", default)]
        message: String,
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|e| Error::decode(service, action, None, e))?;
    let mut response = envelope.response;
    let request_id = response
        .get("RequestId")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if let Some(error) = response.get_mut("Error").map(serde_json::Value::take) {
        let error: ApiError = serde_json::from_value(error)
            .map_err(|e| Error::decode(service, action, request_id.clone(), e))?;
        return Err(Error::api(
            service,
            action,
            error.code,
            error.message,
            request_id.unwrap_or_default(),
        ));
    }
    serde_json::from_value(response).map_err(|e| Error::decode(service, action, request_id, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::secret::Secret;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    pub(crate) const ID: &str = "AKIDtestTESTtest1234";
    pub(crate) const KEY: &str = "KEY-must-never-be-printed";
    pub(crate) const TOKEN: &str = "TOKEN-must-never-be-printed";

    pub(crate) fn creds(token: bool) -> Credentials {
        Credentials::new(ID, Secret::new(KEY), token.then(|| Secret::new(TOKEN)))
    }

    /// Recomputes the TC3 signature of a received request over its exact bytes and `Host`, and
    /// checks the common headers. Returns the action.
    pub(crate) fn verify_tc3(req: &Request) -> String {
        let h = |name: &str| {
            req.headers
                .get(name)
                .unwrap_or_else(|| panic!("missing header {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let auth = h("authorization");
        let parsed = tc3::parse_authorization(&auth).expect("TC3 Authorization");
        assert_eq!(parsed.secret_id, ID);
        let timestamp: i64 = h("x-tc-timestamp").parse().unwrap();
        let host = h("host");
        let content_type = h("content-type");
        let want = tc3::sign(
            &tc3::SignableRequest {
                service: &parsed.service,
                host: &host,
                content_type: &content_type,
                payload: &req.body,
                timestamp,
            },
            ID,
            KEY,
        );
        assert_eq!(
            auth, want.authorization,
            "signature over the received bytes"
        );
        assert!((jiff::Timestamp::now().as_second() - timestamp).abs() < 300);
        for name in ["x-tc-version", "x-tc-region", "x-tc-language"] {
            h(name);
        }
        h("x-tc-action")
    }

    fn ok(body: serde_json::Value) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(
            serde_json::to_vec(&serde_json::json!({ "Response": body })).unwrap(),
            "application/json",
        )
    }

    pub(crate) fn api_ok(mut body: serde_json::Value) -> ResponseTemplate {
        body["RequestId"] = "req-ok".into();
        ok(body)
    }

    pub(crate) fn api_err(code: &str) -> ResponseTemplate {
        ok(serde_json::json!({
            "Error": {"Code": code, "Message": format!("{code} happened")},
            "RequestId": "req-err"
        }))
    }

    pub(crate) async fn client_for(server: &MockServer, token: bool) -> ApiClient {
        ApiClient::new(ApiConfig {
            credentials: creds(token),
            region: "ap-guangzhou".into(),
            endpoint: Some(Url::parse(&server.uri()).unwrap()),
            language: Language::EnUs,
        })
        .unwrap()
        .with_retry_policy(fast_retries())
    }

    /// The default attempt count with millisecond delays. (Paused tokio time does not mix with
    /// real sockets: the clock would jump to the request timeout while waiting for wiremock.)
    pub(crate) fn fast_retries() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "PascalCase")]
    struct Echo {
        function_name: String,
    }

    #[tokio::test]
    async fn signs_the_host_it_sends_and_parses_the_envelope() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(header("x-tc-action", "GetFunction"))
            .and(header("x-tc-version", "2018-04-16"))
            .and(header("x-tc-region", "ap-guangzhou"))
            .and(header("content-type", "application/json"))
            .respond_with(api_ok(serde_json::json!({"FunctionName": "chat-register"})))
            .expect(1)
            .mount(&server)
            .await;
        let api = client_for(&server, false).await;
        let out: Echo = api
            .call(
                Service::Scf,
                "GetFunction",
                &serde_json::json!({"FunctionName": "chat-register", "Note": "数据"}),
            )
            .await
            .unwrap();
        assert_eq!(out.function_name, "chat-register");
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 1);
        let req = &received[0];
        assert_eq!(verify_tc3(req), "GetFunction");
        let host = req.headers.get("host").unwrap().to_str().unwrap();
        assert_eq!(host, format!("127.0.0.1:{}", server.address().port()));
        assert!(req.headers.get("x-tc-token").is_none());
        // serde_json writes raw UTF-8; the signature covers those exact bytes.
        assert!(String::from_utf8_lossy(&req.body).contains("数据"));
    }

    #[tokio::test]
    async fn temporary_credentials_send_x_tc_token() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-token", TOKEN))
            .respond_with(api_ok(serde_json::json!({})))
            .expect(1)
            .mount(&server)
            .await;
        let api = client_for(&server, true).await;
        let _: serde_json::Value = api
            .call(
                Service::ApiGateway,
                "DescribeService",
                &serde_json::json!({}),
            )
            .await
            .unwrap();
        let received = server.received_requests().await.unwrap();
        verify_tc3(&received[0]);
        let parsed =
            tc3::parse_authorization(received[0].headers["authorization"].to_str().unwrap())
                .unwrap();
        assert_eq!(parsed.service, "apigateway");
        assert_eq!(received[0].headers["x-tc-version"], "2018-08-08");
    }

    #[tokio::test]
    async fn error_envelope_becomes_a_typed_error() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(api_err("ResourceNotFound.FunctionName"))
            .expect(1) // not retried
            .mount(&server)
            .await;
        let api = client_for(&server, false).await;
        let err = api
            .call::<_, serde_json::Value>(Service::Scf, "GetFunction", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert_eq!(err.error_code(), Some("ResourceNotFound.FunctionName"));
        assert_eq!(err.request_id(), Some("req-err"));
        assert_eq!(err.service(), "scf");
        assert_eq!(err.action(), "GetFunction");
        assert!(err.is_not_found() && !err.is_retryable());
        assert_eq!(err.attempts(), 1);
        assert_eq!(
            err.to_string(),
            "scf GetFunction failed: ResourceNotFound.FunctionName: \
             ResourceNotFound.FunctionName happened (RequestId req-err)"
        );
        let shown = format!("{err} {err:?} {api:?}");
        assert!(!shown.contains(KEY), "{shown}");
        for req in server.received_requests().await.unwrap() {
            verify_tc3(&req);
        }
    }

    #[tokio::test]
    async fn retries_throttling_then_succeeds_with_fresh_signatures() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(api_err("RequestLimitExceeded"))
            .up_to_n_times(2)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(api_ok(serde_json::json!({"FunctionName": "f"})))
            .expect(1)
            .mount(&server)
            .await;
        let api = client_for(&server, false).await;
        let out: Echo = api
            .call(Service::Scf, "GetFunction", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(out.function_name, "f");
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 3);
        for req in &received {
            verify_tc3(req);
        }
    }

    #[tokio::test]
    async fn retries_busy_and_5xx_but_gives_up_after_the_policy() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-action", "DeleteService"))
            .respond_with(api_err("FailedOperation.ServiceInOperation"))
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeService"))
            .respond_with(ResponseTemplate::new(502))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-action", "DescribeService"))
            .respond_with(api_ok(serde_json::json!({})))
            .mount(&server)
            .await;
        let api = client_for(&server, false).await;
        let err = api
            .call::<_, serde_json::Value>(Service::ApiGateway, "DeleteService", &())
            .await
            .unwrap_err();
        assert_eq!(err.attempts(), RetryPolicy::default().max_attempts);
        assert!(err.to_string().contains("after 6 attempts"), "{err}");
        let _: serde_json::Value = api
            .call(Service::ApiGateway, "DescribeService", &())
            .await
            .unwrap();
        let received = server.received_requests().await.unwrap();
        assert_eq!(received.len(), 6 + 2);
        for req in &received {
            verify_tc3(req);
        }
    }

    #[tokio::test]
    async fn creates_that_duplicate_are_not_resent_after_an_unknown_outcome() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(502))
            .mount(&server)
            .await;
        let api = client_for(&server, false).await;
        for action in ["CreateService", "CreateApi"] {
            let err = api
                .call::<_, serde_json::Value>(Service::ApiGateway, action, &())
                .await
                .unwrap_err();
            assert!(err.is_retryable() && err.is_outcome_unknown(), "{err}");
            assert_eq!(err.attempts(), 1, "{action} must not be sent twice");
        }
        let err = api
            .call::<_, serde_json::Value>(Service::ApiGateway, "DescribeService", &())
            .await
            .unwrap_err();
        assert_eq!(err.attempts(), RetryPolicy::default().max_attempts);
        assert_eq!(server.received_requests().await.unwrap().len(), 2 + 6);
    }

    #[tokio::test]
    async fn transport_errors_are_typed_and_retryable() {
        // Nothing listens on this port (the listener is dropped before the call).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let api = ApiClient::new(ApiConfig {
            credentials: creds(false),
            region: "ap-guangzhou".into(),
            endpoint: Some(Url::parse(&format!("http://127.0.0.1:{port}")).unwrap()),
            language: Language::ZhCn,
        })
        .unwrap()
        .with_retry_policy(RetryPolicy::none());
        let err = api
            .call::<_, serde_json::Value>(Service::Scf, "ListFunctions", &())
            .await
            .unwrap_err();
        assert!(err.is_transport() && err.is_retryable(), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn backoff_is_full_jitter_and_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_millis(200));
        assert_eq!(p.ceiling(2), Duration::from_millis(400));
        assert_eq!(p.ceiling(6), Duration::from_secs(5));
        assert_eq!(p.ceiling(60), Duration::from_secs(5));
        for attempt in 1..10 {
            assert!(p.delay(attempt) <= p.ceiling(attempt));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limiter_spaces_requests_after_the_burst() {
        let limiter = RateLimiter::new(10.0, 2);
        let clone = limiter.clone();
        let start = Instant::now();
        for _ in 0..2 {
            clone.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        for _ in 0..5 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(490) && elapsed < Duration::from_millis(700),
            "{elapsed:?}"
        );
    }

    #[test]
    fn envelope_parsing_edge_cases() {
        let err = parse_envelope::<serde_json::Value>("scf", "X", b"not json").unwrap_err();
        assert!(!err.is_retryable());
        let v: serde_json::Value =
            parse_envelope("scf", "X", br#"{"Response":{"RequestId":"r","A":null}}"#).unwrap();
        assert_eq!(v["RequestId"], "r");
    }
}
