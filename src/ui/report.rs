//! The stack report that `info` prints and `deploy` ends with (DESIGN §5 `info --json`).

use serde::Serialize;

use crate::config::Stack;
use crate::engine::backend::{self, EntryInfo, Fields};
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
    /// The entry point's resources under the key DESIGN §5 names (API Gateway's backend only).
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<Fields>,
    functions: Vec<engine::ObservedFunction>,
    /// The entry point, backend-neutral: `{backend, clientUrl, pushbackUrl, resources}`.
    entry: EntryInfo,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BucketReport {
    name: String,
    region: String,
    exists: bool,
}

impl Report {
    /// Builds the report from the desired stack and what was observed.
    pub fn new(stack: &Stack, observed: &Observed) -> Self {
        let entry = backend::of(stack).info(stack, observed.entry.as_ref());
        Report {
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            region: stack.region.clone(),
            deployed: !observed.is_empty(),
            websocket_url: entry.client_url.clone(),
            pushback_url: entry.pushback_url.clone(),
            bucket: BucketReport {
                name: observed.bucket.name.clone(),
                region: observed.bucket.region.clone(),
                exists: observed.bucket.exists,
            },
            gateway: entry.legacy_gateway.then(|| entry.resources.clone()),
            functions: observed.functions.clone(),
            entry,
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
        rows.extend(self.entry.rows.iter().cloned());
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::fixtures;

    #[test]
    fn info_json_keeps_the_api_gateway_fields_and_adds_the_neutral_entry() {
        let stack = fixtures::stack();
        let doc =
            serde_json::to_value(Report::new(&stack, &fixtures::deployed(&stack, "c1"))).unwrap();
        let url = "wss://service-abc-125.gz.apigw.tencentcs.com/release/";
        assert_eq!(doc["websocketUrl"], url);
        assert_eq!(doc["pushbackUrl"], fixtures::PUSHBACK);
        let resources = json!({"serviceId": "service-abc", "apiId": "api-1", "environment": "release", "released": true});
        assert_eq!(doc["gateway"], resources);
        assert_eq!(
            doc["entry"],
            json!({"backend": "apigw", "clientUrl": url, "pushbackUrl": fixtures::PUSHBACK, "resources": resources})
        );

        let doc = serde_json::to_value(Report::new(&stack, &fixtures::empty(&stack))).unwrap();
        assert_eq!(doc["deployed"], false);
        assert_eq!(doc["websocketUrl"], serde_json::Value::Null);
        assert_eq!(
            doc["gateway"],
            json!({"serviceId": null, "apiId": null, "environment": "release", "released": false})
        );
    }

    #[test]
    fn the_table_lists_the_entry_points_rows_between_the_bucket_and_the_functions() {
        let stack = fixtures::stack();
        let table = Report::new(&stack, &fixtures::deployed(&stack, "c1")).to_table();
        let kinds: Vec<&str> = table
            .lines()
            .skip(5)
            .filter_map(|l| l.split("  ").nth(1))
            .collect();
        assert_eq!(
            kinds,
            [
                "bucket",
                "gateway service",
                "websocket api",
                "function (register)",
                "function (transport)",
                "function (cleanup)"
            ],
            "{table}"
        );
        assert!(table.contains("released (release)"), "{table}");
    }
}
