"""Writes (MODE=write) or checks (MODE=check) a fixed set of buckets and objects through the
official SDK, for the restart test: every byte, content type and metadata must come back.
Usage: cos_persist.py write|check"""

import hashlib
import sys

from cos_common import APPID, check, client, done, expect_error

mode = sys.argv[1]
c = client()
buckets = ["persist-a-%s" % APPID, "persist-b-%s" % APPID, "persist-empty-%s" % APPID]


def body(n, size):
    """Deterministic bytes: the same on both runs without storing them anywhere."""
    out, seed = bytearray(), hashlib.sha256(str(n).encode()).digest()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


objects = [
    # bucket index, key, size, content type, metadata
    (0, "hello.txt", 11, "text/plain", {"x-cos-meta-who": "world"}),
    (0, "消息/一 二.txt", 100, "text/plain; charset=utf-8", {"x-cos-meta-room": "lobby", "x-cos-meta-n": "2"}),
    (0, "big.bin", 3 * 1024 * 1024 + 7, "application/octet-stream", {}),
    (0, "empty", 0, "application/x-empty", {}),
    (1, "a/b/c.json", 4096, "application/json", {"x-cos-meta-v": "1"}),
    (1, "overwritten", 64, "text/plain", {"x-cos-meta-version": "2"}),
]

if mode == "write":
    for b in buckets:
        c.create_bucket(Bucket=b)
    for i, (bi, key, size, ctype, meta) in enumerate(objects):
        if key == "overwritten":
            c.put_object(Bucket=buckets[bi], Key=key, Body=b"first version", Metadata={"x-cos-meta-version": "1"})
        c.put_object(Bucket=buckets[bi], Key=key, Body=body(i, size), ContentType=ctype, Metadata=meta)
    c.put_object(Bucket=buckets[1], Key="deleted", Body=b"gone")
    c.delete_object(Bucket=buckets[1], Key="deleted")
    # An upload left in progress: its parts must survive the restart (and the orphan sweep).
    up = c.create_multipart_upload(Bucket=buckets[1], Key="in-progress", ContentType="text/csv")["UploadId"]
    c.upload_part(Bucket=buckets[1], Key="in-progress", Body=body(100, 1024 * 1024), PartNumber=1, UploadId=up)
    c.upload_part(Bucket=buckets[1], Key="in-progress", Body=b"end", PartNumber=2, UploadId=up)
elif mode == "check":
    for b in buckets:
        c.head_bucket(Bucket=b)
    for i, (bi, key, size, ctype, meta) in enumerate(objects):
        got = c.get_object(Bucket=buckets[bi], Key=key)
        data = got["Body"].get_raw_stream().read()
        check(data == body(i, size), "%s: body of %d bytes differs (got %d)" % (key, size, len(data)))
        check(got["Content-Type"] == ctype, "%s: Content-Type %r" % (key, got["Content-Type"]))
        check(got["ETag"] == '"%s"' % hashlib.md5(data).hexdigest(), "%s: ETag" % key)
        for k, v in meta.items():
            check(got.get(k) == v, "%s: %s = %r" % (key, k, got.get(k)))
    expect_error(lambda: c.get_object(Bucket=buckets[1], Key="deleted"), "NoSuchKey", 404)
    [upload] = c.list_multipart_uploads(Bucket=buckets[1])["Upload"]
    parts = c.list_parts(Bucket=buckets[1], Key="in-progress", UploadId=upload["UploadId"])["Part"]
    c.complete_multipart_upload(Bucket=buckets[1], Key="in-progress", UploadId=upload["UploadId"],
                                MultipartUpload={"Part": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]})
    got = c.get_object(Bucket=buckets[1], Key="in-progress")
    check(got["Body"].get_raw_stream().read() == body(100, 1024 * 1024) + b"end", "upload finished after restart")
    check(got["Content-Type"] == "text/csv", "upload kept its content type")
    listed = [o["Key"] for o in c.list_objects(Bucket=buckets[0])["Contents"]]
    check(listed == sorted((k for bi, k, *_ in objects if bi == 0), key=lambda k: k.encode()), "listing %r" % listed)
    check("Contents" not in c.list_objects(Bucket=buckets[2]), "empty bucket stays empty")
else:
    sys.exit("unknown mode " + mode)

done(mode=mode)
