"""Shared helpers for the api3_*.py scripts: official SDK clients pointed at the local cloud,
error expectations, a raw TC3 request builder (for what the SDK cannot send), and test zips."""

import base64
import hashlib
import io
import json
import os
import time
import zipfile

import requests
from tencentcloud.apigateway.v20180808 import apigateway_client
from tencentcloud.cam.v20190116 import cam_client
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign
from tencentcloud.scf.v20180416 import scf_client

ENDPOINT = os.environ["CHATSTACK_TEST_ENDPOINT"]
SECRET_ID = os.environ["CHATSTACK_TEST_SECRET_ID"]
SECRET_KEY = os.environ["CHATSTACK_TEST_SECRET_KEY"]
APPID = int(os.environ["CHATSTACK_TEST_APPID"])
REGION = "ap-guangzhou"


def profile():
    return ClientProfile(httpProfile=HttpProfile(endpoint=ENDPOINT, protocol="http", reqTimeout=30))


def cred(secret_id=None, secret_key=None, token=None):
    return credential.Credential(secret_id or SECRET_ID, secret_key or SECRET_KEY, token)


def scf(c=None, region=REGION):
    return scf_client.ScfClient(c or cred(), region, profile())


def apigw(c=None, region=REGION):
    return apigateway_client.ApigatewayClient(c or cred(), region, profile())


def cam(c=None):
    return cam_client.CamClient(c or cred(), "", profile())


def call(client, action, params):
    """Calls `action` through the SDK's generic JSON entry point; returns `Response`."""
    return client.call_json(action, params)["Response"]


def expect_error(code, fn, *args, **kwargs):
    """Runs fn, which must raise a TencentCloudSDKException with exactly `code`."""
    try:
        got = fn(*args, **kwargs)
    except TencentCloudSDKException as e:
        assert e.get_code() == code, f"expected {code}, got {e.get_code()}: {e.get_message()}"
        assert e.get_request_id(), f"{code}: no RequestId"
        return e
    raise AssertionError(f"expected {code}, but the call succeeded: {got}")


def expect_call_error(code, client, action, params):
    return expect_error(code, call, client, action, params)


def make_zip(files=None):
    files = files or {"index.py": "def main_handler(event, context):\n    return 'ok'\n"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in sorted(files.items()):
            z.writestr(name, text)
    return buf.getvalue()


def zip_b64(files=None):
    return base64.b64encode(make_zip(files)).decode()


def function_params(name, **extra):
    p = {
        "FunctionName": name,
        "Runtime": "Python3.9",
        "Handler": "index.main_handler",
        "Code": {"ZipFile": zip_b64()},
        "MemorySize": 128,
        "Timeout": 3,
    }
    p.update(extra)
    return p


def wait_status(client, name, want, timeout=20.0):
    """Polls GetFunction until Status == want; returns the statuses seen (deduplicated)."""
    seen = []
    deadline = time.time() + timeout
    while True:
        st = call(client, "GetFunction", {"FunctionName": name})["Status"]
        if not seen or seen[-1] != st:
            seen.append(st)
        if st == want:
            return seen
        assert time.time() < deadline, f"{name}: still {st} (seen {seen})"
        time.sleep(0.05)


def wait_gone(client, name, timeout=20.0):
    seen = []
    deadline = time.time() + timeout
    while True:
        try:
            st = call(client, "GetFunction", {"FunctionName": name})["Status"]
        except TencentCloudSDKException as e:
            assert e.get_code() == "ResourceNotFound.Function", e
            return seen
        if not seen or seen[-1] != st:
            seen.append(st)
        assert time.time() < deadline, f"{name}: still {st}"
        time.sleep(0.05)


def raw(service, action, body, *, version=None, region=REGION, secret_id=None, secret_key=None,
        token=None, timestamp=None, content_type="application/json", host=None,
        authorization=None, sign_date=None, signed_host=None, unsigned_payload=False,
        extra_headers=None):
    """Sends a hand-built, TC3-signed request (signature via the SDK's Sign.sign_tc3) and
    returns the requests.Response. `body` is bytes or a JSON-able object."""
    versions = {"scf": "2018-04-16", "apigateway": "2018-08-08", "cam": "2019-01-16"}
    version = version or versions.get(service, "2018-04-16")
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    date = sign_date or time.strftime("%Y-%m-%d", time.gmtime(ts))
    host = host or ENDPOINT
    canonical = "POST\n/\n\ncontent-type:%s\nhost:%s\n\ncontent-type;host\n%s" % (
        content_type, signed_host or host,
        hashlib.sha256(b"UNSIGNED-PAYLOAD" if unsigned_payload else payload).hexdigest())
    scope = "%s/%s/tc3_request" % (date, service)
    to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (
        ts, scope, hashlib.sha256(canonical.encode()).hexdigest())
    sig = Sign.sign_tc3(secret_key or SECRET_KEY, date, service, to_sign)
    headers = {
        "Host": host,
        "Content-Type": content_type,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(ts),
        "Authorization": authorization or (
            "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=content-type;host, Signature=%s"
            % (secret_id or SECRET_ID, scope, sig)),
    }
    if region:
        headers["X-TC-Region"] = region
    if token:
        headers["X-TC-Token"] = token
    if unsigned_payload:
        headers["X-TC-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    headers.update(extra_headers or {})
    return requests.post("http://%s/" % ENDPOINT, data=payload, headers=headers, timeout=30)


def raw_error(resp):
    """The (code, body) of an API 3.0 error answer, checking the envelope's transport rules."""
    assert resp.status_code == 200, resp.status_code
    assert resp.headers["Content-Type"] == "application/json", resp.headers["Content-Type"]
    body = resp.json()["Response"]
    assert body["RequestId"], body
    return body["Error"]["Code"], body
