//! The stack report that `info` prints and `deploy` ends with (DESIGN §5 `info --json`).

use serde::Serialize;

use crate::config::Stack;
use crate::engine::{self, Observed};

/// The `info --json` document (DESIGN §5).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    stack: String,
    stage: String,
    region: String,
    deployed: bool,
    websocket_url: Option<String>,
    pushback_url: Option<String>,
    bucket: BucketReport,
    gateway: GatewayReport,
    functions: Vec<engine::ObservedFunction>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BucketReport {
    name: String,
    region: String,
    exists: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GatewayReport {
    service_id: Option<String>,
    api_id: Option<String>,
    environment: String,
    released: bool,
}

impl Report {
    /// Builds the report from the desired stack and what was observed.
    pub fn new(stack: &Stack, observed: &Observed) -> Self {
        let gw = observed.gateway.as_ref();
        let api = gw.and_then(|g| g.api.as_ref());
        let environment = stack.gateway.environment.clone();
        let released = gw.is_some_and(|g| g.released.contains(&environment));
        let websocket_url = match (gw, api) {
            (Some(g), Some(a)) if released => Some(engine::websocket_url(
                &g.outer_sub_domain,
                g.secure,
                &environment,
                &a.path,
            )),
            _ => None,
        };
        Report {
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            region: stack.region.clone(),
            deployed: !observed.is_empty(),
            websocket_url,
            pushback_url: api.and_then(|a| a.internal_domain.clone()),
            bucket: BucketReport {
                name: observed.bucket.name.clone(),
                region: observed.bucket.region.clone(),
                exists: observed.bucket.exists,
            },
            gateway: GatewayReport {
                service_id: gw.map(|g| g.service_id.clone()),
                api_id: api.map(|a| a.api_id.clone()),
                environment,
                released,
            },
            functions: observed.functions.clone(),
        }
    }

    /// The client URL, once the gateway is released.
    pub fn websocket_url(&self) -> Option<&str> {
        self.websocket_url.as_deref()
    }

    /// The human-readable form.
    pub fn to_table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let state = if self.deployed {
            "deployed"
        } else {
            "not deployed"
        };
        let _ = writeln!(
            out,
            "Stack {} (stage {}, region {}): {state}",
            self.stack, self.stage, self.region
        );
        if !self.deployed {
            let _ = writeln!(
                out,
                "\nNothing of this stack exists yet; `chatstack deploy` creates it."
            );
            return out;
        }
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        let _ = writeln!(out);
        let _ = writeln!(out, "  WebSocket URL  {}", dash(&self.websocket_url));
        let _ = writeln!(out, "  Push-back URL  {}", dash(&self.pushback_url));
        let _ = writeln!(out);
        let mut rows = vec![(
            "bucket".to_owned(),
            self.bucket.name.clone(),
            if self.bucket.exists {
                "exists"
            } else {
                "missing"
            }
            .to_owned(),
        )];
        rows.push((
            "gateway service".to_owned(),
            dash(&self.gateway.service_id),
            match (&self.gateway.service_id, self.gateway.released) {
                (None, _) => "missing".to_owned(),
                (Some(_), true) => format!("released ({})", self.gateway.environment),
                (Some(_), false) => format!("not released to {}", self.gateway.environment),
            },
        ));
        rows.push((
            "websocket api".to_owned(),
            dash(&self.gateway.api_id),
            if self.gateway.api_id.is_some() {
                "exists"
            } else {
                "missing"
            }
            .to_owned(),
        ));
        for f in &self.functions {
            let role = f.role.map_or("function", |r| r.as_str());
            let status = f.status.clone().unwrap_or_else(|| "missing".to_owned());
            let code = f
                .code_sha256
                .as_deref()
                .map(|c| format!("  code {}", &c[..c.len().min(12)]))
                .unwrap_or_default();
            rows.push((
                format!("function ({role})"),
                f.name.clone(),
                format!("{status}{code}"),
            ));
        }
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        for (kind, name, status) in rows {
            let _ = writeln!(out, "  {kind:<w0$}  {name:<w1$}  {status}");
        }
        out
    }
}
