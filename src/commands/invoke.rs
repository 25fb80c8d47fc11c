//! `chatstack invoke FUNCTION [--data JSON|@FILE] [--log]`: runs a function once with SCF's
//! synchronous Invoke and prints what it returned, so it works against the real cloud and the
//! local one alike.
//!
//! The event is `{}` unless `--data` gives a JSON document, inline or `@FILE` (`@-`: standard
//! input); it is checked before anything is sent (bad JSON is exit 2, naming the flag, the file
//! and the line and column), and so is SCF's 6 MB limit for a synchronous event.
//!
//! The result goes to stdout: the function's return value, pretty-printed when it is JSON.
//! `--log` prints the invocation's log (what the function printed and SCF's report lines) on
//! stderr first. `--json` prints one document instead: `function`, `requestId`, `result` (the
//! return value, parsed when it is JSON), `error` (`null`, or `{message, statusCode}`),
//! `durationMs`, `billedMs`, `memUsageBytes`, and `log` with `--log`. A function that fails
//! (exception, timeout, crash, memory) exits 1 with its error message, after its output.

use std::io::Read;

use serde_json::{Value, json};

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::providers::tencent::limits;
use crate::providers::tencent::scf::{InvokeRequest, InvokeResult};
use crate::ui;

/// `invoke` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function: its instance name in the stack file, or its FunctionName
    #[arg(value_name = "FUNCTION")]
    pub function: String,

    /// The event: a JSON document, or @FILE to read it from a file (@- for standard input)
    /// [default: {}]
    #[arg(short, long, value_name = "JSON|@FILE")]
    pub data: Option<String>,

    /// Also print the invocation's log (the function's output and SCF's report) on stderr
    #[arg(long)]
    pub log: bool,
}

/// Invokes the function and prints the result; a function error is `Err` (exit 1).
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let stack = super::common::load_stack(global)?;
    let event = event(args.data.as_deref(), &mut std::io::stdin().lock())?;
    let cloud = super::common::connect(global, &stack)?;
    let target = super::common::named_function(&stack, cloud, &args.function)?;
    let request = InvokeRequest {
        function_name: target.name.clone(),
        invocation_type: Some("RequestResponse".to_owned()),
        client_context: Some(event),
        log_type: Some(if args.log { "Tail" } else { "None" }.to_owned()),
        namespace: target.namespace.clone(),
        qualifier: None,
    };
    let result = match target.cloud.scf().invoke(&request).await {
        Err(e) if e.is_not_found() && !target.in_stack => return Err(target.unknown()),
        other => other?,
    };
    let outcome = outcome(&result);
    if global.json {
        ui::print_json(&document(&target.name, &result, &outcome, args.log));
    } else {
        if args.log && !result.log.is_empty() {
            eprint!("{}", with_newline(&result.log));
        }
        if let Ok(value) = &outcome {
            ui::print_result(&with_newline(&shown(value)));
            ui::status(
                global,
                "Invoked",
                &format!(
                    "{} in {:.1} ms (billed {} ms, {:.1} MB), RequestId {}",
                    target.name,
                    result.duration,
                    result.bill_duration,
                    result.mem_usage as f64 / (1024.0 * 1024.0),
                    result.function_request_id
                ),
            );
        }
    }
    outcome.map(drop).map_err(|e| Error::FunctionFailed {
        function: target.name,
        message: e.message,
        request_id: result.function_request_id,
    })
}

/// The event as compact JSON text: `{}`, `--data JSON`, or the file `--data @FILE` names
/// (`@-`: `stdin`). Bad JSON, an unreadable file or an event over SCF's limit is a usage error.
fn event(data: Option<&str>, stdin: &mut dyn Read) -> Result<String, Error> {
    let Some(data) = data else {
        return Ok("{}".to_owned());
    };
    let (text, from) = match data.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| usage(format!("--data @-: cannot read standard input: {e}")))?;
            (text, "standard input".to_owned())
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(format!("--data @{path}: cannot read {path}: {e}")))?;
            (text, path.to_owned())
        }
        None => (data.to_owned(), "the value".to_owned()),
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        // serde_json's message ends with the line and column.
        usage(format!("--data: {from} is not JSON: {e}"))
    })?;
    let compact = value.to_string();
    if compact.len() > limits::EVENT_SYNC_MAX_BYTES {
        return Err(usage(format!(
            "--data: the event is {} bytes, over SCF's {} MB limit for a synchronous invocation",
            compact.len(),
            limits::EVENT_SYNC_MAX_BYTES / (1024 * 1024)
        )));
    }
    Ok(compact)
}

fn usage(message: String) -> Error {
    Error::Usage {
        message,
        help:
            "pass the event as JSON, e.g. --data '{\"key\": \"value\"}', or as --data @event.json"
                .to_owned(),
    }
}

/// How a function failed, as Invoke reports it.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    message: String,
    status_code: Option<i64>,
}

/// The return value, or how the function failed.
type Outcome = Result<Value, Failure>;

/// A function error is a non-empty `ErrMsg` (a JSON document with `errorMessage` and
/// `statusCode`, or plain text) or a non-zero `InvokeResult`; otherwise `RetMsg` is the return
/// value (JSON text, or taken as a string when it is not JSON).
fn outcome(r: &InvokeResult) -> Outcome {
    if !r.err_msg.is_empty() || r.invoke_result != 0 {
        let doc = serde_json::from_str::<Value>(&r.err_msg).ok();
        let message = doc
            .as_ref()
            .and_then(|d| d.get("errorMessage"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                if r.err_msg.is_empty() {
                    format!("the invocation failed with code {}", r.invoke_result)
                } else {
                    r.err_msg.clone()
                }
            });
        let status_code = doc
            .as_ref()
            .and_then(|d| d.get("statusCode"))
            .and_then(Value::as_i64)
            .or((r.invoke_result != 0).then_some(r.invoke_result));
        return Err(Failure {
            message,
            status_code,
        });
    }
    Ok(serde_json::from_str(&r.ret_msg).unwrap_or_else(|_| Value::String(r.ret_msg.clone())))
}

