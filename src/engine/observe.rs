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
    let (bucket, gateway, functions) = tokio::try_join!(
        observe_bucket(stack, cloud),
        observe_gateway(stack, cloud),
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
                code_sha256: info
                    .as_ref()
                    .and_then(|i| i.tag(tags::CODE_SHA256))
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
    let service_id = service.service_id.clone();
    let (detail, released) = tokio::try_join!(
        apigw.describe_service(&service_id),
        apigw.released_environments(&service_id),
    )?;
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
            let info = apigw.describe_api(&service_id, &a.api_id).await?;
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
