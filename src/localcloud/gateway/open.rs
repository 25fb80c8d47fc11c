//! The open connections that still owe a cleanup, persisted: a record is committed when a
//! connection is admitted (register accepted, before the `101`) and deleted once its cleanup
//! function ran. A record still there when the local cloud starts belongs to a connection that
//! never ended cleanly (`kill -9`, a crash, a stop whose budget ran out): the local cloud runs
//! its cleanup then, with the cloud's event shape. One store write per connect and one per
//! disconnect; nothing per frame.

use serde::{Deserialize, Serialize};

use super::FunctionTarget;
use crate::localcloud::store::{Store, StoreError};

/// The table: `secConnectionID` → [`OpenRecord`].
pub const TABLE: &str = "gw_open_connections";

/// What running a connection's cleanup later needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRecord {
    /// The API it connected to.
    pub api_id: String,
    /// Its cleanup function, as bound by the release it connected through.
    pub region: String,
    /// Namespace of the cleanup function.
    pub namespace: String,
    /// Name of the cleanup function.
    pub name: String,
    /// Qualifier of the cleanup function.
    pub qualifier: String,
    /// The API's `ServiceTimeout`, seconds: the bound on the cleanup call.
    pub timeout_secs: u64,
}

impl OpenRecord {
    /// A record for a connection of `api_id` whose cleanup is `target`.
    pub fn new(api_id: &str, target: &FunctionTarget, timeout_secs: u64) -> Self {
        OpenRecord {
            api_id: api_id.to_owned(),
            region: target.region.clone(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            qualifier: target.qualifier.clone(),
            timeout_secs,
        }
    }

    /// The cleanup function.
    pub fn target(&self) -> FunctionTarget {
        FunctionTarget {
            region: self.region.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            qualifier: self.qualifier.clone(),
        }
    }
}

/// Records connection `id` as open (durably).
pub fn admit(store: &Store, id: &str, record: &OpenRecord) -> Result<(), StoreError> {
    store.write(|t| t.put(TABLE, id, record))
}

/// Forgets connection `id`: its cleanup ran.
pub fn done(store: &Store, id: &str) -> Result<(), StoreError> {
    store.write(|t| t.delete(TABLE, id).map(|_| ()))
}

/// Every connection recorded as open.
pub fn all(store: &Store) -> Result<Vec<(String, OpenRecord)>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<(String, OpenRecord)> = store.scan(TABLE, "", after.as_deref(), 1000)?;
        let Some((last, _)) = page.last() else {
            return Ok(out);
        };
        after = Some(last.clone());
        out.extend(page);
    }
}
