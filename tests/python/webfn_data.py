"""The Web-function data plane through the official Python SDK and a real WebSocket client:
a WebSocket Web function whose scf_bootstrap runs an echo server (Python + the pinned
`websockets` library, shipped in the code zip) is created, gets a Function URL, serves plain
HTTP and WebSocket clients through the URLs ListTriggers returns, scales to a second instance
past MaxConcurrency, ends connections with SCF's statuses (client close 1000 → 200, another
client code → 456, a server close → 439, a message over 256 KB → 1009, idle → 455, execution timeout → 433, reserved
concurrency → 432), all in GetFunctionLogs; a CAM URL takes only TC3-signed requests; the
function is deleted with its trigger and its URL stops answering."""

import base64
import hashlib
import io
import json
import sys
import threading
import time
import urllib.parse
import zipfile

import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from api3_common import (APPID, REGION, SECRET_ID, SECRET_KEY, call, expect_call_error,
                         function_params, scf, wait_gone, wait_status)
from webfn_common import create_echo
from tencentcloud.common.sign import Sign

PORT = sys.argv[1]
c = scf()

name, net = create_echo(c, "echo")
desc = json.dumps({"AuthType": "NONE",
                   "NetConfig": {"EnableIntranet": False, "EnableExtranet": True}})
http_url, ws_url = net["ExtranetUrl"], net["WsExtranetUrl"]
assert net["WssExtranetUrl"] == ws_url and ws_url.startswith("ws://127.0.0.1:"), net
cloud_host = f"{APPID}-"
assert cloud_host in http_url and f".{REGION}.tencentscf.com" in http_url, http_url

# Plain HTTP through the URL: the function sees its own path, the cloud's host name and a
# request id, which the answer carries too.
r = requests.get(http_url + "/hello?x=1", timeout=30)
assert r.status_code == 200, (r.status_code, r.text)
seen = r.json()
assert seen["path"] == "/hello?x=1", seen
assert seen["host"] == urllib.parse.urlparse(http_url).path.split("/")[2], seen
assert seen["requestId"] and seen["requestId"] == r.headers["X-Scf-Request-Id"], (seen, r.headers)
first_instance = seen["instance"]
assert first_instance.startswith("ins-"), seen


def who(ws):
    ws.send("who")
    return json.loads(ws.recv(timeout=10))


def closed_with(ws, timeout=15):
    """Waits for the server's close; returns (code, reason)."""
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)


# Three connections on MaxConcurrency 2: a second instance starts. (Each asks at once: an
# idle connection is closed after IdleTimeOut, 5 s.)
conns, ids = [], []
for _ in range(3):
    conns.append(connect(ws_url, open_timeout=30))
    ids.append(who(conns[-1]))
a, b, d = conns
instances = {i["instance"] for i in ids}
assert len(instances) == 2, ids
assert len({i["requestId"] for i in ids}) == 3, ids
a.send("héllo")
assert a.recv(timeout=10) == "héllo"
a.send("x" * (256 * 1024))  # 256 KB exactly passes
assert len(a.recv(timeout=10)) == 256 * 1024

a.close(1000)                 # → 200
b.close(4001, "client bye")   # → 456
d.send("bye")                 # the server closes with 4000 → 439
assert closed_with(d)[0] == 4000

# One byte over 256 KB: the platform closes with 1009 (456, the client's doing).
big = connect(ws_url, open_timeout=30, max_size=None)
big.send("x" * (256 * 1024 + 1))
assert closed_with(big) == (1009, "message too big")

idle = connect(ws_url, open_timeout=30)
t0 = time.time()
code, reason = closed_with(idle)
assert (code, reason) == (1001, "idle timeout") and time.time() - t0 >= 4.5, (code, reason)

busy = connect(ws_url, open_timeout=30)
stop = threading.Event()


def chatter():
    while not stop.is_set():
        try:
            busy.send("tick")
        except ConnectionClosed:
            return
        stop.wait(0.5)


threading.Thread(target=chatter, daemon=True).start()
t0 = time.time()
code, reason = closed_with(busy, timeout=20)
stop.set()
assert (code, reason) == (1001, "execution timeout") and time.time() - t0 >= 9, (code, reason)

