"""Everything in the local cloud's account, counted through the official SDKs (the referee for
the deploy campaigns in tests/deploy_faults.rs and tests/deploy_concurrency.rs).

Usage: stack_census.py [BUCKET ...]
Prints one JSON document:
  {"functions": [{"name", "status", "env": {K: V}, "tags": {K: V}}...],
   "services": [{"id", "name", "tags": {K: V}, "released": [env...],
                 "apis": [{"id", "path", "protocol", "internalDomain"}...]}...],
   "buckets": {BUCKET: null | {"objects": N}}}
Reads only, so a call the cloud's fault injection fails (a retryable code, or a lost response)
is resent, up to 30 times; "retries" in the output counts those resends.
"""

import json
import sys
import time

import requests
from qcloud_cos.cos_exception import CosServiceError

import cos_common
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from api3_common import apigw, scf

RETRYABLE = ("RequestLimitExceeded", "InternalError", "FailedOperation.ServiceInOperation",
             "FailedOperation.ApiInOperation", "ClientNetworkError", "ServerNetworkError")
retries = 0


def call(client, action, params):
    """`action` through the SDK's generic JSON entry point, resent after a retryable failure."""
    global retries
    for attempt in range(30):
        try:
            return client.call_json(action, params)["Response"]
        except TencentCloudSDKException as e:
            code = e.get_code() or ""
            if attempt == 29 or not (code.startswith(RETRYABLE) or "Network" in code):
                raise
            retries += 1
            time.sleep(0.02)
        except requests.exceptions.RequestException:
            if attempt == 29:
                raise
            retries += 1
            time.sleep(0.02)

s = scf()
g = apigw()

functions = []
offset = 0
while True:
    page = call(s, "ListFunctions", {"Offset": offset, "Limit": 100})
    for f in page["Functions"]:
        try:
            d = call(s, "GetFunction", {"FunctionName": f["FunctionName"], "Namespace": f.get("Namespace") or "default"})
        except TencentCloudSDKException as e:
            # Listed while Deleting, gone by the time it is read.
            if (e.get_code() or "").startswith("ResourceNotFound"):
                continue
            raise
        functions.append({
            "name": d["FunctionName"],
            "status": d["Status"],
            "env": {v["Key"]: v["Value"] for v in (d.get("Environment") or {}).get("Variables") or []},
            "tags": {t["Key"]: t["Value"] for t in d.get("Tags") or []},
        })
    offset += len(page["Functions"])
    if not page["Functions"] or offset >= page["TotalCount"]:
        break

services = []
offset = 0
while True:
    page = call(g, "DescribeServicesStatus", {"Offset": offset, "Limit": 100})["Result"]
    for summary in page["ServiceSet"] or []:
        sid = summary["ServiceId"]
        d = call(g, "DescribeService", {"ServiceId": sid})
        envs = call(g, "DescribeServiceEnvironmentList", {"ServiceId": sid})["Result"]["EnvironmentList"] or []
        apis = []
        for a in d.get("ApiIdStatusSet") or []:
            info = call(g, "DescribeApi", {"ServiceId": sid, "ApiId": a["ApiId"]})["Result"]
            apis.append({
                "id": a["ApiId"],
                "path": a["Path"],
                "protocol": a["Protocol"],
                "internalDomain": info.get("InternalDomain") or "",
            })
        services.append({
            "id": sid,
            "name": d["ServiceName"],
            "tags": {t["Key"]: t["Value"] for t in d.get("Tags") or []},
            "released": [e["EnvironmentName"] for e in envs if e.get("Status") == 1],
            "apis": apis,
        })
    offset += len(page["ServiceSet"] or [])
    if not page["ServiceSet"] or offset >= page["TotalCount"]:
        break

cos = cos_common.client()
buckets = {}
for name in sys.argv[1:]:
    try:
        cos.head_bucket(Bucket=name)
    except CosServiceError as e:
        if e.get_status_code() == 404:
            buckets[name] = None
            continue
        raise
    count = 0
    marker = ""
    while True:
        page = cos.list_objects(Bucket=name, Marker=marker, MaxKeys=1000)
        count += len(page.get("Contents") or [])
        if page.get("IsTruncated") != "true":
            break
        marker = page["NextMarker"]
    buckets[name] = {"objects": count}

print(json.dumps({"functions": functions, "services": services, "buckets": buckets, "retries": retries}))
