"""Function states with a small latency profile (Creating/Updating 1.2 s, Deleting 0.8 s):
each state is observed, then settles; operations while not Active are refused."""

import time

from api3_common import (call, expect_call_error, function_params, scf, wait_gone, wait_status,
                         zip_b64)

c = scf()
name = "chat-states"

t0 = time.time()
call(c, "CreateFunction", function_params(name))
assert call(c, "GetFunction", {"FunctionName": name})["Status"] == "Creating"
expect_call_error("FailedOperation.UpdateFunctionCode", c, "UpdateFunctionCode",
                  {"FunctionName": name, "Code": {"ZipFile": zip_b64()}})
expect_call_error("FailedOperation.UpdateFunctionConfiguration", c,
                  "UpdateFunctionConfiguration", {"FunctionName": name, "Timeout": 5})
expect_call_error("FailedOperation.DeleteFunction", c, "DeleteFunction", {"FunctionName": name})
expect_call_error("FailedOperation.FunctionStatusError", c, "Invoke", {"FunctionName": name})
listed = call(c, "ListFunctions", {"Filters": [{"Name": "Status", "Values": ["Creating"]}]})
assert [f["FunctionName"] for f in listed["Functions"]] == [name], listed
assert wait_status(c, name, "Active") == ["Creating", "Active"]
assert time.time() - t0 >= 1.0, time.time() - t0

# Configuration update: Updating, a second update is refused, then Active with the change.
call(c, "UpdateFunctionConfiguration", {"FunctionName": name, "Timeout": 7})
assert call(c, "GetFunction", {"FunctionName": name})["Status"] == "Updating"
expect_call_error("FailedOperation.UpdateFunctionConfiguration", c,
                  "UpdateFunctionConfiguration", {"FunctionName": name, "Timeout": 8})
expect_call_error("FailedOperation.UpdateFunctionCode", c, "UpdateFunctionCode",
                  {"FunctionName": name, "Code": {"ZipFile": zip_b64()}})
expect_call_error("FailedOperation.DeleteFunction", c, "DeleteFunction", {"FunctionName": name})
assert wait_status(c, name, "Active") == ["Updating", "Active"]
assert call(c, "GetFunction", {"FunctionName": name})["Timeout"] == 7

# Code update: Updating, then Active.
call(c, "UpdateFunctionCode", {"FunctionName": name, "Code": {"ZipFile": zip_b64()}})
assert wait_status(c, name, "Active") == ["Updating", "Active"]

# Delete: Deleting (visible, still blocks the name), then gone.
t1 = time.time()
call(c, "DeleteFunction", {"FunctionName": name})
assert call(c, "GetFunction", {"FunctionName": name})["Status"] == "Deleting"
expect_call_error("FailedOperation.UpdateFunctionCode", c, "UpdateFunctionCode",
                  {"FunctionName": name, "Code": {"ZipFile": zip_b64()}})
expect_call_error("FailedOperation.DeleteFunction", c, "DeleteFunction", {"FunctionName": name})
expect_call_error("ResourceInUse.Function", c, "CreateFunction", function_params(name))
assert wait_gone(c, name) == ["Deleting"]
assert time.time() - t1 >= 0.6, time.time() - t1
assert call(c, "ListFunctions", {})["TotalCount"] == 0

print("states ok")
