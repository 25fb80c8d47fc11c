"""A function calls another through the API 3.0 Python SDK, as SCF code does: its execution
role's temporary credentials, the in-function endpoint `scf.internal.tencentcloudapi.com`
(which the worker's hook connects to the local cloud), InvokeFunction; and through
tencentserverless's `scf.invoke`, which picks that endpoint itself from TENCENTCLOUD_RUNENV=SCF.

The SDK (tencentcloud common and scf, and tencentserverless) ships in the caller's zip, copied
from this interpreter's packages: SCF's Python images preinstall tencentcloud-sdk-python, but the
local interpreter need not have it, and the function must show it used its own copy."""

import json
import os

import tencentcloud
import tencentserverless

from api3_common import call, cam, scf
from runtime_common import SCF_TRUST, create, invoke, ret

CALLER = """
import json, os
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.scf.v20180416 import models, scf_client


def main_handler(event, context):
    cred = credential.Credential(os.environ["TENCENTCLOUD_SECRETID"],
                                 os.environ["TENCENTCLOUD_SECRETKEY"],
                                 os.environ["TENCENTCLOUD_SESSIONTOKEN"])
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=event["endpoint"]))
    client = scf_client.ScfClient(cred, os.environ["TENCENTCLOUD_REGION"], profile)
    req = models.InvokeFunctionRequest()
    req.FunctionName = event["callee"]
    req.Event = json.dumps({"via": "sdk"})
    out = {"sdk": json.loads(client.InvokeFunction(req).Result.RetMsg),
           "sdk_file": credential.__file__}
    from tencentserverless import scf
    out["serverless"] = json.loads(scf.invoke(event["callee"], data={"via": "tencentserverless"}))
    return out
"""

CALLEE = """
def main_handler(event, context):
    return {"got": event.get("via")}
"""


def package_files(module, under):
    """`{path in zip: text}` for every .py file of package `module`'s directory `under`."""
    root = os.path.dirname(os.path.dirname(module.__file__))
    files = {}
    for rel in under:
        base = os.path.join(root, rel)
        if base.endswith(".py"):
            files[rel] = open(base, encoding="utf-8").read()
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    files[os.path.relpath(path, root)] = open(path, encoding="utf-8").read()
    return files


files = {"index.py": CALLER}
files.update(package_files(tencentcloud, ["tencentcloud/__init__.py", "tencentcloud/common",
                                          "tencentcloud/scf/__init__.py", "tencentcloud/scf/v20180416"]))
files.update(package_files(tencentserverless, ["tencentserverless"]))

call(cam(), "CreateRole", {"RoleName": "caller-role", "PolicyDocument": SCF_TRUST})
c = scf()
create(c, "callee", {"index.py": CALLEE})
create(c, "caller", files, role="caller-role", timeout=30)

for endpoint in ["scf.internal.tencentcloudapi.com", "scf.tencentcloudapi.com"]:
    out = ret(invoke(c, "caller", {"callee": "callee", "endpoint": endpoint}))
    assert out["sdk"] == {"got": "sdk"}, out
    assert out["serverless"] == {"got": "tencentserverless"}, out
    # The function's own copy, from its code directory, not this interpreter's.
    assert not out["sdk_file"].startswith(os.path.dirname(os.path.dirname(tencentcloud.__file__))), out

print("sdk in function ok")
