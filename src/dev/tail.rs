//! The log stream of `chatstack dev`: every function's output as it happens, each line with the
//! function's name in front, read with GetFunctionLogs like `chatstack logs --follow` (over the
//! wire, as against the cloud).

use std::time::{Duration, Instant};

use crate::logs::{Entry, Seen, fetch};
use crate::providers::tencent::scf::Scf;

/// How often each function's log is read.
pub const POLL: Duration = Duration::from_millis(500);

/// ANSI colours the prefixes cycle through (on a terminal).
const COLOURS: &[&str] = &["36", "35", "33", "32", "34", "31"];

/// One function to follow.
#[derive(Debug, Clone)]
pub struct Followed {
    /// FunctionName.
    pub name: String,
    /// Namespace.
    pub namespace: String,
}

/// One line to print.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// FunctionName.
    pub function: String,
    /// The invocation.
    #[serde(rename = "requestId")]
    pub request_id: String,
    /// The text (no newline).
    pub text: String,
    /// Whether it reports a failed invocation.
    pub error: bool,
}

/// The lines worth showing of an invocation: the function's own output, without SCF's
/// START/Event/END/Report framing, and one line for a failed invocation.
pub fn lines(e: &Entry) -> Vec<Line> {
    let line = |text: String, error| Line {
        function: e.function_name.clone(),
        request_id: e.request_id.clone(),
        text,
        error,
    };
    let mut out: Vec<Line> = e
        .log
        .lines()
        .filter(|l| {
            !(l.starts_with("START RequestId:")
                || l.starts_with("Event RequestId:")
                || l.starts_with("END RequestId:")
                || l.starts_with("Report RequestId:"))
        })
        .filter(|l| !l.trim().is_empty())
        .map(|l| line(l.to_owned(), false))
        .collect();
    if e.ret_code != 0 {
        out.push(line(
            format!("invocation failed ({}): {}", e.ret_code, e.ret_msg),
            true,
        ));
    }
    out
}

/// `name | text`, the names padded to `width`, coloured on a terminal.
pub fn render(line: &Line, index: usize, width: usize, colour: bool) -> String {
    let name = format!("{:<width$}", line.function);
    if colour {
        let c = COLOURS[index % COLOURS.len()];
        let text = if line.error {
            format!("\x1b[31m{}\x1b[0m", line.text)
        } else {
            line.text.clone()
        };
        format!("\x1b[{c}m{name} |\x1b[0m {text}\n")
    } else {
        format!("{name} | {}\n", line.text)
    }
}

/// Follows `functions` until the task is dropped, handing each new line to `sink` with the
/// function's index. Invocations from before `since` are not shown; read errors are retried
/// quietly (the cloud may be redeploying).
pub async fn follow(
    scf: Scf,
    functions: Vec<Followed>,
    since: Instant,
    sink: impl Fn(usize, Line) + Send + 'static,
) {
    let mut seen: Vec<Seen> = functions.iter().map(|_| Seen::default()).collect();
    loop {
        let window = Some(since.elapsed() + Duration::from_secs(2));
        for (i, f) in functions.iter().enumerate() {
            match fetch(&scf, &f.name, Some(&f.namespace), window).await {
                Ok(page) => {
                    for entry in seen[i].fresh(page) {
                        for line in lines(&entry) {
                            sink(i, line);
                        }
                    }
                }
                Err(e) => tracing::debug!(function = f.name, "reading logs: {e}"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_dropped_and_failures_are_shown() {
        let e = Entry {
            function_name: "chat-transport".into(),
            request_id: "r1".into(),
            log: "START RequestId: r1\nEvent RequestId: r1\nhello\n\nworld\nEND RequestId: r1\nReport RequestId: r1 Duration:1ms\n"
                .into(),
            ret_code: 430,
            ret_msg: "boom".into(),
            ..Entry::default()
        };
        let texts: Vec<(String, bool)> = lines(&e).into_iter().map(|l| (l.text, l.error)).collect();
        assert_eq!(
            texts,
            [
                ("hello".to_owned(), false),
                ("world".to_owned(), false),
                ("invocation failed (430): boom".to_owned(), true)
            ]
        );
    }

    #[test]
    fn prefixes_line_up_and_colour_only_on_a_terminal() {
        let l = Line {
            function: "reg".into(),
            request_id: "r".into(),
            text: "hi".into(),
            error: false,
        };
        assert_eq!(render(&l, 0, 9, false), "reg       | hi\n");
        assert_eq!(render(&l, 1, 3, true), "\x1b[35mreg |\x1b[0m hi\n");
    }
}
