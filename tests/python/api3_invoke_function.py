"""InvokeFunction against the local cloud through the official SDK's typed models: the event as
a JSON string, `$DEFAULT`, `LogType` Tail and None, a function error in the cloud's three places
(RetMsg's JSON, ErrMsg, InvokeResult), and the refusals."""

import json

from tencentcloud.scf.v20180416 import models

from api3_common import call, expect_call_error, function_params, scf, zip_b64

c = scf()
code = {
    "index.py": "def main_handler(event, context):\n    print('got', event['n'])\n"
                "    if event.get('fail'):\n        raise ValueError('bad n %d' % event['n'])\n"
                "    return {'twice': event['n'] * 2}\n",
}
call(c, "CreateFunction", function_params("echo", Code={"ZipFile": zip_b64(code)}))


def invoke(**fields):
    req = models.InvokeFunctionRequest()
    req.from_json_string(json.dumps({"FunctionName": "echo", **fields}))
    return c.InvokeFunction(req).Result


r = invoke(Event=json.dumps({"n": 21}), LogType="Tail")
assert json.loads(r.RetMsg) == {"twice": 42}, r.RetMsg
assert r.ErrMsg == "" and r.InvokeResult == 0, (r.ErrMsg, r.InvokeResult)
assert "got 21" in r.Log and r.FunctionRequestId in r.Log, r.Log
assert r.Duration >= 0 and r.BillDuration >= r.Duration and r.MemUsage > 0

r = invoke(Event=json.dumps({"n": 1}), Qualifier="$DEFAULT")
assert json.loads(r.RetMsg) == {"twice": 2} and r.Log == "", (r.RetMsg, r.Log)

r = invoke(Event=json.dumps({"n": 7, "fail": True}))
err = json.loads(r.RetMsg)
assert err["errorCode"] == 1 and err["statusCode"] == 430, err
assert "bad n 7" in err["errorMessage"] and "ValueError" in err["stackTrace"], err
assert "bad n 7" in r.ErrMsg and r.InvokeResult == 430, (r.ErrMsg, r.InvokeResult)

for code_, fields in [
    ("InvalidParameterValue.LogType", {"Event": "{}", "LogType": "All"}),
    ("InvalidParameter.Payload", {"Event": "not json"}),
    ("InvalidParameterValue.RoutingKey", {"Event": "{}", "RoutingKey": "[1]"}),
    ("InvalidParameter.RequestTooLarge", {"Event": json.dumps({"pad": "x" * (6 * 1024 * 1024)})}),
]:
    expect_call_error(code_, c, "InvokeFunction", {"FunctionName": "echo", **fields})
expect_call_error("ResourceNotFound.Function", c, "InvokeFunction", {"FunctionName": "nobody"})

print("invoke function ok")
