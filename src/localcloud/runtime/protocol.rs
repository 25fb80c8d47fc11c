//! The worker protocol between the local cloud and a warm Python worker
//! (`functions/_runtime/bootstrap.py`, whose header comment mirrors this one).
//!
//! **Version 3.** The worker connects to a Unix socket the host created for it alone (path in
//! `CHATSTACK_WORKER_SOCKET`, or in the fork request, see [`super::zygote`]). Every message is a
//! *frame*: a 4-byte big-endian length, then that many bytes of UTF-8 JSON holding one object.
//!
//! 1. the worker opens **three connections**, each starting with a hello frame:
//!    `{"type":"hello","version":3,"stream":"control"|"stdout"|"stderr","pid":N,"nonce":"…",
//!    "python":"3.11.7"}` (the nonce proves which process connected). `control` carries the
//!    frames below; after their hello, `stdout` and `stderr` carry the raw bytes written to file
//!    descriptors 1 and 2 (dup2'ed onto them, so child processes' output arrives too): the
//!    function's logs, read line by line. The protocol never travels on them;
//! 2. worker → host, once, after *initialisation* (pointing the COS SDK at the local cloud,
//!    importing the handler's module): `{"type":"ready","ok":true,"init_ms":F}`, or, when the
//!    module cannot be imported or has no such handler, `{"type":"ready","ok":false,
//!    "error":{"kind":"ImportError","message":…,"traceback":…},"init_ms":F}` — the worker then
//!    stays up and answers every invocation with that error, as SCF does. The host waits for
//!    this frame for the function's `InitTimeout` (SCF's separate bound on a cold start), not
//!    its `Timeout`: the invocation clock starts only when the host sends the invocation;
//! 3. host → worker: `{"type":"invoke","id":"<request id>","event":…,"context":{…}}`, one at a
//!    time: a worker runs one invocation at a time, so its output belongs to that invocation;
//! 4. worker → host: `{"type":"result","id":…,"ok":true,"value":…,"duration_ms":F,"mem":N}` or
//!    `{"type":"result","id":…,"ok":false,"error":{"kind":"UserException"|"ImportError",
//!    "message":…,"traceback":…},"duration_ms":F,"mem":N}`, both with `"cpu_ms":F` (the
//!    process's CPU time during the handler, used to size pools). Just before it, the worker writes
//!    the end marker `"\x1e<id>\x1e\n"` on both stdout and stderr, so the host knows when it has
//!    read all of the invocation's output.
//!
//! Output printed during initialisation is kept and goes to the log of the worker's first
//! invocation. The host ends a worker by closing the socket (it exits at EOF) or by killing its
//! process group (timeouts, including an initialisation past `InitTimeout`); a worker that goes
//! away mid-invocation is a crash.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version; `bootstrap.py`'s `PROTOCOL_VERSION` must match.
pub const PROTOCOL_VERSION: u32 = 3;

/// Largest frame accepted either way (SCF's synchronous payload limit is 6 MB; leave headroom).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// The byte that brackets the end marker on stdout/stderr.
pub const MARKER_BYTE: char = '\u{1e}';

/// The first frame a worker sends.
#[derive(Debug, Clone, Deserialize)]
pub struct Hello {
    /// Always `"hello"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The worker's protocol version.
    pub version: u32,
    /// Its process id.
    pub pid: u32,
    /// The nonce it was started with.
    pub nonce: String,
    /// Which connection this is: `control`, `stdout`, `stderr` (a worker's) or `zygote`.
    #[serde(default)]
    pub stream: String,
    /// Its Python version.
    #[serde(default)]
    pub python: String,
    /// The fork server's: the top-level packages it imported once for every worker.
    #[serde(default)]
    pub preloaded: Vec<String>,
    /// The fork server's: how long those imports took.
    #[serde(default)]
    pub preload_ms: f64,
}

/// The second frame a worker sends, once its code is loaded.
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    /// Always `"ready"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the handler was loaded.
    pub ok: bool,
    /// Why not (an `ImportError`), when not `ok`.
    #[serde(default)]
    pub error: Option<WorkerError>,
    /// Initialisation time measured in the worker.
    #[serde(default)]
    pub init_ms: f64,
}

