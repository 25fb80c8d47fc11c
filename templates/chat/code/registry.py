# -*- coding: utf8 -*-
"""The connection registry: one COS object per open connection.

- Key: the `secConnectionID` percent-encoded (`quote(id, safe="")`). Ids are base64 and may
  start with `/`, which the COS SDK strips from a key: unencoded, `/abc==` would be listed as
  `abc==`, an id nobody has, and that connection would never receive anything.
- Body: JSON `{"name": "Alice", "joined": true}`. Register writes the default name with
  `joined: false`; a `hello` frame rewrites it with the chosen name and `joined: true`.
- The listing's `LastModified` tells how long an id has been registered (see chat.py, gone ids).

`bucket` may be written without the `-APPID` suffix (as in chatstack.yml): the account's APPID
(`TENCENTCLOUD_APPID`, set by SCF and the local cloud) is appended then. No keys are passed:
the function runs with its execution role's temporary credentials.
"""
import calendar
import json
import os
import re
import time
from collections import namedtuple
from urllib.parse import quote, unquote

from qcloud_cos import CosConfig, CosS3Client, CosServiceError

_name = os.environ["bucket"]
_appid = os.environ.get("TENCENTCLOUD_APPID")
BUCKET = _name if re.search(r"-\d{7,12}$", _name) or not _appid else "%s-%s" % (_name, _appid)
COS = CosS3Client(CosConfig(Region=os.environ.get("region") or os.environ.get("TENCENTCLOUD_REGION")))

# One registered connection: its id and when its object was last written (epoch seconds).
Connection = namedtuple("Connection", "id modified")


def _key(cid):
    return quote(cid, safe="")


def put(cid, name, joined):
    """Writes (or rewrites) the connection's object."""
    body = json.dumps({"name": name, "joined": bool(joined)}, ensure_ascii=False).encode("utf-8")
    COS.put_object(Bucket=BUCKET, Body=body, Key=_key(cid), EnableMD5=False,
                   ContentType="application/json")


def get(cid):
    """The connection's object body as a dict, or None when it has none (or no valid one)."""
    try:
        obj = COS.get_object(Bucket=BUCKET, Key=_key(cid))
    except CosServiceError as e:
        if e.get_status_code() == 404 or e.get_error_code() == "NoSuchKey":
            return None
        raise
    try:
        body = json.loads(obj["Body"].get_raw_stream().read().decode("utf-8"))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def remove(cid):
    COS.delete_object(Bucket=BUCKET, Key=_key(cid))


def _epoch(last_modified):
    """`2026-12-02T10:00:00.000Z` → epoch seconds (0 when unparsable: treated as old)."""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return calendar.timegm(time.strptime(last_modified, fmt))
        except (TypeError, ValueError):
            continue
    return 0


def connections():
    """Every registered connection (all pages of the listing, 1000 keys per page)."""
    out, marker = [], ""
    while True:
        page = COS.list_objects(Bucket=BUCKET, Marker=marker, MaxKeys=1000)
        contents = page.get("Contents") or []
        out.extend(Connection(unquote(c["Key"]), _epoch(c.get("LastModified"))) for c in contents)
        if page.get("IsTruncated") != "true" or not contents:
            return out
        marker = page.get("NextMarker") or contents[-1]["Key"]  # as listed (encoded)
