"""Web functions and Function URLs, control plane only, through the official Python SDK:
a WebSocket Web function created with its ProtocolParams and InstanceConcurrencyConfig and read
back; the parameter refusals; an http trigger with server-assigned name and local NetConfig URLs
in CreateTrigger, ListTriggers and GetFunction; UpdateTrigger; DeleteTrigger; the trigger errors;
and DeleteFunction taking its trigger along."""

import base64
import io
import json
import sys
import zipfile

from api3_common import call, expect_call_error, function_params, scf, wait_gone

PORT = sys.argv[1] if len(sys.argv) > 1 else None
c = scf()


def web_zip(mode=0o755, name="scf_bootstrap"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        z.writestr(info, "#!/bin/bash\nexec python3 -m http.server \"${CHATSTACK_PORT:-9000}\"\n")
    return base64.b64encode(buf.getvalue()).decode()


def web(name, **extra):
    p = function_params(name, Type="HTTP", Code={"ZipFile": web_zip()}, Timeout=60)
    p.pop("Handler")
    p.update(extra)
    return p


WS = {"ProtocolType": "WS", "ProtocolParams": {"WSParams": {"IdleTimeOut": 30}},
      "InstanceConcurrencyConfig": {"DynamicEnabled": "FALSE", "MaxConcurrency": 3}}

# The refusals, each naming its field.
for code, params in [
    ("InvalidParameterValue.IdleTimeOut", web("bad1", ProtocolType="WS",
                                              ProtocolParams={"WSParams": {"IdleTimeOut": 1801}})),
    ("InvalidParameterValue.IdleTimeOut", web("bad2", ProtocolType="WS", Timeout=10,
                                              ProtocolParams={"WSParams": {"IdleTimeOut": 20}})),
    ("LimitExceeded.Timeout", web("bad3", Timeout=901, **WS)),
    ("InvalidParameterValue.MaxConcurrency", web("bad4", InstanceConcurrencyConfig={
        "DynamicEnabled": "FALSE", "MaxConcurrency": 101})),
    ("InvalidParameterValue.InstanceConcurrencyConfig", web("bad5", InstanceConcurrencyConfig={
        "DynamicEnabled": "TRUE", "MaxConcurrency": 2})),
    ("InvalidParameterValue.Code", web("bad6", Code={"ZipFile": web_zip(name="bootstrap.sh")})),
    ("InvalidParameterValue.Code", web("bad7", Code={"ZipFile": web_zip(mode=0o644)})),
    ("InvalidParameterValue.ProtocolType", function_params("bad8", ProtocolType="WS")),
]:
    expect_call_error(code, c, "CreateFunction", params)

call(c, "CreateFunction", web("chat", **WS))
f = call(c, "GetFunction", {"FunctionName": "chat"})
assert f["Type"] == "HTTP" and f["ProtocolType"] == "WS", f
assert f["ProtocolParams"] == {"WSParams": {"IdleTimeOut": 30}}, f["ProtocolParams"]
assert f["InstanceConcurrencyConfig"]["MaxConcurrency"] == 3, f["InstanceConcurrencyConfig"]
assert f["Triggers"] == [], f["Triggers"]

# WebSocket cannot be switched off.
expect_call_error("InvalidParameterValue.ProtocolType", c, "UpdateFunctionConfiguration",
                  {"FunctionName": "chat", "ProtocolType": "HTTP"})

# Trigger errors before there is one.
expect_call_error("ResourceNotFound.Trigger", c, "DeleteTrigger",
                  {"FunctionName": "chat", "Type": "http", "TriggerName": "url-nothere00"})
expect_call_error("UnsupportedOperation.Trigger", c, "CreateTrigger",
                  {"FunctionName": "chat", "Type": "timer", "TriggerName": "t",
                   "TriggerDesc": "0 */5 * * * * *"})
expect_call_error("ResourceNotFound.Function", c, "CreateTrigger",
                  {"FunctionName": "nope", "Type": "http", "TriggerName": "x"})

desc = json.dumps({"AuthType": "NONE", "NetConfig": {"EnableIntranet": False, "EnableExtranet": True}})
info = call(c, "CreateTrigger", {"FunctionName": "chat", "Type": "http", "TriggerName": "placeholder",
                                 "TriggerDesc": desc})["TriggerInfo"]
name = info["TriggerName"]
assert name != "placeholder" and info["Type"] == "http" and info["Qualifier"] == "$DEFAULT", info
net = json.loads(info["TriggerDesc"])["NetConfig"]
base = "127.0.0.1:%s/scf/" % PORT if PORT else "/scf/"
assert base in net["ExtranetUrl"] and net["ExtranetUrl"].startswith("http://"), net
assert net["WsExtranetUrl"].startswith("ws://") and base in net["WssExtranetUrl"], net
assert net["ExtranetUrl"].endswith(".ap-guangzhou.tencentscf.com"), net
assert net["IntranetUrl"] == "" and net["WsIntranetUrl"] == "", net

expect_call_error("ResourceInUse.Trigger", c, "CreateTrigger",
                  {"FunctionName": "chat", "Type": "http", "TriggerName": "again", "TriggerDesc": desc})

listed = call(c, "ListTriggers", {"FunctionName": "chat"})
assert listed["TotalCount"] == 1 and listed["Triggers"][0]["TriggerName"] == name, listed
got = call(c, "GetFunction", {"FunctionName": "chat"})["Triggers"]
assert [t["TriggerName"] for t in got] == [name], got

call(c, "UpdateTrigger", {"FunctionName": "chat", "Type": "http", "TriggerName": name, "Enable": "CLOSE",
                          "TriggerDesc": json.dumps({"AuthType": "CAM", "NetConfig": {
                              "EnableIntranet": True, "EnableExtranet": True}})})
t = call(c, "ListTriggers", {"FunctionName": "chat"})["Triggers"][0]
d = json.loads(t["TriggerDesc"])
assert t["Enable"] == 0 and d["AuthType"] == "CAM", t
assert d["NetConfig"]["IntranetUrl"].endswith(".in.ap-guangzhou.tencentscf.com"), d
assert d["NetConfig"]["ExtranetUrl"] == net["ExtranetUrl"], "the URL never changes"

call(c, "DeleteTrigger", {"FunctionName": "chat", "Type": "http", "TriggerName": name})
assert call(c, "ListTriggers", {"FunctionName": "chat"})["TotalCount"] == 0

# A function deleted with a trigger takes the trigger along.
call(c, "CreateTrigger", {"FunctionName": "chat", "Type": "http", "TriggerName": "x", "TriggerDesc": desc})
call(c, "DeleteFunction", {"FunctionName": "chat"})
wait_gone(c, "chat")
call(c, "CreateFunction", web("chat", **WS))
assert call(c, "ListTriggers", {"FunctionName": "chat"})["TotalCount"] == 0
print("webfn control ok")
