"""API Gateway actions against the local cloud: services, a WebSocket API bound to three SCF
functions, releases, and the deploy/remove order's refusals. argv: PORT."""

import json
import re
import sys

from tencentcloud.apigateway.v20180808 import models

from api3_common import apigw, call, expect_call_error, function_params, scf

port = sys.argv[1]
host = "127.0.0.1:%s" % port
g = apigw()
s = scf()
for fn in ("chat-register", "chat-transport", "chat-cleanup"):
    call(s, "CreateFunction", function_params(fn))


def typed(model, params):
    m = model()
    m.from_json_string(json.dumps(params))
    return m


# ---- services --------------------------------------------------------------------------------
tags = [{"Key": "chatstack:stack", "Value": "chat"}, {"Key": "chatstack:stage", "Value": "dev"}]
r = g.CreateService(typed(models.CreateServiceRequest, {
    "ServiceName": "chat_gw", "Protocol": "http&https", "ServiceDesc": "chat", "Tags": tags}))
sid = r.ServiceId
assert re.fullmatch(r"service-[a-z0-9]{8}", sid), sid
assert r.OuterSubDomain == "%s/%s" % (host, sid), r.OuterSubDomain
assert r.ServiceName == "chat_gw" and r.InnerSubDomain == "" and r.NetTypes == ["OUTER"]
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r.CreatedTime), r.CreatedTime
other = call(g, "CreateService", {"ServiceName": "other", "Protocol": "http"})["ServiceId"]

expect_call_error("MissingParameter", g, "CreateService", {"ServiceName": "x"})
expect_call_error("InvalidParameterValue.InvalidProcotol", g, "CreateService",
                  {"ServiceName": "x", "Protocol": "ftp"})

d = g.DescribeService(typed(models.DescribeServiceRequest, {"ServiceId": sid}))
assert d.ServiceId == sid and d.ServiceName == "chat_gw" and d.Protocol == "http&https"
assert d.OuterSubDomain == "%s/%s" % (host, sid) and d.ApiTotalCount == 0
assert d.AvailableEnvironments == [] and [(t.Key, t.Value) for t in d.Tags] == [
    ("chatstack:stack", "chat"), ("chatstack:stage", "dev")]
expect_call_error("ResourceNotFound.InvalidService", g, "DescribeService",
                  {"ServiceId": "service-00000000"})

st = g.DescribeServicesStatus(models.DescribeServicesStatusRequest())
assert st.Result.TotalCount == 2 and {x.ServiceId for x in st.Result.ServiceSet} == {sid, other}
found = next(x for x in st.Result.ServiceSet if x.ServiceId == sid)
assert [(t.Key, t.Value) for t in found.Tags][0] == ("chatstack:stack", "chat")
r = call(g, "DescribeServicesStatus", {"Filters": [{"Name": "ServiceId", "Values": [sid]}]})
assert [x["ServiceId"] for x in r["Result"]["ServiceSet"]] == [sid], r
r = call(g, "DescribeServicesStatus", {"Filters": [{"Name": "ServiceName", "Values": ["chat_gw"]}]})
assert [x["ServiceId"] for x in r["Result"]["ServiceSet"]] == [sid], r
r = call(g, "DescribeServicesStatus", {"Limit": 1, "Offset": 1})
assert r["Result"]["TotalCount"] == 2 and len(r["Result"]["ServiceSet"]) == 1, r
expect_call_error("InvalidParameterValue.InvalidFilterNotSupportedName", g,
                  "DescribeServicesStatus", {"Filters": [{"Name": "Colour", "Values": ["x"]}]})
expect_call_error("InvalidParameterValue.LimitExceeded", g, "DescribeServicesStatus",
                  {"Limit": 101})

# ---- CreateApi (WebSocket + SCF) ---------------------------------------------------------------
def ws_api(**over):
    p = {
        "ServiceId": sid, "ApiName": "chat_ws", "ApiType": "NORMAL", "AuthType": "NONE",
        "Protocol": "WEBSOCKET", "ServiceType": "SCF",
        "RequestConfig": {"Path": "/ws", "Method": "GET"}, "ServiceTimeout": 15,
    }
    for role in ("Register", "Transport", "Cleanup"):
        p["ServiceWebsocket%sFunctionName" % role] = "chat-%s" % role.lower()
        p["ServiceWebsocket%sFunctionNamespace" % role] = "default"
        p["ServiceWebsocket%sFunctionQualifier" % role] = "$LATEST"
    p.update(over)
    return p


