//! How the Web-function data plane behaves: [`WebOptions`], their defaults (the cloud's
//! documented numbers where there are any) and the environment that changes them.

use std::time::Duration;

/// The cloud's per-message limit (API-FACTS §10.2).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// The cloud's per-connection message rate, client to function (API-FACTS §10.2).
pub const CLOUD_MESSAGES_PER_SEC: u32 = 10;
/// The cloud's per-connection bandwidth, client to function (API-FACTS §10.2).
pub const CLOUD_BYTES_PER_SEC: u64 = 128 * 1024;
/// How long an instance with nothing to do is kept before it is stopped.
pub const DEFAULT_KEEP_WARM: Duration = Duration::from_secs(120);
/// Instances a function may run at once when no reserved concurrency caps it.
pub const DEFAULT_MAX_INSTANCES: u32 = 32;

/// Per-connection caps (the cloud's: [`ConnectionCaps::cloud`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCaps {
    /// Client messages per second.
    pub messages_per_sec: u32,
    /// Client bytes per second.
    pub bytes_per_sec: u64,
}

impl ConnectionCaps {
    /// The documented defaults: 10 messages/s, 128 KB/s.
    pub fn cloud() -> Self {
        ConnectionCaps {
            messages_per_sec: CLOUD_MESSAGES_PER_SEC,
            bytes_per_sec: CLOUD_BYTES_PER_SEC,
        }
    }
}

/// Whether Web-function connections get the cloud's per-connection caps
/// (`chatstack local --webfn-limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Limits {
    /// No per-connection caps (the local default; 256 KB per message still holds).
    #[default]
    Off,
    /// The cloud's documented caps: 10 messages/s and 128 KB/s per connection.
    Cloud,
}

/// The data plane's knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOptions {
    /// Largest WebSocket message either way.
    pub max_message_bytes: usize,
    /// Per-connection rate and bandwidth caps; `None` (the local default) = off.
    pub caps: Option<ConnectionCaps>,
    /// An idle instance is stopped after this long.
    pub keep_warm: Duration,
    /// Instances per function at most, when its reserved concurrency does not say less.
    pub max_instances: u32,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            max_message_bytes: MAX_MESSAGE_BYTES,
            caps: None,
            keep_warm: DEFAULT_KEEP_WARM,
            max_instances: DEFAULT_MAX_INSTANCES,
        }
    }
}

impl WebOptions {
    /// These options with the caps `limits` says.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.caps = match limits {
            Limits::Off => None,
            Limits::Cloud => Some(ConnectionCaps::cloud()),
        };
        self
    }

    /// The defaults, changed by `CHATSTACK_WEBFN_LIMITS=cloud` (the per-connection caps on)
    /// and `CHATSTACK_WEBFN_KEEP_WARM=SECONDS`.
    pub fn from_env() -> Self {
        let mut o = WebOptions::default();
        if std::env::var("CHATSTACK_WEBFN_LIMITS").is_ok_and(|v| v.trim() == "cloud") {
            o.caps = Some(ConnectionCaps::cloud());
        }
        if let Some(secs) = std::env::var("CHATSTACK_WEBFN_KEEP_WARM")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            o.keep_warm = Duration::from_secs_f64(secs);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_flag_turns_the_cloud_caps_on_and_off() {
        let on = WebOptions::default().with_limits(Limits::Cloud);
        assert_eq!(on.caps, Some(ConnectionCaps::cloud()));
        assert_eq!(
            on.caps.map(|c| (c.messages_per_sec, c.bytes_per_sec)),
            Some((10, 128 * 1024))
        );
        assert_eq!(on.clone().with_limits(Limits::Off).caps, None);
        assert_eq!(WebOptions::default().caps, None);
        assert_eq!(on.max_message_bytes, 256 * 1024);
    }
}
