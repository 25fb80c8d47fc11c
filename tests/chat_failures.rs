//! The WebSocket gateway's edge cases end to end, with real Python functions: small stacks in
//! the seed's format (a `Conf` global, a COS bucket, one WEBSOCKET endpoint, three SCF
//! functions whose `url` is `${restApi.internalDomain}`), written by the test, deployed with the
//! real `chatstack deploy` to an in-process local cloud and driven by real WebSocket clients:
//! binary frames, subprotocol negotiation, a refusing register function, one that times out,
//! a transport function that crashes, a push to a vanished connection, `chatstack logs`, and
//! stopping the local cloud with a client connected.
//!
//! The functions' behaviour is steered by flag files (a directory named in their environment)
//! and by the text a client sends: see [`TRANSPORT`].

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use chatstack::localcloud::account::{DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY};

use crate::support::{Cloud, WsClient, chatstack, default_options, next_frame, next_text};

const REGION: &str = "ap-guangzhou";
/// The bucket, with the local cloud's default APPID.
const BUCKET: &str = "edge-cos-1250000000";

/// Register: no COS and no third-party import of its own, so it starts quickly (a new worker's
/// first invocation includes loading the code). `slow` flag: sleep 5 s first; `reject` flag: refuse with errNo 101. Picks
/// `superchat` when the client offers it.
const REGISTER: &str = r#"# -*- coding: utf8 -*-
import os
import time

flags = os.environ.get('flags')


def flag(name):
    return os.path.exists(os.path.join(flags, name))


def main_handler(event, context):
    ws = event['websocket']
    connectionID = ws['secConnectionID']
    offered = [p.strip() for p in ws.get('secWebSocketProtocol', '').split(',') if p.strip()]
    print("register %s offered %s" % (connectionID, offered))
    if flag('slow'):
        time.sleep(5)
    if flag('reject'):
        return {'errNo': 101, 'errMsg': 'not today'}
    retmsg = {'errNo': 0, 'errMsg': 'ok',
              'websocket': {'action': 'connecting', 'secConnectionID': connectionID}}
    if 'superchat' in offered:
        retmsg['websocket']['secWebSocketProtocol'] = 'superchat'
    return retmsg
"#;

/// Transport, through the push-back URL: a binary frame is echoed as binary (base64 both
/// ways); `whoami` answers the sender's id; `push:ID` sends to ID and answers the sender with
/// the push-back reply; `crash` kills the worker; anything else is echoed as `echo:TEXT`.
const TRANSPORT: &str = r#"# -*- coding: utf8 -*-
import base64
import json
import os
import requests

sendbackHost = os.environ.get('url')


def send(connectionID, data, dataType='text'):
    retmsg = {'websocket': {'action': 'data send', 'secConnectionID': connectionID,
                            'dataType': dataType, 'data': data}}
    return requests.post(sendbackHost, json=retmsg).json()


def main_handler(event, context):
    ws = event['websocket']
    connectionID = ws['secConnectionID']
    data = ws['data']
    print("transport %s %s %d" % (connectionID, ws['dataType'], len(data)))
    if ws['dataType'] == 'binary':
        raw = base64.b64decode(data)
        send(connectionID, base64.b64encode(raw).decode('ascii'), 'binary')
        return 'echoed %d bytes' % len(raw)
    if data == 'crash':
        os._exit(1)
    if data == 'whoami':
        send(connectionID, connectionID)
    elif data.startswith('push:'):
        send(connectionID, json.dumps(send(data[len('push:'):], 'are you there?')))
    else:
        send(connectionID, 'echo:' + data)
    return 'ok'
"#;

/// Cleanup: records the id as `cleaned/{id}` in the bucket, with the official COS SDK.
const CLEANUP: &str = r#"# -*- coding: utf8 -*-
import os
from qcloud_cos_v5 import CosConfig
from qcloud_cos_v5 import CosS3Client

bucket = os.environ.get('bucket')
region = os.environ.get('region')
secret_id = os.environ.get('secret_id')
secret_key = os.environ.get('secret_key')
cosClient = CosS3Client(CosConfig(Region=region, SecretId=secret_id, SecretKey=secret_key))


def main_handler(event, context):
    connectionID = event['websocket']['secConnectionID']
    print("cleanup %s" % connectionID)
    cosClient.put_object(Bucket=bucket, Body=b'gone', Key='cleaned/' + connectionID,
                         EnableMD5=False)
    return 'cleaned'
"#;

