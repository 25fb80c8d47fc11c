"""SCF actions against the local cloud (latency profile `none`): success and error paths."""

import base64
import os
import re

from tencentcloud.scf.v20180416 import models

from api3_common import (call, expect_call_error, function_params, make_zip, scf, wait_gone,
                         zip_b64)

c = scf()

# ---- CreateFunction + GetFunction (through the typed models) --------------------------------
req = models.CreateFunctionRequest()
req.from_json_string(__import__("json").dumps(function_params(
    "chat-register",
    Description="registers connections",
    Environment={"Variables": [{"Key": "BUCKET", "Value": "chat-1250000000"},
                               {"Key": "REGION", "Value": "ap-guangzhou"}]},
    Tags=[{"Key": "chatstack:stack", "Value": "chat"}, {"Key": "app", "Value": "chat"}],
    MemorySize=256, Timeout=10)))
c.CreateFunction(req)

g = models.GetFunctionRequest()
g.FunctionName = "chat-register"
f = c.GetFunction(g)
assert f.Status == "Active", f.Status
assert f.FunctionName == "chat-register" and f.Namespace == "default"
assert re.fullmatch(r"lam-[a-z0-9]{8}", f.FunctionId), f.FunctionId
assert f.Runtime == "Python3.9" and f.Handler == "index.main_handler"
assert f.MemorySize == 256 and f.Timeout == 10
assert f.Description == "registers connections"
assert [(v.Key, v.Value) for v in f.Environment.Variables] == [
    ("BUCKET", "chat-1250000000"), ("REGION", "ap-guangzhou")]
assert [(t.Key, t.Value) for t in f.Tags] == [("chatstack:stack", "chat"), ("app", "chat")]
assert f.CodeSize == len(make_zip()), f.CodeSize
for t in (f.AddTime, f.ModTime):
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", t), t
assert f.StatusReasons == [] and f.Qualifier == "$LATEST" and f.Type == "Event"
assert f.RequestId

expect_call_error("ResourceInUse.Function", c, "CreateFunction", function_params("chat-register"))

# ---- CreateFunction validation --------------------------------------------------------------
bad = [
    ("InvalidParameterValue.FunctionName", {"FunctionName": "1bad"}),
    ("InvalidParameterValue.FunctionName", {"FunctionName": "bad-"}),
    ("InvalidParameterValue.FunctionName", {"FunctionName": "x" * 61}),
    ("InvalidParameterValue.Runtime", {"Runtime": "Python9.9"}),
    ("InvalidParameterValue.Handler", {"Handler": "index"}),
    ("InvalidParameterValue.MemorySize", {"MemorySize": 100}),
    ("InvalidParameterValue.MemorySize", {"MemorySize": 3200}),
    ("LimitExceeded.Timeout", {"Timeout": 901}),
    ("LimitExceeded.Timeout", {"Timeout": 0}),
    ("InvalidParameterValue.EnvironmentSystemProtect",
     {"Environment": {"Variables": [{"Key": "SCF_NAMESPACE", "Value": "x"}]}}),
    ("InvalidParameterValue.EnvironmentSystemProtect",
     {"Environment": {"Variables": [{"Key": "TENCENTCLOUD_SECRETID", "Value": "x"}]}}),
    ("InvalidParameterValue.EnvironmentSystemProtect",
     {"Environment": {"Variables": [{"Key": "QCLOUD_X", "Value": "x"}]}}),
    ("InvalidParameterValue.EnvironmentExceededLimit",
     {"Environment": {"Variables": [{"Key": "BIG", "Value": "x" * 4200}]}}),
    ("InvalidParameterValue.Environment",
     {"Environment": {"Variables": [{"Key": "9LIVES", "Value": "x"}]}}),
    ("InvalidParameterValue.ZipFileBase64BinasciiError", {"Code": {"ZipFile": "abc"}}),
    ("InvalidParameterValue.ZipFile",
     {"Code": {"ZipFile": base64.b64encode(b"definitely not a zip").decode()}}),
    ("InvalidParameterValue.Code", {"Code": {}}),
    ("ResourceNotFound.Namespace", {"Namespace": "other"}),
    ("InvalidParameter", {"MemorySize": "lots"}),
]
for code, override in bad:
    p = function_params("chat-bad")
    p.update(override)
    expect_call_error(code, c, "CreateFunction", p)
p = function_params("chat-bad")
del p["Code"]
expect_call_error("MissingParameter.Code", c, "CreateFunction", p)
p = function_params("chat-bad")
del p["FunctionName"]
expect_call_error("MissingParameter", c, "CreateFunction", p)
expect_call_error("ResourceNotFound.Function", c, "GetFunction", {"FunctionName": "chat-bad"})
expect_call_error("ResourceNotFound.Function", c, "GetFunction", {"FunctionName": "nothing"})
expect_call_error("ResourceNotFound.Namespace", c, "GetFunction",
                  {"FunctionName": "chat-register", "Namespace": "prod"})
