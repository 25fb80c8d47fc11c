//! Reading a function's invocations with SCF's GetFunctionLogs, for `chatstack logs` and the
//! log stream of `chatstack dev`: the query window, deduplication across polls, rendering.
//!
//! GetFunctionLogs speaks Beijing time (UTC+8) with no zone marker; what we print says so.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::providers::tencent::scf::{GetFunctionLogsRequest, Scf};
use crate::providers::tencent::{Error, time};

/// The window GetFunctionLogs accepts between StartTime and EndTime.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How printed times say which zone they are in: GetFunctionLogs reports Beijing time.
pub const ZONE: &str = "UTC+8";
/// Entries asked for per poll.
pub const PAGE: u32 = 100;

/// One invocation as GetFunctionLogs reports it (the fields `logs` shows).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    /// FunctionName.
    pub function_name: String,
    /// The invocation's RequestId.
    pub request_id: String,
    /// `2024-12-17 17:52:48.123` (Beijing time).
    pub start_time: String,
    /// 0 on success.
    pub ret_code: i64,
    /// Return value (JSON text) or error.
    pub ret_msg: String,
    /// Duration, ms.
    pub duration: f64,
    /// Billed duration, ms.
    pub bill_duration: f64,
    /// Memory, bytes.
    pub mem_usage: u64,
    /// The log text.
    pub log: String,
}

/// StartTime/EndTime for a query at `now` (Unix seconds): nothing without `--since` (the
/// newest [`PAGE`] invocations), else `[now - since, now]` in Beijing time ([`time::format`]).
pub fn window(now: i64, since: Option<Duration>) -> (Option<String>, Option<String>) {
    match since {
        None => (None, None),
        Some(d) => {
            let d = i64::try_from(d.min(MAX_WINDOW).as_secs()).unwrap_or(86_400);
            (Some(time::format(now - d)), Some(time::format(now)))
        }
    }
}

/// The invocations already printed.
#[derive(Debug, Default)]
pub struct Seen(HashSet<(String, String)>);

impl Seen {
    /// The entries of `page` not printed yet, oldest first; remembers them.
    pub fn fresh(&mut self, page: Vec<Entry>) -> Vec<Entry> {
        let mut new: Vec<Entry> = page
            .into_iter()
            .filter(|e| self.0.insert((e.request_id.clone(), e.start_time.clone())))
            .collect();
        new.sort_by(|a, b| a.start_time.cmp(&b.start_time));
        new
    }
}

/// One entry as printed: a JSON line, or SCF's framing (added when the log lacks it); either
/// ends with a newline, so entries printed one after another stay apart.
pub fn render(e: &Entry, json: bool) -> String {
    if json {
        let mut line = serde_json::to_string(e).unwrap_or_default();
        line.push('\n');
        return line;
    }
    let mut s = String::new();
    let log = e.log.trim_end();
    if log.starts_with("START RequestId:") {
        s.push_str(&format!("[{} {ZONE}]\n{log}", e.start_time));
    } else {
        s.push_str(&format!(
            "[{} {ZONE}]\nSTART RequestId: {}\n",
            e.start_time, e.request_id
        ));
        if !log.is_empty() {
            s.push_str(log);
            s.push('\n');
        }
        s.push_str(&format!(
            "END RequestId: {}\nReport RequestId: {} Duration:{:.2}ms BilledDuration:{}ms MemUsage:{:.2}MB",
            e.request_id,
            e.request_id,
            e.duration,
            e.bill_duration,
            e.mem_usage as f64 / (1024.0 * 1024.0)
        ));
    }
    if e.ret_code != 0 {
        s.push_str(&format!("\nRetCode {}: {}", e.ret_code, e.ret_msg));
    }
    s.push('\n');
    s
}

/// The newest [`PAGE`] invocations of a function (in the window `since` gives), as the cloud
/// reports them.
pub async fn fetch(
    scf: &Scf,
    name: &str,
    namespace: Option<&str>,
    since: Option<Duration>,
) -> Result<Vec<Entry>, Error> {
    let (start_time, end_time) = window(jiff::Timestamp::now().as_second(), since);
    let page = scf
        .get_function_logs(&GetFunctionLogsRequest {
            function_name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            limit: Some(PAGE),
            order: Some("desc".into()),
            order_by: Some("start_time".into()),
            start_time,
            end_time,
            ..Default::default()
        })
        .await?;
    Ok(page
        .data
        .into_iter()
        .map(|d| Entry {
            function_name: d.function_name,
            request_id: d.request_id,
            start_time: d.start_time,
            ret_code: d.ret_code,
            ret_msg: d.ret_msg,
            duration: d.duration,
            bill_duration: d.bill_duration,
            mem_usage: d.mem_usage,
            log: d.log,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_beijing_time_and_bounded() {
        assert_eq!(window(1_700_000_000, None), (None, None));
        let (s, e) = window(1_700_000_000, Some(Duration::from_secs(600)));
        assert_eq!(s.as_deref(), Some("2023-11-15 06:03:20"));
        assert_eq!(e.as_deref(), Some("2023-11-15 06:13:20"));
    }

    fn entry(id: &str, at: &str) -> Entry {
        Entry {
            request_id: id.into(),
            start_time: at.into(),
            ..Entry::default()
        }
    }

    #[test]
    fn follow_prints_each_invocation_once_oldest_first() {
        let mut seen = Seen::default();
        let first = seen.fresh(vec![
            entry("b", "2024-01-01 00:00:02.000"),
            entry("a", "2024-01-01 00:00:01.000"),
        ]);
        assert_eq!(
            first
                .iter()
                .map(|e| e.request_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let next = seen.fresh(vec![
            entry("c", "2024-01-01 00:00:03.000"),
            entry("b", "2024-01-01 00:00:02.000"),
        ]);
        assert_eq!(next, [entry("c", "2024-01-01 00:00:03.000")]);
    }

    #[test]
    fn entries_render_as_scf_frames_or_json_lines() {
        let framed = Entry {
            request_id: "r1".into(),
            start_time: "2024-01-01 00:00:01.000".into(),
            log: "START RequestId: r1\nhello\nEND RequestId: r1\n".into(),
            ..Entry::default()
        };
        assert_eq!(
            render(&framed, false),
            "[2024-01-01 00:00:01.000 UTC+8]\nSTART RequestId: r1\nhello\nEND RequestId: r1\n"
        );
        let bare = Entry {
            request_id: "r2".into(),
            start_time: "t".into(),
            log: "oops".into(),
            ret_code: 433,
            ret_msg: "timed out".into(),
            duration: 1000.0,
            bill_duration: 1000.0,
            mem_usage: 2 * 1024 * 1024,
            ..Entry::default()
        };
        let text = render(&bare, false);
        assert!(
            text.starts_with("[t UTC+8]\nSTART RequestId: r2\noops\nEND RequestId: r2\n"),
            "{text}"
        );
        assert!(
            text.contains("Duration:1000.00ms") && text.contains("MemUsage:2.00MB"),
            "{text}"
        );
        assert!(text.ends_with("RetCode 433: timed out\n"), "{text}");
        let line = render(&bare, true);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["RequestId"], "r2");
        assert_eq!(v["RetCode"], 433);
        // One line per entry: `--json` output with several entries is JSON Lines, not
        // objects glued together (a regression: the newline used to be missing).
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
    }
}
