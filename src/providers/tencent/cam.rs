//! CAM (`cam`, 2019-01-16): only GetUserAppId, to learn the APPID that bucket names need.

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::http::{ApiClient, Service};
use super::serde_util::{number_or_string, string_or_number};

/// The CAM client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cam {
    api: ApiClient,
}

/// GetUserAppId's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserAppId {
    /// The APPID (bucket names end in `-{AppId}`). Accepted as a number or a string.
    #[serde(default, deserialize_with = "number_or_string")]
    pub app_id: u64,
    /// The account owner's UIN.
    #[serde(default, deserialize_with = "string_or_number")]
    pub owner_uin: String,
    /// The caller's UIN.
    #[serde(default, deserialize_with = "string_or_number")]
    pub uin: String,
}

#[derive(Serialize)]
struct Empty {}

impl Cam {
    /// Wraps an API client.
    pub fn new(api: ApiClient) -> Self {
        Cam { api }
    }

    /// GetUserAppId.
    pub async fn get_user_app_id(&self) -> Result<UserAppId, Error> {
        self.api.call(Service::Cam, "GetUserAppId", &Empty {}).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::http::tests::{api_ok, client_for, verify_tc3};
    use serde_json::json;
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer};

    #[tokio::test]
    async fn get_user_app_id_accepts_numbers_or_strings() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-version", "2019-01-16"))
            .respond_with(api_ok(
                json!({"AppId": 1250000000u64, "OwnerUin": "100000000001", "Uin": 100000000002u64}),
            ))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(header("x-tc-version", "2019-01-16"))
            .respond_with(api_ok(
                json!({"AppId": "1250000001", "OwnerUin": "1", "Uin": "2"}),
            ))
            .mount(&server)
            .await;
        let cam = Cam::new(client_for(&server, false).await);
        let first = cam.get_user_app_id().await.unwrap();
        assert_eq!(first.app_id, 1250000000);
        assert_eq!(first.uin, "100000000002");
        assert_eq!(cam.get_user_app_id().await.unwrap().app_id, 1250000001);
        let received = server.received_requests().await.unwrap();
        assert_eq!(verify_tc3(&received[0]), "GetUserAppId");
        assert_eq!(&received[0].body[..], b"{}");
        let auth = received[0].headers["authorization"].to_str().unwrap();
        assert!(auth.contains("/cam/tc3_request"), "{auth}");
    }
}
