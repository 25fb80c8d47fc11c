//! Measurements behind RELIABILITY.md: the real `chatstack local` binary, the article's stack
//! and its Python functions, attacked the ways issue 11 describes. Heavy; run explicitly:
//! `cargo test --test integration reliability_ -- --ignored --nocapture`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chatstack::localcloud::gateway::open;
use chatstack::localcloud::store::Store;

use crate::support::{CHAT_APPID, LocalProcess, chat_project, chatstack};

fn conns() -> usize {
    std::env::var("CHATSTACK_RELIABILITY_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Deploys the article's stack to `local`; its WebSocket URL.
fn deploy(local: &LocalProcess, stack: &Path) -> String {
    let out = chatstack()
        .arg("-c")
        .arg(stack)
        .args([
            "--endpoint",
            &format!("http://{}", local.addr),
            "--json",
            "deploy",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["websocketUrl"].as_str().unwrap().to_owned()
}

/// Opens `n` WebSocket connections (50 handshakes at a time).
async fn connect_many(url: &str, n: usize) -> Vec<crate::support::WsClient> {
    let mut clients = Vec::with_capacity(n);
    while clients.len() < n {
        let batch = (n - clients.len()).min(50);
        let handshakes: Vec<_> = (0..batch)
            .map(|_| {
                let url = url.to_owned();
                tokio::spawn(async move { tokio_tungstenite::connect_async(url).await })
            })
            .collect();
        for h in handshakes {
            let (c, _) = h.await.unwrap().expect("handshake accepted");
            clients.push(c);
        }
    }
    clients
}

fn open_records(dir: &Path) -> usize {
    open::all(&Store::open(dir).unwrap()).unwrap().len()
}

/// SIGTERM, then the exit status within `within`.
fn terminate(local: &mut LocalProcess, within: Duration) -> Duration {
    let started = Instant::now();
    let pid = local.pid().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    while !local.exited() {
        assert!(started.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: stop with many connections (CHATSTACK_RELIABILITY_CONNS, default 1000)"]
async fn reliability_stop_with_many_connections_runs_every_cleanup() {
    let n = conns();
    let dir = tempfile::tempdir().unwrap();
    let appid = CHAT_APPID.to_string();
    let mut local = LocalProcess::start(dir.path(), &["--appid", &appid]);
    let (_p, stack) = chat_project(None);
    let url = deploy(&local, &stack);
    let started = Instant::now();
    let clients = connect_many(&url, n).await;
    eprintln!("{n} connections open in {:?}", started.elapsed());
    let took = tokio::task::spawn_blocking(move || {
        let took = terminate(&mut local, Duration::from_secs(120));
        (took, local.stderr())
    })
    .await
    .unwrap();
    drop(clients);
    let (took, stderr) = took;
    let report = stderr
        .lines()
        .find(|l| l.starts_with("closed "))
        .unwrap_or("(no report)")
        .to_owned();
    let left = open_records(dir.path());
    eprintln!("stopped in {took:?}: {report}; records left {left}");
    assert!(
        report.contains(&format!(
            "closed {n} WebSocket connection(s); ran {n} cleanup"
        )),
        "{report}"
    );
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: kill -9 with open connections, then restart"]
async fn reliability_kill_9_with_connections_then_restart_runs_their_cleanups() {
    let n = conns().min(500);
    let dir = tempfile::tempdir().unwrap();
    let appid = CHAT_APPID.to_string();
    let local = LocalProcess::start(dir.path(), &["--appid", &appid]);
    let (_p, stack) = chat_project(None);
    let url = deploy(&local, &stack);
    let clients = connect_many(&url, n).await;
    local.kill9();
    drop(clients);
    let left = open_records(dir.path());
    eprintln!("kill -9 with {n} connections: {left} recorded as open");
    assert_eq!(left, n);
    let started = Instant::now();
    let second = LocalProcess::start(dir.path(), &["--appid", &appid]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stderr = second.stderr();
        if stderr.contains(&format!("ran the cleanup function of {n} connection(s)")) {
            break;
        }
        assert!(Instant::now() < deadline, "cleanups not done:\n{stderr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("restart ran {n} lost cleanups in {:?}", started.elapsed());
    second.kill9();
    assert_eq!(open_records(dir.path()), 0);
}

/// The flood: 1,010 sockets that never finish a request head, against a local cloud
/// whose open-file limit is 1024 (soft and hard). Fresh clients get the documented 503 while
/// the slow sockets hold every slot, never a hang, and are served again once the header read
/// timeout (30 s) drops them.
#[test]
#[ignore = "measurement: 1,010 slow sockets against a 1024-descriptor local cloud (~35 s)"]
fn reliability_slow_sockets_flood() {
    use std::io::{BufRead, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let bin = std::env::var_os("CARGO_BIN_EXE_chatstack")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_chatstack").into());
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" local --listen 127.0.0.1:0 --data-dir \"$1\"")
        .arg(bin)
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    let probe = || -> (u16, Duration) {
        let started = Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, started.elapsed())
    };
    let flood_started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..1010 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let _ = s.write_all(format!("POST / HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes());
        slow.push(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (during, latency) = probe();
    eprintln!("during the flood: HTTP {during} in {latency:?}");
    let mut after = (0, Duration::ZERO);
    while flood_started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        after = probe();
        if after.0 == 200 {
            break;
        }
    }
    eprintln!(
        "served again (HTTP {}) {:?} after the flood began",
        after.0,
        flood_started.elapsed()
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(slow);
    assert!(during == 503 || during == 200, "{during}");
    assert_eq!(after.0, 200);
}
