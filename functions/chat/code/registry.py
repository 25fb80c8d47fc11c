# -*- coding: utf8 -*-
"""The connection registry: one COS object per open connection, keyed by its secConnectionID.

Keys are the ids percent-encoded (`quote(id, safe="")`): an id is base64 and may start with
`/`, which the COS SDK strips from a key (`/abc==` would be listed as `abc==`, an id nobody
has). The article's code has that bug: about one connection in 64 never receives anything.

`bucket` may be written without the `-APPID` suffix (as in the stack file); the account's APPID
(`TENCENTCLOUD_APPID`, set by SCF) is appended then. No keys are passed: like SCF, the function
runs with its execution role's temporary credentials.
"""
import os
import re
from urllib.parse import quote, unquote

from qcloud_cos import CosConfig, CosS3Client

_name = os.environ["bucket"]
_appid = os.environ.get("TENCENTCLOUD_APPID")
BUCKET = _name if re.search(r"-\d{7,12}$", _name) or not _appid else "%s-%s" % (_name, _appid)
COS = CosS3Client(CosConfig(Region=os.environ.get("region") or os.environ.get("TENCENTCLOUD_REGION")))


def add(cid):
    COS.put_object(Bucket=BUCKET, Body=b"websocket", Key=quote(cid, safe=""), EnableMD5=False)


def remove(cid):
    COS.delete_object(Bucket=BUCKET, Key=quote(cid, safe=""))


def online():
    """Every connection id in the registry (all pages of the listing)."""
    keys, marker = [], ""
    while True:
        page = COS.list_objects(Bucket=BUCKET, Marker=marker, MaxKeys=1000)
        contents = page.get("Contents") or []
        keys.extend(unquote(c["Key"]) for c in contents)
        if page.get("IsTruncated") != "true" or not contents:
            return keys
        marker = page.get("NextMarker") or contents[-1]["Key"]  # as listed (encoded)
