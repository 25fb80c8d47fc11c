"""Helpers for the runtime_*.py scripts: functions from in-memory zips, the local COS."""

import json
import time

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

from api3_common import APPID, ENDPOINT, REGION, SECRET_ID, SECRET_KEY, cam, call, wait_status, zip_b64

BUCKET = "chat-%d" % APPID

# A trust policy that lets SCF assume a role (as chatstack writes it).
SCF_TRUST = json.dumps({"version": "2.0", "statement": [{
    "action": "name/sts:AssumeRole", "effect": "allow",
    "principal": {"service": ["scf.qcloud.com"]}}]})


def role(name, bucket=BUCKET):
    """Creates execution role `name` for SCF with a policy for `bucket`'s objects (once)."""
    c = cam()
    try:
        call(c, "GetRole", {"RoleName": name})
        return name
    except Exception:
        pass
    call(c, "CreateRole", {"RoleName": name, "PolicyDocument": SCF_TRUST})
    doc = json.dumps({"version": "2.0", "statement": [{
        "effect": "allow", "action": ["name/cos:*"],
        "resource": ["qcs::cos:%s:uid/%d:%s/*" % (REGION, APPID, bucket)]}]})
    pid = call(c, "CreatePolicy", {"PolicyName": name + "-cos", "PolicyDocument": doc})["PolicyId"]
    call(c, "AttachRolePolicy", {"PolicyId": pid, "AttachRoleName": name})
    return name


def create(c, name, files, handler="index.main_handler", timeout=3, env=None, memory=128,
           role=None):
    """Creates a function; `role` names its execution role (without one it gets no credentials)."""
    params = {
        "FunctionName": name,
        "Runtime": "Python3.9",
        "Handler": handler,
        "Code": {"ZipFile": zip_b64(files)},
        "MemorySize": memory,
        "Timeout": timeout,
    }
    if role:
        params["Role"] = role
    if env:
        params["Environment"] = {"Variables": [{"Key": k, "Value": v} for k, v in env.items()]}
    call(c, "CreateFunction", params)
    wait_status(c, name, "Active")


def invoke(c, name, event=None, invocation_type=None):
    params = {"FunctionName": name, "ClientContext": json.dumps(event or {})}
    if invocation_type:
        params["InvocationType"] = invocation_type
    return call(c, "Invoke", params)["Result"]


def ret(result):
    """The return value of a successful invocation."""
    assert result["InvokeResult"] == 0 and result["ErrMsg"] == "", result
    return json.loads(result["RetMsg"])


def logs(c, name, **params):
    params["FunctionName"] = name
    return call(c, "GetFunctionLogs", params)


def wait_log(c, name, request_id, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        data = logs(c, name, FunctionRequestId=request_id)["Data"]
        if data:
            return data[0]
        assert time.time() < deadline, "no log for %s" % request_id
        time.sleep(0.1)


def cos():
    host, port = ENDPOINT.rsplit(":", 1)
    return CosS3Client(CosConfig(Region=REGION, SecretId=SECRET_ID, SecretKey=SECRET_KEY,
                                 IP=host, Port=int(port), Scheme="http"))


def cos_bucket():
    """Creates the test bucket; False when this tree's local COS answers 404 to everything."""
    client = cos()
    try:
        client.create_bucket(Bucket=BUCKET)
    except CosServiceError as e:
        if e.get_status_code() == 404:
            print("SKIP: the local COS answers 404 to everything in this tree; COS checks skipped")
            return False
        if e.get_error_code() not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return True
