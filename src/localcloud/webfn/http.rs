//! A plain HTTP request to a Web function: one invocation, proxied to an instance's port with
//! `X-Scf-Request-Id` added, bounded by the function's `Timeout` (433) and SCF's 6 MB response
//! limit (407); an instance that ends while serving it answers 439.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, StatusCode, header, request::Parts};
use axum::response::Response;

use super::plane::{Invocation, MAX_HTTP_BODY, WebFunctions, error, record, refused, status};

/// Headers that belong to one hop, not to the request or response.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "host"
            | "content-length"
    )
}

/// How the invocation ended, for the answer and the log.
enum Outcome {
    Answered(reqwest::Response, Bytes),
    Failed(u16, String),
}

pub(super) async fn serve(
    wf: &WebFunctions,
    inv: Invocation,
    parts: Parts,
    body: Bytes,
) -> Response {
    let lease = match wf.instances.acquire(&inv.key, &inv.function) {
        Ok(l) => l,
        Err(r) => return refused(wf, &inv, &r, "").await,
    };
    // Starting an instance counts against its InitTimeout, not the request's Timeout.
    if let Err(r) = lease.ready().await {
        let output = lease.take_log();
        drop(lease);
        return refused(wf, &inv, &r, &output).await;
    }
    let timeout = Duration::from_secs(u64::from(inv.function.timeout.max(1)));
    let run = async {
        let url = format!("http://127.0.0.1:{}{}", lease.instance.port, inv.path);
        let mut rb = wf.client.request(parts.method.clone(), &url);
        for (name, value) in &parts.headers {
            if !hop_by_hop(name) {
                rb = rb.header(name, value);
            }
        }
        rb = rb
            .header(header::HOST, &inv.host)
            .header("x-scf-request-id", &inv.request_id)
            .body(body.clone());
        let sent = tokio::select! {
            r = rb.send() => r,
            () = lease.instance.stopped().cancelled() => {
                return Outcome::Failed(439, "the instance ended while serving the request".into());
            }
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Failed(
                    439,
                    format!("the instance did not answer the request: {e}"),
                );
            }
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_HTTP_BODY as u64)
        {
            return Outcome::Failed(407, too_large());
        }
        let mut resp = resp;
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_HTTP_BODY {
                        return Outcome::Failed(407, too_large());
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Outcome::Failed(439, format!("the instance's answer broke off: {e}"));
                }
            }
        }
        Outcome::Answered(resp, Bytes::from(bytes))
    };
    let outcome = match tokio::time::timeout(timeout, run).await {
        Ok(o) => o,
        Err(_) => Outcome::Failed(
            433,
            format!(
                "TimeLimitReached: the instance did not answer within the function's Timeout \
                 of {} s",
                inv.function.timeout
            ),
        ),
    };
    let output = lease.take_log();
    drop(lease);
    match outcome {
        Outcome::Answered(resp, bytes) => {
            let code = resp.status().as_u16();
            let what = format!("{} {} answered {code}", parts.method, inv.path);
            record(wf, &inv, 200, &what, &output).await;
            let mut out = Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                if !hop_by_hop(name) {
                    out = out.header(name, value);
                }
            }
            out.header("x-scf-request-id", &inv.request_id)
                .body(Body::from(bytes))
                .unwrap_or_else(|_| {
                    error(
                        StatusCode::BAD_GATEWAY,
                        "the instance's answer has invalid headers",
                        &inv.request_id,
                    )
                })
        }
        Outcome::Failed(code, why) => {
            record(wf, &inv, code, &why, &output).await;
            error(status(code), &why, &inv.request_id)
        }
    }
}

fn too_large() -> String {
    format!("the instance's answer is over SCF's limit of {MAX_HTTP_BODY} bytes")
}
