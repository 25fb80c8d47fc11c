"""Buckets and objects through the official SDK: create/head/delete bucket, put/get/head/delete
object (Unicode keys, content type, metadata, Content-MD5), and the errors around them."""

import hashlib

from cos_common import bucket, check, client, done, expect_error, REGION

c = client()
b = bucket()

# Buckets.
expect_error(lambda: c.head_bucket(Bucket=b), "NoSuchResource", 404)
c.create_bucket(Bucket=b)
head = c.head_bucket(Bucket=b)
check(head.get("x-cos-bucket-region") == REGION, "HEAD Bucket region: %r" % head)
check("x-cos-request-id" in head, "x-cos-request-id on HEAD Bucket")
expect_error(lambda: c.create_bucket(Bucket=b), "BucketAlreadyOwnedByYou", 409)
expect_error(lambda: c.create_bucket(Bucket="BadName-" + b.rsplit("-", 1)[1]), "InvalidBucketName", 400)
expect_error(lambda: c.delete_bucket(Bucket=bucket()), "NoSuchBucket", 404)

# Objects.
key = "消息/一 二.txt"
body = "你好, 世界 hello".encode("utf-8")
put = c.put_object(
    Bucket=b,
    Key=key,
    Body=body,
    ContentType="text/plain; charset=utf-8",
    Metadata={"x-cos-meta-room": "lobby", "x-cos-meta-n": "7"},
    EnableMD5=True,
)
md5 = hashlib.md5(body).hexdigest()
check(put["ETag"] == '"%s"' % md5, "PUT ETag %r" % put["ETag"])

got = c.get_object(Bucket=b, Key=key)
data = got["Body"].get_raw_stream().read()
check(data == body, "GET body %r" % data)
check(got["Content-Type"] == "text/plain; charset=utf-8", "GET Content-Type %r" % got["Content-Type"])
check(got["Content-Length"] == str(len(body)), "GET Content-Length")
check(got["ETag"] == '"%s"' % md5, "GET ETag")
check(got["x-cos-meta-room"] == "lobby" and got["x-cos-meta-n"] == "7", "GET metadata %r" % got)
check(got["Last-Modified"].endswith(" GMT"), "Last-Modified %r" % got["Last-Modified"])
check("x-cos-request-id" in got, "x-cos-request-id on GET")

part = c.get_object(Bucket=b, Key=key, Range="bytes=0-5")
check(part["Body"].get_raw_stream().read() == body[:6], "ranged GET")
check(part["Content-Range"] == "bytes 0-5/%d" % len(body), "Content-Range %r" % part.get("Content-Range"))
expect_error(lambda: c.get_object(Bucket=b, Key=key, Range="bytes=%d-" % len(body)), "InvalidRange", 416)
expect_error(lambda: c.get_object(Bucket=b, Key=key, IfMatch='"nope"'), "PreconditionFailed", 412)
renamed = c.get_object(Bucket=b, Key=key, ResponseContentType="application/x-custom")
check(renamed["Content-Type"] == "application/x-custom", "response-content-type")

head = c.head_object(Bucket=b, Key=key)
check(head["Content-Length"] == str(len(body)), "HEAD Content-Length %r" % head)
check(head["x-cos-meta-room"] == "lobby", "HEAD metadata")

# Copy: same or another bucket, metadata copied or replaced.
src = {"Bucket": b, "Key": key, "Region": REGION}
copied = c.copy_object(Bucket=b, Key="copy/same.txt", CopySource=src)
check(copied["ETag"] == '"%s"' % md5, "copy ETag %r" % copied)
got = c.get_object(Bucket=b, Key="copy/same.txt")
check(got["Body"].get_raw_stream().read() == body and got["x-cos-meta-room"] == "lobby", "copied body and metadata")
other = bucket()
c.create_bucket(Bucket=other)
c.copy_object(Bucket=other, Key="replaced", CopySource=src, CopyStatus="Replaced", ContentType="text/x-new",
              Metadata={"x-cos-meta-room": "hall"})
