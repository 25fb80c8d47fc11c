"""API 3.0 request checks: signatures, clock skew, credentials, envelope, routing errors.

argv: TEMP_ID TEMP_KEY TEMP_TOKEN EXPIRED_ID EXPIRED_KEY EXPIRED_TOKEN (temporary credentials
minted by the Rust test before the local cloud started)."""

import json
import sys
import time

import requests
from tencentcloud.cam.v20190116 import models as cam_models
from tencentcloud.common import abstract_client
from tencentcloud.scf.v20180416 import models as scf_models

from api3_common import (APPID, ENDPOINT, SECRET_ID, apigw, call, cam, cred, expect_call_error,
                         expect_error, raw, raw_error, scf)

temp_id, temp_key, temp_token, exp_id, exp_key, exp_token = sys.argv[1:7]

# CAM through the typed SDK model.
r = cam().GetUserAppId(cam_models.GetUserAppIdRequest())
assert r.AppId == APPID, r.AppId
assert r.Uin == "100000000001" and r.OwnerUin == "100000000001", (r.Uin, r.OwnerUin)
assert r.RequestId

# A good call through a typed model, and the exact response content type.
r = scf().ListFunctions(scf_models.ListFunctionsRequest())
assert r.TotalCount == 0 and r.Functions == [], r
resp = raw("scf", "ListFunctions", {})
assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
assert resp.json()["Response"]["TotalCount"] == 0

# Wrong key, unknown SecretId.
expect_call_error("AuthFailure.SignatureFailure", scf(cred(secret_key="wrong-key-0000")),
                  "ListFunctions", {})
expect_call_error("AuthFailure.SecretIdNotFound", scf(cred(secret_id="AKIDnobody")),
                  "ListFunctions", {})
expect_call_error("AuthFailure.SignatureFailure", apigw(cred(secret_key="nope")),
                  "DescribeServicesStatus", {})

# A timestamp 10 minutes old or ahead: the SDK's own clock, monkeypatched.
real_time = abstract_client.time.time
for skew in (-600, 600):
    abstract_client.time.time = lambda: real_time() + skew
    try:
        expect_call_error("AuthFailure.SignatureExpire", scf(), "ListFunctions", {})
    finally:
        abstract_client.time.time = real_time
# 4 minutes is within the 5-minute window.
code, body = raw_error(raw("scf", "GetFunction", {"FunctionName": "nope"},
                           timestamp=int(time.time()) - 240))
assert code == "ResourceNotFound.Function", body
# A scope date that is not the timestamp's UTC date.
code, _ = raw_error(raw("scf", "ListFunctions", {}, sign_date="2001-01-01"))
assert code == "AuthFailure.SignatureExpire", code

# Malformed or missing Authorization.
for bad in ("Bearer x", "TC3-HMAC-SHA256 Credential=x", "TC3-HMAC-SHA256"):
    code, _ = raw_error(raw("scf", "ListFunctions", {}, authorization=bad))
    assert code == "AuthFailure.InvalidAuthorization", (bad, code)
resp = requests.post("http://%s/" % ENDPOINT, data=b"{}",
                     headers={"Content-Type": "application/json", "X-TC-Action": "ListFunctions"})
assert raw_error(resp)[0] == "AuthFailure.InvalidAuthorization"

# The signature covers the received Host and Content-Type exactly.
code, _ = raw_error(raw("scf", "ListFunctions", {}, signed_host="scf.tencentcloudapi.com"))
assert code == "AuthFailure.SignatureFailure", code
# The host may be signed without its port, as the Node.js SDK signs it.
resp = raw("scf", "ListFunctions", {}, signed_host=ENDPOINT.split(":")[0])
assert "Error" not in resp.json()["Response"], resp.text
resp = raw("scf", "ListFunctions", {}, content_type="application/json; charset=utf-8")
assert "Error" not in resp.json()["Response"], resp.text
# ... and the received body bytes (raw UTF-8, compact, not the SDK's \u escapes).
utf8 = json.dumps({"SearchKey": "聊天"}, ensure_ascii=False, separators=(",", ":")).encode()
resp = raw("scf", "ListFunctions", utf8)
assert resp.json()["Response"]["TotalCount"] == 0, resp.text
# UNSIGNED-PAYLOAD hashes the literal string instead of the body.
resp = raw("scf", "ListFunctions", b"{}", extra_headers={"X-TC-Content-SHA256": "UNSIGNED-PAYLOAD"})
assert raw_error(resp)[0] == "AuthFailure.SignatureFailure"
resp = raw("scf", "ListFunctions", b'{"Limit": 5}', unsigned_payload=True)
assert resp.json()["Response"]["TotalCount"] == 0, resp.text

# Temporary credentials: the token is required and must match; expired ones are refused.
r = call(scf(cred(temp_id, temp_key, temp_token)), "ListFunctions", {})
assert r["TotalCount"] == 0
expect_call_error("AuthFailure.TokenFailure", scf(cred(temp_id, temp_key)), "ListFunctions", {})
expect_call_error("AuthFailure.TokenFailure", scf(cred(temp_id, temp_key, "bad-token")),
                  "ListFunctions", {})
expect_call_error("AuthFailure.TokenFailure", scf(cred(exp_id, exp_key, exp_token)),
                  "ListFunctions", {})
# The permanent pair ignores a token.
call(scf(cred(token="whatever")), "ListFunctions", {})

# Action, version, region, product, parameters.
expect_call_error("InvalidAction", scf(), "DescribeInstances", {})
expect_call_error("InvalidAction", apigw(), "GetFunction", {})
code, _ = raw_error(raw("scf", "ListFunctions", {}, version="2017-01-01"))
assert code == "NoSuchVersion", code
code, _ = raw_error(raw("scf", "ListFunctions", {}, region=None))
assert code == "MissingParameter", code
code, _ = raw_error(raw("cvm", "DescribeInstances", {}, version="2017-03-12"))
assert code == "NoSuchProduct", code
# A scope naming no product of ours (the Node.js SDK's `127` for 127.0.0.1:PORT): X-TC-Version
# names it.
resp = raw("127", "ListFunctions", {}, version="2018-04-16")
assert "Error" not in resp.json()["Response"], resp.text
code, _ = raw_error(raw("scf", "ListFunctions", b"{not json"))
assert code == "InvalidParameter", code
code, _ = raw_error(raw("scf", "ListFunctions", b"[1, 2]"))
assert code == "InvalidParameter", code
expect_call_error("InvalidParameter", scf(), "GetFunction", {"FunctionName": 5})
expect_call_error("MissingParameter", scf(), "GetFunction", {})
# CAM needs no region.
resp = raw("cam", "GetUserAppId", {}, region=None)
assert resp.json()["Response"]["AppId"] == APPID, resp.text

# Not API 3.0 at all.
resp = requests.get("http://%s/no/such/path" % ENDPOINT)
assert resp.status_code == 404 and resp.headers["Content-Type"] == "application/json"
assert resp.json()["Response"]["Error"]["Code"] == "ResourceNotFound"
resp = requests.get("http://%s/" % ENDPOINT)
assert raw_error(resp)[0] == "UnsupportedProtocol"

print("auth ok")