# Reserved concurrency of one request: a second connection is refused with 432.
call(c, "PutReservedConcurrencyConfig", {"FunctionName": "echo", "ReservedConcurrencyMem": 128})
one = connect(ws_url, open_timeout=30)
try:
    connect(ws_url, open_timeout=30)
    raise AssertionError("a second connection past the reserved concurrency was accepted")
except InvalidStatus as e:
    assert e.response.status_code == 432, e.response.status_code
one.close(1000)
call(c, "DeleteReservedConcurrencyConfig", {"FunctionName": "echo"})

# Every invocation is in GetFunctionLogs with its status (RetCode 0 = 200).
want = {0, 456, 439, 455, 433, 432}
deadline = time.time() + 15
while True:
    logs = call(c, "GetFunctionLogs", {"FunctionName": "echo", "Limit": 100})["Data"]
    codes = {entry["RetCode"] for entry in logs}
    if want <= codes or time.time() > deadline:
        break
    time.sleep(0.3)
assert want <= codes, (codes, [(e["RetCode"], e["RetMsg"]) for e in logs])
assert any("http /hello" in e["Log"] for e in logs), [e["Log"] for e in logs]

# A CAM URL takes only TC3-signed requests.
cam = json.dumps({"AuthType": "CAM",
                  "NetConfig": {"EnableIntranet": False, "EnableExtranet": True}})
call(c, "UpdateTrigger", {"FunctionName": "echo", "Type": "http", "TriggerName": name,
                          "TriggerDesc": cam})
r = requests.get(http_url + "/secret", timeout=30)
assert r.status_code == 403 and "AuthType CAM" in r.json()["errorMessage"], (r.status_code, r.text)


def signed_get(url):
    u = urllib.parse.urlparse(url)
    ts = int(time.time())
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    host = u.netloc
    canonical = "\n".join(["GET", u.path, u.query, "content-type:application/json",
                           f"host:{host}", "", "content-type;host",
                           hashlib.sha256(b"").hexdigest()])
    scope = f"{date}/scf/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", str(ts), scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    sig = Sign.sign_tc3(SECRET_KEY, date, "scf", to_sign)
    return requests.get(url, timeout=30, headers={
        "Content-Type": "application/json", "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, "
                         f"SignedHeaders=content-type;host, Signature={sig}"})


r = signed_get(http_url + "/secret?k=v")
assert r.status_code == 200 and r.json()["path"] == "/secret?k=v", (r.status_code, r.text)
try:
    connect(ws_url, open_timeout=30)
    raise AssertionError("an unsigned WebSocket handshake to a CAM URL was accepted")
except InvalidStatus as e:
    assert e.response.status_code == 403, e.response.status_code

# An instance that cannot start: its scf_bootstrap exits at once (405, with its output).
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    boot = zipfile.ZipInfo("scf_bootstrap")
    boot.external_attr = 0o755 << 16
    z.writestr(boot, "#!/bin/bash\necho cannot start >&2\nexit 3\n")
broken = function_params("broken", Type="HTTP", Timeout=10,
                         Code={"ZipFile": base64.b64encode(buf.getvalue()).decode()})
broken.pop("Handler")
call(c, "CreateFunction", broken)
wait_status(c, "broken", "Active")
info = call(c, "CreateTrigger", {"FunctionName": "broken", "Type": "http", "TriggerName": "x",
                                 "TriggerDesc": desc})["TriggerInfo"]
broken_url = json.loads(info["TriggerDesc"])["NetConfig"]["ExtranetUrl"]
r = requests.get(broken_url, timeout=30)
assert r.status_code == 405 and "exit status: 3" in r.json()["errorMessage"], (r.status_code, r.text)
logs = call(c, "GetFunctionLogs", {"FunctionName": "broken", "Limit": 10})["Data"]
assert logs and logs[0]["RetCode"] == 405 and "cannot start" in logs[0]["Log"], logs

# Deleted with its trigger: the URL answers 404.
call(c, "DeleteFunction", {"FunctionName": "echo"})
wait_gone(c, "echo")
expect_call_error("ResourceNotFound.Function", c, "ListTriggers", {"FunctionName": "echo"})
r = requests.get(http_url + "/hello", timeout=30)
assert r.status_code == 404, (r.status_code, r.text)
print("webfn data ok", sorted(instances))
