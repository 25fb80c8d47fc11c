"""Sets up a WebSocket API on the local cloud for the gateway tests, through the official SDK:
three functions, a service, a WebSocket API bound to them and a release to `release`.
Prints one JSON line: {"sid", "aid", "outer", "internal"} (OuterSubDomain, InternalDomain).
argv: [SERVICE_TIMEOUT] (default 15)."""

import json
import sys

import requests

from api3_common import apigw, call, function_params, scf, wait_status

timeout = int(sys.argv[1]) if len(sys.argv) > 1 else 15
g = apigw()
s = scf()
for fn in ("gw-register", "gw-transport", "gw-cleanup"):
    call(s, "CreateFunction", function_params(fn))
for fn in ("gw-register", "gw-transport", "gw-cleanup"):
    wait_status(s, fn, "Active")
sid = call(g, "CreateService", {"ServiceName": "gwtest", "Protocol": "http"})["ServiceId"]
aid = call(g, "CreateApi", {
    "ServiceId": sid, "ApiName": "ws", "Protocol": "WEBSOCKET", "ServiceType": "SCF",
    "ServiceTimeout": timeout, "RequestConfig": {"Path": "/ws", "Method": "GET"},
    "ServiceWebsocketRegisterFunctionName": "gw-register",
    "ServiceWebsocketTransportFunctionName": "gw-transport",
    "ServiceWebsocketCleanupFunctionName": "gw-cleanup"})["Result"]["ApiId"]
call(g, "ReleaseService", {"ServiceId": sid, "EnvironmentName": "release", "ReleaseDesc": "gw"})
outer = call(g, "DescribeService", {"ServiceId": sid})["OuterSubDomain"]
internal = call(g, "DescribeApi", {"ServiceId": sid, "ApiId": aid})["Result"]["InternalDomain"]

# What the seed's functions do (requests.post(url, json=...)) to a connection that is gone.
r = requests.post(internal, json={"websocket": {"action": "closing", "secConnectionID": "gone=="}})
assert r.status_code == 200, r.status_code
assert r.json() == {"errNo": 1, "errMsg": "connection not found"}, r.text
assert r.headers["Content-Type"] == "application/json", r.headers

print(json.dumps({"sid": sid, "aid": aid, "outer": outer, "internal": internal}))
