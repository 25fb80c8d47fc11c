//! Tearing a stack down, in the reverse order of DESIGN §4: DeleteApi → UnReleaseService (each
//! released environment) → DeleteService → DeleteFunction ×3 (until gone) → empty the bucket
//! (paged) → DeleteBucket. What is already gone counts as removed; any other error fails the
//! command and keeps the record of what is left.
//!
//! Only what belongs to this stack and stage is touched: the gateway service must carry our
//! tags (an untagged service of the same name is left alone and reported), and a function tagged
//! for another stage is refused.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::error::Error;
use super::graph::{Graph, Observer};
use super::journal::Journal;
use super::{Observed, tags};
use crate::config::Stack;
use crate::engine::plan::{Action, Change};
use crate::providers::tencent::TencentCloud;

/// How a removal runs.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    /// Keep the bucket and its objects.
    pub keep_bucket: bool,
    /// Overall deadline.
    pub timeout: Duration,
    /// Ctrl-C.
    pub cancel: CancellationToken,
}

/// What removal will delete, as plan lines.
pub fn changes(observed: &Observed, keep_bucket: bool) -> Vec<Change> {
    let delete = |resource: String| Change {
        resource,
        action: Action::Delete,
        fields: Vec::new(),
        files: Vec::new(),
    };
    let mut out = Vec::new();
    if let Some(gw) = observed.gateway.as_ref().filter(|g| g.tagged) {
        if let Some(api) = &gw.api {
            out.push(delete(format!("websocket-api {}", api.path)));
        }
        for env in &gw.released {
            out.push(delete(format!("release {env}")));
        }
        out.push(delete(format!("gateway-service {}", gw.service_id)));
    }
    for f in observed.functions.iter().filter(|f| f.status.is_some()) {
        out.push(delete(format!("function {}", f.name)));
    }
    if observed.bucket.exists && !keep_bucket {
        out.push(delete(format!("bucket {}", observed.bucket.name)));
    }
    out
}

/// Deletes everything of the stack that `observed` found.
pub async fn remove(
    stack: &Stack,
    cloud: &TencentCloud,
    observed: &Observed,
    journal: Journal,
    opts: &RemoveOptions,
    observer: &dyn Observer,
) -> Result<Vec<(&'static str, f64)>, Error> {
    for f in &observed.functions {
        if let Some(info) = &f.detail {
            super::classic::check_owner(
                stack,
                "function",
                &f.name,
                info.tag(tags::STACK),
                info.tag(tags::STAGE),
            )?;
        }
    }
    let journal = Arc::new(journal);
    let mut graph: Graph<Error> = Graph::new();

    let mut gateway_done = None;
    if let Some(gw) = observed.gateway.as_ref().filter(|g| g.tagged) {
        let apigw = cloud.apigateway();
        let service_id = gw.service_id.clone();
        let api_id = gw.api.as_ref().map(|a| a.api_id.clone());
        let released = gw.released.clone();
        let journal = journal.clone();
        let cancel = opts.cancel.clone();
        gateway_done = Some(graph.add(
            format!("delete gateway service {service_id}"),
            "gateway",
            &[],
            async move {
                if let Some(api_id) = api_id {
                    apigw.delete_api(&service_id, &api_id).await?;
                }
                for env in &released {
                    if cancel.is_cancelled() {
                        return Err(Error::Interrupted);
                    }
                    match apigw.unrelease_service(&service_id, env).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        // The answer to an earlier attempt was lost and the retry was refused
                        // (the environment is no longer released: `InvalidEnvStatus`). Ask the
                        // cloud rather than guess from the code.
                        Err(e) => {
                            let still = apigw.released_environments(&service_id).await?;
                            if still.iter().any(|r| r == env) {
                                return Err(e.into());
                            }
                        }
                    }
                }
                apigw.delete_service(&service_id).await?;
                Ok(journal.update(|r| {
                    r.entry.clear();
                })?)
            },
        ));
    }

    let mut function_steps = Vec::new();
    for f in observed.functions.iter().filter(|f| f.status.is_some()) {
        let scf = cloud.scf();
        let name = f.name.clone();
        let namespace = stack
            .functions
            .iter()
            .find(|s| s.name == f.name)
            .map_or_else(|| "default".to_owned(), |s| s.namespace.clone());
        let journal = journal.clone();
        let deadline = opts.timeout;
        let cancel = opts.cancel.clone();
        function_steps.push(graph.add(
            format!("delete function {name}"),
            "functions",
            &gateway_done.into_iter().collect::<Vec<_>>(),
            async move {
                let mut tries = 0;
                loop {
                    match scf.delete_function(&name, Some(&namespace)).await {
                        Ok(_) => break,
                        Err(e) if e.is_state_conflict() && tries < 8 => {
                            tries += 1;
                            scf.wait_for_function(&name, Some(&namespace), deadline)
                                .await?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                let gone = tokio::select! {
                    r = scf.wait_for_function(&name, Some(&namespace), deadline) => r?,
                    () = cancel.cancelled() => return Err(Error::Interrupted),
                };
                if let Some(info) = gone {
                    return Err(Error::FunctionFailed {
                        name: name.clone(),
                        reason: info
                            .failure_reason()
                            .unwrap_or("it was not deleted")
                            .to_owned(),
                        status: info.status,
                    });
                }
                Ok(journal.update(|r| {
                    r.functions.remove(&name);
                })?)
            },
        ));
    }

    if observed.bucket.exists && !opts.keep_bucket {
        let cos = cloud.cos();
        let name = observed.bucket.name.clone();
        let region = stack.bucket.region.clone();
        let journal = journal.clone();
        graph.add(
            format!("empty and delete bucket {name}"),
            "bucket",
            &function_steps,
            async move {
                // Functions are gone, so nothing writes any more; still, a late write makes
                // DeleteBucket answer BucketNotEmpty: empty again and retry a few times.
                let mut tries = 0;
                loop {
                    cos.delete_all(&name, &region, "").await?;
                    match cos.delete_bucket(&name, &region).await {
                        Ok(_) => break,
                        Err(e) if e.error_code() == Some("BucketNotEmpty") && tries < 3 => {
                            tries += 1
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Ok(journal.update(|r| r.bucket = None)?)
            },
        );
    }

    let report = graph.run(opts.timeout, &opts.cancel, observer).await;
    Error::from_report(report, opts.timeout)
}
