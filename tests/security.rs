//! Issue 11: the local cloud answers only the hosts it serves, refuses to expose itself with
//! the public default keys, and stays up under slow or abusive clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Cloud, chatstack, default_options};
use chatstack::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY};

/// Sends `request` as is and returns the status code and the body of the answer.
pub fn raw_http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn api3_request(host: &str, extra: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-TC-Action: ListFunctions\r\n{extra}Content-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
}

#[test]
fn a_foreign_host_name_is_refused_with_403_before_anything_else() {
    let cloud = Cloud::start();
    let port = cloud.port();
    // DNS rebinding: the attacker's name, resolved to 127.0.0.1.
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("localhost.attacker.example:{port}"),
        String::new(),
    ] {
        let (status, body) = raw_http(cloud.addr, &api3_request(&host, ""));
        assert_eq!(status, 403, "Host {host:?}: {body}");
        assert!(body.contains("DNS rebinding"), "{body}");
        assert!(body.contains("--allow-host"), "{body}");
    }
    // The names it serves get the control plane's answer (an auth error here, not 403).
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "scf.tencentcloudapi.com".to_owned(),
        "scf.internal.tencentcloudapi.com".to_owned(),
    ] {
        let (status, body) = raw_http(cloud.addr, &api3_request(&host, ""));
        assert_eq!(status, 200, "Host {host:?}: {body}");
        assert!(body.contains("AuthFailure"), "{body}");
    }
    // COS bucket hosts too.
    let (status, body) = raw_http(
        cloud.addr,
        "GET / HTTP/1.1\r\nHost: chat-1250000000.cos.ap-guangzhou.myqcloud.com\r\n\
         Connection: close\r\n\r\n",
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("<Error>"),
        "a COS error, not the host refusal: {body}"
    );
}

#[test]
fn names_added_with_allow_hosts_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    opts.allow_hosts = vec!["chat.example.test".to_owned()];
    let cloud = Cloud::start_with(opts);
    let (status, body) = raw_http(cloud.addr, &api3_request("chat.example.test:9000", ""));
    assert_eq!(status, 200, "{body}");
    let (status, _) = raw_http(cloud.addr, &api3_request("other.example.test", ""));
    assert_eq!(status, 403);
}

