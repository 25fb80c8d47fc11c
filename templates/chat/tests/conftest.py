"""Test doubles for the chat functions: an in-memory COS and an in-memory gateway.

No network and no COS SDK needed: a fake `qcloud_cos` module is put in `sys.modules` before
the functions are imported, and the push-back sender (`pushback.push_all`) is replaced by a
gateway that delivers into per-connection inboxes and answers errNo 1 for ids that are not
connected, like the real one.
"""
import json
import os
import sys
import time
import types

import pytest

sys.dont_write_bytecode = True  # keep code/ free of __pycache__ (it is what gets deployed)
CODE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "code")
sys.path.insert(0, CODE)

os.environ.update(bucket="testchat-registry", region="ap-guangzhou", TENCENTCLOUD_APPID="1250000000")
os.environ.setdefault("PUSHBACK_URL", "http://127.0.0.1:9/api-test")


class CosServiceError(Exception):
    def __init__(self, status, code):
        super().__init__("%s %s" % (status, code))
        self._status, self._code = status, code

    def get_status_code(self):
        return self._status

    def get_error_code(self):
        return self._code


class _Body:
    def __init__(self, data):
        self._data = data

    def get_raw_stream(self):
        import io

        return io.BytesIO(self._data)


class FakeCos:
    """The few CosS3Client calls the registry makes, with COS's paging and the SDK's quirk of
    stripping a leading `/` from keys (which is why the registry percent-encodes them)."""

    def __init__(self, *args, **kwargs):
        self.objects = {}  # bucket -> {key: (body, mtime)}
        self.list_calls = 0

    @staticmethod
    def _k(key):
        return key.lstrip("/")

    def _b(self, bucket):
        return self.objects.setdefault(bucket, {})

    def put_object(self, Bucket, Body, Key, **kwargs):
        self._b(Bucket)[self._k(Key)] = (bytes(Body), time.time())
        return {"ETag": '"x"'}

    def get_object(self, Bucket, Key, **kwargs):
        try:
            body, _ = self._b(Bucket)[self._k(Key)]
        except KeyError:
            raise CosServiceError(404, "NoSuchKey")
        return {"Body": _Body(body)}

    def delete_object(self, Bucket, Key, **kwargs):
        self._b(Bucket).pop(self._k(Key), None)
        return {}

    def list_objects(self, Bucket, Marker="", MaxKeys=1000, **kwargs):
        self.list_calls += 1
        keys = sorted(k for k in self._b(Bucket) if k > Marker)
        page = keys[: min(MaxKeys, 1000)]
        out = {"IsTruncated": "true" if len(keys) > len(page) else "false"}
        if page:
            out["Contents"] = [
                {
                    "Key": k,
                    "LastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self._b(Bucket)[k][1])),
                }
                for k in page
            ]
        if out["IsTruncated"] == "true":
            out["NextMarker"] = page[-1]
        return out


sdk = types.ModuleType("qcloud_cos")
sdk.CosConfig = lambda **kwargs: kwargs
sdk.CosS3Client = FakeCos
sdk.CosServiceError = CosServiceError
sys.modules["qcloud_cos"] = sdk

import chat  # noqa: E402  (after the fake SDK is in place)
import cleanup  # noqa: E402
import pushback  # noqa: E402
import register  # noqa: E402
import registry  # noqa: E402
import transport  # noqa: E402


class Cloud:
    """The gateway + registry as the functions see them."""

    def __init__(self, cos):
        self.cos = cos
        self.open = set()  # admitted connections
        self.inbox = {}  # id -> [decoded frames]
        self.pushes = []  # (ids, decoded frame) per push_all call

    # the push-back endpoint
    def push_all(self, ids, data, data_type="text"):
        ids = list(ids)
        assert data_type == "text"
        frame = json.loads(data)
        self.pushes.append((ids, frame))
        out = {}
        for cid in ids:
            if cid in self.open:
                self.inbox.setdefault(cid, []).append(frame)
                out[cid] = 0
            else:
                out[cid] = 1
        return out

    # what the gateway does
    def connect(self, cid):
        reply = register.main_handler({"websocket": {"action": "connecting", "secConnectionID": cid}}, None)
        if reply["errNo"] == 0:
            self.open.add(cid)
        return reply

    def send(self, cid, data, data_type="text"):
        event = {"websocket": {"action": "data send", "secConnectionID": cid, "dataType": data_type, "data": data}}
        return transport.main_handler(event, None)

    def hello(self, cid, name):
        return self.send(cid, json.dumps({"type": "hello", "name": name}))

    def close(self, cid):
        self.open.discard(cid)
        return cleanup.main_handler({"websocket": {"action": "closing", "secConnectionID": cid}}, None)

    # looking inside
    def frames(self, cid, kind=None):
        return [f for f in self.inbox.get(cid, []) if kind is None or f["type"] == kind]

    def keys(self):
        return set(self.cos.objects.get(registry.BUCKET, {}))

    def body(self, cid):
        return json.loads(self.cos.objects[registry.BUCKET][registry._key(cid)][0])

    def age(self, cid, seconds):
        """Makes the connection's registry object `seconds` old."""
        objs = self.cos.objects[registry.BUCKET]
        key = registry._key(cid)
        objs[key] = (objs[key][0], time.time() - seconds)

    def clear(self):
        self.inbox.clear()
        self.pushes.clear()


@pytest.fixture
def cloud(monkeypatch):
    cos = FakeCos()
    monkeypatch.setattr(registry, "COS", cos)
    c = Cloud(cos)
    monkeypatch.setattr(pushback, "push_all", c.push_all)
    return c


def cid(n):
    """A gateway-like id (24 characters of base64)."""
    import base64

    return base64.b64encode(("conn-%011d" % n).encode()).decode()
