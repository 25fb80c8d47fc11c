//! Observation: find what exists in the cloud for one stack and stage (DESIGN §4).
//!
//! Functions by name, the bucket by name, the gateway service by its `chatstack:stack` /
//! `chatstack:stage` tags and then by name (a service carrying another stage's tags is never
//! taken), its WebSocket API, push-back URL and release state. Independent look-ups run
//! concurrently. Nothing here writes.

use futures_util::future::try_join_all;

use super::error::Error;
use super::{Observed, ObservedApi, ObservedBucket, ObservedFunction, ObservedGateway, tags};
use crate::config::Stack;
use crate::providers::tencent::TencentCloud;

/// Reads the observed state of `stack` (at its stage) from the cloud.
pub async fn observe(stack: &Stack, cloud: &TencentCloud) -> Result<Observed, Error> {
    observe_known(stack, cloud, None).await
}

/// [`observe`] when the gateway service's and WebSocket API's ids are already known (right
/// after a deploy): the same reads, without listing every service first, so the service, its
/// environments and the API are read at once. Falls back to the search when the service is
/// gone or no longer carries our tags.
pub async fn observe_known(
    stack: &Stack,
    cloud: &TencentCloud,
    known: Option<(&str, Option<&str>)>,
) -> Result<Observed, Error> {
    let gateway = async {
        if let Some((service_id, api_id)) = known
            && let Some(g) = read_gateway(stack, cloud, service_id, None, api_id).await?
        {
            return Ok(Some(g));
        }
        observe_gateway(stack, cloud).await
    };
    let (bucket, gateway, functions) = tokio::try_join!(
        observe_bucket(stack, cloud),
        gateway,
        observe_functions(stack, cloud),
    )?;
    Ok(Observed {
        bucket,
        gateway,
        functions,
    })
}

/// The full bucket id: as written, or with the account's APPID appended.
pub async fn bucket_name(
    stack: &Stack,
    cloud: &TencentCloud,
) -> Result<String, crate::providers::tencent::Error> {
    match stack.bucket.appid {
        Some(_) => Ok(stack.bucket.name.clone()),
        None => Ok(stack
            .bucket
            .full_name(cloud.cam().get_user_app_id().await?.app_id)),
    }
}