# A Role must name a CAM role that exists.
expect_call_error("ResourceNotFound.Role", c, "CreateFunction",
                  function_params("chat-norole", Role="NoSuchRole"))
expect_call_error("ResourceNotFound.Role", c, "UpdateFunctionConfiguration",
                  {"FunctionName": "chat-register", "Role": "NoSuchRole"})
# 64 MB and the 3072 MB maximum are valid sizes.
call(c, "CreateFunction", function_params("chat-small", MemorySize=64))
call(c, "CreateFunction", function_params("chat-big", MemorySize=3072, Runtime="Nodejs18.15",
                                          Handler="index.handler"))

# ---- UpdateFunctionCode ---------------------------------------------------------------------
new_zip = make_zip({"index.py": "def main_handler(e, c):\n    return 'v2'\n",
                    "app.py": "def run(e, c):\n    return 'app'\n"})
call(c, "UpdateFunctionCode", {"FunctionName": "chat-register", "Handler": "app.run",
                               "Code": {"ZipFile": base64.b64encode(new_zip).decode()}})
f = call(c, "GetFunction", {"FunctionName": "chat-register"})
assert f["CodeSize"] == len(new_zip) and f["Handler"] == "app.run", f
# Legacy top-level ZipFile.
call(c, "UpdateFunctionCode", {"FunctionName": "chat-register", "ZipFile": zip_b64()})
assert call(c, "GetFunction", {"FunctionName": "chat-register"})["CodeSize"] == len(make_zip())
expect_call_error("InvalidParameterValue.ZipFile", c, "UpdateFunctionCode",
                  {"FunctionName": "chat-register",
                   "Code": {"ZipFile": base64.b64encode(b"PK nope").decode()}})
expect_call_error("ResourceNotFound.Function", c, "UpdateFunctionCode",
                  {"FunctionName": "ghost", "Code": {"ZipFile": zip_b64()}})

# ---- UpdateFunctionConfiguration: environment semantics -------------------------------------
def env(name):
    f = call(c, "GetFunction", {"FunctionName": name})
    return [(v["Key"], v["Value"]) for v in f["Environment"]["Variables"]]

call(c, "UpdateFunctionConfiguration", {
    "FunctionName": "chat-register",
    "Environment": {"Variables": [{"Key": "PUSHBACK_URL", "Value": "http://x/api-1"}]},
    "MemorySize": 512, "Timeout": 20, "Description": "v2"})
f = call(c, "GetFunction", {"FunctionName": "chat-register"})
assert env("chat-register") == [("PUSHBACK_URL", "http://x/api-1")]
assert f["MemorySize"] == 512 and f["Timeout"] == 20 and f["Description"] == "v2"
call(c, "UpdateFunctionConfiguration", {"FunctionName": "chat-register", "Timeout": 30})
assert env("chat-register") == [("PUSHBACK_URL", "http://x/api-1")], "absent must keep"
call(c, "UpdateFunctionConfiguration", {"FunctionName": "chat-register",
                                        "Environment": {"Variables": []}})
assert env("chat-register") == [("PUSHBACK_URL", "http://x/api-1")], "empty must keep"
call(c, "UpdateFunctionConfiguration", {"FunctionName": "chat-register",
                                        "Environment": {"Variables": [{"Key": "", "Value": ""}]}})
assert env("chat-register") == [], "the toolkit's clear form must clear"
expect_call_error("InvalidParameterValue.MemorySize", c, "UpdateFunctionConfiguration",
                  {"FunctionName": "chat-register", "MemorySize": 130})
expect_call_error("InvalidParameterValue.EnvironmentSystemProtect", c,
                  "UpdateFunctionConfiguration",
                  {"FunctionName": "chat-register",
                   "Environment": {"Variables": [{"Key": "SCF_X", "Value": "1"}]}})
expect_call_error("ResourceNotFound.Function", c, "UpdateFunctionConfiguration",
                  {"FunctionName": "ghost", "Timeout": 5})

# ---- ListFunctions --------------------------------------------------------------------------
call(c, "CreateFunction", function_params("chat-transport",
                                          Tags=[{"Key": "app", "Value": "chat"}]))
