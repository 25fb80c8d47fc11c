//! Function records: what the control plane (`api3::scf`) writes and the function runtime
//! reads. Records live in the table [`TABLE`], keyed `{region}/{namespace}/{name}` ([`key`]);
//! the code zip of a function is a store blob named in [`FunctionRecord::code_blob`].
//!
//! Owns the record's shape and its lazy states ([`FunctionRecord::at`]); must not know about
//! actions, requests or workers.

use serde::{Deserialize, Serialize};

use crate::localcloud::store::{Store, StoreError};

/// The functions table.
pub const TABLE: &str = "scf_functions";
/// The one namespace.
pub const DEFAULT_NAMESPACE: &str = "default";
/// A `{Key, Value}` pair (environment variables, tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A function's `Status` as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Being created.
    Creating,
    /// Ready.
    Active,
    /// Code or configuration being updated.
    Updating,
    /// Being deleted.
    Deleting,
}

impl Status {
    /// The cloud's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "Creating",
            Status::Active => "Active",
            Status::Updating => "Updating",
            Status::Deleting => "Deleting",
        }
    }
}

/// A stored function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    /// Region.
    pub region: String,
    /// Namespace.
    pub namespace: String,
    /// FunctionName.
    pub name: String,
    /// FunctionId, `lam-xxxxxxxx`.
    pub function_id: String,
    /// Runtime.
    pub runtime: String,
    /// Handler, `file.function`.
    pub handler: String,
    /// Description.
    pub description: String,
    /// MemorySize (MB).
    pub memory_size: u32,
    /// Timeout (s).
    pub timeout: u32,
    /// InitTimeout (s): how long a new instance may take to load the code before its first
    /// invocation (records written before this field existed get SCF's default).
    #[serde(default = "default_init_timeout")]
    pub init_timeout: u32,
    /// Role name.
    pub role: String,
    /// `Event` or `HTTP` (a Web function: its code ships an executable `scf_bootstrap` that
    /// serves HTTP on the port the platform gives it; API-FACTS §10.2).
    pub function_type: String,
    /// `ProtocolType`: `WS` for a Web function with WebSocket on, else empty. Once on it
    /// cannot be switched off.
    #[serde(default)]
    pub protocol_type: String,
    /// `ProtocolParams.WSParams.IdleTimeOut` (s), for `WS` functions: a connection with no
    /// frame for this long is closed (status 455).
    #[serde(default)]
    pub ws_idle_timeout: u32,
    /// `InstanceConcurrencyConfig.MaxConcurrency`: requests (or WebSocket connections) one
    /// instance serves at once; 0 = not set, which means one.
    #[serde(default)]
    pub max_concurrency: u32,
    /// Reserved concurrency (`PutReservedConcurrencyConfig`): the most requests the function
    /// runs at once across its instances; `None` = only the account's limit.
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// Environment variables.
    pub environment: Vec<KeyValue>,
    /// Tags.
    pub tags: Vec<KeyValue>,
    /// The store blob holding the code zip.
    pub code_blob: String,
    /// Zip size in bytes.
    pub code_size: u64,
    /// Hex SHA-256 of the zip (not exposed by the API: the cloud has no such field).
    pub code_sha256: String,
    /// Creation, Unix seconds.
    pub add_time: i64,
    /// Last change, Unix seconds.
    pub mod_time: i64,
    /// Status as written.
    pub status: Status,
    /// When a transitional status ends, Unix milliseconds.
    pub settles_at_ms: i64,
}

impl FunctionRecord {
    /// The record as it is at `now_ms`: a transitional status past its deadline is resolved
    /// (`Active`, or `None` once `Deleting` is over).
    pub fn at(mut self, now_ms: i64) -> Option<Self> {
        if now_ms >= self.settles_at_ms {
            match self.status {
                Status::Creating | Status::Updating => self.status = Status::Active,
                Status::Deleting => return None,
                Status::Active => {}
            }
        }
        Some(self)
    }
}

impl FunctionRecord {
    /// Whether this is a Web function (`Type: HTTP`).
    pub fn is_web(&self) -> bool {
        self.function_type == "HTTP"
    }

    /// Whether this Web function has WebSocket on (`ProtocolType: WS`).
    pub fn is_websocket(&self) -> bool {
        self.is_web() && self.protocol_type == "WS"
    }

    /// Requests one instance serves at once (`MaxConcurrency`, default one).
    pub fn slots_per_instance(&self) -> u32 {
        self.max_concurrency.max(1)
    }
}

/// SCF's default `ProtocolParams.WSParams.IdleTimeOut`, seconds (SDK model text).
pub const DEFAULT_WS_IDLE_TIMEOUT: u32 = 15;

/// SCF's default `InitTimeout`, seconds.
pub const DEFAULT_INIT_TIMEOUT: u32 = 65;

fn default_init_timeout() -> u32 {
    DEFAULT_INIT_TIMEOUT
}

/// The store key of a function.
pub fn key(region: &str, namespace: &str, name: &str) -> String {
    format!("{region}/{namespace}/{name}")
}

/// A function as seen at `now_ms` (`None` when absent or deleted); for the API Gateway and
/// the function runtime.
pub fn lookup(
    store: &Store,
    region: &str,
    namespace: &str,
    name: &str,
    now_ms: i64,
) -> Result<Option<FunctionRecord>, StoreError> {
    Ok(store
        .get::<FunctionRecord>(TABLE, &key(region, namespace, name))?
        .and_then(|r| r.at(now_ms)))
}

/// Rewrites every stored function environment value that starts with one of the local
/// cloud's old base URLs (`http://OLD` or `ws://OLD`, followed by `/` or nothing) to start with
/// the new address instead; returns how many values changed. For a local cloud restarted on
/// another port with the same data dir: the push-back URL a deploy put in the functions'
/// variables (`http://127.0.0.1:OLD/api-…`) keeps working with no redeploy.
pub fn rebase_environment(store: &Store, old: &str, new: &str) -> Result<usize, StoreError> {
    let prefixes = [
        (format!("http://{old}"), format!("http://{new}")),
        (format!("ws://{old}"), format!("ws://{new}")),
    ];
    // Read first, then one write transaction: this runs at open, before anything else could
    // change a function.
    let mut changed = 0;
    let mut records = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, FunctionRecord)> = store.scan(TABLE, "", after.as_deref(), 500)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        for (key, mut record) in page {
            let mut touched = false;
            for var in &mut record.environment {
                for (from, to) in &prefixes {
                    let rest = var.value.strip_prefix(from.as_str());
                    if let Some(rest) = rest.filter(|r| r.is_empty() || r.starts_with('/')) {
                        var.value = format!("{to}{rest}");
                        touched = true;
                        changed += 1;
                    }
                }
            }
            if touched {
                records.push((key, record));
            }
        }
    }
    if !records.is_empty() {
        store.write(|t| {
            records
                .iter()
                .try_for_each(|(key, record)| t.put(TABLE, key, record))
        })?;
    }
    Ok(changed)
}