/// The stack file, in the seed's shape.
fn stack_yaml(code: &Path, flags: &Path, register_timeout: u32) -> String {
    let function = |name: &str, handler: &str, timeout: u32| {
        format!(
            r#"
{name}:
  component: "@serverless/tencent-scf"
  inputs:
    name: {name}
    codeUri: {code}
    handler: {handler}
    runtime: Python3.6
    region: ${{Conf.region}}
    timeout: {timeout}
    environment:
      variables:
        region: ${{Conf.region}}
        bucket: ${{Conf.bucket}}
        secret_id: ${{Conf.secret_id}}
        secret_key: ${{Conf.secret_key}}
        url: ${{restApi.internalDomain}}
        flags: '{flags}'
"#,
            code = code.display(),
            flags = flags.display(),
        )
    };
    format!(
        r#"Conf:
  component: "serverless-global"
  inputs:
    region: {REGION}
    bucket: {BUCKET}
    secret_id: {DEFAULT_SECRET_ID}
    secret_key: {DEFAULT_SECRET_KEY}

myBucket:
  component: '@serverless/tencent-cos'
  inputs:
    bucket: ${{Conf.bucket}}
    region: ${{Conf.region}}

restApi:
  component: '@serverless/tencent-apigateway'
  inputs:
    region: ${{Conf.region}}
    protocols:
      - http
    serviceName: EdgeDemo
    environment: release
    endpoints:
      - path: /
        method: GET
        protocol: WEBSOCKET
        serviceTimeout: 30
        function:
          transportFunctionName: EdgeTrans
          registerFunctionName: EdgeReg
          cleanupFunctionName: EdgeClean
{}{}{}"#,
        function("EdgeReg", "reg.main_handler", register_timeout),
        function("EdgeTrans", "trans.main_handler", 10),
        function("EdgeClean", "clean.main_handler", 10),
    )
}

/// A deployed stack on its own local cloud.
struct Deployed {
    cloud: Cloud,
    stack: PathBuf,
    flags: PathBuf,
    ws_url: String,
    push_url: String,
    _dir: tempfile::TempDir,
}