async fn observe_bucket(stack: &Stack, cloud: &TencentCloud) -> Result<ObservedBucket, Error> {
    let name = bucket_name(stack, cloud).await?;
    let found = match cloud.cos().head_bucket(&name, &stack.bucket.region).await {
        Ok(found) => found,
        // 403 on HEAD: the name is taken by another account, most often because the stack file
        // carries someone else's APPID suffix (as the article's does).
        Err(e) if e.http_status() == Some(403) && !e.is_auth_failure() => {
            let yours = cloud.cam().get_user_app_id().await?.app_id;
            return Err(match stack.bucket.appid {
                Some(theirs) if theirs != yours => Error::BucketOfAnotherAccount {
                    bucket: name,
                    theirs,
                    yours,
                    source: e,
                },
                _ => e.into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(ObservedBucket {
        name,
        exists: found.is_some(),
        region: found.map_or_else(|| stack.bucket.region.clone(), |r| r.0),
    })
}

async fn observe_functions(
    stack: &Stack,
    cloud: &TencentCloud,
) -> Result<Vec<ObservedFunction>, Error> {
    let scf = cloud.scf();
    try_join_all(stack.functions.iter().map(|f| {
        let scf = scf.clone();
        async move {
            let info = scf.get_function_opt(&f.name, Some(&f.namespace)).await?;
            Ok::<_, crate::providers::tencent::Error>(ObservedFunction {
                name: f.name.clone(),
                role: f.role,
                status: info.as_ref().map(|i| i.status.clone()),
                // The variable follows every code update; the tag is only the creation's
                // (SCF cannot change tags later), so it is the fallback.
                code_sha256: info
                    .as_ref()
                    .and_then(|i| {
                        i.environment
                            .variables
                            .iter()
                            .find(|v| v.key == super::classic::CODE_VAR)
                            .map(|v| v.value.as_str())
                            .or_else(|| i.tag(tags::CODE_SHA256))
                    })
                    .map(str::to_owned),
                detail: info,
            })
        }
    }))
    .await
    .map_err(Error::from)
}

async fn observe_gateway(
    stack: &Stack,
    cloud: &TencentCloud,
) -> Result<Option<ObservedGateway>, Error> {
    let apigw = cloud.apigateway();
    let services = apigw.list_services(Vec::new()).await?;
    let ours = |s: &&crate::providers::tencent::apigateway::ServiceSummary| {
        s.tag(tags::STACK) == Some(stack.name.as_str())
            && s.tag(tags::STAGE) == Some(stack.stage.as_str())
    };
    let untagged_namesake = |s: &&crate::providers::tencent::apigateway::ServiceSummary| {
        s.service_name == stack.gateway.service_name && s.tag(tags::STAGE).is_none()
    };
    let (service, tagged) = match services.iter().find(ours) {
        Some(s) => (s, true),
        None => match services.iter().find(untagged_namesake) {
            Some(s) => (s, false),
            None => return Ok(None),
        },
    };
    read_gateway(stack, cloud, &service.service_id, Some(tagged), None).await
}

/// Reads service `service_id`, its released environments and its WebSocket API (`api_id`, when
/// known, is read at the same time). `tagged` is what the search found; `None` means the service
/// must carry our tags, else (or when it is gone) `Ok(None)`.
async fn read_gateway(
    stack: &Stack,
    cloud: &TencentCloud,
    service_id: &str,
    tagged: Option<bool>,
    api_id: Option<&str>,
) -> Result<Option<ObservedGateway>, Error> {
    let apigw = cloud.apigateway();
    let service_id = service_id.to_owned();
    let known_api = async {
        match api_id {
            Some(id) => match apigw.describe_api(&service_id, id).await {
                Ok(info) => Ok(Some((id.to_owned(), info))),
                Err(e) if e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    };
    let (detail, released, known_api) = tokio::try_join!(
        apigw.describe_service_opt(&service_id),
        async {
            match apigw.released_environments(&service_id).await {
                Err(e) if e.is_not_found() => Ok(Vec::new()),
                other => other,
            }
        },
        known_api,
    )?;
    let Some(detail) = detail else {
        return Ok(None);
    };
    let tag = |k: &str| {
        detail
            .tags
            .iter()
            .find(|t| t.key == k)
            .map(|t| t.value.as_str())
    };
    let tagged = match tagged {
        Some(t) => t,
        None if tag(tags::STACK) == Some(stack.name.as_str())
            && tag(tags::STAGE) == Some(stack.stage.as_str()) =>
        {
            true
        }
        None => return Ok(None),
    };
    let want_path = &stack.gateway.websocket.path;
    let ws_apis: Vec<_> = detail
        .api_id_status_set
        .iter()
        .filter(|a| a.protocol.eq_ignore_ascii_case("WEBSOCKET"))
        .collect();
    let summary = ws_apis
        .iter()
        .find(|a| &a.path == want_path)
        .or_else(|| ws_apis.first());
    let api = match summary {
        None => None,
        Some(a) => {
            let info = match known_api {
                Some((id, info)) if id == a.api_id => info,
                _ => apigw.describe_api(&service_id, &a.api_id).await?,
            };
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            Some(ObservedApi {
                api_id: a.api_id.clone(),
                path: a.path.clone(),
                timeout: info.service_timeout,
                internal_domain: non_empty(&info.internal_domain),
                register: non_empty(&info.service_websocket_register_function_name),
                transport: non_empty(&info.service_websocket_transport_function_name),
                cleanup: non_empty(&info.service_websocket_cleanup_function_name),
            })
        }
    };
    Ok(Some(ObservedGateway {
        service_id,
        outer_sub_domain: detail.outer_sub_domain,
        secure: detail.protocol.contains("https")
            && cloud.endpoint().is_none_or(|e| e.scheme() == "https"),
        protocol: detail.protocol,
        tagged,
        api,
        released,
    }))
}