expect_call_error("InvalidParameterValue.InvalidWSMethod", g, "CreateApi",
                  ws_api(RequestConfig={"Path": "/ws", "Method": "POST"}))
expect_call_error("FailedOperation.ScfError", g, "CreateApi",
                  ws_api(ServiceWebsocketRegisterFunctionName="chat-missing"))
expect_call_error("FailedOperation.ScfError", g, "CreateApi",
                  ws_api(ServiceWebsocketCleanupFunctionNamespace="elsewhere"))
expect_call_error("InvalidParameterValue.InvalidScfConfig", g, "CreateApi",
                  ws_api(ServiceWebsocketTransportFunctionName=""))
expect_call_error("ResourceNotFound.InvalidService", g, "CreateApi",
                  ws_api(ServiceId="service-00000000"))
expect_call_error("InvalidParameterValue.InvalidServiceType", g, "CreateApi",
                  ws_api(Protocol="HTTP", ServiceType="WEBSOCKET"))
expect_call_error("InvalidParameterValue.InvalidProcotol", g, "CreateApi", ws_api(Protocol="UDP"))
expect_call_error("InvalidParameterValue.InvalidApiRequestConfig", g, "CreateApi",
                  ws_api(RequestConfig={"Path": "ws", "Method": "GET"}))
p = ws_api()
del p["ServiceTimeout"]
expect_call_error("MissingParameter", g, "CreateApi", p)

r = g.CreateApi(typed(models.CreateApiRequest, ws_api()))
aid = r.Result.ApiId
assert re.fullmatch(r"api-[a-z0-9]{8}", aid), aid
assert r.Result.Path == "/ws" and r.Result.Method == "GET"
expect_call_error("InvalidParameterValue.InvalidApiRequestConfig", g, "CreateApi", ws_api())

a = g.DescribeApi(typed(models.DescribeApiRequest, {"ServiceId": sid, "ApiId": aid})).Result
assert a.InternalDomain == "http://%s/%s" % (host, aid), a.InternalDomain
assert a.ApiId == aid and a.ServiceId == sid and a.ServiceName == "chat_gw"
assert a.Protocol == "WEBSOCKET" and a.ServiceType == "SCF" and a.ServiceTimeout == 15
assert a.RequestConfig.Path == "/ws" and a.RequestConfig.Method == "GET"
assert a.ServiceWebsocketRegisterFunctionName == "chat-register"
assert a.ServiceWebsocketTransportFunctionName == "chat-transport"
assert a.ServiceWebsocketCleanupFunctionName == "chat-cleanup"
assert a.ServiceWebsocketCleanupFunctionNamespace == "default"
assert a.ServiceWebsocketTransportFunctionQualifier == "$LATEST"
assert a.Environments == []
expect_call_error("ResourceNotFound.InvalidApi", g, "DescribeApi",
                  {"ServiceId": sid, "ApiId": "api-00000000"})
expect_call_error("ResourceNotFound.InvalidService", g, "DescribeApi",
                  {"ServiceId": "service-00000000", "ApiId": aid})

st = g.DescribeApisStatus(typed(models.DescribeApisStatusRequest, {"ServiceId": sid})).Result
assert st.TotalCount == 1 and st.ApiIdStatusSet[0].ApiId == aid
assert st.ApiIdStatusSet[0].Path == "/ws" and st.ApiIdStatusSet[0].Protocol == "WEBSOCKET"
r = call(g, "DescribeApisStatus", {"ServiceId": sid,
                                   "Filters": [{"Name": "ApiId", "Values": ["api-00000000"]}]})
assert r["Result"]["TotalCount"] == 0, r
expect_call_error("MissingParameter", g, "DescribeApisStatus", {})
d = call(g, "DescribeService", {"ServiceId": sid})
assert d["ApiTotalCount"] == 1 and d["ApiIdStatusSet"][0]["ApiId"] == aid, d

# ---- ModifyApi ---------------------------------------------------------------------------------
call(s, "CreateFunction", function_params("chat-transport2"))
call(g, "ModifyApi", ws_api(ApiId=aid, RequestConfig={"Path": "/chat", "Method": "GET"},
                            ServiceWebsocketTransportFunctionName="chat-transport2"))
a = call(g, "DescribeApi", {"ServiceId": sid, "ApiId": aid})["Result"]
assert a["RequestConfig"]["Path"] == "/chat", a
assert a["ServiceWebsocketTransportFunctionName"] == "chat-transport2", a
assert a["InternalDomain"] == "http://%s/%s" % (host, aid)
expect_call_error("InvalidParameterValue.InvalidWSMethod", g, "ModifyApi",
                  ws_api(ApiId=aid, RequestConfig={"Path": "/chat", "Method": "POST"}))
