//! Invocation records (`GetFunctionLogs`): one document per invocation in the table [`TABLE`],
//! keyed `{region}/{namespace}/{name}/{start ms, 15 digits}-{sequence}-{request id}` so a prefix scan lists
//! a function's invocations oldest first. At most `max` are kept per function: a counter in
//! [`COUNT_TABLE`] triggers trimming of the oldest ones in batches.

use serde::{Deserialize, Serialize};

use crate::localcloud::store::{Store, StoreError};

/// Invocation records.
pub const TABLE: &str = "scf_logs";
/// Records per function, for trimming.
pub const COUNT_TABLE: &str = "scf_log_counts";
static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Records trimmed at once beyond the bound (amortizes the scan).
const TRIM_SLACK: u64 = 50;

/// One invocation, as GetFunctionLogs reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Region.
    pub region: String,
    /// Namespace.
    pub namespace: String,
    /// FunctionName.
    pub function_name: String,
    /// The invocation's request id.
    pub request_id: String,
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Billed duration, ms.
    pub billed_ms: u64,
    /// Memory, bytes.
    pub mem_usage: u64,
    /// 0 on success, else the SCF status code (430, 433, 434, 439).
    pub ret_code: i64,
    /// The return value as JSON text, or the error (SCF's ErrMsg JSON).
    pub ret_msg: String,
    /// The log text, framed like SCF's (`START RequestId…` … `Report RequestId…`).
    pub log: String,
    /// `RequestResponse` or `Event`.
    pub invocation_type: String,
}

/// The key prefix of a function's records.
pub fn prefix(region: &str, namespace: &str, name: &str) -> String {
    format!("{region}/{namespace}/{name}/")
}

/// Stores `rec`, keeping at most about `max` records for its function.
pub fn append(store: &Store, rec: &LogRecord, max: usize) -> Result<(), StoreError> {
    let p = prefix(&rec.region, &rec.namespace, &rec.function_name);
    // The sequence number orders invocations that start within the same millisecond.
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let key = format!(
        "{p}{:015}-{seq:012}-{}",
        rec.start_ms.max(0),
        rec.request_id
    );
    let count = store.write(|tx| -> Result<u64, StoreError> {
        tx.put(TABLE, &key, rec)?;
        let n = tx.get::<u64>(COUNT_TABLE, &p)?.unwrap_or(0) + 1;
        tx.put(COUNT_TABLE, &p, &n)?;
        Ok(n)
    })?;
    let max = max as u64;
    if count > max + TRIM_SLACK {
        let excess = usize::try_from(count - max).unwrap_or(usize::MAX);
        let oldest: Vec<(String, serde_json::Value)> = store.scan(TABLE, &p, None, excess)?;
        store.write(|tx| -> Result<(), StoreError> {
            let mut removed = 0;
            for (k, _) in &oldest {
                if tx.delete(TABLE, k)? {
                    removed += 1;
                }
            }
            let n = tx.get::<u64>(COUNT_TABLE, &p)?.unwrap_or(0);
            tx.put(COUNT_TABLE, &p, &n.saturating_sub(removed))?;
            Ok(())
        })?;
    }
    Ok(())
}

/// All stored records of a function, oldest first.
pub fn list(
    store: &Store,
    region: &str,
    namespace: &str,
    name: &str,
) -> Result<Vec<LogRecord>, StoreError> {
    Ok(store
        .scan::<LogRecord>(TABLE, &prefix(region, namespace, name), None, usize::MAX)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i64) -> LogRecord {
        LogRecord {
            region: "ap-guangzhou".into(),
            namespace: "default".into(),
            function_name: "f".into(),
            request_id: format!("r{i}"),
            start_ms: 1_000 + i,
            duration_ms: 1.0,
            billed_ms: 1,
            mem_usage: 0,
            ret_code: 0,
            ret_msg: "null".into(),
            log: String::new(),
            invocation_type: "Event".into(),
        }
    }

    #[test]
    fn records_are_bounded_per_function_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..130 {
            append(&store, &rec(i), 20).unwrap();
        }
        let all = list(&store, "ap-guangzhou", "default", "f").unwrap();
        assert!(
            all.len() <= 20 + TRIM_SLACK as usize && all.len() >= 20,
            "{}",
            all.len()
        );
        assert_eq!(all.last().unwrap().request_id, "r129");
        assert!(all.windows(2).all(|w| w[0].start_ms < w[1].start_ms));
        assert!(
            list(&store, "ap-guangzhou", "default", "g")
                .unwrap()
                .is_empty()
        );
    }
}
