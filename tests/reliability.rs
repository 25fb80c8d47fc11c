//! Measurements behind RELIABILITY.md: the real `chatstack local` binary, the article's stack
//! and its Python functions, attacked the ways issue 11 describes. The heavy ones are ignored;
//! run explicitly: `cargo test --test integration reliability_ -- --ignored --nocapture`. The
//! `kill -9` under load runs a slice by default (its doc comment says how to run all of it).

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

/// [`open_records`] once no process holds the store any more; panics naming the processes that
/// still hold files of `dir` after 20 s.
fn open_records_after(dir: &Path) -> usize {
    let started = Instant::now();
    loop {
        match Store::open(dir) {
            Ok(store) => {
                if started.elapsed() > Duration::from_millis(100) {
                    eprintln!("the store was held {:?} after the kill", started.elapsed());
                }
                return open::all(&store).unwrap().len();
            }
            Err(e) if started.elapsed() > Duration::from_secs(20) => {
                let mut holders = Vec::new();
                for p in std::fs::read_dir("/proc").unwrap().flatten() {
                    let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                        continue;
                    };
                    for fd in fds.flatten() {
                        if std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(dir)) {
                            let cmd = std::fs::read_to_string(p.path().join("cmdline"))
                                .unwrap_or_default()
                                .replace('\0', " ");
                            holders.push(format!("{}: {cmd}", p.file_name().to_string_lossy()));
                            break;
                        }
                    }
                }
                panic!("{e}; holders: {holders:#?}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
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

/// Our provider for the local cloud at `addr`, without retries (a dead cloud must fail fast,
/// and a write that did not answer must not be resent behind our back).
fn client_without_retries(
    addr: std::net::SocketAddr,
) -> chatstack::providers::tencent::TencentCloud {
    use chatstack::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY};
    use chatstack::providers::tencent::{Credentials, RateLimiter, RetryPolicy, TencentCloud};
    TencentCloud::with_options(
        Credentials::new(
            DEFAULT_SECRET_ID,
            chatstack::secret::Secret::new(DEFAULT_SECRET_KEY),
            None,
        ),
        "ap-guangzhou",
        Some(format!("http://{addr}").parse().unwrap()),
        RetryPolicy::none(),
        RateLimiter::default(),
    )
    .unwrap()
}

/// A one-file function zip.
fn tiny_zip() -> String {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"def main_handler(event, context):\n    return 'ok'\n")
        .unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
}

/// What the load acknowledged before the kill.
#[derive(Debug, Default)]
struct Acked {
    functions: Vec<String>,
    objects: Vec<(String, Vec<u8>)>,
    chat_messages: usize,
}

const LOAD_BUCKET: &str = "load-1256773370";

/// One round: deploy the chat stack to the real `chatstack local`, open `conns` WebSocket
/// connections, then for `load` run four control-plane writers (CreateFunction), four COS
/// writers (PUT, 1–64 KiB each) and two chatting clients at once, and `kill -9` the cloud in
/// the middle of it. Restarted on the same data dir, it must hold every function whose
/// CreateFunction answered (listed through the official SDK) and every object whose PUT got
/// 200, byte for byte, and it must run the cleanup of each of the `conns` connections open at
/// the kill: no connection record left, and ChatClean deleted every registry object ChatReg
/// wrote. Returns (functions created, objects put, chat messages sent, cleanup time after
/// restart).
async fn kill_9_under_load_once(conns: usize, load: Duration) -> (usize, usize, usize, Duration) {
    use futures_util::SinkExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let appid = CHAT_APPID.to_string();
    let local = LocalProcess::start(dir.path(), &["--appid", &appid]);
    let (_p, stack) = chat_project(None);
    let url = deploy(&local, &stack);
    let tc = client_without_retries(local.addr);
    tc.cos()
        .put_bucket(LOAD_BUCKET, "ap-guangzhou")
        .await
        .unwrap();
    let mut clients = connect_many(&url, conns).await;
    let talkers: Vec<_> = clients.drain(..2.min(conns)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Acked::default()));
    let zip = tiny_zip();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (tc, stop, acked, zip) = (tc.clone(), stop.clone(), acked.clone(), zip.clone());
        tasks.push(tokio::spawn(async move {
            let scf = tc.scf();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("load-{w}-{i}");
                let req = chatstack::providers::tencent::scf::CreateFunctionRequest {
                    function_name: name.clone(),
                    code: chatstack::providers::tencent::scf::Code {
                        zip_file: Some(zip.clone()),
                        ..Default::default()
                    },
                    handler: Some("index.main_handler".to_owned()),
                    runtime: Some("Python3.9".to_owned()),
                    ..Default::default()
                };
                match scf.create_function(&req).await {
                    Ok(()) => acked.lock().unwrap().functions.push(name),
                    Err(_) => break,
                }
            }
        }));
    }
    for w in 0..4 {
        let (tc, stop, acked) = (tc.clone(), stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let cos = tc.cos();
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let key = format!("w{w}/{i}");
                let len = 1024 + (w * 7919 + i * 104_729) % (63 * 1024);
                let body: Vec<u8> = (0..len).map(|j| (j * 31 + i + w) as u8).collect();
                let put = cos
                    .put_object(
                        LOAD_BUCKET,
                        "ap-guangzhou",
                        &key,
                        bytes::Bytes::from(body.clone()),
                        "application/octet-stream",
                    )
                    .await;
                match put {
                    Ok(_) => acked.lock().unwrap().objects.push((key, body)),
                    Err(_) => break,
                }
            }
        }));
    }
    for (t, mut client) in talkers.into_iter().enumerate() {
        let (stop, acked) = (stop.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let msg = format!("talker {t} message {i}");
                if client.send(Message::text(msg)).await.is_err() {
                    break;
                }
                acked.lock().unwrap().chat_messages += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(load).await;
    tokio::task::spawn_blocking(move || local.kill9())
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    drop(clients);
    let left = open_records_after(dir.path());
    assert_eq!(left, conns, "connections recorded as open after the kill");

    let started = Instant::now();
    let second = LocalProcess::start(dir.path(), &["--appid", &appid]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stderr = second.stderr();
        if stderr.contains(&format!(
            "ran the cleanup function of {conns} connection(s)"
        )) {
            break;
        }
        assert!(Instant::now() < deadline, "cleanups not done:\n{stderr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cleaned_in = started.elapsed();

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        !acked.functions.is_empty() && !acked.objects.is_empty(),
        "the load acknowledged nothing: {acked:?}"
    );
    let addr = second.addr;
    let census = tokio::task::spawn_blocking(move || {
        crate::census::take(addr, &[crate::census::BUCKET, LOAD_BUCKET])
    })
    .await
    .unwrap();
    for name in &acked.functions {
        assert!(
            census.function(name).is_some(),
            "CreateFunction {name} answered before the kill, gone after the restart\n{}",
            census.summary()
        );
    }
    let tc = client_without_retries(second.addr);
    for (key, body) in &acked.objects {
        let got = tc
            .cos()
            .get_object(LOAD_BUCKET, "ap-guangzhou", key)
            .await
            .unwrap();
        assert_eq!(
            got.as_deref(),
            Some(body.as_slice()),
            "PUT {key} got 200 before the kill"
        );
    }
    // ChatClean deleted each connection's registry object.
    assert_eq!(
        census.0["buckets"][crate::census::BUCKET]["objects"],
        0,
        "registry objects left: {}",
        census.summary()
    );
    second.kill9();
    assert_eq!(open_records_after(dir.path()), 0, "connection records left");
    (
        acked.functions.len(),
        acked.objects.len(),
        acked.chat_messages,
        cleaned_in,
    )
}

/// The local cloud itself killed under load (issue 11): see [`kill_9_under_load_once`]. The
/// default run is a slice: one round, 20 connections, 1.5 s of load. The full campaign:
/// `CHATSTACK_KILL_LOAD_ROUNDS=10 CHATSTACK_KILL_LOAD_CONNS=200 cargo test --test integration
/// the_local_cloud_killed_under_load -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cloud_killed_under_load_loses_nothing_acknowledged_and_runs_every_cleanup() {
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let rounds = var("CHATSTACK_KILL_LOAD_ROUNDS", 1);
    let conns = var("CHATSTACK_KILL_LOAD_CONNS", 20) as usize;
    for round in 1..=rounds {
        // Kill at a different moment of the load each round.
        let load = Duration::from_millis(1000 + 250 * ((round - 1) % 5));
        let (functions, objects, messages, cleaned) = kill_9_under_load_once(conns, load).await;
        crate::support::note(&format!(
            "kill -9 under load, round {round} (killed {load:?} into the load): {functions} \
             CreateFunction and {objects} COS PUT acknowledged, all there after the restart; \
             {messages} chat messages sent; {conns} connections' cleanups ran {cleaned:?} after \
             the restart began"
        ));
    }
}
