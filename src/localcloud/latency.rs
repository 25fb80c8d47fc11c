//! Latency profiles (`--latency none|realistic|FILE`): how long each API 3.0 round trip takes
//! and how long each asynchronous function state lasts.
//!
//! The round trip is slept (tokio) by `api3::handle` before it answers; the state durations are
//! stored with the function record as a deadline and resolved when the record is read (see
//! `api3::scf`), so they survive restarts and need no background task.
//!
//! A profile file is JSON with the same field names as [`Profile`], every field optional:
//! `{"default_ms": 150, "actions": {"ReleaseService": 1000}, "creating_ms": 3000,
//! "updating_ms": 1500, "deleting_ms": 1000}`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Per-action API round trips and asynchronous-state durations, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Round trip of an action not listed in `actions`.
    pub default_ms: u64,
    /// Round trip per action name (`CreateFunction`, `ReleaseService`, …).
    pub actions: BTreeMap<String, u64>,
    /// How long a new function stays `Creating`.
    pub creating_ms: u64,
    /// How long an updated function stays `Updating`.
    pub updating_ms: u64,
    /// How long a deleted function stays `Deleting` before it is gone.
    pub deleting_ms: u64,
}

impl Profile {
    /// No delay anywhere: states settle at once (fast tests).
    pub fn none() -> Self {
        Profile::default()
    }

    /// Our best estimate of the real cloud, from the console, the SDK's own timeouts and
    /// reports of deploy tooling; not measured against a live account:
    /// - SCF control-plane calls answer in ~100–200 ms (reads faster than writes);
    /// - a new Python function from an inline zip is `Creating` for a few seconds (the
    ///   serverless toolkit's deploy logs show ~2–5 s), updates are `Updating` ~1–2 s, deletes
    ///   `Deleting` ~1 s;
    /// - API Gateway calls are slower, ~200–400 ms (they touch the gateway cluster), and a
    ///   release takes ~1 s;
    /// - CAM's GetUserAppId is a plain read, ~100 ms; the tag service's calls are like SCF's
    ///   (a write ~150 ms, a read ~100 ms) and change no function state.
    pub fn realistic() -> Self {
        let actions = [
            // SCF
            ("CreateFunction", 200),
            ("UpdateFunctionCode", 200),
            ("UpdateFunctionConfiguration", 180),
            ("DeleteFunction", 150),
            ("GetFunction", 100),
            ("ListFunctions", 120),
            ("GetFunctionLogs", 200),
            ("Invoke", 150),
            ("InvokeFunction", 150),
            ("CreateTrigger", 200),
            ("ListTriggers", 100),
            ("UpdateTrigger", 150),
            ("DeleteTrigger", 150),
            ("PutReservedConcurrencyConfig", 150),
            ("GetReservedConcurrencyConfig", 100),
            ("DeleteReservedConcurrencyConfig", 150),
            // API Gateway
            ("CreateService", 350),
            ("DescribeService", 200),
            ("DescribeServicesStatus", 250),
            ("DescribeServiceEnvironmentList", 200),
            ("CreateApi", 400),
            ("DescribeApi", 200),
            ("DescribeApisStatus", 220),
            ("ModifyApi", 350),
            ("DeleteApi", 300),
            ("ReleaseService", 1000),
            ("UnReleaseService", 600),
            ("DeleteService", 350),
            // CAM
            ("GetUserAppId", 100),
            // Tags
            ("ModifyResourceTags", 150),
            ("DescribeResourceTagsByResourceIds", 100),
        ]
        .into_iter()
        .map(|(a, ms)| (a.to_owned(), ms))
        .collect();
        Profile {
            default_ms: 150,
            actions,
            creating_ms: 3000,
            updating_ms: 1500,
            deleting_ms: 1000,
        }
    }

    /// A profile from a JSON file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read latency profile {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("invalid latency profile {}: {e}", path.display()))
    }

    /// Parses `--latency none|realistic|FILE`.
    pub fn from_arg(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Profile::none()),
            "realistic" => Ok(Profile::realistic()),
            path => Profile::from_file(Path::new(path)),
        }
    }

    /// The round trip of `action`.
    pub fn round_trip(&self, action: &str) -> Duration {
        Duration::from_millis(self.actions.get(action).copied().unwrap_or(self.default_ms))
    }

    /// How long `Creating` lasts.
    pub fn creating(&self) -> Duration {
        Duration::from_millis(self.creating_ms)
    }

    /// How long `Updating` lasts.
    pub fn updating(&self) -> Duration {
        Duration::from_millis(self.updating_ms)
    }

    /// How long `Deleting` lasts.
    pub fn deleting(&self) -> Duration {
        Duration::from_millis(self.deleting_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_the_default_and_has_no_delay() {
        let p = Profile::from_arg("none").unwrap();
        assert_eq!(p, Profile::default());
        assert_eq!(p.round_trip("CreateFunction"), Duration::ZERO);
        assert_eq!(p.creating(), Duration::ZERO);
    }

    #[test]
    fn realistic_has_per_action_round_trips() {
        let p = Profile::from_arg("realistic").unwrap();
        assert_eq!(p.round_trip("ReleaseService"), Duration::from_millis(1000));
        assert_eq!(p.round_trip("SomethingElse"), Duration::from_millis(150));
        assert!(p.creating() > p.updating() && p.updating() > p.deleting());
    }

    #[test]
    fn files_are_read_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("fast.json");
        std::fs::write(
            &good,
            r#"{"creating_ms": 40, "actions": {"GetFunction": 5}}"#,
        )
        .unwrap();
        let p = Profile::from_arg(good.to_str().unwrap()).unwrap();
        assert_eq!(p.creating(), Duration::from_millis(40));
        assert_eq!(p.round_trip("GetFunction"), Duration::from_millis(5));
        assert_eq!(p.updating(), Duration::ZERO);

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"creating": 40}"#).unwrap();
        let err = Profile::from_arg(bad.to_str().unwrap()).unwrap_err();
        assert!(
            err.contains("bad.json") && err.contains("creating"),
            "{err}"
        );
        let err = Profile::from_arg("/no/such/profile.json").unwrap_err();
        assert!(err.contains("/no/such/profile.json"), "{err}");
    }
}
