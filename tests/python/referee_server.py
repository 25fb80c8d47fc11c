"""A stand-in for Tencent Cloud that knows nothing of chatstack's code: it verifies every request
it receives with the official SDKs' own signing code, and answers as the cloud does for an
account where nothing is deployed.

Usage: referee_server.py SECRET_ID SECRET_KEY
Prints `PORT <n>` once listening. `GET /__summary` returns what it saw and verified, as JSON.

- API 3.0 requests (`POST /` with X-TC-Action) are checked with
  `tencentcloud.common.abstract_client.AbstractClient._get_tc3_signature`, the SDK's function,
  over the received method, body bytes, Content-Type and Host.
- COS requests (Host `{bucket}.cos.{region}.myqcloud.com`) are checked with
  `qcloud_cos.cos_auth.CosS3Auth`, fed the headers named in q-header-list and the received
  sign time.
"""

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import parse_qsl, unquote, urlsplit

from qcloud_cos import CosConfig
from qcloud_cos.cos_auth import CosS3Auth
from tencentcloud.common.abstract_client import AbstractClient

SECRET_ID, SECRET_KEY = sys.argv[1], sys.argv[2]
LOCK = threading.Lock()
SEEN = []  # {"kind","action","host","ok","why"}


class FakeReq:
    def __init__(self, method, data, header):
        self.method, self.uri, self.data, self.header = method, "/", data, header


def verify_tc3(method, headers, body):
    auth = headers.get("Authorization", "")
    try:
        cred = auth.split("Credential=")[1].split(",")[0]
        secret_id, date, service, term = cred.split("/")
        signature = auth.split("Signature=")[1].strip()
        signed = auth.split("SignedHeaders=")[1].split(",")[0]
    except Exception:
        return False, "malformed Authorization: %r" % auth
    if secret_id != SECRET_ID or term != "tc3_request" or signed != "content-type;host":
        return False, "unexpected credential or signed headers: %r" % auth
    ts = int(headers.get("X-TC-Timestamp", "0"))
    if abs(time.time() - ts) > 300:
        return False, "timestamp skew"
    if time.strftime("%Y-%m-%d", time.gmtime(ts)) != date:
        return False, "scope date %s is not the UTC date of %s" % (date, ts)
    req = FakeReq(method, body, {
        "Content-Type": headers.get("Content-Type"),
        "Host": headers.get("Host"),
        "X-TC-Timestamp": headers.get("X-TC-Timestamp"),
    })
    want = AbstractClient._get_tc3_signature(None, {}, req, date, service, SECRET_KEY)
    if want != signature:
        return False, "signature mismatch (sdk %s, got %s)" % (want, signature)
    return True, ""


def verify_cos(method, path, headers):
    auth = headers.get("Authorization", "")
    fields = dict(p.split("=", 1) for p in auth.split("&") if "=" in p)
    if fields.get("q-ak") != SECRET_ID:
        return False, "unexpected q-ak or malformed Authorization: %r" % auth
    start, end = (int(x) for x in fields["q-sign-time"].split(";"))
    if not start <= time.time() <= end:
        return False, "sign time does not cover now"
    names = [n for n in fields.get("q-header-list", "").split(";") if n]
    lower = {k.lower(): v for k, v in headers.items()}
    signed_headers = {n: lower[n] for n in names}
    split = urlsplit(path)
    params = dict(parse_qsl(split.query, keep_blank_values=True))
    param_names = [n for n in fields.get("q-url-param-list", "").split(";") if n]
    if sorted(param_names) != sorted(k.lower() for k in params):
        return False, "url param list %r does not cover the query %r" % (param_names, params)
    conf = CosConfig(Region="ap-guangzhou", SecretId=SECRET_ID, SecretKey=SECRET_KEY)
    auth_obj = CosS3Auth(conf, key=unquote(split.path), params=params, expire=end - start - 60)

    class R:
        pass

    r = R()
    r.method, r.url, r.headers = method, "http://" + lower["host"] + path, signed_headers
    with mock.patch("time.time", return_value=start + 60):
        auth_obj(r)
    want = dict(p.split("=", 1) for p in r.headers["Authorization"].split("&"))
    if want["q-signature"] != fields.get("q-signature"):
        return False, "signature mismatch (sdk %s, got %s)" % (want["q-signature"], fields.get("q-signature"))
    return True, ""


def api_response(action):
    rid = str(uuid.uuid4())
    if action == "GetUserAppId":
        return {"AppId": 1250000000, "Uin": "100000000001", "OwnerUin": "100000000001", "RequestId": rid}
    if action == "DescribeServicesStatus":
        return {"Result": {"TotalCount": 0, "ServiceSet": []}, "RequestId": rid}
    if action == "ListFunctions":
        return {"Functions": [], "TotalCount": 0, "RequestId": rid}
    code = "ResourceNotFound.Function" if action == "GetFunction" else "ResourceNotFound"
    return {"Error": {"Code": code, "Message": "not found"}, "RequestId": rid}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", ctype=None, extra=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = self.headers  # case-insensitive, as HTTP header names are
        host = headers.get("Host", "")
        if self.path == "/__summary":
            with LOCK:
                data = json.dumps(SEEN).encode()
            return self._send(200, data, "application/json")
        if ".cos." in host and host.split(":")[0].endswith(".myqcloud.com"):
            ok, why = verify_cos(self.command, self.path, headers)
            with LOCK:
                SEEN.append({"kind": "cos", "action": self.command, "host": host, "ok": ok, "why": why})
            rid = str(uuid.uuid4())
            xml = ("<?xml version='1.0' encoding='utf-8' ?><Error><Code>NoSuchBucket</Code>"
                   "<Message>The specified bucket does not exist.</Message><Resource>%s</Resource>"
                   "<RequestId>%s</RequestId><TraceId>%s</TraceId></Error>" % (host, rid, rid)).encode()
            return self._send(404, b"" if self.command == "HEAD" else xml, "application/xml",
                              {"x-cos-request-id": rid})
        action = headers.get("X-TC-Action", "")
        ok, why = verify_tc3(self.command, headers, body)
        with LOCK:
            SEEN.append({"kind": "api3", "action": action, "host": host, "ok": ok, "why": why})
        if not ok:
            resp = {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": why},
                    "RequestId": str(uuid.uuid4())}
        else:
            resp = api_response(action)
        self._send(200, json.dumps({"Response": resp}).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up after its first error closes its other connections mid-reply.
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