call(c, "CreateFunction", function_params("other-fn", Tags=[{"Key": "app", "Value": "other"}]))
lst = call(c, "ListFunctions", {"Limit": 100})
assert lst["TotalCount"] == 5, lst
names = lambda r: [f["FunctionName"] for f in r["Functions"]]
r = call(c, "ListFunctions", {"Orderby": "FunctionName", "Order": "ASC"})
assert names(r) == sorted(names(r)) and len(names(r)) == 5, names(r)
r = call(c, "ListFunctions", {"SearchKey": "chat-", "Orderby": "FunctionName", "Order": "ASC"})
assert names(r) == ["chat-big", "chat-register", "chat-small", "chat-transport"], names(r)
r = call(c, "ListFunctions", {"Filters": [{"Name": "tag-app", "Values": ["chat"]}],
                              "Orderby": "FunctionName", "Order": "ASC"})
assert names(r) == ["chat-register", "chat-transport"], names(r)
r = call(c, "ListFunctions", {"Filters": [{"Name": "Runtime", "Values": ["Nodejs18.15"]}]})
assert names(r) == ["chat-big"], names(r)
all_desc = sorted(names(call(c, "ListFunctions", {"Limit": 100})), reverse=True)
r = call(c, "ListFunctions", {"Offset": 1, "Limit": 2, "Orderby": "FunctionName", "Order": "DESC"})
assert r["TotalCount"] == 5 and names(r) == all_desc[1:3], names(r)
f0 = call(c, "ListFunctions", {"SearchKey": "chat-register"})["Functions"][0]
assert f0["Status"] == "Active" and f0["Namespace"] == "default" and f0["Tags"], f0
expect_call_error("InvalidParameterValue.OrderBy", c, "ListFunctions", {"Orderby": "Size"})
expect_call_error("InvalidParameterValue.Order", c, "ListFunctions", {"Order": "UP"})
expect_call_error("InvalidParameterValue.Filters", c, "ListFunctions",
                  {"Filters": [{"Name": "Colour", "Values": ["red"]}]})
expect_call_error("ResourceNotFound.Namespace", c, "ListFunctions", {"Namespace": "x"})
lr = c.ListFunctions(models.ListFunctionsRequest())
assert lr.TotalCount == 5 and all(f.FunctionId.startswith("lam-") for f in lr.Functions)

# ---- GetFunctionLogs, Invoke ----------------------------------------------------------------
logs = call(c, "GetFunctionLogs", {"FunctionName": "chat-register"})
assert logs["TotalCount"] == 0 and logs["Data"] == [], logs
expect_call_error("ResourceNotFound.Function", c, "GetFunctionLogs", {"FunctionName": "ghost"})
# (Invoke itself is covered by runtime_invoke.py; here only that it reaches the runtime.)
r = call(c, "Invoke", {"FunctionName": "chat-register", "ClientContext": "{}"})["Result"]
assert r["FunctionRequestId"] and r["Log"].startswith("START RequestId: "), r
e = expect_call_error("FailedOperation.InvokeFunction", c, "Invoke", {"FunctionName": "chat-big"})
assert "Python" in e.get_message(), e.get_message()
expect_call_error("ResourceNotFound.Function", c, "Invoke", {"FunctionName": "ghost"})
expect_call_error("InvalidParameterValue.InvokeType", c, "Invoke",
                  {"FunctionName": "chat-register", "InvocationType": "Sometimes"})
expect_call_error("InvalidParameterValue.ClientContext", c, "Invoke",
                  {"FunctionName": "chat-register", "ClientContext": "{nope"})

# ---- DeleteFunction -------------------------------------------------------------------------
call(c, "DeleteFunction", {"FunctionName": "other-fn"})
wait_gone(c, "other-fn")
expect_call_error("ResourceNotFound.Function", c, "DeleteFunction", {"FunctionName": "other-fn"})
assert call(c, "ListFunctions", {})["TotalCount"] == 4
# The name can be reused.
call(c, "CreateFunction", function_params("other-fn"))
assert call(c, "GetFunction", {"FunctionName": "other-fn"})["Status"] == "Active"

# Other regions are separate.
expect_call_error("ResourceNotFound.Function", scf(region="ap-shanghai"), "GetFunction",
                  {"FunctionName": "chat-register"})


# ---- large bodies: a ~4.5 MB zip (6 MB of base64) is fine, over 10 MB is refused ------------
big_zip = make_zip({"index.py": "x = 1\n", "noise.txt": base64.b64encode(os.urandom(4_400_000)).decode()})
call(c, "CreateFunction", function_params("chat-large", Code={"ZipFile": base64.b64encode(big_zip).decode()}))
assert call(c, "GetFunction", {"FunctionName": "chat-large"})["CodeSize"] == len(big_zip)
huge = base64.b64encode(os.urandom(8_000_000)).decode()
expect_call_error("RequestSizeLimitExceeded", c, "CreateFunction",
                  function_params("chat-huge", Code={"ZipFile": huge}))
print("scf ok")
