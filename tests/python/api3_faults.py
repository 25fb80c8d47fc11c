"""A fixed sequence of calls under fault injection; prints one line per outcome so the Rust
test can compare runs. A dropped CreateService is checked afterwards: it took effect."""

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from api3_common import apigw, call, cam

out = []


def attempt(label, fn):
    try:
        fn()
        out.append("%s ok" % label)
        return "ok"
    except TencentCloudSDKException as e:
        code = "dropped" if e.get_code() == "ClientNetworkError" else e.get_code()
        out.append("%s %s" % (label, code))
        return code


c = cam()
g = apigw()
for i in range(40):
    attempt("cam%d" % i, lambda: call(c, "GetUserAppId", {}))
for i in range(12):
    name = "svc%02d" % i
    r = attempt("create " + name,
                lambda: call(g, "CreateService", {"ServiceName": name, "Protocol": "http"}))
    if r == "dropped":
        while True:
            try:
                res = call(g, "DescribeServicesStatus",
                           {"Filters": [{"Name": "ServiceName", "Values": [name]}]})
                break
            except TencentCloudSDKException as e:
                out.append("  check %s" % e.get_code())
        out.append("  acted-despite-drop" if res["Result"]["TotalCount"] == 1 else "  not-acted")
print("\n".join(out))
