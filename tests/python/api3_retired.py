"""`--apigw retired`: creation is refused with UnsupportedOperation.ServiceRetired; existing
services can still be described, unreleased and deleted; SCF is unaffected.
argv: setup | retired SID,AID"""

import sys

from api3_common import apigw, call, expect_call_error, function_params, scf

g = apigw()
s = scf()

if sys.argv[1] == "setup":
    for fn in ("r-register", "r-transport", "r-cleanup"):
        call(s, "CreateFunction", function_params(fn))
    sid = call(g, "CreateService", {"ServiceName": "old", "Protocol": "http"})["ServiceId"]
    aid = call(g, "CreateApi", {
        "ServiceId": sid, "Protocol": "WEBSOCKET", "ServiceType": "SCF", "ServiceTimeout": 15,
        "RequestConfig": {"Path": "/ws", "Method": "GET"},
        "ServiceWebsocketRegisterFunctionName": "r-register",
        "ServiceWebsocketTransportFunctionName": "r-transport",
        "ServiceWebsocketCleanupFunctionName": "r-cleanup"})["Result"]["ApiId"]
    call(g, "ReleaseService", {"ServiceId": sid, "EnvironmentName": "release", "ReleaseDesc": "x"})
    print("%s,%s" % (sid, aid))
    sys.exit(0)

sid, aid = sys.argv[2].split(",")
e = expect_call_error("UnsupportedOperation.ServiceRetired", g, "CreateService",
                      {"ServiceName": "new", "Protocol": "http"})
assert "retired" in e.get_message(), e.get_message()
expect_call_error("UnsupportedOperation.ServiceRetired", g, "CreateApi", {
    "ServiceId": sid, "Protocol": "WEBSOCKET", "ServiceType": "SCF", "ServiceTimeout": 15,
    "RequestConfig": {"Path": "/ws2", "Method": "GET"},
    "ServiceWebsocketTransportFunctionName": "r-transport"})
# SCF keeps working.
call(s, "CreateFunction", function_params("r-new"))
# Existing services: describe, then remove in the deployer's order.
assert call(g, "DescribeService", {"ServiceId": sid})["ApiTotalCount"] == 1
a = call(g, "DescribeApi", {"ServiceId": sid, "ApiId": aid})["Result"]
assert a["InternalDomain"].endswith("/" + aid), a
assert call(g, "DescribeServicesStatus", {})["Result"]["TotalCount"] == 1
call(g, "DeleteApi", {"ServiceId": sid, "ApiId": aid})
call(g, "UnReleaseService", {"ServiceId": sid, "EnvironmentName": "release"})
call(g, "DeleteService", {"ServiceId": sid})
assert call(g, "DescribeServicesStatus", {})["Result"]["TotalCount"] == 0
print("retired ok")