expect_call_error("FailedOperation.ScfError", g, "ModifyApi",
                  ws_api(ApiId=aid, ServiceWebsocketTransportFunctionName="gone"))
expect_call_error("ResourceNotFound.InvalidApi", g, "ModifyApi", ws_api(ApiId="api-00000000"))

# ---- releases ----------------------------------------------------------------------------------
envs = g.DescribeServiceEnvironmentList(
    typed(models.DescribeServiceEnvironmentListRequest, {"ServiceId": sid})).Result
assert envs.TotalCount == 3
assert {e.EnvironmentName: e.Status for e in envs.EnvironmentList} == {
    "test": 0, "prepub": 0, "release": 0}

expect_call_error("MissingParameter", g, "ReleaseService",
                  {"ServiceId": sid, "EnvironmentName": "release"})
expect_call_error("InvalidParameterValue.InvalidEnv", g, "ReleaseService",
                  {"ServiceId": sid, "EnvironmentName": "prod", "ReleaseDesc": "x"})
expect_call_error("ResourceNotFound.InvalidService", g, "ReleaseService",
                  {"ServiceId": "service-00000000", "EnvironmentName": "release",
                   "ReleaseDesc": "x"})
rel = g.ReleaseService(typed(models.ReleaseServiceRequest, {
    "ServiceId": sid, "EnvironmentName": "release", "ReleaseDesc": "first"})).Result
assert rel.ReleaseDesc == "first" and rel.ReleaseVersion, rel
rel2 = call(g, "ReleaseService", {"ServiceId": sid, "EnvironmentName": "release",
                                  "ReleaseDesc": "second"})["Result"]
assert rel2["ReleaseVersion"] != rel.ReleaseVersion, (rel2, rel.ReleaseVersion)

envs = call(g, "DescribeServiceEnvironmentList", {"ServiceId": sid})["Result"]["EnvironmentList"]
by_name = {e["EnvironmentName"]: e for e in envs}
assert by_name["release"]["Status"] == 1 and by_name["test"]["Status"] == 0, envs
assert by_name["release"]["Url"] == "http://%s/%s/release" % (host, sid), by_name["release"]
assert by_name["release"]["VersionName"] == rel2["ReleaseVersion"]
assert call(g, "DescribeService", {"ServiceId": sid})["AvailableEnvironments"] == ["release"]
assert call(g, "DescribeApi", {"ServiceId": sid, "ApiId": aid})["Result"]["Environments"] == [
    "release"]
r = call(g, "DescribeServicesStatus", {"Filters": [{"Name": "Environment", "Values": ["release"]}]})
assert [x["ServiceId"] for x in r["Result"]["ServiceSet"]] == [sid], r

# ---- removal order: APIs, then releases, then the service ------------------------------------
expect_call_error("UnsupportedOperation.ApiListNotEmpty", g, "DeleteService", {"ServiceId": sid})
assert g.DeleteApi(typed(models.DeleteApiRequest, {"ServiceId": sid, "ApiId": aid})).Result is True
expect_call_error("ResourceNotFound.InvalidApi", g, "DeleteApi", {"ServiceId": sid, "ApiId": aid})
expect_call_error("UnsupportedOperation.ExistingOnlineEnvironment", g, "DeleteService",
                  {"ServiceId": sid})
expect_call_error("InvalidParameterValue.InvalidEnvStatus", g, "UnReleaseService",
                  {"ServiceId": sid, "EnvironmentName": "test"})
expect_call_error("InvalidParameterValue.InvalidEnv", g, "UnReleaseService",
                  {"ServiceId": sid, "EnvironmentName": "staging"})
assert g.UnReleaseService(typed(models.UnReleaseServiceRequest, {
    "ServiceId": sid, "EnvironmentName": "release"})).Result is True
assert g.DeleteService(typed(models.DeleteServiceRequest, {"ServiceId": sid})).Result is True
expect_call_error("ResourceNotFound.InvalidService", g, "DescribeService", {"ServiceId": sid})
expect_call_error("ResourceNotFound.InvalidService", g, "DeleteService", {"ServiceId": sid})
assert call(g, "DescribeServicesStatus", {})["Result"]["TotalCount"] == 1
call(g, "DeleteService", {"ServiceId": other})

# Services are regional.
expect_call_error("ResourceNotFound.InvalidService", apigw(region="ap-shanghai"),
                  "DescribeService", {"ServiceId": other})

print("apigw ok")
