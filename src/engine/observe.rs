//! Observation: find what exists in the cloud for one stack and stage (DESIGN §4).
//!
//! Functions by name, the bucket by name, execution roles by name (and tags, see
//! [`super::roles`]), the WebSocket entry point as its backend finds it
//! (API Gateway: the service by its `chatstack:stack` / `chatstack:stage` tags and then by
//! name, see [`super::backend::apigw`]). Independent look-ups run concurrently. Nothing here
//! writes.

use futures_util::future::try_join_all;

use super::error::Error;
use std::collections::BTreeMap;

use super::backend::{self, ObservedEntry};
use super::observed::{Observed, ObservedBucket, ObservedFunction};
use crate::config::Stack;
use crate::providers::tencent::TencentCloud;
use crate::providers::tencent::cos::BucketRegion;
use crate::providers::tencent::scf::FunctionInfo;

/// Reads the observed state of `stack` (at its stage) from the cloud.
pub async fn observe(stack: &Stack, cloud: &TencentCloud) -> Result<Observed, Error> {
    observe_known(stack, cloud, &BTreeMap::new()).await
}

/// [`observe`] when the entry point's ids are already known (from the journal, or right after
/// a deploy): its backend reads them at once instead of searching, and falls back to the search
/// when they are gone or no longer carry our tags.
pub async fn observe_known(
    stack: &Stack,
    cloud: &TencentCloud,
    hint: &BTreeMap<String, String>,
) -> Result<Observed, Error> {
    let ((bucket, region), entry, infos, roles) = tokio::try_join!(
        observe_bucket(stack, cloud),
        backend::of(stack).observe(stack, cloud, hint),
        observe_functions(stack, cloud),
        super::roles::observe(stack, cloud),
    )?;
    let mut observed = observed(stack, bucket, region, entry, infos);
    observed.roles = roles;
    Ok(observed)
}

/// What the look-ups found, as the observed model: the bucket `name` (HeadBucket's region when
/// it exists), the entry point as its backend described it, and GetFunction's answer for each
/// function of the stack file, in file order. No I/O: the table tests start here.
pub(crate) fn observed(
    stack: &Stack,
    name: String,
    region: Option<BucketRegion>,
    entry: Option<ObservedEntry>,
    infos: Vec<Option<FunctionInfo>>,
) -> Observed {
    Observed {
        bucket: ObservedBucket {
            name,
            exists: region.is_some(),
            region: region.map_or_else(|| stack.bucket.region.clone(), |r| r.0),
        },
        entry,
        roles: Vec::new(),
        functions: stack
            .functions
            .iter()
            .zip(infos)
            .map(|(f, info)| observed_function(f, info))
            .collect(),
    }
}

/// One function of the stack file as GetFunction described it (`None`: it does not exist).
pub(crate) fn observed_function(
    f: &crate::config::Function,
    info: Option<FunctionInfo>,
) -> ObservedFunction {
    ObservedFunction {
        name: f.name.clone(),
        role: f.role,
        status: info.as_ref().map(|i| i.status.clone()),
        code_sha256: info
            .as_ref()
            .and_then(super::functions::code_sha256)
            .map(str::to_owned),
        deps_sha256: info
            .as_ref()
            .and_then(|i| i.tag(super::tags::DEPS_SHA256))
            // An empty value is how a function that no longer has dependencies says so.
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        detail: info,
    }
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

/// The bucket's full name and, when it exists, its region.
async fn observe_bucket(
    stack: &Stack,
    cloud: &TencentCloud,
) -> Result<(String, Option<BucketRegion>), Error> {
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
    Ok((name, found))
}

/// GetFunction for each function of the stack file, in file order (`None`: it does not exist).
async fn observe_functions(
    stack: &Stack,
    cloud: &TencentCloud,
) -> Result<Vec<Option<FunctionInfo>>, Error> {
    let scf = cloud.scf();
    try_join_all(stack.functions.iter().map(|f| {
        let scf = scf.clone();
        async move { scf.get_function_opt(&f.name, Some(&f.namespace)).await }
    }))
    .await
    .map_err(Error::from)
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