/// One invocation, host → worker.
#[derive(Debug, Clone, Serialize)]
pub struct Invoke<'a> {
    /// Always `"invoke"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request id.
    pub id: &'a str,
    /// SCF's `event`.
    pub event: &'a Value,
    /// SCF's `context`.
    pub context: &'a Value,
}

/// A failure reported by the worker.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct WorkerError {
    /// `UserException` or `ImportError`.
    pub kind: String,
    /// One-line message.
    #[serde(default)]
    pub message: String,
    /// Python traceback (may be empty).
    #[serde(default)]
    pub traceback: String,
}

/// The outcome of one invocation, worker → host.
#[derive(Debug, Clone, Deserialize)]
pub struct Reply {
    /// Always `"result"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The request id it answers.
    pub id: String,
    /// Whether the handler returned.
    pub ok: bool,
    /// The return value when `ok`.
    #[serde(default)]
    pub value: Value,
    /// The failure when not `ok`.
    #[serde(default)]
    pub error: Option<WorkerError>,
    /// Handler time measured in the worker.
    #[serde(default)]
    pub duration_ms: f64,
    /// The worker process's CPU time during the handler.
    #[serde(default)]
    pub cpu_ms: f64,
    /// Resident memory after the invocation, bytes.
    #[serde(default)]
    pub mem: u64,
}

/// The end marker the worker writes on stdout and stderr for request `id`.
pub fn end_marker(id: &str) -> String {
    format!("{MARKER_BYTE}{id}{MARKER_BYTE}")
}

/// Splits a line read from stdout/stderr (without its `\n`) into the text before an end marker
/// and the marker's request id; `None` when the line carries no marker.
pub fn split_marker(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_suffix(MARKER_BYTE)?;
    let start = body.rfind(MARKER_BYTE)?;
    Some((&body[..start], &body[start + MARKER_BYTE.len_utf8()..]))
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &impl Serialize,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {} bytes exceeds {MAX_FRAME}",
            bytes.len()
        )));
    }
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(4 + bytes.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&bytes);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame; `Ok(None)` on a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin, T: serde::de::DeserializeOwned>(
    r: &mut R,
) -> std::io::Result<Option<T>> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes exceeds {MAX_FRAME}"
        )));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Removes a socket file when the attempt that made it ends, whatever happened (a worker's or
/// the fork server's listening socket).
pub(crate) struct RemoveOnDrop(pub(crate) std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn frames_round_trip_and_eof_is_clean() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let event = json!({"websocket": {"action": "connecting", "data": "中文"}});
        let ctx = json!({"request_id": "r1"});
        let msg = Invoke {
            kind: "invoke",
            id: "r1",
            event: &event,
            context: &ctx,
        };
        write_frame(&mut a, &msg).await.unwrap();
        drop(a);
        let got: Value = read_frame(&mut b).await.unwrap().unwrap();
        assert_eq!(got["event"], event);
        assert_eq!(got["type"], "invoke");
        assert!(read_frame::<_, Value>(&mut b).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(u32::MAX).to_be_bytes()).await.unwrap();
        assert!(read_frame::<_, Value>(&mut b).await.is_err());
    }

    #[test]
    fn replies_decode() {
        let r: Reply = serde_json::from_value(json!({
            "type": "result", "id": "x", "ok": false,
            "error": {"kind": "UserException", "message": "ValueError: no", "traceback": "T"},
            "duration_ms": 1.5, "mem": 1024
        }))
        .unwrap();
        assert!(!r.ok);
        assert_eq!(r.error.unwrap().kind, "UserException");
    }

    #[test]
    fn ready_frames_decode() {
        let r: Ready =
            serde_json::from_value(json!({"type": "ready", "ok": true, "init_ms": 2.5})).unwrap();
        assert!(r.ok && r.error.is_none());
        let r: Ready = serde_json::from_value(json!({
            "type": "ready", "ok": false, "init_ms": 1,
            "error": {"kind": "ImportError", "message": "Failed to import module 'index': x",
                      "traceback": "T"}
        }))
        .unwrap();
        assert_eq!(r.error.unwrap().kind, "ImportError");
    }

    #[test]
    fn markers_split_from_partial_lines() {
        let m = end_marker("abc");
        assert_eq!(split_marker(&m), Some(("", "abc")));
        assert_eq!(
            split_marker(&format!("no newline{m}")),
            Some(("no newline", "abc"))
        );
        assert_eq!(split_marker("plain line"), None);
    }
}
