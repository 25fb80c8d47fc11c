//! `chatstack logs FUNCTION [--follow] [--since DURATION]`: a function's invocations and their
//! output, read with SCF's GetFunctionLogs, so it works against the real cloud and the local
//! one alike.
//!
//! Each invocation prints as SCF frames it (`START RequestId: …`, the function's output,
//! `END RequestId: …`, `Report RequestId: … Duration … Memory …`), oldest first; `--json`
//! prints one JSON object per invocation and line. `--follow` polls about once a second and
//! prints each invocation once (deduplicated by RequestId and StartTime) until Ctrl-C.
//! GetFunctionLogs takes Beijing-time bounds at most one day apart, so `--since` is capped at
//! one day.

use std::time::Duration;

use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::logs::{MAX_WINDOW, Seen, fetch, render};
use crate::ui;

/// `logs` flags.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The function: its instance name in the stack file, or its FunctionName
    #[arg(value_name = "FUNCTION")]
    pub function: String,

    /// Keep printing new invocations as they happen (Ctrl-C to stop)
    #[arg(short, long)]
    pub follow: bool,

    /// Only invocations that started this long ago or later: 30s, 10m, 1h, 1d (at most 1d)
    #[arg(long, value_name = "DURATION", value_parser = parse_since)]
    pub since: Option<Duration>,
}

/// Parses a duration as [`crate::cli::parse_duration`] does (`30s`, `10m`, `1h`, `1d`), at most
/// one day: the longest window GetFunctionLogs searches.
pub fn parse_since(s: &str) -> Result<Duration, String> {
    let d = crate::cli::parse_duration(s)?;
    if d > MAX_WINDOW {
        return Err(format!(
            "`{s}` is longer than one day, the most GetFunctionLogs can search"
        ));
    }
    Ok(d)
}

/// Prints the function's invocations, newest last; with `--follow`, keeps polling every
/// second and prints each new invocation once, until Ctrl-C.
pub async fn run(args: Args, global: &GlobalArgs) -> Result<(), Error> {
    let stack = super::common::load_stack(global)?;
    let cloud = super::common::connect(global, &stack)?;
    let target = super::common::named_function(&stack, cloud, &args.function)?;
    let scf = target.cloud.scf();
    let mut seen = Seen::default();
    loop {
        let page = fetch(&scf, &target.name, target.namespace.as_deref(), args.since).await;
        let page = match page {
            Err(e) if e.is_not_found() && !target.in_stack => return Err(target.unknown()),
            other => other?,
        };
        for e in seen.fresh(page) {
            ui::print_result(&render(&e, global.json));
        }
        if !args.follow {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_seconds_minutes_hours_and_days() {
        assert_eq!(parse_since("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_since("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_since("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_since("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "m", "10x", "2d", "-1h", "1.5h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
