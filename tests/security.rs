//! Issue 11: the local cloud answers only the hosts it serves, refuses to expose itself with
//! the public default keys, and stays up under slow or abusive clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Cloud, chatstack, default_options};

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