#[test]
fn a_page_from_another_origin_cannot_call_the_control_plane_but_can_open_websockets() {
    let cloud = Cloud::start();
    let host = format!("127.0.0.1:{}", cloud.port());
    let (status, body) = raw_http(
        cloud.addr,
        &api3_request(&host, "Origin: https://attacker.example\r\n"),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("origin"), "{body}");
    let (status, body) = raw_http(
        cloud.addr,
        &api3_request(&host, "Origin: http://localhost:8080\r\n"),
    );
    assert_eq!(status, 200, "{body}");
    // A WebSocket handshake from a page elsewhere reaches the gateway (404: no such API here).
    let (status, body) = raw_http(
        cloud.addr,
        &format!(
            "GET /service-abcdefgh/release/ HTTP/1.1\r\nHost: {host}\r\n\
             Origin: https://chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ),
    );
    assert_eq!(status, 404, "{body}");
}

/// `chatstack local --listen LISTEN …` with stderr going to `stderr`.
fn local_on(
    listen: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: &tempfile::NamedTempFile,
) -> std::process::Child {
    let dir = tempfile::tempdir().unwrap().keep();
    let bin = std::env::var_os("CARGO_BIN_EXE_chatstack")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_chatstack").into());
    std::process::Command::new(bin)
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .args(["local", "--listen", listen, "--data-dir"])
        .arg(dir)
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn off_loopback_local_refuses_without_allow_remote_and_with_the_default_pair() {
    chatstack()
        .args(["local", "--listen", "0.0.0.0:0"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("--allow-remote"))
        .stderr(predicates::str::contains("run code"));
    chatstack()
        .args(["local", "--listen", "0.0.0.0:0", "--allow-remote"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("default key pair"));
}

#[test]
fn off_loopback_local_with_its_own_keys_warns_loudly_and_names_every_address() {
    use std::io::BufRead;
    let err = tempfile::NamedTempFile::new().unwrap();
    let mut child = local_on(
        "0.0.0.0:0",
        &["--allow-remote"],
        &[
            (
                "TENCENTCLOUD_SECRET_ID",
                "AKIDremoteTest00000000000000000000",
            ),
            (
                "TENCENTCLOUD_SECRET_KEY",
                "remoteSecretKeyForTheTest0000000",
            ),
        ],
        &err,
    );
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line}");
    // The summary's last line ends what it prints at start.
    let mut stderr = String::new();
    for _ in 0..100 {
        stderr = std::fs::read_to_string(err.path()).unwrap();
        if stderr.contains("Ctrl-C stops it") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(stderr.contains("WARNING"), "{stderr}");
    assert!(stderr.contains("reachable from the network"), "{stderr}");
    assert!(stderr.contains("runs code as this user"), "{stderr}");
    assert!(!stderr.contains("remoteSecretKeyForTheTest"), "{stderr}");
    // Every interface address is named, not only 127.0.0.1.
    for ip in chatstack::localcloud::hosts::interface_addrs()
        .iter()
        .filter(|ip| ip.is_ipv4())
    {
        assert!(stderr.contains(&ip.to_string()), "{ip} missing:\n{stderr}");
    }
}

fn cloud_with_serve(
    f: impl FnOnce(&mut chatstack::localcloud::serve::ServeLimits),
) -> (tempfile::TempDir, Cloud) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = default_options(dir.path());
    f(&mut opts.serve);
    let cloud = Cloud::start_with(opts);
    (dir, cloud)
}

/// Whether the server closed `s` (EOF or reset) within `within`.
fn closed_by_server(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn slow_clients_are_disconnected_after_the_header_read_timeout_and_others_are_served() {
    let (_dir, cloud) = cloud_with_serve(|s| s.header_read_timeout = Duration::from_secs(1));
    let host = format!("127.0.0.1:{}", cloud.port());
    // Slowloris: heads that never end, and sockets that never send a byte.
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|i| {
            let mut s = TcpStream::connect(cloud.addr).unwrap();
            if i % 2 == 0 {
                s.write_all(format!("POST / HTTP/1.1\r\nHost: {host}\r\nX-Slow:").as_bytes())
                    .unwrap();
            }
            s
        })
        .collect();
    let (status, _) = raw_http(cloud.addr, &api3_request(&host, ""));
    assert_eq!(status, 200, "a fresh client is served meanwhile");
    for s in &mut slow {
        assert!(closed_by_server(s, Duration::from_secs(5)), "still open");
    }
}

#[test]
fn a_request_body_that_stops_arriving_times_out() {
    let (_dir, cloud) = cloud_with_serve(|s| s.body_read_timeout = Duration::from_secs(1));
    let host = format!("127.0.0.1:{}", cloud.port());
    let mut s = TcpStream::connect(cloud.addr).unwrap();
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"a\":"
        )
        .as_bytes(),
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(n > 0, "an answer, not silence");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.contains("could not be read"), "{text}");
}

#[test]
fn connections_over_capacity_get_the_documented_503_and_the_cloud_recovers() {
    let (_dir, cloud) = cloud_with_serve(|s| s.max_connections = Some(8));
    let host = format!("127.0.0.1:{}", cloud.port());
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(cloud.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = raw_http(cloud.addr, &api3_request(&host, ""));
    assert_eq!(status, 503, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["errNo"], 6, "{reply}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let (status, body) = raw_http(cloud.addr, &api3_request(&host, ""));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn cos_refuses_an_unsigned_upload_before_reading_its_body() {
    let cloud = Cloud::start();
    let mut s = TcpStream::connect(cloud.addr).unwrap();
    // 900 MB announced, none sent: the answer must not wait for (or buffer) the body.
    s.write_all(
        b"PUT /big HTTP/1.1\r\nHost: chat-1250000000.cos.ap-guangzhou.myqcloud.com\r\n\
          Content-Length: 900000000\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).expect("an answer within 5 s");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(text.contains("<Error>"), "{text}");
}

/// Started with a soft open-file limit of 1024 (the usual default, which ~1,000 connections
/// exhaust), `local` raises it to the hard limit and says how many connections it holds.
#[cfg(target_os = "linux")]
#[test]
fn local_raises_its_open_file_limit_and_reports_its_capacity() {
    use std::io::BufRead;
    let hard = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: String = hard
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let err = tempfile::NamedTempFile::new().unwrap();
    let bin = std::env::var_os("CARGO_BIN_EXE_chatstack")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_chatstack").into());
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 1024 && exec \"$0\" local --listen 127.0.0.1:0 --data-dir \"$1\"")
        .arg(bin)
        .arg(dir.path())
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err.reopen().unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut stderr = String::new();
    for _ in 0..100 {
        stderr = std::fs::read_to_string(err.path()).unwrap();
        if stderr.contains("Ctrl-C stops it") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft = line.split_whitespace().nth(3).unwrap();
    assert_eq!(soft, hard, "soft limit raised to the hard one: {line}");
    assert!(
        stderr.contains(&format!("(open-file limit {hard})")),
        "capacity not reported:\n{stderr}"
    );
}

/// Every command, with `-vv` and with forced errors, against a stack whose `Conf` carries the
/// secret key (as the article's does): the key and a session token never reach stdout, stderr
/// or `.chatstack/`; state directories are `0700` and state files `0600`, and so is the local
/// cloud's data directory.
#[test]
fn secrets_never_reach_output_or_state_and_state_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let cloud = crate::support::cloud();
    let (dir, stack) = crate::support::chat_project(None);
    let url = cloud.url();
    let token = "TOKENchatstackTestSessionToken0123456789";
    let wrong_key = "WRONGchatstackSecretKey0000000000";
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = crate::support::chatstack()
            .arg("-c")
            .arg(&stack)
            .args(["--endpoint", &url])
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let mut seen = Vec::new();
    for args in [
        &["-vv", "plan"][..],
        &["-vv", "--json", "deploy", "--yes"],
        &["-vv", "info"],
        &["-vv", "--json", "info"],
        &["-vv", "logs", "ChatReg"],
        &["-vv", "plan", "--detailed-exitcode"],
    ] {
        let (code, text) = run(args, &[]);
        assert!(matches!(code, Some(0) | Some(2)), "{args:?}: {text}");
        seen.push((args.join(" "), text));
    }
    // Forced errors: a wrong key, and temporary credentials the cloud does not know.
    let (code, text) = run(
        &["-vv", "info"],
        &[
            ("TENCENTCLOUD_SECRET_ID", DEFAULT_SECRET_ID),
            ("TENCENTCLOUD_SECRET_KEY", wrong_key),
        ],
    );
    assert_eq!(code, Some(3), "{text}");
    seen.push(("wrong key".into(), text));
    let (code, text) = run(
        &["-vv", "info"],
        &[
            (
                "TENCENTCLOUD_SECRET_ID",
                "AKIDtmpchatstackNoSuchTemporaryKey",
            ),
            ("TENCENTCLOUD_SECRET_KEY", wrong_key),
            ("TENCENTCLOUD_SESSION_TOKEN", token),
        ],
    );
    assert_eq!(code, Some(3), "{text}");
    seen.push(("bad token".into(), text));
    let (code, text) = run(&["-vv", "remove", "--yes"], &[]);
    assert_eq!(code, Some(0), "{text}");
    seen.push(("remove".into(), text));

    for (what, text) in &seen {
        for secret in [DEFAULT_SECRET_KEY, wrong_key, token] {
            assert!(!text.contains(secret), "`{what}` printed a secret:\n{text}");
        }
    }

    // `.chatstack/` after a deploy (the journal is removed once nothing is left; deploy again).
    let (code, text) = run(&["--json", "deploy", "--yes"], &[]);
    assert_eq!(code, Some(0), "{text}");
    let state = dir.path().join(".chatstack");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o700, "{}", state.display());
    let mut files = 0;
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            !body.contains(DEFAULT_SECRET_KEY),
            "{} holds the key",
            path.display()
        );
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 2, "the journal and the lock");
    assert_eq!(mode(&cloud.data_dir), 0o700, "the local cloud's data dir");
    assert_eq!(mode(&cloud.data_dir.join("blobs")), 0o700);
    assert_eq!(mode(&cloud.data_dir.join("localcloud.redb")), 0o600);
}
