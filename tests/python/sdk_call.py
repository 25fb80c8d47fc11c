"""Calls one API 3.0 action through the official SDK's CommonClient and prints the response.

Usage: sdk_call.py SERVICE VERSION ACTION JSON_PARAMS [REGION]
Endpoint and keys come from CHATSTACK_TEST_ENDPOINT / _SECRET_ID / _SECRET_KEY. On an API
error it prints {"Error": {"Code", "Message"}} and still exits 0, so tests can assert codes.
"""

import json
import os
import sys

from tencentcloud.common import credential
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

service, version, action, params = sys.argv[1:5]
region = sys.argv[5] if len(sys.argv) > 5 else "ap-guangzhou"
cred = credential.Credential(os.environ["CHATSTACK_TEST_SECRET_ID"], os.environ["CHATSTACK_TEST_SECRET_KEY"])
profile = ClientProfile(httpProfile=HttpProfile(endpoint=os.environ["CHATSTACK_TEST_ENDPOINT"], protocol="http"))
client = CommonClient(service, version, cred, region, profile=profile)
try:
    resp = client.call_json(action, json.loads(params))
    print(json.dumps(resp["Response"]))
except TencentCloudSDKException as e:
    print(json.dumps({"Error": {"Code": e.code, "Message": e.message}}))