/// `invoke --json`'s document.
fn document(function: &str, r: &InvokeResult, outcome: &Outcome, with_log: bool) -> Value {
    let (result, error) = match outcome {
        Ok(v) => (v.clone(), Value::Null),
        Err(e) => (
            Value::Null,
            json!({"message": e.message, "statusCode": e.status_code}),
        ),
    };
    let mut doc = json!({
        "function": function,
        "requestId": r.function_request_id,
        "result": result,
        "error": error,
        "durationMs": r.duration,
        "billedMs": r.bill_duration,
        "memUsageBytes": r.mem_usage,
    });
    if with_log {
        doc["log"] = Value::String(r.log.clone());
    }
    doc
}

/// A return value as printed: strings as they are, anything else as pretty JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_from_the_flag_a_file_or_stdin_and_must_be_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("event.json");
        std::fs::write(&file, "{\n  \"k\": [1, 2]\n}\n").unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\n  \"k\": oops\n}\n").unwrap();
        let at = |p: &std::path::Path| format!("@{}", p.display());
        let missing = dir.path().join("missing.json");
        let rows: Vec<(Option<String>, &str, Result<&str, &str>)> = vec![
            (None, "", Ok("{}")),
            (Some("{\"a\": 1}".into()), "", Ok("{\"a\":1}")),
            (Some("[1, \"x\"]".into()), "", Ok("[1,\"x\"]")),
            (Some("\"text\"".into()), "", Ok("\"text\"")),
            (Some(at(&file)), "", Ok("{\"k\":[1,2]}")),
            (
                Some("@-".into()),
                "{\"from\": \"stdin\"}",
                Ok("{\"from\":\"stdin\"}"),
            ),
            (Some("{oops".into()), "", Err("the value is not JSON")),
            (Some("".into()), "", Err("line 1 column 0")),
            (Some(at(&bad)), "", Err("bad.json is not JSON")),
            (Some(at(&bad)), "", Err("line 2 column")),
            (Some(at(&missing)), "", Err("cannot read")),
            (Some("@-".into()), "nope", Err("standard input is not JSON")),
        ];
        for (data, stdin, want) in rows {
            let got = event(data.as_deref(), &mut stdin.as_bytes());
            match (want, got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{data:?}"),
                (Err(w), Err(e)) => {
                    assert_eq!(e.exit_code(), 2, "{data:?}");
                    let text = e.to_string();
                    assert!(text.contains("--data"), "{data:?}: {text}");
                    assert!(text.contains(w), "{data:?}: {text} lacks {w:?}");
                }
                (w, g) => panic!("{data:?}: wanted {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn an_event_over_six_megabytes_is_refused_before_sending() {
        let big = format!("\"{}\"", "x".repeat(limits::EVENT_SYNC_MAX_BYTES));
        let e = event(Some(&big), &mut std::io::empty()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("6 MB"), "{e}");
    }

    fn result(ret: &str, err: &str, code: i64) -> InvokeResult {
        InvokeResult {
            ret_msg: ret.into(),
            err_msg: err.into(),
            invoke_result: code,
            ..Default::default()
        }
    }

    #[test]
    fn results_and_errors_read_as_scf_reports_them() {
        let scf_error = r#"{"errorCode":-1,"errorMessage":"bad frame","statusCode":430}"#;
        let rows: Vec<(InvokeResult, Outcome)> = vec![
            (result("{\"a\":1}", "", 0), Ok(json!({"a": 1}))),
            (result("\"hi\"", "", 0), Ok(json!("hi"))),
            (result("null", "", 0), Ok(Value::Null)),
            (result("not json", "", 0), Ok(json!("not json"))),
            (
                result("", scf_error, 430),
                Err(Failure {
                    message: "bad frame".into(),
                    status_code: Some(430),
                }),
            ),
            (
                result("", "plain text failure", 0),
                Err(Failure {
                    message: "plain text failure".into(),
                    status_code: None,
                }),
            ),
            (
                result("", "", 433),
                Err(Failure {
                    message: "the invocation failed with code 433".into(),
                    status_code: Some(433),
                }),
            ),
        ];
        for (r, want) in rows {
            assert_eq!(outcome(&r), want, "{r:?}");
        }
    }

    #[test]
    fn the_json_document_carries_the_log_only_when_asked() {
        let mut r = result("{\"a\":1}", "", 0);
        r.log = "START …".into();
        r.function_request_id = "rid".into();
        let ok = document("f", &r, &outcome(&r), false);
        assert_eq!(ok["result"], json!({"a": 1}));
        assert_eq!(ok["error"], Value::Null);
        assert_eq!(ok["requestId"], "rid");
        assert!(ok.get("log").is_none());
        assert_eq!(document("f", &r, &outcome(&r), true)["log"], "START …");
        let failed = result("", r#"{"errorMessage":"boom","statusCode":430}"#, 430);
        let doc = document("f", &failed, &outcome(&failed), false);
        assert_eq!(doc["result"], Value::Null);
        assert_eq!(doc["error"], json!({"message": "boom", "statusCode": 430}));
    }
}
