"""With `--webfn-limits cloud` (the test starts the local cloud with the cloud's caps on), a
WebSocket client sending more than 10 messages in a second to a Web function is closed with
1008, and the invocation is logged with status 456; 10 in a second pass."""

import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api3_common import call, scf
from webfn_common import create_echo

c = scf()
_, net = create_echo(c, "capped")
ws = connect(net["WsExtranetUrl"], open_timeout=30)
for i in range(10):
    ws.send(f"m{i}")
    assert ws.recv(timeout=10) == f"m{i}"
time.sleep(1.1)  # a new second: ten more pass, the eleventh does not
for i in range(10):
    ws.send(f"n{i}")
ws.send("one too many")
got = []
try:
    while True:
        got.append(ws.recv(timeout=10))
except ConnectionClosed as e:
    assert (e.rcvd.code, e.rcvd.reason) == (1008, "over the connection's rate limit"), e
assert "one too many" not in got, got
deadline = time.time() + 10
while True:
    logs = call(c, "GetFunctionLogs", {"FunctionName": "capped", "Limit": 10})["Data"]
    if any(e["RetCode"] == 456 for e in logs) or time.time() > deadline:
        break
    time.sleep(0.2)
assert any(e["RetCode"] == 456 and "10 messages per second" in e["Log"] for e in logs), logs
print("webfn caps ok")
