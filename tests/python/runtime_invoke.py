"""Invoke and GetFunctionLogs against the local cloud's function runtime, through the official
SDK: results, logs, SCF context and environment, failures, code updates, temporary credentials
used from inside a function (control plane and COS)."""

import json
import time

from api3_common import APPID, ENDPOINT, REGION, call, expect_call_error, scf, wait_status, zip_b64
from runtime_common import BUCKET, cos, cos_bucket, create, invoke, logs, ret, role, wait_log

c = scf()

# ---- a synchronous call: RetMsg, Log, context, environment ---------------------------------
ECHO = '''
import os, sys
def main_handler(event, context):
    print("got", event)
    sys.stderr.write("a warning\\n")
    keys = ["SCF_FUNCTIONNAME", "SCF_NAMESPACE", "SCF_FUNCTIONVERSION", "TENCENTCLOUD_RUNENV",
            "TENCENTCLOUD_REGION", "TENCENTCLOUD_APPID", "TENCENTCLOUD_SECRETID",
            "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN", "USER_CODE_ROOT", "GREETING",
            "TENCENTCLOUD_SECRET_ID", "CHATSTACK_TEST_SECRET_KEY", "CHATSTACK_WORKER_SOCKET"]
    return {"event": event, "context": context, "pid": os.getpid(),
            "env": {k: os.environ.get(k) for k in keys}}
'''
create(c, "echo", {"index.py": ECHO}, env={"GREETING": "hello"}, timeout=5, memory=256,
       role=role("echo-role"))
r = invoke(c, "echo", {"msg": "中文 and ascii"})
v = ret(r)
assert v["event"] == {"msg": "中文 and ascii"}, v
rid = r["FunctionRequestId"]
ctx = v["context"]
assert ctx["request_id"] == rid and ctx["function_name"] == "echo", ctx
assert ctx["namespace"] == "default" and ctx["function_version"] == "$LATEST", ctx
assert ctx["memory_limit_in_mb"] == 256 and ctx["time_limit_in_ms"] == 5000, ctx
assert ctx["tencentcloud_region"] == REGION and ctx["tencentcloud_appid"] == str(APPID), ctx
assert json.loads(ctx["environment"])["GREETING"] == "hello", ctx
env = v["env"]
assert env["SCF_FUNCTIONNAME"] == "echo" and env["SCF_NAMESPACE"] == "default", env
assert env["SCF_FUNCTIONVERSION"] == "$LATEST" and env["TENCENTCLOUD_RUNENV"] == "SCF", env
assert env["TENCENTCLOUD_REGION"] == REGION and env["TENCENTCLOUD_APPID"] == str(APPID), env
assert env["TENCENTCLOUD_SECRETID"].startswith("AKID") and env["TENCENTCLOUD_SESSIONTOKEN"], env
assert env["GREETING"] == "hello" and env["USER_CODE_ROOT"], env
# Nothing of the local cloud's (or the test's) own environment, nor the protocol variables.
assert env["CHATSTACK_TEST_SECRET_KEY"] is None and env["CHATSTACK_WORKER_SOCKET"] is None, env
assert env["TENCENTCLOUD_SECRET_ID"] is None, env
log = r["Log"]
assert log.startswith("START RequestId: %s\n" % rid), log
assert "got {'msg': '中文 and ascii'}" in log and "a warning" in log, log
assert "END RequestId: %s" % rid in log and "Report RequestId: %s" % rid in log, log
assert r["MemUsage"] > 0 and r["Duration"] >= 0 and r["BillDuration"] >= 1, r
pid = v["pid"]
assert ret(invoke(c, "echo"))["pid"] == pid, "warm worker reused"

# ---- Event: returns at once, the result lands in the logs -----------------------------------
SLOW = '''
import time
def main_handler(event, context):
    time.sleep(0.5)
    print("finished", event["n"])
    return event["n"] * 2
'''
create(c, "slow", {"index.py": SLOW})
started = time.time()
r = invoke(c, "slow", {"n": 21}, "Event")
assert time.time() - started < 0.45, "Event invocations do not wait"
assert r["FunctionRequestId"] and r["RetMsg"] == "" and r["InvokeResult"] == 0, r
entry = wait_log(c, "slow", r["FunctionRequestId"])
assert entry["RetMsg"] == "42" and entry["RetCode"] == 0, entry
assert "finished 21" in entry["Log"] and entry["InvokeFinished"] == 1, entry
assert entry["FunctionName"] == "slow" and entry["Duration"] >= 500, entry

