//! Tags (`tag`, 2018-08-13): ModifyResourceTags, to change a function's tags after it was
//! created (SCF's own API sets them only at CreateFunction). They are read back with
//! GetFunction's `Tags`.
//!
//! A resource is named by its six-segment description, for an SCF function
//! `qcs::scf:{region}:uin/{uin}:namespace/{namespace}/function/{name}` ([`scf_function`]). The
//! form is the one the Serverless toolkit's `Tag.deploy` sends (API-FACTS: [TOOL]); that
//! GetFunction's `Tags` then shows the new values is what the console shows, not checked
//! against a live account — see the README's "What only a live account can settle".

use serde::{Deserialize, Serialize};

use super::error::Error;
use super::http::{ApiClient, Service};
use super::shapes::Tag;

/// The tag client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Tags {
    api: ApiClient,
}

/// The six-segment description of an SCF function, as the tag service names it.
pub fn scf_function(region: &str, uin: &str, namespace: &str, name: &str) -> String {
    format!("qcs::scf:{region}:uin/{uin}:namespace/{namespace}/function/{name}")
}

/// `{TagKey, TagValue}`, the tag service's spelling of a tag.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagKv {
    tag_key: String,
    tag_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagKeyOnly<'a> {
    tag_key: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ModifyResourceTagsRequest<'a> {
    resource: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    replace_tags: Vec<TagKv>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    delete_tags: Vec<TagKeyOnly<'a>>,
}

#[derive(Deserialize)]
struct Ignored {}

impl Tags {
    /// Wraps an API client.
    pub fn new(api: ApiClient) -> Self {
        Tags { api }
    }

    /// ModifyResourceTags: sets each of `replace` on `resource` (adding or changing its value)
    /// and unbinds the keys in `delete`. At least one of the two must be non-empty; the service
    /// takes at most 10 of each.
    pub async fn modify_resource_tags(
        &self,
        resource: &str,
        replace: &[Tag],
        delete: &[&str],
    ) -> Result<(), Error> {
        let req = ModifyResourceTagsRequest {
            resource,
            replace_tags: replace
                .iter()
                .map(|t| TagKv {
                    tag_key: t.key.clone(),
                    tag_value: t.value.clone(),
                })
                .collect(),
            delete_tags: delete.iter().map(|k| TagKeyOnly { tag_key: k }).collect(),
        };
        let _: Ignored = self
            .api
            .call(Service::Tag, "ModifyResourceTags", &req)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::http::tests::{api_ok, client_for, verify_tc3};
    use serde_json::json;
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer};

    #[test]
    fn an_scf_function_is_named_by_six_segments() {
        assert_eq!(
            scf_function("ap-guangzhou", "100000000001", "default", "ChatReg"),
            "qcs::scf:ap-guangzhou:uin/100000000001:namespace/default/function/ChatReg"
        );
    }

    #[tokio::test]
    async fn modify_resource_tags_sends_the_tag_services_shapes() {
        let server = MockServer::start().await;
        Mock::given(header("x-tc-version", "2018-08-13"))
            .respond_with(api_ok(json!({})))
            .mount(&server)
            .await;
        let tags = Tags::new(client_for(&server, false).await);
        tags.modify_resource_tags(
            "qcs::scf:ap-guangzhou:uin/1:namespace/default/function/f",
            &[Tag::new("chatstack:code-sha256", "ab")],
            &["old"],
        )
        .await
        .unwrap();
        tags.modify_resource_tags("r", &[Tag::new("k", "v")], &[])
            .await
            .unwrap();
        let received = server.received_requests().await.unwrap();
        assert_eq!(verify_tc3(&received[0]), "ModifyResourceTags");
        let auth = received[0].headers["authorization"].to_str().unwrap();
        assert!(auth.contains("/tag/tc3_request"), "{auth}");
        let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
        assert_eq!(
            body,
            json!({
                "Resource": "qcs::scf:ap-guangzhou:uin/1:namespace/default/function/f",
                "ReplaceTags": [{"TagKey": "chatstack:code-sha256", "TagValue": "ab"}],
                "DeleteTags": [{"TagKey": "old"}],
            })
        );
        // An empty list is left out: the service refuses an empty array.
        let body: serde_json::Value = serde_json::from_slice(&received[1].body).unwrap();
        assert_eq!(
            body,
            json!({"Resource": "r", "ReplaceTags": [{"TagKey": "k", "TagValue": "v"}]})
        );
    }
}
