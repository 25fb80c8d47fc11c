"""Shared set-up for the COS referee scripts: the official SDK (qcloud_cos) in IP/Port mode,
pointed at the local cloud from CHATSTACK_TEST_ENDPOINT."""

import json
import os
import sys
import uuid

from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

REGION = "ap-guangzhou"
APPID = os.environ["CHATSTACK_TEST_APPID"]


def client(secret_id=None, secret_key=None, token=None, region=REGION):
    host, port = os.environ["CHATSTACK_TEST_ENDPOINT"].rsplit(":", 1)
    conf = CosConfig(
        Region=region,
        SecretId=secret_id or os.environ["CHATSTACK_TEST_SECRET_ID"],
        SecretKey=secret_key or os.environ["CHATSTACK_TEST_SECRET_KEY"],
        Token=token,
        IP=host,
        Port=int(port),
        Scheme="http",
    )
    # No retries: an emulator error must surface, not be papered over.
    return CosS3Client(conf, retry=0)


def bucket(name=None):
    """A fresh bucket name with the account's APPID suffix."""
    return "%s-%s" % (name or "t" + uuid.uuid4().hex[:12], APPID)


def expect_error(fn, code, status):
    """Runs fn, which must fail with COS error `code` and HTTP `status`; returns the error."""
    try:
        fn()
    except CosServiceError as e:
        got = (e.get_error_code(), e.get_status_code())
        check(got == (code, status), "expected %s %s, got %s %s: %s" % (code, status, got[0], got[1], e.get_error_msg()))
        return e
    fail("expected %s %s, the call succeeded" % (code, status))


def check(cond, message):
    if not cond:
        fail(message)


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def done(**results):
    results["ok"] = True
    print(json.dumps(results, ensure_ascii=False))