# ---- failures: exception (warm), timeout (killed, replaced), crash (replaced) ----------------
FAULTY = '''
import os, time
def main_handler(event, context):
    what = event.get("do")
    if what == "raise":
        raise KeyError("missing-thing")
    if what == "sleep":
        time.sleep(20)
    if what == "exit":
        os._exit(1)
    return os.getpid()
'''
create(c, "faulty", {"index.py": FAULTY}, timeout=1)
pid = ret(invoke(c, "faulty"))
r = invoke(c, "faulty", {"do": "raise"})
assert r["InvokeResult"] != 0 and r["RetMsg"] == "", r
err = json.loads(r["ErrMsg"])
assert err["statusCode"] == 430 and "missing-thing" in err["errorMessage"], err
assert "Traceback (most recent call last)" in r["Log"] and "KeyError" in r["Log"], r["Log"]
assert ret(invoke(c, "faulty")) == pid, "an exception keeps the worker warm"
started = time.time()
r = invoke(c, "faulty", {"do": "sleep"})
assert time.time() - started < 5, "the timeout is enforced"
err = json.loads(r["ErrMsg"])
assert err["errorMessage"] == "Invoking task timed out after 1 seconds", err
assert err["statusCode"] == 433 and r["InvokeResult"] == 433, r
pid2 = ret(invoke(c, "faulty"))
assert pid2 != pid, "a fresh worker after the timeout"
r = invoke(c, "faulty", {"do": "exit"})
assert json.loads(r["ErrMsg"])["statusCode"] == 439, r
assert ret(invoke(c, "faulty")) not in (pid, pid2), "a fresh worker after the crash"

