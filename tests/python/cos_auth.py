"""Authentication through the official SDK. Usage: cos_auth.py MODE
MODE is one of: wrong-key, unknown-id, expired, future, other-appid, no-auth, temporary
(needs CHATSTACK_TEST_TMP_ID/KEY/TOKEN), temporary-no-token, temporary-wrong-token, temporary-expired, query-sign."""

import os
import sys
import time

import requests
import qcloud_cos.cos_auth as cos_auth

from cos_common import APPID, bucket, check, client, done, expect_error, REGION

mode = sys.argv[1]
c = client()
b = bucket()
c.create_bucket(Bucket=b)
c.put_object(Bucket=b, Key="k", Body=b"v")


class ShiftedTime:
    """Makes the SDK sign with a clock `shift` seconds off."""

    def __init__(self, shift):
        self.shift = shift

    def time(self):
        return time.time() + self.shift


def tmp_client(token):
    return client(os.environ["CHATSTACK_TEST_TMP_ID"], os.environ["CHATSTACK_TEST_TMP_KEY"], token)


if mode == "wrong-key":
    bad = client(secret_key="not-the-key")
    expect_error(lambda: bad.get_object(Bucket=b, Key="k"), "SignatureDoesNotMatch", 403)
    expect_error(lambda: bad.put_object(Bucket=b, Key="k2", Body=b"x"), "SignatureDoesNotMatch", 403)
    expect_error(lambda: bad.list_objects(Bucket=b), "SignatureDoesNotMatch", 403)
elif mode == "unknown-id":
    bad = client(secret_id=os.environ.get("CHATSTACK_TEST_OTHER_ID", "AKIDnobodyknowsthisone"))
    expect_error(lambda: bad.get_object(Bucket=b, Key="k"), "InvalidAccessKeyId", 403)
elif mode == "expired":
    cos_auth.time = ShiftedTime(-20000)
    e = expect_error(lambda: c.get_object(Bucket=b, Key="k"), "AccessDenied", 403)
    check(e.get_error_msg() == "Request has expired", "expired message %r" % e.get_error_msg())
elif mode == "future":
    cos_auth.time = ShiftedTime(+3600)
    expect_error(lambda: c.get_object(Bucket=b, Key="k"), "RequestTimeTooSkewed", 403)
elif mode == "other-appid":
    other = "chat-1250000001"
    expect_error(lambda: c.create_bucket(Bucket=other), "AccessDenied", 403)
    expect_error(lambda: c.get_object(Bucket=other, Key="k"), "AccessDenied", 403)
    expect_error(lambda: c.list_objects(Bucket=other), "AccessDenied", 403)
elif mode == "no-auth":
    host, port = os.environ["CHATSTACK_TEST_ENDPOINT"].rsplit(":", 1)
    r = requests.get("http://%s:%s/k" % (host, port), headers={"Host": "%s.cos.%s.myqcloud.com" % (b, REGION)})
    check(r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, "anonymous GET: %s %s" % (r.status_code, r.text))
    check(r.headers.get("Content-Type") == "application/xml", "error Content-Type %r" % r.headers.get("Content-Type"))
    check("x-cos-request-id" in r.headers, "x-cos-request-id on errors")
elif mode == "temporary":
    t = tmp_client(os.environ["CHATSTACK_TEST_TMP_TOKEN"])
    t.put_object(Bucket=b, Key="from-temp", Body=b"t")
    check(t.get_object(Bucket=b, Key="from-temp")["Body"].get_raw_stream().read() == b"t", "temp read back")
    check(len(t.list_objects(Bucket=b)["Contents"]) == 2, "temp list")
elif mode == "temporary-no-token":
    t = tmp_client(None)
    expect_error(lambda: t.get_object(Bucket=b, Key="k"), "InvalidToken", 400)
elif mode == "temporary-wrong-token":
    t = tmp_client("x" * 96)
    expect_error(lambda: t.get_object(Bucket=b, Key="k"), "InvalidToken", 400)
elif mode == "temporary-expired":
    t = tmp_client(os.environ["CHATSTACK_TEST_TMP_TOKEN"])
    expect_error(lambda: t.get_object(Bucket=b, Key="k"), "ExpiredToken", 400)
elif mode == "query-sign":
    # A presigned URL: the signature travels as q-sign-* query parameters.
    url = c.get_presigned_url(Bucket=b, Key="k", Method="GET", Expired=300, SignHost=False)
    r = requests.get(url, headers={"Host": "%s.cos.%s.myqcloud.com" % (b, REGION)})
    check(r.status_code == 200 and r.content == b"v", "presigned GET: %s %s" % (r.status_code, r.text))
    r = requests.get(url.replace("q-signature=", "q-signature=0"), headers={"Host": "%s.cos.%s.myqcloud.com" % (b, REGION)})
    check(r.status_code == 403, "tampered presigned GET: %s" % r.status_code)
else:
    sys.exit("unknown mode " + mode)

done(mode=mode)
