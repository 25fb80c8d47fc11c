//! CAM (`cam`, 2019-01-16): GetUserAppId, to learn the APPID that bucket names need, and the
//! role and policy actions a function's execution role needs (API-FACTS §2.8): CreateRole,
//! GetRole, DeleteRole, CreatePolicy, DeletePolicy, AttachRolePolicy, DetachRolePolicy,
//! ListAttachedRolePolicies. Shapes as in tencentcloud-sdk-python's `cam/v20190116/models.py`
//! (RoleId is a string, PolicyId a number); error codes as in its `errorcodes.py`.

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::http::{ApiClient, Service};
use super::serde_util::{null_default, number_or_string, string_or_number};
use super::shapes::Tag;

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

/// CreateRole's request.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRoleRequest {
    /// 1–128 chars: letters, digits and `+=,.@-_`.
    pub role_name: String,
    /// The trust policy (who may assume the role), a JSON string.
    pub policy_document: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tags (`RoleTags`: `{Key, Value}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRoleResponse {
    #[serde(default, deserialize_with = "string_or_number")]
    role_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleNameRequest<'a> {
    role_name: &'a str,
}

/// GetRole's `RoleInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleInfo {
    /// Role id (a string of digits).
    #[serde(default, deserialize_with = "string_or_number")]
    pub role_id: String,
    /// Role name.
    #[serde(default, deserialize_with = "null_default")]
    pub role_name: String,
    /// The trust policy, a JSON string.
    #[serde(default, deserialize_with = "null_default")]
    pub policy_document: String,
    /// Description.
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// Creation time (`2024-12-17 17:52:48`).
    #[serde(default, deserialize_with = "null_default")]
    pub add_time: String,
    /// Last change.
    #[serde(default, deserialize_with = "null_default")]
    pub update_time: String,
    /// Tags.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<Tag>,
}

impl RoleInfo {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRoleResponse {
    #[serde(default, deserialize_with = "null_default")]
    role_info: RoleInfo,
}

/// CreatePolicy's request.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreatePolicyRequest {
    /// 1–128 chars: letters, digits and `+=,.@-_`.
    pub policy_name: String,
    /// The policy, a JSON string.
    pub policy_document: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreatePolicyResponse {
    #[serde(default, deserialize_with = "number_or_string")]
    policy_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeletePolicyRequest<'a> {
    policy_id: &'a [u64],
}

/// Which policy AttachRolePolicy/DetachRolePolicy means: by id or by name (one of the two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyRef {
    /// `PolicyId`.
    Id(u64),
    /// `PolicyName`.
    Name(String),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AttachRolePolicyRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<&'a str>,
    attach_role_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DetachRolePolicyRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_name: Option<&'a str>,
    detach_role_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListAttachedRolePoliciesRequest<'a> {
    page: u64,
    rp: u64,
    role_name: &'a str,
}

/// One entry of ListAttachedRolePolicies' `List` (`AttachedPolicyOfRole`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedPolicy {
    /// Policy id.
    #[serde(default, deserialize_with = "number_or_string")]
    pub policy_id: u64,
    /// Policy name.
    #[serde(default, deserialize_with = "null_default")]
    pub policy_name: String,
    /// When it was attached.
    #[serde(default, deserialize_with = "null_default")]
    pub add_time: String,
    /// `User` (custom) or `QCS` (preset).
    #[serde(default, deserialize_with = "null_default")]
    pub policy_type: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAttachedRolePoliciesResponse {
    #[serde(default, deserialize_with = "null_default")]
    list: Vec<AttachedPolicy>,
    #[serde(default)]
    total_num: u64,
}

#[derive(Deserialize)]
struct Ignored {}

/// Page size for ListAttachedRolePolicies (the SDK documents at most 200).
const PAGE: u64 = 200;

/// Whether `e` says the role does not exist. `InvalidParameter.RoleNotExist` is the code in the
/// SDK's `errorcodes.py`; `ResourceNotFound.*` is accepted too.
pub fn is_role_not_found(e: &Error) -> bool {
    e.error_code() == Some("InvalidParameter.RoleNotExist") || e.is_not_found()
}

/// Whether `e` says the role name is taken (`InvalidParameter.RoleNameInUse`).
pub fn is_role_name_in_use(e: &Error) -> bool {
    e.error_code() == Some("InvalidParameter.RoleNameInUse")
}

/// Whether `e` says the policy name is taken (`FailedOperation.PolicyNameInUse`).
pub fn is_policy_name_in_use(e: &Error) -> bool {
    e.error_code() == Some("FailedOperation.PolicyNameInUse")
}

/// Whether `e` says the policy does not exist (`ResourceNotFound.PolicyIdNotFound`,
/// `InvalidParameter.PolicyIdNotExist`).
pub fn is_policy_not_found(e: &Error) -> bool {
    e.error_code() == Some("InvalidParameter.PolicyIdNotExist") || e.is_not_found()
}

impl Cam {
    /// Wraps an API client.
    pub fn new(api: ApiClient) -> Self {
        Cam { api }
    }

    /// GetUserAppId.
    pub async fn get_user_app_id(&self) -> Result<UserAppId, Error> {
        self.api.call(Service::Cam, "GetUserAppId", &Empty {}).await
    }

    /// CreateRole; returns the new RoleId.
    pub async fn create_role(&self, req: &CreateRoleRequest) -> Result<String, Error> {
        let r: CreateRoleResponse = self.api.call(Service::Cam, "CreateRole", req).await?;
        Ok(r.role_id)
    }

    /// GetRole by name.
    pub async fn get_role(&self, role_name: &str) -> Result<RoleInfo, Error> {
        let r: GetRoleResponse = self
            .api
            .call(Service::Cam, "GetRole", &RoleNameRequest { role_name })
            .await?;
        Ok(r.role_info)
    }

    /// GetRole, `None` when the role does not exist.
    pub async fn get_role_opt(&self, role_name: &str) -> Result<Option<RoleInfo>, Error> {
        match self.get_role(role_name).await {
            Ok(info) => Ok(Some(info)),
            Err(e) if is_role_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// DeleteRole by name.
    pub async fn delete_role(&self, role_name: &str) -> Result<(), Error> {
        let _: Ignored = self
            .api
            .call(Service::Cam, "DeleteRole", &RoleNameRequest { role_name })
            .await?;
        Ok(())
    }

    /// CreatePolicy; returns the new PolicyId.
    pub async fn create_policy(&self, req: &CreatePolicyRequest) -> Result<u64, Error> {
        let r: CreatePolicyResponse = self.api.call(Service::Cam, "CreatePolicy", req).await?;
        Ok(r.policy_id)
    }

    /// DeletePolicy (the API takes a list of ids).
    pub async fn delete_policy(&self, policy_ids: &[u64]) -> Result<(), Error> {
        let _: Ignored = self
            .api
            .call(
                Service::Cam,
                "DeletePolicy",
                &DeletePolicyRequest {
                    policy_id: policy_ids,
                },
            )
            .await?;
        Ok(())
    }

    /// AttachRolePolicy, the role by name.
    pub async fn attach_role_policy(
        &self,
        policy: &PolicyRef,
        role_name: &str,
    ) -> Result<(), Error> {
        let (policy_id, policy_name) = split(policy);
        let _: Ignored = self
            .api
            .call(
                Service::Cam,
                "AttachRolePolicy",
                &AttachRolePolicyRequest {
                    policy_id,
                    policy_name,
                    attach_role_name: role_name,
                },
            )
            .await?;
        Ok(())
    }

    /// DetachRolePolicy, the role by name.
    pub async fn detach_role_policy(
        &self,
        policy: &PolicyRef,
        role_name: &str,
    ) -> Result<(), Error> {
        let (policy_id, policy_name) = split(policy);
        let _: Ignored = self
            .api
            .call(
                Service::Cam,
                "DetachRolePolicy",
                &DetachRolePolicyRequest {
                    policy_id,
                    policy_name,
                    detach_role_name: role_name,
                },
            )
            .await?;
        Ok(())
    }

    /// Every policy attached to role `role_name` (all pages).
    pub async fn list_attached_role_policies(
        &self,
        role_name: &str,
    ) -> Result<Vec<AttachedPolicy>, Error> {
        let mut out = Vec::new();
        for page in 1.. {
            let r: ListAttachedRolePoliciesResponse = self
                .api
                .call(
                    Service::Cam,
                    "ListAttachedRolePolicies",
                    &ListAttachedRolePoliciesRequest {
                        page,
                        rp: PAGE,
                        role_name,
                    },
                )
                .await?;
            let got = r.list.len() as u64;
            out.extend(r.list);
            if got < PAGE || out.len() as u64 >= r.total_num {
                break;
            }
        }
        Ok(out)
    }
}

fn split(policy: &PolicyRef) -> (Option<u64>, Option<&str>) {
    match policy {
        PolicyRef::Id(id) => (Some(*id), None),
        PolicyRef::Name(name) => (None, Some(name.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::http::tests::{api_err, api_ok, client_for, verify_tc3};
    use serde_json::{Value, json};
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

    fn body(req: &wiremock::Request) -> Value {
        serde_json::from_slice(&req.body).unwrap()
    }

    async fn answering(answer: Value) -> (MockServer, Cam) {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-version", "2019-01-16"))
            .respond_with(api_ok(answer))
            .mount(&server)
            .await;
        let cam = Cam::new(client_for(&server, false).await);
        (server, cam)
    }

    #[tokio::test]
    async fn role_requests_have_the_sdks_field_names() {
        let (server, cam) = answering(json!({"RoleId": "4611686018427397919"})).await;
        let id = cam
            .create_role(&CreateRoleRequest {
                role_name: "chat-role".into(),
                policy_document: "{}".into(),
                description: Some("d".into()),
                tags: vec![Tag::new("chatstack:stack", "chat")],
            })
            .await
            .unwrap();
        assert_eq!(id, "4611686018427397919");
        cam.delete_role("chat-role").await.unwrap();
        let got = server.received_requests().await.unwrap();
        assert_eq!(verify_tc3(&got[0]), "CreateRole");
        assert_eq!(
            body(&got[0]),
            json!({"RoleName": "chat-role", "PolicyDocument": "{}", "Description": "d",
                   "Tags": [{"Key": "chatstack:stack", "Value": "chat"}]})
        );
        assert_eq!(verify_tc3(&got[1]), "DeleteRole");
        assert_eq!(body(&got[1]), json!({"RoleName": "chat-role"}));
    }

    #[tokio::test]
    async fn get_role_reads_role_info_and_a_missing_role_is_none() {
        let (server, cam) = answering(json!({"RoleInfo": {
            "RoleId": 4611686018427397919u64, "RoleName": "r", "PolicyDocument": "{\"version\":\"2.0\"}",
            "Description": null, "AddTime": "2024-12-17 17:52:48", "UpdateTime": "2024-12-17 17:52:48",
            "Tags": [{"Key": "chatstack:stack", "Value": "chat"}], "ConsoleLogin": 0, "RoleType": "user"
        }}))
        .await;
        let info = cam.get_role("r").await.unwrap();
        assert_eq!(info.role_id, "4611686018427397919");
        assert_eq!(info.description, "");
        assert_eq!(info.tag("chatstack:stack"), Some("chat"));
        assert_eq!(
            body(&server.received_requests().await.unwrap()[0]),
            json!({"RoleName": "r"})
        );

        let server = MockServer::start().await;
        Mock::given(header("x-tc-version", "2019-01-16"))
            .respond_with(api_err("InvalidParameter.RoleNotExist"))
            .mount(&server)
            .await;
        let cam = Cam::new(client_for(&server, false).await);
        assert_eq!(cam.get_role_opt("r").await.unwrap(), None);
    }

    #[tokio::test]
    async fn policy_requests_have_the_sdks_field_names() {
        let (server, cam) = answering(json!({"PolicyId": 32_000_001u64})).await;
        let id = cam
            .create_policy(&CreatePolicyRequest {
                policy_name: "p".into(),
                policy_document: "{}".into(),
                description: None,
            })
            .await
            .unwrap();
        assert_eq!(id, 32_000_001);
        cam.attach_role_policy(&PolicyRef::Id(id), "r")
            .await
            .unwrap();
        cam.attach_role_policy(&PolicyRef::Name("p".into()), "r")
            .await
            .unwrap();
        cam.detach_role_policy(&PolicyRef::Id(id), "r")
            .await
            .unwrap();
        cam.delete_policy(&[id]).await.unwrap();
        let got: Vec<(String, Value)> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| (verify_tc3(r), body(r)))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "CreatePolicy".into(),
                    json!({"PolicyName": "p", "PolicyDocument": "{}"})
                ),
                (
                    "AttachRolePolicy".into(),
                    json!({"PolicyId": 32_000_001u64, "AttachRoleName": "r"})
                ),
                (
                    "AttachRolePolicy".into(),
                    json!({"PolicyName": "p", "AttachRoleName": "r"})
                ),
                (
                    "DetachRolePolicy".into(),
                    json!({"PolicyId": 32_000_001u64, "DetachRoleName": "r"})
                ),
                ("DeletePolicy".into(), json!({"PolicyId": [32_000_001u64]})),
            ]
        );
    }

    #[tokio::test]
    async fn attached_policies_are_read_page_by_page() {
        let server = MockServer::start().await;
        let page = |n: u64, start: u64| {
            let list: Vec<Value> = (start..start + n)
                .map(
                    |i| json!({"PolicyId": i, "PolicyName": format!("p{i}"), "PolicyType": "User"}),
                )
                .collect();
            api_ok(json!({"List": list, "TotalNum": 201}))
        };
        Mock::given(wiremock::matchers::body_partial_json(json!({"Page": 1})))
            .respond_with(page(200, 0))
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::body_partial_json(json!({"Page": 2})))
            .respond_with(page(1, 200))
            .mount(&server)
            .await;
        let cam = Cam::new(client_for(&server, false).await);
        let all = cam.list_attached_role_policies("r").await.unwrap();
        assert_eq!(all.len(), 201);
        assert_eq!(all[200].policy_name, "p200");
        let got = server.received_requests().await.unwrap();
        assert_eq!(
            body(&got[0]),
            json!({"Page": 1, "Rp": 200, "RoleName": "r"})
        );
    }
}
