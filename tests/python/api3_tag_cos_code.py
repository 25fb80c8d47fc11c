"""Code from COS and tags through the tag service, against the local cloud, driven by the
official SDKs: CreateFunction/UpdateFunctionCode naming a zip in COS (uploaded with the COS
SDK), then ModifyResourceTags / DescribeResourceTagsByResourceIds (the SDK's CommonClient for
`tag` 2018-08-13) as GetFunction sees them."""

import hashlib

from tencentcloud.common.common_client import CommonClient

import cos_common
from api3_common import (APPID, REGION, call, cred, expect_call_error, function_params,
                         make_zip, profile, scf, wait_status)

c = scf()
tag = CommonClient("tag", "2018-08-13", cred(), REGION, profile=profile())
cos = cos_common.client()

# ---- code from COS ---------------------------------------------------------------------------
short = "code"
bucket = f"{short}-{APPID}"
cos.create_bucket(Bucket=bucket)
v1 = make_zip({"index.py": "def main_handler(event, context):\n    return 'v1'\n"})
v2 = make_zip({"index.py": "def main_handler(event, context):\n    return 'v2'\n"})
cos.put_object(Bucket=bucket, Key="pkgs/v1.zip", Body=v1)
cos.put_object(Bucket=bucket, Key="pkgs/v2.zip", Body=v2)

params = function_params("from-cos", Code={"CosBucketName": short, "CosObjectName": "/pkgs/v1.zip",
                                           "CosBucketRegion": REGION},
                         Tags=[{"Key": "chatstack:code-sha256", "Value": "one"}])
call(c, "CreateFunction", params)
wait_status(c, "from-cos", "Active")
f = call(c, "GetFunction", {"FunctionName": "from-cos"})
assert f["CodeSize"] == len(v1), f["CodeSize"]
r = call(c, "Invoke", {"FunctionName": "from-cos", "InvocationType": "RequestResponse"})
assert r["Result"]["RetMsg"] == '"v1"', r

call(c, "UpdateFunctionCode", {"FunctionName": "from-cos",
                               "Code": {"CosBucketName": short, "CosObjectName": "/pkgs/v2.zip"}})
wait_status(c, "from-cos", "Active")
r = call(c, "Invoke", {"FunctionName": "from-cos", "InvocationType": "RequestResponse"})
assert r["Result"]["RetMsg"] == '"v2"', r

for code, source in [
    ("ResourceNotFound.CosObject", {"CosBucketName": short, "CosObjectName": "/pkgs/none.zip"}),
    ("ResourceNotFound.CosObject", {"CosBucketName": "nobucket", "CosObjectName": "/pkgs/v1.zip"}),
    ("ResourceNotFound.CosObject",
     {"CosBucketName": short, "CosObjectName": "/pkgs/v1.zip", "CosBucketRegion": "ap-beijing"}),
    ("InvalidParameterValue.CosBucketName", {"CosBucketName": bucket, "CosObjectName": "/pkgs/v1.zip"}),
    ("InvalidParameterValue.Code", {"CosBucketName": short}),
]:
    expect_call_error(code, c, "UpdateFunctionCode", {"FunctionName": "from-cos", "Code": source})
cos.put_object(Bucket=bucket, Key="pkgs/junk.zip", Body=b"not a zip")
expect_call_error("InvalidParameterValue.ZipFile", c, "CreateFunction",
                  function_params("junk", Code={"CosBucketName": short, "CosObjectName": "/pkgs/junk.zip"}))

# ---- tags ------------------------------------------------------------------------------------
uin = call(__import__("api3_common").cam(), "GetUserAppId", {})["OwnerUin"]
resource = f"qcs::scf:{REGION}:uin/{uin}:namespace/default/function/from-cos"
call(c, "UpdateFunctionConfiguration", {"FunctionName": "from-cos", "Timeout": 5})
before = call(c, "GetFunction", {"FunctionName": "from-cos"})["Status"]
call(tag, "ModifyResourceTags", {
    "Resource": resource,
    "ReplaceTags": [{"TagKey": "chatstack:code-sha256", "TagValue": hashlib.sha256(v2).hexdigest()},
                    {"TagKey": "team", "TagValue": "chat"}],
})
f = call(c, "GetFunction", {"FunctionName": "from-cos"})
assert f["Status"] == before, (before, f["Status"])  # a tag is not configuration: no Updating
assert {t["Key"]: t["Value"] for t in f["Tags"]} == {
    "chatstack:code-sha256": hashlib.sha256(v2).hexdigest(), "team": "chat"}, f["Tags"]
call(tag, "ModifyResourceTags", {"Resource": resource, "DeleteTags": [{"TagKey": "team"}]})
d = call(tag, "DescribeResourceTagsByResourceIds", {
    "ServiceType": "scf", "ResourcePrefix": "namespace",
    "ResourceIds": ["default/function/from-cos"], "ResourceRegion": REGION})
assert [(t["TagKey"], t["ResourceId"]) for t in d["Tags"]] == [
    ("chatstack:code-sha256", "default/function/from-cos")], d
assert d["TotalCount"] == 1

for code, body in [
    ("InvalidParameterValue.ResourceDescriptionError", {"Resource": "from-cos",
                                                        "ReplaceTags": [{"TagKey": "a", "TagValue": "b"}]}),
    ("InvalidParameterValue.UinInvalid",
     {"Resource": f"qcs::scf:{REGION}:uin/1:namespace/default/function/from-cos",
      "ReplaceTags": [{"TagKey": "a", "TagValue": "b"}]}),
    ("ResourceNotFound.RecordNotFound",
     {"Resource": f"qcs::scf:{REGION}:uin/{uin}:namespace/default/function/nobody",
      "ReplaceTags": [{"TagKey": "a", "TagValue": "b"}]}),
    ("MissingParameter", {"Resource": resource}),
    ("InvalidParameterValue.DeleteTagsParamError", {"Resource": resource, "ReplaceTags": []}),
    ("InvalidParameterValue.TagKeyDuplicate",
     {"Resource": resource, "ReplaceTags": [{"TagKey": "a", "TagValue": "b"}],
      "DeleteTags": [{"TagKey": "a"}]}),
    ("InvalidParameterValue.TagValueEmpty",
     {"Resource": resource, "ReplaceTags": [{"TagKey": "a", "TagValue": ""}]}),
    ("LimitExceeded.TagNumPerRequest",
     {"Resource": resource, "ReplaceTags": [{"TagKey": f"k{i}", "TagValue": "v"} for i in range(11)]}),
]:
    expect_call_error(code, tag, "ModifyResourceTags", body)

print("tag and cos code ok")