# ---- GetFunctionLogs: filters, order, paging -------------------------------------------------
all_logs = logs(c, "faulty")
assert all_logs["TotalCount"] == 7, all_logs["TotalCount"]
codes = [d["RetCode"] for d in all_logs["Data"]]
assert codes == [0, 439, 0, 433, 0, 430, 0], codes  # newest first by default
asc = logs(c, "faulty", Order="asc")["Data"]
assert [d["RequestId"] for d in asc] == [d["RequestId"] for d in reversed(all_logs["Data"])]
assert logs(c, "faulty", Filter={"RetCode": "not0"})["TotalCount"] == 3
assert logs(c, "faulty", Filter={"RetCode": "is0"})["TotalCount"] == 4
tle = logs(c, "faulty", Filter={"RetCode": "TimeLimitExceeded"})["Data"]
assert len(tle) == 1 and "timed out" in tle[0]["RetMsg"], tle
assert logs(c, "faulty", Filter={"RetCode": "UserCodeException"})["TotalCount"] == 2
page = logs(c, "faulty", Offset=2, Limit=2)
assert page["TotalCount"] == 7 and len(page["Data"]) == 2, page
assert page["Data"][0]["RequestId"] == all_logs["Data"][2]["RequestId"]
by_duration = logs(c, "faulty", OrderBy="duration", Order="desc")["Data"]
assert by_duration[0]["RetCode"] == 433, by_duration[0]
st = asc[0]["StartTime"]
assert len(st) == len("2024-01-01 00:00:00.000"), st
import datetime  # noqa: E402
later = (datetime.datetime.strptime(st[:19], "%Y-%m-%d %H:%M:%S")
         + datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
window = logs(c, "faulty", StartTime=st[:19], EndTime=later)
assert window["TotalCount"] == 7, window["TotalCount"]
expect_call_error("InvalidParameterValue.StartTime", c, "GetFunctionLogs",
                  {"FunctionName": "faulty", "StartTime": "2020-01-01 00:00:00",
                   "EndTime": "2020-01-03 00:00:00"})
expect_call_error("InvalidParameterValue.RetCode", c, "GetFunctionLogs",
                  {"FunctionName": "faulty", "Filter": {"RetCode": "sometimes"}})
future = logs(c, "faulty", StartTime="2099-01-01 00:00:00", EndTime="2099-01-01 12:00:00")
assert future["TotalCount"] == 0, future
# The typed SDK model parses the answer.
from tencentcloud.scf.v20180416 import models  # noqa: E402
req = models.GetFunctionLogsRequest()
req.FunctionName = "faulty"
req.Limit = 1
typed = c.GetFunctionLogs(req)
assert typed.TotalCount == 7 and typed.Data[0].RetCode == 0 and typed.Data[0].Log, typed

# ---- import errors, code updates ------------------------------------------------------------
create(c, "broken", {"index.py": "import not_installed_anywhere\n"})
for _ in range(2):
    err = json.loads(invoke(c, "broken")["ErrMsg"])
    assert "Failed to import module 'index'" in err["errorMessage"], err
call(c, "UpdateFunctionCode", {"FunctionName": "broken", "Handler": "index.main_handler",
                               "Code": {"ZipFile": zip_b64({"index.py":
                                   "def main_handler(e, c):\n    return 'fixed'\n"})}})
wait_status(c, "broken", "Active")
assert ret(invoke(c, "broken")) == "fixed"
call(c, "UpdateFunctionConfiguration", {"FunctionName": "echo",
                                        "Environment": {"Variables": [{"Key": "GREETING",
                                                                       "Value": "changed"}]}})
wait_status(c, "echo", "Active")
v = ret(invoke(c, "echo"))
assert v["env"]["GREETING"] == "changed" and v["pid"] != pid, v

# ---- temporary credentials from inside a function: control plane and COS --------------------
INSIDE = '''
import json, os
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.scf.v20180416 import scf_client

def main_handler(event, context):
    cred = credential.Credential(os.environ["TENCENTCLOUD_SECRETID"],
                                 os.environ["TENCENTCLOUD_SECRETKEY"],
                                 os.environ["TENCENTCLOUD_SESSIONTOKEN"])
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=os.environ["LOCAL_API"], protocol="http"))
    client = scf_client.ScfClient(cred, os.environ["TENCENTCLOUD_REGION"], profile)
    names = [f["FunctionName"] for f in json.loads(client.call("ListFunctions", {"Limit": 100}))["Response"]["Functions"]]
    conf = CosConfig(Region=os.environ["TENCENTCLOUD_REGION"])  # no keys: the role's
    cos = CosS3Client(conf)
    # Code that passes its own keys keeps them (and gets no token); positional arguments work.
    own = CosConfig(None, "ap-shanghai", "AKIDmine", "mykey")
    assert own._secret_id == "AKIDmine" and own._token is None and own._ip == "127.0.0.1", own
    assert own.get_host(Bucket="b-1250000000") == "b-1250000000.cos.ap-shanghai.myqcloud.com"
    out = {"functions": names, "ip": conf._ip, "port": conf._port, "scheme": conf._scheme,
           "token_set": conf._token == os.environ["TENCENTCLOUD_SESSIONTOKEN"],
           "host": conf.get_host(Bucket=event["bucket"])}
    try:
        cos.put_object(Bucket=event["bucket"], Key="from-function.txt", Body=b"written inside")
        out["put"] = "ok"
    except CosServiceError as e:
        out["put"] = "status %s" % e.get_status_code()
    # The role's policy covers the stack's bucket only.
    try:
        cos.put_object(Bucket=event["other"], Key="x.txt", Body=b"not allowed")
        out["other"] = "ok"
    except CosServiceError as e:
        out["other"] = "%s %s" % (e.get_status_code(), e.get_error_code())
    return out
'''
have_cos = cos_bucket()
create(c, "inside", {"index.py": INSIDE}, env={"LOCAL_API": ENDPOINT}, timeout=10,
       role=role("inside-role"))
v = ret(invoke(c, "inside", {"bucket": BUCKET, "other": "other-%d" % APPID}))
assert "inside" in v["functions"] and "echo" in v["functions"], v
assert v["ip"] == "127.0.0.1" and v["port"] == int(ENDPOINT.rsplit(":", 1)[1]), v
assert v["scheme"] == "http" and v["token_set"], v
assert v["host"] == "%s.cos.%s.myqcloud.com" % (BUCKET, REGION), v
if have_cos:
    assert v["put"] == "ok", v
    assert v["other"] == "403 AccessDenied", v
    body = cos().get_object(Bucket=BUCKET, Key="from-function.txt")["Body"].get_raw_stream().read()
    assert body == b"written inside", body
else:
    # The request reached the local cloud (a skeleton COS answers 404), not the Internet.
    assert v["put"] == "status 404", v

# ---- without an execution role, a function gets no credentials (as in SCF) -----------------
create(c, "norole", {"index.py": ECHO}, timeout=5)
env = ret(invoke(c, "norole"))["env"]
for k in ("TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRETKEY", "TENCENTCLOUD_SESSIONTOKEN"):
    assert env[k] is None, env

# ---- initialisation: bounded by InitTimeout, not by the invocation's Timeout -----------------
SLOW_IMPORT = '''
import os, time
print("loading")
time.sleep(%s)
def main_handler(event, context):
    return os.getpid()
'''
create(c, "slowload", {"index.py": SLOW_IMPORT % 2}, timeout=1)
assert call(c, "GetFunction", {"FunctionName": "slowload"})["InitTimeout"] == 65
r = invoke(c, "slowload")
assert r["InvokeResult"] == 0, r  # a 2 s import with a 1 s Timeout
assert "loading" in r["Log"] and r["Duration"] < 1000, r
create(c, "slowinit", {"index.py": SLOW_IMPORT % 3}, timeout=10)
call(c, "UpdateFunctionConfiguration", {"FunctionName": "slowinit", "InitTimeout": 1})
wait_status(c, "slowinit", "Active")
assert call(c, "GetFunction", {"FunctionName": "slowinit"})["InitTimeout"] == 1
for _ in range(2):  # each invocation retries the initialisation
    r = invoke(c, "slowinit")
    err = json.loads(r["ErrMsg"])
    assert err["statusCode"] == 446 and r["InvokeResult"] == 446, r
    assert err["errorMessage"] == \
        "Function initialization timed out after 1 seconds (InitTimeout)", err
    assert "loading" in r["Log"], r
assert logs(c, "slowinit", Filter={"RetCode": "TimeLimitExceeded"})["TotalCount"] == 2
expect_call_error("InvalidParameterValue.InitTimeout", c, "UpdateFunctionConfiguration",
                  {"FunctionName": "slowinit", "InitTimeout": 0})

# ---- errors that are not the function's ------------------------------------------------------
expect_call_error("ResourceNotFound.Function", c, "Invoke", {"FunctionName": "ghost"})
expect_call_error("ResourceNotFound.Function", c, "GetFunctionLogs", {"FunctionName": "ghost"})
print("runtime invoke ok")
