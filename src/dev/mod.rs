//! The parts of `chatstack dev` that are not the deploy itself: the page server ([`page`]),
//! the file watcher ([`watch`]), the log stream ([`tail`]), the ports a project used last time
//! ([`Ports`]) and opening a browser.
//!
//! `dev` runs the local cloud in its own process, but the deployer half still reaches it only
//! over the wire (API 3.0, COS, WebSocket), exactly as `chatstack deploy --endpoint` would.

pub mod page;
pub mod tail;
pub mod watch;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The ports `dev` listened on last time in a project, kept in `.chatstack/dev.json` so that a
/// restart keeps the page's and the functions' URLs (a browser tab left open reconnects).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ports {
    /// The local cloud's.
    pub cloud: u16,
    /// The page's.
    pub page: u16,
}

impl Ports {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("dev.json")
    }

    /// What was recorded, or zeros (pick free ports).
    pub fn load(state_dir: &Path) -> Self {
        std::fs::read(Self::path(state_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Records the ports (best effort: losing them only costs stable URLs).
    pub fn save(&self, state_dir: &Path) {
        let write = crate::secret::create_private_dir(state_dir).and_then(|()| {
            std::io::Write::write_all(
                &mut crate::secret::private_file().open(Self::path(state_dir))?,
                &serde_json::to_vec(self).unwrap_or_default(),
            )
        });
        if let Err(e) = write {
            tracing::debug!("cannot record dev ports: {e}");
        }
    }
}

/// Binds `127.0.0.1:port`, or a free loopback port when that one is taken (or 0).
pub async fn bind_loopback(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    if port != 0
        && let Ok(l) = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await
    {
        return Ok(l);
    }
    tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// Opens `url` in the desktop's browser, where there is a desktop; says why not otherwise.
pub fn open_browser(url: &str) -> Result<(), String> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if !desktop {
            return Err("no desktop here (neither DISPLAY nor WAYLAND_DISPLAY is set)".into());
        }
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| format!("cannot run `{opener}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_round_trip_and_default_to_free() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Ports::load(dir.path()), Ports::default());
        let p = Ports {
            cloud: 4100,
            page: 4101,
        };
        p.save(&dir.path().join(".chatstack"));
        assert_eq!(Ports::load(&dir.path().join(".chatstack")), p);
        std::fs::write(dir.path().join("dev.json"), "garbage").unwrap();
        assert_eq!(Ports::load(dir.path()), Ports::default());
    }

    #[tokio::test]
    async fn a_taken_port_falls_back_to_a_free_one() {
        let taken = bind_loopback(0).await.unwrap();
        let port = taken.local_addr().unwrap().port();
        let other = bind_loopback(port).await.unwrap();
        assert_ne!(other.local_addr().unwrap().port(), port);
        assert!(other.local_addr().unwrap().ip().is_loopback());
    }
}