got = c.get_object(Bucket=other, Key="replaced")
check(got["Content-Type"] == "text/x-new" and got["x-cos-meta-room"] == "hall", "replaced metadata %r" % got)
check("x-cos-meta-n" not in got, "replaced drops the source metadata")
expect_error(lambda: c.copy_object(Bucket=b, Key=key, CopySource=src), "InvalidRequest", 400)
expect_error(lambda: c.copy_object(Bucket=b, Key="x", CopySource={"Bucket": b, "Key": "missing", "Region": REGION}), "NoSuchKey", 404)
expect_error(lambda: c.copy_object(Bucket=b, Key="x", CopySource={"Bucket": "chat-1250000001", "Key": key, "Region": REGION}), "AccessDenied", 403)
c.delete_object(Bucket=other, Key="replaced")
c.delete_bucket(Bucket=other)
c.delete_object(Bucket=b, Key="copy/same.txt")

# Overwrite replaces body and metadata.
c.put_object(Bucket=b, Key=key, Body=b"v2")
got = c.get_object(Bucket=b, Key=key)
check(got["Body"].get_raw_stream().read() == b"v2", "overwritten body")
check("x-cos-meta-room" not in got, "old metadata gone")
check(got["Content-Type"] == "application/octet-stream", "default Content-Type %r" % got["Content-Type"])

# Non-ASCII metadata is signed as text and comes back byte for byte (the SDK sends UTF-8;
# requests reads response headers as Latin-1).
c.put_object(Bucket=b, Key="latin", Body=b"l", Metadata={"x-cos-meta-label": "caf\u00e9 \u6d88"})
label = c.head_object(Bucket=b, Key="latin")["x-cos-meta-label"]
check(label.encode("latin-1").decode("utf-8") == "caf\u00e9 \u6d88", "non-ASCII metadata %r" % label)
c.delete_object(Bucket=b, Key="latin")

# Empty object, bad digest, long key.
c.put_object(Bucket=b, Key="empty", Body=b"")
check(c.get_object(Bucket=b, Key="empty")["Body"].get_raw_stream().read() == b"", "empty object")
expect_error(
    lambda: c.put_object(Bucket=b, Key="bad", Body=b"x", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="),
    "BadDigest",
    400,
)
expect_error(lambda: c.put_object(Bucket=b, Key="k" * 851, Body=b"x"), "KeyTooLong", 400)

# Missing things.
e = expect_error(lambda: c.get_object(Bucket=b, Key="nope"), "NoSuchKey", 404)
check(e.get_resource_location().endswith("/nope"), "Resource %r" % e.get_resource_location())
check(e.get_request_id(), "RequestId in the error body")
expect_error(lambda: c.head_object(Bucket=b, Key="nope"), "NoSuchResource", 404)
expect_error(lambda: c.get_object(Bucket=bucket(), Key="k"), "NoSuchBucket", 404)
c.delete_object(Bucket=b, Key="nope")  # 204 even when missing

# Multi-delete: missing keys count as deleted; Quiet lists only failures.
for k in ("m/1", "m/2", "m/3"):
    c.put_object(Bucket=b, Key=k, Body=b"m")
res = c.delete_objects(Bucket=b, Delete={"Quiet": "false", "Object": [{"Key": "m/1"}, {"Key": "m/2"}, {"Key": "m/none"}]})
check(sorted(d["Key"] for d in res["Deleted"]) == ["m/1", "m/2", "m/none"], "delete_objects %r" % res)
res = c.delete_objects(Bucket=b, Delete={"Quiet": "true", "Object": [{"Key": "m/3"}, {"Key": "k" * 851}]})
check("Deleted" not in res and [e["Code"] for e in res["Error"]] == ["KeyTooLong"], "quiet delete_objects %r" % res)
check("Contents" not in c.list_objects(Bucket=b, Prefix="m/"), "multi-deleted keys are gone")

# A bucket must be empty to go.
expect_error(lambda: c.delete_bucket(Bucket=b), "BucketNotEmpty", 409)
c.delete_object(Bucket=b, Key=key)
c.delete_object(Bucket=b, Key="empty")
expect_error(lambda: c.get_object(Bucket=b, Key=key), "NoSuchKey", 404)
c.delete_bucket(Bucket=b)
expect_error(lambda: c.head_bucket(Bucket=b), "NoSuchResource", 404)

done(bucket=b)