/// Writes the stack and its code, deploys it with `chatstack deploy --yes --json` to a new
/// local cloud (its data dir in the same temporary directory, so it outlives a stop).
fn deploy(register_timeout: u32) -> Deployed {
    let dir = tempfile::tempdir().unwrap();
    let cloud = Cloud::start_with(default_options(&dir.path().join("data")));
    let code = dir.path().join("code");
    let flags = dir.path().join("flags");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::create_dir_all(&flags).unwrap();
    for (file, src) in [
        ("reg.py", REGISTER),
        ("trans.py", TRANSPORT),
        ("clean.py", CLEANUP),
    ] {
        std::fs::write(code.join(file), src).unwrap();
    }
    let stack = dir.path().join("serverless.yml");
    std::fs::write(&stack, stack_yaml(&code, &flags, register_timeout)).unwrap();
    let out = chatstack()
        .arg("-c")
        .arg(&stack)
        .args(["--endpoint", &cloud.url(), "--json", "deploy", "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("deploy --json prints JSON");
    let ws_url = doc["websocketUrl"]
        .as_str()
        .expect("websocketUrl")
        .to_owned();
    let push_url = doc["pushbackUrl"].as_str().expect("pushbackUrl").to_owned();
    Deployed {
        cloud,
        stack,
        flags,
        ws_url,
        push_url,
        _dir: dir,
    }
}

impl Deployed {
    fn set_flag(&self, name: &str, on: bool) {
        let p = self.flags.join(name);
        if on {
            std::fs::write(p, b"").unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }

    async fn connect(&self) -> WsClient {
        tokio_tungstenite::connect_async(self.ws_url.as_str())
            .await
            .expect("handshake accepted")
            .0
    }

    /// A handshake the gateway must refuse: its HTTP status and JSON body.
    async fn refused(&self) -> (u16, Value) {
        let err = tokio_tungstenite::connect_async(self.ws_url.as_str())
            .await
            .expect_err("handshake refused");
        let tungstenite::Error::Http(resp) = err else {
            panic!("expected an HTTP refusal, got {err:?}");
        };
        let body = resp.body().as_deref().expect("a body");
        let body = serde_json::from_slice(body).expect("a JSON body");
        (resp.status().as_u16(), body)
    }

    /// The ids cleanup recorded in the bucket.
    async fn cleaned(&self) -> Vec<String> {
        cleaned(&self.cloud).await
    }

    /// Waits until cleanup has recorded `id`.
    async fn wait_cleaned(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.cleaned().await.iter().any(|c| c == id) {
            assert!(Instant::now() < deadline, "cleanup never ran for {id}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `chatstack logs FUNCTION --json [ARGS…]`: one JSON object per invocation.
    fn logs(&self, function: &str, args: &[&str]) -> Vec<Value> {
        let out = chatstack()
            .arg("-c")
            .arg(&self.stack)
            .args(["--endpoint", &self.cloud.url(), "--json", "logs", function])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logs failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

/// The ids cleanup recorded in the bucket of `cloud`.
async fn cleaned(cloud: &Cloud) -> Vec<String> {
    let mut ids: Vec<String> = cloud
        .client()
        .cos()
        .list_all(BUCKET, REGION, "cleaned/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key["cleaned/".len()..].to_owned())
        .collect();
    ids.sort();
    ids
}

/// Asks transport for the client's own `secConnectionID`.
async fn whoami(client: &mut WsClient) -> String {
    client.send(Message::text("whoami")).await.unwrap();
    next_text(client).await
}

/// Round trip through transport: proves the connection (and a transport worker) works.
async fn assert_echo(client: &mut WsClient, text: &str) {
    client.send(Message::text(text)).await.unwrap();
    assert_eq!(next_text(client).await, format!("echo:{text}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_frames_reach_transport_and_come_back_byte_for_byte() {
    let d = deploy(10);
    let mut client = d.connect().await;
    // Every byte value, including sequences that are not UTF-8, over several KiB.
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 256) as u8).collect();
    client.send(Message::binary(payload.clone())).await.unwrap();
    match next_frame(&mut client).await {
        Message::Binary(b) => assert!(b[..] == payload[..], "the echo differs"),
        other => panic!("expected a binary frame, got {other:?}"),
    }
    // Text still arrives as text on the same connection.
    assert_echo(&mut client, "after binary").await;
    // Transport saw a binary event: its base64 data is 4/3 the payload's size.
    let id = whoami(&mut client).await;
    let logs = d.logs("EdgeTrans", &[]);
    let line = format!("transport {id} binary {}", payload.len().div_ceil(3) * 4);
    assert!(
        logs.iter()
            .any(|e| e["Log"].as_str().unwrap_or_default().contains(&line)),
        "no `{line}` in {logs:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_register_function_chooses_the_subprotocol() {
    let d = deploy(10);
    let mut req = d.ws_url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("chat, superchat"),
    );
    let (mut client, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("handshake accepted");
    assert_eq!(resp.status().as_u16(), 101);
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap()),
        Some("superchat")
    );
    assert_echo(&mut client, "negotiated").await;
    // Register saw the offer as the client made it.
    let id = whoami(&mut client).await;
    let logs = d.logs("EdgeReg", &[]);
    let line = format!("register {id} offered ['chat', 'superchat']");
    assert!(
        logs.iter()
            .any(|e| e["Log"].as_str().unwrap_or_default().contains(&line)),
        "no `{line}` in {logs:#?}"
    );

    // No offer, no protocol chosen: the handshake carries none.
    let (_plain, resp) = tokio_tungstenite::connect_async(d.ws_url.as_str())
        .await
        .expect("handshake accepted");
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_register_function_refuses_the_handshake_without_cleanup() {
    let d = deploy(10);
    d.set_flag("reject", true);
    let (status, body) = d.refused().await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, json!({"errNo": 101, "errMsg": "not today"}));

    // The same client is welcome once register changes its mind.
    d.set_flag("reject", false);
    let mut client = d.connect().await;
    let id = whoami(&mut client).await;
    client.close(None).await.unwrap();
    d.wait_cleaned(&id).await;

    // Cleanup ran for the accepted connection only, never for the refused one.
    assert_eq!(d.cleaned().await, [id.as_str()]);
    let cleanups = d.logs("EdgeClean", &[]);
    assert_eq!(cleanups.len(), 1, "{cleanups:#?}");
    let registers = d.logs("EdgeReg", &[]);
    assert_eq!(registers.len(), 2, "{registers:#?}");
    assert!(
        registers.iter().all(|e| e["RetCode"] == 0),
        "{registers:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_function_that_times_out_refuses_the_handshake() {
    // A 2 s limit rather than SCF's minimum of 1 s: a new worker's first invocation also loads
    // the code (and the COS SDK), which on a busy 2-core machine can take most of a second.
    let d = deploy(2);
    // A warm register first: the refusal below is the timeout, not a cold start.
    drop(d.connect().await);

    d.set_flag("slow", true);
    let started = Instant::now();
    let (status, body) = d.refused().await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["errNo"], 5, "{body}");
    let msg = body["errMsg"].as_str().unwrap();
    assert!(
        msg.contains("timed out") && !msg.contains("ServiceTimeout"),
        "the function's own 2 s limit, not the API's: {msg}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "refused after {took:?}: not when the 2 s timeout passed"
    );

    // The killed worker is replaced: the next handshake works.
    d.set_flag("slow", false);
    let mut client = d.connect().await;
    assert_echo(&mut client, "after the timeout").await;

    // The timed-out invocation is in the logs as SCF reports a timeout (433).
    let registers = d.logs("EdgeReg", &[]);
    let codes: Vec<i64> = registers
        .iter()
        .map(|e| e["RetCode"].as_i64().unwrap())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == 433).count(),
        1,
        "{registers:#?}"
    );
    assert_eq!(codes.len(), 3, "{registers:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_transport_drops_the_socket_runs_cleanup_and_is_replaced() {
    let d = deploy(10);
    let mut client = d.connect().await;
    let id = whoami(&mut client).await;
    client.send(Message::text("crash")).await.unwrap();

    // The socket is dropped without a close frame (the cloud "sends FIN").
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match client.next().await {
                None => return None,
                Some(Err(e)) => return Some(e.to_string()),
                Some(Ok(Message::Close(f))) => panic!("expected no close frame, got {f:?}"),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("the socket closes within 20 s");
    eprintln!("crashed connection ended with {end:?}");

    d.wait_cleaned(&id).await;

    // A new connection gets a new transport worker.
    let mut again = d.connect().await;
    assert_echo(&mut again, "still here").await;

    let transports = d.logs("EdgeTrans", &[]);
    assert!(
        transports.iter().any(|e| e["RetCode"] == 439),
        "the crash is logged as SCF's 439: {transports:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_vanished_connection_answers_connection_not_found() {
    let d = deploy(10);
    let mut gone = d.connect().await;
    let gone_id = whoami(&mut gone).await;
    gone.close(None).await.unwrap();
    d.wait_cleaned(&gone_id).await;

    // From a function: transport pushes to the vanished id and relays the reply.
    let mut client = d.connect().await;
    client
        .send(Message::text(format!("push:{gone_id}")))
        .await
        .unwrap();
    let reply: Value = serde_json::from_str(&next_text(&mut client).await).unwrap();
    assert_eq!(reply, json!({"errNo": 1, "errMsg": "connection not found"}));

    // From outside: the same answer, HTTP 200, for `data send` and for `closing`.
    let http = chatstack::providers::tencent::http::client().unwrap();
    for body in [
        json!({"websocket": {"action": "data send", "secConnectionID": gone_id,
                             "dataType": "text", "data": "hello?"}}),
        json!({"websocket": {"action": "closing", "secConnectionID": gone_id}}),
    ] {
        let resp = http.post(&d.push_url).json(&body).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let reply: Value = resp.json().await.unwrap();
        assert_eq!(reply, json!({"errNo": 1, "errMsg": "connection not found"}));
    }
    // The live connection is untouched.
    assert_echo(&mut client, "unaffected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_show_each_invocation_with_its_output() {
    let d = deploy(10);
    let mut client = d.connect().await;
    let id = whoami(&mut client).await;
    assert_echo(&mut client, "logged!").await;
    client.close(None).await.unwrap();
    d.wait_cleaned(&id).await;

    // By instance name (= FunctionName here), with and without --since.
    for args in [&[][..], &["--since", "10m"][..]] {
        let trans = d.logs("EdgeTrans", args);
        assert_eq!(trans.len(), 2, "{args:?}: {trans:#?}");
        for e in &trans {
            assert_eq!(e["FunctionName"], "EdgeTrans");
            assert_eq!(e["RetCode"], 0);
            assert!(!e["RequestId"].as_str().unwrap().is_empty());
        }
        assert!(
            trans[0]["Log"]
                .as_str()
                .unwrap()
                .contains(&format!("transport {id} text 6")),
            "oldest first, with the handler's print: {trans:#?}"
        );
        assert!(
            trans[1]["Log"]
                .as_str()
                .unwrap()
                .contains(&format!("transport {id} text 7"))
        );
        let clean = d.logs("EdgeClean", args);
        assert_eq!(clean.len(), 1, "{clean:#?}");
        assert!(
            clean[0]["Log"]
                .as_str()
                .unwrap()
                .contains(&format!("cleanup {id}"))
        );
        assert_eq!(clean[0]["RetMsg"], "\"cleaned\"", "{clean:#?}");
    }

    // A window that ends before the invocations: nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(d.logs("EdgeTrans", &["--since", "1s"]), Vec::<Value>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_local_cloud_runs_cleanups_that_reach_it() {
    let d = deploy(10);
    let mut client = d.connect().await;
    let id = whoami(&mut client).await;

    // Stop the local cloud with the client connected: the client is told 1001, and the
    // cleanup function, which writes to COS on this same local cloud, must still reach it.
    let Deployed { cloud, _dir, .. } = d;
    let data_dir = cloud.data_dir.clone();
    let started = Instant::now();
    let stopper = tokio::task::spawn_blocking(move || drop(cloud));
    let close = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match client.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("closed within 20 s")
    .expect("with a close code");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    drop(client);
    stopper.await.unwrap();
    let took = started.elapsed();

    let cloud = Cloud::start_with(default_options(&data_dir));
    assert_eq!(
        cleaned(&cloud).await,
        [id],
        "the cleanup's COS write landed before the local cloud stopped"
    );
    eprintln!("stopped in {took:?}");
}
