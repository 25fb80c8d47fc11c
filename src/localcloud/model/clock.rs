//! The clock the records are read against, and SCF's way of writing a time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `"YYYY-MM-DD HH:MM:SS"` in Beijing time (UTC+8), the form SCF uses for `AddTime`/`ModTime`.
pub fn scf_time(secs: i64) -> String {
    // Beijing has no daylight saving: a fixed +8 h shift, formatted as if UTC.
    jiff::Timestamp::from_second(secs.saturating_add(8 * 3600))
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}
