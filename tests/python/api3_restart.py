"""Functions, services, APIs and releases survive a restart of the local cloud on a new port;
the URLs handed out follow the new address. argv: before | after SID,AID PORT"""

import sys

from api3_common import apigw, call, function_params, scf

g = apigw()
s = scf()
env = [{"Key": "GREETING", "Value": "hello"}]

if sys.argv[1] == "before":
    for fn in ("k-register", "k-transport", "k-cleanup"):
        call(s, "CreateFunction", function_params(fn, Environment={"Variables": env}))
    sid = call(g, "CreateService", {"ServiceName": "keep", "Protocol": "http",
                                    "Tags": [{"Key": "chatstack:stack", "Value": "k"}]})["ServiceId"]
    aid = call(g, "CreateApi", {
        "ServiceId": sid, "Protocol": "WEBSOCKET", "ServiceType": "SCF", "ServiceTimeout": 15,
        "RequestConfig": {"Path": "/ws", "Method": "GET"},
        "ServiceWebsocketRegisterFunctionName": "k-register",
        "ServiceWebsocketTransportFunctionName": "k-transport",
        "ServiceWebsocketCleanupFunctionName": "k-cleanup"})["Result"]["ApiId"]
    call(g, "ReleaseService", {"ServiceId": sid, "EnvironmentName": "release", "ReleaseDesc": "x"})
    print("%s,%s" % (sid, aid))
    sys.exit(0)

sid, aid = sys.argv[2].split(",")
host = "127.0.0.1:%s" % sys.argv[3]
assert call(s, "ListFunctions", {})["TotalCount"] == 3
f = call(s, "GetFunction", {"FunctionName": "k-transport"})
assert f["Status"] == "Active" and f["Environment"]["Variables"] == env, f
d = call(g, "DescribeService", {"ServiceId": sid})
assert d["OuterSubDomain"] == "%s/%s" % (host, sid), d["OuterSubDomain"]
assert d["Tags"] == [{"Key": "chatstack:stack", "Value": "k"}] and d["ApiTotalCount"] == 1
a = call(g, "DescribeApi", {"ServiceId": sid, "ApiId": aid})["Result"]
assert a["InternalDomain"] == "http://%s/%s" % (host, aid), a["InternalDomain"]
assert a["ServiceWebsocketTransportFunctionName"] == "k-transport"
envs = call(g, "DescribeServiceEnvironmentList", {"ServiceId": sid})["Result"]["EnvironmentList"]
assert [e["EnvironmentName"] for e in envs if e["Status"] == 1] == ["release"], envs
print("restart ok")
