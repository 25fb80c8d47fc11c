//! Tencent Cloud: credentials, the TC3 and COS signers, the API 3.0 transport and typed clients
//! for SCF, API Gateway, COS and CAM.
//!
//! Start from [`TencentCloud::new`]; its accessors hand out cheap clients that share one HTTP
//! client, one rate limiter and one retry policy. This module knows nothing about stack files
//! and never prints: errors carry what the user needs ([`Error`], [`CredentialsError`]).

pub mod apigateway;
pub mod cam;
pub mod cos;
pub mod cos_sign;
mod cos_xml;
pub mod credentials;
mod endpoint;
mod error;
pub mod http;
pub mod limits;
pub mod scf;
mod serde_util;
mod shapes;
pub mod tag;
pub mod tc3;
pub mod time;
#[cfg(test)]
pub(crate) mod vectors;

use std::sync::Arc;

use url::Url;

pub use apigateway::ApiGateway;
pub use cam::Cam;
pub use cos::Cos;
pub use credentials::{CredentialSource, Credentials, Resolved};
pub use error::{CredentialsError, Error};
pub use http::{ApiClient, ApiConfig, Language, RateLimiter, RetryPolicy, Service};
pub use scf::Scf;
pub use shapes::{Filter, Tag};
pub use tag::Tags;

/// One account in one region (or one local cloud): hands out the typed clients.
#[derive(Debug, Clone)]
pub struct TencentCloud {
    shared: Arc<http::Shared>,
}

impl TencentCloud {
    /// Connects (lazily: nothing is sent yet) to Tencent Cloud in `region`, or to the local cloud
    /// at `endpoint` (`http://127.0.0.1:PORT`), see DESIGN §5.
    pub fn new(
        credentials: Credentials,
        region: &str,
        endpoint: Option<Url>,
    ) -> Result<Self, Error> {
        Self::with_options(
            credentials,
            region,
            endpoint,
            RetryPolicy::default(),
            RateLimiter::default(),
        )
    }

    /// Like [`TencentCloud::new`] with an explicit retry policy and rate limiter.
    pub fn with_options(
        credentials: Credentials,
        region: &str,
        endpoint: Option<Url>,
        retry: RetryPolicy,
        limiter: RateLimiter,
    ) -> Result<Self, Error> {
        if region.trim().is_empty() {
            return Err(Error::setup("no region given (e.g. ap-guangzhou)"));
        }
        if credentials.secret_id.is_empty() || credentials.secret_key.is_empty() {
            return Err(Error::setup("the SecretId or SecretKey is empty"));
        }
        if let Some(endpoint) = &endpoint {
            http::check_endpoint(endpoint)?;
        }
        Ok(TencentCloud {
            shared: Arc::new(http::Shared {
                http: http::client()?,
                credentials,
                region: region.trim().to_owned(),
                endpoint,
                language: Language::default(),
                limiter,
                retry,
            }),
        })
    }

    /// The same account in another region, sharing the HTTP client, rate limiter and retry
    /// policy (for stacks whose functions name their own region).
    pub fn in_region(&self, region: &str) -> Result<Self, Error> {
        if region.trim().is_empty() {
            return Err(Error::setup("no region given (e.g. ap-guangzhou)"));
        }
        let s = &self.shared;
        Ok(TencentCloud {
            shared: Arc::new(http::Shared {
                http: s.http.clone(),
                credentials: s.credentials.clone(),
                region: region.trim().to_owned(),
                endpoint: s.endpoint.clone(),
                language: s.language,
                limiter: s.limiter.clone(),
                retry: s.retry,
            }),
        })
    }

    /// The SCF client.
    pub fn scf(&self) -> Scf {
        Scf::new(self.api())
    }

    /// The API Gateway client.
    pub fn apigateway(&self) -> ApiGateway {
        ApiGateway::new(self.api())
    }

    /// The CAM client.
    pub fn cam(&self) -> Cam {
        Cam::new(self.api())
    }

    /// The tag client.
    pub fn tags(&self) -> Tags {
        Tags::new(self.api())
    }

    /// The COS client.
    pub fn cos(&self) -> Cos {
        Cos::from_shared(self.shared.clone())
    }

    /// The raw API 3.0 client, for actions the typed clients do not cover.
    pub fn api(&self) -> ApiClient {
        ApiClient::from_shared(self.shared.clone())
    }

    /// The region API 3.0 requests are sent for.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The local-cloud endpoint, if any.
    pub fn endpoint(&self) -> Option<&Url> {
        self.shared.endpoint.as_ref()
    }

    /// The credentials in use.
    pub fn credentials(&self) -> &Credentials {
        &self.shared.credentials
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn facade_validates_and_never_prints_secrets() {
        let creds = Credentials::new(
            "AKIDx",
            Secret::new("KEY-secret-VALUE"),
            Some(Secret::new("TOKEN-secret-VALUE")),
        );
        let cloud = TencentCloud::new(
            creds.clone(),
            "ap-guangzhou",
            Some(Url::parse("http://127.0.0.1:9000").unwrap()),
        )
        .unwrap();
        assert_eq!(cloud.region(), "ap-guangzhou");
        assert_eq!(cloud.endpoint().unwrap().as_str(), "http://127.0.0.1:9000/");
        let shown = format!(
            "{cloud:?} {:?} {:?} {:?} {:?} {:?}",
            cloud.scf(),
            cloud.apigateway(),
            cloud.cam(),
            cloud.cos(),
            cloud.api()
        );
        assert!(!shown.contains("secret-VALUE"), "{shown}");

        let shanghai = cloud.in_region("ap-shanghai").unwrap();
        assert_eq!(shanghai.region(), "ap-shanghai");
        assert_eq!(shanghai.scf().region(), "ap-shanghai");
        assert!(cloud.in_region("").is_err());

        assert!(TencentCloud::new(creds.clone(), " ", None).is_err());
        let bad = Url::parse("ftp://127.0.0.1:9000").unwrap();
        let err = TencentCloud::new(creds, "ap-guangzhou", Some(bad)).unwrap_err();
        assert!(err.to_string().contains("invalid endpoint"), "{err}");
    }
}
